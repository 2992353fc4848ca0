//! Calendar feeds: a rotation's shifts, or one engineer's, as an iCalendar document (RFC 5545) that Google
//! Calendar and Outlook can subscribe to. Pure: every function takes the window and the time it renders at.
//!
//! Who is on call at each moment is the model's answer ([`OnCallData::on_call_in`], over the model's shift
//! bounds), so a feed never disagrees with who is rung. A shift is one event; the part of it an override
//! covers is an event of its own for the override's engineer, and the shift's event is split around it.
//! Times are written in the rotation's zone (`TZID` with the IANA name), so calendars show local handoffs.
//! Every event's UID is made from the rotation, the engineer and the start instant, so a calendar that
//! fetches the feed again updates its events instead of adding copies.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use icalendar::{Calendar, CalendarDateTime, Component, Event, EventLike};

use super::model::{Engineer, OnCallData, Override, Rotation};

/// The feed's product identifier: who wrote the document.
const PRODID: &str = "-//afterhours//On-call feed//EN";

/// At most this many shifts of one rotation in one feed, so that a short shift over a long window cannot
/// make a feed without end.
const MAX_SHIFTS: usize = 5_000;

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
    if !rotation.participants.is_empty() {
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
            None => (Kind::Shift, rotation.shift_at(start).1.to_rfc3339()),
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
    for stretch in stretches {
        calendar.push(event(stretch, now));
    }
    calendar.done().to_string()
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
