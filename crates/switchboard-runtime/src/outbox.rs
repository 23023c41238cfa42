//! The outbox: every effect, numbered, for a publisher that must lose none (the NATS bus).
//!
//! Watchers get effects through a broadcast channel that drops the oldest for a slow reader; a bus
//! publisher cannot accept that, so with [`crate::Options::outbox`] each shard also sends its
//! effects here, in order, and waits when the outbox is full: routing slows down to what the
//! publisher can take rather than losing effects.
//!
//! Every effect carries its number within its account ([`Engine::effects_emitted`]), so that
//! `(account, number)` names it across restarts. Two rules make "published at least once" hold
//! across crashes, and the stable names turn it into "exactly once" for a publisher whose broker
//! drops repeated ids (JetStream's `Nats-Msg-Id`):
//!
//! - at start, the effects of the log records replayed after the snapshot are handed over again
//!   ([`Outbox::recovered`]): some were published before the crash, some perhaps not;
//! - a shard takes a snapshot only once the publisher has confirmed ([`Outbox::confirm`]) every
//!   effect the shard sent, so that no effect of an event the snapshot covers can still be
//!   unpublished.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use switchboard_core::{Effect, Engine};
use tokio::sync::mpsc;

/// An effect and its number within its account (from 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberedEffect {
    /// The effect's number within its account: the account's n-th effect ever.
    pub seq: u64,
    /// The effect.
    pub effect: Effect,
}

/// Effects of one shard, in the order it emitted them.
#[derive(Debug)]
pub struct Batch {
    /// The shard that emitted them.
    pub shard: usize,
    /// How many effects the shard had sent to the outbox once these were included: the value to
    /// [`Outbox::confirm`] once they are all published.
    pub upto: u64,
    /// The effects.
    pub effects: Vec<NumberedEffect>,
}

/// The receiving end, for the publisher.
#[derive(Debug)]
pub struct Outbox {
    /// Effects of the log records replayed at start, one batch per shard that had any: publish
    /// them before anything from [`Outbox::recv`].
    pub recovered: Vec<Batch>,
    rx: mpsc::Receiver<Batch>,
    confirmed: Arc<[AtomicU64]>,
}

impl Outbox {
    /// The next batch; `None` once the runtime has stopped and everything was received.
    pub async fn recv(&mut self) -> Option<Batch> {
        self.rx.recv().await
    }

    /// The next batch if one is ready now.
    pub fn try_recv(&mut self) -> Option<Batch> {
        self.rx.try_recv().ok()
    }

    /// Records that every effect of `shard` up to `upto` (a [`Batch::upto`]) is published.
    pub fn confirm(&self, shard: usize, upto: u64) {
        if let Some(c) = self.confirmed.get(shard) {
            c.fetch_max(upto, Ordering::AcqRel);
        }
    }
}

/// A shard's sending end.
#[derive(Debug)]
pub(crate) struct Sender {
    shard: usize,
    tx: mpsc::Sender<Batch>,
    sent: u64,
    confirmed: Arc<[AtomicU64]>,
}

/// Creates the outbox for `shards` shards; `recovered[i]` are shard `i`'s replayed effects.
pub(crate) fn channel(capacity: usize, recovered: Vec<Vec<NumberedEffect>>) -> (Vec<Sender>, Outbox) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let confirmed: Arc<[AtomicU64]> = recovered.iter().map(|_| AtomicU64::new(0)).collect();
    let mut senders = Vec::with_capacity(recovered.len());
    let mut batches = Vec::new();
    for (shard, effects) in recovered.into_iter().enumerate() {
        let sent = effects.len() as u64;
        if !effects.is_empty() {
            batches.push(Batch { shard, upto: sent, effects });
        }
        senders.push(Sender { shard, tx: tx.clone(), sent, confirmed: confirmed.clone() });
    }
    (senders, Outbox { recovered: batches, rx, confirmed })
}

impl Sender {
    /// Sends the effects `engine` just emitted, numbered; waits while the outbox is full. A
    /// publisher that has gone away (the bus stopped) is not waited for.
    pub fn send(&mut self, engine: &Engine, effects: &[Effect]) {
        if effects.is_empty() {
            return;
        }
        self.sent += effects.len() as u64;
        let batch = Batch { shard: self.shard, upto: self.sent, effects: number(engine, effects) };
        // The shard is a plain thread, never inside the async runtime, so blocking here is allowed.
        let _ = self.tx.blocking_send(batch);
    }

    /// Whether the publisher has confirmed everything sent, waiting up to `patience` for it. A
    /// publisher that has gone away will confirm nothing more: no waiting for it.
    pub fn caught_up(&self, patience: Duration) -> bool {
        let deadline = Instant::now() + patience;
        loop {
            if self.confirmed[self.shard].load(Ordering::Acquire) >= self.sent {
                return true;
            }
            if self.tx.is_closed() || Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Effects sent and not yet confirmed.
    pub fn unconfirmed(&self) -> u64 {
        self.sent.saturating_sub(self.confirmed[self.shard].load(Ordering::Acquire))
    }
}

/// Numbers `effects`, which `engine` emitted last (so its counts already include them).
pub(crate) fn number(engine: &Engine, effects: &[Effect]) -> Vec<NumberedEffect> {
    // Per account, the number before the first of them; usually one account, so a short list.
    let mut next: Vec<(&str, u64)> = Vec::new();
    effects
        .iter()
        .map(|e| {
            let account: &str = &e.account;
            let slot = match next.iter().position(|(a, _)| *a == account) {
                Some(i) => i,
                None => {
                    let here = effects.iter().filter(|x| *x.account == *account).count() as u64;
                    next.push((account, engine.effects_emitted(account) - here));
                    next.len() - 1
                }
            };
            next[slot].1 += 1;
            NumberedEffect { seq: next[slot].1, effect: e.clone() }
        })
        .collect()
}
