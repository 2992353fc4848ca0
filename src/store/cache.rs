//! The last on-call data read from the store, kept in memory so that a call is still bridged when Redis is
//! down, and so that a busy night does not read Redis for every dial. Refreshed by each successful read and
//! by a background task. It also remembers whether the store answered its last read ([`StoreHealth`]):
//! `/readyz` reports that, so a probe costs the store nothing.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::Store;
use crate::oncall::model::OnCallData;

/// Data younger than this is used without asking the store again.
const FRESH_FOR: Duration = Duration::from_secs(10);

/// How often the background task refreshes the cache: more often than data goes stale, so that while the
/// store answers no dial waits for a read of its own (and a busy night does not send every dial in the same
/// moment to the store when the data turns stale).
const REFRESH_EVERY: Duration = Duration::from_secs(5);
const _: () = assert!(REFRESH_EVERY.as_millis() < FRESH_FOR.as_millis());

/// When the data was read, and the data.
type Entry = (Instant, Arc<OnCallData>);

#[derive(Debug, Clone, Default)]
pub struct OnCallCache {
    inner: Arc<RwLock<Option<Entry>>>,
    /// The outcome of the last read of the store, and when.
    health: Arc<RwLock<Option<(Instant, bool)>>>,
    /// Set while the store answers without policies or rotations it gave before: the cache keeps the last
    /// good data instead.
    lost: Arc<std::sync::atomic::AtomicBool>,
}

/// Whether the store answered the cache's last read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreHealth {
    /// No read has ended yet (the process is starting).
    Unknown,
    /// The last read was answered, within the last few refreshes.
    Answering,
    /// The last read failed, or none has ended for longer than a few refreshes.
    Down,
    /// The store answers, but without escalation policies or rotations it held before (a Redis that
    /// restarted without its data): the last good data is used until an import writes them again.
    LostData,
}

/// Where on-call data came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// Read from the store just now.
    Store,
    /// Read recently enough to need no new read.
    Fresh,
    /// The store failed: the last data it gave.
    Stale,
}

impl OnCallCache {
    /// Takes data the store gave (so the store answered), and returns what to use: that data, or the last good
    /// data when the store lost policies or rotations it had (see [`StoreHealth::LostData`]). An import writes
    /// them all again, and the first read after it is taken as it is.
    pub(crate) fn put(&self, data: OnCallData) -> Arc<OnCallData> {
        self.record_read(true);
        let Ok(mut slot) = self.inner.write() else {
            return Arc::new(data);
        };
        let missing = slot
            .as_ref()
            .map(|(_, good)| missing_from(good, &data))
            .unwrap_or_default();
        let was_lost = self
            .lost
            .swap(!missing.is_empty(), std::sync::atomic::Ordering::Relaxed);
        metrics::gauge!(crate::metrics::ONCALL_DATA_LOST).set(if missing.is_empty() { 0.0 } else { 1.0 });
        if let Some((at, good)) = slot.as_mut().filter(|_| !missing.is_empty()) {
            if !was_lost {
                tracing::error!(
                    missing = %missing.join(", "),
                    "the on-call store answers without data it had (restarted empty?): bridging from the last \
                     good on-call data until the rotations are imported again"
                );
            }
            *at = Instant::now();
            return good.clone();
        }
        if was_lost {
            tracing::info!("the on-call store has its data again");
        }
        let data = Arc::new(data);
        *slot = Some((Instant::now(), data.clone()));
        data
    }

    /// Whether the store answered the last read: a read that ended longer ago than three refreshes counts as
    /// none answered, since the refresher reads every [`REFRESH_EVERY`].
    pub fn store_health(&self) -> StoreHealth {
        if self.lost.load(std::sync::atomic::Ordering::Relaxed) {
            return StoreHealth::LostData;
        }
        let Ok(slot) = self.health.read() else {
            return StoreHealth::Unknown;
        };
        match *slot {
            None => StoreHealth::Unknown,
            Some((at, true)) if at.elapsed() < 3 * REFRESH_EVERY => StoreHealth::Answering,
            Some(_) => StoreHealth::Down,
        }
    }

    fn record_read(&self, answered: bool) {
        if let Ok(mut slot) = self.health.write() {
            *slot = Some((Instant::now(), answered));
        }
    }

    /// The cached data and its age, if any.
    pub(crate) fn get(&self) -> Option<(Duration, Arc<OnCallData>)> {
        let slot = self.inner.read().ok()?;
        slot.as_ref().map(|(at, data)| (at.elapsed(), data.clone()))
    }

    /// Fresh data from the cache, else from the store within `deadline`, else the last data the store gave.
    pub(crate) async fn read(
        &self,
        store: &dyn Store,
        deadline: Duration,
    ) -> Result<(Arc<OnCallData>, Source), String> {
        if let Some((_, data)) = self.get().filter(|(age, _)| *age < FRESH_FOR) {
            return Ok((data, Source::Fresh));
        }
        let error = match tokio::time::timeout(deadline, store.load()).await {
            Ok(Ok(data)) => return Ok((self.put(data), Source::Store)),
            Ok(Err(error)) => error.to_string(),
            Err(_) => format!("no answer within {} ms", deadline.as_millis()),
        };
        self.record_read(false);
        metrics::counter!(crate::metrics::STORE_ERRORS, "operation" => "load").increment(1);
        match self.get() {
            Some((_, data)) => Ok((data, Source::Stale)),
            None => Err(error),
        }
    }

    /// Refreshes the cache from the store every [`REFRESH_EVERY`], for as long as the process runs.
    pub(crate) fn spawn_refresher(&self, store: Arc<dyn Store>) -> tokio::task::JoinHandle<()> {
        let cache = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(REFRESH_EVERY);
            loop {
                ticks.tick().await;
                let error = match tokio::time::timeout(REFRESH_EVERY, store.load()).await {
                    Ok(Ok(data)) => {
                        cache.put(data);
                        continue;
                    }
                    Ok(Err(error)) => error.to_string(),
                    Err(_) => "the store did not answer".to_owned(),
                };
                cache.record_read(false);
                tracing::warn!(%error, "on-call cache not refreshed");
            }
        })
    }
}

/// The escalation policies and rotations of `good` that `new` lacks, named.
fn missing_from(good: &OnCallData, new: &OnCallData) -> Vec<String> {
    let policies = good
        .policies
        .keys()
        .filter(|id| !new.policies.contains_key(*id))
        .map(|id| format!("policy {id}"));
    let rotations = good
        .rotations
        .keys()
        .filter(|id| !new.rotations.contains_key(*id))
        .map(|id| format!("rotation {id}"));
    policies.chain(rotations).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> Arc<OnCallData> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/oncall.toml");
        Arc::new(crate::oncall::file::load(&path).unwrap_or_else(|e| panic!("{e:?}")))
    }

    #[test]
    fn data_that_lost_policies_or_rotations_is_not_taken_until_they_are_back() {
        let cache = OnCallCache::default();
        let good = (*shipped()).clone();
        cache.put(good.clone());

        let kept = cache.put(OnCallData::default());

        assert_eq!(*kept, good, "a store that restarted empty does not empty the cache");
        assert_eq!(cache.store_health(), StoreHealth::LostData);
        let mut one_rotation_less = good.clone();
        one_rotation_less.rotations.remove("secondary");
        assert_eq!(*cache.put(one_rotation_less), good);

        let mut imported_again = good.clone();
        imported_again.engineers.remove("alice");
        assert_eq!(
            *cache.put(imported_again.clone()),
            imported_again,
            "every policy and rotation is back"
        );
        assert_ne!(cache.store_health(), StoreHealth::LostData);
    }

    #[tokio::test(start_paused = true)]
    async fn the_refresher_reads_the_store_again_before_the_data_goes_stale() {
        let store = Arc::new(super::super::memory::MemoryStore::new((*shipped()).clone()));
        let cache = OnCallCache::default();
        let refresher = cache.spawn_refresher(store.clone());
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert!(cache.get().is_some(), "read at start");

        let newcomer = crate::oncall::model::Engineer {
            id: "newcomer".into(),
            name: "New Comer".into(),
            phone: crate::phone::PhoneNumber::parse("+15550109999").unwrap(),
            time_zone: chrono_tz::America::New_York,
            email: None,
        };
        store.put_engineer(newcomer).await.unwrap();
        tokio::time::sleep(FRESH_FOR - Duration::from_millis(2)).await;

        let (_, data) = cache.get().unwrap();
        assert!(data.engineers.contains_key("newcomer"));
        refresher.abort();
    }
}
