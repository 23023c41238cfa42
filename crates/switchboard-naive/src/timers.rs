//! Every pending timer of every account, in one sorted `Vec`.

use switchboard_core::Millis;

/// The timers, sorted by (due time, scheduling order): the order in which they fire.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    list: Vec<Timer>,
    /// Timers scheduled so far; numbers each one so that timers due together keep their order.
    scheduled: u64,
}

/// Something that happens to a ticket at a set time unless cancelled first.
#[derive(Debug)]
pub(crate) struct Timer {
    pub(crate) due: Millis,
    order: u64,
    pub(crate) account: String,
    pub(crate) ticket: String,
    pub(crate) kind: TimerKind,
}

/// What a timer does when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimerKind {
    /// An offer unanswered for the channel's offer timeout is withdrawn.
    OfferTimeout,
    /// A ticket waiting for the channel's skills timeout since its queue time relaxes.
    SkillsTimeout,
    /// A solved ticket closes after its style's `close_after_solved`.
    Close,
}

impl Timers {
    pub(crate) fn schedule(&mut self, due: Millis, account: &str, ticket: &str, kind: TimerKind) {
        self.scheduled += 1;
        let order = self.scheduled;
        let at = self.list.partition_point(|t| (t.due, t.order) < (due, order));
        self.list
            .insert(at, Timer { due, order, account: account.to_owned(), ticket: ticket.to_owned(), kind });
    }

    /// Drops the ticket's timer of that kind, if it has one.
    pub(crate) fn cancel(&mut self, account: &str, ticket: &str, kind: TimerKind) {
        self.list.retain(|t| !(t.account == account && t.ticket == ticket && t.kind == kind));
    }

    /// Whether the ticket has a timer of that kind.
    pub(crate) fn pending(&self, account: &str, ticket: &str, kind: TimerKind) -> bool {
        self.list.iter().any(|t| t.account == account && t.ticket == ticket && t.kind == kind)
    }

    /// The first timer, when it is due at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Millis) -> Option<Timer> {
        match self.list.first() {
            Some(first) if first.due <= now => Some(self.list.remove(0)),
            _ => None,
        }
    }
}
