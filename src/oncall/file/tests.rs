//! The rotation file read, checked and written back: the model it gives, the errors with their lines, the
//! export and its re-import.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use chrono_tz::America::New_York;

use super::{load, parse, to_toml};
use crate::oncall::model::{OnCallData, Override, Policy, Shift, Target, Tier, TierOnCall};

/// A small valid file; the bad cases below each change one thing in it.
const VALID: &str = r#"[[engineers]]
id = "alice"
name = "Alice Martin"
phone = "+15550100001"
time_zone = "America/New_York"

[[engineers]]
id = "bob"
name = "Bob Okafor"
phone = "+15550100002"
time_zone = "America/Chicago"

[[rotations]]
id = "primary"
name = "Primary on-call"
time_zone = "America/New_York"
start = "2026-01-05T10:00:00"
shift = "7d"
participants = ["alice", "bob"]

[[overrides]]
id = "swap"
rotation = "primary"
engineer = "bob"
start = "2026-01-06T18:00:00-05:00"
end = "2026-01-07T09:00:00-05:00"

[[policies]]
id = "default"
repeat = 1

[[policies.tiers]]
rotations = ["primary"]
engineers = ["alice"]
ring_timeout_secs = 20
"#;

fn demo_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config/oncall.toml")
}

fn parse_text(text: &str) -> Result<OnCallData, Vec<String>> {
    parse(Path::new("oncall.toml"), text).map_err(|errors| errors.iter().map(ToString::to_string).collect())
}

/// VALID with the first `old` replaced by `new`.
fn valid_with(old: &str, new: &str) -> String {
    assert!(VALID.contains(old), "VALID has no {old:?}");
    VALID.replacen(old, new, 1)
}

/// `data` as an exported file.
fn export(data: &OnCallData) -> String {
    to_toml(data).expect("the data serializes")
}

fn errors_of(text: &str) -> Vec<String> {
    parse_text(text).expect_err("the file is rejected")
}

fn new_york(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    New_York.with_ymd_and_hms(y, m, d, h, min, 0).single().unwrap().to_utc()
}

fn names(tier: &TierOnCall) -> Vec<&str> {
    tier.people.iter().map(|p| p.engineer.id.as_str()).collect()
}

#[test]
fn the_valid_example_parses_into_the_model() {
    let data = parse_text(VALID).unwrap();
    assert_eq!(data.engineers.keys().collect::<Vec<_>>(), ["alice", "bob"]);
    assert_eq!(data.engineers["bob"].phone.as_str(), "+15550100002");
    assert_eq!(data.engineers["bob"].time_zone, chrono_tz::America::Chicago);
    let primary = &data.rotations["primary"];
    assert_eq!(
        primary.start,
        NaiveDateTime::parse_from_str("2026-01-05 10:00", "%Y-%m-%d %H:%M").unwrap()
    );
    assert_eq!(primary.shift, Shift::Days(7));
    assert_eq!(primary.version, 0);
    assert_eq!(
        data.overrides["primary"],
        [Override {
            id: "swap".into(),
            rotation: "primary".into(),
            engineer: "bob".into(),
            start: new_york(2026, 1, 6, 18, 0),
            end: new_york(2026, 1, 7, 9, 0),
            created: DateTime::UNIX_EPOCH,
        }]
    );
    assert_eq!(
        data.policies["default"],
        Policy {
            id: "default".into(),
            tiers: vec![Tier {
                targets: vec![Target::Rotation("primary".into()), Target::Engineer("alice".into())],
                ring_timeout_secs: 20,
            }],
            repeat: 1,
        }
    );
}

#[test]
fn repeat_and_ring_timeout_have_defaults() {
    let text = valid_with("repeat = 1\n", "\n").replace("ring_timeout_secs = 20\n", "");
    let policy = &parse_text(&text).unwrap().policies["default"];
    assert_eq!((policy.repeat, policy.tiers[0].ring_timeout_secs), (0, 20));
}

#[test]
fn the_demo_file_loads() {
    let data = load(&demo_path()).unwrap_or_else(|e| panic!("{}", crate::settings::ConfigErrors(e)));
    assert_eq!(data.engineers.len(), 4);
    assert_eq!(
        data.rotations.keys().collect::<Vec<_>>(),
        ["primary", "secondary", "specialists"]
    );
    assert_eq!(data.rotations["specialists"].shift, Shift::Hours(12));
    assert_eq!(data.policies["default"].tiers.len(), 4);
    assert_eq!(data.policies["default"].repeat, 1);

    // Wednesday of the first week, noon in New York (17:00 in London). Without a case, the case's TAM tier
    // (the third) rings nobody and is skipped.
    let chain = data.on_call("default", new_york(2026, 1, 7, 12, 0)).unwrap();
    let tiers: Vec<Vec<&str>> = chain.tiers.iter().map(names).collect();
    assert_eq!(tiers, [vec!["alice"], vec!["bob"], vec![], vec!["dave", "alice"]]);
    assert!(chain.tiers[2].case_tam);
    assert_eq!(chain.attempts().len(), 6);
    // A case whose TAM is Dave, named by his email: rung after the on-call engineers, before the specialists.
    let dave = data.find_engineer("dave.price@example.com");
    assert_eq!(dave.map(|e| e.id.as_str()), Some("dave"));
    let chain = data
        .on_call_for_case("default", new_york(2026, 1, 7, 12, 0), dave)
        .unwrap();
    let tiers: Vec<Vec<&str>> = chain.tiers.iter().map(names).collect();
    assert_eq!(tiers, [vec!["alice"], vec!["bob"], vec!["dave"], vec!["dave", "alice"]]);
    assert_eq!(chain.attempts().len(), 8);
    // 21:00 in London: Carol's specialist shift.
    let chain = data.on_call("default", new_york(2026, 1, 7, 16, 0)).unwrap();
    assert_eq!(names(&chain.tiers[3]), ["carol", "alice"]);

    // Christmas Day: Carol's primary week, covered by Bob until Boxing Day 09:00.
    let chain = data.on_call("default", new_york(2026, 12, 25, 12, 0)).unwrap();
    assert_eq!(names(&chain.tiers[0]), ["bob"]);
    assert_eq!(chain.tiers[0].people[0].until, Some(new_york(2026, 12, 26, 9, 0)));
    assert_eq!(names(&chain.tiers[1]), ["alice"]);
}

#[test]
fn the_demo_file_survives_export_and_import() {
    let data = load(&demo_path()).unwrap();
    let text = export(&data);
    assert_eq!(parse_text(&text), Ok(data.clone()), "{text}");
    // And the export of the import is the same text.
    assert_eq!(export(&parse_text(&text).unwrap()), text);
}

#[test]
fn export_writes_the_documented_format() {
    let data = parse_text(VALID).unwrap();
    // The documented header, then the same text as the file it was read from.
    let expected = format!(
        "# On-call data for afterhours: engineers, rotations, overrides and escalation policies.\n\
         # Read with `afterhours rotation import FILE.toml`. A rotation's start is a local wall time in its\n\
         # time_zone; override times are RFC 3339 with an offset.\n\n{VALID}"
    );
    assert_eq!(export(&data), expected);
    assert_eq!(parse_text(&expected), Ok(data));
}

#[test]
fn export_quotes_what_needs_quoting() {
    let mut data = parse_text(VALID).unwrap();
    data.engineers.get_mut("alice").unwrap().name = "Alice \"Al\" O'Neil\\".into();
    data.rotations.get_mut("primary").unwrap().name = "Primary\non-call".into();
    assert_eq!(parse_text(&export(&data)), Ok(data));
}

/// Data as a store holds it: versions, real creation times, a tier naming an engineer first.
#[test]
fn export_then_import_of_store_data_keeps_who_is_on_call() {
    let mut data = parse_text(VALID).unwrap();
    data.rotations.get_mut("primary").unwrap().version = 7;
    let two = |id: &str, engineer: &str, start, end, created| Override {
        id: id.into(),
        rotation: "primary".into(),
        engineer: engineer.into(),
        start,
        end,
        created,
    };
    // Created in the opposite order to their ids, overlapping: "b-late" wins where they overlap.
    data.overrides.insert(
        "primary".into(),
        vec![
            two(
                "b-late",
                "alice",
                new_york(2026, 2, 2, 12, 0),
                new_york(2026, 2, 2, 14, 0),
                new_york(2026, 1, 20, 0, 0),
            ),
            two(
                "a-early",
                "bob",
                new_york(2026, 2, 2, 8, 0),
                new_york(2026, 2, 2, 20, 0),
                new_york(2026, 1, 10, 0, 0),
            ),
        ],
    );
    data.policies.get_mut("default").unwrap().tiers[0].targets.reverse();

    let back = parse_text(&export(&data)).unwrap();
    assert_eq!(back.rotations["primary"].version, 0, "versions are not exported");
    let created: Vec<(&str, DateTime<Utc>)> = back.overrides["primary"]
        .iter()
        .map(|o| (o.id.as_str(), o.created))
        .collect();
    assert_eq!(
        created,
        [
            ("a-early", DateTime::UNIX_EPOCH),
            ("b-late", DateTime::UNIX_EPOCH + Duration::seconds(1))
        ],
        "creation times become file order, oldest first"
    );
    assert_eq!(
        back.policies["default"].tiers[0].targets,
        [Target::Rotation("primary".into()), Target::Engineer("alice".into())],
        "rotations are listed before engineers"
    );
    let mut t = new_york(2026, 2, 1, 0, 0);
    while t < new_york(2026, 2, 4, 0, 0) {
        assert_eq!(back.on_call_in("primary", t), data.on_call_in("primary", t), "at {t}");
        t += Duration::minutes(30);
    }
}

#[test]
fn an_override_without_an_id_gets_one_from_its_rotation_and_start() {
    let data = parse_text(&valid_with("id = \"swap\"\n", "\n")).unwrap();
    assert_eq!(data.overrides["primary"][0].id, "primary-20260106T230000Z");
}

#[test]
fn where_overrides_overlap_the_later_in_the_file_wins() {
    let text = format!(
        "{VALID}\n[[overrides]]\nrotation = \"primary\"\nengineer = \"alice\"\n\
         start = \"2026-01-07T08:00:00-05:00\"\nend = \"2026-01-07T08:30:00-05:00\"\n"
    );
    let data = parse_text(&text).unwrap();
    assert_eq!(
        data.overrides["primary"][1].created,
        DateTime::UNIX_EPOCH + Duration::seconds(1)
    );
    let at = |h, m| {
        data.on_call_in("primary", new_york(2026, 1, 7, h, m))
            .unwrap()
            .engineer
            .id
    };
    assert_eq!([at(7, 59), at(8, 0), at(8, 30)], ["bob", "alice", "bob"]);
}

#[test]
fn an_explicit_creation_time_is_used() {
    let text = valid_with(
        "end = \"2026-01-07T09:00:00-05:00\"\n",
        "end = \"2026-01-07T09:00:00-05:00\"\ncreated = \"2026-01-02T12:00:00Z\"\n",
    );
    let data = parse_text(&text).unwrap();
    assert_eq!(
        data.overrides["primary"][0].created,
        Utc.with_ymd_and_hms(2026, 1, 2, 12, 0, 0).unwrap()
    );
}

#[test]
fn times_may_be_toml_date_times() {
    let text = valid_with("start = \"2026-01-05T10:00:00\"", "start = 2026-01-05T10:00:00")
        .replace(
            "start = \"2026-01-06T18:00:00-05:00\"",
            "start = 2026-01-06T18:00:00-05:00",
        )
        .replace("end = \"2026-01-07T09:00:00-05:00\"", "end = 2026-01-07T14:00:00Z");
    assert_eq!(parse_text(&text), parse_text(VALID));
}

#[test]
fn a_rotation_without_participants_is_allowed_and_has_nobody_on_call() {
    let data = parse_text(&valid_with("participants = [\"alice\", \"bob\"]", "participants = []")).unwrap();
    let chain = data.on_call("default", new_york(2026, 1, 12, 12, 0)).unwrap();
    assert_eq!(names(&chain.tiers[0]), ["alice"], "only the named engineer");
}

/// Each bad input, with the error it gives (file, line, key, message).
#[test]
fn each_bad_value_is_reported_with_its_line_and_key() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "participants = [\"alice\", \"bob\"]",
            "participants = [\"alice\", \"bob\", \"zed\"]",
            "oncall.toml:19: rotations[0].participants[2]: unknown engineer \"zed\"",
        ),
        (
            "engineer = \"bob\"",
            "engineer = \"zed\"",
            "oncall.toml:24: overrides[0].engineer: unknown engineer \"zed\"",
        ),
        (
            "engineers = [\"alice\"]",
            "engineers = [\"zed\"]",
            "oncall.toml:34: policies[0].tiers[0].engineers[0]: unknown engineer \"zed\"",
        ),
        (
            "phone = \"+15550100002\"",
            "phone = \"555-0100\"",
            "oncall.toml:10: engineers[1].phone: invalid phone number \"555-0100\": expected E.164, a + then 8 \
             to 15 digits, e.g. +18005550100",
        ),
        (
            "time_zone = \"America/Chicago\"",
            "time_zone = \"Mars/Olympus\"",
            "oncall.toml:11: engineers[1].time_zone: unknown time zone \"Mars/Olympus\": expected an IANA name \
             such as America/New_York",
        ),
        (
            "time_zone = \"America/New_York\"\nstart",
            "time_zone = \"EST5\"\nstart",
            "oncall.toml:16: rotations[0].time_zone: unknown time zone \"EST5\": expected an IANA name such as \
             America/New_York",
        ),
        (
            "shift = \"7d\"",
            "shift = \"0d\"",
            "oncall.toml:18: rotations[0].shift: invalid shift \"0d\": expected a whole number of days or hours \
             above zero, e.g. \"7d\" or \"12h\"",
        ),
        (
            "shift = \"7d\"",
            "shift = \"7w\"",
            "oncall.toml:18: rotations[0].shift: invalid shift \"7w\": expected a whole number of days or hours \
             above zero, e.g. \"7d\" or \"12h\"",
        ),
        (
            "shift = \"7d\"",
            "shift = \"7日\"",
            "oncall.toml:18: rotations[0].shift: invalid shift \"7日\": expected a whole number of days or hours \
             above zero, e.g. \"7d\" or \"12h\"",
        ),
        (
            "start = \"2026-01-05T10:00:00\"",
            "start = \"2026-01-05 10am\"",
            "oncall.toml:17: rotations[0].start: invalid start \"2026-01-05 10am\": expected a local date and \
             time without an offset (the rotation's time_zone places it), e.g. \"2026-01-05T10:00:00\"",
        ),
        (
            "start = \"2026-01-05T10:00:00\"",
            "start = \"2026-01-05T10:00:00-05:00\"",
            "oncall.toml:17: rotations[0].start: invalid start \"2026-01-05T10:00:00-05:00\": expected a local \
             date and time without an offset (the rotation's time_zone places it), e.g. \"2026-01-05T10:00:00\"",
        ),
        (
            "start = \"2026-01-06T18:00:00-05:00\"",
            "start = \"2026-01-06T18:00:00\"",
            "oncall.toml:25: overrides[0].start: invalid time \"2026-01-06T18:00:00\": expected RFC 3339 with an \
             offset, e.g. \"2026-12-24T18:00:00-05:00\"",
        ),
        (
            "end = \"2026-01-07T09:00:00-05:00\"",
            "end = \"2026-01-06T17:00:00-05:00\"",
            "oncall.toml:26: overrides[0].end: end \"2026-01-06T17:00:00-05:00\" is not after start \
             \"2026-01-06T18:00:00-05:00\": an override must last a while",
        ),
        (
            "end = \"2026-01-07T09:00:00-05:00\"",
            "end = \"2026-01-06T23:00:00Z\"",
            "oncall.toml:26: overrides[0].end: end \"2026-01-06T23:00:00Z\" is not after start \
             \"2026-01-06T18:00:00-05:00\": an override must last a while",
        ),
        (
            "rotation = \"primary\"",
            "rotation = \"tertiary\"",
            "oncall.toml:23: overrides[0].rotation: unknown rotation \"tertiary\"",
        ),
        (
            "rotations = [\"primary\"]",
            "rotations = [\"primary\", \"tertiary\"]",
            "oncall.toml:33: policies[0].tiers[0].rotations[1]: unknown rotation \"tertiary\"",
        ),
        (
            "ring_timeout_secs = 20",
            "ring_timeout_secs = 4",
            "oncall.toml:35: policies[0].tiers[0].ring_timeout_secs: ring timeout 4 is out of range: expected 5 \
             to 120 seconds",
        ),
        (
            "ring_timeout_secs = 20",
            "ring_timeout_secs = 121",
            "oncall.toml:35: policies[0].tiers[0].ring_timeout_secs: ring timeout 121 is out of range: expected \
             5 to 120 seconds",
        ),
        (
            "rotations = [\"primary\"]\nengineers = [\"alice\"]",
            "rotations = []\nengineers = []",
            "oncall.toml:32: policies[0].tiers[0]: a tier needs at least one rotation or engineer to ring, or case_tam = true",
        ),
        (
            "id = \"default\"",
            "id = \"\"",
            "oncall.toml:29: policies[0].id: the policy id is empty",
        ),
    ];
    for (old, new, expected) in cases {
        assert_eq!(errors_of(&valid_with(old, new)), [*expected], "{new}");
    }
}

#[test]
fn ring_timeouts_of_5_and_120_seconds_are_allowed() {
    for secs in ["5", "120"] {
        let text = valid_with("ring_timeout_secs = 20", &format!("ring_timeout_secs = {secs}"));
        assert!(parse_text(&text).is_ok(), "{secs}");
    }
}

/// Entries added at the end of VALID, which has 35 lines: the new entry's header is on line 37.
#[test]
fn each_bad_entry_is_reported_with_its_line_and_key() {
    let cases: &[(&str, &str)] = &[
        (
            "[[engineers]]\nid = \"alice\"\nname = \"Alice Again\"\nphone = \"+15550100009\"\n\
             time_zone = \"UTC\"\n",
            "oncall.toml:38: engineers[2].id: duplicate engineer id \"alice\": first defined at line 2",
        ),
        (
            "[[rotations]]\nid = \"primary\"\nname = \"Again\"\ntime_zone = \"UTC\"\n\
             start = \"2026-01-05T10:00:00\"\nshift = \"12h\"\nparticipants = []\n",
            "oncall.toml:38: rotations[1].id: duplicate rotation id \"primary\": first defined at line 14",
        ),
        (
            "[[overrides]]\nid = \"swap\"\nrotation = \"primary\"\nengineer = \"alice\"\n\
             start = \"2026-02-01T00:00:00Z\"\nend = \"2026-02-02T00:00:00Z\"\n",
            "oncall.toml:38: overrides[1].id: duplicate override id \"swap\": first defined at line 22",
        ),
        (
            "[[policies]]\nid = \"default\"\n[[policies.tiers]]\nengineers = [\"bob\"]\n",
            "oncall.toml:38: policies[1].id: duplicate policy id \"default\": first defined at line 29",
        ),
        (
            "[[policies]]\nid = \"nobody\"\n",
            "oncall.toml:37: policies[1].tiers: a policy needs at least one tier ([[policies.tiers]])",
        ),
    ];
    for (entry, expected) in cases {
        assert_eq!(errors_of(&format!("{VALID}\n{entry}")), [*expected], "{entry}");
    }
}

#[test]
fn two_overrides_without_ids_at_the_same_start_clash() {
    let one = "[[overrides]]\nrotation = \"primary\"\nengineer = \"alice\"\n\
               start = \"2026-02-01T00:00:00Z\"\nend = \"2026-02-02T00:00:00Z\"\n";
    assert_eq!(
        errors_of(&format!("{VALID}\n{one}\n{one}")),
        [
            "oncall.toml:43: overrides[2]: duplicate override id \"primary-20260201T000000Z\": first defined at \
             line 37 (generated from the rotation and the start: give the overrides ids)"
        ]
    );
}

#[test]
fn every_problem_is_reported_at_once_in_line_order() {
    let text = valid_with("time_zone = \"America/New_York\"", "time_zone = \"New York\"")
        .replace("ring_timeout_secs = 20", "ring_timeout_secs = 600")
        .replace(
            "participants = [\"alice\", \"bob\"]",
            "participants = [\"zed\", \"bob\", \"yan\"]",
        )
        .replace("shift = \"7d\"", "shift = \"d\"");
    assert_eq!(
        errors_of(&text),
        [
            "oncall.toml:5: engineers[0].time_zone: unknown time zone \"New York\": expected an IANA name such \
             as America/New_York",
            "oncall.toml:18: rotations[0].shift: invalid shift \"d\": expected a whole number of days or hours \
             above zero, e.g. \"7d\" or \"12h\"",
            "oncall.toml:19: rotations[0].participants[0]: unknown engineer \"zed\"",
            "oncall.toml:19: rotations[0].participants[2]: unknown engineer \"yan\"",
            "oncall.toml:35: policies[0].tiers[0].ring_timeout_secs: ring timeout 600 is out of range: expected \
             5 to 120 seconds",
        ]
    );
}

#[test]
fn a_participant_on_its_own_line_is_reported_on_that_line() {
    let text = valid_with(
        "participants = [\"alice\", \"bob\"]",
        "participants = [\n  \"alice\",\n  \"zed\",\n]",
    );
    assert_eq!(
        errors_of(&text),
        ["oncall.toml:21: rotations[0].participants[1]: unknown engineer \"zed\""]
    );
}

#[test]
fn syntax_and_type_errors_stop_at_the_first_with_line_and_key() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "shift = \"7d\"",
            "shift = \"7d\"\ncolour = \"red\"",
            "oncall.toml:19: rotations[0].colour: unknown field `colour`, expected one of `id`, `name`, \
             `time_zone`, `start`, `shift`, `participants`",
        ),
        (
            "repeat = 1",
            "repeat = -1",
            "oncall.toml:30: policies[0].repeat: invalid value: integer `-1`, expected u32",
        ),
        (
            "start = \"2026-01-05T10:00:00\"",
            "start = 20260105",
            "oncall.toml:17: rotations[0].start: invalid type: integer, expected a date and time such as \
             \"2026-01-05T10:00:00\"",
        ),
        (
            "name = \"Primary on-call\"\n",
            "",
            "oncall.toml:13: rotations[0]: missing field `name`",
        ),
        ("repeat = 1", "repeat = = 1", "oncall.toml:30: "),
    ];
    for (old, new, expected) in cases {
        let errors = errors_of(&valid_with(old, new));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with(expected), "{new}: {}", errors[0]);
    }
}

#[test]
fn a_missing_file_is_one_error() {
    let errors = load(Path::new("/nonexistent/oncall.toml")).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0]
            .to_string()
            .starts_with("/nonexistent/oncall.toml: cannot read the file: "),
        "{}",
        errors[0]
    );
}

#[test]
fn export_leaves_out_empty_lists() {
    let empty = export(&OnCallData::default());
    assert!(
        empty.lines().all(|line| line.is_empty() || line.starts_with('#')),
        "only the header:\n{empty}"
    );
    assert_eq!(parse_text(&empty), Ok(OnCallData::default()));

    let mut data = parse_text(VALID).unwrap();
    data.policies.get_mut("default").unwrap().tiers[0].targets.pop();
    let text = export(&data);
    assert!(
        text.ends_with("[[policies.tiers]]\nrotations = [\"primary\"]\nring_timeout_secs = 20\n"),
        "a tier without engineers:\n{text}"
    );
    assert_eq!(parse_text(&text), Ok(data));
}

#[test]
fn a_tier_may_ring_the_cases_tam_and_engineers_may_have_an_email_both_kept_on_export() {
    let text = valid_with(
        "time_zone = \"America/Chicago\"\n",
        "time_zone = \"America/Chicago\"\nemail = \"bob@example.com\"\n",
    ) + "\n[[policies.tiers]]\ncase_tam = true\nring_timeout_secs = 30\n";
    let data = parse_text(&text).unwrap();
    assert_eq!(data.engineers["bob"].email.as_deref(), Some("bob@example.com"));
    assert_eq!(
        data.policies["default"].tiers[1],
        Tier {
            targets: vec![Target::CaseTam],
            ring_timeout_secs: 30,
        }
    );
    let exported = export(&data);
    assert!(exported.contains("case_tam = true"), "{exported}");
    assert_eq!(parse_text(&exported).unwrap(), data);
}

#[test]
fn a_tier_with_nothing_to_ring_names_case_tam_in_its_error() {
    let errors = errors_of(&valid_with("rotations = [\"primary\"]\nengineers = [\"alice\"]\n", ""));
    assert!(errors.iter().any(|e| e.contains("or case_tam = true")), "{errors:?}");
}

#[test]
fn a_rotation_may_take_its_shifts_from_an_outside_calendar_kept_on_export() {
    let text = valid_with(
        "participants = [\"alice\", \"bob\"]",
        "source = \"https://acme.pagerduty.com/private/abc/feed\"\nrefresh_secs = 600",
    );
    let data = parse_text(&text).unwrap();
    let source = data.rotations["primary"].source.clone().unwrap();
    assert_eq!(source.url, "https://acme.pagerduty.com/private/abc/feed");
    assert_eq!(source.refresh_secs, 600);
    assert!(data.rotations["primary"].participants.is_empty());
    let exported = export(&data);
    assert!(exported.contains("refresh_secs = 600"), "{exported}");
    assert_eq!(parse_text(&exported).unwrap(), data);
}

#[test]
fn a_calendar_source_with_participants_or_a_bad_url_is_reported_with_its_line() {
    let both = errors_of(&valid_with(
        "participants = [\"alice\", \"bob\"]",
        "participants = [\"alice\", \"bob\"]\nsource = \"https://example.com/cal.ics\"",
    ));
    assert!(
        both.iter()
            .any(|e| e
                .contains("rotations[0].source: a rotation takes its shifts from its participants or from a source")),
        "{both:?}"
    );
    let bad = errors_of(&valid_with(
        "participants = [\"alice\", \"bob\"]",
        "source = \"file:///etc/passwd\"\nrefresh_secs = 10",
    ));
    assert!(
        bad.iter().any(|e| e.contains("rotations[0].source: expected an http")),
        "{bad:?}"
    );
}

#[test]
fn a_rotation_with_a_source_needs_no_start_nor_shift_and_one_without_names_what_is_missing() {
    let sourced = valid_with(
        "start = \"2026-01-05T10:00:00\"\nshift = \"7d\"\nparticipants = [\"alice\", \"bob\"]",
        "source = \"https://example.com/cal.ics\"",
    );
    let data = parse_text(&sourced).unwrap();
    assert!(data.rotations["primary"].source.is_some());
    let missing = errors_of(&valid_with("shift = \"7d\"\n", ""));
    assert!(
        missing
            .iter()
            .any(|e| e.contains("rotations[0].shift: missing field `shift`")),
        "{missing:?}"
    );
}
