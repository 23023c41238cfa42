//! Where the load's events come from, and what the load generator learns from the effects.
//!
//! Three kinds of event, in this order of precedence each time one is asked for:
//! 1. the **simulated contact centre** ([`Simulator`]): whatever it has due by now on its clock
//!    (`start + elapsed × speed`): agents logging in and out, customers writing, agents accepting,
//!    declining and solving in reaction to the effects they observed;
//! 2. **filler reactions**: the filler agents accept each filler offer and solve each filler ticket
//!    once it is theirs, so that filler tickets go through a whole life (offer, accept, solve,
//!    close) and the daemon's state stays bounded however long the run;
//! 3. a **new filler conversation**: a customer `message` on a conversation never seen before, on one
//!    of the run's filler accounts, routed to the filler agents.
//!
//! A real contact centre produces a few events a second per account, far below what a load test
//! asks for, so fillers make up the rest. They live on accounts of their own so that they never take
//! the simulated agents' capacity (the simulated agents would not know those offers and would let
//! them time out, and the simulated queues would stop meaning anything).
//!
//! Both kinds of new ticket (simulated and filler) are tracked from send to their first effect on
//! WatchEffects: `ticket_created`, then the `offered` (or `assigned`, on an auto channel) made by
//! the same engine step, recognised by its equal `at`.

use super::stats::{Stats, lock};
use super::wire::{effect_from_proto, prefix_account};
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;
use switchboard_core::{Event, Millis};
use switchboard_proto::convert::event_to_proto;
use switchboard_proto::v1;
use switchboard_sim::{SimEvent, SimParams, Simulator};

/// Filler accounts: several, because accounts are spread over the daemon's shards by a hash of their
/// name, and one account would load one shard only.
const FILLER_ACCOUNTS: u64 = 8;
/// Filler agents per filler account.
const FILLER_AGENTS: u64 = 8;
/// Messaging capacity of each filler agent: 4096 tickets at once over all filler agents.
const FILLER_CAPACITY: u32 = 64;
/// Filler tickets not yet solved, at most. Half the filler capacity, so that a new filler ticket
/// finds an agent at once (its offer is what is measured) unless the daemon or the watcher has
/// fallen far behind; past it, an open loop sends a customer nudge on a live filler conversation
/// (a `message` that changes nothing for routing), which keeps the rate without growing the state,
/// and a closed loop waits for the filler agents' reactions.
const OUTSTANDING_CAP: usize = 2048;

/// Which events a watcher sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watcher {
    /// The simulated accounts, every effect type: the simulated people react to all of them.
    Sim,
    /// The filler accounts, only `ticket_created`, `offered` and `assigned`: what is measured and
    /// what the filler agents react to.
    Filler,
}

/// The mapping between the daemon's wall clock and the simulator's clock during the load phase.
#[derive(Debug, Clone, Copy)]
pub struct SimClock {
    /// The load phase's start.
    pub t0: Instant,
    /// The wall clock at `t0`, in milliseconds since the Unix epoch (the daemon stamps events and
    /// effects with its wall clock).
    pub wall0_ms: Millis,
    /// Simulated time at `t0`.
    pub sim0: Millis,
    /// Simulated milliseconds per real millisecond.
    pub speed: f64,
}

impl SimClock {
    /// Simulated time at `now`.
    pub fn sim_now(&self, now: Instant) -> Millis {
        self.sim0 + (now.saturating_duration_since(self.t0).as_secs_f64() * 1000.0 * self.speed) as Millis
    }

    /// Simulated time of an effect the daemon stamped `daemon_ms`.
    pub fn sim_at(&self, daemon_ms: Millis) -> Millis {
        self.sim0 + (daemon_ms.saturating_sub(self.wall0_ms) as f64 * self.speed) as Millis
    }
}

/// Events taken from the source, by kind.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    /// From the simulated contact centre.
    pub sim: u64,
    /// New filler conversations.
    pub filler_new: u64,
    /// Filler accepts and solves.
    pub filler_reactions: u64,
    /// Customer nudges on live filler conversations (when too many filler tickets were unsolved).
    pub nudges: u64,
}

/// New tickets on their way from send to their first effects.
#[derive(Default)]
struct Tracker {
    /// Keyed by account and conversation (`c`) or account and ticket id (`t`, for `ticket_created`
    /// events): when the event creating it was sent.
    awaiting: HashMap<String, Instant>,
    /// Keyed by account and ticket: when the event creating it was sent, and the `at` of its
    /// `ticket_created`.
    created: HashMap<String, (Instant, Millis)>,
    /// New tickets whose first offer or assignment came later than their creation (they waited).
    not_at_once: u64,
}

fn key(account: &str, tag: char, id: &str) -> String {
    let mut k = String::with_capacity(account.len() + id.len() + 3);
    k.push_str(account);
    k.push('\u{1f}');
    k.push(tag);
    k.push('\u{1f}');
    k.push_str(id);
    k
}

impl Tracker {
    fn expect(&mut self, event: &v1::Event, sent: Instant) {
        match &event.kind {
            Some(v1::event::Kind::Message(m)) => {
                self.awaiting.insert(key(&m.account, 'c', &m.conversation), sent);
            }
            Some(v1::event::Kind::TicketCreated(t)) => {
                self.awaiting.insert(key(&t.account, 't', &t.ticket), sent);
            }
            _ => {}
        }
    }

    fn effect(&mut self, e: &v1::Effect, arrived: Instant, stats: &Stats) {
        match e.r#type.as_str() {
            "ticket_created" => {
                let k = match &e.conversation {
                    Some(c) => key(&e.account, 'c', c),
                    None => key(&e.account, 't', &e.ticket),
                };
                if let Some(sent) = self.awaiting.remove(&k) {
                    lock(&stats.to_created).record(arrived.saturating_duration_since(sent));
                    self.created.insert(key(&e.account, 't', &e.ticket), (sent, e.at));
                }
            }
            "offered" | "assigned" => {
                if let Some((sent, at)) = self.created.remove(&key(&e.account, 't', &e.ticket)) {
                    if at == e.at {
                        lock(&stats.to_offer).record(arrived.saturating_duration_since(sent));
                    } else {
                        self.not_at_once += 1;
                    }
                }
            }
            _ => {}
        }
    }
}

/// Counts about tracked new tickets at the end of a run.
#[derive(Debug, Clone, Copy)]
pub struct TrackerCounts {
    /// Sent, but their `ticket_created` never arrived (refused, or dropped for a lagging watcher).
    pub never_created: usize,
    /// Created, but not offered or assigned by the end of the run (still waiting).
    pub still_waiting: usize,
    /// Offered or assigned, but later than their creation.
    pub not_at_once: u64,
}

/// The filler agents and conversations.
struct Filler {
    accounts: Vec<String>,
    next: u64,
    reactions: VecDeque<v1::Event>,
    outstanding: BTreeSet<u64>,
}

impl Filler {
    fn account(&self, n: u64) -> &str {
        &self.accounts[(n % FILLER_ACCOUNTS) as usize]
    }

    fn message(&self, n: u64) -> v1::Event {
        let conversation = format!("f{n}");
        v1::Event {
            at: None,
            event_id: None,
            kind: Some(v1::event::Kind::Message(v1::Message {
                account: self.account(n).to_owned(),
                requester: conversation.clone(),
                conversation,
                channel: Some("messaging".into()),
                // An anonymous web visitor: style `live_chat` under the shipped rules, so the solve
                // closes the ticket at once.
                via: "web_widget".into(),
                ..v1::Message::default()
            })),
        }
    }

    /// The filler number of a filler ticket id (`f<n>#1`).
    fn number(ticket: &str) -> Option<u64> {
        ticket.strip_prefix('f')?.split('#').next()?.parse().ok()
    }
}

/// The source of the run's events. Shared by every sending task and both watchers, behind a mutex.
pub struct Source {
    sim: Simulator,
    prefix: String,
    clock: Option<SimClock>,
    /// Simulated conversations already written on: a message on one of them creates no new ticket
    /// (or a follow-up, which is not tracked).
    seen: HashSet<String>,
    filler: Filler,
    tracker: Tracker,
    counts: Counts,
}

impl Source {
    /// A source for `params`, its accounts named `<prefix><account>` and
    /// `<prefix>fill-<k>` for the fillers.
    pub fn new(params: SimParams, prefix: &str) -> Self {
        Source {
            sim: Simulator::new(params),
            prefix: prefix.to_owned(),
            clock: None,
            seen: HashSet::new(),
            filler: Filler {
                accounts: (0..FILLER_ACCOUNTS).map(|k| format!("{prefix}fill-{k}")).collect(),
                next: 0,
                reactions: VecDeque::new(),
                outstanding: BTreeSet::new(),
            },
            tracker: Tracker::default(),
            counts: Counts::default(),
        }
    }

    /// The filler accounts' names, as the daemon knows them.
    pub fn filler_accounts(&self) -> &[String] {
        &self.filler.accounts
    }

    /// The events that set up the filler agents: upserted with messaging capacity, then online.
    pub fn filler_setup(&self) -> Vec<v1::Event> {
        let mut out = Vec::new();
        for account in &self.filler.accounts {
            for a in 0..FILLER_AGENTS {
                let agent = format!("fa{a}");
                out.push(event_to_proto(
                    None,
                    None,
                    Event::AgentUpserted {
                        account: account.clone(),
                        agent: agent.clone(),
                        groups: Vec::new(),
                        skills: Vec::new(),
                        capacity: vec![("messaging".into(), FILLER_CAPACITY)],
                    },
                ));
                out.push(event_to_proto(
                    None,
                    None,
                    Event::AgentStatus {
                        account: account.clone(),
                        agent,
                        status: "online".into(),
                        channel: None,
                    },
                ));
            }
        }
        out
    }

    /// Pre-roll: the next simulated event due by `until` (simulated time), with its time, or
    /// `None` when nothing more is due by then.
    pub fn next_preroll(&mut self, until: Millis) -> Option<(Millis, v1::Event)> {
        loop {
            match self.sim.next_due(until)? {
                SimEvent::Event { at, event } => {
                    let event = self.sim_event(event, None);
                    return Some((at, event));
                }
                // No bad lines are asked for; should one come, it is not an event to send.
                SimEvent::Bad { .. } => continue,
            }
        }
    }

    /// Pre-roll: the effects an event caused, from its unary reply, as of the event's simulated
    /// time.
    pub fn observe_reply(&mut self, effects: &[v1::Effect], sim_at: Millis) {
        let effects: Vec<_> = effects
            .iter()
            .filter_map(|e| effect_from_proto(e, self.unprefixed(&e.account)?, sim_at))
            .collect();
        self.sim.observe(&effects);
    }

    /// Starts the load phase: from now on the simulator runs on `clock`.
    pub fn start(&mut self, clock: SimClock) {
        self.clock = Some(clock);
    }

    /// The next event to send at `now`, in open loop; `sent` is the scheduled time its new ticket
    /// (if any) is measured from. Always an event: an open loop keeps its rate.
    pub fn next(&mut self, now: Instant, sent: Instant) -> v1::Event {
        if let Some(event) = self.next_useful(now, sent) {
            return event;
        }
        // Too many filler tickets unsolved (the watcher or the daemon is behind): a customer nudge
        // on the newest one, which the daemon must still take, log and answer.
        let n = self.filler.outstanding.last().copied().unwrap_or(0);
        self.counts.nudges += 1;
        self.filler.message(n)
    }

    /// The next event to send at `now`, or `None` when too many filler tickets are unsolved and
    /// nothing else is due: a closed loop then waits for the filler reactions rather than sending
    /// nudges, so that its throughput is made of routing work.
    pub fn next_useful(&mut self, now: Instant, sent: Instant) -> Option<v1::Event> {
        if let Some(clock) = self.clock {
            let sim_now = clock.sim_now(now);
            while let Some(item) = self.sim.next_due(sim_now) {
                if let SimEvent::Event { event, .. } = item {
                    self.counts.sim += 1;
                    return Some(self.sim_event(event, Some(sent)));
                }
            }
        }
        if let Some(event) = self.filler.reactions.pop_front() {
            self.counts.filler_reactions += 1;
            return Some(event);
        }
        if self.filler.outstanding.len() >= OUTSTANDING_CAP {
            return None;
        }
        let n = self.filler.next;
        self.filler.next += 1;
        self.filler.outstanding.insert(n);
        self.counts.filler_new += 1;
        let event = self.filler.message(n);
        self.tracker.expect(&event, sent);
        Some(event)
    }

    /// Up to `n` events to send at `now` (closed loop, streams); fewer, or none, when the loop
    /// should wait for filler reactions (see [`Source::next_useful`]).
    pub fn next_batch(&mut self, n: usize, now: Instant) -> Vec<v1::Event> {
        (0..n).map_while(|_| self.next_useful(now, now)).collect()
    }

    fn sim_event(&mut self, event: Event, sent: Option<Instant>) -> v1::Event {
        let mut event = event_to_proto(None, None, event);
        prefix_account(&mut event, &self.prefix);
        let new_ticket = match &event.kind {
            Some(v1::event::Kind::Message(m)) => self.seen.insert(key(&m.account, 'c', &m.conversation)),
            Some(v1::event::Kind::TicketCreated(_)) => true,
            _ => false,
        };
        if let (true, Some(sent)) = (new_ticket, sent) {
            self.tracker.expect(&event, sent);
        }
        event
    }

    fn unprefixed(&self, account: &str) -> Option<Arc<str>> {
        account.strip_prefix(&self.prefix).map(Arc::from)
    }

    /// What a watcher received: timing for tracked tickets, reactions for the simulated people and
    /// the filler agents.
    pub fn observe(&mut self, which: Watcher, effects: &[(Instant, v1::Effect)], stats: &Stats) {
        for (arrived, e) in effects {
            self.tracker.effect(e, *arrived, stats);
        }
        match which {
            Watcher::Sim => {
                let Some(clock) = self.clock else { return };
                let effects: Vec<_> = effects
                    .iter()
                    .filter_map(|(_, e)| {
                        effect_from_proto(e, self.unprefixed(&e.account)?, clock.sim_at(e.at))
                    })
                    .collect();
                self.sim.observe(&effects);
            }
            Watcher::Filler => {
                for (_, e) in effects {
                    let answer = v1::OfferAnswer {
                        account: e.account.clone(),
                        ticket: e.ticket.clone(),
                        agent: e.agent.clone().unwrap_or_default(),
                    };
                    match e.r#type.as_str() {
                        "offered" => self.filler.reactions.push_back(v1::Event {
                            at: None,
                            event_id: None,
                            kind: Some(v1::event::Kind::OfferAccepted(answer)),
                        }),
                        "assigned" => {
                            if let Some(n) = Filler::number(&e.ticket) {
                                self.filler.outstanding.remove(&n);
                            }
                            self.filler.reactions.push_back(v1::Event {
                                at: None,
                                event_id: None,
                                kind: Some(v1::event::Kind::TicketStatus(v1::TicketStatus {
                                    account: e.account.clone(),
                                    ticket: e.ticket.clone(),
                                    status: "solved".into(),
                                })),
                            });
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    /// Events taken so far, by kind.
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// How the tracked new tickets ended up.
    pub fn tracker_counts(&self) -> TrackerCounts {
        TrackerCounts {
            never_created: self.tracker.awaiting.len(),
            still_waiting: self.tracker.created.len(),
            not_at_once: self.tracker.not_at_once,
        }
    }
}
