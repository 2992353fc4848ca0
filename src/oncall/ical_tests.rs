//! The calendar feeds, read back with the iCalendar crate's parser and checked field by field.
//!
//! The team: a weekly `primary` rotation in New York, handing over on Mondays at 10:00 local time from
//! Monday 2026-01-05, in the order alice, bob, carol. dave and erin are engineers on no rotation.

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use chrono_tz::America::New_York as NEW_YORK;
use chrono_tz::Europe::London as LONDON;
use chrono_tz::Tz;
use icalendar::{Calendar, CalendarComponent, CalendarDateTime, Component, DatePerhapsTime};

use super::*;
use crate::oncall::model::tests::{engineer, naive};
use crate::oncall::model::{OnCallData, Override, Rotation, Shift};

/// The instant of an unambiguous New York wall time.
fn ny(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    NEW_YORK.with_ymd_and_hms(y, m, d, h, min, 0).single().unwrap().to_utc()
}

fn weekly(id: &str, time_zone: Tz, participants: &[&str]) -> Rotation {
    Rotation {
        id: id.into(),
        name: format!("{id} rotation"),
        time_zone,
        start: naive(2026, 1, 5, 10, 0),
        shift: Shift::Days(7),
        participants: participants.iter().map(|&p| p.into()).collect(),
        source: None,
        version: 0,
    }
}

fn team() -> OnCallData {
    let mut data = OnCallData::default();
    for (n, id) in ["alice", "bob", "carol", "dave", "erin"].into_iter().enumerate() {
        data.engineers.insert(id.into(), engineer(id, n as u32 + 1));
    }
    let primary = weekly("primary", NEW_YORK, &["alice", "bob", "carol"]);
    data.rotations.insert(primary.id.clone(), primary);
    data
}

/// An override created `created` seconds after an arbitrary moment.
fn add_override(data: &mut OnCallData, engineer: &str, span: [DateTime<Utc>; 2], created: i64) {
    let entry = Override {
        id: format!("{engineer}-{created}"),
        rotation: "primary".into(),
        engineer: engineer.into(),
        start: span[0],
        end: span[1],
        created: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::seconds(created),
    };
    data.overrides.entry("primary".into()).or_default().push(entry);
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 4, 12, 0, 0).unwrap()
}

/// An event as a calendar shows it.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    uid: String,
    summary: String,
    start: (NaiveDateTime, String),
    end: (NaiveDateTime, String),
    categories: String,
    kind: String,
    engineer: String,
    stamp: DateTime<Utc>,
}

fn local(value: Option<DatePerhapsTime>) -> (NaiveDateTime, String) {
    match value {
        Some(DatePerhapsTime::DateTime(CalendarDateTime::WithTimezone { date_time, tzid })) => (date_time, tzid),
        other => panic!("expected a local time with a TZID, got {other:?}"),
    }
}

/// The feed checked line by line as RFC 5545 asks (CRLF endings, lines of at most 75 octets), then parsed.
fn parse(text: &str) -> (Calendar, Vec<Seen>) {
    assert!(text.ends_with("\r\n"));
    for line in text.split("\r\n") {
        assert!(
            !line.contains('\n') && !line.contains('\r'),
            "a bare line ending in {line:?}"
        );
        assert!(line.len() <= 75, "a line longer than 75 octets: {line:?}");
    }
    let calendar: Calendar = text.parse().expect("the feed parses");
    let seen = calendar
        .events()
        .map(|e| Seen {
            uid: e.get_uid().unwrap().into(),
            summary: e.get_summary().unwrap().into(),
            start: local(e.get_start()),
            end: local(e.get_end()),
            categories: e.multi_properties()["CATEGORIES"][0].value().into(),
            kind: e.property_value("X-AFTERHOURS-KIND").unwrap().into(),
            engineer: e.property_value("X-AFTERHOURS-ENGINEER").unwrap().into(),
            stamp: e.get_timestamp().unwrap(),
        })
        .collect();
    (calendar, seen)
}

fn ny_local(y: i32, m: u32, d: u32, h: u32, min: u32) -> (NaiveDateTime, String) {
    (naive(y, m, d, h, min), "America/New_York".into())
}

/// (engineer, kind, start, end) of each event, in New York wall time.
fn outline(seen: &[Seen]) -> Vec<(String, String, NaiveDateTime, NaiveDateTime)> {
    seen.iter()
        .map(|s| (s.engineer.clone(), s.kind.clone(), s.start.0, s.end.0))
        .collect()
}

fn row(
    engineer: &str,
    kind: &str,
    start: NaiveDateTime,
    end: NaiveDateTime,
) -> (String, String, NaiveDateTime, NaiveDateTime) {
    (engineer.into(), kind.into(), start, end)
}

#[test]
fn a_weekly_rotation_has_one_event_per_shift_over_four_weeks() {
    let data = team();
    let from = ny(2026, 1, 5, 10, 0);
    let text = rotation_feed(&data, "primary", from, from + Duration::weeks(4), now()).unwrap();
    let (calendar, seen) = parse(&text);

    assert!(calendar.property_value("PRODID").unwrap().contains("afterhours"));
    assert_eq!(calendar.property_value("VERSION"), Some("2.0"));
    assert_eq!(calendar.property_value("X-WR-CALNAME"), Some("primary rotation"));
    assert_eq!(calendar.property_value("X-WR-TIMEZONE"), Some("America/New_York"));

    assert_eq!(seen.len(), 4);
    let names: Vec<&str> = seen.iter().map(|s| s.summary.as_str()).collect();
    assert_eq!(
        names,
        [
            "On call: ALICE (primary rotation)",
            "On call: BOB (primary rotation)",
            "On call: CAROL (primary rotation)",
            "On call: ALICE (primary rotation)",
        ]
    );
    assert_eq!(seen[0].start, ny_local(2026, 1, 5, 10, 0));
    assert_eq!(seen[0].end, ny_local(2026, 1, 12, 10, 0));
    assert_eq!(seen[3].end, ny_local(2026, 2, 2, 10, 0));
    assert!(
        seen.iter()
            .all(|s| s.kind == "shift" && s.categories == "On call" && s.stamp == now())
    );
}

#[test]
fn shifts_that_straddle_the_window_are_kept_whole() {
    let data = team();
    // From Wednesday of alice's week to Wednesday four weeks on: five shifts overlap, the first and last
    // only in part.
    let from = ny(2026, 1, 7, 12, 0);
    let text = rotation_feed(&data, "primary", from, from + Duration::weeks(4), now()).unwrap();
    let (_, seen) = parse(&text);
    assert_eq!(seen.len(), 5);
    assert_eq!(seen[0].start, ny_local(2026, 1, 5, 10, 0));
    assert_eq!(seen[4].end, ny_local(2026, 2, 9, 10, 0));
}

#[test]
fn the_handoff_stays_at_ten_local_across_the_spring_forward_change() {
    let data = team();
    // US clocks spring forward on Sunday 2026-03-08: the shift from Monday 03-02 (EST) ends on Monday
    // 03-09 at 10:00 EDT, and the next starts then.
    let from = ny(2026, 3, 2, 10, 0);
    let text = rotation_feed(&data, "primary", from, ny(2026, 3, 16, 10, 0), now()).unwrap();
    let (_, seen) = parse(&text);
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].start, ny_local(2026, 3, 2, 10, 0));
    assert_eq!(seen[0].end, ny_local(2026, 3, 9, 10, 0));
    assert_eq!(seen[1].start, ny_local(2026, 3, 9, 10, 0));
    assert!(text.contains("DTSTART;TZID=America/New_York:20260309T100000\r\n"));
    // Six days and 23 hours of real time, not seven days.
    assert_eq!(
        ny(2026, 3, 9, 10, 0) - ny(2026, 3, 2, 10, 0),
        Duration::hours(7 * 24 - 1)
    );

    // The zone is defined in the feed: standard time at the first event, daylight time from 02:00 on
    // 03-08.
    let (calendar, _) = parse(&text);
    assert_eq!(
        zones(&calendar),
        [(
            "America/New_York".to_owned(),
            vec![
                observance("STANDARD", "20260302T100000", "-0500", "-0500", "EST"),
                observance("DAYLIGHT", "20260308T020000", "-0500", "-0400", "EDT"),
            ]
        )]
    );
}

type Observance = (String, String, String, String, String);

fn observance(kind: &str, start: &str, from: &str, to: &str, name: &str) -> Observance {
    (kind.into(), start.into(), from.into(), to.into(), name.into())
}

/// Each VTIMEZONE of a feed: its TZID and its observances.
fn zones(calendar: &Calendar) -> Vec<(String, Vec<Observance>)> {
    calendar
        .components
        .iter()
        .filter_map(|c| match c {
            CalendarComponent::Other(zone) if zone.component_kind() == "VTIMEZONE" => Some(zone),
            _ => None,
        })
        .map(|zone| {
            let observances = zone
                .components()
                .iter()
                .map(|o| {
                    let value = |key: &str| o.property_value(key).unwrap_or_default().to_owned();
                    (
                        o.component_kind(),
                        value("DTSTART"),
                        value("TZOFFSETFROM"),
                        value("TZOFFSETTO"),
                        value("TZNAME"),
                    )
                })
                .collect();
            (zone.property_value("TZID").unwrap().to_owned(), observances)
        })
        .collect()
}

#[test]
fn an_override_splits_a_shift_into_three_events() {
    let mut data = team();
    add_override(&mut data, "dave", [ny(2026, 1, 7, 9, 0), ny(2026, 1, 9, 9, 0)], 1);
    let from = ny(2026, 1, 5, 10, 0);
    let text = rotation_feed(&data, "primary", from, from + Duration::weeks(1), now()).unwrap();
    let (_, seen) = parse(&text);
    assert_eq!(
        outline(&seen),
        [
            row("alice", "shift", naive(2026, 1, 5, 10, 0), naive(2026, 1, 7, 9, 0)),
            row("dave", "override", naive(2026, 1, 7, 9, 0), naive(2026, 1, 9, 9, 0)),
            row("alice", "shift", naive(2026, 1, 9, 9, 0), naive(2026, 1, 12, 10, 0)),
        ]
    );
    assert_eq!(seen[1].summary, "Override: On call: DAVE (primary rotation)");
    assert_eq!(seen[1].categories, "Override");
    assert_eq!(seen[0].categories, "On call");
}

#[test]
fn where_overrides_overlap_the_one_created_later_wins() {
    let dave = [ny(2026, 1, 7, 0, 0), ny(2026, 1, 9, 0, 0)];
    let erin = [ny(2026, 1, 8, 0, 0), ny(2026, 1, 10, 0, 0)];
    let from = ny(2026, 1, 5, 10, 0);
    let until = from + Duration::weeks(1);

    let mut data = team();
    add_override(&mut data, "dave", dave, 1);
    add_override(&mut data, "erin", erin, 2);
    let (_, seen) = parse(&rotation_feed(&data, "primary", from, until, now()).unwrap());
    assert_eq!(
        outline(&seen),
        [
            row("alice", "shift", naive(2026, 1, 5, 10, 0), naive(2026, 1, 7, 0, 0)),
            row("dave", "override", naive(2026, 1, 7, 0, 0), naive(2026, 1, 8, 0, 0)),
            row("erin", "override", naive(2026, 1, 8, 0, 0), naive(2026, 1, 10, 0, 0)),
            row("alice", "shift", naive(2026, 1, 10, 0, 0), naive(2026, 1, 12, 10, 0)),
        ]
    );

    let mut data = team();
    add_override(&mut data, "erin", erin, 1);
    add_override(&mut data, "dave", dave, 2);
    let (_, seen) = parse(&rotation_feed(&data, "primary", from, until, now()).unwrap());
    assert_eq!(
        outline(&seen),
        [
            row("alice", "shift", naive(2026, 1, 5, 10, 0), naive(2026, 1, 7, 0, 0)),
            row("dave", "override", naive(2026, 1, 7, 0, 0), naive(2026, 1, 9, 0, 0)),
            row("erin", "override", naive(2026, 1, 9, 0, 0), naive(2026, 1, 10, 0, 0)),
            row("alice", "shift", naive(2026, 1, 10, 0, 0), naive(2026, 1, 12, 10, 0)),
        ]
    );
}

#[test]
fn an_engineer_feed_holds_only_their_time_across_rotations() {
    let mut data = team();
    add_override(&mut data, "dave", [ny(2026, 1, 7, 9, 0), ny(2026, 1, 9, 9, 0)], 1);
    let secondary = weekly("secondary", LONDON, &["dave"]);
    data.rotations.insert(secondary.id.clone(), secondary);
    let from = ny(2026, 1, 5, 10, 0);
    let until = from + Duration::weeks(4);

    let (calendar, seen) = parse(&engineer_feed(&data, "alice", from, until, now()).unwrap());
    assert_eq!(calendar.property_value("X-WR-CALNAME"), Some("On call: ALICE"));
    assert_eq!(
        outline(&seen),
        [
            row("alice", "shift", naive(2026, 1, 5, 10, 0), naive(2026, 1, 7, 9, 0)),
            row("alice", "shift", naive(2026, 1, 9, 9, 0), naive(2026, 1, 12, 10, 0)),
            row("alice", "shift", naive(2026, 1, 26, 10, 0), naive(2026, 2, 2, 10, 0)),
        ]
    );

    // dave: the override on primary (New York time) and every shift of secondary (London time, five hours
    // ahead: the window starts and ends inside a London shift, so five of them overlap it).
    let (_, seen) = parse(&engineer_feed(&data, "dave", from, until, now()).unwrap());
    assert!(seen.iter().all(|s| s.engineer == "dave"));
    let overrides: Vec<&Seen> = seen.iter().filter(|s| s.kind == "override").collect();
    assert_eq!(overrides.len(), 1);
    assert_eq!(overrides[0].start, ny_local(2026, 1, 7, 9, 0));
    let london: Vec<&Seen> = seen.iter().filter(|s| s.start.1 == "Europe/London").collect();
    assert_eq!(london.len(), 5);
    assert!(london.iter().all(|s| s.summary == "On call: DAVE (secondary rotation)"));
    assert_eq!(london[0].start.0, naive(2026, 1, 5, 10, 0));
    // One zone definition per TZID the events use, in winter time throughout.
    let (calendar, _) = parse(&engineer_feed(&data, "dave", from, until, now()).unwrap());
    assert_eq!(
        zones(&calendar),
        [
            (
                "America/New_York".to_owned(),
                vec![observance("STANDARD", "20260107T090000", "-0500", "-0500", "EST")]
            ),
            (
                "Europe/London".to_owned(),
                vec![observance("STANDARD", "20260105T100000", "+0000", "+0000", "GMT")]
            ),
        ]
    );

    // erin is on no rotation and covers nothing.
    let (_, seen) = parse(&engineer_feed(&data, "erin", from, until, now()).unwrap());
    assert!(seen.is_empty());
}

#[test]
fn unknown_rotations_and_engineers_have_no_feed() {
    let data = team();
    let from = ny(2026, 1, 5, 10, 0);
    assert_eq!(
        rotation_feed(&data, "nope", from, from + Duration::weeks(4), now()),
        None
    );
    assert_eq!(
        engineer_feed(&data, "nobody", from, from + Duration::weeks(4), now()),
        None
    );
}

#[test]
fn uids_are_stable_across_renderings() {
    let mut data = team();
    add_override(&mut data, "dave", [ny(2026, 1, 7, 9, 0), ny(2026, 1, 9, 9, 0)], 1);
    let from = ny(2026, 1, 5, 10, 0);
    let (_, first) = parse(&rotation_feed(&data, "primary", from, from + Duration::weeks(4), now()).unwrap());
    // Fetched again a day later, over a window a day later.
    let later = now() + Duration::days(1);
    let moved = from + Duration::days(1);
    let (_, second) = parse(&rotation_feed(&data, "primary", moved, moved + Duration::weeks(4), later).unwrap());

    let uids = |seen: &[Seen]| seen.iter().map(|s| s.uid.clone()).collect::<Vec<_>>();
    let (a, b) = (uids(&first), uids(&second));
    assert_eq!(
        a.iter().collect::<BTreeSet<_>>().len(),
        a.len(),
        "UIDs are unique in a feed"
    );
    // The same events, plus one more shift at the end of the moved window.
    assert_eq!(&b[..a.len()], &a[..]);
    assert_eq!(b.len(), a.len() + 1);
    for (x, y) in first.iter().zip(&second) {
        assert_eq!((&x.summary, &x.start, &x.end), (&y.summary, &y.start, &y.end));
        assert_eq!(y.stamp, later);
    }
    assert_eq!(a[1], "primary.dave.20260107T140000Z@afterhours");
}

#[test]
fn names_with_commas_and_long_lines_come_back_as_written() {
    let mut data = team();
    data.engineers.get_mut("alice").unwrap().name = "Martin, Alice; \"Al\" Ørsted-Søndergaard".into();
    data.rotations.get_mut("primary").unwrap().name =
        "Primary on-call for the database, storage and networking products".into();
    let from = ny(2026, 1, 5, 10, 0);
    let text = rotation_feed(&data, "primary", from, from + Duration::weeks(1), now()).unwrap();
    // parse() checks that every line, folded, is at most 75 octets.
    let (calendar, seen) = parse(&text);
    assert!(text.contains("\r\n "), "a long SUMMARY is folded");
    assert_eq!(
        calendar.property_value("X-WR-CALNAME"),
        Some("Primary on-call for the database, storage and networking products")
    );
    assert_eq!(
        seen[0].summary,
        "On call: Martin, Alice; \"Al\" Ørsted-Søndergaard (Primary on-call for the database, storage and \
         networking products)"
    );
}

#[test]
fn a_rotation_without_participants_shows_only_its_overrides() {
    let mut data = team();
    data.rotations.get_mut("primary").unwrap().participants.clear();
    add_override(&mut data, "dave", [ny(2026, 1, 7, 9, 0), ny(2026, 1, 9, 9, 0)], 1);
    let from = ny(2026, 1, 5, 10, 0);
    let (_, seen) = parse(&rotation_feed(&data, "primary", from, from + Duration::weeks(4), now()).unwrap());
    assert_eq!(
        outline(&seen),
        [row(
            "dave",
            "override",
            naive(2026, 1, 7, 9, 0),
            naive(2026, 1, 9, 9, 0)
        )]
    );
}
