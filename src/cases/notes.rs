//! Case notes: sent in the background once the webhook is answered, retried with exponential backoff while
//! the failure may pass (no answer, 5xx, 408, 429), and never in the caller's way. Shutdown waits (a bounded time) for the notes still in flight.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::task::TaskTracker;

use super::{CaseId, CaseSystem};

/// Takes a note off the pending gauge when its task ends, however it ends.
struct Decrement(metrics::Gauge);

impl Drop for Decrement {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub(crate) struct Notes {
    cases: Arc<dyn CaseSystem>,
    attempts: u32,
    backoff: Duration,
    tracker: TaskTracker,
}

impl Notes {
    pub(crate) fn new(cases: Arc<dyn CaseSystem>, attempts: u32, backoff: Duration) -> Self {
        Self {
            cases,
            attempts: attempts.max(1),
            backoff,
            tracker: TaskTracker::new(),
        }
    }

    /// Queues a note; returns at once.
    pub(crate) fn send(&self, case: CaseId, body: String) {
        let (cases, attempts, backoff) = (self.cases.clone(), self.attempts, self.backoff);
        let pending = metrics::gauge!(crate::metrics::CASE_NOTES_PENDING);
        pending.increment(1.0);
        self.tracker.spawn(async move {
            let _done = Decrement(pending);
            for attempt in 1..=attempts {
                match cases.add_note(&case, &body).await {
                    Ok(()) => {
                        tracing::info!(case = %case, attempt, "case note added");
                        return;
                    }
                    Err(error) if attempt < attempts && error.is_transient() => {
                        let wait = backoff.saturating_mul(1 << (attempt - 1).min(16)).min(MAX_BACKOFF);
                        tracing::warn!(case = %case, attempt, %error, retry_in_ms = wait.as_millis() as u64, "case note failed");
                        tokio::time::sleep(wait).await;
                    }
                    Err(error) => {
                        tracing::error!(case = %case, attempt, %error, "case note lost");
                        return;
                    }
                }
            }
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
