//! Reading the rotation file: the serde types it deserializes into, and the parsers for the values those
//! types keep as text (time zones, shifts, a rotation's local start, instants), which the checks run.

use chrono::{DateTime, NaiveDateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::oncall::model::{DEFAULT_RING_TIMEOUT_SECS, Shift};

/// The rotation file as written. Values that need checking (phone numbers, zones, shifts, times) stay text
/// here, so that all their problems are reported together, each with its line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OnCallFile {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) engineers: Vec<EngineerEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) rotations: Vec<RotationEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) overrides: Vec<OverrideEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) policies: Vec<PolicyEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EngineerEntry {
    pub(crate) id: String,
    pub(crate) name: String,
    /// E.164.
    pub(crate) phone: String,
    /// An IANA zone name.
    pub(crate) time_zone: String,
    /// How a case system names them as a customer's TAM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RotationEntry {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) time_zone: String,
    /// The local wall time of the first handoff, without an offset; not needed with a `source`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) start: Option<DateText>,
    /// `"7d"` or `"12h"`; not needed with a `source`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) shift: Option<String>,
    /// Engineer ids in the order they take shifts; may be empty.
    #[serde(default)]
    pub(crate) participants: Vec<String>,
    /// An iCalendar feed URL the shifts come from instead of the participants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) source: Option<String>,
    /// Seconds between fetches of `source`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) refresh_secs: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OverrideEntry {
    /// Generated from the rotation and the start when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<String>,
    pub(crate) rotation: String,
    pub(crate) engineer: String,
    /// RFC 3339 with an offset.
    pub(crate) start: DateText,
    pub(crate) end: DateText,
    /// RFC 3339; the place in the file when absent (see the module documentation). Never exported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) created: Option<DateText>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PolicyEntry {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) repeat: u32,
    #[serde(default)]
    pub(crate) tiers: Vec<TierEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TierEntry {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) rotations: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) engineers: Vec<String>,
    /// Rings the Technical Account Manager of the call's case.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) case_tam: bool,
    #[serde(default = "default_ring_timeout")]
    pub(crate) ring_timeout_secs: u32,
}

fn default_ring_timeout() -> u32 {
    DEFAULT_RING_TIMEOUT_SECS
}

/// A date-time as written: a string, or a TOML date-time (kept as its text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub(crate) struct DateText(pub(crate) String);

impl<'de> Deserialize<'de> for DateText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match toml::Value::deserialize(d)? {
            toml::Value::String(text) => Ok(DateText(text)),
            toml::Value::Datetime(t) => Ok(DateText(t.to_string())),
            other => Err(serde::de::Error::custom(format!(
                "invalid type: {}, expected a date and time such as \"2026-01-05T10:00:00\"",
                other.type_str()
            ))),
        }
    }
}

/// A time zone by its IANA name.
pub(super) fn parse_time_zone(name: &str) -> Result<Tz, String> {
    name.parse()
        .map_err(|_| format!("unknown time zone {name:?}: expected an IANA name such as America/New_York"))
}

/// A shift: `"7d"` or `"12h"`.
pub(super) fn parse_shift(text: &str) -> Result<Shift, String> {
    // No valid shift has a character outside ASCII.
    if text.is_ascii() {
        text.parse()
    } else {
        Err(format!(
            "invalid shift {text:?}: expected a whole number of days or hours above zero, e.g. \"7d\" or \"12h\""
        ))
    }
}

/// A rotation's start: local wall time without an offset (seconds optional, `T` or a space).
pub(crate) fn parse_local(text: &str) -> Result<NaiveDateTime, String> {
    [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
    .ok_or_else(|| {
        format!(
            "invalid start {text:?}: expected a local date and time without an offset (the rotation's \
                 time_zone places it), e.g. \"2026-01-05T10:00:00\""
        )
    })
}

/// An instant in RFC 3339, with its offset.
pub(crate) fn parse_instant(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text).map(|t| t.to_utc()).map_err(|_| {
        format!("invalid time {text:?}: expected RFC 3339 with an offset, e.g. \"2026-12-24T18:00:00-05:00\"")
    })
}
