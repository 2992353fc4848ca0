//! `rate_limit`: turns away a number that has spent its guesses (`[limits]`), before the case lookup it
//! would cost; decides `allowed` or `limited`.
//!
//! What is counted is not calls but guesses: case numbers that were not found, or not the caller's. The step
//! counts the lookup it lets through as a guess at once (so parallel calls cannot all take the last one), and
//! `verify_case` takes it back when the case turns out to be the caller's or cannot be checked. Caller ID is easily spoofed, so a guess budget is kept
//! where spoofed calls cannot spend the real customer's:
//! - a call with A-level SHAKEN/STIR attestation counts in a bucket of its own for its number, which
//!   unattested calls "from" that number never reach;
//! - a number verified as registered on a critical case is trusted for that case (`[limits] trusted_secs`):
//!   a call from it that enters that case number is never turned away here;
//! - withheld numbers, which can never be registered on a case, share one bucket per line.
//!
//! A flow puts the step after the case number and before the lookup, on every path to it (a case number
//! entered again after a refusal comes back through it). A store that cannot count lets the call through:
//! a night line fails open.

use std::time::Duration;

use serde::Deserialize;

use crate::cases::caller::Caller;
use crate::flow::engine::{Ctx, Transition};
use crate::phone::mask;
use crate::store::STORE_DEADLINE;

/// The outcome of a call within its limit.
const ALLOWED: &str = "allowed";
pub const OUTCOMES: &[&str] = &[ALLOWED, "limited"];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// The variable that holds the case number the caller entered: a trusted number is let through for its
    /// case, and each case number is one guess. Where no case number is stored yet, every call counts as one.
    #[serde(default = "default_case_from")]
    pub(crate) case_from: String,
}

fn default_case_from() -> String {
    "case_number".into()
}

/// Whose guesses a call counts in: the number (`+1555…`), the number with A-level attestation (`+1555…:a`),
/// or the line's withheld callers (`withheld:LINE`).
pub(crate) fn bucket(caller: &Caller<'_>, line: &str) -> String {
    if caller.withheld() {
        format!("withheld:{line}")
    } else if caller.a_attested {
        format!("{}:a", caller.number)
    } else {
        caller.number.to_owned()
    }
}

/// This call's guess of case `case`: the same in every webhook of the call, so a replay counts once.
fn guess_id(ctx: &Ctx<'_>, case: &str) -> String {
    format!("{}:{case}", ctx.input.call_sid())
}

/// Counts this call's lookup of case `case` as a guess in its caller's bucket; returns how many guesses the
/// bucket holds, `None` when the store could not say. Adding it again (a replay, or `verify_case` confirming
/// it) changes nothing.
pub(crate) async fn add_guess(ctx: &Ctx<'_>, case: &str) -> Option<u64> {
    let store = ctx.services.store.clone()?;
    let caller = Caller::new(ctx.input.from(), ctx.input.param("StirVerstat"));
    let bucket = bucket(&caller, &ctx.line.key);
    let window = Duration::from_secs(ctx.services.limits.window_secs.get());
    let guess = guess_id(ctx, case);
    let added = tokio::time::timeout(STORE_DEADLINE, store.add_guess(&bucket, &guess, ctx.now, window)).await;
    match added {
        Ok(Ok(count)) => Some(count),
        Ok(Err(error)) => {
            tracing::warn!(%error, "guess not counted: the store failed");
            metrics::counter!(crate::metrics::STORE_ERRORS, "operation" => "add_guess").increment(1);
            None
        }
        Err(_) => {
            tracing::warn!("guess not counted: the store did not answer in time");
            metrics::counter!(crate::metrics::STORE_ERRORS, "operation" => "add_guess").increment(1);
            None
        }
    }
}

/// Takes this call's lookup of case `case` back out of its caller's guesses: it was no guess (the case was
/// the caller's, or the lookup did not happen).
pub(crate) async fn remove_guess(ctx: &Ctx<'_>, case: &str) {
    let Some(store) = ctx.services.store.clone() else {
        return;
    };
    let caller = Caller::new(ctx.input.from(), ctx.input.param("StirVerstat"));
    let bucket = bucket(&caller, &ctx.line.key);
    let guess = guess_id(ctx, case);
    if !matches!(
        tokio::time::timeout(STORE_DEADLINE, store.remove_guess(&bucket, &guess)).await,
        Ok(Ok(()))
    ) {
        metrics::counter!(crate::metrics::STORE_ERRORS, "operation" => "remove_guess").increment(1);
        tracing::warn!("a lookup that was no guess stays counted: the store failed");
    }
}

impl RateLimit {
    /// Counts the lookup about to happen as a guess (`verify_case` takes it back when it is none), so that of
    /// parallel calls racing for a number's last guess only one is looked up; over the limit, takes it back
    /// and turns the call away.
    pub(crate) async fn run(&self, ctx: &mut Ctx<'_>) -> Transition {
        let Some(store) = ctx.services.store.clone() else {
            ctx.trace_decision("guess limit: not checked (no store)".to_owned());
            return Transition::Next(ALLOWED);
        };
        let caller = Caller::new(ctx.input.from(), ctx.input.param("StirVerstat"));
        let case = ctx.state.vars.get(&self.case_from).cloned().unwrap_or_default();
        // Whether the caller is trusted for the case, asked while the guess is counted: most calls are not, and
        // need both answers; a trusted caller's guess is taken back at once.
        let trusted = async {
            if caller.withheld() || case.is_empty() {
                return Ok(Ok(false));
            }
            tokio::time::timeout(STORE_DEADLINE, store.trusted(caller.number, &case)).await
        };
        let (trusted, guesses) = tokio::join!(trusted, add_guess(ctx, &case));
        match trusted {
            Ok(Ok(true)) => {
                if guesses.is_some() {
                    remove_guess(ctx, &case).await;
                }
                ctx.trace_decision(format!(
                    "guess limit: not applied (the number is trusted for case {case})"
                ));
                return Transition::Next(ALLOWED);
            }
            Ok(Ok(false)) => {}
            Ok(Err(_)) | Err(_) => {
                if guesses.is_some() {
                    remove_guess(ctx, &case).await;
                }
                return not_checked(ctx, "the store cannot say whether the caller is trusted");
            }
        }
        let Some(guesses) = guesses else {
            return not_checked(ctx, "the store cannot count");
        };
        let limits = &ctx.services.limits;
        let allowed = limits.guesses_per_window.get();
        let window_secs = limits.window_secs.get();
        let whose = whose(&caller);
        if guesses <= allowed {
            ctx.trace_decision(format!(
                "guess limit: lookup {guesses} of {allowed} allowed within {window_secs} s ({whose})"
            ));
            return Transition::Next(ALLOWED);
        }
        remove_guess(ctx, &case).await;
        let line = ctx.line;
        metrics::counter!(crate::metrics::RATE_LIMITED, "line" => line.key.clone()).increment(1);
        tracing::warn!(from = %mask(caller.number), line = %line.key, "caller over the guess limit");
        ctx.trace_decision(format!(
            "guess limit: {allowed} guesses within {window_secs} s spent ({whose}): turned away before the lookup"
        ));
        Transition::Next("limited")
    }
}

/// Whose guesses were counted, in words for the trace.
fn whose(caller: &Caller<'_>) -> &'static str {
    if caller.withheld() {
        "withheld callers of this line"
    } else if caller.a_attested {
        "A-attested calls from this number"
    } else {
        "this number"
    }
}

/// The store could not say (`why`): the call goes on, and the miss is counted and noted.
fn not_checked(ctx: &mut Ctx<'_>, why: &str) -> Transition {
    ctx.trace_decision(format!("guess limit: not checked ({why})"));
    Transition::Next(ALLOWED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spoofed_calls_cannot_reach_the_attested_bucket_and_withheld_callers_share_one() {
        let plain = Caller::new("+15551234567", None);
        let attested = Caller::new("+15551234567", Some("TN-Validation-Passed-A"));
        let b_level = Caller::new("+15551234567", Some("TN-Validation-Passed-B"));
        assert_eq!(bucket(&plain, "us"), "+15551234567");
        assert_eq!(bucket(&b_level, "us"), "+15551234567");
        assert_eq!(bucket(&attested, "us"), "+15551234567:a");
        for withheld in ["anonymous", "Restricted", "", "+266696687"] {
            assert_eq!(bucket(&Caller::new(withheld, None), "us"), "withheld:us");
            assert_eq!(
                bucket(&Caller::new(withheld, Some("TN-Validation-Passed-A")), "uk"),
                "withheld:uk"
            );
        }
    }
}
