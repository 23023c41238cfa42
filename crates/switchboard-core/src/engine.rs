//! The engine: all accounts, one timer queue, one notion of "now".

use crate::account::{Account, Cx};
use crate::config::{Config, ConfigError};
use crate::effect::Effect;
use crate::error::EngineError;
use crate::event::Event;
use crate::timers::Timers;
use crate::types::Millis;
use std::collections::HashMap;
use std::sync::Arc;

/// The routing engine. See the crate documentation for the contract.
#[derive(Debug)]
pub struct Engine {
    config: Config,
    channels: Arc<[Arc<str>]>,
    pub(crate) accounts: Vec<Account>,
    pub(crate) account_ids: HashMap<Arc<str>, u32, ahash::RandomState>,
    pub(crate) timers: Timers,
    now: Millis,
}

impl Engine {
    /// An empty engine at time 0.
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        config.check()?;
        let channels = config.channels.clone().into();
        Ok(Engine {
            config,
            channels,
            accounts: Vec::new(),
            account_ids: HashMap::default(),
            timers: Timers::default(),
            now: 0,
        })
    }

    /// A new, empty account (not yet part of the engine).
    pub(crate) fn new_account(&self, name: &str) -> Account {
        let policy = self.config.policy(name).clone();
        Account::new(self.accounts.len() as u32, name.into(), policy, self.channels.clone())
    }

    /// Adds an account made by [`Engine::new_account`]; returns its handle.
    pub(crate) fn push_account(&mut self, account: Account) -> u32 {
        let a = self.accounts.len() as u32;
        self.account_ids.insert(account.name.clone(), a);
        self.accounts.push(account);
        a
    }

    /// Sets the engine's time (restoring a snapshot).
    pub(crate) fn set_now(&mut self, now: Millis) {
        self.now = self.now.max(now);
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Puts `config` in force from now on, keeping every account, agent, ticket, queue place and
    /// running timer: what happens next follows the new settings (modes, timeouts, styles of new
    /// tickets, assignment method, unified statuses), while timers already running keep their due
    /// times and tickets keep their style. It goes through a snapshot and a restore, so the engine
    /// afterwards is exactly one restored from a snapshot under `config`: replaying from that
    /// snapshot gives what this engine does. Refused, with nothing changed, when the channels
    /// differ or the state does not fit (a style still in use is gone).
    pub fn reconfigure(&mut self, config: Config) -> Result<(), ConfigError> {
        config.check()?;
        if config.channels != self.config.channels {
            return Err(ConfigError(format!(
                "the channels cannot change while running (from {} to {}): restart to change them",
                join(&self.config.channels),
                join(&config.channels)
            )));
        }
        let engine = Engine::restore(config, &self.snapshot())
            .map_err(|e| ConfigError(format!("the running state does not fit it: {e}")))?;
        *self = engine;
        Ok(())
    }

    /// The latest time the engine has seen.
    pub fn now(&self) -> Millis {
        self.now
    }

    /// When the next timer falls due, so a driver knows when to call [`Engine::advance`].
    pub fn next_deadline(&self) -> Option<Millis> {
        self.timers.next_due()
    }

    /// Fires, in due order, every timer due at or before `now`, each at its own due time and
    /// followed by the routing it triggers. Time never goes backwards: an earlier `now` is taken as
    /// the current time.
    pub fn advance(&mut self, now: Millis, out: &mut Vec<Effect>) {
        let now = now.max(self.now);
        while let Some((key, timer)) = self.timers.pop_due(now) {
            self.now = self.now.max(key.due);
            let mut cx = Cx { now: self.now, out, timers: &mut self.timers };
            self.accounts[timer.account as usize].fire(&mut cx, timer.ticket, timer.kind);
        }
        self.now = now;
    }

    /// Applies one event at time `now`: first the timers due by then fire (their effects go to `out`
    /// even if the event is then refused), then the event's own effects and the routing it
    /// triggers. A refused event changes nothing and adds nothing to `out` itself.
    pub fn apply(&mut self, event: &Event, now: Millis, out: &mut Vec<Effect>) -> Result<(), EngineError> {
        self.advance(now, out);
        let Some(name) = event.account() else {
            return Ok(());
        };
        let (a, created) = match self.account_ids.get(name) {
            Some(&a) => (a, false),
            None => {
                let account = self.new_account(name);
                (self.push_account(account), true)
            }
        };
        let account = &mut self.accounts[a as usize];
        let mut cx = Cx { now: self.now, out, timers: &mut self.timers };
        let result = match event {
            Event::AgentUpserted { agent, groups, skills, capacity, .. } => {
                account.upsert_agent(&mut cx, agent, groups, skills, capacity)
            }
            Event::AgentStatus { agent, status, channel, .. } => {
                account.agent_status(&mut cx, agent, status, channel.as_deref())
            }
            Event::AgentRemoved { agent, .. } => account.remove_agent(&mut cx, agent),
            Event::Message(m) => account.message(&mut cx, m),
            Event::TicketCreated(t) => account.create(&mut cx, t),
            Event::OfferAccepted { ticket, agent, .. } => account.offer_answer(&mut cx, ticket, agent, true),
            Event::OfferDeclined { ticket, agent, .. } => account.offer_answer(&mut cx, ticket, agent, false),
            Event::TicketStatus { ticket, status, .. } => account.set_status(&mut cx, ticket, *status),
            Event::TicketTransferred { ticket, to, .. } => account.transfer(&mut cx, ticket, to),
            Event::Tick => Ok(()),
        };
        if result.is_err() && created && account.is_empty() {
            // A refused first event must not leave an empty account behind.
            self.accounts.pop();
            self.account_ids.remove(name);
        }
        result
    }
}

fn join(names: &[Arc<str>]) -> String {
    names.iter().map(|n| &**n).collect::<Vec<_>>().join(", ")
}
