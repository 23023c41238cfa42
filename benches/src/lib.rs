//! Shared pieces of Switchboard's benchmarks: realistic event streams from the simulator.

use switchboard_core::{Config, Event, Millis};
use switchboard_sim::{SimEvent, SimParams, Simulator};

/// `n` events of a simulated contact centre, driven through an in-process engine so that they are
/// valid (accepts answer real offers, replies reach real tickets), with their times.
pub fn events(params: SimParams, n: usize) -> Vec<(Millis, Event)> {
    let mut engine = switchboard_core::Engine::new(Config::default()).expect("the default config is valid");
    let mut sim = Simulator::new(params);
    let mut out = Vec::with_capacity(n);
    let mut effects = Vec::new();
    while out.len() < n {
        // Timers first, so that the simulated people react to what the engine did by then.
        let deadline = engine.next_deadline().unwrap_or(Millis::MAX);
        let due = sim.peek_time().unwrap_or(Millis::MAX);
        if deadline <= due {
            if deadline == Millis::MAX {
                break;
            }
            effects.clear();
            engine.advance(deadline, &mut effects);
            sim.observe(&effects);
            continue;
        }
        let Some(SimEvent::Event { at, event }) = sim.next_due(due) else { continue };
        effects.clear();
        let _ = engine.apply(&event, at, &mut effects);
        sim.observe(&effects);
        out.push((at, event));
    }
    out
}

/// A small, fast, seeded PRNG (splitmix64): benchmarks must build the same state every run.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// The shape of a routing-decision benchmark: agents online, distinct skills, tickets waiting.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    /// Agents, all online.
    pub agents: usize,
    /// Distinct skills; each agent holds up to four of them, each ticket needs one.
    pub skills: usize,
    /// Tickets waiting that nobody can take (they need a skill nobody has), spread over 64 needs.
    pub waiting: usize,
}

/// The account every benchmark event belongs to.
pub const ACCOUNT: &str = "bench";

/// The events that set up a [`Scale`]: agents with skills and room for many tickets, online; and the
/// waiting tickets.
pub fn setup_events(scale: Scale) -> Vec<Event> {
    use switchboard_core::{CustomerMessage, TicketAttrs};
    let mut rng = Rng::new(7);
    let mut out = Vec::with_capacity(scale.agents * 2 + scale.waiting);
    for i in 0..scale.agents {
        let held = scale.skills.min(4);
        let mut skills: Vec<String> =
            (0..held).map(|_| format!("s{}", rng.below(scale.skills as u64))).collect();
        skills.sort();
        skills.dedup();
        out.push(Event::AgentUpserted {
            account: ACCOUNT.into(),
            agent: format!("a{i:06}"),
            groups: vec![format!("g{}", i % 4)],
            skills,
            // Room enough that routing never runs out of agents during a measurement.
            capacity: vec![("messaging".into(), 1_000_000)],
        });
        out.push(Event::AgentStatus {
            account: ACCOUNT.into(),
            agent: format!("a{i:06}"),
            status: "online".into(),
            channel: None,
        });
    }
    for i in 0..scale.waiting {
        out.push(Event::Message(CustomerMessage {
            account: ACCOUNT.into(),
            conversation: format!("w{i}"),
            requester: "r".into(),
            attrs: TicketAttrs {
                channel: "messaging".into(),
                via: "whatsapp".into(),
                skills: vec![format!("nobody-{}", i % 64)],
                ..TicketAttrs::default()
            },
        }));
    }
    out
}

/// The `n`-th new ticket of a decision benchmark: one required skill among the scale's.
pub fn new_ticket(scale: Scale, n: u64, rng: &mut Rng) -> Event {
    use switchboard_core::{CustomerMessage, TicketAttrs};
    Event::Message(CustomerMessage {
        account: ACCOUNT.into(),
        conversation: format!("n{n}"),
        requester: "r".into(),
        attrs: TicketAttrs {
            channel: "messaging".into(),
            via: "whatsapp".into(),
            skills: vec![format!("s{}", rng.below(scale.skills as u64))],
            ..TicketAttrs::default()
        },
    })
}

/// An engine in the state of `scale`, at time `T0`.
pub fn engine_at(scale: Scale) -> switchboard_core::Engine {
    let mut engine = switchboard_core::Engine::new(Config::default()).expect("the default config is valid");
    let mut out = Vec::new();
    for e in setup_events(scale) {
        out.clear();
        engine.apply(&e, T0, &mut out).expect("setup events are valid");
    }
    engine
}

/// The time benchmarks start at: Monday 2026-01-05 00:00 UTC.
pub const T0: Millis = 1_767_571_200_000;
