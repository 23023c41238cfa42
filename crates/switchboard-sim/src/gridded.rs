//! A simulated workload on a time grid, for tests that feed it through many clients at once.
//!
//! Concurrent clients cannot keep the order of events across accounts, only within one; so that a
//! sequential replay of each account still gives what the daemon gives, events are taken at times
//! rounded up to a grid and sent round by round. The simulator is driven by an engine of its own
//! (accepts answer real offers, replies reach real tickets); timers due by an event's rounded time
//! fire, and are observed, before the event is taken.

use crate::{SimEvent, SimParams, Simulator};
use std::collections::HashMap;
use switchboard_core::{Config, Engine, Event, Millis};

/// The events of a simulated centre, on a grid.
#[derive(Debug, Clone)]
pub struct Gridded {
    /// Account names, in order of first event.
    pub accounts: Vec<String>,
    /// The round times, increasing, moved by the shift asked for.
    pub times: Vec<Millis>,
    /// Every event in generation order: `(round, account, event)`, indexes into `times` and
    /// `accounts`.
    pub events: Vec<(usize, usize, Event)>,
    /// Events the generating engine refused (the simulator acted on a state the rounding
    /// changed), left out.
    pub dropped: usize,
}

/// Up to `events` events of a centre run with `params` under the default configuration, at times
/// rounded up to multiples of `grid` and then moved forward by `shift`.
pub fn gridded(params: SimParams, grid: Millis, events: usize, shift: Millis) -> Gridded {
    let grid = grid.max(1);
    let q = |t: Millis| t.div_ceil(grid) * grid;
    let mut engine = Engine::new(Config::default()).expect("the default config is valid");
    let mut sim = Simulator::new(params);
    let mut w = Gridded { accounts: Vec::new(), times: Vec::new(), events: Vec::new(), dropped: 0 };
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut effects = Vec::new();
    while w.events.len() < events {
        let deadline = engine.next_deadline();
        let due = sim.peek_time();
        if let Some(d) = deadline
            && due.is_none_or(|t| d <= q(t))
        {
            effects.clear();
            engine.advance(d, &mut effects);
            sim.observe(&effects);
            continue;
        }
        let Some(due) = due else { break };
        let Some(SimEvent::Event { at, event }) = sim.next_due(due) else { continue };
        let at = q(at);
        effects.clear();
        let applied = engine.apply(&event, at, &mut effects);
        sim.observe(&effects);
        if applied.is_err() {
            w.dropped += 1;
            continue;
        }
        let Some(name) = event.account() else { continue };
        let next = index.len();
        let account = *index.entry(name.to_owned()).or_insert(next);
        if account == w.accounts.len() {
            w.accounts.push(name.to_owned());
        }
        if w.times.last() != Some(&(at + shift)) {
            w.times.push(at + shift);
        }
        w.events.push((w.times.len() - 1, account, event));
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_fall_on_the_grid_in_rounds_and_repeat_with_the_seed() {
        let params = || SimParams { accounts: 3, agents_per_account: 4, seed: 9, ..SimParams::default() };
        let w = gridded(params(), 10_000, 500, 7);
        assert_eq!(w.events.len(), 500);
        assert!(w.times.windows(2).all(|p| p[0] < p[1]), "rounds increase");
        assert!(w.times.iter().all(|t| (t - 7) % 10_000 == 0), "on the grid, shifted");
        assert!(w.events.windows(2).all(|p| p[0].0 <= p[1].0), "in round order");
        assert_eq!(w.accounts.len(), 3);
        let again = gridded(params(), 10_000, 500, 7);
        assert_eq!(format!("{:?}", again.events), format!("{:?}", w.events));
    }
}
