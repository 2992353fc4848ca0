//! Where on-call data and per-call records live: Redis in production ([`redis`]), memory when no Redis is
//! configured ([`memory`]). Both implement [`Store`]; the same tests run against both. Also here: the
//! deadline of a store operation on a call's path, the cached on-call data that carries a call through a
//! Redis outage ([`cache`]), the call log's writer (`call_log`), and the refresh of the rotations' outside
//! calendars ([`calendars`]).

pub mod cache;
pub mod calendars;
pub(crate) mod call_log;
mod expiring;
pub mod memory;
pub mod redis;

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::BoxFuture;
use crate::calllog::{CallClose, CallEntry, CallRecord};
use crate::oncall::feed_tokens::Feed;
use crate::oncall::import::CalendarCopy;
use crate::oncall::model::{Engineer, ImportedShift, OnCallData, Override, Policy, Rotation};

/// The longest a single store operation may take on a call's path: past it, the call goes on without it
/// (the cached chain, an uncounted call), well inside the provider's 15 s.
pub(crate) const STORE_DEADLINE: Duration = Duration::from_millis(400);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The rotation changed since it was read: read it again and retry.
    #[error("rotation {rotation:?} is at version {current}, not {expected}: it changed meanwhile")]
    StaleVersion {
        rotation: String,
        expected: u64,
        current: u64,
    },
    #[error("no such {what} {id:?}")]
    NotFound { what: &'static str, id: String },
    #[error("the store failed: {0}")]
    Backend(String),
    #[error("the store holds data it cannot read: {0}")]
    Corrupt(String),
}

/// The on-call data and call records. Every write that changes a rotation is atomic.
pub trait Store: Send + Sync + fmt::Debug {
    /// Everything needed to compute on-call chains.
    fn load(&self) -> BoxFuture<'_, Result<OnCallData, StoreError>>;

    /// Replaces a rotation and its participants at once. With `expected` set, refuses to write over another
    /// version (optimistic concurrency); returns the new version.
    fn replace_rotation(&self, rotation: Rotation, expected: Option<u64>) -> BoxFuture<'_, Result<u64, StoreError>>;

    fn put_engineer(&self, engineer: Engineer) -> BoxFuture<'_, Result<(), StoreError>>;

    fn put_policy(&self, policy: Policy) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Adds an override (replacing one with the same id); the rotation must exist.
    fn add_override(&self, item: Override) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Removes an override by id; false when there was none.
    fn remove_override<'a>(&'a self, rotation: &'a str, id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Records that `engineer` accepted the call `call_sid` in escalation attempt `attempt`. The first
    /// acceptance of an attempt stands; a later one does not replace it.
    fn record_acceptance<'a>(
        &'a self,
        call_sid: &'a str,
        attempt: u32,
        engineer: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Claims a once-per-call action (`what`, e.g. "noted") for `call_sid`: true the first time, false after.
    /// Makes replayed webhooks harmless for side effects such as the case note.
    fn claim_once<'a>(
        &'a self,
        call_sid: &'a str,
        what: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Adds each webhook's entry to its call's working record, in order. One round trip for all of them.
    /// Idempotent and bounded per call: an entry of a webhook the record holds already, or of a call that was
    /// logged (closed) already, adds nothing; past [`crate::calllog::MAX_ENTRIES_PER_CALL`] entries, a webhook
    /// is only counted (`CallRecord::entries_dropped`).
    fn append_entries<'a>(&'a self, entries: &'a [CallEntry]) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Closes calls' working records into the call log, each once; for each, false when it was closed
    /// already or there is no record. One round trip for all of them. A call is remembered as logged for a
    /// day: its webhooks add nothing more, so however often they are replayed, it has one record.
    fn close_calls<'a>(&'a self, closes: &'a [CallClose]) -> BoxFuture<'a, Result<Vec<bool>, StoreError>>;

    /// The call log, newest first: at most `limit` records, none that started before `since`.
    fn calls(&self, since: Option<DateTime<Utc>>, limit: usize) -> BoxFuture<'_, Result<Vec<CallRecord>, StoreError>>;

    /// Who accepted `call_sid` in `attempt`, if anyone did.
    fn acceptance<'a>(&'a self, call_sid: &'a str, attempt: u32) -> BoxFuture<'a, Result<Option<String>, StoreError>>;

    // Who may call about what: guesses, trusted callers, the case being rung, the engineer on a case.

    /// Adds guess `guess` (an id that a replayed webhook repeats, so that it counts once) to `bucket` at `at`,
    /// and returns the guesses of `bucket` within the `window` ending at `at` (a sliding window). Adding and
    /// counting are one step: of calls racing for the last guess, one gets it.
    fn add_guess<'a>(
        &'a self,
        bucket: &'a str,
        guess: &'a str,
        at: DateTime<Utc>,
        window: Duration,
    ) -> BoxFuture<'a, Result<u64, StoreError>>;

    /// Takes guess `guess` out of `bucket` (it turned out not to be one); nothing when it is not there.
    fn remove_guess<'a>(&'a self, bucket: &'a str, guess: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Remembers for `ttl` that `number` was verified as registered on critical case `case`.
    fn trust<'a>(&'a self, number: &'a str, case: &'a str, ttl: Duration) -> BoxFuture<'a, Result<(), StoreError>>;

    /// True when `number` was verified as registered on `case` within its trust's lifetime.
    fn trusted<'a>(&'a self, number: &'a str, case: &'a str) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Claims the ringing of case `case` for call `call_sid`, for `ttl`: true when the call holds the claim
    /// (taken now, or its own renewed for `ttl`), false when another call holds it.
    fn claim_case<'a>(
        &'a self,
        case: &'a str,
        call_sid: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Releases the claim on case `case` if call `call_sid` holds it.
    fn release_case<'a>(&'a self, case: &'a str, call_sid: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Remembers for `ttl` that `engineer` accepted a call about case `case` at `at`.
    fn set_sticky<'a>(
        &'a self,
        case: &'a str,
        engineer: &'a str,
        at: DateTime<Utc>,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Who last accepted a call about case `case`, and when, within the record's lifetime.
    fn sticky<'a>(&'a self, case: &'a str) -> BoxFuture<'a, Result<Option<Sticky>, StoreError>>;

    // The dashboard's sessions and the changes made through it.

    /// Ends dashboard session `session` for `ttl` (what is left of its lifetime): every replica then refuses
    /// its cookie.
    fn end_session<'a>(&'a self, session: &'a str, ttl: Duration) -> BoxFuture<'a, Result<(), StoreError>>;

    /// True when dashboard session `session` was ended (logged out) and has not expired since.
    fn session_ended<'a>(&'a self, session: &'a str) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Adds a change made through the dashboard to the list of changes, which keeps the latest
    /// [`MAX_CHANGES`].
    fn record_change<'a>(&'a self, change: &'a Change) -> BoxFuture<'a, Result<(), StoreError>>;

    /// The latest changes made through the dashboard, newest first, at most `limit`.
    fn changes(&self, limit: usize) -> BoxFuture<'_, Result<Vec<Change>, StoreError>>;

    // Calendar feeds: each kept under its token's digest ([`crate::oncall::feed_tokens`]).

    /// Keeps `feed` under `digest`, the digest of its token.
    fn put_feed<'a>(&'a self, digest: &'a str, feed: Feed) -> BoxFuture<'a, Result<(), StoreError>>;

    /// The feed whose token has `digest`, if it is issued and not revoked.
    fn feed<'a>(&'a self, digest: &'a str) -> BoxFuture<'a, Result<Option<Feed>, StoreError>>;

    /// Every feed issued and not revoked, oldest first.
    fn feeds(&self) -> BoxFuture<'_, Result<Vec<Feed>, StoreError>>;

    /// Revokes the feed with id `id`: its token fetches nothing from then on. False when there was none.
    fn revoke_feed<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>>;

    // Outside calendars of rotations ([`crate::oncall::import`]).

    /// Keeps `copy` of `rotation`'s outside calendar and the `shifts` read from it, together: [`Store::load`]
    /// gives the shifts in [`OnCallData::imported`].
    fn put_calendar<'a>(
        &'a self,
        rotation: &'a str,
        copy: CalendarCopy,
        shifts: Vec<ImportedShift>,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// The copy of `rotation`'s outside calendar, with its health; `None` before the first fetch.
    fn calendar<'a>(&'a self, rotation: &'a str) -> BoxFuture<'a, Result<Option<CalendarCopy>, StoreError>>;
}

/// Feeds oldest first, ties by id, as both stores list them.
fn sort_feeds(feeds: &mut [Feed]) {
    feeds.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
}

/// The most changes the list of changes keeps.
pub const MAX_CHANGES: usize = 1000;

/// A change made to the on-call data through the dashboard: who made it (the name given at login), when,
/// and what it was, in words.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Change {
    pub at: DateTime<Utc>,
    pub who: String,
    pub what: String,
}

/// Who last accepted a call about a case, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sticky {
    pub engineer: String,
    pub accepted_at: DateTime<Utc>,
}

/// A sticky record as both stores keep it: `RFC3339|engineer`.
fn sticky_value(engineer: &str, at: DateTime<Utc>) -> String {
    format!("{}|{engineer}", at.to_rfc3339())
}

/// Reads a sticky record written by [`sticky_value`]; `None` when it is not one.
fn parse_sticky(value: &str) -> Option<Sticky> {
    let (at, engineer) = value.split_once('|')?;
    let accepted_at = DateTime::parse_from_rfc3339(at).ok()?.with_timezone(&Utc);
    (!engineer.is_empty()).then(|| Sticky {
        engineer: engineer.to_owned(),
        accepted_at,
    })
}

/// Imports a whole data set: engineers and policies upserted, each rotation replaced atomically (no version
/// check: the file is the truth), its overrides replaced by the file's.
pub async fn import(store: &dyn Store, data: &OnCallData) -> Result<(), StoreError> {
    for engineer in data.engineers.values() {
        store.put_engineer(engineer.clone()).await?;
    }
    for rotation in data.rotations.values() {
        store.replace_rotation(rotation.clone(), None).await?;
    }
    let current = store.load().await?;
    for (rotation, overrides) in &current.overrides {
        if data.rotations.contains_key(rotation) {
            for item in overrides {
                store.remove_override(rotation, &item.id).await?;
            }
        }
    }
    for item in data.overrides.values().flatten() {
        store.add_override(item.clone()).await?;
    }
    for policy in data.policies.values() {
        store.put_policy(policy.clone()).await?;
    }
    Ok(())
}
