//! The embedded store: everything in this process's memory, seeded from `config/` at start. Nothing persists
//! and replicas do not share it; `serve` says so loudly.
//!
//! Per-call state expires like its Redis counterpart, through [`Expiring`] maps, so that no operation sweeps
//! every call; a call's working record is bounded and idempotent by webhook (see [`crate::calllog`]).

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::expiring::Expiring;
use super::{Change, MAX_CHANGES, Store, StoreError};
use crate::BoxFuture;
use crate::calllog::{CallClose, CallEntry, CallRecord, MAX_ENTRIES_PER_CALL};
use crate::oncall::feed_tokens::Feed;
use crate::oncall::import::CalendarCopy;
use crate::oncall::model::{Engineer, ImportedShift, OnCallData, Override, Policy, Rotation};
use chrono::{DateTime, Utc};

#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    data: OnCallData,
    acceptances: Expiring<(String, u32), String>,
    claims: Expiring<(String, String), ()>,
    working: Expiring<String, Working>,
    /// The calls logged in the last [`LOGGED_TTL`], at most [`LOGGED_MAX`]: a webhook of one of them adds
    /// nothing, so a replay after the close does not make a second record.
    logged: Expiring<String, ()>,
    log: VecDeque<CallRecord>,
    /// Guesses by bucket (kept for the window after its latest guess): guess id → when, in milliseconds since
    /// the epoch.
    guesses: Expiring<String, BTreeMap<String, i64>>,
    /// Trusted callers, case claims, sticky engineers and ended sessions by key.
    marks: Expiring<String, String>,
    /// Changes made through the dashboard, newest first.
    changes: VecDeque<Change>,
    /// Calendar feeds by their token's digest.
    feeds: BTreeMap<String, Feed>,
    /// Outside calendars of rotations, and their shifts, by rotation id.
    calendars: BTreeMap<String, (CalendarCopy, Vec<ImportedShift>)>,
}

/// A call's working record and the webhooks it holds entries of.
#[derive(Debug)]
struct Working {
    record: CallRecord,
    webhooks: HashSet<String>,
}

/// How long a logged call is remembered: as long as Redis keeps its marker.
const LOGGED_TTL: Duration = Duration::from_secs(86_400);
/// The most logged calls remembered (a few megabytes); past it, the oldest is forgotten first.
const LOGGED_MAX: usize = 100_000;

impl MemoryStore {
    pub(crate) fn new(seed: OnCallData) -> Self {
        Self {
            inner: Mutex::new(Inner {
                data: seed,
                ..Inner::default()
            }),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> Result<T, StoreError>) -> Result<T, StoreError> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        let mut inner = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut inner)
    }
}

impl Inner {
    /// Adds a webhook's entry to its call's working record: nothing when the call was logged already or the
    /// record holds this webhook's entry; only counted when the record is full.
    fn append(&mut self, entry: &CallEntry, now: Instant) {
        if self.logged.contains(entry.call_sid.as_str(), now) {
            return;
        }
        let expires = now + entry.ttl;
        if !self.working.contains(entry.call_sid.as_str(), now) {
            let record = CallRecord {
                call_sid: entry.call_sid.clone(),
                started: Some(entry.started),
                ..CallRecord::default()
            };
            let webhooks = HashSet::new();
            self.working
                .insert(entry.call_sid.clone(), Working { record, webhooks }, expires);
        }
        let Some(working) = self.working.get_mut(entry.call_sid.as_str(), now) else {
            return;
        };
        if working.webhooks.contains(&entry.webhook) {
            return;
        }
        if working.webhooks.len() >= MAX_ENTRIES_PER_CALL {
            working.record.entries_dropped += 1;
            return;
        }
        working.webhooks.insert(entry.webhook.clone());
        let record = &mut working.record;
        record.summary.extend(entry.summary.iter().cloned());
        record.events.extend(entry.events.iter().cloned());
        self.working.set_expiry(entry.call_sid.as_str(), expires);
    }

    /// Closes a call's working record into the log, once: false when the call was logged already or has no
    /// record.
    fn close(&mut self, close: &CallClose, now: Instant) -> bool {
        if self.logged.contains(close.call_sid.as_str(), now) {
            return false;
        }
        let Some(Working { mut record, .. }) = self.working.remove(close.call_sid.as_str()) else {
            return false;
        };
        while self.logged.len() >= LOGGED_MAX && self.logged.remove_first() {}
        self.logged.insert(close.call_sid.clone(), (), now + LOGGED_TTL);
        record.status.clone_from(&close.status);
        record.duration_secs = close.duration_secs;
        self.log.push_back(record);
        while self.log.len() as u64 > close.max_records.max(1) {
            self.log.pop_front();
        }
        true
    }
}

impl Store for MemoryStore {
    fn load(&self) -> BoxFuture<'_, Result<OnCallData, StoreError>> {
        let result = self.with(|inner| {
            let mut data = inner.data.clone();
            for (rotation, (_, shifts)) in &inner.calendars {
                data.imported.insert(rotation.clone(), shifts.clone());
            }
            Ok(data)
        });
        Box::pin(async move { result })
    }

    fn replace_rotation(
        &self,
        mut rotation: Rotation,
        expected: Option<u64>,
    ) -> BoxFuture<'_, Result<u64, StoreError>> {
        let result = self.with(|inner| {
            let current = inner.data.rotations.get(&rotation.id).map_or(0, |r| r.version);
            if let Some(expected) = expected.filter(|e| *e != current) {
                return Err(StoreError::StaleVersion {
                    rotation: rotation.id.clone(),
                    expected,
                    current,
                });
            }
            rotation.version = current + 1;
            inner.data.rotations.insert(rotation.id.clone(), rotation);
            Ok(current + 1)
        });
        Box::pin(async move { result })
    }

    fn put_engineer(&self, engineer: Engineer) -> BoxFuture<'_, Result<(), StoreError>> {
        let result = self.with(|inner| {
            inner.data.engineers.insert(engineer.id.clone(), engineer);
            Ok(())
        });
        Box::pin(async move { result })
    }

    fn put_policy(&self, policy: Policy) -> BoxFuture<'_, Result<(), StoreError>> {
        let result = self.with(|inner| {
            inner.data.policies.insert(policy.id.clone(), policy);
            Ok(())
        });
        Box::pin(async move { result })
    }

    fn add_override(&self, item: Override) -> BoxFuture<'_, Result<(), StoreError>> {
        let result = self.with(|inner| {
            if !inner.data.rotations.contains_key(&item.rotation) {
                return Err(StoreError::NotFound {
                    what: "rotation",
                    id: item.rotation.clone(),
                });
            }
            let list = inner.data.overrides.entry(item.rotation.clone()).or_default();
            list.retain(|o| o.id != item.id);
            list.push(item);
            list.sort_by_key(|o| o.start);
            Ok(())
        });
        Box::pin(async move { result })
    }

    fn remove_override<'a>(&'a self, rotation: &'a str, id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        let result = self.with(|inner| {
            let Some(list) = inner.data.overrides.get_mut(rotation) else {
                return Ok(false);
            };
            let before = list.len();
            list.retain(|o| o.id != id);
            Ok(list.len() != before)
        });
        Box::pin(async move { result })
    }

    fn record_acceptance<'a>(
        &'a self,
        call_sid: &'a str,
        attempt: u32,
        engineer: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let result = self.with(|inner| {
            let now = Instant::now();
            inner.acceptances.purge(now);
            let key = (call_sid.to_owned(), attempt);
            if !inner.acceptances.contains(&key, now) {
                inner.acceptances.insert(key, engineer.to_owned(), now + ttl);
            }
            Ok(())
        });
        Box::pin(async move { result })
    }

    fn claim_once<'a>(
        &'a self,
        call_sid: &'a str,
        what: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let result = self.with(|inner| {
            let now = Instant::now();
            inner.claims.purge(now);
            let key = (call_sid.to_owned(), what.to_owned());
            if inner.claims.contains(&key, now) {
                return Ok(false);
            }
            inner.claims.insert(key, (), now + ttl);
            Ok(true)
        });
        Box::pin(async move { result })
    }

    fn append_entries<'a>(&'a self, entries: &'a [CallEntry]) -> BoxFuture<'a, Result<(), StoreError>> {
        let result = self.with(|inner| {
            let now = Instant::now();
            inner.working.purge(now);
            inner.logged.purge(now);
            for entry in entries {
                inner.append(entry, now);
            }
            Ok(())
        });
        Box::pin(async move { result })
    }

    fn close_calls<'a>(&'a self, closes: &'a [CallClose]) -> BoxFuture<'a, Result<Vec<bool>, StoreError>> {
        let result = self.with(|inner| {
            let now = Instant::now();
            inner.logged.purge(now);
            Ok(closes.iter().map(|close| inner.close(close, now)).collect())
        });
        Box::pin(async move { result })
    }

    fn calls(&self, since: Option<DateTime<Utc>>, limit: usize) -> BoxFuture<'_, Result<Vec<CallRecord>, StoreError>> {
        let result = self.with(|inner| {
            Ok(inner
                .log
                .iter()
                .rev()
                .filter(|r| since.is_none_or(|since| r.started.is_some_and(|s| s >= since)))
                .take(limit)
                .cloned()
                .collect())
        });
        Box::pin(async move { result })
    }

    fn acceptance<'a>(&'a self, call_sid: &'a str, attempt: u32) -> BoxFuture<'a, Result<Option<String>, StoreError>> {
        let result = self.with(|inner| {
            let now = Instant::now();
            Ok(inner.acceptances.get(&(call_sid.to_owned(), attempt), now).cloned())
        });
        Box::pin(async move { result })
    }

    // Who may call about what: guesses, trusted callers, the case being rung, the engineer on a case.

    fn add_guess<'a>(
        &'a self,
        bucket: &'a str,
        guess: &'a str,
        at: DateTime<Utc>,
        window: Duration,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        let result = self.with(|inner| {
            let (since, now) = (window_start(at, window), Instant::now());
            inner.guesses.purge(now);
            if !inner.guesses.contains(bucket, now) {
                inner.guesses.insert(bucket.to_owned(), BTreeMap::new(), now + window);
            }
            inner.guesses.set_expiry(bucket, now + window);
            let Some(guesses) = inner.guesses.get_mut(bucket, now) else {
                return Ok(0);
            };
            // One caller's bucket: a handful of guesses at most.
            guesses.retain(|_, when| *when > since);
            guesses.entry(guess.to_owned()).or_insert(at.timestamp_millis());
            Ok(guesses.len() as u64)
        });
        Box::pin(async move { result })
    }

    fn remove_guess<'a>(&'a self, bucket: &'a str, guess: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        let result = self.with(|inner| {
            if let Some(guesses) = inner.guesses.get_mut(bucket, Instant::now()) {
                guesses.remove(guess);
            }
            Ok(())
        });
        Box::pin(async move { result })
    }

    fn trust<'a>(&'a self, number: &'a str, case: &'a str, ttl: Duration) -> BoxFuture<'a, Result<(), StoreError>> {
        let result = self.with(|inner| {
            inner.set_mark(format!("trusted:{number}:{case}"), String::new(), ttl);
            Ok(())
        });
        Box::pin(async move { result })
    }

    fn trusted<'a>(&'a self, number: &'a str, case: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        let result = self.with(|inner| Ok(inner.mark(&format!("trusted:{number}:{case}")).is_some()));
        Box::pin(async move { result })
    }

    fn claim_case<'a>(
        &'a self,
        case: &'a str,
        call_sid: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let result = self.with(|inner| {
            let key = format!("ringing:{case}");
            if inner.mark(&key).is_some_and(|holder| holder != call_sid) {
                return Ok(false);
            }
            inner.set_mark(key, call_sid.to_owned(), ttl);
            Ok(true)
        });
        Box::pin(async move { result })
    }

    fn release_case<'a>(&'a self, case: &'a str, call_sid: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        let result = self.with(|inner| {
            let key = format!("ringing:{case}");
            if inner.mark(&key).is_some_and(|holder| holder == call_sid) {
                inner.marks.remove(&key);
            }
            Ok(())
        });
        Box::pin(async move { result })
    }

    fn set_sticky<'a>(
        &'a self,
        case: &'a str,
        engineer: &'a str,
        at: DateTime<Utc>,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let result = self.with(|inner| {
            inner.set_mark(format!("sticky:{case}"), super::sticky_value(engineer, at), ttl);
            Ok(())
        });
        Box::pin(async move { result })
    }

    fn sticky<'a>(&'a self, case: &'a str) -> BoxFuture<'a, Result<Option<super::Sticky>, StoreError>> {
        let result = self.with(|inner| {
            Ok(inner
                .mark(&format!("sticky:{case}"))
                .and_then(|v| super::parse_sticky(&v)))
        });
        Box::pin(async move { result })
    }

    fn end_session<'a>(&'a self, session: &'a str, ttl: Duration) -> BoxFuture<'a, Result<(), StoreError>> {
        let result = self.with(|inner| {
            inner.set_mark(format!("session:{session}:ended"), String::new(), ttl);
            Ok(())
        });
        Box::pin(async move { result })
    }

    fn session_ended<'a>(&'a self, session: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        let result = self.with(|inner| Ok(inner.mark(&format!("session:{session}:ended")).is_some()));
        Box::pin(async move { result })
    }

    fn record_change<'a>(&'a self, change: &'a Change) -> BoxFuture<'a, Result<(), StoreError>> {
        let result = self.with(|inner| {
            inner.changes.push_front(change.clone());
            inner.changes.truncate(MAX_CHANGES);
            Ok(())
        });
        Box::pin(async move { result })
    }

    fn changes(&self, limit: usize) -> BoxFuture<'_, Result<Vec<Change>, StoreError>> {
        let result = self.with(|inner| Ok(inner.changes.iter().take(limit).cloned().collect()));
        Box::pin(async move { result })
    }

    fn put_feed<'a>(&'a self, digest: &'a str, feed: Feed) -> BoxFuture<'a, Result<(), StoreError>> {
        let result = self.with(|inner| {
            inner.feeds.insert(digest.to_owned(), feed);
            Ok(())
        });
        Box::pin(async move { result })
    }

    fn feed<'a>(&'a self, digest: &'a str) -> BoxFuture<'a, Result<Option<Feed>, StoreError>> {
        let result = self.with(|inner| Ok(inner.feeds.get(digest).cloned()));
        Box::pin(async move { result })
    }

    fn feeds(&self) -> BoxFuture<'_, Result<Vec<Feed>, StoreError>> {
        let result = self.with(|inner| {
            let mut feeds: Vec<Feed> = inner.feeds.values().cloned().collect();
            super::sort_feeds(&mut feeds);
            Ok(feeds)
        });
        Box::pin(async move { result })
    }

    fn revoke_feed<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        let result = self.with(|inner| {
            let before = inner.feeds.len();
            inner.feeds.retain(|_, feed| feed.id != id);
            Ok(inner.feeds.len() != before)
        });
        Box::pin(async move { result })
    }

    fn put_calendar<'a>(
        &'a self,
        rotation: &'a str,
        copy: CalendarCopy,
        shifts: Vec<ImportedShift>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let result = self.with(|inner| {
            inner.calendars.insert(rotation.to_owned(), (copy, shifts));
            Ok(())
        });
        Box::pin(async move { result })
    }

    fn calendar<'a>(&'a self, rotation: &'a str) -> BoxFuture<'a, Result<Option<CalendarCopy>, StoreError>> {
        let result = self.with(|inner| Ok(inner.calendars.get(rotation).map(|(copy, _)| copy.clone())));
        Box::pin(async move { result })
    }
}

impl Inner {
    fn set_mark(&mut self, key: String, value: String, ttl: Duration) {
        let now = Instant::now();
        self.marks.purge(now);
        self.marks.insert(key, value, now + ttl);
    }

    fn mark(&self, key: &str) -> Option<String> {
        self.marks.get(key, Instant::now()).cloned()
    }
}

/// The first instant (epoch milliseconds) before which a guess is outside the `window` ending at `at`.
fn window_start(at: DateTime<Utc>, window: Duration) -> i64 {
    at.timestamp_millis() - window.as_millis() as i64
}
