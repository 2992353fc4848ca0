//! The embedded store: everything in this process's memory, seeded from `config/` at start. Nothing persists
//! and replicas do not share it; `serve` says so loudly.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Store, StoreError};
use crate::BoxFuture;
use crate::calllog::{CallClose, CallEntry, CallRecord};
use crate::oncall::model::{Engineer, OnCallData, Override, Policy, Rotation};
use chrono::{DateTime, Utc};

#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    data: OnCallData,
    acceptances: BTreeMap<(String, u32), (String, Instant)>,
    claims: BTreeMap<(String, String), Instant>,
    calls: BTreeMap<String, (BTreeSet<String>, Instant)>,
    working: BTreeMap<String, (CallRecord, Instant)>,
    log: VecDeque<CallRecord>,
    /// Guesses by bucket: guess id → when, in milliseconds since the epoch.
    guesses: BTreeMap<String, BTreeMap<String, i64>>,
    /// Trusted callers, case claims and sticky engineers by key: value and expiry.
    marks: BTreeMap<String, (String, Instant)>,
}

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

impl Store for MemoryStore {
    fn load(&self) -> BoxFuture<'_, Result<OnCallData, StoreError>> {
        let result = self.with(|inner| Ok(inner.data.clone()));
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
            inner.acceptances.retain(|_, (_, expires)| *expires > now);
            inner
                .acceptances
                .entry((call_sid.to_owned(), attempt))
                .or_insert_with(|| (engineer.to_owned(), now + ttl));
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
            inner.claims.retain(|_, expires| *expires > now);
            let key = (call_sid.to_owned(), what.to_owned());
            Ok(inner.claims.insert(key, now + ttl).is_none())
        });
        Box::pin(async move { result })
    }

    fn count_call<'a>(
        &'a self,
        from: &'a str,
        call_sid: &'a str,
        window: Duration,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        let result = self.with(|inner| {
            let now = Instant::now();
            inner.calls.retain(|_, (_, ends)| *ends > now);
            let entry = inner
                .calls
                .entry(from.to_owned())
                .or_insert((BTreeSet::new(), now + window));
            entry.0.insert(call_sid.to_owned());
            Ok(entry.0.len() as u64)
        });
        Box::pin(async move { result })
    }

    fn append_entries<'a>(&'a self, entries: &'a [CallEntry]) -> BoxFuture<'a, Result<(), StoreError>> {
        let result = self.with(|inner| {
            let now = Instant::now();
            inner.working.retain(|_, (_, expires)| *expires > now);
            for entry in entries {
                let (record, expires) = inner.working.entry(entry.call_sid.clone()).or_insert_with(|| {
                    (
                        CallRecord {
                            call_sid: entry.call_sid.clone(),
                            started: Some(entry.started),
                            ..CallRecord::default()
                        },
                        now,
                    )
                });
                *expires = now + entry.ttl;
                record.summary.extend(entry.summary.iter().cloned());
                record.events.extend(entry.events.iter().cloned());
            }
            Ok(())
        });
        Box::pin(async move { result })
    }

    fn close_calls<'a>(&'a self, closes: &'a [CallClose]) -> BoxFuture<'a, Result<Vec<bool>, StoreError>> {
        let result = self.with(|inner| {
            let mut closed = Vec::with_capacity(closes.len());
            for close in closes {
                let Some((mut record, _)) = inner.working.remove(&close.call_sid) else {
                    closed.push(false);
                    continue;
                };
                record.status.clone_from(&close.status);
                record.duration_secs = close.duration_secs;
                inner.log.push_back(record);
                while inner.log.len() as u64 > close.max_records.max(1) {
                    inner.log.pop_front();
                }
                closed.push(true);
            }
            Ok(closed)
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
            Ok(inner
                .acceptances
                .get(&(call_sid.to_owned(), attempt))
                .filter(|(_, expires)| *expires > now)
                .map(|(engineer, _)| engineer.clone()))
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
            let since = window_start(at, window);
            inner.guesses.retain(|_, guesses| {
                guesses.retain(|_, when| *when > since);
                !guesses.is_empty()
            });
            let guesses = inner.guesses.entry(bucket.to_owned()).or_default();
            guesses.entry(guess.to_owned()).or_insert(at.timestamp_millis());
            Ok(guesses.len() as u64)
        });
        Box::pin(async move { result })
    }

    fn remove_guess<'a>(&'a self, bucket: &'a str, guess: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        let result = self.with(|inner| {
            if let Some(guesses) = inner.guesses.get_mut(bucket) {
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
}

impl Inner {
    fn set_mark(&mut self, key: String, value: String, ttl: Duration) {
        let now = Instant::now();
        self.marks.retain(|_, (_, expires)| *expires > now);
        self.marks.insert(key, (value, now + ttl));
    }

    fn mark(&self, key: &str) -> Option<String> {
        let now = Instant::now();
        self.marks
            .get(key)
            .filter(|(_, expires)| *expires > now)
            .map(|(value, _)| value.clone())
    }
}

/// The first instant (epoch milliseconds) before which a guess is outside the `window` ending at `at`.
fn window_start(at: DateTime<Utc>, window: Duration) -> i64 {
    at.timestamp_millis() - window.as_millis() as i64
}
