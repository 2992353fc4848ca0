//! `verify_case`: looks the case number up in the case system and decides whether the night line takes it.
//!
//! The outcomes are the decisions of `crate::cases::decision`, except that an unavailable case system
//! follows the line's `on_unavailable` policy: `unverified` when it is `bridge` (the call goes on and the
//! engineer is told), `unavailable` when it is `refuse`. A lookup never takes longer than the configured
//! timeout, and a slow case system holds no other call (each lookup is its own future).
//!
//! A caller not registered on the case (their number is not one of its contact phones, is withheld, or lacks
//! the A-level attestation the line requires) learns as little as the line allows:
//! - `customer` is the customer's name only for a registered caller; for anyone else it reads "your
//!   organisation", so a prompt written with `{customer}` still reads well and names nobody;
//! - on a line that requires a registered caller, every refusal (no such case, closed, not critical, not in
//!   production, not entitled, not registered) is the one outcome `caller_not_registered`.
//!
//! The refusals that someone guessing case numbers meets (`not_found`, `caller_not_registered`) are counted
//! against the caller's guess limit (see `rate_limit`). A registered caller on a verified case is remembered
//! as trusted for that case (`[limits] trusted_secs`), so that calls spoofing their number can never lock
//! them out of it.
//!
//! Stores `case` (the number), `decision` (what the case system's answer decided, for the call's note), and,
//! when the case was found, `customer` for the prompts after it and `case_customer` (the name, always) for
//! the engineer's whisper.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::calendar::spoken_datetime;
use crate::cases::caller::Caller;
use crate::cases::decision::{Decision, Requirements, decide, registered, told};
use crate::cases::{Case, CaseError, CaseId};
use crate::flow::engine::{CASE_PACKAGE_VAR, Ctx, Effect, PACKAGE_VAR, Services, TAM_VAR, Transition};
use crate::settings::OnUnavailable;
use crate::store::STORE_DEADLINE;

pub const OUTCOMES: &[&str] = &[
    "verified",
    "unverified",
    "not_found",
    "not_critical",
    "not_production",
    "closed",
    "caller_not_registered",
    "not_entitled",
    "unavailable",
];

/// Said for the customer in prompts when the case names none.
const UNKNOWN_CUSTOMER: &str = "an unknown customer";

/// Said for the customer to a caller not registered on the case: it names nobody.
pub(crate) const UNNAMED_CUSTOMER: &str = "your organisation";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyCase {
    /// The variable that holds the case number (stored by a gather step).
    #[serde(default = "default_case_from")]
    pub(crate) case_from: String,
}

fn default_case_from() -> String {
    "case_number".into()
}

impl VerifyCase {
    /// Variables the step stores on `outcome`.
    pub(crate) fn stores_on(outcome: &str) -> Vec<&'static str> {
        match outcome {
            "not_found" | "caller_not_registered" => vec!["case", "decision"],
            "unverified" | "unavailable" => vec!["case", "decision"],
            _ => vec!["case", "decision", "customer"],
        }
    }

    pub(crate) async fn run(&self, ctx: &mut Ctx<'_>) -> Transition {
        let typed = ctx.state.vars.get(&self.case_from).cloned().unwrap_or_default();
        // A case number entered again starts afresh: nothing of the previous case is said or noted.
        for stale in [
            "customer",
            "case_customer",
            "refused",
            PACKAGE_VAR,
            CASE_PACKAGE_VAR,
            TAM_VAR,
        ] {
            ctx.state.vars.remove(stale);
        }
        let lookup = match CaseId::parse(&typed) {
            Ok(id) => {
                let result = lookup(ctx.services, &id).await;
                Some((id, result))
            }
            Err(_) => None,
        };
        let requirements = Requirements {
            registered_caller: ctx.line.require_registered_caller,
            entitled_packages: ctx.services.entitled_packages.clone(),
            refused_packages: ctx.services.refused_packages.clone(),
            a_attestation: ctx.line.require_a_attestation,
        };
        let caller = Caller::new(ctx.input.from(), ctx.input.param("StirVerstat"));
        let (id, decision) = match &lookup {
            Some((id, result)) => (id.to_string(), decide(result, &caller, &requirements)),
            None => (typed.clone(), Decision::NotFound),
        };
        let mut is_registered = false;
        match lookup.as_ref().map(|(_, r)| r) {
            Some(Ok(Some(case))) => {
                is_registered = registered(case, &caller, &requirements);
                ctx.trace_decision(format!(
                    "case {id}: {decision} (severity {:?}, environment {:?}, status {:?}, customer {:?}, caller {})",
                    case.severity,
                    case.environment,
                    case.status,
                    case.customer.as_deref().unwrap_or("none named"),
                    if is_registered { "registered" } else { "not registered" }
                ));
                let customer = case.customer.clone().unwrap_or_else(|| UNKNOWN_CUSTOMER.to_owned());
                ctx.state.set("case_customer", &customer);
                ctx.state
                    .set("customer", if is_registered { &customer } else { UNNAMED_CUSTOMER });
                // The package's support channel is the caller's to hear only when the case is theirs: to anyone
                // else, the line's, the same whatever the case.
                let services = ctx.services;
                let package = case.support_package.as_deref().and_then(|p| services.packages.find(p));
                if let Some((package, _)) = package {
                    ctx.state.set(CASE_PACKAGE_VAR, package);
                    if is_registered {
                        ctx.state.set(PACKAGE_VAR, package);
                    }
                }
                if let Some(tam) = &case.tam {
                    ctx.state.set(TAM_VAR, tam);
                }
            }
            Some(Err(error)) => {
                tracing::warn!(case = %id, %error, line = %ctx.line.key, "case system unavailable");
                ctx.trace_decision(format!(
                    "case {id}: unavailable ({error}); line policy {:?}",
                    ctx.line.on_unavailable
                ));
            }
            _ => ctx.trace_decision(format!("case {id}: {decision}")),
        }
        ctx.state.set("case", &id);
        let decided = match (decision, ctx.line.on_unavailable) {
            (Decision::Unavailable, OnUnavailable::Bridge) => "unverified",
            (decision, _) => decision.as_str(),
        };
        ctx.state.set("decision", decided);
        let heard = told(decision, is_registered, &requirements);
        if heard != decision {
            ctx.state.set("refused", "unregistered");
            ctx.trace_decision(format!(
                "case {id}: the caller is not registered on it and hears only that this number cannot be helped"
            ));
        }
        if heard.is_guess() {
            if let Some(guesses) = super::rate_limit::add_guess(ctx, &id).await {
                ctx.trace_decision(format!("guess limit: a guess ({guesses} within the window)"));
            }
        } else {
            // Neither write waits on the other.
            let trusting = decision == Decision::Verified && is_registered;
            let ((), trusted) = tokio::join!(super::rate_limit::remove_guess(ctx, &id), async {
                trusting && trust(ctx, &caller, &id).await
            });
            if trusted {
                ctx.trace_decision(format!("case {id}: the caller's number is trusted for it"));
            }
        }
        metrics::counter!(crate::metrics::CASE_LOOKUPS, "outcome" => decision.as_str()).increment(1);
        let outcome = match heard {
            Decision::Unavailable => decided,
            heard => heard.as_str(),
        };
        Transition::Next(
            OUTCOMES
                .iter()
                .find(|o| **o == outcome)
                .copied()
                .unwrap_or("unavailable"),
        )
    }
}

/// Remembers that the caller is registered on verified case `case`, so that the guess limit never turns
/// their calls about it away (see `rate_limit`); true when the store took it.
async fn trust(ctx: &Ctx<'_>, caller: &Caller<'_>, case: &str) -> bool {
    let Some(store) = ctx.services.store.clone() else {
        return false;
    };
    let ttl = std::time::Duration::from_secs(ctx.services.limits.trusted_secs.get());
    if ttl.is_zero() {
        return false;
    }
    match tokio::time::timeout(STORE_DEADLINE, store.trust(caller.number, case, ttl)).await {
        Ok(Ok(())) => true,
        _ => {
            metrics::counter!(crate::metrics::STORE_ERRORS, "operation" => "trust").increment(1);
            tracing::warn!(case, "cannot remember the registered caller as trusted");
            false
        }
    }
}

/// Looks case `id` up in the case system, within the configured time limit, and records how long it took.
async fn lookup(services: &Services, id: &CaseId) -> Result<Option<Case>, CaseError> {
    let Some(cases) = &services.cases else {
        return Err(CaseError::NotConfigured("no [cases] section".into()));
    };
    let started = std::time::Instant::now();
    let limit = services.case_timeout;
    let result = match tokio::time::timeout(limit, cases.lookup(id)).await {
        Ok(result) => result,
        Err(_) => Err(CaseError::Timeout(limit.as_millis() as u64)),
    };
    metrics::histogram!(crate::metrics::CASE_LOOKUP_SECONDS).record(started.elapsed().as_secs_f64());
    // The wall clock, not the call's: the dashboard shows how long ago the case system last answered.
    let (outcome, answered) = match &result {
        Ok(Some(_)) => ("found".to_owned(), true),
        Ok(None) => ("not found".to_owned(), true),
        Err(error) => (error.to_string(), false),
    };
    services.last_lookup.record(chrono::Utc::now(), &outcome, answered);
    result
}

/// The note for the case system when a call about a case ends; none when no case was found.
pub(crate) fn closing_note(ctx: &Ctx<'_>) -> Option<Effect> {
    let vars = &ctx.state.vars;
    let decision = vars.get("decision")?;
    if decision == Decision::NotFound.as_str() {
        return None;
    }
    let case = CaseId::parse(vars.get("case")?).ok()?;
    let line = ctx.line;
    let local = ctx.now.with_timezone(&line.tz);
    let what = match decision.as_str() {
        "verified" => "verified as a critical production case".to_owned(),
        "unverified" => {
            "not verified: the case system was unavailable; the line's policy is to connect anyway".to_owned()
        }
        "unavailable" => {
            "not verified: the case system was unavailable; the caller was asked to wait for business hours".to_owned()
        }
        other if vars.get("refused").is_some() => format!(
            "{}; the caller's number is not registered on the case: they were told only that this number cannot be helped",
            other.replace('_', " ")
        ),
        other => {
            let deadline = line
                .calendar
                .first_response_deadline(line.tz, ctx.now)
                .map(|d| format!("{} {}", spoken_datetime(&d), line.zone_name))
                .unwrap_or_else(|| "the next business day".into());
            format!(
                "{}; the caller was told the after-hours policy and that the first response is due by {deadline}",
                other.replace('_', " ")
            )
        }
    };
    let from = if ctx.input.from().is_empty() {
        "an unknown number"
    } else {
        ctx.input.from()
    };
    let mut body = format!(
        "After-hours call on {} ({}), line {} ({}), from {from}. Decision: {what}.",
        spoken_datetime(&local),
        ctx.now.to_rfc3339(),
        line.name,
        line.number,
    );
    if let Some(dialled) = vars.get("dialled") {
        body.push_str(&format!(" Dialled: {dialled}."));
        match vars.get("accepted") {
            Some(engineer) => {
                body.push_str(&format!(" Accepted by: {engineer}"));
                let connected = vars
                    .get(super::bridge::CONNECTED_AT_VAR)
                    .and_then(|t| t.parse::<DateTime<Utc>>().ok());
                if let (Some(at), Some(secs)) = (connected, vars.get(super::bridge::TALKED_VAR)) {
                    body.push_str(&format!(
                        ", put through at {} {} ({}), on the line for {secs} s",
                        spoken_datetime(&at.with_timezone(&line.tz)),
                        line.zone_name,
                        at.to_rfc3339()
                    ));
                }
                body.push('.');
            }
            None => body.push_str(" Nobody accepted."),
        }
    }
    if let Some(recording) = vars.get("recording") {
        body.push_str(&format!(" Voicemail: {recording}"));
    }
    Some(Effect::CaseNote {
        call_sid: ctx.input.call_sid().to_owned(),
        case,
        body,
    })
}
