//! Events in: the durable pull consumer, the runtime, and acknowledgements that follow durability.
//!
//! **Order.** Events are applied in stream sequence order, which keeps each account's events in
//! the order they were published. JetStream alone does not guarantee that to a consumer with many
//! messages unacknowledged: a message whose acknowledgement never came (the daemon crashed) is
//! delivered again only after `ack_wait`, behind newer ones. So the bus sequences messages itself:
//! it expects the sequence after the consumer's acknowledged floor, holds messages that arrive
//! ahead of it (at most `max_in_flight`, JetStream's own limit), and submits each once everything
//! before it was. A message behind the expected sequence is a repeat of one already submitted: it
//! is submitted again, and its event id makes it a duplicate.
//!
//! **Durability.** Submitted events go to the runtime in that order, up to `max_in_flight` at a
//! time; a second task awaits their outcomes in the same order and acknowledges each only once the
//! runtime has answered, which with storage means the event is in the log under the fsync policy.
//! A crash at any point leaves every unacknowledged message in the stream, and the event id (the
//! message's `event_id`, `Nats-Msg-Id` header, or stream sequence) makes a second delivery a
//! duplicate, acknowledged without being applied.

use crate::metrics::BusMetrics;
use crate::subject;
use async_nats::HeaderMap;
use async_nats::jetstream;
use async_nats::jetstream::AckKind;
use futures_util::StreamExt;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchboard_config::NatsSettings;
use switchboard_core::{Event, Millis};
use switchboard_runtime::{IngestError, Pending, Runtime};
use switchboard_wire::{self as wire, Expected, WireError};
use tokio::sync::{Semaphore, mpsc, watch};

/// The header that carries why a message was dead-lettered.
pub const ERROR_HEADER: &str = "Switchboard-Error";

/// How long one attempt to queue an event waits for room in a saturated shard; the bus then tries
/// again, keeping the order.
const SATURATED_PATIENCE: Duration = Duration::from_secs(1);

/// How often the consumer's lag is read and a wait for a missing sequence checked.
const TICK: Duration = Duration::from_secs(1);

/// Delays before retrying the stream setup after a failure: growing, capped.
const SETUP_BACKOFF: [u64; 6] = [100, 250, 500, 1000, 2000, 5000];

/// A message on its way: what the acknowledging task must do with it.
struct InFlight {
    message: jetstream::Message,
    outcome: Outcome,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

enum Outcome {
    /// Submitted; the runtime will answer.
    Submitted(Pending),
    /// Not submitted: the runtime is stopping.
    NotQueued(IngestError),
    /// Cannot be applied, ever: dead-lettered with this reason.
    Bad { account: Option<String>, error: String },
}

pub(crate) struct Ingest {
    pub runtime: Runtime,
    pub js: jetstream::Context,
    pub settings: Arc<NatsSettings>,
    pub metrics: BusMetrics,
    pub stop: watch::Receiver<bool>,
}

/// Messages that came ahead of their turn.
struct Sequencer {
    /// The stream sequence to submit next.
    expected: u64,
    held: BTreeMap<u64, jetstream::Message>,
    /// Since when `expected` has been awaited while later messages are held.
    waiting_since: Option<Instant>,
    /// A gap opened since it was last looked into.
    new_gap: bool,
}

impl Ingest {
    /// Reads until told to stop, setting the consumer up again whenever it fails (a deleted
    /// consumer, a restarted server).
    pub async fn run(mut self) {
        let permits = Arc::new(Semaphore::new(self.settings.max_in_flight));
        let (tx, rx) = mpsc::channel::<InFlight>(self.settings.max_in_flight);
        let acker =
            tokio::spawn(acknowledge(rx, self.js.clone(), self.settings.clone(), self.metrics.clone()));
        let mut failures = 0usize;
        'setup: while !*self.stop.borrow() {
            let retry = Duration::from_millis(SETUP_BACKOFF[failures.min(SETUP_BACKOFF.len() - 1)]);
            let (stream, mut consumer) = match crate::connect::consumer(&self.js, &self.settings).await {
                Ok(c) => c,
                Err(e) => {
                    failures += 1;
                    tracing::warn!(error = %e, retry_in_ms = retry.as_millis() as u64, "NATS: cannot set up the events consumer");
                    self.sleep(retry).await;
                    continue;
                }
            };
            // Where the consumer stands: everything up to its floor is acknowledged.
            let first = match (consumer.info().await, stream.get_info().await) {
                (Ok(c), Ok(s)) => (c.ack_floor.stream_sequence + 1).max(s.state.first_sequence),
                (Err(e), _) => {
                    failures += 1;
                    tracing::warn!(error = %e, "NATS: cannot read the consumer's position");
                    self.sleep(retry).await;
                    continue;
                }
                (_, Err(e)) => {
                    failures += 1;
                    tracing::warn!(error = %e, "NATS: cannot read the events stream");
                    self.sleep(retry).await;
                    continue;
                }
            };
            let messages = consumer
                .stream()
                .max_messages_per_batch(self.settings.max_in_flight.min(1000))
                .heartbeat(Duration::from_secs(5))
                .expires(Duration::from_secs(30))
                .messages()
                .await;
            let mut messages = match messages {
                Ok(m) => m,
                Err(e) => {
                    failures += 1;
                    tracing::warn!(error = %e, "NATS: cannot start reading events");
                    self.sleep(retry).await;
                    continue;
                }
            };
            failures = 0;
            tracing::info!(
                stream = %self.settings.events_stream,
                consumer = %self.settings.consumer,
                from_sequence = first,
                "NATS: reading events"
            );
            let mut order =
                Sequencer { expected: first, held: BTreeMap::new(), waiting_since: None, new_gap: false };
            let mut tick = tokio::time::interval(TICK);
            loop {
                tokio::select! {
                    _ = self.stop.changed() => break 'setup,
                    _ = tick.tick() => {
                        if let Ok(info) = consumer.get_info().await {
                            self.metrics.consumer_pending.set(info.num_pending as i64);
                        }
                        if !self.skip_gaps(&stream, &mut order, &permits, &tx).await {
                            break 'setup;
                        }
                    }
                    next = messages.next() => match next {
                        None => break,
                        Some(Err(e)) => {
                            use async_nats::jetstream::consumer::pull::MessagesErrorKind as K;
                            // Missed heartbeats come with a lost connection; the stream carries on
                            // once the client has reconnected. Anything else: set up again.
                            if matches!(e.kind(), K::MissingHeartbeat) {
                                tracing::debug!(error = %e, "NATS: missed heartbeat");
                                continue;
                            }
                            tracing::warn!(error = %e, "NATS: reading events failed; setting up again");
                            break;
                        }
                        Some(Ok(message)) => {
                            if !self.sequence(message, &mut order, &permits, &tx).await {
                                break 'setup;
                            }
                            // A gap of sequences not for this consumer is passed at once.
                            if std::mem::take(&mut order.new_gap)
                                && !self.skip_gaps(&stream, &mut order, &permits, &tx).await
                            {
                                break 'setup;
                            }
                        }
                    }
                }
            }
        }
        // What was submitted is acknowledged before the bus reports it has stopped; held messages
        // are left to be delivered again.
        drop(tx);
        let _ = acker.await;
    }

    async fn sleep(&mut self, d: Duration) {
        tokio::select! {
            _ = self.stop.changed() => {}
            _ = tokio::time::sleep(d) => {}
        }
    }

    /// Submits `message` if it is its turn (and then whatever it unblocks), holds it otherwise.
    /// `false` once the acknowledging task is gone.
    async fn sequence(
        &self,
        message: jetstream::Message,
        order: &mut Sequencer,
        permits: &Arc<Semaphore>,
        tx: &mpsc::Sender<InFlight>,
    ) -> bool {
        let Ok(info) = message.info() else {
            tracing::warn!(subject = %message.subject, "NATS: a message without JetStream metadata; ignored");
            return true;
        };
        let seq = info.stream_sequence;
        if seq > order.expected {
            order.held.insert(seq, message);
            if order.waiting_since.is_none() {
                order.waiting_since = Some(Instant::now());
                order.new_gap = true;
            }
            return true;
        }
        let turn = seq == order.expected;
        if !self.submit(message, permits, tx).await {
            return false;
        }
        if turn {
            order.expected = seq + 1;
            order.waiting_since = None;
            return self.release(order, permits, tx).await;
        }
        true
    }

    /// Submits the held messages that are now next in line.
    async fn release(
        &self,
        order: &mut Sequencer,
        permits: &Arc<Semaphore>,
        tx: &mpsc::Sender<InFlight>,
    ) -> bool {
        while let Some(message) = order.held.remove(&order.expected) {
            order.expected += 1;
            if !self.submit(message, permits, tx).await {
                return false;
            }
        }
        if !order.held.is_empty() {
            order.waiting_since = Some(Instant::now());
            order.new_gap = true;
        }
        true
    }

    /// Looks at a gap before the first held message: the stream's first message of ours (matching
    /// the events subject) at or after the expected sequence. Sequences before it are messages the
    /// consumer's filter leaves out (a stream with more subjects than the events') or messages
    /// removed from the stream: they will never come, so they are skipped at once. A message of
    /// ours in the gap will be delivered again (after `ack_wait`): it is waited for, with a warning
    /// after twice that.
    async fn skip_gaps(
        &self,
        stream: &jetstream::stream::Stream,
        order: &mut Sequencer,
        permits: &Arc<Semaphore>,
        tx: &mpsc::Sender<InFlight>,
    ) -> bool {
        let (Some(since), Some(&next_held)) = (order.waiting_since, order.held.keys().next()) else {
            return true;
        };
        let next_ours = stream
            .raw_message_builder()
            .sequence(order.expected)
            .next_by_subject(self.settings.events_subject.clone())
            .send()
            .await;
        let next_ours = match next_ours {
            Ok(m) => m.sequence,
            Err(e) if matches!(e.kind(), jetstream::stream::LastRawMessageErrorKind::NoMessageFound) => {
                u64::MAX
            }
            // Cannot tell now (a lost connection): look again at the next tick.
            Err(e) => {
                tracing::debug!(error = %e, "NATS: cannot look into a gap of the events stream");
                return true;
            }
        };
        if next_ours < next_held {
            order.expected = order.expected.max(next_ours);
            if since.elapsed() >= Duration::from_millis(self.settings.ack_wait_ms * 2) {
                tracing::warn!(
                    sequence = next_ours,
                    "NATS: still waiting for a message to be delivered again"
                );
                order.waiting_since = Some(Instant::now());
            }
            return true;
        }
        tracing::debug!(
            from = order.expected,
            to = next_held - 1,
            "NATS: sequences not for this consumer skipped"
        );
        order.expected = next_held;
        self.release(order, permits, tx).await
    }

    /// Decodes the message, queues its event (waiting while the daemon is saturated, so that order
    /// is kept) and hands it to the acknowledging task. `false` once that task is gone.
    async fn submit(
        &self,
        message: jetstream::Message,
        permits: &Arc<Semaphore>,
        tx: &mpsc::Sender<InFlight>,
    ) -> bool {
        let Ok(permit) = permits.clone().acquire_owned().await else { return false };
        let outcome = match decode(&message.payload) {
            Err((account, e)) => Outcome::Bad { account, error: e.to_string() },
            Ok(decoded) => {
                let event_id = decoded.event_id.or_else(|| message_id(&message));
                loop {
                    let attempt = self
                        .runtime
                        .submit_patiently(
                            decoded.event.clone(),
                            decoded.at,
                            event_id.clone(),
                            SATURATED_PATIENCE,
                        )
                        .await;
                    match attempt {
                        Ok(pending) => break Outcome::Submitted(pending),
                        Err(IngestError::Saturated(_)) if !*self.stop.borrow() => {
                            tracing::debug!("NATS: the daemon is saturated; waiting to queue the next event");
                        }
                        Err(e) => break Outcome::NotQueued(e),
                    }
                }
            }
        };
        self.metrics.in_flight.inc();
        tx.send(InFlight { message, outcome, _permit: permit }).await.is_ok()
    }
}

/// An event read from a message.
struct Decoded {
    at: Option<Millis>,
    event_id: Option<String>,
    event: Event,
}

/// The replay format's JSON for one event; `at` may be left out (the arrival time is used) and
/// `event_id` may be given.
fn decode(payload: &[u8]) -> Result<Decoded, (Option<String>, WireError)> {
    let text = std::str::from_utf8(payload)
        .map_err(|e| (None, WireError::NotJson(format!("invalid UTF-8 at byte {}", e.valid_up_to()))))?;
    let obj = wire::parse_object(text).map_err(|e| (None, e))?;
    let account = wire::account_of(&obj).map(str::to_owned);
    let fail = |e| (account.clone(), e);
    let at = match wire::at_of(&obj) {
        Ok(at) => Some(at),
        Err(WireError::Missing(_)) => None,
        Err(e) => return Err(fail(e)),
    };
    let event_id = match obj.get("event_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) if !id.is_empty() => Some(id.clone()),
        Some(_) => {
            return Err(fail(WireError::Invalid { field: "event_id", expected: Expected::NonEmptyString }));
        }
    };
    let event = wire::decode_event(&obj, &wire::ShapeOnly).map_err(fail)?;
    Ok(Decoded { at, event_id, event })
}

/// The message's own id: its `Nats-Msg-Id` header, else its place in the stream, which JetStream
/// keeps across redeliveries.
fn message_id(message: &jetstream::Message) -> Option<String> {
    if let Some(id) = message.headers.as_ref().and_then(|h| h.get("Nats-Msg-Id")) {
        let id = id.as_str();
        if !id.is_empty() {
            return Some(id.to_owned());
        }
    }
    message.info().ok().map(|info| format!("{}:{}", info.stream, info.stream_sequence))
}

/// Awaits outcomes in stream order and acknowledges, hands back or dead-letters each message.
async fn acknowledge(
    mut rx: mpsc::Receiver<InFlight>,
    js: jetstream::Context,
    settings: Arc<NatsSettings>,
    metrics: BusMetrics,
) {
    while let Some(InFlight { message, outcome, _permit }) = rx.recv().await {
        let account = message_account(&message);
        let result = match outcome {
            Outcome::Submitted(pending) => pending.await,
            Outcome::NotQueued(e) => Err(e),
            Outcome::Bad { account, error } => {
                dead_letter(&js, &settings, &metrics, &message, account.as_deref(), &error).await;
                metrics.in_flight.dec();
                continue;
            }
        };
        match result {
            Ok(applied) => {
                let label = if applied.duplicate { "duplicate" } else { "acked" };
                if let Err(e) = message.ack().await {
                    // JetStream delivers it again; the event id makes that a duplicate.
                    tracing::warn!(error = %e, "NATS: cannot acknowledge a message");
                }
                metrics.messages.with_label_values(&[label]).inc();
            }
            Err(IngestError::Refused(refusal)) => {
                dead_letter(&js, &settings, &metrics, &message, account.as_deref(), &refusal.message).await;
            }
            Err(IngestError::Stopped) => {
                // Shutting down: left unacknowledged, delivered again to the next start.
            }
            Err(e @ (IngestError::Saturated(_) | IngestError::Unavailable(_))) => {
                // Not the event's fault (the disk failed): delivered again a little later. Events
                // behind it that were already queued may be applied before it (docs/decisions.md).
                tracing::warn!(error = %e, "NATS: handing a message back");
                let _ = message.ack_with(AckKind::Nak(Some(Duration::from_secs(1)))).await;
                metrics.messages.with_label_values(&["nacked"]).inc();
            }
        }
        metrics.in_flight.dec();
    }
}

/// The account named in the payload, for the dead-letter subject of an event the engine refused.
fn message_account(message: &jetstream::Message) -> Option<String> {
    let obj = wire::parse_object(std::str::from_utf8(&message.payload).ok()?).ok()?;
    wire::account_of(&obj).map(str::to_owned)
}

/// Publishes the message to the dead-letter subject with the reason, then terminates it (it would
/// fail the same way forever). If the dead letter cannot be stored, the message is handed back
/// instead, so that it is never lost.
async fn dead_letter(
    js: &jetstream::Context,
    settings: &NatsSettings,
    metrics: &BusMetrics,
    message: &jetstream::Message,
    account: Option<&str>,
    error: &str,
) {
    let subject =
        format!("{}.{}", settings.dead_letter_subject, account.map_or("_".to_owned(), subject::token));
    let mut headers = HeaderMap::new();
    // Header values are single lines.
    headers.insert(ERROR_HEADER, error.replace(['\r', '\n'], " ").as_str());
    headers.insert("Switchboard-Subject", message.subject.as_str());
    if let Ok(info) = message.info() {
        headers.insert("Switchboard-Stream-Sequence", info.stream_sequence.to_string().as_str());
        // Stored once even if this message is dead-lettered twice (a crash before the `term`).
        headers.insert("Nats-Msg-Id", format!("dead:{}:{}", info.stream, info.stream_sequence).as_str());
    }
    let stored = match js.publish_with_headers(subject, headers, message.payload.clone()).await {
        Ok(ack) => ack.await.map(drop).map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match stored {
        Ok(()) => {
            tracing::info!(error, "NATS: event dead-lettered");
            let _ = message.ack_with(AckKind::Term).await;
            metrics.messages.with_label_values(&["dead_lettered"]).inc();
        }
        Err(e) => {
            tracing::warn!(error = %e, "NATS: cannot store a dead letter; the message will come again");
            metrics.publish_failures.with_label_values(&["dead_letter"]).inc();
            let _ = message.ack_with(AckKind::Nak(Some(Duration::from_secs(1)))).await;
            metrics.messages.with_label_values(&["nacked"]).inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_takes_at_and_event_id_when_present() {
        let d = decode(br#"{"type":"agent_removed","account":"acme","agent":"a1","at":5,"event_id":"e1"}"#)
            .ok()
            .unwrap();
        assert_eq!(d.at, Some(5));
        assert_eq!(d.event_id.as_deref(), Some("e1"));
        let d = decode(br#"{"type":"agent_removed","account":"acme","agent":"a1"}"#).ok().unwrap();
        assert_eq!((d.at, d.event_id), (None, None));
    }

    #[test]
    fn decode_errors_read_like_the_replay_format() {
        let err = |payload: &[u8]| {
            let (account, e) = decode(payload).err().unwrap();
            (account, e.to_string())
        };
        assert_eq!(err(b"nope"), (None, "not JSON: Expecting value: line 1 column 1 (char 0)".to_owned()));
        assert_eq!(err(b"\xff"), (None, "not JSON: invalid UTF-8 at byte 0".to_owned()));
        let (account, e) = err(br#"{"type":"agent_removed","account":"acme","at":-1}"#);
        assert_eq!(account.as_deref(), Some("acme"));
        assert!(e.contains("'at'"), "{e}");
        let (_, e) = err(br#"{"type":"agent_removed","account":"acme","event_id":7}"#);
        assert!(e.contains("'event_id'"), "{e}");
        let (_, e) = err(br#"{"type":"teleport","account":"acme"}"#);
        assert!(e.contains("type"), "{e}");
    }
}
