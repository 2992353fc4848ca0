//! The two servers the driver stands up beside afterhours, each in a process of its own (started by
//! `benches/load.sh` as `afterhours-load cases` and `afterhours-load ceiling`):
//! - a fake case system speaking the generic HTTP/JSON format, answering after a configurable delay;
//! - the ceiling: a bare axum handler that parses the webhook's form and returns a fixed TwiML body, built
//!   from the same stack as afterhours, to compare against in the same run. The driver can set that body
//!   (`PUT /ceiling/answer`) to afterhours' own answer to the webhook it is about to replay, so that both
//!   servers send the driver the same bytes.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};

use crate::stats::Percentiles;

/// Case numbers starting with this digit are not critical; every other case is a critical production
/// incident of ACME Corp, open. Numbers starting with 9 do not exist.
pub(crate) const NOT_CRITICAL_PREFIX: char = '2';

/// The fake case system: how long it waits before answering, and how long each lookup took it (from its
/// handler's start to its answer), kept until `GET /stats` reads them.
struct Fake {
    delay: Duration,
    lookups: Mutex<Vec<u32>>,
}

/// Serves the fake case system until the process is stopped. `GET /stats` answers the p50 and p99 of its own
/// time per lookup since the last `/stats` (JSON: `count`, `p50_us`, `p99_us`): the delay it was asked for,
/// plus the timer's rounding (Tokio's timers tick in milliseconds), which the driver takes out of the
/// service's latency.
pub(crate) async fn cases(listen: SocketAddr, delay: Duration) -> std::io::Result<()> {
    let fake = Arc::new(Fake {
        delay,
        lookups: Mutex::new(Vec::new()),
    });
    let app = Router::new()
        .route("/cases/{id}", get(case))
        .route("/cases/{id}/notes", post(note))
        .route("/stats", get(stats))
        .with_state(fake);
    serve(listen, app, "fake case system").await
}

async fn stats(State(fake): State<Arc<Fake>>) -> Response {
    let mut lookups = fake
        .lookups
        .lock()
        .map(|mut l| std::mem::take(&mut *l))
        .unwrap_or_default();
    let p = Percentiles::of(&mut lookups);
    let body = serde_json::json!({"count": p.count, "p50_us": p.p50, "p99_us": p.p99});
    json(StatusCode::OK, body.to_string())
}

async fn case(State(fake): State<Arc<Fake>>, Path(id): Path<String>) -> Response {
    let started = Instant::now();
    tokio::time::sleep(fake.delay).await;
    let response = lookup(&id);
    let took = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
    if let Ok(mut lookups) = fake.lookups.lock() {
        lookups.push(took);
    }
    response
}

fn lookup(id: &str) -> Response {
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

async fn note(State(fake): State<Arc<Fake>>) -> Response {
    tokio::time::sleep(fake.delay).await;
    json(StatusCode::CREATED, r#"{"id":"n-1"}"#.to_owned())
}

fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The ceiling's own answer: fixed TwiML of 204 bytes, a gather like the one that asks for the case number.
const CEILING_BODY: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8"?><Response><Gather action="http://127.0.0.1/voice/step/a" "#,
    r#"numDigits="12" timeout="8"><Say voice="Polly.Joanna">Please enter your case number.</Say></Gather></Response>"#
);

/// Where the driver sets the ceiling's answer: `PUT` a body (empty: back to [`CEILING_BODY`]).
pub(crate) const CEILING_ANSWER_PATH: &str = "/ceiling/answer";

/// The body every webhook gets from the ceiling.
type Answer = Arc<RwLock<Bytes>>;

fn own_answer() -> Bytes {
    Bytes::from_static(CEILING_BODY.as_bytes())
}

/// Serves the ceiling until the process is stopped: every POST has its form parsed (as a webhook handler
/// must) and gets the same body.
pub(crate) async fn ceiling(listen: SocketAddr) -> std::io::Result<()> {
    let answer: Answer = Arc::new(RwLock::new(own_answer()));
    let app = Router::new()
        .route(CEILING_ANSWER_PATH, put(set_answer))
        .route("/{*path}", post(fixed_twiml))
        .with_state(answer);
    serve(listen, app, "ceiling (bare axum)").await
}

async fn fixed_twiml(State(answer): State<Answer>, body: Bytes) -> Response {
    let fields: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    std::hint::black_box(fields);
    let answer = answer.read().map(|a| a.clone()).unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], answer).into_response()
}

async fn set_answer(State(answer): State<Answer>, body: Bytes) -> StatusCode {
    let body = if body.is_empty() { own_answer() } else { body };
    match answer.write() {
        Ok(mut answer) => {
            *answer = body;
            StatusCode::NO_CONTENT
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

async fn serve(listen: SocketAddr, app: Router, what: &str) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    eprintln!("{what} listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}
