//! Missed-call alerts, end to end: a call that nobody accepts, played as Twilio plays it, tells each alert
//! target once, in its documented request format, and then its voicemail. The targets (PagerDuty's Events
//! API v2, Opsgenie's Alert API, a signed webhook) are local fakes; the on-call data is the shipped rotation
//! on the embedded store. It is Friday night in New York: six dials (three tiers, once repeated).

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::calllog::{ADMIN, events, status_callback, until_logged};
use crate::helpers::*;

const CALL_SID: &str = "CA0123456789abcdef0123456789abcdef";
const RECORDING: &str =
    "https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Recordings/RE0123456789abcdef";
const VOICEMAIL: &str = "We are sorry, no engineer could take your call right now. Please leave a message about \
    the incident after the tone, then press the pound key.";
const WEBHOOK_SECRET: &str = "relay-signing-secret";

/// Case 123456: critical, production, open, the caller registered on it.
async fn case_system() -> MockServer {
    case_system_knowing(&[("123456", acme_case_123456(json!({})))]).await
}

/// A fake of all three targets' APIs on one server, each at its documented path, answering 202.
async fn targets() -> MockServer {
    let server = MockServer::start().await;
    for route in ["/v2/enqueue", "/v2/alerts", "/hook"] {
        Mock::given(method("POST"))
            .and(path(route))
            .respond_with(ResponseTemplate::new(202).set_body_json(json!({"status": "success"})))
            .mount(&server)
            .await;
    }
    Mock::given(method("POST"))
        .and(path_regex(r"^/v2/alerts/[^/]+/notes$"))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({"result": "Request will be processed"})))
        .mount(&server)
        .await;
    server
}

/// The server, its cases at `cases`, with a PagerDuty, an Opsgenie and a webhook target at `targets`.
fn server(cases: &MockServer, targets: &str) -> Spawn {
    friday_night()
        .cases(&cases.uri())
        .env("AFTERHOURS_ADMIN__TOKEN", ADMIN)
        .env("AFTERHOURS_ALERTS__PAGER__KIND", "pagerduty")
        .env("AFTERHOURS_ALERTS__PAGER__URL", targets)
        .env("AFTERHOURS_ALERTS__PAGER__SECRET", "pd-routing-key")
        .env("AFTERHOURS_ALERTS__GENIE__KIND", "opsgenie")
        .env("AFTERHOURS_ALERTS__GENIE__URL", targets)
        .env("AFTERHOURS_ALERTS__GENIE__SECRET", "genie-key")
        .env("AFTERHOURS_ALERTS__RELAY__KIND", "webhook")
        .env("AFTERHOURS_ALERTS__RELAY__URL", &format!("{targets}/hook"))
        .env("AFTERHOURS_ALERTS__RELAY__SECRET", WEBHOOK_SECRET)
}

/// The caller enters case 123456 and every dial rings out: what they hear then (the voicemail prompt).
async fn nobody_accepts(app: &TestApp) -> Twiml {
    let greeting = app.incoming(CALLER, US_LINE).await;
    let mut twiml = app.follow(greeting.action(), &[("Digits", "123456#")]).await;
    for _ in 0..6 {
        let action = twiml
            .dial_action
            .clone()
            .unwrap_or_else(|| panic!("no <Dial>: {}", twiml.xml));
        twiml = app.follow(&action, &[("DialCallStatus", "no-answer")]).await;
    }
    twiml
}

/// The requests `server` received on `route`, once `count` of them came (waits up to 5 s).
async fn received(server: &MockServer, route: &str, count: usize) -> Vec<Request> {
    for _ in 0..100 {
        let requests: Vec<Request> = server
            .received_requests()
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.url.path() == route)
            .collect();
        if requests.len() >= count {
            return requests;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let paths: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.url.to_string())
        .collect();
    panic!("fewer than {count} requests on {route}; received: {paths:?}");
}

fn json_of(request: &Request) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

fn header(request: &Request, name: &str) -> String {
    request.headers.get(name).unwrap().to_str().unwrap().to_owned()
}

#[tokio::test]
async fn nobody_accepts_and_each_target_is_told_once_then_given_the_voicemail() {
    let (cases, fakes) = (case_system().await, targets().await);
    let app = server(&cases, &fakes.uri()).start().await;

    let prompt = nobody_accepts(&app).await;
    assert_eq!(
        prompt.says,
        [VOICEMAIL],
        "the caller hears nothing of the alerts: {}",
        prompt.xml
    );

    let pagerduty = received(&fakes, "/v2/enqueue", 1).await;
    let event = json_of(&pagerduty[0]);
    assert_eq!(event["routing_key"], "pd-routing-key");
    assert_eq!(event["event_action"], "trigger");
    assert_eq!(event["dedup_key"], format!("afterhours-{CALL_SID}"));
    assert_eq!(event["payload"]["severity"], "critical");
    let summary = event["payload"]["summary"].as_str().unwrap();
    assert!(
        summary.contains("case 123456 (ACME Corp)") && summary.contains("North America"),
        "{summary}"
    );
    let details = &event["payload"]["custom_details"];
    assert_eq!(details["caller"], CALLER);
    assert_eq!(details["case"], "123456");
    assert_eq!(
        details["rung"],
        json!(["bob", "carol", "carol", "alice", "bob", "carol", "carol", "alice"])
    );
    assert!(details["recording_url"].is_null());

    let opsgenie = received(&fakes, "/v2/alerts", 1).await;
    assert_eq!(header(&opsgenie[0], "authorization"), "GenieKey genie-key");
    let alert = json_of(&opsgenie[0]);
    assert_eq!(alert["alias"], format!("afterhours-{CALL_SID}"));
    assert_eq!(alert["priority"], "P1");
    assert_eq!(alert["details"]["caller"], CALLER);

    let hook = received(&fakes, "/hook", 1).await;
    let timestamp = header(&hook[0], "x-afterhours-timestamp");
    let body = std::str::from_utf8(&hook[0].body).unwrap();
    assert_eq!(
        header(&hook[0], "x-afterhours-signature"),
        afterhours::alerts::sign_webhook(&WEBHOOK_SECRET.to_owned().into(), &timestamp, body)
    );
    let age = chrono::Utc::now().timestamp() - timestamp.parse::<i64>().unwrap();
    assert!((0..300).contains(&age), "a fresh timestamp: {age} s old");
    assert_eq!(json_of(&hook[0])["event"], "missed_call");

    // The caller leaves a message: each target gets it, PagerDuty on the same incident, Opsgenie as a note.
    let record = prompt.record_action.clone().expect("a <Record>");
    let thanks = app
        .follow(&record, &[("RecordingUrl", RECORDING), ("RecordingDuration", "42")])
        .await;
    assert!(thanks.hangup);
    let pagerduty = received(&fakes, "/v2/enqueue", 2).await;
    let voicemail = json_of(&pagerduty[1]);
    assert_eq!(voicemail["dedup_key"], format!("afterhours-{CALL_SID}"));
    assert_eq!(voicemail["payload"]["custom_details"]["recording_url"], RECORDING);
    let note = received(&fakes, &format!("/v2/alerts/afterhours-{CALL_SID}/notes"), 1).await;
    assert_eq!(note[0].url.query(), Some("identifierType=alias"));
    assert!(json_of(&note[0])["note"].as_str().unwrap().contains(RECORDING));
    let hook = received(&fakes, "/hook", 2).await;
    assert_eq!(json_of(&hook[1])["event"], "voicemail");
    assert_eq!(json_of(&hook[1])["recording_url"], RECORDING);

    // Each delivery is in the call's record. A delivery is written once it ended, just after the target
    // answered: give the last ones a moment before the call's record closes.
    tokio::time::sleep(Duration::from_millis(500)).await;
    status_callback(&app, "completed", "260").await;
    let record = &until_logged(&app, 1).await[0];
    let events = events(record);
    for delivered in [
        "alert missed_call to pager (pagerduty): accepted after 1 attempt(s)",
        "alert missed_call to genie (opsgenie): accepted after 1 attempt(s)",
        "alert missed_call to relay (webhook): accepted after 1 attempt(s)",
        "alert voicemail to pager (pagerduty): accepted after 1 attempt(s)",
        "alert voicemail to relay (webhook): accepted after 1 attempt(s)",
    ] {
        assert!(events.contains(&delivered), "no {delivered:?} in {events:#?}");
    }
}

#[tokio::test]
async fn a_replayed_dial_action_and_recording_alert_nobody_twice() {
    let (cases, fakes) = (case_system().await, targets().await);
    let app = server(&cases, &fakes.uri()).start().await;
    let greeting = app.incoming(CALLER, US_LINE).await;
    let mut twiml = app.follow(greeting.action(), &[("Digits", "123456#")]).await;
    for _ in 0..5 {
        let action = twiml.dial_action.clone().unwrap();
        twiml = app.follow(&action, &[("DialCallStatus", "no-answer")]).await;
    }
    let last = twiml.dial_action.clone().unwrap();
    let mut prompt = app.follow(&last, &[("DialCallStatus", "no-answer")]).await;
    for _ in 0..3 {
        prompt = app.follow(&last, &[("DialCallStatus", "no-answer")]).await;
        assert_eq!(prompt.says, [VOICEMAIL]);
    }
    let record = prompt.record_action.clone().unwrap();
    for _ in 0..3 {
        app.follow(&record, &[("RecordingUrl", RECORDING)]).await;
    }

    received(&fakes, "/v2/enqueue", 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let all = fakes.received_requests().await.unwrap();
    let on = |route: &str| all.iter().filter(|r| r.url.path() == route).count();
    assert_eq!(
        on("/v2/enqueue"),
        2,
        "one trigger for the missed call, one for its voicemail"
    );
    assert_eq!(on("/v2/alerts"), 1);
    assert_eq!(on("/hook"), 2);
}

#[tokio::test]
async fn a_target_that_fails_for_a_while_is_retried_and_one_that_is_down_changes_nothing_for_the_caller() {
    let cases = case_system().await;
    let flaky = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/enqueue"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&flaky)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/enqueue"))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({"status": "success"})))
        .mount(&flaky)
        .await;
    let down = format!("http://{}", closed_port());
    let app = friday_night()
        .cases(&cases.uri())
        .env("AFTERHOURS_ALERTS__PAGER__KIND", "pagerduty")
        .env("AFTERHOURS_ALERTS__PAGER__URL", &flaky.uri())
        .env("AFTERHOURS_ALERTS__PAGER__SECRET", "pd-routing-key")
        .env("AFTERHOURS_ALERTS__RELAY__KIND", "webhook")
        .env("AFTERHOURS_ALERTS__RELAY__URL", &format!("{down}/hook"))
        .env("AFTERHOURS_ALERTS__RELAY__SECRET", WEBHOOK_SECRET)
        .start()
        .await;

    let prompt = nobody_accepts(&app).await;
    assert_eq!(prompt.says, [VOICEMAIL], "{}", prompt.xml);

    // The 503 is retried after the first backoff (1 s); the same event both times.
    let attempts = received(&flaky, "/v2/enqueue", 2).await;
    assert_eq!(json_of(&attempts[0]), json_of(&attempts[1]));
}

#[tokio::test]
async fn the_first_tiers_engineer_gets_a_text_through_the_providers_messages_api_then_the_voicemail() {
    let cases = case_system().await;
    let twilio = MockServer::start().await;
    let messages = "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json";
    Mock::given(method("POST"))
        .and(path(messages))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"sid": "SM1", "status": "queued"})))
        .mount(&twilio)
        .await;
    let app = friday_night()
        .cases(&cases.uri())
        .env("AFTERHOURS_ALERTS__TEXTS__KIND", "sms")
        .env("AFTERHOURS_ALERTS__TEXTS__URL", &twilio.uri())
        .start()
        .await;

    let prompt = nobody_accepts(&app).await;
    let sent = received(&twilio, messages, 1).await;
    // Basic auth: the call's AccountSid and the provider's auth token.
    let credentials = format!("AC0123456789abcdef0123456789abcdef:{TOKEN}");
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(credentials);
    assert_eq!(header(&sent[0], "authorization"), format!("Basic {basic}"));
    let form: Vec<(String, String)> = form_urlencoded::parse(&sent[0].body).into_owned().collect();
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap();
    // Tier 1 of the shipped rotation on this night is Bob alone.
    assert_eq!(field("To"), "+15550100002");
    assert_eq!(field("From"), US_LINE);
    let text = field("Body");
    assert!(
        text.contains("case 123456 (ACME Corp)") && text.contains(&format!("Call back {CALLER}")),
        "{text}"
    );

    let record = prompt.record_action.clone().expect("a <Record>");
    app.follow(&record, &[("RecordingUrl", RECORDING)]).await;
    let sent = received(&twilio, messages, 2).await;
    let form: Vec<(String, String)> = form_urlencoded::parse(&sent[1].body).into_owned().collect();
    let body = &form.iter().find(|(k, _)| k == "Body").unwrap().1;
    assert!(
        body.contains("a voicemail is waiting") && body.contains(RECORDING),
        "{body}"
    );
}
