//! The last announcement and when it was fetched ([`StatusCache`]), and the background task that keeps it
//! fresh ([`spawn_refresher`], [`start_refresher`]). Readers take a short read lock, never held across an
//! await; the refresher is the only writer, and a failed fetch leaves the last good copy to age out.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;

use super::fetch::{Fetcher, StatusError};
use super::summary::{Announcement, announcement};
use crate::clock::Clock;
use crate::settings::StatusPageSettings;

/// The last announcement fetched, shared by the refresher (the only writer) and every call (readers). Cheap
/// to clone.
#[derive(Debug, Clone)]
pub struct StatusCache {
    inner: Arc<CacheInner>,
}

#[derive(Debug)]
struct CacheInner {
    max_age: Duration,
    slot: RwLock<Option<Snapshot>>,
}

/// One successful fetch: when, and what it has to say (none: all is well).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    fetched_at: DateTime<Utc>,
    announcement: Option<Announcement>,
}

/// What the cache holds at an instant, as the `status` step reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reading {
    /// No fetch has succeeded yet.
    NotFetched,
    /// The last good fetch is older than `max_age` (or later than now by more than that).
    Stale { age_secs: i64 },
    /// Fresh, and nothing to announce.
    Clear { age_secs: i64 },
    /// Fresh, with this to say.
    Announce { announcement: Announcement, age_secs: i64 },
}

impl StatusCache {
    /// An empty cache whose copies are announced up to `max_age` after they were fetched.
    pub fn new(max_age: Duration) -> Self {
        Self {
            inner: Arc::new(CacheInner {
                max_age,
                slot: RwLock::new(None),
            }),
        }
    }

    /// The cache for a configuration's `[status_page]`, if it has one.
    pub(crate) fn for_settings(settings: Option<&StatusPageSettings>) -> Option<Self> {
        settings.map(|s| Self::new(Duration::from_secs(s.max_age_secs)))
    }

    pub(crate) fn max_age(&self) -> Duration {
        self.inner.max_age
    }

    /// Replaces the copy (the refresher after each successful fetch; tests).
    pub fn store(&self, fetched_at: DateTime<Utc>, announcement: Option<Announcement>) {
        let snapshot = Snapshot {
            fetched_at,
            announcement,
        };
        // A writer that panicked left a whole value behind (assignment is the only write): use it.
        *self.inner.slot.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(snapshot);
    }

    /// The last copy stored, fresh or not.
    pub fn snapshot(&self) -> Option<Snapshot> {
        self.inner
            .slot
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// What to make of the cache at `now`.
    pub(crate) fn read(&self, now: DateTime<Utc>) -> Reading {
        let Some(snapshot) = self.snapshot() else {
            return Reading::NotFetched;
        };
        let age = now - snapshot.fetched_at;
        let max_age = chrono::Duration::from_std(self.inner.max_age).unwrap_or(chrono::Duration::MAX);
        let age_secs = age.num_seconds();
        if age > max_age || -age > max_age {
            return Reading::Stale { age_secs };
        }
        match snapshot.announcement {
            Some(announcement) => Reading::Announce { announcement, age_secs },
            None => Reading::Clear { age_secs },
        }
    }

    /// The announcement, when the copy is younger than `max_age` and has one.
    #[cfg(test)]
    fn current(&self, now: DateTime<Utc>) -> Option<Announcement> {
        match self.read(now) {
            Reading::Announce { announcement, .. } => Some(announcement),
            _ => None,
        }
    }
}

/// One refresh: fetches, and on success stores the announcement with the time the answer came (read from
/// `clock` after the fetch). On failure the cache keeps what it had. Returns what was stored.
pub async fn refresh(
    fetcher: &Fetcher,
    cache: &StatusCache,
    clock: &dyn Clock,
) -> Result<Option<Announcement>, StatusError> {
    let summary = fetcher.fetch().await?;
    let text = announcement(&summary);
    cache.store(clock.now(), text.clone());
    Ok(text)
}

/// Refreshes `cache` every `refresh_secs`, the first time at once, until the task is aborted or the runtime
/// stops. A slow fetch delays the next one; it never holds a reader.
fn spawn_refresher(
    settings: &StatusPageSettings,
    cache: StatusCache,
    clock: Arc<dyn Clock>,
) -> Result<JoinHandle<()>, StatusError> {
    let fetcher = Fetcher::new(settings)?;
    let every = Duration::from_secs(settings.refresh_secs);
    let url = crate::fetch::for_logs(&settings.url);
    Ok(tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failures: u64 = 0;
        let mut last: Option<Option<Announcement>> = None;
        loop {
            ticks.tick().await;
            match refresh(&fetcher, &cache, clock.as_ref()).await {
                Ok(text) => {
                    if failures > 0 {
                        tracing::info!(%url, failures, "status page: fetched again after failures");
                    }
                    failures = 0;
                    if last.as_ref() != Some(&text) {
                        match &text {
                            Some(text) => tracing::info!(%url, announcement = %text, "status page: announcing"),
                            None => tracing::info!(%url, "status page: nothing to announce"),
                        }
                        last = Some(text);
                    }
                }
                Err(error) => {
                    failures += 1;
                    // The first failure, then one in ten, so that a page down all night does not flood the log.
                    if failures % 10 == 1 {
                        tracing::warn!(
                            %url, %error, failures,
                            "status page: fetch failed; keeping the last copy until it is {} s old",
                            cache.max_age().as_secs()
                        );
                    } else {
                        tracing::debug!(%url, %error, failures, "status page: fetch failed");
                    }
                }
            }
        }
    }))
}

/// Starts the refresher when the configuration has a `[status_page]` (`settings`, and the `cache` made for
/// it): `serve` calls this once. A refresher that cannot start is logged, and nothing is announced.
pub fn start_refresher(
    settings: Option<&StatusPageSettings>,
    cache: Option<StatusCache>,
    clock: Arc<dyn Clock>,
) -> Option<JoinHandle<()>> {
    let (settings, cache) = (settings?, cache?);
    match spawn_refresher(settings, cache, clock) {
        Ok(handle) => {
            tracing::info!(
                url = %crate::fetch::for_logs(&settings.url),
                every_secs = settings.refresh_secs,
                "status page: refreshing in the background"
            );
            Some(handle)
        }
        Err(error) => {
            tracing::error!(%error, "status page: cannot start the refresher; nothing will be announced");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident(text: &str) -> Announcement {
        Announcement::Incident(text.into())
    }

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_cache_announces_only_a_fresh_copy() {
        let cache = StatusCache::new(Duration::from_secs(300));
        let now = at("2026-11-27T20:00:00-05:00");
        assert_eq!(cache.read(now), Reading::NotFetched);
        assert_eq!(cache.current(now), None);

        cache.store(
            at("2026-11-27T19:58:00-05:00"),
            Some(incident("We are aware of an incident.")),
        );
        assert_eq!(
            cache.read(now),
            Reading::Announce {
                announcement: incident("We are aware of an incident."),
                age_secs: 120
            }
        );
        assert_eq!(
            cache.current(at("2026-11-27T20:03:00-05:00")),
            Some(incident("We are aware of an incident."))
        );
        assert_eq!(
            cache.read(at("2026-11-27T20:03:01-05:00")),
            Reading::Stale { age_secs: 301 }
        );
        assert_eq!(cache.current(at("2026-11-27T20:03:01-05:00")), None);
        // A copy from the future (the clock stepped back) is trusted only within the same bound.
        assert_eq!(
            cache.read(at("2026-11-27T19:52:59-05:00")),
            Reading::Stale { age_secs: -301 }
        );

        cache.store(now, None);
        assert_eq!(cache.read(now), Reading::Clear { age_secs: 0 });
        assert_eq!(cache.current(now), None);
    }

    #[test]
    fn clones_share_the_copy() {
        let cache = StatusCache::new(Duration::from_secs(60));
        let reader = cache.clone();
        let now = at("2026-11-27T20:00:00Z");
        cache.store(now, Some(incident("Text.")));
        assert_eq!(reader.current(now), Some(incident("Text.")));
    }
}
