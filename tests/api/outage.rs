//! The night Redis goes away: calls in progress and new calls are still bridged (from the cached on-call
//! chain, or the line's fallback numbers), every webhook still answers TwiML, and the service recovers by
//! itself when Redis is back. Each test runs a redis-server of its own, so that it can stop and restart it.

use std::path::Path;
use std::time::Duration;

use afterhours::store::redis::RedisStore;
use afterhours::store::{Store, import};
use serde_json::json;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

/// A case system that verifies case 123456, and any other number as the same case, and takes notes.
async fn case_system() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path_regex("^/cases/[0-9]+$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "severity": "critical", "environment": "production", "status": "open",
            "customer": "ACME Corp", "contact_phones": ["+15551234567"]
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path_regex("^/cases/[0-9]+/notes$"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&server)
        .await;
    server
}

async fn import_shipped_rotation(redis: &OwnRedis) -> RedisStore {
    let store = RedisStore::new(&redis.url(), "afterhours:").unwrap();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/oncall.toml");
    import(&store, &afterhours::oncall::file::load(&file).unwrap())
        .await
        .unwrap();
    store
}

/// Waits until Redis answers the store again (the connection manager reconnects in the background).
async fn until_it_answers(store: &RedisStore) {
    for _ in 0..100 {
        if store.load().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("Redis did not come back");
}

/// A night call that enters case 123456 and is verified: what the caller hears next.
async fn verified_call(app: &TestApp) -> Twiml {
    let first = app.incoming(CALLER, US_LINE).await;
    app.follow(first.action(), &[("Digits", "123456")]).await
}

const BOB: &str = "+15550100002";
const CAROL: &str = "+15550100003";

#[tokio::test]
async fn calls_are_still_bridged_while_redis_is_down_and_all_is_well_again_when_it_is_back() {
    let mut redis = OwnRedis::start();
    let store = import_shipped_rotation(&redis).await;
    let cases = case_system().await;
    let app = friday_night()
        .cases(&cases.uri())
        .env("AFTERHOURS_REDIS__URL", &redis.url())
        .start()
        .await;

    let tier_1 = verified_call(&app).await;
    assert_eq!(
        tier_1.dial_numbers.iter().map(|n| n.0.as_str()).collect::<Vec<_>>(),
        [BOB]
    );

    redis.stop();

    // The call in progress: the dial rang out, the record cannot be read, the next tier comes from the cache.
    let tier_2 = app
        .follow(
            tier_1.dial_action.as_deref().unwrap(),
            &[("DialCallStatus", "no-answer")],
        )
        .await;
    assert_eq!(
        tier_2.dial_numbers.iter().map(|n| n.0.as_str()).collect::<Vec<_>>(),
        [CAROL],
        "{}",
        tier_2.xml
    );
    // A new call: counted nowhere (the limit fails open), verified, bridged from the cache.
    let new_call = verified_call(&app).await;
    assert_eq!(
        new_call.dial_numbers.iter().map(|n| n.0.as_str()).collect::<Vec<_>>(),
        [BOB],
        "{}",
        new_call.xml
    );
    // Carol answers the first call and accepts; the record cannot be written, but the dial went on.
    let (_, whisper_url) = &tier_2.dial_numbers[0];
    let parent = call_fields(CALLER, US_LINE)[0].1.clone();
    let whisper = app.follow(whisper_url, &[("ParentCallSid", &parent)]).await;
    let connected = app
        .follow(whisper.action(), &[("ParentCallSid", &parent), ("Digits", "1")])
        .await;
    assert!(connected.says_contains("Connecting you now."), "{}", connected.xml);
    let ended = app
        .follow(
            tier_2.dial_action.as_deref().unwrap(),
            &[("DialCallStatus", "completed")],
        )
        .await;
    assert!(
        ended.hangup,
        "a completed dial is taken as answered while the record cannot be read: {}",
        ended.xml
    );

    redis.restart();
    until_it_answers(&store).await;

    // Recovered: a new call's acceptance is recorded again and read back from Redis.
    let later = Spawn::at_same_night()
        .cases(&cases.uri())
        .env("AFTERHOURS_REDIS__URL", &redis.url())
        .start()
        .await;
    let call = "CA00000000000000000000000000000099";
    let mut fields = call_fields(CALLER, US_LINE);
    fields[0].1 = call.to_owned();
    let first = later.post_signed("/voice/incoming", &fields).await.twiml();
    let path = first.action().strip_prefix(PUBLIC_URL).unwrap().to_owned();
    // Another case: the first call still holds 123456, its release missed while Redis was down (the claim
    // expires on its own once the first call's escalation would have ended).
    fields.push(("Digits".into(), "654321".into()));
    let dial = later.post_signed(&path, &fields).await.twiml();
    assert!(!dial.dial_numbers.is_empty(), "{}", dial.xml);
    let (_, whisper_url) = &dial.dial_numbers[0];
    let whisper = later.follow(whisper_url, &[("ParentCallSid", call)]).await;
    later
        .follow(whisper.action(), &[("ParentCallSid", call), ("Digits", "1")])
        .await;
    assert_eq!(store.acceptance(call, 0).await.unwrap().as_deref(), Some("bob"));
}

#[tokio::test]
async fn with_redis_down_from_the_start_the_lines_fallback_numbers_are_rung() {
    let cases = case_system().await;
    let nowhere = format!("redis://{}", closed_port());
    let app = friday_night()
        .cases(&cases.uri())
        .env("AFTERHOURS_REDIS__URL", &nowhere)
        .env(
            "AFTERHOURS_LINES__US__FALLBACK_NUMBERS",
            "[\"+15550109999\", \"+15550109998\"]",
        )
        .start()
        .await;

    let twiml = verified_call(&app).await;

    assert_eq!(
        twiml.dial_numbers.iter().map(|n| n.0.as_str()).collect::<Vec<_>>(),
        ["+15550109999", "+15550109998"],
        "{}",
        twiml.xml
    );
    assert_eq!(twiml.dial_caller_id.as_deref(), Some(US_LINE));
}

#[tokio::test]
async fn with_redis_down_and_no_fallback_numbers_the_caller_can_leave_a_voicemail() {
    let cases = case_system().await;
    let nowhere = format!("redis://{}", closed_port());
    let app = friday_night()
        .cases(&cases.uri())
        .env("AFTERHOURS_REDIS__URL", &nowhere)
        .start()
        .await;

    let twiml = verified_call(&app).await;

    assert!(twiml.record_action.is_some(), "{}", twiml.xml);
}

#[tokio::test]
async fn redis_errors_in_the_middle_of_a_pipeline_fall_back_like_an_outage() {
    let redis = OwnRedis::start();
    let store = import_shipped_rotation(&redis).await;
    // The engineers hash replaced by a string: the load pipeline's second command fails (WRONGTYPE).
    let client = redis::Client::open(redis.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("SET")
        .arg("afterhours:engineers")
        .arg("oops")
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(store.load().await.is_err());
    let cases = case_system().await;
    let app = friday_night()
        .cases(&cases.uri())
        .env("AFTERHOURS_REDIS__URL", &redis.url())
        .env("AFTERHOURS_LINES__US__FALLBACK_NUMBERS", "[\"+15550109999\"]")
        .start()
        .await;

    let twiml = verified_call(&app).await;

    assert_eq!(
        twiml.dial_numbers.iter().map(|n| n.0.as_str()).collect::<Vec<_>>(),
        ["+15550109999"]
    );
}

/// A Redis that takes connections and never answers (a hung primary, a network partition that drops
/// packets): each webhook gives up on it at its own deadline, and the calls go on as in an outage: the
/// greeting, then the fallback numbers. Many webhooks at once too: the ones queued behind a stuck round trip
/// are no worse off.
#[tokio::test]
async fn a_redis_that_never_answers_delays_each_webhook_by_its_deadline_only() {
    let hung = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = hung.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = hung.accept().await {
            held.push(socket); // read nothing, answer nothing
        }
    });
    let cases = case_system().await;
    let app = friday_night()
        .cases(&cases.uri())
        .env("AFTERHOURS_REDIS__URL", &format!("redis://{address}"))
        .env("AFTERHOURS_LINES__US__FALLBACK_NUMBERS", "[\"+15550109999\"]")
        .start()
        .await;

    // A hang would stop the test at tokio's timeout below, not at some client default.
    let app = std::sync::Arc::new(app);
    let mut calls = tokio::task::JoinSet::new();
    for n in 0..20 {
        let app = app.clone();
        calls.spawn(async move {
            let first = app.incoming(&format!("+1555012{n:04}"), US_LINE).await;
            assert!(first.says_contains("case number"), "{}", first.xml);
            app.follow(first.action(), &[("Digits", "123456")]).await
        });
    }
    // Each of a call's two webhooks waits at most its deadline (400 ms) on Redis; none waits for another's.
    let all = tokio::time::timeout(Duration::from_secs(30), calls.join_all()).await;
    for twiml in all.expect("the webhooks answered") {
        assert_eq!(
            twiml.dial_numbers.iter().map(|n| n.0.as_str()).collect::<Vec<_>>(),
            ["+15550109999"],
            "{}",
            twiml.xml
        );
    }
}

#[tokio::test]
async fn a_redis_that_comes_back_empty_is_noticed_and_the_last_good_chain_is_rung() {
    let redis = OwnRedis::start();
    import_shipped_rotation(&redis).await;
    let cases = case_system().await;
    let app = friday_night()
        .cases(&cases.uri())
        .env("AFTERHOURS_REDIS__URL", &redis.url())
        .start()
        .await;
    assert_eq!(verified_call(&app).await.dial_numbers[0].0, BOB);

    // What a restart without persistence leaves: a Redis that answers, with nothing in it.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("FLUSHALL").query_async::<()>(&mut connection).await.unwrap();
    let ready = readyz_until(&app, |body| body.contains("\"redis\":\"lost_data\"")).await;

    assert!(ready.contains("\"status\":\"degraded\""), "{ready}");
    let call = verified_call(&app).await;
    assert_eq!(
        call.dial_numbers[0].0, BOB,
        "the last good chain, not voicemail: {}",
        call.xml
    );

    // An import writes the data again, and the line takes it.
    import_shipped_rotation(&redis).await;
    let ready = readyz_until(&app, |body| body.contains("\"redis\":\"ok\"")).await;
    assert!(ready.contains("\"status\":\"ok\""), "{ready}");
}
