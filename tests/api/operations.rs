//! What operations sees and what protects the line: metrics, readiness, replays, a graceful shutdown. The
//! guess limit and its storm are in `spoofing`.

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
    let case = serde_json::json!({"severity": "normal", "environment": "production", "status": "open",
        "contact_phones": [CALLER]});
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
