//! The `replay` phase: one signed call replayed at full speed, as whoever captured its webhooks could (the
//! provider's signature carries no time). Its incoming webhook is sent again and again for
//! `--replay-seconds`, then its incoming webhook and its final status callback in turn for a sixth of that.
//! Against the embedded store (`--embedded`) and against Redis, it reports the webhooks answered per second,
//! the server's resident memory before and after, the call's working record in Redis (entries, hash fields,
//! `MEMORY USAGE`) and the call-log records the call got (the server's `afterhours_call_log_records_total`):
//! there must be exactly one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::phases::{closed_loop, metric_sum, wait_until_idle};
use crate::process;
use crate::provider::{self, Provider};
use crate::stats::Recorder;

/// One server to replay against.
pub(crate) struct Target {
    pub(crate) store: &'static str,
    pub(crate) provider: Provider,
    /// Its operators' listener, for `/metrics`.
    pub(crate) ops: String,
    pub(crate) pid: u32,
    /// Its Redis and key prefix, to read the call's working record.
    pub(crate) redis: Option<(String, String)>,
}

pub(crate) struct Replayed {
    store: &'static str,
    seconds: f64,
    /// Webhooks answered while the incoming webhook alone was replayed.
    incoming: u64,
    /// Webhooks answered while the incoming webhook and the status callback were replayed in turn.
    pairs: u64,
    rss_before_kib: u64,
    rss_after_incoming_kib: u64,
    rss_after_kib: u64,
    /// The highest RSS sampled (every 10 ms) while the webhooks were replayed.
    rss_highest_kib: u64,
    /// The call's working record in Redis after the incoming replays, before it was closed.
    working: Option<Working>,
    /// Call-log records closed meanwhile (this call's: nothing else runs).
    records: Option<f64>,
    pub(crate) recorder: Recorder,
}

struct Working {
    entries: u64,
    webhooks: u64,
    bytes: u64,
}

const RECORDS: &str = "afterhours_call_log_records_total";

/// Replays one call against `target` (see the module's comment); the target must be idle.
pub(crate) async fn phase(target: &Target, client: &reqwest::Client, connections: usize, seconds: f64) -> Replayed {
    let sid = provider::call_sid();
    let from = "+15550000001";
    let incoming = Arc::new(provider::caller_fields(&sid, from, "ringing"));
    let mut status = provider::caller_fields(&sid, from, "completed");
    status.push(("CallDuration".to_owned(), "30".to_owned()));
    let status = Arc::new(status);
    let urls = Arc::new((
        target.provider.url("/voice/incoming"),
        target.provider.url("/voice/status"),
    ));
    let records_before = metric_sum(client, &target.ops, RECORDS).await.unwrap_or(0.0);
    let rss = || process::memory(target.pid).map_or(0, |m| m.rss_kib);
    let rss_before_kib = rss();
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (sampling, pid) = (sampling.clone(), target.pid);
        tokio::spawn(async move {
            let mut highest = 0;
            while sampling.load(Ordering::Relaxed) {
                highest = process::memory(pid).map_or(highest, |m| highest.max(m.rss_kib));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            highest
        })
    };

    let duration = Duration::from_secs_f64(seconds.max(0.5));
    let (provider, webhook, url) = (target.provider.clone(), incoming.clone(), urls.clone());
    let (_, mut recorder, took) = closed_loop(connections, duration, move |_, mut recorder| {
        let (provider, webhook, url) = (provider.clone(), webhook.clone(), url.clone());
        async move {
            if let Err(failure) = provider.post(&url.0, &webhook, "incoming", &mut recorder).await {
                recorder.error(&failure.kind(), || failure.detail());
            }
            recorder
        }
    })
    .await;
    let incoming_count = recorder.requests;
    // The call log's writer has caught up once the server is idle.
    wait_until_idle(client, &target.ops, target.pid).await;
    let rss_after_incoming_kib = rss();
    let working = match &target.redis {
        Some((url, prefix)) => match working_record(url, prefix, &sid).await {
            Ok(working) => Some(working),
            Err(error) => {
                recorder.error("reading the call's working record", || error);
                None
            }
        },
        None => None,
    };

    let (provider, webhooks) = (target.provider.clone(), (incoming, status));
    let webhooks = Arc::new(webhooks);
    let (_, pairs, _) = closed_loop(connections, duration / 6, move |_, mut recorder| {
        let (provider, webhooks, urls) = (provider.clone(), webhooks.clone(), urls.clone());
        async move {
            for (url, fields, label) in [(&urls.0, &webhooks.0, "incoming"), (&urls.1, &webhooks.1, "status")] {
                if let Err(failure) = provider.post(url, fields, label, &mut recorder).await {
                    recorder.error(&failure.kind(), || failure.detail());
                }
            }
            recorder
        }
    })
    .await;
    let pairs_count = pairs.requests;
    recorder.merge(pairs);
    sampling.store(false, Ordering::Relaxed);
    let rss_highest_kib = sampler.await.unwrap_or(0);
    wait_until_idle(client, &target.ops, target.pid).await;
    let rss_after_kib = rss();
    let records = metric_sum(client, &target.ops, RECORDS)
        .await
        .map(|after| after - records_before);
    if records != Some(1.0) {
        recorder.error("call-log records of the replayed call", || {
            format!("{records:?} records, not one")
        });
    }
    Replayed {
        store: target.store,
        seconds: took.as_secs_f64(),
        incoming: incoming_count,
        pairs: pairs_count,
        rss_before_kib,
        rss_after_incoming_kib,
        rss_after_kib,
        rss_highest_kib,
        working,
        records,
        recorder,
    }
}

/// The call's working record in Redis: its entries list's length, its webhooks hash's fields, and the bytes
/// Redis says both take (`MEMORY USAGE`).
async fn working_record(url: &str, prefix: &str, sid: &str) -> Result<Working, String> {
    let client = redis::Client::open(url).map_err(|e| format!("Redis at {url}: {e}"))?;
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| format!("Redis at {url}: {e}"))?;
    let (entries, webhooks) = (
        format!("{prefix}call:{{{sid}}}:entries"),
        format!("{prefix}call:{{{sid}}}:webhooks"),
    );
    let (length, fields, entries_bytes, webhooks_bytes): (u64, u64, Option<u64>, Option<u64>) = redis::pipe()
        .llen(&entries)
        .hlen(&webhooks)
        .cmd("MEMORY")
        .arg("USAGE")
        .arg(&entries)
        .cmd("MEMORY")
        .arg("USAGE")
        .arg(&webhooks)
        .query_async(&mut connection)
        .await
        .map_err(|e| format!("Redis: {e}"))?;
    Ok(Working {
        entries: length,
        webhooks: fields,
        bytes: entries_bytes.unwrap_or(0) + webhooks_bytes.unwrap_or(0),
    })
}

pub(crate) fn print(connections: usize, seconds: f64, replayed: &[Replayed]) {
    println!("### Replay: one signed call replayed at full speed, {connections} connections");
    println!();
    println!(
        "Its incoming webhook for {seconds:.0} s, then its incoming webhook and final status callback in turn for \
         {:.0} s. RSS is the server's resident memory: after it went idle, and the highest sampled (every 10 ms) \
         while the webhooks came; the working record is read after the incoming replays, before the close.",
        seconds / 6.0
    );
    println!();
    println!(
        "| store | incoming webhooks | webhooks/s | then pairs (webhooks) | RSS before | highest while replayed | after the incoming | after the pairs | RSS change, at most | the call's working record in Redis | call-log records | errors |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|");
    for r in replayed {
        // The change: the most the server held at any point of the replay, over what it held before.
        let most = r.rss_highest_kib.max(r.rss_after_incoming_kib).max(r.rss_after_kib);
        let change = most as f64 - r.rss_before_kib as f64;
        let working = r.working.as_ref().map_or("-".to_owned(), |w| {
            format!(
                "{} entries, {} hash fields, {:.1} KiB",
                w.entries,
                w.webhooks,
                w.bytes as f64 / 1024.0
            )
        });
        println!(
            "| {} | {} | {:.0} | {} | {} MiB | {} MiB | {} MiB | {} MiB | {:+.1} MiB | {working} | {} | {} |",
            r.store,
            r.incoming,
            r.incoming as f64 / r.seconds.max(1e-9),
            r.pairs,
            process::mib(r.rss_before_kib),
            process::mib(r.rss_highest_kib),
            process::mib(r.rss_after_incoming_kib),
            process::mib(r.rss_after_kib),
            change / 1024.0,
            r.records.map_or("-".to_owned(), |n| format!("{n:.0}")),
            r.recorder.error_count(),
        );
    }
    println!();
}
