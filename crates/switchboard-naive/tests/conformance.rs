//! Replays the conformance trace (the repository's copy) through the naive router, as `switchboard replay` drives
//! the engine, and compares the effects with the expected ones the way `diff_effects.py
//! --by-ticket` does: grouped per (account, ticket), `rejected` records per account, key order
//! ignored, `null` equal to absent.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;
use switchboard_core::{Config, Effect};
use switchboard_naive::NaiveRouter;
use switchboard_wire as wire;

/// The repository's copy of the shared trace (gzipped), always present.
const TRACE: &str = "../../examples/conformance/trace-3";

/// One line of the replay (its bytes, newline included): the effects it gives, then its `rejected`
/// record if refused.
fn step(router: &mut NaiveRouter, line: u64, raw: &[u8], out: &mut Vec<u8>) {
    let now = router.now();
    let text = match std::str::from_utf8(raw) {
        Ok(text) => text,
        Err(e) => {
            let error = format!("not JSON: invalid UTF-8 at byte {}", e.valid_up_to());
            wire::write_rejected(now, None, line, &error, out);
            return;
        }
    };
    let mut effects: Vec<Effect> = Vec::new();
    let rejected = match wire::parse_object(text) {
        Err(e) => Some((now, None, e.to_string())),
        Ok(obj) => {
            let account = wire::account_of(&obj).map(str::to_owned);
            match wire::at_of(&obj) {
                Err(e) => Some((now, account, e.to_string())),
                Ok(at) if at < now => {
                    Some((now, account, wire::WireError::AtBeforePrevious { at, previous: now }.to_string()))
                }
                Ok(at) => {
                    // A valid `at` moves time even when the rest of the line is refused.
                    router.advance(at, &mut effects);
                    match wire::decode_event(&obj, &*router) {
                        Err(e) => Some((at, account, e.to_string())),
                        Ok(event) => {
                            router.apply(&event, at, &mut effects).err().map(|e| (at, account, e.to_string()))
                        }
                    }
                }
            }
        }
    };
    for e in &effects {
        wire::write_effect(e, out);
    }
    if let Some((at, account, error)) = rejected {
        wire::write_rejected(at, account.as_deref(), line, &error, out);
    }
}

/// `null` fields dropped, recursively, so that `null` and absent compare equal.
fn normalize(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter().filter(|(_, x)| !x.is_null()).map(|(k, x)| (k, normalize(x))).collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(normalize).collect()),
        other => other,
    }
}

/// Each group's effects in order, as canonical text (sorted keys), with their 1-based line numbers.
type Groups = BTreeMap<(String, String), Vec<(usize, String)>>;

fn group(text: &str) -> Groups {
    let mut groups = Groups::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let v = normalize(serde_json::from_str(line).expect("effects are JSON"));
        let field = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let ticket = field("ticket")
            .unwrap_or_else(|| format!("({})", field("type").unwrap_or_else(|| "no ticket".into())));
        let key = (field("account").unwrap_or_default(), ticket);
        groups.entry(key).or_default().push((n + 1, canonical(&v)));
    }
    groups
}

/// Compact JSON with object keys sorted (the workspace's serde_json keeps insertion order).
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(map) => {
            let sorted: BTreeMap<&String, String> = map.iter().map(|(k, x)| (k, canonical(x))).collect();
            let fields: Vec<String> =
                sorted.into_iter().map(|(k, x)| format!("{}:{x}", Value::String(k.clone()))).collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(canonical).collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}

#[test]
fn naive_router_matches_the_conformance_trace() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let gunzip = |name: &str| {
        let path = dir.join(format!("{TRACE}.{name}.jsonl.gz"));
        let mut data = Vec::new();
        flate2::read::GzDecoder::new(
            std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        )
        .read_to_end(&mut data)
        .unwrap();
        data
    };
    let events = gunzip("events");
    let expected = String::from_utf8(gunzip("effects")).unwrap();

    let mut router = NaiveRouter::new(Config::default()).expect("the shipped config is valid");
    let mut out = Vec::new();
    // split_inclusive keeps each line's newline, which CPython's `not JSON` positions count.
    for (n, raw) in events.split_inclusive(|&b| b == b'\n').enumerate() {
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue; // skipped, but still counted in `line`
        }
        step(&mut router, n as u64 + 1, raw, &mut out);
    }
    let actual = String::from_utf8(out).expect("effects are UTF-8");

    let (want, got) = (group(&expected), group(&actual));
    let keys: BTreeSet<&(String, String)> = want.keys().chain(got.keys()).collect();
    let none = Vec::new();
    // (line of the first difference, group, index of that effect in the group), earliest first.
    let mut differences = Vec::new();
    for key in &keys {
        let (w, g) = (want.get(*key).unwrap_or(&none), got.get(*key).unwrap_or(&none));
        let text = |s: &Vec<(usize, String)>, i: usize| s.get(i).map(|x| x.1.clone());
        if let Some(i) = (0..w.len().max(g.len())).find(|&i| text(w, i) != text(g, i)) {
            let line = |s: &Vec<(usize, String)>| s.get(i).map_or(usize::MAX, |x| x.0);
            differences.push((line(w).min(line(g)), *key, i));
        }
    }
    differences.sort();
    for (_, key, i) in differences.iter().take(5) {
        eprintln!("difference: account {:?} ticket {:?}, its effect #{}", key.0, key.1, i + 1);
        for (label, groups) in [("expected", &want), ("naive   ", &got)] {
            let effects = groups.get(*key).unwrap_or(&none);
            for (j, (line, text)) in effects.iter().enumerate().skip(i.saturating_sub(2)).take(5) {
                let mark = if j == *i { '>' } else { ' ' };
                eprintln!("  {mark} {label} line {line:>7}: {text}");
            }
        }
    }
    eprintln!("{} identical, {} different (tickets)", keys.len() - differences.len(), differences.len());
    assert!(differences.is_empty(), "the naive router disagrees with the trace");
}
