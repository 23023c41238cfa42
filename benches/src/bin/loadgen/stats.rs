//! What a run measures: latency histograms and counters, shared by every task of the run.

use hdrhistogram::Histogram;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Latencies up to a minute, to three significant digits (1 µs resolution at 1 ms, 1 ms at 1 s).
const MAX_NS: u64 = 60_000_000_000;

/// Locks a mutex whose holder may have panicked: a load generator's figures are still worth
/// reporting then, and it must not panic in turn.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A latency histogram in nanoseconds.
pub struct Latency(Histogram<u64>);

impl Latency {
    /// An empty histogram.
    pub fn new() -> anyhow::Result<Self> {
        Ok(Latency(Histogram::new_with_bounds(1, MAX_NS, 3)?))
    }

    /// Records one sample; beyond a minute it counts as a minute.
    pub fn record(&mut self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).clamp(1, MAX_NS);
        self.0.saturating_record(ns);
    }

    /// Adds another histogram's samples.
    pub fn add(&mut self, other: &Latency) {
        // Both have the same bounds, so this cannot fail; a failure would only lose samples.
        let _ = self.0.add(&other.0);
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// The value at quantile `q`, in microseconds (0 when empty).
    pub fn quantile_us(&self, q: f64) -> f64 {
        if self.0.is_empty() { 0.0 } else { self.0.value_at_quantile(q) as f64 / 1000.0 }
    }

    /// The largest sample, in microseconds.
    pub fn max_us(&self) -> f64 {
        self.0.max() as f64 / 1000.0
    }

    /// The figures the report shows, in microseconds.
    pub fn to_json(&self) -> Value {
        let r = |x: f64| (x * 10.0).round() / 10.0;
        json!({
            "count": self.count(),
            "p50_us": r(self.quantile_us(0.50)),
            "p90_us": r(self.quantile_us(0.90)),
            "p99_us": r(self.quantile_us(0.99)),
            "p999_us": r(self.quantile_us(0.999)),
            "max_us": r(self.max_us()),
            "mean_us": r(if self.0.is_empty() { 0.0 } else { self.0.mean() / 1000.0 }),
        })
    }

    /// One line for people: `p50 … p90 … p99 … p99.9 … max …`.
    pub fn line(&self) -> String {
        if self.0.is_empty() {
            return "no samples".into();
        }
        format!(
            "p50 {:>9}  p90 {:>9}  p99 {:>9}  p99.9 {:>9}  max {:>9}  (n={})",
            human(self.quantile_us(0.50)),
            human(self.quantile_us(0.90)),
            human(self.quantile_us(0.99)),
            human(self.quantile_us(0.999)),
            human(self.max_us()),
            self.count()
        )
    }
}

/// Microseconds as `812µs` or `3.41ms` or `1.20s`.
pub fn human(us: f64) -> String {
    if us < 1000.0 {
        format!("{us:.0}µs")
    } else if us < 1_000_000.0 {
        format!("{:.2}ms", us / 1000.0)
    } else {
        format!("{:.2}s", us / 1_000_000.0)
    }
}

/// Everything the load phase measures.
pub struct Stats {
    /// When the load phase started; completion times are kept relative to it.
    pub t0: Instant,
    /// Ingest latency: per event (unary) or per batch (stream). Open loop: from the scheduled
    /// send time, so that a daemon that falls behind is charged for the wait it caused.
    pub ingest: Mutex<Latency>,
    /// Ingest service time: from the moment the request was actually handed to the transport.
    /// Only differs from `ingest` in open loop, where it leaves out the client's own lateness.
    pub service: Mutex<Latency>,
    /// Open loop: how late the pacer handed events over, against their schedule.
    pub lateness: Mutex<Latency>,
    /// Send (scheduled, in open loop) → the new ticket's `ticket_created` on WatchEffects.
    pub to_created: Mutex<Latency>,
    /// Send → the new ticket's `offered` (or `assigned`, for auto channels) on WatchEffects, when
    /// it was offered by the very event that created it.
    pub to_offer: Mutex<Latency>,
    /// Events the daemon answered (accepted, duplicate or refused).
    pub completed: AtomicU64,
    /// Events the daemon accepted.
    pub accepted: AtomicU64,
    /// Events handed to the transport.
    pub sent: AtomicU64,
    /// Answers that were not OK, by gRPC code name (stream rejections included).
    pub errors: Mutex<BTreeMap<&'static str, u64>>,
    /// The first error message of each code, to show what went wrong.
    pub error_samples: Mutex<BTreeMap<&'static str, String>>,
    /// Nanoseconds from `t0` to the last answer.
    pub last_answer_ns: AtomicU64,
    /// Effects received on WatchEffects during the load phase.
    pub effects: AtomicU64,
    /// Effects the daemon dropped for a watcher of this run that fell behind.
    pub lagged: AtomicU64,
}

impl Stats {
    /// Empty figures for a load phase starting at `t0`.
    pub fn new(t0: Instant) -> anyhow::Result<Self> {
        Ok(Stats {
            t0,
            ingest: Mutex::new(Latency::new()?),
            service: Mutex::new(Latency::new()?),
            lateness: Mutex::new(Latency::new()?),
            to_created: Mutex::new(Latency::new()?),
            to_offer: Mutex::new(Latency::new()?),
            completed: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            errors: Mutex::new(BTreeMap::new()),
            error_samples: Mutex::new(BTreeMap::new()),
            last_answer_ns: AtomicU64::new(0),
            effects: AtomicU64::new(0),
            lagged: AtomicU64::new(0),
        })
    }

    /// Notes that `n` events were answered at `at`.
    pub fn answered(&self, n: u64, at: Instant) {
        self.completed.fetch_add(n, Ordering::Relaxed);
        let ns = u64::try_from(at.saturating_duration_since(self.t0).as_nanos()).unwrap_or(u64::MAX);
        self.last_answer_ns.fetch_max(ns, Ordering::Relaxed);
    }

    /// Counts `n` answers with a non-OK code.
    pub fn error(&self, code: tonic::Code, n: u64, message: &str) {
        let name = switchboard_proto::code_name(code);
        *lock(&self.errors).entry(name).or_insert(0) += n;
        lock(&self.error_samples).entry(name).or_insert_with(|| message.chars().take(200).collect());
    }

    /// Answers that were not OK.
    pub fn error_total(&self) -> u64 {
        lock(&self.errors).values().sum()
    }
}
