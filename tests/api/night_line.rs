//! Calls as a customer makes them: the greeting, the business-hours decision in the line's local time, the
//! case number on the keypad.

use crate::helpers::*;

#[tokio::test]
async fn a_night_call_is_greeted_in_english_and_asked_for_its_case_number() {
    let app = friday_night().start().await;
    let twiml = app.incoming(CALLER, US_LINE).await;
    assert!(
        twiml.says[0].starts_with("Thank you for calling North America"),
        "{}",
        twiml.said()
    );
    assert!(twiml.says_contains("After-hours support is available in English only."));
    assert!(twiml.says_contains("please enter your case number, followed by the pound key"));
    assert!(
        twiml
            .voices
            .iter()
            .all(|(voice, language)| voice == "Polly.Joanna" && language == "en-US")
    );
    assert_eq!(twiml.gather_finish_on_key.as_deref(), Some("#"));
    assert!(
        twiml
            .action()
            .starts_with("https://voice.example.com/voice/step/case_number/digits?line=us")
    );
    assert_eq!(
        twiml.redirect.as_deref(),
        Some(twiml.action()),
        "silence falls through to the same action"
    );
    assert!(!twiml.hangup);
}

#[tokio::test]
async fn a_day_call_hears_the_hours_and_the_support_channel_then_goodbye() {
    let app = tuesday_morning().start().await;
    let twiml = app.incoming(CALLER, US_LINE).await;
    let said = twiml.said();
    assert!(
        said.contains("Our business hours are Monday to Friday, 9 AM to 6 PM Eastern time."),
        "{said}"
    );
    assert!(said.contains("the support portal"), "{said}");
    assert!(twiml.gather_action.is_none());
    assert!(twiml.hangup);
}

#[tokio::test]
async fn business_hours_are_those_of_the_dialled_line() {
    // 10:00 in New York is 15:00 in London: open on both lines. 13:00 in New York is 18:00 in London.
    let app = at("2026-11-24T13:00:00-05:00").start().await;
    assert!(app.incoming(CALLER, US_LINE).await.hangup, "New York is open at 13:00");
    let uk = app.incoming(CALLER, UK_LINE).await;
    assert!(uk.says[0].contains("United Kingdom"));
    assert!(uk.says_contains("UK time") || uk.gather_action.is_some());
    assert!(uk.gather_action.is_some(), "London closes at 18:00: {}", uk.said());
}

#[tokio::test]
async fn a_holiday_is_after_hours() {
    // Thanksgiving, Thursday 2026-11-26, 11:00 in New York.
    let app = at("2026-11-26T11:00:00-05:00").start().await;
    assert!(app.incoming(CALLER, US_LINE).await.gather_action.is_some());
}

#[tokio::test]
async fn a_drill_runs_the_night_path_in_daytime() {
    let app = tuesday_morning()
        .env("AFTERHOURS_LINES__US__MODE", "always-after-hours")
        .start()
        .await;
    assert!(app.incoming(CALLER, US_LINE).await.gather_action.is_some());
}

#[tokio::test]
async fn maintenance_mode_answers_with_the_day_message_at_night() {
    let app = friday_night()
        .env("AFTERHOURS_LINES__US__MODE", "always-business-hours")
        .start()
        .await;
    let twiml = app.incoming(CALLER, US_LINE).await;
    assert!(twiml.says_contains("Our business hours are"));
    assert!(twiml.hangup);
}

#[tokio::test]
async fn the_case_number_is_read_back_digit_by_digit() {
    // No case system answers here: the line's policy (bridge) goes on without verification.
    let app = friday_night().start().await;
    let first = app.incoming(CALLER, US_LINE).await;
    let twiml = app.follow(first.action(), &[("Digits", "123456")]).await;
    let said = twiml.said();
    assert!(said.contains("We cannot check case 1 2 3 4 5 6 right now"), "{said}");
}

#[tokio::test]
async fn letters_or_200_digits_are_refused_and_the_caller_is_asked_again() {
    let app = friday_night().start().await;
    let first = app.incoming(CALLER, US_LINE).await;
    let again = app.follow(first.action(), &[("Digits", "12AB56")]).await;
    assert!(
        again.says_contains("Sorry, that was not a case number we can use."),
        "{}",
        again.said()
    );
    assert!(again.action().contains("n.case_number=2"), "{}", again.action());
    let long = "7".repeat(200);
    let third = app.follow(again.action(), &[("Digits", long.as_str())]).await;
    assert!(third.says_contains("Sorry, that was not a case number"));
    assert!(third.action().contains("n.case_number=3"));
}

#[tokio::test]
async fn after_three_failed_attempts_the_caller_hears_goodbye() {
    let app = friday_night().start().await;
    let mut twiml = app.incoming(CALLER, US_LINE).await;
    for _ in 0..3 {
        twiml = app.follow(twiml.action(), &[("Digits", "")]).await;
    }
    assert!(
        twiml.says_contains("We could not get a case number we can use."),
        "{}",
        twiml.said()
    );
    assert!(twiml.hangup);
}

#[tokio::test]
async fn silence_without_digits_counts_as_an_attempt() {
    // A provider without actionOnEmptyResult follows the Redirect, which posts no Digits at all.
    let app = friday_night().start().await;
    let first = app.incoming(CALLER, US_LINE).await;
    let again = app.follow(first.redirect.as_deref().unwrap(), &[]).await;
    assert!(again.action().contains("n.case_number=2"));
}

#[tokio::test]
async fn an_unknown_number_reaches_the_default_line() {
    let app = friday_night().start().await;
    let twiml = app.incoming(CALLER, "+18885550123").await;
    assert!(twiml.says[0].contains("North America"));
}

#[tokio::test]
async fn an_unknown_number_without_a_default_line_hears_an_apology_and_the_call_ends() {
    let app = friday_night()
        .env("AFTERHOURS_LINES__US__DEFAULT", "false")
        .start()
        .await;
    let twiml = app.incoming(CALLER, "+18885550123").await;
    assert!(
        twiml.says_contains("this number does not have an after-hours support line"),
        "{}",
        twiml.said()
    );
    assert!(twiml.hangup);
}

#[tokio::test]
async fn prompt_text_is_escaped_in_the_xml() {
    let app = friday_night()
        .env("AFTERHOURS_LINES__US__NAME", "R&D <Ops> \"critical\"")
        .start()
        .await;
    let twiml = app.incoming(CALLER, US_LINE).await;
    assert!(twiml.xml.contains("R&amp;D &lt;Ops&gt;"), "{}", twiml.xml);
    assert!(twiml.says[0].contains("R&D <Ops> \"critical\""), "{}", twiml.says[0]);
}
