//! Night calls checked against Zendesk Support, faked by a local HTTP server that answers as the Zendesk API
//! documents it: `GET /api/v2/tickets/{id}.json?include=users,organizations` (the ticket with its users and
//! organisation side-loaded), `GET /api/v2/users/{id}/identities.json` (the requester's identities), API-token
//! basic auth (`{email}/token:{token}`), the note as an internal comment, `PUT /api/v2/tickets/{id}.json` with
//! `{"ticket": {"comment": {"body": ..., "public": false}}}`, and its error answers: `RecordNotFound` and
//! `InvalidEndpoint` 404s, 401, and 429 with `Retry-After`.
//!
//! The shipped configuration has no `[cases.zendesk]` table: every test creates it from the environment.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use wiremock::matchers::{any, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::cases::{CONNECTING, DEADLINE, UNVERIFIED, VERIFIED};
use crate::helpers::*;

const EMAIL: &str = "oncall@example.com";
const API_TOKEN: &str = "zd-token";
const ENVIRONMENT_FIELD: u64 = 360001;

/// The Authorization header of Zendesk's API-token authentication.
fn basic_auth(email: &str, token: &str) -> String {
    let credentials = format!("{email}/token:{token}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    )
}

/// Friday night on the US line, with Zendesk at `server` set up from the environment alone.
fn night_line_with_zendesk(server: &MockServer) -> Spawn {
    friday_night()
        .cases(&server.uri())
        .env("AFTERHOURS_CASES__ADAPTER", "zendesk")
        .env("AFTERHOURS_CASES__ZENDESK__EMAIL", EMAIL)
        .env("AFTERHOURS_CASES__ZENDESK__ENVIRONMENT_FIELD", "360001")
        .env("AFTERHOURS_CASES__ZENDESK__SUPPORT_PACKAGE_FIELD", "support_package")
        .env("AFTERHOURS_CASES__TOKEN", API_TOKEN)
        .env("AFTERHOURS_CASES__NOTES__BACKOFF_MS", "20")
}

/// Ticket 123456 as Zendesk's "show ticket" answers it with `include=users,organizations`: urgent, open,
/// environment "production" in custom field 360001; the requester Jane Doe (the caller's phone) of ACME Corp.
fn ticket() -> Value {
    let custom_fields = json!([
        {"id": 360000101, "value": "api"},
        {"id": ENVIRONMENT_FIELD, "value": "production"},
        {"id": 360000102, "value": false},
        {"id": 360000103, "value": null},
    ]);
    json!({
        "ticket": {
            "url": "https://acme-support.zendesk.com/api/v2/tickets/123456.json",
            "id": 123456,
            "external_id": null,
            "via": {"channel": "web", "source": {"from": {}, "to": {}, "rel": null}},
            "created_at": "2026-11-27T23:41:07Z",
            "updated_at": "2026-11-28T00:52:13Z",
            "generated_timestamp": 1_795_830_733,
            "type": "incident",
            "subject": "Production API answers 503 to every request",
            "raw_subject": "Production API answers 503 to every request",
            "description": "Since 18:30 Eastern every request to api.acme.example returns 503.",
            "priority": "urgent",
            "status": "open",
            "recipient": "support@example.com",
            "requester_id": 7,
            "submitter_id": 7,
            "assignee_id": 42,
            "organization_id": 9,
            "group_id": 360000200,
            "collaborator_ids": [],
            "follower_ids": [42],
            "email_cc_ids": [],
            "forum_topic_id": null,
            "problem_id": null,
            "has_incidents": false,
            "is_public": true,
            "due_at": null,
            "tags": ["api", "outage", "production"],
            "custom_fields": custom_fields.clone(),
            "fields": custom_fields,
            "satisfaction_rating": null,
            "sharing_agreement_ids": [],
            "custom_status_id": 360000300,
            "followup_ids": [],
            "ticket_form_id": 360000400,
            "brand_id": 360000500,
            "allow_channelback": false,
            "allow_attachments": true,
            "from_messaging_channel": false,
        },
        // The assignee comes first: the requester must be found by id, not by position.
        "users": [
            {
                "id": 42,
                "url": "https://acme-support.zendesk.com/api/v2/users/42.json",
                "name": "Sam Agent",
                "email": "sam@example.com",
                "phone": "+15550000042",
                "role": "agent",
                "organization_id": null,
                "time_zone": "Eastern Time (US & Canada)",
                "iana_time_zone": "America/New_York",
                "locale": "en-US",
                "verified": true,
                "active": true,
                "suspended": false,
                "tags": [],
                "user_fields": {},
            },
            {
                "id": 7,
                "url": "https://acme-support.zendesk.com/api/v2/users/7.json",
                "name": "Jane Doe",
                "email": "jane.doe@acme.example",
                "phone": "+15551234567",
                "shared_phone_number": false,
                "role": "end-user",
                "organization_id": 9,
                "time_zone": "Eastern Time (US & Canada)",
                "iana_time_zone": "America/New_York",
                "locale": "en-US",
                "verified": true,
                "active": true,
                "suspended": false,
                "created_at": "2024-03-01T15:04:05Z",
                "updated_at": "2026-11-27T23:41:07Z",
                "tags": ["acme"],
                "user_fields": {"employee_id": null},
            },
        ],
        "organizations": [
            {
                "url": "https://acme-support.zendesk.com/api/v2/organizations/9.json",
                "id": 9,
                "name": "ACME Corp",
                "shared_tickets": true,
                "shared_comments": false,
                "external_id": "acme-001",
                "created_at": "2024-03-01T15:00:00Z",
                "updated_at": "2026-10-02T09:30:00Z",
                "domain_names": ["acme.example"],
                "details": "",
                "notes": "",
                "group_id": null,
                "tags": ["premium"],
                "organization_fields": {"support_package": "premium", "phone": null},
            },
        ],
    })
}

/// Ticket 123456 with one ticket field changed.
fn ticket_with(field: &str, value: Value) -> Value {
    let mut doc = ticket();
    doc["ticket"][field] = value;
    doc
}

/// Ticket 123456 in another environment.
fn ticket_in(environment: &str) -> Value {
    let mut doc = ticket();
    for list in ["custom_fields", "fields"] {
        doc["ticket"][list][1]["value"] = json!(environment);
    }
    doc
}

/// A Zendesk account: every request without the right API token is refused with 401, as Zendesk does;
/// internal comments are accepted.
async fn zendesk() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": "Couldn't authenticate you"})))
        .with_priority(100)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/api/v2/tickets/123456.json"))
        .and(header("authorization", basic_auth(EMAIL, API_TOKEN).as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(ticket()))
        .with_priority(10)
        .mount(&server)
        .await;
    server
}

/// The account answers "show ticket `id`" with `reply`.
async fn show_ticket(server: &MockServer, id: &str, reply: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(format!("/api/v2/tickets/{id}.json")))
        .and(query_param("include", "users,organizations"))
        .and(header("authorization", basic_auth(EMAIL, API_TOKEN).as_str()))
        .respond_with(reply)
        .mount(server)
        .await;
}

/// The account holds ticket 123456 as `doc`, and its requester's identities as the requester's email and
/// phone make them.
async fn holds(server: &MockServer, doc: Value) {
    let identities = identities_of(&doc);
    holds_with_identities(server, doc, identities).await;
}

/// The account holds ticket 123456 as `doc`, and `identities` for its requester (user 7).
async fn holds_with_identities(server: &MockServer, doc: Value, identities: Value) {
    show_ticket(server, "123456", ResponseTemplate::new(200).set_body_json(doc)).await;
    list_identities(server, ResponseTemplate::new(200).set_body_json(identities)).await;
}

/// The account answers "list identities" of user 7 with `reply`.
async fn list_identities(server: &MockServer, reply: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path("/api/v2/users/7/identities.json"))
        .and(header("authorization", basic_auth(EMAIL, API_TOKEN).as_str()))
        .respond_with(reply)
        .mount(server)
        .await;
}

/// One identity of user 7 as "list identities" shows it.
fn identity(id: u64, kind: &str, value: &str, primary: bool) -> Value {
    json!({
        "url": format!("https://acme-support.zendesk.com/api/v2/users/7/identities/{id}.json"),
        "id": id,
        "user_id": 7,
        "type": kind,
        "value": value,
        "verified": true,
        "primary": primary,
        "created_at": "2024-03-01T15:04:05Z",
        "updated_at": "2026-11-27T23:41:07Z",
        "undeliverable_count": 0,
        "deliverable_state": if kind == "email" { json!("deliverable") } else { Value::Null },
    })
}

/// A "list identities" answer.
fn identities(list: Vec<Value>) -> Value {
    let count = list.len();
    json!({"identities": list, "next_page": null, "previous_page": null, "count": count})
}

/// The identities of the requester of `doc` (user 7): its email, and its phone when it has one.
fn identities_of(doc: &Value) -> Value {
    let requester = doc["users"].as_array().unwrap().iter().find(|u| u["id"] == 7).unwrap();
    let mut list = vec![identity(1001, "email", requester["email"].as_str().unwrap(), true)];
    if let Some(phone) = requester["phone"].as_str() {
        list.push(identity(1002, "phone_number", phone, true));
    }
    identities(list)
}

/// Zendesk's answer to a request past the account's rate limit.
fn too_many_requests(retry_after: &str) -> ResponseTemplate {
    ResponseTemplate::new(429)
        .insert_header("retry-after", retry_after)
        .set_body_raw("Number of allowed API requests per minute exceeded", "text/plain")
}

/// Answers the first request with `first` and every later one with `then`, noting when each came.
struct FirstThen {
    first: ResponseTemplate,
    then: ResponseTemplate,
    seen: Arc<Mutex<Vec<Instant>>>,
}

impl Respond for FirstThen {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let mut seen = self.seen.lock().unwrap();
        seen.push(Instant::now());
        if seen.len() == 1 {
            self.first.clone()
        } else {
            self.then.clone()
        }
    }
}

/// The account answers the first comment on ticket 123456 with `first`, later ones with 200; returns when
/// each comment came.
async fn comments_answered_first_with(server: &MockServer, first: ResponseTemplate) -> Arc<Mutex<Vec<Instant>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    Mock::given(method("PUT"))
        .and(path("/api/v2/tickets/123456.json"))
        .and(header("authorization", basic_auth(EMAIL, API_TOKEN).as_str()))
        .respond_with(FirstThen {
            first,
            then: ResponseTemplate::new(200).set_body_json(ticket()),
            seen: seen.clone(),
        })
        .with_priority(1)
        .mount(server)
        .await;
    seen
}

/// Waits (up to `within`) until `count` comments have come; their times.
async fn comments_seen(seen: &Arc<Mutex<Vec<Instant>>>, count: usize, within: Duration) -> Vec<Instant> {
    let started = Instant::now();
    while started.elapsed() < within {
        let times = seen.lock().unwrap().clone();
        if times.len() >= count {
            return times;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "fewer than {count} comments within {within:?}: {:?}",
        seen.lock().unwrap()
    );
}

/// A call about ticket 123456 on `app`, to its end, so that its note is sent.
async fn call_to_the_end(app: &TestApp) -> Twiml {
    let heard = call_about(app, "123456").await;
    crate::cases::ring_out(app, heard.clone()).await;
    heard
}

/// `afterhours_case_notes_total{outcome}` as `/metrics` shows it (every server of the process together).
async fn notes_counted(app: &TestApp, outcome: &str) -> f64 {
    let text = app
        .client
        .get(format!("{}/metrics", app.ops_address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series = format!("afterhours_case_notes_total{{outcome=\"{outcome}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&series))
        .map_or(0.0, |n| n.trim().parse().unwrap())
}

/// A call that enters `digits` at the case-number prompt: what the caller hears next.
async fn call_about(app: &TestApp, digits: &str) -> Twiml {
    let first = app.incoming(CALLER, US_LINE).await;
    app.follow(first.action(), &[("Digits", digits)]).await
}

/// Waits (up to 5 s) for the first comment Zendesk receives.
async fn first_comment(server: &MockServer) -> Request {
    for _ in 0..100 {
        let requests = server.received_requests().await.unwrap();
        if let Some(put) = requests.into_iter().find(|r| r.method.as_str() == "PUT") {
            return put;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no comment within 5 s");
}

#[tokio::test]
async fn an_urgent_open_production_ticket_is_verified_with_the_organisation_as_customer() {
    let zendesk = zendesk().await;
    holds(&zendesk, ticket()).await;
    let app = night_line_with_zendesk(&zendesk).start().await;

    let twiml = call_about(&app, "123456").await;

    assert_eq!(twiml.says[0], VERIFIED, "{}", twiml.said());
    assert!(twiml.says_contains(CONNECTING));
    assert!(!twiml.dial_numbers.is_empty());
}

#[tokio::test]
async fn the_lookup_authenticates_with_the_agents_email_and_api_token() {
    let zendesk = zendesk().await;
    holds(&zendesk, ticket()).await;
    let app = night_line_with_zendesk(&zendesk).start().await;

    call_about(&app, "123456").await;

    let lookup = zendesk
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.method.as_str() == "GET")
        .unwrap();
    assert_eq!(
        lookup.headers.get("authorization").unwrap().to_str().unwrap(),
        "Basic b25jYWxsQGV4YW1wbGUuY29tL3Rva2VuOnpkLXRva2Vu",
        "base64 of oncall@example.com/token:zd-token"
    );
    assert_eq!(lookup.url.query(), Some("include=users,organizations"));
}

#[tokio::test]
async fn a_wrong_api_token_leaves_the_case_unverified_rather_than_not_found() {
    let zendesk = zendesk().await;
    holds(&zendesk, ticket()).await;
    let app = night_line_with_zendesk(&zendesk)
        .env("AFTERHOURS_CASES__TOKEN", "expired-token")
        .start()
        .await;

    let twiml = call_about(&app, "123456").await;

    assert_eq!(twiml.says[0], UNVERIFIED, "{}", twiml.said());
}

#[tokio::test]
async fn a_high_priority_ticket_is_not_critical() {
    let zendesk = zendesk().await;
    holds(&zendesk, ticket_with("priority", json!("high"))).await;
    let app = night_line_with_zendesk(&zendesk).start().await;

    let twiml = call_about(&app, "123456").await;

    let said = twiml.said();
    assert!(
        said.starts_with("Case 1 2 3 4 5 6 is not marked as critical."),
        "{said}"
    );
    assert!(said.contains(DEADLINE), "{said}");
    assert!(twiml.hangup);
}

#[tokio::test]
async fn a_ticket_without_a_priority_is_not_critical() {
    let zendesk = zendesk().await;
    holds(&zendesk, ticket_with("priority", Value::Null)).await;
    let app = night_line_with_zendesk(&zendesk).start().await;

    let twiml = call_about(&app, "123456").await;

    assert!(
        twiml.says[0].starts_with("Case 1 2 3 4 5 6 is not marked as critical."),
        "{}",
        twiml.said()
    );
}

#[tokio::test]
async fn a_solved_ticket_is_closed() {
    let zendesk = zendesk().await;
    holds(&zendesk, ticket_with("status", json!("solved"))).await;
    let app = night_line_with_zendesk(&zendesk).start().await;

    let twiml = call_about(&app, "123456").await;

    let said = twiml.said();
    assert!(said.starts_with("Case 1 2 3 4 5 6 is closed."), "{said}");
    assert!(twiml.hangup);
}

#[tokio::test]
async fn a_pending_ticket_is_still_open() {
    let zendesk = zendesk().await;
    holds(&zendesk, ticket_with("status", json!("pending"))).await;
    let app = night_line_with_zendesk(&zendesk).start().await;

    assert_eq!(call_about(&app, "123456").await.says[0], VERIFIED);
}

#[tokio::test]
async fn a_staging_ticket_is_not_about_production() {
    let zendesk = zendesk().await;
    holds(&zendesk, ticket_in("staging")).await;
    let app = night_line_with_zendesk(&zendesk).start().await;

    let twiml = call_about(&app, "123456").await;

    let said = twiml.said();
    assert!(
        said.starts_with("Case 1 2 3 4 5 6 is not about a production system."),
        "{said}"
    );
    assert!(said.contains(DEADLINE), "{said}");
    assert!(twiml.hangup);
}

#[tokio::test]
async fn an_unknown_ticket_is_read_back_and_the_caller_is_asked_again() {
    let zendesk = zendesk().await;
    let not_found =
        ResponseTemplate::new(404).set_body_json(json!({"error": "RecordNotFound", "description": "Not found"}));
    show_ticket(&zendesk, "123", not_found).await;
    let app = night_line_with_zendesk(&zendesk)
        .env("AFTERHOURS_LINES__US__REQUIRE_REGISTERED_CALLER", "false")
        .start()
        .await;

    let twiml = call_about(&app, "123").await;

    assert_eq!(twiml.says[0], "We could not find case 1 2 3.", "{}", twiml.said());
    assert!(twiml.says_contains("Please enter your case number, followed by the pound key."));
    assert!(!twiml.hangup);
}

#[tokio::test]
async fn a_ticket_without_the_environment_field_leaves_the_case_unverified() {
    let zendesk = zendesk().await;
    let mut doc = ticket();
    for list in ["custom_fields", "fields"] {
        doc["ticket"][list] = json!([{"id": 360000101, "value": "api"}]);
    }
    holds(&zendesk, doc).await;
    let app = night_line_with_zendesk(&zendesk).start().await;

    assert_eq!(call_about(&app, "123456").await.says[0], UNVERIFIED);
}

#[tokio::test]
async fn the_call_is_noted_on_the_ticket_as_an_internal_comment() {
    let zendesk = zendesk().await;
    holds(&zendesk, ticket()).await;
    let app = night_line_with_zendesk(&zendesk).start().await;

    let heard = call_about(&app, "123456").await;
    crate::cases::ring_out(&app, heard).await;

    let comment = first_comment(&zendesk).await;
    assert_eq!(comment.url.path(), "/api/v2/tickets/123456.json");
    assert_eq!(comment.url.query(), None);
    assert_eq!(
        comment.headers.get("authorization").unwrap().to_str().unwrap(),
        basic_auth(EMAIL, API_TOKEN)
    );
    assert_eq!(
        comment.headers.get("content-type").unwrap().to_str().unwrap(),
        "application/json"
    );
    let body: Value = comment.body_json().unwrap();
    let text = body["ticket"]["comment"]["body"].as_str().unwrap().to_owned();
    assert_eq!(
        body,
        json!({"ticket": {"comment": {"body": text, "public": false}}}),
        "an internal comment and nothing else"
    );
    assert!(
        text.contains("Decision: verified as a critical production case."),
        "{text}"
    );
    assert!(text.contains("from +15551234567"), "{text}");
}

#[tokio::test]
async fn where_registration_is_required_the_requesters_phone_lets_the_caller_through() {
    let zendesk = zendesk().await;
    holds(&zendesk, ticket()).await;
    let app = night_line_with_zendesk(&zendesk)
        .env("AFTERHOURS_LINES__US__REQUIRE_REGISTERED_CALLER", "true")
        .start()
        .await;

    assert_eq!(call_about(&app, "123456").await.says[0], VERIFIED);
}

#[tokio::test]
async fn where_registration_is_required_a_phone_of_the_organisation_lets_the_caller_through() {
    let zendesk = zendesk().await;
    let mut doc = ticket();
    doc["users"][1]["phone"] = Value::Null;
    doc["organizations"][0]["organization_fields"]["phone"] = json!("+1 555 000 1111, +1 (555) 123-4567");
    holds(&zendesk, doc).await;
    let app = night_line_with_zendesk(&zendesk)
        .env("AFTERHOURS_LINES__US__REQUIRE_REGISTERED_CALLER", "true")
        .start()
        .await;

    assert_eq!(call_about(&app, "123456").await.says[0], VERIFIED);
}

#[tokio::test]
async fn where_registration_is_required_the_assignees_phone_does_not_count() {
    let zendesk = zendesk().await;
    let mut doc = ticket();
    doc["users"][0]["phone"] = json!(CALLER);
    doc["users"][1]["phone"] = json!("+15559999999");
    holds(&zendesk, doc).await;
    let app = night_line_with_zendesk(&zendesk)
        .env("AFTERHOURS_LINES__US__REQUIRE_REGISTERED_CALLER", "true")
        .start()
        .await;

    let twiml = call_about(&app, "123456").await;

    assert!(
        twiml.says[0].starts_with("We are sorry, this phone number cannot be helped with case 1 2 3 4 5 6."),
        "{}",
        twiml.said()
    );
}

#[tokio::test]
async fn the_organisations_support_package_decides_entitlement() {
    let zendesk = zendesk().await;
    let mut doc = ticket();
    // The shipped `standard` package has no after-hours phone support.
    doc["organizations"][0]["organization_fields"]["support_package"] = json!("standard");
    holds(&zendesk, doc).await;
    let app = night_line_with_zendesk(&zendesk).start().await;

    let twiml = call_about(&app, "123456").await;

    let said = twiml.said();
    assert!(
        said.starts_with("Your support package does not include after-hours phone support."),
        "{said}"
    );
    assert!(said.contains(DEADLINE), "{said}");
}

#[tokio::test]
async fn a_premium_organisation_is_entitled() {
    let zendesk = zendesk().await;
    holds(&zendesk, ticket()).await;
    let app = night_line_with_zendesk(&zendesk)
        .env("AFTERHOURS_CASES__AFTER_HOURS_PACKAGES", r#"["premium", "enterprise"]"#)
        .start()
        .await;

    assert_eq!(call_about(&app, "123456").await.says[0], VERIFIED);
}

#[tokio::test]
async fn every_request_asks_for_json() {
    let zendesk = zendesk().await;
    holds(&zendesk, ticket()).await;
    let app = night_line_with_zendesk(&zendesk).start().await;

    call_to_the_end(&app).await;
    first_comment(&zendesk).await;

    let requests = zendesk.received_requests().await.unwrap();
    let paths: Vec<String> = requests
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect();
    assert_eq!(
        paths,
        [
            "GET /api/v2/tickets/123456.json",
            "GET /api/v2/users/7/identities.json",
            "PUT /api/v2/tickets/123456.json"
        ]
    );
    for request in &requests {
        assert_eq!(
            request.headers.get("accept").map(|v| v.to_str().unwrap()),
            Some("application/json"),
            "{} {}",
            request.method,
            request.url
        );
    }
}

#[tokio::test]
async fn a_404_that_is_not_record_not_found_leaves_the_case_unverified_rather_than_unknown() {
    // A wrong path (a base URL with /api/v2 in it doubles it) answers JSON too, but `InvalidEndpoint`.
    let invalid_endpoint =
        ResponseTemplate::new(404).set_body_json(json!({"error": "InvalidEndpoint", "description": "Not found"}));
    let html = ResponseTemplate::new(404).set_body_raw("<html><body>Page not found</body></html>", "text/html");
    let empty_json = ResponseTemplate::new(404).set_body_json(json!({}));
    for reply in [invalid_endpoint, html, empty_json] {
        let zendesk = zendesk().await;
        show_ticket(&zendesk, "123456", reply).await;
        let app = night_line_with_zendesk(&zendesk)
            .env("AFTERHOURS_LINES__US__REQUIRE_REGISTERED_CALLER", "false")
            .start()
            .await;

        let twiml = call_about(&app, "123456").await;

        assert_eq!(twiml.says[0], UNVERIFIED, "{}", twiml.said());
    }
}

#[tokio::test]
async fn a_rate_limited_lookup_does_not_hold_the_caller() {
    let zendesk = zendesk().await;
    show_ticket(&zendesk, "123456", too_many_requests("93")).await;
    let app = night_line_with_zendesk(&zendesk).start().await;

    let started = Instant::now();
    let twiml = call_about(&app, "123456").await;

    assert_eq!(twiml.says[0], UNVERIFIED, "{}", twiml.said());
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_registered_caller_on_a_secondary_phone_identity_is_verified() {
    let zendesk = zendesk().await;
    let mut doc = ticket();
    // The primary phone (the user's `phone`) is another; the caller's number is a second phone identity.
    doc["users"][1]["phone"] = json!("+15550001111");
    let list = identities(vec![
        identity(1001, "email", "jane.doe@acme.example", true),
        identity(1002, "phone_number", "+15550001111", true),
        identity(1003, "twitter", "janedoe", false),
        identity(1004, "phone_number", "+1 (555) 123-4567", false),
    ]);
    holds_with_identities(&zendesk, doc, list).await;
    let app = night_line_with_zendesk(&zendesk)
        .env("AFTERHOURS_LINES__US__REQUIRE_REGISTERED_CALLER", "true")
        .start()
        .await;

    assert_eq!(call_about(&app, "123456").await.says[0], VERIFIED);
}

#[tokio::test]
async fn a_caller_on_no_phone_identity_is_still_refused() {
    let zendesk = zendesk().await;
    let mut doc = ticket();
    doc["users"][1]["phone"] = json!("+15550001111");
    holds(&zendesk, doc).await;
    let app = night_line_with_zendesk(&zendesk)
        .env("AFTERHOURS_LINES__US__REQUIRE_REGISTERED_CALLER", "true")
        .start()
        .await;

    let twiml = call_about(&app, "123456").await;

    assert!(
        twiml.says[0].starts_with(crate::cases::CANNOT_BE_HELPED),
        "{}",
        twiml.said()
    );
}

#[tokio::test]
async fn identities_that_cannot_be_read_leave_a_caller_off_the_ticket_unverified_rather_than_refused() {
    let zendesk = zendesk().await;
    let mut doc = ticket();
    doc["users"][1]["phone"] = json!("+15550001111");
    show_ticket(&zendesk, "123456", ResponseTemplate::new(200).set_body_json(doc)).await;
    list_identities(
        &zendesk,
        ResponseTemplate::new(503).set_body_raw("Service Unavailable", "text/plain"),
    )
    .await;
    let app = night_line_with_zendesk(&zendesk)
        .env("AFTERHOURS_LINES__US__REQUIRE_REGISTERED_CALLER", "true")
        .start()
        .await;

    // The caller may be on a phone identity that could not be read: an engineer decides.
    assert_eq!(call_about(&app, "123456").await.says[0], UNVERIFIED);
}

#[tokio::test]
async fn identities_that_cannot_be_read_do_not_stop_a_caller_on_the_requesters_phone() {
    let zendesk = zendesk().await;
    show_ticket(&zendesk, "123456", ResponseTemplate::new(200).set_body_json(ticket())).await;
    list_identities(&zendesk, too_many_requests("30")).await;
    let app = night_line_with_zendesk(&zendesk)
        .env("AFTERHOURS_LINES__US__REQUIRE_REGISTERED_CALLER", "true")
        .start()
        .await;

    assert_eq!(call_about(&app, "123456").await.says[0], VERIFIED);
}

#[tokio::test]
async fn slow_identities_leave_time_to_answer_with_the_ticket() {
    let zendesk = zendesk().await;
    show_ticket(&zendesk, "123456", ResponseTemplate::new(200).set_body_json(ticket())).await;
    let slow = ResponseTemplate::new(200)
        .set_body_json(identities_of(&ticket()))
        .set_delay(Duration::from_secs(5));
    list_identities(&zendesk, slow).await;
    let app = night_line_with_zendesk(&zendesk)
        .env("AFTERHOURS_CASES__TIMEOUT_MS", "1000")
        .start()
        .await;

    let started = Instant::now();
    let twiml = call_about(&app, "123456").await;

    assert_eq!(twiml.says[0], VERIFIED, "{}", twiml.said());
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
}

#[tokio::test]
async fn the_environment_options_tag_is_matched_against_the_configured_tags() {
    for (tag, heard_first) in [
        ("env_live", VERIFIED),
        ("env_prod_eu", VERIFIED),
        // The list replaces the default values: `production` is no production tag here.
        ("production", "Case 1 2 3 4 5 6 is not about a production system."),
        // A drop-down answers with its option's tag; the label ("Live") is never the value.
        ("Live", "Case 1 2 3 4 5 6 is not about a production system."),
    ] {
        let zendesk = zendesk().await;
        holds(&zendesk, ticket_in(tag)).await;
        let app = night_line_with_zendesk(&zendesk)
            .env(
                "AFTERHOURS_CASES__ZENDESK__PRODUCTION_TAGS",
                r#"["env_live", "env_prod_eu"]"#,
            )
            .start()
            .await;

        let twiml = call_about(&app, "123456").await;

        assert!(twiml.says[0].starts_with(heard_first), "{tag}: {}", twiml.said());
    }
}

#[tokio::test]
async fn a_rate_limited_note_waits_the_retry_after_seconds_then_arrives() {
    let zendesk = zendesk().await;
    holds(&zendesk, ticket()).await;
    let seen = comments_answered_first_with(&zendesk, too_many_requests("1")).await;
    // Without Retry-After the second attempt would come 20 ms after the first.
    let app = night_line_with_zendesk(&zendesk).start().await;

    call_to_the_end(&app).await;

    let times = comments_seen(&seen, 2, Duration::from_secs(10)).await;
    let waited = times[1] - times[0];
    assert!(waited >= Duration::from_millis(950), "retried after {waited:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        seen.lock().unwrap().len(),
        2,
        "added on the second attempt, not tried again"
    );
}

#[tokio::test]
async fn a_rate_limited_note_waits_until_the_retry_after_date_by_the_servers_clock() {
    let zendesk = zendesk().await;
    holds(&zendesk, ticket()).await;
    // A date in the past by our clock: the wait is measured against the answer's own Date.
    let reply =
        too_many_requests("Fri, 27 Nov 2026 01:00:02 GMT").insert_header("date", "Fri, 27 Nov 2026 01:00:00 GMT");
    let seen = comments_answered_first_with(&zendesk, reply).await;
    let app = night_line_with_zendesk(&zendesk).start().await;

    call_to_the_end(&app).await;

    let times = comments_seen(&seen, 2, Duration::from_secs(10)).await;
    let waited = times[1] - times[0];
    assert!(waited >= Duration::from_millis(1950), "retried after {waited:?}");
}

#[tokio::test]
async fn a_note_asked_to_wait_past_its_deadline_is_given_up_and_counted_as_lost() {
    let zendesk = zendesk().await;
    holds(&zendesk, ticket()).await;
    let seen = comments_answered_first_with(&zendesk, too_many_requests("93")).await;
    let app = night_line_with_zendesk(&zendesk)
        .env("AFTERHOURS_CASES__NOTES__DEADLINE_SECS", "5")
        .start()
        .await;

    let twiml = call_to_the_end(&app).await;

    assert_eq!(twiml.says[0], VERIFIED);
    comments_seen(&seen, 1, Duration::from_secs(5)).await;
    let mut lost = 0.0;
    for _ in 0..100 {
        lost = notes_counted(&app, "lost").await;
        if lost >= 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(lost >= 1.0, "the lost note is counted");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "not tried before Retry-After, nor after the deadline"
    );
}

#[test]
fn the_environment_alone_creates_the_zendesk_settings() {
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/afterhours.toml");
    let env: Vec<(String, String)> = [
        ("AFTERHOURS_CASES__ADAPTER", "zendesk"),
        ("AFTERHOURS_CASES__ZENDESK__EMAIL", EMAIL),
        ("AFTERHOURS_CASES__ZENDESK__ENVIRONMENT_FIELD", "360001"),
        ("AFTERHOURS_CASES__ZENDESK__SUPPORT_PACKAGE_FIELD", "support_package"),
        ("AFTERHOURS_CASES__TOKEN", API_TOKEN),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let config = afterhours::assembly::Config::load_with_env(&config, &env).unwrap();
    let cases = config.settings.cases.unwrap();
    assert_eq!(cases.adapter, afterhours::settings::CaseAdapter::Zendesk);
    assert_eq!(
        cases.zendesk,
        Some(afterhours::settings::ZendeskSettings {
            email: afterhours::settings::AgentEmail::parse(EMAIL).unwrap(),
            environment_field: ENVIRONMENT_FIELD,
            support_package_field: Some("support_package".into()),
            organization_phone_field: "phone".into(),
            tam_field: None,
            production_tags: None,
        })
    );
}

#[test]
fn the_zendesk_adapter_without_an_api_token_is_reported_as_a_missing_secret() {
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/afterhours.toml");
    let env: Vec<(String, String)> = [
        ("AFTERHOURS_PROVIDER__AUTH_TOKEN", TOKEN),
        ("AFTERHOURS_CASES__ADAPTER", "zendesk"),
        ("AFTERHOURS_CASES__ZENDESK__EMAIL", EMAIL),
        ("AFTERHOURS_CASES__ZENDESK__ENVIRONMENT_FIELD", "360001"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let config = afterhours::assembly::Config::load_with_env(&config, &env).unwrap();
    let missing: Vec<String> = config.missing_secrets().iter().map(|e| e.to_string()).collect();
    assert!(
        missing.iter().any(|m| m.contains("AFTERHOURS_CASES__TOKEN")),
        "{missing:?}"
    );
}
