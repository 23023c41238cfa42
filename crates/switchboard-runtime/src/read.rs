//! Read models: what dashboards poll (agents, account counts), kept up to date by the shards and read
//! without stopping one.
//!
//! After every batch of events (and every firing of timers) a shard refreshes the views of the agents
//! the events and their effects touched, and the counts of the accounts they touched (at most every
//! [`STATS_EVERY_MS`], so a busy account costs one recount per interval, not one per event). Readers
//! take a `DashMap` shard lock for an account's entry and a `parking_lot` read lock on its agents;
//! the writer holds the write lock only to swap a few views in.
//!
//! Tickets are not copied here: there can be millions, and one ticket is a hash lookup on its shard
//! (microseconds between two events), so `GetTicket` and `ListQueue` ask the shard.

use dashmap::DashMap;
use parking_lot::RwLock;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use switchboard_core::view::{AccountStats, AgentView};
use switchboard_core::{Effect, EffectKind, Engine, Event, Millis};

/// The longest an account's counts may lag behind its events.
pub const STATS_EVERY_MS: Millis = 100;

/// One account's views.
#[derive(Debug, Default)]
struct AccountModel {
    agents: RwLock<BTreeMap<Arc<str>, AgentView>>,
    stats: RwLock<Option<AccountStats>>,
}

/// Every account's views.
#[derive(Debug, Default)]
pub struct ReadModel {
    accounts: DashMap<Arc<str>, Arc<AccountModel>>,
}

impl ReadModel {
    fn account(&self, name: &str) -> Option<Arc<AccountModel>> {
        self.accounts.get(name).map(|a| a.clone())
    }

    fn account_or_new(&self, name: &Arc<str>) -> Arc<AccountModel> {
        // A read lock first: `entry` write-locks the map's part even when the account exists, and
        // two shards publishing at once then wait for each other.
        if let Some(account) = self.accounts.get(name) {
            return account.clone();
        }
        self.accounts.entry(name.clone()).or_default().clone()
    }

    /// One agent, as of the last batch of its shard.
    pub fn agent(&self, account: &str, agent: &str) -> Option<AgentView> {
        self.account(account)?.agents.read().get(agent).cloned()
    }

    /// An account's agents sorted by id; `None` for an account never seen.
    pub fn agents(&self, account: &str) -> Option<Vec<AgentView>> {
        Some(self.account(account)?.agents.read().values().cloned().collect())
    }

    /// An account's counts, at most [`STATS_EVERY_MS`] old; `None` for an account never seen.
    pub fn stats(&self, account: &str) -> Option<AccountStats> {
        self.account(account)?.stats.read().clone()
    }

    /// Every account's counts.
    pub fn all_stats(&self) -> Vec<AccountStats> {
        let mut out: Vec<AccountStats> =
            self.accounts.iter().filter_map(|a| a.stats.read().clone()).collect();
        out.sort_by(|a, b| a.account.cmp(&b.account));
        out
    }

    /// Every account known.
    pub fn account_names(&self) -> Vec<Arc<str>> {
        let mut names: Vec<Arc<str>> = self.accounts.iter().map(|a| a.key().clone()).collect();
        names.sort();
        names
    }

    /// Publishes every view of an engine (after recovery).
    pub fn load(&self, engine: &Engine) {
        for name in engine.account_names() {
            let model = self.account_or_new(&name);
            *model.agents.write() = engine.agents(&name).into_iter().map(|a| (a.id.clone(), a)).collect();
            *model.stats.write() = engine.stats(&name);
        }
    }
}

/// What a shard's batch touched, collected as it goes and published at its end.
#[derive(Debug, Default)]
pub(crate) struct Touched {
    agents: HashSet<(Arc<str>, Arc<str>)>,
    /// Tickets whose status changed: their assignee's load may have.
    tickets: HashSet<(Arc<str>, Arc<str>)>,
    accounts: HashSet<Arc<str>>,
}

impl Touched {
    /// Notes the agents and account an event names.
    pub fn event(&mut self, event: &Event) {
        let Some(account) = event.account() else { return };
        let agent = match event {
            Event::AgentUpserted { agent, .. }
            | Event::AgentStatus { agent, .. }
            | Event::AgentRemoved { agent, .. }
            | Event::OfferAccepted { agent, .. }
            | Event::OfferDeclined { agent, .. } => Some(agent.as_str()),
            Event::TicketTransferred { to: switchboard_core::TransferTarget::Agent(agent), .. } => {
                Some(agent.as_str())
            }
            _ => None,
        };
        let account: Arc<str> = account.into();
        if let Some(agent) = agent {
            self.agents.insert((account.clone(), agent.into()));
        }
        self.accounts.insert(account);
    }

    /// Notes the agents and accounts effects name.
    pub fn effects(&mut self, effects: &[Effect]) {
        for e in effects {
            let agent = match &e.kind {
                EffectKind::Offered { agent }
                | EffectKind::OfferWithdrawn { agent, .. }
                | EffectKind::Assigned { agent }
                | EffectKind::Unassigned { agent, .. }
                | EffectKind::Reopened { agent: Some(agent) } => Some(agent),
                _ => None,
            };
            if let Some(agent) = agent {
                self.agents.insert((e.account.clone(), agent.clone()));
            }
            if matches!(e.kind, EffectKind::StatusChanged { .. }) {
                self.tickets.insert((e.account.clone(), e.ticket.clone()));
            }
            if !self.accounts.contains(&e.account) {
                self.accounts.insert(e.account.clone());
            }
        }
    }

    /// Refreshes the touched views from the engine and forgets them; accounts whose counts were
    /// refreshed less than [`STATS_EVERY_MS`] ago stay noted for a later call.
    pub fn publish(
        &mut self,
        engine: &Engine,
        model: &ReadModel,
        now: Millis,
        last_stats: &mut BTreeMap<Arc<str>, Millis>,
    ) {
        for (account, ticket) in self.tickets.drain() {
            if let Some(agent) = engine.ticket_assignee(&account, &ticket) {
                self.agents.insert((account, agent));
            }
        }
        for (account, agent) in self.agents.drain() {
            let m = model.account_or_new(&account);
            let view = engine.agent(&account, &agent);
            let mut agents = m.agents.write();
            match view {
                Some(v) => {
                    agents.insert(agent, v);
                }
                None => {
                    agents.remove(&agent);
                }
            }
        }
        self.accounts.retain(|account| {
            let last = last_stats.entry(account.clone()).or_insert(0);
            if now.saturating_sub(*last) < STATS_EVERY_MS && *last != 0 {
                return true;
            }
            *last = now;
            if let Some(stats) = engine.stats(account) {
                *model.account_or_new(account).stats.write() = Some(stats);
            }
            false
        });
    }

    /// Whether some counts wait for their interval.
    pub fn pending(&self) -> bool {
        !self.accounts.is_empty()
    }
}
