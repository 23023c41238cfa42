//! Switchboard's NATS JetStream bus: events in from a durable pull consumer, effects out to a
//! stream, with nothing lost or applied twice across crashes of the daemon or restarts of NATS.
//!
//! - **In** (`ingest.rs`): each message's event is applied in stream order and the message is
//!   acknowledged only once the runtime has answered, which with storage means the event is in the
//!   log. Redeliveries are absorbed by event ids. Events that can never apply (not JSON, invalid,
//!   refused by the routing rules) go to the dead-letter subject with the reason in the
//!   `Switchboard-Error` header and are terminated; the daemon being saturated or its disk failing
//!   hands the message back (nak) to be delivered again.
//! - **Out** (`publish.rs`): every effect from the runtime's outbox, with a stable `Nats-Msg-Id`.
//!
//! The bus runs beside the gRPC API on the same runtime. Its life: [`Bus::start`] after the
//! runtime, [`Bus::stop_ingest`] before the runtime shuts down (what was taken is acknowledged),
//! [`Bus::finish`] after it (the last effects are published).

mod connect;
mod ingest;
mod metrics;
mod publish;
pub mod subject;

pub use ingest::ERROR_HEADER;
pub use publish::SEQ_HEADER;

use std::sync::Arc;
use std::time::Duration;
use switchboard_config::NatsSettings;
use switchboard_runtime::Runtime;
use thiserror::Error;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Why the bus could not start.
#[derive(Debug, Error)]
pub enum BusError {
    /// A setting could not be used (an unreadable secret or certificate file).
    #[error("bus.nats: {0}")]
    Config(String),
    /// The runtime was not started with an outbox, or another publisher took it.
    #[error("bus.nats: the runtime has no outbox for effects (start it with `Options::outbox`)")]
    NoOutbox,
    /// The client could not be created.
    #[error("bus.nats: cannot connect: {0}")]
    Connect(String),
    /// The bus's metrics could not be registered.
    #[error("bus.nats: metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// A running bus.
pub struct Bus {
    client: async_nats::Client,
    stop: watch::Sender<bool>,
    ingest: Option<JoinHandle<()>>,
    publisher: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus").finish_non_exhaustive()
    }
}

impl Bus {
    /// Connects (in the background: a broker that is down delays ingestion, not the daemon's
    /// start), sets up the streams and the consumer, and starts consuming and publishing. Fails
    /// only on what retrying cannot fix: unreadable files, a runtime without an outbox.
    pub async fn start(runtime: Runtime, settings: &NatsSettings) -> Result<Bus, BusError> {
        let outbox = if settings.publish_effects {
            Some(runtime.take_outbox().ok_or(BusError::NoOutbox)?)
        } else {
            None
        };
        let metrics = metrics::BusMetrics::register(runtime.metrics().registry())?;
        let connected = metrics.connected.clone();
        let options = connect::options(settings).await?.event_callback(move |event| {
            let connected = connected.clone();
            async move {
                match event {
                    async_nats::Event::Connected => {
                        connected.set(1);
                        tracing::info!("NATS: connected");
                    }
                    async_nats::Event::Disconnected => {
                        connected.set(0);
                        tracing::warn!("NATS: disconnected; reconnecting");
                    }
                    other => tracing::info!("NATS: {other}"),
                }
            }
        });
        let client = options
            .connect(settings.servers.as_slice())
            .await
            .map_err(|e| BusError::Connect(e.to_string()))?;
        let js = async_nats::jetstream::ContextBuilder::new()
            .timeout(Duration::from_secs(5))
            .ack_timeout(Duration::from_secs(5))
            .build(client.clone());
        if !runtime.has_storage() {
            tracing::warn!(
                "NATS: storage is off, so redelivered messages cannot be recognised and may apply twice"
            );
        }
        let (stop, stop_rx) = watch::channel(false);
        let settings = Arc::new(settings.clone());
        let publisher = outbox.map(|outbox| {
            tokio::spawn(
                publish::Publisher {
                    outbox,
                    js: js.clone(),
                    prefix: settings.effects_subject_prefix.clone(),
                    metrics: metrics.clone(),
                }
                .run(),
            )
        });
        let ingest = tokio::spawn(ingest::Ingest { runtime, js, settings, metrics, stop: stop_rx }.run());
        Ok(Bus { client, stop, ingest: Some(ingest), publisher })
    }

    /// Stops taking messages and waits (up to `grace`) until those taken are acknowledged or
    /// handed back. Call before the runtime shuts down.
    pub async fn stop_ingest(&mut self, grace: Duration) {
        let _ = self.stop.send(true);
        if let Some(ingest) = self.ingest.take()
            && tokio::time::timeout(grace, ingest).await.is_err()
        {
            tracing::warn!("NATS: messages still in flight after the grace period; they will come again");
        }
    }

    /// Waits (up to `grace`) until every effect the runtime emitted is published, then closes the
    /// connection. Call after the runtime has shut down; effects left unpublished are published
    /// at the next start (the runtime kept their log for it).
    pub async fn finish(mut self, grace: Duration) {
        self.stop_ingest(grace).await;
        if let Some(publisher) = self.publisher.take()
            && tokio::time::timeout(grace, publisher).await.is_err()
        {
            tracing::warn!(
                "NATS: effects still unpublished after the grace period; published at the next start"
            );
        }
        // Without a server, a flush waits for a reconnection that may never come.
        match tokio::time::timeout(grace, self.client.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!(error = %e, "NATS: flush at close"),
            Err(_) => tracing::warn!("NATS: no server to flush to at close"),
        }
    }
}
