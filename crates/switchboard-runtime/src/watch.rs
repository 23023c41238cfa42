//! Effects for watchers: shards broadcast the effects of a whole batch as one message, and each
//! watcher reads them back one effect at a time.
//!
//! One message per batch rather than per effect is what keeps watchers cheap under load: a send
//! wakes every waiting watcher, so per-effect sends cost a thread wakeup per effect and watcher.
//! Each shard numbers its own effects and a message carries its shard and the number of its first
//! effect, which lets a watcher that fell behind say exactly how many effects it lost, although the
//! channel itself only counts messages. The numbering is per shard so that shards share no lock:
//! one shared counter had to be held across the send (for numbers to rise in channel order), and
//! a shard waiting for it while another was inside the send lost whole scheduler slices.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use switchboard_core::Effect;
use thiserror::Error;
use tokio::sync::broadcast;

/// The effects of one shard batch (or timer round).
#[derive(Debug)]
pub(crate) struct EffectBatch {
    /// The shard that sent it.
    shard: usize,
    /// The shard's number for the first effect.
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
    /// Per shard, the number its next effect gets. Only the shard's own thread adds to it.
    next: Vec<AtomicU64>,
}

impl Broadcaster {
    /// A channel for `shards` shards holding up to `batches` unread batches per watcher.
    pub fn new(batches: usize, shards: usize) -> Self {
        let (tx, _) = broadcast::channel(batches.max(1));
        Broadcaster { tx, next: (0..shards).map(|_| AtomicU64::new(0)).collect() }
    }

    /// Whether anybody watches.
    pub fn is_watched(&self) -> bool {
        self.tx.receiver_count() > 0
    }

    /// Hands shard `shard`'s `effects` to every watcher, in messages of at most
    /// [`MAX_EFFECTS_PER_MESSAGE`]; never waits. Called from that shard's thread only.
    pub fn send(&self, shard: usize, effects: Vec<Effect>) {
        let Some(next) = self.next.get(shard) else { return };
        let mut effects = effects.into_iter().peekable();
        while effects.peek().is_some() {
            let piece: Vec<Effect> = effects.by_ref().take(MAX_EFFECTS_PER_MESSAGE).collect();
            // Numbered before it is sent: see `subscribe`.
            let first = next.fetch_add(piece.len() as u64, Ordering::SeqCst);
            // An error only means nobody watches: nothing to do.
            let _ = self.tx.send(Arc::new(EffectBatch { shard, first, effects: piece }));
        }
    }

    pub fn subscribe(&self) -> EffectReceiver {
        // Subscribed first, numbers read after: a batch sent before the subscription was numbered
        // before it too, so it is counted in `expected` and never taken for a loss; a batch sent
        // after it arrives, numbered below `expected` or not.
        let rx = self.tx.subscribe();
        let expected = self.next.iter().map(|n| n.load(Ordering::SeqCst)).collect();
        EffectReceiver { rx, batch: None, pos: 0, expected }
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
/// effects and is told how many, per shard, where that shard's next effect would have been; it
/// never slows a shard down.
#[derive(Debug)]
pub struct EffectReceiver {
    rx: broadcast::Receiver<Arc<EffectBatch>>,
    batch: Option<Arc<EffectBatch>>,
    pos: usize,
    /// Per shard, the number of the next effect expected.
    expected: Vec<u64>,
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

    /// Takes `batch` as the current one; returns how many of its shard's effects were lost before
    /// it, if any.
    fn start(&mut self, batch: Arc<EffectBatch>) -> Option<u64> {
        // Every batch comes from one of the shards the broadcaster was made for.
        let lost = match self.expected.get_mut(batch.shard) {
            Some(expected) => {
                let lost = batch.first.saturating_sub(*expected);
                *expected = (*expected).max(batch.first + batch.effects.len() as u64);
                lost
            }
            None => 0,
        };
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
        let b = Broadcaster::new(8, 1);
        let mut rx = b.subscribe();
        b.send(0, effects(2, "x"));
        b.send(0, Vec::new());
        b.send(0, effects(1, "y"));
        let got = ids(&mut rx);
        assert_eq!(got, vec![Ok("x0".into()), Ok("x1".into()), Ok("y0".into())]);
    }

    #[test]
    fn a_watcher_behind_is_told_exactly_how_many_effects_it_lost() {
        let b = Broadcaster::new(2, 1);
        let mut rx = b.subscribe();
        b.send(0, effects(3, "a"));
        assert_eq!(rx.try_recv().map(|e| e.ticket.to_string()), Ok("a0".into()));
        // Four more batches into a buffer of two: the rest of "a" stays readable (it is held by
        // the receiver), "b" (5 effects) and "c" (2) are dropped.
        b.send(0, effects(5, "b"));
        b.send(0, effects(2, "c"));
        b.send(0, effects(1, "d"));
        b.send(0, effects(2, "e"));
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
        let b = Broadcaster::new(2, 1);
        let mut rx = b.subscribe();
        // Four messages of at most 32 into a buffer of two: the first two (64 effects) are lost.
        b.send(0, effects(MAX_EFFECTS_PER_MESSAGE * 3 + 5, "big"));
        let got = ids(&mut rx);
        assert_eq!(got[0], Err(TryRecvError::Lagged(2 * MAX_EFFECTS_PER_MESSAGE as u64)));
        assert_eq!(got[1], Ok(format!("big{}", 2 * MAX_EFFECTS_PER_MESSAGE)));
        assert_eq!(got.len(), 1 + MAX_EFFECTS_PER_MESSAGE + 5);
    }

    #[test]
    fn a_watcher_that_lags_before_its_first_effect_counts_from_its_subscription() {
        let b = Broadcaster::new(1, 1);
        b.send(0, effects(4, "before"));
        let mut rx = b.subscribe();
        b.send(0, effects(3, "a"));
        b.send(0, effects(1, "b"));
        assert_eq!(ids(&mut rx), vec![Err(TryRecvError::Lagged(3)), Ok("b0".into())]);
    }

    #[test]
    fn losses_are_counted_per_shard_and_found_where_each_shard_goes_on() {
        let b = Broadcaster::new(2, 2);
        let mut rx = b.subscribe();
        b.send(0, effects(3, "a"));
        b.send(1, effects(2, "b"));
        b.send(0, effects(1, "c"));
        b.send(1, effects(4, "d"));
        // a (shard 0, 3 effects) and b (shard 1, 2 effects) were dropped; each loss is reported
        // before the next effect of its own shard.
        assert_eq!(
            ids(&mut rx),
            vec![
                Err(TryRecvError::Lagged(3)),
                Ok("c0".into()),
                Err(TryRecvError::Lagged(2)),
                Ok("d0".into()),
                Ok("d1".into()),
                Ok("d2".into()),
                Ok("d3".into()),
            ]
        );
    }

    #[test]
    fn shards_send_at_once_without_losing_or_miscounting() {
        let b = Arc::new(Broadcaster::new(1 << 16, 4));
        let mut rx = b.subscribe();
        std::thread::scope(|s| {
            for shard in 0..4 {
                let b = b.clone();
                s.spawn(move || {
                    for i in 0..500 {
                        b.send(shard, effects(1 + i % 40, "x"));
                    }
                });
            }
        });
        let got = ids(&mut rx);
        let sent: usize = (0..500).map(|i| 1 + i % 40).sum::<usize>() * 4;
        assert_eq!(got.len(), sent);
        assert!(got.iter().all(Result::is_ok), "nothing lost, no loss reported");
    }

    #[tokio::test]
    async fn recv_waits_and_ends_when_the_sender_goes() {
        let b = Broadcaster::new(4, 1);
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
        b.send(0, effects(2, "z"));
        drop(b);
        let (got, end) = reader.await.expect("reader");
        assert_eq!(got, vec!["z0", "z1"]);
        assert_eq!(end, RecvError::Closed);
    }
}
