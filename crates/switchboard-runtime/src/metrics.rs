//! Every Prometheus metric family of the daemon, registered once, here.
//!
//! Names follow Prometheus conventions: the `switchboard_` prefix, the unit last (`_seconds`), `_total`
//! on counters. Labels are bounded sets (event and effect types, channels, priorities, statuses,
//! styles, error classes). An `account` label is added to the routing families only when
//! `[metrics] per_account_labels` is on: one series per account can be a lot.
//!
//! Counters and histograms are updated by the shard threads as events are applied; gauges describing
//! the current state (queue depth, agents online, capacity) are recomputed from engine stats when
//! Prometheus scrapes.

use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use std::sync::Arc;
use switchboard_core::view::AccountStats;
use switchboard_core::{AgentStatus, Effect, EffectKind, Engine, Millis, Priority, TicketStatus};

/// Buckets for waits measured in seconds, from a millisecond to an hour: routing decisions take
/// microseconds, but a ticket may wait minutes in the queue for an agent.
const WAIT_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
    3600.0,
];

/// Buckets for request latencies in seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// How an ingested event ended, for `switchboard_events_total{result}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventResult {
    /// Applied.
    Accepted,
    /// Refused; nothing changed.
    Rejected,
    /// Seen before (same `event_id`); acknowledged, not applied again.
    Duplicate,
}

impl EventResult {
    fn as_str(self) -> &'static str {
        match self {
            EventResult::Accepted => "accepted",
            EventResult::Rejected => "rejected",
            EventResult::Duplicate => "duplicate",
        }
    }
}

/// The daemon's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    per_account: bool,
    channels: Vec<Arc<str>>,
    events: IntCounterVec,
    effects: IntCounterVec,
    offers: IntCounterVec,
    queue_to_offer: HistogramVec,
    queue_to_assignment: HistogramVec,
    queue_depth: IntGaugeVec,
    queue_oldest_wait: GaugeVec,
    agents: IntGaugeVec,
    capacity: IntGaugeVec,
    load: IntGaugeVec,
    tickets: IntGaugeVec,
    reopens: IntCounterVec,
    follow_ups: IntCounterVec,
    closes: IntCounterVec,
    rejected: IntCounterVec,
    /// gRPC request latency by method and status code.
    pub grpc_duration: HistogramVec,
    /// Open `WatchEffects` streams.
    pub watchers: IntGauge,
    /// Effects dropped for watchers that fell behind.
    pub watch_lagged: IntCounter,
    /// Events refused with RESOURCE_EXHAUSTED because a shard's queue was full.
    pub saturated: IntCounter,
    /// Storage failures (log writes, fsyncs, snapshots).
    pub storage_errors: IntCounter,
    /// Records written to the log.
    pub wal_records: IntCounter,
    /// Time to commit a batch to the log (write, and fsync under `always`).
    pub wal_commit: prometheus::Histogram,
    /// fsyncs under `fsync = "interval"`, done off the shard threads.
    pub wal_fsync: prometheus::Histogram,
    /// Time from an event's hand-over to its shard to its answer.
    pub shard_latency: prometheus::Histogram,
    /// How long the last start took to recover.
    pub recovery_seconds: prometheus::Gauge,
    /// Log records replayed at the last start.
    pub recovery_replayed: IntGauge,
    /// 1 when every shard can take events, 0 when one cannot (storage failing).
    pub ready: IntGauge,
}

fn labels(per_account: bool, rest: &[&'static str]) -> Vec<&'static str> {
    let mut v = Vec::with_capacity(rest.len() + 1);
    if per_account {
        v.push("account");
    }
    v.extend_from_slice(rest);
    v
}

impl Metrics {
    /// Creates and registers every family. `channels` are the configured channel names.
    pub fn new(channels: Vec<Arc<str>>, per_account: bool) -> Self {
        let registry = Registry::new();
        let l = |rest: &[&'static str]| labels(per_account, rest);
        fn counter(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            r.register(Box::new(c.clone())).expect("registered once");
            c
        }
        fn gauge(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
            let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
            r.register(Box::new(g.clone())).expect("registered once");
            g
        }
        fn histogram(r: &Registry, name: &str, help: &str, b: &[f64], labels: &[&str]) -> HistogramVec {
            let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(b.to_vec()), labels)
                .expect("valid metric");
            r.register(Box::new(h.clone())).expect("registered once");
            h
        }
        let r = &registry;
        let queue_oldest_wait = GaugeVec::new(
            Opts::new("switchboard_queue_oldest_wait_seconds", "Longest current wait among waiting tickets"),
            &l(&["channel", "priority"]),
        )
        .expect("valid metric");
        r.register(Box::new(queue_oldest_wait.clone())).expect("registered once");
        let single = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("valid metric");
            r.register(Box::new(c.clone())).expect("registered once");
            c
        };
        let gauge1 = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("valid metric");
            r.register(Box::new(g.clone())).expect("registered once");
            g
        };
        let latency = |name: &str, help: &str| {
            let h = prometheus::Histogram::with_opts(
                HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()),
            )
            .expect("valid metric");
            r.register(Box::new(h.clone())).expect("registered once");
            h
        };
        let wal_commit = latency(
            "switchboard_wal_commit_seconds",
            "Time to commit a batch of events to the log (write, and fsync under fsync = always)",
        );
        let wal_fsync = latency(
            "switchboard_wal_fsync_seconds",
            "Time an fsync of the log took under fsync = interval (on a thread of its own, not the shard's)",
        );
        let shard_latency = latency(
            "switchboard_shard_latency_seconds",
            "Time from an event's hand-over to its shard to its answer: waiting in the queue, \
             logging, applying",
        );
        let recovery_seconds = prometheus::Gauge::new(
            "switchboard_recovery_seconds",
            "How long the last start took to recover its state",
        )
        .expect("valid metric");
        r.register(Box::new(recovery_seconds.clone())).expect("registered once");
        let watchers =
            IntGauge::new("switchboard_watchers", "Open WatchEffects streams").expect("valid metric");
        r.register(Box::new(watchers.clone())).expect("registered once");
        let build = IntGaugeVec::new(
            Opts::new("switchboard_build_info", "Always 1; labelled with the running version"),
            &["version"],
        )
        .expect("valid metric");
        r.register(Box::new(build.clone())).expect("registered once");
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        Metrics {
            per_account,
            channels,
            events: counter(
                r,
                "switchboard_events_total",
                "Events ingested, by type and result",
                &l(&["type", "result"]),
            ),
            effects: counter(r, "switchboard_effects_total", "Effects emitted, by type", &l(&["type"])),
            offers: counter(
                r,
                "switchboard_offers_total",
                "Offers ended, by outcome (accepted, declined, timeout, agent_unavailable, transferred)",
                &l(&["outcome"]),
            ),
            queue_to_offer: histogram(
                r,
                "switchboard_queue_to_offer_seconds",
                "Time from queue entry to offer",
                WAIT_BUCKETS,
                &l(&["channel", "priority"]),
            ),
            queue_to_assignment: histogram(
                r,
                "switchboard_queue_to_assignment_seconds",
                "Time from queue entry to assignment (accepted offer or auto assignment)",
                WAIT_BUCKETS,
                &l(&["channel", "priority"]),
            ),
            queue_depth: gauge(
                r,
                "switchboard_queue_depth",
                "Tickets waiting for an agent",
                &l(&["channel", "priority"]),
            ),
            queue_oldest_wait,
            agents: gauge(
                r,
                "switchboard_agents",
                "Agents by channel and status",
                &l(&["channel", "status"]),
            ),
            capacity: gauge(
                r,
                "switchboard_capacity",
                "Capacity of the agents online on the channel",
                &l(&["channel"]),
            ),
            load: gauge(
                r,
                "switchboard_load",
                "Tickets counting against agents' capacity on the channel",
                &l(&["channel"]),
            ),
            tickets: gauge(r, "switchboard_tickets", "Tickets by status", &l(&["status"])),
            reopens: counter(
                r,
                "switchboard_reopens_total",
                "Tickets reopened by a customer reply, by style",
                &l(&["style"]),
            ),
            follow_ups: counter(
                r,
                "switchboard_follow_ups_total",
                "Follow-up tickets created after a closed one, by style",
                &l(&["style"]),
            ),
            closes: counter(
                r,
                "switchboard_closes_total",
                "Tickets closed, by style and reason",
                &l(&["style", "reason"]),
            ),
            rejected: counter(
                r,
                "switchboard_rejected_events_total",
                "Events refused, by reason",
                &l(&["reason"]),
            ),
            grpc_duration: histogram(
                r,
                "switchboard_grpc_request_duration_seconds",
                "gRPC request latency, by method and status code",
                LATENCY_BUCKETS,
                &["method", "code"],
            ),
            watchers,
            watch_lagged: single(
                "switchboard_watch_lagged_effects_total",
                "Effects dropped for watchers that fell behind",
            ),
            saturated: single(
                "switchboard_ingest_saturated_total",
                "Events refused with RESOURCE_EXHAUSTED because a shard's queue was full",
            ),
            storage_errors: single(
                "switchboard_storage_errors_total",
                "Storage failures: log writes, fsyncs and snapshots that did not succeed",
            ),
            wal_records: single("switchboard_wal_records_total", "Records written to the write-ahead log"),
            wal_commit,
            wal_fsync,
            shard_latency,
            recovery_seconds,
            recovery_replayed: gauge1(
                "switchboard_recovery_replayed_events",
                "Log records replayed at the last start (those after the newest snapshot)",
            ),
            ready: gauge1("switchboard_ready", "1 when every shard can take events, 0 when one cannot"),
            registry,
        }
    }

    /// The registry, for exporters.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut buf = Vec::new();
        // Encoding into a Vec cannot fail for well-formed families.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }

    fn with<'a>(&self, account: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
        let mut v = Vec::with_capacity(rest.len() + 1);
        if self.per_account {
            v.push(account);
        }
        v.extend_from_slice(rest);
        v
    }

    /// Counts one ingested event.
    pub fn event(&self, account: &str, event_type: &str, result: EventResult) {
        self.events.with_label_values(&self.with(account, &[event_type, result.as_str()])).inc();
    }

    /// Counts one refused event; `reason` is a short stable name (`not_found`, `invalid_argument`, ...).
    pub fn rejection(&self, account: &str, reason: &str) {
        self.rejected.with_label_values(&self.with(account, &[reason])).inc();
    }

    /// Counts an accepted offer (the effects alone do not always show it: a requeued open ticket
    /// accepted gives `assigned` only).
    pub fn offer_accepted(&self, account: &str) {
        self.offers.with_label_values(&self.with(account, &["accepted"])).inc();
    }

    /// Records what a batch of effects says: counts, offer outcomes, waits, reopens, follow-ups and
    /// closes. `transferred` is the ticket a transfer event moved, whose assignment is not a routing
    /// decision and so is left out of the wait histogram.
    pub fn effects(&self, engine: &Engine, effects: &[Effect], transferred: Option<&str>) {
        for e in effects {
            let account = &*e.account;
            self.effects.with_label_values(&self.with(account, &[e.kind.type_name()])).inc();
            match &e.kind {
                EffectKind::Offered { .. } => self.wait(engine, e, &self.queue_to_offer),
                EffectKind::Assigned { .. } if transferred != Some(&*e.ticket) => {
                    self.wait(engine, e, &self.queue_to_assignment)
                }
                EffectKind::OfferWithdrawn { reason, .. } => {
                    self.offers.with_label_values(&self.with(account, &[reason.as_str()])).inc();
                }
                EffectKind::Reopened { .. } => {
                    if let Some(b) = engine.ticket_brief(account, &e.ticket) {
                        self.reopens.with_label_values(&self.with(account, &[&b.style])).inc();
                    }
                }
                EffectKind::TicketCreated { follow_up_of: Some(_), style, .. } => {
                    self.follow_ups.with_label_values(&self.with(account, &[style])).inc();
                }
                EffectKind::StatusChanged { to: TicketStatus::Closed, reason, .. } => {
                    if let Some(b) = engine.ticket_brief(account, &e.ticket) {
                        self.closes
                            .with_label_values(&self.with(account, &[&b.style, reason.as_str()]))
                            .inc();
                    }
                }
                _ => {}
            }
        }
    }

    fn wait(&self, engine: &Engine, e: &Effect, family: &HistogramVec) {
        let Some(b) = engine.ticket_brief(&e.account, &e.ticket) else {
            return;
        };
        let channel = self.channels.get(b.channel).map_or("", |c| c);
        let seconds = e.at.saturating_sub(b.queue_time) as f64 / 1000.0;
        family.with_label_values(&self.with(&e.account, &[channel, b.priority.as_str()])).observe(seconds);
    }

    /// Sets the state gauges from every account's stats, at time `now`.
    pub fn set_state(&self, stats: &[AccountStats], now: Millis) {
        if !self.per_account {
            // One series per channel (and status or priority): sum over accounts first.
            let mut total = AccountStats::default();
            for s in stats {
                add(&mut total, s);
            }
            self.set_account_state(&total, now);
        } else {
            for s in stats {
                self.set_account_state(s, now);
            }
        }
    }

    fn set_account_state(&self, s: &AccountStats, now: Millis) {
        let account = &*s.account;
        for (i, status) in TicketStatus::ALL.iter().enumerate() {
            self.tickets
                .with_label_values(&self.with(account, &[status.as_str()]))
                .set(i64::from(s.tickets_by_status[i]));
        }
        for (ch_index, name) in self.channels.iter().enumerate() {
            let cs = s.channels.get(ch_index).cloned().unwrap_or_default();
            for (i, status) in AgentStatus::ALL.iter().enumerate() {
                self.agents
                    .with_label_values(&self.with(account, &[name, status.as_str()]))
                    .set(i64::from(cs.agents_by_status[i]));
            }
            self.capacity.with_label_values(&self.with(account, &[name])).set(cs.online_capacity as i64);
            self.load.with_label_values(&self.with(account, &[name])).set(cs.load as i64);
            for p in Priority::ALL {
                let labels = self.with(account, &[name, p.as_str()]);
                self.queue_depth.with_label_values(&labels).set(i64::from(cs.queued_by_priority[p as usize]));
                let oldest = cs.oldest_queue_time_by_priority[p as usize];
                let wait = oldest.map_or(0.0, |t| now.saturating_sub(t) as f64 / 1000.0);
                self.queue_oldest_wait.with_label_values(&labels).set(wait);
            }
        }
    }
}

/// Adds `s` into `total`: counts add up, the oldest wait is the earliest queue time.
fn add(total: &mut AccountStats, s: &AccountStats) {
    total.agents += s.agents;
    total.queued += s.queued;
    for (t, x) in total.tickets_by_status.iter_mut().zip(s.tickets_by_status) {
        *t += x;
    }
    if total.channels.len() < s.channels.len() {
        total.channels.resize(s.channels.len(), Default::default());
    }
    for (t, c) in total.channels.iter_mut().zip(&s.channels) {
        for (a, b) in t.agents_by_status.iter_mut().zip(c.agents_by_status) {
            *a += b;
        }
        t.online_capacity += c.online_capacity;
        t.load += c.load;
        t.offered += c.offered;
        for i in 0..4 {
            t.queued_by_priority[i] += c.queued_by_priority[i];
            t.oldest_queue_time_by_priority[i] =
                match (t.oldest_queue_time_by_priority[i], c.oldest_queue_time_by_priority[i]) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
        }
    }
}
