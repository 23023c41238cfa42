//! The bus's metric families, registered in the runtime's registry so that `/metrics` shows them.

use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};

/// What the bus counts.
#[derive(Clone)]
pub(crate) struct BusMetrics {
    /// 1 while connected to a NATS server.
    pub connected: IntGauge,
    /// Messages taken from the events stream, by what became of them.
    pub messages: IntCounterVec,
    /// Messages the consumer has not delivered yet (the consumer's lag).
    pub consumer_pending: IntGauge,
    /// Messages handed to the daemon and not yet acknowledged.
    pub in_flight: IntGauge,
    /// Effects stored in the effects stream (first time or repeated).
    pub effects_published: IntCounter,
    /// Effects the stream already had (published again after a restart).
    pub effects_duplicate: IntCounter,
    /// Publications that failed and were retried, by what was published.
    pub publish_failures: IntCounterVec,
    /// Effects taken from the outbox and not yet stored by JetStream.
    pub effects_unpublished: IntGauge,
}

impl BusMetrics {
    /// Registers the families in `registry`; a second bus on the same registry reuses nothing and
    /// fails, which is a programming error reported at start.
    pub fn register(registry: &Registry) -> Result<BusMetrics, prometheus::Error> {
        let gauge = |name: &str, help: &str| -> Result<IntGauge, prometheus::Error> {
            let g = IntGauge::new(name, help)?;
            registry.register(Box::new(g.clone()))?;
            Ok(g)
        };
        let counter = |name: &str, help: &str| -> Result<IntCounter, prometheus::Error> {
            let c = IntCounter::new(name, help)?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let counter_vec = |name: &str, help: &str, label: &str| -> Result<IntCounterVec, prometheus::Error> {
            let c = IntCounterVec::new(Opts::new(name, help), &[label])?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let m = BusMetrics {
            connected: gauge("switchboard_bus_connected", "1 while the bus is connected to a NATS server.")?,
            messages: counter_vec(
                "switchboard_bus_messages_total",
                "Messages taken from the events stream, by result: acked, duplicate, dead_lettered, nacked.",
                "result",
            )?,
            consumer_pending: gauge(
                "switchboard_bus_consumer_pending",
                "Messages in the events stream not yet delivered to the daemon (consumer lag).",
            )?,
            in_flight: gauge(
                "switchboard_bus_in_flight",
                "Messages taken from the events stream and not yet acknowledged.",
            )?,
            effects_published: counter(
                "switchboard_bus_effects_published_total",
                "Effects stored in the effects stream.",
            )?,
            effects_duplicate: counter(
                "switchboard_bus_effects_duplicate_total",
                "Effects published again (after a restart) that the stream already had.",
            )?,
            publish_failures: counter_vec(
                "switchboard_bus_publish_failures_total",
                "Publications that failed and will be retried, by kind: effect, dead_letter.",
                "kind",
            )?,
            effects_unpublished: gauge(
                "switchboard_bus_effects_unpublished",
                "Effects taken from the outbox and not yet stored by JetStream.",
            )?,
        };
        // Every result shows from the start, at 0, so that rates and alerts need no special case.
        for result in ["acked", "duplicate", "dead_lettered", "nacked"] {
            m.messages.with_label_values(&[result]);
        }
        for kind in ["effect", "dead_letter"] {
            m.publish_failures.with_label_values(&[kind]);
        }
        Ok(m)
    }
}
