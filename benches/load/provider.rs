//! The telephony provider, played as Twilio plays it (or SignalWire, Telnyx, Plivo: `--provider`): signed
//! webhooks with the provider's fields, its voice XML followed verb by verb (a `Gather` answered with the
//! scenario's digits, a `Dial` answered by a simulated engineer leg that fetches its whisper and accepts or
//! declines, `Redirect` and `Record` followed), and a status callback when the call ends. The calls are
//! written in Twilio's field names and put in the provider's as they are sent.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use afterhours::dialect::{self, Signing};
use afterhours::settings::ProviderKind;
use ed25519_dalek::SigningKey;

use crate::stats::Recorder;
use crate::twiml::{self, Verb};
use crate::webhook::Webhook;

/// The line called (the shipped configuration's US line).
pub(crate) const LINE: &str = "+18005550100";

/// Sends webhooks to a server, signed with the provider's auth token over the URLs the server gave.
#[derive(Clone)]
pub(crate) struct Provider {
    client: reqwest::Client,
    /// The base URL the server builds its webhook URLs on (`server.public_url`).
    public_url: String,
    /// Where requests really go; the same as `public_url` for afterhours, the ceiling's address otherwise.
    target: String,
    token: Vec<u8>,
    /// Whose webhooks these are.
    kind: ProviderKind,
    /// Telnyx's private key (from `--telnyx-seed`).
    telnyx: Option<SigningKey>,
}

/// Why one webhook failed, as the report counts it.
#[derive(Debug)]
pub(crate) enum Failure {
    Transport(String),
    Status(u16, String),
    InvalidXml(String),
}

impl Failure {
    pub(crate) fn kind(&self) -> String {
        match self {
            Failure::Transport(_) => "transport error".to_owned(),
            Failure::Status(status, _) => format!("HTTP {status}"),
            Failure::InvalidXml(_) => "invalid TwiML".to_owned(),
        }
    }

    pub(crate) fn detail(&self) -> String {
        match self {
            Failure::Transport(e) | Failure::InvalidXml(e) => e.clone(),
            Failure::Status(status, body) => format!("{status}: {}", body.chars().take(300).collect::<String>()),
        }
    }
}

impl Provider {
    pub(crate) fn new(client: reqwest::Client, public_url: &str, target: &str, token: &str) -> Self {
        Self {
            client,
            public_url: public_url.trim_end_matches('/').to_owned(),
            target: target.trim_end_matches('/').to_owned(),
            token: token.as_bytes().to_vec(),
            kind: ProviderKind::Twilio,
            telnyx: None,
        }
    }

    /// The same provider, playing `kind` (Telnyx signing with the key of `telnyx_seed`).
    pub(crate) fn playing(&self, kind: ProviderKind, telnyx_seed: Option<[u8; 32]>) -> Self {
        Self {
            kind,
            telnyx: telnyx_seed.map(|seed| dialect::signing_key(&seed)),
            ..self.clone()
        }
    }

    pub(crate) fn kind(&self) -> ProviderKind {
        self.kind
    }

    /// The same provider, sending through another HTTP client (e.g. one that keeps no connection alive).
    pub(crate) fn with_client(&self, client: reqwest::Client) -> Self {
        Self { client, ..self.clone() }
    }

    /// The same provider, sending to another server.
    pub(crate) fn aimed_at(&self, target: &str) -> Self {
        Self {
            target: target.trim_end_matches('/').to_owned(),
            ..self.clone()
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.public_url)
    }

    /// POSTs one webhook and returns the TwiML's verbs; the latency is recorded under `label`.
    pub(crate) async fn post(
        &self,
        url: &str,
        params: &[(String, String)],
        label: &str,
        recorder: &mut Recorder,
    ) -> Result<Vec<Verb>, Failure> {
        let text = self.post_text(url, params, label, recorder).await?;
        let verbs = twiml::parse(&text).map_err(|e| Failure::InvalidXml(format!("{e}: {text}")))?;
        if let Some(webhook) = recorder.capture.as_mut().and_then(|c| c.last_mut()) {
            webhook.answer = twiml::shape(&verbs);
        }
        Ok(verbs)
    }

    /// POSTs one webhook and returns the answer's text, unparsed; a status other than 200 is a failure.
    pub(crate) async fn post_text(
        &self,
        url: &str,
        params: &[(String, String)],
        label: &str,
        recorder: &mut Recorder,
    ) -> Result<String, Failure> {
        let path = url
            .strip_prefix(&self.public_url)
            .ok_or_else(|| Failure::InvalidXml(format!("a URL outside {}: {url}", self.public_url)))?;
        if let Some(capture) = &mut recorder.capture {
            capture.push(Webhook {
                label: label.to_owned(),
                url: url.to_owned(),
                params: params.to_vec(),
                answer: Vec::new(),
            });
        }
        let params = as_provider(self.kind, params);
        let body = form_urlencoded::Serializer::new(String::with_capacity(512))
            .extend_pairs(&params)
            .finish();
        let nonce = NEXT_SID.fetch_add(1, Ordering::Relaxed).to_string();
        let signing = match &self.telnyx {
            Some(key) if self.kind == ProviderKind::Telnyx => Signing::Ed25519 {
                key,
                at_unix: chrono::Utc::now().timestamp(),
            },
            _ => Signing::Token {
                token: &self.token,
                nonce: &nonce,
            },
        };
        let headers = dialect::sign(self.kind, &signing, url, body.as_bytes(), &params);
        let started = Instant::now();
        if let Some(sent) = &mut recorder.sent {
            sent.push((started, label.to_owned()));
        }
        let mut request = self
            .client
            .post(format!("{}{path}", self.target))
            .header("content-type", "application/x-www-form-urlencoded");
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request
            .body(body)
            .send()
            .await
            .map_err(|e| Failure::Transport(e.to_string()))?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| Failure::Transport(e.to_string()))?;
        recorder.record(label, started.elapsed());
        if status != 200 {
            return Err(Failure::Status(status, text));
        }
        Ok(text)
    }

    /// Has the ceiling answer every webhook with `body` from now on (none: its own fixed body).
    pub(crate) async fn set_ceiling_answer(&self, body: Option<String>) -> Result<(), Failure> {
        let response = self
            .client
            .put(format!("{}{}", self.target, crate::servers::CEILING_ANSWER_PATH))
            .body(body.unwrap_or_default())
            .send()
            .await
            .map_err(|e| Failure::Transport(e.to_string()))?;
        match response.status().as_u16() {
            204 => Ok(()),
            status => Err(Failure::Status(status, response.text().await.unwrap_or_default())),
        }
    }
}

/// Fields written in Twilio's names, in `kind`'s: Plivo's `CallUUID`, `ALegUUID`, `DialStatus` (`timeout`
/// for no answer), `RecordUrl`, `Duration`, numbers without `+`, and none of Twilio's own extras.
fn as_provider(kind: ProviderKind, fields: &[(String, String)]) -> Vec<(String, String)> {
    if kind != ProviderKind::Plivo {
        return fields.to_vec();
    }
    fields
        .iter()
        .filter_map(|(name, value)| {
            let renamed = match name.as_str() {
                "CallSid" => "CallUUID",
                "ParentCallSid" => "ALegUUID",
                "DialCallSid" => "DialBLegUUID",
                "RecordingUrl" => "RecordUrl",
                "CallDuration" => "Duration",
                "DialCallStatus" => {
                    let value = if value == "no-answer" {
                        "timeout"
                    } else {
                        value.as_str()
                    };
                    return Some(("DialStatus".to_owned(), value.to_owned()));
                }
                "From" | "To" => return Some((name.clone(), value.trim_start_matches('+').to_owned())),
                "AccountSid" | "ApiVersion" | "Called" | "Caller" | "DialBridged" | "DialCallDuration" => return None,
                other if other.ends_with("Country") || other.ends_with("State") => return None,
                other => other,
            };
            Some((renamed.to_owned(), value.clone()))
        })
        .collect()
}

/// The label a webhook's latency is filed under: its path below `/voice/`, without the query.
pub(crate) fn label_of(url: &str) -> String {
    let path = url.split('?').next().unwrap_or(url);
    let path = path.split("/voice/").nth(1).unwrap_or(path);
    path.strip_prefix("step/").unwrap_or(path).to_owned()
}

/// What the engineer whose phone rings in one tier does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pickup {
    /// Answers, hears the whisper and presses 1.
    Accept,
    /// Answers, hears the whisper and presses 2.
    Decline,
    /// Lets it ring.
    NoAnswer,
}

/// One kind of call: what the caller presses, what each tier's engineer does, and where the call must end.
#[derive(Debug, Clone)]
pub(crate) struct Scenario {
    pub(crate) name: &'static str,
    /// At each `Gather`, in order; once they run out, the caller presses nothing.
    pub(crate) digits: Vec<String>,
    /// At each `Dial`, in order; once they run out, nobody answers.
    pub(crate) tiers: Vec<Pickup>,
    /// What the caller hears last before the call ends.
    pub(crate) ends_hearing: &'static str,
    /// An engineer accepted and the caller was bridged.
    pub(crate) bridged: bool,
}

/// How many scenarios [`scenario`] cycles through: calls `index` to `index + SCENARIOS - 1` take them all.
pub(crate) const SCENARIOS: u64 = 10;

/// The mix of calls the driver places: mostly the night's main path, and every other way a call can go.
pub(crate) fn scenario(index: u64) -> Scenario {
    let case = format!("{}", 100_000 + index % 800_000);
    let connecting = "Connecting you to the on-call engineer";
    match index % SCENARIOS {
        6 => Scenario {
            name: "declined, then accepted by tier 2",
            digits: vec![case],
            tiers: vec![Pickup::Decline, Pickup::Accept],
            ends_hearing: "We are still trying to reach an engineer",
            bridged: true,
        },
        7 => Scenario {
            name: "nobody answers: voicemail",
            digits: vec![case],
            tiers: vec![],
            ends_hearing: "Your message is attached to case",
            bridged: false,
        },
        8 => Scenario {
            name: "a wrong entry, then accepted",
            digits: vec!["12".to_owned(), case],
            tiers: vec![Pickup::Accept],
            ends_hearing: connecting,
            bridged: true,
        },
        9 => Scenario {
            name: "not a critical case",
            digits: vec![format!("2{}", 10_000 + index % 80_000)],
            tiers: vec![],
            ends_hearing: "is not marked as critical",
            bridged: false,
        },
        _ => Scenario {
            name: "accepted by tier 1",
            digits: vec![case],
            tiers: vec![Pickup::Accept],
            ends_hearing: connecting,
            bridged: true,
        },
    }
}

static NEXT_SID: AtomicU64 = AtomicU64::new(1);

/// A fresh Twilio-shaped call SID.
pub(crate) fn call_sid() -> String {
    let n = NEXT_SID.fetch_add(1, Ordering::Relaxed);
    format!("CA{:016x}{:016x}", std::process::id(), n)
}

/// The fields Twilio sends on every webhook of the caller's call (about 400 bytes).
pub(crate) fn caller_fields(call_sid: &str, from: &str, status: &str) -> Vec<(String, String)> {
    pairs(&[
        ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", call_sid),
        ("CallStatus", status),
        ("Called", LINE),
        ("CalledCountry", "US"),
        ("CalledState", "NY"),
        ("Caller", from),
        ("CallerCountry", "US"),
        ("CallerState", "CA"),
        ("Direction", "inbound"),
        ("From", from),
        ("FromCountry", "US"),
        ("FromState", "CA"),
        ("To", LINE),
        ("ToCountry", "US"),
        ("ToState", "NY"),
    ])
}

/// The fields of an engineer's leg: its own SID, the caller's as parent, from the line to the engineer.
pub(crate) fn leg_fields(leg_sid: &str, parent: &str, phone: &str) -> Vec<(String, String)> {
    pairs(&[
        ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", leg_sid),
        ("CallStatus", "in-progress"),
        ("Called", phone),
        ("Caller", LINE),
        ("Direction", "outbound-dial"),
        ("From", LINE),
        ("ParentCallSid", parent),
        ("To", phone),
    ])
}

pub(crate) fn pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

/// How one call went.
#[derive(Debug, Default)]
pub(crate) struct CallReport {
    pub(crate) webhooks: u32,
    /// Set when the call did not end where its scenario says.
    pub(crate) wrong_end: Option<String>,
}

/// The most webhooks one call may take before the driver calls it a loop.
const MAX_WEBHOOKS: u32 = 60;

/// Places one complete call and follows it to its end, then sends the status callback. `think` is how long
/// the provider waits between webhooks (a caller listening, an engineer's phone ringing).
pub(crate) async fn place_call(
    provider: &Provider,
    index: u64,
    think: Duration,
    recorder: &mut Recorder,
) -> Result<CallReport, Failure> {
    let scenario = scenario(index);
    let sid = call_sid();
    let from = format!("+1555{:07}", index % 10_000_000);
    let fields = caller_fields(&sid, &from, "in-progress");
    let mut digits: VecDeque<String> = scenario.digits.iter().cloned().collect();
    let mut tiers: VecDeque<Pickup> = scenario.tiers.iter().copied().collect();
    let mut heard: Vec<String> = Vec::new();
    let mut bridged = false;
    let mut report = CallReport::default();

    let mut verbs = provider
        .post(
            &provider.url("/voice/incoming"),
            &caller_fields(&sid, &from, "ringing"),
            "incoming",
            recorder,
        )
        .await?;
    report.webhooks += 1;
    let mut hung_up = false;
    loop {
        let mut next: Option<Webhook> = None;
        for verb in verbs {
            match verb {
                Verb::Say(text) => heard.push(text),
                Verb::Pause => {}
                Verb::Gather {
                    action,
                    action_on_empty,
                    says,
                } => {
                    heard.extend(says);
                    let entered = digits.pop_front();
                    if entered.is_none() && !action_on_empty {
                        continue;
                    }
                    let entered = entered.unwrap_or_default();
                    let what = match entered.len() {
                        0 => "nothing entered",
                        1 | 2 => "wrong entry",
                        _ => "case lookup",
                    };
                    let label = format!("{} ({what})", label_of(&action));
                    let mut params = fields.clone();
                    let key = if entered.is_empty() { "" } else { "#" };
                    params.extend(pairs(&[("Digits", &entered), ("FinishedOnKey", key)]));
                    next = Some(Webhook {
                        label,
                        url: action,
                        params,
                        answer: Vec::new(),
                    });
                    break;
                }
                Verb::Redirect(url) => {
                    let label = label_of(&url);
                    next = Some(Webhook {
                        label,
                        url,
                        params: fields.clone(),
                        answer: Vec::new(),
                    });
                    break;
                }
                Verb::Dial {
                    action,
                    numbers,
                    callback,
                } => {
                    let pickup = tiers.pop_front().unwrap_or(Pickup::NoAnswer);
                    let mut params = fields.clone();
                    let answered = match (pickup, numbers.first()) {
                        (Pickup::NoAnswer, _) | (_, None) => None,
                        (pickup, Some(number)) => {
                            tokio::time::sleep(think).await;
                            let leg = call_sid();
                            let rung = Leg {
                                parent: &sid,
                                leg: &leg,
                                number,
                                callback: callback.as_deref(),
                            };
                            let accepted = engineer_leg(provider, &rung, pickup, recorder).await?;
                            report.webhooks += 2;
                            accepted.then_some(leg)
                        }
                    };
                    match answered {
                        Some(leg) => {
                            bridged = true;
                            params.extend(pairs(&[
                                ("DialCallStatus", "completed"),
                                ("DialCallSid", &leg),
                                ("DialCallDuration", "312"),
                                ("DialBridged", "true"),
                            ]));
                        }
                        None => params.extend(pairs(&[("DialCallStatus", "no-answer")])),
                    }
                    let label = format!(
                        "{} ({})",
                        label_of(&action),
                        if bridged { "bridged" } else { "no answer" }
                    );
                    next = Some(Webhook {
                        label,
                        url: action,
                        params,
                        answer: Vec::new(),
                    });
                    break;
                }
                Verb::Record { action } => {
                    let mut params = fields.clone();
                    params.extend(pairs(&[
                        (
                            "RecordingUrl",
                            "https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Recordings/RE0123456789abcdef0123456789abcdef",
                        ),
                        ("RecordingDuration", "42"),
                        ("RecordingSid", "RE0123456789abcdef0123456789abcdef"),
                        ("Digits", "#"),
                    ]));
                    let label = label_of(&action);
                    next = Some(Webhook {
                        label,
                        url: action,
                        params,
                        answer: Vec::new(),
                    });
                    break;
                }
                Verb::Hangup => {
                    hung_up = true;
                    break;
                }
            }
        }
        let Some(webhook) = next else { break };
        if report.webhooks >= MAX_WEBHOOKS {
            report.wrong_end = Some(format!(
                "more than {MAX_WEBHOOKS} webhooks: a loop? last heard {heard:?}"
            ));
            break;
        }
        tokio::time::sleep(think).await;
        verbs = provider
            .post(&webhook.url, &webhook.params, &webhook.label, recorder)
            .await?;
        report.webhooks += 1;
    }

    // The call is over: Twilio tells the status callback.
    let mut params = caller_fields(&sid, &from, "completed");
    params.extend(pairs(&[("CallDuration", "95")]));
    provider
        .post(&provider.url("/voice/status"), &params, "status", recorder)
        .await?;
    report.webhooks += 1;

    if report.wrong_end.is_none() {
        let last = heard.last().map(String::as_str).unwrap_or("");
        let problem = if !hung_up {
            Some("the TwiML ran out without a <Hangup>".to_owned())
        } else if bridged != scenario.bridged {
            Some(format!("bridged {bridged}, expected {}", scenario.bridged))
        } else if !last.contains(scenario.ends_hearing) {
            Some(format!("last heard {last:?}, expected {:?}", scenario.ends_hearing))
        } else {
            None
        };
        report.wrong_end = problem.map(|p| format!("{}: {p}", scenario.name));
    }
    Ok(report)
}

/// An engineer's leg of a dial: the caller's call, the leg, the number rung, and (Plivo) the dial's callback.
struct Leg<'a> {
    parent: &'a str,
    leg: &'a str,
    number: &'a twiml::Number,
    callback: Option<&'a str>,
}

/// An engineer's phone rings and they answer: the whisper is fetched on the new leg, and they press 1 to
/// accept or 2 to decline. Returns whether they accepted (and heard that they are being connected).
async fn engineer_leg(
    provider: &Provider,
    rung: &Leg<'_>,
    pickup: Pickup,
    recorder: &mut Recorder,
) -> Result<bool, Failure> {
    let (parent, leg, number) = (rung.parent, rung.leg, rung.number);
    let phone = format!("+{}", number.phone.trim_start_matches('+'));
    let fields = leg_fields(leg, parent, &phone);
    let whisper = provider
        .post(&number.url, &fields, &label_of(&number.url), recorder)
        .await?;
    if let (ProviderKind::Plivo, Some(callback)) = (provider.kind(), rung.callback) {
        // Plivo bridges on the confirm key (another key: no bridge, nothing told) and tells the callback.
        if pickup != Pickup::Accept {
            return Ok(false);
        }
        let params = pairs(&[
            ("CallUUID", parent),
            ("DialAction", "answer"),
            ("DialALegUUID", parent),
            ("DialBLegUUID", leg),
            ("DialBLegTo", number.phone.trim_start_matches('+')),
        ]);
        let answer = provider
            .post(callback, &params, &format!("{} (accept)", label_of(callback)), recorder)
            .await?;
        return Ok(answer
            .iter()
            .any(|v| matches!(v, Verb::Say(text) if text.contains("Connecting you now"))));
    }
    let Some(action) = whisper.iter().find_map(|v| match v {
        Verb::Gather { action, .. } => Some(action.clone()),
        _ => None,
    }) else {
        return Ok(false);
    };
    let key = if pickup == Pickup::Accept { "1" } else { "2" };
    let mut params = fields;
    params.extend(pairs(&[("Digits", key)]));
    let label = format!(
        "{} ({})",
        label_of(&action),
        if key == "1" { "accept" } else { "decline" }
    );
    let answer = provider.post(&action, &params, &label, recorder).await?;
    let connected = answer
        .iter()
        .any(|v| matches!(v, Verb::Say(text) if text.contains("Connecting you now")));
    Ok(pickup == Pickup::Accept && connected)
}
