//! Caller ID is easily spoofed: what the guess limit counts, whom it spares, and what a stranger hears.
//!
//! Every test runs on the shipped line (a registered caller required) against the real Redis that
//! `scripts/test` starts, under a key prefix of its own, with a fake case system that knows case 123456
//! (critical, production, open, ACME Corp, the customer's number registered on it), a closed case 222222 of
//! another customer, and no other case. The on-call data is not imported: the line's fallback number is what
//! a bridged call rings.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

/// The customer: registered on case 123456.
const CUSTOMER: &str = CALLER;
const FALLBACK: &str = "+15550100009";
const A_LEVEL: &str = "TN-Validation-Passed-A";
const VERIFIED: &str = "Thank you. Case 1 2 3 4 5 6 for ACME Corp is a critical incident in production.";
const TURNED_AWAY: &str = "We are sorry, we cannot take more case numbers from this phone number right now.";
const CANNOT_BE_HELPED: &str = "We are sorry, this phone number cannot be helped with case";

fn unique() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The case system: 123456 is ACME's critical case with the customer's number on it; 222222 is closed and
/// someone else's; every other number is no case (404).
async fn case_system() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/cases/123456"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "123456", "severity": "critical", "environment": "production", "status": "open",
            "customer": "ACME Corp", "contact_phones": [CUSTOMER, "anonymous"],
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/cases/222222"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "222222", "severity": "critical", "environment": "production", "status": "closed",
            "customer": "Globex", "contact_phones": ["+15550009999"],
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"error": "no such case"})))
        .with_priority(10)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/cases/[0-9]+/notes$"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": "n-1"})))
        .mount(&server)
        .await;
    server
}

/// Lookups the case system has received so far.
async fn lookups(cases: &MockServer) -> usize {
    cases
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == "GET")
        .count()
}

/// Friday night on the shipped configuration, cases at `cases`, Redis under a prefix of the test's own.
fn night(cases: &MockServer) -> Spawn {
    let prefix = format!("test:spoofing:{}:{}:", std::process::id(), unique());
    friday_night()
        .cases(&cases.uri())
        .env("AFTERHOURS_REDIS__URL", &redis_url())
        .env("AFTERHOURS_REDIS__PREFIX", &prefix)
        .env("AFTERHOURS_LINES__US__FALLBACK_NUMBERS", &format!("[\"{FALLBACK}\"]"))
}

/// One call: its own CallSid, from `from` to `to`, with `StirVerstat` when given.
struct Call {
    fields: Vec<(String, String)>,
}

impl Call {
    fn new(from: &str, to: &str, verstat: Option<&str>) -> Call {
        let mut fields = call_fields(from, to);
        fields[0].1 = format!("CA{:032}", unique() + 1_000_000);
        if let Some(verstat) = verstat {
            fields.push(("StirVerstat".into(), verstat.into()));
        }
        Call { fields }
    }

    /// The call comes in and enters `digits` at the case-number prompt: what the caller hears next.
    async fn enters(&self, app: &TestApp, digits: &str) -> Twiml {
        let greeting = app.post_signed("/voice/incoming", &self.fields).await.twiml();
        self.again(app, &greeting, digits).await
    }

    /// Nobody answers the dial `twiml` asks for: the escalation ends, and the case may be rung again.
    async fn rings_out(&self, app: &TestApp, twiml: &Twiml) -> Twiml {
        let action = twiml
            .dial_action
            .clone()
            .unwrap_or_else(|| panic!("no <Dial>: {}", twiml.xml));
        let mut fields = self.fields.clone();
        fields.push(("DialCallStatus".into(), "no-answer".into()));
        let next = app
            .post_signed(action.strip_prefix(PUBLIC_URL).unwrap(), &fields)
            .await
            .twiml();
        assert!(
            next.record_action.is_some(),
            "voicemail after the fallback tier: {}",
            next.xml
        );
        next
    }

    /// The caller enters `digits` at the prompt `twiml` asks with (a case number entered again).
    async fn again(&self, app: &TestApp, twiml: &Twiml, digits: &str) -> Twiml {
        let path = twiml.action().strip_prefix(PUBLIC_URL).unwrap().to_owned();
        let mut fields = self.fields.clone();
        fields.push(("Digits".into(), digits.into()));
        app.post_signed(&path, &fields).await.twiml()
    }
}

/// A call from `from` that enters `digits`.
async fn call(app: &TestApp, from: &str, digits: &str) -> Twiml {
    Call::new(from, US_LINE, None).enters(app, digits).await
}

fn assert_bridged(twiml: &Twiml) {
    assert_eq!(
        twiml.says.first().map(String::as_str),
        Some(VERIFIED),
        "{}",
        twiml.said()
    );
    let dialled: Vec<&str> = twiml.dial_numbers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(dialled, [FALLBACK], "{}", twiml.xml);
}

fn assert_turned_away(twiml: &Twiml) {
    assert!(twiml.says_contains(TURNED_AWAY), "{}", twiml.said());
    assert!(twiml.dial_numbers.is_empty(), "{}", twiml.xml);
    assert!(twiml.hangup, "{}", twiml.xml);
}

/// Spoofed calls "from" `from`, each guessing a case that does not exist, until the number is turned away;
/// returns how many guesses were looked up.
async fn guess_until_turned_away(app: &TestApp, from: &str, verstat: Option<&str>) -> usize {
    for guess in 0..20 {
        let heard = Call::new(from, US_LINE, verstat)
            .enters(app, &format!("9000{guess}"))
            .await;
        if heard.says_contains(TURNED_AWAY) {
            assert_turned_away(&heard);
            return guess;
        }
        assert!(heard.says_contains(CANNOT_BE_HELPED), "{}", heard.said());
    }
    panic!("20 guesses and never turned away");
}

// ---------------------------------------------------------------------------------------------------------
// What is counted, and when it turns a number away

#[tokio::test]
async fn five_guesses_turn_a_number_away_before_its_next_lookup_in_later_calls_and_in_the_same_call() {
    let cases = case_system().await;
    let app = night(&cases).start().await;
    let spoofer = "+15557770001";

    // One call guesses twice (a case number entered again counts again), then four more calls guess once.
    let guesser = Call::new(spoofer, US_LINE, None);
    let first = guesser.enters(&app, "900001").await;
    assert!(first.says_contains(CANNOT_BE_HELPED), "{}", first.said());
    let second = guesser.again(&app, &first, "900002").await;
    assert!(second.says_contains(CANNOT_BE_HELPED), "{}", second.said());
    for guess in 3..=5 {
        assert!(
            call(&app, spoofer, &format!("90000{guess}"))
                .await
                .says_contains(CANNOT_BE_HELPED)
        );
    }
    assert_eq!(lookups(&cases).await, 5);

    // The sixth guess, in a new call, is turned away before the lookup.
    assert_turned_away(&call(&app, spoofer, "900006").await);
    // So is one in a call that started before the limit was reached, at its next case number.
    let late = Call::new(spoofer, US_LINE, None);
    let greeting = app.post_signed("/voice/incoming", &late.fields).await.twiml();
    assert_turned_away(&late.again(&app, &greeting, "900007").await);
    assert_eq!(lookups(&cases).await, 5, "no lookup once the guesses are spent");

    // Another number is not affected.
    assert!(
        call(&app, "+15557770002", "900008")
            .await
            .says_contains(CANNOT_BE_HELPED)
    );
}

#[tokio::test]
async fn a_replayed_guess_counts_once() {
    let cases = case_system().await;
    let app = night(&cases)
        .env("AFTERHOURS_LIMITS__GUESSES_PER_WINDOW", "2")
        .start()
        .await;
    let guesser = Call::new("+15557770003", US_LINE, None);
    let greeting = app.post_signed("/voice/incoming", &guesser.fields).await.twiml();
    for _ in 0..5 {
        let heard = guesser.again(&app, &greeting, "900001").await;
        assert!(heard.says_contains(CANNOT_BE_HELPED), "{}", heard.said());
    }
    assert!(
        call(&app, "+15557770003", "900002")
            .await
            .says_contains(CANNOT_BE_HELPED)
    );
    assert_turned_away(&call(&app, "+15557770003", "900003").await);
}

#[tokio::test]
async fn a_storm_of_a_thousand_guessing_calls_from_one_number_gets_five_lookups() {
    let cases = case_system().await;
    let app = Arc::new(night(&cases).start().await);
    let (mut refused, mut turned_away) = (0, 0);
    for batch in 0..20 {
        let calls: Vec<_> = (0..50)
            .map(|i| {
                let app = app.clone();
                tokio::spawn(async move { call(&app, "+15557770004", &format!("8{batch:02}{i:02}")).await })
            })
            .collect();
        for heard in calls {
            let heard = heard.await.unwrap();
            if heard.says_contains(TURNED_AWAY) {
                turned_away += 1;
            } else {
                assert!(heard.says_contains(CANNOT_BE_HELPED), "{}", heard.said());
                refused += 1;
            }
        }
    }
    assert_eq!((refused, turned_away), (5, 995));
    assert_eq!(lookups(&cases).await, 5, "calls racing for the last guess: one gets it");
}

// ---------------------------------------------------------------------------------------------------------
// Whom spoofed guesses cannot lock out

#[tokio::test]
async fn a_spoofer_who_spent_the_customers_guesses_does_not_keep_the_trusted_customer_from_their_case() {
    let cases = case_system().await;
    let app = night(&cases).start().await;
    // The customer called about their case before (nobody answered): their number is trusted for it.
    let before = Call::new(CUSTOMER, US_LINE, None);
    let bridged = before.enters(&app, "123456").await;
    assert_bridged(&bridged);
    before.rings_out(&app, &bridged).await;

    // Someone spoofing the customer's number guesses until the number is turned away.
    assert_eq!(guess_until_turned_away(&app, CUSTOMER, None).await, 5);
    // Even their case number from the customer's number does not help them with another case.
    assert_turned_away(&call(&app, CUSTOMER, "222222").await);

    // The customer calls about their case, without attestation: bridged.
    assert_bridged(&call(&app, CUSTOMER, "123456").await);
}

#[tokio::test]
async fn an_a_attested_customer_is_bridged_whatever_unattested_calls_from_their_number_did() {
    let cases = case_system().await;
    let app = night(&cases).start().await;
    assert_eq!(guess_until_turned_away(&app, CUSTOMER, None).await, 5);

    // A first call from the customer's number without attestation is not told apart from the spoofer: it is
    // turned away (docs/flows.md says so).
    assert_turned_away(&call(&app, CUSTOMER, "123456").await);
    // With A-level attestation, the carrier vouches for the number: bridged.
    let attested = Call::new(CUSTOMER, US_LINE, Some(A_LEVEL));
    let bridged = attested.enters(&app, "123456").await;
    assert_bridged(&bridged);
    attested.rings_out(&app, &bridged).await;
    // And once verified, the number is trusted for the case: even unattested calls about it get through.
    assert_bridged(&call(&app, CUSTOMER, "123456").await);
}

#[tokio::test]
async fn a_attested_calls_have_a_guess_limit_of_their_own() {
    let cases = case_system().await;
    let app = night(&cases).start().await;
    assert_eq!(guess_until_turned_away(&app, "+15557770005", Some(A_LEVEL)).await, 5);
    // Unattested calls from that number were not charged for the attested guesses.
    assert!(
        call(&app, "+15557770005", "900001")
            .await
            .says_contains(CANNOT_BE_HELPED)
    );
}

#[tokio::test]
async fn withheld_numbers_share_one_guess_limit_per_line_and_are_never_registered() {
    let cases = case_system().await;
    let app = night(&cases).start().await;
    // Case 123456 lists "anonymous" as a contact phone: a withheld caller is still no registered caller.
    let anonymous = call(&app, "anonymous", "123456").await;
    assert!(anonymous.says_contains(CANNOT_BE_HELPED), "{}", anonymous.said());
    assert!(!anonymous.said().contains("ACME"), "{}", anonymous.said());

    // Four more guesses from different spellings of a withheld number spend the line's one budget.
    for (n, from) in ["Anonymous", "Restricted", "+86282452253", "+266696687"]
        .iter()
        .enumerate()
    {
        let heard = call(&app, from, &format!("90000{n}")).await;
        assert!(heard.says_contains(CANNOT_BE_HELPED), "{from:?}: {}", heard.said());
    }
    assert_turned_away(&call(&app, "Unavailable", "900009").await);
    assert_turned_away(&call(&app, "+7378742833", "900010").await);

    // The UK line's withheld callers have a budget of their own.
    let uk = Call::new("anonymous", UK_LINE, None).enters(&app, "900011").await;
    assert!(uk.says_contains(CANNOT_BE_HELPED), "{}", uk.said());
}

#[tokio::test]
async fn a_line_that_requires_a_level_attestation_counts_only_attested_numbers_as_registered() {
    let cases = case_system().await;
    let app = night(&cases)
        .env("AFTERHOURS_LINES__US__REQUIRE_A_ATTESTATION", "true")
        .start()
        .await;
    let unattested = call(&app, CUSTOMER, "123456").await;
    assert!(unattested.says_contains(CANNOT_BE_HELPED), "{}", unattested.said());
    let b_level = Call::new(CUSTOMER, US_LINE, Some("TN-Validation-Passed-B"))
        .enters(&app, "123456")
        .await;
    assert!(b_level.says_contains(CANNOT_BE_HELPED), "{}", b_level.said());
    assert_bridged(&Call::new(CUSTOMER, US_LINE, Some(A_LEVEL)).enters(&app, "123456").await);
}

// ---------------------------------------------------------------------------------------------------------
// What a stranger hears

/// What was said, with the case number's digits taken out.
fn without_the_case(twiml: &Twiml, spoken_case: &str) -> String {
    twiml.said().replace(spoken_case, "N")
}

#[tokio::test]
async fn a_stranger_hears_the_same_words_for_a_missing_case_and_for_a_closed_one() {
    let cases = case_system().await;
    let app = night(&cases).start().await;
    let stranger = "+15557770006";

    let missing = call(&app, stranger, "333333").await;
    let closed = call(&app, stranger, "222222").await;
    let someone_elses = call(&app, stranger, "123456").await;

    let words = without_the_case(&missing, "3 3 3 3 3 3");
    assert!(words.starts_with(CANNOT_BE_HELPED), "{words}");
    assert_eq!(without_the_case(&closed, "2 2 2 2 2 2"), words);
    assert_eq!(without_the_case(&someone_elses, "1 2 3 4 5 6"), words);
    for heard in [&missing, &closed, &someone_elses] {
        for secret in ["closed", "Globex", "ACME", "critical", "find"] {
            assert!(!heard.said().contains(secret), "{secret}: {}", heard.said());
        }
    }
}

#[tokio::test]
async fn a_registered_caller_still_hears_what_is_wrong_with_their_case() {
    let cases = case_system().await;
    Mock::given(method("GET"))
        .and(path("/cases/444444"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "444444", "severity": "critical", "environment": "production", "status": "closed",
            "customer": "ACME Corp", "contact_phones": [CUSTOMER], "support_package": "Premium",
        })))
        .mount(&cases)
        .await;
    let app = night(&cases).start().await;
    let heard = call(&app, CUSTOMER, "444444").await;
    assert!(heard.says_contains("Case 4 4 4 4 4 4 is closed."), "{}", heard.said());
    // Their package's channel, not the line's.
    assert!(
        heard.says_contains("open a new case through your premium support line, listed in the support portal."),
        "{}",
        heard.said()
    );
}

#[tokio::test]
async fn the_customers_name_is_never_spoken_to_a_stranger_even_where_the_line_takes_any_caller() {
    let cases = case_system().await;
    let app = night(&cases)
        .env("AFTERHOURS_LINES__US__REQUIRE_REGISTERED_CALLER", "false")
        .start()
        .await;
    let stranger = Call::new("+15557770007", US_LINE, None);
    let heard = stranger.enters(&app, "123456").await;

    assert_eq!(
        heard.says[0],
        "Thank you. Case 1 2 3 4 5 6 for your organisation is a critical incident in production."
    );
    assert!(!heard.said().contains("ACME"), "{}", heard.said());
    // The engineer, who picks up the fallback number, does hear whose case it is.
    let whisper_url = heard.dial_numbers[0].1.clone();
    let leg = params(&[
        ("CallSid", "CA00000000000000000000000000000b0b"),
        ("ParentCallSid", &stranger.fields[0].1),
        ("From", US_LINE),
        ("To", FALLBACK),
        ("CallStatus", "in-progress"),
        ("Direction", "outbound-dial"),
    ]);
    let whisper = app
        .post_signed(whisper_url.strip_prefix(PUBLIC_URL).unwrap(), &leg)
        .await
        .twiml();
    assert!(whisper.says_contains("for ACME Corp"), "{}", whisper.said());
}

#[tokio::test]
async fn a_stranger_hears_the_lines_support_channel_not_the_one_of_the_cases_package() {
    let cases = case_system().await;
    for (id, contact) in [("555551", "+15550009999"), ("555552", CUSTOMER)] {
        Mock::given(method("GET"))
            .and(path(format!("/cases/{id}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": id, "severity": "critical", "environment": "production", "status": "closed",
                "customer": "Initech", "contact_phones": [contact], "support_package": "Premium",
            })))
            .mount(&cases)
            .await;
    }
    let app = night(&cases)
        .env("AFTERHOURS_PACKAGES__PREMIUM__SUPPORT_CHANNEL", "the premium desk")
        .start()
        .await;

    // The customer registered on the case hears their package's channel...
    let registered = call(&app, CUSTOMER, "555552").await;
    assert!(registered.says_contains("the premium desk"), "{}", registered.said());
    // ...a stranger, the line's, as for a case that does not exist.
    let stranger = call(&app, "+15557770008", "555551").await;
    let missing = call(&app, "+15557770008", "555553").await;
    assert!(!stranger.said().contains("premium"), "{}", stranger.said());
    assert_eq!(
        without_the_case(&stranger, "5 5 5 5 5 1"),
        without_the_case(&missing, "5 5 5 5 5 3")
    );
}
