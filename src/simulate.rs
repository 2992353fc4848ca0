//! `afterhours simulate`: plays the provider in the terminal. It sends the same webhooks the provider would
//! (through the same answering code as the server, minus the signature), prints what the caller hears and
//! what the service decided, and answers each prompt with the next `--digits`.

use std::io::Write;

use crate::flow::engine::{Effect, Trace};
use crate::phone::mask;
use crate::server::AppState;
use crate::twiml::Verb;
use crate::voice::{self, Route};

/// The most webhooks one simulated call may take before it is called a loop.
const MAX_WEBHOOKS: usize = 50;

#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    #[error("cannot write: {0}")]
    Io(#[from] std::io::Error),
    #[error("the flow sent the call to {0:?}, which is not a URL of this service")]
    ForeignUrl(String),
    #[error("the call did not end after {MAX_WEBHOOKS} webhooks")]
    Endless,
}

/// Walks one call to `to` from `from`, answering prompts with `digits` in order.
pub async fn walk(
    state: &AppState,
    to: &str,
    from: &str,
    digits: &[String],
    out: &mut impl Write,
) -> Result<(), SimulateError> {
    let base = state.config.settings.server.public_url.as_str();
    let now = state.clock.now();
    writeln!(out, "call from {} to {to} at {}", mask(from), now.to_rfc3339())?;
    let call_params = |digits: Option<&str>| {
        let mut params: Vec<(String, String)> = [
            ("CallSid", "CA00000000000000000000000000000000"),
            ("AccountSid", "AC00000000000000000000000000000000"),
            ("From", from),
            ("To", to),
            ("Caller", from),
            ("Called", to),
            ("CallStatus", "in-progress"),
            ("Direction", "inbound"),
            ("ApiVersion", "2010-04-01"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        if let Some(d) = digits {
            params.push(("Digits".into(), d.to_owned()));
        }
        params
    };
    let mut digits = digits.iter();
    let mut next: Option<(String, Option<String>)> = None; // (url, digits pressed)
    for _ in 0..MAX_WEBHOOKS {
        let answer = match &next {
            None => {
                writeln!(out, "\n> POST /voice/incoming")?;
                voice::answer(state, Route::Incoming, "", &call_params(None)).await
            }
            Some((url, pressed)) => {
                let local = url
                    .strip_prefix(base)
                    .ok_or_else(|| SimulateError::ForeignUrl(url.clone()))?;
                let (path, query) = local.split_once('?').unwrap_or((local, ""));
                writeln!(out, "\n> POST {path}")?;
                let mut segments = path.strip_prefix("/voice/step/").unwrap_or("").split('/');
                let step = segments.next().unwrap_or("");
                let route = Route::Step {
                    step,
                    event: segments.next(),
                };
                voice::answer(state, route, query, &call_params(pressed.as_deref())).await
            }
        };
        for entry in &answer.trace {
            match entry {
                Trace::Say(text) => writeln!(out, "  say     {text}")?,
                Trace::Decision(text) => writeln!(out, "  decide  {text}")?,
            }
        }
        for effect in &answer.effects {
            match effect {
                Effect::CaseNote { case, body } => {
                    writeln!(out, "  note    case {case} (not sent by simulate): {body}")?
                }
            }
        }
        next = None;
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
                    next = Some((gather.action.clone(), Some(pressed)));
                    break;
                }
                Verb::Redirect { url } => {
                    next = Some((url.clone(), None));
                    break;
                }
                Verb::Hangup => {
                    writeln!(out, "  hangup")?;
                    return Ok(());
                }
            }
        }
        if next.is_none() {
            writeln!(out, "  (end of instructions: the provider hangs up)")?;
            return Ok(());
        }
    }
    Err(SimulateError::Endless)
}
