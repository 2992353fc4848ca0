//! Webhook intake for `/voice/`: raw body (size-limited), the provider's signature checked on it (as the
//! configured provider's dialect signs), then the form parameters, in the engine's terms, handed to the
//! handler. Order matters: nothing is interpreted before the signature holds. An extractor, [`Signed`], so
//! that a handler cannot be written that reads the request before the check.

use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;

use crate::assembly::AppState;
use crate::dialect::{self, Keys};
use crate::flow::engine::{CallInput, Params};

/// The providers' webhooks are a few hundred bytes; anything this large is not one.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// A webhook whose signature holds: its form parameters, in the order they came, and the rest of the request
/// (its path parameters and query are read from it only now). As a handler's only extractor besides the state,
/// it runs before anything of the request is interpreted.
#[derive(Debug)]
pub(crate) struct Signed {
    /// The fields under the engine's (Twilio's) names.
    pub(crate) params: Params,
    /// The query that carries the call state, as the dialect reads it.
    query: String,
    parts: Parts,
}

impl Signed {
    /// The route's path parameters (`{step}`, `{step}/{event}`), read after the signature check.
    pub(crate) async fn path<T>(&mut self, state: &AppState) -> Result<T, Response>
    where
        T: serde::de::DeserializeOwned + Send,
    {
        Path::<T>::from_request_parts(&mut self.parts, state)
            .await
            .map(|Path(value)| value)
            .map_err(IntoResponse::into_response)
    }

    /// The request's query string (the call state), empty when it has none.
    pub(crate) fn query(&self) -> &str {
        &self.query
    }

    pub(crate) fn uri(&self) -> &axum::http::Uri {
        &self.parts.uri
    }
}

/// 413 for an oversized body, 408 for one that did not come in time, 403 (empty body) for a missing or wrong signature.
impl FromRequest<AppState> for Signed {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (parts, body) = request.into_parts();
        let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
            Ok(bytes) => bytes,
            Err(error) if timed_out(&error) => {
                tracing::warn!(
                    path = parts.uri.path(),
                    "webhook body not received within server.body_timeout_secs"
                );
                return Err(StatusCode::REQUEST_TIMEOUT.into_response());
            }
            Err(_) => {
                tracing::warn!(
                    path = parts.uri.path(),
                    "webhook body over {MAX_BODY_BYTES} bytes refused"
                );
                return Err(StatusCode::PAYLOAD_TOO_LARGE.into_response());
            }
        };
        let params = CallInput::decode(&bytes);
        let config = &state.config;
        let kind = config.settings.provider.kind;
        if config.settings.provider.validate_signatures {
            let path_and_query = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
            let url = format!("{}{path_and_query}", config.settings.server.public_url.as_str());
            let keys = Keys {
                token: config
                    .secrets
                    .provider_auth_token
                    .as_ref()
                    .map(|t| t.expose_secret().as_bytes()),
                public_key: config.settings.provider.public_key.as_ref().map(|key| &key.0),
            };
            let request = dialect::Request {
                url: &url,
                body: &bytes,
                params: &params,
                now_unix: state.clock.now().timestamp(),
            };
            let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
            if let Err(refused) = dialect::check(kind, keys, &request, header) {
                tracing::warn!(
                    url,
                    provider = kind.name(),
                    %refused,
                    "webhook refused: signature check failed"
                );
                return Err(StatusCode::FORBIDDEN.into_response());
            }
        }
        let webhook = dialect::read(kind, params, parts.uri.query().unwrap_or(""));
        let (params, query) = (webhook.params, webhook.query);
        Ok(Signed { params, query, parts })
    }
}

/// Whether reading a body failed because it did not come in time (the request-body timeout).
fn timed_out(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = source {
        if error.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        source = error.source();
    }
    false
}
