//! Outside calendars read into shifts: feeds in the shapes PagerDuty, Opsgenie and Grafana OnCall export,
//! with recurrence and time zones, a weekly event across a daylight-saving change, a local time that does
//! not exist, events that match nobody, and documents that are not iCalendar.
//!
//! The team: alice (alice@example.com), bob (bob@example.com) and carol (Carol@Example.com, so that case
//! does not matter), in New York; dave has no email.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::America::New_York as NEW_YORK;

use super::*;
use crate::oncall::model::tests::engineer;

fn team() -> BTreeMap<String, Engineer> {
    let mut engineers = BTreeMap::new();
    let names = [
        ("alice", "Alice Martin", Some("alice@example.com")),
        ("bob", "Bob Okafor", Some("bob@example.com")),
        ("carol", "Carol Nguyen", Some("Carol@Example.com")),
        ("dave", "Dave Price", None),
    ];
    for (n, (id, name, email)) in names.into_iter().enumerate() {
        let mut e = engineer(id, n as u32 + 1);
        e.name = name.to_owned();
        e.email = email.map(str::to_owned);
        engineers.insert(id.to_owned(), e);
    }
    engineers
}

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

/// Friday 2026-11-27, 20:00 in New York.
fn friday_night() -> DateTime<Utc> {
    utc(2026, 11, 28, 1, 0)
}

/// A calendar of `events`, each given as its lines, with CRLF line ends.
fn calendar(prodid: &str, events: &[&[&str]]) -> String {
    let mut lines = vec![
        "BEGIN:VCALENDAR".to_owned(),
        "VERSION:2.0".to_owned(),
        format!("PRODID:{prodid}"),
    ];
    for event in events {
        lines.push("BEGIN:VEVENT".to_owned());
        lines.extend(event.iter().map(|l| (*l).to_owned()));
        lines.push("END:VEVENT".to_owned());
    }
    lines.push("END:VCALENDAR".to_owned());
    lines.join("\r\n") + "\r\n"
}

fn shift(engineer: &str, start: DateTime<Utc>, end: DateTime<Utc>) -> ImportedShift {
    ImportedShift {
        start,
        end,
        engineer: engineer.to_owned(),
    }
}

/// PagerDuty's export: the final schedule, one event per on-call span in UTC, the user as ATTENDEE and in
/// the SUMMARY ("On Call - NAME - SCHEDULE").
#[test]
fn a_pagerduty_export_is_matched_by_attendee_email() {
    let text = calendar(
        "-//PagerDuty Inc.//PagerDuty Calendar//EN",
        &[
            &[
                "UID:Q0ABC123ONCALL1",
                "DTSTAMP:20261120T000000Z",
                "DTSTART:20261123T150000Z",
                "DTEND:20261130T150000Z",
                "SUMMARY:On Call - Bob Okafor - Primary",
                "ATTENDEE:bob@example.com",
                "URL:https://acme.pagerduty.com/schedules#PABC123",
            ],
            &[
                "UID:Q0ABC123ONCALL2",
                "DTSTAMP:20261120T000000Z",
                "DTSTART:20261130T150000Z",
                "DTEND:20261207T150000Z",
                "SUMMARY:On Call - Alice Martin - Primary",
                "ATTENDEE;CN=Alice Martin:mailto:ALICE@EXAMPLE.COM",
            ],
            &[
                "UID:Q0ABC123ONCALL3",
                "DTSTAMP:20261120T000000Z",
                "DTSTART:20261207T150000Z",
                "DTEND:20261214T150000Z",
                "SUMMARY:On Call - Zed Unknown - Primary",
                "ATTENDEE:zed@example.com",
            ],
        ],
    );
    let expanded = expand(&text, &team(), NEW_YORK, friday_night()).unwrap();
    assert_eq!(
        expanded.shifts,
        [
            shift("bob", utc(2026, 11, 23, 15, 0), utc(2026, 11, 30, 15, 0)),
            shift("alice", utc(2026, 11, 30, 15, 0), utc(2026, 12, 7, 15, 0)),
        ]
    );
    assert_eq!(
        expanded.unmatched,
        [Unmatched {
            summary: "On Call - Zed Unknown - Primary".into(),
            attendees: vec!["zed@example.com".into()],
            start: utc(2026, 12, 7, 15, 0),
        }]
    );
}

/// Opsgenie's export: one event per on-call period, the participant's address in the SUMMARY, no ATTENDEE.
/// Case does not matter.
#[test]
fn an_opsgenie_export_is_matched_by_the_email_in_its_summary() {
    let text = calendar(
        "-//Opsgenie//Opsgenie Schedule//EN",
        &[
            &[
                "UID:og-1",
                "DTSTART:20261127T170000Z",
                "DTEND:20261128T050000Z",
                "SUMMARY:carol@example.com (Primary_schedule - Night)",
                "DESCRIPTION:On call",
            ],
            &[
                "UID:og-2",
                "DTSTART:20261128T050000Z",
                "DTEND:20261128T170000Z",
                "SUMMARY:nobody@example.com (Primary_schedule - Day)",
            ],
        ],
    );
    let expanded = expand(&text, &team(), NEW_YORK, friday_night()).unwrap();
    assert_eq!(
        expanded.shifts,
        [shift("carol", utc(2026, 11, 27, 17, 0), utc(2026, 11, 28, 5, 0))]
    );
    assert_eq!(expanded.unmatched.len(), 1);
    assert_eq!(
        expanded.unmatched[0].summary,
        "nobody@example.com (Primary_schedule - Day)"
    );
}

/// Grafana OnCall's export: recurring shifts in the schedule's zone (TZID, RRULE), the user's name as the
/// SUMMARY. A weekly Monday 10:00 New York shift stays at 10:00 local across the end of daylight saving
/// time (Sunday 1 November 2026): 14:00 UTC before, 15:00 after, and each lasts a week of wall time.
#[test]
fn a_grafana_oncall_weekly_shift_keeps_its_local_hour_across_a_dst_change() {
    let text = calendar(
        "-//Grafana Labs//Grafana On-Call//",
        &[&[
            "UID:grafana-rotation-1",
            "DTSTART;TZID=America/New_York:20261019T100000",
            "DTEND;TZID=America/New_York:20261026T100000",
            "RRULE:FREQ=WEEKLY;INTERVAL=2",
            "SUMMARY:Alice Martin",
        ]],
    );
    // Monday 26 October, 12:00 New York (EDT): the window begins a week earlier.
    let now = utc(2026, 10, 26, 16, 0);
    let expanded = expand(&text, &team(), NEW_YORK, now).unwrap();
    assert_eq!(
        expanded.shifts,
        [
            shift("alice", utc(2026, 10, 19, 14, 0), utc(2026, 10, 26, 14, 0)),
            shift("alice", utc(2026, 11, 2, 15, 0), utc(2026, 11, 9, 15, 0)),
            shift("alice", utc(2026, 11, 16, 15, 0), utc(2026, 11, 23, 15, 0)),
            // The last that starts within the 35 days ahead.
            shift("alice", utc(2026, 11, 30, 15, 0), utc(2026, 12, 7, 15, 0)),
        ]
    );
    assert!(expanded.unmatched.is_empty());
}

/// A recurring event less its EXDATE, with one occurrence moved to another engineer by a RECURRENCE-ID
/// event; a rule's UNTIL in UTC ends it; a daily 02:30 that does not exist on the day clocks spring forward
/// moves to 03:00, as the rotation model does.
#[test]
fn exceptions_until_and_a_missing_local_time_follow_the_rotation_rules() {
    let text = calendar(
        "-//Grafana Labs//Grafana On-Call//",
        &[
            &[
                "UID:nightly",
                "DTSTART;TZID=America/New_York:20270310T023000",
                "DTEND;TZID=America/New_York:20270310T063000",
                "RRULE:FREQ=DAILY;UNTIL=20270316T120000Z",
                "EXDATE;TZID=America/New_York:20270312T023000",
                "SUMMARY:bob",
            ],
            &[
                "UID:nightly",
                "RECURRENCE-ID;TZID=America/New_York:20270313T023000",
                "DTSTART;TZID=America/New_York:20270313T023000",
                "DTEND;TZID=America/New_York:20270313T063000",
                "SUMMARY:dave",
            ],
        ],
    );
    let now = utc(2027, 3, 9, 12, 0);
    let expanded = expand(&text, &team(), NEW_YORK, now).unwrap();
    let got: Vec<(String, DateTime<Utc>, DateTime<Utc>)> = expanded
        .shifts
        .iter()
        .map(|s| (s.engineer.clone(), s.start, s.end))
        .collect();
    assert_eq!(
        got,
        [
            ("bob".into(), utc(2027, 3, 10, 7, 30), utc(2027, 3, 10, 11, 30)),
            ("bob".into(), utc(2027, 3, 11, 7, 30), utc(2027, 3, 11, 11, 30)),
            ("dave".into(), utc(2027, 3, 13, 7, 30), utc(2027, 3, 13, 11, 30)),
            // 02:30 on Sunday 14 March does not exist: the first instant after the gap, 03:00 EDT.
            ("bob".into(), utc(2027, 3, 14, 7, 0), utc(2027, 3, 14, 10, 30)),
            ("bob".into(), utc(2027, 3, 15, 6, 30), utc(2027, 3, 15, 10, 30)),
            ("bob".into(), utc(2027, 3, 16, 6, 30), utc(2027, 3, 16, 10, 30)),
        ]
    );
}

/// An event that names two engineers matches neither, and a cancelled one is no shift.
#[test]
fn an_ambiguous_event_is_unmatched_and_a_cancelled_one_is_dropped() {
    let text = calendar(
        "-//test//EN",
        &[
            &[
                "UID:both",
                "DTSTART:20261128T000000Z",
                "DTEND:20261128T120000Z",
                "SUMMARY:Alice Martin and Bob Okafor",
            ],
            &[
                "UID:cancelled",
                "DTSTART:20261128T120000Z",
                "DTEND:20261129T000000Z",
                "STATUS:CANCELLED",
                "SUMMARY:Alice Martin",
            ],
        ],
    );
    let expanded = expand(&text, &team(), NEW_YORK, friday_night()).unwrap();
    assert!(expanded.shifts.is_empty(), "{:?}", expanded.shifts);
    assert_eq!(expanded.unmatched.len(), 1);
}

/// Our own feed, read back: its shifts are the rotation's.
#[test]
fn our_own_feed_reads_back_as_the_same_shifts() {
    use crate::oncall::model::{OnCallData, Rotation, Shift};
    let mut data = OnCallData {
        engineers: team(),
        ..OnCallData::default()
    };
    let rotation = Rotation {
        id: "primary".into(),
        name: "Primary".into(),
        time_zone: NEW_YORK,
        start: NaiveDate::from_ymd_opt(2026, 1, 5)
            .unwrap()
            .and_hms_opt(10, 0, 0)
            .unwrap(),
        shift: Shift::Days(7),
        participants: vec!["alice".into(), "bob".into()],
        source: None,
        version: 0,
    };
    data.rotations.insert("primary".into(), rotation);
    let now = friday_night();
    let text = crate::oncall::ical::rotation_feed(&data, "primary", now, now + Duration::weeks(2), now).unwrap();
    let expanded = expand(&text, &data.engineers, NEW_YORK, now).unwrap();
    assert!(expanded.unmatched.is_empty(), "{:?}", expanded.unmatched);
    for s in &expanded.shifts {
        let on_call = data.on_call_in("primary", s.start).unwrap();
        assert_eq!(on_call.engineer.id, s.engineer);
        assert_eq!(on_call.until, Some(s.end));
    }
    assert_eq!(expanded.shifts.len(), 3, "{:?}", expanded.shifts);
}

#[test]
fn a_document_that_is_not_icalendar_is_refused() {
    for text in [
        "<html><body>Sign in</body></html>",
        "",
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n",
    ] {
        let error = expand(text, &team(), NEW_YORK, friday_night()).unwrap_err();
        assert!(matches!(error, ImportError::NotICalendar(_)), "{text:?}: {error:?}");
    }
}

#[test]
fn a_source_is_an_http_url_with_a_bounded_refresh_and_no_participants() {
    assert_eq!(parse_source(None, None, true), Ok(None));
    let source = parse_source(Some("https://example.com/cal.ics?token=x"), None, false)
        .unwrap()
        .unwrap();
    assert_eq!(source.refresh_secs, DEFAULT_REFRESH_SECS);
    assert_eq!(
        parse_source(Some("ftp://example.com/x"), None, false).unwrap_err().0,
        "source"
    );
    assert_eq!(
        parse_source(Some("https://example.com/x"), Some(5), false)
            .unwrap_err()
            .0,
        "refresh_secs"
    );
    assert_eq!(
        parse_source(Some("https://example.com/x"), None, true).unwrap_err().0,
        "source"
    );
    assert_eq!(parse_source(None, Some(900), false).unwrap_err().0, "refresh_secs");
}

/// Outlook writes Windows zone names; some tools give a DURATION instead of a DTEND. A DURATION is read; an
/// event whose zone is no IANA name, or whose rule does not parse, is set aside with why, never rung.
#[test]
fn a_duration_stands_for_dtend_and_unreadable_events_are_set_aside_with_why() {
    let text = calendar(
        "-//Microsoft Corporation//Outlook 16.0 MIMEDIR//EN",
        &[
            &[
                "UID:duration",
                "DTSTART;TZID=America/New_York:20261127T180000",
                "DURATION:PT12H",
                "SUMMARY:Bob Okafor",
            ],
            &[
                "UID:windows",
                "DTSTART;TZID=Eastern Standard Time:20261128T060000",
                "DTEND;TZID=Eastern Standard Time:20261128T180000",
                "SUMMARY:Carol Nguyen",
            ],
            &[
                "UID:rule",
                "DTSTART:20261128T180000Z",
                "DTEND:20261129T060000Z",
                "RRULE:FREQ=FORTNIGHTLY",
                "SUMMARY:Alice Martin",
            ],
        ],
    );
    let expanded = expand(&text, &team(), NEW_YORK, friday_night()).unwrap();

    assert_eq!(
        expanded.shifts,
        [shift("bob", utc(2026, 11, 27, 23, 0), utc(2026, 11, 28, 11, 0))]
    );
    let why: Vec<(&str, &str)> = expanded
        .skipped
        .iter()
        .map(|s| (s.summary.as_str(), s.why.as_str()))
        .collect();
    assert_eq!(
        why,
        [
            (
                "Carol Nguyen",
                "the TZID \"Eastern Standard Time\" of its DTSTART is no IANA time zone name"
            ),
            (
                "Alice Martin",
                "its RRULE \"FREQ=FORTNIGHTLY\" cannot be read (or is finer than hourly)"
            ),
        ]
    );
}
