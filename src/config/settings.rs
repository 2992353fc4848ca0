//! The typed shape of `config/afterhours.toml`. Every struct refuses unknown keys; values that can be wrong
//! (time zones, phone numbers, URLs, names) are parsed into types here, so a bad one is reported with its key.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use crate::phone::PhoneNumber;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub server: ServerSettings,
    #[serde(default)]
    pub provider: ProviderSettings,
    #[serde(default)]
    pub redis: RedisSettings,
    #[serde(default)]
    pub paths: PathSettings,
    /// Support lines by name; the name appears in webhook URLs and environment overrides.
    pub lines: BTreeMap<Name, LineSettings>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Address and port the webhook server listens on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The public base URL the provider reaches us at (TLS usually ends at a proxy in front). Every URL we
    /// hand to the provider is built from it, and signatures are checked against it: never against `Host`.
    #[serde(default = "default_public_url")]
    pub public_url: BaseUrl,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            public_url: default_public_url(),
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

fn default_public_url() -> BaseUrl {
    BaseUrl("http://127.0.0.1:8080".into())
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSettings {
    #[serde(default)]
    pub kind: ProviderKind,
    /// Check `X-Twilio-Signature` on every `/voice/` request. Turning it off is for local experiments only;
    /// `check` and the start-up log warn about it.
    #[serde(default = "yes")]
    pub validate_signatures: bool,
    /// The text-to-speech voice for `<Say>`.
    #[serde(default = "default_voice")]
    pub voice: String,
    /// The language of every prompt: after-hours support is in English only.
    #[serde(default = "default_language")]
    pub language: EnglishTag,
}

impl Default for ProviderSettings {
    fn default() -> Self {
        Self {
            kind: ProviderKind::default(),
            validate_signatures: true,
            voice: default_voice(),
            language: default_language(),
        }
    }
}

fn yes() -> bool {
    true
}

fn default_voice() -> String {
    "Polly.Joanna".into()
}

fn default_language() -> EnglishTag {
    EnglishTag("en-US".into())
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    #[default]
    Twilio,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    /// `redis://host:port/db`; empty or absent: the embedded in-memory store, which persists nothing.
    #[serde(default)]
    pub url: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathSettings {
    /// Folder of calendar files, relative to the configuration file's folder.
    #[serde(default = "default_calendars")]
    pub calendars: PathBuf,
    /// Folder of voice flow files, relative to the configuration file's folder.
    #[serde(default = "default_flows")]
    pub flows: PathBuf,
}

impl Default for PathSettings {
    fn default() -> Self {
        Self {
            calendars: default_calendars(),
            flows: default_flows(),
        }
    }
}

fn default_calendars() -> PathBuf {
    "calendars".into()
}

fn default_flows() -> PathBuf {
    "../voice-flows".into()
}

/// One support line: a dialled number and how calls to it are answered.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineSettings {
    /// The number customers dial (the webhook's `To`).
    pub number: PhoneNumber,
    /// What the line is called in prompts ("North America support").
    pub name: String,
    /// IANA time zone of the line's region.
    pub time_zone: TimeZone,
    /// How the zone is spoken ("Eastern time"); derived from the zone when absent.
    #[serde(default)]
    pub time_zone_name: Option<String>,
    /// Calendar file name under the calendars folder, without `.toml`.
    pub calendar: Name,
    /// Voice flow file name under the flows folder, without `.toml`.
    pub flow: Name,
    /// Escalation policy that the bridge step rings.
    #[serde(default = "default_policy")]
    pub escalation_policy: Name,
    #[serde(default)]
    pub mode: Mode,
    /// Calls to a number that matches no line go to the line marked default (at most one).
    #[serde(default)]
    pub default: bool,
    /// The normal support channel, spoken to callers inside business hours ("the support portal at ...").
    pub support_channel: String,
}

fn default_policy() -> Name {
    Name("default".into())
}

/// `auto` follows the calendar; the two others pin the answer, for drills and maintenance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    #[default]
    Auto,
    AlwaysAfterHours,
    AlwaysBusinessHours,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Auto => "auto",
            Mode::AlwaysAfterHours => "always-after-hours",
            Mode::AlwaysBusinessHours => "always-business-hours",
        })
    }
}

/// A name used in URLs, file names and environment variables: lowercase ASCII letters, digits, `_` and `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct Name(String);

impl Name {
    pub fn parse(text: &str) -> Result<Self, String> {
        let ok = !text.is_empty()
            && text.len() <= 64
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(format!(
                "invalid name {text:?}: expected 1 to 64 lowercase letters, digits, '_' or '-'"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Name {
    type Error = String;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::borrow::Borrow<str> for Name {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// An IANA time zone name, checked against the tz database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct TimeZone(pub chrono_tz::Tz);

impl TryFrom<String> for TimeZone {
    type Error = String;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse::<chrono_tz::Tz>()
            .map(TimeZone)
            .map_err(|_| format!("unknown time zone {text:?}: expected an IANA name such as America/New_York"))
    }
}

/// An absolute `http(s)://` base URL without query or trailing slash.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct BaseUrl(String);

impl BaseUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for BaseUrl {
    type Error = String;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        let rest = text.strip_prefix("https://").or_else(|| text.strip_prefix("http://"));
        let host = rest.map(|r| r.split('/').next().unwrap_or(""));
        match host {
            Some(host) if !host.is_empty() && !text.contains(['?', '#', ' ']) => {
                Ok(BaseUrl(text.trim_end_matches('/').to_owned()))
            }
            _ => Err(format!(
                "invalid public URL {text:?}: expected an absolute http:// or https:// URL without query, \
                 e.g. https://voice.example.com"
            )),
        }
    }
}

/// A language tag for `<Say>`; only English tags are accepted (`en-US`, `en-GB`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct EnglishTag(String);

impl EnglishTag {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EnglishTag {
    type Error = String;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        let ok = text.len() == 5 && text.starts_with("en-") && text[3..].bytes().all(|b| b.is_ascii_uppercase());
        if ok {
            Ok(EnglishTag(text))
        } else {
            Err(format!(
                "invalid language {text:?}: after-hours support is English only; expected en-US, en-GB, en-AU ..."
            ))
        }
    }
}
