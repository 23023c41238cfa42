//! `switchboard gen`: a realistic event file from the simulated contact centre, for replay and
//! benchmarks.

use anyhow::{Context, Result};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;
use switchboard_core::EffectKind;
use switchboard_sim::{SimParams, generate};

/// Arguments of `switchboard gen`.
#[derive(clap::Args)]
pub struct Args {
    /// Lines to write.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Accounts (tenants).
    #[arg(long, default_value_t = 1)]
    accounts: usize,
    /// Agents per account.
    #[arg(long, default_value_t = 50)]
    agents: usize,
    /// Distinct skills per account.
    #[arg(long, default_value_t = 8)]
    skills: usize,
    /// Customer arrivals per minute per account (daily mean; the hour of day shapes it).
    #[arg(long, default_value_t = 2.5)]
    rate: f64,
    /// Share of deliberately bad lines, 0 to 1 (the valid events stay the same).
    #[arg(long, default_value_t = 0.0)]
    bad_lines: f64,
    /// Seed: the same seed and options give the same file, byte for byte.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Configuration the simulated engine runs with (default: the shipped one).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Output file (default: standard output).
    #[arg(short, long)]
    output: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let settings = crate::load_settings(args.config.as_ref())?;
    let params = SimParams {
        accounts: args.accounts,
        agents_per_account: args.agents,
        skills: args.skills,
        arrivals_per_minute: args.rate,
        bad_line_ratio: args.bad_lines,
        seed: args.seed,
        ..SimParams::default()
    };
    let started = Instant::now();
    let sink: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(File::create(p).with_context(|| format!("cannot create {}", p.display()))?),
        None => Box::new(io::stdout().lock()),
    };
    let mut out = BufWriter::with_capacity(1 << 16, sink);
    let stats = match generate(params, settings.engine, args.events, &mut out)
        .and_then(|s| Ok(out.flush().map(|()| s)?))
    {
        Ok(stats) => stats,
        Err(switchboard_sim::GenError::Io(e)) if e.kind() == io::ErrorKind::BrokenPipe => {
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => return Err(e).context("generating"),
    };
    let days = match (stats.first_at, stats.last_at) {
        (Some(first), Some(last)) => (last - first) as f64 / 86_400_000.0,
        _ => 0.0,
    };
    let effects: u64 = stats.effects.iter().sum();
    eprintln!(
        "switchboard gen: {} lines ({} bad on purpose, {} refused) covering {days:.1} simulated days, {effects} effects, in {:.2?}",
        stats.lines,
        stats.bad_lines,
        stats.refused,
        started.elapsed()
    );
    for (name, n) in EffectKind::TYPE_NAMES.iter().zip(stats.effects) {
        eprintln!("  {name:>16} {n}");
    }
    Ok(ExitCode::SUCCESS)
}
