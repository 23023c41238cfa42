//! One tenant: its agents, tickets, conversations and queue, and what events and timers do to them.

use crate::Step;
use crate::timers::{Timer, TimerKind};
use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use switchboard_core::{
    AgentStatus, AssignmentMethod, AssignmentMode, CustomerMessage, EffectKind, EngineError, Event, Millis,
    NewTicket, Priority, StatusReason, TicketAttrs, TicketStatus, TransferTarget, UnassignReason,
    WithdrawReason,
};

#[derive(Debug, Default)]
pub(crate) struct Account {
    /// Live agents by id.
    pub(crate) agents: BTreeMap<String, Agent>,
    /// Tickets that are not closed.
    tickets: BTreeMap<String, Ticket>,
    /// Closed tickets. Closed is final, so all that matters of them is that they exist; keeping them
    /// apart keeps every scan of `tickets` to the ones still alive, however long the history.
    closed: BTreeSet<String>,
    /// Each conversation's tickets, oldest first; the last is the current one.
    conversations: BTreeMap<String, Vec<String>>,
    /// Waiting tickets, kept sorted by [`Waiting::key`].
    queue: Vec<Waiting>,
    /// Agents created so far; numbers each agent's life (see [`AgentRef`]).
    lives: u64,
    /// Real assignments so far; orders them even within one millisecond (routing.md 12).
    assignments: u64,
}

/// One life of an agent, from the upsert that creates it to its removal. An id removed and
/// upserted again is a new agent (routing.md 4: "a new agent starts offline"): it inherits neither
/// the old one's exclusions and assignment history nor the tickets the old one still holds, which a
/// customer reply always reroutes (routing.md 16).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct AgentRef {
    id: String,
    life: u64,
}

#[derive(Debug)]
pub(crate) struct Agent {
    life: u64,
    groups: BTreeSet<String>,
    skills: BTreeSet<String>,
    /// Per configured channel, like the two vectors below.
    capacity: Vec<u32>,
    pub(crate) status: Vec<AgentStatus>,
    /// The [`Account::assignments`] count at the agent's last real assignment on the channel.
    last_assignment: Vec<Option<u64>>,
}

#[derive(Debug)]
pub(crate) struct Ticket {
    pub(crate) channel: usize,
    priority: Priority,
    group: Option<String>,
    skills: Vec<String>,
    optional_skills: Vec<String>,
    style: usize,
    /// Never `closed`: a closed ticket leaves [`Account::tickets`].
    status: TicketStatus,
    /// Possibly an agent removed since (routing.md 16).
    pub(crate) assignee: Option<AgentRef>,
    pub(crate) offered_to: Option<AgentRef>,
    queue_time: Millis,
    skills_relaxed: bool,
    /// The lives of the agents who declined it or let an offer of it time out.
    excluded: BTreeSet<u64>,
}

#[derive(Debug)]
struct Waiting {
    priority: Priority,
    queue_time: Millis,
    ticket: String,
}

impl Waiting {
    /// Queue order: urgent first, then the earliest queue time, then the smallest ticket id.
    fn key(&self) -> (Reverse<Priority>, Millis, &str) {
        (Reverse(self.priority), self.queue_time, &self.ticket)
    }
}

impl Account {
    pub(crate) fn agent(&self, agent: &str) -> Result<&Agent, EngineError> {
        self.agents
            .get(agent)
            .ok_or_else(|| EngineError::UnknownAgent { field: "agent", agent: agent.to_owned() })
    }

    /// The live agent of that id (which the caller has checked exists).
    pub(crate) fn agent_ref(&self, agent: &str) -> AgentRef {
        AgentRef { id: agent.to_owned(), life: self.agents[agent].life }
    }

    /// The live agent that `r` refers to, unless it has been removed.
    fn live(&self, r: &AgentRef) -> Option<&Agent> {
        self.agents.get(&r.id).filter(|a| a.life == r.life)
    }

    pub(crate) fn has_ticket(&self, ticket: &str) -> bool {
        self.tickets.contains_key(ticket) || self.closed.contains(ticket)
    }

    /// The ticket, `None` when it is closed.
    pub(crate) fn ticket(&self, ticket: &str) -> Result<Option<&Ticket>, EngineError> {
        match self.tickets.get(ticket) {
            Some(t) => Ok(Some(t)),
            None if self.closed.contains(ticket) => Ok(None),
            None => Err(EngineError::UnknownTicket(ticket.to_owned())),
        }
    }

    fn ticket_mut(&mut self, ticket: &str) -> &mut Ticket {
        self.tickets.get_mut(ticket).expect("the ticket was checked or found in the account")
    }

    /// The conversation's current ticket, if it has one.
    fn current_ticket(&self, conversation: &str) -> Option<&str> {
        self.conversations.get(conversation).and_then(|tickets| tickets.last()).map(String::as_str)
    }

    /// The id a message on the conversation would create a ticket with, or `None` when it goes to
    /// the conversation's current ticket instead.
    pub(crate) fn ticket_to_create(&self, conversation: &str) -> Option<String> {
        match self.current_ticket(conversation) {
            Some(current) if !self.closed.contains(current) => None,
            _ => {
                let n = self.conversations.get(conversation).map_or(0, Vec::len) + 1;
                Some(format!("{conversation}#{n}"))
            }
        }
    }

    /// The changes an accepted event makes, routing aside.
    pub(crate) fn act(&mut self, event: &Event, step: &mut Step) {
        match event {
            Event::AgentUpserted { agent, groups, skills, capacity, .. } => {
                let channels = step.channels.len();
                let a = self.agents.entry(agent.clone()).or_insert_with(|| {
                    self.lives += 1;
                    Agent {
                        life: self.lives,
                        groups: BTreeSet::new(),
                        skills: BTreeSet::new(),
                        capacity: vec![0; channels],
                        status: vec![AgentStatus::Offline; channels],
                        last_assignment: vec![None; channels],
                    }
                });
                a.groups = groups.iter().cloned().collect();
                a.skills = skills.iter().cloned().collect();
                a.capacity = vec![0; channels];
                for (channel, n) in capacity {
                    a.capacity[step.channel(channel)] = *n;
                }
            }
            Event::AgentStatus { agent, status, channel, .. } => {
                let a = self.agents.get_mut(agent).expect("checked");
                let before = a.status.clone();
                match channel {
                    Some(channel) => {
                        a.status[step.channel(channel)] = AgentStatus::parse(status).expect("checked");
                    }
                    None => a.status.clone_from(&step.policy.unified(status).expect("checked").per_channel),
                }
                let after = a.status.clone();
                let agent = self.agent_ref(agent);
                for channel in 0..step.channels.len() {
                    if before[channel] == AgentStatus::Online && after[channel] != AgentStatus::Online {
                        let reassign = step.policy.channels[channel].reassign_on_unavailable;
                        self.agent_unavailable(&agent, channel, reassign, step);
                    }
                }
            }
            Event::AgentRemoved { agent, .. } => {
                let agent = self.agent_ref(agent);
                for channel in 0..step.channels.len() {
                    self.agent_unavailable(&agent, channel, true, step);
                }
                self.agents.remove(&agent.id);
            }
            Event::Message(message) => self.message(message, step),
            Event::TicketCreated(NewTicket { ticket, attrs, .. }) => {
                self.create_ticket(ticket, attrs, None, None, step);
            }
            Event::OfferAccepted { ticket, .. } => {
                let agent = self.take_offer(ticket, step).expect("checked");
                self.assign(ticket, agent, step);
                let t = self.ticket_mut(ticket);
                if t.status == TicketStatus::New {
                    t.status = TicketStatus::Open;
                    let opened =
                        status_changed(TicketStatus::New, TicketStatus::Open, StatusReason::Accepted);
                    step.emit(ticket, opened);
                }
            }
            Event::OfferDeclined { ticket, .. } => {
                self.withdraw_offer(ticket, WithdrawReason::Declined, step);
            }
            Event::TicketStatus { ticket, status, .. } => self.set_status(ticket, *status, step),
            Event::TicketTransferred { ticket, to, .. } => self.transfer(ticket, to, step),
            Event::Tick => {}
        }
    }

    fn message(&mut self, message: &CustomerMessage, step: &mut Step) {
        let conversation = &message.conversation;
        let current = self.current_ticket(conversation).map(str::to_owned);
        let Some(id) = self.ticket_to_create(conversation) else {
            let current = current.expect("a message creates a ticket unless one is not closed");
            // new or open: a reply changes nothing for routing
            if !self.tickets[&current].status.counts() {
                self.customer_reply(&current, step);
            }
            return;
        };
        self.conversations.entry(conversation.clone()).or_default().push(id.clone());
        // A previous (closed) ticket makes this one its follow-up.
        self.create_ticket(&id, &message.attrs, Some(conversation), current.as_deref(), step);
    }

    fn create_ticket(
        &mut self,
        id: &str,
        attrs: &TicketAttrs,
        conversation: Option<&str>,
        follow_up_of: Option<&str>,
        step: &mut Step,
    ) {
        let policy = step.policy;
        let style = match &attrs.style {
            Some(style) => policy.style_index(style).expect("checked"),
            None => policy.style_for(
                step.account,
                &attrs.channel,
                &attrs.via,
                attrs.authenticated,
                attrs.brand.as_deref(),
            ),
        };
        let ticket = Ticket {
            channel: step.channel(&attrs.channel),
            priority: attrs.priority,
            group: attrs.group.clone(),
            skills: attrs.skills.clone(),
            optional_skills: attrs.optional_skills.clone(),
            style,
            status: TicketStatus::New,
            assignee: None,
            offered_to: None,
            queue_time: step.now,
            skills_relaxed: false,
            excluded: BTreeSet::new(),
        };
        self.tickets.insert(id.to_owned(), ticket);
        let created = EffectKind::TicketCreated {
            conversation: conversation.map(Arc::from),
            style: Arc::clone(&policy.styles[style].name),
            follow_up_of: follow_up_of.map(Arc::from),
        };
        step.emit(id, created);
        self.start_queue_time(id, step);
    }

    /// Gives the ticket a new queue time (now), which restarts its skills timeout, and queues it.
    fn start_queue_time(&mut self, id: &str, step: &mut Step) {
        let t = self.ticket_mut(id);
        t.queue_time = step.now;
        t.skills_relaxed = false;
        step.cancel(id, TimerKind::SkillsTimeout);
        self.enqueue(id, step);
    }

    /// A customer reply to a pending, on-hold or solved ticket (routing.md, reading 7).
    fn customer_reply(&mut self, id: &str, step: &mut Step) {
        let t = self.ticket_mut(id);
        let from = t.status;
        t.status = TicketStatus::Open;
        let channel = t.channel;
        let assignee = t.assignee.clone();
        step.emit(id, status_changed(from, TicketStatus::Open, StatusReason::CustomerReply));
        if from == TicketStatus::Solved {
            step.cancel(id, TimerKind::Close);
        }
        let kept =
            assignee.filter(|r| self.live(r).is_some_and(|a| a.status[channel] == AgentStatus::Online));
        if let Some(agent) = kept {
            let agent = Some(Arc::from(agent.id.as_str()));
            step.emit(id, EffectKind::Reopened { agent });
            return;
        }
        if let Some(agent) = self.ticket_mut(id).assignee.take() {
            step.emit(id, unassigned(&agent, UnassignReason::AgentUnavailable));
        }
        step.emit(id, EffectKind::Reopened { agent: None });
        self.start_queue_time(id, step);
    }

    fn set_status(&mut self, id: &str, to: TicketStatus, step: &mut Step) {
        let t = self.ticket_mut(id);
        let from = t.status;
        if from == to {
            return;
        }
        t.status = to;
        let style = t.style;
        step.emit(id, status_changed(from, to, StatusReason::Agent));
        if from == TicketStatus::Solved {
            step.cancel(id, TimerKind::Close);
        }
        match to {
            TicketStatus::Solved => match step.policy.styles[style].close_after_solved_ms {
                0 => self.close(id, step),
                window => step.schedule(step.now + window, id, TimerKind::Close),
            },
            // Opened by an agent while held by a removed one: nobody can work it where it is. The
            // spec says only what a customer reply does then (reading 16); this does the same:
            // unassign it and route it afresh, with a new queue time (reading 7).
            TicketStatus::Open => {
                if let Some(holder) = self.tickets[id].assignee.clone()
                    && self.live(&holder).is_none()
                {
                    self.ticket_mut(id).assignee = None;
                    step.emit(id, unassigned(&holder, UnassignReason::AgentUnavailable));
                    self.start_queue_time(id, step);
                }
            }
            _ => {}
        }
    }

    fn close(&mut self, id: &str, step: &mut Step) {
        self.tickets.remove(id);
        self.closed.insert(id.to_owned());
        let closed = status_changed(TicketStatus::Solved, TicketStatus::Closed, StatusReason::StyleClose);
        step.emit(id, closed);
    }

    fn transfer(&mut self, id: &str, to: &TransferTarget, step: &mut Step) {
        match to {
            TransferTarget::Agent(agent) => {
                let agent = self.agent_ref(agent);
                if self.tickets[id].assignee.as_ref() == Some(&agent) {
                    return;
                }
                self.detach(id, step);
                self.assign(id, agent, step);
            }
            TransferTarget::Group(group) => {
                self.detach(id, step);
                let t = self.ticket_mut(id);
                t.group = Some(group.clone());
                if t.status.counts() {
                    self.enqueue(id, step);
                }
            }
        }
    }

    /// Takes a ticket out of the queue, off its offer or away from its assignee, for a transfer.
    fn detach(&mut self, id: &str, step: &mut Step) {
        self.dequeue(id);
        if let Some(agent) = self.take_offer(id, step) {
            step.emit(id, withdrawn(&agent, WithdrawReason::Transferred));
        }
        if let Some(agent) = self.ticket_mut(id).assignee.take() {
            step.emit(id, unassigned(&agent, UnassignReason::Transferred));
        }
    }

    /// Ends the ticket's offer, if any, and returns who had it.
    fn take_offer(&mut self, id: &str, step: &mut Step) -> Option<AgentRef> {
        step.cancel(id, TimerKind::OfferTimeout);
        self.ticket_mut(id).offered_to.take()
    }

    /// Withdraws the ticket's offer and queues the ticket again; a decline or a timeout also keeps
    /// that agent from being routed this ticket again (routing.md 14).
    fn withdraw_offer(&mut self, id: &str, reason: WithdrawReason, step: &mut Step) {
        let agent = self.take_offer(id, step).expect("only tickets on offer have their offer withdrawn");
        step.emit(id, withdrawn(&agent, reason));
        if matches!(reason, WithdrawReason::Declined | WithdrawReason::Timeout) {
            self.ticket_mut(id).excluded.insert(agent.life);
        }
        self.enqueue(id, step);
    }

    /// A real assignment (accept, auto assignment, transfer), which the tie-breaks remember. The
    /// ticket no longer waits, so its skills timeout stops (see [`Account::enqueue`]).
    fn assign(&mut self, id: &str, agent: AgentRef, step: &mut Step) {
        step.cancel(id, TimerKind::SkillsTimeout);
        self.assignments += 1;
        let order = self.assignments;
        let channel = self.tickets[id].channel;
        let a = self.agents.get_mut(&agent.id).expect("assignees are live");
        a.last_assignment[channel] = Some(order);
        let assigned = EffectKind::Assigned { agent: Arc::from(agent.id.as_str()) };
        self.ticket_mut(id).assignee = Some(agent);
        step.emit(id, assigned);
    }

    /// The agent stopped being online on `channel` (or was removed): their offers there are
    /// withdrawn, then, when `reassign`, their new and open tickets there unassigned; each group in
    /// ticket-id order, each ticket queued again as it goes (routing.md 17).
    fn agent_unavailable(&mut self, agent: &AgentRef, channel: usize, reassign: bool, step: &mut Step) {
        let offered: Vec<String> = self
            .tickets
            .iter()
            .filter(|(_, t)| t.channel == channel && t.offered_to.as_ref() == Some(agent))
            .map(|(id, _)| id.clone())
            .collect();
        for id in offered {
            self.withdraw_offer(&id, WithdrawReason::AgentUnavailable, step);
        }
        if !reassign {
            return;
        }
        let held: Vec<String> = self
            .tickets
            .iter()
            .filter(|(_, t)| t.channel == channel && t.assignee.as_ref() == Some(agent) && t.status.counts())
            .map(|(id, _)| id.clone())
            .collect();
        for id in held {
            self.ticket_mut(&id).assignee = None;
            step.emit(&id, unassigned(agent, UnassignReason::AgentUnavailable));
            self.enqueue(&id, step);
        }
    }

    /// Puts the ticket in the queue, keeping its queue time.
    ///
    /// The skills timeout runs only while a ticket waits without an assignee (routing.md 13): an
    /// assignment cancels its timer, and a ticket that waits again gets it back here, due at its
    /// queue time + the timeout, or relaxes now, before routing, if that has passed. A timer
    /// re-scheduled this way fires after those of its due time scheduled before it.
    fn enqueue(&mut self, id: &str, step: &mut Step) {
        let t = &self.tickets[id];
        let waiting = Waiting { priority: t.priority, queue_time: t.queue_time, ticket: id.to_owned() };
        let at = self.queue.partition_point(|w| w.key() < waiting.key());
        self.queue.insert(at, waiting);
        let due = t.queue_time + step.policy.channels[t.channel].skills_timeout_ms;
        if !t.optional_skills.is_empty() && !t.skills_relaxed && !step.pending(id, TimerKind::SkillsTimeout) {
            if step.now >= due {
                self.relax(id, step);
            } else {
                step.schedule(due, id, TimerKind::SkillsTimeout);
            }
        }
    }

    fn dequeue(&mut self, id: &str) {
        self.queue.retain(|w| w.ticket != id);
    }

    /// The ticket's optional skills stop being required.
    fn relax(&mut self, id: &str, step: &mut Step) {
        self.ticket_mut(id).skills_relaxed = true;
        step.emit(id, EffectKind::SkillsRelaxed);
    }

    pub(crate) fn fire(&mut self, timer: &Timer, step: &mut Step) {
        let id = &timer.ticket;
        match timer.kind {
            TimerKind::OfferTimeout => self.withdraw_offer(id, WithdrawReason::Timeout, step),
            TimerKind::SkillsTimeout => self.relax(id, step),
            TimerKind::Close => self.close(id, step),
        }
    }

    /// One pass over the queue in order: each ticket some agent can take goes to the best of them
    /// (offered or assigned, as the channel says). Taking a ticket only lowers spare capacity, so
    /// after one pass no waiting ticket can be taken by anyone.
    pub(crate) fn route(&mut self, step: &mut Step) {
        let waiting: Vec<String> = self.queue.iter().map(|w| w.ticket.clone()).collect();
        if waiting.is_empty() {
            return;
        }
        let mut load = self.loads();
        for id in waiting {
            let Some(agent) = self.best_agent(&id, &load, step.policy.assignment_method) else {
                continue;
            };
            self.dequeue(&id);
            let channel = self.tickets[&id].channel;
            *load.entry((agent.life, channel)).or_default() += 1;
            let policy = &step.policy.channels[channel];
            match policy.mode {
                AssignmentMode::Offer => {
                    let offered = EffectKind::Offered { agent: Arc::from(agent.id.as_str()) };
                    self.ticket_mut(&id).offered_to = Some(agent);
                    step.emit(&id, offered);
                    let due = step.now + policy.offer_timeout_ms;
                    step.schedule(due, &id, TimerKind::OfferTimeout);
                }
                AssignmentMode::Auto => {
                    self.assign(&id, agent, step);
                    let t = self.ticket_mut(&id);
                    if t.status == TicketStatus::New {
                        t.status = TicketStatus::Open;
                        let opened =
                            status_changed(TicketStatus::New, TicketStatus::Open, StatusReason::Assigned);
                        step.emit(&id, opened);
                    }
                }
            }
        }
    }

    /// Tickets counting against each (agent life, channel): on offer to the agent, or assigned to
    /// them and `new` or `open`. Counted afresh for every routing pass.
    fn loads(&self) -> BTreeMap<(u64, usize), i64> {
        let mut load = BTreeMap::new();
        for t in self.tickets.values() {
            let holder = match (&t.offered_to, &t.assignee) {
                (Some(agent), _) => Some(agent),
                (None, Some(agent)) if t.status.counts() => Some(agent),
                _ => None,
            };
            if let Some(agent) = holder {
                *load.entry((agent.life, t.channel)).or_default() += 1;
            }
        }
        load
    }

    /// The best eligible agent for the ticket, looking at every agent.
    fn best_agent(
        &self,
        id: &str,
        load: &BTreeMap<(u64, usize), i64>,
        method: AssignmentMethod,
    ) -> Option<AgentRef> {
        let t = &self.tickets[id];
        let mut best: Option<Candidate> = None;
        for (agent_id, agent) in &self.agents {
            let capacity = i64::from(agent.capacity[t.channel]);
            let used = load.get(&(agent.life, t.channel)).copied().unwrap_or(0);
            let spare = capacity - used;
            if !eligible(t, agent, spare) {
                continue;
            }
            let candidate = Candidate {
                id: agent_id,
                capacity,
                spare,
                last_assignment: agent.last_assignment[t.channel],
            };
            if best.as_ref().is_none_or(|b| candidate.rank(b, method) == Ordering::Less) {
                best = Some(candidate);
            }
        }
        best.map(|b| self.agent_ref(b.id))
    }
}

/// routing.md's eligibility, one condition a line.
fn eligible(t: &Ticket, agent: &Agent, spare: i64) -> bool {
    agent.status[t.channel] == AgentStatus::Online
        && t.group.as_ref().is_none_or(|g| agent.groups.contains(g))
        && t.skills.iter().all(|s| agent.skills.contains(s))
        && (t.skills_relaxed || t.optional_skills.iter().all(|s| agent.skills.contains(s)))
        && spare >= 1
        && !t.excluded.contains(&agent.life)
}

/// An eligible agent, as the assignment methods compare them.
struct Candidate<'a> {
    id: &'a str,
    capacity: i64,
    spare: i64,
    last_assignment: Option<u64>,
}

impl Candidate<'_> {
    /// `Less` when `self` is the better choice: the method's measure first, then the earliest last
    /// assignment (never assigned is earliest: `None < Some`), then the smallest id.
    fn rank(&self, other: &Candidate, method: AssignmentMethod) -> Ordering {
        let by_method = match method {
            AssignmentMethod::SpareCapacity => other.spare.cmp(&self.spare),
            // spare/capacity compared without division; eligible agents have capacity ≥ 1.
            AssignmentMethod::SparePercentage => {
                (other.spare * self.capacity).cmp(&(self.spare * other.capacity))
            }
            AssignmentMethod::RoundRobin => Ordering::Equal,
        };
        by_method.then(self.last_assignment.cmp(&other.last_assignment)).then(self.id.cmp(other.id))
    }
}

fn status_changed(from: TicketStatus, to: TicketStatus, reason: StatusReason) -> EffectKind {
    EffectKind::StatusChanged { from, to, reason }
}

fn withdrawn(agent: &AgentRef, reason: WithdrawReason) -> EffectKind {
    EffectKind::OfferWithdrawn { agent: Arc::from(agent.id.as_str()), reason }
}

fn unassigned(agent: &AgentRef, reason: UnassignReason) -> EffectKind {
    EffectKind::Unassigned { agent: Arc::from(agent.id.as_str()), reason }
}
