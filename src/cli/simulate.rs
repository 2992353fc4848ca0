//! `afterhours simulate`: plays the provider in the terminal. It sends the same webhooks the provider would
//! (through the same answering code as the server, minus the signature), prints what the caller and the
//! engineers hear and what the service decided, answers each prompt with the next `--digits`, and each dial
//! with the next `--answer` (an engineer who accepts, or `none`). With `--provider`, the webhooks carry that
//! provider's field names and go through its dialect, as the server reads them; `--xml` prints each answer as
//! the provider's voice XML.

use std::io::Write;

use crate::assembly::AppState;
use crate::dialect::{self, Document};
use crate::flow::engine::{Effect, Trace};
use crate::http::voice::{self, Answer, Route};
use crate::phone::mask;
use crate::settings::ProviderKind;
use crate::twiml::Verb;

/// The most webhooks one simulated call may take before it is called a loop.
const MAX_WEBHOOKS: usize = 60;

/// A recording URL as Twilio would post it.
const SIMULATED_RECORDING: &str = "https://api.twilio.com/2010-04-01/Accounts/AC00000000000000000000000000000000/Recordings/RE00000000000000000000000000000000";

#[derive(Debug, thiserror::Error)]
pub(crate) enum SimulateError {
    #[error("cannot write: {0}")]
    Io(#[from] std::io::Error),
    #[error("the flow sent the call to {0:?}, which is not a URL of this service")]
    ForeignUrl(String),
    #[error("the call did not end after {MAX_WEBHOOKS} webhooks")]
    Endless,
}

/// What the simulated caller and engineers do.
#[derive(Debug, Clone, Default)]
pub(crate) struct Script {
    /// Pressed at each prompt, in order; silence when they run out.
    pub(crate) digits: Vec<String>,
    /// At each dial, the engineer id who accepts, or `none`; nobody answers when they run out.
    pub(crate) answers: Vec<String>,
    /// Whose webhooks these are.
    pub(crate) provider: ProviderKind,
    /// Print each answer as the provider's voice XML.
    pub(crate) xml: bool,
}

/// One simulated call: its ids and the provider's side of the conversation.
struct Call<'a> {
    state: &'a AppState,
    provider: ProviderKind,
    xml: bool,
    sid: String,
    from: &'a str,
    to: &'a str,
    webhooks: usize,
}

impl Call<'_> {
    fn fields(&self, sid: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut params: Vec<(String, String)> = [
            ("CallSid", sid),
            ("AccountSid", "AC00000000000000000000000000000000"),
            ("From", self.from),
            ("To", self.to),
            ("Caller", self.from),
            ("Called", self.to),
            ("CallStatus", "in-progress"),
            ("Direction", "inbound"),
            ("ApiVersion", "2010-04-01"),
        ]
        .iter()
        .chain(extra)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        params.dedup_by(|a, b| a.0 == b.0);
        params
    }

    /// Posts to one of our URLs and prints what happened.
    async fn post(
        &mut self,
        url: &str,
        params: Vec<(String, String)>,
        out: &mut impl Write,
    ) -> Result<Answer, SimulateError> {
        self.webhooks += 1;
        if self.webhooks > MAX_WEBHOOKS {
            return Err(SimulateError::Endless);
        }
        let base = self.state.config.settings.server.public_url.as_str();
        let local = url
            .strip_prefix(base)
            .ok_or_else(|| SimulateError::ForeignUrl(url.to_owned()))?;
        let (path, query) = local.split_once('?').unwrap_or((local, ""));
        writeln!(out, "\n> POST {path}")?;
        let webhook = dialect::read(
            self.provider,
            std::sync::Arc::new(as_provider(self.provider, params)),
            query,
        );
        let (params, query) = (webhook.params, webhook.query.as_str());
        let answer = if path == "/voice/incoming" {
            voice::answer(self.state, Route::Incoming, "", params).await
        } else {
            let mut segments = path.strip_prefix("/voice/step/").unwrap_or("").split('/');
            let step = segments.next().unwrap_or("");
            voice::answer(
                self.state,
                Route::Step {
                    step,
                    event: segments.next(),
                },
                query,
                params,
            )
            .await
        };
        if self.xml {
            let document = if path.ends_with("/whisper") {
                Document::Confirm
            } else {
                Document::Call
            };
            writeln!(
                out,
                "  xml     {}",
                dialect::render(self.provider, &answer.response, document)
            )?;
        }
        for entry in &answer.trace {
            match entry {
                Trace::Say(text) => writeln!(out, "  say     {text}")?,
                Trace::Decision(text) => writeln!(out, "  decide  {text}")?,
            }
        }
        for effect in &answer.effects {
            match effect {
                Effect::LogCallEntry { .. } | Effect::CallEnded { .. } => {}
                Effect::CaseNote { case, body, .. } => {
                    writeln!(out, "  note    case {case} (not sent by simulate): {body}")?
                }
                Effect::Alert(alert) => writeln!(
                    out,
                    "  alert   {} (not sent by simulate): {}",
                    alert.event(),
                    alert.summary()
                )?,
            }
        }
        Ok(answer)
    }
}

/// The walk's webhook fields (in Twilio's names) under `kind`'s names, as that provider would send them.
fn as_provider(kind: ProviderKind, fields: Vec<(String, String)>) -> Vec<(String, String)> {
    if kind != ProviderKind::Plivo {
        return fields;
    }
    fields
        .into_iter()
        .filter_map(|(name, value)| {
            let renamed = match name.as_str() {
                "CallSid" => "CallUUID",
                "ParentCallSid" => "ALegUUID",
                "DialCallStatus" => {
                    let value = if value == "no-answer" {
                        "timeout".to_owned()
                    } else {
                        value
                    };
                    return Some(("DialStatus".to_owned(), value));
                }
                "RecordingUrl" => "RecordUrl",
                "From" | "To" => return Some((name, value.trim_start_matches('+').to_owned())),
                "Caller" | "Called" | "ApiVersion" | "AccountSid" => return None,
                _ => return Some((name, value)),
            };
            Some((renamed.to_owned(), value))
        })
        .collect()
}

/// Walks one call to `to` from `from`, as `script` says the people on the phone act.
pub(crate) async fn walk(
    state: &AppState,
    to: &str,
    from: &str,
    script: &Script,
    out: &mut impl Write,
) -> Result<(), SimulateError> {
    let now = state.clock.now();
    // A call id of its own, so that records this run leaves in a shared store touch no other call.
    let sid = format!(
        "CA{:032x}",
        now.timestamp_nanos_opt().unwrap_or_default() as u128 ^ u128::from(std::process::id())
    );
    let mut call = Call {
        state,
        provider: script.provider,
        xml: script.xml,
        sid,
        from,
        to,
        webhooks: 0,
    };
    writeln!(out, "call from {} to {to} at {}", mask(from), now.to_rfc3339())?;
    let base = state.config.settings.server.public_url.as_str().to_owned();
    let mut digits = script.digits.iter();
    let mut answers = script.answers.iter();
    let mut request = (format!("{base}/voice/incoming"), call.fields(&call.sid, &[]));
    loop {
        let answer = call.post(&request.0, request.1.clone(), out).await?;
        let mut next = None;
        for verb in &answer.response.verbs {
            match verb {
                Verb::Say { .. } | Verb::Pause { .. } => {}
                Verb::Gather(gather) => {
                    let pressed = match digits.next() {
                        Some(d) => {
                            writeln!(out, "  caller  presses {d}")?;
                            // Like the provider: the finishing key is not part of Digits.
                            gather
                                .finish_on_key
                                .map_or(d.as_str(), |k| d.trim_end_matches(k))
                                .to_owned()
                        }
                        None => {
                            writeln!(out, "  caller  presses nothing ({} s pass)", gather.timeout_secs)?;
                            String::new()
                        }
                    };
                    next = Some((gather.action.clone(), call.fields(&call.sid, &[("Digits", &pressed)])));
                    break;
                }
                Verb::Dial(dial) => {
                    let phones: Vec<&str> = dial.numbers.iter().map(|n| n.phone.as_str()).collect();
                    writeln!(
                        out,
                        "  dial    {} for {} s, from {}",
                        phones.join(", "),
                        dial.timeout_secs,
                        dial.caller_id
                    )?;
                    let accepting = answers.next().filter(|a| a.as_str() != "none");
                    let leg = dial.numbers.iter().find(|n| {
                        accepting.is_some_and(|a| {
                            n.url.contains(&format!("v.engineer={a}&")) || n.url.ends_with(&format!("v.engineer={a}"))
                        })
                    });
                    let status = match (accepting, leg) {
                        (Some(engineer), Some(leg)) => {
                            writeln!(out, "  engineer {engineer} answers")?;
                            let child = format!("{}e", &call.sid[..call.sid.len() - 1]);
                            let parent = call.sid.clone();
                            let whisper = call
                                .post(&leg.url, call.fields(&child, &[("ParentCallSid", &parent)]), out)
                                .await?;
                            let accept = whisper.response.verbs.iter().find_map(|v| match v {
                                Verb::Gather(g) => Some(g.action.clone()),
                                _ => None,
                            });
                            if let Some(accept) = accept {
                                writeln!(out, "  engineer {engineer} presses 1")?;
                                call.post(
                                    &accept,
                                    call.fields(&child, &[("ParentCallSid", &parent), ("Digits", "1")]),
                                    out,
                                )
                                .await?;
                            }
                            writeln!(out, "  (the caller and {engineer} talk; the bridged call ends)")?;
                            "completed"
                        }
                        (Some(engineer), None) => {
                            writeln!(out, "  ({engineer} is not rung in this tier: nobody answers)")?;
                            "no-answer"
                        }
                        _ => {
                            writeln!(out, "  nobody answers within {} s", dial.timeout_secs)?;
                            "no-answer"
                        }
                    };
                    next = Some((
                        dial.action.clone(),
                        call.fields(&call.sid, &[("DialCallStatus", status)]),
                    ));
                    break;
                }
                Verb::Record(record) => {
                    writeln!(out, "  caller  leaves a message (at most {} s)", record.max_length_secs)?;
                    let fields = call.fields(
                        &call.sid,
                        &[
                            ("RecordingUrl", SIMULATED_RECORDING),
                            ("RecordingDuration", "42"),
                            ("Digits", "#"),
                        ],
                    );
                    next = Some((record.action.clone(), fields));
                    break;
                }
                Verb::Redirect { url } => {
                    next = Some((url.clone(), call.fields(&call.sid, &[])));
                    break;
                }
                Verb::Hangup => {
                    writeln!(out, "  hangup")?;
                    return Ok(());
                }
            }
        }
        match next {
            Some(n) => request = n,
            None => {
                writeln!(out, "  (end of instructions: the provider hangs up)")?;
                return Ok(());
            }
        }
    }
}
