//! The two listeners and the limits every connection lives under, over real sockets: what each listener
//! serves, and that clients which never finish a request, or hold a connection silent, are closed.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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

/// A server whose connection limits are 1 s each, so that the tests of slow clients run fast.
async fn impatient_app() -> TestApp {
    friday_night()
        .env("AFTERHOURS_SERVER__HEADER_TIMEOUT_SECS", "1")
        .env("AFTERHOURS_SERVER__BODY_TIMEOUT_SECS", "1")
        .env("AFTERHOURS_SERVER__IDLE_TIMEOUT_SECS", "1")
        .start()
        .await
}

/// A raw connection to a listener at `address` (`http://HOST:PORT`), having sent `bytes`.
async fn connect(address: &str, bytes: &str) -> TcpStream {
    let mut stream = TcpStream::connect(address.trim_start_matches("http://")).await.unwrap();
    stream.write_all(bytes.as_bytes()).await.unwrap();
    stream
}

/// Everything the server sends until it closes the connection; `None` if it is still open after `bound`.
async fn until_closed(stream: &mut TcpStream, bound: Duration) -> Option<String> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(bound, async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    read.ok().map(|()| String::from_utf8_lossy(&received).into_owned())
}

/// Far beyond the 1 s limits, for a busy machine.
const GENEROUS: Duration = Duration::from_secs(15);

#[tokio::test]
async fn a_partial_request_line_is_closed() {
    let app = impatient_app().await;
    let mut stream = connect(&app.address, "POST /voice/inc").await;
    let sent = until_closed(&mut stream, GENEROUS).await;
    assert_eq!(sent.as_deref(), Some(""), "closed without an answer");
}

#[tokio::test]
async fn unfinished_headers_are_closed_on_both_listeners() {
    let app = impatient_app().await;
    for address in [&app.address, &app.ops_address] {
        let mut stream = connect(address, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").await;
        assert!(until_closed(&mut stream, GENEROUS).await.is_some(), "{address}");
    }
}

#[tokio::test]
async fn a_chunked_body_that_never_ends_is_answered_408_and_closed() {
    let app = impatient_app().await;
    let mut stream = connect(
        &app.address,
        "POST /voice/incoming HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Transfer-Encoding: chunked\r\n\r\n5\r\nFrom=\r\n",
    )
    .await;
    let sent = until_closed(&mut stream, GENEROUS).await.expect("closed");
    assert!(sent.starts_with("HTTP/1.1 408"), "{sent}");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_its_answer() {
    // The idle limit alone: a header limit this long would keep the connection past the test's bound.
    let app = friday_night()
        .env("AFTERHOURS_SERVER__HEADER_TIMEOUT_SECS", "120")
        .env("AFTERHOURS_SERVER__IDLE_TIMEOUT_SECS", "1")
        .start()
        .await;
    let mut stream = connect(&app.address, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let sent = until_closed(&mut stream, GENEROUS).await.expect("closed");
    assert!(sent.starts_with("HTTP/1.1 200"), "answered first: {sent}");
}

#[tokio::test]
async fn a_kept_alive_connection_serves_requests_within_its_idle_limit() {
    let app = impatient_app().await;
    let mut stream = connect(&app.address, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let mut buffer = [0u8; 1024];
    for _ in 0..3 {
        let n = tokio::time::timeout(GENEROUS, stream.read(&mut buffer))
            .await
            .unwrap()
            .unwrap();
        assert!(String::from_utf8_lossy(&buffer[..n]).starts_with("HTTP/1.1 200"));
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn at_the_connection_cap_slow_clients_make_room_for_real_webhooks() {
    // Limits long enough that the slow clients outlast the test on their own.
    let app = friday_night()
        .env("AFTERHOURS_SERVER__MAX_CONNECTIONS", "8")
        .env("AFTERHOURS_SERVER__HEADER_TIMEOUT_SECS", "120")
        .env("AFTERHOURS_SERVER__BODY_TIMEOUT_SECS", "120")
        .start()
        .await;
    let mut slow = Vec::new();
    for n in 0..12 {
        let stalled = if n % 2 == 0 {
            "POST /voice/incoming HTTP/1.1\r\nHost: x\r\nX-Slow: "
        } else {
            "POST /voice/incoming HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\nFrom="
        };
        slow.push(connect(&app.address, stalled).await);
    }
    for _ in 0..3 {
        let twiml = app.incoming(CALLER, US_LINE).await;
        assert!(twiml.gather_action.is_some(), "{}", twiml.xml);
    }
    let mut closed = 0;
    for stream in &mut slow {
        if until_closed(stream, Duration::from_millis(500)).await.is_some() {
            closed += 1;
        }
    }
    assert!(closed >= 4, "only {closed} slow clients made room");
}

#[tokio::test]
async fn a_graceful_shutdown_stops_both_listeners() {
    let mut app = friday_night().start().await;
    app.begin_shutdown();
    for address in [&app.address, &app.ops_address] {
        let address = address.trim_start_matches("http://").to_owned();
        let mut refused = false;
        for _ in 0..100 {
            if TcpStream::connect(&address).await.is_err() {
                refused = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(refused, "{address} still accepts after the shutdown");
    }
}
