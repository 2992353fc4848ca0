//! Webhook intake for `/voice/`: raw body (size-limited), the provider's signature checked on it, then the
//! form parameters handed to the handler. Order matters: nothing is interpreted before the signature holds.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;

use crate::server::AppState;
use crate::signature;

/// Twilio's webhooks are a few hundred bytes; anything this large is not one.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The webhook's form parameters, in the order they came.
#[derive(Debug, Clone)]
pub struct WebhookParams(pub Arc<Vec<(String, String)>>);

/// Middleware: 413 for an oversized body, 403 (empty body) for a missing or wrong signature.
pub async fn verify(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => {
            tracing::warn!(
                path = parts.uri.path(),
                "webhook body over {MAX_BODY_BYTES} bytes refused"
            );
            return StatusCode::PAYLOAD_TOO_LARGE.into_response();
        }
    };
    // Sized once: Twilio sends a score of fields, and growing the list to that size copied it four times.
    let mut params = Vec::with_capacity(bytes.iter().filter(|b| **b == b'&').count() + 1);
    params.extend(form_urlencoded::parse(&bytes).into_owned());
    let config = &state.config;
    if config.settings.provider.validate_signatures {
        let path_and_query = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let url = format!("{}{path_and_query}", config.settings.server.public_url.as_str());
        let given = parts.headers.get(signature::HEADER).and_then(|v| v.to_str().ok());
        let token = config
            .secrets
            .provider_auth_token
            .as_ref()
            .map(|t| t.expose_secret().as_bytes());
        let valid = match (given, token) {
            (Some(given), Some(token)) => signature::is_valid(token, &url, &params, given),
            _ => false,
        };
        if !valid {
            tracing::warn!(
                url,
                signature = if given.is_some() { "wrong" } else { "missing" },
                "webhook refused: signature check failed"
            );
            return StatusCode::FORBIDDEN.into_response();
        }
    }
    let mut request = Request::from_parts(parts, Body::empty());
    request.extensions_mut().insert(WebhookParams(Arc::new(params)));
    next.run(request).await
}
