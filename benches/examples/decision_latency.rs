//! The latency of single routing decisions (a new ticket routed to its best agent: message →
//! offer), each timed on its own, as percentiles: what the criterion bench's mean hides.
//!
//!     cargo run --release -p switchboard-benches --example decision_latency
//!     cargo run --release -p switchboard-benches --example decision_latency -- 10000 64 200000
//!
//! Without arguments: the scales of `cargo bench --bench engine` (`decision`), 200,000 decisions
//! each after 5,000 not measured, and the naive router at 100 and 1,000 agents (2,000 decisions).
//! With arguments: one scale, `agents skills decisions [waiting]`. Each decision is timed with
//! `Instant::now()` around `Engine::apply` (a few tens of nanoseconds of the figure are the clock).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use hdrhistogram::Histogram;
use std::time::Instant;
use switchboard_benches::{Rng, Scale, T0, engine_at, new_ticket, setup_events};
use switchboard_core::Config;
use switchboard_naive::NaiveRouter;

const WARMUP: u64 = 5_000;

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let scales: Vec<(Scale, u64)> = match args.as_slice() {
        [agents, skills, n, rest @ ..] => {
            vec![(
                Scale { agents: *agents, skills: *skills, waiting: rest.first().copied().unwrap_or(0) },
                *n as u64,
            )]
        }
        _ => [
            (100, 8, 0),
            (1_000, 8, 0),
            (10_000, 1, 0),
            (10_000, 8, 0),
            (10_000, 64, 0),
            (100_000, 8, 0),
            (10_000, 8, 10_000),
        ]
        .into_iter()
        .map(|(agents, skills, waiting)| (Scale { agents, skills, waiting }, 200_000))
        .collect(),
    };
    println!(
        "| router | agents | skills | waiting | decisions | mean µs | p50 µs | p99 µs | p99.9 µs | max µs |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (scale, n) in &scales {
        let mut engine = engine_at(*scale);
        let mut rng = Rng::new(1);
        let events: Vec<_> = (0..WARMUP + n).map(|i| new_ticket(*scale, i, &mut rng)).collect();
        let mut h = Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3).expect("valid bounds");
        let mut out = Vec::new();
        for (i, e) in events.iter().enumerate() {
            out.clear();
            let started = Instant::now();
            let _ = engine.apply(e, T0, &mut out);
            let took = started.elapsed();
            if i as u64 >= WARMUP {
                h.saturating_record(took.as_nanos() as u64);
            }
        }
        row("engine", *scale, &h);
        if scales.len() > 1 && scale.agents <= 1_000 && scale.waiting == 0 {
            let mut naive = NaiveRouter::new(Config::default()).expect("valid");
            for e in setup_events(*scale) {
                let _ = naive.apply(&e, T0, &mut out);
            }
            let mut h = Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3).expect("valid bounds");
            for e in &events[..2_000] {
                out.clear();
                let started = Instant::now();
                let _ = naive.apply(e, T0, &mut out);
                h.saturating_record(started.elapsed().as_nanos() as u64);
            }
            row("naive", *scale, &h);
        }
    }
}

fn row(router: &str, s: Scale, h: &Histogram<u64>) {
    let us = |ns: u64| ns as f64 / 1000.0;
    println!(
        "| {router} | {} | {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} |",
        s.agents,
        s.skills,
        s.waiting,
        h.len(),
        h.mean() / 1000.0,
        us(h.value_at_quantile(0.5)),
        us(h.value_at_quantile(0.99)),
        us(h.value_at_quantile(0.999)),
        us(h.max())
    );
}
