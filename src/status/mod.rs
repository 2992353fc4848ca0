//! Status announcements: an Atlassian Statuspage v2 `summary.json` fetched in the background every
//! `refresh_secs` and kept in memory, so that the flow's `status` step can tell a caller about a known
//! incident without ever waiting on the network.
//!
//! - [`StatusPageSettings`]: `[status_page]` in the configuration.
//! - [`StatusCache`]: the last announcement and when it was fetched; readers take a short read lock, never
//!   held across an await. A copy older than `max_age_secs` is not announced.
//! - [`Fetcher`]: one capped, time-limited `GET` of the summary.
//! - [`start_refresher`]: the background task, spawned by `serve` only (tests run [`refresh`] or
//!   [`spawn_refresher`] themselves). A failed fetch is logged and keeps the last good copy, which then ages
//!   out.
//! - [`summary`]: the summary's shape and [`summary::announcement`], the pure part.

pub mod summary;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::server::AppState;
pub use summary::{Summary, announcement};

// ---------------------------------------------------------------------------------------------------------
// Settings

/// `[status_page]`: where the summary is and how it is fetched. Without the section the `status` step says
/// nothing.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawStatusPageSettings")]
pub struct StatusPageSettings {
    /// `https://status.example.com/api/v2/summary.json`.
    pub url: String,
    /// How often the summary is fetched.
    pub refresh_secs: u64,
    /// A copy older than this (the page unreachable since) is not announced.
    pub max_age_secs: u64,
    /// One fetch, connection to last byte.
    pub timeout_ms: u64,
    /// Answers larger than this are refused unread.
    pub max_body_bytes: usize,
}

impl StatusPageSettings {
    /// The settings for `url` with every default.
    pub fn with_url(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            refresh_secs: DEFAULT_REFRESH_SECS,
            max_age_secs: DEFAULT_MAX_AGE_SECS,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES as usize,
        }
    }
}

const DEFAULT_REFRESH_SECS: u64 = 30;
const DEFAULT_MAX_AGE_SECS: u64 = 300;
const DEFAULT_TIMEOUT_MS: u64 = 5000;
const DEFAULT_MAX_BODY_BYTES: u64 = 1024 * 1024;

/// The section as written; checked into [`StatusPageSettings`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStatusPageSettings {
    url: StatusUrl,
    #[serde(default = "Bounded::default_refresh")]
    refresh_secs: Bounded<5, 3600>,
    #[serde(default = "Bounded::default_max_age")]
    max_age_secs: Bounded<10, 86_400>,
    #[serde(default = "Bounded::default_timeout")]
    timeout_ms: Bounded<100, 30_000>,
    #[serde(default = "Bounded::default_max_body")]
    max_body_bytes: Bounded<1024, { 16 * 1024 * 1024 }>,
}

impl TryFrom<RawStatusPageSettings> for StatusPageSettings {
    type Error = String;
    fn try_from(raw: RawStatusPageSettings) -> Result<Self, String> {
        let (refresh, max_age, timeout) = (raw.refresh_secs.0, raw.max_age_secs.0, raw.timeout_ms.0);
        if max_age * 1000 < refresh * 1000 + timeout {
            return Err(format!(
                "max_age_secs = {max_age} is shorter than refresh_secs plus timeout_ms ({refresh} s + {timeout} ms): \
                 the announcement would go stale between two fetches that succeed"
            ));
        }
        Ok(Self {
            url: raw.url.0,
            refresh_secs: refresh,
            max_age_secs: max_age,
            timeout_ms: timeout,
            max_body_bytes: raw.max_body_bytes.0 as usize,
        })
    }
}

/// An absolute `http://` or `https://` URL.
#[derive(Deserialize)]
#[serde(try_from = "String")]
struct StatusUrl(String);

impl TryFrom<String> for StatusUrl {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        match reqwest::Url::parse(&text) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => Ok(Self(text)),
            _ => Err(format!(
                "invalid URL {text:?}: expected the page's summary, e.g. https://status.example.com/api/v2/summary.json"
            )),
        }
    }
}

/// An integer from `MIN` to `MAX`.
#[derive(Deserialize)]
#[serde(try_from = "u64")]
struct Bounded<const MIN: u64, const MAX: u64>(u64);

impl<const MIN: u64, const MAX: u64> TryFrom<u64> for Bounded<MIN, MAX> {
    type Error = String;
    fn try_from(n: u64) -> Result<Self, String> {
        if (MIN..=MAX).contains(&n) {
            Ok(Self(n))
        } else {
            Err(format!("{n} is out of range: expected {MIN} to {MAX}"))
        }
    }
}

impl<const MIN: u64, const MAX: u64> Bounded<MIN, MAX> {
    fn default_refresh() -> Self {
        Self(DEFAULT_REFRESH_SECS)
    }
    fn default_max_age() -> Self {
        Self(DEFAULT_MAX_AGE_SECS)
    }
    fn default_timeout() -> Self {
        Self(DEFAULT_TIMEOUT_MS)
    }
    fn default_max_body() -> Self {
        Self(DEFAULT_MAX_BODY_BYTES)
    }
}

// ---------------------------------------------------------------------------------------------------------
// The cache

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

/// One successful fetch: when, and what it has to say (none: nothing unresolved or in progress).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub fetched_at: DateTime<Utc>,
    pub announcement: Option<String>,
}

/// What the cache holds at an instant, as the `status` step reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reading {
    /// No fetch has succeeded yet.
    NotFetched,
    /// The last good fetch is older than `max_age` (or later than now by more than that).
    Stale { age_secs: i64 },
    /// Fresh, and nothing to announce.
    Clear { age_secs: i64 },
    /// Fresh, with this to say.
    Announce { text: String, age_secs: i64 },
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
    pub fn for_settings(settings: Option<&StatusPageSettings>) -> Option<Self> {
        settings.map(|s| Self::new(Duration::from_secs(s.max_age_secs)))
    }

    pub fn max_age(&self) -> Duration {
        self.inner.max_age
    }

    /// Replaces the copy (the refresher after each successful fetch; tests).
    pub fn store(&self, fetched_at: DateTime<Utc>, announcement: Option<String>) {
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
    pub fn read(&self, now: DateTime<Utc>) -> Reading {
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
            Some(text) => Reading::Announce { text, age_secs },
            None => Reading::Clear { age_secs },
        }
    }

    /// The announcement, when the copy is younger than `max_age` and has one.
    pub fn current(&self, now: DateTime<Utc>) -> Option<String> {
        match self.read(now) {
            Reading::Announce { text, .. } => Some(text),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Fetching

/// Why a fetch gave nothing usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    #[error("no answer within {0} ms")]
    Timeout(u64),
    #[error("cannot reach the status page: {0}")]
    Connect(String),
    #[error("the status page answered HTTP {0}")]
    Status(u16),
    #[error("the status page's answer is over {0} bytes")]
    TooLarge(usize),
    #[error("the status page's answer is not a Statuspage v2 summary: {0}")]
    Format(String),
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
}

/// Fetches the summary: one `GET`, at most `timeout_ms` from connecting to the last byte, at most
/// `max_body_bytes` read, at most three redirects.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    url: String,
    timeout: Duration,
    max_body_bytes: usize,
}

impl Fetcher {
    pub fn new(settings: &StatusPageSettings) -> Result<Self, StatusError> {
        let timeout = Duration::from_millis(settings.timeout_ms);
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!("afterhours/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| StatusError::Client(e.to_string()))?;
        Ok(Self {
            client,
            url: settings.url.clone(),
            timeout,
            max_body_bytes: settings.max_body_bytes,
        })
    }

    /// The summary, or why not.
    pub async fn fetch(&self) -> Result<Summary, StatusError> {
        let body = match tokio::time::timeout(self.timeout, self.body()).await {
            Ok(body) => body?,
            Err(_) => return Err(StatusError::Timeout(self.timeout.as_millis() as u64)),
        };
        serde_json::from_slice(&body).map_err(|e| {
            let start: String = String::from_utf8_lossy(&body[..body.len().min(40)])
                .chars()
                .filter(|c| !c.is_control())
                .collect();
            StatusError::Format(format!("{e} (body starts {start:?})"))
        })
    }

    async fn body(&self) -> Result<Vec<u8>, StatusError> {
        let request = self.client.get(&self.url).header("accept", "application/json");
        let mut response = request.send().await.map_err(|e| self.classify(&e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(StatusError::Status(status.as_u16()));
        }
        let too_large = StatusError::TooLarge(self.max_body_bytes);
        if response
            .content_length()
            .is_some_and(|n| n > self.max_body_bytes as u64)
        {
            return Err(too_large);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.classify(&e))? {
            if body.len() + chunk.len() > self.max_body_bytes {
                return Err(too_large);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    fn classify(&self, error: &reqwest::Error) -> StatusError {
        if error.is_timeout() {
            return StatusError::Timeout(self.timeout.as_millis() as u64);
        }
        let text = crate::cases::describe_http_error(error);
        StatusError::Connect(text)
    }
}

/// One refresh: fetches, and on success stores the announcement with the time the answer came (read from
/// `clock` after the fetch). On failure the cache keeps what it had. Returns what was stored.
pub async fn refresh(fetcher: &Fetcher, cache: &StatusCache, clock: &dyn Clock) -> Result<Option<String>, StatusError> {
    let summary = fetcher.fetch().await?;
    let text = announcement(&summary);
    cache.store(clock.now(), text.clone());
    Ok(text)
}

/// Refreshes `cache` every `refresh_secs`, the first time at once, until the task is aborted or the runtime
/// stops. A slow fetch delays the next one; it never holds a reader.
pub fn spawn_refresher(
    settings: &StatusPageSettings,
    cache: StatusCache,
    clock: Arc<dyn Clock>,
) -> Result<JoinHandle<()>, StatusError> {
    let fetcher = Fetcher::new(settings)?;
    let every = Duration::from_secs(settings.refresh_secs);
    let url = settings.url.clone();
    Ok(tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failures: u64 = 0;
        let mut last: Option<Option<String>> = None;
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

/// Starts the refresher for the state's configuration, if it has a `[status_page]`: `serve` calls this once.
pub fn start_refresher(state: &AppState) -> Option<JoinHandle<()>> {
    let settings = state.config.settings.status_page.as_ref()?;
    let cache = state.services.status.clone()?;
    match spawn_refresher(settings, cache, state.clock.clone()) {
        Ok(handle) => {
            tracing::info!(
                url = %settings.url,
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

    fn parse(text: &str) -> Result<StatusPageSettings, String> {
        let table: toml::Table = text.parse().unwrap();
        crate::config::toml_file::from_table(table).map_err(|(key, message)| format!("{key}: {message}"))
    }

    #[test]
    fn settings_have_defaults() {
        assert_eq!(
            parse("url = \"https://status.example.com/api/v2/summary.json\"").unwrap(),
            StatusPageSettings::with_url("https://status.example.com/api/v2/summary.json")
        );
        let settings = StatusPageSettings::with_url("https://x.example/s.json");
        assert_eq!(
            (
                settings.refresh_secs,
                settings.max_age_secs,
                settings.timeout_ms,
                settings.max_body_bytes
            ),
            (30, 300, 5000, 1_048_576)
        );
    }

    #[test]
    fn settings_refuse_what_cannot_work() {
        let url = "url = \"https://status.example.com/api/v2/summary.json\"\n";
        for (extra, expected) in [
            (
                "refresh_secs = 0",
                "refresh_secs: 0 is out of range: expected 5 to 3600",
            ),
            (
                "timeout_ms = 60000",
                "timeout_ms: 60000 is out of range: expected 100 to 30000",
            ),
            (
                "max_body_bytes = 10",
                "max_body_bytes: 10 is out of range: expected 1024 to 16777216",
            ),
            (
                "max_age_secs = 30",
                "max_age_secs = 30 is shorter than refresh_secs plus timeout_ms",
            ),
            ("refresh = 30", "unknown field `refresh`"),
        ] {
            let error = parse(&format!("{url}{extra}")).unwrap_err();
            assert!(error.contains(expected), "{extra}: {error}");
        }
        for bad in [
            "status.example.com/summary.json",
            "ftp://status.example.com/x",
            "https://",
        ] {
            let error = parse(&format!("url = \"{bad}\"")).unwrap_err();
            assert!(error.starts_with("url: invalid URL"), "{bad}: {error}");
        }
        assert!(parse("refresh_secs = 30").unwrap_err().contains("missing field `url`"));
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
            Some("We are aware of an incident.".into()),
        );
        assert_eq!(
            cache.read(now),
            Reading::Announce {
                text: "We are aware of an incident.".into(),
                age_secs: 120
            }
        );
        assert_eq!(
            cache.current(at("2026-11-27T20:03:00-05:00")).as_deref(),
            Some("We are aware of an incident.")
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
        cache.store(now, Some("Text.".into()));
        assert_eq!(reader.current(now).as_deref(), Some("Text."));
    }
}
