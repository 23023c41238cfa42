//! End-to-end throughput through the NATS JetStream bus: events published to the events stream,
//! consumed by the real `switchboard serve` (release build), logged, applied, acknowledged, and
//! their effects published to the effects stream.
//!
//! ```console
//! $ cargo build --release -p switchboard                  # the daemon under test
//! $ cargo run --release -p switchboard-benches --example bus -- --events 200000
//! ```
//!
//! Needs `nats-server` (2.9 or later) on the `PATH`. Everything runs on this machine, on loopback:
//!
//! 1. A simulated contact centre (`switchboard_sim::generate`, as `switchboard gen`: `--accounts`
//!    accounts of `--agents` agents, `--arrivals` customers a minute per account) gives `--events`
//!    lines of the replay format, plus a final `tick` at the last line's time. The simulated clock
//!    starts an hour ahead of the wall clock (the daemon runs with `max_future_skew_ms` = 1 day), so
//!    every event is applied at its own `at` and no timer fires on the wall clock: the daemon's
//!    effects are exactly a replay's, and their number is known in advance (an in-process engine
//!    replays the lines first). The simulator follows the time of day (shifts, arrivals), so the
//!    mix of a trace depends on the hour the bench is run at; the start hour is printed.
//! 2. For each mode, a fresh `nats-server -js` on a port the OS picks on 127.0.0.1, with its store
//!    in a fresh directory, and a fresh daemon: storage in the same directory (`fsync = "interval"`
//!    by default, `--fsync`), `--shards` shards, gRPC and HTTP on ephemeral loopback ports, the bus
//!    on with its shipped settings (`max_in_flight` 1024 unless `--max-in-flight`). The events
//!    stream is created here, as the daemon would create it; the daemon creates the rest.
//!    - `prepublished`: every line is published (and stored by JetStream) before the daemon starts:
//!      a backlog, drained as fast as the daemon can. Times count from the daemon's start; the
//!      rate is also given from its first acknowledgement (excluding start-up).
//!    - `live`: the daemon is started and its consumer exists; then every line is published at
//!      full speed while the daemon consumes. Times count from the first publication.
//!
//!    Publishing awaits JetStream's acknowledgements a thousand at a time, one thousand ahead (the
//!    client holds at most 5,000 unacknowledged publications). Each line goes to
//!    `switchboard.events.<account>`, as README.md's "Feeding from NATS" says.
//! 3. The consumer's state and the effects stream are read every 20 ms. **Drained**: the
//!    consumer's acknowledged floor is the last line and nothing is pending or unacknowledged.
//!    **Effects stored**: the effects stream holds every effect the replay gives (more would be an
//!    error). Reported: events/s ingested (lines / time to drained) and effects/s published
//!    (effects / time to stored); the CPU time nats-server, the daemon (by thread) and this
//!    program used meanwhile (from `/proc`); and the daemon's own bus counters from `/metrics`.
//!
//! Both processes share the machine's cores with this program, as they would share a host in a
//! small deployment; the figures are for the whole pipeline, broker included. Directories are
//! removed at the end unless `--keep`. The daemon is stopped with SIGTERM, nats-server killed.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::{Context, Result, anyhow, bail};
use async_nats::jetstream;
use clap::{Parser, ValueEnum};
use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use switchboard_core::{Config, Engine, Event, Millis};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const EVENTS_STREAM: &str = "SWITCHBOARD_EVENTS";
const EFFECTS_STREAM: &str = "SWITCHBOARD_EFFECTS";
const CONSUMER: &str = "switchboard";
/// How often the consumer and the effects stream are read.
const POLL: Duration = Duration::from_millis(20);
/// Publications per chunk whose acknowledgements are awaited together.
const CHUNK: usize = 1000;
/// The daemon's allowed skew: the most the configuration accepts (1 day).
const SKEW_MS: u64 = 86_400_000;
/// How far ahead of the wall clock the simulated day starts.
const LEAD_MS: u64 = 3_600_000;

/// Arguments.
#[derive(Parser, Debug)]
#[command(about = "End-to-end events/s through NATS JetStream and a real switchboard daemon")]
struct Args {
    /// Lines of the simulated contact centre to publish (a final tick is added).
    #[arg(long, default_value_t = 200_000)]
    events: u64,
    /// Which runs to make.
    #[arg(long, value_enum, default_value_t = Mode::Both)]
    mode: Mode,
    /// Simulated accounts (enough of them that the trace fits in the daemon's allowed skew).
    #[arg(long, default_value_t = 16)]
    accounts: usize,
    /// Agents per simulated account.
    #[arg(long, default_value_t = 50)]
    agents: usize,
    /// Customer arrivals per minute per simulated account (daily mean).
    #[arg(long, default_value_t = 20.0)]
    arrivals: f64,
    /// Seed of the simulation.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The daemon's `runtime.shards` (0: one per core).
    #[arg(long, default_value_t = 0)]
    shards: usize,
    /// The daemon's `storage.fsync`: always, interval (10 ms) or never.
    #[arg(long, default_value = "interval")]
    fsync: String,
    /// The daemon's `bus.nats.max_in_flight`.
    #[arg(long, default_value_t = 1024)]
    max_in_flight: usize,
    /// The daemon binary (default: `$CARGO_TARGET_DIR` or the workspace's `target`, then
    /// `release/switchboard`).
    #[arg(long)]
    switchboard: Option<PathBuf>,
    /// The nats-server binary.
    #[arg(long, default_value = "nats-server")]
    nats_server: PathBuf,
    /// Where the runs' directories go (default: the system's temporary directory; use a real
    /// disk, a tmpfs makes fsync free).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Keep the directories (stores, logs, config) at the end.
    #[arg(long)]
    keep: bool,
    /// Seconds a run may take before it is abandoned.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Everything published before the daemon starts.
    Prepublished,
    /// Published while the daemon consumes.
    Live,
    /// Both, one after the other, each with fresh processes.
    Both,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let switchboard = match &args.switchboard {
        Some(p) => p.clone(),
        None => std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
            .join("release/switchboard"),
    };
    if !switchboard.is_file() {
        bail!(
            "no daemon at {} (cargo build --release -p switchboard, or --switchboard)",
            switchboard.display()
        );
    }
    let version = Command::new(&args.nats_server).arg("--version").output().with_context(|| {
        format!("cannot run {} (apt-get install nats-server)", args.nats_server.display())
    })?;
    println!(
        "bus bench: {} lines, {} accounts x {} agents, {} arrivals/min/account, fsync {}, {} shards, max_in_flight {}",
        args.events,
        args.accounts,
        args.agents,
        args.arrivals,
        args.fsync,
        if args.shards == 0 { "per-core".to_owned() } else { args.shards.to_string() },
        args.max_in_flight
    );
    println!("  {}, daemon {}", String::from_utf8_lossy(&version.stdout).trim(), switchboard.display());

    let started = Instant::now();
    let trace = trace(&args)?;
    println!(
        "  trace: {} lines ({:.1} simulated hours from {:02}:{:02} UTC), {} effects expected, generated and replayed in {:.2?}",
        trace.lines.len(),
        trace.span_ms as f64 / 3_600_000.0,
        trace.start_ms / 3_600_000 % 24,
        trace.start_ms / 60_000 % 60,
        trace.effects,
        started.elapsed()
    );

    let base = args.dir.clone().unwrap_or_else(std::env::temp_dir).join(format!(
        "switchboard-bus-bench-{}-{}",
        std::process::id(),
        unix_ms()
    ));
    let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let modes = match args.mode {
        Mode::Both => vec![Mode::Prepublished, Mode::Live],
        m => vec![m],
    };
    let mut results = Vec::new();
    for mode in modes {
        let dir = Scratch::new(base.join(format!("{mode:?}").to_lowercase()), args.keep)?;
        let result = tokio.block_on(run(&args, &switchboard, &trace, mode, &dir.0))?;
        results.push(result);
    }
    if args.keep {
        println!("  kept {}", base.display());
    } else {
        let _ = std::fs::remove_dir_all(&base);
    }
    println!();
    println!(
        "| mode | lines | effects | first ack s | drained s | events/s | effects stored s | effects/s |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for r in &results {
        println!(
            "| {} | {} | {} | {:.2} | {:.2} | {:.0} | {:.2} | {:.0} |",
            r.mode,
            r.lines,
            r.effects,
            r.first_ack.as_secs_f64(),
            r.drained.as_secs_f64(),
            r.lines as f64 / r.drained.as_secs_f64(),
            r.stored.as_secs_f64(),
            r.effects as f64 / r.stored.as_secs_f64()
        );
    }
    Ok(())
}

/// The lines to publish (with their subjects) and what a replay gives.
struct Trace {
    /// `(subject, line)`.
    lines: Vec<(String, String)>,
    effects: u64,
    start_ms: Millis,
    span_ms: u64,
}

/// The simulated lines, replayed through one engine to count the effects, as the daemon's shards
/// will apply them: every line at its own `at` (lines without an `at`, or going back in time,
/// would be applied at their arrival, so they are left out), then a tick at the last time so that
/// every shard's timers run as far as the replay's.
fn trace(args: &Args) -> Result<Trace> {
    let start_ms = unix_ms() + LEAD_MS;
    let params = switchboard_sim::SimParams {
        start_ms,
        accounts: args.accounts,
        agents_per_account: args.agents,
        arrivals_per_minute: args.arrivals,
        seed: args.seed,
        ..switchboard_sim::SimParams::default()
    };
    let mut out = Vec::new();
    let stats = switchboard_sim::generate(params, Config::default(), args.events, &mut out)?;
    if stats.refused > 0 {
        bail!("the simulator produced {} events the engine refuses", stats.refused);
    }
    let mut engine = Engine::new(Config::default())?;
    let mut effects = Vec::new();
    let mut count = 0u64;
    let mut last = start_ms;
    let mut lines = Vec::with_capacity(args.events as usize + 1);
    let mut left_out = 0;
    for line in String::from_utf8(out)?.lines() {
        let obj = switchboard_wire::parse_object(line).map_err(|e| anyhow!("{e}: {line}"))?;
        let Ok(at) = switchboard_wire::at_of(&obj) else {
            left_out += 1;
            continue;
        };
        if at < last {
            left_out += 1;
            continue;
        }
        let event = switchboard_wire::decode_event(&obj, &switchboard_wire::ShapeOnly)
            .map_err(|e| anyhow!("{e}: {line}"))?;
        last = at;
        effects.clear();
        engine.apply(&event, at, &mut effects).map_err(|e| anyhow!("refused ({e}): {line}"))?;
        count += effects.len() as u64;
        let account = switchboard_wire::account_of(&obj)
            .map_or_else(|| "_".to_owned(), switchboard_bus::subject::token);
        lines.push((format!("switchboard.events.{account}"), line.to_owned()));
    }
    effects.clear();
    engine.apply(&Event::Tick, last, &mut effects).map_err(|e| anyhow!("tick refused: {e}"))?;
    count += effects.len() as u64;
    lines.push(("switchboard.events._".to_owned(), format!(r#"{{"at":{last},"type":"tick"}}"#)));
    if left_out > 0 {
        eprintln!("  {left_out} lines without an `at` or going back in time left out");
    }
    let span_ms = last - start_ms;
    if span_ms + LEAD_MS + 3_600_000 > SKEW_MS {
        bail!(
            "the trace covers {:.1} simulated hours, more than the daemon's skew allows: raise --accounts or --arrivals",
            span_ms as f64 / 3_600_000.0
        );
    }
    Ok(Trace { lines, effects: count, start_ms, span_ms })
}

/// One run's times, from its start (the daemon's start, or the first publication).
struct RunResult {
    mode: &'static str,
    lines: u64,
    effects: u64,
    first_ack: Duration,
    drained: Duration,
    stored: Duration,
}

async fn run(args: &Args, switchboard: &Path, trace: &Trace, mode: Mode, dir: &Path) -> Result<RunResult> {
    let mode_name = match mode {
        Mode::Prepublished => "prepublished",
        _ => "live",
    };
    println!();
    println!("{mode_name}:");
    let nats = Nats::start(&args.nats_server, &dir.join("js"))?;
    let client = async_nats::connect(nats.url()).await.context("connect to nats-server")?;
    let js = jetstream::new(client);
    js.get_or_create_stream(jetstream::stream::Config {
        name: EVENTS_STREAM.into(),
        subjects: vec!["switchboard.events.>".into()],
        storage: jetstream::stream::StorageType::File,
        duplicate_window: Duration::from_secs(600),
        ..Default::default()
    })
    .await
    .context("create the events stream")?;
    let total = trace.lines.len() as u64;
    let config = dir.join("switchboard.toml");
    std::fs::write(&config, daemon_config(args, &dir.join("data"), &nats.url()))?;

    let (t0, publisher, daemon) = match mode {
        Mode::Prepublished => {
            let t = Instant::now();
            publish(&js, &trace.lines).await?;
            let took = t.elapsed();
            println!(
                "  published {total} lines into JetStream in {:.2}s ({:.0}/s), no consumer yet",
                took.as_secs_f64(),
                total as f64 / took.as_secs_f64()
            );
            let t0 = Instant::now();
            (t0, None, Daemon::start(switchboard, &config)?)
        }
        _ => {
            let daemon = Daemon::start(switchboard, &config)?;
            let ready = Instant::now();
            while consumer_info(&js).await.is_none() {
                if ready.elapsed() > Duration::from_secs(30) {
                    bail!("the daemon did not create its consumer within 30 s");
                }
                tokio::time::sleep(POLL).await;
            }
            println!("  the daemon's consumer exists {:.2}s after its start", ready.elapsed().as_secs_f64());
            // A connection of its own, so that reading the consumer's state never waits behind
            // publications.
            let client = async_nats::connect(nats.url()).await.context("connect to nats-server")?;
            let publish_js = jetstream::new(client);
            let lines = trace.lines.clone();
            let t0 = Instant::now();
            let task = tokio::spawn(async move { publish(&publish_js, &lines).await.map(|()| t0.elapsed()) });
            (t0, Some(task), daemon)
        }
    };

    let tick = clock_tick();
    let me = std::process::id();
    let cpu0 = [cpu(nats.child.id(), tick), cpu(daemon.pid(), tick), cpu(me, tick)];
    let deadline = t0 + Duration::from_secs(args.timeout);
    let mut first_ack = None;
    let mut drained = None;
    let mut stored = None;
    let mut published = None;
    let mut effects_stream = None;
    let mut last_report = Instant::now();
    let mut publisher = publisher;
    while drained.is_none() || stored.is_none() {
        if Instant::now() > deadline {
            bail!("not done within {} s (--timeout)", args.timeout);
        }
        if publisher.as_ref().is_some_and(|t| t.is_finished()) {
            published = Some(publisher.take().expect("checked").await??);
        }
        let info = consumer_info(&js).await;
        let floor = info.as_ref().map_or(0, |i| i.ack_floor.stream_sequence);
        if floor > 0 && first_ack.is_none() {
            first_ack = Some(t0.elapsed());
        }
        if drained.is_none()
            && info.as_ref().is_some_and(|i| floor >= total && i.num_pending == 0 && i.num_ack_pending == 0)
        {
            drained = Some(t0.elapsed());
        }
        if effects_stream.is_none() {
            effects_stream = js.get_stream(EFFECTS_STREAM).await.ok();
        }
        let mut count = 0;
        if let Some(s) = &mut effects_stream {
            count = s.info().await.map(|i| i.state.messages).unwrap_or(0);
            if count > trace.effects {
                bail!("{count} effects stored, more than the {} a replay gives", trace.effects);
            }
            if count == trace.effects && stored.is_none() {
                stored = Some(t0.elapsed());
            }
        }
        if last_report.elapsed() >= Duration::from_secs(1) {
            last_report = Instant::now();
            println!(
                "  {:5.1}s  acknowledged {floor:>8} of {total}, effects stored {count:>8} of {}",
                t0.elapsed().as_secs_f64(),
                trace.effects
            );
        }
        tokio::time::sleep(POLL).await;
    }
    let wall = t0.elapsed();
    let cpu1 = [cpu(nats.child.id(), tick), cpu(daemon.pid(), tick), cpu(me, tick)];
    if let Some(task) = publisher {
        published = Some(task.await??);
    }
    let (first_ack, drained, stored) =
        (first_ack.unwrap_or_default(), drained.expect("loop ended"), stored.expect("loop ended"));
    let since = if mode == Mode::Prepublished { "the daemon's start" } else { "the first publication" };
    println!("  times from {since}:");
    if let Some(p) = published {
        println!(
            "    published {total} lines in {:.2}s ({:.0}/s, JetStream's acknowledgements awaited)",
            p.as_secs_f64(),
            total as f64 / p.as_secs_f64()
        );
    }
    println!("    first acknowledgement after {:.2}s", first_ack.as_secs_f64());
    println!(
        "    drained (every line acknowledged) after {:.2}s: {:.0} events/s{}",
        drained.as_secs_f64(),
        total as f64 / drained.as_secs_f64(),
        if mode == Mode::Prepublished {
            format!(
                ", {:.0} events/s from the first acknowledgement",
                total as f64 / (drained - first_ack).as_secs_f64()
            )
        } else {
            String::new()
        }
    );
    println!(
        "    all {} effects stored after {:.2}s: {:.0} effects/s",
        trace.effects,
        stored.as_secs_f64(),
        trace.effects as f64 / stored.as_secs_f64()
    );
    println!("    CPU over those {:.2}s (100 % = one core; {} cores here):", wall.as_secs_f64(), cores());
    for (i, who) in ["nats-server", "switchboard serve", "this bench (publisher, poller)"].iter().enumerate()
    {
        let u = cpu_use(who, &cpu0[i], &cpu1[i]);
        let threads = if i == 1 {
            let list: Vec<String> = u
                .threads
                .iter()
                .map(|(n, s)| format!("{n} {:.0} %", s / wall.as_secs_f64() * 100.0))
                .collect();
            format!(" [{}]", list.join(", "))
        } else {
            String::new()
        };
        println!(
            "      {:<32} {:6.2}s = {:4.0} %{threads}",
            u.who,
            u.secs,
            u.secs / wall.as_secs_f64() * 100.0
        );
    }
    match daemon.metrics().await {
        Ok(m) => {
            for line in m.lines().filter(|l| {
                [
                    "switchboard_bus_messages_total",
                    "switchboard_bus_effects_published_total",
                    "switchboard_bus_effects_duplicate_total",
                    "switchboard_bus_publish_failures_total",
                    "switchboard_ingest_saturated_total",
                    "switchboard_wal_records_total",
                ]
                .iter()
                .any(|m| l.starts_with(m))
            }) {
                println!("    daemon: {line}");
            }
        }
        Err(e) => eprintln!("  cannot read the daemon's /metrics: {e:#}"),
    }
    daemon.stop().await?;
    drop(nats);
    Ok(RunResult { mode: mode_name, lines: total, effects: trace.effects, first_ack, drained, stored })
}

fn daemon_config(args: &Args, data: &Path, nats_url: &str) -> String {
    format!(
        "# Written by the bus bench (benches/examples/bus.rs).\n\
         [server]\ngrpc_addr = \"127.0.0.1:0\"\nhttp_addr = \"127.0.0.1:0\"\n\n\
         [log]\nformat = \"json\"\nlevel = \"info\"\n\n\
         [runtime]\nshards = {}\nmax_future_skew_ms = {SKEW_MS}\n\n\
         [storage]\ndir = '{}'\nfsync = \"{}\"\n\n\
         [bus.nats]\nenabled = true\nservers = [\"{nats_url}\"]\nmax_in_flight = {}\n",
        args.shards,
        data.display(),
        args.fsync,
        args.max_in_flight
    )
}

/// Publishes every line in order: a chunk of [`CHUNK`] is sent, then the previous chunk's
/// acknowledgements are awaited, so at most two chunks are unacknowledged.
async fn publish(js: &jetstream::Context, lines: &[(String, String)]) -> Result<()> {
    let mut pending: VecDeque<Vec<jetstream::context::PublishAckFuture>> = VecDeque::new();
    for chunk in lines.chunks(CHUNK) {
        let mut acks = Vec::with_capacity(chunk.len());
        for (subject, line) in chunk {
            acks.push(js.publish(subject.clone(), line.clone().into()).await.context("publish")?);
        }
        pending.push_back(acks);
        if pending.len() > 1 {
            for ack in pending.pop_front().expect("two chunks") {
                ack.await.context("JetStream stores the event")?;
            }
        }
    }
    for acks in pending {
        for ack in acks {
            ack.await.context("JetStream stores the event")?;
        }
    }
    Ok(())
}

async fn consumer_info(js: &jetstream::Context) -> Option<jetstream::consumer::Info> {
    let mut c: jetstream::consumer::PullConsumer =
        js.get_consumer_from_stream(CONSUMER, EVENTS_STREAM).await.ok()?;
    c.info().await.ok().cloned()
}

/// CPU seconds used so far: `(process total, per thread name)`, from `/proc/<pid>/stat` and
/// `/proc/<pid>/task/*/stat` (Linux only; empty elsewhere). Threads of the same name are summed; a
/// thread that has exited counts in the total only.
fn cpu(pid: u32, tick: f64) -> (f64, BTreeMap<String, f64>) {
    // `pid (comm) state ...`: utime and stime are the 14th and 15th fields, the 12th and 13th after
    // the comm's closing parenthesis.
    let read = |path: PathBuf| -> Option<(String, f64)> {
        let text = std::fs::read_to_string(path).ok()?;
        let open = text.find('(')?;
        let close = text.rfind(')')?;
        let comm = text[open + 1..close].to_owned();
        let fields: Vec<&str> = text[close + 1..].split_whitespace().collect();
        let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
        Some((comm, ticks / tick))
    };
    let total = read(PathBuf::from(format!("/proc/{pid}/stat"))).map_or(0.0, |t| t.1);
    let mut threads = BTreeMap::new();
    if let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for entry in dir.flatten() {
            if let Some((comm, secs)) = read(entry.path().join("stat")) {
                *threads.entry(comm).or_insert(0.0) += secs;
            }
        }
    }
    (total, threads)
}

/// Clock ticks per second of `/proc`'s CPU times (`getconf CLK_TCK`, nearly always 100).
fn clock_tick() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// CPU used between two samples, as "4.1 s (205 %)" of `wall`.
struct CpuUse {
    who: String,
    secs: f64,
    threads: Vec<(String, f64)>,
}

fn cpu_use(who: &str, before: &(f64, BTreeMap<String, f64>), after: &(f64, BTreeMap<String, f64>)) -> CpuUse {
    let mut threads: Vec<(String, f64)> = after
        .1
        .iter()
        .map(|(name, secs)| (name.clone(), secs - before.1.get(name).copied().unwrap_or(0.0)))
        .filter(|(_, secs)| *secs >= 0.05)
        .collect();
    threads.sort_by(|a, b| b.1.total_cmp(&a.1));
    CpuUse { who: who.to_owned(), secs: after.0 - before.0, threads }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

fn unix_ms() -> Millis {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_millis() as Millis
}

/// A directory of the run's own: fresh at the start, removed at the end unless kept.
struct Scratch(PathBuf, bool);

impl Scratch {
    fn new(path: PathBuf, keep: bool) -> Result<Scratch> {
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).with_context(|| format!("create {}", path.display()))?;
        Ok(Scratch(path, keep))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !self.1 {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A `nats-server -js` of our own on 127.0.0.1, on a port it picks; killed when dropped.
struct Nats {
    child: Child,
    port: u16,
}

impl Nats {
    fn start(binary: &Path, store: &Path) -> Result<Nats> {
        let mut child = Command::new(binary)
            .args(["-js", "-a", "127.0.0.1", "-p", "-1", "-sd"])
            .arg(store)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("start {}", binary.display()))?;
        let stderr = child.stderr.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        // Read to the end, so that the server never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("Listening for client connections on ").nth(1) {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        let mut nats = Nats { child, port: 0 };
        let addr = rx.recv_timeout(Duration::from_secs(20)).context("nats-server did not start listening")?;
        nats.port = addr.rsplit(':').next().and_then(|p| p.parse().ok()).context("nats-server's port")?;
        Ok(nats)
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `switchboard serve`; its warnings and errors are passed on, its HTTP address noted. Killed if
/// dropped before [`Daemon::stop`].
struct Daemon {
    child: Option<Child>,
    http: Arc<Mutex<Option<String>>>,
}

impl Daemon {
    fn start(binary: &Path, config: &Path) -> Result<Daemon> {
        let mut child = Command::new(binary)
            .arg("serve")
            .arg("--config")
            .arg(config)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("start {}", binary.display()))?;
        let stderr = child.stderr.take().expect("piped");
        let http = Arc::new(Mutex::new(None));
        let noted = http.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                    eprintln!("  daemon: {line}");
                    continue;
                };
                if let Some(addr) = v.pointer("/fields/http").and_then(|a| a.as_str()) {
                    *noted.lock().expect("not poisoned") = Some(addr.to_owned());
                }
                // The warning about running without tokens is expected here (loopback only).
                let expected = v
                    .pointer("/fields/message")
                    .and_then(|m| m.as_str())
                    .is_some_and(|m| m.starts_with("NO AUTHENTICATION"));
                if matches!(v["level"].as_str(), Some("WARN" | "ERROR")) && !expected {
                    eprintln!("  daemon: {line}");
                }
            }
        });
        Ok(Daemon { child: Some(child), http })
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The daemon's `/metrics`, over plain HTTP/1.0.
    async fn metrics(&self) -> Result<String> {
        let addr =
            self.http.lock().expect("not poisoned").clone().context("the daemon logged no HTTP address")?;
        let mut s = tokio::net::TcpStream::connect(&addr).await?;
        s.write_all(format!("GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).await?;
        let mut body = String::new();
        s.read_to_string(&mut body).await?;
        Ok(body)
    }

    /// SIGTERM, then waits up to 30 s for a clean exit.
    async fn stop(mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else { return Ok(()) };
        Command::new("kill").args(["-TERM", &child.id().to_string()]).status()?;
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait()? {
                if !status.success() {
                    eprintln!("  the daemon exited with {status}");
                }
                return Ok(());
            }
            if Instant::now() > until {
                let _ = child.kill();
                let _ = child.wait();
                bail!("the daemon did not stop within 30 s of SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
