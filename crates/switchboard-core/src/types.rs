//! Small vocabulary types shared by events, effects and the engine.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Milliseconds since the Unix epoch. The engine has no clock: every time comes in as one of these.
pub type Millis = u64;

/// Ticket priority; `Ord` follows urgency (`Low` < `Urgent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Lowest.
    Low,
    /// The default.
    #[default]
    Normal,
    /// Above normal.
    High,
    /// Routed before everything else.
    Urgent,
}

impl Priority {
    /// Every priority, lowest first.
    pub const ALL: [Priority; 4] = [Priority::Low, Priority::Normal, Priority::High, Priority::Urgent];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// Lifecycle status of a ticket. `Closed` is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    /// Created, not yet worked on.
    New,
    /// Being worked on.
    Open,
    /// Waiting for the customer.
    Pending,
    /// Waiting for a third party.
    OnHold,
    /// Solved; closes after the style's window unless the customer replies.
    Solved,
    /// Final.
    Closed,
}

impl TicketStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [TicketStatus; 6] = [
        TicketStatus::New,
        TicketStatus::Open,
        TicketStatus::Pending,
        TicketStatus::OnHold,
        TicketStatus::Solved,
        TicketStatus::Closed,
    ];

    /// The statuses an agent may set with a `ticket_status` event.
    pub const AGENT_SETTABLE: [TicketStatus; 4] =
        [TicketStatus::Open, TicketStatus::Pending, TicketStatus::OnHold, TicketStatus::Solved];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            TicketStatus::New => "new",
            TicketStatus::Open => "open",
            TicketStatus::Pending => "pending",
            TicketStatus::OnHold => "on_hold",
            TicketStatus::Solved => "solved",
            TicketStatus::Closed => "closed",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Whether a ticket in this status counts against its assignee's capacity.
    pub fn counts(self) -> bool {
        matches!(self, TicketStatus::New | TicketStatus::Open)
    }
}

/// An agent's status on one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    /// Receives routed tickets and transfers.
    Online,
    /// Receives nothing.
    Away,
    /// Receives explicit transfers only.
    TransfersOnly,
    /// Receives nothing. Every agent starts here.
    #[default]
    Offline,
}

impl AgentStatus {
    /// Every status.
    pub const ALL: [AgentStatus; 4] =
        [AgentStatus::Online, AgentStatus::Away, AgentStatus::TransfersOnly, AgentStatus::Offline];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Online => "online",
            AgentStatus::Away => "away",
            AgentStatus::TransfersOnly => "transfers_only",
            AgentStatus::Offline => "offline",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Whether an explicit transfer may target an agent in this status.
    pub fn accepts_transfers(self) -> bool {
        matches!(self, AgentStatus::Online | AgentStatus::TransfersOnly)
    }
}

macro_rules! display_as_str {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )*};
}

/// Why an offer was withdrawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WithdrawReason {
    /// The agent declined it.
    Declined,
    /// The agent did not answer within the offer timeout.
    Timeout,
    /// The agent stopped being online for the channel.
    AgentUnavailable,
    /// The ticket was transferred.
    Transferred,
}

impl WithdrawReason {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            WithdrawReason::Declined => "declined",
            WithdrawReason::Timeout => "timeout",
            WithdrawReason::AgentUnavailable => "agent_unavailable",
            WithdrawReason::Transferred => "transferred",
        }
    }
}

/// Why an assignee lost a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnassignReason {
    /// The assignee stopped being online for the channel, or was removed.
    AgentUnavailable,
    /// The ticket was transferred.
    Transferred,
}

impl UnassignReason {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            UnassignReason::AgentUnavailable => "agent_unavailable",
            UnassignReason::Transferred => "transferred",
        }
    }
}

/// Why a ticket's status changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusReason {
    /// The agent accepted the offer.
    Accepted,
    /// Auto assignment.
    Assigned,
    /// The agent set it.
    Agent,
    /// The customer wrote again.
    CustomerReply,
    /// The conversation style's close window ran out.
    StyleClose,
}

impl StatusReason {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusReason::Accepted => "accepted",
            StatusReason::Assigned => "assigned",
            StatusReason::Agent => "agent",
            StatusReason::CustomerReply => "customer_reply",
            StatusReason::StyleClose => "style_close",
        }
    }
}

display_as_str!(Priority, TicketStatus, AgentStatus, WithdrawReason, UnassignReason, StatusReason);

/// `"a, b, c"` for error messages listing the accepted names.
pub(crate) fn join_names<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names.into_iter().collect::<Vec<_>>().join(", ")
}
