//! Between the API's messages and what the load generator needs: run-scoped account names on the
//! way out, engine effects (for the simulator) on the way back.
//!
//! `switchboard_proto::convert` goes from engine events to API events and from engine effects to
//! API effects; the simulator needs the way back for effects, which the API crate has no reason to
//! offer, so it lives here.

use std::sync::Arc;
use switchboard_core::{
    Effect, EffectKind, Millis, StatusReason, TicketStatus, UnassignReason, WithdrawReason,
};
use switchboard_proto::v1;

/// Puts `prefix` in front of the event's account, so that every run works on accounts of its own
/// and a second run against the same daemon does not collide with the first one's tickets.
pub fn prefix_account(event: &mut v1::Event, prefix: &str) {
    use v1::event::Kind;
    let account = match &mut event.kind {
        Some(Kind::AgentUpserted(e)) => &mut e.account,
        Some(Kind::AgentStatus(e)) => &mut e.account,
        Some(Kind::AgentRemoved(e)) => &mut e.account,
        Some(Kind::Message(e)) => &mut e.account,
        Some(Kind::TicketCreated(e)) => &mut e.account,
        Some(Kind::OfferAccepted(e) | Kind::OfferDeclined(e)) => &mut e.account,
        Some(Kind::TicketStatus(e)) => &mut e.account,
        Some(Kind::TicketTransferred(e)) => &mut e.account,
        Some(Kind::Tick(_)) | None => return,
    };
    account.insert_str(0, prefix);
}

/// An API effect as the engine's, with the account given (the run prefix taken off) and the time
/// given (mapped into simulated time). `None` for an effect this build does not know, which the
/// simulator could not use anyway.
pub fn effect_from_proto(e: &v1::Effect, account: Arc<str>, at: Millis) -> Option<Effect> {
    let text = |x: &Option<String>| x.as_deref().map(Arc::<str>::from);
    let kind = match e.r#type.as_str() {
        "ticket_created" => EffectKind::TicketCreated {
            conversation: text(&e.conversation),
            style: text(&e.style)?,
            follow_up_of: text(&e.follow_up_of),
        },
        "offered" => EffectKind::Offered { agent: text(&e.agent)? },
        "offer_withdrawn" => EffectKind::OfferWithdrawn {
            agent: text(&e.agent)?,
            reason: withdraw_reason(e.reason.as_deref()?)?,
        },
        "assigned" => EffectKind::Assigned { agent: text(&e.agent)? },
        "unassigned" => {
            EffectKind::Unassigned { agent: text(&e.agent)?, reason: unassign_reason(e.reason.as_deref()?)? }
        }
        "status_changed" => EffectKind::StatusChanged {
            from: TicketStatus::parse(e.from.as_deref()?)?,
            to: TicketStatus::parse(e.to.as_deref()?)?,
            reason: status_reason(e.reason.as_deref()?)?,
        },
        "reopened" => EffectKind::Reopened { agent: text(&e.agent) },
        "skills_relaxed" => EffectKind::SkillsRelaxed,
        _ => return None,
    };
    Some(Effect { at, account, ticket: Arc::from(e.ticket.as_str()), kind })
}

fn withdraw_reason(s: &str) -> Option<WithdrawReason> {
    [
        WithdrawReason::Declined,
        WithdrawReason::Timeout,
        WithdrawReason::AgentUnavailable,
        WithdrawReason::Transferred,
    ]
    .into_iter()
    .find(|r| r.as_str() == s)
}

fn unassign_reason(s: &str) -> Option<UnassignReason> {
    [UnassignReason::AgentUnavailable, UnassignReason::Transferred].into_iter().find(|r| r.as_str() == s)
}

fn status_reason(s: &str) -> Option<StatusReason> {
    [
        StatusReason::Accepted,
        StatusReason::Assigned,
        StatusReason::Agent,
        StatusReason::CustomerReply,
        StatusReason::StyleClose,
    ]
    .into_iter()
    .find(|r| r.as_str() == s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_proto::convert::effect_to_proto;

    #[test]
    fn effects_round_trip() {
        let a: Arc<str> = Arc::from("acme");
        let t: Arc<str> = Arc::from("c#1");
        let kinds = [
            EffectKind::TicketCreated {
                conversation: Some("c".into()),
                style: "live_chat".into(),
                follow_up_of: Some("c#0".into()),
            },
            EffectKind::Offered { agent: "ana".into() },
            EffectKind::OfferWithdrawn { agent: "ana".into(), reason: WithdrawReason::AgentUnavailable },
            EffectKind::Assigned { agent: "ana".into() },
            EffectKind::Unassigned { agent: "ana".into(), reason: UnassignReason::Transferred },
            EffectKind::StatusChanged {
                from: TicketStatus::OnHold,
                to: TicketStatus::Open,
                reason: StatusReason::CustomerReply,
            },
            EffectKind::Reopened { agent: None },
            EffectKind::SkillsRelaxed,
        ];
        for kind in kinds {
            let e = Effect { at: 7, account: a.clone(), ticket: t.clone(), kind };
            assert_eq!(effect_from_proto(&effect_to_proto(&e), a.clone(), 7), Some(e));
        }
    }

    #[test]
    fn accounts_get_the_prefix() {
        let mut e = switchboard_proto::convert::event_to_proto(
            None,
            None,
            switchboard_core::Event::AgentRemoved { account: "acme".into(), agent: "ana".into() },
        );
        prefix_account(&mut e, "run1-");
        let Some(v1::event::Kind::AgentRemoved(r)) = e.kind else { panic!("kind changed") };
        assert_eq!(r.account, "run1-acme");
    }
}
