//! The engine's whole state as plain data, and back.
//!
//! A snapshot holds only what cannot be derived: agents, tickets, conversations, the assignment and
//! timer sequence numbers and the time. Indexes, queue buckets, load lists and counts are rebuilt on
//! restore. Channels and styles are stored by name, not by position, so a snapshot survives a
//! configuration that reorders them; one that names a channel or style the configuration no longer
//! has is refused. Timers keep their exact `(due, seq)` keys, so a restored engine fires them in the
//! same order as the engine that was snapshotted: restore then apply gives the same effects as never
//! having stopped.

use crate::account::Account;
use crate::bitset::BitSet;
use crate::chunked::Frozen;
use crate::config::{Config, Policy};
use crate::engine::Engine;
use crate::state::{Agent, AgentChannel, Conversation, Ticket};
use crate::timers::{Timer, TimerKey, TimerKind};
use crate::types::{AgentStatus, Millis, Priority, TicketStatus};
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use std::collections::HashMap;
use std::sync::Arc;
use thiserror::Error;

/// The engine's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineSnapshot {
    /// The engine's time.
    pub now: Millis,
    /// The last timer sequence number used.
    pub timer_seq: u64,
    /// Accounts in order of first appearance.
    pub accounts: Vec<AccountSnapshot>,
}

/// One account's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSnapshot {
    /// Account name.
    pub name: Arc<str>,
    /// Interned skill names, by index.
    pub skills: Vec<Arc<str>>,
    /// Interned group names, by index.
    pub groups: Vec<Arc<str>>,
    /// The last assignment sequence number used.
    pub assign_seq: u64,
    /// Effects the account has emitted so far.
    pub effects_emitted: u64,
    /// Agents by handle (removed ones included: tickets may still name them).
    pub agents: Vec<AgentSnapshot>,
    /// Tickets by handle.
    pub tickets: Vec<TicketSnapshot>,
    /// Conversations: id, tickets so far, current ticket handle.
    pub conversations: Vec<(Arc<str>, u32, u32)>,
}

/// One agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentSnapshot {
    /// Agent id.
    pub id: Arc<str>,
    /// False once removed.
    pub live: bool,
    /// Group indices.
    pub groups: Vec<u32>,
    /// Skill indices.
    pub skills: Vec<u32>,
    /// Per channel, by name: status, capacity, last assignment sequence number.
    pub channels: Vec<(Arc<str>, AgentStatus, u32, u64)>,
}

/// A timer as stored: due time and scheduling sequence number.
pub type TimerSnapshot = (Millis, u64);

/// One ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketSnapshot {
    /// Ticket id.
    pub id: Arc<str>,
    /// Channel name.
    pub channel: Arc<str>,
    /// Origin.
    pub via: Arc<str>,
    /// Customer.
    pub requester: Option<Arc<str>>,
    /// Priority.
    pub priority: Priority,
    /// Group index.
    pub group: Option<u32>,
    /// Required skill indices.
    pub skills: Vec<u32>,
    /// Optional skill indices.
    pub optional_skills: Vec<u32>,
    /// Style name.
    pub style: Arc<str>,
    /// Conversation id.
    pub conversation: Option<Arc<str>>,
    /// The ticket it follows up.
    pub follow_up_of: Option<Arc<str>>,
    /// Creation time.
    pub created_at: Millis,
    /// Status.
    pub status: TicketStatus,
    /// Assignee handle.
    pub assignee: Option<u32>,
    /// Offer: agent handle and time.
    pub offer: Option<(u32, Millis)>,
    /// Queue time.
    pub queue_time: Millis,
    /// Whether it waits in the queue.
    pub queued: bool,
    /// Whether its optional skills relaxed.
    pub relaxed: bool,
    /// Excluded agent handles, sorted.
    pub excluded: Vec<u32>,
    /// Solve time while solved.
    pub solved_at: Option<Millis>,
    /// Offer timeout timer.
    pub offer_timer: Option<TimerSnapshot>,
    /// Skills timeout timer.
    pub skills_timer: Option<TimerSnapshot>,
    /// Close timer.
    pub close_timer: Option<TimerSnapshot>,
}

/// A snapshot that does not fit the configuration or is inconsistent.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("snapshot: account {account:?}: {reason}")]
pub struct SnapshotError {
    /// The account at fault.
    pub account: String,
    /// What is wrong.
    pub reason: String,
}

impl Engine {
    /// The engine's state as plain data. Equal states give equal snapshots.
    pub fn snapshot(&self) -> EngineSnapshot {
        EngineSnapshot {
            now: self.now(),
            timer_seq: self.timers.seq(),
            accounts: self.accounts.iter().map(|a| a.head().snapshot(a.tickets.iter())).collect(),
        }
    }

    /// The engine's state, for [`FrozenEngine::snapshot`] to turn into plain data on another
    /// thread while this engine goes on. Taking it costs a pass over the agents, not the tickets:
    /// tickets are shared copy-on-write (closed ones never change, so they are never copied).
    pub fn freeze(&mut self) -> FrozenEngine {
        FrozenEngine {
            now: self.now(),
            timer_seq: self.timers.seq(),
            accounts: self.accounts.iter_mut().map(|a| (a.head(), a.tickets.freeze())).collect(),
        }
    }

    /// An engine in the state a snapshot describes, under `config`.
    pub fn restore(config: Config, snap: &EngineSnapshot) -> Result<Engine, SnapshotError> {
        let mut engine = Engine::new(config)
            .map_err(|e| SnapshotError { account: String::new(), reason: e.to_string() })?;
        engine.timers.set_seq(snap.timer_seq);
        for a in &snap.accounts {
            engine.restore_account(a)?;
        }
        engine.set_now(snap.now);
        Ok(engine)
    }
}

/// An engine's state as taken by [`Engine::freeze`]: `Send`, and cheap to take.
#[derive(Debug)]
pub struct FrozenEngine {
    now: Millis,
    timer_seq: u64,
    accounts: Vec<(AccountHead, Frozen<Ticket>)>,
}

impl FrozenEngine {
    /// The state as plain data: the same as [`Engine::snapshot`] at the moment of freezing.
    pub fn snapshot(&self) -> EngineSnapshot {
        EngineSnapshot {
            now: self.now,
            timer_seq: self.timer_seq,
            accounts: self.accounts.iter().map(|(head, tickets)| head.snapshot(tickets.iter())).collect(),
        }
    }
}

/// An account's state but its tickets, ready to be written out with them.
#[derive(Debug)]
struct AccountHead {
    name: Arc<str>,
    skills: Vec<Arc<str>>,
    groups: Vec<Arc<str>>,
    assign_seq: u64,
    effects_emitted: u64,
    agents: Vec<AgentSnapshot>,
    channels: Arc<[Arc<str>]>,
    policy: Arc<Policy>,
}

impl AccountHead {
    /// The account's snapshot, with `tickets` in handle order. Conversations are not kept apart:
    /// each message-created ticket is its conversation's next, so they follow from the tickets
    /// (in handle order, which also makes their order canonical).
    fn snapshot<'a>(&self, tickets: impl Iterator<Item = &'a Ticket>) -> AccountSnapshot {
        let names = |set: &BitSet| set.iter().collect::<Vec<u32>>();
        let timer = |k: &Option<TimerKey>| k.map(|k| (k.due, k.seq));
        let mut conversations: Vec<(Arc<str>, u32, u32)> = Vec::new();
        let mut conversation_of: HashMap<&str, usize> = HashMap::new();
        let tickets = tickets
            .enumerate()
            .map(|(i, t)| {
                if let Some(c) = &t.conversation {
                    match conversation_of.get(&**c) {
                        Some(&k) => {
                            conversations[k].1 += 1;
                            conversations[k].2 = i as u32;
                        }
                        None => {
                            conversation_of.insert(c, conversations.len());
                            conversations.push((c.clone(), 1, i as u32));
                        }
                    }
                }
                TicketSnapshot {
                    id: t.id.clone(),
                    channel: self.channels[t.channel as usize].clone(),
                    via: t.via.clone(),
                    requester: t.requester.clone(),
                    priority: t.priority,
                    group: t.group,
                    skills: names(&t.skills),
                    optional_skills: names(&t.optional_skills),
                    style: self.policy.styles[t.style as usize].name.clone(),
                    conversation: t.conversation.clone(),
                    follow_up_of: t.follow_up_of.clone(),
                    created_at: t.created_at,
                    status: t.status,
                    assignee: t.assignee,
                    offer: t.offer,
                    queue_time: t.queue_time,
                    queued: t.bucket.is_some(),
                    relaxed: t.relaxed,
                    excluded: t.excluded.to_vec(),
                    solved_at: t.solved_at,
                    offer_timer: timer(&t.offer_timer),
                    skills_timer: timer(&t.skills_timer),
                    close_timer: timer(&t.close_timer),
                }
            })
            .collect();
        AccountSnapshot {
            name: self.name.clone(),
            skills: self.skills.clone(),
            groups: self.groups.clone(),
            assign_seq: self.assign_seq,
            effects_emitted: self.effects_emitted,
            agents: self.agents.clone(),
            tickets,
            conversations,
        }
    }
}

impl Account {
    /// Everything but the tickets, copied (agents are few next to tickets).
    fn head(&self) -> AccountHead {
        let names = |set: &BitSet| set.iter().collect::<Vec<u32>>();
        AccountHead {
            name: self.name.clone(),
            skills: self.skills.names().to_vec(),
            groups: self.groups.names().to_vec(),
            assign_seq: self.assign_seq,
            effects_emitted: self.effects_emitted.get(),
            channels: self.channels.clone(),
            policy: self.policy.clone(),
            agents: self
                .agents
                .iter()
                .map(|a| AgentSnapshot {
                    id: a.id.clone(),
                    live: a.live,
                    groups: names(&a.groups),
                    skills: names(&a.skills),
                    channels: a
                        .channels
                        .iter()
                        .zip(self.channels.iter())
                        .map(|(c, name)| (name.clone(), c.status, c.capacity, c.last_assigned))
                        .collect(),
                })
                .collect(),
        }
    }
}

impl Engine {
    fn restore_account(&mut self, snap: &AccountSnapshot) -> Result<(), SnapshotError> {
        let err = |reason: String| SnapshotError { account: snap.name.to_string(), reason };
        let idx = self.accounts.len() as u32;
        let mut acc = self.new_account(&snap.name);
        for s in &snap.skills {
            acc.skills.intern(s);
        }
        for g in &snap.groups {
            acc.groups.intern(g);
        }
        acc.assign_seq = snap.assign_seq;
        acc.effects_emitted.set(snap.effects_emitted);
        let nch = acc.channels.len();
        let channel_of = |name: &str| {
            acc.channels
                .iter()
                .position(|c| &**c == name)
                .ok_or_else(|| err(format!("channel {name:?} is not configured")))
        };
        let n_agents = snap.agents.len() as u32;
        let mut agents = Vec::with_capacity(snap.agents.len());
        for a in &snap.agents {
            let mut channels: Vec<AgentChannel> = (0..nch).map(|_| AgentChannel::default()).collect();
            for (name, status, capacity, last) in &a.channels {
                let c = &mut channels[channel_of(name)?];
                c.status = *status;
                c.capacity = *capacity;
                c.last_assigned = *last;
            }
            agents.push(Agent {
                id: a.id.clone(),
                live: a.live,
                groups: a.groups.iter().copied().collect(),
                skills: a.skills.iter().copied().collect(),
                channels,
            });
        }
        let mut tickets = Vec::with_capacity(snap.tickets.len());
        let mut timers = Vec::new();
        for (t, s) in snap.tickets.iter().enumerate() {
            let t = t as u32;
            let channel = channel_of(&s.channel)?;
            let style = acc
                .policy
                .style_index(&s.style)
                .ok_or_else(|| err(format!("style {:?} is not configured", s.style)))?;
            let agent_ok = |a: u32| {
                if a < n_agents {
                    Ok(a)
                } else {
                    Err(err(format!("ticket {} names agent #{a} of {n_agents}", s.id)))
                }
            };
            let assignee = s.assignee.map(agent_ok).transpose()?;
            let offer = s.offer.map(|(a, at)| agent_ok(a).map(|a| (a, at))).transpose()?;
            let mut key = |k: Option<TimerSnapshot>, kind| {
                k.map(|(due, seq)| {
                    let key = TimerKey { due, seq };
                    timers.push((key, Timer { account: idx, ticket: t, kind }));
                    key
                })
            };
            let ticket = Ticket {
                id: s.id.clone(),
                channel: channel as u8,
                via: s.via.clone(),
                requester: s.requester.clone(),
                priority: s.priority,
                group: s.group,
                skills: s.skills.iter().copied().collect(),
                optional_skills: s.optional_skills.iter().copied().collect(),
                style: style as u16,
                conversation: s.conversation.clone(),
                follow_up_of: s.follow_up_of.clone(),
                created_at: s.created_at,
                status: s.status,
                assignee,
                offer,
                queue_time: s.queue_time,
                bucket: None,
                relaxed: s.relaxed,
                excluded: SmallVec::from_vec(s.excluded.clone()),
                solved_at: s.solved_at,
                offer_timer: key(s.offer_timer, TimerKind::OfferTimeout),
                skills_timer: key(s.skills_timer, TimerKind::SkillsTimeout),
                close_timer: key(s.close_timer, TimerKind::Close),
            };
            if let Some((a, _)) = ticket.offer {
                agents[a as usize].channels[channel].offers.push(t);
            }
            if let (Some(a), true) = (ticket.assignee, ticket.status.counts()) {
                agents[a as usize].channels[channel].active.push(t);
            }
            tickets.push(ticket);
        }
        let queued: Vec<u32> =
            snap.tickets.iter().enumerate().filter(|(_, s)| s.queued).map(|(t, _)| t as u32).collect();
        acc.install(agents, tickets);
        for (key, timer) in timers {
            self.timers.restore(key, timer);
        }
        for (id, count, current) in &snap.conversations {
            if *current as usize >= acc.tickets.len() {
                return Err(err(format!("conversation {id:?} names ticket #{current}")));
            }
            acc.conversations.insert(id.clone(), Conversation { count: *count, current: *current });
        }
        acc.rebuild(&queued);
        self.push_account(acc);
        Ok(())
    }
}

impl EngineSnapshot {
    /// Spreads the accounts of several snapshots (the shards of a previous run) over `groups` new
    /// ones, `group_of` choosing each account's group. Timer sequence numbers are per engine, so
    /// each group's timers are renumbered in `(due, source, old seq)` order: an account comes from
    /// one source, so its own timers keep their order.
    pub fn regroup(
        parts: Vec<EngineSnapshot>,
        groups: usize,
        group_of: impl Fn(&str) -> usize,
    ) -> Vec<EngineSnapshot> {
        let groups = groups.max(1);
        let now = parts.iter().map(|p| p.now).max().unwrap_or(0);
        let mut out: Vec<(EngineSnapshot, Vec<usize>)> = (0..groups)
            .map(|_| (EngineSnapshot { now, timer_seq: 0, accounts: Vec::new() }, Vec::new()))
            .collect();
        for (source, part) in parts.into_iter().enumerate() {
            for account in part.accounts {
                let g = group_of(&account.name).min(groups - 1);
                out[g].0.accounts.push(account);
                out[g].1.push(source);
            }
        }
        out.into_iter()
            .map(|(mut snap, sources)| {
                let mut keys: Vec<(Millis, usize, u64, usize, usize, u8)> = Vec::new();
                for (a, account) in snap.accounts.iter().enumerate() {
                    for (t, ticket) in account.tickets.iter().enumerate() {
                        let timers = [ticket.offer_timer, ticket.skills_timer, ticket.close_timer];
                        for (which, timer) in timers.iter().enumerate() {
                            if let Some((due, seq)) = timer {
                                keys.push((*due, sources[a], *seq, a, t, which as u8));
                            }
                        }
                    }
                }
                keys.sort_unstable();
                for (n, &(due, _, _, a, t, which)) in keys.iter().enumerate() {
                    let ticket = &mut snap.accounts[a].tickets[t];
                    let slot = match which {
                        0 => &mut ticket.offer_timer,
                        1 => &mut ticket.skills_timer,
                        _ => &mut ticket.close_timer,
                    };
                    *slot = Some((due, n as u64 + 1));
                }
                snap.timer_seq = keys.len() as u64;
                snap
            })
            .collect()
    }
}
