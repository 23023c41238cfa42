//! Read-only views of the engine's state, for queries, metrics and tests.
//!
//! Views are owned copies: a driver can hand them to another thread while the engine goes on.

use crate::account::Account;
use crate::engine::Engine;
use crate::state::{AgentIdx, Ticket};
use crate::types::{AgentStatus, Millis, Priority, TicketStatus};
use std::sync::Arc;

/// An agent as the engine sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentView {
    /// Agent id.
    pub id: Arc<str>,
    /// Groups, sorted.
    pub groups: Vec<Arc<str>>,
    /// Skills, sorted.
    pub skills: Vec<Arc<str>>,
    /// One entry per configured channel, in config order.
    pub channels: Vec<AgentChannelView>,
}

/// An agent's state on one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentChannelView {
    /// Channel name.
    pub channel: Arc<str>,
    /// Status on the channel.
    pub status: AgentStatus,
    /// Maximum concurrent tickets.
    pub capacity: u32,
    /// Tickets counting against capacity (offers plus new/open assigned tickets).
    pub load: u32,
    /// Of `load`, the tickets on offer.
    pub offered: u32,
    /// Sequence number of the last real assignment (0: never); compares within the account only.
    pub last_assignment: u64,
}

/// A ticket as the engine sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketView {
    /// Ticket id.
    pub id: Arc<str>,
    /// Channel name.
    pub channel: Arc<str>,
    /// Origin.
    pub via: Arc<str>,
    /// Customer, when known.
    pub requester: Option<Arc<str>>,
    /// Priority.
    pub priority: Priority,
    /// Group, if any.
    pub group: Option<Arc<str>>,
    /// Required skills, sorted.
    pub skills: Vec<Arc<str>>,
    /// Optional skills, sorted.
    pub optional_skills: Vec<Arc<str>>,
    /// Whether the optional skills have relaxed.
    pub skills_relaxed: bool,
    /// Conversation style.
    pub style: Arc<str>,
    /// Status.
    pub status: TicketStatus,
    /// Assignee (possibly a removed agent's id, see `routing.md` 16).
    pub assignee: Option<Arc<str>>,
    /// The agent it is on offer to.
    pub offered_to: Option<Arc<str>>,
    /// When the offer was made.
    pub offered_at: Option<Millis>,
    /// When it entered the queue.
    pub queue_time: Millis,
    /// Zero-based position in the account's queue while waiting.
    pub queue_position: Option<usize>,
    /// Conversation, for tickets created by messages.
    pub conversation: Option<Arc<str>>,
    /// The ticket it follows up.
    pub follow_up_of: Option<Arc<str>>,
    /// Creation time.
    pub created_at: Millis,
    /// When it was solved, while solved.
    pub solved_at: Option<Millis>,
    /// When it will close, while solved.
    pub closes_at: Option<Millis>,
}

/// A waiting ticket in queue order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEntry {
    /// Ticket id.
    pub ticket: Arc<str>,
    /// Channel name.
    pub channel: Arc<str>,
    /// Priority.
    pub priority: Priority,
    /// Queue time (kept across requeues).
    pub queue_time: Millis,
    /// Group, if any.
    pub group: Option<Arc<str>>,
}

/// The few facts about a ticket that metrics label and time effects by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketBrief {
    /// Index of the ticket's channel in [`crate::Config::channels`].
    pub channel: usize,
    /// Priority.
    pub priority: Priority,
    /// Conversation style.
    pub style: Arc<str>,
    /// When it entered the queue.
    pub queue_time: Millis,
}

/// Counts for one channel of an account.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChannelStats {
    /// Channel name.
    pub channel: Arc<str>,
    /// Agents per status, in the order of [`AgentStatus::ALL`].
    pub agents_by_status: [u32; 4],
    /// Sum of capacities of agents online on the channel.
    pub online_capacity: u64,
    /// Sum of loads of all agents on the channel.
    pub load: u64,
    /// Waiting tickets per priority, in the order of [`Priority::ALL`].
    pub queued_by_priority: [u32; 4],
    /// Oldest queue time among waiting tickets, per priority.
    pub oldest_queue_time_by_priority: [Option<Millis>; 4],
    /// Tickets on offer.
    pub offered: u32,
}

/// Counts for one account.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccountStats {
    /// Account name.
    pub account: Arc<str>,
    /// Live agents.
    pub agents: u32,
    /// Tickets per status, in the order of [`TicketStatus::ALL`] (closed ones included).
    pub tickets_by_status: [u32; 6],
    /// Waiting tickets.
    pub queued: u32,
    /// Per channel, in config order.
    pub channels: Vec<ChannelStats>,
}

impl Account {
    fn names(&self, skills: bool, set: &crate::bitset::BitSet) -> Vec<Arc<str>> {
        let interner = if skills { &self.skills } else { &self.groups };
        let mut v: Vec<Arc<str>> = set.iter().map(|i| interner.name(i).clone()).collect();
        v.sort();
        v
    }

    fn agent_view(&self, a: AgentIdx) -> AgentView {
        let agent = &self.agents[a as usize];
        AgentView {
            id: agent.id.clone(),
            groups: self.names(false, &agent.groups),
            skills: self.names(true, &agent.skills),
            channels: agent
                .channels
                .iter()
                .zip(self.channels.iter())
                .map(|(c, name)| AgentChannelView {
                    channel: name.clone(),
                    status: c.status,
                    capacity: c.capacity,
                    load: c.load() as u32,
                    offered: c.offers.len() as u32,
                    last_assignment: c.last_assigned,
                })
                .collect(),
        }
    }

    fn ticket_view(&self, tk: &Ticket) -> TicketView {
        let agent = |a: AgentIdx| self.agents[a as usize].id.clone();
        let queue_position = tk.bucket.map(|_| {
            self.queue.position(&crate::queue::QueueKey::new(tk.priority, tk.queue_time, tk.id.clone()))
        });
        let style = &self.policy.styles[tk.style as usize];
        TicketView {
            id: tk.id.clone(),
            channel: self.channels[tk.channel as usize].clone(),
            via: tk.via.clone(),
            requester: tk.requester.clone(),
            priority: tk.priority,
            group: tk.group.map(|g| self.groups.name(g).clone()),
            skills: self.names(true, &tk.skills),
            optional_skills: self.names(true, &tk.optional_skills),
            skills_relaxed: tk.relaxed,
            style: style.name.clone(),
            status: tk.status,
            assignee: tk.assignee.map(agent),
            offered_to: tk.offer.map(|(a, _)| agent(a)),
            offered_at: tk.offer.map(|(_, at)| at),
            queue_time: tk.queue_time,
            queue_position,
            conversation: tk.conversation.clone(),
            follow_up_of: tk.follow_up_of.clone(),
            created_at: tk.created_at,
            solved_at: tk.solved_at,
            closes_at: tk.solved_at.map(|s| s.saturating_add(style.close_after_solved_ms)),
        }
    }

    fn stats(&self) -> AccountStats {
        let mut s = AccountStats {
            account: self.name.clone(),
            channels: self
                .channels
                .iter()
                .map(|c| ChannelStats { channel: c.clone(), ..ChannelStats::default() })
                .collect(),
            ..AccountStats::default()
        };
        for agent in self.agents.iter().filter(|a| a.live) {
            s.agents += 1;
            for (c, cs) in agent.channels.iter().zip(s.channels.iter_mut()) {
                let i = AgentStatus::ALL.iter().position(|x| *x == c.status).unwrap_or(3);
                cs.agents_by_status[i] += 1;
                if c.status == AgentStatus::Online {
                    cs.online_capacity += u64::from(c.capacity);
                }
                cs.load += c.load() as u64;
                cs.offered += c.offers.len() as u32;
            }
        }
        s.tickets_by_status = self.status_counts;
        for (ch, cs) in s.channels.iter_mut().enumerate() {
            for p in Priority::ALL {
                let n = self.queue.count(ch as u8, p);
                cs.queued_by_priority[p as usize] = n;
                cs.oldest_queue_time_by_priority[p as usize] = self.queue.oldest(ch as u8, p);
                s.queued += n;
            }
        }
        s
    }
}

impl Engine {
    fn account(&self, name: &str) -> Option<&Account> {
        self.account_ids.get(name).map(|&i| &self.accounts[i as usize])
    }

    /// What metrics need to know about a ticket, without allocating.
    pub fn ticket_brief(&self, account: &str, ticket: &str) -> Option<TicketBrief> {
        let acc = self.account(account)?;
        let tk = &acc.tickets[*acc.ticket_ids.get(ticket)? as usize];
        Some(TicketBrief {
            channel: tk.channel as usize,
            priority: tk.priority,
            style: acc.policy.styles[tk.style as usize].name.clone(),
            queue_time: tk.queue_time,
        })
    }

    /// Whether the engine has seen the account (an accepted event named it).
    pub fn has_account(&self, account: &str) -> bool {
        self.account(account).is_some()
    }

    /// How many effects the account has emitted (0 for an unknown account). Effects are numbered
    /// from 1 in emission order within their account, and the numbering survives snapshots, so
    /// `(account, number)` names an effect stably across restarts and replays.
    pub fn effects_emitted(&self, account: &str) -> u64 {
        self.account(account).map_or(0, |a| a.effects_emitted.get())
    }

    /// The ticket's assignee (possibly a removed agent's id), without building a whole view.
    pub fn ticket_assignee(&self, account: &str, ticket: &str) -> Option<Arc<str>> {
        let acc = self.account(account)?;
        let tk = &acc.tickets[*acc.ticket_ids.get(ticket)? as usize];
        tk.assignee.map(|a| acc.agents[a as usize].id.clone())
    }

    /// Whether the account has this ticket (closed ones included).
    pub fn has_ticket(&self, account: &str, ticket: &str) -> bool {
        self.account(account).is_some_and(|a| a.ticket_ids.contains_key(ticket))
    }

    /// Whether the account has this live agent.
    pub fn has_agent(&self, account: &str, agent: &str) -> bool {
        self.account(account).is_some_and(|a| a.agent_ids.contains_key(agent))
    }

    /// Names of the accounts the engine knows, in order of first appearance.
    pub fn account_names(&self) -> Vec<Arc<str>> {
        self.accounts.iter().map(|a| a.name.clone()).collect()
    }

    /// One live agent.
    pub fn agent(&self, account: &str, agent: &str) -> Option<AgentView> {
        let acc = self.account(account)?;
        acc.agent_ids.get(agent).map(|&a| acc.agent_view(a))
    }

    /// The account's live agents, sorted by id.
    pub fn agents(&self, account: &str) -> Vec<AgentView> {
        let Some(acc) = self.account(account) else {
            return Vec::new();
        };
        let mut v: Vec<AgentView> = acc.agent_ids.values().map(|&a| acc.agent_view(a)).collect();
        v.sort_by(|x, y| x.id.cmp(&y.id));
        v
    }

    /// One ticket, whatever its status.
    pub fn ticket(&self, account: &str, ticket: &str) -> Option<TicketView> {
        let acc = self.account(account)?;
        acc.ticket_ids.get(ticket).map(|&t| acc.ticket_view(&acc.tickets[t as usize]))
    }

    /// Waiting tickets in queue order, at most `limit`.
    pub fn queue(&self, account: &str, limit: usize) -> Vec<QueueEntry> {
        let Some(acc) = self.account(account) else {
            return Vec::new();
        };
        acc.queue
            .iter()
            .take(limit)
            .map(|(_, t)| {
                let tk = &acc.tickets[t as usize];
                QueueEntry {
                    ticket: tk.id.clone(),
                    channel: acc.channels[tk.channel as usize].clone(),
                    priority: tk.priority,
                    queue_time: tk.queue_time,
                    group: tk.group.map(|g| acc.groups.name(g).clone()),
                }
            })
            .collect()
    }

    /// Counts for one account (`None` if the engine has never seen it).
    pub fn stats(&self, account: &str) -> Option<AccountStats> {
        self.account(account).map(Account::stats)
    }
}
