//! The deployment files in `deploy/` against the real daemon.
//!
//! - Every metric name used in an `expr` of `deploy/prometheus/alerts.yml` and in a query of
//!   `deploy/grafana/switchboard.json` exists in a scrape of `/metrics` of a running
//!   `switchboard serve` that has been fed events, so that the rules and panels select real series
//!   (histograms by their `_bucket`, `_sum` and `_count` series, exactly as the queries write them).
//! - `/healthz` and `/readyz`, which the probes and the HEALTHCHECK use, answer 200.
//! - Every configuration file shipped in `deploy/` (the Kubernetes ConfigMap's included) loads in
//!   full with the configuration loader, and the daemon would start with it (TLS and tokens, or
//!   `insecure`, wherever it listens beyond loopback).
//!
//! Some metrics need what this test does not set up (a NATS server for the bus metrics, a reload,
//! TLS): they are checked against the sources instead (see [`NOT_IN_SCRAPE`]).
//!
//! The structure of the files (YAML, probes, PromQL syntax, ...) is checked by `.ci/deploy-check`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The repository's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str) -> String {
    let path = root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Metric names that `deploy/` uses although this test's daemon (no NATS server, no TLS, no reload)
/// does not export them: `(name, why)`. A used name missing from the scrape must be listed here,
/// and must then appear as a string literal in the crates' sources, so that a renamed or misspelt
/// metric still fails. A name the daemon exports without help does not belong here.
const NOT_IN_SCRAPE: &[(&str, &str)] = &[
    ("switchboard_bus_connected", "only with [bus.nats] enabled"),
    ("switchboard_bus_consumer_pending", "only with [bus.nats] enabled"),
    ("switchboard_bus_in_flight", "only with [bus.nats] enabled"),
    ("switchboard_bus_messages_total", "only with [bus.nats] enabled"),
    ("switchboard_bus_publish_failures_total", "only with [bus.nats] enabled"),
    ("switchboard_bus_effects_published_total", "only with [bus.nats] enabled"),
    ("switchboard_bus_effects_duplicate_total", "only with [bus.nats] enabled"),
    ("switchboard_bus_effects_unpublished", "only with [bus.nats] enabled"),
    ("switchboard_security_reloads_total", "no series before the first reload"),
    ("switchboard_tls_handshake_failures_total", "no series before a failed TLS handshake"),
];

// ---------------------------------------------------------------------------------------------
// Finding metric names in PromQL.

/// The `switchboard_*` metric names in a PromQL expression (outside string literals).
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let chars: Vec<char> = expr.chars().collect();
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if matches!(c, '"' | '\'' | '`') {
            // A string literal: label values, regexes. Skip to its end, past escapes.
            i += 1;
            while i < chars.len() && chars[i] != c {
                if chars[i] == '\\' && c != '`' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
        } else if ident(c) && !c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && ident(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            if word.starts_with("switchboard_") {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

/// The `expr:` values of a Prometheus rules file: on one line, or a `|` block below it.
fn rule_exprs(yaml: &str) -> Vec<String> {
    let lines: Vec<&str> = yaml.lines().collect();
    let mut exprs = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let indent = line.len() - line.trim_start().len();
        i += 1;
        let Some(rest) = line.trim_start().strip_prefix("expr:") else { continue };
        let rest = rest.trim();
        if rest.starts_with('|') || rest.starts_with('>') {
            let mut block = Vec::new();
            while i < lines.len() {
                let l = lines[i];
                let deeper = l.len() - l.trim_start().len() > indent;
                if !(deeper || l.trim().is_empty()) {
                    break;
                }
                block.push(l.trim());
                i += 1;
            }
            exprs.push(block.join("\n"));
        } else {
            let unquoted = rest
                .strip_prefix('"')
                .and_then(|r| r.strip_suffix('"'))
                .or_else(|| rest.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')))
                .unwrap_or(rest);
            exprs.push(unquoted.to_owned());
        }
    }
    exprs
}

/// The queries of a Grafana dashboard: every panel target's `expr` (rows' panels included) and every
/// query variable's `label_values(...)` selector. Each comes with where it is, for messages.
fn dashboard_exprs(json: &serde_json::Value) -> Vec<(String, String)> {
    fn walk(v: &serde_json::Value, title: &str, out: &mut Vec<(String, String)>) {
        match v {
            serde_json::Value::Object(map) => {
                let title = map.get("title").and_then(|t| t.as_str()).unwrap_or(title);
                for (k, child) in map {
                    match (k.as_str(), child) {
                        ("expr", serde_json::Value::String(e)) => {
                            out.push((format!("panel {title:?}"), e.clone()))
                        }
                        ("query" | "definition", serde_json::Value::String(q))
                            if q.contains("switchboard_") =>
                        {
                            out.push((format!("variable query {q:?}"), q.clone()))
                        }
                        _ => walk(child, title, out),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|i| walk(i, title, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(json, "", &mut out);
    out
}

#[test]
fn metric_names_are_found_in_promql() {
    let names = metric_names(
        r#"histogram_quantile(0.9, sum by (le) (rate(switchboard_a_bucket{x="switchboard_not_me", y=~'q\'switchboard_no'}[5m])))
           / on (instance) switchboard_b unless absent(switchboard_c:rec) > 1e3"#,
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["switchboard_a_bucket", "switchboard_b", "switchboard_c:rec"]
    );
    let yaml = "  - alert: A\n    expr: up == 0\n  - alert: B\n    expr: |\n      a\n      / b\n\n    for: 1m\n    expr: \"c > 1\"\n";
    assert_eq!(rule_exprs(yaml), ["up == 0", "a\n/ b\n", "c > 1"]);
}

// ---------------------------------------------------------------------------------------------
// The daemon.

/// A running `switchboard serve`; dropping it kills the process.
struct Daemon {
    child: Child,
    grpc: String,
    http: String,
    dir: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Daemon {
    /// Starts the daemon on ephemeral loopback ports with storage on, and waits until it serves.
    fn start() -> Daemon {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("deploy-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let data = dir.join("data");
        let data = data.to_str().expect("a UTF-8 path");
        assert!(!data.contains(['\'', '\n']), "unusual test directory {data:?}");
        let config = dir.join("switchboard.toml");
        // Storage on, so that the WAL metrics have samples; two shards, like the manifests.
        std::fs::write(
            &config,
            format!(
                "[server]\ngrpc_addr = \"127.0.0.1:0\"\nhttp_addr = \"127.0.0.1:0\"\n\n\
                 [runtime]\nshards = 2\n\n[storage]\ndir = '{data}'\nfsync = \"always\"\n"
            ),
        )
        .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start switchboard serve");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        // Drains stderr for the daemon's whole life, so that it never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("switchboard is serving").nth(1) {
                    let field = |key: &str| {
                        rest.split_whitespace().find_map(|kv| kv.strip_prefix(key)).map(String::from)
                    };
                    let _ = tx.send(Ok((field("grpc="), field("http="))));
                } else {
                    let _ = tx.send(Err(line));
                }
            }
        });
        let mut log = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(Ok((Some(grpc), Some(http)))) => return Daemon { child, grpc, http, dir },
                Ok(Ok(_)) => panic!("no grpc= and http= in the serving line"),
                Ok(Err(line)) => log.push(line),
                Err(e) => {
                    let _ = child.kill();
                    panic!("the daemon did not serve ({e:?}); it said:\n{}", log.join("\n"))
                }
            }
        }
    }

    /// Runs a client command against the daemon.
    fn client(&self, args: &[&str], stdin: &str) -> (i32, String, String) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(args)
            .args(["--addr", &self.grpc])
            .env_remove("SWITCHBOARD_ADDR")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run switchboard");
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `GET path` on the HTTP listener: the status code and the body.
    fn get(&self, path: &str) -> (u16, String) {
        let mut s = TcpStream::connect(&self.http).expect("connect to the HTTP listener");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", self.http).unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let text = String::from_utf8(raw).expect("UTF-8 answer");
        let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
        let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).expect("a status code");
        let chunked = head.lines().any(|l| {
            let l = l.to_ascii_lowercase();
            l.starts_with("transfer-encoding:") && l.contains("chunked")
        });
        (status, if chunked { dechunk(body) } else { body.to_owned() })
    }
}

/// The body of a chunked HTTP answer.
fn dechunk(mut rest: &str) -> String {
    let mut body = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.split(';').next().unwrap().trim(), 16).expect("chunk size");
        if size == 0 {
            break;
        }
        body.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
    body
}

/// Events that give every routing family a sample: an offer accepted, a social-messaging ticket
/// solved and reopened by the customer, a live-chat ticket solved (closed at once) whose customer
/// writes again (a follow-up), an offer declined (the ticket then waits: bob is offline), an email
/// auto-assigned, and a refused event on the last line.
const EVENTS: &str = r#"{"type":"agent_upserted","account":"acme","agent":"ana","groups":["support"],"capacity":{"messaging":3,"email":5}}
{"type":"agent_upserted","account":"acme","agent":"bob","capacity":{"messaging":1}}
{"type":"agent_status","account":"acme","agent":"ana","status":"online"}
{"type":"message","account":"acme","conversation":"wa-1","requester":"r1","via":"whatsapp"}
{"type":"offer_accepted","account":"acme","ticket":"wa-1#1","agent":"ana"}
{"type":"ticket_status","account":"acme","ticket":"wa-1#1","status":"solved"}
{"type":"message","account":"acme","conversation":"wa-1","requester":"r1","via":"whatsapp"}
{"type":"message","account":"acme","conversation":"web-1","requester":"v1","via":"web_widget"}
{"type":"offer_accepted","account":"acme","ticket":"web-1#1","agent":"ana"}
{"type":"ticket_status","account":"acme","ticket":"web-1#1","status":"solved"}
{"type":"message","account":"acme","conversation":"web-1","requester":"v1","via":"web_widget"}
{"type":"offer_declined","account":"acme","ticket":"web-1#2","agent":"ana"}
{"type":"ticket_created","account":"acme","ticket":"em-1","channel":"email","via":"email","requester":"m1"}
{"type":"offer_accepted","account":"acme","ticket":"nope#1","agent":"ana"}
"#;

/// The sample names (`name` before `{` or the value) and family names (`# TYPE`) of a scrape.
fn scraped_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            names.extend(rest.split_whitespace().next().map(String::from));
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            names.insert(line[..end].to_owned());
        }
    }
    names
}

/// Every `.rs` file under the crates' `src/` directories, as text.
fn crate_sources() -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs")
                && let Ok(text) = std::fs::read_to_string(&path)
            {
                out.push((path, text));
            }
        }
    }
    let mut out = Vec::new();
    for krate in std::fs::read_dir(root().join("crates")).unwrap().flatten() {
        walk(&krate.path().join("src"), &mut out);
    }
    out
}

#[test]
fn every_metric_in_the_alerts_and_the_dashboard_is_exported() {
    // name -> where it is used
    let mut used: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let alerts = rule_exprs(&read("deploy/prometheus/alerts.yml"));
    assert!(alerts.len() >= 10, "only {} expr: lines found in alerts.yml", alerts.len());
    for e in &alerts {
        for n in metric_names(e) {
            used.entry(n).or_default().insert("deploy/prometheus/alerts.yml".into());
        }
    }
    let dashboard: serde_json::Value =
        serde_json::from_str(&read("deploy/grafana/switchboard.json")).expect("the dashboard is JSON");
    let queries = dashboard_exprs(&dashboard);
    assert!(queries.len() >= 20, "only {} queries found in the dashboard", queries.len());
    for (place, e) in &queries {
        for n in metric_names(e) {
            used.entry(n).or_default().insert(format!("deploy/grafana/switchboard.json {place}"));
        }
    }
    assert!(used.len() >= 20, "suspiciously few metric names found: {used:?}");

    let daemon = Daemon::start();
    for (path, want) in [("/healthz", "ok"), ("/readyz", "ready")] {
        let (status, body) = daemon.get(path);
        assert_eq!((status, body.trim()), (200, want), "GET {path}");
    }
    let (code, stdout, stderr) = daemon.client(&["send", "-"], EVENTS);
    assert_eq!((code, stdout.as_str()), (1, "13 accepted, 1 rejected\n"), "{stderr}");
    assert!(stderr.starts_with("line 14: "), "{stderr}");
    // A few queries, so that gRPC latency has more than one method.
    let (code, _, stderr) = daemon.client(&["stats", "--account", "acme"], "");
    assert_eq!(code, 0, "{stderr}");

    let (status, scrape) = daemon.get("/metrics");
    assert_eq!(status, 200);
    let exported = scraped_names(&scrape);

    let sources = crate_sources();
    let defined_in_source = |name: &str| {
        let literal = format!("\"{name}\"");
        sources.iter().find(|(_, text)| text.contains(&literal)).map(|(p, _)| p.clone())
    };
    let mut missing = Vec::new();
    for (name, places) in &used {
        if exported.contains(name) {
            continue;
        }
        let places = places.iter().cloned().collect::<Vec<_>>().join(", ");
        let Some(&(_, why)) = NOT_IN_SCRAPE.iter().find(|(n, _)| n == name) else {
            missing.push(format!("{name} (used in {places})"));
            continue;
        };
        match defined_in_source(name) {
            Some(file) => eprintln!("{name}: not in the scrape ({why}); defined in {}", file.display()),
            None => {
                missing.push(format!("{name} (used in {places}; {why}, but defined nowhere in crates/*/src)"))
            }
        }
    }
    assert!(
        missing.is_empty(),
        "metric names used in deploy/ that the daemon does not export:\n  {}\n\nexported:\n  {}",
        missing.join("\n  "),
        exported.iter().filter(|n| n.starts_with("switchboard_")).cloned().collect::<Vec<_>>().join("\n  ")
    );
    for (name, _) in NOT_IN_SCRAPE {
        assert!(
            used.contains_key(*name),
            "{name} is in NOT_IN_SCRAPE but deploy/ does not use it: remove it"
        );
        assert!(
            !exported.contains(*name),
            "{name} is in NOT_IN_SCRAPE but the daemon exports it without help: remove it"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The configuration files.

/// The text of a literal block (`key: |`) in a YAML file, without its indentation: the
/// `switchboard.toml` of the ConfigMap, the `tokens.toml` of the example Secret. (The test has no
/// YAML parser; these blocks are plain literal blocks, which `.ci/deploy-check` parses as YAML.)
fn yaml_block(rel: &str, key: &str) -> String {
    let yaml = read(rel);
    let header = format!("{key}: |");
    let mut lines = yaml.lines().skip_while(|l| l.trim() != header);
    let head = lines.next().unwrap_or_else(|| panic!("no `{header}` block in {rel}"));
    let outer = head.len() - head.trim_start().len();
    let mut block: Vec<&str> = Vec::new();
    for l in lines {
        if !l.trim().is_empty() && l.len() - l.trim_start().len() <= outer {
            break;
        }
        block.push(l);
    }
    let indent = block.iter().filter(|l| !l.trim().is_empty()).map(|l| l.len() - l.trim_start().len()).min();
    let indent = indent.unwrap_or_else(|| panic!("the `{header}` block of {rel} is empty"));
    let mut text = String::new();
    for l in block {
        text.push_str(l.get(indent..).unwrap_or("").trim_end());
        text.push('\n');
    }
    text
}

/// `text` with its commented-out settings uncommented: `# [table]` and `# key = value` lines (not
/// prose), as the systemd file tells an operator to do with its `[security]` tables to serve other
/// machines. A misspelt key in them then fails to load too.
fn uncomment_settings(text: &str) -> String {
    let setting = |rest: &str| {
        let table = rest.starts_with('[') && rest.ends_with(']') && !rest.contains(' ');
        let key = rest.split_once(" = ").is_some_and(|(k, _)| {
            !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        });
        table || key
    };
    let mut out = String::new();
    for line in text.lines() {
        match line.strip_prefix("# ") {
            Some(rest) if setting(rest) => out.push_str(rest),
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// Whether the daemon may listen where `settings` say: it refuses a non-loopback `grpc_addr` or
/// `http_addr` without both TLS and a tokens file unless `security.insecure` is set. That check is
/// the daemon's at start (`check_exposure` in switchboard-server), not the loader's, so it is
/// repeated here.
fn exposure_refused(settings: &switchboard_config::Settings) -> Option<String> {
    let sec = &settings.security;
    let secured = sec.tls.is_some() && sec.tokens_file.is_some();
    let exposed = [settings.server.grpc_addr, settings.server.http_addr]
        .into_iter()
        .find(|a| !a.ip().to_canonical().is_loopback());
    match exposed {
        Some(addr) if !secured && !sec.insecure => {
            Some(format!("listens on {addr} without TLS and tokens and without security.insecure = true"))
        }
        _ => None,
    }
}

/// Every deployment configuration loads in full: the loader rejects any unknown key, wrong type or
/// value out of range in any section ([security] and [bus.nats] included), so a misspelt key fails
/// here rather than at a deployment's start.
///
/// The files name tokens and TLS files under /etc/switchboard that do not exist on this machine.
/// That is fine: the loader only checks the names (switchboard-config's `security.rs`: whether
/// the files read, and whether certificates are valid, is the daemon's to find out at start and on
/// reload; the `[bus.nats]` secrets likewise). Should the loader ever read them, this test fails
/// with a "cannot read" error, and then needs copies of the files with the paths rewritten.
#[test]
fn the_shipped_deployment_configurations_load() {
    use switchboard_config::{Accounts, Role, Settings};
    let load = |rel: &str| (rel.to_owned(), switchboard_config::load(&root().join(rel)));
    let systemd = "deploy/systemd/switchboard.toml";
    let files = [
        load("deploy/docker/switchboard.toml"),
        load("deploy/docker/switchboard-local.toml"),
        load(systemd),
        (format!("{systemd} (its commented settings uncommented)"), {
            let text = uncomment_settings(&read(systemd));
            assert_ne!(text, read(systemd), "{systemd}: no commented settings found");
            switchboard_config::parse(&text, systemd)
        }),
        {
            let origin = "deploy/kubernetes/configmap.yaml (switchboard.toml)";
            let text = yaml_block("deploy/kubernetes/configmap.yaml", "switchboard.toml");
            (origin.to_owned(), switchboard_config::parse(&text, origin))
        },
    ];
    let mut loaded: Vec<(String, Settings)> = Vec::new();
    for (origin, result) in files {
        let settings = result.unwrap_or_else(|e| panic!("{origin} does not load: {e}"));
        assert_eq!(
            settings.storage.dir.to_str(),
            Some("/var/lib/switchboard"),
            "{origin}: the data directory"
        );
        assert!(settings.storage.enabled, "{origin}: storage must be on");
        if let Some(why) = exposure_refused(&settings) {
            panic!("{origin}: the daemon would refuse to start: it {why}");
        }
        let sec = &settings.security;
        let named = sec.tokens_file.iter().chain(
            sec.tls
                .iter()
                .flat_map(|t| [&t.cert_file, &t.key_file].into_iter().chain(t.client_ca_file.as_ref())),
        );
        for path in named {
            assert!(
                path.starts_with("/etc/switchboard/"),
                "{origin}: {} is outside /etc/switchboard, where every deployment mounts its secrets",
                path.display()
            );
        }
        loaded.push((origin, settings));
    }
    let [docker, local, systemd, systemd_secured, kubernetes] = &loaded[..] else { unreachable!() };

    // What each file is for.
    for (origin, s) in [docker, kubernetes, systemd_secured] {
        let sec = &s.security;
        assert!(
            !sec.insecure && sec.tokens_file.is_some() && sec.tls.is_some(),
            "{origin}: must require TLS and tokens"
        );
    }
    assert!(local.1.security.insecure, "{}: the local demo needs insecure = true", local.0);
    assert!(
        systemd.1.server.grpc_addr.ip().is_loopback() && systemd.1.security.tokens_file.is_none(),
        "{}: loopback without tokens, as shipped",
        systemd.0
    );
    assert!(
        kubernetes.1.runtime.shards > 0,
        "{}: set [runtime] shards to the CPU request (0 counts the node's cores)",
        kubernetes.0
    );

    // The example tokens file of the Kubernetes Secret has the shape the daemon reads, and the
    // Prometheus token can read /metrics (role metrics, every account).
    let origin = "deploy/kubernetes/secret.example.yaml (tokens.toml)";
    let tokens = switchboard_config::parse_tokens(
        &yaml_block("deploy/kubernetes/secret.example.yaml", "tokens.toml"),
        origin,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let prometheus = tokens.tokens.iter().find(|t| t.name == "prometheus").expect("a prometheus token");
    assert!(
        prometheus.has_role(Role::Metrics) && prometheus.accounts == Accounts::All,
        "{origin}: the prometheus token needs the role metrics and accounts = [\"*\"]"
    );
}
