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
//!
//! One case is rung by one call at a time: before each tier, a bridge claims the case in the store for as long
//! as the tier can take (renewing its own claim), and releases it when someone accepts or nobody did; the
//! claim of a call that hung up mid-escalation lapses within a tier's time. A second call about a case that
//! is being rung ends `busy` (the shipped flow tells the caller and takes a message). And the engineer who
//! accepted a call about the case within the last `sticky_secs` is rung first, alone, before the policy: they
//! know the case. A store that cannot answer claims nothing and remembers nobody: the call is rung as usual.

use std::time::Duration;

use serde::Deserialize;

use crate::flow::engine::{Ctx, Trace, Transition};
use crate::flow::prompt::Prompt;
use crate::oncall::model::{Engineer, OnCall, OnCallData, Target, TierOnCall};
use crate::settings::Bounded;
use crate::store::STORE_DEADLINE;
use crate::store::cache::Source;
use crate::twiml::{self, Dial, DialNumber, Verb};

pub const OUTCOMES: &[&str] = &["accepted", "exhausted", "busy"];

/// The provider reports the end of a dial (on the caller's call).
pub(crate) const DIALED: &str = "dialed";
/// The answered engineer's leg asks what to play (the whisper).
pub(crate) const WHISPER: &str = "whisper";
/// The engineer pressed a key in the whisper.
pub(crate) const ACCEPT: &str = "accept";

/// How long an acceptance record is kept: longer than any call.
const ACCEPTANCE_TTL: Duration = Duration::from_secs(24 * 3600);

/// Time a tier takes beyond its ringing (the prompt, an engineer listening to the whisper and deciding, the
/// provider's round trips), in the claim on the case: generous, so that a claim never lapses while its tier
/// still runs. A caller who hangs up mid-escalation leaves the claim to lapse this long after the ringing.
const CLAIM_SLACK_SECS: u64 = 60;

/// The call-state variable that holds the engineer rung first for the case (empty: nobody), decided on the
/// first tier so that every later webhook of the call sees the same escalation.
const STICKY_VAR: &str = "sticky";

/// When the accepting engineer was put through to the caller (RFC 3339), and for how many seconds: for the
/// note on the case.
pub(crate) const CONNECTED_AT_VAR: &str = "connected_at";
pub(crate) const TALKED_VAR: &str = "talked_secs";
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
    /// An engineer who accepted a call about the case within this long is rung first, alone; 0: never.
    #[serde(default = "default_sticky")]
    sticky_secs: Bounded<0, 86_400>,
}

fn default_sticky() -> Bounded<0, 86_400> {
    Bounded::of::<1800>()
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

    /// Rings the tier at the call's position in the escalation, or ends `exhausted`; `busy` when another call
    /// is ringing engineers about the same case.
    pub(crate) async fn run(&self, ctx: &mut Ctx<'_>) -> Transition {
        let index = ctx.state.attempts.get(ctx.step).copied().unwrap_or(0);
        let attempts = match self.chain(ctx, index).await {
            Some(attempts) => attempts,
            None => {
                release(ctx, ctx.input.call_sid().to_owned()).await;
                super::missed::alert_missed(ctx, None);
                return Transition::Next("exhausted");
            }
        };
        let Some(tier) = attempts.get(index as usize) else {
            ctx.trace_decision(format!(
                "bridge: no engineer accepted after {} attempts",
                attempts.len()
            ));
            release(ctx, ctx.input.call_sid().to_owned()).await;
            super::missed::alert_missed(ctx, attempts.first());
            return Transition::Next("exhausted");
        };
        if !claim(ctx, tier).await {
            return Transition::Next("busy");
        }
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
    async fn chain(&self, ctx: &mut Ctx<'_>, index: u32) -> Option<Vec<TierOnCall>> {
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
        let tam = case_tam(ctx, &data, &policy, index);
        let Some(chain) = data.on_call_for_case(&policy, ctx.now, tam) else {
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
        let first = self.sticky_engineer(ctx, &data, index).await;
        Some(sticky_first(first, attempts))
    }

    /// The engineer to ring first, alone: who accepted a call about the case within `sticky_secs`, if they
    /// are still in the on-call data. Read from the store on the first tier, from the call state after.
    async fn sticky_engineer(&self, ctx: &mut Ctx<'_>, data: &OnCallData, index: u32) -> Option<Engineer> {
        if self.sticky_secs.get() == 0 {
            return None;
        }
        let case = ctx.state.vars.get("case").cloned()?;
        let id = if index == 0 {
            let store = ctx.services.store.clone()?;
            let read = tokio::time::timeout(STORE_DEADLINE, store.sticky(&case)).await;
            let id = match read {
                Ok(Ok(sticky)) => sticky.map(|s| {
                    ctx.trace_decision(format!(
                        "bridge: {} accepted a call about case {case} at {}: rung first",
                        s.engineer,
                        s.accepted_at.to_rfc3339()
                    ));
                    s.engineer
                }),
                _ => {
                    metrics::counter!(crate::metrics::STORE_ERRORS, "operation" => "sticky").increment(1);
                    tracing::warn!(case, "bridge: cannot read who last took the case");
                    None
                }
            };
            ctx.state.set(STICKY_VAR, id.as_deref().unwrap_or(""));
            id?
        } else {
            ctx.state.vars.get(STICKY_VAR).filter(|id| !id.is_empty()).cloned()?
        };
        let engineer = data.engineers.get(&id).cloned();
        if engineer.is_none() && index == 0 {
            ctx.trace_decision(format!("bridge: {id} is no longer in the on-call data: not rung first"));
        }
        engineer
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
                    email: None,
                },
                until: None,
                rotation: None,
            })
            .collect();
        Some(vec![TierOnCall {
            people,
            ring_timeout_secs: crate::oncall::model::DEFAULT_RING_TIMEOUT_SECS,
            case_tam: false,
        }])
    }

    /// The dial ended: accepted by a human, or on to the next tier.
    pub(crate) async fn on_dialed(&self, ctx: &mut Ctx<'_>) -> Transition {
        let index = ctx.state.attempts.get(ctx.step).copied().unwrap_or(0);
        let status = ctx.input.param("DialCallStatus").unwrap_or("").to_owned();
        // A dial that connected nobody (`no-answer`, `busy`, `failed`, `canceled`) was accepted by nobody: only
        // a bridged dial asks the store who pressed 1.
        let connected = matches!(status.as_str(), "completed" | "answered");
        let accepted = match &ctx.services.store {
            _ if !connected => Ok(None),
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
                // When the engineer was put through, for the note: the bridged call lasted this long.
                let bridged = ctx.input.param("DialCallDuration").and_then(|d| d.parse::<u32>().ok());
                if let Some(secs) = bridged {
                    let connected = ctx.now - chrono::Duration::seconds(i64::from(secs));
                    ctx.state.set(CONNECTED_AT_VAR, &connected.to_rfc3339());
                    ctx.state.set(TALKED_VAR, &secs.to_string());
                }
                // The acceptance released the case's claim; if that write failed, the claim lapses in a
                // tier's ring time.
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
                    release(ctx, ctx.input.call_sid().to_owned()).await;
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
        let record = tokio::time::timeout(
            STORE_DEADLINE,
            store.record_acceptance(&parent, index, &engineer, ACCEPTANCE_TTL),
        );
        // The escalation is over: the case may be rung again, and its next call rings this engineer first.
        // The three writes wait on none of the others, so they go together: the engineer waits for one.
        let (recorded, (), ()) = tokio::join!(record, release(ctx, parent.clone()), self.remember(ctx, &engineer));
        if !matches!(recorded, Ok(Ok(()))) {
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

impl Bridge {
    /// Remembers that `engineer` accepted a call about the case, for `sticky_secs`.
    async fn remember(&self, ctx: &Ctx<'_>, engineer: &str) {
        let ttl = Duration::from_secs(self.sticky_secs.get());
        let (Some(store), Some(case)) = (ctx.services.store.clone(), ctx.state.vars.get("case").cloned()) else {
            return;
        };
        if ttl.is_zero() {
            return;
        }
        let remembered = tokio::time::timeout(STORE_DEADLINE, store.set_sticky(&case, engineer, ctx.now, ttl)).await;
        if !matches!(remembered, Ok(Ok(()))) {
            metrics::counter!(crate::metrics::STORE_ERRORS, "operation" => "set_sticky").increment(1);
            tracing::warn!(case, engineer, "bridge: cannot remember who took the case");
        }
    }
}

/// The case's TAM, for the policy's `case_tam` tiers (which ring nobody without one). Why nobody, or who, is
/// traced on the first tier; a TAM who is not an engineer of the on-call data is also logged, so that the
/// on-call data or the case system can be put right.
fn case_tam<'d>(ctx: &mut Ctx<'_>, data: &'d OnCallData, policy: &str, index: u32) -> Option<&'d Engineer> {
    let rings_tam = data
        .policies
        .get(policy)
        .is_some_and(|p| p.tiers.iter().any(|t| t.targets.contains(&Target::CaseTam)));
    if !rings_tam {
        return None;
    }
    let found = super::case_tam::find(&ctx.state.vars, &ctx.services.packages, data);
    if index == 0 {
        match &found {
            Ok(engineer) => ctx.trace_decision(format!(
                "bridge: the case's TAM {:?} is {}: rung in the case's TAM tier",
                ctx.state
                    .vars
                    .get(crate::flow::engine::TAM_VAR)
                    .map_or("", |t| t.trim()),
                engineer.id
            )),
            Err(skip) => {
                if let super::case_tam::Skip::Unknown(tam) = skip {
                    let case = ctx.state.vars.get("case").map_or("", String::as_str);
                    let tam = super::case_tam::for_log(tam);
                    tracing::warn!(case, tam, line = %ctx.line.key, "bridge: the case's TAM is not an engineer of the on-call data: tier skipped");
                }
                ctx.trace_decision(format!("bridge: {skip}: tier skipped"));
            }
        }
    }
    found.ok()
}

/// The escalation with `first` rung alone before it; `first` is left out of the policy's first tier, which
/// would ring them again straight after (and dropped if nobody else is in it).
fn sticky_first(first: Option<Engineer>, mut attempts: Vec<TierOnCall>) -> Vec<TierOnCall> {
    let Some(engineer) = first else { return attempts };
    let ring_timeout_secs = attempts
        .first()
        .map_or(crate::oncall::model::DEFAULT_RING_TIMEOUT_SECS, |t| t.ring_timeout_secs);
    if let Some(tier) = attempts.first_mut() {
        tier.people.retain(|p| p.engineer.id != engineer.id);
        if tier.people.is_empty() {
            attempts.remove(0);
        }
    }
    let alone = TierOnCall {
        people: vec![OnCall {
            engineer,
            until: None,
            rotation: None,
        }],
        ring_timeout_secs,
        case_tam: false,
    };
    std::iter::once(alone).chain(attempts).collect()
}

/// Claims (or renews) the call's case for the time `tier` can take: false when another call is ringing it.
/// Without a case, a store, or an answer from it, nothing is claimed and the call is rung.
async fn claim(ctx: &mut Ctx<'_>, tier: &TierOnCall) -> bool {
    let (Some(store), Some(case)) = (ctx.services.store.clone(), ctx.state.vars.get("case").cloned()) else {
        return true;
    };
    let ttl = Duration::from_secs(u64::from(tier.ring_timeout_secs) + CLAIM_SLACK_SECS);
    let call_sid = ctx.input.call_sid().to_owned();
    match tokio::time::timeout(STORE_DEADLINE, store.claim_case(&case, &call_sid, ttl)).await {
        Ok(Ok(true)) => true,
        Ok(Ok(false)) => {
            metrics::counter!(crate::metrics::BRIDGES_BUSY, "line" => ctx.line.key.clone()).increment(1);
            ctx.trace_decision(format!(
                "bridge: another call is ringing engineers about case {case}: not rung again"
            ));
            false
        }
        _ => {
            metrics::counter!(crate::metrics::STORE_ERRORS, "operation" => "claim_case").increment(1);
            tracing::warn!(case, "bridge: cannot claim the case: rung all the same");
            ctx.trace_decision(format!("bridge: case {case} not claimed (the store did not answer)"));
            true
        }
    }
}

/// Releases the case that call `call_sid` holds, if it holds it.
async fn release(ctx: &Ctx<'_>, call_sid: String) {
    let (Some(store), Some(case)) = (ctx.services.store.clone(), ctx.state.vars.get("case").cloned()) else {
        return;
    };
    if !matches!(
        tokio::time::timeout(STORE_DEADLINE, store.release_case(&case, &call_sid)).await,
        Ok(Ok(()))
    ) {
        metrics::counter!(crate::metrics::STORE_ERRORS, "operation" => "release_case").increment(1);
        tracing::warn!(case, "bridge: cannot release the case: its claim expires on its own");
    }
}

fn dial_metric(index: u32, outcome: &'static str) {
    metrics::counter!(crate::metrics::DIALS, "attempt" => (index + 1).to_string(), "outcome" => outcome).increment(1);
}

fn spaced(digits: &str) -> String {
    digits.chars().map(String::from).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phone::PhoneNumber;

    fn engineer(id: &str) -> Engineer {
        Engineer {
            id: id.into(),
            name: id.to_uppercase(),
            phone: PhoneNumber::parse("+15550100001").unwrap(),
            time_zone: chrono_tz::America::New_York,
            email: None,
        }
    }

    fn tier(ids: &[&str], ring_timeout_secs: u32) -> TierOnCall {
        TierOnCall {
            people: ids
                .iter()
                .map(|id| OnCall {
                    engineer: engineer(id),
                    until: None,
                    rotation: None,
                })
                .collect(),
            ring_timeout_secs,
            case_tam: false,
        }
    }

    fn ids(attempts: &[TierOnCall]) -> Vec<(Vec<&str>, u32)> {
        attempts
            .iter()
            .map(|t| {
                (
                    t.people.iter().map(|p| p.engineer.id.as_str()).collect(),
                    t.ring_timeout_secs,
                )
            })
            .collect()
    }

    #[test]
    fn the_engineer_who_took_the_case_is_rung_alone_first_and_not_twice_in_a_row() {
        let policy = || vec![tier(&["bob"], 20), tier(&["carol"], 20), tier(&["carol", "alice"], 30)];
        assert_eq!(ids(&sticky_first(None, policy())), ids(&policy()), "nobody took it");
        assert_eq!(
            ids(&sticky_first(Some(engineer("carol")), policy())),
            [
                (vec!["carol"], 20),
                (vec!["bob"], 20),
                (vec!["carol"], 20),
                (vec!["carol", "alice"], 30)
            ]
        );
        assert_eq!(
            ids(&sticky_first(Some(engineer("bob")), policy())),
            [(vec!["bob"], 20), (vec!["carol"], 20), (vec!["carol", "alice"], 30)],
            "tier 1 had nobody else: dropped"
        );
        let shared = vec![tier(&["bob", "dave"], 25)];
        assert_eq!(
            ids(&sticky_first(Some(engineer("dave")), shared)),
            [(vec!["dave"], 25), (vec!["bob"], 25)]
        );
    }
}
