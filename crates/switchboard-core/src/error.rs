//! Why the engine refused an event. Nothing changes when an event is refused.

use thiserror::Error;

/// The class of a refusal, for callers that map it to a protocol status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// A field's value is not acceptable whatever the state (gRPC `INVALID_ARGUMENT`).
    InvalidArgument,
    /// The ticket or agent named does not exist (gRPC `NOT_FOUND`).
    NotFound,
    /// The state forbids the action (gRPC `FAILED_PRECONDITION`).
    FailedPrecondition,
    /// The id to create is taken (gRPC `ALREADY_EXISTS`).
    AlreadyExists,
}

/// A refused event. `Display` gives the replay format's `error` text: the field, then what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EngineError {
    /// No such ticket in the account.
    #[error("invalid field 'ticket': unknown ticket \"{0}\"")]
    UnknownTicket(String),
    /// No such agent in the account.
    #[error("invalid field '{field}': unknown agent \"{agent}\"")]
    UnknownAgent {
        /// The field naming the agent.
        field: &'static str,
        /// The id given.
        agent: String,
    },
    /// A channel name that is not configured.
    #[error("invalid field '{field}': unknown channel \"{channel}\"")]
    UnknownChannel {
        /// The field naming the channel.
        field: &'static str,
        /// The name given.
        channel: String,
    },
    /// A style name that is not configured.
    #[error("invalid field 'style': unknown style \"{0}\"")]
    UnknownStyle(String),
    /// A status name outside the accepted set.
    #[error("invalid field 'status': \"{given}\" is not one of {allowed}")]
    InvalidStatus {
        /// The name given.
        given: String,
        /// The accepted names, comma separated.
        allowed: String,
    },
    /// An accept or decline from an agent the ticket is not on offer to.
    #[error("invalid field 'agent': ticket \"{ticket}\" is not on offer to \"{agent}\"")]
    NotOnOffer {
        /// Ticket id.
        ticket: String,
        /// Agent id.
        agent: String,
    },
    /// The ticket is closed; nothing more can happen to it.
    #[error("invalid field 'ticket': ticket \"{0}\" is closed")]
    TicketClosed(String),
    /// A status change on a ticket nobody holds.
    #[error("invalid field 'ticket': ticket \"{0}\" has no assignee")]
    NoAssignee(String),
    /// A transfer to an agent who cannot take transfers on the ticket's channel.
    #[error(
        "invalid field 'agent': agent \"{agent}\" is {status} on {channel}; transfers need online or transfers_only"
    )]
    AgentNotAcceptingTransfers {
        /// Agent id.
        agent: String,
        /// The agent's status on the channel.
        status: &'static str,
        /// The ticket's channel.
        channel: String,
    },
    /// A ticket id that already exists.
    #[error("invalid field '{field}': ticket \"{ticket}\" already exists")]
    TicketExists {
        /// The field the id came from (`ticket`, or `conversation` for follow-ups).
        field: &'static str,
        /// The id.
        ticket: String,
    },
}

impl EngineError {
    /// The class of the refusal.
    pub fn class(&self) -> ErrorClass {
        match self {
            EngineError::UnknownTicket(_) | EngineError::UnknownAgent { .. } => ErrorClass::NotFound,
            EngineError::UnknownChannel { .. }
            | EngineError::UnknownStyle(_)
            | EngineError::InvalidStatus { .. } => ErrorClass::InvalidArgument,
            EngineError::NotOnOffer { .. }
            | EngineError::TicketClosed(_)
            | EngineError::NoAssignee(_)
            | EngineError::AgentNotAcceptingTransfers { .. } => ErrorClass::FailedPrecondition,
            EngineError::TicketExists { .. } => ErrorClass::AlreadyExists,
        }
    }

    /// The event field the refusal is about.
    pub fn field(&self) -> &'static str {
        match self {
            EngineError::UnknownTicket(_) | EngineError::TicketClosed(_) | EngineError::NoAssignee(_) => {
                "ticket"
            }
            EngineError::UnknownAgent { field, .. }
            | EngineError::UnknownChannel { field, .. }
            | EngineError::TicketExists { field, .. } => field,
            EngineError::UnknownStyle(_) => "style",
            EngineError::InvalidStatus { .. } => "status",
            EngineError::NotOnOffer { .. } | EngineError::AgentNotAcceptingTransfers { .. } => "agent",
        }
    }
}
