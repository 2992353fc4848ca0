//! The case's Technical Account Manager as a tier of the escalation, played as Twilio plays it against the
//! embedded store seeded from the shipped rotation (config/oncall.toml) and a case system faked in its
//! documented format.
//!
//! Friday, November 27 2026, 8 PM in New York: tier 1 Bob (primary, 20 s), tier 2 Carol (secondary, 20 s),
//! tier 3 the case's TAM (25 s), tier 4 Carol (specialists) and Alice (30 s), then all of it once more. Dave,
//! who is not on call tonight, is the TAM the cases below name, by his id or his email.

use serde_json::{Value, json};
use wiremock::MockServer;

use crate::bridge::{
    ALICE, BOB, CAROL, SHIPPED_DIALS, VOICEMAIL, assert_dials, dial_ends, picks_up, presses, rings_out, whisper_url,
};
use crate::calllog::{ADMIN, events, status_callback, until_logged};
use crate::helpers::*;

const DAVE: &str = "+15550100004";
const DAVE_LEG: &str = "CA00000000000000000000000000000da5";
/// A number that is no contact of the cases below.
const STRANGER: &str = "+15557770008";

/// A case system that knows case 123456 (critical, production, open, ACME Corp, the caller registered on it)
/// with `extra` fields (its package, its TAM), and takes every note.
async fn case_system(extra: Value) -> MockServer {
    case_system_knowing(&[("123456", acme_case_123456(extra))]).await
}

/// Friday night with the call log readable, two after-hours packages: `premium` with a TAM, `advanced`
/// without one.
fn night() -> Spawn {
    friday_night()
        .env("AFTERHOURS_ADMIN__TOKEN", ADMIN)
        .env("AFTERHOURS_PACKAGES__PREMIUM__SUPPORT_CHANNEL", "the premium line")
        .env("AFTERHOURS_PACKAGES__PREMIUM__AFTER_HOURS", "true")
        .env("AFTERHOURS_PACKAGES__PREMIUM__TAM", "true")
        .env("AFTERHOURS_PACKAGES__ADVANCED__SUPPORT_CHANNEL", "your dedicated team")
        .env("AFTERHOURS_PACKAGES__ADVANCED__AFTER_HOURS", "true")
        .env("AFTERHOURS_PACKAGES__ADVANCED__TAM", "false")
}

/// The server on a case system whose case 123456 has `extra` fields.
async fn night_with_case(extra: Value) -> (MockServer, TestApp) {
    let cases = case_system(extra).await;
    let app = night().cases(&cases.uri()).start().await;
    (cases, app)
}

/// `from` dials the US line and enters case 123456: the first dial.
async fn call_from(app: &TestApp, from: &str) -> Twiml {
    let greeting = app
        .post_signed("/voice/incoming", &call_fields(from, US_LINE))
        .await
        .twiml();
    let path = greeting.action().strip_prefix(PUBLIC_URL).unwrap().to_owned();
    let mut fields = call_fields(from, US_LINE);
    fields.extend(params(&[("Digits", "123456#")]));
    app.post_signed(&path, &fields).await.twiml()
}

/// Lets every tier ring out, checking each dial against `expected` (phones, timeout), then checks that the
/// caller is sent to voicemail.
async fn rings_out_as(app: &TestApp, mut twiml: Twiml, expected: &[(&[&str], &str)]) {
    for (phones, timeout) in expected {
        assert_dials(&twiml, phones, timeout);
        twiml = dial_ends(app, &twiml, "no-answer").await;
    }
    assert_eq!(twiml.says, [VOICEMAIL], "{}", twiml.xml);
}

/// The one record of the call in the call log, once the call has ended.
async fn the_record(app: &TestApp) -> Value {
    status_callback(app, "completed", "120").await;
    let records = until_logged(app, 1).await;
    assert_eq!(records.len(), 1, "{records:#?}");
    records[0].clone()
}

/// The bridge's decisions about the case's TAM in `record`.
fn tam_events(record: &Value) -> Vec<String> {
    events(record)
        .into_iter()
        .filter(|e| e.contains("TAM"))
        .map(str::to_owned)
        .collect()
}

// ---------------------------------------------------------------------------------------------------------
// The TAM is rung

#[tokio::test]
async fn the_tam_named_by_email_rings_after_the_on_call_engineers_and_takes_the_call() {
    let (_cases, app) = night_with_case(json!({"support_package": "Premium", "tam": "Dave.Price@example.com"})).await;

    let tier_1 = call_from(&app, CALLER).await;
    assert_dials(&tier_1, &[BOB], "20");
    let tier_2 = dial_ends(&app, &tier_1, "no-answer").await;
    assert_dials(&tier_2, &[CAROL], "20");
    let tam = dial_ends(&app, &tier_2, "no-answer").await;
    assert_dials(&tam, &[DAVE], "25");
    assert!(whisper_url(&tam, DAVE).contains("v.engineer=dave"), "{}", tam.xml);

    // Dave hears the case, presses 1, and the caller's dial ends with him on the line.
    let whisper = picks_up(&app, &tam, DAVE, DAVE_LEG).await;
    assert!(
        whisper.says_contains("Critical production case 1 2 3 4 5 6 for ACME Corp"),
        "{}",
        whisper.xml
    );
    let accepted = presses(&app, &whisper, DAVE, DAVE_LEG, "1").await;
    assert_eq!(accepted.says, ["Connecting you now."], "{}", accepted.xml);
    let end = dial_ends(&app, &tam, "completed").await;
    assert!(end.hangup, "{}", end.xml);

    let record = the_record(&app).await;
    assert_eq!(record["summary"]["dialled"], "bob, carol, dave");
    assert_eq!(record["summary"]["accepted"], "dave");
    assert_eq!(
        tam_events(&record),
        ["bridge: the case's TAM \"Dave.Price@example.com\" is dave: rung in the case's TAM tier"]
    );
}

#[tokio::test]
async fn the_tam_named_by_id_is_rung_in_each_pass_and_escalation_goes_past_the_tam_to_the_specialists() {
    let (_cases, app) = night_with_case(json!({"support_package": "premium", "tam": "dave"})).await;

    // Dave picks up the TAM tier and declines: the specialists ring next.
    let tam = rings_out(&app, call_from(&app, CALLER).await, 2).await;
    assert_dials(&tam, &[DAVE], "25");
    let whisper = picks_up(&app, &tam, DAVE, DAVE_LEG).await;
    assert!(presses(&app, &whisper, DAVE, DAVE_LEG, "2").await.hangup);
    let specialists = dial_ends(&app, &tam, "completed").await;

    // Then nobody accepts: the TAM is in the second pass too, and the caller goes to voicemail.
    rings_out_as(
        &app,
        specialists,
        &[
            (&[CAROL, ALICE], "30"),
            (&[BOB], "20"),
            (&[CAROL], "20"),
            (&[DAVE], "25"),
            (&[CAROL, ALICE], "30"),
        ],
    )
    .await;
    let record = the_record(&app).await;
    assert_eq!(
        record["summary"]["dialled"],
        "bob, carol, dave, carol, alice, bob, carol, dave, carol, alice"
    );
    assert_eq!(record["summary"].get("accepted"), None, "{record:#}");
}

// ---------------------------------------------------------------------------------------------------------
// The tier is skipped

#[tokio::test]
async fn the_tier_is_skipped_for_a_package_without_tam() {
    let (_cases, app) = night_with_case(json!({"support_package": "Advanced", "tam": "dave"})).await;

    rings_out_as(&app, call_from(&app, CALLER).await, &SHIPPED_DIALS).await;

    let record = the_record(&app).await;
    assert_eq!(
        tam_events(&record),
        ["bridge: the case's package \"advanced\" has no TAM: tier skipped"]
    );
}

#[tokio::test]
async fn the_tier_is_skipped_for_a_package_without_tam_whoever_calls() {
    // A line that lets anyone through with a valid case: the caller is not registered on it, and does not
    // hear the package's channel, but the case's package still decides about its TAM.
    let cases = case_system(json!({"support_package": "advanced", "tam": "dave"})).await;
    let app = night()
        .cases(&cases.uri())
        .env("AFTERHOURS_LINES__US__REQUIRE_REGISTERED_CALLER", "false")
        .start()
        .await;

    let first = call_from(&app, STRANGER).await;
    assert_dials(&first, &[BOB], "20");
    let after_carol = rings_out(&app, first, 2).await;

    assert_dials(&after_carol, &[CAROL, ALICE], "30");
    assert!(!after_carol.xml.contains(DAVE), "{}", after_carol.xml);
}

#[tokio::test]
async fn an_unknown_tam_skips_the_tier_and_the_call_log_says_so() {
    let (_cases, app) = night_with_case(json!({"support_package": "premium", "tam": "dana@example.com"})).await;

    rings_out_as(&app, call_from(&app, CALLER).await, &SHIPPED_DIALS).await;

    let record = the_record(&app).await;
    assert_eq!(
        tam_events(&record),
        ["bridge: the case's TAM \"dana@example.com\" is not an engineer of the on-call data: tier skipped"]
    );
    assert_eq!(
        record["summary"]["dialled"],
        "bob, carol, carol, alice, bob, carol, carol, alice"
    );
}

#[tokio::test]
async fn a_tam_named_by_a_phone_number_is_never_dialled_even_an_engineers() {
    // Dave's own number: the case system names people, it does not give numbers to dial.
    let (_cases, app) = night_with_case(json!({"support_package": "premium", "tam": DAVE})).await;

    let first = call_from(&app, CALLER).await;
    let mut dials = vec![first.clone()];
    let mut twiml = first;
    for _ in 0..SHIPPED_DIALS.len() {
        twiml = dial_ends(&app, &twiml, "no-answer").await;
        dials.push(twiml.clone());
    }

    assert!(dials.iter().all(|d| !d.xml.contains(DAVE)), "{dials:#?}");
    let record = the_record(&app).await;
    assert_eq!(
        tam_events(&record),
        [format!(
            "bridge: the case's TAM \"{DAVE}\" is not an engineer of the on-call data: tier skipped"
        )]
    );
}

#[tokio::test]
async fn the_tier_is_skipped_for_a_case_that_names_no_tam() {
    let (_cases, app) = night_with_case(json!({"support_package": "premium"})).await;

    rings_out_as(&app, call_from(&app, CALLER).await, &SHIPPED_DIALS).await;

    let record = the_record(&app).await;
    assert_eq!(tam_events(&record), ["bridge: the case names no TAM: tier skipped"]);
}

#[tokio::test]
async fn the_tier_is_skipped_for_an_unverified_case_when_the_case_system_is_down() {
    // No case system listens; the line bridges all the same.
    let app = night()
        .env("AFTERHOURS_LINES__US__ON_UNAVAILABLE", "bridge")
        .start()
        .await;

    rings_out_as(&app, call_from(&app, CALLER).await, &SHIPPED_DIALS).await;

    let record = the_record(&app).await;
    assert_eq!(record["summary"]["decision"], "unverified");
    assert_eq!(
        tam_events(&record),
        ["bridge: the case is not verified, so it names no TAM: tier skipped"]
    );
}
