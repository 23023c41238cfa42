//! The records the engine keeps: agents, tickets, conversations.

use crate::bitset::BitSet;
use crate::index::RankKey;
use crate::timers::TimerKey;
use crate::types::{AgentStatus, Millis, Priority, TicketStatus};
use smallvec::SmallVec;
use std::sync::Arc;

/// Handle of an agent within its account; slots are never reused, so a removed agent's handle stays
/// valid for the tickets that keep it as assignee.
pub(crate) type AgentIdx = u32;
/// Handle of a ticket within its account.
pub(crate) type TicketIdx = u32;

/// Short lists of tickets per agent and channel; capacity keeps them small.
pub(crate) type TicketList = SmallVec<[TicketIdx; 4]>;

#[derive(Debug)]
pub(crate) struct Agent {
    pub id: Arc<str>,
    /// False once removed.
    pub live: bool,
    pub groups: BitSet,
    pub skills: BitSet,
    /// Per channel, aligned with the config's channels.
    pub channels: Vec<AgentChannel>,
}

#[derive(Debug, Default)]
pub(crate) struct AgentChannel {
    pub status: AgentStatus,
    pub capacity: u32,
    /// Tickets on offer to the agent: they reserve capacity.
    pub offers: TicketList,
    /// Assigned tickets that are `new` or `open`: they use capacity.
    pub active: TicketList,
    /// Sequence number of the last real assignment, 0 for never.
    pub last_assigned: u64,
    /// The agent's key in the channel index while available there.
    pub indexed: Option<RankKey>,
}

impl AgentChannel {
    /// Tickets counting against capacity.
    pub fn load(&self) -> usize {
        self.offers.len() + self.active.len()
    }

    /// Capacity minus load; negative after a returning customer or a lowered capacity.
    pub fn spare(&self) -> i64 {
        i64::from(self.capacity) - self.load() as i64
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Ticket {
    pub id: Arc<str>,
    pub channel: u8,
    pub via: Arc<str>,
    pub requester: Option<Arc<str>>,
    pub priority: Priority,
    pub group: Option<u32>,
    pub skills: BitSet,
    pub optional_skills: BitSet,
    pub style: u16,
    pub conversation: Option<Arc<str>>,
    pub follow_up_of: Option<Arc<str>>,
    pub created_at: Millis,
    pub status: TicketStatus,
    pub assignee: Option<AgentIdx>,
    /// The agent the ticket is on offer to, and since when.
    pub offer: Option<(AgentIdx, Millis)>,
    /// When the ticket entered the queue; kept across requeues, reset by a rerouted reply.
    pub queue_time: Millis,
    /// The queue bucket while waiting in the queue.
    pub bucket: Option<u32>,
    /// Whether the optional skills have relaxed.
    pub relaxed: bool,
    /// Agents who declined or let an offer of this ticket time out, sorted.
    pub excluded: SmallVec<[AgentIdx; 2]>,
    pub solved_at: Option<Millis>,
    pub offer_timer: Option<TimerKey>,
    pub skills_timer: Option<TimerKey>,
    pub close_timer: Option<TimerKey>,
}

impl Ticket {
    /// The skills an agent needs now: the required ones, plus the optional ones until they relax.
    pub fn effective_skills(&self) -> BitSet {
        if self.relaxed || self.optional_skills.is_empty() {
            self.skills.clone()
        } else {
            self.skills.union(&self.optional_skills)
        }
    }
}

#[derive(Debug)]
pub(crate) struct Conversation {
    /// Tickets created for it so far (the `n` of `<conversation>#<n>`).
    pub count: u32,
    /// The latest.
    pub current: TicketIdx,
}
