//! Effects for watchers: shards broadcast the effects of a whole batch as one message, and each
//! watcher reads them back one effect at a time.
//!
//! One message per batch rather than per effect is what keeps watchers cheap under load: a send
//! wakes every waiting watcher, so per-effect sends cost a thread wakeup per effect and watcher.
//! Batches are numbered by their first effect across the runtime (the numbering and the send happen
//! under one lock, so numbers rise in channel order), which lets a watcher that fell behind say
//! exactly how many effects it lost, although the channel itself only counts messages.

use parking_lot::Mutex;
use std::sync::Arc;
use switchboard_core::Effect;
use thiserror::Error;
use tokio::sync::broadcast;

/// The effects of one shard batch (or timer round).
#[derive(Debug)]
pub(crate) struct EffectBatch {
    /// The runtime-wide number of the first effect.
    first: u64,
    effects: Vec<Effect>,
}

/// Most effects in one message, so that the channel's buffer (counted in messages) holds at most
/// this many times its length in effects, however large the batches.
const MAX_EFFECTS_PER_MESSAGE: usize = 32;

/// The sending side, shared by every shard.
#[derive(Debug)]
pub(crate) struct Broadcaster {
    tx: broadcast::Sender<Arc<EffectBatch>>,
    /// The number the next batch's first effect gets.
    next: Mutex<u64>,
}

impl Broadcaster {
    /// A channel holding up to `batches` unread batches per watcher.
    pub fn new(batches: usize) -> Self {
        let (tx, _) = broadcast::channel(batches.max(1));
        Broadcaster { tx, next: Mutex::new(0) }
    }

    /// Whether anybody watches.
    pub fn is_watched(&self) -> bool {
        self.tx.receiver_count() > 0
    }

    /// Hands `effects` to every watcher, in messages of at most [`MAX_EFFECTS_PER_MESSAGE`];
    /// never waits.
    pub fn send(&self, effects: Vec<Effect>) {
        let mut effects = effects.into_iter().peekable();
        let mut next = self.next.lock();
        while effects.peek().is_some() {
            let piece: Vec<Effect> = effects.by_ref().take(MAX_EFFECTS_PER_MESSAGE).collect();
            let first = *next;
            *next += piece.len() as u64;
            // An error only means nobody watches: nothing to do.
            let _ = self.tx.send(Arc::new(EffectBatch { first, effects: piece }));
        }
    }

    pub fn subscribe(&self) -> EffectReceiver {
        // Under the lock, so that the first batch the receiver can see is numbered `next`.
        let next = self.next.lock();
        EffectReceiver { rx: self.tx.subscribe(), batch: None, pos: 0, expected: *next }
    }
}

/// Why [`EffectReceiver::recv`] returned no effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RecvError {
    /// The watcher fell behind and this many effects were dropped; the next call goes on with the
    /// oldest effect still held.
    #[error("fell behind: {0} effects dropped")]
    Lagged(u64),
    /// The runtime is gone.
    #[error("the runtime has stopped")]
    Closed,
}

/// Why [`EffectReceiver::try_recv`] returned no effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum TryRecvError {
    /// Nothing new yet.
    #[error("no effect waiting")]
    Empty,
    /// As [`RecvError::Lagged`].
    #[error("fell behind: {0} effects dropped")]
    Lagged(u64),
    /// The runtime is gone.
    #[error("the runtime has stopped")]
    Closed,
}

/// Every effect from the moment of subscribing, in the order shards produced them (per account:
/// the order of its events). A watcher that falls more than the buffer behind loses the oldest
/// effects and is told how many; it never slows a shard down.
#[derive(Debug)]
pub struct EffectReceiver {
    rx: broadcast::Receiver<Arc<EffectBatch>>,
    batch: Option<Arc<EffectBatch>>,
    pos: usize,
    /// The number of the next effect expected.
    expected: u64,
}

impl EffectReceiver {
    /// The next effect, waiting for one.
    pub async fn recv(&mut self) -> Result<Effect, RecvError> {
        loop {
            if let Some(e) = self.buffered() {
                return Ok(e);
            }
            match self.rx.recv().await {
                Ok(batch) => {
                    if let Some(lost) = self.start(batch) {
                        return Err(RecvError::Lagged(lost));
                    }
                }
                // The next batch's number tells how many effects were lost.
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return Err(RecvError::Closed),
            }
        }
    }

    /// The next effect if one is waiting.
    pub fn try_recv(&mut self) -> Result<Effect, TryRecvError> {
        loop {
            if let Some(e) = self.buffered() {
                return Ok(e);
            }
            match self.rx.try_recv() {
                Ok(batch) => {
                    if let Some(lost) = self.start(batch) {
                        return Err(TryRecvError::Lagged(lost));
                    }
                }
                Err(broadcast::error::TryRecvError::Lagged(_)) => {}
                Err(broadcast::error::TryRecvError::Empty) => return Err(TryRecvError::Empty),
                Err(broadcast::error::TryRecvError::Closed) => return Err(TryRecvError::Closed),
            }
        }
    }

    fn buffered(&mut self) -> Option<Effect> {
        let batch = self.batch.as_ref()?;
        match batch.effects.get(self.pos) {
            Some(e) => {
                self.pos += 1;
                Some(e.clone())
            }
            None => {
                self.batch = None;
                None
            }
        }
    }

    /// Takes `batch` as the current one; returns how many effects were lost before it, if any.
    fn start(&mut self, batch: Arc<EffectBatch>) -> Option<u64> {
        let lost = batch.first.saturating_sub(self.expected);
        self.expected = batch.first + batch.effects.len() as u64;
        self.batch = Some(batch);
        self.pos = 0;
        (lost > 0).then_some(lost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::EffectKind;

    fn effects(n: usize, tag: &str) -> Vec<Effect> {
        (0..n)
            .map(|i| Effect {
                at: i as u64,
                account: "a".into(),
                ticket: format!("{tag}{i}").into(),
                kind: EffectKind::SkillsRelaxed,
            })
            .collect()
    }

    fn ids(rx: &mut EffectReceiver) -> Vec<Result<String, TryRecvError>> {
        let mut out = Vec::new();
        loop {
            match rx.try_recv() {
                Err(TryRecvError::Empty) => return out,
                r => out.push(r.map(|e| e.ticket.to_string())),
            }
        }
    }

    #[test]
    fn batches_are_read_one_effect_at_a_time_in_order() {
        let b = Broadcaster::new(8);
        let mut rx = b.subscribe();
        b.send(effects(2, "x"));
        b.send(Vec::new());
        b.send(effects(1, "y"));
        let got = ids(&mut rx);
        assert_eq!(got, vec![Ok("x0".into()), Ok("x1".into()), Ok("y0".into())]);
    }

    #[test]
    fn a_watcher_behind_is_told_exactly_how_many_effects_it_lost() {
        let b = Broadcaster::new(2);
        let mut rx = b.subscribe();
        b.send(effects(3, "a"));
        assert_eq!(rx.try_recv().map(|e| e.ticket.to_string()), Ok("a0".into()));
        // Four more batches into a buffer of two: the rest of "a" stays readable (it is held by
        // the receiver), "b" (5 effects) and "c" (2) are dropped.
        b.send(effects(5, "b"));
        b.send(effects(2, "c"));
        b.send(effects(1, "d"));
        b.send(effects(2, "e"));
        let got = ids(&mut rx);
        assert_eq!(
            got,
            vec![
                Ok("a1".into()),
                Ok("a2".into()),
                Err(TryRecvError::Lagged(7)),
                Ok("d0".into()),
                Ok("e0".into()),
                Ok("e1".into()),
            ]
        );
    }

    #[test]
    fn a_large_batch_goes_in_bounded_messages_and_lag_is_still_exact() {
        let b = Broadcaster::new(2);
        let mut rx = b.subscribe();
        // Four messages of at most 32 into a buffer of two: the first two (64 effects) are lost.
        b.send(effects(MAX_EFFECTS_PER_MESSAGE * 3 + 5, "big"));
        let got = ids(&mut rx);
        assert_eq!(got[0], Err(TryRecvError::Lagged(2 * MAX_EFFECTS_PER_MESSAGE as u64)));
        assert_eq!(got[1], Ok(format!("big{}", 2 * MAX_EFFECTS_PER_MESSAGE)));
        assert_eq!(got.len(), 1 + MAX_EFFECTS_PER_MESSAGE + 5);
    }

    #[test]
    fn a_watcher_that_lags_before_its_first_effect_counts_from_its_subscription() {
        let b = Broadcaster::new(1);
        b.send(effects(4, "before"));
        let mut rx = b.subscribe();
        b.send(effects(3, "a"));
        b.send(effects(1, "b"));
        assert_eq!(ids(&mut rx), vec![Err(TryRecvError::Lagged(3)), Ok("b0".into())]);
    }

    #[tokio::test]
    async fn recv_waits_and_ends_when_the_sender_goes() {
        let b = Broadcaster::new(4);
        let mut rx = b.subscribe();
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                match rx.recv().await {
                    Ok(e) => got.push(e.ticket.to_string()),
                    Err(e) => return (got, e),
                }
            }
        });
        tokio::task::yield_now().await;
        b.send(effects(2, "z"));
        drop(b);
        let (got, end) = reader.await.expect("reader");
        assert_eq!(got, vec!["z0", "z1"]);
        assert_eq!(end, RecvError::Closed);
    }
}
