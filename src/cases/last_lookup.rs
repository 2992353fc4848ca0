//! The outcome of the latest case lookup, for the dashboard's readiness: when it was and whether the case
//! system answered. The lookup step writes it; a reader takes a copy under a short lock.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

/// The latest lookup's outcome, shared by every call (writers) and the dashboard (reader). Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct LastLookup(Arc<Mutex<Option<Lookup>>>);

/// One lookup: when it ended, and what came of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    pub at: DateTime<Utc>,
    /// "found", "not found", or the error's kind ("timed out", "unavailable").
    pub outcome: String,
    /// Whether the case system answered (found or not found).
    pub answered: bool,
}

impl LastLookup {
    /// Records a lookup that ended at `at`.
    pub fn record(&self, at: DateTime<Utc>, outcome: &str, answered: bool) {
        let lookup = Lookup {
            at,
            outcome: outcome.to_owned(),
            answered,
        };
        // A writer that panicked left a whole value behind (assignment is the only write): use it.
        *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(lookup);
    }

    /// The latest lookup, if there was one since the process started.
    pub fn get(&self) -> Option<Lookup> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
}
