//! Runs the loom models of the runtime's hand-written concurrent pieces (`src/doorbell.rs`: a
//! shard thread's sleep and wakeup; `src/syncer.rs`: the hand-over of `interval` fsyncs). They
//! check the very code that runs, built against loom's primitives under `--cfg switchboard_loom`
//! (`src/sync.rs`), which takes a build of its own: this test starts it, in `target/loom`, so that
//! `cargo test --workspace` covers the models too. The first run builds for a few minutes.

use std::path::Path;
use std::process::Command;

#[test]
fn loom_models_hold() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let flags = match std::env::var("RUSTFLAGS") {
        Ok(f) if !f.is_empty() => format!("{f} --cfg switchboard_loom"),
        _ => "--cfg switchboard_loom".to_string(),
    };
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .current_dir(&workspace)
        .args(["test", "-p", "switchboard-runtime", "--lib", "--release"])
        .env("RUSTFLAGS", flags)
        .env("CARGO_TARGET_DIR", workspace.join("target/loom"))
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    if std::env::var_os("CI").is_some() {
        cargo.arg("--locked");
    }
    cargo.args(["--", "loom"]);
    let out = cargo.output().expect("cannot run cargo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the loom models failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Four models; a filter that matched nothing would pass without checking anything.
    assert!(stdout.contains("test result: ok. 4 passed"), "expected the four loom models to run:\n{stdout}");
}
