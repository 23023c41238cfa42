//! `switchboard replay` as a user runs it: the real binary on real files.
//!
//! Golden files: every `examples/replay/*.events.jsonl` must give exactly its `.effects.jsonl`.
//! Set `SWITCHBOARD_BLESS=1` to rewrite the effects files after a deliberate change (then review
//! the diff). The conformance trace must give the expected effects per ticket.

use flate2::read::GzDecoder;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// Runs `switchboard replay <args>` with `stdin` piped in.
fn replay(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = bin()
        .arg("replay")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run switchboard");
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || input.write_all(&data));
    let out = child.wait_with_output().expect("wait for switchboard");
    writer.join().unwrap().ok();
    out
}

#[test]
fn golden_replays_give_their_recorded_effects() {
    let dir = examples().join("replay");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let Some(stem) = name.strip_suffix(".events.jsonl") else {
            continue;
        };
        let out = bin().arg("replay").arg(&path).output().unwrap();
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        let expected_path = dir.join(format!("{stem}.effects.jsonl"));
        if std::env::var_os("SWITCHBOARD_BLESS").is_some() {
            std::fs::write(&expected_path, &out.stdout).unwrap();
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_else(|e| {
            panic!("{}: {e} (run with SWITCHBOARD_BLESS=1 to create it)", expected_path.display())
        });
        let got = String::from_utf8(out.stdout).unwrap();
        for (i, (g, e)) in got.lines().zip(expected.lines()).enumerate() {
            assert_eq!(g, e, "{name}: effect line {} differs", i + 1);
        }
        assert_eq!(got.lines().count(), expected.lines().count(), "{name}: number of effects");
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} golden files found in {}", dir.display());
}

fn gunzip(path: &Path) -> Vec<u8> {
    let mut data = Vec::new();
    GzDecoder::new(std::fs::File::open(path).unwrap()).read_to_end(&mut data).unwrap();
    data
}

/// Effects grouped per (account, ticket) — rejected records per account — with `null` fields
/// dropped, as `diff_effects.py --by-ticket` compares them.
fn by_ticket(text: &str) -> BTreeMap<(String, String), Vec<Value>> {
    let mut groups: BTreeMap<(String, String), Vec<Value>> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut v: Value = serde_json::from_str(line).expect("effects are JSON");
        let obj = v.as_object_mut().unwrap();
        obj.retain(|_, x| !x.is_null());
        let account = obj.get("account").and_then(Value::as_str).unwrap_or("").to_string();
        let ticket = match obj.get("ticket").and_then(Value::as_str) {
            Some(t) => t.to_string(),
            None => format!("({})", obj["type"].as_str().unwrap()),
        };
        groups.entry((account, ticket)).or_default().push(v);
    }
    groups
}

#[test]
fn conformance_trace_gives_the_expected_effects_for_every_ticket() {
    let dir = examples().join("conformance");
    let events = gunzip(&dir.join("trace-3.events.jsonl.gz"));
    let expected = String::from_utf8(gunzip(&dir.join("trace-3.effects.jsonl.gz"))).unwrap();
    let out = replay(&["-"], &events);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got = by_ticket(&String::from_utf8(out.stdout).unwrap());
    let want = by_ticket(&expected);
    let mut differ = Vec::new();
    for key in want.keys().chain(got.keys()) {
        if want.get(key) != got.get(key) && !differ.contains(&key) {
            differ.push(key);
        }
    }
    assert!(
        differ.is_empty(),
        "{} of {} tickets differ; first: {:?}\nwant: {:#?}\n got: {:#?}",
        differ.len(),
        want.len(),
        differ[0],
        want.get(differ[0]),
        got.get(differ[0])
    );
    assert!(want.len() > 5000);
}

#[test]
fn strict_stops_at_the_first_rejected_line_with_a_non_zero_exit() {
    let input = b"{\"at\":1,\"type\":\"tick\"}\n{\"at\":2,\"type\":\"nope\"}\n{\"at\":3,\"type\":\"tick\"}\n";
    let out = replay(&["--strict"], input);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 2: invalid field 'type': unknown event type \"nope\""), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "the rejected record is still written: {stdout}");
    // Without --strict the same input is fine.
    let out = replay(&[], input);
    assert!(out.status.success());
}

#[test]
fn blank_lines_are_skipped_but_counted() {
    let out = replay(&["-"], b"\n   \n{\"at\":5}\n");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout, "{\"at\":5,\"type\":\"rejected\",\"line\":3,\"error\":\"missing field 'type'\"}\n");
}

#[test]
fn a_missing_file_fails_with_a_message_naming_it() {
    let out = bin().args(["replay", "/nonexistent/events.jsonl"]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot open /nonexistent/events.jsonl"), "{stderr}");
}

#[test]
fn a_bad_config_fails_naming_the_file_key_and_reason() {
    let dir = std::env::temp_dir().join(format!("switchboard-replay-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("bad.toml");
    std::fs::write(&config, "[styles.social_messaging]\nclose_after_solved_s = 2500000\n").unwrap();
    let out = bin().args(["replay", "--config"]).arg(&config).arg("-").stdin(Stdio::null()).output().unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.toml"), "{stderr}");
    assert!(stderr.contains("styles.social_messaging.close_after_solved_s"), "{stderr}");
    assert!(stderr.contains("28"), "{stderr}");
}

#[test]
fn a_config_file_changes_behaviour() {
    let dir = std::env::temp_dir().join(format!("switchboard-replay-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("auto.toml");
    std::fs::write(&config, "[channels.messaging]\nmode = \"auto\"\n[channels.email]\n[channels.talk]\n")
        .unwrap();
    let input = concat!(
        "{\"at\":1,\"type\":\"agent_upserted\",\"account\":\"a\",\"agent\":\"x\",\"capacity\":{\"messaging\":1}}\n",
        "{\"at\":1,\"type\":\"agent_status\",\"account\":\"a\",\"agent\":\"x\",\"status\":\"online\"}\n",
        "{\"at\":2,\"type\":\"message\",\"account\":\"a\",\"conversation\":\"c\",\"requester\":\"r\",\"via\":\"sms\"}\n",
    );
    let out = replay(&["--config", config.to_str().unwrap(), "-"], input.as_bytes());
    std::fs::remove_dir_all(&dir).ok();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("\"type\":\"assigned\""), "{stdout}");
    assert!(!stdout.contains("\"type\":\"offered\""), "{stdout}");
}
