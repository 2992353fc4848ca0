//! Night calls checked against the generic http-json case system, faked by a local HTTP server that answers
//! in the documented format: `GET /cases/{id}` gives the case as JSON (404: no such case), and
//! `POST /cases/{id}/notes` with `{"body": "..."}` adds a note once the call ends.
//!
//! It is Friday, November 27, 8 PM in New York: the first response on any case is due by Monday, 6 PM.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::{header, method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::*;

pub const DEADLINE: &str = "by Monday, November 30, 6 PM Eastern time";
pub const VERIFIED: &str = "Thank you. Case 1 2 3 4 5 6 for ACME Corp is a critical incident in production.";
pub const CONNECTING: &str = "Connecting you to the on-call engineer.";
pub const UNVERIFIED: &str = "We cannot check case 1 2 3 4 5 6 right now, so an engineer will decide on it with you.";
pub const UNAVAILABLE: &str = "We are sorry, we cannot check your case right now because of a technical problem. \
    Case 1 2 3 4 5 6 will be handled as soon as possible, and you will hear from us by Monday, November 30, \
    6 PM Eastern time at the latest. Goodbye.";
pub const AFTER_HOURS_POLICY: &str = "Outside business hours, we take calls only for critical incidents in production.";

/// Case 123456 as the case system keeps it: critical, production, open, the caller a registered contact.
fn acme_case() -> Value {
    json!({
        "id": "123456",
        "severity": "critical",
        "environment": "production",
        "status": "open",
        "customer": "ACME Corp",
        "contact_phones": ["+15551234567"],
    })
}

/// Case 123456 with one field changed.
fn acme_case_with(field: &str, value: Value) -> Value {
    let mut case = acme_case();
    case[field] = value;
    case
}

/// A case system that knows no case yet and takes every note.
async fn case_system() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/cases/[0-9]+/notes$"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": "n-1"})))
        .with_priority(10)
        .mount(&server)
        .await;
    server
}

/// The case system answers the lookup of case `id` with `reply`.
async fn lookup_of(server: &MockServer, id: &str, reply: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(format!("/cases/{id}")))
        .respond_with(reply)
        .mount(server)
        .await;
}

/// The case system knows case `id` as `case`.
async fn knows(server: &MockServer, id: &str, case: Value) {
    lookup_of(server, id, ResponseTemplate::new(200).set_body_json(case)).await;
}

/// Friday night on the US line, looking cases up at `server`, notes retried quickly.
fn night_line_with(server: &MockServer) -> Spawn {
    friday_night()
        .cases(&server.uri())
        .env("AFTERHOURS_CASES__NOTES__BACKOFF_MS", "20")
}

/// Like [`night_line_with`], on a line that takes calls from any number (no registered caller required): the
/// specific answers about a case that only a registered caller hears on the shipped line.
fn open_line_with(server: &MockServer) -> Spawn {
    night_line_with(server).env("AFTERHOURS_LINES__US__REQUIRE_REGISTERED_CALLER", "false")
}

/// The refusal a caller not registered on the case hears on the shipped line, whatever the case.
pub const CANNOT_BE_HELPED: &str = "We are sorry, this phone number cannot be helped with case";

/// A call that enters `digits` at the case-number prompt: what the caller hears next.
async fn call_about(app: &TestApp, digits: &str) -> Twiml {
    let first = app.incoming(CALLER, US_LINE).await;
    app.follow(first.action(), &[("Digits", digits)]).await
}

/// The notes the case system has received so far.
async fn notes_received(server: &MockServer) -> Vec<Request> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() == "POST" && r.url.path().ends_with("/notes"))
        .collect()
}

/// Like [`call_about`], then lets the call run to its end with nobody answering (every tier rings out, no
/// voicemail is left), so that the note on the case is sent. Returns what the caller heard after the digits.
async fn call_to_the_end(app: &TestApp, digits: &str) -> Twiml {
    let heard = call_about(app, digits).await;
    ring_out(app, heard.clone()).await;
    heard
}

/// Follows a call until it hangs up: dials unanswered, the voicemail left empty.
pub async fn ring_out(app: &TestApp, mut twiml: Twiml) -> Twiml {
    for _ in 0..20 {
        if let Some(action) = twiml.dial_action.clone() {
            twiml = app.follow(&action, &[("DialCallStatus", "no-answer")]).await;
        } else if let Some(action) = twiml.record_action.clone() {
            twiml = app.follow(&action, &[]).await;
        } else {
            break;
        }
    }
    assert!(twiml.hangup, "{}", twiml.xml);
    twiml
}

/// Waits (up to 5 s) until the case system has received `count` notes; returns them.
async fn wait_for_notes(server: &MockServer, count: usize) -> Vec<Request> {
    for _ in 0..100 {
        let notes = notes_received(server).await;
        if notes.len() >= count {
            return notes;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let received: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| format!("{} {}", r.method, r.url))
        .collect();
    panic!("expected {count} notes within 5 s; the case system received {received:?}");
}

/// The body text of a note, checking the note is `{"body": "..."}` and nothing else.
fn note_text(note: &Request) -> String {
    assert_eq!(
        note.headers.get("content-type").map(|v| v.to_str().unwrap()),
        Some("application/json")
    );
    let body: Value = note.body_json().unwrap();
    let object = body.as_object().unwrap_or_else(|| panic!("not an object: {body}"));
    assert_eq!(object.len(), 1, "only the body: {body}");
    object["body"].as_str().unwrap().to_owned()
}

/// Verified: the caller hears it, then is connected to the on-call engineer.
fn assert_verified(twiml: &Twiml) {
    assert_eq!(twiml.says[0], VERIFIED, "{}", twiml.said());
    assert!(twiml.says_contains(CONNECTING), "{}", twiml.said());
    assert!(!twiml.dial_numbers.is_empty(), "{}", twiml.xml);
}

/// Unverified (the case system could not answer; the line's policy is to bridge): connected all the same.
fn assert_unverified(twiml: &Twiml) {
    assert_eq!(twiml.says[0], UNVERIFIED, "{}", twiml.said());
    assert!(twiml.says_contains(CONNECTING), "{}", twiml.said());
    assert!(!twiml.dial_numbers.is_empty(), "{}", twiml.xml);
}

// ---------------------------------------------------------------------------------------------------------
// Verified

#[tokio::test]
async fn a_critical_production_case_is_verified_and_the_caller_hears_the_customer_name() {
    let cases = case_system().await;
    knows(&cases, "123456", acme_case()).await;
    let app = night_line_with(&cases).start().await;

    let twiml = call_about(&app, "123456").await;

    assert_verified(&twiml);
    assert!(twiml.gather_action.is_none());
    let lookups: Vec<Request> = cases
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() == "GET")
        .collect();
    assert_eq!(lookups.len(), 1);
    assert_eq!(lookups[0].url.path(), "/cases/123456");
    assert_eq!(
        lookups[0].headers.get("accept").map(|v| v.to_str().unwrap()),
        Some("application/json")
    );
    assert!(
        lookups[0].headers.get("authorization").is_none(),
        "no auth unless configured"
    );
}

#[tokio::test]
async fn after_a_verified_call_the_case_gets_a_note_with_the_decision_and_the_callers_number() {
    let cases = case_system().await;
    knows(&cases, "123456", acme_case()).await;
    let app = night_line_with(&cases).start().await;

    call_to_the_end(&app, "123456").await;

    let notes = wait_for_notes(&cases, 1).await;
    assert_eq!(notes[0].url.path(), "/cases/123456/notes");
    let text = note_text(&notes[0]);
    assert!(
        text.contains("Decision: verified as a critical production case."),
        "{text}"
    );
    assert!(text.contains("from +15551234567"), "{text}");
    assert!(text.contains("line North America (+18005550100)"), "{text}");
    assert!(text.contains("Friday, November 27, 8 PM"), "{text}");
}

#[tokio::test]
async fn severity_environment_and_status_are_compared_without_regard_to_case() {
    let cases = case_system().await;
    let case = json!({"severity": "SEV1", "environment": "Prod", "status": "Open", "customer": "ACME Corp",
        "contact_phones": [CALLER]});
    knows(&cases, "123456", case).await;
    let app = night_line_with(&cases).start().await;

    assert_verified(&call_about(&app, "123456").await);
}

#[tokio::test]
async fn a_case_without_a_customer_name_is_for_an_unknown_customer() {
    let cases = case_system().await;
    knows(&cases, "123456", acme_case_with("customer", Value::Null)).await;
    let app = night_line_with(&cases).start().await;

    let twiml = call_about(&app, "123456").await;

    assert_eq!(
        twiml.says[0],
        "Thank you. Case 1 2 3 4 5 6 for an unknown customer is a critical incident in production."
    );
}

#[tokio::test]
async fn a_customer_name_is_spoken_as_written_and_escaped_in_the_twiml() {
    let cases = case_system().await;
    knows(
        &cases,
        "123456",
        acme_case_with("customer", json!("AT&T <Labs> \"West\"")),
    )
    .await;
    let app = night_line_with(&cases).start().await;

    let twiml = call_about(&app, "123456").await;

    assert_eq!(
        twiml.says[0],
        "Thank you. Case 1 2 3 4 5 6 for AT&T <Labs> \"West\" is a critical incident in production."
    );
    assert!(twiml.xml.contains("AT&amp;T &lt;Labs&gt;"), "{}", twiml.xml);
}

// ---------------------------------------------------------------------------------------------------------
// Not found

#[tokio::test]
async fn an_unknown_case_is_read_back_digit_by_digit_and_the_caller_is_asked_again() {
    let cases = case_system().await;
    lookup_of(&cases, "123", ResponseTemplate::new(404)).await;
    let app = open_line_with(&cases).start().await;

    let twiml = call_about(&app, "123").await;

    assert_eq!(twiml.says[0], "We could not find case 1 2 3.", "{}", twiml.said());
    assert!(
        twiml.says_contains("Please enter your case number, followed by the pound key."),
        "{}",
        twiml.said()
    );
    assert!(twiml.action().contains("n.case_number=2"), "{}", twiml.action());
    assert!(!twiml.hangup);
}

#[tokio::test]
async fn a_caller_who_mistyped_the_case_number_gets_through_on_the_second_try() {
    let cases = case_system().await;
    lookup_of(&cases, "123465", ResponseTemplate::new(404)).await;
    knows(&cases, "123456", acme_case()).await;
    let app = open_line_with(&cases).start().await;

    let again = call_about(&app, "123465").await;
    assert!(
        again.says_contains("We could not find case 1 2 3 4 6 5."),
        "{}",
        again.said()
    );
    let twiml = app.follow(again.action(), &[("Digits", "123456")]).await;

    assert_verified(&twiml);
    ring_out(&app, twiml).await;
    let notes = wait_for_notes(&cases, 1).await;
    assert_eq!(notes[0].url.path(), "/cases/123456/notes");
}

#[tokio::test]
async fn three_unknown_case_numbers_end_in_goodbye_and_no_note_is_sent() {
    let cases = case_system().await;
    lookup_of(&cases, "123", ResponseTemplate::new(404)).await;
    let app = open_line_with(&cases).start().await;

    let mut twiml = app.incoming(CALLER, US_LINE).await;
    for attempt in 1..=3 {
        twiml = app.follow(twiml.action(), &[("Digits", "123")]).await;
        assert_eq!(twiml.says[0], "We could not find case 1 2 3.", "attempt {attempt}");
        if attempt < 3 {
            assert!(!twiml.hangup, "attempt {attempt}");
        }
    }

    assert!(
        twiml.says_contains("We could not get a case number we can use."),
        "{}",
        twiml.said()
    );
    assert!(twiml.hangup);
    // A call about a case that does exist afterwards is noted; the unknown one never is.
    knows(&cases, "123456", acme_case()).await;
    call_to_the_end(&app, "123456").await;
    let notes = wait_for_notes(&cases, 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let notes_now = notes_received(&cases).await;
    assert_eq!(notes_now.len(), 1, "one note, for the case that exists");
    assert_eq!(notes[0].url.path(), "/cases/123456/notes");
}

// ---------------------------------------------------------------------------------------------------------
// The after-hours policy: each refusal is explained, with the first-response deadline.

#[tokio::test]
async fn a_case_that_is_not_critical_is_handled_in_business_hours() {
    let cases = case_system().await;
    knows(&cases, "123456", acme_case_with("severity", json!("high"))).await;
    let app = night_line_with(&cases).start().await;

    let twiml = call_about(&app, "123456").await;

    let said = twiml.said();
    assert!(
        said.starts_with("Case 1 2 3 4 5 6 is not marked as critical."),
        "{said}"
    );
    assert!(said.contains(AFTER_HOURS_POLICY), "{said}");
    assert!(said.contains(DEADLINE), "{said}");
    assert!(twiml.hangup);
    let text = note_text(&wait_for_notes(&cases, 1).await[0]);
    assert!(
        text.contains("Decision: not critical; the caller was told the after-hours policy"),
        "{text}"
    );
    assert!(text.contains("due by Monday, November 30, 6 PM Eastern time"), "{text}");
}

#[tokio::test]
async fn a_case_that_is_not_about_production_is_handled_in_business_hours() {
    let cases = case_system().await;
    knows(&cases, "123456", acme_case_with("environment", json!("staging"))).await;
    let app = night_line_with(&cases).start().await;

    let twiml = call_about(&app, "123456").await;

    let said = twiml.said();
    assert!(
        said.starts_with("Case 1 2 3 4 5 6 is not about a production system."),
        "{said}"
    );
    assert!(said.contains(AFTER_HOURS_POLICY), "{said}");
    assert!(said.contains(DEADLINE), "{said}");
    assert!(twiml.hangup);
}

#[tokio::test]
async fn a_closed_case_asks_for_a_new_one() {
    let cases = case_system().await;
    knows(&cases, "123456", acme_case_with("status", json!("resolved"))).await;
    let app = night_line_with(&cases).start().await;

    let twiml = call_about(&app, "123456").await;

    let said = twiml.said();
    assert!(said.starts_with("Case 1 2 3 4 5 6 is closed."), "{said}");
    assert!(
        said.contains("please open a new case through the support portal"),
        "{said}"
    );
    assert!(!said.contains(DEADLINE), "a closed case has no response due: {said}");
    assert!(twiml.hangup);
}

#[tokio::test]
async fn a_closed_case_is_closed_even_when_it_is_not_critical_either() {
    let cases = case_system().await;
    let case = json!({"severity": "low", "environment": "staging", "status": "closed"});
    knows(&cases, "123456", case).await;
    let app = open_line_with(&cases).start().await;

    assert!(call_about(&app, "123456").await.says[0].starts_with("Case 1 2 3 4 5 6 is closed."));
}

// ---------------------------------------------------------------------------------------------------------
// Registered callers

#[tokio::test]
async fn where_the_line_requires_it_a_caller_who_is_not_a_contact_of_the_case_is_turned_away() {
    let cases = case_system().await;
    knows(
        &cases,
        "123456",
        acme_case_with("contact_phones", json!(["+15559999999"])),
    )
    .await;
    let app = night_line_with(&cases)
        .env("AFTERHOURS_LINES__US__REQUIRE_REGISTERED_CALLER", "true")
        .start()
        .await;

    let twiml = call_about(&app, "123456").await;

    let said = twiml.said();
    assert!(said.starts_with(&format!("{CANNOT_BE_HELPED} 1 2 3 4 5 6.")), "{said}");
    assert!(said.contains("the support portal"), "{said}");
    assert!(!said.contains("ACME"), "{said}");
    assert!(
        twiml.says_contains("Please enter your case number"),
        "another case number may be entered: {said}"
    );
}

#[tokio::test]
async fn a_registered_contact_gets_through_however_the_number_is_written_on_the_case() {
    let cases = case_system().await;
    let phones = json!(["+15559999999", "+1 (555) 123-4567"]);
    knows(&cases, "123456", acme_case_with("contact_phones", phones)).await;
    let app = night_line_with(&cases)
        .env("AFTERHOURS_LINES__US__REQUIRE_REGISTERED_CALLER", "true")
        .start()
        .await;

    assert_verified(&call_about(&app, "123456").await);
}

#[tokio::test]
async fn a_single_contact_phone_without_country_code_matches_too() {
    let cases = case_system().await;
    knows(
        &cases,
        "123456",
        acme_case_with("contact_phones", json!("(555) 123-4567")),
    )
    .await;
    let app = night_line_with(&cases)
        .env("AFTERHOURS_LINES__US__REQUIRE_REGISTERED_CALLER", "true")
        .start()
        .await;

    assert_verified(&call_about(&app, "123456").await);
}

#[tokio::test]
async fn without_the_requirement_any_caller_gets_through() {
    let cases = case_system().await;
    knows(&cases, "123456", acme_case_with("contact_phones", json!([]))).await;
    let app = open_line_with(&cases).start().await;

    let twiml = call_about(&app, "123456").await;

    // Connected, without hearing whose case it is: the number is not one of the case's.
    assert_eq!(
        twiml.says[0],
        "Thank you. Case 1 2 3 4 5 6 for your organisation is a critical incident in production."
    );
    assert!(twiml.says_contains(CONNECTING), "{}", twiml.said());
    assert!(!twiml.dial_numbers.is_empty(), "{}", twiml.xml);
}

// ---------------------------------------------------------------------------------------------------------
// Entitlement: the shipped [packages] (standard without after-hours phone support; premium, advanced with)

#[tokio::test]
async fn a_support_package_without_after_hours_support_is_handled_in_business_hours() {
    let cases = case_system().await;
    knows(&cases, "123456", acme_case_with("support_package", json!("Standard"))).await;
    let app = night_line_with(&cases).start().await;

    let twiml = call_about(&app, "123456").await;

    let said = twiml.said();
    assert!(
        said.starts_with("Your support package does not include after-hours phone support."),
        "{said}"
    );
    assert!(
        said.contains("Case 1 2 3 4 5 6 will be handled during business hours"),
        "{said}"
    );
    assert!(said.contains(DEADLINE), "{said}");
    assert!(twiml.hangup);
}

#[tokio::test]
async fn a_package_with_after_hours_support_gets_through_by_its_name_or_a_spelling_whatever_its_capitals() {
    let cases = case_system().await;
    knows(&cases, "123456", acme_case_with("support_package", json!("PREMIUM"))).await;
    knows(
        &cases,
        "234567",
        acme_case_with("support_package", json!("Premium Support")),
    )
    .await;
    let app = night_line_with(&cases).start().await;

    assert_verified(&call_about(&app, "123456").await);
    assert!(
        call_about(&app, "234567")
            .await
            .says_contains("is a critical incident in production")
    );
}

#[tokio::test]
async fn a_case_whose_package_no_table_names_is_not_refused_for_it() {
    let cases = case_system().await;
    knows(&cases, "123456", acme_case()).await;
    knows(&cases, "234567", acme_case_with("support_package", json!("gold"))).await;
    let app = night_line_with(&cases).start().await;

    assert_verified(&call_about(&app, "123456").await);
    assert!(
        call_about(&app, "234567")
            .await
            .says_contains("is a critical incident in production")
    );
}

#[tokio::test]
async fn the_older_list_of_after_hours_packages_is_ignored_beside_the_package_tables() {
    let cases = case_system().await;
    knows(&cases, "123456", acme_case_with("support_package", json!("Premium"))).await;
    let app = night_line_with(&cases)
        .env("AFTERHOURS_CASES__AFTER_HOURS_PACKAGES", r#"["enterprise"]"#)
        .start()
        .await;

    assert_verified(&call_about(&app, "123456").await);
}

#[test]
fn a_single_package_name_is_not_a_list_and_the_error_names_the_variable() {
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/afterhours.toml");
    let env = [(
        "AFTERHOURS_CASES__AFTER_HOURS_PACKAGES".to_owned(),
        "premium".to_owned(),
    )];
    let error = afterhours::assembly::Config::load_with_env(&config, &env)
        .unwrap_err()
        .to_string();
    assert!(error.contains("AFTERHOURS_CASES__AFTER_HOURS_PACKAGES"), "{error}");
    assert!(error.contains("expected a sequence"), "{error}");
}

// ---------------------------------------------------------------------------------------------------------
// Unavailable: with the default policy (bridge) the call goes on unverified; with `refuse` it ends.

/// What the caller hears when the case system answers case 123456's lookup with `reply`.
async fn heard_when_the_lookup_gets(reply: ResponseTemplate) -> Twiml {
    let cases = case_system().await;
    lookup_of(&cases, "123456", reply).await;
    let app = open_line_with(&cases).start().await;
    call_about(&app, "123456").await
}

#[tokio::test]
async fn a_case_system_that_refuses_connections_leaves_the_case_unverified() {
    // friday_night() points at a port where nothing listens.
    let app = friday_night().start().await;
    assert_unverified(&call_about(&app, "123456").await);
}

#[tokio::test]
async fn with_the_refuse_policy_a_case_system_that_refuses_connections_ends_the_call_with_the_deadline() {
    let app = friday_night()
        .env("AFTERHOURS_LINES__US__ON_UNAVAILABLE", "refuse")
        .start()
        .await;

    let twiml = call_about(&app, "123456").await;

    assert_eq!(twiml.says, [UNAVAILABLE]);
    assert!(twiml.hangup);
}

#[tokio::test]
async fn a_server_error_leaves_the_case_unverified() {
    assert_unverified(&heard_when_the_lookup_gets(ResponseTemplate::new(500)).await);
}

#[tokio::test]
async fn a_refused_token_leaves_the_case_unverified_rather_than_not_found() {
    let reply = ResponseTemplate::new(401).set_body_json(json!({"error": "invalid token"}));
    assert_unverified(&heard_when_the_lookup_gets(reply).await);
}

#[tokio::test]
async fn an_html_page_instead_of_json_leaves_the_case_unverified() {
    let page = "<!DOCTYPE html><html><body><h1>Maintenance</h1>We will be back soon.</body></html>";
    assert_unverified(&heard_when_the_lookup_gets(ResponseTemplate::new(200).set_body_raw(page, "text/html")).await);
}

#[tokio::test]
async fn an_html_404_is_a_wrong_address_not_a_missing_case() {
    let page = "<html><body><h1>404 Not Found</h1>nginx</body></html>";
    assert_unverified(&heard_when_the_lookup_gets(ResponseTemplate::new(404).set_body_raw(page, "text/html")).await);
}

#[tokio::test]
async fn a_json_404_is_a_missing_case() {
    let reply = ResponseTemplate::new(404).set_body_json(json!({"error": "no such case"}));
    let twiml = heard_when_the_lookup_gets(reply).await;
    assert!(
        twiml.says_contains("We could not find case 1 2 3 4 5 6."),
        "{}",
        twiml.said()
    );
}

#[tokio::test]
async fn an_empty_answer_leaves_the_case_unverified() {
    assert_unverified(&heard_when_the_lookup_gets(ResponseTemplate::new(200)).await);
}

#[tokio::test]
async fn json_of_the_wrong_shape_leaves_the_case_unverified() {
    assert_unverified(&heard_when_the_lookup_gets(ResponseTemplate::new(200).set_body_json(json!([]))).await);
}

#[tokio::test]
async fn a_case_without_an_environment_leaves_the_case_unverified() {
    let mut case = acme_case();
    case.as_object_mut().unwrap().remove("environment");
    assert_unverified(&heard_when_the_lookup_gets(ResponseTemplate::new(200).set_body_json(case)).await);
}

#[tokio::test]
async fn a_redirect_loop_leaves_the_case_unverified() {
    let cases = case_system().await;
    let itself = format!("{}/cases/123456", cases.uri());
    lookup_of(
        &cases,
        "123456",
        ResponseTemplate::new(301).insert_header("location", itself.as_str()),
    )
    .await;
    let app = night_line_with(&cases).start().await;

    assert_unverified(&call_about(&app, "123456").await);
    let lookups = cases
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == "GET")
        .count();
    assert!(lookups <= 4, "redirects are bounded: {lookups} lookups");
}

/// Case 123456 reached through `hops` redirects (`/cases/123456` → `/hop/1` → ... → the case).
async fn case_behind_redirects(hops: usize) -> MockServer {
    let cases = case_system().await;
    let hop = |n: usize| format!("{}/hop/{n}", cases.uri());
    lookup_of(
        &cases,
        "123456",
        ResponseTemplate::new(302).insert_header("location", hop(1).as_str()),
    )
    .await;
    for n in 1..=hops {
        let reply = if n < hops {
            ResponseTemplate::new(302).insert_header("location", hop(n + 1).as_str())
        } else {
            ResponseTemplate::new(200).set_body_json(acme_case())
        };
        Mock::given(method("GET"))
            .and(path(format!("/hop/{n}")))
            .respond_with(reply)
            .mount(&cases)
            .await;
    }
    cases
}

#[tokio::test]
async fn three_redirects_are_followed() {
    let cases = case_behind_redirects(3).await;
    let app = night_line_with(&cases).start().await;

    assert_verified(&call_about(&app, "123456").await);
}

#[tokio::test]
async fn a_fourth_redirect_leaves_the_case_unverified() {
    let cases = case_behind_redirects(4).await;
    let app = night_line_with(&cases).start().await;

    assert_unverified(&call_about(&app, "123456").await);
}

#[tokio::test]
async fn a_10_mb_answer_is_not_read_and_leaves_the_case_unverified() {
    // Valid JSON of a verifiable case: only a cap keeps the caller from being verified.
    let mut body = br#"{"severity":"critical","environment":"production","status":"open","padding":""#.to_vec();
    body.extend(std::iter::repeat_n(b'a', 10 * 1024 * 1024));
    body.extend_from_slice(br#""}"#);
    let reply = ResponseTemplate::new(200).set_body_raw(body, "application/json");
    assert_unverified(&heard_when_the_lookup_gets(reply).await);
}

#[tokio::test]
async fn a_10_mb_answer_of_unknown_length_is_cut_off_and_leaves_the_case_unverified() {
    // Chunked, with no Content-Length to refuse it by: the cap must apply while reading. The document is a
    // verifiable case if read whole.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
                let start = r#"{"severity":"critical","environment":"production","status":"open","padding":""#;
                let mut out = format!("{:x}\r\n{start}\r\n", start.len()).into_bytes();
                if socket.write_all(head.as_bytes()).await.is_err() || socket.write_all(&out).await.is_err() {
                    return;
                }
                let chunk = vec![b'a'; 64 * 1024];
                out = format!("{:x}\r\n", chunk.len()).into_bytes();
                out.extend_from_slice(&chunk);
                out.extend_from_slice(b"\r\n");
                for _ in 0..160 {
                    if socket.write_all(&out).await.is_err() {
                        return;
                    }
                }
                let _ = socket.write_all(b"2\r\n\"}\r\n0\r\n\r\n").await;
            });
        }
    });
    let app = friday_night().cases(&base_url).start().await;

    assert_unverified(&call_about(&app, "123456").await);
}

#[tokio::test]
async fn a_lookup_slower_than_the_timeout_leaves_the_case_unverified() {
    let cases = case_system().await;
    let slow = ResponseTemplate::new(200)
        .set_body_json(acme_case())
        .set_delay(Duration::from_secs(3));
    lookup_of(&cases, "123456", slow).await;
    let app = night_line_with(&cases)
        .env("AFTERHOURS_CASES__TIMEOUT_MS", "300")
        .start()
        .await;

    assert_unverified(&call_about(&app, "123456").await);
}

#[tokio::test]
async fn with_the_refuse_policy_a_slow_lookup_ends_the_call_with_an_apology_and_the_deadline() {
    let cases = case_system().await;
    let slow = ResponseTemplate::new(200)
        .set_body_json(acme_case())
        .set_delay(Duration::from_secs(3));
    lookup_of(&cases, "123456", slow).await;
    let app = night_line_with(&cases)
        .env("AFTERHOURS_CASES__TIMEOUT_MS", "300")
        .env("AFTERHOURS_LINES__US__ON_UNAVAILABLE", "refuse")
        .start()
        .await;

    let twiml = call_about(&app, "123456").await;

    assert_eq!(twiml.says, [UNAVAILABLE]);
    assert!(twiml.says[0].contains(DEADLINE));
    assert!(twiml.hangup);
    let text = note_text(&wait_for_notes(&cases, 1).await[0]);
    assert!(
        text.contains("the caller was asked to wait for business hours"),
        "{text}"
    );
}

#[tokio::test]
async fn with_the_refuse_policy_a_found_case_is_still_verified() {
    let cases = case_system().await;
    knows(&cases, "123456", acme_case()).await;
    let app = night_line_with(&cases)
        .env("AFTERHOURS_LINES__US__ON_UNAVAILABLE", "refuse")
        .start()
        .await;

    assert_verified(&call_about(&app, "123456").await);
}

#[tokio::test]
async fn a_slow_case_system_does_not_hold_other_calls() {
    let cases = case_system().await;
    let slow = ResponseTemplate::new(200)
        .set_body_json(acme_case())
        .set_delay(Duration::from_secs(3));
    lookup_of(&cases, "123456", slow).await;
    knows(&cases, "654321", acme_case_with("customer", json!("Globex"))).await;
    let app = Arc::new(
        night_line_with(&cases)
            .env("AFTERHOURS_CASES__TIMEOUT_MS", "5000")
            .start()
            .await,
    );

    let stuck = tokio::spawn({
        let app = app.clone();
        async move { call_about(&app, "123456").await }
    });
    // Wait until the slow lookup is really in flight.
    for _ in 0..100 {
        let requests = cases.received_requests().await.unwrap();
        if requests.iter().any(|r| r.url.path() == "/cases/123456") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let other = app.incoming(CALLER, US_LINE).await;
    assert!(other.says_contains("please enter your case number"), "{}", other.said());
    let other = app.follow(other.action(), &[("Digits", "654321")]).await;
    assert_eq!(
        other.says[0],
        "Thank you. Case 6 5 4 3 2 1 for Globex is a critical incident in production."
    );
    assert!(!stuck.is_finished(), "the first call's lookup is still waiting");

    assert_verified(&stuck.await.unwrap());
}

// ---------------------------------------------------------------------------------------------------------
// Authentication

#[tokio::test]
async fn with_bearer_auth_the_lookup_and_the_note_carry_the_token() {
    let cases = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/cases/123456"))
        .and(header("authorization", "Bearer s3cret"))
        .respond_with(ResponseTemplate::new(200).set_body_json(acme_case()))
        .mount(&cases)
        .await;
    Mock::given(method("POST"))
        .and(path("/cases/123456/notes"))
        .and(header("authorization", "Bearer s3cret"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&cases)
        .await;
    // Without the token, the case system refuses.
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(401))
        .with_priority(10)
        .mount(&cases)
        .await;
    let app = night_line_with(&cases)
        .env("AFTERHOURS_CASES__AUTH", "bearer")
        .env("AFTERHOURS_CASES__TOKEN", "s3cret")
        .start()
        .await;

    assert_verified(&call_to_the_end(&app, "123456").await);
    let notes = wait_for_notes(&cases, 1).await;
    assert_eq!(
        notes[0].headers.get("authorization").map(|v| v.to_str().unwrap()),
        Some("Bearer s3cret")
    );
}

#[tokio::test]
async fn a_redirect_to_another_server_does_not_take_the_token_along() {
    let elsewhere = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/moved/123456"))
        .respond_with(ResponseTemplate::new(200).set_body_json(acme_case()))
        .mount(&elsewhere)
        .await;
    let cases = case_system().await;
    let moved = format!("{}/moved/123456", elsewhere.uri());
    lookup_of(
        &cases,
        "123456",
        ResponseTemplate::new(302).insert_header("location", moved.as_str()),
    )
    .await;
    let app = night_line_with(&cases)
        .env("AFTERHOURS_CASES__AUTH", "bearer")
        .env("AFTERHOURS_CASES__TOKEN", "s3cret")
        .start()
        .await;

    call_about(&app, "123456").await;

    let followed = elsewhere.received_requests().await.unwrap();
    assert_eq!(followed.len(), 1, "the redirect was followed");
    assert!(
        followed[0].headers.get("authorization").is_none(),
        "the token stays with the case system"
    );
}

#[tokio::test]
async fn without_bearer_auth_the_token_is_not_sent() {
    let cases = case_system().await;
    knows(&cases, "123456", acme_case()).await;
    let app = night_line_with(&cases)
        .env("AFTERHOURS_CASES__TOKEN", "s3cret")
        .start()
        .await;

    assert_verified(&call_to_the_end(&app, "123456").await);
    wait_for_notes(&cases, 1).await;
    for request in cases.received_requests().await.unwrap() {
        assert!(
            request.headers.get("authorization").is_none(),
            "{} {}",
            request.method,
            request.url
        );
    }
}

#[test]
fn bearer_auth_without_a_token_is_reported_as_a_missing_secret() {
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/afterhours.toml");
    let env = [
        ("AFTERHOURS_PROVIDER__AUTH_TOKEN".to_owned(), TOKEN.to_owned()),
        ("AFTERHOURS_CASES__AUTH".to_owned(), "bearer".to_owned()),
    ];
    let config = afterhours::assembly::Config::load_with_env(&config, &env).unwrap();
    let missing: Vec<String> = config.missing_secrets().iter().map(|e| e.to_string()).collect();
    assert!(
        missing.iter().any(|m| m.contains("AFTERHOURS_CASES__TOKEN")),
        "{missing:?}"
    );
}

// ---------------------------------------------------------------------------------------------------------
// Notes: retried in the background, never in the caller's way.

#[tokio::test]
async fn a_note_refused_twice_is_retried_until_it_is_added() {
    let cases = MockServer::start().await;
    knows(&cases, "123456", acme_case()).await;
    Mock::given(method("POST"))
        .and(path("/cases/123456/notes"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&cases)
        .await;
    Mock::given(method("POST"))
        .and(path("/cases/123456/notes"))
        .respond_with(ResponseTemplate::new(201))
        .with_priority(2)
        .mount(&cases)
        .await;
    let app = night_line_with(&cases).start().await;

    assert_verified(&call_to_the_end(&app, "123456").await);

    let notes = wait_for_notes(&cases, 3).await;
    let texts: Vec<String> = notes.iter().map(note_text).collect();
    assert!(
        texts.iter().all(|t| *t == texts[0]),
        "the same note each time: {texts:?}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        notes_received(&cases).await.len(),
        3,
        "no attempt after the note was added"
    );
}

#[tokio::test]
async fn a_note_that_keeps_failing_changes_nothing_for_the_caller_and_is_given_up() {
    let cases = MockServer::start().await;
    knows(&cases, "123456", acme_case()).await;
    Mock::given(method("POST"))
        .and(path("/cases/123456/notes"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&cases)
        .await;
    let app = night_line_with(&cases)
        .env("AFTERHOURS_CASES__NOTES__ATTEMPTS", "3")
        .start()
        .await;

    let twiml = call_to_the_end(&app, "123456").await;

    assert_verified(&twiml);
    wait_for_notes(&cases, 3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(notes_received(&cases).await.len(), 3, "given up after its attempts");
    // The next caller hears the same as ever.
    assert_eq!(call_to_the_end(&app, "123456").await.says, twiml.says);
}

#[tokio::test]
async fn a_note_the_case_system_rejects_is_not_tried_again() {
    let cases = MockServer::start().await;
    knows(&cases, "123456", acme_case()).await;
    Mock::given(method("POST"))
        .and(path("/cases/123456/notes"))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({"error": "case is locked"})))
        .mount(&cases)
        .await;
    let app = night_line_with(&cases).start().await;

    assert_verified(&call_to_the_end(&app, "123456").await);

    wait_for_notes(&cases, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        notes_received(&cases).await.len(),
        1,
        "a 422 will not pass by trying again"
    );
}

#[tokio::test]
async fn with_notes_turned_off_no_note_is_sent() {
    let cases = case_system().await;
    knows(&cases, "123456", acme_case()).await;
    let app = night_line_with(&cases)
        .env("AFTERHOURS_CASES__NOTES__ENABLED", "false")
        .start()
        .await;

    assert_verified(&call_about(&app, "123456").await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(notes_received(&cases).await.is_empty());
}
