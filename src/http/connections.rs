//! The limits every client connection lives under, as plain state: where a connection is in its
//! request/response cycle ([`Phase`]), the instant by which it must move on ([`Phase::deadline`]), and the
//! set of open connections with its cap ([`Registry`]). No sockets here: the accept loop in
//! `http::listener` feeds these from its I/O, so the rules are unit-tested on their own.
//!
//! The cap never turns a newcomer away. At the cap, the connection that has waited longest on its client
//! (no request, a request head or body still coming) is closed for the newcomer, so slow and silent clients
//! make room for real webhooks, which send a whole request at once and are then being answered. A connection
//! the server is working for is never closed for a newcomer; when every connection is one of those, the
//! accept loop waits until one is answered or gone, and newcomers queue in the kernel's backlog.
//!
//! Also here: a process's open-file limit ([`open_file_limit`]), which the cap must stay under, for `check`
//! and the load driver.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::settings::ServerSettings;

/// How long past the body limit a connection still reading a body is closed without an answer: the body
/// timeout itself answers 408 first; this only catches a handler that stopped reading the body.
const BODY_GRACE: Duration = Duration::from_secs(1);

/// The limits of `[server]`, as durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) header: Duration,
    pub(crate) body: Duration,
    pub(crate) idle: Duration,
    pub(crate) max_connections: usize,
}

impl Limits {
    pub(crate) fn of(server: &ServerSettings) -> Self {
        Self {
            header: Duration::from_secs(server.header_timeout_secs.get()),
            body: Duration::from_secs(server.body_timeout_secs.get()),
            idle: Duration::from_secs(server.idle_timeout_secs.get()),
            max_connections: usize::try_from(server.max_connections.get()).unwrap_or(usize::MAX),
        }
    }
}

/// Where a connection is in its request/response cycle, as far as its limits care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Waiting for a request head: since the connection opened (`answered` false) or since its last answer
    /// went out; `first_byte` once part of the next head has come.
    Waiting {
        since: Instant,
        answered: bool,
        first_byte: Option<Instant>,
    },
    /// A request head came at `since`; its body has not ended.
    Body { since: Instant },
    /// The request has fully come and its answer has not yet gone: the server is working for the client.
    Busy,
}

/// Why a connection was closed by its limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expiry {
    Header,
    Body,
    Idle,
}

impl Expiry {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Expiry::Header => "header_timeout",
            Expiry::Body => "body_timeout",
            Expiry::Idle => "idle_timeout",
        }
    }
}

impl Phase {
    /// The instant the connection is closed at unless it moves on, and why; none while the server works
    /// for it (handlers keep their own deadlines).
    ///
    /// A new connection has the header limit for its whole first head, silence included: a client that
    /// connects and says nothing is a slow client, not an idle one. After an answer, silence is idle
    /// keep-alive (the idle limit) until the next head's first byte, which starts the header limit.
    pub(crate) fn deadline(self, limits: &Limits) -> Option<(Instant, Expiry)> {
        match self {
            Phase::Waiting {
                since, answered: false, ..
            } => Some((since + limits.header, Expiry::Header)),
            Phase::Waiting {
                first_byte: Some(first),
                ..
            } => Some((first + limits.header, Expiry::Header)),
            Phase::Waiting { since, .. } => Some((since + limits.idle, Expiry::Idle)),
            Phase::Body { since } => Some((since + limits.body + BODY_GRACE, Expiry::Body)),
            Phase::Busy => None,
        }
    }

    /// Since when the connection has waited on its client; none while the server works for it.
    pub(crate) fn waiting_since(self) -> Option<Instant> {
        match self {
            Phase::Waiting { since, .. } | Phase::Body { since } => Some(since),
            Phase::Busy => None,
        }
    }
}

/// One open connection: its phase, moved on by its I/O and its requests, and the signals its task waits on.
#[derive(Debug)]
pub(crate) struct Connection {
    phase: Mutex<Phase>,
    /// Told when the phase changes in a way that can bring the deadline closer.
    pub(crate) changed: Notify,
    /// Told when the connection is to close for a newcomer at the cap.
    pub(crate) evicted: Notify,
}

impl Connection {
    pub(crate) fn new(now: Instant) -> Self {
        Self {
            phase: Mutex::new(Phase::Waiting {
                since: now,
                answered: false,
                first_byte: None,
            }),
            changed: Notify::new(),
            evicted: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn phase(&self) -> Phase {
        *self.lock()
    }

    /// Bytes came from the client: while waiting after an answer, the next head has begun.
    pub(crate) fn bytes_came(&self) {
        let mut phase = self.lock();
        if let Phase::Waiting {
            answered: true,
            first_byte: first @ None,
            ..
        } = &mut *phase
        {
            *first = Some(Instant::now());
            drop(phase);
            self.changed.notify_one();
        }
    }

    /// A request head came; `body_ended` when it has no body to wait for.
    pub(crate) fn head_came(&self, now: Instant, body_ended: bool) {
        *self.lock() = if body_ended {
            Phase::Busy
        } else {
            Phase::Body { since: now }
        };
    }

    /// The request's body has fully come.
    pub(crate) fn body_ended(&self) {
        let mut phase = self.lock();
        if matches!(*phase, Phase::Body { .. }) {
            *phase = Phase::Busy;
        }
    }

    /// The answer has gone out: the connection waits for the next request.
    pub(crate) fn answered(&self, now: Instant) {
        *self.lock() = Phase::Waiting {
            since: now,
            answered: true,
            first_byte: None,
        };
        self.changed.notify_one();
    }
}

/// The open connections of both listeners, and their cap.
#[derive(Debug)]
pub(crate) struct Registry {
    max: usize,
    open: Mutex<Open>,
    /// Told when a connection closes or is answered: there may be room now.
    room: Notify,
}

#[derive(Debug, Default)]
struct Open {
    next_id: u64,
    connections: HashMap<u64, Arc<Connection>>,
}

impl Registry {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            open: Mutex::default(),
            room: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().connections.len()
    }

    /// Whether a newcomer can be taken now: under the cap, or a connection waits on its client.
    pub(crate) fn has_room(&self) -> bool {
        let open = self.lock();
        open.connections.len() < self.max || open.connections.values().any(|c| c.phase().waiting_since().is_some())
    }

    /// Returns once a newcomer can be taken; `recheck` bounds each wait, as a phase that leaves `Busy`
    /// without an answer (a closed connection) may not tell.
    pub(crate) async fn wait_for_room(&self, recheck: Duration) {
        loop {
            let notified = self.room.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.has_room() {
                return;
            }
            let _ = tokio::time::timeout(recheck, notified).await;
        }
    }

    /// Tells waiters that there may be room now (a connection was answered).
    pub(crate) fn maybe_room(&self) {
        self.room.notify_waiters();
    }

    /// Takes `connection`; at the cap, first closes the connection that has waited longest on its client.
    /// Returns its id, and whether another was evicted for it.
    pub(crate) fn admit(&self, connection: Arc<Connection>) -> (u64, bool) {
        let mut open = self.lock();
        let evicted = open.connections.len() >= self.max && Self::evict_longest_waiting(&mut open);
        let id = open.next_id;
        open.next_id += 1;
        open.connections.insert(id, connection);
        (id, evicted)
    }

    /// Closes the connection that has waited longest on its client, if one does (to free a descriptor when
    /// accepting fails for the lack of one).
    pub(crate) fn evict_one(&self) -> bool {
        Self::evict_longest_waiting(&mut self.lock())
    }

    fn evict_longest_waiting(open: &mut Open) -> bool {
        let longest = open
            .connections
            .iter()
            .filter_map(|(id, c)| Some((c.phase().waiting_since()?, *id)))
            .min();
        match longest.and_then(|(_, id)| open.connections.remove(&id)) {
            Some(connection) => {
                connection.evicted.notify_one();
                true
            }
            None => false,
        }
    }

    /// The connection `id` has closed.
    pub(crate) fn remove(&self, id: u64) {
        self.lock().connections.remove(&id);
        self.room.notify_waiters();
    }
}

/// Accept errors, logged once per window with the count of those not logged, so that a burst (out of file
/// descriptors) is one line a window instead of one per attempt.
#[derive(Debug)]
pub(crate) struct ErrorLog {
    window: Duration,
    logged_at: Option<Instant>,
    unlogged: u64,
}

impl ErrorLog {
    pub(crate) fn new(window: Duration) -> Self {
        Self {
            window,
            logged_at: None,
            unlogged: 0,
        }
    }

    /// Whether the error at `now` is to be logged, with the count of those not logged since the last one.
    pub(crate) fn should_log(&mut self, now: Instant) -> Option<u64> {
        match self.logged_at {
            Some(at) if now < at + self.window => {
                self.unlogged += 1;
                None
            }
            _ => {
                self.logged_at = Some(now);
                Some(std::mem::take(&mut self.unlogged))
            }
        }
    }
}

/// The soft open-file limit of process `pid` (`self` for this one), from `/proc/PID/limits`; none when it is
/// unlimited, or not Linux.
pub fn open_file_limit(pid: &str) -> Option<u64> {
    soft_open_file_limit(&std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?)
}

/// The soft "Max open files" of a `/proc/PID/limits` text; none when unlimited or absent.
fn soft_open_file_limit(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|line| line.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_open_file_limit_is_read_from_proc_limits() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max processes             95806                95806                processes \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(soft_open_file_limit(limits), Some(1024));
        let unlimited = "Max open files            unlimited            unlimited            files     \n";
        assert_eq!(soft_open_file_limit(unlimited), None);
        assert!(open_file_limit("self").is_some(), "this process's own, on Linux");
    }

    fn limits() -> Limits {
        Limits {
            header: Duration::from_secs(10),
            body: Duration::from_secs(10),
            idle: Duration::from_secs(60),
            max_connections: 3,
        }
    }

    #[test]
    fn a_new_connection_has_the_header_limit_silence_included() {
        let t0 = Instant::now();
        let connection = Connection::new(t0);
        assert_eq!(
            connection.phase().deadline(&limits()),
            Some((t0 + Duration::from_secs(10), Expiry::Header))
        );
        connection.bytes_came();
        assert_eq!(
            connection.phase().deadline(&limits()),
            Some((t0 + Duration::from_secs(10), Expiry::Header)),
            "the first head's limit runs from connecting, not from its first byte"
        );
    }

    #[test]
    fn after_an_answer_silence_is_idle_until_the_next_heads_first_byte() {
        let t0 = Instant::now();
        let connection = Connection::new(t0);
        connection.head_came(t0, false);
        assert_eq!(
            connection.phase().deadline(&limits()),
            Some((t0 + Duration::from_secs(11), Expiry::Body))
        );
        connection.body_ended();
        assert_eq!(connection.phase().deadline(&limits()), None, "the server works for it");
        let answered = t0 + Duration::from_secs(1);
        connection.answered(answered);
        assert_eq!(
            connection.phase().deadline(&limits()),
            Some((answered + Duration::from_secs(60), Expiry::Idle))
        );
        connection.bytes_came();
        let Some((deadline, Expiry::Header)) = connection.phase().deadline(&limits()) else {
            panic!("the next head has the header limit");
        };
        assert!(deadline < answered + Duration::from_secs(60));
    }

    #[test]
    fn at_the_cap_the_connection_that_waited_longest_on_its_client_makes_room() {
        let t0 = Instant::now();
        let registry = Registry::new(3);
        let busy = Arc::new(Connection::new(t0));
        busy.head_came(t0, true);
        let oldest_waiting = Arc::new(Connection::new(t0 + Duration::from_secs(1)));
        let newer_waiting = Arc::new(Connection::new(t0 + Duration::from_secs(2)));
        for connection in [&busy, &oldest_waiting, &newer_waiting] {
            assert!(!registry.admit(Arc::clone(connection)).1);
        }
        assert!(registry.has_room());
        let (_, evicted) = registry.admit(Arc::new(Connection::new(t0 + Duration::from_secs(3))));
        assert!(evicted);
        assert_eq!(registry.len(), 3);
        let evicted_one = |c: &Connection| {
            let notified = c.evicted.notified();
            tokio::pin!(notified);
            notified
                .as_mut()
                .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
                .is_ready()
        };
        use std::future::Future;
        assert!(evicted_one(&oldest_waiting));
        assert!(!evicted_one(&newer_waiting));
        assert!(!evicted_one(&busy));
    }

    #[test]
    fn when_every_connection_is_being_answered_there_is_no_room() {
        let t0 = Instant::now();
        let registry = Registry::new(2);
        for _ in 0..2 {
            let connection = Arc::new(Connection::new(t0));
            connection.head_came(t0, true);
            registry.admit(connection);
        }
        assert!(!registry.has_room());
        assert!(!registry.evict_one());
    }

    #[test]
    fn accept_errors_are_logged_once_a_window_with_the_count_of_the_rest() {
        let t0 = Instant::now();
        let mut log = ErrorLog::new(Duration::from_secs(10));
        assert_eq!(log.should_log(t0), Some(0));
        for s in 1..=4 {
            assert_eq!(log.should_log(t0 + Duration::from_secs(s)), None);
        }
        assert_eq!(log.should_log(t0 + Duration::from_secs(10)), Some(4));
    }
}
