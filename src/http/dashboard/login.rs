//! Logging in and out. The login form takes the operator's name (every change they make is recorded with
//! it) and the admin token; a right token sets the session cookie. Failed logins count against the client's
//! address in the same throttle as the admin API's bearer tokens, so a guesser gets the same few tries a
//! minute whichever door they knock on. The form itself is protected by a double-submit nonce.

use std::net::SocketAddr;
use std::time::Instant;

use axum::Extension;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use secrecy::ExposeSecret;

use super::session::{self, LOGIN_COOKIE};
use super::{Posted, failure, field, form_fields, html, layout, same_origin, set_cookie};
use crate::assembly::AppState;
use crate::http::admin::token_matches;
use crate::http::throttle::FailedLogins;

/// How long the login form's nonce lasts.
const LOGIN_FORM_SECS: i64 = 15 * 60;

/// What the login form shows besides its fields.
#[derive(Default)]
struct Shown<'a> {
    name: &'a str,
    name_error: Option<&'a str>,
    token_error: Option<&'a str>,
}

/// `GET /dashboard/login`: the form, with a fresh nonce in a hidden field and in a cookie.
pub(super) async fn form(State(state): State<AppState>) -> Response {
    login_page(&state, StatusCode::OK, &Shown::default())
}

fn login_page(state: &AppState, status: StatusCode, shown: &Shown<'_>) -> Response {
    let Some(nonce) = session::random_id() else {
        return failure(
            StatusCode::SERVICE_UNAVAILABLE,
            "no randomness is available for a session",
        );
    };
    let mut response = html(status, layout::bare("Log in", login_markup(&nonce, shown)));
    if let Ok(value) = HeaderValue::from_str(&set_cookie(state, LOGIN_COOKIE, &nonce, LOGIN_FORM_SECS)) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

fn login_markup(nonce: &str, shown: &Shown<'_>) -> Markup {
    html! {
        form method="post" action="/dashboard/login" {
            input type="hidden" name="nonce" value=(nonce);
            label for="name" { "Your name" }
            input #name name="name" type="text" autocomplete="name" required maxlength="64" value=(shown.name)
                aria-describedby=[shown.name_error.map(|_| "name-error")];
            @if let Some(error) = shown.name_error { span #name-error .error { (error) } }
            label for="token" { "Admin token" }
            input #token name="token" type="password" autocomplete="current-password" required
                aria-describedby=[shown.token_error.map(|_| "token-error")];
            @if let Some(error) = shown.token_error { span #token-error .error { (error) } }
            div { button type="submit" { "Log in" } }
        }
        p.muted { "The name is recorded with every change you make here." }
    }
}

/// `POST /dashboard/login`: a right token (and a name) sets the session cookie and goes to the overview.
pub(super) async fn submit(
    State(state): State<AppState>,
    Extension(failed_logins): Extension<FailedLogins>,
    request: axum::extract::Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    let address = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip());
    let now = Instant::now();
    if let Some(wait) = failed_logins.refused_for(address, now) {
        let mut response = failure(
            StatusCode::TOO_MANY_REQUESTS,
            "too many failed logins from this address: try again in a minute",
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs().max(1)));
        return response;
    }
    let fields = match form_fields(&headers, body).await {
        Ok(fields) => fields,
        Err(response) => return response,
    };
    let nonce_cookie = super::cookie(&headers, LOGIN_COOKIE).unwrap_or("");
    if !same_origin(&headers) || !session::nonce_matches(field(&fields, "nonce"), nonce_cookie) {
        tracing::warn!("dashboard: a login form without its nonce, or from another site, refused");
        return failure(
            StatusCode::FORBIDDEN,
            "this form did not come from this dashboard's own page: reload the page and try again",
        );
    }
    let typed_name = field(&fields, "name");
    let name = session::check_name(typed_name);
    let right = state
        .config
        .secrets
        .admin_token
        .as_ref()
        .is_some_and(|expected| token_matches(field(&fields, "token"), expected.expose_secret()));
    if !right {
        failed_logins.failed(address, "wrong token at the dashboard's login", now);
        let shown = Shown {
            name: typed_name,
            name_error: name.as_ref().err().copied(),
            token_error: Some("that is not the admin token"),
        };
        return login_page(&state, StatusCode::UNAUTHORIZED, &shown);
    }
    let name = match name {
        Ok(name) => name,
        Err(error) => {
            let shown = Shown {
                name: typed_name,
                name_error: Some(error),
                token_error: None,
            };
            return login_page(&state, StatusCode::UNPROCESSABLE_ENTITY, &shown);
        }
    };
    let (Some(key), Some(id)) = (super::key(&state), session::random_id()) else {
        return failure(StatusCode::SERVICE_UNAVAILABLE, "no session can be made");
    };
    let lifetime = chrono::Duration::hours(i64::from(state.config.settings.admin.session_hours.get_u32()));
    let (_, cookie) = key.issue(id, &name, chrono::Utc::now(), lifetime);
    tracing::info!(operator = name, "dashboard: logged in");
    let mut response = Redirect::to("/dashboard").into_response();
    let cookies = [
        set_cookie(&state, session::COOKIE, &cookie, lifetime.num_seconds()),
        set_cookie(&state, LOGIN_COOKIE, "", 0),
    ];
    for value in cookies {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// `POST /dashboard/logout`: ends the session in the store, for every replica, and deletes the cookie.
pub(super) async fn logout(State(state): State<AppState>, posted: Posted) -> Response {
    let session = &posted.operator.session;
    let left = (session.expires - chrono::Utc::now()).to_std().unwrap_or_default();
    let store = match super::store(&state) {
        Ok(store) => store,
        Err(response) => return response.into_response(),
    };
    if let Err(error) = store.end_session(&session.id, left).await {
        return super::unavailable(error);
    }
    tracing::info!(operator = session.name, "dashboard: logged out");
    let mut response = Redirect::to("/dashboard/login").into_response();
    if let Ok(value) = HeaderValue::from_str(&set_cookie(&state, session::COOKIE, "", 0)) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}
