//! The bridge to the on-call engineer, played as Twilio plays it, against a real Redis: the rotation is
//! imported with the real binary (`afterhours rotation import`) under a key prefix of the test's own, and the
//! server reads it from there.
//!
//! How Twilio drives a bridge:
//! - the caller's call runs `<Dial action callerId timeout>` with one `<Number url>` per engineer;
//! - an engineer who picks up is a child leg: Twilio POSTs the `<Number url>` (the whisper) with the leg's own
//!   `CallSid` and `ParentCallSid` = the caller's `CallSid`, then the whisper's `<Gather>` action with `Digits`;
//! - when the dial ends, Twilio POSTs the `<Dial action>` on the caller's call, with `DialCallStatus`.
//!
//! It is Friday, November 27 2026, 8 PM in New York. With the shipped rotation (config/oncall.toml) the chain
//! is: tier 1 Bob (primary, 20 s), tier 2 Carol (secondary, 20 s), tier 3 the case's TAM (25 s; the case
//! system here names none, so it is skipped), tier 4 Carol (specialists) and Alice (30 s), then all of it
//! once more.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use afterhours::signature;
use afterhours::store::Store;
use afterhours::store::redis::RedisStore;
use serde_json::{Value, json};
use wiremock::{MockServer, Request};

use crate::helpers::*;

/// The caller's call, as `call_fields` sends it on every webhook of the caller's leg.
const CALL_SID: &str = "CA0123456789abcdef0123456789abcdef";
pub(crate) const BOB: &str = "+15550100002";
pub(crate) const CAROL: &str = "+15550100003";
pub(crate) const ALICE: &str = "+15550100001";
const BOB_LEG: &str = "CA00000000000000000000000000000b0b";
const CAROL_LEG: &str = "CA0000000000000000000000000000ca01";

pub(crate) const VERIFIED: &str = "Thank you. Case 1 2 3 4 5 6 for ACME Corp is a critical incident in production.";
const CONNECTING: &str = "Connecting you to the on-call engineer. Please stay on the line.";
const STILL_TRYING: &str = "We are still trying to reach an engineer. Please stay on the line.";
const WHISPER: &str =
    "Critical production case 1 2 3 4 5 6 for ACME Corp. Press 1 to accept, any other key to decline.";
pub(crate) const VOICEMAIL: &str = "We are sorry, no engineer could take your call right now. Please leave a message about \
    the incident after the tone, then press the pound key.";
pub(crate) const RECORDING: &str =
    "https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Recordings/RE0123456789abcdef";

/// The dials of the shipped chain when the case names no TAM (its TAM tier rings nobody and is skipped): three
/// tiers, then the same three once more (repeat = 1), who and for how many seconds.
pub(crate) const SHIPPED_DIALS: [(&[&str], &str); 6] = [
    (&[BOB], "20"),
    (&[CAROL], "20"),
    (&[CAROL, ALICE], "30"),
    (&[BOB], "20"),
    (&[CAROL], "20"),
    (&[CAROL, ALICE], "30"),
];

// ---------------------------------------------------------------------------------------------------------
// Set-up: Redis, the rotation imported with the binary, the case system, the server.

fn unique() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A key prefix no other test uses.
pub(crate) fn fresh_prefix() -> String {
    format!("test:bridge:{}:{}:", std::process::id(), unique())
}

pub(crate) fn shipped(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// A rotation file written to a temporary folder of its own, removed when dropped.
struct RotationFile {
    dir: PathBuf,
    path: PathBuf,
}

impl RotationFile {
    fn new(text: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("afterhours-bridge-{}-{}", std::process::id(), unique()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("oncall.toml");
        std::fs::write(&path, text).unwrap();
        Self { dir, path }
    }
}

impl Drop for RotationFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `afterhours --config config/afterhours.toml rotation import FILE`, run as a user runs it, writing to
/// Redis under `prefix`.
pub(crate) async fn import(prefix: &str, file: &Path) {
    let (prefix, file) = (prefix.to_owned(), file.to_owned());
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_afterhours"))
            .arg("--config")
            .arg(shipped("config/afterhours.toml"))
            .args(["rotation", "import"])
            .arg(&file)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AFTERHOURS_PROVIDER__AUTH_TOKEN", TOKEN)
            .env("AFTERHOURS_REDIS__URL", redis_url())
            .env("AFTERHOURS_REDIS__PREFIX", prefix)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "rotation import failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A case system that knows case 123456 (critical, production, open, ACME Corp) and takes every note.
pub(crate) async fn case_system() -> MockServer {
    case_system_knowing(&[("123456", acme_case_123456(json!({})))]).await
}

/// One night: the case system, the on-call data in Redis under a prefix of its own, and a server on both.
pub(crate) struct Night {
    pub(crate) cases: MockServer,
    pub(crate) prefix: String,
    pub(crate) app: TestApp,
}

impl Night {
    /// The shipped rotation (config/oncall.toml).
    pub(crate) async fn shipped() -> Night {
        Night::with_rotation(&shipped("config/oncall.toml")).await
    }

    /// A rotation file of the test's own.
    async fn with_rotation_text(text: &str) -> Night {
        let file = RotationFile::new(text);
        Night::with_rotation(&file.path).await
    }

    async fn with_rotation(file: &Path) -> Night {
        let prefix = fresh_prefix();
        import(&prefix, file).await;
        let cases = case_system().await;
        let app = server_on(&cases, &prefix).start().await;
        Night { cases, prefix, app }
    }

    /// Another replica of the same deployment: the same Redis, prefix and case system.
    async fn another_instance(&self) -> TestApp {
        server_on(&self.cases, &self.prefix).start().await
    }

    /// The acceptance record of `attempt` (0-based) of the caller's call, read straight from Redis.
    async fn acceptance(&self, attempt: u32) -> Option<String> {
        RedisStore::new(&redis_url(), &self.prefix)
            .unwrap()
            .acceptance(CALL_SID, attempt)
            .await
            .unwrap()
    }

    /// Every acceptance record of this test's prefix.
    async fn acceptance_keys(&self) -> Vec<String> {
        let client = redis::Client::open(redis_url()).unwrap();
        let mut connection = client.get_multiplexed_async_connection().await.unwrap();
        let mut keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}call:*:accepted:*", self.prefix))
            .query_async(&mut connection)
            .await
            .unwrap();
        keys.sort();
        keys
    }

    /// The caller dials the US line and enters case 123456: what they hear next.
    async fn call_about_the_case(&self) -> Twiml {
        call_about_the_case(&self.app).await
    }

    /// Waits (up to 5 s) for the one note on case 123456, then makes sure no second one comes.
    async fn the_note(&self) -> String {
        let notes = wait_for_notes(&self.cases, 1).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let notes_now = notes_received(&self.cases).await;
        assert_eq!(notes_now.len(), 1, "one note per call: {:?}", texts(&notes_now));
        assert_eq!(notes[0].url.path(), "/cases/123456/notes");
        note_text(&notes[0])
    }
}

/// Friday night on the US line, cases at `cases`, on-call data in Redis under `prefix`.
pub(crate) fn server_on(cases: &MockServer, prefix: &str) -> Spawn {
    friday_night()
        .cases(&cases.uri())
        .env("AFTERHOURS_CASES__NOTES__BACKOFF_MS", "20")
        .env("AFTERHOURS_REDIS__URL", &redis_url())
        .env("AFTERHOURS_REDIS__PREFIX", prefix)
}

async fn call_about_the_case(app: &TestApp) -> Twiml {
    let greeting = app.incoming(CALLER, US_LINE).await;
    app.follow(greeting.action(), &[("Digits", "123456#")]).await
}

async fn notes_received(server: &MockServer) -> Vec<Request> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() == "POST" && r.url.path().ends_with("/notes"))
        .collect()
}

async fn wait_for_notes(server: &MockServer, count: usize) -> Vec<Request> {
    for _ in 0..100 {
        let notes = notes_received(server).await;
        if notes.len() >= count {
            return notes;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("expected {count} notes within 5 s");
}

fn note_text(note: &Request) -> String {
    let body: Value = note.body_json().unwrap();
    body["body"].as_str().unwrap().to_owned()
}

fn texts(notes: &[Request]) -> Vec<String> {
    notes.iter().map(note_text).collect()
}

// ---------------------------------------------------------------------------------------------------------
// Playing Twilio: the engineer's leg and the end of the dial.

/// The fields Twilio sends on the webhooks of an engineer's leg: its own CallSid, the caller's as parent,
/// from the line's number (the Dial's callerId) to the engineer's phone.
fn leg_fields(leg_sid: &str, phone: &str) -> Vec<(String, String)> {
    params(&[
        ("CallSid", leg_sid),
        ("ParentCallSid", CALL_SID),
        ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
        ("From", US_LINE),
        ("To", phone),
        ("Caller", US_LINE),
        ("Called", phone),
        ("CallStatus", "in-progress"),
        ("Direction", "outbound-dial"),
        ("ApiVersion", "2010-04-01"),
    ])
}

pub(crate) fn path_of(url: &str) -> &str {
    url.strip_prefix(PUBLIC_URL)
        .unwrap_or_else(|| panic!("{url} is not under {PUBLIC_URL}"))
}

/// The whisper URL of the `<Number>` that rings `phone`.
pub(crate) fn whisper_url(dial: &Twiml, phone: &str) -> String {
    dial.dial_numbers
        .iter()
        .find(|(number, _)| number == phone)
        .map(|(_, url)| url.clone())
        .unwrap_or_else(|| panic!("{phone} is not dialled: {}", dial.xml))
}

/// The engineer at `phone` picks up: Twilio fetches the whisper of that `<Number>` on the new leg.
pub(crate) async fn picks_up(app: &TestApp, dial: &Twiml, phone: &str, leg_sid: &str) -> Twiml {
    let url = whisper_url(dial, phone);
    app.post_signed(path_of(&url), &leg_fields(leg_sid, phone))
        .await
        .twiml()
}

/// The engineer on `leg_sid` presses `digits` in the whisper's `<Gather>`.
pub(crate) async fn presses(app: &TestApp, whisper: &Twiml, phone: &str, leg_sid: &str, digits: &str) -> Twiml {
    let mut fields = leg_fields(leg_sid, phone);
    fields.extend(params(&[("Digits", digits), ("FinishedOnKey", "")]));
    app.post_signed(path_of(whisper.action()), &fields).await.twiml()
}

/// The dial ends: Twilio POSTs the `<Dial action>` on the caller's call.
pub(crate) async fn dial_ends(app: &TestApp, dial: &Twiml, status: &str) -> Twiml {
    let action = dial
        .dial_action
        .clone()
        .unwrap_or_else(|| panic!("no <Dial>: {}", dial.xml));
    let mut extra = vec![("DialCallStatus", status)];
    if status == "completed" {
        extra.extend([
            ("DialCallSid", CAROL_LEG),
            ("DialCallDuration", "312"),
            ("DialBridged", "true"),
        ]);
    }
    app.follow(&action, &extra).await
}

/// A dial of `phones` (in order), from the line's number, ringing `timeout` seconds.
pub(crate) fn assert_dials(twiml: &Twiml, phones: &[&str], timeout: &str) {
    let dialled: Vec<&str> = twiml.dial_numbers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(dialled, phones, "{}", twiml.xml);
    assert_eq!(twiml.dial_caller_id.as_deref(), Some(US_LINE), "{}", twiml.xml);
    assert_eq!(twiml.dial_timeout.as_deref(), Some(timeout), "{}", twiml.xml);
    assert!(!twiml.hangup, "{}", twiml.xml);
}

/// `url` with the query parameter `key` set to `value` (added, replaced, or removed when `None`).
fn with_query_param(url: &str, key: &str, value: Option<&str>) -> String {
    let (base, query) = url.split_once('?').unwrap();
    let mut out = form_urlencoded::Serializer::new(String::new());
    let mut found = false;
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        if k == key {
            found = true;
            if let Some(value) = value {
                out.append_pair(&k, value);
            }
        } else {
            out.append_pair(&k, &v);
        }
    }
    if let (false, Some(value)) = (found, value) {
        out.append_pair(key, value);
    }
    format!("{base}?{}", out.finish())
}

/// Lets a dial ring out, `n` times in a row: the answer to the last Dial action.
pub(crate) async fn rings_out(app: &TestApp, mut twiml: Twiml, n: usize) -> Twiml {
    for _ in 0..n {
        twiml = dial_ends(app, &twiml, "no-answer").await;
    }
    twiml
}

// ---------------------------------------------------------------------------------------------------------
// The done-when scenario

#[tokio::test]
async fn tier_1_rings_out_tier_2_carol_hears_the_whisper_presses_1_and_the_case_note_says_she_took_it() {
    let night = Night::shipped().await;
    let app = &night.app;

    // The caller enters the case; it is verified, and tier 1 (Bob, primary) rings for 20 s.
    let tier_1 = night.call_about_the_case().await;
    assert_eq!(tier_1.says, [VERIFIED, CONNECTING], "{}", tier_1.xml);
    assert_dials(&tier_1, &[BOB], "20");

    // Bob does not answer: the caller hears that we are still trying, and tier 2 (Carol, secondary) rings.
    let tier_2 = dial_ends(app, &tier_1, "no-answer").await;
    assert_eq!(tier_2.says, [STILL_TRYING], "{}", tier_2.xml);
    assert_dials(&tier_2, &[CAROL], "20");

    // Carol picks up: the whisper gives the case digit by digit and the customer, and waits for one key.
    let whisper = picks_up(app, &tier_2, CAROL, CAROL_LEG).await;
    assert_eq!(whisper.says, [WHISPER], "{}", whisper.xml);
    assert!(whisper.xml.contains(r#"numDigits="1""#), "{}", whisper.xml);
    assert!(whisper.hangup, "no key: the leg hangs up: {}", whisper.xml);
    assert_eq!(night.acceptance(1).await, None, "answering is not accepting");

    // She presses 1: recorded under the caller's call, and she is connected.
    let accepted = presses(app, &whisper, CAROL, CAROL_LEG, "1").await;
    assert_eq!(accepted.says, ["Connecting you now."], "{}", accepted.xml);
    assert!(!accepted.hangup, "{}", accepted.xml);
    assert_eq!(night.acceptance(1).await.as_deref(), Some("carol"));

    // The bridged call ends: the Dial action finds the acceptance, and the caller's call ends.
    let end = dial_ends(app, &tier_2, "completed").await;
    assert!(end.hangup, "{}", end.xml);
    assert!(end.says.is_empty(), "{}", end.xml);
    assert!(end.dial_action.is_none(), "nobody else is rung: {}", end.xml);

    assert_eq!(
        night.the_note().await,
        "After-hours call on Friday, November 27, 8 PM (2026-11-28T01:00:00+00:00), line North America \
         (+18005550100), from +15551234567. Decision: verified as a critical production case. \
         Dialled: bob, carol. Accepted by: carol, put through at Friday, November 27, 7:54 PM Eastern time (2026-11-28T00:54:48+00:00), on the line for 312 s."
    );
}

// ---------------------------------------------------------------------------------------------------------
// What counts as accepted

#[tokio::test]
async fn a_voicemail_box_that_answers_is_not_an_acceptance_and_the_next_tier_rings() {
    let night = Night::shipped().await;
    let app = &night.app;
    let tier_1 = night.call_about_the_case().await;

    // Bob's voicemail picks up: it hears the whisper, presses nothing, and the leg hangs up; Twilio still
    // reports the dial as completed.
    let whisper = picks_up(app, &tier_1, BOB, BOB_LEG).await;
    assert!(whisper.hangup);
    let next = dial_ends(app, &tier_1, "completed").await;

    assert_eq!(next.says, [STILL_TRYING], "{}", next.xml);
    assert_dials(&next, &[CAROL], "20");
    assert!(night.acceptance_keys().await.is_empty());
}

#[tokio::test]
async fn an_acceptance_on_a_dial_that_connected_nobody_rings_the_next_tier() {
    let night = Night::shipped().await;
    let app = &night.app;
    let tier_1 = night.call_about_the_case().await;

    // Bob presses 1, but Twilio fails to put him through: the caller is still alone on the line.
    let whisper = picks_up(app, &tier_1, BOB, BOB_LEG).await;
    presses(app, &whisper, BOB, BOB_LEG, "1").await;
    assert_eq!(night.acceptance_keys().await.len(), 1);
    let next = dial_ends(app, &tier_1, "failed").await;

    assert_eq!(next.says, [STILL_TRYING], "{}", next.xml);
    assert_dials(&next, &[CAROL], "20");
}

#[tokio::test]
async fn an_engineer_who_presses_another_key_declines_that_leg_hangs_up_and_the_dial_escalates() {
    let night = Night::shipped().await;
    let app = &night.app;
    let tier_1 = night.call_about_the_case().await;

    let whisper = picks_up(app, &tier_1, BOB, BOB_LEG).await;
    let declined = presses(app, &whisper, BOB, BOB_LEG, "2").await;

    assert!(declined.hangup, "{}", declined.xml);
    assert!(declined.says.is_empty(), "{}", declined.xml);
    assert!(night.acceptance_keys().await.is_empty());
    let next = dial_ends(app, &tier_1, "completed").await;
    assert_eq!(next.says, [STILL_TRYING], "{}", next.xml);
    assert_dials(&next, &[CAROL], "20");
}

#[tokio::test]
async fn the_specialists_tier_rings_the_specialist_and_the_lead_at_once_for_30_seconds_and_either_may_accept() {
    let night = Night::shipped().await;
    let app = &night.app;
    let specialists = rings_out(app, night.call_about_the_case().await, 2).await;
    assert_dials(&specialists, &[CAROL, ALICE], "30");

    // Alice's whisper names her; Carol's names Carol: each leg's acceptance is its own engineer's.
    assert!(whisper_url(&specialists, ALICE).contains("v.engineer=alice"));
    assert!(whisper_url(&specialists, CAROL).contains("v.engineer=carol"));
    let whisper = picks_up(app, &specialists, ALICE, "CA00000000000000000000000000a11ce0").await;
    presses(app, &whisper, ALICE, "CA00000000000000000000000000a11ce0", "1").await;
    assert_eq!(night.acceptance(2).await.as_deref(), Some("alice"));

    assert!(dial_ends(app, &specialists, "completed").await.hangup);
    let note = night.the_note().await;
    assert!(
        note.ends_with("Dialled: bob, carol, carol, alice. Accepted by: alice, put through at Friday, November 27, 7:54 PM Eastern time (2026-11-28T00:54:48+00:00), on the line for 312 s."),
        "{note}"
    );
}

// ---------------------------------------------------------------------------------------------------------
// Nobody accepts: voicemail

#[tokio::test]
async fn nobody_accepts_through_all_tiers_and_the_repeat_so_the_caller_leaves_a_voicemail() {
    let night = Night::shipped().await;
    let app = &night.app;
    let mut twiml = night.call_about_the_case().await;

    for (attempt, (phones, timeout)) in SHIPPED_DIALS.iter().enumerate() {
        assert_dials(&twiml, phones, timeout);
        if attempt > 0 {
            assert_eq!(twiml.says, [STILL_TRYING], "attempt {}", attempt + 1);
        }
        twiml = dial_ends(app, &twiml, "no-answer").await;
    }

    // Nobody: the voicemail prompt and <Record>.
    assert_eq!(twiml.says, [VOICEMAIL], "{}", twiml.xml);
    assert!(twiml.dial_action.is_none(), "{}", twiml.xml);
    let record = twiml.record_action.clone().expect("a <Record>");
    assert!(twiml.xml.contains(r#"maxLength="180""#), "{}", twiml.xml);

    let thanks = app
        .follow(
            &record,
            &[
                ("RecordingUrl", RECORDING),
                ("RecordingDuration", "42"),
                ("RecordingSid", "RE0123456789abcdef0123456789abcdef"),
            ],
        )
        .await;
    assert_eq!(
        thanks.says,
        [
            "Thank you. Your message is attached to case 1 2 3 4 5 6, and you will hear from us by Monday, \
          November 30, 6 PM Eastern time at the latest. Goodbye."
        ]
    );
    assert!(thanks.hangup);

    let note = night.the_note().await;
    assert!(
        note.ends_with(&format!(
            "Dialled: bob, carol, carol, alice, bob, carol, carol, alice. Nobody accepted. Voicemail: {RECORDING}"
        )),
        "{note}"
    );
    assert!(night.acceptance_keys().await.is_empty());
}

// ---------------------------------------------------------------------------------------------------------
// Replays

#[tokio::test]
async fn a_dial_action_replayed_after_an_acceptance_gets_the_same_answer() {
    let night = Night::shipped().await;
    let app = &night.app;
    let tier_1 = night.call_about_the_case().await;
    let whisper = picks_up(app, &tier_1, BOB, BOB_LEG).await;
    presses(app, &whisper, BOB, BOB_LEG, "1").await;

    let first = dial_ends(app, &tier_1, "completed").await;
    let again = dial_ends(app, &tier_1, "completed").await;

    assert!(first.hangup, "{}", first.xml);
    assert_eq!(first.xml, again.xml);
}

#[tokio::test]
async fn a_dial_action_replayed_without_an_acceptance_gets_the_same_next_tier() {
    let night = Night::shipped().await;
    let app = &night.app;
    let tier_1 = night.call_about_the_case().await;

    let first = dial_ends(app, &tier_1, "no-answer").await;
    let again = dial_ends(app, &tier_1, "no-answer").await;

    assert_dials(&first, &[CAROL], "20");
    assert_eq!(
        first.xml, again.xml,
        "the same tier, with the same URLs: nothing moved on twice"
    );
    // The replayed escalation is still one step: the specialists come next, not the repeat of tier 1.
    assert_dials(&dial_ends(app, &again, "no-answer").await, &[CAROL, ALICE], "30");
}

#[tokio::test]
async fn a_dial_action_replayed_after_an_acceptance_adds_the_case_note_once() {
    let night = Night::shipped().await;
    let app = &night.app;
    let tier_1 = night.call_about_the_case().await;
    let whisper = picks_up(app, &tier_1, BOB, BOB_LEG).await;
    presses(app, &whisper, BOB, BOB_LEG, "1").await;

    dial_ends(app, &tier_1, "completed").await;
    dial_ends(app, &tier_1, "completed").await;

    // `the_note` insists on exactly one note.
    let note = night.the_note().await;
    assert!(note.ends_with("Dialled: bob. Accepted by: bob, put through at Friday, November 27, 7:54 PM Eastern time (2026-11-28T00:54:48+00:00), on the line for 312 s."), "{note}");
}

// ---------------------------------------------------------------------------------------------------------
// Whispers and accepts that belong to no call

#[tokio::test]
async fn pressing_1_on_a_leg_without_a_parent_call_hangs_up_and_records_nothing() {
    let night = Night::shipped().await;
    let app = &night.app;
    let tier_1 = night.call_about_the_case().await;
    let whisper = picks_up(app, &tier_1, BOB, BOB_LEG).await;

    let mut fields = leg_fields(BOB_LEG, BOB);
    fields.retain(|(k, _)| k != "ParentCallSid");
    fields.extend(params(&[("Digits", "1")]));
    let answer = app.post_signed(path_of(whisper.action()), &fields).await.twiml();

    assert!(answer.hangup, "{}", answer.xml);
    assert!(answer.says.is_empty(), "{}", answer.xml);
    assert!(night.acceptance_keys().await.is_empty());
    assert_dials(&dial_ends(app, &tier_1, "completed").await, &[CAROL], "20");
}

#[tokio::test]
async fn pressing_1_with_no_engineer_in_the_url_hangs_up_and_records_nothing() {
    let night = Night::shipped().await;
    let app = &night.app;
    let tier_1 = night.call_about_the_case().await;
    let whisper = picks_up(app, &tier_1, BOB, BOB_LEG).await;
    assert!(whisper.action().contains("v.engineer=bob"), "{}", whisper.action());

    // A URL of ours, signed as Twilio would sign it, without the engineer.
    let anonymous = with_query_param(whisper.action(), "v.engineer", None);
    let mut fields = leg_fields(BOB_LEG, BOB);
    fields.extend(params(&[("Digits", "1")]));
    let answer = app.post_signed(path_of(&anonymous), &fields).await.twiml();

    assert!(answer.hangup, "{}", answer.xml);
    assert!(answer.says.is_empty(), "{}", answer.xml);
    assert!(night.acceptance_keys().await.is_empty());
    assert_dials(&dial_ends(app, &tier_1, "completed").await, &[CAROL], "20");
}

#[tokio::test]
async fn a_whisper_for_a_leg_that_belongs_to_no_call_hangs_up_at_once() {
    let night = Night::shipped().await;
    let app = &night.app;
    let tier_1 = night.call_about_the_case().await;
    let url = whisper_url(&tier_1, BOB);

    let mut orphan = leg_fields(BOB_LEG, BOB);
    orphan.retain(|(k, _)| k != "ParentCallSid");
    let no_parent = app.post_signed(path_of(&url), &orphan).await.twiml();
    let anonymous = with_query_param(&url, "v.engineer", None);
    let no_engineer = app
        .post_signed(path_of(&anonymous), &leg_fields(BOB_LEG, BOB))
        .await
        .twiml();

    for answer in [no_parent, no_engineer] {
        assert!(answer.hangup, "{}", answer.xml);
        assert!(answer.gather_action.is_none(), "nothing to accept: {}", answer.xml);
        assert!(
            !answer.said().contains("ACME"),
            "the case is not read out: {}",
            answer.xml
        );
    }
}

// ---------------------------------------------------------------------------------------------------------
// Rotations with nobody on call

const ENGINEERS: &str = r#"
[[engineers]]
id = "bob"
name = "Bob Okafor"
phone = "+15550100002"
time_zone = "America/Chicago"

[[engineers]]
id = "carol"
name = "Carol Nguyen"
phone = "+15550100003"
time_zone = "America/Los_Angeles"
"#;

fn rotation(id: &str, participants: &str) -> String {
    format!(
        r#"
[[rotations]]
id = "{id}"
name = "{id} on-call"
time_zone = "America/New_York"
start = "2026-01-05T10:00:00"
shift = "7d"
participants = {participants}
"#
    )
}

#[tokio::test]
async fn a_tier_whose_rotation_has_nobody_is_skipped() {
    let file = format!(
        r#"{ENGINEERS}{}{}
[[policies]]
id = "default"

[[policies.tiers]]
rotations = ["primary"]
ring_timeout_secs = 20

[[policies.tiers]]
rotations = ["secondary"]
ring_timeout_secs = 25
"#,
        rotation("primary", "[]"),
        rotation("secondary", r#"["carol"]"#),
    );
    let night = Night::with_rotation_text(&file).await;

    // The empty primary tier is not dialled: Carol's tier is the first, with the first prompt.
    let first = night.call_about_the_case().await;
    assert_eq!(first.says, [VERIFIED, CONNECTING], "{}", first.xml);
    assert_dials(&first, &[CAROL], "25");

    // And the only one: no repeat, so the caller goes to voicemail next.
    let after = dial_ends(&night.app, &first, "no-answer").await;
    assert_eq!(after.says, [VOICEMAIL], "{}", after.xml);
    assert!(after.record_action.is_some(), "{}", after.xml);
}

#[tokio::test]
async fn a_policy_with_nobody_at_all_sends_the_caller_straight_to_voicemail() {
    let file = format!(
        r#"{ENGINEERS}{}
[[policies]]
id = "default"
repeat = 2

[[policies.tiers]]
rotations = ["primary"]
"#,
        rotation("primary", "[]"),
    );
    let night = Night::with_rotation_text(&file).await;

    let heard = night.call_about_the_case().await;

    // Valid TwiML (the parser insists on it): the verification, then the voicemail, no dial.
    assert_eq!(heard.says, [VERIFIED, VOICEMAIL], "{}", heard.xml);
    assert!(heard.dial_action.is_none(), "{}", heard.xml);
    assert!(heard.dial_numbers.is_empty(), "{}", heard.xml);
    let record = heard.record_action.clone().expect("a <Record>");
    let thanks = night.app.follow(&record, &[("RecordingUrl", RECORDING)]).await;
    assert!(thanks.hangup);
    let note = night.the_note().await;
    assert!(
        note.ends_with(&format!(
            "verified as a critical production case. Voicemail: {RECORDING}"
        )),
        "{note}"
    );
}

// ---------------------------------------------------------------------------------------------------------
// Replicas

#[tokio::test]
async fn two_instances_on_one_redis_serve_alternate_webhooks_of_the_same_call() {
    let night = Night::shipped().await;
    let a = &night.app;
    let b = night.another_instance().await;
    assert_ne!(a.address, b.address);

    let greeting = a.incoming(CALLER, US_LINE).await;
    let tier_1 = b.follow(greeting.action(), &[("Digits", "123456#")]).await;
    assert_dials(&tier_1, &[BOB], "20");
    let whisper = picks_up(a, &tier_1, BOB, BOB_LEG).await;
    let accepted = presses(a, &whisper, BOB, BOB_LEG, "1").await;
    assert_eq!(accepted.says, ["Connecting you now."]);

    let end = dial_ends(&b, &tier_1, "completed").await;

    assert!(end.hangup, "B sees the acceptance A recorded: {}", end.xml);
    assert!(end.dial_action.is_none(), "{}", end.xml);
    let note = night.the_note().await;
    assert!(note.ends_with("Dialled: bob. Accepted by: bob, put through at Friday, November 27, 7:54 PM Eastern time (2026-11-28T00:54:48+00:00), on the line for 312 s."), "{note}");
}

// ---------------------------------------------------------------------------------------------------------
// Toll fraud. What this shows: (1) fields added to a Dial action do not change whom the next dial rings, which
// comes from the store by the position in the URL; (2) a tampered URL is refused by the signature check,
// whatever the request body (our URLs are only good with the signature Twilio makes with the auth token);
// (3) with a validly signed URL naming someone who is not on call (only possible with the auth token), the
// id is only ever written as text: no number is derived from it. It does not show anything about an attacker
// who holds the auth token, who can forge any webhook.

#[tokio::test]
async fn no_request_field_changes_who_is_dialled() {
    let night = Night::shipped().await;
    let app = &night.app;
    let tier_1 = night.call_about_the_case().await;

    // A Dial action carrying a premium-rate number where a number might be read.
    let action = tier_1.dial_action.clone().unwrap();
    let next = app
        .follow(
            &action,
            &[
                ("DialCallStatus", "no-answer"),
                ("To", "+19005550199"),
                ("Called", "+19005550199"),
                ("Digits", "19005550199"),
                ("DialCallSid", "CA9999"),
            ],
        )
        .await;

    assert_dials(&next, &[CAROL], "20");
    assert!(!next.xml.contains("9005550199"), "{}", next.xml);
}

#[tokio::test]
async fn a_tampered_accept_url_is_refused_by_the_signature_check() {
    let night = Night::shipped().await;
    let app = &night.app;
    let tier_1 = night.call_about_the_case().await;
    let whisper = picks_up(app, &tier_1, BOB, BOB_LEG).await;
    let mut fields = leg_fields(BOB_LEG, BOB);
    fields.extend(params(&[("Digits", "1")]));
    let genuine = path_of(whisper.action()).to_owned();
    let tampered = path_of(&with_query_param(whisper.action(), "v.engineer", Some("carol"))).to_owned();

    // Twilio's signature of the genuine URL does not cover the tampered one ...
    let twilios = signature::compute(TOKEN.as_bytes(), &format!("{PUBLIC_URL}{genuine}"), &fields);
    let replayed = app.post(&tampered, Some(&twilios), form(&fields)).await;
    // ... and a signature made without the auth token is no good either.
    let forged = signature::compute(b"not-the-auth-token", &format!("{PUBLIC_URL}{tampered}"), &fields);
    let guessed = app.post(&tampered, Some(&forged), form(&fields)).await;

    for refused in [replayed, guessed] {
        assert_eq!(refused.status, 403);
        assert_eq!(refused.body, "");
    }
    assert!(night.acceptance_keys().await.is_empty());
}

#[tokio::test]
async fn a_signed_accept_url_naming_someone_not_on_call_is_kept_as_a_name_and_never_dialled() {
    let night = Night::shipped().await;
    let app = &night.app;
    let tier_1 = night.call_about_the_case().await;
    let whisper = picks_up(app, &tier_1, BOB, BOB_LEG).await;

    // Validly signed (so: made with the auth token) and naming Dave, who is not on call tonight.
    let dave = with_query_param(whisper.action(), "v.engineer", Some("dave"));
    let mut fields = leg_fields(BOB_LEG, BOB);
    fields.extend(params(&[("Digits", "1")]));
    app.post_signed(path_of(&dave), &fields).await.twiml();

    // It is taken at its word as an acceptance of attempt 1 (the bridge does not check the id against the
    // tier), so the caller's call ends after the bridged leg; but Dave's phone (+15550100004) is never rung:
    // the id only reaches the record and the note.
    assert_eq!(night.acceptance(0).await.as_deref(), Some("dave"));
    let end = dial_ends(app, &tier_1, "completed").await;
    assert!(end.hangup, "{}", end.xml);
    assert!(end.dial_numbers.is_empty(), "{}", end.xml);
    let note = night.the_note().await;
    assert!(note.ends_with("Dialled: bob. Accepted by: dave, put through at Friday, November 27, 7:54 PM Eastern time (2026-11-28T00:54:48+00:00), on the line for 312 s."), "{note}");
    assert!(!note.contains("+15550100004"), "{note}");
}
