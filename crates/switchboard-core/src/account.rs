//! One account's routing state and the rules of `routing.md` applied to it.
//!
//! Every handler validates first and mutates after, so a refused event changes nothing. Handlers
//! record what could make a waiting ticket routable (a ticket entering the queue, an agent gaining
//! availability) and end with [`Account::settle`], which routes exactly the tickets that could have
//! become routable, in queue order.

use crate::bitset::BitSet;
use crate::chunked::Chunked;
use crate::config::{AssignmentMode, Policy};
use crate::effect::{Effect, EffectKind};
use crate::error::EngineError;
use crate::event::{CustomerMessage, NewTicket, TicketAttrs, TransferTarget};
use crate::idmap::IdMap;
use crate::index::{ChannelIndex, RankKey};
use crate::intern::Interner;
use crate::queue::{Needs, Queue, QueueKey};
use crate::state::{Agent, AgentChannel, AgentIdx, Conversation, Ticket, TicketIdx, TicketList};
use crate::timers::{Timer, TimerKind, Timers};
use crate::types::{
    AgentStatus, Millis, StatusReason, TicketStatus, UnassignReason, WithdrawReason, join_names,
};
use smallvec::SmallVec;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::Arc;

/// What a handler needs from the engine: the time, the effect sink and the timers.
pub(crate) struct Cx<'a> {
    pub now: Millis,
    pub out: &'a mut Vec<Effect>,
    pub timers: &'a mut Timers,
}

/// One tenant's agents, tickets, queue and indexes.
#[derive(Debug)]
pub(crate) struct Account {
    pub idx: u32,
    pub name: Arc<str>,
    pub policy: Arc<Policy>,
    pub channels: Arc<[Arc<str>]>,
    pub agents: Vec<Agent>,
    pub agent_ids: IdMap<AgentIdx>,
    pub tickets: Chunked<Ticket>,
    pub ticket_ids: IdMap<TicketIdx>,
    pub conversations: IdMap<Conversation>,
    pub skills: Interner,
    pub groups: Interner,
    pub queue: Queue,
    pub index: Vec<ChannelIndex>,
    /// Tickets per status, indexed by `TicketStatus as usize`, kept as statuses change.
    pub status_counts: [u32; 6],
    /// Counts real assignments; an agent's `last_assigned` is a value of it.
    pub assign_seq: u64,
    /// Effects emitted so far: the next effect's sequence number within the account, which gives
    /// every effect a stable id across restarts (a `Cell` because effects are emitted from `&self`).
    pub effects_emitted: Cell<u64>,
    /// Tickets that entered the queue or needed less since the last settle.
    dirty_tickets: Vec<TicketIdx>,
    /// Agents who became available or more available on a channel since the last settle.
    dirty_agents: Vec<(AgentIdx, u8)>,
}

const CHANNEL_STATUS_NAMES: &str = "online, away, transfers_only, offline";

impl Account {
    pub fn new(idx: u32, name: Arc<str>, policy: Arc<Policy>, channels: Arc<[Arc<str>]>) -> Self {
        let index = channels.iter().map(|_| ChannelIndex::default()).collect();
        Account {
            idx,
            name,
            policy,
            channels,
            agents: Vec::new(),
            agent_ids: IdMap::default(),
            tickets: Chunked::default(),
            ticket_ids: IdMap::default(),
            conversations: IdMap::default(),
            skills: Interner::default(),
            groups: Interner::default(),
            queue: Queue::default(),
            index,
            status_counts: [0; 6],
            assign_seq: 0,
            effects_emitted: Cell::new(0),
            dirty_tickets: Vec::new(),
            dirty_agents: Vec::new(),
        }
    }

    /// Whether the account holds nothing (so a refused first event can drop it again).
    pub fn is_empty(&self) -> bool {
        self.agents.is_empty() && self.tickets.is_empty()
    }

    // ----- lookups -------------------------------------------------------------------------------

    fn channel(&self, name: &str, field: &'static str) -> Result<usize, EngineError> {
        self.channels
            .iter()
            .position(|c| &**c == name)
            .ok_or_else(|| EngineError::UnknownChannel { field, channel: name.to_owned() })
    }

    fn agent(&self, id: &str, field: &'static str) -> Result<AgentIdx, EngineError> {
        self.agent_ids
            .get(id)
            .copied()
            .ok_or_else(|| EngineError::UnknownAgent { field, agent: id.to_owned() })
    }

    fn ticket(&self, id: &str) -> Result<TicketIdx, EngineError> {
        self.ticket_ids.get(id).copied().ok_or_else(|| EngineError::UnknownTicket(id.to_owned()))
    }

    fn explicit_style(&self, style: &Option<String>) -> Result<Option<usize>, EngineError> {
        match style {
            None => Ok(None),
            Some(s) => {
                self.policy.style_index(s).map(Some).ok_or_else(|| EngineError::UnknownStyle(s.clone()))
            }
        }
    }

    fn emit(&self, cx: &mut Cx, t: TicketIdx, kind: EffectKind) {
        self.effects_emitted.set(self.effects_emitted.get() + 1);
        cx.out.push(Effect {
            at: cx.now,
            account: self.name.clone(),
            ticket: self.tickets[t as usize].id.clone(),
            kind,
        });
    }

    fn agent_name(&self, a: AgentIdx) -> Arc<str> {
        self.agents[a as usize].id.clone()
    }

    fn slot(&mut self, a: AgentIdx, ch: usize) -> &mut AgentChannel {
        &mut self.agents[a as usize].channels[ch]
    }

    fn sort_by_id(&self, list: &mut TicketList) {
        list.sort_unstable_by(|&x, &y| self.tickets[x as usize].id.cmp(&self.tickets[y as usize].id));
    }

    fn queue_key(&self, t: TicketIdx) -> QueueKey {
        let tk = &self.tickets[t as usize];
        QueueKey::new(tk.priority, tk.queue_time, tk.id.clone())
    }

    /// Whether the agent could take a routed ticket on the channel now (skills aside).
    fn available(&self, a: AgentIdx, ch: usize) -> bool {
        let agent = &self.agents[a as usize];
        let c = &agent.channels[ch];
        agent.live && c.status == AgentStatus::Online && c.spare() >= 1
    }

    // ----- agents --------------------------------------------------------------------------------

    pub fn upsert_agent(
        &mut self,
        cx: &mut Cx,
        id: &str,
        groups: &[String],
        skills: &[String],
        capacity: &[(String, u32)],
    ) -> Result<(), EngineError> {
        let mut caps = vec![0u32; self.channels.len()];
        for (name, n) in capacity {
            caps[self.channel(name, "capacity")?] = *n;
        }
        let groups: BitSet = groups.iter().map(|g| self.groups.intern(g)).collect();
        let skills: BitSet = skills.iter().map(|s| self.skills.intern(s)).collect();
        let a = match self.agent_ids.get(id) {
            Some(&a) => a,
            None => {
                let a = self.agents.len() as AgentIdx;
                let id: Arc<str> = id.into();
                self.agents.push(Agent {
                    id: id.clone(),
                    live: true,
                    groups: BitSet::new(),
                    skills: BitSet::new(),
                    channels: self.channels.iter().map(|_| AgentChannel::default()).collect(),
                });
                self.agent_ids.insert(id, a);
                a
            }
        };
        // Index membership counts skills and groups, so leave the index before they change.
        for ch in 0..self.channels.len() {
            self.unindex(a, ch);
        }
        let agent = &mut self.agents[a as usize];
        agent.groups = groups;
        agent.skills = skills;
        for (c, cap) in agent.channels.iter_mut().zip(caps) {
            c.capacity = cap;
        }
        for ch in 0..self.channels.len() {
            self.reindex(a, ch);
            self.mark_agent(a, ch);
        }
        self.settle(cx);
        Ok(())
    }

    pub fn agent_status(
        &mut self,
        cx: &mut Cx,
        id: &str,
        status: &str,
        channel: Option<&str>,
    ) -> Result<(), EngineError> {
        let mut targets: SmallVec<[Option<AgentStatus>; 4]> = SmallVec::from_elem(None, self.channels.len());
        match channel {
            Some(c) => {
                let ch = self.channel(c, "channel")?;
                targets[ch] = Some(AgentStatus::parse(status).ok_or_else(|| EngineError::InvalidStatus {
                    given: status.to_owned(),
                    allowed: CHANNEL_STATUS_NAMES.to_owned(),
                })?);
            }
            None => {
                let unified = self.policy.unified(status).ok_or_else(|| EngineError::InvalidStatus {
                    given: status.to_owned(),
                    allowed: join_names(self.policy.unified_statuses.iter().map(|u| u.name.as_str())),
                })?;
                for (t, s) in targets.iter_mut().zip(&unified.per_channel) {
                    *t = Some(*s);
                }
            }
        }
        let a = self.agent(id, "agent")?;
        for (ch, target) in targets.into_iter().enumerate() {
            let Some(new) = target else { continue };
            let old = self.agents[a as usize].channels[ch].status;
            if old == new {
                continue;
            }
            self.slot(a, ch).status = new;
            if old == AgentStatus::Online {
                let reassign = self.policy.channels[ch].reassign_on_unavailable;
                self.release_agent_channel(cx, a, ch, reassign);
            }
            self.reindex(a, ch);
            self.mark_agent(a, ch);
        }
        self.settle(cx);
        Ok(())
    }

    pub fn remove_agent(&mut self, cx: &mut Cx, id: &str) -> Result<(), EngineError> {
        let a = self.agent(id, "agent")?;
        for ch in 0..self.channels.len() {
            self.slot(a, ch).status = AgentStatus::Offline;
            self.release_agent_channel(cx, a, ch, true);
            self.reindex(a, ch);
        }
        let agent = &mut self.agents[a as usize];
        agent.live = false;
        let id = agent.id.clone();
        self.agent_ids.remove(&id);
        self.settle(cx);
        Ok(())
    }

    /// The agent stopped being online on the channel: withdraw their offers, then (if asked)
    /// unassign their new/open tickets, each in ticket-id order, requeueing them all.
    fn release_agent_channel(&mut self, cx: &mut Cx, a: AgentIdx, ch: usize, unassign_active: bool) {
        let mut offers = self.agents[a as usize].channels[ch].offers.clone();
        self.sort_by_id(&mut offers);
        for t in offers {
            self.withdraw_offer(cx, t, WithdrawReason::AgentUnavailable);
            self.enqueue(cx, t);
        }
        if unassign_active {
            let mut active = self.agents[a as usize].channels[ch].active.clone();
            self.sort_by_id(&mut active);
            for t in active {
                self.unassign(cx, t, UnassignReason::AgentUnavailable);
                self.enqueue(cx, t);
            }
        }
    }

    // ----- tickets -------------------------------------------------------------------------------

    pub fn message(&mut self, cx: &mut Cx, m: &CustomerMessage) -> Result<(), EngineError> {
        let ch = self.channel(&m.attrs.channel, "channel")?;
        let style = self.explicit_style(&m.attrs.style)?;
        let (n, previous) = match self.conversations.get(m.conversation.as_str()) {
            Some(c) if self.tickets[c.current as usize].status != TicketStatus::Closed => {
                let t = c.current;
                match self.tickets[t as usize].status {
                    TicketStatus::Pending | TicketStatus::OnHold | TicketStatus::Solved => {
                        self.reopen(cx, t);
                        self.settle(cx);
                    }
                    _ => {}
                }
                return Ok(());
            }
            Some(c) => (c.count + 1, Some(c.current)),
            None => (1, None),
        };
        let id = ticket_id(&m.conversation, n);
        if self.ticket_ids.contains_key(id.as_str()) {
            return Err(EngineError::TicketExists { field: "conversation", ticket: id });
        }
        let conversation: Arc<str> = m.conversation.as_str().into();
        let follow_up_of = previous.map(|p| self.tickets[p as usize].id.clone());
        let t = self.create_ticket(
            cx,
            id.into(),
            ch,
            &m.attrs,
            style,
            Some(m.requester.as_str().into()),
            Some(conversation.clone()),
            follow_up_of,
        );
        self.conversations.insert(conversation, Conversation { count: n, current: t });
        self.settle(cx);
        Ok(())
    }

    pub fn create(&mut self, cx: &mut Cx, nt: &NewTicket) -> Result<(), EngineError> {
        let ch = self.channel(&nt.attrs.channel, "channel")?;
        let style = self.explicit_style(&nt.attrs.style)?;
        if self.ticket_ids.contains_key(nt.ticket.as_str()) {
            return Err(EngineError::TicketExists { field: "ticket", ticket: nt.ticket.clone() });
        }
        let requester = nt.requester.as_deref().map(Arc::from);
        self.create_ticket(cx, nt.ticket.as_str().into(), ch, &nt.attrs, style, requester, None, None);
        self.settle(cx);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn create_ticket(
        &mut self,
        cx: &mut Cx,
        id: Arc<str>,
        ch: usize,
        attrs: &TicketAttrs,
        style: Option<usize>,
        requester: Option<Arc<str>>,
        conversation: Option<Arc<str>>,
        follow_up_of: Option<Arc<str>>,
    ) -> TicketIdx {
        let style = style.unwrap_or_else(|| {
            self.policy.style_for(
                &self.name,
                &attrs.channel,
                &attrs.via,
                attrs.authenticated,
                attrs.brand.as_deref(),
            )
        });
        let t = self.tickets.len() as TicketIdx;
        let ticket = Ticket {
            id: id.clone(),
            channel: ch as u8,
            via: attrs.via.as_str().into(),
            requester,
            priority: attrs.priority,
            group: attrs.group.as_deref().map(|g| self.groups.intern(g)),
            skills: attrs.skills.iter().map(|s| self.skills.intern(s)).collect(),
            optional_skills: attrs.optional_skills.iter().map(|s| self.skills.intern(s)).collect(),
            style: style as u16,
            conversation: conversation.clone(),
            follow_up_of: follow_up_of.clone(),
            created_at: cx.now,
            status: TicketStatus::New,
            assignee: None,
            offer: None,
            queue_time: cx.now,
            bucket: None,
            relaxed: false,
            excluded: SmallVec::new(),
            solved_at: None,
            offer_timer: None,
            skills_timer: None,
            close_timer: None,
        };
        self.tickets.push(ticket);
        self.ticket_ids.insert(id, t);
        self.status_counts[TicketStatus::New as usize] += 1;
        let style = self.policy.styles[style].name.clone();
        self.emit(cx, t, EffectKind::TicketCreated { conversation, style, follow_up_of });
        self.enqueue_new(cx, t);
        t
    }

    /// A customer replied to a pending, on-hold or solved ticket.
    fn reopen(&mut self, cx: &mut Cx, t: TicketIdx) {
        let tk = &mut self.tickets[t as usize];
        let from = tk.status;
        tk.status = TicketStatus::Open;
        tk.solved_at = None;
        moved(&mut self.status_counts, from, TicketStatus::Open);
        let close = tk.close_timer.take();
        let ch = tk.channel as usize;
        let assignee = tk.assignee;
        if let Some(k) = close {
            cx.timers.cancel(k);
        }
        self.emit(
            cx,
            t,
            EffectKind::StatusChanged { from, to: TicketStatus::Open, reason: StatusReason::CustomerReply },
        );
        match assignee {
            Some(a)
                if self.agents[a as usize].live
                    && self.agents[a as usize].channels[ch].status == AgentStatus::Online =>
            {
                // Back to the same agent, even above their capacity.
                self.slot(a, ch).active.push(t);
                self.reindex(a, ch);
                self.emit(cx, t, EffectKind::Reopened { agent: Some(self.agent_name(a)) });
            }
            Some(a) => {
                self.tickets[t as usize].assignee = None;
                let agent = self.agent_name(a);
                self.emit(cx, t, EffectKind::Unassigned { agent, reason: UnassignReason::AgentUnavailable });
                self.emit(cx, t, EffectKind::Reopened { agent: None });
                self.requeue_fresh(cx, t);
            }
            None => {
                self.emit(cx, t, EffectKind::Reopened { agent: None });
                self.requeue_fresh(cx, t);
            }
        }
    }

    /// Queues a ticket anew: its queue time is now, so its skills timeout starts again.
    fn requeue_fresh(&mut self, cx: &mut Cx, t: TicketIdx) {
        let tk = &mut self.tickets[t as usize];
        tk.queue_time = cx.now;
        tk.relaxed = false;
        if let Some(k) = tk.skills_timer.take() {
            cx.timers.cancel(k);
        }
        self.enqueue(cx, t);
    }

    pub fn offer_answer(
        &mut self,
        cx: &mut Cx,
        ticket: &str,
        agent: &str,
        accepted: bool,
    ) -> Result<(), EngineError> {
        let t = self.ticket(ticket)?;
        let a = self.agent(agent, "agent")?;
        if self.tickets[t as usize].offer.map(|(o, _)| o) != Some(a) {
            return Err(EngineError::NotOnOffer { ticket: ticket.to_owned(), agent: agent.to_owned() });
        }
        if accepted {
            let tk = &mut self.tickets[t as usize];
            tk.offer = None;
            let ch = tk.channel as usize;
            if let Some(k) = tk.offer_timer.take() {
                cx.timers.cancel(k);
            }
            remove_from(&mut self.slot(a, ch).offers, t);
            self.assign(cx, t, a, Some(StatusReason::Accepted));
        } else {
            self.withdraw_offer(cx, t, WithdrawReason::Declined);
            self.enqueue(cx, t);
        }
        self.settle(cx);
        Ok(())
    }

    pub fn set_status(&mut self, cx: &mut Cx, ticket: &str, to: TicketStatus) -> Result<(), EngineError> {
        if !TicketStatus::AGENT_SETTABLE.contains(&to) {
            return Err(EngineError::InvalidStatus {
                given: to.as_str().to_owned(),
                allowed: join_names(TicketStatus::AGENT_SETTABLE.map(TicketStatus::as_str)),
            });
        }
        let t = self.ticket(ticket)?;
        let tk = &self.tickets[t as usize];
        if tk.status == TicketStatus::Closed {
            return Err(EngineError::TicketClosed(ticket.to_owned()));
        }
        let Some(a) = tk.assignee else {
            return Err(EngineError::NoAssignee(ticket.to_owned()));
        };
        let from = tk.status;
        if from == to {
            return Ok(());
        }
        let ch = tk.channel as usize;
        let live = self.agents[a as usize].live;
        match (from.counts(), to.counts()) {
            (true, false) => {
                remove_from(&mut self.slot(a, ch).active, t);
                self.reindex(a, ch);
                self.mark_agent(a, ch);
            }
            (false, true) if live => {
                self.slot(a, ch).active.push(t);
                self.reindex(a, ch);
            }
            _ => {}
        }
        let tk = &mut self.tickets[t as usize];
        if let Some(k) = tk.close_timer.take() {
            cx.timers.cancel(k);
        }
        tk.status = to;
        tk.solved_at = None;
        moved(&mut self.status_counts, from, to);
        self.emit(cx, t, EffectKind::StatusChanged { from, to, reason: StatusReason::Agent });
        if to == TicketStatus::Solved {
            self.tickets[t as usize].solved_at = Some(cx.now);
            let window = self.policy.styles[self.tickets[t as usize].style as usize].close_after_solved_ms;
            if window == 0 {
                self.close(cx, t);
            } else {
                let key = cx.timers.schedule(
                    cx.now.saturating_add(window),
                    Timer { account: self.idx, ticket: t, kind: TimerKind::Close },
                );
                self.tickets[t as usize].close_timer = Some(key);
            }
        } else if to.counts() && !live {
            // Nobody can work an open ticket held by a removed agent: route it like a reply would.
            self.tickets[t as usize].assignee = None;
            let agent = self.agent_name(a);
            self.emit(cx, t, EffectKind::Unassigned { agent, reason: UnassignReason::AgentUnavailable });
            self.requeue_fresh(cx, t);
        }
        self.settle(cx);
        Ok(())
    }

    pub fn transfer(&mut self, cx: &mut Cx, ticket: &str, to: &TransferTarget) -> Result<(), EngineError> {
        let t = self.ticket(ticket)?;
        if self.tickets[t as usize].status == TicketStatus::Closed {
            return Err(EngineError::TicketClosed(ticket.to_owned()));
        }
        let ch = self.tickets[t as usize].channel as usize;
        match to {
            TransferTarget::Agent(agent) => {
                let a = self.agent(agent, "agent")?;
                let status = self.agents[a as usize].channels[ch].status;
                if !status.accepts_transfers() {
                    return Err(EngineError::AgentNotAcceptingTransfers {
                        agent: agent.clone(),
                        status: status.as_str(),
                        channel: self.channels[ch].to_string(),
                    });
                }
                if self.tickets[t as usize].assignee == Some(a) {
                    return Ok(());
                }
                self.detach(cx, t);
                self.assign(cx, t, a, None);
            }
            TransferTarget::Group(group) => {
                self.detach(cx, t);
                let g = self.groups.intern(group);
                let tk = &mut self.tickets[t as usize];
                tk.group = Some(g);
                if tk.status.counts() {
                    self.enqueue(cx, t);
                }
            }
        }
        self.settle(cx);
        Ok(())
    }

    /// Takes a ticket out of the queue, off its offer and away from its assignee, for a transfer.
    fn detach(&mut self, cx: &mut Cx, t: TicketIdx) {
        if self.tickets[t as usize].offer.is_some() {
            self.withdraw_offer(cx, t, WithdrawReason::Transferred);
        }
        self.dequeue(t);
        if self.tickets[t as usize].assignee.is_some() {
            self.unassign(cx, t, UnassignReason::Transferred);
        }
    }

    // ----- timers --------------------------------------------------------------------------------

    pub fn fire(&mut self, cx: &mut Cx, t: TicketIdx, kind: TimerKind) {
        let tk = &mut self.tickets[t as usize];
        match kind {
            TimerKind::OfferTimeout => {
                tk.offer_timer = None;
                self.withdraw_offer(cx, t, WithdrawReason::Timeout);
                self.enqueue(cx, t);
            }
            TimerKind::SkillsTimeout => {
                tk.skills_timer = None;
                let waiting = tk.bucket.is_some() || tk.offer.is_some();
                if tk.assignee.is_none() && waiting && !tk.relaxed {
                    tk.relaxed = true;
                    let queued = tk.bucket.is_some();
                    self.emit(cx, t, EffectKind::SkillsRelaxed);
                    if queued {
                        self.dequeue(t);
                        self.enqueue(cx, t);
                    }
                }
            }
            TimerKind::Close => {
                tk.close_timer = None;
                self.close(cx, t);
            }
        }
        self.settle(cx);
    }

    fn close(&mut self, cx: &mut Cx, t: TicketIdx) {
        let tk = &mut self.tickets[t as usize];
        debug_assert_eq!(tk.status, TicketStatus::Solved);
        tk.status = TicketStatus::Closed;
        moved(&mut self.status_counts, TicketStatus::Solved, TicketStatus::Closed);
        self.emit(
            cx,
            t,
            EffectKind::StatusChanged {
                from: TicketStatus::Solved,
                to: TicketStatus::Closed,
                reason: StatusReason::StyleClose,
            },
        );
    }

    // ----- routing primitives --------------------------------------------------------------------

    /// Puts an unassigned new/open ticket in the queue, relaxing its optional skills first if their
    /// timeout has already passed.
    fn enqueue(&mut self, cx: &mut Cx, t: TicketIdx) {
        self.start_waiting(cx, t);
        self.insert_queued(t);
        self.dirty_tickets.push(t);
    }

    /// A new ticket. When nothing else awaits routing, the queue is settled and this ticket is the
    /// only candidate, so it goes straight to its best agent, or into the queue if there is none,
    /// without the round trip through `settle`: the common case, made cheap.
    fn enqueue_new(&mut self, cx: &mut Cx, t: TicketIdx) {
        if !(self.dirty_tickets.is_empty() && self.dirty_agents.is_empty()) {
            return self.enqueue(cx, t);
        }
        self.start_waiting(cx, t);
        match self.best_agent(t) {
            Some(a) => self.route(cx, t, a),
            None => self.insert_queued(t),
        }
    }

    /// The skills timeout of a ticket starting to wait: relaxed at once if it has already passed
    /// (`routing.md` 13), scheduled otherwise.
    fn start_waiting(&mut self, cx: &mut Cx, t: TicketIdx) {
        let timeout = self.policy.channels[self.tickets[t as usize].channel as usize].skills_timeout_ms;
        let tk = &mut self.tickets[t as usize];
        debug_assert!(tk.assignee.is_none() && tk.offer.is_none() && tk.bucket.is_none());
        debug_assert!(tk.status.counts());
        if !tk.relaxed && !tk.optional_skills.is_empty() {
            let due = tk.queue_time.saturating_add(timeout);
            if cx.now >= due {
                tk.relaxed = true;
                if let Some(k) = tk.skills_timer.take() {
                    cx.timers.cancel(k);
                }
                self.emit(cx, t, EffectKind::SkillsRelaxed);
            } else if tk.skills_timer.is_none() {
                let timer = Timer { account: self.idx, ticket: t, kind: TimerKind::SkillsTimeout };
                tk.skills_timer = Some(cx.timers.schedule(due, timer));
            }
        }
    }

    /// Puts the ticket in the queue bucket of what it needs now.
    fn insert_queued(&mut self, t: TicketIdx) {
        let tk = &self.tickets[t as usize];
        let needs = Needs {
            channel: tk.channel,
            group: tk.group,
            skills: tk.effective_skills(),
            excluded: tk.excluded.clone(),
        };
        let key = self.queue_key(t);
        let bucket = self.queue.insert(key, needs, t);
        self.tickets[t as usize].bucket = Some(bucket);
    }

    /// Takes restored agents and tickets (with their load lists filled in) and indexes their ids.
    pub(crate) fn install(&mut self, agents: Vec<Agent>, tickets: Vec<Ticket>) {
        for (a, agent) in agents.iter().enumerate() {
            if agent.live {
                self.agent_ids.insert(agent.id.clone(), a as AgentIdx);
            }
        }
        for (t, ticket) in tickets.iter().enumerate() {
            self.ticket_ids.insert(ticket.id.clone(), t as TicketIdx);
            self.status_counts[ticket.status as usize] += 1;
        }
        self.agents = agents;
        self.tickets = tickets.into_iter().collect();
    }

    /// Rebuilds the queue and the agent index from restored state; `queued` are the tickets that
    /// were waiting.
    pub(crate) fn rebuild(&mut self, queued: &[TicketIdx]) {
        for &t in queued {
            self.insert_queued(t);
        }
        for a in 0..self.agents.len() as AgentIdx {
            for ch in 0..self.channels.len() {
                self.reindex(a, ch);
            }
        }
    }

    fn dequeue(&mut self, t: TicketIdx) {
        if let Some(b) = self.tickets[t as usize].bucket.take() {
            let key = self.queue_key(t);
            self.queue.remove(&key, b);
        }
    }

    fn withdraw_offer(&mut self, cx: &mut Cx, t: TicketIdx, reason: WithdrawReason) {
        let tk = &mut self.tickets[t as usize];
        let Some((a, _)) = tk.offer.take() else {
            debug_assert!(false, "withdrawing an offer that does not exist");
            return;
        };
        let ch = tk.channel as usize;
        if let Some(k) = tk.offer_timer.take() {
            cx.timers.cancel(k);
        }
        if matches!(reason, WithdrawReason::Declined | WithdrawReason::Timeout) {
            // Kept sorted: it is part of the queue bucket's key.
            if let Err(i) = tk.excluded.binary_search(&a) {
                tk.excluded.insert(i, a);
            }
        }
        remove_from(&mut self.slot(a, ch).offers, t);
        self.reindex(a, ch);
        self.mark_agent(a, ch);
        let agent = self.agent_name(a);
        self.emit(cx, t, EffectKind::OfferWithdrawn { agent, reason });
    }

    fn unassign(&mut self, cx: &mut Cx, t: TicketIdx, reason: UnassignReason) {
        let tk = &mut self.tickets[t as usize];
        let Some(a) = tk.assignee.take() else {
            debug_assert!(false, "unassigning a ticket without assignee");
            return;
        };
        let ch = tk.channel as usize;
        if tk.status.counts() {
            remove_from(&mut self.slot(a, ch).active, t);
            self.reindex(a, ch);
            self.mark_agent(a, ch);
        }
        let agent = self.agent_name(a);
        self.emit(cx, t, EffectKind::Unassigned { agent, reason });
    }

    /// Makes `a` the assignee. A `new` ticket becomes `open` when `reason` is given (accept, auto
    /// assignment); transfers keep the status.
    fn assign(&mut self, cx: &mut Cx, t: TicketIdx, a: AgentIdx, reason: Option<StatusReason>) {
        let tk = &mut self.tickets[t as usize];
        tk.assignee = Some(a);
        if let Some(k) = tk.skills_timer.take() {
            cx.timers.cancel(k);
        }
        let ch = tk.channel as usize;
        let counts = tk.status.counts();
        self.assign_seq += 1;
        let seq = self.assign_seq;
        let slot = self.slot(a, ch);
        if counts {
            slot.active.push(t);
        }
        slot.last_assigned = seq;
        self.reindex(a, ch);
        let agent = self.agent_name(a);
        self.emit(cx, t, EffectKind::Assigned { agent });
        if let Some(reason) = reason
            && self.tickets[t as usize].status == TicketStatus::New
        {
            self.tickets[t as usize].status = TicketStatus::Open;
            moved(&mut self.status_counts, TicketStatus::New, TicketStatus::Open);
            self.emit(
                cx,
                t,
                EffectKind::StatusChanged { from: TicketStatus::New, to: TicketStatus::Open, reason },
            );
        }
    }

    /// Gives a queued ticket to an agent: an offer or an assignment, by the channel's mode.
    fn route(&mut self, cx: &mut Cx, t: TicketIdx, a: AgentIdx) {
        self.dequeue(t);
        let ch = self.tickets[t as usize].channel as usize;
        let policy = &self.policy.channels[ch];
        match policy.mode {
            AssignmentMode::Offer => {
                let due = cx.now.saturating_add(policy.offer_timeout_ms);
                let timer = Timer { account: self.idx, ticket: t, kind: TimerKind::OfferTimeout };
                let tk = &mut self.tickets[t as usize];
                tk.offer = Some((a, cx.now));
                tk.offer_timer = Some(cx.timers.schedule(due, timer));
                self.slot(a, ch).offers.push(t);
                self.reindex(a, ch);
                let agent = self.agent_name(a);
                self.emit(cx, t, EffectKind::Offered { agent });
            }
            AssignmentMode::Auto => self.assign(cx, t, a, Some(StatusReason::Assigned)),
        }
    }

    fn mark_agent(&mut self, a: AgentIdx, ch: usize) {
        if self.available(a, ch) {
            self.dirty_agents.push((a, ch as u8));
        }
    }

    fn unindex(&mut self, a: AgentIdx, ch: usize) {
        let agent = &mut self.agents[a as usize];
        if let Some(old) = agent.channels[ch].indexed.take() {
            self.index[ch].remove(&old, &agent.groups, &agent.skills);
        }
    }

    /// Brings the agent's entry in the channel index in line with their state.
    fn reindex(&mut self, a: AgentIdx, ch: usize) {
        let method = self.policy.assignment_method;
        let available = self.available(a, ch);
        let agent = &mut self.agents[a as usize];
        let c = &mut agent.channels[ch];
        let want = available
            .then(|| RankKey::new(method, c.spare(), c.capacity, c.last_assigned, agent.id.clone(), a));
        match (c.indexed.take(), want) {
            (Some(old), Some(key)) => {
                if old != key {
                    self.index[ch].rekey(&old, key.clone());
                }
                c.indexed = Some(key);
            }
            (Some(old), None) => self.index[ch].remove(&old, &agent.groups, &agent.skills),
            (None, Some(key)) => {
                self.index[ch].insert(key.clone(), &agent.groups, &agent.skills);
                c.indexed = Some(key);
            }
            (None, None) => {}
        }
    }

    /// Whether the agent meets the ticket's group, skills and exclusions (availability aside).
    fn suits(&self, t: &Ticket, a: AgentIdx) -> bool {
        let agent = &self.agents[a as usize];
        t.group.is_none_or(|g| agent.groups.contains(g))
            && t.skills.is_subset(&agent.skills)
            && (t.relaxed || t.optional_skills.is_subset(&agent.skills))
            && t.excluded.binary_search(&a).is_err()
    }

    /// The best eligible agent for a queued ticket, if any.
    pub fn best_agent(&self, t: TicketIdx) -> Option<AgentIdx> {
        let tk = &self.tickets[t as usize];
        let ix = &self.index[tk.channel as usize];
        if !ix.could_serve(tk.group, &tk.effective_skills()) {
            return None;
        }
        ix.ranked().map(|k| k.agent).find(|&a| self.suits(tk, a))
    }

    /// The first queued ticket after `after` that the agent is eligible for.
    fn first_for_agent(
        &self,
        a: AgentIdx,
        ch: u8,
        after: Option<&QueueKey>,
    ) -> Option<(QueueKey, TicketIdx)> {
        let agent = &self.agents[a as usize];
        self.queue.first_for(ch, a, &agent.groups, &agent.skills, after)
    }

    /// Routes every ticket that could have become routable since the last settle, in queue order.
    ///
    /// After a settle no queued ticket has an eligible agent. From there, a ticket can only become
    /// routable by entering the queue or needing less (`dirty_tickets`), or because an agent became
    /// more available (`dirty_agents`); within one pass capacity only shrinks. So the candidates are
    /// the dirty tickets plus, per dirty agent, the queued tickets that agent is eligible for, and
    /// taking them in queue order gives the same result as routing the whole queue in order.
    fn settle(&mut self, cx: &mut Cx) {
        if self.dirty_tickets.is_empty() && self.dirty_agents.is_empty() {
            return;
        }
        let mut direct: BTreeMap<QueueKey, TicketIdx> = BTreeMap::new();
        for t in std::mem::take(&mut self.dirty_tickets) {
            if self.tickets[t as usize].bucket.is_some() {
                direct.insert(self.queue_key(t), t);
            }
        }
        let mut agents = std::mem::take(&mut self.dirty_agents);
        agents.sort_unstable();
        agents.dedup();
        let mut cursors: Vec<Cursor> = agents
            .into_iter()
            .filter(|&(a, ch)| self.available(a, ch as usize))
            .filter_map(|(agent, channel)| {
                let (key, ticket) = self.first_for_agent(agent, channel, None)?;
                Some(Cursor { agent, channel, key, ticket })
            })
            .collect();
        loop {
            let from_direct = direct.first_key_value().map(|(k, &t)| (k, t));
            let from_cursor = cursors.iter().map(|c| (&c.key, c.ticket)).min_by(|x, y| x.0.cmp(y.0));
            let (key, t) = match (from_direct, from_cursor) {
                (None, None) => break,
                (Some(d), None) => d,
                (None, Some(c)) => c,
                (Some(d), Some(c)) => {
                    if d.0 <= c.0 {
                        d
                    } else {
                        c
                    }
                }
            };
            let key = key.clone();
            direct.remove(&key);
            if self.tickets[t as usize].bucket.is_some()
                && let Some(a) = self.best_agent(t)
            {
                self.route(cx, t, a);
            }
            cursors.retain_mut(|c| {
                if !self.available(c.agent, c.channel as usize) {
                    return false;
                }
                if c.key != key {
                    return true;
                }
                match self.first_for_agent(c.agent, c.channel, Some(&key)) {
                    Some((k, t)) => {
                        (c.key, c.ticket) = (k, t);
                        true
                    }
                    None => false,
                }
            });
        }
        debug_assert!(self.dirty_tickets.is_empty() && self.dirty_agents.is_empty());
    }
}

/// During a settle, a dirty agent's next candidate: the first queued ticket after the ones already
/// handled that the agent is eligible for. It only moves forward.
struct Cursor {
    agent: AgentIdx,
    channel: u8,
    key: QueueKey,
    ticket: TicketIdx,
}

/// `<conversation>#<n>`, without the formatting machinery (this is on every new conversation).
fn ticket_id(conversation: &str, n: u32) -> String {
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    let mut v = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let mut id = String::with_capacity(conversation.len() + 1 + digits.len() - i);
    id.push_str(conversation);
    id.push('#');
    id.extend(digits[i..].iter().map(|&d| d as char));
    id
}

fn moved(counts: &mut [u32; 6], from: TicketStatus, to: TicketStatus) {
    counts[from as usize] -= 1;
    counts[to as usize] += 1;
}

fn remove_from(list: &mut TicketList, t: TicketIdx) {
    if let Some(i) = list.iter().position(|&x| x == t) {
        list.swap_remove(i);
    } else {
        debug_assert!(false, "ticket {t} missing from an agent's list");
    }
}
