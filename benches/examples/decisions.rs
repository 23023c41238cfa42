//! Runs routing decisions in a loop, for profilers (perf, callgrind):
//!
//!     cargo build --release -p switchboard-benches --example decisions
//!     valgrind --tool=callgrind target/release/examples/decisions 10000 8 20000

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use switchboard_benches::{Rng, Scale, T0, engine_at, new_ticket};

fn main() {
    let arg =
        |i: usize, default: usize| std::env::args().nth(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let scale = Scale { agents: arg(1, 10_000), skills: arg(2, 8), waiting: arg(4, 0) };
    let n = arg(3, 20_000) as u64;
    let mut engine = engine_at(scale);
    let mut rng = Rng::new(1);
    let events: Vec<_> = (0..n).map(|i| new_ticket(scale, i, &mut rng)).collect();
    let started = std::time::Instant::now();
    let mut out = Vec::new();
    for e in &events {
        out.clear();
        let _ = engine.apply(e, T0, &mut out);
    }
    eprintln!(
        "{n} decisions in {:.1?}: {:.2} µs each",
        started.elapsed(),
        started.elapsed().as_secs_f64() * 1e6 / n as f64
    );
}
