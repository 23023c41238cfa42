//! Events: what happened in the helpdesk, as the engine receives them.
//!
//! Events are already well-formed here (ids non-empty, enums parsed); decoding and the errors that
//! go with malformed input live in `switchboard-wire`. Whatever needs engine state or configuration
//! to check (unknown agents, channels, styles, illegal transitions) is checked by the engine.

use crate::types::{Priority, TicketStatus};
use serde::{Deserialize, Serialize};

/// One input to the engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// An agent was created or changed: groups, skills and capacity are replaced.
    AgentUpserted {
        /// Tenant.
        account: String,
        /// Agent id.
        agent: String,
        /// Group memberships.
        groups: Vec<String>,
        /// Skills held.
        skills: Vec<String>,
        /// Capacity per channel name; a channel missing here has capacity 0.
        capacity: Vec<(String, u32)>,
    },
    /// An agent's status changed, on one channel or (unified) on all.
    AgentStatus {
        /// Tenant.
        account: String,
        /// Agent id.
        agent: String,
        /// A per-channel status name with `channel`, a unified status name without.
        status: String,
        /// The channel, when the status is for one channel only.
        channel: Option<String>,
    },
    /// An agent left the account.
    AgentRemoved {
        /// Tenant.
        account: String,
        /// Agent id.
        agent: String,
    },
    /// A customer wrote on a conversation.
    Message(CustomerMessage),
    /// The helpdesk created a ticket with an id of its choosing.
    TicketCreated(NewTicket),
    /// The agent took the ticket on offer to them.
    OfferAccepted {
        /// Tenant.
        account: String,
        /// Ticket id.
        ticket: String,
        /// Agent id.
        agent: String,
    },
    /// The agent refused the ticket on offer to them.
    OfferDeclined {
        /// Tenant.
        account: String,
        /// Ticket id.
        ticket: String,
        /// Agent id.
        agent: String,
    },
    /// The assignee set the ticket's status.
    TicketStatus {
        /// Tenant.
        account: String,
        /// Ticket id.
        ticket: String,
        /// One of `open`, `pending`, `on_hold`, `solved`.
        status: TicketStatus,
    },
    /// The ticket was sent to an agent or to a group.
    TicketTransferred {
        /// Tenant.
        account: String,
        /// Ticket id.
        ticket: String,
        /// Where it goes.
        to: TransferTarget,
    },
    /// Time passes; nothing else.
    Tick,
}

impl Event {
    /// The account the event belongs to (`None` for `tick`).
    pub fn account(&self) -> Option<&str> {
        match self {
            Event::AgentUpserted { account, .. }
            | Event::AgentStatus { account, .. }
            | Event::AgentRemoved { account, .. }
            | Event::OfferAccepted { account, .. }
            | Event::OfferDeclined { account, .. }
            | Event::TicketStatus { account, .. }
            | Event::TicketTransferred { account, .. } => Some(account),
            Event::Message(m) => Some(&m.account),
            Event::TicketCreated(t) => Some(&t.account),
            Event::Tick => None,
        }
    }

    /// The wire name of the event type.
    pub fn type_name(&self) -> &'static str {
        match self {
            Event::AgentUpserted { .. } => "agent_upserted",
            Event::AgentStatus { .. } => "agent_status",
            Event::AgentRemoved { .. } => "agent_removed",
            Event::Message(_) => "message",
            Event::TicketCreated(_) => "ticket_created",
            Event::OfferAccepted { .. } => "offer_accepted",
            Event::OfferDeclined { .. } => "offer_declined",
            Event::TicketStatus { .. } => "ticket_status",
            Event::TicketTransferred { .. } => "ticket_transferred",
            Event::Tick => "tick",
        }
    }

    /// Every event type's wire name.
    pub const TYPE_NAMES: [&'static str; 10] = [
        "agent_upserted",
        "agent_status",
        "agent_removed",
        "message",
        "ticket_created",
        "offer_accepted",
        "offer_declined",
        "ticket_status",
        "ticket_transferred",
        "tick",
    ];
}

/// Where a transfer sends a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferTarget {
    /// Straight to this agent.
    Agent(String),
    /// Back to the queue with this group.
    Group(String),
}

/// The routing attributes a new ticket is created with.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TicketAttrs {
    /// Channel name (`messaging`, `email`, `talk` by default).
    pub channel: String,
    /// Where the ticket came from (`web_widget`, `whatsapp`, ...); used by style rules.
    pub via: String,
    /// Whether the requester is authenticated; used by style rules.
    pub authenticated: bool,
    /// Brand; used by style rules.
    pub brand: Option<String>,
    /// Queue priority.
    pub priority: Priority,
    /// Only members of this group may take the ticket.
    pub group: Option<String>,
    /// Skills an agent must have.
    pub skills: Vec<String>,
    /// Skills an agent must have until the skills timeout passes.
    pub optional_skills: Vec<String>,
    /// Conversation style; chosen by the style rules when absent.
    pub style: Option<String>,
}

/// A customer message on a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerMessage {
    /// Tenant.
    pub account: String,
    /// The conversation's id; tickets it creates are `<conversation>#<n>`.
    pub conversation: String,
    /// The customer.
    pub requester: String,
    /// Used only when the message creates a ticket.
    pub attrs: TicketAttrs,
}

/// A ticket created by the helpdesk with its own id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewTicket {
    /// Tenant.
    pub account: String,
    /// The ticket id.
    pub ticket: String,
    /// The customer, when known.
    pub requester: Option<String>,
    /// Routing attributes.
    pub attrs: TicketAttrs,
}
