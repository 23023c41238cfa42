//! Property tests: random event streams against the engine's invariants.
//!
//! After every event: the engine's own from-scratch recount (`check_invariants`: loads equal the
//! tickets that count, indexes and queue consistent, nothing waits that an agent could take), no
//! routed offer or assignment to an agent who is not online or lacks the group or a required skill,
//! capacity respected by routing, and queue order kept. Across runs: the same events give the same
//! effects.

mod support;

use proptest::prelude::*;
use std::collections::HashMap;
use support::render;
use switchboard_core::config::AssignmentMethod;
use switchboard_core::{
    Config, CustomerMessage, Effect, Engine, Event, NewTicket, Priority, TicketAttrs, TicketStatus,
    TransferTarget,
};

const ACCOUNTS: [&str; 2] = ["acme", "globex"];
const AGENTS: [&str; 5] = ["a0", "a1", "a2", "a3", "a4"];
const CHANNELS: [&str; 3] = ["messaging", "email", "talk"];
const GROUPS: [&str; 2] = ["g0", "g1"];
const SKILLS: [&str; 3] = ["s0", "s1", "s2"];
const VIAS: [&str; 4] = ["web_widget", "mobile_sdk", "whatsapp", "email"];
const STATUSES: [&str; 8] =
    ["online", "away", "transfers_only", "offline", "online", "online", "online", "away"];

fn pick<T: Copy + std::fmt::Debug + 'static>(xs: &'static [T]) -> prop::sample::Select<T> {
    prop::sample::select(xs)
}

fn name(xs: &'static [&'static str]) -> BoxedStrategy<String> {
    pick(xs).prop_map(String::from).boxed()
}

fn subset(xs: &'static [&'static str]) -> impl Strategy<Value = Vec<String>> {
    prop::sample::subsequence(xs, 0..=xs.len().min(2)).prop_map(|v| v.into_iter().map(String::from).collect())
}

fn attrs() -> impl Strategy<Value = TicketAttrs> {
    (
        pick(&CHANNELS),
        pick(&VIAS),
        any::<bool>(),
        pick(&Priority::ALL),
        prop::option::weighted(0.3, pick(&GROUPS)),
        subset(&SKILLS),
        subset(&SKILLS),
    )
        .prop_map(|(channel, via, authenticated, priority, group, skills, optional)| TicketAttrs {
            channel: channel.into(),
            via: via.into(),
            authenticated,
            brand: None,
            priority,
            group: group.map(String::from),
            skills: skills.into_iter().take(1).collect(),
            optional_skills: optional,
            style: None,
        })
}

/// Events over a small world, so that collisions (same agent, same conversation) are frequent.
fn event() -> impl Strategy<Value = Event> {
    let account = name(&ACCOUNTS);
    let agent = name(&AGENTS);
    let conv = (0..6u8).prop_map(|i| format!("c{i}"));
    // Tickets named as the engine names them, so accepts and status changes hit real tickets.
    let ticket: BoxedStrategy<String> = prop_oneof![
        (0..6u8, 1..3u8).prop_map(|(c, n)| format!("c{c}#{n}")),
        (0..3u8).prop_map(|i| format!("e{i}"))
    ]
    .boxed();
    prop_oneof![
        2 => (account.clone(), agent.clone(), subset(&GROUPS), subset(&SKILLS), prop::collection::vec((pick(&CHANNELS), 0..4u32), 0..3))
            .prop_map(|(account, agent, groups, skills, caps)| Event::AgentUpserted {
                account, agent, groups, skills,
                capacity: caps.into_iter().map(|(c, n)| (c.to_string(), n)).collect(),
            }),
        3 => (account.clone(), agent.clone(), pick(&STATUSES), prop::option::weighted(0.3, pick(&CHANNELS)))
            .prop_map(|(account, agent, status, channel)| {
                let status = if channel.is_some() && status == "online" { "online" } else { status };
                Event::AgentStatus { account, agent, status: status.into(), channel: channel.map(String::from) }
            }),
        1 => (account.clone(), agent.clone()).prop_map(|(account, agent)| Event::AgentRemoved { account, agent }),
        5 => (account.clone(), conv, attrs()).prop_map(|(account, conversation, attrs)| Event::Message(CustomerMessage {
                account, conversation, requester: "r".into(), attrs,
            })),
        1 => (account.clone(), (0..3u8).prop_map(|i| format!("e{i}")), attrs()).prop_map(|(account, ticket, attrs)| {
                Event::TicketCreated(NewTicket { account, ticket, requester: None, attrs })
            }),
        4 => (account.clone(), ticket.clone(), agent.clone()).prop_map(|(account, ticket, agent)| Event::OfferAccepted { account, ticket, agent }),
        2 => (account.clone(), ticket.clone(), agent.clone()).prop_map(|(account, ticket, agent)| Event::OfferDeclined { account, ticket, agent }),
        4 => (account.clone(), ticket.clone(), pick(&TicketStatus::AGENT_SETTABLE)).prop_map(|(account, ticket, status)| Event::TicketStatus { account, ticket, status }),
        1 => (account.clone(), ticket.clone(), agent).prop_map(|(account, ticket, a)| Event::TicketTransferred { account, ticket, to: TransferTarget::Agent(a) }),
        1 => (account, ticket, pick(&GROUPS)).prop_map(|(account, ticket, g)| Event::TicketTransferred { account, ticket, to: TransferTarget::Group(g.into()) }),
        1 => Just(Event::Tick),
    ]
}

/// Time steps: mostly seconds, sometimes past an offer or skills timeout, rarely days.
fn step() -> impl Strategy<Value = u64> {
    prop_oneof![
        6 => 0..5_000u64,
        3 => 5_000..70_000u64,
        1 => 3_000_000..4_000_000u64,
        1 => 86_400_000..400_000_000u64,
    ]
}

fn config(method: AssignmentMethod) -> Config {
    let mut c = Config::default();
    std::sync::Arc::make_mut(&mut c.defaults).assignment_method = method;
    c
}

/// Applies the stream, checking every property after every event; returns all effects rendered.
fn run(method: AssignmentMethod, events: &[(u64, Event)]) -> Result<Vec<String>, TestCaseError> {
    let mut engine = Engine::new(config(method)).unwrap();
    let mut now = 1_767_571_200_000u64;
    let mut all = Vec::new();
    for (i, (dt, ev)) in events.iter().enumerate() {
        now += dt;
        let fail = |e: String| TestCaseError::fail(format!("event #{i} {ev:?}: {e}"));
        // Timers first and the event after, each checked in the state it leaves: the event may
        // legitimately make an agent the timers just routed to unavailable.
        let mut timers: Vec<Effect> = Vec::new();
        engine.advance(now, &mut timers);
        engine.check_invariants().map_err(fail)?;
        engine.check_routed(&timers).map_err(fail)?;
        let mut out: Vec<Effect> = Vec::new();
        let _ = engine.apply(ev, now, &mut out);
        engine.check_invariants().map_err(fail)?;
        engine.check_routed(&out).map_err(fail)?;
        check_queue_order(&engine)?;
        all.extend(timers.iter().chain(&out).map(|e| format!("{} {}", e.at, render(e))));
    }
    Ok(all)
}

/// The queue lists tickets by priority, then queue time, then id.
fn check_queue_order(engine: &Engine) -> Result<(), TestCaseError> {
    for account in ACCOUNTS {
        let q = engine.queue(account, usize::MAX);
        for w in q.windows(2) {
            let key = |e: &switchboard_core::view::QueueEntry| {
                (std::cmp::Reverse(e.priority), e.queue_time, e.ticket.clone())
            };
            prop_assert!(key(&w[0]) < key(&w[1]), "queue out of order: {:?} before {:?}", w[0], w[1]);
        }
    }
    Ok(())
}

fn stream(len: usize) -> impl Strategy<Value = Vec<(u64, Event)>> {
    prop::collection::vec((step(), event()), 1..len)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_after_every_event_spare_capacity(events in stream(160)) {
        run(AssignmentMethod::SpareCapacity, &events)?;
    }

    #[test]
    fn invariants_hold_after_every_event_spare_percentage(events in stream(120)) {
        run(AssignmentMethod::SparePercentage, &events)?;
    }

    #[test]
    fn invariants_hold_after_every_event_round_robin(events in stream(120)) {
        run(AssignmentMethod::RoundRobin, &events)?;
    }

    #[test]
    fn a_frozen_state_is_the_snapshot_of_its_moment_whatever_happens_after(events in stream(120), split in 0usize..120) {
        let split = split.min(events.len());
        let mut engine = Engine::new(config(AssignmentMethod::SpareCapacity)).unwrap();
        let mut now = 1_767_571_200_000u64;
        let mut out = Vec::new();
        for (dt, ev) in &events[..split] {
            now += dt;
            let _ = engine.apply(ev, now, &mut out);
        }
        let expected = engine.snapshot();
        let frozen = engine.freeze();
        // The engine goes on while the frozen state waits, as a snapshot writer's does.
        for (dt, ev) in &events[split..] {
            now += dt;
            let _ = engine.apply(ev, now, &mut out);
        }
        engine.check_invariants().map_err(TestCaseError::fail)?;
        let written = std::thread::spawn(move || frozen.snapshot()).join().unwrap();
        prop_assert_eq!(&written, &expected);
        // And freezing again, with the first writer gone, gives the state of now.
        let again = engine.freeze().snapshot();
        prop_assert_eq!(again, engine.snapshot());
    }

    #[test]
    fn a_restored_snapshot_carries_on_exactly_like_the_original(events in stream(120), split in 0usize..120) {
        let split = split.min(events.len());
        let mut original = Engine::new(config(AssignmentMethod::SpareCapacity)).unwrap();
        let mut now = 1_767_571_200_000u64;
        let mut out = Vec::new();
        for (dt, ev) in &events[..split] {
            now += dt;
            let _ = original.apply(ev, now, &mut out);
        }
        // Through a serialised form, as the durability layer stores it.
        let snap = original.snapshot();
        let text = serde_json::to_string(&snap).unwrap();
        let back: switchboard_core::snapshot::EngineSnapshot = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(&back, &snap);
        let mut restored = Engine::restore(config(AssignmentMethod::SpareCapacity), &back).unwrap();
        restored.check_invariants().map_err(TestCaseError::fail)?;
        prop_assert_eq!(restored.snapshot(), snap);
        for (dt, ev) in &events[split..] {
            now += dt;
            let (mut a, mut b) = (Vec::new(), Vec::new());
            let ra = original.apply(ev, now, &mut a);
            let rb = restored.apply(ev, now, &mut b);
            prop_assert_eq!(ra, rb);
            prop_assert_eq!(&a, &b);
            out.extend(a);
        }
        restored.check_invariants().map_err(TestCaseError::fail)?;
        // Effect numbers (the bus's stable effect ids) count every effect of the account, across
        // the snapshot.
        for account in ACCOUNTS {
            let emitted = out.iter().filter(|e| &*e.account == account).count() as u64;
            prop_assert_eq!(original.effects_emitted(account), emitted);
            prop_assert_eq!(restored.effects_emitted(account), emitted);
        }
    }

    #[test]
    fn shards_regrouped_carry_on_account_by_account_like_one_engine(events in stream(120), split in 0usize..120) {
        use switchboard_core::snapshot::EngineSnapshot;
        let split = split.min(events.len());
        let cfg = || config(AssignmentMethod::SpareCapacity);
        let shard_of = |n: usize| move |account: &str| ACCOUNTS.iter().position(|a| *a == account).unwrap_or(0) % n;
        let mut reference = Engine::new(cfg()).unwrap();
        // Two shards before the restart, three after.
        let mut before: Vec<Engine> = (0..2).map(|_| Engine::new(cfg()).unwrap()).collect();
        let mut now = 1_767_571_200_000u64;
        let mut want: HashMap<String, Vec<String>> = HashMap::new();
        let mut got: HashMap<String, Vec<String>> = HashMap::new();
        let record = |map: &mut HashMap<String, Vec<String>>, out: &[Effect]| {
            for e in out {
                map.entry(e.account.to_string()).or_default().push(format!("{} {}", e.at, render(e)));
            }
        };
        let route = |ev: &Event, n: usize| ev.account().map(shard_of(n));
        for (dt, ev) in &events[..split] {
            now += dt;
            let mut out = Vec::new();
            let _ = reference.apply(ev, now, &mut out);
            record(&mut want, &out);
            for (i, shard) in before.iter_mut().enumerate() {
                // The daemon's clock moves every shard, whoever the event is for.
                let mut out = Vec::new();
                shard.advance(now, &mut out);
                if route(ev, 2).is_none_or(|s| s == i) {
                    let _ = shard.apply(ev, now, &mut out);
                }
                record(&mut got, &out);
            }
        }
        let parts: Vec<EngineSnapshot> = before.iter().map(Engine::snapshot).collect();
        let mut after: Vec<Engine> = EngineSnapshot::regroup(parts, 3, shard_of(3))
            .iter()
            .map(|s| Engine::restore(cfg(), s).unwrap())
            .collect();
        for shard in &after {
            shard.check_invariants().map_err(TestCaseError::fail)?;
        }
        for (dt, ev) in &events[split..] {
            now += dt;
            let mut out = Vec::new();
            let _ = reference.apply(ev, now, &mut out);
            record(&mut want, &out);
            for (i, shard) in after.iter_mut().enumerate() {
                // The daemon's clock moves every shard, whoever the event is for.
                let mut out = Vec::new();
                shard.advance(now, &mut out);
                if route(ev, 3).is_none_or(|s| s == i) {
                    let _ = shard.apply(ev, now, &mut out);
                }
                record(&mut got, &out);
            }
        }
        prop_assert_eq!(want, got);
    }

    #[test]
    fn the_same_events_give_the_same_effects(events in stream(120)) {
        let a = run(AssignmentMethod::SpareCapacity, &events)?;
        let b = run(AssignmentMethod::SpareCapacity, &events)?;
        prop_assert_eq!(a, b);
    }
}
