//! The straightforward router: a second, deliberately plain implementation of `routing.md`.
//!
//! [`NaiveRouter`] has the same interface as [`switchboard_core::Engine`] (`new`, `now`,
//! `advance`, `apply`, and [`switchboard_wire::Known`] for decoding) and is written from the spec
//! alone, without looking at the engine's internals. It exists for two reasons:
//!
//! - **An oracle.** Differential tests feed the same events to both and require identical effects,
//!   so a mistake has to be made twice, independently, to go unnoticed.
//! - **A baseline.** Benchmarks compare the engine against "the obvious way": one owner of all
//!   state, linear scans, a sorted-vector queue.
//!
//! It is slow on purpose. Nothing is indexed or cached across steps: every routing pass walks the
//! whole queue and, for each waiting ticket, every agent of the account; agents' loads are recounted
//! from the account's tickets at each pass (closed tickets are set aside, since nothing can happen
//! to them); timers live in one sorted `Vec` and are cancelled by scanning it. Each of those choices
//! trades speed for code that can be checked against the spec by reading it.
//!
//! # Readings
//!
//! Where `routing.md` leaves a choice open, this router reads it as follows (the engine agrees, as
//! the differential test checks):
//!
//! - **Refusal order.** An event's own values (channel, style and status names) are judged before
//!   the state; then the ticket before the agent; a transfer's ticket being closed before its
//!   target agent. Through the replay format the decoder has already refused unknown ids, in field
//!   order.
//! - **Agent lives.** An agent removed and upserted again is a new agent: offline, never assigned,
//!   excluded from nothing, and not the holder of the tickets the removed one kept (reading 16),
//!   so a customer reply still reroutes those.
//! - **Opening a ticket whose holder was removed.** An agent's `open` on such a ticket unassigns
//!   it (`agent_unavailable`) and routes it afresh with a new queue time, as a customer reply
//!   would.
//! - **Skills timeout.** It runs only while a ticket waits with no assignee (queued or on offer):
//!   an assignment stops it, and requeueing resumes it, due at queue time + timeout and ordered
//!   after timers of that due time scheduled before; it relaxes a ticket at most once per queue
//!   time.

mod account;
mod timers;

use account::Account;
use std::collections::BTreeMap;
use std::sync::Arc;
use switchboard_core::config::{ConfigError, Policy};
use switchboard_core::{
    AgentStatus, Config, CustomerMessage, Effect, EffectKind, EngineError, Event, Millis, NewTicket,
    TicketStatus, TransferTarget,
};
use timers::{TimerKind, Timers};

/// A complete router for every account of one configuration, with no clock: time comes in with
/// each call, as for [`switchboard_core::Engine`].
#[derive(Debug)]
pub struct NaiveRouter {
    config: Config,
    now: Millis,
    accounts: BTreeMap<String, Account>,
    timers: Timers,
}

impl NaiveRouter {
    /// An empty router at time 0.
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        config.check()?;
        Ok(NaiveRouter { config, now: 0, accounts: BTreeMap::new(), timers: Timers::default() })
    }

    /// The latest time the router has seen.
    pub fn now(&self) -> Millis {
        self.now
    }

    /// Fires every timer due at or before `now`, in (due time, scheduling order), each at its own
    /// due time and followed by the routing it triggers. An earlier `now` leaves time where it is.
    pub fn advance(&mut self, now: Millis, out: &mut Vec<Effect>) {
        while let Some(timer) = self.timers.pop_due(now) {
            self.now = self.now.max(timer.due);
            let policy = self.config.policy(&timer.account);
            let account = self
                .accounts
                .get_mut(&timer.account)
                .expect("timers are only scheduled for tickets of existing accounts");
            let mut step = Step {
                now: self.now,
                channels: &self.config.channels,
                account: &timer.account,
                policy,
                timers: &mut self.timers,
                out,
            };
            account.fire(&timer, &mut step);
            account.route(&mut step);
        }
        self.now = self.now.max(now);
    }

    /// Applies one event at `now`: the timers due by then fire first (their effects stay in `out`
    /// even when the event is refused), then the event's own effects, then routing. A refused event
    /// changes nothing: every check runs before the first change.
    pub fn apply(&mut self, event: &Event, now: Millis, out: &mut Vec<Effect>) -> Result<(), EngineError> {
        self.advance(now, out);
        let Some(name) = event.account() else {
            return Ok(()); // a tick only moves time
        };
        self.check(name, event)?;
        let policy = self.config.policy(name);
        let account = self.accounts.entry(name.to_owned()).or_default();
        let mut step = Step {
            now: self.now,
            channels: &self.config.channels,
            account: name,
            policy,
            timers: &mut self.timers,
            out,
        };
        account.act(event, &mut step);
        // Routing after every event, whether or not it could change anything: a pass over a queue
        // nobody can serve is a no-op, and deciding when it is needed is the engine's cleverness.
        account.route(&mut step);
        Ok(())
    }

    /// Every reason to refuse `event`, judged before anything changes: first the event's own values
    /// against the configuration (wrong whatever the state), then against the account's state.
    fn check(&self, name: &str, event: &Event) -> Result<(), EngineError> {
        self.check_arguments(name, event)?;
        self.check_state(name, event)
    }

    /// Channel, style and status names.
    fn check_arguments(&self, name: &str, event: &Event) -> Result<(), EngineError> {
        let policy = self.config.policy(name);
        let invalid_status = |given: &str, allowed: Vec<&str>| EngineError::InvalidStatus {
            given: given.to_owned(),
            allowed: allowed.join(", "),
        };
        match event {
            Event::AgentUpserted { capacity, .. } => {
                for (channel, _) in capacity {
                    self.channel(channel, "capacity")?;
                }
            }
            Event::AgentStatus { status, channel: Some(channel), .. } => {
                self.channel(channel, "channel")?;
                if AgentStatus::parse(status).is_none() {
                    let allowed = AgentStatus::ALL.iter().map(|s| s.as_str()).collect();
                    return Err(invalid_status(status, allowed));
                }
            }
            Event::AgentStatus { status, channel: None, .. } => {
                if policy.unified(status).is_none() {
                    let allowed = policy.unified_statuses.iter().map(|u| u.name.as_str());
                    return Err(invalid_status(status, allowed.collect()));
                }
            }
            Event::Message(CustomerMessage { attrs, .. }) | Event::TicketCreated(NewTicket { attrs, .. }) => {
                self.channel(&attrs.channel, "channel")?;
                if let Some(style) = &attrs.style
                    && policy.style_index(style).is_none()
                {
                    return Err(EngineError::UnknownStyle(style.clone()));
                }
            }
            Event::TicketStatus { status, .. } => {
                if !TicketStatus::AGENT_SETTABLE.contains(status) {
                    let allowed = TicketStatus::AGENT_SETTABLE.iter().map(|s| s.as_str());
                    return Err(invalid_status(status.as_str(), allowed.collect()));
                }
            }
            Event::AgentRemoved { .. }
            | Event::OfferAccepted { .. }
            | Event::OfferDeclined { .. }
            | Event::TicketTransferred { .. }
            | Event::Tick => {}
        }
        Ok(())
    }

    /// Existence of what the event names, and whether the state allows the action.
    fn check_state(&self, name: &str, event: &Event) -> Result<(), EngineError> {
        let none = Account::default();
        let account = self.accounts.get(name).unwrap_or(&none);
        match event {
            Event::AgentStatus { agent, .. } | Event::AgentRemoved { agent, .. } => {
                account.agent(agent)?;
            }
            Event::Message(message) => {
                if let Some(id) = account.ticket_to_create(&message.conversation)
                    && account.has_ticket(&id)
                {
                    return Err(EngineError::TicketExists { field: "conversation", ticket: id });
                }
            }
            Event::TicketCreated(new) => {
                if account.has_ticket(&new.ticket) {
                    return Err(EngineError::TicketExists { field: "ticket", ticket: new.ticket.clone() });
                }
            }
            Event::OfferAccepted { ticket, agent, .. } | Event::OfferDeclined { ticket, agent, .. } => {
                let t = account.ticket(ticket)?;
                account.agent(agent)?;
                if t.and_then(|t| t.offered_to.as_ref()) != Some(&account.agent_ref(agent)) {
                    return Err(EngineError::NotOnOffer { ticket: ticket.clone(), agent: agent.clone() });
                }
            }
            Event::TicketStatus { ticket, .. } => {
                let Some(t) = account.ticket(ticket)? else {
                    return Err(EngineError::TicketClosed(ticket.clone()));
                };
                if t.assignee.is_none() {
                    return Err(EngineError::NoAssignee(ticket.clone()));
                }
            }
            Event::TicketTransferred { ticket, to, .. } => {
                let Some(t) = account.ticket(ticket)? else {
                    return Err(EngineError::TicketClosed(ticket.clone()));
                };
                if let TransferTarget::Agent(agent) = to
                    && let a = account.agent(agent)?
                    && !a.status[t.channel].accepts_transfers()
                {
                    return Err(EngineError::AgentNotAcceptingTransfers {
                        agent: agent.clone(),
                        status: a.status[t.channel].as_str(),
                        channel: self.config.channels[t.channel].to_string(),
                    });
                }
            }
            Event::AgentUpserted { .. } | Event::Tick => {}
        }
        Ok(())
    }

    fn channel(&self, channel: &str, field: &'static str) -> Result<usize, EngineError> {
        self.config
            .channel_index(channel)
            .ok_or_else(|| EngineError::UnknownChannel { field, channel: channel.to_owned() })
    }
}

/// The router always knows: every answer is `Some`.
impl switchboard_wire::Known for NaiveRouter {
    fn ticket(&self, account: &str, ticket: &str) -> Option<bool> {
        let account = self.accounts.get(account);
        Some(account.is_some_and(|a| a.has_ticket(ticket)))
    }

    fn agent(&self, account: &str, agent: &str) -> Option<bool> {
        let account = self.accounts.get(account);
        Some(account.is_some_and(|a| a.agents.contains_key(agent)))
    }

    fn channel(&self, channel: &str) -> Option<bool> {
        Some(self.config.channel_index(channel).is_some())
    }

    fn style(&self, account: &str, style: &str) -> Option<bool> {
        Some(self.config.policy(account).style_index(style).is_some())
    }
}

/// What one event or timer works with besides its account's state: the time, the account's name
/// and policy, the configured channels, the shared timers and the effects written so far.
struct Step<'a> {
    now: Millis,
    channels: &'a [Arc<str>],
    account: &'a str,
    policy: &'a Policy,
    timers: &'a mut Timers,
    out: &'a mut Vec<Effect>,
}

impl Step<'_> {
    fn channel(&self, name: &str) -> usize {
        self.channels
            .iter()
            .position(|c| &**c == name)
            .expect("channel names are checked before they are used")
    }

    fn emit(&mut self, ticket: &str, kind: EffectKind) {
        self.out.push(Effect {
            at: self.now,
            account: Arc::from(self.account),
            ticket: Arc::from(ticket),
            kind,
        });
    }

    fn schedule(&mut self, due: Millis, ticket: &str, kind: TimerKind) {
        self.timers.schedule(due, self.account, ticket, kind);
    }

    fn cancel(&mut self, ticket: &str, kind: TimerKind) {
        self.timers.cancel(self.account, ticket, kind);
    }

    fn pending(&self, ticket: &str, kind: TimerKind) -> bool {
        self.timers.pending(self.account, ticket, kind)
    }
}
