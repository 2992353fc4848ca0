//! `bridge`: rings the on-call engineers of the line's escalation policy, tier after tier, until a human
//! accepts.
//!
//! Each tier is one `<Dial>` whose `<Number url>` plays a whisper to the engineer before the call is bridged:
//! the case, the customer, and "press 1 to accept". Pressing 1 records the acceptance in the store under the
//! caller's call; any other key, or none, hangs up that leg. When the dial ends, its action looks for that
//! record: `DialCallStatus` alone is no proof that a human took the call (a voicemail box answers too). No
//! acceptance: the next tier, then the repeats, then the outcome `exhausted`.
//!
//! Only numbers from the on-call data are dialled, never one from a request; the URLs carry the position in
//! the escalation as an index and the engineer as an id (toll fraud).

use std::time::Duration;

use serde::Deserialize;

use crate::flow::engine::{Ctx, Trace, Transition};
use crate::flow::prompt::Prompt;
use crate::oncall::model::{Engineer, OnCall, TierOnCall};
use crate::store::STORE_DEADLINE;
use crate::store::cache::Source;
use crate::twiml::{self, Dial, DialNumber, Verb};

pub const OUTCOMES: &[&str] = &["accepted", "exhausted"];

/// The provider reports the end of a dial (on the caller's call).
pub(crate) const DIALED: &str = "dialed";
/// The answered engineer's leg asks what to play (the whisper).
pub(crate) const WHISPER: &str = "whisper";
/// The engineer pressed a key in the whisper.
pub(crate) const ACCEPT: &str = "accept";

/// How long an acceptance record is kept: longer than any call.
const ACCEPTANCE_TTL: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bridge {
    /// Said before the first tier is rung.
    #[serde(default = "default_prompt")]
    prompt: Prompt,
    /// Said before each later tier.
    #[serde(default = "default_escalate_prompt")]
    escalate_prompt: Prompt,
    /// The longest a bridged call may last.
    #[serde(default = "default_time_limit")]
    time_limit_secs: u32,
}

fn default_prompt() -> Prompt {
    Prompt::plain("Connecting you to the on-call engineer. Please stay on the line.")
}

fn default_escalate_prompt() -> Prompt {
    Prompt::plain("We are still trying to reach an engineer. Please stay on the line.")
}

fn default_time_limit() -> u32 {
    4 * 3600
}

impl Bridge {
    pub(crate) fn prompts(&self) -> Vec<(&'static str, &Prompt)> {
        vec![("prompt", &self.prompt), ("escalate_prompt", &self.escalate_prompt)]
    }

    /// Rings the tier at the call's position in the escalation, or ends `exhausted`.
    pub(crate) async fn run(&self, ctx: &mut Ctx<'_>) -> Transition {
        let index = ctx.state.attempts.get(ctx.step).copied().unwrap_or(0);
        let attempts = match self.chain(ctx).await {
            Some(attempts) => attempts,
            None => return Transition::Next("exhausted"),
        };
        let Some(tier) = attempts.get(index as usize) else {
            ctx.trace_decision(format!(
                "bridge: no engineer accepted after {} attempts",
                attempts.len()
            ));
            return Transition::Next("exhausted");
        };
        ctx.state.attempts.insert(ctx.step.to_owned(), index);
        ctx.say(if index == 0 {
            &self.prompt
        } else {
            &self.escalate_prompt
        });
        let names: Vec<&str> = tier.people.iter().map(|p| p.engineer.id.as_str()).collect();
        ctx.trace_decision(format!(
            "bridge: attempt {} of {}, ringing {} for {} s",
            index + 1,
            attempts.len(),
            names.join(", "),
            tier.ring_timeout_secs
        ));
        let dialled = match ctx.state.vars.get("dialled") {
            Some(before) => format!("{before}, {}", names.join(", ")),
            None => names.join(", "),
        };
        ctx.state.set("dialled", &dialled);
        let numbers = tier
            .people
            .iter()
            .map(|p| DialNumber {
                phone: p.engineer.phone.as_str().to_owned(),
                url: ctx.event_url_with(WHISPER, &[("engineer", &p.engineer.id)]),
            })
            .collect();
        ctx.response.push(Verb::Dial(Dial {
            action: ctx.event_url(DIALED),
            caller_id: ctx.line.number.as_str().to_owned(),
            timeout_secs: tier.ring_timeout_secs,
            time_limit_secs: self.time_limit_secs,
            numbers,
        }));
        Transition::Wait
    }

    /// The tiers to try, in order (repeats included, empty tiers skipped); `None` when there is nobody.
    /// With the store down, the last on-call data read; with none, the line's fallback numbers.
    async fn chain(&self, ctx: &mut Ctx<'_>) -> Option<Vec<TierOnCall>> {
        let policy = ctx.line.escalation_policy.clone();
        let read = match ctx.services.store.clone() {
            Some(store) => ctx.services.oncall_cache.read(store.as_ref(), STORE_DEADLINE).await,
            None => Err("no on-call store".to_owned()),
        };
        let data = match read {
            Ok((data, source)) => {
                if source == Source::Stale {
                    metrics::counter!(crate::metrics::ONCALL_FALLBACKS, "source" => "cache").increment(1);
                    tracing::warn!(line = %ctx.line.key, "bridge: the store is down: ringing the last known on-call chain");
                    ctx.trace_decision("bridge: the store is down: using the last known on-call chain".into());
                }
                data
            }
            Err(error) => {
                tracing::error!(%error, line = %ctx.line.key, "bridge: no on-call data: ringing the line's fallback numbers");
                ctx.trace_decision(format!("bridge: no on-call data ({error})"));
                return self.fallback(ctx);
            }
        };
        let Some(chain) = data.on_call(&policy, ctx.now) else {
            tracing::error!(policy, line = %ctx.line.key, "bridge: the escalation policy does not exist");
            ctx.trace_decision(format!("bridge: no escalation policy {policy:?}"));
            return self.fallback(ctx);
        };
        let attempts: Vec<TierOnCall> = chain.attempts().into_iter().cloned().collect();
        if attempts.is_empty() {
            tracing::error!(policy, line = %ctx.line.key, "bridge: nobody is on call in any tier");
            ctx.trace_decision(format!("bridge: nobody is on call in policy {policy:?}"));
            return self.fallback(ctx);
        }
        Some(attempts)
    }

    /// One tier of the line's fallback numbers, when it has any.
    fn fallback(&self, ctx: &mut Ctx<'_>) -> Option<Vec<TierOnCall>> {
        let line = ctx.line;
        if line.fallback_numbers.is_empty() {
            return None;
        }
        metrics::counter!(crate::metrics::ONCALL_FALLBACKS, "source" => "fallback_numbers").increment(1);
        ctx.trace_decision(format!(
            "bridge: ringing the line's {} fallback numbers",
            line.fallback_numbers.len()
        ));
        let people = line
            .fallback_numbers
            .iter()
            .enumerate()
            .map(|(i, phone)| OnCall {
                engineer: Engineer {
                    id: format!("fallback-{}", i + 1),
                    name: format!("fallback number {}", i + 1),
                    phone: phone.clone(),
                    time_zone: line.tz,
                },
                until: None,
                rotation: None,
            })
            .collect();
        Some(vec![TierOnCall {
            people,
            ring_timeout_secs: crate::oncall::model::DEFAULT_RING_TIMEOUT_SECS,
        }])
    }

    /// The dial ended: accepted by a human, or on to the next tier.
    pub(crate) async fn on_dialed(&self, ctx: &mut Ctx<'_>) -> Transition {
        let index = ctx.state.attempts.get(ctx.step).copied().unwrap_or(0);
        let status = ctx.input.param("DialCallStatus").unwrap_or("").to_owned();
        let accepted = match &ctx.services.store {
            Some(store) => {
                match tokio::time::timeout(STORE_DEADLINE, store.acceptance(ctx.input.call_sid(), index)).await {
                    Ok(result) => result.map_err(|e| e.to_string()),
                    Err(_) => Err(format!("no answer within {} ms", STORE_DEADLINE.as_millis())),
                }
            }
            None => Ok(None),
        };
        match accepted {
            Ok(Some(engineer)) => {
                dial_metric(index, "accepted");
                ctx.trace_decision(format!(
                    "bridge: attempt {} accepted by {engineer} (dial status {status:?})",
                    index + 1
                ));
                ctx.state.set("accepted", &engineer);
                Transition::Next("accepted")
            }
            Ok(None) => {
                dial_metric(index, "not_accepted");
                ctx.trace_decision(format!(
                    "bridge: attempt {} not accepted (dial status {status:?})",
                    index + 1
                ));
                ctx.state.attempts.insert(ctx.step.to_owned(), index + 1);
                self.run(ctx).await
            }
            Err(error) => {
                // The store is down: the record may never have been written. A bridged call that went on
                // ("completed", "answered") is taken as answered rather than ringing the next tier after it.
                metrics::counter!(crate::metrics::STORE_ERRORS, "operation" => "acceptance").increment(1);
                tracing::error!(%error, call_sid = %ctx.input.call_sid(), "bridge: cannot read the acceptance record");
                if matches!(status.as_str(), "completed" | "answered") {
                    ctx.trace_decision(format!(
                        "bridge: acceptance unknown ({error}); the dial {status}: taken as answered"
                    ));
                    ctx.state.set("accepted", "unknown (store unavailable)");
                    dial_metric(index, "accepted");
                    return Transition::Next("accepted");
                }
                ctx.trace_decision(format!(
                    "bridge: acceptance unknown ({error}); the dial {status}: trying the next tier"
                ));
                dial_metric(index, "not_accepted");
                ctx.state.attempts.insert(ctx.step.to_owned(), index + 1);
                self.run(ctx).await
            }
        }
    }

    /// The engineer's leg answered: tell them who and what, and ask them to accept.
    pub(crate) fn on_whisper(&self, ctx: &mut Ctx<'_>) -> Transition {
        let engineer = ctx.state.vars.get("engineer").map_or("", String::as_str);
        if ctx.input.param("ParentCallSid").unwrap_or("").is_empty() || engineer.is_empty() {
            ctx.trace_decision("bridge: a whisper for a leg of no call of ours: hanging up".into());
            ctx.response.push(Verb::Hangup);
            return Transition::Wait;
        }
        let case = ctx
            .state
            .vars
            .get("case")
            .map(|c| spaced(c))
            .unwrap_or_else(|| "unknown".into());
        // The engineer hears the case's customer, whatever the caller was told.
        let customer = ctx.state.vars.get("case_customer").cloned();
        let text = match (ctx.state.vars.get("decision").map(String::as_str), customer) {
            (Some("verified"), Some(customer)) => {
                format!("Critical production case {case} for {customer}. Press 1 to accept, any other key to decline.")
            }
            (Some("verified"), None) => {
                format!("Critical production case {case}. Press 1 to accept, any other key to decline.")
            }
            _ => format!(
                "After-hours call about case {case}, not verified: the case system could not be reached. \
                 Press 1 to accept, any other key to decline."
            ),
        };
        ctx.trace.push(Trace::Say(text.clone()));
        let action = ctx.event_url(ACCEPT);
        ctx.response.push(Verb::Gather(twiml::Gather {
            action,
            finish_on_key: None,
            num_digits: Some(1),
            timeout_secs: 10,
            action_on_empty_result: false,
            prompt: vec![Verb::Say {
                text,
                voice: ctx.voice(),
            }],
        }));
        // No key pressed: this leg hangs up, and the caller's dial goes on ringing the others or times out.
        ctx.response.push(Verb::Hangup);
        Transition::Wait
    }

    /// The engineer pressed a key: 1 accepts (recorded under the caller's call), anything else declines.
    pub(crate) async fn on_accept(&self, ctx: &mut Ctx<'_>) -> Transition {
        let index = ctx.state.attempts.get(ctx.step).copied().unwrap_or(0);
        let engineer = ctx.state.vars.get("engineer").cloned().unwrap_or_default();
        let parent = ctx.input.param("ParentCallSid").unwrap_or("").to_owned();
        if ctx.input.digits() != Some("1") || parent.is_empty() || engineer.is_empty() {
            ctx.trace_decision(format!(
                "bridge: {engineer:?} declined (digits {:?})",
                ctx.input.digits()
            ));
            ctx.response.push(Verb::Hangup);
            return Transition::Wait;
        }
        let Some(store) = ctx.services.store.clone() else {
            ctx.response.push(Verb::Hangup);
            return Transition::Wait;
        };
        let recorded = tokio::time::timeout(
            STORE_DEADLINE,
            store.record_acceptance(&parent, index, &engineer, ACCEPTANCE_TTL),
        );
        if !matches!(recorded.await, Ok(Ok(()))) {
            // The engineer is connected all the same: a human answering matters more than the record.
            metrics::counter!(crate::metrics::STORE_ERRORS, "operation" => "record_acceptance").increment(1);
            tracing::error!(call_sid = %parent, engineer, "bridge: cannot record the acceptance");
        }
        ctx.trace_decision(format!("bridge: {engineer} accepted attempt {}", index + 1));
        let text = "Connecting you now.".to_owned();
        ctx.trace.push(Trace::Say(text.clone()));
        ctx.response.push(Verb::Say {
            text,
            voice: ctx.voice(),
        });
        Transition::Wait
    }
}

fn dial_metric(index: u32, outcome: &'static str) {
    metrics::counter!(crate::metrics::DIALS, "attempt" => (index + 1).to_string(), "outcome" => outcome).increment(1);
}

fn spaced(digits: &str) -> String {
    digits.chars().map(String::from).collect::<Vec<_>>().join(" ")
}
