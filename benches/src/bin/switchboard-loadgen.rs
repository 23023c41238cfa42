//! `switchboard-loadgen`: drives a running `switchboard serve` over gRPC and measures it.
//!
//! ```console
//! $ cargo run --release -p switchboard -- serve --config daemon.toml          # in one terminal
//! $ cargo run --release -p switchboard-benches --bin switchboard-loadgen -- \
//!       --mode open --rate 5000 --duration 30                                  # latency
//! $ cargo run --release -p switchboard-benches --bin switchboard-loadgen -- \
//!       --mode closed --concurrency 8 --stream --duration 30                  # throughput
//! ```
//!
//! **What it sends.** A simulated contact centre (`switchboard_sim`: `--accounts` accounts of
//! `--agents` agents with `--skills` skills, customers arriving at `--arrivals` a minute per
//! account) whose clock runs at `start + elapsed × --speed`; its agents and customers react to the
//! effects the daemon reports on `WatchEffects`. Before the measured phase the simulator is run
//! through its first `--preroll` simulated minutes as fast as the daemon answers (one event at a
//! time), so that the agents on shift are logged in. A real contact centre sends a few events a
//! second, so whenever the simulator has nothing due, the load generator sends a *filler*: a new
//! customer conversation on one of its own filler accounts, whose filler agents accept the offer and
//! solve the ticket (see `loadgen/source.rs`). Every account is named `<run id>-<name>`, so runs do
//! not collide on a daemon that keeps its state. The daemon's routing durations are its own: with
//! `--speed` above 1 the simulated agents answer offers faster, in simulated time, than they would.
//!
//! **Modes.**
//! - `--mode open --rate N`: open loop. Event *i* is due at `start + i/N`; a pacer thread hands each
//!   event over when it is due, whether or not earlier ones were answered (at most
//!   `--max-in-flight` unanswered), and latencies count from the *scheduled* time, so a daemon that
//!   stalls is charged for the whole wait (no coordinated omission).
//! - `--mode closed --concurrency C`: closed loop. C requests in flight, each sent as soon as the
//!   previous one of its lane was answered: the maximum throughput.
//! - Unary `Ingest` by default: one event per call, ingest latency per event (best for latency).
//!   `--stream` sends `IngestStream` calls of `--batch` events instead (best for throughput); the
//!   ingest latency is then per batch: from the batch's last event handed over (open loop) or from
//!   its start (closed loop) to the reply.
//!
//! **What it reports.** Achieved events/s; ingest latency; event-to-effect latency (send → the new
//! ticket's `ticket_created`, and → its `offered`/`assigned` made by the same engine step, on
//! `WatchEffects`); the transport floor (`--floor-calls` sequential `grpc.health.v1.Health/Check`
//! calls on the same connection, before and after the load) and the ratio of ingest latency to that
//! floor at p50 and p99. Latencies are HdrHistogram percentiles (p50, p90, p99, p99.9, max). A
//! summary goes to standard output and a JSON report to `--report` (default
//! `loadgen-report.json`).
//!
//! Exit status: 0 when the run completed with events accepted, 1 when the daemon accepted none, 2
//! when it could not run (bad arguments, daemon unreachable, report not writable).

#[path = "loadgen/source.rs"]
mod source;
#[path = "loadgen/stats.rs"]
mod stats;
#[path = "loadgen/wire.rs"]
mod wire;

use anyhow::{Context, Result, anyhow};
use clap::{Parser, ValueEnum};
use serde_json::{Value, json};
use source::{SimClock, Source, Watcher};
use stats::{Latency, Stats, human, lock};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use switchboard_proto::v1;
use switchboard_proto::v1::router_client::RouterClient;
use switchboard_sim::SimParams;
use tokio::sync::{mpsc, oneshot, watch};
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

// The client allocates a message, a future and a few strings per event; mimalloc keeps that off
// the critical path as it does in the daemon.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Monday 2026-01-05 09:55 UTC (as `switchboard demo`): the morning shifts are on and the
/// late-morning peak is coming.
const SIM_START_MS: u64 = 1_767_571_200_000 + (9 * 60 + 55) * 60_000;

/// Calls on the idle connection before the floor is measured (connection set-up, first-call paths).
const FLOOR_WARMUP: usize = 200;

/// How long in-flight requests may take to be answered after the load phase.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(15);

/// How long effects may take to arrive after the last answer.
const EFFECT_GRACE: Duration = Duration::from_millis(500);

/// Arguments.
#[derive(Parser, Debug)]
#[command(
    name = "switchboard-loadgen",
    version,
    about = "Drives a running switchboard daemon over gRPC with a simulated contact centre and measures throughput and latency"
)]
struct Args {
    /// The daemon's gRPC address: `http://host:port` or `host:port`.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    addr: String,
    /// `open`: events at a fixed rate (--rate), latency from the schedule; `closed`: --concurrency
    /// requests in flight as fast as they are answered.
    #[arg(long, value_enum, default_value_t = Mode::Open)]
    mode: Mode,
    /// Open loop: events per second.
    #[arg(long, default_value_t = 1000.0, value_parser = positive)]
    rate: f64,
    /// Closed loop: requests (unary calls or streams) in flight.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    concurrency: u32,
    /// Seconds of load.
    #[arg(long, default_value_t = 30.0, value_parser = positive)]
    duration: f64,
    /// Send `IngestStream` batches instead of unary `Ingest` calls.
    #[arg(long)]
    stream: bool,
    /// Events per `IngestStream` call, with --stream.
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    batch: u32,
    /// Simulated accounts.
    #[arg(long, default_value_t = 8)]
    accounts: usize,
    /// Agents per simulated account.
    #[arg(long, default_value_t = 50)]
    agents: usize,
    /// Distinct skills per simulated account.
    #[arg(long, default_value_t = 8)]
    skills: usize,
    /// Customer arrivals per minute per simulated account (simulated time, daily mean).
    #[arg(long, default_value_t = 2.5)]
    arrivals: f64,
    /// Simulated seconds per real second.
    #[arg(long, default_value_t = 1.0, value_parser = speed)]
    speed: f64,
    /// Seed of the simulation.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Simulated minutes run through before the measured phase (agents logging in).
    #[arg(long, default_value_t = 6)]
    preroll: u64,
    /// Sequential Health/Check calls measuring the transport floor, before and after the load.
    #[arg(long, default_value_t = 2000)]
    floor_calls: usize,
    /// Open loop: unanswered events at most; past it the pacer waits (and the wait shows in the
    /// latencies, which count from the schedule).
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..))]
    max_in_flight: u64,
    /// Prefix of this run's account names (default: `lg<unix milliseconds>-`).
    #[arg(long)]
    run_id: Option<String>,
    /// Where to write the JSON report.
    #[arg(long, default_value = "loadgen-report.json")]
    report: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Open loop: a target rate.
    Open,
    /// Closed loop: a fixed number of requests in flight.
    Closed,
}

fn positive(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("{s:?} is not a positive number")),
    }
}

fn speed(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.01..=3600.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a speed between 0.01 and 3600")),
    }
}

/// Why the run could not be made: reported on one line, exit status 2.
enum Failure {
    Unreachable { addr: String, cause: String },
    Other(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Other(e)
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("switchboard-loadgen: cannot start tokio: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = runtime.block_on(run(args));
    // Calls still pending on a dead daemon must not hold the exit up.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match outcome {
        Ok(code) => code,
        Err(Failure::Unreachable { addr, cause }) => {
            eprintln!(
                "switchboard-loadgen: cannot reach the daemon at {addr}: {cause} \
                 (start it with `switchboard serve`, or point --addr at it)"
            );
            ExitCode::from(2)
        }
        Err(Failure::Other(e)) => {
            eprintln!("switchboard-loadgen: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// The innermost cause: transport errors wrap the useful text (`Connection refused`) in layers.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// A status made by the client from a broken connection rather than sent by the daemon.
fn is_transport(s: &tonic::Status) -> bool {
    std::error::Error::source(s).is_some()
}

async fn connect(addr: &str) -> Result<Channel, Failure> {
    let uri = if addr.contains("://") { addr.to_owned() } else { format!("http://{addr}") };
    let endpoint = Endpoint::from_shared(uri.clone())
        .map_err(|e| anyhow!("invalid --addr {addr:?}: {}", root_cause(&e)))?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        // Large receive windows: the watch streams carry an effect or two per event, and a small
        // window would make the daemon's sends (and so the measured effect latency) wait on us.
        .initial_connection_window_size(16 << 20)
        .initial_stream_window_size(8 << 20);
    endpoint.connect().await.map_err(|e| Failure::Unreachable { addr: uri, cause: root_cause(&e) })
}

async fn run(args: Args) -> Result<ExitCode, Failure> {
    let channel = connect(&args.addr).await?;
    let mut router = RouterClient::new(channel.clone());
    let mut health = HealthClient::new(channel.clone());
    let run_id = args.run_id.clone().unwrap_or_else(|| format!("lg{}-", unix_ms()));

    println!(
        "switchboard-loadgen: {} {} loop{}, {}s, against {}",
        if args.stream { "stream" } else { "unary" },
        match args.mode {
            Mode::Open => format!("open ({}/s)", args.rate),
            Mode::Closed => format!("closed ({} in flight)", args.concurrency),
        },
        if args.stream { format!(" (batches of {})", args.batch) } else { String::new() },
        args.duration,
        args.addr
    );

    // The floor first, on the idle connection.
    let floor_before = floor(&mut health, &args.addr, args.floor_calls).await?;
    println!("  transport floor (Health/Check, before): {}", floor_before.line());

    // The simulated contact centre up to its measured phase, one event at a time.
    let params = SimParams {
        accounts: args.accounts,
        agents_per_account: args.agents,
        skills: args.skills,
        arrivals_per_minute: args.arrivals,
        start_ms: SIM_START_MS,
        seed: args.seed,
        ..SimParams::default()
    };
    let mut source = Source::new(params, &run_id);
    let setup_started = Instant::now();
    let mut setup = SetupTally::default();
    for event in source.filler_setup() {
        setup.send(&mut router, event).await?;
    }
    let sim0 = SIM_START_MS + args.preroll * 60_000;
    while let Some((at, event)) = source.next_preroll(sim0) {
        if let Some(effects) = setup.send(&mut router, event).await? {
            source.observe_reply(&effects, at);
        }
    }
    println!(
        "  set-up: {} events ({} refused) in {:.2}s: filler agents, and {} simulated minutes",
        setup.sent,
        setup.refused,
        setup_started.elapsed().as_secs_f64(),
        args.preroll
    );

    // Watchers before the load, so that no effect of it is missed.
    let sim_accounts: Vec<String> =
        (0..args.accounts).map(|a| format!("{run_id}{}", account_name(a))).collect();
    let source = Arc::new(Mutex::new(source));
    let filler_accounts = lock(&source).filler_accounts().to_vec();
    let sim_watch = router
        .watch_effects(v1::WatchRequest { accounts: sim_accounts, types: Vec::new() })
        .await
        .map_err(|s| anyhow!("WatchEffects: {}", s.message()))?
        .into_inner();
    let filler_watch = router
        .watch_effects(v1::WatchRequest {
            accounts: filler_accounts,
            types: vec!["ticket_created".into(), "offered".into(), "assigned".into()],
        })
        .await
        .map_err(|s| anyhow!("WatchEffects: {}", s.message()))?
        .into_inner();

    let t0 = Instant::now();
    let stats = Arc::new(Stats::new(t0)?);
    lock(&source).start(SimClock { t0, wall0_ms: unix_ms(), sim0, speed: args.speed });
    let (stop_watch, stop_rx) = watch::channel(false);
    let watch_ended = Arc::new(AtomicBool::new(false));
    let watchers = [
        tokio::spawn(watcher(
            sim_watch,
            Watcher::Sim,
            source.clone(),
            stats.clone(),
            stop_rx.clone(),
            watch_ended.clone(),
        )),
        tokio::spawn(watcher(
            filler_watch,
            Watcher::Filler,
            source.clone(),
            stats.clone(),
            stop_rx,
            watch_ended.clone(),
        )),
    ];

    let end = t0 + Duration::from_secs_f64(args.duration);
    let in_flight = Arc::new(AtomicU64::new(0));
    let ctx = Ctx {
        router: router.clone(),
        source: source.clone(),
        stats: stats.clone(),
        in_flight: in_flight.clone(),
    };
    match args.mode {
        Mode::Open => {
            let pacer = Pacer {
                ctx: ctx.clone(),
                handle: tokio::runtime::Handle::current(),
                rate: args.rate,
                end,
                batch: args.stream.then_some(args.batch as u64),
                max_in_flight: args.max_in_flight,
            };
            let thread = std::thread::Builder::new()
                .name("pacer".into())
                .spawn(move || pacer.run())
                .context("starting the pacer thread")?;
            // The pacer blocks in sleeps; waiting for it on a blocking thread keeps tokio free.
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        Mode::Closed => {
            let mut lanes = tokio::task::JoinSet::new();
            for _ in 0..args.concurrency {
                let ctx = ctx.clone();
                if args.stream {
                    lanes.spawn(closed_stream_lane(ctx, end, args.batch as usize));
                } else {
                    lanes.spawn(closed_unary_lane(ctx, end));
                }
            }
            while lanes.join_next().await.is_some() {}
        }
    }
    let load_end = Instant::now();
    let drain_deadline = load_end + DRAIN_TIMEOUT;
    while in_flight.load(Ordering::Acquire) > 0 && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let unanswered = in_flight.load(Ordering::Acquire);
    tokio::time::sleep(EFFECT_GRACE).await;
    let _ = stop_watch.send(true);
    for w in watchers {
        let _ = w.await;
    }

    let floor_after = floor(&mut health, &args.addr, args.floor_calls).await.map_err(|f| match f {
        Failure::Unreachable { addr, cause } => {
            Failure::Other(anyhow!("lost the daemon at {addr} during the run: {cause}"))
        }
        other => other,
    })?;

    let report = Report {
        args: &args,
        run_id: &run_id,
        stats: &stats,
        source: &source,
        floor_before: &floor_before,
        floor_after: &floor_after,
        unanswered,
        watch_ended: watch_ended.load(Ordering::Acquire),
        setup: &setup,
    };
    let json = report.json()?;
    report.print();
    let text = serde_json::to_string_pretty(&json).context("encoding the report")?;
    std::fs::write(&args.report, text + "\n")
        .with_context(|| format!("writing the report to {}", args.report.display()))?;
    println!("  report: {}", args.report.display());
    Ok(if stats.accepted.load(Ordering::Relaxed) > 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// The simulator's account names (`switchboard_sim` names them in this order).
fn account_name(i: usize) -> String {
    const NAMES: [&str; 10] =
        ["acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka", "soylent", "cyberdyne"];
    NAMES.get(i).map_or_else(|| format!("acct-{}", i + 1), |n| (*n).to_owned())
}

fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Sequential no-op round trips: what a call costs on this connection without any routing.
async fn floor(health: &mut HealthClient<Channel>, addr: &str, calls: usize) -> Result<Latency, Failure> {
    let mut h = Latency::new()?;
    for i in 0..FLOOR_WARMUP + calls {
        let started = Instant::now();
        match health.check(HealthCheckRequest { service: String::new() }).await {
            Ok(_) => {}
            Err(s) if is_transport(&s) => {
                return Err(Failure::Unreachable { addr: addr.to_owned(), cause: root_cause(&s) });
            }
            Err(s) => {
                return Err(Failure::Other(anyhow!(
                    "grpc.health.v1.Health/Check: {}: {} (is this a switchboard daemon?)",
                    switchboard_proto::code_name(s.code()),
                    s.message()
                )));
            }
        }
        if i >= FLOOR_WARMUP {
            h.record(started.elapsed());
        }
    }
    Ok(h)
}

/// The set-up phase's counts.
#[derive(Default)]
struct SetupTally {
    sent: u64,
    refused: u64,
    first_refusal: Option<String>,
}

impl SetupTally {
    /// Sends one set-up event and waits for it: its effects when accepted, `None` when refused.
    async fn send(
        &mut self,
        router: &mut RouterClient<Channel>,
        event: v1::Event,
    ) -> Result<Option<Vec<v1::Effect>>, Failure> {
        self.sent += 1;
        match router.ingest(event).await {
            Ok(reply) => Ok(Some(reply.into_inner().effects)),
            Err(s) if is_transport(&s) => Err(Failure::Other(anyhow!(
                "lost the connection to the daemon during set-up: {}",
                root_cause(&s)
            ))),
            Err(s) if s.code() == tonic::Code::Unavailable || s.code() == tonic::Code::Unimplemented => {
                Err(Failure::Other(anyhow!(
                    "the daemon refused set-up: {}: {}",
                    switchboard_proto::code_name(s.code()),
                    s.message()
                )))
            }
            Err(s) => {
                self.refused += 1;
                self.first_refusal.get_or_insert_with(|| {
                    format!("{}: {}", switchboard_proto::code_name(s.code()), s.message())
                });
                Ok(None)
            }
        }
    }
}

/// What every sending task shares.
#[derive(Clone)]
struct Ctx {
    router: RouterClient<Channel>,
    source: Arc<Mutex<Source>>,
    stats: Arc<Stats>,
    /// Events handed over and not yet answered.
    in_flight: Arc<AtomicU64>,
}

/// Reads one WatchEffects stream until told to stop, handing effects to the source in small
/// batches (whatever has already arrived), so that the lock is taken once per batch.
async fn watcher(
    mut stream: tonic::Streaming<v1::WatchItem>,
    which: Watcher,
    source: Arc<Mutex<Source>>,
    stats: Arc<Stats>,
    mut stop: watch::Receiver<bool>,
    ended: Arc<AtomicBool>,
) {
    use futures_util::FutureExt;
    let mut batch: Vec<(Instant, v1::Effect)> = Vec::with_capacity(256);
    loop {
        let first = tokio::select! {
            _ = stop.changed() => return,
            item = stream.message() => item,
        };
        let mut next = Some(first);
        while let Some(item) = next.take() {
            match item {
                Ok(Some(v1::WatchItem { item: Some(v1::watch_item::Item::Effect(e)) })) => {
                    batch.push((Instant::now(), e))
                }
                Ok(Some(v1::WatchItem { item: Some(v1::watch_item::Item::Lagged(n)) })) => {
                    stats.lagged.fetch_add(n, Ordering::Relaxed);
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => {
                    // The daemon ended the watch (shutting down) or the connection broke.
                    ended.store(true, Ordering::Release);
                    if !batch.is_empty() {
                        stats.effects.fetch_add(batch.len() as u64, Ordering::Relaxed);
                        lock(&source).observe(which, &batch, &stats);
                    }
                    return;
                }
            }
            if batch.len() < 256 {
                next = stream.message().now_or_never();
            }
        }
        stats.effects.fetch_add(batch.len() as u64, Ordering::Relaxed);
        lock(&source).observe(which, &batch, &stats);
        batch.clear();
    }
}

/// One unary call; `due` is when it was scheduled (open loop) or sent (closed loop).
async fn unary(ctx: &mut Ctx, event: v1::Event, due: Instant) {
    let sent = Instant::now();
    ctx.stats.sent.fetch_add(1, Ordering::Relaxed);
    let result = ctx.router.ingest(event).await;
    let done = Instant::now();
    match result {
        Ok(_) => {
            ctx.stats.accepted.fetch_add(1, Ordering::Relaxed);
        }
        Err(s) => ctx.stats.error(s.code(), 1, s.message()),
    }
    ctx.stats.answered(1, done);
    lock(&ctx.stats.ingest).record(done.saturating_duration_since(due));
    lock(&ctx.stats.service).record(done.saturating_duration_since(sent));
    ctx.in_flight.fetch_sub(1, Ordering::AcqRel);
}

/// Counts a stream's reply (or failure) for its `n` events.
fn stream_outcome(
    stats: &Stats,
    n: u64,
    result: Result<tonic::Response<v1::IngestStreamReply>, tonic::Status>,
) {
    match result {
        Ok(reply) => {
            let reply = reply.into_inner();
            stats.accepted.fetch_add(reply.accepted + reply.duplicates, Ordering::Relaxed);
            for r in &reply.rejected {
                stats.error(tonic::Code::from(r.code), 1, &r.error);
            }
        }
        Err(s) => stats.error(s.code(), n, s.message()),
    }
}

async fn closed_unary_lane(mut ctx: Ctx, end: Instant) {
    loop {
        let now = Instant::now();
        if now >= end {
            return;
        }
        let Some(event) = lock(&ctx.source).next_useful(now, now) else {
            // Too many filler tickets unsolved: let the watchers catch up.
            tokio::time::sleep(Duration::from_millis(1)).await;
            continue;
        };
        ctx.in_flight.fetch_add(1, Ordering::AcqRel);
        unary(&mut ctx, event, now).await;
    }
}

async fn closed_stream_lane(mut ctx: Ctx, end: Instant, batch: usize) {
    loop {
        let now = Instant::now();
        if now >= end {
            return;
        }
        let events = lock(&ctx.source).next_batch(batch, now);
        if events.is_empty() {
            // Too many filler tickets unsolved: let the watchers catch up.
            tokio::time::sleep(Duration::from_millis(1)).await;
            continue;
        }
        let n = events.len() as u64;
        ctx.in_flight.fetch_add(n, Ordering::AcqRel);
        ctx.stats.sent.fetch_add(n, Ordering::Relaxed);
        let started = Instant::now();
        let result = ctx.router.ingest_stream(tokio_stream::iter(events)).await;
        let done = Instant::now();
        stream_outcome(&ctx.stats, n, result);
        ctx.stats.answered(n, done);
        lock(&ctx.stats.ingest).record(done.saturating_duration_since(started));
        lock(&ctx.stats.service).record(done.saturating_duration_since(started));
        ctx.in_flight.fetch_sub(n, Ordering::AcqRel);
    }
}

/// The open loop's pacer: an OS thread, because tokio's timers have a resolution of a millisecond
/// and at tens of thousands of events a second that would add up to a millisecond of the client's
/// own lateness to every latency; a thread's sleep overshoots by tens of microseconds.
struct Pacer {
    ctx: Ctx,
    handle: tokio::runtime::Handle,
    rate: f64,
    end: Instant,
    /// Events per `IngestStream` call; `None` for unary calls.
    batch: Option<u64>,
    max_in_flight: u64,
}

/// The `IngestStream` call being filled, in open loop.
struct OpenBatch {
    tx: mpsc::UnboundedSender<v1::Event>,
    closed: oneshot::Sender<(Instant, u64)>,
    n: u64,
}

impl Pacer {
    fn run(self) {
        let t0 = self.ctx.stats.t0;
        let interval = 1.0 / self.rate;
        let mut i: u64 = 0;
        let mut open: Option<OpenBatch> = None;
        let mut due_now: Vec<(Instant, v1::Event)> = Vec::new();
        loop {
            let now = Instant::now();
            if now >= self.end {
                break;
            }
            // Every event due by now, up to the in-flight bound, taken under one lock.
            let room = self.max_in_flight.saturating_sub(self.ctx.in_flight.load(Ordering::Acquire));
            {
                let mut source = lock(&self.ctx.source);
                while (due_now.len() as u64) < room {
                    let due = t0 + Duration::from_secs_f64(i as f64 * interval);
                    if due > now || due >= self.end {
                        break;
                    }
                    due_now.push((due, source.next(now, due)));
                    i += 1;
                }
            }
            for (due, event) in due_now.drain(..) {
                self.dispatch(due, event, &mut open);
            }
            let next = t0 + Duration::from_secs_f64(i as f64 * interval);
            let now = Instant::now();
            if next > now {
                std::thread::sleep((next - now).min(self.end.saturating_duration_since(now)));
            } else if room == 0 {
                // At the in-flight bound: wait for answers (the wait shows in the latencies).
                std::thread::sleep(Duration::from_micros(100));
            }
        }
        if let Some(b) = open.take() {
            close(b);
        }
    }

    fn dispatch(&self, due: Instant, event: v1::Event, open: &mut Option<OpenBatch>) {
        let stats = &self.ctx.stats;
        lock(&stats.lateness).record(Instant::now().saturating_duration_since(due));
        self.ctx.in_flight.fetch_add(1, Ordering::AcqRel);
        let Some(size) = self.batch else {
            let mut ctx = self.ctx.clone();
            self.handle.spawn(async move { unary(&mut ctx, event, due).await });
            return;
        };
        let b = open.get_or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            let (closed, closed_rx) = oneshot::channel();
            let mut ctx = self.ctx.clone();
            self.handle.spawn(async move {
                let result =
                    ctx.router.ingest_stream(tokio_stream::wrappers::UnboundedReceiverStream::new(rx)).await;
                let done = Instant::now();
                let (closed_at, n) = closed_rx.await.unwrap_or((done, 0));
                stream_outcome(&ctx.stats, n, result);
                ctx.stats.answered(n, done);
                lock(&ctx.stats.ingest).record(done.saturating_duration_since(closed_at));
                lock(&ctx.stats.service).record(done.saturating_duration_since(closed_at));
                ctx.in_flight.fetch_sub(n, Ordering::AcqRel);
            });
            OpenBatch { tx, closed, n: 0 }
        });
        stats.sent.fetch_add(1, Ordering::Relaxed);
        // The call's task only ends after the stream is closed, so the receiver is still there.
        let _ = b.tx.send(event);
        b.n += 1;
        if b.n >= size
            && let Some(b) = open.take()
        {
            close(b);
        }
    }
}

/// Ends an open-loop `IngestStream` call: no more events, and the time the last one was handed over.
fn close(b: OpenBatch) {
    drop(b.tx);
    let _ = b.closed.send((Instant::now(), b.n));
}

/// The run's figures, for the summary and the JSON report.
struct Report<'a> {
    args: &'a Args,
    run_id: &'a str,
    stats: &'a Stats,
    source: &'a Mutex<Source>,
    floor_before: &'a Latency,
    floor_after: &'a Latency,
    unanswered: u64,
    watch_ended: bool,
    setup: &'a SetupTally,
}

impl Report<'_> {
    fn elapsed_s(&self) -> f64 {
        (self.stats.last_answer_ns.load(Ordering::Relaxed) as f64 / 1e9).max(1e-9)
    }

    fn floor(&self) -> Result<Latency> {
        let mut all = Latency::new()?;
        all.add(self.floor_before);
        all.add(self.floor_after);
        Ok(all)
    }

    fn ratio(a: f64, b: f64) -> Value {
        if b > 0.0 && a > 0.0 { json!((a / b * 100.0).round() / 100.0) } else { Value::Null }
    }

    fn json(&self) -> Result<Value> {
        let s = self.stats;
        let a = self.args;
        let floor = self.floor()?;
        let ingest = lock(&s.ingest);
        let counts = lock(self.source).counts();
        let tracked = lock(self.source).tracker_counts();
        let completed = s.completed.load(Ordering::Relaxed);
        Ok(json!({
            "run_id": self.run_id,
            "config": {
                "addr": a.addr,
                "mode": match a.mode { Mode::Open => "open", Mode::Closed => "closed" },
                "transport": if a.stream { "stream" } else { "unary" },
                "rate": (a.mode == Mode::Open).then_some(a.rate),
                "concurrency": (a.mode == Mode::Closed).then_some(a.concurrency),
                "batch": a.stream.then_some(a.batch),
                "duration_s": a.duration,
                "accounts": a.accounts,
                "agents_per_account": a.agents,
                "skills": a.skills,
                "arrivals_per_minute": a.arrivals,
                "speed": a.speed,
                "seed": a.seed,
                "preroll_min": a.preroll,
                "floor_calls": a.floor_calls,
                "max_in_flight": a.max_in_flight,
            },
            "setup": { "events": self.setup.sent, "refused": self.setup.refused, "first_refusal": self.setup.first_refusal },
            "elapsed_s": (self.elapsed_s() * 1000.0).round() / 1000.0,
            "events": {
                "sent": s.sent.load(Ordering::Relaxed),
                "answered": completed,
                "accepted": s.accepted.load(Ordering::Relaxed),
                "refused": s.error_total(),
                "refused_by_code": *lock(&s.errors),
                "first_error_by_code": *lock(&s.error_samples),
                "unanswered": self.unanswered,
                "per_second": (completed as f64 / self.elapsed_s()).round(),
                "simulated": counts.sim,
                "filler_new_conversations": counts.filler_new,
                "filler_accepts_and_solves": counts.filler_reactions,
                "filler_nudges": counts.nudges,
            },
            "ingest_latency": {
                "unit": if a.stream { "batch" } else { "event" },
                "from": match a.mode { Mode::Open => "scheduled send time", Mode::Closed => "send time" },
                "latency": ingest.to_json(),
                "service_time": lock(&s.service).to_json(),
            },
            "open_loop_lateness": (a.mode == Mode::Open).then(|| lock(&s.lateness).to_json()),
            "event_to_ticket_created": lock(&s.to_created).to_json(),
            "event_to_offer": lock(&s.to_offer).to_json(),
            "new_tickets": {
                "never_created": tracked.never_created,
                "waiting_at_end": tracked.still_waiting,
                "offered_later": tracked.not_at_once,
            },
            "watch": {
                "effects": s.effects.load(Ordering::Relaxed),
                "lagged": s.lagged.load(Ordering::Relaxed),
                "ended_early": self.watch_ended,
            },
            "transport_floor": {
                "call": "grpc.health.v1.Health/Check",
                "before": self.floor_before.to_json(),
                "after": self.floor_after.to_json(),
                "all": floor.to_json(),
            },
            "router_cost_over_floor": {
                "p50": Self::ratio(ingest.quantile_us(0.5), floor.quantile_us(0.5)),
                "p99": Self::ratio(ingest.quantile_us(0.99), floor.quantile_us(0.99)),
            },
        }))
    }

    fn print(&self) {
        let s = self.stats;
        let completed = s.completed.load(Ordering::Relaxed);
        let counts = lock(self.source).counts();
        let tracked = lock(self.source).tracker_counts();
        let ingest = lock(&s.ingest);
        println!();
        println!(
            "  events:     {completed} answered in {:.2}s = {:.0} events/s ({} accepted, {} refused{})",
            self.elapsed_s(),
            completed as f64 / self.elapsed_s(),
            s.accepted.load(Ordering::Relaxed),
            s.error_total(),
            if self.unanswered > 0 { format!(", {} unanswered", self.unanswered) } else { String::new() }
        );
        println!(
            "              simulated {}, filler: {} new conversations, {} accepts/solves, {} nudges",
            counts.sim, counts.filler_new, counts.filler_reactions, counts.nudges
        );
        for (code, n) in lock(&s.errors).iter() {
            let sample = lock(&s.error_samples).get(code).cloned().unwrap_or_default();
            println!("              refused {code}: {n} (first: {sample})");
        }
        let unit = if self.args.stream { "per batch" } else { "per event" };
        println!("  ingest ({unit}):   {}", ingest.line());
        if self.args.mode == Mode::Open {
            println!("    service time:     {}", lock(&s.service).line());
            println!("    pacer lateness:   {}", lock(&s.lateness).line());
        }
        println!("  event → created:    {}", lock(&s.to_created).line());
        println!("  event → offer:      {}", lock(&s.to_offer).line());
        println!(
            "    new tickets: {} offered later (waited), {} waiting at the end, {} never seen created",
            tracked.not_at_once, tracked.still_waiting, tracked.never_created
        );
        let lagged = s.lagged.load(Ordering::Relaxed);
        println!(
            "  watch: {} effects{}{}",
            s.effects.load(Ordering::Relaxed),
            if lagged > 0 {
                format!(", {lagged} DROPPED by the daemon (watcher lagged)")
            } else {
                String::new()
            },
            if self.watch_ended { ", the daemon ended the watch early" } else { "" }
        );
        println!("  floor before:       {}", self.floor_before.line());
        println!("  floor after:        {}", self.floor_after.line());
        if let Ok(floor) = self.floor() {
            let r = |a: f64, b: f64| if b > 0.0 { format!("{:.2}x", a / b) } else { "-".into() };
            println!(
                "  router cost / transport floor: p50 {} / {} = {}, p99 {} / {} = {}",
                human(ingest.quantile_us(0.5)),
                human(floor.quantile_us(0.5)),
                r(ingest.quantile_us(0.5), floor.quantile_us(0.5)),
                human(ingest.quantile_us(0.99)),
                human(floor.quantile_us(0.99)),
                r(ingest.quantile_us(0.99), floor.quantile_us(0.99)),
            );
        }
    }
}
