//! The last on-call data read from the store, kept in memory so that a call is still bridged when Redis is
//! down, and so that a busy night does not read Redis for every dial. Refreshed by each successful read and
//! by a background task.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::model::{OnCallData, TierOnCall};
use super::store::Store;

/// Data younger than this is used without asking the store again.
pub const FRESH_FOR: Duration = Duration::from_secs(10);

/// How often the background task refreshes the cache: more often than data goes stale, so that while the
/// store answers no dial waits for a read of its own (and a busy night does not send every dial in the same
/// moment to the store when the data turns stale).
pub const REFRESH_EVERY: Duration = Duration::from_secs(5);
const _: () = assert!(REFRESH_EVERY.as_millis() < FRESH_FOR.as_millis());

/// When the data was read, and the data.
type Entry = (Instant, Arc<OnCallData>);

#[derive(Debug, Clone, Default)]
pub struct OnCallCache {
    inner: Arc<RwLock<Option<Entry>>>,
    /// The last chain worked out for each policy: from which data, in which second.
    chains: Arc<Mutex<HashMap<String, Worked>>>,
}

/// The tiers to try, in order (repeats included, empty tiers skipped), as [`OnCallCache::attempts`] gives
/// them.
pub type Attempts = Arc<Vec<TierOnCall>>;

#[derive(Debug)]
struct Worked {
    data: Arc<OnCallData>,
    second: i64,
    attempts: Option<Attempts>,
}

/// Where on-call data came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Read from the store just now.
    Store,
    /// Read recently enough to need no new read.
    Fresh,
    /// The store failed: the last data it gave.
    Stale,
}

impl OnCallCache {
    pub fn put(&self, data: OnCallData) -> Arc<OnCallData> {
        let data = Arc::new(data);
        if let Ok(mut slot) = self.inner.write() {
            *slot = Some((Instant::now(), data.clone()));
        }
        data
    }

    /// The cached data and its age, if any.
    pub fn get(&self) -> Option<(Duration, Arc<OnCallData>)> {
        let slot = self.inner.read().ok()?;
        slot.as_ref().map(|(at, data)| (at.elapsed(), data.clone()))
    }

    /// Fresh data from the cache, else from the store within `deadline`, else the last data the store gave.
    pub async fn read(&self, store: &dyn Store, deadline: Duration) -> Result<(Arc<OnCallData>, Source), String> {
        if let Some((_, data)) = self.get().filter(|(age, _)| *age < FRESH_FOR) {
            return Ok((data, Source::Fresh));
        }
        let error = match tokio::time::timeout(deadline, store.load()).await {
            Ok(Ok(data)) => return Ok((self.put(data), Source::Store)),
            Ok(Err(error)) => error.to_string(),
            Err(_) => format!("no answer within {} ms", deadline.as_millis()),
        };
        metrics::counter!(crate::metrics::STORE_ERRORS, "operation" => "load").increment(1);
        match self.get() {
            Some((_, data)) => Ok((data, Source::Stale)),
            None => Err(error),
        }
    }

    /// The tiers to try for `policy` at `t` in `data` (`None`: no such policy); worked out at most once a
    /// second for the same data, so that a busy night does not walk the rotations for every dial. A shift
    /// that changes hands within that second is seen at the next one.
    pub fn attempts(&self, data: &Arc<OnCallData>, policy: &str, t: DateTime<Utc>) -> Option<Attempts> {
        let second = t.timestamp();
        let mut chains = self.chains.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(worked) = chains.get(policy)
            && worked.second == second
            && Arc::ptr_eq(&worked.data, data)
        {
            return worked.attempts.clone();
        }
        let attempts = data
            .on_call(policy, t)
            .map(|chain| Arc::new(chain.attempts().into_iter().cloned().collect::<Vec<_>>()));
        let worked = Worked {
            data: data.clone(),
            second,
            attempts: attempts.clone(),
        };
        chains.insert(policy.to_owned(), worked);
        attempts
    }

    /// Refreshes the cache from the store every [`REFRESH_EVERY`], for as long as the process runs.
    pub fn spawn_refresher(&self, store: Arc<dyn Store>) -> tokio::task::JoinHandle<()> {
        let cache = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(REFRESH_EVERY);
            loop {
                ticks.tick().await;
                match tokio::time::timeout(Duration::from_secs(5), store.load()).await {
                    Ok(Ok(data)) => {
                        cache.put(data);
                    }
                    Ok(Err(error)) => tracing::warn!(%error, "on-call cache not refreshed"),
                    Err(_) => tracing::warn!("on-call cache not refreshed: the store did not answer"),
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> Arc<OnCallData> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/oncall.toml");
        Arc::new(super::super::file::load(&path).unwrap_or_else(|e| panic!("{e:?}")))
    }

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_chain_is_worked_out_once_a_second_for_the_same_data() {
        let (cache, data) = (OnCallCache::default(), shipped());
        let first = cache
            .attempts(&data, "default", at("2026-11-27T20:00:00.100-05:00"))
            .unwrap();
        let same_second = cache
            .attempts(&data, "default", at("2026-11-27T20:00:00.900-05:00"))
            .unwrap();
        assert!(Arc::ptr_eq(&first, &same_second));
        let next_second = cache
            .attempts(&data, "default", at("2026-11-27T20:00:01-05:00"))
            .unwrap();
        assert!(!Arc::ptr_eq(&first, &next_second));
        assert_eq!(first, next_second, "nobody changed hands");
        let new_data = shipped();
        let reread = cache
            .attempts(&new_data, "default", at("2026-11-27T20:00:01-05:00"))
            .unwrap();
        assert!(
            !Arc::ptr_eq(&next_second, &reread),
            "data read again is worked out again"
        );
        assert!(
            cache
                .attempts(&data, "no-such-policy", at("2026-11-27T20:00:01-05:00"))
                .is_none()
        );
    }

    #[test]
    fn each_second_sees_the_chain_of_that_second() {
        let (cache, data) = (OnCallCache::default(), shipped());
        // A week apart the rotation has moved on: the memo never answers for another second.
        let friday = at("2026-11-27T20:00:00-05:00");
        let week_later = friday + chrono::Duration::days(7);
        let worked_out = |t| -> Vec<TierOnCall> {
            data.on_call("default", t)
                .unwrap()
                .attempts()
                .into_iter()
                .cloned()
                .collect()
        };
        assert_eq!(*cache.attempts(&data, "default", friday).unwrap(), worked_out(friday));
        assert_eq!(
            *cache.attempts(&data, "default", week_later).unwrap(),
            worked_out(week_later)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_refresher_reads_the_store_again_before_the_data_goes_stale() {
        let store = Arc::new(super::super::memory::MemoryStore::new((*shipped()).clone()));
        let cache = OnCallCache::default();
        let refresher = cache.spawn_refresher(store.clone());
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert!(cache.get().is_some(), "read at start");

        let newcomer = super::super::model::Engineer {
            id: "newcomer".into(),
            name: "New Comer".into(),
            phone: crate::phone::PhoneNumber::parse("+15550109999").unwrap(),
            time_zone: chrono_tz::America::New_York,
        };
        store.put_engineer(newcomer).await.unwrap();
        tokio::time::sleep(FRESH_FOR - Duration::from_millis(2)).await;

        let (_, data) = cache.get().unwrap();
        assert!(data.engineers.contains_key("newcomer"));
        refresher.abort();
    }
}
