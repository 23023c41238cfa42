//! A tiny driver for scenario tests: builds events, applies them at a given time and renders the
//! effects as short strings (`offered c#1 a1`), so each test reads like the rule it checks.
#![allow(dead_code, missing_docs)]

use switchboard_core::{
    Config, CustomerMessage, Effect, EffectKind, Engine, EngineError, Event, NewTicket, Priority,
    TicketAttrs, TicketStatus, TransferTarget,
};

pub const ACC: &str = "acme";
pub const SEC: u64 = 1000;
pub const MIN: u64 = 60 * SEC;
pub const HOUR: u64 = 60 * MIN;
pub const DAY: u64 = 24 * HOUR;
/// A realistic epoch so nothing depends on time 0.
pub const T0: u64 = 1_767_571_200_000;

pub struct Sim {
    pub engine: Engine,
    pub now: u64,
    pub account: String,
}

impl Default for Sim {
    fn default() -> Self {
        Sim::with_config(Config::default())
    }
}

impl Sim {
    pub fn with_config(config: Config) -> Self {
        Sim { engine: Engine::new(config).expect("valid config"), now: T0, account: ACC.into() }
    }

    /// Moves the clock to `T0 + offset`.
    pub fn at(&mut self, offset: u64) -> &mut Self {
        self.now = T0 + offset;
        self
    }

    /// Moves the clock forward by `d`.
    pub fn after(&mut self, d: u64) -> &mut Self {
        self.now += d;
        self
    }

    pub fn in_account(&mut self, account: &str) -> &mut Self {
        self.account = account.into();
        self
    }

    pub fn try_apply(&mut self, ev: Event) -> Result<Vec<String>, EngineError> {
        let mut out = Vec::new();
        let r = self.engine.apply(&ev, self.now, &mut out);
        self.engine.check_invariants().unwrap_or_else(|e| panic!("invariant broken after {ev:?}: {e}"));
        r.map(|()| out.iter().map(render).collect())
    }

    pub fn apply(&mut self, ev: Event) -> Vec<String> {
        let shown = format!("{ev:?}");
        self.try_apply(ev).unwrap_or_else(|e| panic!("refused {shown}: {e}"))
    }

    /// Applies and returns effects with their times, as `+offset effect`.
    pub fn apply_timed(&mut self, ev: Event) -> Vec<String> {
        let mut out = Vec::new();
        self.engine.apply(&ev, self.now, &mut out).expect("accepted");
        self.engine.check_invariants().expect("invariants");
        out.iter().map(|e| format!("+{} {}", e.at - T0, render(e))).collect()
    }

    pub fn agent(&mut self, id: &str, groups: &[&str], skills: &[&str], caps: &[(&str, u32)]) -> Vec<String> {
        self.apply(Event::AgentUpserted {
            account: self.account.clone(),
            agent: id.into(),
            groups: strs(groups),
            skills: strs(skills),
            capacity: caps.iter().map(|(c, n)| (c.to_string(), *n)).collect(),
        })
    }

    /// An agent with messaging capacity `cap`, online everywhere.
    pub fn online_agent(&mut self, id: &str, cap: u32) -> Vec<String> {
        self.agent(id, &[], &[], &[("messaging", cap), ("email", cap), ("talk", cap)]);
        self.status(id, "online")
    }

    pub fn status(&mut self, id: &str, status: &str) -> Vec<String> {
        self.apply(self.status_event(id, status, None))
    }

    pub fn status_on(&mut self, id: &str, channel: &str, status: &str) -> Vec<String> {
        self.apply(self.status_event(id, status, Some(channel)))
    }

    pub fn status_event(&self, id: &str, status: &str, channel: Option<&str>) -> Event {
        Event::AgentStatus {
            account: self.account.clone(),
            agent: id.into(),
            status: status.into(),
            channel: channel.map(Into::into),
        }
    }

    pub fn remove(&mut self, id: &str) -> Vec<String> {
        self.apply(Event::AgentRemoved { account: self.account.clone(), agent: id.into() })
    }

    /// A message on `conversation` from an unauthenticated WhatsApp user (social messaging).
    pub fn msg(&mut self, conversation: &str) -> Vec<String> {
        self.apply(self.message(conversation).event())
    }

    pub fn message(&self, conversation: &str) -> Msg {
        Msg {
            account: self.account.clone(),
            conversation: conversation.into(),
            attrs: TicketAttrs {
                channel: "messaging".into(),
                via: "whatsapp".into(),
                ..TicketAttrs::default()
            },
        }
    }

    pub fn new_ticket(&self, id: &str, channel: &str) -> NewTicketB {
        NewTicketB {
            account: self.account.clone(),
            ticket: id.into(),
            attrs: TicketAttrs { channel: channel.into(), via: channel.into(), ..TicketAttrs::default() },
        }
    }

    pub fn accept(&mut self, ticket: &str, agent: &str) -> Vec<String> {
        self.apply(self.accept_event(ticket, agent))
    }

    pub fn accept_event(&self, ticket: &str, agent: &str) -> Event {
        Event::OfferAccepted { account: self.account.clone(), ticket: ticket.into(), agent: agent.into() }
    }

    pub fn decline(&mut self, ticket: &str, agent: &str) -> Vec<String> {
        self.apply(Event::OfferDeclined {
            account: self.account.clone(),
            ticket: ticket.into(),
            agent: agent.into(),
        })
    }

    pub fn set(&mut self, ticket: &str, status: &str) -> Vec<String> {
        self.apply(self.set_event(ticket, status))
    }

    pub fn set_event(&self, ticket: &str, status: &str) -> Event {
        Event::TicketStatus {
            account: self.account.clone(),
            ticket: ticket.into(),
            status: TicketStatus::parse(status).expect("status name"),
        }
    }

    pub fn transfer_to_agent(&mut self, ticket: &str, agent: &str) -> Result<Vec<String>, EngineError> {
        self.try_apply(Event::TicketTransferred {
            account: self.account.clone(),
            ticket: ticket.into(),
            to: TransferTarget::Agent(agent.into()),
        })
    }

    pub fn transfer_to_group(&mut self, ticket: &str, group: &str) -> Vec<String> {
        self.apply(Event::TicketTransferred {
            account: self.account.clone(),
            ticket: ticket.into(),
            to: TransferTarget::Group(group.into()),
        })
    }

    pub fn tick(&mut self) -> Vec<String> {
        self.apply(Event::Tick)
    }

    /// A message conversation `conv` offered to and accepted by `agent`.
    pub fn chat_with(&mut self, conv: &str, agent: &str) -> String {
        let id = format!("{conv}#1");
        let fx = self.msg(conv);
        assert!(fx.contains(&format!("offered {id} {agent}")), "expected an offer to {agent}: {fx:?}");
        self.accept(&id, agent);
        id
    }

    pub fn load(&self, agent: &str, channel: &str) -> u32 {
        let a = self.engine.agent(&self.account, agent).expect("agent exists");
        a.channels.iter().find(|c| &*c.channel == channel).expect("channel").load
    }

    pub fn ticket_status(&self, ticket: &str) -> TicketStatus {
        self.engine.ticket(&self.account, ticket).expect("ticket exists").status
    }

    pub fn assignee(&self, ticket: &str) -> Option<String> {
        self.engine.ticket(&self.account, ticket).expect("ticket exists").assignee.map(|a| a.to_string())
    }

    pub fn queued(&self) -> Vec<String> {
        self.engine.queue(&self.account, usize::MAX).iter().map(|q| q.ticket.to_string()).collect()
    }
}

pub struct Msg {
    pub account: String,
    pub conversation: String,
    pub attrs: TicketAttrs,
}

impl Msg {
    pub fn via(mut self, via: &str) -> Self {
        self.attrs.via = via.into();
        self
    }
    pub fn channel(mut self, channel: &str) -> Self {
        self.attrs.channel = channel.into();
        self
    }
    pub fn authenticated(mut self) -> Self {
        self.attrs.authenticated = true;
        self
    }
    pub fn brand(mut self, brand: &str) -> Self {
        self.attrs.brand = Some(brand.into());
        self
    }
    pub fn priority(mut self, p: Priority) -> Self {
        self.attrs.priority = p;
        self
    }
    pub fn group(mut self, g: &str) -> Self {
        self.attrs.group = Some(g.into());
        self
    }
    pub fn skills(mut self, s: &[&str]) -> Self {
        self.attrs.skills = strs(s);
        self
    }
    pub fn optional(mut self, s: &[&str]) -> Self {
        self.attrs.optional_skills = strs(s);
        self
    }
    pub fn style(mut self, s: &str) -> Self {
        self.attrs.style = Some(s.into());
        self
    }
    pub fn event(self) -> Event {
        Event::Message(CustomerMessage {
            account: self.account,
            conversation: self.conversation,
            requester: "customer".into(),
            attrs: self.attrs,
        })
    }
}

pub struct NewTicketB {
    pub account: String,
    pub ticket: String,
    pub attrs: TicketAttrs,
}

impl NewTicketB {
    pub fn priority(mut self, p: Priority) -> Self {
        self.attrs.priority = p;
        self
    }
    pub fn group(mut self, g: &str) -> Self {
        self.attrs.group = Some(g.into());
        self
    }
    pub fn skills(mut self, s: &[&str]) -> Self {
        self.attrs.skills = strs(s);
        self
    }
    pub fn optional(mut self, s: &[&str]) -> Self {
        self.attrs.optional_skills = strs(s);
        self
    }
    pub fn event(self) -> Event {
        Event::TicketCreated(NewTicket {
            account: self.account,
            ticket: self.ticket,
            requester: None,
            attrs: self.attrs,
        })
    }
}

pub fn strs(s: &[&str]) -> Vec<String> {
    s.iter().map(|x| x.to_string()).collect()
}

/// `offered c#1 a1`, `status_changed c#1 new->open accepted`, ...
pub fn render(e: &Effect) -> String {
    let t = &e.ticket;
    match &e.kind {
        EffectKind::TicketCreated { style, follow_up_of, .. } => match follow_up_of {
            Some(f) => format!("ticket_created {t} {style} follow_up_of={f}"),
            None => format!("ticket_created {t} {style}"),
        },
        EffectKind::Offered { agent } => format!("offered {t} {agent}"),
        EffectKind::OfferWithdrawn { agent, reason } => {
            format!("offer_withdrawn {t} {agent} {reason}")
        }
        EffectKind::Assigned { agent } => format!("assigned {t} {agent}"),
        EffectKind::Unassigned { agent, reason } => format!("unassigned {t} {agent} {reason}"),
        EffectKind::StatusChanged { from, to, reason } => {
            format!("status_changed {t} {from}->{to} {reason}")
        }
        EffectKind::Reopened { agent: Some(a) } => format!("reopened {t} {a}"),
        EffectKind::Reopened { agent: None } => format!("reopened {t} -"),
        EffectKind::SkillsRelaxed => format!("skills_relaxed {t}"),
    }
}

/// Asserts effect lists equal, printing both in full on failure.
#[macro_export]
macro_rules! effects {
    ($got:expr, [$($want:expr),* $(,)?]) => {{
        let got: Vec<String> = $got;
        let want: Vec<&str> = vec![$($want),*];
        assert_eq!(got, want, "\n got: {got:#?}\nwant: {want:#?}");
    }};
}
