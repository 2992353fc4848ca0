//! Rotations that follow an outside calendar: the iCalendar feed that PagerDuty, Opsgenie, Grafana OnCall
//! (or any calendar) export, read into shifts. The parsing, the recurrence expansion and the matching of
//! events to engineers are pure; [`fetch`] is the one I/O edge (the shared capped GET); the background
//! task that keeps the last good copy in the store is the assembly's.
//!
//! - An event's engineer is found by its `ATTENDEE` (`mailto:`) matched to an engineer's `email`, without
//!   regard to case; else by an email address in its `SUMMARY`; else by the engineer's name or id in the
//!   `SUMMARY` (PagerDuty writes "On Call - Alice Martin - Primary", Grafana OnCall the user's name). An
//!   event that matches nobody, or more than one engineer, is kept aside as [`Unmatched`]: `check` reports
//!   it, and nobody is rung for it.
//! - An event whose times cannot be read (a `TZID` that is no IANA zone, such as Windows' "Eastern Standard
//!   Time"; a `DURATION` or `RRULE` that does not parse) is kept aside as [`Skipped`], with why: `check`
//!   reports it too. A `DURATION` stands for a missing `DTEND`.
//! - Times are local wall times in the event's `TZID` (or UTC with `Z`; a floating time or a date is in the
//!   rotation's zone). A recurring event (`RRULE`, expanded by the `rrule` crate, less its `EXDATE`s and the
//!   occurrences that a `RECURRENCE-ID` event replaces) keeps its local start and length across a
//!   daylight-saving change, and a local time that does not exist moves forward to the first instant after
//!   the gap: the rules of the rotation model.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use icalendar::{Calendar, CalendarComponent, CalendarDateTime, Component, DatePerhapsTime, Event};

use super::model::{CalendarSource, Engineer, ImportedShift, local_to_utc};

/// How far ahead recurring events are expanded, and one-off events kept.
pub const HORIZON: Duration = Duration::days(35);

/// How far back shifts are kept: one that began before now still says who is on call now.
pub const PAST: Duration = Duration::days(7);

/// The largest calendar read, in bytes.
pub const MAX_BYTES: usize = 4 * 1024 * 1024;

/// The most shifts (and unmatched events) one calendar gives; past it, the latest are dropped.
pub const MAX_SHIFTS: usize = 5_000;

/// Seconds between fetches when the rotation does not say, and the bounds it may say.
pub const DEFAULT_REFRESH_SECS: u64 = 900;
pub const MIN_REFRESH_SECS: u64 = 60;
pub const MAX_REFRESH_SECS: u64 = 86_400;

/// The start and shift of a rotation that follows an outside calendar and names none: it has no handoffs of
/// its own, so any do.
pub(crate) const SOURCED_START: &str = "2026-01-05T00:00:00";
pub(crate) const SOURCED_SHIFT: &str = "7d";

/// The time limit of one fetch.
pub const FETCH_TIMEOUT: StdDuration = StdDuration::from_secs(20);

/// An event that names no engineer of ours: shown by `check`, never rung.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Unmatched {
    pub summary: String,
    /// Its attendees' addresses, as written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attendees: Vec<String>,
    /// Its first start in the window.
    pub start: DateTime<Utc>,
}

/// An event whose times cannot be read: shown by `check`, never rung.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Skipped {
    pub summary: String,
    /// Why, in words.
    pub why: String,
}

/// How a rotation's outside calendar fares: when it was last fetched well, when last tried, the last error
/// (cleared by a success). `check`, the admin API and the dashboard show it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CalendarHealth {
    pub last_success: Option<DateTime<Utc>>,
    pub last_attempt: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// What the store keeps of a rotation's outside calendar: the last good copy, its health, and the events
/// of that copy that match no engineer. Its shifts are kept beside it, in [`super::model::OnCallData`].
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CalendarCopy {
    /// The last document fetched that was iCalendar; `None` until one was.
    pub text: Option<String>,
    pub health: CalendarHealth,
    pub unmatched: Vec<Unmatched>,
    /// The events of that copy that could not be read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
}

/// A calendar read into a rotation's shifts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expanded {
    /// In order of start.
    pub shifts: Vec<ImportedShift>,
    pub unmatched: Vec<Unmatched>,
    pub skipped: Vec<Skipped>,
}

/// Why a calendar gave no shifts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error("not an iCalendar document: {0}")]
    NotICalendar(String),
    #[error("fetching the calendar failed: {0}")]
    Fetch(String),
    #[error("the calendar answered HTTP {0}")]
    Status(u16),
}

/// A rotation file's `source` and `refresh_secs`, checked: `None` without a source. The error names the
/// field and says what is wrong.
pub(crate) fn parse_source(
    url: Option<&str>,
    refresh_secs: Option<u64>,
    has_participants: bool,
) -> Result<Option<CalendarSource>, (&'static str, String)> {
    let Some(url) = url else {
        return match refresh_secs {
            Some(_) => Err(("refresh_secs", "refresh_secs needs a source".to_owned())),
            None => Ok(None),
        };
    };
    if has_participants {
        return Err((
            "source",
            "a rotation takes its shifts from its participants or from a source, not both: empty the participants"
                .to_owned(),
        ));
    }
    let parsed = url::Url::parse(url).map_err(|e| ("source", format!("invalid URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err((
            "source",
            "expected an http:// or https:// URL of an iCalendar feed".to_owned(),
        ));
    }
    let refresh_secs = refresh_secs.unwrap_or(DEFAULT_REFRESH_SECS);
    if !(MIN_REFRESH_SECS..=MAX_REFRESH_SECS).contains(&refresh_secs) {
        return Err((
            "refresh_secs",
            format!("{refresh_secs} is out of range: {MIN_REFRESH_SECS} to {MAX_REFRESH_SECS} seconds"),
        ));
    }
    Ok(Some(CalendarSource {
        url: url.to_owned(),
        refresh_secs,
    }))
}

/// Checks that `text` is an iCalendar document with a calendar in it.
pub fn validate(text: &str) -> Result<(), ImportError> {
    parse(text).map(drop)
}

fn parse(text: &str) -> Result<Calendar, ImportError> {
    if !text.trim_start().starts_with("BEGIN:VCALENDAR") {
        return Err(ImportError::NotICalendar(format!(
            "it starts {:?}",
            text.chars().take(30).filter(|c| !c.is_control()).collect::<String>()
        )));
    }
    text.parse::<Calendar>().map_err(ImportError::NotICalendar)
}

/// The shifts of `text` that overlap `[now - PAST, now + HORIZON)`, each matched to one of `engineers`;
/// floating times and dates are in `zone`.
pub fn expand(
    text: &str,
    engineers: &BTreeMap<String, Engineer>,
    zone: Tz,
    now: DateTime<Utc>,
) -> Result<Expanded, ImportError> {
    let calendar = parse(text)?;
    let (from, until) = (now - PAST, now + HORIZON);
    let events: Vec<&Event> = calendar
        .components
        .iter()
        .filter_map(|c| match c {
            CalendarComponent::Event(event) => Some(event),
            _ => None,
        })
        .collect();
    // The occurrences that an event of their own replaces, by UID.
    let mut replaced: BTreeMap<&str, BTreeSet<DateTime<Utc>>> = BTreeMap::new();
    for event in &events {
        if let (Some(uid), Some(id)) = (event.get_uid(), event.get_recurrence_id())
            && let Some(at) = instant(&id, zone)
        {
            replaced.entry(uid).or_default().insert(at);
        }
    }
    let mut out = Expanded::default();
    for event in events {
        if event
            .property_value("STATUS")
            .is_some_and(|s| s.eq_ignore_ascii_case("CANCELLED"))
        {
            continue;
        }
        let occurrences = match occurrences(event, zone, from, until) {
            Ok(occurrences) => occurrences,
            Err(why) => {
                out.skipped.push(Skipped {
                    summary: event.get_summary().unwrap_or("").to_owned(),
                    why,
                });
                continue;
            }
        };
        let skip = event
            .get_uid()
            .filter(|_| event.get_recurrence_id().is_none())
            .and_then(|uid| replaced.get(uid));
        let occurrences: Vec<Occurrence> = occurrences
            .into_iter()
            .filter(|(start, end)| start < end && *start < until && from < *end)
            .filter(|(start, _)| skip.is_none_or(|s| !s.contains(start)))
            .collect();
        let Some(first) = occurrences.first() else {
            continue;
        };
        match engineer_of(event, engineers) {
            Some(engineer) => out.shifts.extend(occurrences.iter().map(|&(start, end)| ImportedShift {
                start,
                end,
                engineer: engineer.id.clone(),
            })),
            None => out.unmatched.push(Unmatched {
                summary: event.get_summary().unwrap_or("").to_owned(),
                attendees: attendees(event).map(str::to_owned).collect(),
                start: first.0,
            }),
        }
        if out.shifts.len() > MAX_SHIFTS {
            break;
        }
    }
    out.shifts
        .sort_by(|a, b| (a.start, &a.engineer).cmp(&(b.start, &b.engineer)));
    out.shifts.truncate(MAX_SHIFTS);
    out.unmatched.sort_by_key(|u| u.start);
    out.unmatched.truncate(MAX_SHIFTS);
    out.skipped.truncate(MAX_SHIFTS);
    Ok(out)
}

/// The engineer an event names: by attendee email, by an email in the summary, by name or id in the
/// summary. `None` when nobody, or more than one, matches.
fn engineer_of<'a>(event: &Event, engineers: &'a BTreeMap<String, Engineer>) -> Option<&'a Engineer> {
    let by_email = |address: &str| {
        let address = address.trim().trim_matches(|c| c == '<' || c == '>');
        engineers
            .values()
            .find(|e| e.email.as_deref().is_some_and(|m| m.eq_ignore_ascii_case(address)))
    };
    let attending: Vec<&Engineer> = attendees(event).filter_map(by_email).collect();
    if let [one] = attending.as_slice() {
        return Some(one);
    }
    if attending.len() > 1 {
        return None;
    }
    let summary = event.get_summary().unwrap_or("");
    let in_summary: BTreeSet<&str> = summary
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '(' | ')' | '[' | ']' | '"'))
        .filter(|word| word.contains('@'))
        .filter_map(|word| by_email(word).map(|e| e.id.as_str()))
        .collect();
    if !in_summary.is_empty() {
        return single(in_summary, engineers);
    }
    let lower = summary.to_lowercase();
    let words: BTreeSet<&str> = lower
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-' || c == '.'))
        .collect();
    let named: BTreeSet<&str> = engineers
        .values()
        .filter(|e| contains_phrase(&lower, &e.name.to_lowercase()) || words.contains(e.id.to_lowercase().as_str()))
        .map(|e| e.id.as_str())
        .collect();
    single(named, engineers)
}

fn single<'a>(ids: BTreeSet<&str>, engineers: &'a BTreeMap<String, Engineer>) -> Option<&'a Engineer> {
    let mut ids = ids.into_iter();
    match (ids.next(), ids.next()) {
        (Some(id), None) => engineers.get(id),
        _ => None,
    }
}

/// True when `phrase` is in `text` with no letter or digit right before or after it.
fn contains_phrase(text: &str, phrase: &str) -> bool {
    if phrase.trim().is_empty() {
        return false;
    }
    text.match_indices(phrase).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + phrase.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// The addresses of an event's attendees, `mailto:` taken off.
fn attendees(event: &Event) -> impl Iterator<Item = &str> {
    let single = event.properties().get("ATTENDEE");
    let multi = event.multi_properties().get("ATTENDEE").into_iter().flatten();
    single.into_iter().chain(multi).map(|p| {
        let value = p.value().trim();
        value
            .get(..7)
            .filter(|scheme| scheme.eq_ignore_ascii_case("mailto:"))
            .map_or(value, |_| &value[7..])
    })
}

/// A date or time as an instant: a local time in its TZID (or `zone`), moved forward out of a gap.
fn instant(value: &DatePerhapsTime, zone: Tz) -> Option<DateTime<Utc>> {
    let (local, tz) = local_time(value, zone)?;
    Some(local_to_utc(tz, local))
}

/// A date or time as a local wall time and its zone: UTC for `Z` times, the TZID's zone, else `zone`.
fn local_time(value: &DatePerhapsTime, zone: Tz) -> Option<(NaiveDateTime, Tz)> {
    match value {
        DatePerhapsTime::Date(date) => Some((date.and_hms_opt(0, 0, 0)?, zone)),
        DatePerhapsTime::DateTime(CalendarDateTime::Floating(local)) => Some((*local, zone)),
        DatePerhapsTime::DateTime(CalendarDateTime::Utc(t)) => Some((t.naive_utc(), Tz::UTC)),
        DatePerhapsTime::DateTime(CalendarDateTime::WithTimezone { date_time, tzid }) => {
            Some((*date_time, zone_named(tzid)?))
        }
    }
}

/// Why `property`'s `value` cannot be read as a time.
fn unreadable(value: &DatePerhapsTime, property: &str) -> String {
    match value {
        DatePerhapsTime::DateTime(CalendarDateTime::WithTimezone { tzid, .. }) => {
            format!("the TZID {tzid:?} of its {property} is no IANA time zone name")
        }
        _ => format!("its {property} cannot be read"),
    }
}

/// An IANA zone by its name, as a TZID writes it (some prefix a path, such as `/mozilla.org/.../`).
fn zone_named(tzid: &str) -> Option<Tz> {
    let name = tzid.trim_matches('"');
    name.parse().ok().or_else(|| {
        let mut parts: Vec<&str> = name.split('/').filter(|p| !p.is_empty()).collect();
        while parts.len() > 1 {
            parts.remove(0);
            if let Ok(tz) = parts.join("/").parse() {
                return Some(tz);
            }
        }
        None
    })
}

/// One occurrence of an event: its start and end.
type Occurrence = (DateTime<Utc>, DateTime<Utc>);

/// The event's occurrences (start, end) that may overlap `[from, until)`: one, or its recurrences; why not,
/// for an event without a start, or with a time zone, a duration or a rule that cannot be read.
fn occurrences(event: &Event, zone: Tz, from: DateTime<Utc>, until: DateTime<Utc>) -> Result<Vec<Occurrence>, String> {
    let start_value = event.get_start().ok_or("it has no DTSTART")?;
    let (start, tz) = local_time(&start_value, zone).ok_or_else(|| unreadable(&start_value, "DTSTART"))?;
    let end = match (event.get_end(), event.property_value("DURATION")) {
        (Some(end), _) => {
            let (end, end_tz) = local_time(&end, zone).ok_or_else(|| unreadable(&end, "DTEND"))?;
            // The length in wall time of the start's zone, so that each recurrence keeps its local hours.
            let end_instant = local_to_utc(end_tz, end);
            end_instant.with_timezone(&tz).naive_local()
        }
        (None, Some(duration)) => {
            let length = iso8601::duration(duration.trim())
                .ok()
                .and_then(|d| Duration::from_std(d.into()).ok())
                .ok_or_else(|| format!("its DURATION {duration:?} cannot be read"))?;
            start + length
        }
        (None, None) => match start_value {
            DatePerhapsTime::Date(_) => start + Duration::days(1),
            DatePerhapsTime::DateTime(_) => start,
        },
    };
    let length = end - start;
    let Some(rule) = event.property_value("RRULE") else {
        return Ok(vec![(local_to_utc(tz, start), local_to_utc(tz, end))]);
    };
    let locals = recurrences(event, rule, start, tz, from - length, until)
        .ok_or_else(|| format!("its RRULE {rule:?} cannot be read (or is finer than hourly)"))?;
    Ok(locals
        .into_iter()
        .map(|local| (local_to_utc(tz, local), local_to_utc(tz, local + length)))
        .collect())
}

/// The local starts of a recurring event from `start` by `rule`, less its EXDATEs, between `from` and
/// `until`. The rule is expanded on wall-clock time (as if the zone were UTC), so that every occurrence
/// keeps its local time across daylight-saving changes; its UNTIL, an instant, is turned into the zone's
/// wall time first.
fn recurrences(
    event: &Event,
    rule: &str,
    start: NaiveDateTime,
    tz: Tz,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Option<Vec<NaiveDateTime>> {
    let upper = rule.to_ascii_uppercase();
    // Rules this fine would make thousands of occurrences of an on-call shift.
    if upper.contains("FREQ=SECONDLY") || upper.contains("FREQ=MINUTELY") {
        return None;
    }
    let rule: String = rule
        .split(';')
        .map(|part| match part.split_once('=') {
            Some((key, value)) if key.eq_ignore_ascii_case("UNTIL") => {
                format!("UNTIL={}", wall_until(value, tz).unwrap_or_else(|| value.to_owned()))
            }
            _ => part.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(";");
    let mut text = format!("DTSTART:{}Z\nRRULE:{rule}", start.format("%Y%m%dT%H%M%S"));
    for exdate in event
        .multi_properties()
        .get("EXDATE")
        .into_iter()
        .flatten()
        .chain(event.properties().get("EXDATE"))
    {
        for value in exdate.value().split(',') {
            let zone_of_value = exdate
                .params()
                .get("TZID")
                .and_then(|p| zone_named(p.value()))
                .unwrap_or(tz);
            if let Some(local) = parse_local(value, zone_of_value, tz) {
                text.push_str(&format!("\nEXDATE:{}Z", local.format("%Y%m%dT%H%M%S")));
            }
        }
    }
    let set: rrule::RRuleSet = text.parse().ok()?;
    // Wall-clock bounds, a day wider than the instants on either side: offsets are within a day.
    let wall = |t: DateTime<Utc>| t.with_timezone(&tz).naive_local();
    let utc = |local: NaiveDateTime| rrule::Tz::UTC.from_utc_datetime(&local);
    let result = set
        .after(utc(wall(from) - Duration::days(1)))
        .before(utc(wall(until) + Duration::days(1)))
        .all(u16::try_from(MAX_SHIFTS).unwrap_or(u16::MAX));
    Some(result.dates.iter().map(|d| d.naive_utc()).collect())
}

/// A value of EXDATE as a wall time in `tz`: a local time in `zone_of_value`, or an instant with `Z`.
fn parse_local(value: &str, zone_of_value: Tz, tz: Tz) -> Option<NaiveDateTime> {
    let value = value.trim();
    if let Some(instant) = value.strip_suffix('Z') {
        let t = NaiveDateTime::parse_from_str(instant, "%Y%m%dT%H%M%S").ok()?;
        return Some(Utc.from_utc_datetime(&t).with_timezone(&tz).naive_local());
    }
    let local = NaiveDateTime::parse_from_str(value, "%Y%m%dT%H%M%S")
        .ok()
        .or_else(|| NaiveDate::parse_from_str(value, "%Y%m%d").ok()?.and_hms_opt(0, 0, 0))?;
    Some(local_to_utc(zone_of_value, local).with_timezone(&tz).naive_local())
}

/// An RRULE's UNTIL as a wall time of `tz`, written as the rule expects next to a `Z` start.
fn wall_until(value: &str, tz: Tz) -> Option<String> {
    parse_local(value, tz, tz).map(|local| local.format("%Y%m%dT%H%M%SZ").to_string())
}

/// The calendar at `url`, fetched once: at most [`MAX_BYTES`], within [`FETCH_TIMEOUT`], and checked to be
/// iCalendar. Errors never carry the URL, which may hold a secret token.
pub async fn fetch(url: &str) -> Result<String, ImportError> {
    let client = crate::fetch::client_builder(FETCH_TIMEOUT)
        .build()
        .map_err(|e| ImportError::Fetch(crate::fetch::describe(&e)))?;
    let response = client
        .get(url)
        .header("accept", "text/calendar")
        .send()
        .await
        .map_err(|e| ImportError::Fetch(crate::fetch::FetchError::from(e).to_string()))?;
    if !response.status().is_success() {
        return Err(ImportError::Status(response.status().as_u16()));
    }
    let body = crate::fetch::read_capped(response, MAX_BYTES)
        .await
        .map_err(|e| ImportError::Fetch(e.to_string()))?;
    let text = String::from_utf8(body).map_err(|_| ImportError::NotICalendar("not UTF-8 text".to_owned()))?;
    validate(&text)?;
    Ok(text)
}

#[cfg(test)]
#[path = "import_tests.rs"]
mod tests;
