//! `switchboard gen` and `switchboard demo` as a user runs them.

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("switchboard-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn gen_writes_the_same_valid_file_for_the_same_seed() {
    let dir = temp_dir("gen");
    let (a, b) = (dir.join("a.jsonl"), dir.join("b.jsonl"));
    for path in [&a, &b] {
        let out = bin().args(["gen", "--events", "3000", "--seed", "7", "-o"]).arg(path).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("3000 lines (0 bad on purpose, 0 refused)"), "{stderr}");
    }
    let (text_a, text_b) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert_eq!(text_a, text_b, "same seed, same bytes");
    // Replayed, nothing is refused and routing happens.
    let out = bin().arg("replay").arg(&a).arg("--strict").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let effects = String::from_utf8(out.stdout).unwrap();
    assert!(effects.contains("\"type\":\"offered\"") && effects.contains("\"type\":\"assigned\""));
    // Bad lines on request, and replay reports them.
    let out = bin().args(["gen", "--events", "2000", "--bad-lines", "0.05", "-o"]).arg(&b).output().unwrap();
    assert!(out.status.success());
    let out = bin().arg("replay").arg(&b).output().unwrap();
    let rejected = String::from_utf8(out.stdout).unwrap().matches("\"type\":\"rejected\"").count();
    assert!(rejected > 20, "{rejected} rejected");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_demo_shows_routing_within_seconds() {
    let dir = temp_dir("demo");
    let config = dir.join("demo.toml");
    std::fs::write(&config, "[server]\ngrpc_addr = \"127.0.0.1:0\"\nhttp_addr = \"127.0.0.1:0\"\n").unwrap();
    let out = bin()
        .args(["demo", "--duration", "5", "--speed", "60", "--every", "1", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let last = stdout.lines().rfind(|l| l.starts_with('[')).expect("summary lines");
    let offers: u64 = last
        .split("offers ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(offers > 0, "no offers in: {stdout}");
    assert!(stdout.contains("stopping:") && stdout.contains(" 0 refused"), "{stdout}");
}
