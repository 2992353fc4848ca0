//! Latencies and errors as the driver records them: each task keeps its own samples (no shared lock on the
//! hot path) and they are merged at the end of a phase.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::webhook::Webhook;

/// Latency samples in microseconds, by webhook label, and the errors seen.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    pub(crate) latencies: BTreeMap<String, Vec<u32>>,
    pub(crate) errors: BTreeMap<String, Errors>,
    pub(crate) requests: u64,
    /// When set, every webhook posted is kept here.
    pub(crate) capture: Option<Vec<Webhook>>,
    /// When set, when each webhook was sent and its label.
    pub(crate) sent: Option<Vec<(Instant, String)>>,
}

/// Errors of one kind: how many, and the first one in full.
#[derive(Debug, Default, Clone)]
pub(crate) struct Errors {
    pub(crate) count: u64,
    pub(crate) example: String,
}

impl Recorder {
    pub(crate) fn record(&mut self, label: &str, took: Duration) {
        self.requests += 1;
        let micros = u32::try_from(took.as_micros()).unwrap_or(u32::MAX);
        match self.latencies.get_mut(label) {
            Some(samples) => samples.push(micros),
            None => {
                self.latencies.insert(label.to_owned(), vec![micros]);
            }
        }
    }

    pub(crate) fn error(&mut self, kind: &str, example: impl FnOnce() -> String) {
        let entry = self.errors.entry(kind.to_owned()).or_default();
        if entry.count == 0 {
            entry.example = example();
        }
        entry.count += 1;
    }

    pub(crate) fn merge(&mut self, other: Recorder) {
        self.requests += other.requests;
        if let Some(sent) = other.sent {
            self.sent.get_or_insert_with(Vec::new).extend(sent);
        }
        for (label, samples) in other.latencies {
            self.latencies.entry(label).or_default().extend(samples);
        }
        for (kind, errors) in other.errors {
            let entry = self.errors.entry(kind).or_default();
            if entry.count == 0 {
                entry.example = errors.example;
            }
            entry.count += errors.count;
        }
    }

    pub(crate) fn error_count(&self) -> u64 {
        self.errors.values().map(|e| e.count).sum()
    }
}

/// p50, p99 and p99.9 of one set of samples, in microseconds.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Percentiles {
    pub(crate) count: usize,
    pub(crate) p50: u32,
    pub(crate) p99: u32,
    pub(crate) p999: u32,
}

impl Percentiles {
    pub(crate) fn of(samples: &mut [u32]) -> Self {
        samples.sort_unstable();
        // Nearest rank: the smallest sample at or above the fraction of all samples.
        let at = |fraction: f64| -> u32 {
            if samples.is_empty() {
                return 0;
            }
            let rank = (fraction * samples.len() as f64).ceil() as usize;
            samples[rank.clamp(1, samples.len()) - 1]
        };
        Self {
            count: samples.len(),
            p50: at(0.50),
            p99: at(0.99),
            p999: at(0.999),
        }
    }
}

/// Microseconds as milliseconds with two decimals.
pub(crate) fn ms(micros: u32) -> String {
    format!("{:.2}", f64::from(micros) / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut samples: Vec<u32> = (1..=1000).rev().collect();
        let p = Percentiles::of(&mut samples);
        assert_eq!((p.count, p.p50, p.p99, p.p999), (1000, 500, 990, 999));
    }

    #[test]
    fn merging_keeps_the_first_example_and_adds_counts() {
        let mut a = Recorder::default();
        a.error("status 500", || "first".into());
        let mut b = Recorder::default();
        b.error("status 500", || "second".into());
        b.record("incoming", Duration::from_micros(7));
        a.merge(b);
        assert_eq!(a.errors["status 500"].count, 2);
        assert_eq!(a.errors["status 500"].example, "first");
        assert_eq!(a.latencies["incoming"], vec![7]);
    }
}
