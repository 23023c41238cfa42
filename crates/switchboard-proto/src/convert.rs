//! Between the API's messages and the engine's types.
//!
//! Incoming events are checked here for what the message alone can tell (required fields present,
//! names in their sets, sizes within limits); what needs state (unknown tickets, illegal
//! transitions) is the engine's. Error texts follow the replay format's: `missing field 'x'`,
//! `invalid field 'x': ...`.

use crate::v1;
use std::fmt;
use switchboard_core::view::{AccountStats, AgentView, QueueEntry, TicketView};
use switchboard_core::{
    AgentStatus, CustomerMessage, Effect, EffectKind, Event, Millis, NewTicket, Priority, TicketAttrs,
    TicketStatus, TransferTarget,
};

/// Size limits for incoming fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldLimits {
    /// Longest id or name, in bytes.
    pub max_id_bytes: usize,
    /// Most entries in a list (groups, skills, capacity).
    pub max_list_len: usize,
}

impl Default for FieldLimits {
    fn default() -> Self {
        FieldLimits { max_id_bytes: 256, max_list_len: 64 }
    }
}

/// A field the message got wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field, as the replay format names it.
    pub field: &'static str,
    /// The whole message (`missing field 'x'` or `invalid field 'x': ...`).
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FieldError {}

fn missing(field: &'static str) -> FieldError {
    FieldError { field, message: format!("missing field '{field}'") }
}

fn invalid(field: &'static str, what: impl fmt::Display) -> FieldError {
    FieldError { field, message: format!("invalid field '{field}': {what}") }
}

struct Check(FieldLimits);

impl Check {
    fn text(&self, field: &'static str, value: &str) -> Result<(), FieldError> {
        if value.len() > self.0.max_id_bytes {
            return Err(invalid(field, format_args!("longer than {} bytes", self.0.max_id_bytes)));
        }
        Ok(())
    }

    /// A required id: present and within the size limit.
    fn id(&self, field: &'static str, value: String) -> Result<String, FieldError> {
        if value.is_empty() {
            return Err(missing(field));
        }
        self.text(field, &value)?;
        Ok(value)
    }

    fn opt_id(&self, field: &'static str, value: Option<String>) -> Result<Option<String>, FieldError> {
        match value {
            None => Ok(None),
            Some(v) if v.is_empty() => Err(invalid(field, "expected a non-empty string")),
            Some(v) => self.text(field, &v).map(|()| Some(v)),
        }
    }

    fn list(&self, field: &'static str, values: Vec<String>) -> Result<Vec<String>, FieldError> {
        if values.len() > self.0.max_list_len {
            return Err(invalid(field, format_args!("more than {} entries", self.0.max_list_len)));
        }
        for v in &values {
            if v.is_empty() {
                return Err(invalid(field, "expected a list of non-empty strings"));
            }
            self.text(field, v)?;
        }
        Ok(values)
    }

    fn priority(&self, value: Option<String>) -> Result<Priority, FieldError> {
        match value {
            None => Ok(Priority::default()),
            Some(p) => Priority::parse(&p).ok_or_else(|| {
                invalid("priority", format_args!("{p:?} is not one of low, normal, high, urgent"))
            }),
        }
    }
}

/// An incoming event: the engine's event and its optional time and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    /// The event's own time, if it carries one.
    pub at: Option<Millis>,
    /// The client's id for the event, if any.
    pub event_id: Option<String>,
    /// The event.
    pub event: Event,
}

/// Checks and converts an API event.
pub fn event_from_proto(e: v1::Event, limits: FieldLimits) -> Result<Incoming, FieldError> {
    use v1::event::Kind;
    let c = Check(limits);
    let event_id = c.opt_id("event_id", e.event_id)?;
    let event = match e.kind.ok_or_else(|| missing("type"))? {
        Kind::AgentUpserted(a) => {
            let account = c.id("account", a.account)?;
            let agent = c.id("agent", a.agent)?;
            let groups = c.list("groups", a.groups)?;
            let skills = c.list("skills", a.skills)?;
            if a.capacity.len() > limits.max_list_len {
                return Err(invalid("capacity", format_args!("more than {} entries", limits.max_list_len)));
            }
            let mut capacity: Vec<(String, u32)> = a.capacity.into_iter().collect();
            // A map has no order on the wire; sorting keeps the engine's input deterministic.
            capacity.sort();
            for (channel, _) in &capacity {
                c.text("capacity", channel)?;
            }
            Event::AgentUpserted { account, agent, groups, skills, capacity }
        }
        Kind::AgentStatus(s) => Event::AgentStatus {
            account: c.id("account", s.account)?,
            agent: c.id("agent", s.agent)?,
            status: c.id("status", s.status)?,
            channel: c.opt_id("channel", s.channel)?,
        },
        Kind::AgentRemoved(r) => {
            Event::AgentRemoved { account: c.id("account", r.account)?, agent: c.id("agent", r.agent)? }
        }
        Kind::Message(m) => {
            let account = c.id("account", m.account)?;
            let conversation = c.id("conversation", m.conversation)?;
            let requester = c.id("requester", m.requester)?;
            let channel = c.opt_id("channel", m.channel)?.unwrap_or_else(|| "messaging".into());
            let via = c.id("via", m.via)?;
            let attrs = TicketAttrs {
                channel,
                via,
                authenticated: m.authenticated,
                brand: c.opt_id("brand", m.brand)?,
                priority: c.priority(m.priority)?,
                group: c.opt_id("group", m.group)?,
                skills: c.list("skills", m.skills)?,
                optional_skills: c.list("optional_skills", m.optional_skills)?,
                style: c.opt_id("style", m.style)?,
            };
            Event::Message(CustomerMessage { account, conversation, requester, attrs })
        }
        Kind::TicketCreated(t) => {
            let account = c.id("account", t.account)?;
            let ticket = c.id("ticket", t.ticket)?;
            let channel = c.id("channel", t.channel)?;
            let via = c.id("via", t.via)?;
            let requester = c.opt_id("requester", t.requester)?;
            let attrs = TicketAttrs {
                channel,
                via,
                priority: c.priority(t.priority)?,
                group: c.opt_id("group", t.group)?,
                skills: c.list("skills", t.skills)?,
                optional_skills: c.list("optional_skills", t.optional_skills)?,
                style: c.opt_id("style", t.style)?,
                authenticated: t.authenticated,
                brand: c.opt_id("brand", t.brand)?,
            };
            Event::TicketCreated(NewTicket { account, ticket, requester, attrs })
        }
        Kind::OfferAccepted(o) => Event::OfferAccepted {
            account: c.id("account", o.account)?,
            ticket: c.id("ticket", o.ticket)?,
            agent: c.id("agent", o.agent)?,
        },
        Kind::OfferDeclined(o) => Event::OfferDeclined {
            account: c.id("account", o.account)?,
            ticket: c.id("ticket", o.ticket)?,
            agent: c.id("agent", o.agent)?,
        },
        Kind::TicketStatus(s) => {
            let account = c.id("account", s.account)?;
            let ticket = c.id("ticket", s.ticket)?;
            let name = c.id("status", s.status)?;
            let status = TicketStatus::parse(&name)
                .filter(|st| TicketStatus::AGENT_SETTABLE.contains(st))
                .ok_or_else(|| {
                    invalid("status", format_args!("{name:?} is not one of open, pending, on_hold, solved"))
                })?;
            Event::TicketStatus { account, ticket, status }
        }
        Kind::TicketTransferred(t) => {
            let account = c.id("account", t.account)?;
            let ticket = c.id("ticket", t.ticket)?;
            let to = match (t.agent, t.group) {
                (Some(a), None) => TransferTarget::Agent(c.id("agent", a)?),
                (None, Some(g)) => TransferTarget::Group(c.id("group", g)?),
                _ => {
                    return Err(FieldError {
                        field: "agent",
                        message: "invalid field 'agent'/'group': exactly one of them is required".into(),
                    });
                }
            };
            Event::TicketTransferred { account, ticket, to }
        }
        Kind::Tick(_) => Event::Tick,
    };
    Ok(Incoming { at: e.at, event_id, event })
}

/// An engine event as an API event (for clients that read JSON Lines and send over gRPC).
pub fn event_to_proto(at: Option<Millis>, event_id: Option<String>, event: Event) -> v1::Event {
    use v1::event::Kind;
    let kind = match event {
        Event::AgentUpserted { account, agent, groups, skills, capacity } => {
            Kind::AgentUpserted(v1::AgentUpserted {
                account,
                agent,
                groups,
                skills,
                capacity: capacity.into_iter().collect(),
            })
        }
        Event::AgentStatus { account, agent, status, channel } => {
            Kind::AgentStatus(v1::AgentStatus { account, agent, status, channel })
        }
        Event::AgentRemoved { account, agent } => Kind::AgentRemoved(v1::AgentRemoved { account, agent }),
        Event::Message(m) => Kind::Message(v1::Message {
            account: m.account,
            conversation: m.conversation,
            requester: m.requester,
            channel: Some(m.attrs.channel),
            via: m.attrs.via,
            authenticated: m.attrs.authenticated,
            brand: m.attrs.brand,
            priority: Some(m.attrs.priority.as_str().into()),
            group: m.attrs.group,
            skills: m.attrs.skills,
            optional_skills: m.attrs.optional_skills,
            style: m.attrs.style,
        }),
        Event::TicketCreated(t) => Kind::TicketCreated(v1::TicketCreated {
            account: t.account,
            ticket: t.ticket,
            channel: t.attrs.channel,
            via: t.attrs.via,
            requester: t.requester,
            priority: Some(t.attrs.priority.as_str().into()),
            group: t.attrs.group,
            skills: t.attrs.skills,
            optional_skills: t.attrs.optional_skills,
            style: t.attrs.style,
            authenticated: t.attrs.authenticated,
            brand: t.attrs.brand,
        }),
        Event::OfferAccepted { account, ticket, agent } => {
            Kind::OfferAccepted(v1::OfferAnswer { account, ticket, agent })
        }
        Event::OfferDeclined { account, ticket, agent } => {
            Kind::OfferDeclined(v1::OfferAnswer { account, ticket, agent })
        }
        Event::TicketStatus { account, ticket, status } => {
            Kind::TicketStatus(v1::TicketStatus { account, ticket, status: status.as_str().into() })
        }
        Event::TicketTransferred { account, ticket, to } => {
            let (agent, group) = match to {
                TransferTarget::Agent(a) => (Some(a), None),
                TransferTarget::Group(g) => (None, Some(g)),
            };
            Kind::TicketTransferred(v1::TicketTransferred { account, ticket, agent, group })
        }
        Event::Tick => Kind::Tick(v1::Tick {}),
    };
    v1::Event { at, event_id, kind: Some(kind) }
}

/// An effect as the API shows it.
pub fn effect_to_proto(e: &Effect) -> v1::Effect {
    let mut out = v1::Effect {
        at: e.at,
        r#type: e.kind.type_name().into(),
        account: e.account.to_string(),
        ticket: e.ticket.to_string(),
        ..v1::Effect::default()
    };
    let s = |x: &str| Some(x.to_string());
    match &e.kind {
        EffectKind::TicketCreated { conversation, style, follow_up_of } => {
            out.conversation = conversation.as_deref().map(String::from);
            out.style = s(style);
            out.follow_up_of = follow_up_of.as_deref().map(String::from);
        }
        EffectKind::Offered { agent } | EffectKind::Assigned { agent } => out.agent = s(agent),
        EffectKind::OfferWithdrawn { agent, reason } => {
            out.agent = s(agent);
            out.reason = s(reason.as_str());
        }
        EffectKind::Unassigned { agent, reason } => {
            out.agent = s(agent);
            out.reason = s(reason.as_str());
        }
        EffectKind::StatusChanged { from, to, reason } => {
            out.from = s(from.as_str());
            out.to = s(to.as_str());
            out.reason = s(reason.as_str());
        }
        EffectKind::Reopened { agent } => out.agent = agent.as_deref().map(String::from),
        EffectKind::SkillsRelaxed => {}
    }
    out
}

fn strings(v: &[std::sync::Arc<str>]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// An agent view as the API shows it.
pub fn agent_to_proto(a: &AgentView) -> v1::Agent {
    v1::Agent {
        id: a.id.to_string(),
        groups: strings(&a.groups),
        skills: strings(&a.skills),
        channels: a
            .channels
            .iter()
            .map(|c| v1::AgentChannel {
                channel: c.channel.to_string(),
                status: c.status.as_str().into(),
                capacity: c.capacity,
                load: c.load,
                offered: c.offered,
            })
            .collect(),
    }
}

/// A ticket view as the API shows it, with its wait measured at `now`.
pub fn ticket_to_proto(t: &TicketView, now: Millis) -> v1::Ticket {
    let opt = |x: &Option<std::sync::Arc<str>>| x.as_deref().map(String::from);
    v1::Ticket {
        id: t.id.to_string(),
        channel: t.channel.to_string(),
        via: t.via.to_string(),
        requester: opt(&t.requester),
        priority: t.priority.as_str().into(),
        group: opt(&t.group),
        skills: strings(&t.skills),
        optional_skills: strings(&t.optional_skills),
        skills_relaxed: t.skills_relaxed,
        style: t.style.to_string(),
        status: t.status.as_str().into(),
        assignee: opt(&t.assignee),
        offered_to: opt(&t.offered_to),
        offered_at: t.offered_at,
        queue_time: t.queue_time,
        queue_position: t.queue_position.map(|p| p as u64),
        wait_ms: t.queue_position.map(|_| now.saturating_sub(t.queue_time)),
        conversation: opt(&t.conversation),
        follow_up_of: opt(&t.follow_up_of),
        created_at: t.created_at,
        solved_at: t.solved_at,
        closes_at: t.closes_at,
    }
}

/// A queue entry as the API shows it.
pub fn queue_entry_to_proto(position: usize, q: &QueueEntry, now: Millis) -> v1::QueueEntry {
    v1::QueueEntry {
        position: position as u64,
        ticket: q.ticket.to_string(),
        channel: q.channel.to_string(),
        priority: q.priority.as_str().into(),
        queue_time: q.queue_time,
        wait_ms: now.saturating_sub(q.queue_time),
        group: q.group.as_deref().map(String::from),
    }
}

/// Account stats as the API shows them, with waits measured at `now`.
pub fn stats_to_proto(s: &AccountStats, now: Millis) -> v1::AccountStats {
    v1::AccountStats {
        account: s.account.to_string(),
        agents: s.agents,
        tickets_by_status: TicketStatus::ALL
            .iter()
            .zip(s.tickets_by_status)
            .map(|(st, n)| (st.as_str().to_string(), n))
            .collect(),
        queued: s.queued,
        channels: s
            .channels
            .iter()
            .map(|c| v1::ChannelStats {
                channel: c.channel.to_string(),
                agents_by_status: AgentStatus::ALL
                    .iter()
                    .zip(c.agents_by_status)
                    .map(|(st, n)| (st.as_str().to_string(), n))
                    .collect(),
                online_capacity: c.online_capacity,
                load: c.load,
                queued_by_priority: Priority::ALL
                    .iter()
                    .zip(c.queued_by_priority)
                    .map(|(p, n)| (p.as_str().to_string(), n))
                    .collect(),
                oldest_wait_ms_by_priority: Priority::ALL
                    .iter()
                    .zip(c.oldest_queue_time_by_priority)
                    .filter_map(|(p, t)| t.map(|t| (p.as_str().to_string(), now.saturating_sub(t))))
                    .collect(),
                offered: c.offered,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> v1::Message {
        v1::Message {
            account: "acme".into(),
            conversation: "c".into(),
            requester: "r".into(),
            via: "whatsapp".into(),
            ..v1::Message::default()
        }
    }

    fn event(kind: v1::event::Kind) -> v1::Event {
        v1::Event { at: None, event_id: None, kind: Some(kind) }
    }

    fn err(kind: v1::event::Kind) -> String {
        event_from_proto(event(kind), FieldLimits::default()).unwrap_err().message
    }

    #[test]
    fn events_round_trip_through_the_api() {
        use v1::event::Kind;
        let kinds = vec![
            Kind::Message(v1::Message {
                priority: Some("high".into()),
                skills: vec!["de".into()],
                ..message()
            }),
            Kind::AgentUpserted(v1::AgentUpserted {
                account: "acme".into(),
                agent: "a".into(),
                capacity: [("messaging".to_string(), 3)].into_iter().collect(),
                ..Default::default()
            }),
            Kind::TicketTransferred(v1::TicketTransferred {
                account: "acme".into(),
                ticket: "t".into(),
                agent: None,
                group: Some("g".into()),
            }),
            Kind::TicketStatus(v1::TicketStatus {
                account: "acme".into(),
                ticket: "t".into(),
                status: "solved".into(),
            }),
            Kind::Tick(v1::Tick {}),
        ];
        for kind in kinds {
            let incoming = event_from_proto(event(kind), FieldLimits::default()).unwrap();
            let back = event_to_proto(Some(5), Some("id".into()), incoming.event.clone());
            let again = event_from_proto(back, FieldLimits::default()).unwrap();
            assert_eq!(again.event, incoming.event);
            assert_eq!((again.at, again.event_id.as_deref()), (Some(5), Some("id")));
        }
    }

    #[test]
    fn bad_fields_are_named() {
        use v1::event::Kind;
        assert_eq!(
            err(Kind::Message(v1::Message { requester: String::new(), ..message() })),
            "missing field 'requester'"
        );
        assert_eq!(
            err(Kind::Message(v1::Message { priority: Some("asap".into()), ..message() })),
            "invalid field 'priority': \"asap\" is not one of low, normal, high, urgent"
        );
        assert_eq!(
            err(Kind::Message(v1::Message { conversation: "x".repeat(257), ..message() })),
            "invalid field 'conversation': longer than 256 bytes"
        );
        assert_eq!(
            err(Kind::Message(v1::Message { skills: vec!["s".into(); 65], ..message() })),
            "invalid field 'skills': more than 64 entries"
        );
        assert_eq!(
            err(Kind::TicketStatus(v1::TicketStatus {
                account: "a".into(),
                ticket: "t".into(),
                status: "closed".into()
            })),
            "invalid field 'status': \"closed\" is not one of open, pending, on_hold, solved"
        );
        assert_eq!(
            err(Kind::TicketTransferred(v1::TicketTransferred {
                account: "a".into(),
                ticket: "t".into(),
                agent: Some("x".into()),
                group: Some("y".into())
            })),
            "invalid field 'agent'/'group': exactly one of them is required"
        );
        let none = v1::Event::default();
        assert_eq!(
            event_from_proto(none, FieldLimits::default()).unwrap_err().message,
            "missing field 'type'"
        );
    }
}
