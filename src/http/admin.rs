//! The JSON admin API under `/admin/`: who is on call for a line, reading and replacing a rotation (with
//! optimistic versions), and listing, adding and removing overrides. This module owns the routes, the bearer
//! token check, the request and response shapes and the mapping of errors to HTTP statuses; the on-call
//! rules themselves are in [`crate::oncall`], and the data in the store ([`AppState::store`]).
//!
//! Every route needs `Authorization: Bearer <AFTERHOURS_ADMIN__TOKEN>`, compared in constant time; without
//! it, with a wrong one, or when no admin token is configured, the answer is 401 with
//! `WWW-Authenticate: Bearer`. The token is never logged.
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /admin/oncall?line=us&at=RFC3339` | the escalation chain of the line's policy at `at` (default now) |
//! | `GET /admin/rotations/{id}` | the rotation, with its version |
//! | `PUT /admin/rotations/{id}` | replaces it; with `"version"`, only over that version (else 409) |
//! | `GET /admin/rotations/{id}/calendar` | a rotation's outside calendar: its health and unmatched events |
//! | `GET /admin/overrides?rotation=ID` | the overrides, of one rotation or of all |
//! | `POST /admin/overrides` | adds one (201, the override as stored) |
//! | `DELETE /admin/overrides/{rotation}/{id}` | removes one (204) |
//! | `GET /admin/calls?since=RFC3339&case=ID&limit=N` | the call log, newest first (default limit 100) |
//! | `GET /admin/feeds`, `POST /admin/feeds`, `DELETE /admin/feeds/{id}` | calendar feeds ([`super::feeds`]) |
//!
//! Bodies are JSON, at most [`MAX_BODY_BYTES`] (413 above). Errors are `{"error": "..."}`: 400 for a bad
//! query, 404 for what does not exist, 409 for a stale version (with the current `"version"`), 422 for a body
//! that does not parse or validate (naming the field), 503 when the store fails (the detail is logged only).

use axum::Extension;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, delete, get};
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sha1::Digest;
use subtle::ConstantTimeEq;

use std::net::SocketAddr;
use std::time::Instant;

use super::throttle::FailedLogins;
use crate::assembly::AppState;
use crate::oncall::model::{OnCallData, Override, Rotation, TierOnCall};
use crate::store::{Store, StoreError};

/// The largest request body accepted; a rotation or an override is a few hundred bytes.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// The fields of a rotation body (`PUT /admin/rotations/{id}`).
const ROTATION_FIELDS: [&str; 8] = [
    "id",
    "name",
    "time_zone",
    "start",
    "shift",
    "participants",
    "source",
    "version",
];

/// The admin routes, to be nested under `/admin`.
pub(crate) fn router(failed_logins: FailedLogins) -> Router<AppState> {
    Router::new()
        .route("/oncall", get(oncall))
        .route("/rotations/{id}", get(get_rotation).put(put_rotation))
        .route("/rotations/{id}/calendar", get(rotation_calendar))
        .route("/overrides", get(list_overrides).post(add_override))
        .route("/overrides/{rotation}/{id}", delete(remove_override))
        .route("/calls", get(calls))
        .route("/feeds", get(super::feeds::list).post(super::feeds::issue))
        .route("/feeds/{id}", delete(super::feeds::revoke))
        .route("/{*rest}", any(unknown_route))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(Extension(failed_logins))
}

/// Why an admin request failed; each maps to a status and a `{"error": ...}` body.
#[derive(Debug, thiserror::Error)]
pub(super) enum AdminError {
    /// The reason is for the log; the client learns only that it is not authorized.
    #[error("a valid admin bearer token is required")]
    Unauthorized { reason: &'static str },
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{message}")]
    Stale { message: String, current: u64 },
    #[error("the request body is over {MAX_BODY_BYTES} bytes")]
    TooLarge,
    /// Too many failed authentications from this address lately.
    #[error("too many failed authentications from this address: try again later")]
    Throttled { retry_after_secs: u64 },
    /// The detail is logged, never returned.
    #[error("the on-call store is unavailable")]
    Unavailable { detail: String },
    /// A fault of ours; the detail is logged, never returned.
    #[error("internal error")]
    Internal { detail: &'static str },
}

impl From<StoreError> for AdminError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::StaleVersion { current, .. } => AdminError::Stale {
                message: error.to_string(),
                current,
            },
            StoreError::NotFound { .. } => AdminError::NotFound(error.to_string()),
            StoreError::Backend(_) | StoreError::Corrupt(_) => AdminError::Unavailable {
                detail: error.to_string(),
            },
        }
    }
}

impl From<BytesRejection> for AdminError {
    fn from(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AdminError::TooLarge
        } else {
            AdminError::BadRequest(rejection.body_text())
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let message = self.to_string();
        match self {
            AdminError::Unauthorized { reason } => {
                // Counted and logged once a window by the throttle, not here once per attempt.
                tracing::debug!(reason, "admin request refused");
                let mut response = json(StatusCode::UNAUTHORIZED, &ErrorBody { error: &message });
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                response
            }
            AdminError::BadRequest(_) => json(StatusCode::BAD_REQUEST, &ErrorBody { error: &message }),
            AdminError::NotFound(_) => json(StatusCode::NOT_FOUND, &ErrorBody { error: &message }),
            AdminError::Invalid(_) => json(StatusCode::UNPROCESSABLE_ENTITY, &ErrorBody { error: &message }),
            AdminError::Stale { current, .. } => json(
                StatusCode::CONFLICT,
                &StaleBody {
                    error: &message,
                    version: current,
                },
            ),
            AdminError::TooLarge => json(StatusCode::PAYLOAD_TOO_LARGE, &ErrorBody { error: &message }),
            AdminError::Throttled { retry_after_secs } => {
                let mut response = json(StatusCode::TOO_MANY_REQUESTS, &ErrorBody { error: &message });
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
                response
            }
            AdminError::Internal { detail } => {
                tracing::error!(detail, "admin request failed");
                json(StatusCode::INTERNAL_SERVER_ERROR, &ErrorBody { error: &message })
            }
            AdminError::Unavailable { detail } => {
                tracing::error!(error = %detail, "admin request failed: the on-call store");
                json(StatusCode::SERVICE_UNAVAILABLE, &ErrorBody { error: &message })
            }
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

#[derive(Serialize)]
struct StaleBody<'a> {
    error: &'a str,
    /// The rotation's current version: read it again, then retry with this.
    version: u64,
}

/// `value` as a JSON response with `status`.
pub(super) fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (status, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(error) => {
            tracing::error!(%error, "admin response could not be serialized");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Proof that the request carries the admin token; every handler takes one first.
pub(super) struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = AdminError;

    /// An address that failed too often recently is refused before its token is looked at; each failure is
    /// counted against its address ([`FailedLogins`]).
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AdminError> {
        let Extension(failed_logins) = Extension::<FailedLogins>::from_request_parts(parts, state)
            .await
            .map_err(|_| AdminError::Internal {
                detail: "the admin router has no throttle of failed authentications",
            })?;
        let address = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(address)| address.ip());
        let now = Instant::now();
        if let Some(wait) = failed_logins.refused_for(address, now) {
            return Err(AdminError::Throttled {
                retry_after_secs: wait.as_secs().max(1),
            });
        }
        let authenticated = authenticate(parts, state);
        if let Err(AdminError::Unauthorized { reason }) = &authenticated {
            failed_logins.failed(address, reason, now);
        }
        authenticated
    }
}

/// Whether the request carries the admin token, compared in constant time.
fn authenticate(parts: &Parts, state: &AppState) -> Result<Admin, AdminError> {
    let Some(expected) = state.config.secrets.admin_token.as_ref() else {
        return Err(AdminError::Unauthorized {
            reason: "no admin token is configured (AFTERHOURS_ADMIN__TOKEN)",
        });
    };
    let given = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let Some(given) = given else {
        return Err(AdminError::Unauthorized {
            reason: "no bearer token",
        });
    };
    if token_matches(given, expected.expose_secret()) {
        Ok(Admin)
    } else {
        Err(AdminError::Unauthorized {
            reason: "wrong bearer token",
        })
    }
}

/// Whether `given` is the admin token `expected`, compared in constant time (the dashboard's login too).
pub(super) fn token_matches(given: &str, expected: &str) -> bool {
    // Digests first, so that the comparison takes the same time whatever the given token's length.
    let digest = |text: &str| sha1::Sha1::digest(text.as_bytes());
    bool::from(digest(given).as_slice().ct_eq(digest(expected).as_slice()))
}

/// The store, or 503 when the state has none.
pub(super) fn store(state: &AppState) -> Result<&dyn Store, AdminError> {
    state
        .store()
        .map(|s| s.as_ref())
        .ok_or_else(|| AdminError::Unavailable {
            detail: "no on-call store is configured".to_owned(),
        })
}

/// The first value of `name` in a query string.
fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// An RFC 3339 instant from a query. An unencoded `+` in the offset arrives as a space: put it back.
fn parse_instant(text: &str) -> Result<DateTime<Utc>, AdminError> {
    DateTime::parse_from_rfc3339(text)
        .or_else(|error| {
            let restored = text.replace(' ', "+");
            DateTime::parse_from_rfc3339(&restored).map_err(|_| error)
        })
        .map(|t| t.to_utc())
        .map_err(|_| {
            AdminError::BadRequest(format!(
                "at: invalid time {text:?}: expected RFC 3339 with an offset, e.g. \"2026-11-27T20:00:00-05:00\""
            ))
        })
}

/// A JSON body as `T`, or 422 naming the field that is wrong.
pub(super) fn parse_body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, AdminError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(invalid_json)?;
    deserializer
        .end()
        .map_err(|e| AdminError::Invalid(format!("invalid JSON: {e}")))?;
    Ok(value)
}

fn invalid_json(error: serde_path_to_error::Error<serde_json::Error>) -> AdminError {
    let path = error.path().to_string();
    let inner = error.into_inner();
    if inner.is_syntax() || inner.is_eof() {
        return AdminError::Invalid(format!("invalid JSON: {inner}"));
    }
    // The field names the place; the position serde_json adds to a value's error is noise next to it.
    let text = inner.to_string();
    let position = format!(" at line {} column {}", inner.line(), inner.column());
    let message = text.strip_suffix(&position).unwrap_or(&text);
    if path == "." {
        AdminError::Invalid(message.to_owned())
    } else {
        AdminError::Invalid(format!("{path}: {message}"))
    }
}

/// An RFC 3339 instant in a body, with the rotation file's message when it is not one.
fn rfc3339<'de, D: serde::Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    crate::oncall::file::parse_instant(&String::deserialize(d)?).map_err(serde::de::Error::custom)
}

/// A rotation's start as the rotation file takes it (seconds optional, `T` or a space), rewritten in the form
/// the model reads; the rotation file's message when it is none of those.
fn normalize_start(value: &mut serde_json::Value) -> Result<(), AdminError> {
    let serde_json::Value::String(text) = value else {
        return Ok(()); // the model's deserialization names the wrong type
    };
    let start =
        crate::oncall::file::parse_local(text).map_err(|message| AdminError::Invalid(format!("start: {message}")))?;
    *text = start.format("%Y-%m-%dT%H:%M:%S%.f").to_string();
    Ok(())
}

/// The chain of one line at an instant, as `GET /admin/oncall` answers it.
#[derive(Serialize)]
struct OnCallBody<'a> {
    line: &'a str,
    policy: &'a str,
    /// In the line's time zone.
    at: String,
    tiers: &'a [TierOnCall],
    repeat: u32,
}

async fn oncall(_: Admin, State(state): State<AppState>, RawQuery(query): RawQuery) -> Result<Response, AdminError> {
    let lines = &state.config.lines;
    let line = match query_param(query.as_deref(), "line") {
        Some(key) => lines
            .by_key(&key)
            .ok_or_else(|| AdminError::NotFound(format!("no line {key:?}")))?,
        None => {
            let mut all = lines.iter();
            match (all.next(), all.next()) {
                (Some(only), None) => only,
                _ => {
                    let keys: Vec<&str> = lines.iter().map(|l| l.key.as_str()).collect();
                    return Err(AdminError::BadRequest(format!(
                        "line: which line? one of {}",
                        keys.join(", ")
                    )));
                }
            }
        }
    };
    let at = match query_param(query.as_deref(), "at") {
        Some(text) => parse_instant(&text)?,
        None => state.clock.now(),
    };
    let data = store(&state)?.load().await?;
    let chain = data.on_call(&line.escalation_policy, at).ok_or_else(|| {
        AdminError::NotFound(format!(
            "line {:?} uses escalation policy {:?}, which is not in the store",
            line.key, line.escalation_policy
        ))
    })?;
    let body = OnCallBody {
        line: &line.key,
        policy: &chain.policy,
        at: at.with_timezone(&line.tz).to_rfc3339(),
        tiers: &chain.tiers,
        repeat: chain.repeat,
    };
    Ok(json(StatusCode::OK, &body))
}

async fn calls(_: Admin, State(state): State<AppState>, RawQuery(query): RawQuery) -> Result<Response, AdminError> {
    let since = query_param(query.as_deref(), "since")
        .map(|t| parse_instant(&t))
        .transpose()?;
    let case = query_param(query.as_deref(), "case");
    let limit = match query_param(query.as_deref(), "limit") {
        Some(n) => n
            .parse::<usize>()
            .map_err(|_| AdminError::BadRequest(format!("limit: {n:?} is not a number")))?,
        None => 100,
    };
    let records = crate::store::call_log::find(store(&state)?, since, case.as_deref(), limit.min(10_000)).await?;
    Ok(json(StatusCode::OK, &records))
}

async fn get_rotation(_: Admin, State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, AdminError> {
    let mut data = store(&state)?.load().await?;
    let rotation = data
        .rotations
        .remove(&id)
        .ok_or_else(|| AdminError::NotFound(format!("no rotation {id:?}")))?;
    Ok(json(StatusCode::OK, &rotation))
}

/// How a rotation's outside calendar fares, as `GET /admin/rotations/{id}/calendar` answers it.
#[derive(Serialize)]
struct CalendarBody<'a> {
    source: Option<String>,
    /// Whether a good copy is kept (and rung from).
    has_copy: bool,
    health: &'a crate::oncall::import::CalendarHealth,
    unmatched: &'a [crate::oncall::import::Unmatched],
    /// Events whose times cannot be read, with why.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    skipped: &'a [crate::oncall::import::Skipped],
}

async fn rotation_calendar(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    let store = store(&state)?;
    let data = store.load().await?;
    let rotation = data
        .rotations
        .get(&id)
        .ok_or_else(|| AdminError::NotFound(format!("no rotation {id:?}")))?;
    let Some(source) = &rotation.source else {
        return Err(AdminError::NotFound(format!("rotation {id:?} has no outside calendar")));
    };
    let copy = store.calendar(&id).await?.unwrap_or_default();
    let body = CalendarBody {
        source: Some(crate::fetch::for_logs(&source.url)),
        has_copy: copy.text.is_some(),
        health: &copy.health,
        unmatched: &copy.unmatched,
        skipped: &copy.skipped,
    };
    Ok(json(StatusCode::OK, &body))
}

#[derive(Serialize)]
struct VersionBody {
    version: u64,
}

async fn put_rotation(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AdminError> {
    let body = body?;
    let store = store(&state)?;
    let data = store.load().await?;
    let (rotation, expected) = rotation_from_body(&id, &body, &data)?;
    let version = store.replace_rotation(rotation, expected).await?;
    tracing::info!(rotation = id, version, "admin: rotation replaced");
    Ok(json(StatusCode::OK, &VersionBody { version }))
}

/// The rotation a `PUT` body describes, checked against `data`, and the version the client read (if it says).
///
/// The start takes the rotation file's forms; the time zone and shift are checked by the model's own
/// deserialization (the rules and messages of the rotation file); the participants must be known engineers.
fn rotation_from_body(id: &str, body: &[u8], data: &OnCallData) -> Result<(Rotation, Option<u64>), AdminError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| AdminError::Invalid(format!("invalid JSON: {e}")))?;
    let serde_json::Value::Object(mut fields) = value else {
        return Err(AdminError::Invalid(
            "expected a JSON object: a rotation with name, time_zone, start, shift and participants".to_owned(),
        ));
    };
    if let Some(unknown) = fields.keys().find(|k| !ROTATION_FIELDS.contains(&k.as_str())) {
        return Err(AdminError::Invalid(format!(
            "unknown field `{unknown}`, expected one of {}",
            ROTATION_FIELDS.map(|f| format!("`{f}`")).join(", ")
        )));
    }
    let expected = match fields.remove("version") {
        None | Some(serde_json::Value::Null) => None,
        Some(version) => Some(version.as_u64().ok_or_else(|| {
            AdminError::Invalid(format!(
                "version: expected the whole number read with the rotation, not {version}"
            ))
        })?),
    };
    match fields.get("id") {
        None | Some(serde_json::Value::Null) => {
            fields.insert("id".to_owned(), serde_json::Value::String(id.to_owned()));
        }
        Some(serde_json::Value::String(given)) if given == id => {}
        Some(given) => {
            return Err(AdminError::Invalid(format!(
                "id: {given} does not match the rotation in the path, {id:?}"
            )));
        }
    }
    if fields.get("source").is_some_and(|s| !s.is_null()) {
        // A rotation that follows an outside calendar needs no handoffs of its own, as in the rotation file.
        let default = |text: &str| serde_json::Value::String(text.to_owned());
        fields
            .entry("start")
            .or_insert_with(|| default(crate::oncall::import::SOURCED_START));
        fields
            .entry("shift")
            .or_insert_with(|| default(crate::oncall::import::SOURCED_SHIFT));
    }
    if let Some(start) = fields.get_mut("start") {
        normalize_start(start)?;
    }
    let rotation: Rotation =
        serde_path_to_error::deserialize(serde_json::Value::Object(fields)).map_err(invalid_json)?;
    let unknown: Vec<String> = rotation
        .participants
        .iter()
        .enumerate()
        .filter(|(_, p)| !data.engineers.contains_key(p.as_str()))
        .map(|(i, p)| format!("participants[{i}]: unknown engineer {p:?}"))
        .collect();
    if !unknown.is_empty() {
        return Err(AdminError::Invalid(unknown.join("; ")));
    }
    if let Some(source) = &rotation.source {
        crate::oncall::import::parse_source(
            Some(&source.url),
            Some(source.refresh_secs),
            !rotation.participants.is_empty(),
        )
        .map_err(|(field, message)| AdminError::Invalid(format!("source: {field}: {message}")))?;
    }
    Ok((rotation, expected))
}

async fn list_overrides(
    _: Admin,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, AdminError> {
    let data = store(&state)?.load().await?;
    let rotation = query_param(query.as_deref(), "rotation");
    if let Some(rotation) = rotation.as_deref().filter(|r| !data.rotations.contains_key(*r)) {
        return Err(AdminError::NotFound(format!("no rotation {rotation:?}")));
    }
    let overrides: Vec<&Override> = data
        .overrides
        .iter()
        .filter(|(id, _)| rotation.as_deref().is_none_or(|r| r == id.as_str()))
        .flat_map(|(_, list)| list)
        .collect();
    Ok(json(StatusCode::OK, &overrides))
}

/// A `POST /admin/overrides` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OverrideBody {
    rotation: String,
    engineer: String,
    #[serde(deserialize_with = "rfc3339")]
    start: DateTime<Utc>,
    #[serde(deserialize_with = "rfc3339")]
    end: DateTime<Utc>,
    #[serde(default)]
    id: Option<String>,
}

async fn add_override(
    _: Admin,
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AdminError> {
    let body: OverrideBody = parse_body(&body?)?;
    let store = store(&state)?;
    let data = store.load().await?;
    let item = data
        .new_override(
            body.rotation,
            body.engineer,
            body.start,
            body.end,
            body.id,
            state.clock.now(),
        )
        .map_err(AdminError::Invalid)?;
    store.add_override(item.clone()).await.map_err(|e| match e {
        // The rotation went away since it was read.
        StoreError::NotFound { .. } => AdminError::Invalid(e.to_string()),
        other => other.into(),
    })?;
    tracing::info!(
        rotation = item.rotation,
        id = item.id,
        engineer = item.engineer,
        "admin: override added"
    );
    Ok(json(StatusCode::CREATED, &item))
}

async fn remove_override(
    _: Admin,
    State(state): State<AppState>,
    Path((rotation, id)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    if store(&state)?.remove_override(&rotation, &id).await? {
        tracing::info!(rotation, id, "admin: override removed");
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(AdminError::NotFound(format!(
            "rotation {rotation:?} has no override {id:?}"
        )))
    }
}

/// Any other path under `/admin/`: 401 before anything else, then 404.
async fn unknown_route(_: Admin) -> AdminError {
    AdminError::NotFound("no such admin route".to_owned())
}
