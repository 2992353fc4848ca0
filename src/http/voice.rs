//! Answering a voice webhook, once it is known to come from the provider: pick the line, enter the flow,
//! run it, and turn every failure into TwiML that tells the caller something. Shared by the HTTP handlers
//! and `simulate`.

use std::time::{Duration, Instant};

use crate::alerts::Alert;
use crate::assembly::AppState;
use crate::calllog::{CallClose, CallEntry, CallEvent};
use crate::flow::engine::{self, CallInput, Ctx, Effect, Entry, Params, Trace, WEBHOOK_DEADLINE};
use crate::flow::line::Line;
use crate::flow::state::CallState;
use crate::phone::mask;
use crate::twiml::{Response, Verb};

/// How long "this call's case note was sent" is remembered: longer than any call.
const CASE_NOTED_TTL: Duration = Duration::from_secs(24 * 3600);

/// Said when a number reaches us that no line answers, and there is no default line.
const UNKNOWN_NUMBER: &str = "We are sorry, this number does not have an after-hours support line. \
    Please contact your support team through your usual support channel. Goodbye.";

/// Said when something on our side went wrong and the call cannot go on.
pub(crate) const TECHNICAL_PROBLEM: &str = "We are sorry, we cannot take your call right now because of a technical \
    problem on our side. Please call again in a few minutes, or contact us through your usual support channel. Goodbye.";

/// Which webhook the provider called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// `POST /voice/incoming`: a new call.
    Incoming,
    /// `POST /voice/step/{step}` or `/voice/step/{step}/{event}`.
    Step { step: &'a str, event: Option<&'a str> },
}

/// The TwiML answer, and what was decided on the way (for logs and `simulate`).
#[derive(Debug, Clone, Default)]
pub struct Answer {
    pub response: Response,
    pub(crate) trace: Vec<Trace>,
    /// Work for after the answer: the call-log entry, the case note.
    pub(crate) effects: Vec<Effect>,
}

/// Answers one webhook. Never fails: a problem becomes a spoken apology and a hang-up, and is logged. The
/// whole answer has a deadline well inside the provider's 15 s.
pub async fn answer(state: &AppState, route: Route<'_>, query: &str, params: Params) -> Answer {
    let started = Instant::now();
    // The metric's label: the step (and event) once the call's line is known to have that step, so that
    // made-up URLs cannot multiply the series.
    let mut label = match route {
        Route::Incoming => "incoming".to_owned(),
        Route::Step { .. } => "unknown".to_owned(),
    };
    let answering = answer_within(state, route, query, params, &mut label);
    let answer = match tokio::time::timeout(WEBHOOK_DEADLINE, answering).await {
        Ok(answer) => answer,
        Err(_) => {
            tracing::error!(step = %label, "webhook took longer than {} s: answering with an apology", WEBHOOK_DEADLINE.as_secs());
            apology(state, TECHNICAL_PROBLEM, "the answer took too long")
        }
    };
    metrics::histogram!(crate::metrics::WEBHOOK_SECONDS, "step" => label).record(started.elapsed());
    answer
}

async fn answer_within(state: &AppState, route: Route<'_>, query: &str, params: Params, label: &mut String) -> Answer {
    let webhook = webhook_id(route, query, &params);
    let input = CallInput::from_shared(params);
    let (line, call_state, entry) = match route {
        Route::Incoming => {
            if input.to().is_empty() || input.from().is_empty() {
                tracing::warn!(call_sid = %input.call_sid(), "incoming call without To or From");
                return apology(state, TECHNICAL_PROBLEM, "the webhook has no To or From");
            }
            let Some(line) = state.config.lines.for_dialled(input.to()) else {
                tracing::warn!(to = %input.to(), from = %mask(input.from()), "call to a number that no line answers");
                return apology(state, UNKNOWN_NUMBER, "no line answers this number");
            };
            tracing::info!(call_sid = %input.call_sid(), line = %line.key, from = %mask(input.from()), "incoming call");
            metrics::counter!(crate::metrics::CALLS_STARTED, "line" => line.key.clone()).increment(1);
            (line, CallState::new(&line.key), Entry::Start)
        }
        Route::Step { step, event } => {
            let call_state = match CallState::from_query(query) {
                Ok(s) => s,
                Err(error) => {
                    tracing::warn!(%error, step, "webhook with unusable call state");
                    return apology(state, TECHNICAL_PROBLEM, &format!("unusable call state: {error}"));
                }
            };
            let Some(line) = state.config.lines.by_key(&call_state.line) else {
                tracing::warn!(line = %call_state.line, "webhook for a line that is not configured");
                return apology(state, TECHNICAL_PROBLEM, "the line in the URL is not configured");
            };
            if line.flow.steps.contains_key(step) {
                *label = crate::metrics::step_label(step, event);
            }
            let entry = match event {
                Some(event) => Entry::Event { step, event },
                None => Entry::Step(step),
            };
            (line, call_state, entry)
        }
    };
    run_flow(state, line, entry, (&input, webhook), call_state).await
}

/// The identity of the webhook (its route, query and fields) that its call-log entry carries.
fn webhook_id(route: Route<'_>, query: &str, params: &[(String, String)]) -> String {
    let route = match route {
        Route::Incoming => "incoming".to_owned(),
        Route::Step { step, event: None } => format!("step/{step}"),
        Route::Step {
            step,
            event: Some(event),
        } => format!("step/{step}/{event}"),
    };
    crate::calllog::webhook_id(&route, query, params)
}

async fn run_flow(
    state: &AppState,
    line: &Line,
    entry: Entry<'_>,
    (input, webhook): (&CallInput, String),
    call_state: CallState,
) -> Answer {
    let first = matches!(entry, Entry::Start);
    let before = LOGGED_VARS.map(|name| call_state.vars.get(name).cloned());
    let mut ctx = Ctx::new(line, &state.services, state.clock.now(), input, call_state);
    match engine::run(&line.flow, entry, &mut ctx).await {
        Ok(()) => {
            tracing::debug!(call_sid = %input.call_sid(), line = %line.key, trace = ?ctx.trace, "answered");
            if let Some(log) = call_log_entry(&ctx, line, (first, webhook), &before) {
                ctx.effects.insert(0, log);
            }
            Answer {
                effects: ctx.effects,
                response: ctx.response,
                trace: ctx.trace,
            }
        }
        Err(error) => {
            tracing::error!(call_sid = %input.call_sid(), line = %line.key, %error, "flow failed");
            apology(state, TECHNICAL_PROBLEM, &error.to_string())
        }
    }
}

/// The call's variables the log's summary holds (besides the line, caller and number dialled).
const LOGGED_VARS: [&str; 6] = ["case", "decision", "customer", "dialled", "accepted", "recording"];

/// What a webhook adds to its call's record: what it changed of the summary (the call's first webhook: the
/// line, the caller and the number dialled) and the decisions it made; nothing when it did neither (a
/// whisper, a re-prompt). `before` holds the [`LOGGED_VARS`] as the webhook found them: those came from earlier
/// webhooks, which logged them. An engineer's leg is logged under the caller's call.
fn call_log_entry(
    ctx: &Ctx<'_>,
    line: &Line,
    (first, webhook): (bool, String),
    before: &[Option<String>; 6],
) -> Option<Effect> {
    let input = ctx.input;
    let mut summary = Vec::new();
    if first {
        summary.push(("line".to_owned(), line.key.clone()));
        summary.push(("from".to_owned(), input.from().to_owned()));
        summary.push(("to".to_owned(), input.to().to_owned()));
        // Twilio's SHAKEN/STIR verdict on the caller ID (`TN-Validation-Passed-A` ...), when it gives one:
        // caller ID is spoofable, and the log says how far this one was vouched for.
        if let Some(verstat) = input.param("StirVerstat").filter(|v| !v.is_empty()) {
            let verstat: String = verstat.chars().take(64).collect();
            summary.push(("stir_verstat".to_owned(), verstat));
        }
    }
    for (name, was) in LOGGED_VARS.iter().zip(before) {
        if let Some(value) = ctx.state.vars.get(*name)
            && was.as_ref() != Some(value)
        {
            summary.push(((*name).to_owned(), value.clone()));
        }
    }
    let events: Vec<CallEvent> = ctx
        .trace
        .iter()
        .filter_map(|t| match t {
            Trace::Decision(what) => Some(CallEvent {
                at: ctx.now,
                what: what.clone(),
            }),
            Trace::Say(_) => None,
        })
        .collect();
    if summary.is_empty() && events.is_empty() {
        return None;
    }
    Some(Effect::LogCallEntry {
        call_sid: input.param("ParentCallSid").unwrap_or(input.call_sid()).to_owned(),
        webhook,
        at: ctx.now,
        summary,
        events,
    })
}

/// A complete answer that apologises and hangs up.
pub(crate) fn apology(state: &AppState, text: &str, why: &str) -> Answer {
    let mut response = Response::new();
    response
        .push(Verb::Say {
            text: text.to_owned(),
            voice: state.services.voice.clone(),
        })
        .push(Verb::Hangup);
    Answer {
        response,
        trace: vec![Trace::Decision(format!("apology: {why}")), Trace::Say(text.to_owned())],
        effects: Vec::new(),
    }
}

/// Starts the work an answer asks for, in the background: it never delays the answer, and its failures never
/// reach the caller.
pub(crate) fn dispatch(state: &AppState, effects: Vec<Effect>) {
    for effect in effects {
        match effect {
            Effect::CaseNote { call_sid, case, body } => {
                let Some(notes) = state.notes.clone() else {
                    tracing::debug!(case = %case, "case notes are off: note not sent");
                    continue;
                };
                let store = state.store().cloned();
                tokio::spawn(async move {
                    // A replayed webhook that ends the call must not note the case twice; if the store cannot
                    // say, a duplicate note is better than a lost one.
                    let first = match &store {
                        Some(store) => store
                            .claim_once(&call_sid, "noted", CASE_NOTED_TTL)
                            .await
                            .unwrap_or(true),
                        None => true,
                    };
                    if first {
                        notes.send(case, body);
                    } else {
                        tracing::info!(case = %case, call_sid, "case note already sent for this call");
                    }
                });
            }
            Effect::LogCallEntry {
                call_sid,
                webhook,
                at,
                summary,
                events,
            } => state.call_log.append(CallEntry {
                call_sid,
                webhook,
                started: at,
                summary,
                events,
                ttl: Duration::from_secs(state.config.settings.call_log.ttl_secs),
            }),
            Effect::Alert(alert) => send_alert(state, alert),
            Effect::CallEnded { call_sid } => {
                // The status callback normally closes the record, with the duration; this is for when it is
                // not configured.
                let settings = &state.config.settings.call_log;
                let close = CallClose {
                    call_sid,
                    status: None,
                    duration_secs: None,
                    max_records: settings.max_records,
                };
                state
                    .call_log
                    .close_later(close, Duration::from_secs(settings.close_after_secs));
            }
        }
    }
}

/// Sends `alert` to the line's targets once per call and event, and records how each delivery ended in the
/// call's record.
fn send_alert(state: &AppState, alert: Alert) {
    let Some(alerts) = state.alerts.clone() else {
        tracing::debug!(event = alert.event(), "no alert targets: alert not sent");
        return;
    };
    let store = state.store().cloned();
    let call_log = state.call_log.clone();
    let ttl = Duration::from_secs(state.config.settings.call_log.ttl_secs);
    tokio::spawn(async move {
        let (call_sid, event) = (alert.call_sid().to_owned(), alert.event());
        // As for the case note: if the store cannot say, a duplicate alert (deduplicated by the target on
        // its per-call key) is better than a lost one.
        let first = match &store {
            Some(store) => store
                .claim_once(&call_sid, &format!("alerted:{event}"), CASE_NOTED_TTL)
                .await
                .unwrap_or(true),
            None => true,
        };
        if !first {
            tracing::info!(call_sid, event, "alert already sent for this call");
            return;
        }
        alerts.send(alert, move |delivery| {
            let now = chrono::Utc::now();
            call_log.append(CallEntry {
                call_sid: call_sid.clone(),
                // One entry per target and event: a delivery is not a webhook, and is never replayed.
                webhook: format!("alert:{event}:{}", delivery.target),
                started: now,
                summary: Vec::new(),
                events: vec![CallEvent {
                    at: now,
                    what: delivery.describe(event),
                }],
                ttl,
            });
        });
    });
}
