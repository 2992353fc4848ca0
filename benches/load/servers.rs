//! The two servers the driver stands up beside afterhours, each in a process of its own (started by
//! `benches/load.sh` as `afterhours-load cases` and `afterhours-load ceiling`):
//! - a fake case system speaking the generic HTTP/JSON format, answering after a configurable delay;
//! - the ceiling: a bare axum handler that parses the webhook's form and returns a fixed TwiML body, built
//!   from the same stack as afterhours, to compare against in the same run.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

/// Case numbers starting with this digit are not critical; every other case is a critical production
/// incident of ACME Corp, open. Numbers starting with 9 do not exist.
pub(crate) const NOT_CRITICAL_PREFIX: char = '2';

/// Serves the fake case system until the process is stopped.
pub(crate) async fn cases(listen: SocketAddr, delay: Duration) -> std::io::Result<()> {
    let app = Router::new()
        .route("/cases/{id}", get(case))
        .route("/cases/{id}/notes", post(note))
        .with_state(Arc::new(delay));
    serve(listen, app, "fake case system").await
}

async fn case(State(delay): State<Arc<Duration>>, Path(id): Path<String>) -> Response {
    tokio::time::sleep(*delay).await;
    if id.starts_with('9') {
        return json(StatusCode::NOT_FOUND, r#"{"error":"not found"}"#.to_owned());
    }
    let severity = if id.starts_with(NOT_CRITICAL_PREFIX) {
        "low"
    } else {
        "critical"
    };
    let body = serde_json::json!({
        "id": id,
        "severity": severity,
        "environment": "production",
        "status": "open",
        "customer": "ACME Corp",
        "contact_phones": [],
    });
    json(StatusCode::OK, body.to_string())
}

async fn note(State(delay): State<Arc<Duration>>) -> Response {
    tokio::time::sleep(*delay).await;
    json(StatusCode::CREATED, r#"{"id":"n-1"}"#.to_owned())
}

fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A fixed TwiML answer of about 200 bytes, the size of a typical afterhours answer.
const CEILING_BODY: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8"?><Response><Gather action="http://127.0.0.1/voice/step/a" "#,
    r#"numDigits="12" timeout="8"><Say voice="Polly.Joanna">Please enter your case number.</Say></Gather></Response>"#
);

/// Serves the ceiling until the process is stopped: every POST has its form parsed (as a webhook handler
/// must) and gets the same body.
pub(crate) async fn ceiling(listen: SocketAddr) -> std::io::Result<()> {
    let app = Router::new().route("/{*path}", post(fixed_twiml));
    serve(listen, app, "ceiling (bare axum)").await
}

async fn fixed_twiml(body: Bytes) -> Response {
    let fields: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    std::hint::black_box(fields);
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], CEILING_BODY).into_response()
}

async fn serve(listen: SocketAddr, app: Router, what: &str) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    eprintln!("{what} listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}
