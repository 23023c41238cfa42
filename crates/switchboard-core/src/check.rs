//! The engine's invariants, checked from scratch against its state.
//!
//! Property and simulation tests call [`Engine::check_invariants`] after every event; it recounts
//! everything the engine maintains incrementally (loads, indexes, queue, timers) and also checks
//! the routing promise: after an event, no waiting ticket has an agent that could take it.

use crate::account::Account;
use crate::effect::{Effect, EffectKind};
use crate::engine::Engine;
use crate::state::TicketIdx;
use crate::types::{AgentStatus, StatusReason, TicketStatus};

impl Engine {
    /// Recomputes every derived quantity and checks the routing invariants; the error says which
    /// invariant broke and where. O(everything): for tests, not for production paths.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut timers = 0;
        for acc in &self.accounts {
            timers += acc.check().map_err(|e| format!("account {}: {e}", acc.name))?;
        }
        if timers != self.timers.len() {
            return Err(format!("{} timers scheduled, tickets hold {timers}", self.timers.len()));
        }
        Ok(())
    }

    /// Checks the effects of one step (an event or an `advance`) against the state it left: every
    /// ticket routed in it (offered, or assigned automatically) and still so at the end went to an
    /// agent online for its channel, in its group, with its required skills, within capacity. For
    /// tests, like [`Engine::check_invariants`].
    pub fn check_routed(&self, out: &[Effect]) -> Result<(), String> {
        for (i, e) in out.iter().enumerate() {
            let routed = match &e.kind {
                EffectKind::Offered { agent } => Some(agent),
                EffectKind::StatusChanged { reason: StatusReason::Assigned, .. } => {
                    match i.checked_sub(1).map(|p| &out[p].kind) {
                        Some(EffectKind::Assigned { agent }) => Some(agent),
                        _ => return Err(format!("automatic assignment without `assigned`: {e:?}")),
                    }
                }
                _ => None,
            };
            let Some(agent) = routed else { continue };
            // Only what still stands at the end of the step.
            if out[i + 1..].iter().any(|x| x.account == e.account && x.ticket == e.ticket) {
                continue;
            }
            let t = self.ticket(&e.account, &e.ticket).ok_or("a routed ticket vanished")?;
            let a =
                self.agent(&e.account, agent).ok_or_else(|| format!("routed to a missing agent {agent}"))?;
            let c = a
                .channels
                .iter()
                .find(|c| c.channel == t.channel)
                .ok_or_else(|| format!("agent {agent} has no view of channel {}", t.channel))?;
            if c.status != AgentStatus::Online {
                return Err(format!("{} routed to {agent} who is {} on {}", t.id, c.status, t.channel));
            }
            if t.group.as_ref().is_some_and(|g| !a.groups.contains(g)) {
                return Err(format!("{} routed to {agent} outside group {:?}", t.id, t.group));
            }
            if t.skills.iter().any(|s| !a.skills.contains(s)) {
                return Err(format!("{} routed to {agent} lacking {:?}", t.id, t.skills));
            }
            if c.load > c.capacity {
                return Err(format!("{} routed to {agent} over capacity {}/{}", t.id, c.load, c.capacity));
            }
        }
        Ok(())
    }
}

impl Account {
    /// Returns how many timers the tickets hold.
    fn check(&self) -> Result<usize, String> {
        let nch = self.channels.len();
        let mut offers = vec![vec![Vec::<TicketIdx>::new(); nch]; self.agents.len()];
        let mut active = vec![vec![Vec::<TicketIdx>::new(); nch]; self.agents.len()];
        let mut timers = 0;
        let mut queued = 0;
        for (t, tk) in self.tickets.iter().enumerate() {
            let t = t as TicketIdx;
            let ch = tk.channel as usize;
            let id = &tk.id;
            timers += [tk.offer_timer, tk.skills_timer, tk.close_timer].iter().flatten().count();
            if let Some((a, _)) = tk.offer {
                offers[a as usize][ch].push(t);
                let agent = &self.agents[a as usize];
                if tk.assignee.is_some() || !tk.status.counts() || tk.bucket.is_some() {
                    return Err(format!("ticket {id} is on offer but assigned, queued or {}", tk.status));
                }
                if !agent.live || agent.channels[ch].status != AgentStatus::Online {
                    return Err(format!("ticket {id} is on offer to {} who is not online", agent.id));
                }
                if tk.offer_timer.is_none() {
                    return Err(format!("ticket {id} is on offer without a timeout"));
                }
            } else if tk.offer_timer.is_some() {
                return Err(format!("ticket {id} has an offer timer but no offer"));
            }
            if let Some(a) = tk.assignee
                && tk.status.counts()
            {
                active[a as usize][ch].push(t);
            }
            if tk.bucket.is_some() {
                queued += 1;
                if tk.assignee.is_some() || !tk.status.counts() {
                    return Err(format!("ticket {id} is queued but assigned or {}", tk.status));
                }
            } else if tk.assignee.is_none() && tk.offer.is_none() && tk.status.counts() {
                return Err(format!("ticket {id} is {} with nobody and not queued", tk.status));
            }
            if (tk.status == TicketStatus::Solved) != tk.close_timer.is_some()
                && !(tk.status == TicketStatus::Solved
                    && self.policy.styles[tk.style as usize].close_after_solved_ms == 0)
            {
                return Err(format!("ticket {id} is {} and close timer is {:?}", tk.status, tk.close_timer));
            }
            if tk.skills_timer.is_some() && (tk.relaxed || tk.assignee.is_some()) {
                return Err(format!("ticket {id} holds a skills timer it cannot use"));
            }
            if tk.bucket.is_some()
                && !tk.relaxed
                && !tk.optional_skills.is_empty()
                && tk.skills_timer.is_none()
            {
                return Err(format!("ticket {id} waits with optional skills but no skills timer"));
            }
        }
        // Each message-created ticket is its conversation's next (snapshots rely on it: they
        // derive the conversations from the tickets).
        let mut derived: std::collections::HashMap<&str, (u32, TicketIdx)> = Default::default();
        for (t, tk) in self.tickets.iter().enumerate() {
            if let Some(c) = &tk.conversation {
                let e = derived.entry(c).or_insert((0, 0));
                *e = (e.0 + 1, t as TicketIdx);
            }
        }
        for (c, &(count, current)) in &derived {
            match self.conversations.get(c) {
                Some(k) if (k.count, k.current) == (count, current) => {}
                other => {
                    return Err(format!(
                        "conversation {c}: its tickets say {count} with #{current} current, the map {other:?}"
                    ));
                }
            }
        }
        if self.conversations.values().count() != derived.len() {
            return Err("a conversation without tickets".into());
        }
        let mut statuses = [0u32; 6];
        for tk in self.tickets.iter() {
            statuses[tk.status as usize] += 1;
        }
        if statuses != self.status_counts {
            return Err(format!("status counts {:?}, tickets say {statuses:?}", self.status_counts));
        }
        if queued != self.queue.len() {
            return Err(format!(
                "{queued} tickets say they are queued, the queue holds {}",
                self.queue.len()
            ));
        }
        for (a, agent) in self.agents.iter().enumerate() {
            for (ch, c) in agent.channels.iter().enumerate() {
                let mut want_offers = offers[a][ch].clone();
                let mut have_offers: Vec<_> = c.offers.to_vec();
                want_offers.sort_unstable();
                have_offers.sort_unstable();
                let mut want_active = active[a][ch].clone();
                let mut have_active: Vec<_> = c.active.to_vec();
                want_active.sort_unstable();
                have_active.sort_unstable();
                if want_offers != have_offers || want_active != have_active {
                    return Err(format!(
                        "agent {} on {}: load lists {have_offers:?}/{have_active:?}, tickets say {want_offers:?}/{want_active:?}",
                        agent.id, self.channels[ch]
                    ));
                }
                let available = agent.live && c.status == AgentStatus::Online && c.spare() >= 1;
                if available != c.indexed.is_some() {
                    return Err(format!(
                        "agent {} on {}: indexed {} but available {available}",
                        agent.id,
                        self.channels[ch],
                        c.indexed.is_some()
                    ));
                }
            }
        }
        for (ch, ix) in self.index.iter().enumerate() {
            let n = self.agents.iter().filter(|a| a.channels[ch].indexed.is_some()).count();
            if ix.len() != n {
                return Err(format!(
                    "index of {} holds {} agents, {n} are available",
                    self.channels[ch],
                    ix.len()
                ));
            }
        }
        for ch in 0..nch {
            for p in crate::types::Priority::ALL {
                let waiting: Vec<_> = self
                    .queue
                    .iter()
                    .map(|(_, t)| &self.tickets[t as usize])
                    .filter(|tk| tk.channel as usize == ch && tk.priority == p)
                    .collect();
                if self.queue.count(ch as u8, p) as usize != waiting.len()
                    || self.queue.oldest(ch as u8, p) != waiting.iter().map(|tk| tk.queue_time).min()
                {
                    return Err(format!(
                        "queue counts for {} {p} disagree with the queue",
                        self.channels[ch]
                    ));
                }
            }
        }
        // The routing promise: nothing waits that someone could take.
        for (_, t) in self.queue.iter() {
            let tk = &self.tickets[t as usize];
            let ch = tk.channel as usize;
            for (a, agent) in self.agents.iter().enumerate() {
                let c = &agent.channels[ch];
                let eligible = agent.live
                    && c.status == AgentStatus::Online
                    && c.spare() >= 1
                    && self.meets(tk, a as u32)
                    && (tk.relaxed || tk.optional_skills.is_subset(&agent.skills))
                    && !tk.excluded.contains(&(a as u32));
                if eligible {
                    return Err(format!("ticket {} waits although {} could take it", tk.id, agent.id));
                }
            }
        }
        Ok(timers)
    }

    /// Group and required skills (the part of eligibility that never relaxes).
    fn meets(&self, tk: &crate::state::Ticket, a: u32) -> bool {
        let agent = &self.agents[a as usize];
        tk.group.is_none_or(|g| agent.groups.contains(g)) && tk.skills.is_subset(&agent.skills)
    }
}
