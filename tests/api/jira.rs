//! Night calls checked against Jira Service Management, faked by a local HTTP server that answers as Jira
//! Cloud's REST API documents it: `GET /rest/api/3/issue/{key}?fields=...` (priority, status with its
//! category, reporter, custom fields: a select list, the Organizations field, text), API-token basic auth
//! (`{email}:{token}`), errors as `{"errorMessages": [...], "errors": {...}}`, 429 with `Retry-After`, and the
//! note as an internal comment, `POST /rest/servicedeskapi/request/{key}/comment` with `"public": false`.
//!
//! The shipped configuration has no `[cases.jira]` table: every test creates it from the environment.

use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use wiremock::matchers::{any, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::cases::{CANNOT_BE_HELPED, DEADLINE, UNVERIFIED, VERIFIED};
use crate::helpers::*;

const EMAIL: &str = "oncall@example.com";
const API_TOKEN: &str = "ATATT3xFfGF0-jira-token";
const ISSUE_PATH: &str = "/rest/api/3/issue/SUP-123456";
const COMMENT_PATH: &str = "/rest/servicedeskapi/request/SUP-123456/comment";
pub(crate) const FIELDS: &str =
    "priority,status,reporter,customfield_10050,customfield_10002,customfield_10060,customfield_10070";

/// The Authorization header of Jira's API-token authentication.
fn basic_auth() -> String {
    let credentials = format!("{EMAIL}:{API_TOKEN}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    )
}

/// Friday night on the US line, with the SUP project of Jira Service Management at `server`, set up from the
/// environment alone. Jira's top priority is `Highest`, which the values list names as critical.
pub(crate) fn night_line_with_jira(server: &MockServer) -> Spawn {
    friday_night()
        .cases(&server.uri())
        .env("AFTERHOURS_CASES__ADAPTER", "jira")
        .env("AFTERHOURS_CASES__JIRA__EMAIL", EMAIL)
        .env("AFTERHOURS_CASES__JIRA__PROJECT", "SUP")
        .env("AFTERHOURS_CASES__JIRA__ENVIRONMENT_FIELD", "customfield_10050")
        .env("AFTERHOURS_CASES__JIRA__ORGANIZATION_FIELD", "customfield_10002")
        .env("AFTERHOURS_CASES__JIRA__PHONE_FIELD", "customfield_10060")
        .env("AFTERHOURS_CASES__JIRA__SUPPORT_PACKAGE_FIELD", "customfield_10070")
        .env(
            "AFTERHOURS_CASES__VALUES__CRITICAL",
            r#"["highest", "critical", "urgent", "sev1"]"#,
        )
        .env("AFTERHOURS_CASES__TOKEN", API_TOKEN)
        .env("AFTERHOURS_CASES__NOTES__BACKOFF_MS", "20")
}

/// Issue SUP-123456 as "get issue" answers it with the fields asked for: Highest, Waiting for support (a
/// status of the In Progress category), Production, of ACME Corp (Premium), the caller the reporter's phone.
pub(crate) fn issue() -> Value {
    json!({
        "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
        "id": "10123",
        "self": "https://acme.atlassian.net/rest/api/3/issue/10123",
        "key": "SUP-123456",
        "fields": {
            "priority": {
                "self": "https://acme.atlassian.net/rest/api/3/priority/1",
                "iconUrl": "https://acme.atlassian.net/images/icons/priorities/highest.svg",
                "name": "Highest",
                "id": "1",
            },
            "status": {
                "self": "https://acme.atlassian.net/rest/api/3/status/10018",
                "description": "",
                "iconUrl": "https://acme.atlassian.net/",
                "name": "Waiting for support",
                "id": "10018",
                "statusCategory": {
                    "self": "https://acme.atlassian.net/rest/api/3/statuscategory/4",
                    "id": 4,
                    "key": "indeterminate",
                    "colorName": "yellow",
                    "name": "In Progress",
                },
            },
            "reporter": {
                "self": "https://acme.atlassian.net/rest/api/3/user?accountId=qm%3Aa1b2c3",
                "accountId": "qm:a1b2c3",
                "emailAddress": "jane.doe@acme.example",
                "displayName": "Jane Doe",
                "active": true,
                "timeZone": "America/New_York",
                "accountType": "customer",
            },
            "customfield_10050": {
                "self": "https://acme.atlassian.net/rest/api/3/customFieldOption/10100",
                "value": "Production",
                "id": "10100",
            },
            "customfield_10002": [
                {
                    "id": "1",
                    "name": "ACME Corp",
                    "_links": {"self": "https://acme.atlassian.net/rest/servicedeskapi/organization/1"},
                },
            ],
            "customfield_10060": CALLER,
            "customfield_10070": {
                "self": "https://acme.atlassian.net/rest/api/3/customFieldOption/10200",
                "value": "Premium",
                "id": "10200",
            },
        },
    })
}

/// Jira's error answer.
fn jira_error(message: &str) -> Value {
    json!({"errorMessages": [message], "errors": {}})
}

/// A Jira site: every request without the agent's API token is refused with 401, as Jira does; internal
/// comments are accepted.
async fn jira() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(jira_error("Client must be authenticated to access this resource.")),
        )
        .with_priority(100)
        .mount(&server)
        .await;
    comments_answer(
        &server,
        ResponseTemplate::new(201).set_body_json(json!({
            "id": "10400",
            "body": "",
            "public": false,
            "author": {"accountId": "5b10a2844c20165700ede21g", "emailAddress": EMAIL, "displayName": "On-call bot"},
            "created": {"iso8601": "2026-11-27T20:05:00-0500", "epochMillis": 1795827900000u64},
        })),
    )
    .await;
    server
}

/// Internal comments on SUP-123456 are answered with `reply`.
async fn comments_answer(server: &MockServer, reply: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path(COMMENT_PATH))
        .and(header("authorization", basic_auth().as_str()))
        .respond_with(reply)
        .with_priority(10)
        .mount(server)
        .await;
}

/// The site answers "get issue SUP-123456" with `reply`.
async fn get_issue(server: &MockServer, reply: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(ISSUE_PATH))
        .and(query_param("fields", FIELDS))
        .and(header("authorization", basic_auth().as_str()))
        .respond_with(reply)
        .with_priority(10)
        .mount(server)
        .await;
}

/// The site holds SUP-123456 as `doc`; any other issue does not exist.
pub(crate) async fn holds(server: &MockServer, doc: Value) {
    get_issue(server, ResponseTemplate::new(200).set_body_json(doc)).await;
    Mock::given(method("GET"))
        .and(header("authorization", basic_auth().as_str()))
        .respond_with(ResponseTemplate::new(404).set_body_json(jira_error(
            "Issue does not exist or you do not have permission to see it.",
        )))
        .with_priority(50)
        .mount(server)
        .await;
}

/// A call that enters `digits` at the case-number prompt: what the caller hears next.
async fn call_about(app: &TestApp, digits: &str) -> Twiml {
    let first = app.incoming(CALLER, US_LINE).await;
    app.follow(first.action(), &[("Digits", digits)]).await
}

/// Waits (up to 5 s) until the site has received `count` comments; returns them.
async fn wait_for_comments(server: &MockServer, count: usize) -> Vec<Request> {
    for _ in 0..100 {
        let requests = server.received_requests().await.unwrap();
        let comments: Vec<Request> = requests.into_iter().filter(|r| r.method.as_str() == "POST").collect();
        if comments.len() >= count {
            return comments;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("fewer than {count} comments within 5 s");
}

#[tokio::test]
async fn a_highest_priority_production_issue_is_verified_with_the_organisation_as_customer() {
    let site = jira().await;
    holds(&site, issue()).await;
    let app = night_line_with_jira(&site).start().await;

    let twiml = call_about(&app, "123456").await;

    assert_eq!(twiml.says[0], VERIFIED, "{}", twiml.said());
    assert!(!twiml.dial_numbers.is_empty());
}

#[tokio::test]
async fn the_lookup_reads_the_projects_issue_with_the_agents_email_and_api_token() {
    let site = jira().await;
    holds(&site, issue()).await;
    let app = night_line_with_jira(&site).start().await;

    // Leading zeros typed are no part of a Jira issue number.
    assert_eq!(
        call_about(&app, "0123456").await.says[0],
        VERIFIED.replace("1 2 3 4 5 6", "0 1 2 3 4 5 6")
    );

    let lookup = site.received_requests().await.unwrap().remove(0);
    assert_eq!(lookup.url.path(), ISSUE_PATH);
    assert_eq!(lookup.url.query_pairs().find(|(k, _)| k == "fields").unwrap().1, FIELDS);
    assert_eq!(
        lookup.headers.get("authorization").unwrap().to_str().unwrap(),
        "Basic b25jYWxsQGV4YW1wbGUuY29tOkFUQVRUM3hGZkdGMC1qaXJhLXRva2Vu",
        "base64 of oncall@example.com:ATATT3xFfGF0-jira-token"
    );
    assert_eq!(
        lookup.headers.get("accept").unwrap().to_str().unwrap(),
        "application/json"
    );
}

#[tokio::test]
async fn status_category_priority_environment_and_package_decide_as_for_every_case_system() {
    let with = |pointer: &str, value: Value| {
        let mut doc = issue();
        *doc.pointer_mut(pointer).unwrap() = value;
        doc
    };
    let table = [
        (
            with(
                "/fields/status",
                json!({"name": "Resolved", "id": "10020", "statusCategory": {"id": 3, "key": "done", "name": "Done"}}),
            ),
            "Case 1 2 3 4 5 6 is closed.",
        ),
        (
            with("/fields/priority/name", json!("High")),
            "Case 1 2 3 4 5 6 is not marked as critical.",
        ),
        (
            with("/fields/priority", Value::Null),
            "Case 1 2 3 4 5 6 is not marked as critical.",
        ),
        (
            with("/fields/customfield_10050/value", json!("Staging")),
            "Case 1 2 3 4 5 6 is not about a production system.",
        ),
        (
            with("/fields/customfield_10070/value", json!("Standard")),
            "Your support package does not include after-hours phone support.",
        ),
    ];
    for (doc, heard) in table {
        let site = jira().await;
        holds(&site, doc).await;
        let app = night_line_with_jira(&site).start().await;

        let said = call_about(&app, "123456").await.said();
        assert!(said.starts_with(heard), "{said}");
        // A closed case is told to open a new one; the others, when the first response is due.
        assert!(heard.ends_with("is closed.") || said.contains(DEADLINE), "{said}");
    }
}

#[tokio::test]
async fn a_resolved_status_outside_the_done_category_is_still_open() {
    let site = jira().await;
    let mut doc = issue();
    doc["fields"]["status"]["name"] = json!("Resolved");
    holds(&site, doc).await;
    let app = night_line_with_jira(&site).start().await;

    assert_eq!(call_about(&app, "123456").await.says[0], VERIFIED);
}

#[tokio::test]
async fn jiras_404_is_no_such_case_and_any_other_404_leaves_the_case_unverified() {
    let site = jira().await;
    holds(&site, issue()).await;
    let app = night_line_with_jira(&site)
        .env("AFTERHOURS_LINES__US__REQUIRE_REGISTERED_CALLER", "false")
        .start()
        .await;
    let twiml = call_about(&app, "123").await;
    assert_eq!(twiml.says[0], "We could not find case 1 2 3.", "{}", twiml.said());
    assert!(!twiml.hangup);

    let site = jira().await;
    get_issue(
        &site,
        ResponseTemplate::new(404).set_body_raw("<html><body>Page not found</body></html>", "text/html"),
    )
    .await;
    let app = night_line_with_jira(&site).start().await;
    assert_eq!(call_about(&app, "123456").await.says[0], UNVERIFIED);
}

#[tokio::test]
async fn refused_credentials_and_the_rate_limit_leave_the_case_unverified() {
    let replies = [
        ResponseTemplate::new(401).set_body_json(jira_error("Client must be authenticated to access this resource.")),
        ResponseTemplate::new(403)
            .set_body_json(jira_error("You do not have the permission to see the specified issue.")),
        ResponseTemplate::new(429)
            .insert_header("Retry-After", "30")
            .insert_header("RateLimit-Reason", "jira-burst-based"),
    ];
    for reply in replies {
        let site = jira().await;
        get_issue(&site, reply).await;
        let app = night_line_with_jira(&site).start().await;

        assert_eq!(call_about(&app, "123456").await.says[0], UNVERIFIED);
    }
    // A wrong token: the site's own 401.
    let site = jira().await;
    holds(&site, issue()).await;
    let app = night_line_with_jira(&site)
        .env("AFTERHOURS_CASES__TOKEN", "revoked")
        .start()
        .await;
    assert_eq!(call_about(&app, "123456").await.says[0], UNVERIFIED);
}

#[tokio::test]
async fn the_reporters_phone_field_registers_the_caller_and_a_stranger_is_refused() {
    let site = jira().await;
    let mut doc = issue();
    doc["fields"]["customfield_10060"] = json!("+1 555 000 1111, (555) 123-4567");
    holds(&site, doc).await;
    let app = night_line_with_jira(&site).start().await;
    assert_eq!(call_about(&app, "123456").await.says[0], VERIFIED);

    let site = jira().await;
    let mut doc = issue();
    doc["fields"]["customfield_10060"] = Value::Null;
    holds(&site, doc).await;
    let app = night_line_with_jira(&site).start().await;
    let twiml = call_about(&app, "123456").await;
    assert!(twiml.says[0].starts_with(CANNOT_BE_HELPED), "{}", twiml.said());
}

#[tokio::test]
async fn the_call_is_noted_on_the_request_as_an_internal_comment() {
    let site = jira().await;
    holds(&site, issue()).await;
    let app = night_line_with_jira(&site).start().await;

    let heard = call_about(&app, "123456").await;
    crate::cases::ring_out(&app, heard).await;

    let comment = wait_for_comments(&site, 1).await.remove(0);
    assert_eq!(comment.url.path(), COMMENT_PATH);
    assert_eq!(
        comment.headers.get("authorization").unwrap().to_str().unwrap(),
        basic_auth()
    );
    assert_eq!(
        comment.headers.get("content-type").unwrap().to_str().unwrap(),
        "application/json"
    );
    let body: Value = comment.body_json().unwrap();
    let text = body["body"].as_str().unwrap().to_owned();
    assert_eq!(
        body,
        json!({"body": text, "public": false}),
        "an internal comment and nothing else"
    );
    assert!(
        text.contains("Decision: verified as a critical production case."),
        "{text}"
    );
    assert!(text.contains("from +15551234567"), "{text}");
}

#[tokio::test]
async fn a_comment_refused_by_the_rate_limit_is_tried_again() {
    let site = jira().await;
    holds(&site, issue()).await;
    Mock::given(method("POST"))
        .and(path(COMMENT_PATH))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&site)
        .await;
    let app = night_line_with_jira(&site).start().await;

    let heard = call_about(&app, "123456").await;
    crate::cases::ring_out(&app, heard).await;

    let comments = wait_for_comments(&site, 2).await;
    assert_eq!(comments[0].body, comments[1].body, "the same comment, again");
}

fn load(env: &[(&str, &str)]) -> Result<afterhours::assembly::Config, String> {
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/afterhours.toml");
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    afterhours::assembly::Config::load_with_env(&config, &env).map_err(|e| e.to_string())
}

const JIRA_ENV: &[(&str, &str)] = &[
    ("AFTERHOURS_PROVIDER__AUTH_TOKEN", TOKEN),
    ("AFTERHOURS_CASES__ADAPTER", "jira"),
    ("AFTERHOURS_CASES__BASE_URL", "https://acme.atlassian.net"),
    ("AFTERHOURS_CASES__JIRA__EMAIL", EMAIL),
    ("AFTERHOURS_CASES__JIRA__PROJECT", "SUP"),
    ("AFTERHOURS_CASES__JIRA__ENVIRONMENT_FIELD", "customfield_10050"),
    ("AFTERHOURS_CASES__JIRA__ORGANIZATION_FIELD", "customfield_10002"),
    ("AFTERHOURS_CASES__JIRA__PHONE_FIELD", "customfield_10060"),
];

#[test]
fn the_environment_alone_creates_the_jira_settings_and_the_api_token_is_a_missing_secret() {
    let config = load(JIRA_ENV).unwrap();
    let missing: Vec<String> = config.missing_secrets().iter().map(|e| e.to_string()).collect();
    assert!(
        missing.iter().any(|m| m.contains("AFTERHOURS_CASES__TOKEN")),
        "{missing:?}"
    );
    let cases = config.settings.cases.unwrap();
    assert_eq!(cases.adapter, afterhours::settings::CaseAdapter::Jira);
    let jira = cases.jira.unwrap();
    assert_eq!(jira.project, afterhours::settings::ProjectKey::parse("SUP").unwrap());
    assert_eq!(jira.support_package_field, None);
}

#[test]
fn a_jira_project_key_or_field_that_is_not_one_is_refused_naming_the_variable() {
    let mut env = JIRA_ENV.to_vec();
    env.retain(|(k, _)| !k.ends_with("__PROJECT"));
    env.push(("AFTERHOURS_CASES__JIRA__PROJECT", "sup"));
    let error = load(&env).unwrap_err();
    assert!(error.contains("invalid project key \"sup\""), "{error}");
    let mut env = JIRA_ENV.to_vec();
    env.retain(|(k, _)| !k.ends_with("PHONE_FIELD"));
    let error = load(&env).unwrap_err();
    assert!(error.contains("phone_field"), "{error}");
}
