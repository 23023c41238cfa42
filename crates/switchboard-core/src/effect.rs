//! Effects: what the engine decided, in the order it decided it.

use crate::types::{Millis, StatusReason, TicketStatus, UnassignReason, WithdrawReason};
use std::sync::Arc;

/// One decision or state change of the engine, about one ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effect {
    /// When it happened: the event's time, or a timer's due time.
    pub at: Millis,
    /// Tenant.
    pub account: Arc<str>,
    /// The ticket concerned.
    pub ticket: Arc<str>,
    /// What happened.
    pub kind: EffectKind,
}

/// What an [`Effect`] says happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EffectKind {
    /// A ticket was created.
    TicketCreated {
        /// The conversation it belongs to, if created by a message.
        conversation: Option<Arc<str>>,
        /// Its conversation style.
        style: Arc<str>,
        /// The closed ticket of the same conversation it follows.
        follow_up_of: Option<Arc<str>>,
    },
    /// The ticket was offered to an agent (their capacity is reserved).
    Offered {
        /// The agent.
        agent: Arc<str>,
    },
    /// An offer ended without acceptance.
    OfferWithdrawn {
        /// The agent it was offered to.
        agent: Arc<str>,
        /// Why.
        reason: WithdrawReason,
    },
    /// The ticket got an assignee.
    Assigned {
        /// The agent.
        agent: Arc<str>,
    },
    /// The ticket lost its assignee.
    Unassigned {
        /// The agent.
        agent: Arc<str>,
        /// Why.
        reason: UnassignReason,
    },
    /// The ticket's status changed.
    StatusChanged {
        /// Old status.
        from: TicketStatus,
        /// New status.
        to: TicketStatus,
        /// Why.
        reason: StatusReason,
    },
    /// A customer reply reopened the ticket.
    Reopened {
        /// The assignee it stays with, if it stays with one.
        agent: Option<Arc<str>>,
    },
    /// The ticket's optional skills stopped being required.
    SkillsRelaxed,
}

impl EffectKind {
    /// The wire name of the effect type.
    pub fn type_name(&self) -> &'static str {
        match self {
            EffectKind::TicketCreated { .. } => "ticket_created",
            EffectKind::Offered { .. } => "offered",
            EffectKind::OfferWithdrawn { .. } => "offer_withdrawn",
            EffectKind::Assigned { .. } => "assigned",
            EffectKind::Unassigned { .. } => "unassigned",
            EffectKind::StatusChanged { .. } => "status_changed",
            EffectKind::Reopened { .. } => "reopened",
            EffectKind::SkillsRelaxed => "skills_relaxed",
        }
    }

    /// Every effect type's wire name (`rejected` is the drivers', not the engine's).
    pub const TYPE_NAMES: [&'static str; 8] = [
        "ticket_created",
        "offered",
        "offer_withdrawn",
        "assigned",
        "unassigned",
        "status_changed",
        "reopened",
        "skills_relaxed",
    ];
}
