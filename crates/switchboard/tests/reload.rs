//! `switchboard serve` reloading its configuration on SIGHUP and on `switchboard reload`, as an
//! operator does it: the real binary, its own data directory, ephemeral loopback ports.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// `switchboard serve`, killed if the test ends first, with its log lines forwarded.
struct Serve {
    child: Child,
    log: mpsc::Receiver<String>,
    grpc: String,
}

impl Serve {
    fn start(config: &Path) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["serve", "--config"])
            .arg(config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start switchboard serve");
        let (tx, log) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut serve = Serve { child, log, grpc: String::new() };
        let line = serve.wait_for("switchboard is serving");
        let grpc = line.split("grpc=").nth(1).and_then(|s| s.split_whitespace().next()).expect("grpc=ADDR");
        serve.grpc = grpc.to_owned();
        serve
    }

    /// The next log line containing `text` (earlier lines are passed over).
    fn wait_for(&mut self, text: &str) -> String {
        loop {
            let line = self
                .log
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("no log line with {text:?}"));
            if line.contains(text) {
                return line;
            }
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill").args([name, &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }

    /// `switchboard <args> --addr <daemon>`: exit status and stdout.
    fn client(&self, args: &[&str], stdin: &str) -> (i32, String, String) {
        use std::io::Write;
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(args)
            .args(["--addr", &self.grpc])
            .env_remove("SWITCHBOARD_ADDR")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    }

    fn ticket(&self, id: &str) -> serde_json::Value {
        let (code, out, err) = self.client(&["ticket", "--account", "acme", id, "--json"], "");
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(&out).unwrap()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(dir: &Path, mode: &str) -> PathBuf {
    let path = dir.join("switchboard.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\ngrpc_addr = \"127.0.0.1:0\"\nhttp_addr = \"127.0.0.1:0\"\n\n\
             [storage]\ndir = {:?}\n\n[channels.messaging]\nmode = {mode:?}\n",
            dir.join("data").display().to_string()
        ),
    )
    .unwrap();
    path
}

const AGENTS: &str = r#"{"type":"agent_upserted","account":"acme","agent":"ana","capacity":{"messaging":1}}
{"type":"agent_upserted","account":"acme","agent":"bob","capacity":{"messaging":1}}
{"type":"agent_status","account":"acme","agent":"ana","status":"online"}
{"type":"agent_status","account":"acme","agent":"bob","status":"online"}
{"type":"message","account":"acme","conversation":"c1","requester":"r1","via":"whatsapp"}
"#;

#[test]
fn sighup_and_switchboard_reload_change_routing_without_a_restart() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("reload-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = config(&dir, "offer");
    let mut serve = Serve::start(&path);
    assert_eq!(serve.client(&["send", "-"], AGENTS).0, 0);
    assert_eq!(serve.ticket("c1#1")["offered_to"], "ana", "offer mode");

    // Edited, then SIGHUP: messaging is assigned at once from now on.
    config(&dir, "auto");
    serve.signal("-HUP");
    let line = serve.wait_for("configuration reloaded");
    assert!(line.contains("engine_changed=true"), "{line}");
    let c2 = r#"{"type":"message","account":"acme","conversation":"c2","requester":"r2","via":"whatsapp"}"#;
    assert_eq!(serve.client(&["send", "-"], c2).0, 0);
    let ticket = serve.ticket("c2#1");
    assert_eq!((ticket["assignee"].as_str(), ticket["status"].as_str()), (Some("bob"), Some("open")));

    // `switchboard reload`: nothing new to put in force.
    let (code, out, err) = serve.client(&["reload"], "");
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, format!("reloaded {}: routing settings unchanged, 0 API tokens\n", path.display()));

    // A broken file: refused, logged, and the daemon carries on as it was.
    std::fs::write(&path, "[channels.messaging]\nmode = \"sometimes\"\n").unwrap();
    serve.signal("-HUP");
    let line = serve.wait_for("configuration not reloaded");
    assert!(line.contains("mode"), "{line}");
    let (code, _, err) = serve.client(&["reload"], "");
    assert_eq!(code, 2);
    assert!(err.contains("FailedPrecondition") || err.contains("mode"), "{err}");
    assert_eq!(serve.ticket("c2#1")["assignee"], "bob");

    // A restart with the same file recovers the same state.
    config(&dir, "auto");
    serve.signal("-TERM");
    assert!(serve.child.wait().unwrap().success());
    let serve = Serve::start(&path);
    assert_eq!(serve.ticket("c1#1")["offered_to"], "ana");
    assert_eq!(serve.ticket("c2#1")["assignee"], "bob");
    drop(serve);
    let _ = std::fs::remove_dir_all(&dir);
}
