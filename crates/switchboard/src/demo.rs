//! `switchboard demo`: the daemon with a simulated contact centre feeding it, and a live summary.
//!
//! The simulated world (agents on shifts, customers on every channel and style) runs `--speed`
//! times faster than real time; the daemon runs on the real clock with its routing durations (offer
//! and skills timeouts, close windows) divided by the same factor, so the whole contact centre looks
//! consistently sped up. The daemon serves its usual gRPC and HTTP endpoints meanwhile, so the
//! client commands and `/metrics` can be tried on it.

use anyhow::{Context, Result};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchboard_core::{Config, Effect, EffectKind, TicketStatus, WithdrawReason};
use switchboard_runtime::Runtime;
use switchboard_runtime::watch::TryRecvError;
use switchboard_server::Daemon;
use switchboard_sim::{SimEvent, SimParams, Simulator};

/// Arguments of `switchboard demo`.
#[derive(clap::Args)]
pub struct Args {
    /// Configuration file for the daemon (ports, limits; routing durations are scaled by --speed).
    #[arg(long)]
    config: Option<PathBuf>,
    /// How many times faster than real time the contact centre runs.
    #[arg(long, default_value_t = 30.0, value_parser = parse_speed)]
    speed: f64,
    /// Accounts (tenants).
    #[arg(long, default_value_t = 2)]
    accounts: usize,
    /// Agents per account.
    #[arg(long, default_value_t = 40)]
    agents: usize,
    /// Customer arrivals per minute per account, in simulated time.
    #[arg(long, default_value_t = 4.0)]
    rate: f64,
    /// Seed of the simulation.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    duration: Option<u64>,
    /// Seconds between summary lines.
    #[arg(long, default_value_t = 2)]
    every: u64,
}

fn parse_speed(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (1.0..=3600.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a speed between 1 and 3600")),
    }
}

/// Monday 2026-01-05 09:55 UTC: the morning shifts are on and the late-morning peak is coming.
const SIM_START_MS: u64 = 1_767_571_200_000 + (9 * 60 + 55) * 60_000;

pub fn run(args: Args) -> Result<ExitCode> {
    let mut settings = crate::load_settings(args.config.as_ref())?;
    scale_durations(&mut settings.engine, args.speed);
    // A demo keeps nothing: its simulated world starts afresh each time.
    settings.storage.enabled = false;
    crate::serve::init_logging(&settings.log);
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting tokio")?;
    runtime.block_on(async {
        let daemon = Daemon::start(&settings).await?;
        let result = drive(&daemon, &args).await;
        daemon.shutdown().await;
        result.map(|()| ExitCode::SUCCESS)
    })
}

/// Divides every routing duration by `speed` (offer timeouts at least a second).
fn scale_durations(config: &mut Config, speed: f64) {
    let scale = |ms: u64, floor: u64| ((ms as f64 / speed) as u64).max(floor.min(ms));
    let policies = std::iter::once(&mut config.defaults).chain(config.accounts.values_mut());
    for policy in policies {
        let p = Arc::make_mut(policy);
        for c in &mut p.channels {
            c.offer_timeout_ms = scale(c.offer_timeout_ms, 1000);
            c.skills_timeout_ms = scale(c.skills_timeout_ms, 0);
        }
        for s in &mut p.styles {
            s.close_after_solved_ms = scale(s.close_after_solved_ms, 0);
        }
    }
}

/// Counts for the summary line.
#[derive(Default)]
struct Tally {
    events: u64,
    refused: u64,
    created: u64,
    offered: u64,
    assigned: u64,
    declined: u64,
    timed_out: u64,
    reopened: u64,
    rerouted: u64,
    follow_ups: u64,
    closed: u64,
}

async fn drive(daemon: &Daemon, args: &Args) -> Result<()> {
    let runtime = daemon.runtime();
    let mut sim = Simulator::new(SimParams {
        accounts: args.accounts,
        agents_per_account: args.agents,
        arrivals_per_minute: args.rate,
        start_ms: SIM_START_MS,
        seed: args.seed,
        ..SimParams::default()
    });
    let mut effects = runtime.subscribe();
    println!(
        "switchboard demo: {} account(s) x {} agents, customers at {}/min each, {}x real time",
        args.accounts, args.agents, args.rate, args.speed
    );
    println!(
        "  gRPC {}   metrics http://{}/metrics   try: switchboard agents --account acme | switchboard queue --account acme | switchboard watch",
        daemon.grpc_addr(),
        daemon.http_addr()
    );
    println!("  Ctrl-C to stop\n");
    let started = Instant::now();
    let real_start = runtime.now();
    let to_sim = |real: u64| SIM_START_MS + (real.saturating_sub(real_start) as f64 * args.speed) as u64;
    let mut tally = Tally::default();
    let mut notes: VecDeque<String> = VecDeque::new();
    let mut next_summary = Instant::now() + Duration::from_secs(args.every);
    let stop = async {
        match args.duration {
            Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    };
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
        // What the daemon did since last time, in simulated time, for the simulated people to react.
        let mut seen: Vec<Effect> = Vec::new();
        loop {
            match effects.try_recv() {
                Ok(mut e) => {
                    e.at = to_sim(e.at);
                    seen.push(e);
                }
                Err(TryRecvError::Lagged(n)) => {
                    notes.push_back(format!("(the demo fell behind and missed {n} effects)"))
                }
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        for e in &seen {
            note(&mut tally, &mut notes, e);
        }
        sim.observe(&seen);
        let sim_now = to_sim(runtime.now());
        while let Some(item) = sim.next_due(sim_now) {
            if let SimEvent::Event { event, .. } = item {
                tally.events += 1;
                if runtime.ingest(event, None, None).await.is_err() {
                    tally.refused += 1;
                }
            }
        }
        if Instant::now() >= next_summary {
            next_summary += Duration::from_secs(args.every);
            summary(runtime, &tally, started.elapsed(), sim_now).await;
            for n in notes.drain(..).take(4) {
                println!("    {n}");
            }
            notes.clear();
        }
    }
    println!("\nstopping: {} events sent, {} refused", tally.events, tally.refused);
    Ok(())
}

/// Counts an effect and keeps a line about the ones worth showing.
fn note(t: &mut Tally, notes: &mut VecDeque<String>, e: &Effect) {
    let (account, ticket) = (&e.account, &e.ticket);
    match &e.kind {
        EffectKind::TicketCreated { follow_up_of: Some(prev), style, .. } => {
            t.created += 1;
            t.follow_ups += 1;
            notes.push_back(format!(
                "{account}: {ticket} follows up closed {prev} ({style}: the customer came back)"
            ));
        }
        EffectKind::TicketCreated { .. } => t.created += 1,
        EffectKind::Offered { .. } => t.offered += 1,
        EffectKind::Assigned { .. } => t.assigned += 1,
        EffectKind::OfferWithdrawn { agent, reason: WithdrawReason::Timeout } => {
            t.timed_out += 1;
            notes.push_back(format!(
                "{account}: {agent} did not answer the offer of {ticket}: it goes to someone else"
            ));
        }
        EffectKind::OfferWithdrawn { reason: WithdrawReason::Declined, .. } => t.declined += 1,
        EffectKind::Reopened { agent: Some(agent) } => {
            t.reopened += 1;
            notes.push_back(format!(
                "{account}: the customer of {ticket} wrote again: back to {agent}, above capacity if need be"
            ));
        }
        EffectKind::Reopened { agent: None } => {
            t.reopened += 1;
            t.rerouted += 1;
            notes.push_back(format!(
                "{account}: the customer of {ticket} wrote again but their agent is off shift: routed to another agent"
            ));
        }
        EffectKind::StatusChanged { to: TicketStatus::Closed, .. } => t.closed += 1,
        _ => {}
    }
}

async fn summary(runtime: &Runtime, t: &Tally, elapsed: Duration, sim_now: u64) {
    let Ok(stats) = runtime.all_stats().await else { return };
    let now = runtime.now();
    let (mut online, mut agents, mut queued) = (0u32, 0u32, 0u32);
    let mut oldest: Option<u64> = None;
    let mut by_status = [0u32; 6];
    for s in &stats {
        agents += s.agents;
        queued += s.queued;
        for (b, n) in by_status.iter_mut().zip(s.tickets_by_status) {
            *b += n;
        }
        // An agent counts as online if online on any channel: take the busiest channel.
        online += s.channels.iter().map(|c| c.agents_by_status[0]).max().unwrap_or(0);
        for c in &s.channels {
            for t in c.oldest_queue_time_by_priority.iter().flatten() {
                oldest = Some(oldest.map_or(*t, |o: u64| o.min(*t)));
            }
        }
    }
    let secs = elapsed.as_secs();
    let clock = (sim_now / 60_000) % (24 * 60);
    let wait = oldest.map_or(String::new(), |o| format!(" (oldest {}s)", now.saturating_sub(o) / 1000));
    println!(
        "[{:02}:{:02}] sim {:02}:{:02}  online {online}/{agents}  queue {queued}{wait}  tickets {}  offers {} accepted/auto {} declined {} timed out {}  open {} pending {} solved {} closed {}  reopened {} (rerouted {}) follow-ups {}",
        secs / 60,
        secs % 60,
        clock / 60,
        clock % 60,
        t.created,
        t.offered,
        t.assigned,
        t.declined,
        t.timed_out,
        by_status[1],
        by_status[2] + by_status[3],
        by_status[4],
        by_status[5],
        t.reopened,
        t.rerouted,
        t.follow_ups,
    );
}
