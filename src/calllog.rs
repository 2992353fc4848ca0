//! The call log: one record per call (line, caller, case, every decision with its time, every dial, who
//! accepted, the voicemail, the duration), kept in a Redis stream with a bounded length.
//!
//! Each webhook adds what it decided to the call's working record, after the answer is sent: it hands a
//! [`CallNote`] to the [`Writer`], which writes the notes of many webhooks in one pipelined round trip. The
//! record is closed into the stream once, through the same writer (so after what the call's webhooks added):
//! by the provider's final call-status callback (which brings the duration), or, if that callback is not
//! configured, a few minutes after the call hung up.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::oncall::store::{Store, StoreError};

/// What the record says of the call as a whole (the latest value of each field wins).
pub const SUMMARY_FIELDS: &[&str] = &[
    "line",
    "from",
    "to",
    "case",
    "decision",
    "customer",
    "dialled",
    "accepted",
    "recording",
];

/// One call, as the log keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    pub call_sid: String,
    /// When the first webhook of the call came.
    pub started: Option<DateTime<Utc>>,
    /// `line`, `from` (the full number, for call-backs), `to`, `case`, `decision`, `customer`, `dialled`,
    /// `accepted`, `recording`: whichever the call got to.
    pub summary: BTreeMap<String, String>,
    /// Every decision, in order, with its time.
    pub events: Vec<CallEvent>,
    /// From the call-status callback: the final status and the duration in seconds.
    pub status: Option<String>,
    pub duration_secs: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallEvent {
    pub at: DateTime<Utc>,
    pub what: String,
}

/// What one webhook adds to its call's working record: summary fields (the latest value wins; `started` is
/// kept from the first) and events, the record kept for `ttl`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallNote {
    pub call_sid: String,
    pub started: DateTime<Utc>,
    pub summary: Vec<(String, String)>,
    pub events: Vec<CallEvent>,
    pub ttl: Duration,
}

/// Closing a call's working record into the log, with what the final status callback said. The log keeps
/// about `max_records` records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallClose {
    pub call_sid: String,
    pub status: Option<String>,
    pub duration_secs: Option<u64>,
    pub max_records: u64,
}

impl CallRecord {
    pub fn case(&self) -> Option<&str> {
        self.summary.get("case").map(String::as_str)
    }

    /// One line for a terminal: when, line, masked caller, case, decision, who accepted, duration.
    pub fn one_line(&self) -> String {
        let get = |k: &str| self.summary.get(k).map(String::as_str).unwrap_or("-");
        format!(
            "{}  {}  line {}  from {}  case {}  {}  accepted {}  {}  {}",
            self.started.map_or_else(|| "-".to_owned(), |t| t.to_rfc3339()),
            self.call_sid,
            get("line"),
            crate::phone::mask(get("from")),
            get("case"),
            get("decision"),
            get("accepted"),
            self.duration_secs.map_or_else(|| "-".to_owned(), |d| format!("{d} s")),
            self.summary.get("recording").map_or("", |_| "voicemail"),
        )
    }
}

/// The records of the log, newest first, that started at or after `since` and are about `case` (when
/// given): at most `limit`.
pub async fn find(
    store: &dyn Store,
    since: Option<DateTime<Utc>>,
    case: Option<&str>,
    limit: usize,
) -> Result<Vec<CallRecord>, StoreError> {
    // Filtering by case reads further back than `limit`: the log is not indexed by case.
    let read = if case.is_some() {
        limit.saturating_mul(100).max(10_000)
    } else {
        limit
    };
    let records = store.calls(since, read).await?;
    Ok(records
        .into_iter()
        .filter(|r| case.is_none_or(|c| r.case() == Some(c)))
        .take(limit)
        .collect())
}

/// How many writes may wait for the writer; past that, notes are dropped (and counted) rather than held.
const QUEUE: usize = 16_384;
/// The most writes sent in one round trip.
const BATCH: usize = 512;

enum Write {
    Note(CallNote),
    Close(CallClose),
    /// Answered once everything queued before it is written.
    Flush(oneshot::Sender<()>),
}

/// Writes the call log in the background: webhooks hand it their notes and go on at once; one task writes
/// whatever has queued up, all notes in one pipelined round trip and then the closes in another, in the
/// order they came. Under load, many webhooks share a round trip; an idle line pays one per webhook. Cheap to
/// clone. The task starts with the first write, so a writer can be made outside a runtime.
#[derive(Clone)]
pub struct Writer {
    queue: mpsc::Sender<Write>,
    task: Arc<Deferred>,
}

impl Writer {
    pub fn new(store: Arc<dyn Store>) -> Self {
        let (queue, receiver) = mpsc::channel(QUEUE);
        Self {
            queue,
            task: Arc::new(Deferred::new(run(receiver, store))),
        }
    }

    /// Queues a webhook's note; returns at once.
    pub fn note(&self, note: CallNote) {
        self.queue_write(Write::Note(note));
    }

    /// Queues the closing of a call's record; returns at once.
    pub fn close(&self, close: CallClose) {
        self.queue_write(Write::Close(close));
    }

    /// Waits (at most `within`) until everything queued so far is written; false if it was not.
    pub async fn flush(&self, within: Duration) -> bool {
        let (done, written) = oneshot::channel();
        self.start();
        if self.queue.try_send(Write::Flush(done)).is_err() {
            return false;
        }
        matches!(tokio::time::timeout(within, written).await, Ok(Ok(())))
    }

    fn queue_write(&self, write: Write) {
        self.start();
        if self.queue.try_send(write).is_err() {
            metrics::counter!(crate::metrics::STORE_ERRORS, "operation" => "call_log_queue_full").increment(1);
            tracing::warn!("call log: {QUEUE} writes are waiting for the store; this one is dropped");
        }
    }

    fn start(&self) {
        self.task.start();
    }
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("queued", &(QUEUE - self.queue.capacity()))
            .finish()
    }
}

async fn run(mut queue: mpsc::Receiver<Write>, store: Arc<dyn Store>) {
    let mut writes = Vec::with_capacity(BATCH);
    while queue.recv_many(&mut writes, BATCH).await > 0 {
        let (mut notes, mut closes, mut flushes) = (Vec::new(), Vec::new(), Vec::new());
        for write in writes.drain(..) {
            match write {
                Write::Note(note) => notes.push(note),
                Write::Close(close) => closes.push(close),
                Write::Flush(done) => flushes.push(done),
            }
        }
        if !notes.is_empty()
            && let Err(error) = store.note_calls(&notes).await
        {
            metrics::counter!(crate::metrics::STORE_ERRORS, "operation" => "note_call").increment(notes.len() as u64);
            tracing::warn!(%error, webhooks = notes.len(), "call log: these webhooks' decisions were not recorded");
        }
        if !closes.is_empty() {
            match store.close_calls(&closes).await {
                Ok(closed) => tracing::debug!(
                    closed = closed.iter().filter(|c| **c).count(),
                    asked = closes.len(),
                    "call log: records closed"
                ),
                Err(error) => {
                    metrics::counter!(crate::metrics::STORE_ERRORS, "operation" => "close_call")
                        .increment(closes.len() as u64);
                    tracing::warn!(%error, calls = closes.len(), "call log: records could not be closed");
                }
            }
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// The writer's task, spawned the first time [`Deferred::start`] is called: a writer is made where there is no
/// runtime yet (configuration, tests, commands) and its task starts inside one, with the first write.
struct Deferred {
    /// Set once the task is spawned: later starts are one atomic read, no lock.
    started: OnceLock<()>,
    waiting: Mutex<Option<Pin<Box<dyn Future<Output = ()> + Send>>>>,
}

impl Deferred {
    fn new(task: impl Future<Output = ()> + Send + 'static) -> Self {
        Self {
            started: OnceLock::new(),
            waiting: Mutex::new(Some(Box::pin(task))),
        }
    }

    /// Spawns the task on the current runtime, the first time; later calls do nothing. Must be called from
    /// within a Tokio runtime.
    fn start(&self) {
        self.started.get_or_init(|| {
            let taken = self.waiting.lock().ok().and_then(|mut waiting| waiting.take());
            if let Some(task) = taken {
                tokio::spawn(task);
            }
        });
    }
}

/// Final call statuses: the call is over.
pub fn is_final(status: &str) -> bool {
    matches!(status, "completed" | "busy" | "failed" | "no-answer" | "canceled")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_prints_on_one_line_with_the_caller_masked() {
        let mut record = CallRecord {
            call_sid: "CA1".into(),
            duration_secs: Some(42),
            ..CallRecord::default()
        };
        record.summary.insert("from".into(), "+15551234567".into());
        record.summary.insert("case".into(), "123456".into());
        record.summary.insert("decision".into(), "verified".into());
        let line = record.one_line();
        assert!(line.contains("from +*******4567"), "{line}");
        assert!(line.contains("case 123456  verified"), "{line}");
        assert!(line.ends_with("42 s  "), "{line}");
    }

    #[test]
    fn final_statuses() {
        assert!(is_final("completed") && is_final("no-answer"));
        assert!(!is_final("in-progress") && !is_final("ringing"));
    }

    #[tokio::test]
    async fn the_task_runs_once_however_often_it_is_started() {
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
        let deferred = Deferred::new(async move {
            let _ = sender.send("ran");
        });
        deferred.start();
        deferred.start();
        assert_eq!(receiver.recv().await, Some("ran"));
        assert_eq!(receiver.recv().await, None, "the sender is dropped after one run");
    }
}
