//! The simulated world (accounts, agents, customers, tickets as the effects showed them) and its
//! agenda of actions, each due at a time and each producing at most one event when it comes.
//!
//! Validity: an action that depends on the engine's state (answering an offer, working a ticket)
//! carries the ticket's epoch from when it was planned. Every effect batch that changes a ticket's
//! (offer, assignee, status) gives it a new epoch, so an action planned for a state that has since
//! changed finds a different epoch and quietly does nothing. Agents' statuses are the simulator's
//! own doing, so a per-agent epoch does the same for "back from break" and the like.

use crate::SimParams;
use crate::model::*;
use crate::rng::Rng;
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use switchboard_core::{
    CustomerMessage, Effect, EffectKind, Event, NewTicket, Priority, TicketAttrs, TicketStatus,
    TransferTarget,
};

/// The latest start time: half the `u64` range, so adding any simulated span cannot overflow.
const MAX_START_MS: u64 = u64::MAX / 2;

/// The channels the simulator uses; they must be configured in the engine (the shipped defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channel {
    Messaging,
    Email,
    Talk,
}

impl Channel {
    fn name(self) -> &'static str {
        match self {
            Channel::Messaging => "messaging",
            Channel::Email => "email",
            Channel::Talk => "talk",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A vector whose freed slots are reused, so long runs keep memory flat. Slot order and reuse are
/// deterministic (a stack of free slots).
#[derive(Debug)]
struct Slab<T> {
    items: Vec<Option<T>>,
    free: Vec<u32>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab { items: Vec::new(), free: Vec::new() }
    }
}

impl<T> Slab<T> {
    fn insert(&mut self, item: T) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.items[i as usize] = Some(item);
                i
            }
            None => {
                self.items.push(Some(item));
                (self.items.len() - 1) as u32
            }
        }
    }

    fn get(&self, i: u32) -> Option<&T> {
        self.items.get(i as usize)?.as_ref()
    }

    fn get_mut(&mut self, i: u32) -> Option<&mut T> {
        self.items.get_mut(i as usize)?.as_mut()
    }

    fn remove(&mut self, i: u32) -> Option<T> {
        let item = self.items.get_mut(i as usize)?.take();
        if item.is_some() {
            self.free.push(i);
        }
        item
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Presence {
    LoggedOff,
    Online,
    Away,
    TransfersOnly,
}

#[derive(Debug)]
struct Agent {
    id: String,
    /// Indices into [`GROUPS`].
    groups: Vec<usize>,
    /// Indices into the simulator's skill names, ascending.
    skills: Vec<usize>,
    /// Per [`Channel`].
    capacity: [u32; 3],
    /// Index into [`SHIFT_STARTS`].
    shift: usize,
    /// Which days of the week are off: day `d` is worked when `(d + day_offset) % 7 < WORK_DAYS`.
    day_offset: u64,
    presence: Presence,
    /// A channel set to something other than `online` on its own while the agent is online.
    channel_off: Option<Channel>,
    /// Bumped by every status the simulator sends for the agent.
    status_epoch: u64,
    removed: bool,
    /// Work that fell due while the agent was logged off: (ticket slot, epoch), picked up at login.
    parked: Vec<(u32, u64)>,
}

impl Agent {
    fn works(&self, day: u64) -> bool {
        (day + self.day_offset) % 7 < WORK_DAYS
    }

    /// When the shift of that day starts, before the login's jitter.
    fn shift_begin(&self, day: u64) -> u64 {
        day * DAY + SHIFT_STARTS[self.shift]
    }

    /// Whether a transfer to this agent on the channel would be accepted, by the shipped unified
    /// mapping (an `away` agent is not counted, which is safe whatever the mapping says).
    fn takes_transfers(&self, channel: Channel) -> bool {
        !self.removed
            && match self.presence {
                Presence::Online => self.channel_off != Some(channel),
                Presence::TransfersOnly => true,
                Presence::LoggedOff | Presence::Away => false,
            }
    }
}

type Snapshot = (Option<u32>, Option<u32>, TicketStatus);

#[derive(Debug)]
struct Ticket {
    id: String,
    channel: Channel,
    conv: Option<u32>,
    group: Option<usize>,
    status: TicketStatus,
    assignee: Option<u32>,
    offered: Option<u32>,
    /// (offered, assignee, status) when the simulator last planned for this ticket.
    planned: Snapshot,
    epoch: u64,
    /// Time of the latest effect about it: what it prompts starts from there.
    seen_at: u64,
    dirty: bool,
    /// Work sessions done: a reopened chat takes less time than the first.
    rounds: u32,
}

#[derive(Debug)]
struct Conversation {
    id: String,
    /// Distinguishes this conversation from a later one in the same slot.
    generation: u64,
    requester: String,
    origin: Origin,
    brand: bool,
    /// The group of the message that last asked for a ticket.
    group: Option<usize>,
    current: Option<u32>,
    /// Customer actions planned and not yet due: the conversation stays while there are any.
    planned: u32,
}

/// One tenant. Its maps only look names up and are never iterated, so their per-process random
/// hashing cannot change what the simulator does.
#[derive(Debug)]
struct Account {
    name: String,
    agents: Vec<Agent>,
    agent_ids: HashMap<String, u32>,
    tickets: Slab<Ticket>,
    ticket_ids: HashMap<String, u32>,
    conversations: Slab<Conversation>,
    conversation_ids: HashMap<String, u32>,
    /// Numbers conversations, email tickets and customers.
    contacts: u64,
    /// Numbers agents, hires included.
    hired: u32,
    /// Agents per shift pattern, to hand out days off in turn.
    team_sizes: [u64; SHIFT_STARTS.len()],
}

#[derive(Debug, Clone, Copy)]
enum CustomerAction {
    /// A message that changes nothing for routing; sent only while the ticket is new or open.
    Chatter,
    /// An answer to a pending ticket.
    Reply,
    /// Coming back after a solve: reopens, or starts a follow-up.
    Return,
}

#[derive(Debug, Clone, Copy)]
enum Action {
    Arrival,
    Tick,
    Roster { agent: u32 },
    ShiftStart { agent: u32, day: u64 },
    ShiftEnd { agent: u32 },
    Away { agent: u32, length: u64 },
    Coaching { agent: u32, length: u64 },
    Back { agent: u32, epoch: u64 },
    ChannelOff { agent: u32, channel: Channel, length: u64 },
    ChannelBack { agent: u32, epoch: u64 },
    Edit { agent: u32 },
    Leave { agent: u32 },
    Answer { ticket: u32, epoch: u64, accept: bool },
    Work { ticket: u32, epoch: u64 },
    SetStatus { ticket: u32, epoch: u64, status: TicketStatus },
    Sweep { ticket: u32, epoch: u64 },
    Customer { conversation: u32, generation: u64, action: CustomerAction },
}

#[derive(Debug)]
struct Scheduled {
    at: u64,
    seq: u64,
    account: u32,
    action: Action,
}

// Ordered by time, then by when it was planned, so equal times keep their planning order.
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Scheduled {}

/// What is due when. Nothing is ever planned before `now`, so times handed out never decrease.
#[derive(Debug, Default)]
struct Agenda {
    heap: BinaryHeap<Reverse<Scheduled>>,
    seq: u64,
    now: u64,
}

impl Agenda {
    fn plan(&mut self, at: u64, account: u32, action: Action) {
        self.seq += 1;
        self.heap.push(Reverse(Scheduled { at: at.max(self.now), seq: self.seq, account, action }));
    }
}

/// What a new ticket asks for.
struct Needs {
    priority: Priority,
    group: Option<usize>,
    skills: Vec<String>,
    optional_skills: Vec<String>,
}

/// The simulated contact centre. See the crate documentation for the model.
///
/// Driving it: take events with [`Simulator::next_due`] (or as an iterator), hand each to the
/// engine, and give every effect the engine produces to [`Simulator::observe`] before asking for
/// events due later than those effects, timers' effects included. [`crate::generate`] is the
/// reference loop.
#[derive(Debug)]
pub struct Simulator {
    rng: Rng,
    agenda: Agenda,
    accounts: Vec<Account>,
    /// Looked up, never iterated (see [`Account`]).
    account_ids: HashMap<String, u32>,
    skills: Vec<String>,
    /// Running sums of [`skill_share`] over the skills, for drawing a ticket's skills.
    skill_cumulative: Vec<f64>,
    /// Mean gap between candidate arrivals at the peak rate, and the share of candidates kept in
    /// each hour (thinning gives a Poisson process whose rate follows the diurnal curve).
    peak_gap_ms: f64,
    keep_by_hour: [f64; 24],
    tick_interval_ms: u64,
    epochs: u64,
    generations: u64,
    dirty: Vec<(u32, u32)>,
    bad: crate::bad::BadLines,
    /// An event held back behind a bad line due at the same time.
    held: Option<crate::SimEvent>,
}

impl Simulator {
    /// A simulator at `params.start_ms` with its roster loaded and its first shifts and arrivals
    /// planned. Out-of-range parameters are clamped rather than refused: a rate that is not a
    /// positive number means no arrivals, and a start beyond 2^63 ms (some 292 million years) is
    /// taken as 2^63, which leaves every later time room to fit in a `u64`.
    pub fn new(params: SimParams) -> Self {
        let start = params.start_ms.min(MAX_START_MS);
        let skills: Vec<String> = (0..params.skills).map(skill_name).collect();
        let skill_cumulative = (0..params.skills)
            .scan(0.0, |sum, i| {
                *sum += skill_share(i);
                Some(*sum)
            })
            .collect();
        let rate = params.arrivals_per_minute;
        let (peak_gap_ms, keep_by_hour) = if params.diurnal {
            let peak = DIURNAL.iter().copied().fold(0.0, f64::max);
            let mean = DIURNAL.iter().sum::<f64>() / 24.0;
            (MINUTE as f64 * mean / (rate * peak), DIURNAL.map(|h| h / peak))
        } else {
            (MINUTE as f64 / rate, [1.0; 24])
        };
        let mut sim = Simulator {
            rng: Rng::new(params.seed),
            agenda: Agenda { now: start, ..Agenda::default() },
            accounts: Vec::with_capacity(params.accounts),
            account_ids: HashMap::with_capacity(params.accounts),
            skills,
            skill_cumulative,
            peak_gap_ms,
            keep_by_hour,
            tick_interval_ms: params.tick_interval_ms,
            epochs: 0,
            generations: 0,
            dirty: Vec::new(),
            bad: crate::bad::BadLines::new(params.seed, params.bad_line_ratio),
            held: None,
        };
        for a in 0..params.accounts {
            let name = account_name(a);
            sim.account_ids.insert(name.clone(), a as u32);
            sim.accounts.push(Account {
                name,
                agents: Vec::with_capacity(params.agents_per_account),
                agent_ids: HashMap::with_capacity(params.agents_per_account),
                tickets: Slab::default(),
                ticket_ids: HashMap::new(),
                conversations: Slab::default(),
                conversation_ids: HashMap::new(),
                contacts: 0,
                hired: 0,
                team_sizes: [0; SHIFT_STARTS.len()],
            });
            for _ in 0..params.agents_per_account {
                let agent = sim.hire(a as u32, None);
                sim.agenda.plan(start, a as u32, Action::Roster { agent });
                sim.plan_first_shift(a as u32, agent, start);
            }
            if let Some(at) = sim.next_arrival(start) {
                sim.agenda.plan(at, a as u32, Action::Arrival);
            }
        }
        if sim.tick_interval_ms > 0 {
            sim.agenda.plan(start.saturating_add(sim.tick_interval_ms), 0, Action::Tick);
        }
        sim
    }

    /// When the next event is due at the earliest (actions that turn out to have nothing to do
    /// produce no event, so the next event may come later); `None` when nothing is planned.
    pub fn peek_time(&self) -> Option<u64> {
        match &self.held {
            Some(held) => Some(held.at()),
            None => self.agenda.heap.peek().map(|Reverse(s)| s.at),
        }
    }

    /// The next event due at or before `now`, or `None` if nothing is due by then (what is due later
    /// is left untouched). A live driver passes the clock; a driver with an in-process engine passes
    /// the millisecond before the engine's next deadline, so the timers' effects are observed first.
    pub fn next_due(&mut self, now: u64) -> Option<crate::SimEvent> {
        if let Some(held) = &self.held {
            if held.at() > now {
                return None;
            }
            self.bad.passed(held.at());
            return self.held.take();
        }
        loop {
            if self.agenda.heap.peek()?.0.at > now {
                return None;
            }
            let Reverse(s) = self.agenda.heap.pop()?;
            self.agenda.now = s.at;
            if let Some(event) = self.run(s.account, s.action) {
                return Some(match self.bad.line(s.at, event.account()) {
                    Some(line) => {
                        self.held = Some(crate::SimEvent::Event { at: s.at, event });
                        crate::SimEvent::Bad { at: s.at, line }
                    }
                    None => {
                        self.bad.passed(s.at);
                        crate::SimEvent::Event { at: s.at, event }
                    }
                });
            }
        }
    }

    /// Tells the simulator what the engine did, so agents and customers react to it. Effects for
    /// accounts, tickets or agents the simulator does not know are ignored.
    pub fn observe(&mut self, effects: &[Effect]) {
        for effect in effects {
            if let Some(&a) = self.account_ids.get(&*effect.account) {
                self.observe_one(a, effect);
            }
        }
        self.plan_reactions();
    }

    // ----- effects -------------------------------------------------------------------------------

    fn observe_one(&mut self, a: u32, effect: &Effect) {
        let acc = &mut self.accounts[a as usize];
        let at = effect.at;
        let slot = match (&effect.kind, acc.ticket_ids.get(&*effect.ticket)) {
            (_, Some(&slot)) => slot,
            (EffectKind::TicketCreated { conversation, .. }, None) => {
                let Some(&c) = conversation.as_deref().and_then(|c| acc.conversation_ids.get(c)) else {
                    return;
                };
                let Some(conv) = acc.conversations.get_mut(c) else {
                    return;
                };
                let channel = conv.origin.channel();
                let group = conv.group;
                let slot =
                    acc.tickets.insert(Ticket::new(effect.ticket.to_string(), channel, Some(c), group));
                conv.current = Some(slot);
                acc.ticket_ids.insert(effect.ticket.to_string(), slot);
                if channel == Channel::Messaging && self.rng.chance(NUDGE_P) {
                    let after = self.rng.range(NUDGE_AFTER.0, NUDGE_AFTER.1);
                    self.plan_customer(a, c, at + after, CustomerAction::Chatter);
                }
                slot
            }
            _ => return,
        };
        let agent_of = |acc: &Account, id: &str| acc.agent_ids.get(id).copied();
        let mut decided = None;
        {
            let acc = &mut self.accounts[a as usize];
            let lookup = match &effect.kind {
                EffectKind::Offered { agent } | EffectKind::Assigned { agent } => agent_of(acc, agent),
                _ => None,
            };
            let Some(t) = acc.tickets.get_mut(slot) else {
                return;
            };
            match &effect.kind {
                EffectKind::Offered { .. } => t.offered = lookup,
                EffectKind::OfferWithdrawn { .. } => t.offered = None,
                EffectKind::Assigned { .. } => {
                    t.assignee = lookup;
                    t.offered = None;
                }
                EffectKind::Unassigned { .. } => t.assignee = None,
                EffectKind::StatusChanged { to, .. } => {
                    t.status = *to;
                    decided = t.conv.map(|c| (c, *to, t.channel));
                }
                EffectKind::TicketCreated { .. }
                | EffectKind::Reopened { .. }
                | EffectKind::SkillsRelaxed => {}
            }
            t.seen_at = at;
            if !t.dirty {
                t.dirty = true;
                self.dirty.push((a, slot));
            }
        }
        // Customers decide at the transition itself: a live_chat ticket is solved and closed in one
        // batch, and the customer's wish to come back must not be lost with the closed state.
        match decided {
            Some((c, TicketStatus::Pending, _)) if self.rng.chance(PENDING_REPLY_P) => {
                let delay = self.delay(&REPLY_DELAYS);
                self.plan_customer(a, c, at + delay, CustomerAction::Reply);
            }
            Some((c, TicketStatus::Solved, channel)) => {
                let p = match channel {
                    Channel::Talk => RETURN_P_TALK,
                    _ => RETURN_P_MESSAGING,
                };
                if self.rng.chance(p) {
                    let delay = self.delay(&RETURN_DELAYS);
                    self.plan_customer(a, c, at + delay, CustomerAction::Return);
                }
            }
            _ => {}
        }
    }

    /// Plans what the agents do about every ticket whose state the last effects changed.
    fn plan_reactions(&mut self) {
        let mut dirty = std::mem::take(&mut self.dirty);
        for &(a, slot) in &dirty {
            let acc = &mut self.accounts[a as usize];
            let Some(t) = acc.tickets.get_mut(slot) else {
                continue;
            };
            t.dirty = false;
            let now: Snapshot = (t.offered, t.assignee, t.status);
            if now == t.planned {
                continue;
            }
            t.planned = now;
            self.epochs += 1;
            t.epoch = self.epochs;
            let (epoch, at, channel, rounds) = (t.epoch, t.seen_at, t.channel, t.rounds);
            match now {
                (_, _, TicketStatus::Closed) => self.forget_ticket(a, slot),
                (Some(agent), _, _) => self.plan_answer(a, slot, agent, epoch, at, channel),
                (None, Some(_), TicketStatus::New | TicketStatus::Open) => {
                    self.plan_work(a, slot, epoch, at, channel, rounds);
                }
                (None, Some(_), TicketStatus::Pending) => {
                    let (after, status) = if channel == Channel::Email && self.rng.chance(EMAIL_ANSWERED_P) {
                        (self.rng.range(EMAIL_ANSWERED_AFTER.0, EMAIL_ANSWERED_AFTER.1), TicketStatus::Open)
                    } else {
                        (self.rng.range(PENDING_SOLVE_AFTER.0, PENDING_SOLVE_AFTER.1), TicketStatus::Solved)
                    };
                    let action = Action::SetStatus { ticket: slot, epoch, status };
                    self.agenda.plan(at + after, a, action);
                }
                (None, Some(_), TicketStatus::OnHold) => {
                    let after = self.rng.range(HOLD_LENGTH.0, HOLD_LENGTH.1);
                    let status = TicketStatus::Open;
                    let action = Action::SetStatus { ticket: slot, epoch, status };
                    self.agenda.plan(at + after, a, action);
                }
                (None, None, TicketStatus::New | TicketStatus::Open) => {
                    let after = self.rng.range(SWEEP_AFTER.0, SWEEP_AFTER.1);
                    let action = Action::Sweep { ticket: slot, epoch };
                    self.agenda.plan(at + after, a, action);
                }
                // Solved tickets wait for the customer.
                _ => {}
            }
        }
        dirty.clear();
        self.dirty = dirty;
    }

    fn plan_answer(&mut self, a: u32, ticket: u32, agent: u32, epoch: u64, at: u64, ch: Channel) {
        let talk = ch == Channel::Talk;
        let answer = self.rng.pick(if talk { &OFFER_TALK } else { &OFFER_MESSAGING });
        match answer {
            OfferAnswer::Accept => {
                let delay = if talk {
                    self.rng.range(TALK_RING.0, TALK_RING.1)
                } else {
                    (ACCEPT_BASE + self.rng.erlang(2, ACCEPT_MEAN) as u64).min(ACCEPT_LATEST)
                };
                let accept = true;
                self.agenda.plan(at + delay, a, Action::Answer { ticket, epoch, accept });
            }
            OfferAnswer::Decline => {
                let delay = self.rng.range(DECLINE_DELAY.0, DECLINE_DELAY.1);
                let accept = false;
                self.agenda.plan(at + delay, a, Action::Answer { ticket, epoch, accept });
            }
            OfferAnswer::Ignore => {
                if self.rng.chance(IGNORED_AWAY_P) {
                    let after = self.rng.range(IGNORED_AWAY_AFTER.0, IGNORED_AWAY_AFTER.1);
                    let length = self.rng.range(IGNORED_AWAY_LENGTH.0, IGNORED_AWAY_LENGTH.1);
                    self.agenda.plan(at + after, a, Action::Away { agent, length });
                }
            }
        }
    }

    fn plan_work(&mut self, a: u32, ticket: u32, epoch: u64, at: u64, ch: Channel, rounds: u32) {
        let (k, mean) = match ch {
            Channel::Messaging if rounds == 0 => HANDLE_CHAT,
            Channel::Messaging => HANDLE_CHAT_AGAIN,
            Channel::Email => HANDLE_EMAIL,
            Channel::Talk => HANDLE_TALK,
        };
        let length = (self.rng.erlang(k, mean) as u64).max(HANDLE_MIN);
        self.agenda.plan(at + length, a, Action::Work { ticket, epoch });
        let conv = self.accounts[a as usize].tickets.get(ticket).and_then(|t| t.conv);
        if let (Channel::Messaging, Some(c)) = (ch, conv) {
            for _ in 0..self.rng.below(CHATTER_MAX + 1) {
                let after = self.rng.below(length);
                self.plan_customer(a, c, at + after, CustomerAction::Chatter);
            }
        }
    }

    fn plan_customer(&mut self, a: u32, c: u32, at: u64, action: CustomerAction) {
        let Some(conv) = self.accounts[a as usize].conversations.get_mut(c) else {
            return;
        };
        conv.planned += 1;
        let generation = conv.generation;
        let action = Action::Customer { conversation: c, generation, action };
        self.agenda.plan(at, a, action);
    }

    /// A closed ticket needs nothing more; its conversation goes too unless the customer still
    /// means to write.
    fn forget_ticket(&mut self, a: u32, slot: u32) {
        let acc = &mut self.accounts[a as usize];
        let Some(t) = acc.tickets.remove(slot) else {
            return;
        };
        acc.ticket_ids.remove(&t.id);
        if let Some(c) = t.conv
            && let Some(conv) = acc.conversations.get_mut(c)
            && conv.current == Some(slot)
        {
            conv.current = None;
            if conv.planned == 0 {
                acc.forget_conversation(c);
            }
        }
    }

    fn delay<const N: usize>(&mut self, table: &[(Delay, u32); N]) -> u64 {
        match self.rng.pick(table) {
            Delay::Soon(mean) => self.rng.exp(mean) as u64,
            Delay::Later => self.rng.range(LATER.0, LATER.1),
            Delay::DaysLater => self.rng.range(DAYS_LATER.0, DAYS_LATER.1),
        }
    }

    // ----- actions -------------------------------------------------------------------------------

    fn run(&mut self, a: u32, action: Action) -> Option<Event> {
        let now = self.agenda.now;
        match action {
            Action::Arrival => {
                if let Some(at) = self.next_arrival(now) {
                    self.agenda.plan(at, a, Action::Arrival);
                }
                Some(self.arrival(a))
            }
            Action::Tick => {
                self.agenda.plan(now.saturating_add(self.tick_interval_ms), 0, Action::Tick);
                Some(Event::Tick)
            }
            Action::Roster { agent } => {
                let acc = &self.accounts[a as usize];
                let ag = acc.agents.get(agent as usize)?;
                (!ag.removed).then(|| self.upsert(a, agent))
            }
            Action::ShiftStart { agent, day } => self.shift_start(a, agent, day),
            Action::ShiftEnd { agent } => {
                let ag = self.agent_mut(a, agent)?;
                ag.presence = Presence::LoggedOff;
                ag.channel_off = None;
                ag.status_epoch += 1;
                if self.rng.chance(LEAVE_P) {
                    let after = self.rng.range(MINUTE, 30 * MINUTE);
                    self.agenda.plan(now + after, a, Action::Leave { agent });
                }
                Some(self.status(a, agent, "offline", None))
            }
            Action::Away { agent, length } => self.step_out(a, agent, Presence::Away, length, "away"),
            Action::Coaching { agent, length } => {
                self.step_out(a, agent, Presence::TransfersOnly, length, "transfers_only")
            }
            Action::Back { agent, epoch } => {
                let ag = self.agent_mut(a, agent)?;
                let out = matches!(ag.presence, Presence::Away | Presence::TransfersOnly);
                if ag.status_epoch != epoch || !out {
                    return None;
                }
                ag.presence = Presence::Online;
                ag.status_epoch += 1;
                Some(self.status(a, agent, "online", None))
            }
            Action::ChannelOff { agent, channel, length } => {
                let ag = self.agent_mut(a, agent)?;
                if ag.presence != Presence::Online || ag.channel_off.is_some() {
                    return None;
                }
                ag.channel_off = Some(channel);
                ag.status_epoch += 1;
                let epoch = ag.status_epoch;
                self.agenda.plan(now + length, a, Action::ChannelBack { agent, epoch });
                // Off the phones means offline for talk; an email focus block means away from chat.
                let status = match channel {
                    Channel::Talk => "offline",
                    Channel::Messaging | Channel::Email => "away",
                };
                Some(self.status(a, agent, status, Some(channel)))
            }
            Action::ChannelBack { agent, epoch } => {
                let ag = self.agent_mut(a, agent)?;
                let channel = ag.channel_off?;
                if ag.status_epoch != epoch || ag.presence != Presence::Online {
                    return None;
                }
                ag.channel_off = None;
                ag.status_epoch += 1;
                Some(self.status(a, agent, "online", Some(channel)))
            }
            Action::Edit { agent } => {
                self.agent_mut(a, agent)?;
                self.edit(a, agent);
                Some(self.upsert(a, agent))
            }
            Action::Leave { agent } => {
                let ag = self.agent_mut(a, agent)?;
                ag.removed = true;
                let (id, shift, day_offset) = (ag.id.clone(), ag.shift, ag.day_offset);
                // Headcount stays: the replacement is on the roster at once and starts on the
                // leaver's next working day.
                let hire = self.hire(a, Some((shift, day_offset)));
                self.agenda.plan(now, a, Action::Roster { agent: hire });
                self.plan_next_shift(a, hire, now / DAY);
                let account = self.accounts[a as usize].name.clone();
                Some(Event::AgentRemoved { account, agent: id })
            }
            Action::Answer { ticket, epoch, accept } => {
                let acc = &self.accounts[a as usize];
                let t = acc.tickets.get(ticket).filter(|t| t.epoch == epoch)?;
                let agent = acc.agents.get(t.offered? as usize)?.id.clone();
                let (account, ticket) = (acc.name.clone(), t.id.clone());
                Some(if accept {
                    Event::OfferAccepted { account, ticket, agent }
                } else {
                    Event::OfferDeclined { account, ticket, agent }
                })
            }
            Action::Work { ticket, epoch } => self.work(a, ticket, epoch),
            Action::Sweep { ticket, epoch } => self.sweep(a, ticket, epoch),
            Action::SetStatus { ticket, epoch, status } => {
                let acc = &self.accounts[a as usize];
                let t = acc.tickets.get(ticket).filter(|t| t.epoch == epoch && t.assignee.is_some())?;
                Some(Event::TicketStatus { account: acc.name.clone(), ticket: t.id.clone(), status })
            }
            Action::Customer { conversation, generation, action } => {
                self.customer(a, conversation, generation, action)
            }
        }
    }

    /// A live agent by index; `None` for one who has left.
    fn agent_mut(&mut self, a: u32, agent: u32) -> Option<&mut Agent> {
        self.accounts[a as usize].agents.get_mut(agent as usize).filter(|ag| !ag.removed)
    }

    fn status(&self, a: u32, agent: u32, status: &str, channel: Option<Channel>) -> Event {
        let acc = &self.accounts[a as usize];
        Event::AgentStatus {
            account: acc.name.clone(),
            agent: acc.agents[agent as usize].id.clone(),
            status: status.to_owned(),
            channel: channel.map(|c| c.name().to_owned()),
        }
    }

    fn upsert(&self, a: u32, agent: u32) -> Event {
        let acc = &self.accounts[a as usize];
        let ag = &acc.agents[agent as usize];
        let capacity = [Channel::Messaging, Channel::Email, Channel::Talk]
            .into_iter()
            .filter(|c| ag.capacity[c.index()] > 0)
            .map(|c| (c.name().to_owned(), ag.capacity[c.index()]))
            .collect();
        Event::AgentUpserted {
            account: acc.name.clone(),
            agent: ag.id.clone(),
            groups: ag.groups.iter().map(|&g| GROUPS[g].to_owned()).collect(),
            skills: ag.skills.iter().map(|&s| self.skills[s].clone()).collect(),
            capacity,
        }
    }

    /// A unified status away from `online` for a while (a break, coaching); only from `online`, so
    /// overlapping plans do not stack.
    fn step_out(
        &mut self,
        a: u32,
        agent: u32,
        presence: Presence,
        length: u64,
        status: &str,
    ) -> Option<Event> {
        let ag = self.agent_mut(a, agent)?;
        if ag.presence != Presence::Online {
            return None;
        }
        ag.presence = presence;
        // A unified status sets every channel, so a channel set on its own is overridden.
        ag.channel_off = None;
        ag.status_epoch += 1;
        let epoch = ag.status_epoch;
        let back = self.agenda.now + length;
        self.agenda.plan(back, a, Action::Back { agent, epoch });
        Some(self.status(a, agent, status, None))
    }

    // ----- agents --------------------------------------------------------------------------------

    /// Adds a new agent to the account: a fresh profile, and the given shift pattern and days off
    /// (a replacement's) or drawn ones.
    fn hire(&mut self, a: u32, pattern: Option<(usize, u64)>) -> u32 {
        let rng = &mut self.rng;
        let mut groups: Vec<usize> = (0..GROUPS.len()).filter(|&g| rng.chance(GROUP_MEMBERSHIP[g])).collect();
        if groups.is_empty() {
            groups.push(0);
        }
        let skills = (0..self.skills.len()).filter(|&i| rng.chance(skill_share(i))).collect();
        let capacity = [
            rng.range(MESSAGING_CAPACITY.0, MESSAGING_CAPACITY.1) as u32,
            rng.range(EMAIL_CAPACITY.0, EMAIL_CAPACITY.1) as u32,
            u32::from(rng.chance(TALK_AGENT_P)),
        ];
        let acc = &mut self.accounts[a as usize];
        let (shift, day_offset) = pattern.unwrap_or_else(|| {
            let shift = rng.pick(&SHIFT_SHARES);
            acc.team_sizes[shift] += 1;
            (shift, acc.team_sizes[shift] % 7)
        });
        acc.hired += 1;
        let id = format!("{}-ag{:03}", acc.name, acc.hired);
        let index = acc.agents.len() as u32;
        acc.agent_ids.insert(id.clone(), index);
        acc.agents.push(Agent {
            id,
            groups,
            skills,
            capacity,
            shift,
            day_offset,
            presence: Presence::LoggedOff,
            channel_off: None,
            status_epoch: 0,
            removed: false,
            parked: Vec::new(),
        });
        index
    }

    /// At the start of the run, agents whose shift is under way log in within five minutes; the
    /// others at their next shift.
    fn plan_first_shift(&mut self, a: u32, agent: u32, start: u64) {
        let ag = &self.accounts[a as usize].agents[agent as usize];
        let today = start / DAY;
        let under_way = [today.saturating_sub(1), today].into_iter().find(|&d| {
            let begin = ag.shift_begin(d);
            ag.works(d) && begin <= start && start < begin + SHIFT_LENGTH
        });
        match under_way {
            Some(day) => {
                let at = start + self.rng.below(5 * MINUTE);
                self.agenda.plan(at, a, Action::ShiftStart { agent, day });
            }
            None => self.plan_next_shift(a, agent, today.saturating_sub(1)),
        }
    }

    /// Plans the agent's first shift that starts on a working day after `after_day` and not
    /// before now.
    fn plan_next_shift(&mut self, a: u32, agent: u32, after_day: u64) {
        let ag = &self.accounts[a as usize].agents[agent as usize];
        let now = self.agenda.now;
        // Seven days always hold a working day, and fourteen one that is also in the future.
        let Some(day) =
            (after_day + 1..after_day + 15).find(|&d| ag.works(d) && ag.shift_begin(d) + LOGIN_JITTER >= now)
        else {
            return;
        };
        let at = (ag.shift_begin(day) + self.rng.below(2 * LOGIN_JITTER)).saturating_sub(LOGIN_JITTER);
        self.agenda.plan(at, a, Action::ShiftStart { agent, day });
    }

    fn shift_start(&mut self, a: u32, agent: u32, day: u64) -> Option<Event> {
        let now = self.agenda.now;
        let ag = self.agent_mut(a, agent)?;
        ag.presence = Presence::Online;
        ag.channel_off = None;
        ag.status_epoch += 1;
        let begin = ag.shift_begin(day);
        let talk = ag.capacity[Channel::Talk.index()] > 0;
        let parked = std::mem::take(&mut ag.parked);
        let end = begin + SHIFT_LENGTH - LOGOFF_JITTER.0 + self.rng.below(LOGOFF_JITTER.0 + LOGOFF_JITTER.1);
        for (offset, jitter, (shortest, longest)) in BREAKS {
            let at = (begin + offset + self.rng.below(2 * jitter)).saturating_sub(jitter);
            let length = self.rng.range(shortest, longest);
            if now < at && at < end {
                self.agenda.plan(at, a, Action::Away { agent, length });
            }
        }
        // Extras happen between the first half hour and the last hour of the shift.
        let (early, late) = (now + 30 * MINUTE, end.saturating_sub(HOUR));
        if early < late {
            let extras = [
                (talk && self.rng.chance(TALK_OFF_P), Channel::Talk, TALK_OFF_LENGTH),
                (self.rng.chance(EMAIL_FOCUS_P), Channel::Messaging, EMAIL_FOCUS_LENGTH),
            ];
            for (happens, channel, (shortest, longest)) in extras {
                if happens {
                    let at = self.rng.range(early, late);
                    let length = self.rng.range(shortest, longest);
                    let action = Action::ChannelOff { agent, channel, length };
                    self.agenda.plan(at, a, action);
                }
            }
            if self.rng.chance(COACHING_P) {
                let at = self.rng.range(early, late);
                let length = self.rng.range(COACHING_LENGTH.0, COACHING_LENGTH.1);
                self.agenda.plan(at, a, Action::Coaching { agent, length });
            }
            if self.rng.chance(EDIT_P) {
                let at = self.rng.range(early, late);
                self.agenda.plan(at, a, Action::Edit { agent });
            }
        }
        self.agenda.plan(end, a, Action::ShiftEnd { agent });
        // Work that fell due while the agent was off is picked up in the first quarter hour.
        for (ticket, epoch) in parked {
            let at = now + self.rng.range(MINUTE, 15 * MINUTE);
            self.agenda.plan(at, a, Action::Work { ticket, epoch });
        }
        self.plan_next_shift(a, agent, day);
        Some(self.status(a, agent, "online", None))
    }

    /// A supervisor's change: a skill gained (half the time), a skill lost, or messaging capacity
    /// moved by one within 1–6.
    fn edit(&mut self, a: u32, agent: u32) {
        let skills = self.skills.len();
        let rng = &mut self.rng;
        let Some(ag) = self.accounts[a as usize].agents.get_mut(agent as usize) else {
            return;
        };
        match rng.below(4) {
            0 | 1 if skills > 0 => {
                let gain = rng.below(skills as u64) as usize;
                if let Err(at) = ag.skills.binary_search(&gain) {
                    ag.skills.insert(at, gain);
                }
            }
            2 if ag.skills.len() > 1 => {
                let lose = 1 + rng.below(ag.skills.len() as u64 - 1) as usize;
                ag.skills.remove(lose);
            }
            _ => {
                let m = &mut ag.capacity[Channel::Messaging.index()];
                *m = if rng.chance(0.5) { *m + 1 } else { m.saturating_sub(1) }.clamp(1, 6);
            }
        }
    }

    // ----- tickets -------------------------------------------------------------------------------

    fn work(&mut self, a: u32, ticket: u32, epoch: u64) -> Option<Event> {
        let acc = &mut self.accounts[a as usize];
        let t = acc.tickets.get_mut(ticket).filter(|t| t.epoch == epoch)?;
        let agent = t.assignee?;
        let ag = acc.agents.get_mut(agent as usize).filter(|ag| !ag.removed)?;
        if ag.presence == Presence::LoggedOff {
            ag.parked.push((ticket, epoch));
            return None;
        }
        t.rounds += 1;
        let channel = t.channel;
        let outcome = self.rng.pick(match channel {
            Channel::Messaging => &OUTCOME_MESSAGING,
            Channel::Email => &OUTCOME_EMAIL,
            Channel::Talk => &OUTCOME_TALK,
        });
        let status = match outcome {
            Outcome::Solve => TicketStatus::Solved,
            Outcome::Pending => TicketStatus::Pending,
            Outcome::Hold => TicketStatus::OnHold,
            Outcome::Transfer => return self.transfer(a, ticket, agent, channel),
        };
        let acc = &self.accounts[a as usize];
        Some(Event::TicketStatus {
            account: acc.name.clone(),
            ticket: acc.tickets.get(ticket)?.id.clone(),
            status,
        })
    }

    fn transfer(&mut self, a: u32, ticket: u32, from: u32, channel: Channel) -> Option<Event> {
        let to_agent = !self.rng.chance(TRANSFER_TO_GROUP_P);
        let colleague = if to_agent { self.colleague(a, channel, Some(from), None) } else { None };
        let acc = &mut self.accounts[a as usize];
        let t = acc.tickets.get_mut(ticket)?;
        let to = match colleague {
            Some(agent) => TransferTarget::Agent(agent),
            None => {
                let mut weights = TRANSFER_GROUPS;
                if let Some(current) = t.group {
                    weights[current] = 0;
                }
                let total: u32 = weights.iter().sum();
                let mut x = self.rng.below(u64::from(total)) as u32;
                let g = weights
                    .iter()
                    .position(|&w| {
                        let here = x < w;
                        x = x.saturating_sub(w);
                        here
                    })
                    .unwrap_or(0);
                t.group = Some(g);
                TransferTarget::Group(GROUPS[g].to_owned())
            }
        };
        Some(Event::TicketTransferred { account: acc.name.clone(), ticket: t.id.clone(), to })
    }

    /// A supervisor assigns a ticket that has waited too long.
    fn sweep(&mut self, a: u32, ticket: u32, epoch: u64) -> Option<Event> {
        let t = self.accounts[a as usize].tickets.get(ticket).filter(|t| t.epoch == epoch)?;
        let (channel, group) = (t.channel, t.group);
        let Some(agent) =
            self.colleague(a, channel, None, group).or_else(|| self.colleague(a, channel, None, None))
        else {
            let after = self.rng.range(SWEEP_AFTER.0, SWEEP_AFTER.1);
            let action = Action::Sweep { ticket, epoch };
            self.agenda.plan(self.agenda.now + after, a, action);
            return None;
        };
        let acc = &self.accounts[a as usize];
        Some(Event::TicketTransferred {
            account: acc.name.clone(),
            ticket: acc.tickets.get(ticket)?.id.clone(),
            to: TransferTarget::Agent(agent),
        })
    }

    /// A random agent who would take a transfer on the channel: not `except`, and in `group` if
    /// one is given.
    fn colleague(
        &mut self,
        a: u32,
        channel: Channel,
        except: Option<u32>,
        group: Option<usize>,
    ) -> Option<String> {
        let agents = &self.accounts[a as usize].agents;
        let fits = |(i, ag): &(usize, &Agent)| {
            Some(*i as u32) != except
                && ag.takes_transfers(channel)
                && group.is_none_or(|g| ag.groups.contains(&g))
        };
        let count = agents.iter().enumerate().filter(fits).count();
        if count == 0 {
            return None;
        }
        let pick = self.rng.below(count as u64) as usize;
        let (_, ag) = agents.iter().enumerate().filter(fits).nth(pick)?;
        Some(ag.id.clone())
    }

    // ----- customers -----------------------------------------------------------------------------

    /// When the account's next customer arrives after `from`: a Poisson process thinned to the
    /// hour's share of the peak rate; `None` for a zero rate.
    fn next_arrival(&mut self, from: u64) -> Option<u64> {
        if !(self.peak_gap_ms.is_finite() && self.peak_gap_ms > 0.0) {
            return None;
        }
        let mut t = from as f64;
        // Every hour keeps at least a ninth of the candidates, so this loop ends after a handful
        // of draws; the bound only guards against a pathological curve.
        for _ in 0..10_000 {
            t += self.rng.exp(self.peak_gap_ms);
            let at = t as u64;
            if self.rng.chance(self.keep_by_hour[((at % DAY) / HOUR) as usize]) {
                return Some(at);
            }
        }
        Some(t as u64)
    }

    fn arrival(&mut self, a: u32) -> Event {
        let origin = self.rng.pick(&ORIGINS);
        let brand = self.rng.chance(BRAND_P);
        let needs = self.needs();
        let acc = &mut self.accounts[a as usize];
        acc.contacts += 1;
        let n = acc.contacts;
        let requester = format!("cust-{n}");
        if origin == Origin::Email {
            let via = self.rng.pick(&EMAIL_VIAS);
            let id = format!("{}-{n}", origin.prefix());
            let slot = acc.tickets.insert(Ticket::new(id.clone(), Channel::Email, None, needs.group));
            acc.ticket_ids.insert(id.clone(), slot);
            return Event::TicketCreated(NewTicket {
                account: acc.name.clone(),
                ticket: id,
                requester: Some(requester),
                attrs: attrs(&acc.name, Channel::Email, via, false, brand, Some(needs)),
            });
        }
        self.generations += 1;
        let conv = Conversation {
            id: format!("{}-{n}", origin.prefix()),
            generation: self.generations,
            requester,
            origin,
            brand,
            group: needs.group,
            current: None,
            planned: 0,
        };
        let event = message(&acc.name, &conv, Some(needs));
        let id = conv.id.clone();
        let c = acc.conversations.insert(conv);
        acc.conversation_ids.insert(id, c);
        event
    }

    fn customer(&mut self, a: u32, c: u32, generation: u64, action: CustomerAction) -> Option<Event> {
        // Replies and returns may find the ticket closed and start a follow-up, which takes its
        // needs from the message.
        let needs = (!matches!(action, CustomerAction::Chatter)).then(|| self.needs());
        let acc = &mut self.accounts[a as usize];
        let conv = acc.conversations.get_mut(c).filter(|conv| conv.generation == generation)?;
        conv.planned -= 1;
        let live = conv
            .current
            .and_then(|t| acc.tickets.get(t))
            .is_some_and(|t| matches!(t.status, TicketStatus::New | TicketStatus::Open));
        if matches!(action, CustomerAction::Chatter) && !live {
            if conv.current.is_none() && conv.planned == 0 {
                acc.forget_conversation(c);
            }
            return None;
        }
        if let Some(needs) = &needs {
            // Only read by the engine if the message creates a follow-up.
            conv.group = needs.group;
        }
        Some(message(&acc.name, conv, needs))
    }

    /// A new ticket's priority, group and skills.
    fn needs(&mut self) -> Needs {
        let group = self.rng.pick(&TICKET_GROUP);
        let mut priority = self.rng.pick(&PRIORITIES);
        if group == Some(3) {
            priority = priority.max(Priority::High);
        }
        let mut skills = Vec::new();
        let mut optional_skills = Vec::new();
        if let Some(&total) = self.skill_cumulative.last() {
            let draw = |rng: &mut Rng| {
                let x = rng.unit() * total;
                let i = self.skill_cumulative.partition_point(|&c| c < x);
                self.skills[i.min(self.skills.len() - 1)].clone()
            };
            if self.rng.chance(REQUIRED_SKILL_P) {
                skills.push(draw(&mut self.rng));
            }
            if self.rng.chance(OPTIONAL_SKILLS_P) {
                for _ in 0..self.rng.range(1, 2) {
                    let s = draw(&mut self.rng);
                    if !skills.contains(&s) && !optional_skills.contains(&s) {
                        optional_skills.push(s);
                    }
                }
            }
        }
        Needs { priority, group, skills, optional_skills }
    }
}

/// The events, each whenever it is due; `None` when nothing is planned. Use it only when every
/// effect up to that time has been observed; otherwise [`Simulator::next_due`].
impl Iterator for Simulator {
    type Item = crate::SimEvent;

    fn next(&mut self) -> Option<crate::SimEvent> {
        self.next_due(u64::MAX)
    }
}

impl Account {
    fn forget_conversation(&mut self, c: u32) {
        if let Some(conv) = self.conversations.remove(c) {
            self.conversation_ids.remove(&conv.id);
        }
    }
}

impl Ticket {
    fn new(id: String, channel: Channel, conv: Option<u32>, group: Option<usize>) -> Self {
        Ticket {
            id,
            channel,
            conv,
            group,
            status: TicketStatus::New,
            assignee: None,
            offered: None,
            // Matches no live ticket's state, so the first effects always get a plan (a ticket
            // that waits from the start needs a supervisor's eye too).
            planned: (None, None, TicketStatus::Closed),
            epoch: 0,
            seen_at: 0,
            dirty: false,
            rounds: 0,
        }
    }
}

impl Origin {
    fn channel(self) -> Channel {
        match self {
            Origin::Email => Channel::Email,
            Origin::Talk => Channel::Talk,
            _ => Channel::Messaging,
        }
    }

    /// `via` and `authenticated` of its messages.
    fn via(self) -> (&'static str, bool) {
        match self {
            Origin::WebWidget { authenticated } => ("web_widget", authenticated),
            Origin::MobileSdk { authenticated } => ("mobile_sdk", authenticated),
            Origin::WhatsApp => ("whatsapp", false),
            Origin::Messenger => ("facebook_messenger", false),
            // Email tickets come as `ticket_created`, with a `via` of their own.
            Origin::Email => ("email", false),
            Origin::Talk => ("voice", false),
        }
    }

    /// Conversation and helpdesk ticket ids start with this, so a reader can tell where a ticket
    /// came from.
    fn prefix(self) -> &'static str {
        match self {
            Origin::WebWidget { .. } => "web",
            Origin::MobileSdk { .. } => "sdk",
            Origin::WhatsApp => "wa",
            Origin::Messenger => "fb",
            Origin::Email => "em",
            Origin::Talk => "tel",
        }
    }
}

/// A customer message on the conversation; `needs` only when it may create a ticket.
fn message(account: &str, conv: &Conversation, needs: Option<Needs>) -> Event {
    let (via, authenticated) = conv.origin.via();
    Event::Message(CustomerMessage {
        account: account.to_owned(),
        conversation: conv.id.clone(),
        requester: conv.requester.clone(),
        attrs: attrs(account, conv.origin.channel(), via, authenticated, conv.brand, needs),
    })
}

fn attrs(
    account: &str,
    channel: Channel,
    via: &str,
    authenticated: bool,
    brand: bool,
    needs: Option<Needs>,
) -> TicketAttrs {
    let needs = needs.unwrap_or(Needs {
        priority: Priority::Normal,
        group: None,
        skills: Vec::new(),
        optional_skills: Vec::new(),
    });
    TicketAttrs {
        channel: channel.name().to_owned(),
        via: via.to_owned(),
        authenticated,
        brand: brand.then(|| format!("{account}-outlet")),
        priority: needs.priority,
        group: needs.group.map(|g| GROUPS[g].to_owned()),
        skills: needs.skills,
        optional_skills: needs.optional_skills,
        style: None,
    }
}
