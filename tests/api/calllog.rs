//! The call log: one record per call, closed by the final call-status callback (with the duration) or, when
//! that callback is not configured, some time after the call hung up; read through the admin API.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::*;

pub(crate) const ADMIN: &str = "admin-secret";

pub(crate) async fn calls(app: &TestApp, query: &str) -> Vec<Value> {
    let response = app
        .client
        .get(app.url(&format!("/admin/calls{query}")))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    serde_json::from_str(&response.text().await.unwrap()).unwrap()
}

/// Waits until the log holds `count` records.
pub(crate) async fn until_logged(app: &TestApp, count: usize) -> Vec<Value> {
    for _ in 0..100 {
        let records = calls(app, "").await;
        if records.len() >= count {
            return records;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the call log did not get {count} records");
}

pub(crate) async fn status_callback(app: &TestApp, status: &str, duration: &str) {
    let mut fields = call_fields(CALLER, US_LINE);
    fields.retain(|(k, _)| k != "CallStatus");
    fields.push(("CallStatus".into(), status.into()));
    fields.push(("CallDuration".into(), duration.into()));
    assert_eq!(app.post_signed("/voice/status", &fields).await.status, 200);
}

#[tokio::test]
async fn a_call_leaves_one_record_with_its_decisions_and_duration() {
    let app = tuesday_morning().env("AFTERHOURS_ADMIN__TOKEN", ADMIN).start().await;
    assert!(app.incoming(CALLER, US_LINE).await.hangup);

    status_callback(&app, "completed", "42").await;
    status_callback(&app, "completed", "42").await; // a replayed callback adds nothing

    let records = until_logged(&app, 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let records = if records.len() == 1 {
        calls(&app, "").await
    } else {
        records
    };
    assert_eq!(records.len(), 1, "{records:#?}");
    let record = &records[0];
    assert_eq!(record["call_sid"], call_fields(CALLER, US_LINE)[0].1);
    assert_eq!(record["summary"]["line"], "us");
    assert_eq!(record["summary"]["from"], CALLER, "the full number, for call-backs");
    assert_eq!(record["duration_secs"], 42);
    assert_eq!(record["status"], "completed");
    let events = events(record);
    assert!(
        events.iter().any(|e| e.starts_with("business hours: open")),
        "{events:?}"
    );
}

#[tokio::test]
async fn the_caller_ids_shaken_stir_verdict_is_kept_in_the_record() {
    let app = tuesday_morning()
        .env("AFTERHOURS_ADMIN__TOKEN", ADMIN)
        .env("AFTERHOURS_CALL_LOG__CLOSE_AFTER_SECS", "0")
        .start()
        .await;
    let mut fields = call_fields(CALLER, US_LINE);
    fields.push(("StirVerstat".into(), "TN-Validation-Passed-A".into()));
    assert!(app.post_signed("/voice/incoming", &fields).await.twiml().hangup);

    let records = until_logged(&app, 1).await;

    assert_eq!(records[0]["summary"]["stir_verstat"], "TN-Validation-Passed-A");
}

#[tokio::test]
async fn without_a_status_callback_the_record_is_closed_after_the_hang_up() {
    let app = tuesday_morning()
        .env("AFTERHOURS_ADMIN__TOKEN", ADMIN)
        .env("AFTERHOURS_CALL_LOG__CLOSE_AFTER_SECS", "0")
        .start()
        .await;
    app.incoming(CALLER, US_LINE).await;

    let records = until_logged(&app, 1).await;

    assert_eq!(records[0]["summary"]["line"], "us");
    assert_eq!(records[0]["duration_secs"], Value::Null);
}

#[tokio::test]
async fn the_log_is_searched_by_case() {
    let app = friday_night()
        .env("AFTERHOURS_ADMIN__TOKEN", ADMIN)
        .env("AFTERHOURS_CALL_LOG__CLOSE_AFTER_SECS", "0")
        .start()
        .await;
    let first = app.incoming(CALLER, US_LINE).await;
    // No case system answers here: the case is unverified, and the call goes on to the bridge.
    let bridged = app.follow(first.action(), &[("Digits", "123456")]).await;
    assert!(bridged.dial_action.is_some(), "{}", bridged.xml);
    status_callback(&app, "completed", "90").await;

    let records = until_logged(&app, 1).await;
    assert_eq!(records[0]["summary"]["case"], "123456");
    assert_eq!(records[0]["summary"]["decision"], "unverified");
    assert_eq!(calls(&app, "?case=123456").await.len(), 1);
    assert!(calls(&app, "?case=999").await.is_empty());
}

#[tokio::test]
async fn the_log_needs_the_admin_token() {
    let app = friday_night().env("AFTERHOURS_ADMIN__TOKEN", ADMIN).start().await;
    let response = app.client.get(app.url("/admin/calls")).send().await.unwrap();
    assert_eq!(response.status(), 401);
}

/// Each webhook notes only what it changed; the record still holds everything the call got to, once.
#[tokio::test]
async fn the_record_keeps_what_earlier_webhooks_noted_and_each_decision_once() {
    let app = friday_night().env("AFTERHOURS_ADMIN__TOKEN", ADMIN).start().await;
    let greeting = app.incoming(CALLER, US_LINE).await;
    // A wrong entry, then the case: the case system cannot be reached, so the call is bridged unverified.
    let retry = app.follow(greeting.action(), &[("Digits", "12")]).await;
    let dial = app.follow(retry.action(), &[("Digits", "123456")]).await;
    assert!(dial.dial_action.is_some(), "{}", dial.xml);
    status_callback(&app, "completed", "60").await;

    let records = until_logged(&app, 1).await;
    let record = &records[0];
    assert_eq!(record["summary"]["line"], "us");
    assert_eq!(record["summary"]["from"], CALLER);
    assert_eq!(record["summary"]["case"], "123456");
    assert_eq!(record["summary"]["decision"], "unverified");
    let events = events(record);
    let closed = events
        .iter()
        .filter(|e| e.starts_with("business hours: closed"))
        .count();
    assert_eq!(closed, 1, "each decision once: {events:#?}");
    assert!(events.iter().any(|e| e.contains("123456")), "{events:#?}");
}

/// What a record (as the admin API returns it) says happened, in order.
pub(crate) fn events(record: &serde_json::Value) -> Vec<&str> {
    record["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["what"].as_str().unwrap())
        .collect()
}
