//! The client commands as a user runs them: the real binary against a real daemon, started in this
//! process on ephemeral ports.

use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use switchboard_server::Daemon;
use tokio::sync::mpsc;

async fn start_daemon(unix_socket: Option<PathBuf>) -> Daemon {
    let mut settings = switchboard_config::Settings::default();
    settings.storage.enabled = false;
    settings.server.grpc_addr = "127.0.0.1:0".parse().unwrap();
    settings.server.http_addr = "127.0.0.1:0".parse().unwrap();
    settings.server.grpc_unix_socket = unix_socket;
    Daemon::start(&settings).await.expect("the daemon starts")
}

fn command(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    // A developer's own setting must not redirect the tests.
    c.args(args).env_remove("SWITCHBOARD_ADDR");
    c
}

/// A finished run of the binary.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }

    fn json_lines(&self) -> Vec<Value> {
        self.stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
    }
}

/// Runs `switchboard <args>` with `stdin`, off the runtime that serves the daemon.
async fn run(args: &[&str], stdin: &str) -> Run {
    let mut c = command(args);
    let stdin = stdin.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut child = c
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run switchboard");
        let mut pipe = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || pipe.write_all(stdin.as_bytes()));
        let out = child.wait_with_output().expect("wait for switchboard");
        writer.join().unwrap().ok();
        Run {
            code: out.status.code().expect("exited, not killed"),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    })
    .await
    .unwrap()
}

/// A file in the test's scratch directory.
fn scratch(name: &str, text: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

/// A table line's cells (columns are two or more spaces apart).
fn cells(line: &str) -> Vec<&str> {
    line.split("  ").map(str::trim).filter(|c| !c.is_empty()).collect()
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// Two agents, an offer accepted, two tickets waiting for a group nobody is in, an email ticket
/// auto-assigned, and three bad lines: one the client cannot parse (line 6), one the daemon refuses
/// (line 9), one with an invalid priority (line 10). Line 4 is blank.
const SCENARIO: &str = r#"{"type":"agent_upserted","account":"acme","agent":"ana","groups":["support"],"skills":["de"],"capacity":{"messaging":2,"email":5}}
{"type":"agent_upserted","account":"acme","agent":"bob","capacity":{"messaging":1}}
{"type":"agent_status","account":"acme","agent":"ana","status":"online"}

{"type":"message","account":"acme","conversation":"c1","requester":"r1","via":"whatsapp","priority":"high"}
{"type":"message","account":"acme"
{"type":"offer_accepted","account":"acme","ticket":"c1#1","agent":"ana"}
{"type":"message","account":"acme","conversation":"c2","requester":"r2","via":"sms","group":"billing"}
{"type":"offer_accepted","account":"acme","ticket":"c9#1","agent":"ana"}
{"type":"message","account":"acme","conversation":"c3","requester":"r3","via":"sms","priority":"asap"}
{"type":"ticket_created","account":"acme","ticket":"em-1","channel":"email","via":"email","requester":"r4"}
{"type":"message","account":"acme","conversation":"c4","requester":"r5","via":"sms","priority":"urgent","group":"billing"}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn send_then_query_the_state() {
    let daemon = start_daemon(None).await;
    let addr = daemon.grpc_addr().to_string();
    let file = scratch("scenario.jsonl", SCENARIO);
    let file = file.to_str().unwrap();

    let sent = run(&["send", "--addr", &addr, file], "").await;
    assert_eq!(sent.code, 1, "a rejected line exits 1: {}", sent.stderr);
    assert_eq!(sent.stdout, "8 accepted, 3 rejected\n");
    let rejects: Vec<&str> = sent.stderr.lines().collect();
    assert_eq!(rejects.len(), 3, "{}", sent.stderr);
    assert!(rejects[0].starts_with("line 6: not JSON: "), "{}", rejects[0]);
    assert_eq!(rejects[1], r#"line 9: invalid field 'ticket': unknown ticket "c9#1""#);
    assert_eq!(
        rejects[2],
        r#"line 10: invalid field 'priority': "asap" is not one of low, normal, high, urgent"#
    );

    // --json, from stdin: an `at` is passed on (one a day ahead is the daemon's to refuse).
    let input = format!(
        "{{\"at\":{},\"type\":\"tick\"}}\n{{\"type\":\"bogus\"}}\n{{\"at\":{},\"type\":\"tick\"}}\n",
        now_ms(),
        now_ms() + 86_400_000
    );
    let sent = run(&["send", "--json", "--addr", &addr, "-"], &input).await;
    assert_eq!(sent.code, 1);
    let records = sent.json_lines();
    assert_eq!(records.len(), 3, "{}", sent.stdout);
    assert_eq!(
        records[0],
        serde_json::json!({"type": "rejected", "line": 2, "code": "INVALID_ARGUMENT", "field": "type",
            "error": "invalid field 'type': unknown event type \"bogus\""})
    );
    assert_eq!((records[1]["line"].as_u64(), records[1]["field"].as_str()), (Some(3), Some("at")));
    assert!(records[1]["error"].as_str().unwrap().contains("ahead of the daemon's clock"));
    assert_eq!(
        records[2],
        serde_json::json!({"type": "summary", "accepted": 1, "duplicates": 0, "rejected": 2})
    );
    let clean = run(&["send", "--addr", &addr], "{\"type\":\"tick\"}\n").await;
    assert_eq!((clean.code, clean.stdout.as_str()), (0, "1 accepted, 0 rejected\n"));

    let agents = run(&["agents", "--account", "acme", "--addr", &addr], "").await;
    assert_eq!(agents.code, 0, "{}", agents.stderr);
    let lines: Vec<Vec<&str>> = agents.stdout.lines().map(cells).collect();
    assert_eq!(lines[0], ["AGENT", "GROUPS", "SKILLS", "MESSAGING", "EMAIL", "TALK"]);
    assert_eq!(lines[1], ["ana", "support", "de", "online 1/2", "online 1/5", "online 0/0"]);
    assert_eq!(lines[2], ["bob", "-", "-", "offline 0/1", "offline 0/0", "offline 0/0"]);
    let agents = run(&["agents", "--account", "acme", "--json", "--addr", &addr], "").await.json();
    assert_eq!(agents["agents"][0]["id"], "ana");
    assert_eq!(
        agents["agents"][0]["channels"][0],
        serde_json::json!({"channel": "messaging", "status": "online", "capacity": 2, "load": 1, "offered": 0})
    );

    let queue = run(&["queue", "--account", "acme", "--addr", &addr], "").await;
    assert_eq!(queue.code, 0, "{}", queue.stderr);
    let lines: Vec<&str> = queue.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", queue.stdout);
    assert!(lines[0].starts_with("POS  TICKET  CHANNEL    PRIORITY  GROUP    WAIT"), "{}", lines[0]);
    assert!(lines[1].starts_with("1    c4#1    messaging  urgent    billing  "), "{}", lines[1]);
    assert!(lines[2].starts_with("2    c2#1    messaging  normal    billing  "), "{}", lines[2]);
    assert_eq!(lines[3], "2 waiting");
    let limited = run(&["queue", "--account", "acme", "--limit", "1", "--addr", &addr], "").await;
    assert!(limited.stdout.ends_with("\n2 waiting (first 1 shown)\n"), "{}", limited.stdout);
    let queue = run(&["queue", "--account", "acme", "--json", "--addr", &addr], "").await.json();
    assert_eq!(queue["total"], 2);
    assert_eq!(
        (&queue["entries"][0]["ticket"], &queue["entries"][0]["position"], &queue["entries"][1]["ticket"]),
        (&Value::from("c4#1"), &Value::from(0), &Value::from("c2#1"))
    );
    assert!(queue["entries"][0]["wait_ms"].is_u64());

    let ticket = run(&["ticket", "--account", "acme", "c1#1", "--addr", &addr], "").await;
    assert_eq!(ticket.code, 0, "{}", ticket.stderr);
    let field = |key: &str| {
        ticket
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}:")))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no {key} in {}", ticket.stdout))
            .to_owned()
    };
    assert_eq!(field("status"), "open");
    assert_eq!(field("assignee"), "ana");
    assert_eq!(field("priority"), "high");
    assert_eq!(field("conversation"), "c1");
    assert_eq!(field("queue position"), "-");
    let created = field("created at");
    assert!(created.len() > 26 && created.as_bytes()[10] == b'T', "{created}");
    assert!(created.ends_with(" ago)") || created.ends_with("(now)"), "{created}");
    let email = run(&["ticket", "--account", "acme", "em-1", "--json", "--addr", &addr], "").await.json();
    assert_eq!(
        (&email["channel"], &email["assignee"], &email["status"]),
        (&"email".into(), &"ana".into(), &"open".into())
    );
    let waiting = run(&["ticket", "--account", "acme", "c2#1", "--json", "--addr", &addr], "").await.json();
    assert_eq!((&waiting["queue_position"], &waiting["assignee"]), (&Value::from(1), &Value::Null));

    let stats = run(&["stats", "--account", "acme", "--addr", &addr], "").await;
    assert_eq!(stats.code, 0, "{}", stats.stderr);
    let lines: Vec<&str> = stats.stdout.lines().collect();
    assert_eq!(lines[0], "acme: 2 agents, 2 queued");
    assert_eq!(lines[1], "  tickets: new 2, open 2, pending 0, on_hold 0, solved 0, closed 0");
    let messaging = cells(lines[3]);
    assert_eq!(messaging[..9], ["messaging", "1", "0", "0", "1", "2", "1", "0", "2 (urgent 1, normal 1)"]);
    // Without --account: every account, one JSON object each.
    let all = run(&["stats", "--json", "--addr", &addr], "").await.json_lines();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["account"], "acme");
    assert_eq!(all[0]["tickets_by_status"]["open"], 2);
    assert_eq!(
        all[0]["channels"][0]["queued_by_priority"],
        serde_json::json!({"urgent": 1, "high": 0, "normal": 1, "low": 0})
    );
    assert!(all[0]["channels"][0]["oldest_wait_ms_by_priority"]["normal"].is_u64());

    let missing = run(&["ticket", "--account", "acme", "nope", "--addr", &addr], "").await;
    assert_eq!(missing.code, 2);
    assert_eq!(missing.stdout, "");
    assert_eq!(
        missing.stderr,
        "switchboard: ticket: NOT_FOUND: invalid field 'ticket': unknown ticket \"nope\"\n"
    );

    daemon.shutdown().await;
}

/// A running `switchboard watch`, its output lines forwarded as they come.
struct Watcher {
    child: Child,
    stdout: mpsc::UnboundedReceiver<String>,
    stderr: mpsc::UnboundedReceiver<String>,
}

impl Drop for Watcher {
    /// A failed assertion must not leave the process behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn forward(pipe: impl std::io::Read + Send + 'static) -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Watcher {
    /// Starts a watcher and waits until it says the watch is live.
    async fn start(args: &[&str]) -> Watcher {
        let mut child = command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run switchboard watch");
        let stdout = forward(child.stdout.take().unwrap());
        let stderr = forward(child.stderr.take().unwrap());
        let mut w = Watcher { child, stdout, stderr };
        let ready = w.next_err().await;
        assert!(ready.starts_with("switchboard: watching "), "{ready}");
        w
    }

    async fn next_out(&mut self) -> String {
        tokio::time::timeout(Duration::from_secs(10), self.stdout.recv())
            .await
            .expect("an effect in time")
            .expect("the watcher is still running")
    }

    async fn next_err(&mut self) -> String {
        tokio::time::timeout(Duration::from_secs(10), self.stderr.recv())
            .await
            .expect("a message in time")
            .expect("the watcher is still running")
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_tails_the_effects() {
    let socket = std::env::temp_dir().join(format!("switchboard-cli-{}.sock", std::process::id()));
    let daemon = start_daemon(Some(socket.clone())).await;
    let addr = daemon.grpc_addr().to_string();
    let unix = format!("unix:{}", socket.display());

    let mut json = Watcher::start(&["watch", "--json", "--account", "acme", "--addr", &addr]).await;
    let mut text = Watcher::start(&["watch", "--type", "offered,assigned", "--addr", &unix]).await;
    let events = r#"{"type":"agent_upserted","account":"other","agent":"x","capacity":{"messaging":1}}
{"type":"agent_status","account":"other","agent":"x","status":"online"}
{"type":"message","account":"other","conversation":"o1","requester":"r","via":"sms"}
{"type":"agent_upserted","account":"acme","agent":"ana","capacity":{"messaging":1}}
{"type":"agent_status","account":"acme","agent":"ana","status":"online"}
{"type":"message","account":"acme","conversation":"c1","requester":"r","via":"sms"}
{"type":"offer_accepted","account":"acme","ticket":"c1#1","agent":"ana"}
"#;
    let sent = run(&["send", "--addr", &unix], events).await;
    assert_eq!((sent.code, sent.stdout.as_str()), (0, "7 accepted, 0 rejected\n"), "{}", sent.stderr);

    // Only acme's effects, in order, byte for byte in the replay format (bar the time).
    let expected = [
        r#""type":"ticket_created","account":"acme","ticket":"c1#1","conversation":"c1","style":"social_messaging"}"#,
        r#""type":"offered","account":"acme","ticket":"c1#1","agent":"ana"}"#,
        r#""type":"assigned","account":"acme","ticket":"c1#1","agent":"ana"}"#,
        r#""type":"status_changed","account":"acme","ticket":"c1#1","from":"new","to":"open","reason":"accepted"}"#,
    ];
    for want in expected {
        let line = json.next_out().await;
        let (at, rest) = line.split_once(',').unwrap();
        let at: u64 = at.strip_prefix(r#"{"at":"#).unwrap().parse().unwrap();
        assert!(at > 0 && rest == want, "{line}");
    }
    // Only offers and assignments, of every account, readable. Accounts are routed in parallel, so
    // only each account's own effects are in a known order.
    let lines = [text.next_out().await, text.next_out().await, text.next_out().await];
    let (acme, other): (Vec<&String>, Vec<&String>) = lines.iter().partition(|l| l.contains(" acme "));
    assert_eq!(other.len(), 1, "{lines:?}");
    assert!(other[0].ends_with(" other offered         o1#1 -> x"), "{}", other[0]);
    assert!(acme[0].ends_with(" acme offered         c1#1 -> ana"), "{}", acme[0]);
    assert!(acme[1].ends_with(" acme assigned        c1#1 -> ana"), "{}", acme[1]);
    // Each line starts with the time of day, `hh:mm:ss.mmm`.
    assert!(lines.iter().all(|l| l.as_bytes()[2] == b':' && l.as_bytes()[8] == b'.'), "{lines:?}");

    json.child.kill().unwrap();
    json.child.wait().unwrap();
    // The other ends by itself when the daemon stops.
    daemon.shutdown().await;
    assert_eq!(text.next_err().await, "switchboard: the daemon ended the watch");
    let status = tokio::task::spawn_blocking(move || text.child.wait().unwrap()).await.unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_daemon_is_one_clear_line() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    for args in [vec!["agents", "--account", "acme", "--addr", &addr], vec!["send", "--addr", &addr, "-"]] {
        let out = run(&args, "{\"type\":\"tick\"}\n").await;
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
        let prefix = format!("switchboard: cannot reach the daemon at http://{addr}: ");
        assert!(out.stderr.starts_with(&prefix), "{}", out.stderr);
        assert!(out.stderr.contains("switchboard serve"), "{}", out.stderr);
    }
    let missing = run(&["send", "/no/such/file.jsonl"], "").await;
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.starts_with("switchboard: send: cannot open /no/such/file.jsonl: "),
        "{}",
        missing.stderr
    );
}
