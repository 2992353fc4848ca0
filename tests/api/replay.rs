//! Replays cost nothing: a captured, signed webhook sent again and again (the provider's signature carries no
//! time) leaves its call one call-log record, whose entries are those of one call, in the embedded store and in
//! Redis, where the call's working record stays within the cap of entries.

use std::time::Duration;

use serde_json::Value;

use crate::calllog::{ADMIN, calls};
use crate::helpers::*;
/// How often the incoming webhook is replayed.
const REPLAYS: usize = 2_000;
const REFERENCE: &str = "CA00000000000000000000000000000001";
const REPLAYED: &str = "CA00000000000000000000000000000002";

fn fields_of(call_sid: &str) -> Vec<(String, String)> {
    let mut fields = call_fields(CALLER, US_LINE);
    fields[0].1 = call_sid.to_owned();
    fields
}

fn status_fields(call_sid: &str) -> Vec<(String, String)> {
    let mut fields = fields_of(call_sid);
    fields.retain(|(k, _)| k != "CallStatus");
    fields.push(("CallStatus".into(), "completed".into()));
    fields.push(("CallDuration".into(), "30".into()));
    fields
}

/// The records of `call_sid`, once the log holds at least one of them (at most 10 s).
async fn records_of(app: &TestApp, call_sid: &str) -> Vec<Value> {
    for _ in 0..200 {
        let found: Vec<Value> = calls(app, "?limit=1000")
            .await
            .into_iter()
            .filter(|r| r["call_sid"] == call_sid)
            .collect();
        if !found.is_empty() {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the call log got no record of {call_sid}");
}

fn events(record: &Value) -> Vec<String> {
    record["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["what"].as_str().unwrap().to_owned())
        .collect()
}

/// What the Redis store holds of a call's working record: the entries list's length and the webhooks hash's
/// fields.
struct Keys {
    connection: redis::aio::MultiplexedConnection,
    prefix: String,
}

impl Keys {
    async fn sizes(&mut self, call_sid: &str) -> (usize, usize) {
        redis::pipe()
            .llen(format!("{}call:{{{call_sid}}}:entries", self.prefix))
            .hlen(format!("{}call:{{{call_sid}}}:webhooks", self.prefix))
            .query_async(&mut self.connection)
            .await
            .unwrap()
    }
}

/// One call answered and closed once (the reference), then the same call replayed: its incoming webhook
/// `REPLAYS` times, then the incoming and status pair 50 times. The replayed call must end as the reference
/// did: one record with the same events. With `keys`, the Redis record stays within the cap throughout.
async fn replayed_call_is_logged_like_one_call(app: &TestApp, mut keys: Option<Keys>) {
    let reference = fields_of(REFERENCE);
    assert_eq!(app.post_signed("/voice/incoming", &reference).await.status, 200);
    assert_eq!(
        app.post_signed("/voice/status", &status_fields(REFERENCE)).await.status,
        200
    );
    let reference = records_of(app, REFERENCE).await.remove(0);

    let incoming = fields_of(REPLAYED);
    let cap = afterhours::calllog::MAX_ENTRIES_PER_CALL;
    for n in 0..REPLAYS {
        let reply = app.post_signed("/voice/incoming", &incoming).await;
        assert_eq!(reply.status, 200, "replay {n}: {}", reply.body);
        if n % 500 == 0
            && let Some(keys) = keys.as_mut()
        {
            let (length, webhooks) = keys.sizes(REPLAYED).await;
            assert!(
                length <= 1 && webhooks <= 1,
                "replay {n}: {length} entries, {webhooks} webhooks"
            );
        }
    }
    for _ in 0..50 {
        assert_eq!(app.post_signed("/voice/incoming", &incoming).await.status, 200);
        assert_eq!(
            app.post_signed("/voice/status", &status_fields(REPLAYED)).await.status,
            200
        );
        if let Some(keys) = keys.as_mut() {
            let (length, webhooks) = keys.sizes(REPLAYED).await;
            assert!(
                length <= cap && webhooks <= cap + 1,
                "{length} entries, {webhooks} webhooks"
            );
        }
    }

    records_of(app, REPLAYED).await;
    // Closes queued by the last replays are written by now or soon: give them a moment to show up.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let replayed: Vec<Value> = calls(app, "?limit=1000")
        .await
        .into_iter()
        .filter(|r| r["call_sid"] == REPLAYED)
        .collect();
    assert_eq!(replayed.len(), 1, "one record for the call: {replayed:#?}");
    let record = &replayed[0];
    assert_eq!(events(record), events(&reference), "the events of one call, once each");
    assert!(events(record).len() <= cap);
    assert_eq!(record["entries_dropped"], reference["entries_dropped"]);
    assert_eq!(record["summary"], reference["summary"]);
    assert_eq!(record["duration_secs"], 30);
    if let Some(keys) = keys.as_mut() {
        assert_eq!(keys.sizes(REPLAYED).await, (0, 0), "closed: no working record is left");
    }
}

#[tokio::test]
async fn a_replayed_call_leaves_one_record_in_the_embedded_store() {
    let app = friday_night().env("AFTERHOURS_ADMIN__TOKEN", ADMIN).start().await;
    replayed_call_is_logged_like_one_call(&app, None).await;
}

#[tokio::test]
async fn a_replayed_call_leaves_one_record_and_a_bounded_working_record_in_redis() {
    let url = redis_url();
    let prefix = format!("test:replay:{}:", std::process::id());
    let app = friday_night()
        .env("AFTERHOURS_ADMIN__TOKEN", ADMIN)
        .env("AFTERHOURS_REDIS__URL", &url)
        .env("AFTERHOURS_REDIS__PREFIX", &prefix)
        .start()
        .await;
    let connection = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    replayed_call_is_logged_like_one_call(&app, Some(Keys { connection, prefix })).await;
}
