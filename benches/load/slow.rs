//! The `slow` phase: slow clients hold the webhook listener while real calls come. `--slow-clients` sockets
//! are opened against it (more than the server's `max_connections`): half send a request head byte by byte
//! and never finish it, half send one request and then stay silent on the kept-alive connection. A slow
//! client the server closes opens again after a pause while the real calls run (an attacker dials again).
//! Meanwhile complete signed calls start at `--slow-rate` per second for `--slow-seconds`, each webhook on a
//! connection of its own (as a provider that keeps no connection alive sends them, and the most a cap can be
//! asked for). Then the slow clients left are watched, without reopening, for `--slow-linger-seconds` or
//! until the server has closed them all.
//!
//! It reports the slow connections the server closed and after how long, its closes by reason (the server's
//! `afterhours_connections_closed_total`), the real webhooks' answers (every one must be a 200) and latency,
//! and the server's open file descriptors and resident memory (from `/proc`), with both processes'
//! open-file limits.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use afterhours::http::connections::open_file_limit;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::RunArgs;
use crate::phases::call_failed;
use crate::process;
use crate::provider::{self, Provider};
use crate::stats::{Percentiles, Recorder, ms};

/// How a slow client wastes the server's connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Kind {
    /// Sends a request head a byte at a time and never ends it.
    PartialHead,
    /// Sends one whole request, reads its answer, then stays silent on the kept-alive connection.
    IdleKeepAlive,
}

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Kind::PartialHead => "a request head, a byte a second, never ended",
            Kind::IdleKeepAlive => "one request, then silent on the kept-alive connection",
        }
    }
}

/// How long a partial head's client waits between two bytes.
const DRIP: Duration = Duration::from_secs(1);
/// How long a slow client the server closed waits before it opens again (while the real calls run).
const REOPEN_AFTER: Duration = Duration::from_secs(1);
/// Descriptors the driver keeps for itself besides the slow clients: the real calls' connections, its HTTP
/// client's, Redis, `/proc`.
const DRIVER_RESERVE: u64 = 256;
/// The server's file descriptors and memory are sampled this often.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);
/// The server's closes, by reason.
const CLOSED: &str = "afterhours_connections_closed_total";

/// One slow connection's fate.
#[derive(Debug, Default)]
struct Fates {
    /// Connections opened: those the server closed and those still open.
    opened: u64,
    /// How long each connection the server closed had been open (µs).
    closed_after: Vec<u32>,
    /// Still open when the driver let them go.
    still_open: u64,
    /// Connections the driver could not open, and the first error.
    failed: u64,
    first_failure: Option<String>,
}

impl Fates {
    fn merge(&mut self, other: Fates) {
        self.opened += other.opened;
        self.closed_after.extend(other.closed_after);
        self.still_open += other.still_open;
        self.failed += other.failed;
        if self.first_failure.is_none() {
            self.first_failure = other.first_failure;
        }
    }
}

pub(crate) struct Slow {
    clients: u64,
    /// Fewer than asked when the driver's own open-file limit does not allow them.
    asked: u64,
    rate: f64,
    seconds: f64,
    linger: f64,
    fates: BTreeMap<Kind, Fates>,
    /// The server's closes during the phase, by reason.
    closed_by_reason: BTreeMap<String, f64>,
    calls: u64,
    pub(crate) recorder: Recorder,
    fds_most: u64,
    fds_after: u64,
    rss_most_kib: u64,
    server_nofile: Option<u64>,
    driver_nofile: Option<u64>,
    took: Duration,
}

/// Runs the phase against `provider`'s server (see the module's comment); the server must be idle.
pub(crate) async fn phase(provider: &Provider, client: &reqwest::Client, args: &RunArgs) -> Result<Slow, String> {
    let address = socket_address(&args.server)?;
    let driver_nofile = open_file_limit("self");
    let asked = args.slow_clients;
    let clients = match driver_nofile {
        Some(limit) => asked.min(limit.saturating_sub(DRIVER_RESERVE)),
        None => asked,
    };
    if clients < asked {
        eprintln!(
            "slow: the driver may open {} files (ulimit -n): {clients} slow clients, not {asked}",
            driver_nofile.unwrap_or(0)
        );
    }
    let closed_before = metric_by_reason(client, &args.ops).await;
    let started = Instant::now();

    let sampling = CancellationToken::new();
    let sampler = tokio::spawn(sample(args.server_pid, sampling.clone()));

    // The slow clients, half of each kind, opened over a second.
    let reopening = Arc::new(AtomicBool::new(true));
    let stop = CancellationToken::new();
    let open = Arc::new(AtomicU64::new(0));
    let mut slow = JoinSet::new();
    for n in 0..clients {
        let kind = if n % 2 == 0 {
            Kind::PartialHead
        } else {
            Kind::IdleKeepAlive
        };
        let start_at = started + Duration::from_secs(1).mul_f64(n as f64 / clients.max(1) as f64);
        let (reopening, stop, open) = (reopening.clone(), stop.clone(), open.clone());
        slow.spawn(async move {
            tokio::time::sleep_until(start_at.into()).await;
            (kind, slow_client(address, kind, &reopening, &stop, &open).await)
        });
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    // The real calls, at a steady rate, each webhook on a connection of its own.
    let fresh_connections = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(20))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let real = provider.with_client(fresh_connections);
    let interval = Duration::from_secs_f64(1.0 / args.slow_rate.max(0.1));
    let calls_from = Instant::now();
    let end = calls_from + Duration::from_secs_f64(args.slow_seconds.max(0.5));
    let mut calls = JoinSet::new();
    let mut at = calls_from;
    let mut placed = 0;
    while at < end {
        tokio::time::sleep_until(at.into()).await;
        let real = real.clone();
        let index = 6_000_000 + placed;
        calls.spawn(async move {
            let mut recorder = Recorder::default();
            let result = provider::place_call(&real, index, Duration::ZERO, &mut recorder).await;
            call_failed(&mut recorder, result);
            recorder
        });
        placed += 1;
        at += interval;
    }
    let mut recorder = Recorder::default();
    while let Some(done) = calls.join_next().await {
        match done {
            Ok(r) => recorder.merge(r),
            Err(error) => recorder.error("driver task failed", || error.to_string()),
        }
    }

    // The slow clients left, watched without reopening until the server has closed them or the linger ends.
    reopening.store(false, Ordering::Relaxed);
    let linger_end = Instant::now() + Duration::from_secs_f64(args.slow_linger_seconds.max(0.0));
    while Instant::now() < linger_end && open.load(Ordering::Relaxed) > 0 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (fds_most, rss_most_kib) = {
        sampling.cancel();
        sampler.await.unwrap_or((0, 0))
    };
    stop.cancel();
    let mut fates: BTreeMap<Kind, Fates> = BTreeMap::new();
    while let Some(done) = slow.join_next().await {
        if let Ok((kind, f)) = done {
            fates.entry(kind).or_default().merge(f);
        }
    }
    let took = started.elapsed();
    // The server closes the connections the driver let go; their descriptors are counted once it has.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let closed_after = metric_by_reason(client, &args.ops).await;
    let closed_by_reason = closed_after
        .iter()
        .map(|(reason, after)| {
            let before = closed_before.get(reason).copied().unwrap_or(0.0);
            (reason.clone(), after - before)
        })
        .collect();
    Ok(Slow {
        clients,
        asked,
        rate: args.slow_rate,
        seconds: args.slow_seconds,
        linger: args.slow_linger_seconds,
        fates,
        closed_by_reason,
        calls: placed,
        recorder,
        fds_most,
        fds_after: open_fds(args.server_pid).unwrap_or(0),
        rss_most_kib,
        server_nofile: open_file_limit(&args.server_pid.to_string()),
        driver_nofile,
        took,
    })
}

/// One slot of slow clients: opens a connection of its kind and holds it until the server closes it; while
/// `reopening`, opens another after a pause. Ends at `stop`, counting the one it holds as still open.
async fn slow_client(
    address: std::net::SocketAddr,
    kind: Kind,
    reopening: &AtomicBool,
    stop: &CancellationToken,
    open: &AtomicU64,
) -> Fates {
    let mut fates = Fates::default();
    loop {
        let opened = Instant::now();
        let connected = AtomicBool::new(false);
        let held = tokio::select! {
            () = stop.cancelled() => {
                if connected.load(Ordering::Relaxed) {
                    fates.opened += 1;
                    fates.still_open += 1;
                }
                return fates;
            }
            held = hold(address, kind, (open, &connected)) => held,
        };
        match held {
            Held::Closed => {
                fates.opened += 1;
                let after = u32::try_from(opened.elapsed().as_micros()).unwrap_or(u32::MAX);
                fates.closed_after.push(after);
            }
            Held::NotOpened(error) => {
                fates.failed += 1;
                fates.first_failure.get_or_insert(error);
            }
        }
        if !reopening.load(Ordering::Relaxed) {
            break;
        }
        tokio::select! {
            () = stop.cancelled() => return fates,
            () = tokio::time::sleep(REOPEN_AFTER) => {}
        }
    }
    // Not reopening: wait for the stop, holding nothing.
    stop.cancelled().await;
    fates
}

enum Held {
    /// The server closed the connection.
    Closed,
    NotOpened(String),
}

/// Opens one slow connection (setting `connected`) and holds it until the server closes it; `open` counts
/// it meanwhile.
async fn hold(address: std::net::SocketAddr, kind: Kind, (open, connected): (&AtomicU64, &AtomicBool)) -> Held {
    let mut stream = match TcpStream::connect(address).await {
        Ok(stream) => stream,
        Err(error) => return Held::NotOpened(error.to_string()),
    };
    connected.store(true, Ordering::Relaxed);
    let _open = Open::new(open);
    let mut buffer = [0_u8; 1024];
    match kind {
        Kind::IdleKeepAlive => {
            let request = format!("GET /healthz HTTP/1.1\r\nHost: {address}\r\n\r\n");
            if stream.write_all(request.as_bytes()).await.is_err() {
                return Held::Closed;
            }
            // Its answer, then silence: any later read ends when the server closes the connection.
            loop {
                match stream.read(&mut buffer).await {
                    Ok(0) | Err(_) => return Held::Closed,
                    Ok(_) => {}
                }
            }
        }
        Kind::PartialHead => {
            let head = format!("POST /voice/incoming HTTP/1.1\r\nHost: {address}\r\nX-Slow: ");
            let mut bytes = head.into_bytes().into_iter().chain(std::iter::repeat(b'a'));
            let mut drip = tokio::time::interval(DRIP);
            loop {
                tokio::select! {
                    read = stream.read(&mut buffer) => match read {
                        Ok(0) | Err(_) => return Held::Closed,
                        // A 408 or 400 before the close: read on until the close itself.
                        Ok(_) => {}
                    },
                    _ = drip.tick() => {
                        let byte = bytes.next().unwrap_or(b'a');
                        if stream.write_all(&[byte]).await.is_err() {
                            return Held::Closed;
                        }
                    }
                }
            }
        }
    }
}

/// Counts a slow connection as open while it lives.
struct Open<'a>(&'a AtomicU64);

impl<'a> Open<'a> {
    fn new(open: &'a AtomicU64) -> Self {
        open.fetch_add(1, Ordering::Relaxed);
        Self(open)
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The most open file descriptors and the highest resident memory of the server, sampled until cancelled.
async fn sample(pid: u32, until: CancellationToken) -> (u64, u64) {
    let (mut fds, mut rss) = (0, 0);
    while !until.is_cancelled() {
        fds = fds.max(open_fds(pid).unwrap_or(0));
        rss = rss.max(process::memory(pid).map_or(0, |m| m.rss_kib));
        tokio::select! {
            () = until.cancelled() => {}
            () = tokio::time::sleep(SAMPLE_EVERY) => {}
        }
    }
    (fds, rss)
}

/// The process's open file descriptors (`/proc/PID/fd`).
fn open_fds(pid: u32) -> Option<u64> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64)
}

/// Where the listener of a URL such as `http://127.0.0.1:8080` is.
fn socket_address(url: &str) -> Result<std::net::SocketAddr, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("{url}: {e}"))?;
    let addresses = parsed.socket_addrs(|| Some(80)).map_err(|e| format!("{url}: {e}"))?;
    addresses.first().copied().ok_or_else(|| format!("{url}: no address"))
}

/// The server's closes by reason (`afterhours_connections_closed_total{reason="…"}` on its `/metrics`).
async fn metric_by_reason(client: &reqwest::Client, ops: &str) -> BTreeMap<String, f64> {
    let Ok(response) = client.get(format!("{ops}/metrics")).send().await else {
        return BTreeMap::new();
    };
    let text = response.text().await.unwrap_or_default();
    parse_by_reason(&text)
}

fn parse_by_reason(metrics: &str) -> BTreeMap<String, f64> {
    metrics
        .lines()
        .filter(|line| line.starts_with(CLOSED))
        .filter_map(|line| {
            let reason = line.split("reason=\"").nth(1)?.split('"').next()?;
            let value = line.rsplit(' ').next()?.parse().ok()?;
            Some((reason.to_owned(), value))
        })
        .collect()
}

/// The phase's section of the report.
pub(crate) fn print(slow: &Slow) {
    println!(
        "### Slow clients: {} held against the webhook listener, calls at {:.0}/s for {:.0} s",
        slow.clients, slow.rate, slow.seconds
    );
    println!();
    if slow.clients < slow.asked {
        println!(
            "{} slow clients, not the {} asked for: the driver may open {} files (`ulimit -n`).",
            slow.clients,
            slow.asked,
            slow.driver_nofile.unwrap_or(0)
        );
        println!();
    }
    println!(
        "Half the slow clients send {}; half send {}. One the server closes opens again {} s later while the \
         calls run; then those left are watched for up to {:.0} s. The phase took {:.0} s.",
        Kind::PartialHead.describe(),
        Kind::IdleKeepAlive.describe(),
        REOPEN_AFTER.as_secs(),
        slow.linger,
        slow.took.as_secs_f64()
    );
    println!();
    println!(
        "| slow clients | connections opened | closed by the server | open for, p50 s | p99 s | longest s | still open at the end | could not open |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (kind, fates) in &slow.fates {
        let mut after = fates.closed_after.clone();
        let p = Percentiles::of(&mut after);
        let longest = after.last().copied().unwrap_or(0);
        let seconds = |micros: u32| format!("{:.1}", f64::from(micros) / 1e6);
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            kind.describe(),
            fates.opened,
            fates.closed_after.len(),
            seconds(p.p50),
            seconds(p.p99),
            seconds(longest),
            fates.still_open,
            fates.failed,
        );
    }
    println!();
    let reasons: Vec<String> = slow
        .closed_by_reason
        .iter()
        .map(|(reason, count)| format!("{reason} {count:.0}"))
        .collect();
    println!(
        "The server's closes by its limits (`{CLOSED}`): {}.",
        if reasons.is_empty() {
            "none".to_owned()
        } else {
            reasons.join(", ")
        }
    );
    if let Some(first) = slow.fates.values().find_map(|f| f.first_failure.as_ref()) {
        println!();
        println!("A slow client could not open: {first}");
    }
    println!();

    let mut all: Vec<u32> = slow.recorder.latencies.values().flatten().copied().collect();
    let p = Percentiles::of(&mut all);
    let failed_answers: u64 = slow
        .recorder
        .errors
        .iter()
        .filter(|(kind, _)| kind.starts_with("HTTP ") || kind.starts_with("transport"))
        .map(|(_, e)| e.count)
        .sum();
    let sent = slow.recorder.requests
        + slow
            .recorder
            .errors
            .iter()
            .filter(|(kind, _)| kind.starts_with("transport"))
            .map(|(_, e)| e.count)
            .sum::<u64>();
    let ok = sent.saturating_sub(failed_answers);
    println!("| real calls | webhooks sent | answered 200 | success | p50 ms | p99 ms | errors |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {} | {sent} | {ok} | {:.1} % | {} | {} | {} |",
        slow.calls,
        100.0 * ok as f64 / sent.max(1) as f64,
        ms(p.p50),
        ms(p.p99),
        slow.recorder.error_count()
    );
    println!();
    let limit = |l: Option<u64>| l.map_or("-".to_owned(), |l| l.to_string());
    println!(
        "| server open files, most | after | server RSS, most | server open-file limit | driver open-file limit |"
    );
    println!("|---:|---:|---:|---:|---:|");
    println!(
        "| {} | {} | {} MiB | {} | {} |",
        slow.fds_most,
        slow.fds_after,
        process::mib(slow.rss_most_kib),
        limit(slow.server_nofile),
        limit(slow.driver_nofile)
    );
    println!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_closes_by_reason() {
        let metrics = "# TYPE afterhours_connections_closed_total counter\n\
                       afterhours_connections_closed_total{reason=\"evicted\"} 12\n\
                       afterhours_connections_closed_total{reason=\"header_timeout\"} 3\n\
                       afterhours_calls_total{line=\"us\"} 4\n";
        let by_reason = parse_by_reason(metrics);
        assert_eq!(by_reason.len(), 2);
        assert_eq!(by_reason["evicted"], 12.0);
        assert_eq!(by_reason["header_timeout"], 3.0);
    }

    #[test]
    fn finds_the_listener_of_a_url() {
        assert_eq!(
            socket_address("http://127.0.0.1:8080").unwrap(),
            "127.0.0.1:8080".parse().unwrap()
        );
    }
}
