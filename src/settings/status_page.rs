//! `[status_page]`: where the status page's summary is, how often and within what limits it is fetched, and
//! how long a copy may be announced. The section as written is checked into [`StatusPageSettings`] when the
//! configuration is read, so that a setting that cannot work is refused at start.
//!
//! Nothing here depends on the rest of the crate: the configuration reads these types without reaching into
//! the status page's fetching or cache.

use serde::Deserialize;

use super::Bounded;

/// `[status_page]`: where the summary is and how it is fetched. Without the section the `status` step says
/// nothing.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawStatusPageSettings")]
pub struct StatusPageSettings {
    /// `https://status.example.com/api/v2/summary.json`.
    pub(crate) url: String,
    /// How often the summary is fetched.
    pub(crate) refresh_secs: u64,
    /// A copy older than this (the page unreachable since) is not announced.
    pub max_age_secs: u64,
    /// One fetch, connection to last byte.
    pub(crate) timeout_ms: u64,
    /// Answers larger than this are refused unread.
    pub(crate) max_body_bytes: usize,
}

impl StatusPageSettings {
    /// The settings for `url` with every default.
    #[cfg(test)]
    fn with_url(url: &str) -> Self {
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
    #[serde(default = "default_refresh")]
    refresh_secs: Bounded<5, 3600>,
    #[serde(default = "default_max_age")]
    max_age_secs: Bounded<10, 86_400>,
    #[serde(default = "default_timeout")]
    timeout_ms: Bounded<100, 30_000>,
    #[serde(default = "default_max_body")]
    max_body_bytes: Bounded<1024, { 16 * 1024 * 1024 }>,
}

fn default_refresh() -> Bounded<5, 3600> {
    Bounded::of::<DEFAULT_REFRESH_SECS>()
}

fn default_max_age() -> Bounded<10, 86_400> {
    Bounded::of::<DEFAULT_MAX_AGE_SECS>()
}

fn default_timeout() -> Bounded<100, 30_000> {
    Bounded::of::<DEFAULT_TIMEOUT_MS>()
}

fn default_max_body() -> Bounded<1024, { 16 * 1024 * 1024 }> {
    Bounded::of::<DEFAULT_MAX_BODY_BYTES>()
}

impl TryFrom<RawStatusPageSettings> for StatusPageSettings {
    type Error = String;
    fn try_from(raw: RawStatusPageSettings) -> Result<Self, String> {
        let (refresh, max_age, timeout) = (raw.refresh_secs.get(), raw.max_age_secs.get(), raw.timeout_ms.get());
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
            max_body_bytes: raw.max_body_bytes.get() as usize,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The section from TOML text, or the first error as `key: message`.
    fn parse(text: &str) -> Result<StatusPageSettings, String> {
        let table: toml::Table = text.parse().unwrap();
        serde_path_to_error::deserialize(toml::Value::Table(table))
            .map_err(|e| format!("{}: {}", e.path(), e.inner().message()))
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
}
