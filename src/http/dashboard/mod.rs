//! The dashboard: server-rendered pages for the people who run the line, on the operators' listener under
//! `/dashboard`. This module owns the routes, the login check every page makes ([`Operator`]) and the CSRF
//! check every form makes ([`Posted`]); `session` the signed cookie and the CSRF tokens; `layout` the page
//! frame and its style sheet; one module per page (`login`, `overview`, `calls`, `rotations`, `overrides`).
//!
//! A page needs a session cookie, which the login form sets once it is given the admin token; without one a
//! page redirects to the login form. The JSON admin API under `/admin` keeps its bearer token and does not
//! take the cookie. `docs/dashboard.md` describes the pages and the security model.

mod calls;
mod layout;
mod login;
mod overrides;
mod overview;
mod rotations;
mod session;

use axum::Extension;
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::Markup;
use secrecy::ExposeSecret;

use super::throttle::FailedLogins;
use crate::assembly::AppState;
use crate::store::Store;
use session::{Key, Session};

/// The largest form accepted.
const MAX_FORM_BYTES: usize = 16 * 1024;

/// The dashboard's routes, with their full paths, to be merged into the operators' router.
pub(crate) fn router(failed_logins: FailedLogins) -> Router<AppState> {
    Router::new()
        .route("/dashboard", get(overview::page))
        .route("/dashboard/", get(overview::page))
        .route("/dashboard/login", get(login::form).post(login::submit))
        .route("/dashboard/logout", post(login::logout))
        .route("/dashboard/calls", get(calls::list))
        .route("/dashboard/calls/{sid}", get(calls::one))
        .route("/dashboard/rotations", get(rotations::page))
        .route("/dashboard/overrides", get(overrides::page).post(overrides::add))
        .route("/dashboard/overrides/remove", post(overrides::remove))
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .layer(Extension(failed_logins))
}

/// The key sessions are signed with; none without an admin token, and then nobody can log in.
fn key(state: &AppState) -> Option<Key> {
    state
        .config
        .secrets
        .admin_token
        .as_ref()
        .map(|token| Key::from_admin_token(token.expose_secret()))
}

/// Whether the service's public URL is https: its cookies are then `Secure`.
fn secure(state: &AppState) -> bool {
    state.config.settings.server.public_url.as_str().starts_with("https:")
}

/// The value of cookie `name` in a request's headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// A `Set-Cookie` value for the dashboard's paths: HttpOnly, SameSite=Strict, Secure when the public URL is
/// https; `max_age` 0 deletes it.
fn set_cookie(state: &AppState, name: &str, value: &str, max_age_secs: i64) -> String {
    format!(
        "{name}={value}; Path=/dashboard; Max-Age={max_age_secs}; HttpOnly; SameSite=Strict{}",
        if secure(state) { "; Secure" } else { "" }
    )
}

/// A page as HTML with `status`; never cached, never framed.
fn html(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
            ),
            // Not `no-referrer`: with it, a browser sends `Origin: null` on a form post, which the CSRF check refuses.
            (header::REFERRER_POLICY, "same-origin"),
        ],
        Html(markup.into_string()),
    )
        .into_response()
}

/// The state has no store: the page says so.
struct NoStore;

impl IntoResponse for NoStore {
    fn into_response(self) -> Response {
        failure(StatusCode::SERVICE_UNAVAILABLE, "no on-call store is configured")
    }
}

/// The store, or the page that says it is missing.
fn store(state: &AppState) -> Result<&dyn Store, NoStore> {
    state.store().map(|s| s.as_ref()).ok_or(NoStore)
}

/// The store and the on-call data in it, or the page that says why there are none.
async fn on_call_data(state: &AppState) -> Result<(&dyn Store, crate::oncall::model::OnCallData), Response> {
    let store = store(state).map_err(IntoResponse::into_response)?;
    let data = store.load().await.map_err(unavailable)?;
    Ok((store, data))
}

/// A page that says what went wrong (the detail of a store failure is logged, not shown).
fn failure(status: StatusCode, message: &str) -> Response {
    html(status, layout::bare("Dashboard", layout::problem(message)))
}

/// A store failure as the page that says the store is unavailable.
fn unavailable(error: crate::store::StoreError) -> Response {
    tracing::error!(%error, "dashboard: the on-call store");
    failure(
        StatusCode::SERVICE_UNAVAILABLE,
        "the on-call store is unavailable: try again shortly",
    )
}

/// A logged-in operator: the session's cookie is signed with the current key, has not expired and was not
/// ended by a logout. Without one, a page redirects to the login form.
pub(crate) struct Operator {
    session: Session,
    /// The session's CSRF token, for the forms of the page.
    csrf: String,
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let to_login = || Redirect::to("/dashboard/login").into_response();
        let Some(key) = key(state) else {
            return Err(to_login());
        };
        // Sessions live in wall-clock time, not the injected clock that calls are decided by.
        let Some(session) = cookie(&parts.headers, session::COOKIE).and_then(|c| key.verify(c, chrono::Utc::now()))
        else {
            return Err(to_login());
        };
        if store(state)
            .map_err(IntoResponse::into_response)?
            .session_ended(&session.id)
            .await
            .map_err(unavailable)?
        {
            return Err(to_login());
        }
        let csrf = key.csrf_token(&session);
        Ok(Operator { session, csrf })
    }
}

/// A form posted by a logged-in operator, checked against CSRF: it comes from this site (`Origin`, when the
/// browser sends it, names the host the request went to; `Sec-Fetch-Site`, when sent, says same-origin) and
/// carries the session's CSRF token in its `csrf` field. Refused with 403 otherwise.
pub(crate) struct Posted {
    operator: Operator,
    fields: Vec<(String, String)>,
}

impl Posted {
    /// The first value of field `name`, or "".
    fn field(&self, name: &str) -> &str {
        field(&self.fields, name)
    }
}

/// The first value of field `name` in `fields`, or "".
fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(key, _)| key == name)
        .map_or("", |(_, value)| value.as_str())
}

impl FromRequest<AppState> for Posted {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let operator = Operator::from_request_parts(&mut parts, state).await?;
        let fields = form_fields(&parts.headers, body).await?;
        let key = key(state).ok_or_else(|| failure(StatusCode::FORBIDDEN, "no admin token is configured"))?;
        if !same_origin(&parts.headers) || !key.csrf_ok(&operator.session, field(&fields, "csrf")) {
            tracing::warn!(
                path = parts.uri.path(),
                "dashboard: a form without its CSRF token, or from another site, refused"
            );
            return Err(failure(
                StatusCode::FORBIDDEN,
                "this form did not come from this dashboard's own page: reload the page and try again",
            ));
        }
        Ok(Posted { operator, fields })
    }
}

/// A url-encoded form body's fields, in order.
async fn form_fields(headers: &HeaderMap, body: axum::body::Body) -> Result<Vec<(String, String)>, Response> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(failure(StatusCode::UNSUPPORTED_MEDIA_TYPE, "expected a form"));
    }
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| failure(StatusCode::PAYLOAD_TOO_LARGE, "the form is too large"))?;
    Ok(form_urlencoded::parse(&bytes).into_owned().collect())
}

/// Whether a POST comes from a page of this site, by what the browser says: `Origin` names the same host as
/// `Host`, and `Sec-Fetch-Site` is `same-origin`. A header the client did not send is not held against it
/// (the CSRF token is still required).
fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let origin_ok = match (text(header::ORIGIN), text(header::HOST)) {
        (None, _) => true,
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, origin_host)| origin_host.eq_ignore_ascii_case(host)),
        (Some(_), None) => false,
    };
    let fetch_ok = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_none_or(|site| matches!(site, "same-origin" | "none"));
    origin_ok && fetch_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn a_post_from_another_site_is_not_same_origin() {
        assert!(same_origin(&headers(&[
            ("host", "ops.example:9091"),
            ("origin", "http://ops.example:9091")
        ])));
        assert!(same_origin(&headers(&[("host", "ops.example:9091")])));
        assert!(!same_origin(&headers(&[
            ("host", "ops.example:9091"),
            ("origin", "https://evil.example")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "ops.example"),
            ("sec-fetch-site", "cross-site")
        ])));
    }

    #[test]
    fn cookies_are_found_by_name() {
        let map = headers(&[("cookie", "a=1; afterhours_session=xyz; b=2")]);
        assert_eq!(cookie(&map, "afterhours_session"), Some("xyz"));
        assert_eq!(cookie(&map, "c"), None);
    }
}
