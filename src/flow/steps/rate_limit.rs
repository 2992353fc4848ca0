//! `rate_limit`: counts the call against its caller's limit (`[limits]`: calls from one number within a
//! window, counted in the store, so across replicas) and decides `allowed` or `limited`.
//!
//! A flow puts it before what a call spends: the shipped flow, after the case number and before the case
//! lookup and the dial, so that the first webhook of a call (the greeting) waits on nothing. A call is
//! counted once however often the step runs for it (a case number entered again after "not found"), by its
//! CallSid. A store that cannot count lets the call through: a night line fails open.

use std::time::Duration;

use serde::Deserialize;

use crate::flow::engine::{Ctx, Transition};
use crate::phone::mask;
use crate::store::STORE_DEADLINE;

/// The outcome of a call within its limit.
const ALLOWED: &str = "allowed";
pub const OUTCOMES: &[&str] = &[ALLOWED, "limited"];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {}

impl RateLimit {
    pub(crate) async fn run(&self, ctx: &mut Ctx<'_>) -> Transition {
        let limits = &ctx.services.limits;
        let Some(store) = ctx.services.store.as_ref() else {
            ctx.trace_decision("rate limit: not checked (no store)".to_owned());
            return Transition::Next(ALLOWED);
        };
        let window = Duration::from_secs(limits.window_secs.max(1));
        let (from, call_sid) = (ctx.input.from(), ctx.input.call_sid());
        let counted = tokio::time::timeout(STORE_DEADLINE, store.count_call(from, call_sid, window)).await;
        let calls = match counted {
            Ok(Ok(calls)) => calls,
            Ok(Err(error)) => {
                tracing::warn!(%error, "rate limit not checked: the store cannot count");
                return not_checked(ctx, "the store cannot count");
            }
            Err(_) => {
                tracing::warn!("rate limit not checked: the store did not answer in time");
                return not_checked(ctx, "the store did not answer in time");
            }
        };
        let allowed = u64::from(limits.calls_per_window);
        let window_secs = window.as_secs();
        if calls <= allowed {
            ctx.trace_decision(format!(
                "rate limit: call {calls} of {allowed} allowed within {window_secs} s"
            ));
            return Transition::Next(ALLOWED);
        }
        let line = ctx.line;
        metrics::counter!(crate::metrics::RATE_LIMITED, "line" => line.key.clone()).increment(1);
        tracing::warn!(from = %mask(from), calls, line = %line.key, "caller over the rate limit");
        ctx.trace_decision(format!(
            "rate limit: call {calls} from this number within {window_secs} s, over the {allowed} allowed"
        ));
        Transition::Next("limited")
    }
}

/// The store could not count (`why`): the call goes on, and the miss is counted and noted.
fn not_checked(ctx: &mut Ctx<'_>, why: &str) -> Transition {
    metrics::counter!(crate::metrics::STORE_ERRORS, "operation" => "count_call").increment(1);
    ctx.trace_decision(format!("rate limit: not checked ({why})"));
    Transition::Next(ALLOWED)
}
