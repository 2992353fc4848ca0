//! `rate_limit`: counts the call against its caller's limit (`[limits]`: calls from one number within a
//! window, counted in the store, so across replicas) and decides `allowed` or `limited`.
//!
//! A flow puts it before what a call spends: the shipped flow, after the case number and before the case
//! lookup and the dial, so that the first webhook of a call (the greeting) waits on nothing. A call is
//! counted once however often the step runs for it (a case number entered again after "not found"), by its
//! CallSid. A store that cannot count lets the call through: a night line fails open.
//!
//! While the count is in flight, the engine starts the case lookup that an `allowed` call goes on to (see
//! [`crate::flow::engine`]), so a caller waits for the slower of the two, not for both. It does not for a
//! number this process last saw at its limit ([`AtLimit`]): a storm of calls from one number sends the case
//! system no lookups, as it sends it none when the count is not overlapped.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::flow::engine::{Ctx, Transition};
use crate::phone::mask;
use crate::voice::STORE_DEADLINE;

/// The outcome of a call within its limit.
pub const ALLOWED: &str = "allowed";
pub const OUTCOMES: &[&str] = &[ALLOWED, "limited"];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {}

impl RateLimit {
    pub(crate) async fn run(&self, ctx: &mut Ctx<'_>) -> Transition {
        let limits = &ctx.services.limits;
        let Some(store) = ctx.services.store.as_ref() else {
            ctx.note("rate limit: not checked (no store)".to_owned());
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
        if calls >= allowed {
            ctx.services.at_limit.mark(from, window);
        }
        if calls <= allowed {
            ctx.note(format!(
                "rate limit: call {calls} of {allowed} allowed within {window_secs} s"
            ));
            return Transition::Next(ALLOWED);
        }
        let line = ctx.line;
        metrics::counter!(crate::metrics::RATE_LIMITED, "line" => line.key.clone()).increment(1);
        tracing::warn!(from = %mask(from), calls, line = %line.key, "caller over the rate limit");
        ctx.note(format!(
            "rate limit: call {calls} from this number within {window_secs} s, over the {allowed} allowed"
        ));
        Transition::Next("limited")
    }
}

/// The store could not count (`why`): the call goes on, and the miss is counted and noted.
fn not_checked(ctx: &mut Ctx<'_>, why: &str) -> Transition {
    metrics::counter!(crate::metrics::STORE_ERRORS, "operation" => "count_call").increment(1);
    ctx.note(format!("rate limit: not checked ({why})"));
    Transition::Next(ALLOWED)
}

/// The most numbers [`AtLimit`] remembers; past that (a storm from many numbers), it answers "at its limit"
/// for every number until the oldest entry ends, so that no lookup starts ahead of a count.
const AT_LIMIT_CAPACITY: usize = 4096;

/// The numbers this process saw reach their limit, each until its window would have passed: the next call
/// from one of them is likely over it, so its case is not looked up before the count says. A hint only: the
/// store's count decides, on every call. Another replica's counts are not seen here, so the first call over
/// the limit that reaches this replica may have its lookup started (and dropped unanswered once the count
/// comes back).
#[derive(Debug, Default)]
pub struct AtLimit {
    numbers: Mutex<Numbers>,
}

#[derive(Debug, Default)]
struct Numbers {
    until: HashMap<String, Instant>,
    /// Set when the map was full of live entries: every number counts as at its limit until then.
    full_until: Option<Instant>,
}

impl AtLimit {
    /// True when `from` reached its limit within its last window (or when too many numbers did).
    pub fn holds(&self, from: &str) -> bool {
        self.holds_at(from, Instant::now())
    }

    fn holds_at(&self, from: &str, now: Instant) -> bool {
        let Ok(mut numbers) = self.numbers.lock() else {
            return true;
        };
        if numbers.full_until.is_some_and(|until| until > now) {
            return true;
        }
        match numbers.until.get(from) {
            Some(until) if *until > now => true,
            Some(_) => {
                numbers.until.remove(from);
                false
            }
            None => false,
        }
    }

    /// `from` has reached its limit: remember it for `window`.
    pub fn mark(&self, from: &str, window: Duration) {
        self.mark_at(from, Instant::now(), window);
    }

    fn mark_at(&self, from: &str, now: Instant, window: Duration) {
        let Ok(mut numbers) = self.numbers.lock() else {
            return;
        };
        let until = now + window;
        if numbers.until.len() >= AT_LIMIT_CAPACITY && !numbers.until.contains_key(from) {
            numbers.until.retain(|_, until| *until > now);
            if numbers.until.len() >= AT_LIMIT_CAPACITY {
                numbers.full_until = numbers.until.values().min().copied();
                return;
            }
        }
        numbers.until.insert(from.to_owned(), until);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(600);

    #[test]
    fn a_number_is_at_its_limit_for_its_window_after_it_reached_it() {
        let at_limit = AtLimit::default();
        let now = Instant::now();
        assert!(!at_limit.holds_at("+15551234567", now));
        at_limit.mark_at("+15551234567", now, WINDOW);
        assert!(at_limit.holds_at("+15551234567", now + WINDOW / 2));
        assert!(!at_limit.holds_at("+15559876543", now + WINDOW / 2));
        assert!(!at_limit.holds_at("+15551234567", now + WINDOW));
    }

    #[test]
    fn when_too_many_numbers_reached_their_limit_every_number_counts_as_at_it() {
        let at_limit = AtLimit::default();
        let now = Instant::now();
        for i in 0..AT_LIMIT_CAPACITY {
            at_limit.mark_at(&format!("+1555{i:07}"), now, WINDOW);
        }
        assert!(!at_limit.holds_at("+447700900123", now));
        at_limit.mark_at("+447700900123", now, WINDOW);
        assert!(at_limit.holds_at("+33612345678", now + WINDOW / 2));
        assert!(!at_limit.holds_at("+33612345678", now + WINDOW));
    }
}
