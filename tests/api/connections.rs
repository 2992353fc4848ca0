//! The two listeners and the limits every connection lives under, over real sockets: what each listener
//! serves, and that clients which never finish a request, or hold a connection silent, are closed.

use crate::helpers::*;

const ADMIN: &str = "admin-token-for-connections";

#[tokio::test]
async fn the_webhook_listener_serves_webhooks_and_health_only() {
    let app = friday_night().env("AFTERHOURS_ADMIN__TOKEN", ADMIN).start().await;
    let client = &app.client;
    for path in ["/admin/oncall?line=us", "/admin/calls", "/metrics", "/readyz"] {
        let response = client
            .get(format!("{}{path}", app.address))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{path} on the webhook listener");
    }
    let health = client.get(format!("{}/healthz", app.address)).send().await.unwrap();
    assert_eq!(health.status(), 200);
    app.incoming(CALLER, US_LINE).await;
}

#[tokio::test]
async fn the_operators_listener_serves_admin_metrics_readiness_and_health_but_no_webhooks() {
    let app = friday_night().env("AFTERHOURS_ADMIN__TOKEN", ADMIN).start().await;
    let client = &app.client;
    for path in ["/admin/oncall?line=us", "/metrics", "/readyz", "/healthz"] {
        let response = client
            .get(format!("{}{path}", app.ops_address))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path} on the operators' listener");
    }
    let fields = call_fields(CALLER, US_LINE);
    let signature = afterhours::signature::compute(TOKEN.as_bytes(), &format!("{PUBLIC_URL}/voice/incoming"), &fields);
    let webhook = client
        .post(format!("{}/voice/incoming", app.ops_address))
        .header("X-Twilio-Signature", signature)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&fields))
        .send()
        .await
        .unwrap();
    assert_eq!(
        webhook.status(),
        404,
        "webhooks are not taken on the operators' listener"
    );
}

#[tokio::test]
async fn failed_logins_on_the_operators_listener_are_throttled_per_client_address() {
    let app = friday_night()
        .env("AFTERHOURS_ADMIN__TOKEN", ADMIN)
        .env("AFTERHOURS_ADMIN__FAILED_LOGINS_PER_MINUTE", "2")
        .start()
        .await;
    // Two clients on two loopback addresses: the throttle tells them apart by the connection's address.
    let from = |ip: [u8; 4]| {
        reqwest::Client::builder()
            .local_address(std::net::IpAddr::from(ip))
            .build()
            .unwrap()
    };
    let (guesser, operator) = (from([127, 0, 0, 1]), from([127, 0, 0, 2]));
    let ask = |client: &reqwest::Client, token: &str| {
        client
            .get(format!("{}/admin/oncall?line=us", app.ops_address))
            .bearer_auth(token)
            .send()
    };
    assert_eq!(ask(&guesser, "wrong").await.unwrap().status(), 401);
    assert_eq!(ask(&guesser, "wrong").await.unwrap().status(), 401);
    assert_eq!(
        ask(&guesser, ADMIN).await.unwrap().status(),
        429,
        "the address has used its tries"
    );
    assert_eq!(
        ask(&operator, ADMIN).await.unwrap().status(),
        200,
        "another address is not held back"
    );
}
