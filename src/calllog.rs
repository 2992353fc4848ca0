//! The call log: one record per call (line, caller, case, every decision with its time, every dial, who
//! accepted, the voicemail, the duration), kept in a Redis stream with a bounded length.
//!
//! Each webhook adds what it decided to the call's working record, after the answer is sent: it hands a
//! [`CallEntry`] to the call log's writer (`crate::store::call_log::Writer`), which writes the entries that
//! have queued up in one pipeline. The record is closed into the stream once, through the same writer (so
//! after what the call's webhooks added):
//! by the provider's final call-status callback (which brings the duration), or, if that callback is not
//! configured, a few minutes after the call hung up.
//!
//! A signed webhook can be replayed (the provider's signature carries no time), so the working record is
//! idempotent and bounded: each entry names its webhook ([`webhook_id`]), a call's record keeps one entry per
//! webhook and at most [`MAX_ENTRIES_PER_CALL`] of them (those past the cap are only counted, in
//! [`CallRecord::entries_dropped`]), and a webhook that comes after its call was logged adds nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One call, as the log keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    pub call_sid: String,
    /// When the first webhook of the call came.
    pub started: Option<DateTime<Utc>>,
    /// `line`, `from` (the full number, for call-backs), `to`, `case`, `decision`, `customer`, `dialled`,
    /// `accepted`, `recording`: whichever the call got to.
    pub summary: BTreeMap<String, String>,
    /// Every decision, in order, with its time.
    pub events: Vec<CallEvent>,
    /// From the call-status callback: the final status and the duration in seconds.
    pub status: Option<String>,
    pub duration_secs: Option<u64>,
    /// Webhooks of the call that came once the record held [`MAX_ENTRIES_PER_CALL`] entries: counted, not
    /// kept (a replay of one of them counts again).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub entries_dropped: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The most entries a call's working record keeps: a real call has a few dozen webhooks at most (each digit
/// entry, each dial, each engineer's answer), so this bounds what a replayed or runaway webhook can cost the
/// store, per call, to a few tens of kilobytes.
pub const MAX_ENTRIES_PER_CALL: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallEvent {
    pub at: DateTime<Utc>,
    pub what: String,
}

/// What one webhook adds to its call's working record: summary fields (the latest value wins; `started` is
/// kept from the first) and events, the record kept for `ttl`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallEntry {
    pub call_sid: String,
    /// The webhook this entry comes from ([`webhook_id`]): a call's record keeps one entry per webhook.
    pub webhook: String,
    pub started: DateTime<Utc>,
    pub summary: Vec<(String, String)>,
    pub events: Vec<CallEvent>,
    pub ttl: Duration,
}

/// Closing a call's working record into the log, with what the final status callback said. The log keeps
/// about `max_records` records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallClose {
    pub call_sid: String,
    pub status: Option<String>,
    pub duration_secs: Option<u64>,
    pub max_records: u64,
}

impl CallRecord {
    pub(crate) fn case(&self) -> Option<&str> {
        self.summary.get("case").map(String::as_str)
    }

    /// One line for a terminal: when, line, masked caller, case, decision, who accepted, duration.
    pub(crate) fn one_line(&self) -> String {
        let get = |k: &str| self.summary.get(k).map(String::as_str).unwrap_or("-");
        format!(
            "{}  {}  line {}  from {}  case {}  {}  accepted {}  {}  {}",
            self.started.map_or_else(|| "-".to_owned(), |t| t.to_rfc3339()),
            self.call_sid,
            get("line"),
            crate::phone::mask(get("from")),
            get("case"),
            get("decision"),
            get("accepted"),
            self.duration_secs.map_or_else(|| "-".to_owned(), |d| format!("{d} s")),
            self.summary.get("recording").map_or("", |_| "voicemail"),
        )
    }
}

/// The identity of a webhook: a hash of its route (`incoming`, `step/{step}[/{event}]`), its query (the
/// call's state) and its form fields in the order they came, which is everything its signature covers. A
/// replay, or the provider's retry, of one webhook has the same identity; two webhooks of a call differ in
/// their route, their state or their fields. 64 bits, as 16 hex digits: a call has at most
/// [`MAX_ENTRIES_PER_CALL`] entries, so a collision is out of reach.
pub fn webhook_id(route: &str, query: &str, fields: &[(String, String)]) -> String {
    use sha1::Digest;
    let mut hash = sha1::Sha1::new();
    // Each part with its length first, so that no two lists of parts hash alike.
    let mut part = |bytes: &[u8]| {
        hash.update((bytes.len() as u64).to_le_bytes());
        hash.update(bytes);
    };
    part(route.as_bytes());
    part(query.as_bytes());
    for (name, value) in fields {
        part(name.as_bytes());
        part(value.as_bytes());
    }
    let digest = hash.finalize();
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Final call statuses: the call is over.
pub(crate) fn is_final(status: &str) -> bool {
    matches!(status, "completed" | "busy" | "failed" | "no-answer" | "canceled")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_prints_on_one_line_with_the_caller_masked() {
        let mut record = CallRecord {
            call_sid: "CA1".into(),
            duration_secs: Some(42),
            ..CallRecord::default()
        };
        record.summary.insert("from".into(), "+15551234567".into());
        record.summary.insert("case".into(), "123456".into());
        record.summary.insert("decision".into(), "verified".into());
        let line = record.one_line();
        assert!(line.contains("from +*******4567"), "{line}");
        assert!(line.contains("case 123456  verified"), "{line}");
        assert!(line.ends_with("42 s  "), "{line}");
    }

    #[test]
    fn a_webhook_is_known_by_its_route_state_and_fields() {
        let fields = |digits: &str| {
            vec![
                ("CallSid".to_owned(), "CA1".to_owned()),
                ("Digits".to_owned(), digits.to_owned()),
            ]
        };
        let id = webhook_id("step/case/digits", "s=1", &fields("123"));
        assert_eq!(id.len(), 16);
        assert_eq!(id, webhook_id("step/case/digits", "s=1", &fields("123")), "a replay");
        assert_ne!(id, webhook_id("step/case/digits", "s=1", &fields("124")));
        assert_ne!(id, webhook_id("step/case/digits", "s=2", &fields("123")));
        assert_ne!(id, webhook_id("step/case", "s=1", &fields("123")));
        assert_ne!(
            webhook_id("ab", "", &[]),
            webhook_id("a", "b", &[]),
            "the parts do not run into each other"
        );
    }

    #[test]
    fn final_statuses() {
        assert!(is_final("completed") && is_final("no-answer"));
        assert!(!is_final("in-progress") && !is_final("ringing"));
    }
}
