//! Calendar feeds over HTTP: `GET /feeds/TOKEN.ics`, the iCalendar document of one rotation's or one
//! engineer's shifts, for Google Calendar and Outlook to subscribe to; and their management in the admin API
//! (`/admin/feeds`, behind the admin token). The tokens and the documents are [`crate::oncall`]'s; this
//! module owns the routes and what they answer.
//!
//! The token alone identifies the feed: a calendar app sends no other credential. A path that is not a
//! token's shape, a token never issued and a revoked one all get the same `404` with an empty body, so the
//! route tells nothing about which tokens exist; a path of the wrong shape is refused before the store is
//! asked. A well-formed token is looked up by its SHA-256 digest, the only form the store keeps.
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /feeds/TOKEN.ics` | `text/calendar`: the past week and `feeds.weeks` ahead, with overrides |
//! | `POST /admin/feeds` | issues one: `{"rotation": ID}` or `{"engineer": ID}`, optional `"label"`; 201 with the token, shown once |
//! | `GET /admin/feeds` | the feeds issued and not revoked (never their tokens) |
//! | `DELETE /admin/feeds/{id}` | revokes one (204) |

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::admin::{Admin, AdminError, json, parse_body, store};
use crate::assembly::AppState;
use crate::oncall::feed_tokens::{self, Feed, FeedSubject, IssueError};

/// `GET /feeds/{file}`: the feed whose token `file` names, as `TOKEN.ics`.
pub(crate) async fn serve(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    let Some(token) = file.strip_suffix(".ics").filter(|t| feed_tokens::well_formed(t)) else {
        return not_found();
    };
    let Some(store) = state.store() else {
        return not_found();
    };
    let feed = match store.feed(&feed_tokens::digest(token)).await {
        Ok(Some(feed)) => feed,
        Ok(None) => return not_found(),
        Err(error) => return unavailable(&error),
    };
    let data = match store.load().await {
        Ok(data) => data,
        Err(error) => return unavailable(&error),
    };
    let weeks = state.config.settings.feeds.weeks.get();
    let Some(text) = feed_tokens::render(&data, &feed, state.clock.now(), weeks) else {
        // Its rotation or engineer was removed since it was issued.
        return not_found();
    };
    let mut response = (
        [
            (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
            (header::CACHE_CONTROL, "private, max-age=300"),
            (header::CONTENT_DISPOSITION, "inline; filename=\"oncall.ics\""),
        ],
        text,
    )
        .into_response();
    // The URL is the credential: a page that links from a calendar must not pass it on.
    response
        .headers_mut()
        .insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// The one answer for every token that fetches nothing.
fn not_found() -> Response {
    StatusCode::NOT_FOUND.into_response()
}

/// The store failed: calendar apps retry later on their own schedule.
fn unavailable(error: &crate::store::StoreError) -> Response {
    tracing::error!(%error, "calendar feed: the store failed");
    (StatusCode::SERVICE_UNAVAILABLE, [(header::RETRY_AFTER, "300")]).into_response()
}

/// A `POST /admin/feeds` body: a rotation or an engineer.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IssueBody {
    #[serde(default)]
    rotation: Option<String>,
    #[serde(default)]
    engineer: Option<String>,
    #[serde(default)]
    label: Option<String>,
}

/// A feed just issued: the record, and the token and path shown this once.
#[derive(Serialize)]
struct IssuedBody<'a> {
    #[serde(flatten)]
    feed: &'a Feed,
    token: &'a str,
    path: String,
    /// The URL on the webhook listener, when `feeds.public` serves the feeds there.
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
}

pub(super) async fn issue(
    _: Admin,
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AdminError> {
    let body: IssueBody = parse_body(&body?)?;
    let subject = match (body.rotation, body.engineer) {
        (Some(rotation), None) => FeedSubject::Rotation(rotation),
        (None, Some(engineer)) => FeedSubject::Engineer(engineer),
        _ => {
            return Err(AdminError::Invalid(
                "name either a rotation or an engineer: {\"rotation\": ID} or {\"engineer\": ID}".to_owned(),
            ));
        }
    };
    let store = store(&state)?;
    let data = store.load().await?;
    let issued = feed_tokens::issue(&data, subject, body.label, state.clock.now()).map_err(|error| match error {
        IssueError::Random(detail) => {
            tracing::error!(detail, "calendar feed: no random token");
            AdminError::Internal {
                detail: "the random source failed",
            }
        }
        other => AdminError::Invalid(other.to_string()),
    })?;
    store.put_feed(&issued.digest, issued.feed.clone()).await?;
    tracing::info!(feed = issued.feed.id, subject = ?issued.feed.subject, "admin: calendar feed issued");
    let path = feed_tokens::path(&issued.token);
    let settings = &state.config.settings;
    let url = settings
        .feeds
        .public
        .then(|| format!("{}{path}", settings.server.public_url.as_str().trim_end_matches('/')));
    let body = IssuedBody {
        feed: &issued.feed,
        token: &issued.token,
        path,
        url,
    };
    Ok(json(StatusCode::CREATED, &body))
}

pub(super) async fn list(_: Admin, State(state): State<AppState>) -> Result<Response, AdminError> {
    let feeds = store(&state)?.feeds().await?;
    Ok(json(StatusCode::OK, &feeds))
}

pub(super) async fn revoke(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    if feed_tokens::is_id(&id) && store(&state)?.revoke_feed(&id).await? {
        tracing::info!(feed = id, "admin: calendar feed revoked");
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(AdminError::NotFound(format!("no feed {id:?}")))
    }
}
