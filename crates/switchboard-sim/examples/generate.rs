//! Writes N simulated event lines (default 1,000,000) to standard output and reports the time taken
//! on standard error, until `switchboard gen` offers the same:
//!
//!     cargo run --release -p switchboard-sim --example generate -- 1000000 > events.jsonl

use std::io::{self, Write};
use std::time::Instant;
use switchboard_core::Config;
use switchboard_sim::{SimParams, generate};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 1_000_000,
    };
    let started = Instant::now();
    let mut out = io::BufWriter::new(io::stdout().lock());
    let stats = generate(SimParams::default(), Config::default(), n, &mut out)?;
    out.flush()?;
    let days = match (stats.first_at, stats.last_at) {
        (Some(first), Some(last)) => (last - first) as f64 / 86_400_000.0,
        _ => 0.0,
    };
    eprintln!(
        "{} lines ({} refused) covering {days:.1} simulated days in {:.2?}; effects {:?}",
        stats.lines,
        stats.refused,
        started.elapsed(),
        stats.effects
    );
    Ok(())
}
