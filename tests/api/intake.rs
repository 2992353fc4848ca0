//! What reaches the flow and what does not: signatures, body limits, malformed requests.

use crate::helpers::*;

#[tokio::test]
async fn healthz_answers_without_a_signature() {
    let app = friday_night().start().await;
    let response = app.client.get(format!("{}/healthz", app.address)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "ok\n");
}

#[tokio::test]
async fn a_forged_signature_gets_403_and_an_empty_body() {
    let app = friday_night().start().await;
    let reply = app
        .post(
            "/voice/incoming",
            Some("RSOYDt4T1cUTdK1PDd93/VVr8B8="),
            form(&call_fields(CALLER, US_LINE)),
        )
        .await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.body, "");
}

#[tokio::test]
async fn a_missing_signature_gets_403() {
    let app = friday_night().start().await;
    let reply = app
        .post("/voice/incoming", None, form(&call_fields(CALLER, US_LINE)))
        .await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.body, "");
}

#[tokio::test]
async fn a_signature_over_the_host_we_listen_on_is_not_accepted() {
    // Behind a proxy the request's Host is ours, not the public one: the URL is never rebuilt from Host.
    let app = friday_night().start().await;
    let fields = call_fields(CALLER, US_LINE);
    let signed_for_host =
        afterhours::signature::compute(TOKEN.as_bytes(), &format!("{}/voice/incoming", app.address), &fields);
    let reply = app.post("/voice/incoming", Some(&signed_for_host), form(&fields)).await;
    assert_eq!(reply.status, 403);
}

#[tokio::test]
async fn a_signature_with_the_default_port_written_out_is_accepted() {
    let app = friday_night().start().await;
    let fields = call_fields(CALLER, US_LINE);
    let signed_with_port = afterhours::signature::compute(
        TOKEN.as_bytes(),
        "https://voice.example.com:443/voice/incoming",
        &fields,
    );
    let reply = app
        .post("/voice/incoming", Some(&signed_with_port), form(&fields))
        .await;
    assert!(reply.twiml().says_contains("English only"));
}

#[tokio::test]
async fn a_changed_parameter_breaks_the_signature() {
    let app = friday_night().start().await;
    let fields = call_fields(CALLER, US_LINE);
    let signature = afterhours::signature::compute(TOKEN.as_bytes(), &format!("{PUBLIC_URL}/voice/incoming"), &fields);
    let mut tampered = fields.clone();
    tampered[2].1 = "+15559999999".into();
    assert_eq!(
        app.post("/voice/incoming", Some(&signature), form(&tampered))
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn step_urls_are_checked_too() {
    let app = friday_night().start().await;
    let reply = app
        .post("/voice/step/case_number/digits?line=us", None, "Digits=123456".into())
        .await;
    assert_eq!(reply.status, 403);
    let reply = app.post("/voice/status", None, "CallStatus=completed".into()).await;
    assert_eq!(reply.status, 403);
    // Every /voice/ route, and before its path is read: a step without an event, an unknown path, a step name
    // that is not even UTF-8.
    for path in [
        "/voice/step/case_number?line=us",
        "/voice/whatever/else",
        "/voice/step/%FF/x",
    ] {
        let reply = app.post(path, Some("forged"), "Digits=1".into()).await;
        assert_eq!(reply.status, 403, "{path}");
        assert!(reply.body.is_empty(), "{path}: {}", reply.body);
    }
}

#[tokio::test]
async fn a_body_that_is_not_form_encoded_fails_the_signature_check() {
    let app = friday_night().start().await;
    let body = r#"{"From":"+15551234567","To":"+18005550100"}"#.to_owned();
    let signature = afterhours::signature::compute(TOKEN.as_bytes(), &format!("{PUBLIC_URL}/voice/incoming"), &[]);
    assert_eq!(app.post("/voice/incoming", Some(&signature), body).await.status, 403);
}

#[tokio::test]
async fn with_checks_off_a_body_that_is_not_form_encoded_gets_a_spoken_apology() {
    let app = friday_night()
        .env("AFTERHOURS_PROVIDER__VALIDATE_SIGNATURES", "false")
        .start()
        .await;
    let reply = app
        .post("/voice/incoming", None, r#"{"From":"+15551234567"}"#.into())
        .await;
    let twiml = reply.twiml();
    assert!(twiml.says_contains("technical problem"), "{}", twiml.xml);
    assert!(twiml.hangup);
}

#[tokio::test]
async fn a_body_over_64_kib_gets_413() {
    let app = friday_night().start().await;
    let mut fields = call_fields(CALLER, US_LINE);
    fields.push(("Padding".into(), "x".repeat(65 * 1024)));
    let reply = app.post_signed("/voice/incoming", &fields).await;
    assert_eq!(reply.status, 413);
}

#[tokio::test]
async fn a_call_without_to_or_from_hears_an_apology() {
    let app = friday_night().start().await;
    for fields in [
        params(&[("CallSid", "CA1"), ("From", CALLER)]),
        params(&[("CallSid", "CA1"), ("To", US_LINE)]),
    ] {
        let twiml = app.post_signed("/voice/incoming", &fields).await.twiml();
        assert!(twiml.says_contains("technical problem"), "{}", twiml.xml);
        assert!(twiml.hangup);
    }
}

#[tokio::test]
async fn an_unknown_step_in_the_url_hears_an_apology() {
    let app = friday_night().start().await;
    let twiml = app
        .post_signed("/voice/step/no_such_step?line=us", &call_fields(CALLER, US_LINE))
        .await
        .twiml();
    assert!(twiml.says_contains("technical problem"));
    assert!(twiml.hangup);
}

#[tokio::test]
async fn an_unknown_event_or_a_url_without_line_hears_an_apology() {
    let app = friday_night().start().await;
    for path in [
        "/voice/step/greeting/digits?line=us",
        "/voice/step/case_number/digits",
        "/voice/step/hours?line=mars",
    ] {
        let twiml = app.post_signed(path, &call_fields(CALLER, US_LINE)).await.twiml();
        assert!(twiml.says_contains("technical problem"), "{path}: {}", twiml.xml);
        assert!(twiml.hangup, "{path}");
    }
}

#[tokio::test]
async fn an_unknown_voice_path_hears_an_apology() {
    let app = friday_night().start().await;
    let twiml = app
        .post_signed("/voice/whatever/else", &call_fields(CALLER, US_LINE))
        .await
        .twiml();
    assert!(twiml.says_contains("technical problem"));
}

#[tokio::test]
async fn status_callbacks_are_acknowledged() {
    let app = friday_night().start().await;
    let mut fields = call_fields(CALLER, US_LINE);
    fields.push(("CallDuration".into(), "42".into()));
    let twiml = app.post_signed("/voice/status", &fields).await.twiml();
    assert!(twiml.says.is_empty());
}

#[tokio::test]
async fn with_checks_off_unsigned_webhooks_are_answered() {
    let app = friday_night()
        .env("AFTERHOURS_PROVIDER__VALIDATE_SIGNATURES", "false")
        .start()
        .await;
    let twiml = app
        .post("/voice/incoming", None, form(&call_fields(CALLER, US_LINE)))
        .await
        .twiml();
    assert!(twiml.says_contains("English only"));
}

#[tokio::test]
async fn a_path_outside_voice_is_not_found_without_a_signature_check() {
    let app = friday_night().start().await;
    let reply = app.post("/nothing/here", None, String::new()).await;
    assert_eq!(reply.status, 404);
}
