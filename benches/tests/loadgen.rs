//! The load generator end to end: a real daemon in-process on ephemeral loopback ports, the
//! `switchboard-loadgen` binary run against it in both modes, and its JSON report checked for sane,
//! non-zero figures.

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};
use switchboard_config::Settings;
use switchboard_server::Daemon;

const LOADGEN: &str = env!("CARGO_BIN_EXE_switchboard-loadgen");

fn settings() -> Settings {
    let mut s = Settings::default();
    // In memory: the load generator's figures are what is tested, not durability.
    s.storage.enabled = false;
    s.server.grpc_addr = "127.0.0.1:0".parse().unwrap();
    s.server.http_addr = "127.0.0.1:0".parse().unwrap();
    s.runtime.shards = 2;
    s.server.shutdown_grace_ms = 2000;
    s
}

fn report_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("loadgen-{name}-{}.json", std::process::id()))
}

/// Runs the binary off the async threads (the daemon keeps serving on them) and returns its output.
async fn loadgen(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || Command::new(LOADGEN).args(&args).output().expect("the binary runs"))
        .await
        .unwrap()
}

/// Runs one mode for about three seconds and returns its report.
async fn run(daemon: &Daemon, name: &str, mode_args: &[&str]) -> Value {
    let report = report_path(name);
    let mut args: Vec<String> = [
        "--addr",
        &format!("http://{}", daemon.grpc_addr()),
        "--duration",
        "3",
        "--accounts",
        "2",
        "--agents",
        "20",
        // Thirty simulated seconds a second: the simulated people have things to do in 3 s.
        "--speed",
        "30",
        "--floor-calls",
        "500",
        "--run-id",
        &format!("{name}-"),
        "--report",
        report.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(mode_args.iter().map(|s| s.to_string()));
    let out = loadgen(args).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{name}: exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}", out.status);
    assert!(stdout.contains("router cost / transport floor"), "{name}: no summary:\n{stdout}");
    let text = std::fs::read_to_string(&report).expect("the report is written");
    let _ = std::fs::remove_file(&report);
    serde_json::from_str(&text).expect("the report is JSON")
}

fn num(v: &Value, path: &str) -> f64 {
    path.split('.')
        .fold(v, |v, k| &v[k])
        .as_f64()
        .unwrap_or_else(|| panic!("{path} is not a number in {}", serde_json::to_string_pretty(v).unwrap()))
}

/// A latency histogram's figures are present, positive and in order.
fn sane_latency(r: &Value, path: &str) {
    let q = |k: &str| num(r, &format!("{path}.{k}"));
    assert!(q("count") > 0.0, "{path}: no samples");
    assert!(q("p50_us") > 0.0, "{path}: zero p50");
    assert!(q("p50_us") <= q("p90_us") && q("p90_us") <= q("p99_us"), "{path}: out of order");
    assert!(q("p99_us") <= q("p999_us") && q("p999_us") <= q("max_us"), "{path}: out of order");
    // Loopback, in-process daemon: nothing legitimately takes 10 s at the median.
    assert!(q("p50_us") < 10_000_000.0, "{path}: p50 of {} µs", q("p50_us"));
}

fn sane(r: &Value, name: &str) {
    let answered = num(r, "events.answered");
    assert!(answered > 100.0, "{name}: only {answered} events answered");
    assert!(num(r, "events.per_second") > 0.0);
    assert!(num(r, "events.accepted") > 0.0);
    assert!(num(r, "events.simulated") > 0.0, "{name}: the simulated contact centre sent nothing");
    assert!(num(r, "events.filler_new_conversations") > 0.0);
    assert!(num(r, "events.filler_accepts_and_solves") > 0.0, "{name}: no filler reacted to an offer");
    // The simulated people only act on what they observed, so refusals are rare (an event can
    // still race a timer, e.g. an accept arriving as its offer times out).
    assert!(num(r, "events.refused") <= answered * 0.02, "{name}: {} refused", num(r, "events.refused"));
    assert_eq!(num(r, "events.unanswered"), 0.0);
    sane_latency(r, "ingest_latency.latency");
    sane_latency(r, "event_to_ticket_created");
    sane_latency(r, "event_to_offer");
    sane_latency(r, "transport_floor.before");
    sane_latency(r, "transport_floor.after");
    assert_eq!(num(r, "transport_floor.all.count"), 1000.0);
    assert!(num(r, "router_cost_over_floor.p50") > 0.0);
    assert!(num(r, "router_cost_over_floor.p99") > 0.0);
    assert!(num(r, "watch.effects") > 0.0);
    // A busy test machine may starve the watcher for a moment; losing much would make the
    // event-to-effect figures meaningless.
    let lagged = num(r, "watch.lagged");
    assert!(lagged <= num(r, "watch.effects") * 0.1, "{name}: the watcher lost {lagged} effects");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_and_closed_loops_report_sane_figures() {
    let daemon = Daemon::start(&settings()).await.expect("daemon starts");

    let open = run(&daemon, "open", &["--mode", "open", "--rate", "500"]).await;
    sane(&open, "open");
    assert_eq!(open["config"]["transport"], "unary");
    assert_eq!(open["ingest_latency"]["from"], "scheduled send time");
    // An open loop keeps its rate when the daemon keeps up (3 s at 500/s: about 1500 events).
    let rate = num(&open, "events.per_second");
    assert!((350.0..=650.0).contains(&rate), "open loop at 500/s achieved {rate}/s");
    sane_latency(&open, "open_loop_lateness");

    let closed =
        run(&daemon, "closed", &["--mode", "closed", "--concurrency", "4", "--stream", "--batch", "64"])
            .await;
    sane(&closed, "closed");
    assert_eq!(closed["config"]["transport"], "stream");
    assert_eq!(closed["ingest_latency"]["unit"], "batch");
    assert!(closed["open_loop_lateness"].is_null());

    daemon.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_daemon_is_a_clear_error() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let report = report_path("unreachable");
    let out = loadgen(vec![
        "--addr".into(),
        format!("127.0.0.1:{port}"),
        "--duration".into(),
        "1".into(),
        "--report".into(),
        report.to_str().unwrap().into(),
    ])
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.contains("cannot reach the daemon at http://127.0.0.1:"), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
    assert!(!report.exists(), "no report for a run that did not happen");
}
