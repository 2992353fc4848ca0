//! Calendar feed subscriptions: the per-feed token a feed URL carries, what the store keeps of it, and the
//! window of shifts a feed shows. Pure apart from the random bytes of a new token.
//!
//! A token is [`TOKEN_BYTES`] random bytes written in URL-safe base64 (no padding), so it fits a path and
//! cannot be guessed. The store keeps its SHA-256 only (hex), so that a copy of the store cannot fetch feeds;
//! the first [`ID_LEN`] hex digits of that digest are the feed's id, what an operator lists and revokes a
//! feed by. The token itself is shown once, when the feed is issued.

use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

use super::model::OnCallData;

/// Random bytes in a token: 192 bits, well past the 128 that make guessing hopeless.
pub const TOKEN_BYTES: usize = 24;

/// The length of a token as written: base64 of [`TOKEN_BYTES`] without padding.
pub const TOKEN_LEN: usize = TOKEN_BYTES * 4 / 3;

/// Hex digits of a token's digest that name its feed.
pub const ID_LEN: usize = 16;

/// How far back a feed reaches, so that last week's shifts stay in subscribers' calendars.
pub const PAST: Duration = Duration::weeks(1);

/// The longest label an operator may give a feed.
pub const MAX_LABEL_LEN: usize = 200;

/// Whose shifts a feed shows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedSubject {
    /// A rotation's shifts, with overrides.
    Rotation(String),
    /// One engineer's shifts across every rotation.
    Engineer(String),
}

/// A feed as the store keeps it: never its token.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Feed {
    /// The first [`ID_LEN`] hex digits of the token's digest.
    pub id: String,
    #[serde(flatten)]
    pub subject: FeedSubject,
    /// What the operator called it (who it was given to), if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub created: DateTime<Utc>,
}

/// A feed just issued: its token (shown once) and the record the store keeps under the token's digest.
#[derive(Debug, Clone)]
pub struct Issued {
    pub token: String,
    pub digest: String,
    pub feed: Feed,
}

/// Why a feed cannot be issued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IssueError {
    #[error("unknown rotation {0:?}")]
    UnknownRotation(String),
    #[error("unknown engineer {0:?}")]
    UnknownEngineer(String),
    #[error("label: at most {MAX_LABEL_LEN} characters, without control characters")]
    BadLabel,
    #[error("the system's random source failed: {0}")]
    Random(String),
}

/// A new feed of `subject`, checked against `data`, created at `now`.
pub fn issue(
    data: &OnCallData,
    subject: FeedSubject,
    label: Option<String>,
    now: DateTime<Utc>,
) -> Result<Issued, IssueError> {
    match &subject {
        FeedSubject::Rotation(id) if !data.rotations.contains_key(id) => {
            return Err(IssueError::UnknownRotation(id.clone()));
        }
        FeedSubject::Engineer(id) if !data.engineers.contains_key(id) => {
            return Err(IssueError::UnknownEngineer(id.clone()));
        }
        _ => {}
    }
    let label = label.map(|l| l.trim().to_owned()).filter(|l| !l.is_empty());
    if label
        .as_deref()
        .is_some_and(|l| l.chars().count() > MAX_LABEL_LEN || l.chars().any(char::is_control))
    {
        return Err(IssueError::BadLabel);
    }
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| IssueError::Random(e.to_string()))?;
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let digest = digest(&token);
    let feed = Feed {
        id: digest[..ID_LEN].to_owned(),
        subject,
        label,
        created: now,
    };
    Ok(Issued { token, digest, feed })
}

/// The path a feed is served at, on the operators' listener (and on the webhook listener with
/// `feeds.public`).
pub fn path(token: &str) -> String {
    format!("/feeds/{token}.ics")
}

/// True when `text` has a token's length and alphabet: anything else is refused before the store is asked.
pub fn well_formed(text: &str) -> bool {
    text.len() == TOKEN_LEN
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The digest the store keeps a token under: SHA-256, in lowercase hex.
pub fn digest(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// True when `text` can be a feed's id.
pub fn is_id(text: &str) -> bool {
    text.len() == ID_LEN && text.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// The feed's document at `now`: from [`PAST`] before it to `weeks` after; `None` when its rotation or
/// engineer is gone.
pub fn render(data: &OnCallData, feed: &Feed, now: DateTime<Utc>, weeks: u64) -> Option<String> {
    let (from, until) = (now - PAST, now + Duration::weeks(weeks.min(52) as i64));
    match &feed.subject {
        FeedSubject::Rotation(id) => super::ical::rotation_feed(data, id, from, until, now),
        FeedSubject::Engineer(id) => super::ical::engineer_feed(data, id, from, until, now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oncall::model::tests::{engineer, naive};
    use crate::oncall::model::{Rotation, Shift};

    /// alice and bob, on a weekly `primary` rotation in New York handing over on Mondays at 10:00.
    fn sample_data() -> OnCallData {
        let mut data = OnCallData::default();
        for (n, id) in ["alice", "bob"].into_iter().enumerate() {
            data.engineers.insert(id.into(), engineer(id, n as u32 + 1));
        }
        let primary = Rotation {
            id: "primary".into(),
            name: "Primary".into(),
            time_zone: chrono_tz::America::New_York,
            start: naive(2026, 1, 5, 10, 0),
            shift: Shift::Days(7),
            participants: vec!["alice".into(), "bob".into()],
            source: None,
            version: 0,
        };
        data.rotations.insert(primary.id.clone(), primary);
        data
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-27T20:00:00-05:00")
            .unwrap()
            .to_utc()
    }

    #[test]
    fn a_token_is_long_random_url_safe_and_kept_only_as_its_digest() {
        let data = sample_data();
        let subject = FeedSubject::Rotation("primary".into());
        let a = issue(&data, subject.clone(), None, now()).unwrap();
        let b = issue(&data, subject, None, now()).unwrap();
        assert_ne!(a.token, b.token);
        assert_eq!(a.token.len(), TOKEN_LEN);
        assert!(well_formed(&a.token), "{}", a.token);
        assert_eq!(a.digest, digest(&a.token));
        assert_eq!(a.digest.len(), 64);
        assert_eq!(a.feed.id, a.digest[..ID_LEN]);
        assert!(is_id(&a.feed.id));
        let stored = serde_json::to_string(&a.feed).unwrap();
        assert!(!stored.contains(&a.token), "{stored}");
        assert!(stored.contains("\"rotation\":\"primary\""), "{stored}");
        assert_eq!(serde_json::from_str::<Feed>(&stored).unwrap(), a.feed);
    }

    #[test]
    fn a_feed_of_something_unknown_or_with_a_bad_label_is_refused() {
        let data = sample_data();
        let unknown = issue(&data, FeedSubject::Rotation("nope".into()), None, now()).unwrap_err();
        assert_eq!(unknown, IssueError::UnknownRotation("nope".into()));
        let unknown = issue(&data, FeedSubject::Engineer("nope".into()), None, now()).unwrap_err();
        assert_eq!(unknown, IssueError::UnknownEngineer("nope".into()));
        let long = "x".repeat(MAX_LABEL_LEN + 1);
        let subject = FeedSubject::Engineer("alice".into());
        assert_eq!(
            issue(&data, subject.clone(), Some(long), now()).unwrap_err(),
            IssueError::BadLabel
        );
        assert_eq!(
            issue(&data, subject, Some("a\nb".into()), now()).unwrap_err(),
            IssueError::BadLabel
        );
    }

    #[test]
    fn only_a_tokens_shape_is_well_formed() {
        assert!(!well_formed(""));
        assert!(!well_formed(&"a".repeat(TOKEN_LEN - 1)));
        assert!(!well_formed(&"a".repeat(TOKEN_LEN + 1)));
        assert!(!well_formed(&format!("{}/", "a".repeat(TOKEN_LEN - 1))));
        assert!(!well_formed(&format!("{}.", "a".repeat(TOKEN_LEN - 1))));
        assert!(well_formed(&format!("-_{}", "A9".repeat(TOKEN_LEN / 2 - 1))));
    }

    #[test]
    fn a_feed_shows_from_a_week_back_to_its_weeks_ahead() {
        let data = sample_data();
        let feed = issue(&data, FeedSubject::Rotation("primary".into()), None, now())
            .unwrap()
            .feed;
        let text = render(&data, &feed, now(), 2).unwrap();
        let starts: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("DTSTART;TZID=America/New_York:"))
            .collect();
        assert!(!starts.is_empty(), "{text}");
        assert!(starts.iter().all(|s| *s >= "20261116" && *s < "20261212"), "{starts:?}");
        let gone = Feed {
            subject: FeedSubject::Rotation("gone".into()),
            ..feed
        };
        assert_eq!(render(&data, &gone, now(), 2), None);
    }
}
