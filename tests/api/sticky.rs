//! One case, several calls: a case that is being rung is not rung again in parallel, and the engineer who took
//! the case is rung first the next time. Played as Twilio plays it, against the real Redis and the shipped
//! rotation that `bridge` imports (tier 1 Bob, tier 2 Carol, the case's TAM skipped as the case names none,
//! then Carol and Alice, then all of it again).

use crate::bridge::{ALICE, BOB, CAROL, Night, VERIFIED, assert_dials, path_of, whisper_url};
use crate::helpers::*;

const CASE_BUSY: &str = "An engineer is already being called about case 1 2 3 4 5 6. Please leave a message for \
    them after the tone, then press the pound key.";

/// A call of the customer's, with a CallSid of its own.
struct Call {
    sid: String,
}

impl Call {
    fn new(n: u32) -> Call {
        Call {
            sid: format!("CA{n:032}"),
        }
    }

    fn fields(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut fields = call_fields(CALLER, US_LINE);
        fields[0].1 = self.sid.clone();
        fields.extend(params(extra));
        fields
    }

    /// The call comes in and enters `case`: what the caller hears next.
    async fn about(&self, app: &TestApp, case: &str) -> Twiml {
        let greeting = app.post_signed("/voice/incoming", &self.fields(&[])).await.twiml();
        app.post_signed(path_of(greeting.action()), &self.fields(&[("Digits", case)]))
            .await
            .twiml()
    }

    /// The dial `twiml` asks for ends with `status`: Twilio posts its action.
    async fn dial_ends(&self, app: &TestApp, twiml: &Twiml, status: &str) -> Twiml {
        let action = twiml
            .dial_action
            .clone()
            .unwrap_or_else(|| panic!("no <Dial>: {}", twiml.xml));
        app.post_signed(path_of(&action), &self.fields(&[("DialCallStatus", status)]))
            .await
            .twiml()
    }

    /// The engineer at `phone` picks up the dial `twiml` and presses 1.
    async fn accepted_by(&self, app: &TestApp, twiml: &Twiml, phone: &str) {
        let leg = params(&[
            ("CallSid", "CA0000000000000000000000000000ca01"),
            ("ParentCallSid", &self.sid),
            ("From", US_LINE),
            ("To", phone),
            ("CallStatus", "in-progress"),
            ("Direction", "outbound-dial"),
        ]);
        let whisper = app.post_signed(path_of(&whisper_url(twiml, phone)), &leg).await.twiml();
        let mut pressed = leg.clone();
        pressed.push(("Digits".into(), "1".into()));
        let connected = app.post_signed(path_of(whisper.action()), &pressed).await.twiml();
        assert!(connected.says_contains("Connecting you now."), "{}", connected.xml);
    }
}

#[tokio::test]
async fn a_second_call_about_a_case_being_rung_hears_so_and_leaves_a_message_for_the_engineer() {
    let night = Night::shipped().await;
    let app = &night.app;
    let first = Call::new(1);
    let ringing = first.about(app, "123456").await;
    assert_dials(&ringing, &[BOB], "20");

    // A colleague calls about the same case while Bob's phone rings: nobody else is rung.
    let second = Call::new(2);
    let busy = second.about(app, "123456").await;
    assert_eq!(busy.says, [VERIFIED, CASE_BUSY], "{}", busy.xml);
    assert!(busy.dial_numbers.is_empty(), "{}", busy.xml);
    assert!(busy.record_action.is_some(), "a message for the engineer: {}", busy.xml);

    // The first call's escalation goes on as before; once it has rung out, the case may be rung again.
    let mut twiml = first.dial_ends(app, &ringing, "no-answer").await;
    assert_dials(&twiml, &[CAROL], "20");
    for _ in 0..5 {
        twiml = first.dial_ends(app, &twiml, "no-answer").await;
    }
    assert!(twiml.record_action.is_some(), "exhausted: voicemail: {}", twiml.xml);
    assert_dials(&Call::new(3).about(app, "123456").await, &[BOB], "20");
}

#[tokio::test]
async fn once_carol_took_the_case_its_next_call_rings_her_alone_first_then_the_policy() {
    let night = Night::shipped().await;
    let app = &night.app;
    let first = Call::new(11);
    let tier_1 = first.about(app, "123456").await;
    let tier_2 = first.dial_ends(app, &tier_1, "no-answer").await;
    assert_dials(&tier_2, &[CAROL], "20");
    first.accepted_by(app, &tier_2, CAROL).await;

    // Carol is still on the phone with the first caller: accepting ended the escalation, so the case may be
    // rung again, and Carol first.
    let second = Call::new(12);
    let sticky = second.about(app, "123456").await;
    assert_eq!(sticky.says[0], VERIFIED, "{}", sticky.xml);
    assert_dials(&sticky, &[CAROL], "20");
    // Then the policy as usual.
    let bob = second.dial_ends(app, &sticky, "no-answer").await;
    assert_dials(&bob, &[BOB], "20");
    let carol = second.dial_ends(app, &bob, "no-answer").await;
    assert_dials(&carol, &[CAROL], "20");
    let both = second.dial_ends(app, &carol, "no-answer").await;
    assert_dials(&both, &[CAROL, ALICE], "30");
}

#[tokio::test]
async fn the_engineer_who_took_a_case_is_rung_first_but_not_twice_in_a_row() {
    let night = Night::shipped().await;
    let app = &night.app;
    // Bob (tier 1) takes the case.
    let first = Call::new(21);
    let tier_1 = first.about(app, "123456").await;
    first.accepted_by(app, &tier_1, BOB).await;

    // The next call rings Bob alone, then goes on to tier 2: tier 1 had nobody but Bob.
    let second = Call::new(22);
    let sticky = second.about(app, "123456").await;
    assert_dials(&sticky, &[BOB], "20");
    assert_dials(&second.dial_ends(app, &sticky, "no-answer").await, &[CAROL], "20");
}

#[tokio::test]
async fn after_sticky_secs_the_case_rings_the_policy_again() {
    let night = Night::shipped().await;
    // The shipped flow with the engineer remembered for one second only.
    let shipped = include_str!("../../voice-flows/critical-incident.toml");
    let short = shipped.replace("sticky_secs = 1800", "sticky_secs = 1");
    assert_ne!(short, shipped);
    let flows = std::env::temp_dir().join(format!("afterhours-sticky-{}", std::process::id()));
    std::fs::create_dir_all(&flows).unwrap();
    std::fs::write(flows.join("critical-incident.toml"), short).unwrap();
    let redis = redis_url();
    let app = friday_night()
        .cases(&night.cases.uri())
        .env("AFTERHOURS_REDIS__URL", &redis)
        .env("AFTERHOURS_REDIS__PREFIX", &night.prefix)
        .env("AFTERHOURS_PATHS__FLOWS", flows.to_str().unwrap())
        .start()
        .await;
    let _ = std::fs::remove_dir_all(&flows);

    let first = Call::new(31);
    let tier_1 = first.about(&app, "123456").await;
    let tier_2 = first.dial_ends(&app, &tier_1, "no-answer").await;
    first.accepted_by(&app, &tier_2, CAROL).await;
    let second = Call::new(32);
    let carol_first = second.about(&app, "123456").await;
    assert_dials(&carol_first, &[CAROL], "20");
    second.accepted_by(&app, &carol_first, CAROL).await;

    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let later = Call::new(33).about(&app, "123456").await;
    assert_dials(&later, &[BOB], "20");
}
