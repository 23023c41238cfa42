//! The simulator against the engine: determinism, validity, and coverage of the engine's behaviour.

use std::collections::BTreeMap;
use switchboard_core::{Config, Effect, EffectKind, Engine, Event, StatusReason, TicketStatus};
use switchboard_sim::{SimEvent, SimParams, Simulator, generate};
use switchboard_wire as wire;

fn lines(params: SimParams, n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let stats = generate(params, Config::default(), n, &mut out).expect("generates");
    assert_eq!(stats.lines, n);
    // The simulator acts only on what effects showed, so the engine takes every valid event.
    assert_eq!(stats.refused, 0, "{stats:?}");
    out
}

/// What replaying a file gives: counts of refused lines and of effects by a descriptive key.
#[derive(Debug, Default)]
struct Replay {
    lines: u64,
    refused: u64,
    errors: BTreeMap<String, u64>,
    effects: BTreeMap<String, u64>,
    events: BTreeMap<&'static str, u64>,
}

/// Replays like `switchboard replay` does, checking the engine's invariants every 1000 lines.
fn replay(text: &[u8]) -> Replay {
    let mut engine = Engine::new(Config::default()).expect("default config");
    let mut effects: Vec<Effect> = Vec::new();
    let mut r = Replay::default();
    let text = std::str::from_utf8(text).expect("UTF-8");
    for line in text.split_inclusive('\n') {
        r.lines += 1;
        if line.trim().is_empty() {
            continue;
        }
        let refused = match step(&mut engine, line, &mut effects) {
            Ok(event) => {
                *r.events.entry(event.type_name()).or_default() += 1;
                None
            }
            Err(e) => Some(e),
        };
        if let Some(e) = refused {
            r.refused += 1;
            // The error without its ids, so like errors count together.
            let kind = e.split('"').next().unwrap_or_default().to_owned();
            *r.errors.entry(kind).or_default() += 1;
        }
        for e in effects.drain(..) {
            *r.effects.entry(describe(&e.kind)).or_default() += 1;
        }
        if r.lines % 1000 == 0 {
            engine.check_invariants().unwrap_or_else(|e| panic!("line {}: {e}", r.lines));
        }
    }
    engine.check_invariants().expect("invariants at the end");
    r
}

fn step(engine: &mut Engine, line: &str, effects: &mut Vec<Effect>) -> Result<Event, String> {
    let obj = wire::parse_object(line).map_err(|e| e.to_string())?;
    let at = wire::at_of(&obj).map_err(|e| e.to_string())?;
    if at < engine.now() {
        return Err("at before the previous line".into());
    }
    engine.advance(at, effects);
    let event = wire::decode_event(&obj, &*engine).map_err(|e| e.to_string())?;
    engine.apply(&event, at, effects).map_err(|e| e.to_string())?;
    Ok(event)
}

fn describe(kind: &EffectKind) -> String {
    match kind {
        EffectKind::TicketCreated { follow_up_of: Some(_), .. } => "ticket_created follow_up_of".into(),
        EffectKind::TicketCreated { style, .. } => format!("ticket_created {style}"),
        EffectKind::OfferWithdrawn { reason, .. } => format!("offer_withdrawn {reason}"),
        EffectKind::Unassigned { reason, .. } => format!("unassigned {reason}"),
        EffectKind::StatusChanged { to: TicketStatus::Closed, reason: StatusReason::StyleClose, .. } => {
            "status_changed style_close".into()
        }
        EffectKind::StatusChanged { to, reason, .. } => {
            format!("status_changed {to} {reason}")
        }
        EffectKind::Reopened { agent: Some(_) } => "reopened kept".into(),
        EffectKind::Reopened { agent: None } => "reopened rerouted".into(),
        other => other.type_name().into(),
    }
}

#[test]
fn the_same_seed_gives_the_same_lines() {
    let params = SimParams { bad_line_ratio: 0.01, ..SimParams::default() };
    let a = lines(params.clone(), 20_000);
    assert_eq!(a, lines(params.clone(), 20_000));
    let other = lines(SimParams { seed: 2, ..params }, 20_000);
    assert_ne!(a, other);
}

#[test]
fn bad_lines_leave_the_valid_events_alone() {
    let clean = lines(SimParams::default(), 10_000);
    let dirty = lines(SimParams { bad_line_ratio: 0.05, ..SimParams::default() }, 10_000);
    // The dirty run is the clean one with bad lines inserted. Matched greedily, a clean line
    // missing from it would leave every later line unmatched.
    let mut clean = clean.split_inclusive(|&b| b == b'\n').peekable();
    let mut inserted = 0;
    for line in dirty.split_inclusive(|&b| b == b'\n') {
        if clean.peek() == Some(&line) {
            clean.next();
        } else {
            inserted += 1;
        }
    }
    assert!((300..700).contains(&inserted), "{inserted} lines inserted");
}

#[test]
fn a_day_of_traffic_replays_valid_and_exercises_every_effect() {
    let text = lines(SimParams::default(), 50_000);
    let r = replay(&text);
    eprintln!("{r:#?}");
    assert_eq!(r.lines, 50_000);
    assert!(r.refused * 50 < r.lines, "{} of {} lines refused: {:?}", r.refused, r.lines, r.errors);
    for key in [
        "ticket_created live_chat",
        "ticket_created live_chat_returning",
        "ticket_created social_messaging",
        "ticket_created follow_up_of",
        "offered",
        "offer_withdrawn declined",
        "offer_withdrawn timeout",
        "offer_withdrawn agent_unavailable",
        "assigned",
        "unassigned agent_unavailable",
        "unassigned transferred",
        "status_changed open accepted",
        "status_changed open assigned",
        "status_changed pending agent",
        "status_changed on_hold agent",
        "status_changed solved agent",
        "status_changed open customer_reply",
        "status_changed style_close",
        "reopened kept",
        "reopened rerouted",
        "skills_relaxed",
    ] {
        assert!(r.effects.contains_key(key), "no {key}: {:#?}", r.effects);
    }
    for event in Event::TYPE_NAMES {
        if event != "tick" {
            assert!(r.events.contains_key(event), "no {event}: {:#?}", r.events);
        }
    }
}

#[test]
fn bad_lines_are_refused_and_nothing_else_is() {
    let text =
        lines(SimParams { bad_line_ratio: 0.02, tick_interval_ms: 60_000, ..SimParams::default() }, 30_000);
    let r = replay(&text);
    let blank = text.split(|&b| b == b'\n').filter(|l| l.is_empty()).count() as u64 - 1;
    let bad = (r.refused + blank) as f64 / r.lines as f64;
    assert!((0.015..0.025).contains(&bad), "{bad}: {:#?}", r.errors);
    assert!(r.events.contains_key("tick"));
}

#[test]
fn many_accounts_and_skills_stay_valid() {
    for (accounts, skills) in [(5, 1), (3, 64), (2, 0)] {
        let params = SimParams {
            accounts,
            agents_per_account: 20,
            skills,
            arrivals_per_minute: 2.0,
            diurnal: false,
            seed: 9,
            ..SimParams::default()
        };
        let text = lines(params, 20_000);
        let r = replay(&text);
        assert!(r.refused * 50 < r.lines, "{accounts}/{skills}: {:?}", r.errors);
        assert!(r.effects.contains_key("assigned"));
    }
}

#[test]
fn next_due_holds_back_what_is_not_due() {
    let mut sim = Simulator::new(SimParams::default());
    let start = SimParams::default().start_ms;
    assert_eq!(sim.peek_time(), Some(start));
    let mut last = 0;
    while let Some(e) = sim.next_due(start + 60_000) {
        assert!(e.at() >= last && e.at() <= start + 60_000);
        last = e.at();
    }
    assert!(sim.peek_time().is_some_and(|t| t > start + 60_000));
    assert!(matches!(sim.next(), Some(SimEvent::Event { .. })));
}

#[test]
fn nothing_to_simulate_is_no_events() {
    let mut sim = Simulator::new(SimParams { accounts: 0, ..SimParams::default() });
    assert_eq!(sim.peek_time(), None);
    assert_eq!(sim.next(), None);
    let mut out = Vec::new();
    let stats = generate(
        SimParams { arrivals_per_minute: f64::NAN, agents_per_account: 0, ..SimParams::default() },
        Config::default(),
        10,
        &mut out,
    )
    .expect("runs");
    assert_eq!(stats.lines, 0);
    assert!(out.is_empty());
}
