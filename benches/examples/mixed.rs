//! Runs the engine bench's mixed stream (a simulated contact centre: create, offer, accept,
//! decline, time out, pending, reply, solve, close, status changes) once through a fresh engine, for
//! profilers:
//!
//!     cargo build --release -p switchboard-benches --example mixed
//!     target/release/examples/mixed 10000 8 500000 5      # agents, skills, events, runs
//!     perf record -g -D 3000 target/release/examples/mixed 10000 8 500000 10
//!
//! The stream is generated first (not measured), with the parameters of `cargo bench --bench
//! engine` (`mixed`): one account, a customer rate that keeps the agents about as busy as the
//! simulator's default centre. Each run applies the whole stream to a fresh engine; the best run is
//! reported (`-D` above leaves the generation out of the profile).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Instant;
use switchboard_core::{Config, Engine};
use switchboard_sim::SimParams;

fn main() {
    let arg =
        |i: usize, default: usize| std::env::args().nth(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (agents, skills, n, runs) = (arg(1, 10_000), arg(2, 8), arg(3, 500_000), arg(4, 1).max(1));
    let params = SimParams {
        agents_per_account: agents,
        skills,
        arrivals_per_minute: agents as f64 * 0.05,
        ..SimParams::default()
    };
    let started = Instant::now();
    let events = switchboard_benches::events(params, n);
    eprintln!("generated {} events in {:.1?}", events.len(), started.elapsed());
    let mut best = None;
    let mut effects = 0usize;
    for _ in 0..runs {
        let mut engine = Engine::new(Config::default()).expect("the default config is valid");
        let mut out = Vec::new();
        effects = 0;
        let started = Instant::now();
        for (at, e) in &events {
            out.clear();
            let _ = engine.apply(e, *at, &mut out);
            effects += out.len();
        }
        let took = started.elapsed();
        best = Some(best.map_or(took, |b: std::time::Duration| b.min(took)));
        // Dropping a large engine is not part of the figure.
        drop(engine);
    }
    let took = best.expect("at least one run");
    eprintln!(
        "{} events ({effects} effects) in {took:.2?} (best of {runs}): {:.0} events/s, {:.2} µs each",
        events.len(),
        events.len() as f64 / took.as_secs_f64(),
        took.as_secs_f64() * 1e6 / events.len() as f64
    );
}
