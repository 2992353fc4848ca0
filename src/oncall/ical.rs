//! Calendar feeds: a rotation's shifts, or one engineer's, as an iCalendar document (RFC 5545) that Google
//! Calendar and Outlook can subscribe to. Pure: every function takes the window and the time it renders at.
//!
//! Who is on call at each moment is the model's answer ([`OnCallData::on_call_in`], over the model's shift
//! bounds), so a feed never disagrees with who is rung. A shift is one event; the part of it an override
//! covers is an event of its own for the override's engineer, and the shift's event is split around it.
//! Times are written in the rotation's zone (`TZID` with the IANA name, defined by a `VTIMEZONE` over the
//! span the events cover), so calendars show local handoffs.
//! Every event's UID is made from the rotation, the engineer and the start instant, so a calendar that
//! fetches the feed again updates its events instead of adding copies.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use chrono::{DateTime, Duration, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::{OffsetComponents, OffsetName, Tz};
use icalendar::{Calendar, CalendarDateTime, Component, Event, EventLike};

use super::model::{Engineer, OnCallData, Override, Rotation};

/// The feed's product identifier: who wrote the document.
const PRODID: &str = "-//afterhours//On-call feed//EN";

/// At most this many shifts of one rotation in one feed, so that a short shift over a long window cannot
/// make a feed without end.
const MAX_SHIFTS: usize = 5_000;

/// How far a time zone's definition is followed, in days: past it, a feed's last events keep the offsets of
/// the last change found.
const MAX_ZONE_DAYS: i64 = 20_000;

/// Why an event is in a feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The rotation's own schedule.
    Shift,
    /// An override that wins over the schedule.
    Override,
}

/// One stretch of time with one engineer on call for one rotation.
#[derive(Debug, Clone)]
struct Stretch<'a> {
    rotation: &'a Rotation,
    engineer: &'a Engineer,
    kind: Kind,
    /// The shift's start or the winning override's id: stretches merge only within the same one.
    group: String,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

/// The feed of `rotation`: every shift that overlaps `[from, until)`, whole, with overrides; `None` for a
/// rotation that does not exist.
pub fn rotation_feed(
    data: &OnCallData,
    rotation: &str,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<String> {
    let rotation = data.rotations.get(rotation)?;
    let stretches = stretches(data, rotation, from, until);
    let mut calendar = calendar(&rotation.name);
    calendar.timezone(rotation.time_zone);
    Some(render(calendar, &stretches, now))
}

/// The feed of one engineer: the same events as the rotations' feeds, across every rotation, for the times
/// they are on call only (their shifts less what overrides take away, and the overrides that name them);
/// `None` for an engineer who does not exist.
pub fn engineer_feed(
    data: &OnCallData,
    engineer: &str,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<String> {
    let person = data.engineers.get(engineer)?;
    let mut all: Vec<Stretch<'_>> = data
        .rotations
        .values()
        .flat_map(|rotation| stretches(data, rotation, from, until))
        .filter(|s| s.engineer.id == person.id)
        .collect();
    all.sort_by(|a, b| (a.start, &a.rotation.id).cmp(&(b.start, &b.rotation.id)));
    let mut calendar = calendar(&format!("On call: {}", person.name));
    calendar.timezone(person.time_zone);
    Some(render(calendar, &all, now))
}

/// Who is on call for `rotation` over every shift and override that overlaps `[from, until)`, in order.
/// Shifts and overrides are kept whole, not cut at the window's edges, so an event keeps its start (and its
/// UID) however the window moves.
fn stretches<'a>(
    data: &'a OnCallData,
    rotation: &'a Rotation,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Vec<Stretch<'a>> {
    if from >= until {
        return Vec::new();
    }
    let overrides: Vec<&Override> = data
        .overrides
        .get(&rotation.id)
        .into_iter()
        .flatten()
        .filter(|o| o.start < o.end && o.start < until && from < o.end)
        .collect();

    // Every instant where who is on call may change: the bounds of the shifts in the window and of the
    // overrides that reach into it. Between two neighbours, one engineer is on call.
    let mut bounds: BTreeSet<DateTime<Utc>> = overrides.iter().flat_map(|o| [o.start, o.end]).collect();
    let imported = data.imported.get(&rotation.id).filter(|_| rotation.source.is_some());
    if let Some(shifts) = imported {
        for shift in shifts
            .iter()
            .filter(|s| s.start < until && from < s.end)
            .take(MAX_SHIFTS)
        {
            bounds.insert(shift.start);
            bounds.insert(shift.end);
        }
    } else if !rotation.participants.is_empty() {
        let mut t = from;
        for _ in 0..MAX_SHIFTS {
            let (_, start, end) = rotation.shift_at(t);
            bounds.insert(start);
            bounds.insert(end);
            if end >= until {
                break;
            }
            t = end;
        }
    }

    let bounds: Vec<DateTime<Utc>> = bounds.into_iter().collect();
    let mut out: Vec<Stretch<'a>> = Vec::new();
    for pair in bounds.windows(2) {
        let (start, end) = (pair[0], pair[1]);
        // The model's rule for the winner: the latest created override covering the instant.
        let winner = overrides
            .iter()
            .filter(|o| o.start <= start && start < o.end)
            .max_by_key(|o| (o.created, o.id.clone()));
        let (kind, group) = match winner {
            Some(o) => (Kind::Override, o.id.clone()),
            None => {
                // A shift of the outside calendar, or of the participants' turns, is one group.
                let shift_start = match imported {
                    Some(shifts) => shifts
                        .iter()
                        .find(|s| s.start <= start && start < s.end)
                        .map(|s| s.start),
                    None => Some(rotation.shift_at(start).1),
                };
                (Kind::Shift, shift_start.map(|t| t.to_rfc3339()).unwrap_or_default())
            }
        };
        // Nobody (no participants, or an engineer the data does not know) makes no event.
        let Some(on_call) = data.on_call_in(&rotation.id, start) else {
            continue;
        };
        let Some(engineer) = data.engineers.get(&on_call.engineer.id) else {
            continue;
        };
        match out.last_mut() {
            Some(last)
                if last.end == start && last.kind == kind && last.group == group && last.engineer.id == engineer.id =>
            {
                last.end = end;
            }
            _ => out.push(Stretch {
                rotation,
                engineer,
                kind,
                group,
                start,
                end,
            }),
        }
    }
    out.retain(|s| s.start < until && from < s.end);
    out
}

/// An empty calendar with the properties every feed carries.
fn calendar(name: &str) -> Calendar {
    let mut calendar = Calendar::empty();
    calendar
        .append_property(("VERSION", "2.0"))
        .append_property(("PRODID", PRODID))
        .append_property(("CALSCALE", "GREGORIAN"))
        .append_property(("METHOD", "PUBLISH"))
        .name(name);
    calendar
}

fn render(mut calendar: Calendar, stretches: &[Stretch<'_>], now: DateTime<Utc>) -> String {
    // The span each zone's events cover, for its VTIMEZONE.
    let mut spans: BTreeMap<&str, (Tz, DateTime<Utc>, DateTime<Utc>)> = BTreeMap::new();
    for stretch in stretches {
        calendar.push(event(stretch, now));
        let tz = stretch.rotation.time_zone;
        let span = spans.entry(tz.name()).or_insert((tz, stretch.start, stretch.end));
        span.1 = span.1.min(stretch.start);
        span.2 = span.2.max(stretch.end);
    }
    let mut text = calendar.done().to_string();
    // RFC 5545 asks for a VTIMEZONE for every TZID, and Outlook resolves a TZID through it. The crate writes
    // none (and would stamp a DTSTAMP and a random UID into any component it renders), so the zones are
    // written here, before the first event.
    let zones: String = spans
        .values()
        .map(|&(tz, start, end)| vtimezone(tz, start, end))
        .collect();
    if let Some(at) = text.find("BEGIN:VEVENT\r\n") {
        text.insert_str(at, &zones);
    }
    text
}

/// The definition of `tz` over `[start, end]`: the observance in force at `start`, then one per change of
/// offset, each with the local time it begins at, the offsets on either side and its abbreviation.
fn vtimezone(tz: Tz, start: DateTime<Utc>, end: DateTime<Utc>) -> String {
    let mut out = format!("BEGIN:VTIMEZONE\r\nTZID:{}\r\n", tz.name());
    let first = offset_at(tz, start);
    observance(&mut out, tz, start, first, first);
    let (mut t, mut before) = (start, first);
    for _ in 0..MAX_ZONE_DAYS {
        if t >= end {
            break;
        }
        let next = (t + Duration::days(1)).min(end);
        let after = offset_at(tz, next);
        if after != before {
            // The change is in (t, next]: halve the interval down to the second it happens at.
            let (mut lo, mut hi) = (t, next);
            while hi - lo > Duration::seconds(1) {
                let mid = lo + (hi - lo) / 2;
                if offset_at(tz, mid) == before {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            observance(&mut out, tz, hi, before, after);
            before = after;
        }
        t = next;
    }
    out.push_str("END:VTIMEZONE\r\n");
    out
}

/// One STANDARD or DAYLIGHT observance beginning at `at`, when the offset goes from `from` to `to` seconds.
fn observance(out: &mut String, tz: Tz, at: DateTime<Utc>, from: i32, to: i32) {
    let offset = tz.offset_from_utc_datetime(&at.naive_utc());
    let kind = if offset.dst_offset().is_zero() {
        "STANDARD"
    } else {
        "DAYLIGHT"
    };
    // The onset is a local time in the offset that was in force before it.
    let onset: NaiveDateTime = at.naive_utc() + Duration::seconds(i64::from(from));
    let _ = write!(
        out,
        "BEGIN:{kind}\r\nDTSTART:{}\r\nTZOFFSETFROM:{}\r\nTZOFFSETTO:{}\r\n",
        onset.format("%Y%m%dT%H%M%S"),
        utc_offset(from),
        utc_offset(to)
    );
    if let Some(name) = offset.abbreviation() {
        let _ = write!(out, "TZNAME:{name}\r\n");
    }
    let _ = write!(out, "END:{kind}\r\n");
}

/// The zone's offset from UTC at `t`, in seconds.
fn offset_at(tz: Tz, t: DateTime<Utc>) -> i32 {
    tz.offset_from_utc_datetime(&t.naive_utc()).fix().local_minus_utc()
}

/// An offset as RFC 5545 writes it: `-0500`, or `+053030` when it has seconds.
fn utc_offset(seconds: i32) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let s = seconds.unsigned_abs();
    let (h, m, sec) = (s / 3600, s / 60 % 60, s % 60);
    if sec == 0 {
        format!("{sign}{h:02}{m:02}")
    } else {
        format!("{sign}{h:02}{m:02}{sec:02}")
    }
}

fn event(stretch: &Stretch<'_>, now: DateTime<Utc>) -> Event {
    let Stretch {
        rotation,
        engineer,
        kind,
        start,
        end,
        ..
    } = stretch;
    let local = |t: &DateTime<Utc>| CalendarDateTime::WithTimezone {
        date_time: t.with_timezone(&rotation.time_zone).naive_local(),
        tzid: rotation.time_zone.name().to_owned(),
    };
    let on_call = format!("On call: {} ({})", engineer.name, rotation.name);
    let (summary, category, kind_text) = match kind {
        Kind::Shift => (on_call, "On call", "shift"),
        Kind::Override => (format!("Override: {on_call}"), "Override", "override"),
    };
    Event::new()
        .uid(&uid(&rotation.id, &engineer.id, *start))
        .timestamp(now)
        .summary(&summary)
        .starts(local(start))
        .ends(local(end))
        .add_multi_property("CATEGORIES", category)
        .add_property("X-AFTERHOURS-KIND", kind_text)
        .add_property("X-AFTERHOURS-ROTATION", rotation.id.as_str())
        .add_property("X-AFTERHOURS-ENGINEER", engineer.id.as_str())
        .add_property("TRANSP", "TRANSPARENT")
        .done()
}

/// The same rotation, engineer and start give the same UID in every rendering.
fn uid(rotation: &str, engineer: &str, start: DateTime<Utc>) -> String {
    format!("{rotation}.{engineer}.{}@afterhours", start.format("%Y%m%dT%H%M%SZ"))
}

#[cfg(test)]
#[path = "ical_tests.rs"]
mod tests;
