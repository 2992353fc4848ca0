//! Metrics: the names and labels we record, the Prometheus recorder that `GET /metrics` renders and the
//! thread that keeps it drained.
//!
//! The recorder is process-wide (the `metrics` facade has one); it is installed on first use, so servers
//! started by tests in one process share it.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Calls that reached a line, by line.
pub(crate) const CALLS_STARTED: &str = "afterhours_calls_started_total";
/// Calls that ended in the flow, by line and outcome (answered, voicemail, the case decision, ...).
pub(crate) const CALLS_ENDED: &str = "afterhours_calls_ended_total";
/// Time to answer a webhook, by step (`incoming`, or the step and event of the URL).
pub(crate) const WEBHOOK_SECONDS: &str = "afterhours_webhook_duration_seconds";
/// Case lookups by outcome (the decision), and their duration.
pub(crate) const CASE_LOOKUPS: &str = "afterhours_case_lookups_total";
pub(crate) const CASE_LOOKUP_SECONDS: &str = "afterhours_case_lookup_duration_seconds";
/// Dials by escalation attempt (1-based) and outcome (`accepted`, `not_accepted`).
pub(crate) const DIALS: &str = "afterhours_dials_total";
/// Store operations that failed (Redis errors and timeouts), by operation.
pub(crate) const STORE_ERRORS: &str = "afterhours_store_errors_total";
/// Calls turned away by the guess limit (the `rate_limit` step), by line.
pub(crate) const RATE_LIMITED: &str = "afterhours_calls_rate_limited_total";
/// Bridges not rung because another call was ringing engineers about the same case, by line.
pub(crate) const BRIDGES_BUSY: &str = "afterhours_bridges_busy_total";
/// Bridges that used the cached on-call chain or the line's fallback numbers, by source.
pub(crate) const ONCALL_FALLBACKS: &str = "afterhours_oncall_fallbacks_total";
/// 1 while the store answers without on-call data it had before (a Redis restarted empty), 0 otherwise.
pub(crate) const ONCALL_DATA_LOST: &str = "afterhours_oncall_data_lost";

/// Client connections closed by the server's limits, by reason: `header_timeout`, `body_timeout`,
/// `idle_timeout`, or `evicted` (closed for a newcomer at the connection cap).
pub(crate) const CONNECTIONS_CLOSED: &str = "afterhours_connections_closed_total";
/// Records closed into the call log (one per call).
pub(crate) const CALL_LOG_RECORDS: &str = "afterhours_call_log_records_total";

/// Case notes queued or being sent (retries included).
pub(crate) const CASE_NOTES_PENDING: &str = "afterhours_case_notes_pending";
/// Case notes that ended, by outcome: `added`, or `lost` (given up: refused, or past their deadline).
pub(crate) const CASE_NOTES: &str = "afterhours_case_notes_total";
/// Missed-call alerts that ended, by target, event (`missed_call`, `voicemail`) and outcome (`accepted`,
/// `failed`).
pub(crate) const ALERTS: &str = "afterhours_alerts_total";

/// Buckets for webhook and lookup latencies: sub-millisecond to the provider's 15 s limit.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// How often the recorder's histograms are drained into their buckets ([`PrometheusHandle::run_upkeep`]):
/// the exporter's own default. Until then, each webhook's time is a sample held in memory.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The name of the thread that runs the upkeep.
const UPKEEP_THREAD: &str = "metrics-upkeep";

/// The process's recorder, installed on first call, with its upkeep thread; `None` if another recorder was
/// installed first.
pub(crate) fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .ok()?;
            let handle = builder.install_recorder().ok()?;
            start_upkeep(handle.clone());
            Some(handle)
        })
        .as_ref()
}

/// A recorder installed this way has no upkeep task of its own (the exporter spawns one only with its own
/// HTTP listener): without one, every histogram sample stays in memory until `/metrics` is next scraped, and
/// a server nobody scrapes grows without end. A thread rather than a task: the recorder is process-wide, and
/// may be installed outside a runtime or in one that ends (tests, commands).
fn start_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name(UPKEEP_THREAD.to_owned())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                handle.run_upkeep();
            }
        });
    if let Err(error) = spawned {
        tracing::error!(%error, "cannot start the metrics' upkeep thread: histograms grow until scraped");
    }
}

/// The metrics in Prometheus text format.
pub(crate) fn render() -> String {
    handle().map(PrometheusHandle::render).unwrap_or_default()
}

/// The label a webhook to `step` (with `event`, if any) is recorded under: `step/event`, or the step alone
/// for an event longer than any of ours, so that made-up URLs cannot multiply the series.
pub(crate) fn step_label(step: &str, event: Option<&str>) -> String {
    match event {
        Some(event) if event.len() <= 16 => format!("{step}/{event}"),
        _ => step.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thread_names() -> Vec<String> {
        std::fs::read_dir("/proc/self/task")
            .map(|tasks| {
                tasks
                    .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
                    .map(|name| name.trim().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn installing_the_recorder_starts_its_upkeep_thread() {
        assert!(handle().is_some(), "no other recorder is installed in these tests");
        // A new thread names itself once it runs.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !thread_names().iter().any(|name| name == UPKEEP_THREAD) {
            assert!(std::time::Instant::now() < deadline, "{:?}", thread_names());
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
