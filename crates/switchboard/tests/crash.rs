//! Crash safety of the real daemon: `switchboard serve` is killed with SIGKILL at random moments
//! while a bounded stream of events is being ingested, restarted on the same data directory, and fed
//! again from the first event it had not acknowledged, with the same event ids, until every event
//! is acknowledged. The test then proves the storage contract (`switchboard-runtime`'s `store.rs`):
//!
//! - every acknowledged event is reflected: the daemon's state, read through the gRPC queries, equals
//!   a fresh in-process replay of all the events, live and again after one more kill and restart;
//! - nothing is applied twice: an event sent again after a crash comes back as a duplicate if it was
//!   logged before the crash, every event's answer (accepted or its refusal) is the replay's, and an
//!   already acknowledged event sent again is answered `applied = false`.
//!
//! The seed is printed first; `SWITCHBOARD_CRASH_SEED=<seed>` repeats the simulator's seed and the kill
//! delays (the stream also depends on the simulated start, 12 hours from now, and the moments the
//! kills land on depend on the machine's speed).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use switchboard_core::{Config, EffectKind, Engine, ErrorClass, Event, Millis};
use switchboard_proto::convert;
use switchboard_proto::v1;
use switchboard_proto::v1::router_client::RouterClient;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

/// Lines asked of the simulator; a few bad ones are dropped.
const EVENTS: u64 = 1500;
/// Kills while the stream runs: at least this many...
const MIN_KILLS: u64 = 3;
/// ...and at most this many.
const MAX_KILLS: u64 = 5;
/// A kill comes this long (ms, inclusive range) after the daemon says it is serving...
const KILL_AFTER_MS: (u64, u64) = (50, 400);
/// ...except in one round, which lives past the first snapshot (taken a second after the start):
/// that kill lands while a snapshot is being written or after the log was trimmed behind it.
const LONG_KILL_AFTER_MS: (u64, u64) = (1000, 1600);
const HOUR_MS: Millis = 3_600_000;
/// The most entries `ListQueue` returns with the shipped limits.
const MAX_QUEUE_LISTING: usize = 1000;

/// SplitMix64: a few lines of seeded randomness, enough to pick kill delays and events.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform enough in `lo..=hi` for a test.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

fn now_ms() -> Millis {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_millis() as Millis
}

/// One event of the stream, as the replay applies it and as it is sent.
struct Input {
    at: Millis,
    event: Event,
    proto: v1::Event,
}

/// The simulator's first `n` lines from `start_ms` on, as the events a client can send, event i with
/// the id `e-{i}`, then a tick at the last event's time.
///
/// A few lines are deliberately bad: those that do not decode, or whose `at` goes backwards, never
/// reach a daemon and are dropped; the others name tickets or agents that do not exist, so the
/// daemon logs them and refuses them, and they go through the crashes like the rest.
///
/// The tick is there because a daemon's shards keep time separately: with events far ahead of the
/// wall clock, a shard's timers fire only when one of its own events arrives, whereas the replay's
/// single engine fires every account's timers at any account's event. Timers fire at their own due
/// time either way, so the two agree except for a timer of one shard's account that falls due after
/// that account's last event but before the stream's last event (about 1 seed in 40 with two
/// accounts on two shards). A tick reaches every shard and moves them all to the same final time,
/// as it moves the replay.
fn stream(seed: u64, start_ms: Millis, n: u64) -> Vec<Input> {
    let params = switchboard_sim::SimParams {
        start_ms,
        accounts: 2,
        agents_per_account: 20,
        arrivals_per_minute: 6.0,
        bad_line_ratio: 0.05,
        seed,
        ..switchboard_sim::SimParams::default()
    };
    let mut lines = Vec::new();
    let stats =
        switchboard_sim::generate(params, Config::default(), n, &mut lines).expect("the simulator runs");
    assert_eq!(stats.lines, n, "the simulator produced fewer lines than asked for");
    assert_eq!(stats.refused, 0, "the simulator's own events are valid");
    let text = String::from_utf8(lines).expect("JSON lines are UTF-8");
    let mut inputs: Vec<Input> = Vec::with_capacity(n as usize + 1);
    for line in text.split_inclusive('\n') {
        let Ok(obj) = switchboard_wire::parse_object(line) else { continue };
        let Ok(at) = switchboard_wire::at_of(&obj) else { continue };
        if inputs.last().is_some_and(|last| at < last.at) {
            continue;
        }
        let Ok(event) = switchboard_wire::decode_event(&obj, &switchboard_wire::ShapeOnly) else { continue };
        let id = format!("e-{}", inputs.len());
        let proto = convert::event_to_proto(Some(at), Some(id), event.clone());
        inputs.push(Input { at, event, proto });
    }
    let end = inputs.last().expect("events").at;
    // A tick has no account, so the daemon keeps no id for it; sending it twice at the same time
    // changes nothing.
    inputs.push(Input {
        at: end,
        event: Event::Tick,
        proto: convert::event_to_proto(Some(end), None, Event::Tick),
    });
    inputs
}

/// How the daemon acknowledged an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// OK, applied.
    Applied,
    /// OK, `applied = false`: its id was seen before.
    Duplicate,
    /// Logged and refused by the engine, with this code.
    Refused(Code),
}

/// The gRPC code the daemon answers for an engine refusal (the service's mapping).
fn code_of(class: ErrorClass) -> Code {
    match class {
        ErrorClass::InvalidArgument => Code::InvalidArgument,
        ErrorClass::NotFound => Code::NotFound,
        ErrorClass::FailedPrecondition => Code::FailedPrecondition,
        ErrorClass::AlreadyExists => Code::AlreadyExists,
    }
}

/// Sends one event. `Ok` is an acknowledgement; `Err` means the outcome is unknown (the daemon may
/// or may not have logged the event).
async fn ingest(client: &mut RouterClient<Channel>, event: v1::Event) -> Result<Outcome, Status> {
    match client.ingest(event).await {
        Ok(reply) if reply.get_ref().applied => Ok(Outcome::Applied),
        Ok(_) => Ok(Outcome::Duplicate),
        // The engine's refusals: the event was logged, then refused, which is an answer too.
        Err(s)
            if matches!(
                s.code(),
                Code::InvalidArgument | Code::NotFound | Code::FailedPrecondition | Code::AlreadyExists
            ) =>
        {
            Ok(Outcome::Refused(s.code()))
        }
        Err(s) => Err(s),
    }
}

async fn connect(url: &str) -> Result<RouterClient<Channel>, tonic::transport::Error> {
    // Bounded, so that a daemon that hangs fails the test instead of stalling it.
    let channel = Endpoint::from_shared(url.to_owned())?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .connect()
        .await?;
    Ok(RouterClient::new(channel))
}

/// Lines the daemons wrote on stderr, kept to explain a failure.
type Log = Arc<Mutex<Vec<String>>>;

/// A running `switchboard serve`.
struct Daemon {
    /// Shared with the killer thread.
    child: Arc<Mutex<Child>>,
    url: String,
}

/// The data directory, the configuration and the daemon of the moment. Dropping it kills the
/// daemon, so no exit path (a failed assertion included) leaves a process behind; after a failure
/// it prints the daemons' logs and keeps the data directory for a look.
struct Harness {
    dir: PathBuf,
    config: PathBuf,
    log: Log,
    starts: usize,
    daemon: Option<Daemon>,
}

impl Harness {
    fn new(seed: u64) -> Harness {
        let dir =
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("crash-{}-{seed}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the test directory");
        let data = dir.join("data");
        let data = data.to_str().expect("a UTF-8 path");
        // A TOML literal string takes the path as it is, provided it has no quote or newline.
        assert!(!data.contains(['\'', '\n']), "unusual test directory {data:?}");
        let config = dir.join("switchboard.toml");
        // Ports 0: the OS picks free ones, found in the log. Timers far ahead: events are 12 hours
        // in the future, within the allowed skew. A snapshot every second: the crashes also hit
        // snapshots being written and logs being trimmed, and recovery starts from a snapshot.
        let toml = format!(
            "[server]\ngrpc_addr = \"127.0.0.1:0\"\nhttp_addr = \"127.0.0.1:0\"\n\n\
             [runtime]\nshards = 2\nmax_future_skew_ms = 86400000\n\n\
             [storage]\ndir = '{data}'\nfsync = \"always\"\nsnapshot_every_s = 1\n"
        );
        std::fs::write(&config, toml).expect("write the configuration");
        Harness { dir, config, log: Log::default(), starts: 0, daemon: None }
    }

    /// Starts the daemon and waits until it serves.
    fn start(&mut self) -> &Daemon {
        assert!(self.daemon.is_none(), "one daemon at a time on a data directory");
        self.starts += 1;
        let run = self.starts;
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .arg("serve")
            .arg("--config")
            .arg(&self.config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start switchboard serve");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel();
        let log = self.log.clone();
        // Drains stderr for the daemon's whole life, so it never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("switchboard is serving").nth(1) {
                    let addr = rest.split_whitespace().find_map(|kv| kv.strip_prefix("grpc="));
                    let _ = tx.send(addr.map(String::from));
                }
                log.lock().unwrap().push(format!("[daemon {run}] {line}"));
            }
        });
        let child = Arc::new(Mutex::new(child));
        self.daemon = Some(Daemon { child: child.clone(), url: String::new() });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Some(addr)) => addr,
            Ok(None) => panic!("daemon {run}: no grpc= address in its serving line"),
            // The sender is gone: stderr closed, so the daemon exited (recovery failed?).
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.lock().unwrap().wait();
                panic!("daemon {run} exited before serving: {status:?}")
            }
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("daemon {run} did not serve within 30 s"),
        };
        let daemon = self.daemon.as_mut().expect("just started");
        daemon.url = format!("http://{addr}");
        daemon
    }

    /// What daemon `run` logged about its recovery: per shard, the snapshot it started from and the
    /// log records it replayed.
    fn recovery_lines(&self, run: usize) -> String {
        let prefix = format!("[daemon {run}] ");
        let log = self.log.lock().unwrap();
        let field = |line: &str, key: &str| {
            line.split_whitespace().find_map(|kv| kv.strip_prefix(key)).unwrap_or("?").to_owned()
        };
        log.iter()
            .filter(|l| l.starts_with(&prefix) && l.contains(" recovered"))
            .map(|l| {
                let (shard, snap, replayed) =
                    (field(l, "shard="), field(l, "snapshot_seq="), field(l, "replayed="));
                format!("shard {shard}: snapshot {snap} + {replayed}")
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Waits for a killed daemon to be gone.
    fn reap(&mut self) {
        let daemon = self.daemon.take().expect("a daemon");
        let status = daemon.child.lock().unwrap().wait().expect("wait for the daemon");
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9), "killed by SIGKILL");
    }

    /// Kills the daemon now, with nothing in flight.
    fn kill(&mut self) {
        let daemon = self.daemon.as_ref().expect("a daemon");
        daemon.child.lock().unwrap().kill().expect("kill the daemon");
        self.reap();
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(daemon) = self.daemon.take() {
            let mut child = daemon.child.lock().unwrap_or_else(|e| e.into_inner());
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
            eprintln!("--- the daemons' last log lines ---");
            for line in log.iter().skip(log.len().saturating_sub(80)) {
                eprintln!("{line}");
            }
            eprintln!("--- data directory kept: {} ---", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// When a killer fires: after a random delay, or once the round has had its share of the events
/// acknowledged (then after a random fraction of a request), whichever comes first. The share makes
/// every planned kill land while the stream still runs, however fast the machine is.
#[derive(Debug, Clone, Copy)]
struct Trigger {
    after: Duration,
    share: usize,
    jitter: Duration,
}

/// A thread that kills the daemon with SIGKILL when its trigger says, unless disarmed first.
struct Killer {
    disarm: mpsc::Sender<()>,
    thread: JoinHandle<Option<String>>,
    /// Set just before the signal goes out: an error seen while it is unset is not the kill's doing.
    fired: Arc<AtomicBool>,
}

impl Killer {
    /// `acked` counts the events the round has had acknowledged.
    fn arm(child: Arc<Mutex<Child>>, trigger: Trigger, acked: Arc<AtomicUsize>) -> Killer {
        let (disarm, rx) = mpsc::channel::<()>();
        let fired = Arc::new(AtomicBool::new(false));
        let flag = fired.clone();
        let thread = std::thread::spawn(move || {
            let armed = Instant::now();
            // Waiting on the channel is the sleep: a disarm ends it at once.
            let wait = |d: Duration| matches!(rx.recv_timeout(d), Err(mpsc::RecvTimeoutError::Timeout));
            let why = loop {
                if armed.elapsed() >= trigger.after {
                    break format!("after {} ms", trigger.after.as_millis());
                }
                if acked.load(Ordering::SeqCst) >= trigger.share {
                    // Somewhere inside the next request: on the wire, logging, applying, answering.
                    if !wait(trigger.jitter) {
                        return None;
                    }
                    break format!("after its share of {} events", trigger.share);
                }
                if !wait(Duration::from_micros(500)) {
                    return None;
                }
            };
            flag.store(true, Ordering::SeqCst);
            // `Child::kill` is SIGKILL: no shutdown, no final snapshot, no flush.
            child.lock().unwrap().kill().expect("kill the daemon");
            Some(why)
        });
        Killer { disarm, thread, fired }
    }

    /// Stops the killer if it has not fired yet; says why it fired, if it did.
    fn disarm(self) -> Option<String> {
        let _ = self.disarm.send(());
        self.thread.join().expect("the killer thread")
    }
}

/// Sends events from `outcomes.len()` on, one at a time and in order, recording each answer, until
/// all are acknowledged or an answer is unknown. Only the first event sent after a crash may come
/// back as a duplicate: it may be the one that was in flight and logged when the daemon died.
async fn feed(
    url: &str,
    inputs: &[Input],
    outcomes: &mut Vec<Outcome>,
    after_crash: bool,
    fired: &AtomicBool,
    acked: &AtomicUsize,
) -> Result<(), String> {
    let from = outcomes.len();
    let unknown = |what: String| {
        // An unknown outcome is expected only once the daemon has been killed.
        assert!(fired.load(Ordering::SeqCst), "the daemon failed without being killed: {what}");
        Err(what)
    };
    let mut client = match connect(url).await {
        Ok(client) => client,
        Err(e) => return unknown(format!("connecting: {e}")),
    };
    while let Some(input) = inputs.get(outcomes.len()) {
        let i = outcomes.len();
        match ingest(&mut client, input.proto.clone()).await {
            Ok(Outcome::Duplicate) if !(after_crash && i == from) => {
                panic!("event e-{i} was answered as a duplicate, but it had never been sent before")
            }
            Ok(outcome) => {
                outcomes.push(outcome);
                acked.fetch_add(1, Ordering::SeqCst);
            }
            Err(s) => return unknown(format!("e-{i} in flight: {:?}, {}", s.code(), s.message())),
        }
    }
    Ok(())
}

/// The events applied in order at their own times by one fresh engine: the reference.
struct Replay {
    engine: Engine,
    /// Each event's result.
    results: Vec<Result<(), ErrorClass>>,
    /// Every ticket created, as (account, ticket).
    tickets: Vec<(String, String)>,
}

fn replay(inputs: &[Input]) -> Replay {
    let mut engine = Engine::new(Config::default()).expect("the default configuration");
    let mut effects = Vec::new();
    let mut results = Vec::with_capacity(inputs.len());
    let mut tickets = Vec::new();
    for input in inputs {
        effects.clear();
        results.push(engine.apply(&input.event, input.at, &mut effects).map_err(|e| e.class()));
        for e in &effects {
            if matches!(e.kind, EffectKind::TicketCreated { .. }) {
                tickets.push((e.account.to_string(), e.ticket.to_string()));
            }
        }
    }
    Replay { engine, results, tickets }
}

/// Unwraps a query's answer.
fn answer<T>(what: &str, r: Result<tonic::Response<T>, Status>) -> T {
    r.unwrap_or_else(|s| panic!("{what}: {s}")).into_inner()
}

/// Compares the daemon's state with the replay's through every query, leaving out the waits, which
/// the daemon measures against its wall clock.
async fn compare(url: &str, replay: &Replay) {
    let mut client = connect(url).await.expect("connect to the daemon");
    let engine = &replay.engine;
    let mut accounts: Vec<String> = engine.account_names().iter().map(|a| a.to_string()).collect();
    accounts.sort();
    let listed = answer("ListAccounts", client.list_accounts(v1::ListAccountsRequest {}).await);
    assert_eq!(listed.accounts, accounts, "accounts");

    for account in &accounts {
        let agents = answer(
            "ListAgents",
            client.list_agents(v1::ListAgentsRequest { account: account.clone() }).await,
        );
        let expected: Vec<v1::Agent> = engine.agents(account).iter().map(convert::agent_to_proto).collect();
        assert_eq!(agents.agents, expected, "{account}: agents");

        let mut stats = answer(
            "GetAccountStats",
            client.get_account_stats(v1::GetAccountStatsRequest { account: account.clone() }).await,
        );
        let mut expected = convert::stats_to_proto(&engine.stats(account).expect("replayed account"), 0);
        for c in stats.channels.iter_mut().chain(expected.channels.iter_mut()) {
            c.oldest_wait_ms_by_priority.clear();
        }
        assert_eq!(stats, expected, "{account}: stats");

        let mut queue = answer(
            "ListQueue",
            client.list_queue(v1::ListQueueRequest { account: account.clone(), limit: None }).await,
        );
        let mut expected: Vec<v1::QueueEntry> = engine
            .queue(account, MAX_QUEUE_LISTING)
            .iter()
            .enumerate()
            .map(|(i, q)| convert::queue_entry_to_proto(i, q, 0))
            .collect();
        for q in queue.entries.iter_mut().chain(expected.iter_mut()) {
            q.wait_ms = 0;
        }
        assert_eq!(queue.entries, expected, "{account}: queue");
        assert_eq!(queue.total, u64::from(stats.queued), "{account}: queue total");
    }

    for (account, ticket) in &replay.tickets {
        let request = v1::GetTicketRequest { account: account.clone(), ticket: ticket.clone() };
        let mut got = answer("GetTicket", client.get_ticket(request).await);
        let mut expected = convert::ticket_to_proto(&engine.ticket(account, ticket).expect("created"), 0);
        got.wait_ms = None;
        expected.wait_ms = None;
        assert_eq!(got, expected, "{account}: ticket {ticket}");
    }
}

/// Sends already acknowledged, accepted events again: each must come back as a duplicate.
async fn resend(url: &str, inputs: &[Input], which: &[usize]) {
    let mut client = connect(url).await.expect("connect to the daemon");
    for &i in which {
        let outcome = ingest(&mut client, inputs[i].proto.clone()).await;
        let outcome = outcome.unwrap_or_else(|s| panic!("event e-{i} sent again: {s}"));
        assert_eq!(outcome, Outcome::Duplicate, "event e-{i} sent again");
    }
}

#[test]
fn acknowledged_events_survive_kill_9() {
    let started = Instant::now();
    let seed = match std::env::var("SWITCHBOARD_CRASH_SEED") {
        Ok(s) => s.parse().expect("SWITCHBOARD_CRASH_SEED is a u64"),
        Err(_) => SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_nanos() as u64,
    };
    println!("seed {seed} (SWITCHBOARD_CRASH_SEED={seed} repeats it)");
    let mut rng = Rng(seed);

    // 12 hours ahead: the daemon's own timers (due at engine time, far past its wall clock) never
    // fire, so it applies everything exactly at the events' times, as the replay does.
    let now = now_ms();
    let start_ms = now + 12 * HOUR_MS;
    let inputs = stream(seed, start_ms, EVENTS);
    let end = inputs.last().expect("events").at;
    println!("{} events from {start_ms}, over {} s of simulated time", inputs.len(), (end - start_ms) / 1000);
    assert!(end < now + 23 * HOUR_MS, "the stream must end within the daemon's allowed skew");

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio");
    let mut harness = Harness::new(seed);
    let planned = rng.range(MIN_KILLS, MAX_KILLS);
    let long_round = rng.range(0, planned - 1);
    // Rounds share out the remaining events by weight, the last round (not killed) included; the
    // long round needs more of them to outlive a snapshot.
    let weight = |round: u64| if round == long_round { 3 } else { 1 };
    let mut outcomes: Vec<Outcome> = Vec::with_capacity(inputs.len());
    let mut kills = 0;
    // Of the events in flight at a kill, those the restarted daemon had logged (a duplicate on
    // resend) and those it had not (applied then).
    let (mut resent_logged, mut resent_new) = (0, 0);

    while outcomes.len() < inputs.len() {
        let from = outcomes.len();
        let after_crash = kills > 0;
        let up = Instant::now();
        let daemon = harness.start();
        let ready_ms = up.elapsed().as_millis();
        let url = daemon.url.clone();
        let trigger = (kills < planned).then(|| {
            let (lo, hi) = if kills == long_round { LONG_KILL_AFTER_MS } else { KILL_AFTER_MS };
            let weights: u64 = (kills..planned).map(weight).sum::<u64>() + 1;
            let share = (inputs.len() - from) as u64 * weight(kills) / weights;
            Trigger {
                after: Duration::from_millis(rng.range(lo, hi)),
                share: share.max(1) as usize,
                jitter: Duration::from_micros(rng.range(0, 2000)),
            }
        });
        let acked = Arc::new(AtomicUsize::new(0));
        let killer = trigger.map(|t| Killer::arm(daemon.child.clone(), t, acked.clone()));
        let never = AtomicBool::new(false);
        let fired = killer.as_ref().map_or(&never, |k| &*k.fired);
        let result = rt.block_on(feed(&url, &inputs, &mut outcomes, after_crash, fired, &acked));
        let killed = killer.and_then(Killer::disarm);
        if after_crash && outcomes.len() > from {
            match outcomes[from] {
                Outcome::Duplicate => resent_logged += 1,
                _ => resent_new += 1,
            }
        }
        let end = match (&killed, &result) {
            (Some(when), Err(e)) => format!("killed {when} ({e})"),
            (Some(when), Ok(())) => format!("killed {when}, after the last event"),
            (None, _) => "all acknowledged".into(),
        };
        println!(
            "daemon {}: serving after {ready_ms} ms [{}]; events {from}..{}, {end}",
            harness.starts,
            harness.recovery_lines(harness.starts),
            outcomes.len(),
        );
        if killed.is_some() {
            kills += 1;
            harness.reap();
        }
    }
    assert!(kills >= MIN_KILLS, "only {kills} kills landed: the stream ended too soon");
    if harness.daemon.is_none() {
        harness.start();
    }
    println!(
        "{kills} kills in {} ms; events in flight at a kill: {resent_logged} logged, {resent_new} not",
        started.elapsed().as_millis()
    );

    // Every answer is the one the replay gives: accepted where it accepts, the same refusal where
    // it refuses.
    let replay = replay(&inputs);
    let refused = replay.results.iter().filter(|r| r.is_err()).count();
    assert!(refused > 0, "the stream has events the engine refuses");
    for (i, (outcome, result)) in outcomes.iter().zip(&replay.results).enumerate() {
        let got = match outcome {
            Outcome::Applied | Outcome::Duplicate => None,
            Outcome::Refused(code) => Some(*code),
        };
        let expected = result.err().map(code_of);
        assert_eq!(got, expected, "event e-{i}: the daemon's answer (None: accepted) and the replay's");
    }

    // Accepted events to send again: the first, the last (the tick has no id) and one at random.
    let accepted: Vec<usize> = (0..inputs.len() - 1).filter(|&i| replay.results[i].is_ok()).collect();
    let pick = accepted[rng.range(0, accepted.len() as u64 - 1) as usize];
    let again = [accepted[0], pick, *accepted.last().expect("accepted events")];

    let url = harness.daemon.as_ref().expect("a daemon").url.clone();
    rt.block_on(compare(&url, &replay));
    rt.block_on(resend(&url, &inputs, &again));

    // Once more from the disk alone: the state and the ids seen are recovered, not just kept.
    harness.kill();
    let url = harness.start().url.clone();
    println!("daemon {}: serving [{}]", harness.starts, harness.recovery_lines(harness.starts));
    rt.block_on(compare(&url, &replay));
    rt.block_on(resend(&url, &inputs, &again));
    println!(
        "{refused} events refused, {} tickets compared; {} daemons started; {} ms in all",
        replay.tickets.len(),
        harness.starts,
        started.elapsed().as_millis()
    );
}
