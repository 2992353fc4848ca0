//! Micro-benchmarks of the call path: `cargo bench --bench micro`.
//!
//! TwiML rendering, the business-hours decision and the first-response deadline, the on-call chain, the
//! webhook signature, flow loading, and one whole webhook answered in-process (no network, no server). Every
//! input is built once, outside the measured closure; the shipped configuration is read from `config/`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use afterhours::assembly::Config;
use afterhours::assembly::{AppState, store_for};
use afterhours::clock::FixedClock;
use afterhours::flow::Flow;
use afterhours::http::voice::{self, Route};
use afterhours::oncall::model::{Engineer, OnCallData, Override, Policy, Rotation, Shift, Target, Tier};
use afterhours::phone::PhoneNumber;
use afterhours::signature;
use afterhours::twiml::{Dial, DialNumber, Record, Response, Verb, Voice};
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;
use criterion::{Criterion, criterion_group, criterion_main};

/// The server's allocator (see `src/main.rs`), so that what allocates costs here what it costs there.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PUBLIC_URL: &str = "https://voice.example.com";
const TOKEN: &str = "bench-auth-token";
const US_LINE: &str = "+18005550100";
const CALLER: &str = "+15551234567";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Friday 2026-11-27, 20:00 in New York (the day after Thanksgiving): after hours.
fn friday_night() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-27T20:00:00-05:00")
        .unwrap()
        .with_timezone(&Utc)
}

/// Tuesday 2026-11-24, 10:00 in New York: business hours.
fn tuesday_morning() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-24T10:00:00-05:00")
        .unwrap()
        .with_timezone(&Utc)
}

/// The shipped configuration, as the API tests load it, with the guess limit out of the way (every iteration
/// is a call from the same number).
fn shipped_config() -> Config {
    let env = owned(&[
        ("AFTERHOURS_SERVER__PUBLIC_URL", PUBLIC_URL),
        ("AFTERHOURS_PROVIDER__AUTH_TOKEN", TOKEN),
        ("AFTERHOURS_LIMITS__GUESSES_PER_WINDOW", "1000"),
    ]);
    Config::load_with_env(&root().join("config/afterhours.toml"), &env).unwrap_or_else(|e| panic!("config: {e}"))
}

/// Name/value pairs as the configuration loader and the webhook code take them.
fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// The fields Twilio posts on the first webhook of an inbound call (10 of them).
fn incoming_fields() -> Vec<(String, String)> {
    owned(&[
        ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", "CA0123456789abcdef0123456789abcdef"),
        ("CallStatus", "ringing"),
        ("Called", US_LINE),
        ("Caller", CALLER),
        ("Direction", "inbound"),
        ("From", CALLER),
        ("FromCountry", "US"),
        ("To", US_LINE),
    ])
}

fn config_criterion() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}

// --- TwiML --------------------------------------------------------------------------------------------------

fn twiml(c: &mut Criterion) {
    let mut group = c.benchmark_group("twiml");

    // The incoming webhook's answer at night, as the flow builds it: greeting, then the case-number gather.
    let incoming = incoming_answer().response;
    assert!(incoming.to_xml().contains("<Gather"), "{}", incoming.to_xml());
    group.bench_function("incoming_say_gather", |b| b.iter(|| black_box(&incoming).to_xml()));

    let state = "line=us&n.case_number=1&v.case=123456&v.case_number=123456&v.customer=Acme+Corp&v.decision=verified";
    let mut dial = Response::new();
    dial.push(say("Connecting you to the on-call engineer. Please stay on the line."))
        .push(Verb::Dial(Dial {
            action: format!("{PUBLIC_URL}/voice/step/bridge/dialed?{state}"),
            caller_id: US_LINE.into(),
            timeout_secs: 20,
            time_limit_secs: 14_400,
            numbers: ["alice", "bob", "carol"]
                .iter()
                .enumerate()
                .map(|(i, who)| DialNumber {
                    phone: format!("+1555010000{}", i + 1),
                    url: format!("{PUBLIC_URL}/voice/step/bridge/whisper?{state}&v.engineer={who}"),
                })
                .collect(),
        }));
    group.bench_function("dial_3_numbers", |b| b.iter(|| black_box(&dial).to_xml()));

    let action = format!("{PUBLIC_URL}/voice/step/voicemail/recorded?{state}");
    let mut record = Response::new();
    record
        .push(say(
            "Nobody could take your call. Please leave a message after the tone, then press the pound key.",
        ))
        .push(Verb::Record(Record {
            action: action.clone(),
            max_length_secs: 180,
            finish_on_key: '#',
            timeout_secs: 10,
        }))
        .push(Verb::Redirect { url: action });
    group.bench_function("record", |b| b.iter(|| black_box(&record).to_xml()));

    group.finish();
}

fn say(text: &str) -> Verb {
    Verb::Say {
        text: text.into(),
        voice: Voice::default(),
    }
}

// --- Calendar -----------------------------------------------------------------------------------------------

fn calendar(c: &mut Criterion) {
    let config = shipped_config();
    let line = config.lines.by_key("us").expect("the shipped us line").clone();
    let (cal, tz) = (line.calendar.clone(), line.tz);
    let mut group = c.benchmark_group("calendar");

    let (night, morning) = (friday_night(), tuesday_morning());
    assert!(!cal.is_business_time(tz, night) && cal.is_business_time(tz, morning));
    group.bench_function("is_business_time_friday_night", |b| {
        b.iter(|| cal.is_business_time(black_box(tz), black_box(night)))
    });
    group.bench_function("is_business_time_tuesday_morning", |b| {
        b.iter(|| cal.is_business_time(black_box(tz), black_box(morning)))
    });
    // Friday night → Monday's closing: the search walks the weekend.
    group.bench_function("deadline_friday_night", |b| {
        b.iter(|| cal.first_response_deadline(black_box(tz), black_box(night)))
    });
    // Christmas Eve 2026 (a Thursday) at 20:00: Christmas Day is a holiday, then a weekend.
    let xmas_eve = DateTime::parse_from_rfc3339("2026-12-24T20:00:00-05:00")
        .unwrap()
        .with_timezone(&Utc);
    group.bench_function("deadline_christmas_eve", |b| {
        b.iter(|| cal.first_response_deadline(black_box(tz), black_box(xmas_eve)))
    });
    group.finish();
}

// --- On call ------------------------------------------------------------------------------------------------

/// 50 engineers, three rotations of all 50 (weekly New York, daily Chicago, 12-hourly London), 100 overrides
/// spread over them around `t` (some overlapping, some covering `t`), and a policy of 3 tiers whose last also
/// names an engineer directly.
fn big_oncall(t: DateTime<Utc>) -> OnCallData {
    let zones: [Tz; 4] = [
        chrono_tz::America::New_York,
        chrono_tz::America::Chicago,
        chrono_tz::America::Los_Angeles,
        chrono_tz::Europe::London,
    ];
    let ids: Vec<String> = (0..50).map(|i| format!("eng{i:02}")).collect();
    let engineers: BTreeMap<String, Engineer> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let engineer = Engineer {
                id: id.clone(),
                name: format!("Engineer {i}"),
                phone: PhoneNumber::parse(&format!("+1555010{i:04}")).unwrap(),
                time_zone: zones[i % zones.len()],
                email: None,
            };
            (id.clone(), engineer)
        })
        .collect();
    let start = NaiveDate::from_ymd_opt(2026, 1, 5)
        .unwrap()
        .and_hms_opt(10, 0, 0)
        .unwrap();
    let rotation = |id: &str, tz: Tz, shift: Shift, offset: usize| {
        let mut participants = ids.clone();
        participants.rotate_left(offset);
        Rotation {
            id: id.into(),
            name: id.into(),
            time_zone: tz,
            start,
            shift,
            participants,
            source: None,
            version: 1,
        }
    };
    let rotations: BTreeMap<String, Rotation> = [
        rotation("primary", chrono_tz::America::New_York, Shift::Days(7), 0),
        rotation("secondary", chrono_tz::America::Chicago, Shift::Days(1), 1),
        rotation("specialists", chrono_tz::Europe::London, Shift::Hours(12), 2),
    ]
    .into_iter()
    .map(|r| (r.id.clone(), r))
    .collect();
    let names: Vec<&String> = rotations.keys().collect();
    let mut overrides: BTreeMap<String, Vec<Override>> = BTreeMap::new();
    for i in 0..100_i64 {
        let rotation = names[i as usize % names.len()].clone();
        // Starts 12 h apart around t, each two days long: within one rotation they overlap by 12 h.
        let start = t + TimeDelta::hours(12 * (i - 50));
        overrides.entry(rotation.clone()).or_default().push(Override {
            id: format!("{rotation}-{i:03}"),
            engineer: ids[(i as usize * 7) % ids.len()].clone(),
            rotation,
            start,
            end: start + TimeDelta::days(2),
            created: start - TimeDelta::days(30) + TimeDelta::minutes(i),
        });
    }
    for list in overrides.values_mut() {
        list.sort_by_key(|o| o.start);
    }
    let tier = |targets: Vec<Target>, ring_timeout_secs| Tier {
        targets,
        ring_timeout_secs,
    };
    let policy = Policy {
        id: "default".into(),
        tiers: vec![
            tier(vec![Target::Rotation("primary".into())], 20),
            tier(vec![Target::Rotation("secondary".into())], 20),
            tier(
                vec![Target::Rotation("specialists".into()), Target::Engineer("eng00".into())],
                30,
            ),
        ],
        repeat: 1,
    };
    OnCallData {
        engineers,
        rotations,
        overrides,
        policies: BTreeMap::from([("default".to_owned(), policy)]),
        imported: BTreeMap::new(),
    }
}

fn oncall(c: &mut Criterion) {
    let t = friday_night();
    let data = big_oncall(t);
    let chain = data.on_call("default", t).expect("the policy exists");
    assert_eq!(chain.tiers.len(), 3);
    assert!(chain.tiers.iter().all(|tier| !tier.people.is_empty()), "{chain:?}");
    let mut group = c.benchmark_group("oncall");
    group.bench_function("chain_3_tiers_50_people_100_overrides", |b| {
        b.iter(|| black_box(&data).on_call(black_box("default"), black_box(t)))
    });
    // What the embedded store's `load` costs before every chain is computed: a clone of everything.
    group.bench_function("clone_data_50_people_100_overrides", |b| {
        b.iter(|| black_box(&data).clone())
    });
    group.finish();
}

// --- Signature ----------------------------------------------------------------------------------------------

fn signatures(c: &mut Criterion) {
    let url = format!("{PUBLIC_URL}/voice/incoming");
    let params = incoming_fields();
    let good = signature::compute(TOKEN.as_bytes(), &url, &params);
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&params)
        .finish();
    assert!(signature::is_valid(TOKEN.as_bytes(), &url, &params, &good));
    let mut group = c.benchmark_group("signature");
    group.bench_function("compute_10_fields", |b| {
        b.iter(|| signature::compute(black_box(TOKEN.as_bytes()), black_box(&url), black_box(&params)))
    });
    // The URL as given matches: one HMAC.
    group.bench_function("is_valid_10_fields", |b| {
        b.iter(|| signature::is_valid(TOKEN.as_bytes(), black_box(&url), black_box(&params), black_box(&good)))
    });
    // What the intake does with every webhook's body: decode the form, then check its signature.
    group.bench_function("intake_decode_and_check_10_fields", |b| {
        b.iter(|| {
            let form = afterhours::flow::engine::CallInput::decode(black_box(body.as_bytes()));
            signature::is_valid(TOKEN.as_bytes(), black_box(&url), &form, black_box(&good))
        })
    });
    group.finish();
}

// --- Flow ---------------------------------------------------------------------------------------------------

fn flow(c: &mut Criterion) {
    let path = root().join("voice-flows/critical-incident.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let flow = Flow::parse(&path, &text).unwrap_or_else(|e| panic!("{} errors", e.len()));
    assert!(flow.steps.len() > 10);
    let mut group = c.benchmark_group("flow");
    // Parse and validate, from the text in memory.
    group.bench_function("parse_critical_incident", |b| {
        b.iter(|| Flow::parse(black_box(Path::new(&path)), black_box(&text)))
    });
    // The same, reading the file.
    group.bench_function("load_critical_incident", |b| b.iter(|| Flow::load(black_box(&path))));
    group.finish();
}

// --- Whole webhook ------------------------------------------------------------------------------------------

fn app_state() -> AppState {
    let config = Arc::new(shipped_config());
    let store = store_for(&config).unwrap();
    AppState::with(config, Arc::new(FixedClock(friday_night())), None, store)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// One answer to the incoming webhook at night (for the TwiML benchmark).
fn incoming_answer() -> voice::Answer {
    let state = app_state();
    let params = Arc::new(incoming_fields());
    runtime().block_on(voice::answer(&state, Route::Incoming, "", params.clone()))
}

fn webhook(c: &mut Criterion) {
    let state = app_state();
    let params = Arc::new(incoming_fields());
    let rt = runtime();
    let answer = rt.block_on(voice::answer(&state, Route::Incoming, "", params.clone()));
    let xml = answer.response.to_xml();
    assert!(xml.contains("enter your case number"), "{xml}");
    let mut group = c.benchmark_group("webhook");
    // In-process: the line, the flow up to the gather (the rate limit counts later, at the case number), TwiML.
    group.bench_function("incoming_night_answer", |b| {
        b.to_async(&rt)
            .iter(|| async { voice::answer(&state, Route::Incoming, "", black_box(params.clone())).await })
    });
    group.bench_function("incoming_night_answer_and_xml", |b| {
        b.to_async(&rt).iter(|| async {
            voice::answer(&state, Route::Incoming, "", black_box(params.clone()))
                .await
                .response
                .to_xml()
        })
    });
    // The engineer's leg fetching its whisper: the call state decoded from the URL's query, the prompt with
    // the case and the customer, the accept gather's URL with the state encoded again; no store, no network.
    let whisper = Route::Step {
        step: "bridge",
        event: Some("whisper"),
    };
    let leg = Arc::new(whisper_fields());
    let xml = rt
        .block_on(voice::answer(&state, whisper, WHISPER_QUERY, leg.clone()))
        .response
        .to_xml();
    assert!(xml.contains("for ACME Corp. Press 1 to accept"), "{xml}");
    group.bench_function("whisper_answer_and_xml", |b| {
        b.to_async(&rt).iter(|| async {
            voice::answer(&state, whisper, black_box(WHISPER_QUERY), black_box(leg.clone()))
                .await
                .response
                .to_xml()
        })
    });
    group.finish();
}

/// The call state in the whisper URL of a tier-1 dial of a verified case (as the load test's calls carry it).
const WHISPER_QUERY: &str = "line=us&n.bridge=0&n.case_number=1&v.case=700000&v.case_number=700000\
    &v.case_customer=ACME+Corp&v.customer=ACME+Corp&v.decision=verified&v.dialled=carol&v.engineer=carol";

/// The fields Twilio posts when the engineer's leg answers and fetches its whisper.
fn whisper_fields() -> Vec<(String, String)> {
    owned(&[
        ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
        ("CallSid", "CA0123456789abcdef0123456789abcdee"),
        ("ParentCallSid", "CA0123456789abcdef0123456789abcdef"),
        ("CallStatus", "in-progress"),
        ("Direction", "outbound-api"),
        ("From", US_LINE),
        ("To", "+15550001111"),
    ])
}

criterion_group! {
    name = micro;
    config = config_criterion();
    targets = twiml, calendar, oncall, signatures, flow, webhook
}
criterion_main!(micro);
