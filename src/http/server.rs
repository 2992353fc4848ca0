//! The server: the routes of its two listeners (webhooks; operators), their middleware, and start/stop.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::RequestBodyDeadlineLayer;
use tower_http::trace::TraceLayer;

use crate::assembly::AppState;
use crate::dialect::{self, Document};
use crate::http::connections::{Limits, Registry};
use crate::http::intake::Signed;
use crate::http::listener::{self, Serving};
use crate::http::throttle::FailedLogins;
use crate::http::voice::{self, Answer, Route};
use crate::settings::ProviderKind;
use crate::store::cache::StoreHealth;
use crate::twiml::{self, Verb, Voice};

/// The webhook listener's routes: `/voice/*`, which the provider must reach, and `/healthz`; with
/// `feeds.public`, the calendar feeds too. Every `/voice/` handler takes a `Signed` webhook: nothing runs
/// before its signature holds. Nothing here tells a stranger more than that the process serves (a feed
/// answers only to its own token).
pub fn router(state: AppState) -> Router {
    // Metrics recorded before the recorder exists would be lost.
    let _ = crate::metrics::handle();
    let kind = state.config.settings.provider.kind;
    let mut router = Router::new();
    if state.config.settings.feeds.public {
        router = router.route("/feeds/{file}", get(crate::http::feeds::serve));
    }
    router
        .route("/healthz", get(healthz))
        .route("/voice/incoming", post(incoming))
        .route("/voice/step/{step}", post(step))
        .route("/voice/step/{step}/{event}", post(step_event))
        .route("/voice/status", post(status))
        .route("/voice/{*rest}", post(unknown_voice_route))
        .layer(body_deadline(&state))
        // The apology in the provider's own XML.
        .layer(CatchPanicLayer::custom(move |panic| panic_answer_in(kind, panic)))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}

/// The operators' listener's routes: the admin API, the dashboard, metrics, readiness and liveness, for
/// operators and monitoring only; and the calendar feeds, which need their own token.
pub fn ops_router(state: AppState) -> Router {
    let _ = crate::metrics::handle();
    // One count of failures for the API's bearer token and the dashboard's login form alike.
    let failed_logins = FailedLogins::new(state.config.settings.admin.failed_logins_per_minute.get());
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/feeds/{file}", get(crate::http::feeds::serve))
        .nest("/admin", crate::http::admin::router(failed_logins.clone()))
        .merge(crate::http::dashboard::router(failed_logins))
        .layer(body_deadline(&state))
        .layer(CatchPanicLayer::custom(panic_answer))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}

/// The span of a request, as tower-http's default makes it (method, URI, version, at debug level), except
/// that a calendar feed's path is written without its token: the token is the feed's only credential.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let uri = request.uri();
    let shown: &dyn std::fmt::Display = if uri.path().starts_with("/feeds/") {
        &"/feeds/(token).ics"
    } else {
        uri
    };
    tracing::debug_span!("request", method = %request.method(), uri = %shown, version = ?request.version())
}

/// The server, bound and ready to serve: the webhook listener and the operators' listener.
pub struct Application {
    webhooks: TcpListener,
    ops: TcpListener,
    state: AppState,
}

impl Application {
    /// Binds `server.listen` and `server.ops_listen` (port 0 picks a free port).
    pub async fn build(state: AppState) -> std::io::Result<Self> {
        let server = &state.config.settings.server;
        let webhooks = bind("server.listen", server.listen).await?;
        let ops = bind("server.ops_listen", server.ops_listen).await?;
        Ok(Self { webhooks, ops, state })
    }

    /// Where the webhook listener listens.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.webhooks.local_addr()
    }

    /// Where the operators' listener listens.
    pub fn ops_addr(&self) -> std::io::Result<SocketAddr> {
        self.ops.local_addr()
    }

    /// Serves both listeners until `shutdown` completes, then stops accepting on both and finishes the
    /// requests in flight. Connections waiting on their client stay under their limits meanwhile, so the
    /// wait is bounded.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let limits = Limits::of(&self.state.config.settings.server);
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let serving = Serving {
            limits,
            registry: Arc::new(Registry::new(limits.max_connections)),
            stopping,
            tasks: TaskTracker::new(),
        };
        let webhooks = listener::accept_loop(self.webhooks, router(self.state.clone()), serving.clone(), "webhooks");
        let ops = listener::accept_loop(self.ops, ops_router(self.state), serving.clone(), "operators");
        let signal = async move {
            shutdown.await;
            let _ = stop.send(true);
        };
        tokio::join!(signal, webhooks, ops);
        serving.tasks.close();
        serving.tasks.wait().await;
        Ok(())
    }
}

/// The request-body timeout: a body not fully come within `server.body_timeout_secs` of its head fails to
/// read, and the request is answered 408.
fn body_deadline(state: &AppState) -> RequestBodyDeadlineLayer {
    RequestBodyDeadlineLayer::new(Duration::from_secs(
        state.config.settings.server.body_timeout_secs.get(),
    ))
}

/// Binds `address`; an error names the setting it came from.
async fn bind(key: &str, address: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("{key} ({address}): {e}")))
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// Whether this replica can take calls, and how well: `ok`, or `degraded` (Redis down: calls are bridged from
/// the cached chain or the fallback numbers). Both are 200, so a replica stays in rotation while it can still
/// answer calls; the JSON says what is wrong. It reads what the on-call cache's refresher last saw, so a probe,
/// however frequent, sends the store nothing.
async fn readyz(State(state): State<AppState>) -> Response {
    let cache = &state.services.oncall_cache;
    let redis = match state.config.settings.redis.configured_url() {
        None => "embedded",
        Some(_) => match cache.store_health() {
            StoreHealth::Answering => "ok",
            StoreHealth::Unknown => "starting",
            StoreHealth::Down => "down",
            StoreHealth::LostData => "lost_data",
        },
    };
    let cached = cache.get().map(|(age, _)| age.as_secs());
    let degraded = matches!(redis, "down" | "lost_data");
    let body = format!(
        "{{\"status\":\"{}\",\"config\":\"loaded\",\"redis\":\"{redis}\",\"oncall_cache_age_secs\":{}}}\n",
        if degraded { "degraded" } else { "ok" },
        cached.map_or("null".to_owned(), |age| age.to_string()),
    );
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Prometheus text format.
async fn metrics_text() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::metrics::render(),
    )
        .into_response()
}

async fn incoming(State(state): State<AppState>, webhook: Signed) -> Response {
    let answer = voice::answer(&state, Route::Incoming, "", webhook.params).await;
    respond(&state, answer, Document::Call)
}

async fn step(State(state): State<AppState>, mut webhook: Signed) -> Response {
    let step: String = match webhook.path(&state).await {
        Ok(step) => step,
        Err(rejection) => return rejection,
    };
    let route = Route::Step {
        step: &step,
        event: None,
    };
    let answer = voice::answer(&state, route, webhook.query(), webhook.params.clone()).await;
    respond(&state, answer, Document::Call)
}

async fn step_event(State(state): State<AppState>, mut webhook: Signed) -> Response {
    let (step, event): (String, String) = match webhook.path(&state).await {
        Ok(names) => names,
        Err(rejection) => return rejection,
    };
    let route = Route::Step {
        step: &step,
        event: Some(&event),
    };
    let answer = voice::answer(&state, route, webhook.query(), webhook.params.clone()).await;
    // An engineer's whisper is, on Plivo, the `confirmSound` document.
    let document = if event == crate::flow::steps::bridge::WHISPER {
        Document::Confirm
    } else {
        Document::Call
    };
    respond(&state, answer, document)
}

/// Call-status callbacks: the final one closes the call's record into the call log, with its duration.
async fn status(State(state): State<AppState>, webhook: Signed) -> Response {
    let input = crate::flow::engine::CallInput::from_shared(webhook.params);
    let get = |name: &str| input.param(name).unwrap_or("").to_owned();
    let (call_sid, call_status) = (get("CallSid"), get("CallStatus"));
    tracing::info!(
        call_sid,
        status = call_status,
        duration = get("CallDuration"),
        "call status"
    );
    if crate::calllog::is_final(&call_status) && !call_sid.is_empty() {
        state.call_log.close(crate::calllog::CallClose {
            call_sid,
            status: Some(call_status),
            duration_secs: get("CallDuration").parse().ok(),
            max_records: state.config.settings.call_log.max_records,
        });
    }
    twiml_response(&state, Answer::default(), Document::Call)
}

/// A signed request to a `/voice/` path we do not serve: the caller still hears something.
async fn unknown_voice_route(State(state): State<AppState>, webhook: Signed) -> Response {
    tracing::warn!(path = webhook.uri().path(), "webhook to an unknown path");
    let apology = voice::apology(&state, crate::http::voice::TECHNICAL_PROBLEM, "unknown path");
    twiml_response(&state, apology, Document::Call)
}

/// The answer in the provider's voice XML; its effects start in the background.
fn respond(state: &AppState, mut answer: Answer, document: Document) -> Response {
    voice::dispatch(state, std::mem::take(&mut answer.effects));
    twiml_response(state, answer, document)
}

fn twiml_response(state: &AppState, answer: Answer, document: Document) -> Response {
    let kind = state.config.settings.provider.kind;
    (
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        dialect::render(kind, &answer.response, document),
    )
        .into_response()
}

/// A handler panicked: log it, and let the caller hear an apology (in TwiML) instead of the provider's error.
fn panic_answer(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    panic_answer_in(ProviderKind::Twilio, panic)
}

/// A handler panicked: log it, and let the caller hear an apology in `kind`'s voice XML.
fn panic_answer_in(kind: ProviderKind, panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = detail, "a request handler panicked");
    let mut response = twiml::Response::new();
    response
        .push(Verb::Say {
            text: crate::http::voice::TECHNICAL_PROBLEM.to_owned(),
            voice: Voice::default(),
        })
        .push(Verb::Hangup);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        dialect::render(kind, &response, Document::Call),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    #[allow(clippy::unused_async)]
    async fn boom() -> &'static str {
        panic!("boom")
    }

    #[tokio::test]
    async fn a_handler_that_panics_is_answered_with_a_spoken_apology() {
        let app: Router = Router::new()
            .route("/voice/boom", post(boom))
            .layer(CatchPanicLayer::custom(panic_answer));
        let response = app
            .oneshot(Request::post("/voice/boom").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = axum::body::to_bytes(response.into_body(), 64 * 1024).await.unwrap();
        let xml = String::from_utf8(body.to_vec()).unwrap();
        assert!(xml.contains("technical problem"), "{xml}");
        assert!(xml.ends_with("<Hangup/></Response>"), "{xml}");
    }
}
