//! The NATS JetStream bus against a real `nats-server -js`, started by each test on an ephemeral
//! loopback port with its own store directory:
//!
//! - a simulated trace published to the events stream gives, account by account, exactly the
//!   effects a replay of the trace gives, in the effects stream, numbered 1, 2, ... per account;
//!   bad lines land in the dead-letter stream with their reason and are not delivered again;
//! - nats-server restarted mid-stream: nothing lost, nothing twice;
//! - the real daemon killed with SIGKILL mid-stream and restarted, several times: nothing lost,
//!   nothing twice, in the events applied or in the effects published.
//!
//! Without `nats-server` these tests are skipped with a loud message, except under `CI=true`,
//! where they fail.

use async_nats::jetstream;
use futures_util::StreamExt;
use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use switchboard_config::NatsSettings;
use switchboard_core::{Config, Engine, Event, Millis};
use switchboard_runtime::clock::Clock;
use switchboard_runtime::store::{FsyncPolicy, StoreOptions};
use switchboard_runtime::{Options, Runtime};

// ----- nats-server -------------------------------------------------------------------------------

/// A `nats-server -js` of the test's own, on 127.0.0.1.
struct Nats {
    child: Option<Child>,
    port: u16,
    store: PathBuf,
}

impl Nats {
    /// Starts one on a port the OS picks, or `None` (after saying so loudly) when the binary is
    /// missing outside CI.
    fn start(store: &Path) -> Option<Nats> {
        if Command::new("nats-server").arg("--version").output().is_err() {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true");
            assert!(!ci, "nats-server is required under CI=true (apt-get install -y nats-server)");
            eprintln!("\n*** SKIPPED: nats-server is not installed; the bus tests did not run ***\n");
            return None;
        }
        let mut nats = Nats { child: None, port: 0, store: store.to_owned() };
        nats.spawn("-1");
        Some(nats)
    }

    fn spawn(&mut self, port: &str) {
        let mut child = Command::new("nats-server")
            .args(["-js", "-a", "127.0.0.1", "-p", port, "-sd"])
            .arg(&self.store)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start nats-server");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("Listening for client connections on ").nth(1) {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        let addr = rx.recv_timeout(Duration::from_secs(20)).expect("nats-server listens");
        self.port = addr.rsplit(':').next().and_then(|p| p.parse().ok()).expect("a port");
        self.child = Some(child);
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL) and starts it again on the same port and store.
    fn restart(&mut self) {
        self.stop();
        let port = self.port.to_string();
        self.spawn(&port);
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A directory under the target dir, emptied first and removed at the end.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let p = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("bus-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create the test directory");
        Dir(p)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ----- the trace and its replay ------------------------------------------------------------------

/// A simulated trace as the lines to publish, and per account the effects a replay gives (as the
/// JSON the bus publishes), plus the number of lines that cannot apply.
struct Trace {
    lines: Vec<String>,
    effects: BTreeMap<String, Vec<String>>,
    bad: usize,
}

/// `n` simulator lines from `start_ms` (some deliberately bad), then a tick at the last time so that
/// every shard ends at the same time as the replay's single engine.
fn trace(seed: u64, start_ms: Millis, n: u64, bad_line_ratio: f64) -> Trace {
    let params = switchboard_sim::SimParams {
        start_ms,
        accounts: 3,
        agents_per_account: 10,
        arrivals_per_minute: 6.0,
        bad_line_ratio,
        seed,
        ..switchboard_sim::SimParams::default()
    };
    let mut out = Vec::new();
    switchboard_sim::generate(params, Config::default(), n, &mut out).expect("the simulator runs");
    let mut lines: Vec<String> = String::from_utf8(out).expect("UTF-8").lines().map(str::to_owned).collect();
    let mut engine = Engine::new(Config::default()).unwrap();
    let mut effects: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut bad = 0;
    let mut last = start_ms;
    let mut apply = |engine: &mut Engine, at: Millis, event: &Event| {
        let mut out = Vec::new();
        let ok = engine.apply(event, at, &mut out).is_ok();
        for e in &out {
            let mut json = Vec::new();
            switchboard_wire::write_effect(e, &mut json);
            let json = String::from_utf8(json).unwrap().trim_end().to_owned();
            effects.entry(e.account.to_string()).or_default().push(json);
        }
        ok
    };
    lines.retain(|line| {
        let obj = switchboard_wire::parse_object(line).ok();
        // Without an `at`, the bus applies an event at its arrival; the replay has no such time.
        if obj.as_ref().is_some_and(|o| {
            matches!(switchboard_wire::at_of(o), Err(switchboard_wire::WireError::Missing(_)))
        }) {
            return false;
        }
        let decoded = obj.and_then(|obj| {
            let at = switchboard_wire::at_of(&obj).ok()?;
            let event = switchboard_wire::decode_event(&obj, &switchboard_wire::ShapeOnly).ok()?;
            Some((at, event))
        });
        match decoded {
            // The bus does not check that time goes forward (its `at` is applied no earlier than
            // the shard's time); such lines are left out of the trace.
            Some((at, _)) if at < last => false,
            Some((at, event)) => {
                last = at;
                if !apply(&mut engine, at, &event) {
                    bad += 1;
                }
                true
            }
            None => {
                bad += 1;
                true
            }
        }
    });
    apply(&mut engine, last, &Event::Tick);
    lines.push(format!(r#"{{"at":{last},"type":"tick"}}"#));
    Trace { lines, effects, bad }
}

// ----- reading the streams -----------------------------------------------------------------------

async fn connect(nats: &Nats) -> jetstream::Context {
    let client = async_nats::connect(nats.url()).await.expect("connect to nats-server");
    jetstream::new(client)
}

/// The events stream, created by the test (the daemon would create it too) so that publishing can
/// start before the daemon does.
async fn events_stream(js: &jetstream::Context) {
    js.get_or_create_stream(jetstream::stream::Config {
        name: "SWITCHBOARD_EVENTS".into(),
        subjects: vec!["switchboard.events.>".into()],
        duplicate_window: Duration::from_secs(600),
        ..Default::default()
    })
    .await
    .expect("create the events stream");
}

/// Publishes `lines` in order, awaiting the stream's acknowledgements a thousand at a time (the
/// client holds at most 5,000 unacknowledged publications and would wait forever for a permit).
async fn publish(js: &jetstream::Context, lines: &[String]) {
    for chunk in lines.chunks(1000) {
        publish_chunk(js, chunk).await;
    }
}

async fn publish_chunk(js: &jetstream::Context, lines: &[String]) {
    let mut acks = Vec::new();
    for line in lines {
        let account = switchboard_wire::parse_object(line)
            .ok()
            .and_then(|o| switchboard_wire::account_of(&o).map(switchboard_bus::subject::token))
            .unwrap_or_else(|| "_".into());
        let ack = js
            .publish(format!("switchboard.events.{account}"), line.clone().into())
            .await
            .expect("publish an event");
        acks.push(ack);
    }
    for ack in acks {
        ack.await.expect("the events stream stores it");
    }
}

/// Every message of a stream: `(Nats-Msg-Id, headers as text, payload)`.
async fn read_all(js: &jetstream::Context, stream: &str) -> Vec<(String, async_nats::HeaderMap, String)> {
    let Ok(mut s) = js.get_stream(stream).await else { return Vec::new() };
    let count = s.info().await.expect("stream info").state.messages;
    if count == 0 {
        return Vec::new();
    }
    let consumer = s
        .create_consumer(jetstream::consumer::pull::OrderedConfig::default())
        .await
        .expect("an ordered consumer");
    let mut messages = consumer.messages().await.expect("messages");
    let mut out = Vec::new();
    while (out.len() as u64) < count {
        let m = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .expect("the stream's messages come")
            .expect("a message")
            .expect("no error");
        let headers = m.headers.clone().unwrap_or_default();
        let id = headers.get("Nats-Msg-Id").map(|v| v.as_str().to_owned()).unwrap_or_default();
        out.push((id, headers, String::from_utf8(m.payload.to_vec()).expect("UTF-8")));
    }
    out
}

/// Waits until the consumer has had every message acknowledged (or terminated).
async fn drained(js: &jetstream::Context, expected: u64, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let info = async {
            let mut c: jetstream::consumer::PullConsumer =
                js.get_consumer_from_stream("switchboard", "SWITCHBOARD_EVENTS").await.ok()?;
            c.info().await.ok().cloned()
        }
        .await;
        if let Some(i) = &info
            && i.ack_floor.stream_sequence >= expected
            && i.num_ack_pending == 0
            && i.num_pending == 0
        {
            return;
        }
        assert!(Instant::now() < deadline, "the consumer did not drain: {info:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the effects stream holds `expected` messages.
async fn effects_stored(js: &jetstream::Context, expected: u64, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let stored = match js.get_stream("SWITCHBOARD_EFFECTS").await {
            Ok(mut s) => s.info().await.map(|i| i.state.messages).unwrap_or(0),
            Err(_) => 0,
        };
        if stored >= expected {
            assert_eq!(stored, expected, "more effects stored than the replay gives");
            return;
        }
        assert!(Instant::now() < deadline, "{stored} effects stored of {expected}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The effects stream against the replay: per account, the same effects in the same order, with
/// ids `<account>:1`, `<account>:2`, ... and nothing else.
async fn assert_effects_match(js: &jetstream::Context, trace: &Trace) {
    let stored = read_all(js, "SWITCHBOARD_EFFECTS").await;
    let mut seen = HashSet::new();
    let mut by_account: BTreeMap<String, Vec<(u64, String)>> = BTreeMap::new();
    for (id, headers, payload) in stored {
        assert!(seen.insert(id.clone()), "effect {id} stored twice");
        let (account, seq) = id.rsplit_once(':').expect("<account>:<n>");
        let seq: u64 = seq.parse().expect("a number");
        assert_eq!(
            headers.get(switchboard_bus::SEQ_HEADER).map(|v| v.as_str()),
            Some(seq.to_string().as_str())
        );
        by_account.entry(account.to_owned()).or_default().push((seq, payload));
    }
    assert_eq!(by_account.keys().collect::<Vec<_>>(), trace.effects.keys().collect::<Vec<_>>());
    for (account, mut effects) in by_account {
        // A publication retried after a failure may be stored after later ones; the numbers order
        // them.
        effects.sort_by_key(|e| e.0);
        let seqs: Vec<u64> = effects.iter().map(|e| e.0).collect();
        assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "{account}: numbered without gaps");
        let payloads: Vec<&String> = effects.iter().map(|e| &e.1).collect();
        let want: Vec<&String> = trace.effects[&account].iter().collect();
        assert_eq!(payloads.len(), want.len(), "{account}: effect count");
        for (i, (got, want)) in payloads.iter().zip(&want).enumerate() {
            assert_eq!(got, want, "{account}: effect {}", i + 1);
        }
    }
}

// ----- in-process: runtime and bus --------------------------------------------------------------

struct ManualClock(AtomicU64);

impl Clock for ManualClock {
    fn now_ms(&self) -> Millis {
        self.0.load(Ordering::SeqCst)
    }
}

const T0: Millis = 1_767_571_200_000;

fn settings(nats: &Nats) -> NatsSettings {
    NatsSettings { enabled: true, servers: vec![nats.url()], ack_wait_ms: 2000, ..NatsSettings::default() }
}

/// A runtime whose clock stays at the trace's start, so that timers fire at event times exactly as
/// in the replay, whatever the speed of the machine.
fn runtime(data: &Path) -> Runtime {
    let options = Options {
        shards: 2,
        max_future_skew_ms: u64::MAX / 4,
        store: Some(StoreOptions { fsync: FsyncPolicy::Never, ..StoreOptions::new(data) }),
        outbox: Some(4096),
        ..Options::default()
    };
    Runtime::start_with_clock(Config::default(), options, Arc::new(ManualClock(AtomicU64::new(T0))))
        .expect("the runtime starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_through_the_bus_gives_the_replays_effects_and_dead_letters() {
    let dir = Dir::new("trace");
    let Some(nats) = Nats::start(&dir.0.join("js")) else { return };
    let trace = trace(7, T0, 1500, 0.03);
    assert!(trace.bad > 0, "the trace has bad lines to dead-letter");
    let js = connect(&nats).await;
    events_stream(&js).await;
    publish(&js, &trace.lines).await;

    let rt = runtime(&dir.0.join("data"));
    let mut bus = switchboard_bus::Bus::start(rt.clone(), &settings(&nats)).await.expect("the bus starts");
    drained(&js, trace.lines.len() as u64, Duration::from_secs(60)).await;
    let total: usize = trace.effects.values().map(Vec::len).sum();
    effects_stored(&js, total as u64, Duration::from_secs(30)).await;
    assert_effects_match(&js, &trace).await;

    // Every line that cannot apply is a dead letter with its reason, once.
    let dead = read_all(&js, "SWITCHBOARD_DEAD").await;
    assert_eq!(dead.len(), trace.bad, "one dead letter per bad line");
    for (_, headers, payload) in &dead {
        let error = headers.get(switchboard_bus::ERROR_HEADER).expect("the reason").as_str();
        assert!(!error.is_empty(), "{payload}");
        assert!(headers.get("Switchboard-Stream-Sequence").is_some());
    }
    let metrics = rt.render_metrics();
    let value = |name: &str| -> u64 {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} in\n{metrics}"))
    };
    assert_eq!(value("switchboard_bus_messages_total{result=\"dead_lettered\"}"), trace.bad as u64);
    assert_eq!(
        value("switchboard_bus_messages_total{result=\"acked\"}"),
        (trace.lines.len() - trace.bad) as u64
    );
    assert_eq!(value("switchboard_bus_effects_published_total"), total as u64);
    assert_eq!(value("switchboard_bus_connected"), 1);

    bus.stop_ingest(Duration::from_secs(5)).await;
    let stopping = rt.clone();
    tokio::task::spawn_blocking(move || stopping.shutdown()).await.unwrap();
    bus.finish(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_server_restart_mid_stream_loses_and_repeats_nothing() {
    let dir = Dir::new("restart");
    let Some(mut nats) = Nats::start(&dir.0.join("js")) else { return };
    let trace = trace(11, T0, 1200, 0.0);
    let js = connect(&nats).await;
    events_stream(&js).await;
    let half = trace.lines.len() / 2;
    publish(&js, &trace.lines[..half]).await;

    let rt = runtime(&dir.0.join("data"));
    let mut bus = switchboard_bus::Bus::start(rt.clone(), &settings(&nats)).await.expect("the bus starts");
    // Restart while the first half is being consumed and its effects published.
    tokio::time::sleep(Duration::from_millis(300)).await;
    nats.restart();
    let js = connect(&nats).await;
    publish(&js, &trace.lines[half..]).await;

    drained(&js, trace.lines.len() as u64, Duration::from_secs(90)).await;
    let total: usize = trace.effects.values().map(Vec::len).sum();
    effects_stored(&js, total as u64, Duration::from_secs(60)).await;
    assert_effects_match(&js, &trace).await;

    bus.stop_ingest(Duration::from_secs(5)).await;
    let stopping = rt.clone();
    tokio::task::spawn_blocking(move || stopping.shutdown()).await.unwrap();
    bus.finish(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_subjects_in_the_events_stream_are_passed_over_without_waiting() {
    let dir = Dir::new("foreign");
    let Some(nats) = Nats::start(&dir.0.join("js")) else { return };
    let trace = trace(5, T0, 300, 0.0);
    let js = connect(&nats).await;
    // An operator's stream that also carries other subjects, which the consumer's filter leaves
    // out: their sequences are gaps the sequencer must not wait at.
    js.get_or_create_stream(jetstream::stream::Config {
        name: "SWITCHBOARD_EVENTS".into(),
        subjects: vec!["switchboard.events.>".into(), "audit.>".into()],
        ..Default::default()
    })
    .await
    .expect("create the events stream");
    for (i, chunk) in trace.lines.chunks(25).enumerate() {
        publish(&js, chunk).await;
        js.publish(format!("audit.{i}"), "not an event".into()).await.unwrap().await.unwrap();
    }
    let last_event =
        js.get_stream("SWITCHBOARD_EVENTS").await.unwrap().info().await.unwrap().state.last_sequence - 1;

    let started = Instant::now();
    let rt = runtime(&dir.0.join("data"));
    let mut bus = switchboard_bus::Bus::start(rt.clone(), &settings(&nats)).await.expect("the bus starts");
    drained(&js, last_event, Duration::from_secs(60)).await;
    // Gaps are looked into as they open: no waiting a tick, let alone two ack waits, at each.
    assert!(started.elapsed() < Duration::from_secs(6), "{:?}", started.elapsed());
    let total: usize = trace.effects.values().map(Vec::len).sum();
    effects_stored(&js, total as u64, Duration::from_secs(30)).await;
    assert_effects_match(&js, &trace).await;

    bus.stop_ingest(Duration::from_secs(5)).await;
    let stopping = rt.clone();
    tokio::task::spawn_blocking(move || stopping.shutdown()).await.unwrap();
    bus.finish(Duration::from_secs(5)).await;
}

// ----- the real daemon, killed -------------------------------------------------------------------

fn now_ms() -> Millis {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_millis() as Millis
}

/// `switchboard serve`, killed if the test ends first.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `switchboard serve` with the bus on.
fn daemon(config: &Path) -> Daemon {
    let child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("serve")
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start switchboard serve");
    Daemon(child)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_killed_mid_stream_loses_and_repeats_nothing() {
    let dir = Dir::new("kill");
    let Some(nats) = Nats::start(&dir.0.join("js")) else { return };
    // Events 12 hours ahead (within the allowed skew), so that no timer fires on the wall clock:
    // every shard's time moves only with its events, as the replay's does.
    let seed = now_ms() % 1000;
    println!("seed {seed}");
    let trace = trace(seed, now_ms() + 12 * 3_600_000, 8000, 0.02);
    let js = connect(&nats).await;
    events_stream(&js).await;
    publish(&js, &trace.lines).await;

    let data = dir.0.join("data");
    let config = dir.0.join("switchboard.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\ngrpc_addr = \"127.0.0.1:0\"\nhttp_addr = \"127.0.0.1:0\"\n\n\
             [runtime]\nshards = 2\nmax_future_skew_ms = 86400000\n\n\
             [storage]\ndir = '{}'\nsnapshot_every_s = 1\n\n\
             [bus.nats]\nenabled = true\nservers = [\"{}\"]\nack_wait_s = 2\nmax_in_flight = 64\n",
            data.display(),
            nats.url()
        ),
    )
    .unwrap();

    // Killed at moments spread over the stream, then left to finish; at least one kill must land
    // while messages are being taken (some acknowledged, not all).
    let floor = || async {
        let mut c: jetstream::consumer::PullConsumer =
            js.get_consumer_from_stream("switchboard", "SWITCHBOARD_EVENTS").await.ok()?;
        c.info().await.ok().map(|i| i.ack_floor.stream_sequence)
    };
    let mut mid_stream = 0;
    for (round, after_ms) in [400u64, 900, 700, 1500].into_iter().enumerate() {
        let mut child = daemon(&config);
        tokio::time::sleep(Duration::from_millis(after_ms)).await;
        child.0.kill().expect("SIGKILL");
        let _ = child.0.wait();
        let at = floor().await.unwrap_or(0);
        println!("round {round}: killed after {after_ms} ms, {at} of {} acknowledged", trace.lines.len());
        if at > 0 && at < trace.lines.len() as u64 {
            mid_stream += 1;
        }
    }
    assert!(mid_stream > 0, "no kill landed mid-stream: the stream is too short for this machine");
    let mut child = daemon(&config);
    drained(&js, trace.lines.len() as u64, Duration::from_secs(120)).await;
    let total: usize = trace.effects.values().map(Vec::len).sum();
    effects_stored(&js, total as u64, Duration::from_secs(60)).await;
    assert_effects_match(&js, &trace).await;
    assert_eq!(read_all(&js, "SWITCHBOARD_DEAD").await.len(), trace.bad, "each bad line dead-lettered once");

    // A clean stop after all that.
    let pid = child.0.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().expect("kill -TERM");
    let status = child.0.wait().expect("the daemon exits");
    assert!(status.success(), "{status:?}");
}
