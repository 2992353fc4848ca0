//! A whole night call on each provider, over real HTTP, with that provider's webhook fields and documents:
//! the greeting, the case number and its verification, the bridge with the whisper, a second call about the
//! case that leaves a voicemail, the escalation, the engineer's acceptance (recorded in Redis as for Twilio),
//! and the end of the dial. Every document is checked against the provider's verbs and attributes.
//!
//! How each provider drives it:
//! - Twilio, SignalWire, Telnyx (TwiML / TeXML): `<Number url>` is the whisper on the engineer's leg
//!   (`ParentCallSid` = the caller's call), its `<Gather>` posts `Digits`; the `<Dial action>` posts
//!   `DialCallStatus`.
//! - Plivo: `CallUUID`, numbers without `+`; `<GetDigits>`; `<Dial confirmSound>` is fetched on the engineer's
//!   leg (`ALegUUID` = the caller's call) and may hold `<Speak>` only; the engineer presses `confirmKey` and
//!   Plivo bridges, posting `DialAction=answer` to `callbackUrl`; the `<Dial action>` posts `DialStatus`.

use afterhours::settings::ProviderKind;
use afterhours::store::Store;
use afterhours::store::redis::RedisStore;

use crate::bridge::{BOB, CAROL, VERIFIED, case_system, fresh_prefix, import, path_of, server_on, shipped};
use crate::helpers::*;

const CONNECTING: &str = "Connecting you to the on-call engineer. Please stay on the line.";
const STILL_TRYING: &str = "We are still trying to reach an engineer. Please stay on the line.";
const WHISPER: &str =
    "Critical production case 1 2 3 4 5 6 for ACME Corp. Press 1 to accept, any other key to decline.";
const BUSY: &str = "An engineer is already being called about case 1 2 3 4 5 6.";
const THANKS: &str = "Thank you. Your message is attached to case 1 2 3 4 5 6";
const RECORDING: &str = "https://media.example.com/recordings/r-0001.mp3";

/// One provider's way of saying things.
struct Carrier {
    kind: ProviderKind,
    app: TestApp,
    prefix: String,
}

/// A call's identity, as the provider names it.
struct Call {
    sid: &'static str,
}

impl Carrier {
    async fn on(kind: ProviderKind) -> (Carrier, wiremock::MockServer) {
        let prefix = fresh_prefix();
        import(&prefix, &shipped("config/oncall.toml")).await;
        let cases = case_system().await;
        let app = server_on(&cases, &prefix).provider(kind).start().await;
        (Carrier { kind, app, prefix }, cases)
    }

    fn plivo(&self) -> bool {
        self.kind == ProviderKind::Plivo
    }

    /// A number as the provider writes it in webhooks.
    fn number(&self, e164: &str) -> String {
        if self.plivo() {
            e164.trim_start_matches('+').to_owned()
        } else {
            e164.to_owned()
        }
    }

    /// The fields of every webhook on the caller's call.
    fn call_fields(&self, call: &Call) -> Vec<(String, String)> {
        let (from, to) = (self.number(CALLER), self.number(US_LINE));
        match self.kind {
            ProviderKind::Plivo => params(&[
                ("CallUUID", call.sid),
                ("From", &from),
                ("To", &to),
                ("CallStatus", "in-progress"),
                ("Direction", "inbound"),
                ("Event", "Redirect"),
            ]),
            ProviderKind::Telnyx => params(&[
                ("AccountSid", "f5586561-8ff0-4291-a51b-c7dfe4139ff9"),
                ("CallSid", call.sid),
                ("CallSidLegacy", call.sid),
                ("ConnectionId", "1234567890"),
                ("From", &from),
                ("To", &to),
                ("CallStatus", "in-progress"),
                ("Direction", "inbound"),
            ]),
            _ => params(&[
                ("AccountSid", "b3877c40-da60-4998-90ad-b792e98472af"),
                ("CallSid", call.sid),
                ("From", &from),
                ("To", &to),
                ("CallStatus", "in-progress"),
                ("Direction", "inbound"),
                ("ApiVersion", "2010-04-01"),
            ]),
        }
    }

    /// The fields of a webhook on an engineer's leg `leg`, a child of `call`.
    fn leg_fields(&self, call: &Call, leg: &str, phone: &str) -> Vec<(String, String)> {
        let (from, to) = (self.number(US_LINE), self.number(phone));
        match self.kind {
            ProviderKind::Plivo => params(&[
                ("CallUUID", leg),
                ("ALegUUID", call.sid),
                ("ALegRequestUUID", call.sid),
                ("From", &from),
                ("To", &to),
                ("CallStatus", "in-progress"),
                ("Direction", "outbound"),
            ]),
            _ => params(&[
                ("CallSid", leg),
                ("ParentCallSid", call.sid),
                ("From", &from),
                ("To", &to),
                ("CallStatus", "in-progress"),
                ("Direction", "outbound-dial"),
            ]),
        }
    }

    async fn post(&self, url: &str, fields: &[(String, String)]) -> Twiml {
        self.app.post_signed(path_of(url), fields).await.twiml()
    }

    /// Posts to `url` on the caller's call, with `extra` fields.
    async fn on_call(&self, call: &Call, url: &str, extra: &[(&str, &str)]) -> Twiml {
        let mut fields = self.call_fields(call);
        fields.extend(params(extra));
        let twiml = self.post(url, &fields).await;
        self.assert_vocabulary(&twiml, false);
        twiml
    }

    async fn incoming(&self, call: &Call) -> Twiml {
        let twiml = self
            .post(&format!("{PUBLIC_URL}/voice/incoming"), &self.call_fields(call))
            .await;
        self.assert_vocabulary(&twiml, false);
        twiml
    }

    /// The caller keys in the case number.
    async fn enters_the_case(&self, call: &Call, greeting: &Twiml) -> Twiml {
        // Plivo's `<GetDigits>` leaves out its finish key; Twilio's `<Gather>` does too, and the flow takes
        // it either way.
        let digits = if self.plivo() { "123456" } else { "123456#" };
        self.on_call(call, greeting.action(), &[("Digits", digits)]).await
    }

    /// The dial ends with `answered` or not.
    async fn dial_ends(&self, call: &Call, dial: &Twiml, answered: Option<&str>) -> Twiml {
        let action = dial.dial_action.clone().unwrap();
        let fields: Vec<(&str, &str)> = match (self.plivo(), answered) {
            (true, None) => vec![
                ("DialStatus", "timeout"),
                ("DialALegUUID", call.sid),
                ("DialHangupCause", "NO_ANSWER"),
            ],
            (true, Some(leg)) => vec![
                ("DialStatus", "completed"),
                ("DialALegUUID", call.sid),
                ("DialBLegUUID", leg),
                ("DialHangupCause", "NORMAL_CLEARING"),
            ],
            (false, None) => vec![("DialCallStatus", "no-answer")],
            (false, Some(leg)) => vec![
                ("DialCallStatus", "completed"),
                ("DialCallSid", leg),
                ("DialCallDuration", "312"),
            ],
        };
        self.on_call(call, &action, &fields).await
    }

    /// The engineer at `phone` answers: what they hear before accepting.
    async fn whisper(&self, call: &Call, dial: &Twiml, phone: &str, leg: &str) -> Twiml {
        let url = if self.plivo() {
            assert_eq!(dial.dial_confirm_key.as_deref(), Some("1"), "{}", dial.xml);
            dial.dial_confirm_sound
                .clone()
                .unwrap_or_else(|| panic!("no confirmSound: {}", dial.xml))
        } else {
            crate::bridge::whisper_url(dial, phone)
        };
        let twiml = self.post(&url, &self.leg_fields(call, leg, phone)).await;
        self.assert_vocabulary(&twiml, self.plivo());
        twiml
    }

    /// The engineer at `phone` presses 1.
    async fn accepts(&self, call: &Call, dial: &Twiml, whisper: &Twiml, phone: &str, leg: &str) {
        if self.plivo() {
            // Plivo bridges on the confirm key, and says so to the dial's callback URL.
            let callback = dial
                .dial_callback_url
                .clone()
                .unwrap_or_else(|| panic!("no callbackUrl: {}", dial.xml));
            let fields = params(&[
                ("CallUUID", call.sid),
                ("DialAction", "answer"),
                ("DialALegUUID", call.sid),
                ("DialBLegUUID", leg),
                ("DialBLegTo", &self.number(phone)),
                ("DialBLegFrom", &self.number(US_LINE)),
                ("DialBLegStatus", "answer"),
            ]);
            self.post(&callback, &fields).await;
        } else {
            let mut fields = self.leg_fields(call, leg, phone);
            fields.extend(params(&[("Digits", "1")]));
            let connected = self.post(whisper.action(), &fields).await;
            self.assert_vocabulary(&connected, false);
            assert!(connected.says_contains("Connecting you now."), "{}", connected.xml);
            assert!(!connected.hangup, "{}", connected.xml);
        }
    }

    /// The voicemail's recording comes.
    async fn records(&self, call: &Call, record: &Twiml) -> Twiml {
        let action = record
            .record_action
            .clone()
            .unwrap_or_else(|| panic!("no <Record>: {}", record.xml));
        let fields: Vec<(&str, &str)> = if self.plivo() {
            vec![
                ("RecordUrl", RECORDING),
                ("RecordingDuration", "42"),
                ("RecordingID", "r-0001"),
            ]
        } else {
            vec![("RecordingUrl", RECORDING), ("RecordingDuration", "42")]
        };
        self.on_call(call, &action, &fields).await
    }

    /// Every element and attribute of `twiml` is one the provider knows; a confirm document (Plivo's
    /// `confirmSound`) holds only what Plivo plays there.
    fn assert_vocabulary(&self, twiml: &Twiml, confirm: bool) {
        let allowed: &[(&str, &[&str])] = match (self.kind, confirm) {
            (ProviderKind::Plivo, true) => &[
                ("Response", &[]),
                ("Speak", &["voice", "language"]),
                ("Play", &[]),
                ("Wait", &["length"]),
            ],
            (ProviderKind::Plivo, false) => &[
                ("Response", &[]),
                ("Speak", &["voice", "language"]),
                ("Wait", &["length"]),
                (
                    "GetDigits",
                    &[
                        "action",
                        "method",
                        "inputType",
                        "timeout",
                        "redirect",
                        "finishOnKey",
                        "numDigits",
                    ],
                ),
                ("Redirect", &["method"]),
                ("Hangup", &[]),
                (
                    "Dial",
                    &[
                        "action",
                        "method",
                        "callerId",
                        "timeout",
                        "timeLimit",
                        "redirect",
                        "confirmSound",
                        "confirmKey",
                        "callbackUrl",
                        "callbackMethod",
                    ],
                ),
                ("Number", &[]),
                (
                    "Record",
                    &[
                        "action",
                        "method",
                        "maxLength",
                        "finishOnKey",
                        "timeout",
                        "playBeep",
                        "fileFormat",
                    ],
                ),
            ],
            (ProviderKind::Telnyx, _) => &[
                ("Response", &[]),
                // The default voice is a Polly voice, which TeXML gives no language.
                ("Say", &["voice"]),
                ("Pause", &["length"]),
                (
                    "Gather",
                    &[
                        "input",
                        "action",
                        "method",
                        "timeout",
                        "finishOnKey",
                        "numDigits",
                        "actionOnEmptyResult",
                    ],
                ),
                ("Redirect", &["method"]),
                ("Hangup", &[]),
                ("Dial", &["action", "method", "callerId", "timeout", "timeLimit"]),
                ("Number", &["url", "method"]),
                (
                    "Record",
                    &[
                        "action",
                        "method",
                        "maxLength",
                        "finishOnKey",
                        "timeout",
                        "playBeep",
                        "channels",
                    ],
                ),
            ],
            _ => &[
                ("Response", &[]),
                ("Say", &["voice", "language"]),
                ("Pause", &["length"]),
                (
                    "Gather",
                    &[
                        "input",
                        "action",
                        "method",
                        "timeout",
                        "finishOnKey",
                        "numDigits",
                        "actionOnEmptyResult",
                    ],
                ),
                ("Redirect", &["method"]),
                ("Hangup", &[]),
                ("Dial", &["action", "method", "callerId", "timeout", "timeLimit"]),
                ("Number", &["url", "method"]),
                (
                    "Record",
                    &["action", "method", "maxLength", "finishOnKey", "timeout", "playBeep"],
                ),
            ],
        };
        for (element, attributes) in &twiml.elements {
            let known = allowed
                .iter()
                .find(|(name, _)| name == element)
                .unwrap_or_else(|| panic!("{:?} has no <{element}>: {}", self.kind, twiml.xml));
            for attribute in attributes {
                assert!(
                    known.1.contains(&attribute.as_str()),
                    "{:?}'s <{element}> takes no {attribute}: {}",
                    self.kind,
                    twiml.xml
                );
            }
            if self.kind == ProviderKind::Telnyx && element == "Record" {
                assert!(attributes.iter().any(|a| a == "channels"), "one channel: {}", twiml.xml);
            }
        }
    }

    /// Who accepted attempt `attempt` (0-based) of `call`, read straight from Redis.
    async fn acceptance(&self, call: &Call, attempt: u32) -> Option<String> {
        RedisStore::new(&redis_url(), &self.prefix)
            .unwrap()
            .acceptance(call.sid, attempt)
            .await
            .unwrap()
    }
}

/// The calls' identities, as each provider writes them.
fn calls(kind: ProviderKind) -> (Call, Call, &'static str) {
    match kind {
        ProviderKind::Plivo => (
            Call {
                sid: "9d9a1f1e-1a5f-11ef-9a0e-0242ac120002",
            },
            Call {
                sid: "9d9a1f1e-1a5f-11ef-9a0e-0242ac120099",
            },
            "b1c2d3e4-1a5f-11ef-9a0e-0242ac120003",
        ),
        ProviderKind::Telnyx => (
            Call {
                sid: "v3:9X2vxPDFY2RHSJ1EdMS0RHRksMTg7ldNxdjWbVr9zBjbGjGsSe-aiQ",
            },
            Call {
                sid: "v3:9X2vxPDFY2RHSJ1EdMS0RHRksMTg7ldNxdjWbVr9zBjbGjGsSe-zzz",
            },
            "v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg",
        ),
        _ => (
            Call {
                sid: "ab59e3f7-67d4-4c9f-8b1a-3c5e8f0d2a11",
            },
            Call {
                sid: "ab59e3f7-67d4-4c9f-8b1a-3c5e8f0d2a99",
            },
            "ca59e3f7-67d4-4c9f-8b1a-3c5e8f0d2a13",
        ),
    }
}

async fn a_whole_night_call_on(kind: ProviderKind) {
    let (carrier, _cases) = Carrier::on(kind).await;
    let (caller, second, carol_leg) = calls(kind);

    // The greeting asks for the case number.
    let greeting = carrier.incoming(&caller).await;
    assert!(
        greeting.says[0].starts_with("Thank you for calling North America"),
        "{}",
        greeting.xml
    );
    assert!(
        greeting.says_contains("please enter your case number"),
        "{}",
        greeting.xml
    );
    assert!(
        greeting.action().contains("/voice/step/case_number/digits?line=us"),
        "{}",
        greeting.xml
    );

    // The case is verified (the caller is one of its contacts), and tier 1 (Bob) is rung with the whisper.
    let first = carrier.enters_the_case(&caller, &greeting).await;
    assert!(first.says_contains(VERIFIED), "{}", first.xml);
    assert!(first.says_contains(CONNECTING), "{}", first.xml);
    let dialled: Vec<String> = first.dial_numbers.iter().map(|(n, _)| n.clone()).collect();
    assert_eq!(dialled, [carrier.number(BOB)], "{}", first.xml);
    assert_eq!(
        first.dial_caller_id.as_deref(),
        Some(carrier.number(US_LINE).as_str()),
        "{}",
        first.xml
    );

    // Meanwhile, a second call about the case is told so, and leaves a message.
    let greeting = carrier.incoming(&second).await;
    let busy = carrier.enters_the_case(&second, &greeting).await;
    assert!(busy.says_contains(BUSY), "{}", busy.xml);
    let thanks = carrier.records(&second, &busy).await;
    assert!(thanks.says_contains(THANKS), "{}", thanks.xml);
    assert!(thanks.hangup, "{}", thanks.xml);

    // Bob does not answer: the escalation rings tier 2 (Carol).
    let second_tier = carrier.dial_ends(&caller, &first, None).await;
    assert!(second_tier.says_contains(STILL_TRYING), "{}", second_tier.xml);
    let dialled: Vec<String> = second_tier.dial_numbers.iter().map(|(n, _)| n.clone()).collect();
    assert_eq!(dialled, [carrier.number(CAROL)], "{}", second_tier.xml);

    // Carol answers, hears the whisper, and accepts: recorded under the caller's call, as for Twilio.
    let whisper = carrier.whisper(&caller, &second_tier, CAROL, carol_leg).await;
    assert_eq!(whisper.says, [WHISPER], "{}", whisper.xml);
    carrier.accepts(&caller, &second_tier, &whisper, CAROL, carol_leg).await;
    assert_eq!(carrier.acceptance(&caller, 1).await.as_deref(), Some("carol"));
    assert_eq!(carrier.acceptance(&caller, 0).await, None, "Bob never answered");

    // The bridged call ends: accepted, the flow ends without ringing anyone else.
    let end = carrier.dial_ends(&caller, &second_tier, Some(carol_leg)).await;
    assert!(end.dial_numbers.is_empty(), "{}", end.xml);
    assert!(end.record_action.is_none(), "{}", end.xml);
}

#[tokio::test]
async fn a_whole_night_call_on_twilio() {
    a_whole_night_call_on(ProviderKind::Twilio).await;
}

#[tokio::test]
async fn a_whole_night_call_on_signalwire() {
    a_whole_night_call_on(ProviderKind::SignalWire).await;
}

#[tokio::test]
async fn a_whole_night_call_on_telnyx() {
    a_whole_night_call_on(ProviderKind::Telnyx).await;
}

#[tokio::test]
async fn a_whole_night_call_on_plivo() {
    a_whole_night_call_on(ProviderKind::Plivo).await;
}

#[tokio::test]
async fn each_provider_refuses_a_webhook_signed_as_another_provider_signs() {
    for kind in [ProviderKind::SignalWire, ProviderKind::Telnyx, ProviderKind::Plivo] {
        let app = friday_night().provider(kind).start().await;
        let fields = call_fields(CALLER, US_LINE);
        // A Twilio signature (of the right token, for SignalWire and Plivo) is no signature of theirs...
        let signature =
            afterhours::signature::compute(TOKEN.as_bytes(), &format!("{PUBLIC_URL}/voice/incoming"), &fields);
        let reply = app.post("/voice/incoming", Some(&signature), form(&fields)).await;
        if kind == ProviderKind::SignalWire {
            // ...except for SignalWire, which sends X-Twilio-Signature too.
            assert_eq!(reply.status, 200, "{kind:?}");
        } else {
            assert_eq!(reply.status, 403, "{kind:?}");
            assert!(reply.body.is_empty());
        }
        // Unsigned: refused.
        let reply = app.post("/voice/incoming", None, form(&fields)).await;
        assert_eq!(reply.status, 403, "{kind:?}");
        assert!(reply.body.is_empty());
    }
}

#[tokio::test]
async fn telnyx_refuses_a_webhook_signed_more_than_five_minutes_from_now() {
    let mut app = friday_night().provider(ProviderKind::Telnyx).start().await;
    let fields = call_fields(CALLER, US_LINE);
    assert_eq!(app.post_signed("/voice/incoming", &fields).await.status, 200);
    let now = app.at_unix;
    for (at, status) in [(now - 300, 200), (now + 300, 200), (now - 301, 403), (now + 301, 403)] {
        app.at_unix = at;
        assert_eq!(
            app.post_signed("/voice/incoming", &fields).await.status,
            status,
            "signed at now{:+}",
            at - now
        );
    }
}
