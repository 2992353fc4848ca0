//! `verify_case`: looks the case number up in the case system and decides whether the night line takes it.
//!
//! The outcomes are the decisions of `crate::cases::decision`, except that an unavailable case system
//! follows the line's `on_unavailable` policy: `unverified` when it is `bridge` (the call goes on and the
//! engineer is told), `unavailable` when it is `refuse`. A lookup never takes longer than the configured
//! timeout, and a slow case system holds no other call (each lookup is its own future).
//!
//! Stores `case` (the number), `decision`, and, when the case was found, `customer`, for the prompts after it
//! and for the note added to the case when the call ends.

use serde::Deserialize;

use crate::calendar::spoken_datetime;
use crate::cases::decision::{Decision, Requirements, decide};
use crate::cases::{Case, CaseError, CaseId};
use crate::flow::engine::{Ctx, Effect, PACKAGE_VAR, Services, TAM_VAR, Transition};
use crate::settings::OnUnavailable;

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
            "not_found" => vec!["case", "decision"],
            "unverified" | "unavailable" => vec!["case", "decision"],
            _ => vec!["case", "decision", "customer"],
        }
    }

    pub(crate) async fn run(&self, ctx: &mut Ctx<'_>) -> Transition {
        let typed = ctx.state.vars.get(&self.case_from).cloned().unwrap_or_default();
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
        };
        let (id, decision) = match &lookup {
            Some((id, result)) => (id.to_string(), decide(result, ctx.input.from(), &requirements)),
            None => (typed.clone(), Decision::NotFound),
        };
        match lookup.as_ref().map(|(_, r)| r) {
            Some(Ok(Some(case))) => {
                ctx.trace_decision(format!(
                    "case {id}: {decision} (severity {:?}, environment {:?}, status {:?}, customer {:?})",
                    case.severity, case.environment, case.status, case.customer
                ));
                let customer = case.customer.clone().unwrap_or_else(|| UNKNOWN_CUSTOMER.to_owned());
                ctx.state.set("customer", &customer);
                let services = ctx.services;
                let package = case.support_package.as_deref().and_then(|p| services.packages.find(p));
                if let Some((package, _)) = package {
                    ctx.state.set(PACKAGE_VAR, package);
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
        let outcome = match (decision, ctx.line.on_unavailable) {
            (Decision::Unavailable, OnUnavailable::Bridge) => "unverified",
            (decision, _) => decision.as_str(),
        };
        ctx.state.set("decision", outcome);
        metrics::counter!(crate::metrics::CASE_LOOKUPS, "outcome" => decision.as_str()).increment(1);
        Transition::Next(
            OUTCOMES
                .iter()
                .find(|o| **o == outcome)
                .copied()
                .unwrap_or("unavailable"),
        )
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
            Some(engineer) => body.push_str(&format!(" Accepted by: {engineer}.")),
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
