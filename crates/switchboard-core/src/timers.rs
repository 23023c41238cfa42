//! Due times held inside the engine.
//!
//! Timers are keyed by `(due, seq)`: due order first, then the order they were scheduled in, which
//! is what "Precise readings" 19 asks for. Cancelling removes the entry at once (tickets remember
//! their timer keys), so the map only ever holds live timers.

use crate::types::Millis;
use std::collections::BTreeMap;

/// Identifies one scheduled timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct TimerKey {
    pub due: Millis,
    pub seq: u64,
}

/// What a timer does when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimerKind {
    /// The offer on the ticket times out.
    OfferTimeout,
    /// The ticket's optional skills relax.
    SkillsTimeout,
    /// The solved ticket closes.
    Close,
}

/// A timer's target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timer {
    pub account: u32,
    pub ticket: u32,
    pub kind: TimerKind,
}

/// All live timers of an engine, in firing order.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    map: BTreeMap<TimerKey, Timer>,
    seq: u64,
}

impl Timers {
    pub fn schedule(&mut self, due: Millis, timer: Timer) -> TimerKey {
        self.seq += 1;
        let key = TimerKey { due, seq: self.seq };
        self.map.insert(key, timer);
        key
    }

    /// Puts back a timer with the key it had (restoring a snapshot), keeping `seq` past it.
    pub fn restore(&mut self, key: TimerKey, timer: Timer) {
        self.seq = self.seq.max(key.seq);
        self.map.insert(key, timer);
    }

    /// The sequence number of the last timer scheduled.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Continues numbering after `seq` (restoring a snapshot).
    pub fn set_seq(&mut self, seq: u64) {
        self.seq = self.seq.max(seq);
    }

    pub fn cancel(&mut self, key: TimerKey) {
        let removed = self.map.remove(&key);
        debug_assert!(removed.is_some(), "cancelled a timer that was not scheduled");
    }

    pub fn next_due(&self) -> Option<Millis> {
        self.map.first_key_value().map(|(k, _)| k.due)
    }

    /// Removes and returns the first timer due at or before `now`.
    pub fn pop_due(&mut self, now: Millis) -> Option<(TimerKey, Timer)> {
        let (k, _) = self.map.first_key_value()?;
        if k.due > now {
            return None;
        }
        self.map.pop_first()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ticket: u32) -> Timer {
        Timer { account: 0, ticket, kind: TimerKind::Close }
    }

    #[test]
    fn fire_in_due_order_then_schedule_order() {
        let mut ts = Timers::default();
        ts.schedule(20, t(1));
        ts.schedule(10, t(2));
        ts.schedule(20, t(3));
        let cancelled = ts.schedule(5, t(4));
        ts.cancel(cancelled);
        assert_eq!(ts.next_due(), Some(10));
        let order: Vec<u32> = std::iter::from_fn(|| ts.pop_due(20)).map(|(_, x)| x.ticket).collect();
        assert_eq!(order, vec![2, 1, 3]);
        assert_eq!(ts.len(), 0);
    }

    #[test]
    fn nothing_fires_before_its_time() {
        let mut ts = Timers::default();
        ts.schedule(100, t(1));
        assert!(ts.pop_due(99).is_none());
        assert!(ts.pop_due(100).is_some());
    }
}
