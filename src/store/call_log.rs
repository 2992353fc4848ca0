//! The call log's traffic with the store: the [`Writer`] that records what webhooks decided, in the
//! background, and [`find`], which reads records back for the admin API and the command line.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};

use super::{Store, StoreError};
use crate::calllog::{CallClose, CallEntry, CallRecord};

/// The records of the log, newest first, that started at or after `since` and are about `case` (when
/// given): at most `limit`.
pub(crate) async fn find(
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

/// The most webhooks (call and webhook identity) the writer remembers as written: a replay of one of them is
/// dropped before it queues, so a flood of replays costs neither the queue nor a store round trip. About 1 MB.
const RECENT: usize = 65_536;

/// How many writes may wait for the writer; past that, entries are dropped (and counted) rather than held.
const QUEUE: usize = 16_384;
/// The most writes sent in one round trip.
const BATCH: usize = 512;
/// The most calls whose record waits to be closed later ([`Writer::close_later`]); past that, a record is
/// closed by the status callback or ends with its time to live.
const PENDING_CLOSES: usize = 65_536;

enum Write {
    Entry(CallEntry),
    Close(CallClose),
    /// Answered once everything queued before it is written.
    Flush(oneshot::Sender<()>),
}

/// Writes the call log in the background: webhooks hand it their entries and go on at once; one task writes
/// whatever has queued up, all entries in one pipeline and then the closes in another, in the
/// order they came. Under load, many webhooks share a round trip; an idle line pays one per webhook. Cheap to
/// clone. The task starts with the first write, so a writer can be made outside a runtime.
#[derive(Clone)]
pub(crate) struct Writer {
    queue: mpsc::Sender<Write>,
    task: Arc<Deferred>,
    /// The calls with a close waiting in [`Writer::close_later`]: one timer per call, however often the
    /// webhook that hangs up is replayed.
    pending_closes: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    /// Writes dropped on a full queue, logged once a [`DROPPED_LOG_WINDOW`].
    dropped: Arc<Dropped>,
    /// The webhooks whose entries were written lately.
    recent: Arc<Mutex<Recent>>,
}

/// The last [`RECENT`] webhooks whose entries the store took, as hashes of their call and identity, and the
/// calls it logged. The store is idempotent by webhook and closes a call once anyway: this only spares it the
/// replays. A webhook is remembered once its write succeeded, and a call once its record was logged, so a
/// retry after a failed write, or a close that found no record yet, is sent again.
#[derive(Default)]
struct Recent {
    seen: std::collections::HashSet<u64>,
    order: std::collections::VecDeque<u64>,
}

impl Recent {
    /// A webhook's entry is known by its call and identity; a call's close by its call alone (an identity is
    /// never empty).
    fn key(call_sid: &str, webhook: &str) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (call_sid, webhook).hash(&mut hasher);
        hasher.finish()
    }

    fn entry_key(entry: &CallEntry) -> u64 {
        Self::key(&entry.call_sid, &entry.webhook)
    }

    fn close_key(close: &CallClose) -> u64 {
        Self::key(&close.call_sid, "")
    }

    fn contains(&self, key: u64) -> bool {
        self.seen.contains(&key)
    }

    fn remember(&mut self, key: u64) {
        if self.seen.insert(key) {
            self.order.push_back(key);
        }
        while self.order.len() > RECENT {
            if let Some(oldest) = self.order.pop_front() {
                self.seen.remove(&oldest);
            }
        }
    }
}

/// How often dropped writes are logged, at most.
const DROPPED_LOG_WINDOW: Duration = Duration::from_secs(10);

/// Counts dropped writes and says when to log them: the first drop, then at most once a window.
#[derive(Default)]
struct Dropped {
    /// Drops not logged yet, and when the last log line was written.
    state: Mutex<(u64, Option<std::time::Instant>)>,
}

impl Dropped {
    /// Counts one drop; returns how many to log now, if a line is due.
    fn note(&self) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        state.0 += 1;
        let now = std::time::Instant::now();
        if state
            .1
            .is_some_and(|last| now.duration_since(last) < DROPPED_LOG_WINDOW)
        {
            return None;
        }
        state.1 = Some(now);
        Some(std::mem::take(&mut state.0))
    }
}

impl Writer {
    pub(crate) fn new(store: Arc<dyn Store>) -> Self {
        let (queue, receiver) = mpsc::channel(QUEUE);
        let recent = Arc::new(Mutex::new(Recent::default()));
        Self {
            queue,
            task: Arc::new(Deferred::new(run(receiver, store, recent.clone()))),
            pending_closes: Arc::default(),
            dropped: Arc::default(),
            recent,
        }
    }

    /// Queues a webhook's entry; returns at once. A replay of a webhook written lately is dropped here.
    pub(crate) fn append(&self, entry: CallEntry) {
        if self
            .recent
            .lock()
            .is_ok_and(|recent| recent.contains(Recent::entry_key(&entry)))
        {
            return;
        }
        self.queue_write(Write::Entry(entry));
    }

    /// Queues the closing of a call's record; returns at once. A call logged lately is not closed again.
    pub(crate) fn close(&self, close: CallClose) {
        if self
            .recent
            .lock()
            .is_ok_and(|recent| recent.contains(Recent::close_key(&close)))
        {
            return;
        }
        self.queue_write(Write::Close(close));
    }

    /// Closes a call's record `after` this long, unless a close for that call is already waiting: the call hung
    /// up, and the status callback, which closes it with its duration, may not be configured. Must be called
    /// within a Tokio runtime.
    pub(crate) fn close_later(&self, close: CallClose, after: Duration) {
        {
            let Ok(mut pending) = self.pending_closes.lock() else {
                return;
            };
            if pending.contains(&close.call_sid) {
                return;
            }
            if pending.len() >= PENDING_CLOSES {
                metrics::counter!(crate::metrics::STORE_ERRORS, "operation" => "call_log_close_later_full")
                    .increment(1);
                return;
            }
            pending.insert(close.call_sid.clone());
        }
        let writer = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            if let Ok(mut pending) = writer.pending_closes.lock() {
                pending.remove(&close.call_sid);
            }
            writer.close(close);
        });
    }

    /// Waits (at most `within`) until everything queued so far is written; false if it was not.
    pub(crate) async fn flush(&self, within: Duration) -> bool {
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
            // A full queue under a flood of webhooks drops thousands a second: one line a window says so.
            if let Some(dropped) = self.dropped.note() {
                tracing::warn!(
                    dropped,
                    "call log: {QUEUE} writes are waiting for the store; writes are being dropped"
                );
            }
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

async fn run(mut queue: mpsc::Receiver<Write>, store: Arc<dyn Store>, recent: Arc<Mutex<Recent>>) {
    let mut writes = Vec::with_capacity(BATCH);
    while queue.recv_many(&mut writes, BATCH).await > 0 {
        let (mut entries, mut closes, mut flushes) = (Vec::new(), Vec::new(), Vec::new());
        for write in writes.drain(..) {
            match write {
                Write::Entry(entry) => entries.push(entry),
                Write::Close(close) => closes.push(close),
                Write::Flush(done) => flushes.push(done),
            }
        }
        // Replays queued before their webhook's first write was done, and repeats within the batch.
        if let Ok(recent) = recent.lock() {
            let mut batch = std::collections::HashSet::new();
            entries
                .retain(|entry| batch.insert(Recent::entry_key(entry)) && !recent.contains(Recent::entry_key(entry)));
            batch.clear();
            closes.retain(|close| batch.insert(Recent::close_key(close)) && !recent.contains(Recent::close_key(close)));
        }
        if !entries.is_empty() {
            match store.append_entries(&entries).await {
                Ok(()) => {
                    if let Ok(mut recent) = recent.lock() {
                        entries
                            .iter()
                            .for_each(|entry| recent.remember(Recent::entry_key(entry)));
                    }
                }
                Err(error) => {
                    metrics::counter!(crate::metrics::STORE_ERRORS, "operation" => "call_log_entry")
                        .increment(entries.len() as u64);
                    tracing::warn!(%error, webhooks = entries.len(), "call log: these webhooks' decisions were not recorded");
                }
            }
        }
        if !closes.is_empty() {
            match store.close_calls(&closes).await {
                Ok(closed) => {
                    if let Ok(mut recent) = recent.lock() {
                        let logged = closes.iter().zip(&closed).filter(|(_, logged)| **logged);
                        logged.for_each(|(close, _)| recent.remember(Recent::close_key(close)));
                    }
                    let logged = closed.iter().filter(|c| **c).count();
                    metrics::counter!(crate::metrics::CALL_LOG_RECORDS).increment(logged as u64);
                    tracing::debug!(closed = logged, asked = closes.len(), "call log: records closed");
                }
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

#[cfg(test)]
mod tests {
    use super::*;

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

    fn entry(sid: &str, webhook: &str) -> CallEntry {
        CallEntry {
            call_sid: sid.to_owned(),
            webhook: webhook.to_owned(),
            started: chrono::DateTime::UNIX_EPOCH,
            summary: vec![("line".to_owned(), "us".to_owned())],
            events: Vec::new(),
            ttl: Duration::from_secs(60),
        }
    }

    #[tokio::test]
    async fn a_webhook_written_lately_is_not_queued_again() {
        let store = Arc::new(crate::store::memory::MemoryStore::new(Default::default()));
        let writer = Writer::new(store);
        for _ in 0..100 {
            writer.append(entry("CA1", "w1"));
        }
        assert!(writer.flush(Duration::from_secs(5)).await);
        assert!(
            writer
                .recent
                .lock()
                .unwrap()
                .contains(Recent::entry_key(&entry("CA1", "w1")))
        );

        writer.append(entry("CA1", "w1"));
        assert_eq!(writer.queue.capacity(), QUEUE, "the replay is not queued");
        writer.append(entry("CA1", "w2"));
        writer.append(entry("CA2", "w1"));
        assert_eq!(writer.queue.capacity(), QUEUE - 2, "another webhook, another call");
    }

    #[tokio::test]
    async fn a_call_logged_lately_is_not_closed_again() {
        let store = Arc::new(crate::store::memory::MemoryStore::new(Default::default()));
        let writer = Writer::new(store);
        let close = |sid: &str| CallClose {
            call_sid: sid.to_owned(),
            status: Some("completed".to_owned()),
            duration_secs: Some(30),
            max_records: 10,
        };
        writer.close(close("CA2")); // no record: not logged, so not remembered
        writer.append(entry("CA1", "w1"));
        assert!(writer.flush(Duration::from_secs(5)).await);
        for _ in 0..10 {
            writer.close(close("CA1"));
        }
        assert!(writer.flush(Duration::from_secs(5)).await);

        writer.close(close("CA1"));
        assert_eq!(writer.queue.capacity(), QUEUE, "the replayed close is not queued");
        assert_eq!(writer.recent.lock().unwrap().seen.len(), 2, "the entry and the close");
    }

    #[test]
    fn the_webhooks_remembered_are_the_latest() {
        let mut recent = Recent::default();
        for n in 0..RECENT + 10 {
            recent.remember(Recent::key("CA1", &n.to_string()));
        }
        assert_eq!((recent.seen.len(), recent.order.len()), (RECENT, RECENT));
        assert!(!recent.contains(Recent::key("CA1", "9")) && recent.contains(Recent::key("CA1", "10")));
    }

    #[test]
    fn dropped_writes_are_logged_once_a_window() {
        let dropped = Dropped::default();
        assert_eq!(dropped.note(), Some(1), "the first drop");
        assert!((0..1000).all(|_| dropped.note().is_none()), "the rest of the window");
        if let Ok(mut state) = dropped.state.lock() {
            state.1 = state.1.and_then(|last| last.checked_sub(DROPPED_LOG_WINDOW));
        }
        assert_eq!(dropped.note(), Some(1001), "the next window says how many");
    }

    #[tokio::test(start_paused = true)]
    async fn a_replayed_hang_up_waits_for_one_close_of_its_call() {
        let store = Arc::new(crate::store::memory::MemoryStore::new(Default::default()));
        let writer = Writer::new(store);
        let close = |sid: &str| CallClose {
            call_sid: sid.to_owned(),
            status: None,
            duration_secs: None,
            max_records: 10,
        };
        for _ in 0..1000 {
            writer.close_later(close("CA1"), Duration::from_secs(300));
        }
        writer.close_later(close("CA2"), Duration::from_secs(300));
        assert_eq!(writer.pending_closes.lock().unwrap().len(), 2);

        tokio::time::sleep(Duration::from_secs(301)).await;

        assert!(writer.pending_closes.lock().unwrap().is_empty());
        writer.close_later(close("CA1"), Duration::from_secs(300));
        assert_eq!(
            writer.pending_closes.lock().unwrap().len(),
            1,
            "a later hang-up may wait again"
        );
    }
}
