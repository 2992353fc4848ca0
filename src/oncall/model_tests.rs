//! The on-call model's behaviour, as facts about one team.
//!
//! The team: a weekly `primary` rotation in New York, handing over on Mondays at 10:00 local time from
//! Monday 2026-01-05, in the order alice, bob, carol. Week 0 (from 2026-01-05) is alice's, week 1 bob's,
//! week 2 carol's, week 3 alice's again, and so on. dave and erin are engineers on no rotation.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::America::New_York as NEW_YORK;
use chrono_tz::Tz;

use super::*;

/// Engineer `id`, in New York, with a phone ending in `n`.
pub(crate) fn engineer(id: &str, n: u32) -> Engineer {
    Engineer {
        id: id.into(),
        name: id.to_uppercase(),
        phone: PhoneNumber::parse(&format!("+1555010000{n}")).unwrap(),
        time_zone: NEW_YORK,
        email: None,
    }
}

pub(crate) fn naive(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(y, m, d)
        .unwrap()
        .and_hms_opt(h, min, 0)
        .unwrap()
}

/// The instant of an unambiguous New York wall time, to the second.
fn ny(y: i32, m: u32, d: u32, h: u32, min: u32, s: u32) -> DateTime<Utc> {
    NEW_YORK.with_ymd_and_hms(y, m, d, h, min, s).single().unwrap().to_utc()
}

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, s).unwrap()
}

fn rotation(id: &str, time_zone: Tz, start: NaiveDateTime, shift: Shift, participants: &[&str]) -> Rotation {
    Rotation {
        id: id.into(),
        name: id.into(),
        time_zone,
        start,
        shift,
        participants: participants.iter().map(|&p| p.into()).collect(),
        source: None,
        version: 0,
    }
}

/// Monday 2026-01-05 10:00 New York, weekly.
fn weekly(id: &str, participants: &[&str]) -> Rotation {
    rotation(id, NEW_YORK, naive(2026, 1, 5, 10, 0), Shift::Days(7), participants)
}

fn team() -> OnCallData {
    let mut data = OnCallData::default();
    for (n, id) in ["alice", "bob", "carol", "dave", "erin"].into_iter().enumerate() {
        data.engineers.insert(id.into(), engineer(id, n as u32 + 1));
    }
    add_rotation(&mut data, weekly("primary", &["alice", "bob", "carol"]));
    data
}

fn add_rotation(data: &mut OnCallData, rotation: Rotation) {
    data.rotations.insert(rotation.id.clone(), rotation);
}

/// An override created `created` seconds after an arbitrary moment.
fn add_override(
    data: &mut OnCallData,
    id: &str,
    rotation: &str,
    engineer: &str,
    span: [DateTime<Utc>; 2],
    created: i64,
) {
    let entry = Override {
        id: id.into(),
        rotation: rotation.into(),
        engineer: engineer.into(),
        start: span[0],
        end: span[1],
        created: utc(2026, 1, 1, 0, 0, 0) + Duration::seconds(created),
    };
    data.overrides.entry(rotation.into()).or_default().push(entry);
}

fn add_policy(data: &mut OnCallData, id: &str, tiers: Vec<Vec<Target>>, repeat: u32) {
    let tiers = tiers
        .into_iter()
        .map(|targets| Tier {
            targets,
            ring_timeout_secs: DEFAULT_RING_TIMEOUT_SECS,
        })
        .collect();
    data.policies.insert(
        id.into(),
        Policy {
            id: id.into(),
            tiers,
            repeat,
        },
    );
}

fn on_rotation(id: &str) -> Target {
    Target::Rotation(id.into())
}

fn named(id: &str) -> Target {
    Target::Engineer(id.into())
}

/// Who is on call for `rotation` at `t`, and until when.
fn who(data: &OnCallData, rotation: &str, t: DateTime<Utc>) -> (String, DateTime<Utc>) {
    let on_call = data.on_call_in(rotation, t).expect("somebody is on call");
    (
        on_call.engineer.id,
        on_call.until.expect("a rotation's engineer has an end"),
    )
}

fn is(id: &str, until: DateTime<Utc>) -> (String, DateTime<Utc>) {
    (id.into(), until)
}

fn ids(tier: &TierOnCall) -> Vec<&str> {
    tier.people.iter().map(|p| p.engineer.id.as_str()).collect()
}

// --- Handoffs ------------------------------------------------------------------------------------------

#[test]
fn the_handoff_is_exactly_at_the_boundary() {
    let data = team();
    assert_eq!(
        who(&data, "primary", ny(2026, 1, 12, 9, 59, 59)),
        is("alice", ny(2026, 1, 12, 10, 0, 0))
    );
    assert_eq!(
        who(&data, "primary", ny(2026, 1, 12, 10, 0, 0)),
        is("bob", ny(2026, 1, 19, 10, 0, 0))
    );
    let sub_second = ny(2026, 1, 12, 10, 0, 0) - Duration::milliseconds(1);
    assert_eq!(who(&data, "primary", sub_second).0, "alice");
}

#[test]
fn the_first_shift_starts_at_the_start() {
    let data = team();
    let start = ny(2026, 1, 5, 10, 0, 0);
    assert_eq!(
        data.rotations["primary"].shift_at(start),
        (0, start, ny(2026, 1, 12, 10, 0, 0))
    );
    assert_eq!(who(&data, "primary", start), is("alice", ny(2026, 1, 12, 10, 0, 0)));
}

#[test]
fn participants_take_turns_and_start_over() {
    let data = team();
    let weeks: Vec<String> = (0..7)
        .map(|week| who(&data, "primary", ny(2026, 1, 6, 12, 0, 0) + Duration::weeks(week)).0)
        .collect();
    assert_eq!(weeks, ["alice", "bob", "carol", "alice", "bob", "carol", "alice"]);
}

#[test]
fn a_weekly_handoff_stays_at_10_local_across_the_spring_change() {
    // Clocks go forward on Sunday 2026-03-08: Monday 10:00 is 15:00 UTC before, 14:00 UTC after.
    let data = team();
    assert_eq!(who(&data, "primary", utc(2026, 3, 2, 14, 59, 59)).0, "bob");
    assert_eq!(
        who(&data, "primary", utc(2026, 3, 2, 15, 0, 0)),
        is("carol", utc(2026, 3, 9, 14, 0, 0))
    );
    assert_eq!(who(&data, "primary", utc(2026, 3, 9, 13, 59, 59)).0, "carol");
    assert_eq!(
        who(&data, "primary", utc(2026, 3, 9, 14, 0, 0)),
        is("alice", utc(2026, 3, 16, 14, 0, 0))
    );
}

#[test]
fn a_weekly_handoff_stays_at_10_local_across_the_autumn_change() {
    // Clocks go back on Sunday 2026-11-01: Monday 10:00 is 14:00 UTC before, 15:00 UTC after.
    let data = team();
    assert_eq!(who(&data, "primary", utc(2026, 10, 26, 13, 59, 59)).0, "carol");
    assert_eq!(
        who(&data, "primary", utc(2026, 10, 26, 14, 0, 0)),
        is("alice", utc(2026, 11, 2, 15, 0, 0))
    );
    assert_eq!(who(&data, "primary", utc(2026, 11, 2, 14, 59, 59)).0, "alice");
    assert_eq!(
        who(&data, "primary", utc(2026, 11, 2, 15, 0, 0)),
        is("bob", utc(2026, 11, 9, 15, 0, 0))
    );
}

#[test]
fn a_shift_that_contains_a_dst_change_ends_at_the_right_instant() {
    let primary = &team().rotations["primary"];
    // Week 8 contains the spring change: 167 hours long.
    let (index, from, until) = primary.shift_at(ny(2026, 3, 8, 12, 0, 0));
    assert_eq!(
        (index, from, until),
        (8, utc(2026, 3, 2, 15, 0, 0), utc(2026, 3, 9, 14, 0, 0))
    );
    assert_eq!(until - from, Duration::hours(167));
    // Week 42 contains the autumn change: 169 hours long.
    let (index, from, until) = primary.shift_at(ny(2026, 11, 1, 12, 0, 0));
    assert_eq!(
        (index, from, until),
        (42, utc(2026, 10, 26, 14, 0, 0), utc(2026, 11, 2, 15, 0, 0))
    );
    assert_eq!(until - from, Duration::hours(169));
}

#[test]
fn every_weekly_shift_of_the_year_runs_from_monday_10_to_monday_10_local() {
    let primary = &team().rotations["primary"];
    let mut t = ny(2026, 1, 5, 10, 0, 0);
    while t < ny(2027, 1, 4, 10, 0, 0) {
        let (_, from, until) = primary.shift_at(t);
        assert!(from <= t && t < until, "{t}: {from} .. {until}");
        for bound in [from, until] {
            let local = bound.with_timezone(&NEW_YORK);
            assert_eq!(
                (local.weekday(), local.hour(), local.minute()),
                (Weekday::Mon, 10, 0),
                "{t}"
            );
        }
        t += Duration::minutes(97);
    }
}

#[test]
fn a_daily_handoff_in_the_spring_gap_moves_to_the_first_instant_after_it() {
    // 02:30 does not exist in New York on 2026-03-08 (02:00 jumps to 03:00): that handoff is at 03:00 EDT.
    let nightly = rotation(
        "nightly",
        NEW_YORK,
        naive(2026, 3, 1, 2, 30),
        Shift::Days(1),
        &["alice"],
    );
    let (index, from, until) = nightly.shift_at(ny(2026, 3, 8, 12, 0, 0));
    assert_eq!(
        (index, from, until),
        (7, ny(2026, 3, 8, 3, 0, 0), ny(2026, 3, 9, 2, 30, 0))
    );
}

#[test]
fn a_daily_handoff_in_the_autumn_overlap_takes_the_earlier_instant() {
    // 01:30 happens twice in New York on 2026-11-01: the handoff is at the first, 01:30 EDT (05:30 UTC).
    let nightly = rotation(
        "nightly",
        NEW_YORK,
        naive(2026, 10, 25, 1, 30),
        Shift::Days(1),
        &["alice"],
    );
    let (index, from, until) = nightly.shift_at(ny(2026, 11, 1, 12, 0, 0));
    assert_eq!(
        (index, from, until),
        (7, utc(2026, 11, 1, 5, 30, 0), utc(2026, 11, 2, 6, 30, 0))
    );
    assert_eq!(until - from, Duration::hours(25));
}

#[test]
fn hours_shifts_are_exact_durations_across_dst() {
    // From Saturday 2026-03-07 08:00 EST (13:00 UTC), every 12 hours: after the change the handoffs are at
    // 09:00 and 21:00 local time.
    let halves = rotation(
        "halves",
        NEW_YORK,
        naive(2026, 3, 7, 8, 0),
        Shift::Hours(12),
        &["alice", "bob"],
    );
    let (index, from, until) = halves.shift_at(ny(2026, 3, 8, 6, 0, 0));
    assert_eq!(
        (index, from, until),
        (1, utc(2026, 3, 8, 1, 0, 0), utc(2026, 3, 8, 13, 0, 0))
    );
    assert_eq!(until.with_timezone(&NEW_YORK).hour(), 9);
    assert_eq!(
        halves.scheduled_at(ny(2026, 3, 8, 6, 0, 0)),
        Some(("bob", utc(2026, 3, 8, 13, 0, 0)))
    );

    let mut t = ny(2026, 3, 1, 0, 0, 0);
    while t < ny(2026, 3, 15, 0, 0, 0) {
        let (_, from, until) = halves.shift_at(t);
        assert!(from <= t && t < until, "{t}");
        assert_eq!(until - from, Duration::hours(12), "{t}");
        t += Duration::minutes(37);
    }
}

#[test]
fn before_the_start_the_rotation_still_cycles_backwards() {
    let data = team();
    let primary = &data.rotations["primary"];
    // The week before the start is the last participant's, the week before that the one before.
    let (index, from, until) = primary.shift_at(ny(2026, 1, 4, 12, 0, 0));
    assert_eq!(
        (index, from, until),
        (-1, ny(2025, 12, 29, 10, 0, 0), ny(2026, 1, 5, 10, 0, 0))
    );
    assert_eq!(
        who(&data, "primary", ny(2026, 1, 4, 12, 0, 0)),
        is("carol", ny(2026, 1, 5, 10, 0, 0))
    );
    assert_eq!(who(&data, "primary", ny(2025, 12, 24, 12, 0, 0)).0, "bob");
    assert_eq!(who(&data, "primary", ny(2025, 12, 1, 12, 0, 0)).0, "bob"); // week -5
    assert_eq!(who(&data, "primary", ny(2026, 1, 5, 9, 59, 59)).0, "carol");

    let halves = rotation(
        "halves",
        NEW_YORK,
        naive(2026, 3, 7, 8, 0),
        Shift::Hours(12),
        &["alice", "bob"],
    );
    assert_eq!(
        halves.scheduled_at(ny(2026, 3, 7, 7, 0, 0)),
        Some(("bob", ny(2026, 3, 7, 8, 0, 0)))
    );
    assert_eq!(halves.shift_at(ny(2026, 3, 6, 19, 0, 0)).0, -2);
}

#[test]
fn half_a_second_before_an_hours_handoff_before_the_start_is_still_the_shift_before() {
    let halves = rotation(
        "halves",
        NEW_YORK,
        naive(2026, 3, 7, 8, 0),
        Shift::Hours(12),
        &["alice", "bob"],
    );
    let start = ny(2026, 3, 7, 8, 0, 0);
    let t = start - Duration::milliseconds(500);
    let (index, from, until) = halves.shift_at(t);
    assert_eq!((index, from, until), (-1, start - Duration::hours(12), start));
    assert_eq!(halves.scheduled_at(t), Some(("bob", start)));
}

#[test]
fn a_rotation_without_participants_has_nobody() {
    let mut data = team();
    add_rotation(&mut data, weekly("nobody", &[]));
    assert_eq!(data.rotations["nobody"].scheduled_at(ny(2026, 2, 1, 0, 0, 0)), None);
    assert_eq!(data.on_call_in("nobody", ny(2026, 2, 1, 0, 0, 0)), None);
}

#[test]
fn an_unknown_rotation_has_nobody() {
    assert_eq!(team().on_call_in("tertiary", ny(2026, 2, 1, 0, 0, 0)), None);
}

// --- Overrides -----------------------------------------------------------------------------------------

#[test]
fn an_override_that_spans_a_handoff_wins_on_both_sides() {
    let mut data = team();
    add_override(
        &mut data,
        "cover",
        "primary",
        "dave",
        [ny(2026, 1, 12, 8, 0, 0), ny(2026, 1, 12, 12, 0, 0)],
        0,
    );
    assert_eq!(
        who(&data, "primary", ny(2026, 1, 12, 8, 0, 0)),
        is("dave", ny(2026, 1, 12, 12, 0, 0))
    );
    assert_eq!(
        who(&data, "primary", ny(2026, 1, 12, 9, 59, 59)),
        is("dave", ny(2026, 1, 12, 12, 0, 0))
    );
    assert_eq!(
        who(&data, "primary", ny(2026, 1, 12, 10, 0, 0)),
        is("dave", ny(2026, 1, 12, 12, 0, 0))
    );
    // At its end the schedule is back: bob's week.
    assert_eq!(
        who(&data, "primary", ny(2026, 1, 12, 12, 0, 0)),
        is("bob", ny(2026, 1, 19, 10, 0, 0))
    );
    let on_call = data.on_call_in("primary", ny(2026, 1, 12, 9, 0, 0)).unwrap();
    assert_eq!(on_call.rotation.as_deref(), Some("primary"));
}

#[test]
fn a_scheduled_engineers_until_is_cut_at_the_start_of_the_next_override() {
    let mut data = team();
    add_override(
        &mut data,
        "cover",
        "primary",
        "dave",
        [ny(2026, 1, 12, 8, 0, 0), ny(2026, 1, 12, 12, 0, 0)],
        0,
    );
    assert_eq!(
        who(&data, "primary", ny(2026, 1, 7, 12, 0, 0)),
        is("alice", ny(2026, 1, 12, 8, 0, 0))
    );
    assert_eq!(
        who(&data, "primary", ny(2026, 1, 12, 7, 59, 59)),
        is("alice", ny(2026, 1, 12, 8, 0, 0))
    );
    // An override after the shift does not cut it: bob's week ends at its handoff.
    assert_eq!(
        who(&data, "primary", ny(2026, 1, 12, 12, 0, 0)),
        is("bob", ny(2026, 1, 19, 10, 0, 0))
    );
}

#[test]
fn an_override_that_has_ended_does_not_cut_anything() {
    let mut data = team();
    add_override(
        &mut data,
        "past",
        "primary",
        "dave",
        [ny(2026, 1, 6, 8, 0, 0), ny(2026, 1, 6, 12, 0, 0)],
        0,
    );
    assert_eq!(
        who(&data, "primary", ny(2026, 1, 7, 12, 0, 0)),
        is("alice", ny(2026, 1, 12, 10, 0, 0))
    );
}

#[test]
fn where_overrides_overlap_the_latest_created_wins() {
    let mut data = team();
    // Listed newest first, to show that the creation time decides, not the order.
    add_override(
        &mut data,
        "short",
        "primary",
        "erin",
        [ny(2026, 1, 12, 9, 0, 0), ny(2026, 1, 12, 10, 30, 0)],
        20,
    );
    add_override(
        &mut data,
        "long",
        "primary",
        "dave",
        [ny(2026, 1, 12, 8, 0, 0), ny(2026, 1, 12, 12, 0, 0)],
        10,
    );
    assert_eq!(who(&data, "primary", ny(2026, 1, 12, 8, 30, 0)).0, "dave");
    assert_eq!(
        who(&data, "primary", ny(2026, 1, 12, 9, 30, 0)),
        is("erin", ny(2026, 1, 12, 10, 30, 0))
    );
    assert_eq!(
        who(&data, "primary", ny(2026, 1, 12, 11, 0, 0)),
        is("dave", ny(2026, 1, 12, 12, 0, 0))
    );

    // Created later, the long one covers the short one completely.
    for o in data.overrides.get_mut("primary").unwrap() {
        if o.id == "long" {
            o.created += Duration::seconds(30);
        }
    }
    assert_eq!(
        who(&data, "primary", ny(2026, 1, 12, 9, 30, 0)),
        is("dave", ny(2026, 1, 12, 12, 0, 0))
    );
}

#[test]
fn overrides_created_at_the_same_instant_are_decided_by_the_greater_id() {
    let mut data = team();
    let span = [ny(2026, 1, 12, 8, 0, 0), ny(2026, 1, 12, 12, 0, 0)];
    add_override(&mut data, "b", "primary", "erin", span, 0);
    add_override(&mut data, "a", "primary", "dave", span, 0);
    assert_eq!(who(&data, "primary", ny(2026, 1, 12, 9, 0, 0)).0, "erin");
}

#[test]
fn an_overridden_engineers_until_is_cut_where_a_later_created_override_begins() {
    let mut data = team();
    add_override(
        &mut data,
        "long",
        "primary",
        "dave",
        [ny(2026, 1, 12, 8, 0, 0), ny(2026, 1, 12, 12, 0, 0)],
        10,
    );
    add_override(
        &mut data,
        "short",
        "primary",
        "erin",
        [ny(2026, 1, 12, 9, 0, 0), ny(2026, 1, 12, 10, 30, 0)],
        20,
    );
    // dave is on call from 08:00, but only until 09:00, when erin's override (created later) takes over.
    assert_eq!(
        who(&data, "primary", ny(2026, 1, 12, 8, 30, 0)),
        is("dave", ny(2026, 1, 12, 9, 0, 0))
    );
}

#[test]
fn an_override_for_another_rotation_does_not_apply() {
    let mut data = team();
    add_rotation(&mut data, weekly("secondary", &["bob", "carol", "alice"]));
    add_override(
        &mut data,
        "cover",
        "secondary",
        "dave",
        [ny(2026, 1, 6, 0, 0, 0), ny(2026, 1, 8, 0, 0, 0)],
        0,
    );
    assert_eq!(
        who(&data, "primary", ny(2026, 1, 7, 12, 0, 0)),
        is("alice", ny(2026, 1, 12, 10, 0, 0))
    );
    assert_eq!(who(&data, "secondary", ny(2026, 1, 7, 12, 0, 0)).0, "dave");
}

// --- Escalation chains ---------------------------------------------------------------------------------

#[test]
fn the_chain_lists_each_tier_with_its_people_and_timeout() {
    let mut data = team();
    add_policy(
        &mut data,
        "default",
        vec![vec![on_rotation("primary")], vec![named("dave")]],
        1,
    );
    let chain = data.on_call("default", ny(2026, 1, 7, 12, 0, 0)).unwrap();
    assert_eq!(chain.policy, "default");
    assert_eq!(chain.repeat, 1);
    let primary = &chain.tiers[0].people[0];
    assert_eq!(
        (primary.engineer.id.as_str(), primary.until),
        ("alice", Some(ny(2026, 1, 12, 10, 0, 0)))
    );
    assert_eq!(primary.rotation.as_deref(), Some("primary"));
    let dave = &chain.tiers[1].people[0];
    assert_eq!(
        (dave.engineer.id.as_str(), dave.until, dave.rotation.as_deref()),
        ("dave", None, None)
    );
    assert_eq!(chain.tiers[1].ring_timeout_secs, DEFAULT_RING_TIMEOUT_SECS);
}

#[test]
fn an_empty_tier_is_skipped_by_the_attempts() {
    let mut data = team();
    add_rotation(&mut data, weekly("nobody", &[]));
    add_policy(
        &mut data,
        "default",
        vec![vec![on_rotation("nobody")], vec![on_rotation("primary")]],
        1,
    );
    let chain = data.on_call("default", ny(2026, 1, 7, 12, 0, 0)).unwrap();
    assert_eq!(chain.tiers.len(), 2);
    assert!(chain.tiers[0].people.is_empty());
    let attempts: Vec<Vec<&str>> = chain.attempts().into_iter().map(ids).collect();
    assert_eq!(attempts, [["alice"], ["alice"]]);
    assert!(!chain.is_empty());
}

#[test]
fn a_policy_with_nobody_at_all_is_empty() {
    let mut data = team();
    add_rotation(&mut data, weekly("nobody", &[]));
    add_policy(
        &mut data,
        "default",
        vec![
            vec![on_rotation("nobody")],
            vec![named("ghost")],
            vec![on_rotation("missing")],
        ],
        3,
    );
    let chain = data.on_call("default", ny(2026, 1, 7, 12, 0, 0)).unwrap();
    assert!(chain.is_empty());
    assert!(chain.attempts().is_empty());
}

#[test]
fn the_attempts_are_the_tiers_repeated_repeat_more_times() {
    let mut data = team();
    let tiers = vec![vec![on_rotation("primary")], vec![named("dave")], vec![named("erin")]];
    add_policy(&mut data, "default", tiers, 2);
    let chain = data.on_call("default", ny(2026, 1, 7, 12, 0, 0)).unwrap();
    let attempts: Vec<Vec<&str>> = chain.attempts().into_iter().map(ids).collect();
    assert_eq!(attempts.len(), 3 * (2 + 1));
    assert_eq!(
        attempts.concat(),
        [
            "alice", "dave", "erin", "alice", "dave", "erin", "alice", "dave", "erin"
        ]
    );

    add_policy(&mut data, "once", vec![vec![named("dave")]], 0);
    assert_eq!(
        data.on_call("once", ny(2026, 1, 7, 12, 0, 0)).unwrap().attempts().len(),
        1
    );
}

#[test]
fn the_same_engineer_through_two_targets_is_rung_once() {
    let mut data = team();
    add_policy(
        &mut data,
        "rotation_first",
        vec![vec![on_rotation("primary"), named("alice"), named("dave")]],
        0,
    );
    add_policy(
        &mut data,
        "named_first",
        vec![vec![named("alice"), on_rotation("primary")]],
        0,
    );
    let t = ny(2026, 1, 7, 12, 0, 0);

    // The first target that reaches someone is the one kept.
    let chain = data.on_call("rotation_first", t).unwrap();
    assert_eq!(ids(&chain.tiers[0]), ["alice", "dave"]);
    assert_eq!(chain.tiers[0].people[0].rotation.as_deref(), Some("primary"));
    let chain = data.on_call("named_first", t).unwrap();
    assert_eq!(ids(&chain.tiers[0]), ["alice"]);
    assert_eq!(chain.tiers[0].people[0].until, None);
}

#[test]
fn the_same_engineer_in_two_tiers_is_rung_in_both() {
    let mut data = team();
    add_policy(
        &mut data,
        "default",
        vec![vec![on_rotation("primary")], vec![named("alice")]],
        0,
    );
    let chain = data.on_call("default", ny(2026, 1, 7, 12, 0, 0)).unwrap();
    let attempts: Vec<Vec<&str>> = chain.attempts().into_iter().map(ids).collect();
    assert_eq!(attempts, [["alice"], ["alice"]]);
}

#[test]
fn an_unknown_policy_has_no_chain() {
    assert_eq!(team().on_call("nope", ny(2026, 1, 7, 12, 0, 0)), None);
}

// --- Shift text ----------------------------------------------------------------------------------------

#[test]
fn shifts_are_written_as_days_or_hours() {
    let cases: &[(&str, Option<Shift>)] = &[
        ("7d", Some(Shift::Days(7))),
        ("1d", Some(Shift::Days(1))),
        ("366d", Some(Shift::Days(366))),
        ("12h", Some(Shift::Hours(12))),
        ("1h", Some(Shift::Hours(1))),
        ("8784h", Some(Shift::Hours(8784))),
        ("0d", None),
        ("0h", None),
        ("367d", None),
        ("8785h", None),
        ("7w", None),
        ("7D", None),
        ("7", None),
        ("", None),
        ("d", None),
        ("h", None),
        ("-1d", None),
        ("7 d", None),
        ("1.5d", None),
        ("99999999999d", None),
    ];
    for (text, expected) in cases {
        assert_eq!(text.parse::<Shift>().ok(), *expected, "{text:?}");
    }
}

#[test]
fn a_bad_shift_says_what_is_expected() {
    assert_eq!(
        "7w".parse::<Shift>(),
        Err("invalid shift \"7w\": expected a whole number of days or hours above zero, e.g. \"7d\" or \"12h\"".into())
    );
}

#[test]
fn a_shift_is_displayed_as_it_is_written() {
    for text in ["7d", "12h", "1d", "366d"] {
        assert_eq!(text.parse::<Shift>().unwrap().to_string(), text);
    }
}

#[test]
fn a_shift_ending_in_a_non_ascii_character_is_an_error() {
    for text in ["7日", "7é", "é"] {
        assert!(text.parse::<Shift>().is_err(), "{text:?}");
    }
}

#[test]
fn a_case_tam_tier_rings_the_tam_it_is_given_and_nobody_without_a_case() {
    let mut data = team();
    data.engineers.get_mut("dave").unwrap().email = Some("Dave@Example.com".into());
    add_policy(
        &mut data,
        "default",
        vec![
            vec![on_rotation("primary")],
            vec![Target::CaseTam],
            vec![named("carol")],
        ],
        0,
    );
    let t = ny(2026, 1, 7, 12, 0, 0);

    let without = data.on_call("default", t).unwrap();
    assert!(without.tiers[1].case_tam && without.tiers[1].people.is_empty());
    assert!(!without.tiers[0].case_tam);
    let attempts: Vec<Vec<&str>> = without.attempts().into_iter().map(ids).collect();
    assert_eq!(attempts, [vec!["alice"], vec!["carol"]], "the TAM tier is skipped");

    let tam = data.find_engineer("dave@example.com").cloned();
    assert_eq!(tam.as_ref().map(|e| e.id.as_str()), Some("dave"));
    let with = data.on_call_for_case("default", t, tam.as_ref()).unwrap();
    let attempts: Vec<Vec<&str>> = with.attempts().into_iter().map(ids).collect();
    assert_eq!(attempts, [vec!["alice"], vec!["dave"], vec!["carol"]]);
}

#[test]
fn an_engineer_is_found_by_id_or_email_and_nobody_else_is() {
    let mut data = team();
    data.engineers.get_mut("bob").unwrap().email = Some("bob@example.com".into());
    assert_eq!(data.find_engineer(" bob ").map(|e| e.id.as_str()), Some("bob"));
    assert_eq!(
        data.find_engineer("BOB@example.com").map(|e| e.id.as_str()),
        Some("bob")
    );
    assert!(data.find_engineer("+15550100002").is_none(), "never a phone number");
    assert!(data.find_engineer("mallory@example.com").is_none());
}

/// A rotation that follows an outside calendar: its shifts are the calendar's, a gap between them has
/// nobody, and an override wins over them as over a participant's turn.
#[test]
fn a_rotation_with_an_outside_calendar_rings_its_shifts_and_overrides_win() {
    let mut data = team();
    let mut outside = weekly("outside", &[]);
    outside.source = Some(CalendarSource {
        url: "https://example.com/cal.ics".into(),
        refresh_secs: 900,
    });
    add_rotation(&mut data, outside);
    data.imported.insert(
        "outside".into(),
        vec![
            ImportedShift {
                start: ny(2026, 3, 2, 9, 0, 0),
                end: ny(2026, 3, 2, 17, 0, 0),
                engineer: "dave".into(),
            },
            ImportedShift {
                start: ny(2026, 3, 2, 17, 0, 0),
                end: ny(2026, 3, 3, 9, 0, 0),
                engineer: "erin".into(),
            },
        ],
    );
    assert_eq!(
        who(&data, "outside", ny(2026, 3, 2, 12, 0, 0)),
        is("dave", ny(2026, 3, 2, 17, 0, 0))
    );
    assert_eq!(
        who(&data, "outside", ny(2026, 3, 2, 17, 0, 0)),
        is("erin", ny(2026, 3, 3, 9, 0, 0))
    );
    assert_eq!(
        data.on_call_in("outside", ny(2026, 3, 3, 9, 0, 0)),
        None,
        "after the last shift: nobody"
    );
    add_override(
        &mut data,
        "swap",
        "outside",
        "alice",
        [ny(2026, 3, 2, 20, 0, 0), ny(2026, 3, 2, 22, 0, 0)],
        1,
    );
    assert_eq!(
        who(&data, "outside", ny(2026, 3, 2, 18, 0, 0)),
        is("erin", ny(2026, 3, 2, 20, 0, 0))
    );
    assert_eq!(
        who(&data, "outside", ny(2026, 3, 2, 21, 0, 0)),
        is("alice", ny(2026, 3, 2, 22, 0, 0))
    );
    // Imported shifts are ignored for a rotation without a source: its participants' turns count.
    data.imported.insert("primary".into(), data.imported["outside"].clone());
    assert_eq!(who(&data, "primary", ny(2026, 3, 2, 12, 0, 0)).0, "carol");

    let feed = crate::oncall::ical::rotation_feed(
        &data,
        "outside",
        ny(2026, 3, 2, 0, 0, 0),
        ny(2026, 3, 4, 0, 0, 0),
        ny(2026, 3, 1, 0, 0, 0),
    )
    .unwrap();
    let engineers: Vec<&str> = feed
        .lines()
        .filter_map(|l| l.strip_prefix("X-AFTERHOURS-ENGINEER:"))
        .collect();
    assert_eq!(engineers, ["dave", "erin", "alice", "erin"], "{feed}");
}
