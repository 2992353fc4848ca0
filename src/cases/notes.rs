//! Case notes: sent in the background once the webhook is answered, never in the caller's way, and retried
//! while the failure may pass (no answer, 5xx, 408, 429) within a deadline. Shutdown waits (a bounded time)
//! for the notes still in flight.
//!
//! The retries follow a [`Schedule`]: waits that double from `backoff` up to a minute, at least as long as a
//! 429's `Retry-After` asks, and no attempt started later than `deadline` after the note was queued. A 429
//! holds every note, not only the one that met it: the case system's limit is the account's, and notes sent
//! before its `Retry-After` would only be refused again (Zendesk shares that limit with its agents). A note
//! given up is logged with the reason and counted as `lost` in `afterhours_case_notes_total`: never silently.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::task::TaskTracker;

use super::{CaseError, CaseId, CaseSystem};

/// Takes a note off the pending gauge when its task ends, however it ends.
struct Decrement(metrics::Gauge);

impl Drop for Decrement {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// The longest wait between two attempts that the backoff itself makes (a `Retry-After` may ask for more).
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// When a failed note is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Schedule {
    /// Attempts at most.
    pub(crate) attempts: u32,
    /// The wait after the first failure; doubled after each further one, up to [`MAX_BACKOFF`].
    pub(crate) backoff: Duration,
    /// No attempt starts later than this after the note was queued.
    pub(crate) deadline: Duration,
}

/// Why a note was given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GiveUp {
    /// The failure will not pass by trying again (a 4xx other than 408 and 429, an answer we cannot read).
    Refused,
    /// Every attempt failed.
    Attempts,
    /// The next attempt could not start before the deadline.
    Deadline,
}

impl GiveUp {
    fn as_str(self) -> &'static str {
        match self {
            GiveUp::Refused => "refused",
            GiveUp::Attempts => "attempts used up",
            GiveUp::Deadline => "deadline passed",
        }
    }
}

impl Schedule {
    /// The wait before the next attempt, after attempt `attempt` (1-based) failed with `error`, `elapsed` after
    /// the note was queued; or why there is none.
    fn after_failure(&self, attempt: u32, error: &CaseError, elapsed: Duration) -> Result<Duration, GiveUp> {
        if !error.is_transient() {
            return Err(GiveUp::Refused);
        }
        if attempt >= self.attempts {
            return Err(GiveUp::Attempts);
        }
        let backoff = self.backoff.saturating_mul(1 << (attempt - 1).min(16)).min(MAX_BACKOFF);
        let wait = backoff.max(error.retry_after().unwrap_or_default());
        self.in_time(elapsed + wait).map(|()| wait)
    }

    /// `Ok` when an attempt may start `at` after the note was queued.
    fn in_time(&self, at: Duration) -> Result<(), GiveUp> {
        if at <= self.deadline {
            Ok(())
        } else {
            Err(GiveUp::Deadline)
        }
    }
}

/// Until when the case system asked (with a 429's `Retry-After`) that no note be sent; shared by every note.
#[derive(Debug, Clone, Default)]
struct Hold(Arc<Mutex<Option<Instant>>>);

impl Hold {
    fn until(&self) -> Option<Instant> {
        *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Holds every note for `wait` from now, unless they are held longer already.
    fn extend(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut held = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if held.is_none_or(|h| h < until) {
            *held = Some(until);
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Notes {
    cases: Arc<dyn CaseSystem>,
    schedule: Schedule,
    hold: Hold,
    tracker: TaskTracker,
}

impl Notes {
    pub(crate) fn new(cases: Arc<dyn CaseSystem>, schedule: Schedule) -> Self {
        Self {
            cases,
            schedule: Schedule {
                attempts: schedule.attempts.max(1),
                ..schedule
            },
            hold: Hold::default(),
            tracker: TaskTracker::new(),
        }
    }

    /// Queues a note; returns at once.
    pub(crate) fn send(&self, case: CaseId, body: String) {
        let (cases, schedule, hold) = (self.cases.clone(), self.schedule, self.hold.clone());
        let pending = metrics::gauge!(crate::metrics::CASE_NOTES_PENDING);
        pending.increment(1.0);
        self.tracker.spawn(async move {
            let _done = Decrement(pending);
            let outcome = match deliver(cases.as_ref(), &case, &body, schedule, &hold).await {
                Ok(attempt) => {
                    tracing::info!(case = %case, attempt, "case note added");
                    "added"
                }
                Err((attempt, reason, error)) => {
                    tracing::error!(
                        case = %case, attempt, error = error.as_ref().map(|e| e.to_string()),
                        reason = reason.as_str(), deadline_secs = schedule.deadline.as_secs(),
                        "case note lost: the call log still has the call"
                    );
                    "lost"
                }
            };
            metrics::counter!(crate::metrics::CASE_NOTES, "outcome" => outcome).increment(1);
        });
    }

    /// Stops taking notes and waits up to `within` for those in flight; false if some were still pending.
    pub(crate) async fn drain(&self, within: Duration) -> bool {
        self.tracker.close();
        tokio::time::timeout(within, self.tracker.wait()).await.is_ok()
    }

    /// Notes still being sent.
    pub(crate) fn pending(&self) -> usize {
        self.tracker.len()
    }
}

/// Sends one note by the schedule: the attempt that added it, or the attempts made, why they stopped, and
/// the last failure (none when the hold outlasted the deadline before the first attempt).
async fn deliver(
    cases: &dyn CaseSystem,
    case: &CaseId,
    body: &str,
    schedule: Schedule,
    hold: &Hold,
) -> Result<u32, (u32, GiveUp, Option<CaseError>)> {
    let queued = Instant::now();
    let mut last_error = None;
    let mut attempt = 0;
    loop {
        attempt += 1;
        if let Some(until) = hold.until().filter(|until| *until > Instant::now()) {
            if let Err(reason) = schedule.in_time(until - queued) {
                return Err((attempt - 1, reason, last_error));
            }
            tokio::time::sleep_until(until).await;
        }
        let error = match cases.add_note(case, body).await {
            Ok(()) => return Ok(attempt),
            Err(error) => error,
        };
        if let Some(wait) = error.retry_after() {
            hold.extend(wait);
        }
        match schedule.after_failure(attempt, &error, queued.elapsed()) {
            Ok(wait) => {
                tracing::warn!(case = %case, attempt, %error, retry_in_ms = wait.as_millis() as u64, "case note failed");
                tokio::time::sleep(wait).await;
                last_error = Some(error);
            }
            Err(reason) => return Err((attempt, reason, Some(error))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEDULE: Schedule = Schedule {
        attempts: 10,
        backoff: Duration::from_secs(1),
        deadline: Duration::from_secs(300),
    };

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn waits_double_up_to_a_minute_within_the_deadline() {
        let timeout = CaseError::Timeout(2500);
        let waits: Vec<_> = (1..=7)
            .map(|attempt| SCHEDULE.after_failure(attempt, &timeout, secs(0)).unwrap())
            .collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60].map(secs));
        assert_eq!(SCHEDULE.after_failure(10, &timeout, secs(0)), Err(GiveUp::Attempts));
        assert_eq!(SCHEDULE.after_failure(7, &timeout, secs(240)), Ok(secs(60)));
        assert_eq!(SCHEDULE.after_failure(7, &timeout, secs(241)), Err(GiveUp::Deadline));
    }

    #[test]
    fn a_429_waits_at_least_its_retry_after() {
        let asked = |wait| CaseError::RateLimited(Some(secs(wait)));
        assert_eq!(SCHEDULE.after_failure(1, &asked(93), secs(0)), Ok(secs(93)));
        assert_eq!(
            SCHEDULE.after_failure(7, &asked(1), secs(0)),
            Ok(secs(60)),
            "the backoff is longer"
        );
        assert_eq!(
            SCHEDULE.after_failure(1, &CaseError::RateLimited(None), secs(0)),
            Ok(secs(1))
        );
        assert_eq!(
            SCHEDULE.after_failure(1, &asked(400), secs(0)),
            Err(GiveUp::Deadline),
            "a wait past the deadline gives up at once"
        );
    }

    #[test]
    fn a_failure_that_will_not_pass_is_not_retried() {
        for error in [
            CaseError::Status(422),
            CaseError::Status(404),
            CaseError::Format("html".into()),
        ] {
            assert_eq!(
                SCHEDULE.after_failure(1, &error, secs(0)),
                Err(GiveUp::Refused),
                "{error}"
            );
        }
        for error in [
            CaseError::Status(503),
            CaseError::Status(408),
            CaseError::Connect("refused".into()),
        ] {
            assert!(SCHEDULE.after_failure(1, &error, secs(0)).is_ok(), "{error}");
        }
    }

    #[tokio::test]
    async fn the_hold_only_grows() {
        let hold = Hold::default();
        assert_eq!(hold.until(), None);
        hold.extend(secs(60));
        let long = hold.until().unwrap();
        hold.extend(secs(1));
        assert_eq!(hold.until(), Some(long));
    }
}
