//! Night calls checked against Zendesk Support, faked by a local HTTP server that answers as the Zendesk API
//! documents it: `GET /api/v2/tickets/{id}.json?include=users,organizations` (the ticket with its users and
//! organisation side-loaded), API-token basic auth (`{email}/token:{token}`), and the note as an internal
//! comment, `PUT /api/v2/tickets/{id}.json` with `{"ticket": {"comment": {"body": ..., "public": false}}}`.
//!
//! The shipped configuration has no `[cases.zendesk]` table: every test creates it from the environment.

use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use wiremock::matchers::{any, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

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

/// The account holds ticket 123456 as `doc`.
async fn holds(server: &MockServer, doc: Value) {
    show_ticket(server, "123456", ResponseTemplate::new(200).set_body_json(doc)).await;
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
