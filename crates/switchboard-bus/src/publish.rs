//! Effects out: the runtime's outbox to the effects stream, each effect once.
//!
//! Every effect is published to `<prefix>.<account>.<type>` with `Nats-Msg-Id: <account>:<n>`,
//! where `n` numbers the account's effects from 1 and survives restarts (see the runtime's
//! `outbox.rs`). Publications are pipelined (up to [`WINDOW`] awaiting JetStream's
//! acknowledgement) and confirmed to the outbox in order, which lets the shards snapshot. A failed
//! publication is retried, same id, until JetStream stores it; effects published again after a
//! restart are dropped by JetStream as duplicates within the stream's duplicate window.

use crate::metrics::BusMetrics;
use crate::subject;
use async_nats::HeaderMap;
use async_nats::jetstream::{self, context::PublishAckFuture};
use bytes::Bytes;
use std::collections::VecDeque;
use std::time::Duration;
use switchboard_runtime::outbox::{Batch, NumberedEffect, Outbox};

/// Publications awaiting JetStream's acknowledgement, at most.
const WINDOW: usize = 512;

/// Delays between retries of a failed publication: growing, capped.
const RETRY_BACKOFF: [u64; 5] = [50, 200, 500, 1000, 2000];

/// The header with the effect's number within its account.
pub const SEQ_HEADER: &str = "Switchboard-Effect-Seq";

/// One effect, ready to send (again, if it fails).
struct Prepared {
    subject: String,
    headers: HeaderMap,
    payload: Bytes,
}

/// A sent effect awaiting its acknowledgement.
struct Sent {
    ack: PublishAckFuture,
    message: Prepared,
    /// Set on a batch's last effect: what to confirm to the outbox once it is stored.
    confirm: Option<(usize, u64)>,
}

pub(crate) struct Publisher {
    pub outbox: Outbox,
    pub js: jetstream::Context,
    pub prefix: String,
    pub metrics: BusMetrics,
}

impl Publisher {
    /// Publishes until the runtime has stopped and everything it emitted is stored.
    pub async fn run(mut self) {
        let mut recovered: VecDeque<Batch> = std::mem::take(&mut self.outbox.recovered).into();
        if !recovered.is_empty() {
            let effects: usize = recovered.iter().map(|b| b.effects.len()).sum();
            tracing::info!(effects, "NATS: publishing the effects of the replayed log again");
        }
        let mut window: VecDeque<Sent> = VecDeque::new();
        loop {
            // Without anything awaiting an acknowledgement, wait for work; otherwise take what is
            // ready and then settle the oldest publication.
            let batch = match recovered.pop_front() {
                Some(b) => Some(b),
                None if window.is_empty() => match self.outbox.recv().await {
                    Some(b) => Some(b),
                    None => break,
                },
                None => self.outbox.try_recv(),
            };
            match batch {
                Some(batch) => {
                    let last = batch.effects.len().saturating_sub(1);
                    for (i, numbered) in batch.effects.into_iter().enumerate() {
                        if window.len() >= WINDOW {
                            self.settle(&mut window).await;
                        }
                        let message = self.prepare(&numbered);
                        let ack = self.send(&message).await;
                        self.metrics.effects_unpublished.inc();
                        let confirm = (i == last).then_some((batch.shard, batch.upto));
                        window.push_back(Sent { ack, message, confirm });
                    }
                }
                None => self.settle(&mut window).await,
            }
        }
        while !window.is_empty() {
            self.settle(&mut window).await;
        }
        tracing::info!("NATS: every effect published");
    }

    fn prepare(&self, n: &NumberedEffect) -> Prepared {
        let e = &n.effect;
        let subject = format!("{}.{}.{}", self.prefix, subject::token(&e.account), e.kind.type_name());
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", format!("{}:{}", e.account, n.seq).as_str());
        headers.insert(SEQ_HEADER, n.seq.to_string().as_str());
        let mut payload = Vec::with_capacity(160);
        switchboard_wire::write_effect(e, &mut payload);
        if payload.last() == Some(&b'\n') {
            payload.pop();
        }
        Prepared { subject, headers, payload: payload.into() }
    }

    /// Sends until the client takes the message (it buffers while reconnecting).
    async fn send(&self, m: &Prepared) -> PublishAckFuture {
        let mut failures = 0;
        loop {
            match self.js.publish_with_headers(m.subject.clone(), m.headers.clone(), m.payload.clone()).await
            {
                Ok(ack) => return ack,
                Err(e) => {
                    self.failed(&e.to_string(), &mut failures).await;
                }
            }
        }
    }

    /// Awaits the oldest publication's acknowledgement, publishing it again until it is stored.
    async fn settle(&self, window: &mut VecDeque<Sent>) {
        let Some(Sent { mut ack, message, confirm }) = window.pop_front() else { return };
        let mut failures = 0;
        loop {
            match ack.await {
                Ok(stored) => {
                    if stored.duplicate {
                        self.metrics.effects_duplicate.inc();
                    } else {
                        self.metrics.effects_published.inc();
                    }
                    break;
                }
                Err(e) => {
                    self.failed(&e.to_string(), &mut failures).await;
                    ack = self.send(&message).await;
                    // What was sent after it most likely failed the same way (a lost connection):
                    // all of it goes again now, pipelined, rather than each after its own failure
                    // and backoff. What had been stored comes back as a duplicate.
                    for later in window.iter_mut() {
                        later.ack = self.send(&later.message).await;
                    }
                }
            }
        }
        self.metrics.effects_unpublished.dec();
        if let Some((shard, upto)) = confirm {
            self.outbox.confirm(shard, upto);
        }
    }

    async fn failed(&self, error: &str, failures: &mut usize) {
        let delay = RETRY_BACKOFF[(*failures).min(RETRY_BACKOFF.len() - 1)];
        *failures += 1;
        self.metrics.publish_failures.with_label_values(&["effect"]).inc();
        tracing::warn!(error, retry_in_ms = delay, "NATS: publishing an effect failed");
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
}
