//! What operations sees and what protects the line: metrics, readiness, the per-caller rate limit, a storm.

use std::sync::Arc;

use crate::helpers::*;

async fn get(app: &TestApp, path: &str) -> (u16, String) {
    let response = app.client.get(app.url(path)).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn metrics_count_calls_by_line_and_time_webhooks_by_step() {
    let app = friday_night().start().await;
    let first = app.incoming(CALLER, US_LINE).await;
    app.follow(first.action(), &[("Digits", "")]).await;

    let (status, text) = get(&app, "/metrics").await;

    assert_eq!(status, 200);
    assert!(text.contains("afterhours_calls_started_total{line=\"us\"}"), "{text}");
    assert!(
        text.contains("afterhours_webhook_duration_seconds_bucket{step=\"incoming\""),
        "{text}"
    );
    assert!(
        text.contains("afterhours_webhook_duration_seconds_bucket{step=\"case_number/digits\""),
        "{text}"
    );
}

#[tokio::test]
async fn a_made_up_step_is_counted_as_unknown_not_as_a_new_series() {
    let app = friday_night().start().await;
    app.post_signed("/voice/step/made_up_step_4711?line=us", &call_fields(CALLER, US_LINE))
        .await
        .twiml();
    let (_, text) = get(&app, "/metrics").await;
    assert!(!text.contains("made_up_step_4711"), "{text}");
    assert!(text.contains("step=\"unknown\""), "{text}");
}

#[tokio::test]
async fn readyz_reports_the_embedded_store_as_ready() {
    let app = friday_night().start().await;
    let (status, body) = get(&app, "/readyz").await;
    assert_eq!(status, 200);
    assert!(body.contains("\"status\":\"ok\""), "{body}");
    assert!(body.contains("\"redis\":\"embedded\""), "{body}");
}

#[tokio::test]
async fn readyz_says_degraded_when_redis_does_not_answer() {
    let nowhere = format!("redis://{}", closed_port());
    let app = friday_night().env("AFTERHOURS_REDIS__URL", &nowhere).start().await;
    // The on-call cache's refresher reads at start; its failure is what readiness reports.
    let body = readyz_until(&app, |body| !body.contains("\"redis\":\"starting\"")).await;
    assert!(body.contains("\"status\":\"degraded\""), "{body}");
    assert!(body.contains("\"redis\":\"down\""), "{body}");
}

#[tokio::test]
async fn readiness_probes_send_the_store_nothing() {
    let redis = OwnRedis::start();
    let app = friday_night().env("AFTERHOURS_REDIS__URL", &redis.url()).start().await;
    let body = readyz_until(&app, |body| body.contains("\"redis\":\"ok\"")).await;
    assert!(body.contains("\"status\":\"ok\""), "{body}");

    let before = commands_processed(&redis).await;
    for _ in 0..200 {
        let (status, _) = get(&app, "/readyz").await;
        assert_eq!(status, 200);
    }
    let sent = commands_processed(&redis).await - before;

    // The refresher's own reads (every 5 s) and the INFO asking are all Redis may have seen meanwhile.
    assert!(sent < 20, "200 probes sent Redis {sent} commands");
}

/// How many commands `redis` has processed since it started.
async fn commands_processed(redis: &OwnRedis) -> i64 {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let info: String = redis::cmd("INFO")
        .arg("stats")
        .query_async(&mut connection)
        .await
        .unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix("total_commands_processed:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn the_seventh_call_within_ten_minutes_from_one_number_hears_that_the_line_is_busy() {
    let app = friday_night().start().await;
    for call in 0..6 {
        let entered = call_number(&app, CALLER, call).await;
        assert!(!entered.says_contains("this line is busy"), "{}", entered.said());
    }
    // The same call's case number entered again is not another call.
    assert!(!call_number(&app, CALLER, 5).await.says_contains("this line is busy"));
    let busy = call_number(&app, CALLER, 6).await;
    assert!(
        busy.says_contains("this line is busy with your earlier calls"),
        "{}",
        busy.said()
    );
    assert!(busy.says_contains("the support portal"), "{}", busy.said());
    assert!(busy.hangup);
    // Another number is not affected.
    let other = call_number(&app, "+15557654321", 7).await;
    assert!(!other.says_contains("this line is busy"), "{}", other.said());
}

#[tokio::test]
async fn the_limit_is_configurable() {
    let app = friday_night()
        .env("AFTERHOURS_LIMITS__CALLS_PER_WINDOW", "2")
        .start()
        .await;
    call_number(&app, CALLER, 1).await;
    call_number(&app, CALLER, 2).await;
    assert!(call_number(&app, CALLER, 3).await.says_contains("this line is busy"));
}

/// The replica saw the caller reach the limit, so it counts the next call before it looks anything up.
#[tokio::test]
async fn a_caller_over_the_limit_is_not_looked_up_nor_dialled() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let cases = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&cases)
        .await;
    let app = friday_night()
        .cases(&cases.uri())
        .env("AFTERHOURS_LIMITS__CALLS_PER_WINDOW", "1")
        .start()
        .await;
    call_number(&app, CALLER, 1).await;
    assert_eq!(cases.received_requests().await.unwrap().len(), 1);

    let busy = call_number(&app, CALLER, 2).await;

    assert!(busy.says_contains("this line is busy"), "{}", busy.said());
    assert!(busy.dial_numbers.is_empty(), "{}", busy.xml);
    assert_eq!(
        cases.received_requests().await.unwrap().len(),
        1,
        "no lookup for the second call"
    );
}

/// Two replicas on one Redis: the caller's first call was counted by one, the second reaches the other, which
/// has not seen the caller at the limit, so the lookup goes out while the call is counted. Its answer (here:
/// no such case) is not used.
#[tokio::test]
async fn a_call_over_the_limit_counted_by_another_replica_hears_busy_and_is_not_dialled() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let cases = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&cases)
        .await;
    let redis = std::env::var("AFTERHOURS_TEST_REDIS_URL")
        .expect("AFTERHOURS_TEST_REDIS_URL is not set: run the tests with ./scripts/test, which starts redis-server");
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let prefix = format!("test:operations:{}:{}:", std::process::id(), started.as_nanos());
    let replica = || {
        friday_night()
            .cases(&cases.uri())
            .env("AFTERHOURS_REDIS__URL", &redis)
            .env("AFTERHOURS_REDIS__PREFIX", &prefix)
            .env("AFTERHOURS_LIMITS__CALLS_PER_WINDOW", "1")
            .start()
    };
    let (first, second) = (replica().await, replica().await);
    let allowed = call_number(&first, CALLER, 1).await;
    assert!(allowed.says_contains("could not find case"), "{}", allowed.said());

    let busy = call_number(&second, CALLER, 2).await;

    assert!(busy.says_contains("this line is busy"), "{}", busy.said());
    assert!(!busy.says_contains("could not find"), "{}", busy.said());
    assert!(busy.dial_numbers.is_empty(), "{}", busy.xml);
    assert!(busy.hangup);
}

#[tokio::test]
async fn a_flow_that_starts_with_the_limit_turns_the_caller_away_before_the_greeting() {
    let shipped = include_str!("../../voice-flows/critical-incident.toml");
    let limit_first = shipped
        .replace("start = \"greeting\"", "start = \"limit\"")
        .replace("allowed = \"verify\"", "allowed = \"greeting\"")
        .replace("entered = \"limit\"", "entered = \"verify\"");
    let flows = std::env::temp_dir().join(format!("afterhours-limit-first-{}", std::process::id()));
    std::fs::create_dir_all(&flows).unwrap();
    std::fs::write(flows.join("critical-incident.toml"), limit_first).unwrap();
    let app = friday_night()
        .env("AFTERHOURS_PATHS__FLOWS", flows.to_str().unwrap())
        .env("AFTERHOURS_LIMITS__CALLS_PER_WINDOW", "1")
        .start()
        .await;
    let mut fields = call_fields(CALLER, US_LINE);

    let first = app.post_signed("/voice/incoming", &fields).await.twiml();
    fields[0].1 = format!("CA{:032}", 2);
    let second = app.post_signed("/voice/incoming", &fields).await.twiml();

    let _ = std::fs::remove_dir_all(&flows);
    assert!(first.says_contains("Thank you for calling"), "{}", first.said());
    assert!(second.says_contains("this line is busy"), "{}", second.said());
    assert!(!second.says_contains("Thank you for calling"), "{}", second.said());
    assert!(second.hangup);
}

/// Call `n` from `from` (a CallSid of its own): the greeting, which waits on nothing and so asks for the case
/// number whatever the count, then the case number entered; the answer to that.
async fn call_number(app: &TestApp, from: &str, n: u32) -> Twiml {
    let mut fields = call_fields(from, US_LINE);
    fields[0].1 = format!("CA{n:032}");
    let greeting = app.post_signed("/voice/incoming", &fields).await.twiml();
    assert!(
        greeting.gather_action.is_some() && !greeting.says_contains("busy"),
        "{}",
        greeting.xml
    );
    let path = greeting.action().strip_prefix(PUBLIC_URL).unwrap().to_owned();
    fields.push(("Digits".into(), "123456".into()));
    app.post_signed(&path, &fields).await.twiml()
}

#[tokio::test]
async fn a_storm_of_a_thousand_calls_from_one_number_is_answered_and_held_off() {
    let app = Arc::new(friday_night().start().await);
    let mut answered = 0;
    let mut busy = 0;
    for batch in 0..20 {
        let calls: Vec<_> = (0..50)
            .map(|i| {
                let app = app.clone();
                tokio::spawn(async move { call_number(&app, CALLER, batch * 50 + i).await })
            })
            .collect();
        for call in calls {
            let twiml = call.await.unwrap();
            if twiml.says_contains("this line is busy") {
                busy += 1;
            } else {
                assert!(
                    !twiml.dial_numbers.is_empty() || twiml.gather_action.is_some(),
                    "{}",
                    twiml.xml
                );
                answered += 1;
            }
        }
    }
    assert_eq!((answered, busy), (6, 994));
}

#[tokio::test]
async fn the_same_call_sid_replayed_gets_the_same_answer() {
    let app = friday_night().start().await;
    let first = app.incoming(CALLER, US_LINE).await;
    let again = app.follow(first.action(), &[("Digits", "12")]).await;
    let replayed = app.follow(first.action(), &[("Digits", "12")]).await;
    assert_eq!(again.xml, replayed.xml);
}

#[tokio::test]
async fn a_shutdown_lets_the_webhook_in_flight_finish_with_its_answer() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let cases = MockServer::start().await;
    let case = serde_json::json!({"severity": "normal", "environment": "production", "status": "open"});
    Mock::given(method("GET"))
        .and(path("/cases/123456"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(case)
                .set_delay(std::time::Duration::from_millis(800)),
        )
        .mount(&cases)
        .await;
    let mut app = friday_night().cases(&cases.uri()).start().await;
    let first = app.incoming(CALLER, US_LINE).await;
    let path = first.action().strip_prefix(PUBLIC_URL).unwrap().to_owned();
    let mut fields = call_fields(CALLER, US_LINE);
    fields.push(("Digits".into(), "123456".into()));
    let signature = afterhours::signature::compute(TOKEN.as_bytes(), &format!("{PUBLIC_URL}{path}"), &fields);
    let request = app
        .client
        .post(format!("{}{path}", app.address))
        .header("X-Twilio-Signature", signature)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&fields))
        .send();
    let in_flight = tokio::spawn(request);
    // Once the case system has the lookup, the webhook is in flight: stop the server now.
    for _ in 0..100 {
        if !cases.received_requests().await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    app.begin_shutdown();

    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    let twiml = Twiml::parse(&response.text().await.unwrap());
    assert!(twiml.says_contains("is not marked as critical"), "{}", twiml.xml);
}
