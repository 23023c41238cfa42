//! The engine's throughput, against the naive baseline in the same run:
//!
//! - `decision`: a new ticket routed to its best agent (message → offer), by number of agents,
//!   distinct skills and waiting tickets;
//! - `mixed`: a realistic stream from the simulated contact centre (create, offer, accept, decline,
//!   time out, pending, reply, solve, close, status changes), by number of agents and skills.
//!
//!     cargo bench -p switchboard-benches --bench engine
//!
//! The naive router (`switchboard-naive`: linear scans, a sorted vector for the queue, full
//! re-routing after every change, behind one global mutex as a straightforward multi-threaded
//! server would hold it) runs the same inputs where it finishes in reasonable time.

// The allocator the `switchboard` binary uses, so the figures are the daemon's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use parking_lot::Mutex;
use std::time::{Duration, Instant};
use switchboard_benches::{Rng, Scale, T0, engine_at, new_ticket, setup_events};
use switchboard_core::{Config, Engine, Event, Millis};
use switchboard_naive::NaiveRouter;
use switchboard_sim::SimParams;

fn decision(c: &mut Criterion) {
    let mut g = c.benchmark_group("decision");
    g.throughput(Throughput::Elements(1)).sample_size(20).measurement_time(Duration::from_secs(3));
    for (agents, skills, waiting) in [
        (100, 8, 0),
        (1_000, 8, 0),
        (10_000, 1, 0),
        (10_000, 8, 0),
        (10_000, 64, 0),
        (100_000, 8, 0),
        (10_000, 8, 10_000),
        (10_000, 8, 1_000_000),
    ] {
        let scale = Scale { agents, skills, waiting };
        let id = format!("{agents}agents/{skills}skills/{waiting}waiting");
        let mut engine = None;
        let mut rng = Rng::new(1);
        let mut n = 0u64;
        let mut out = Vec::new();
        g.bench_function(BenchmarkId::new("engine", &id), |b| {
            // Built on first use only, like the streams below.
            let engine = engine.get_or_insert_with(|| engine_at(scale));
            b.iter_custom(|iters| {
                let events: Vec<Event> = (0..iters)
                    .map(|_| {
                        n += 1;
                        new_ticket(scale, n, &mut rng)
                    })
                    .collect();
                let started = Instant::now();
                for e in &events {
                    out.clear();
                    let _ = engine.apply(e, T0, &mut out);
                }
                started.elapsed()
            })
        });
        // The naive router scans every waiting ticket and every agent on every change.
        if agents <= 1_000 && waiting == 0 {
            let naive = Mutex::new(naive_at(scale));
            let mut rng = Rng::new(1);
            let mut n = 0u64;
            g.bench_function(BenchmarkId::new("naive", &id), |b| {
                b.iter_custom(|iters| {
                    let events: Vec<Event> = (0..iters)
                        .map(|_| {
                            n += 1;
                            new_ticket(scale, n, &mut rng)
                        })
                        .collect();
                    let started = Instant::now();
                    for e in &events {
                        let mut out = Vec::new();
                        let _ = naive.lock().apply(e, T0, &mut out);
                    }
                    started.elapsed()
                })
            });
        }
    }
    g.finish();
}

fn naive_at(scale: Scale) -> NaiveRouter {
    let mut router = NaiveRouter::new(Config::default()).expect("the default config is valid");
    let mut out = Vec::new();
    for e in setup_events(scale) {
        let _ = router.apply(&e, T0, &mut out);
    }
    router
}

/// A realistic stream: `agents` agents and a customer rate that keeps them about as busy as the
/// simulator's default centre (2.5 arrivals a minute for 50 agents).
fn stream(agents: usize, skills: usize, n: usize) -> Vec<(Millis, Event)> {
    let params = SimParams {
        agents_per_account: agents,
        skills,
        arrivals_per_minute: agents as f64 * 0.05,
        ..SimParams::default()
    };
    switchboard_benches::events(params, n)
}

fn mixed(c: &mut Criterion) {
    let mut g = c.benchmark_group("mixed");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    for (agents, skills, n) in
        [(100, 8, 100_000), (1_000, 8, 200_000), (10_000, 8, 500_000), (10_000, 64, 500_000)]
    {
        // Generated on first use only: criterion skips the closures of benchmarks a filter leaves out.
        let events = std::cell::OnceCell::new();
        let events = || events.get_or_init(|| stream(agents, skills, n));
        g.throughput(Throughput::Elements(n as u64));
        let id = format!("{agents}agents/{skills}skills");
        g.bench_function(BenchmarkId::new("engine", &id), |b| {
            let events = events();
            b.iter_batched(
                || Engine::new(Config::default()).expect("valid"),
                |mut engine| {
                    let mut out = Vec::new();
                    for (at, e) in events {
                        out.clear();
                        let _ = engine.apply(e, *at, &mut out);
                    }
                    engine
                },
                criterion::BatchSize::LargeInput,
            )
        });
        if agents <= 100 {
            const NAIVE: usize = 20_000;
            g.throughput(Throughput::Elements(NAIVE as u64));
            g.bench_function(BenchmarkId::new("naive", &id), |b| {
                let events = &events()[..NAIVE];
                b.iter_batched(
                    || Mutex::new(NaiveRouter::new(Config::default()).expect("valid")),
                    |naive| {
                        for (at, e) in events {
                            let mut out = Vec::new();
                            let _ = naive.lock().apply(e, *at, &mut out);
                        }
                        naive
                    },
                    criterion::BatchSize::LargeInput,
                )
            });
        }
    }
    g.finish();
}

criterion_group!(benches, decision, mixed);
criterion_main!(benches);
