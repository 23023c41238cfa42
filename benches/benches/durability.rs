//! Durability figures: ingest throughput through the runtime under each fsync policy, and recovery
//! time for a million logged events (from the log alone, and from a snapshot).
//!
//!     cargo bench -p switchboard-benches --bench durability
//!
//! Environment: `SWITCHBOARD_BENCH_EVENTS` (default 1,000,000) events for the recovery figure,
//! `SWITCHBOARD_BENCH_DIR` (default `target/bench-data`) for the data directories (use a real disk:
//! a tmpfs makes fsync free).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use switchboard_core::{Config, Event, Millis};
use switchboard_runtime::store::{FsyncPolicy, StoreOptions};
use switchboard_runtime::{Options, Runtime};
use switchboard_sim::SimParams;

/// Events in flight at once: a realistic number of concurrent clients.
const WINDOW: usize = 256;

fn main() {
    let total: usize =
        std::env::var("SWITCHBOARD_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let root =
        PathBuf::from(std::env::var("SWITCHBOARD_BENCH_DIR").unwrap_or_else(|_| "target/bench-data".into()));
    let started = Instant::now();
    let params =
        SimParams { accounts: 8, agents_per_account: 50, arrivals_per_minute: 20.0, ..SimParams::default() };
    let events = switchboard_benches::events(params, total);
    eprintln!("generated {} events in {:.1?}", events.len(), started.elapsed());
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio");
    println!("| fsync | events | seconds | events/s | p50 commit ms | p99 commit ms |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for (name, policy, n) in [
        ("never", FsyncPolicy::Never, total.min(500_000)),
        ("interval (10 ms)", FsyncPolicy::Interval(Duration::from_millis(10)), total.min(500_000)),
        ("always", FsyncPolicy::Always, total.min(200_000)),
    ] {
        let dir = fresh(&root.join(format!("ingest-{}", name.split(' ').next().unwrap_or(name))));
        let runtime = start(&dir, policy, u64::MAX);
        let (took, _) = rt.block_on(ingest(&runtime, &events[..n]));
        let h = runtime.metrics().wal_commit.clone();
        let (p50, p99) = quantiles(&h);
        runtime.shutdown();
        println!(
            "| {name} | {n} | {:.2} | {:.0} | {p50:.3} | {p99:.3} |",
            took.as_secs_f64(),
            n as f64 / took.as_secs_f64()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    // Recovery: log everything, copy the directory as a crash would leave it, recover from it.
    let dir = fresh(&root.join("recovery"));
    let runtime = start(&dir, FsyncPolicy::Never, u64::MAX);
    let (took, _) = rt.block_on(ingest(&runtime, &events));
    eprintln!("logged {} events in {:.1?}", events.len(), took);
    let image = fresh(&root.join("recovery-image"));
    copy_dir(&dir, &image);
    runtime.shutdown(); // writes a final snapshot into `dir`
    println!();
    println!("| recovery of {} events | seconds | events/s |", events.len());
    println!("| --- | ---: | ---: |");
    let t = Instant::now();
    let recovered = start(&image, FsyncPolicy::Never, u64::MAX);
    let from_log = t.elapsed();
    assert_eq!(recovered.metrics().recovery_replayed.get() as usize, events.len());
    recovered.shutdown();
    println!(
        "| from the log alone (crash, no snapshot) | {:.2} | {:.0} |",
        from_log.as_secs_f64(),
        events.len() as f64 / from_log.as_secs_f64()
    );
    let t = Instant::now();
    let recovered = start(&dir, FsyncPolicy::Never, u64::MAX);
    let from_snapshot = t.elapsed();
    assert_eq!(recovered.metrics().recovery_replayed.get(), 0);
    recovered.shutdown();
    println!("| from the shutdown snapshot | {:.2} | - |", from_snapshot.as_secs_f64());
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&image);
}

fn start(dir: &Path, fsync: FsyncPolicy, snapshot_every_events: u64) -> Runtime {
    let store = StoreOptions {
        fsync,
        snapshot_every_events,
        snapshot_every: Duration::from_secs(86_400),
        ..StoreOptions::new(dir)
    };
    let options =
        Options { shards: 2, store: Some(store), max_future_skew_ms: u64::MAX / 4, ..Options::default() };
    Runtime::start(Config::default(), options).expect("runtime starts")
}

/// Submits every event with `WINDOW` in flight; returns the time taken and the refusals.
async fn ingest(runtime: &Runtime, events: &[(Millis, Event)]) -> (Duration, usize) {
    let started = Instant::now();
    let mut pending = std::collections::VecDeque::with_capacity(WINDOW);
    let mut refused = 0;
    for (at, event) in events {
        let p = runtime
            .submit_patiently(event.clone(), Some(*at), None, Duration::from_secs(60))
            .await
            .expect("submitted");
        pending.push_back(p);
        if pending.len() >= WINDOW
            && let Some(p) = pending.pop_front()
        {
            refused += usize::from(p.wait().await.is_err());
        }
    }
    for p in pending {
        refused += usize::from(p.wait().await.is_err());
    }
    (started.elapsed(), refused)
}

/// p50 and p99 of a histogram, in milliseconds, by linear interpolation within buckets.
fn quantiles(h: &prometheus::Histogram) -> (f64, f64) {
    use prometheus::core::Collector;
    let families = h.collect();
    let m = &families[0].get_metric()[0];
    let hist = m.get_histogram();
    let count = hist.get_sample_count() as f64;
    let q = |q: f64| {
        let target = q * count;
        let mut prev = (0.0, 0.0);
        for b in hist.get_bucket() {
            let (le, c) = (b.upper_bound(), b.cumulative_count() as f64);
            if c >= target {
                let frac = if c > prev.1 { (target - prev.1) / (c - prev.1) } else { 0.0 };
                return (prev.0 + (le - prev.0) * frac) * 1000.0;
            }
            prev = (le, c);
        }
        prev.0 * 1000.0
    };
    (q(0.5), q(0.99))
}

fn fresh(dir: &Path) -> PathBuf {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("bench directory");
    dir.to_path_buf()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("copy");
    for entry in std::fs::read_dir(from).expect("read") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy file");
        }
    }
}
