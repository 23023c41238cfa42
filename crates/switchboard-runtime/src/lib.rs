//! Switchboard's runtime: the engine, driven live.
//!
//! Accounts are spread over **shards**. Each shard is one OS thread that owns an [`Engine`] holding
//! its accounts, so routing takes no lock. Callers hand work to a shard over a bounded channel (a
//! full shard refuses with [`IngestError::Saturated`] instead of buffering without bound) and get
//! the answer on a oneshot channel, so async callers (gRPC, the bus) never block a runtime thread.
//! While idle, a shard sleeps exactly until its engine's next deadline, so offer timeouts, skills
//! timeouts and closes fire on time without polling.
//!
//! Effects go to the caller of the event that caused them and to every watcher through a bounded
//! broadcast channel, one message per shard batch ([`watch`]): a watcher that falls behind loses
//! the oldest effects and is told how many, and never slows routing down.
//!
//! With storage ([`Options::store`]), each shard logs events before applying them and answers only
//! once they are durable under the fsync policy; see [`store`] for the contract and `layout.rs` for
//! the data directory.

pub mod clock;
mod doorbell;
mod layout;
pub mod metrics;
pub mod outbox;
pub mod read;
mod shard;
pub mod store;
mod sync;
mod syncer;
pub mod watch;

use crate::clock::{Clock, MonotonicClock};
use crate::metrics::Metrics;
use crate::read::ReadModel;
pub use crate::shard::Submission;
use crate::shard::{Command, Parts, Shard};
use crate::store::{StoreError, StoreOptions};
use crate::watch::{Broadcaster, EffectReceiver};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use switchboard_core::view::AccountStats;
use switchboard_core::{Config, Effect, Engine, EngineError, ErrorClass, Event, Millis};
use thiserror::Error;
use tokio::sync::oneshot;

/// How the runtime is set up.
#[derive(Debug, Clone)]
pub struct Options {
    /// Shard threads (at least 1).
    pub shards: usize,
    /// Events waiting per shard before ingest is refused as saturated.
    pub shard_queue: usize,
    /// How far ahead of the daemon's clock an event's `at` may be.
    pub max_future_skew_ms: Millis,
    /// Messages of effects buffered for watchers (a message holds the effects of the events a
    /// shard applied together, at most 32: between this many and 32 times as many effects).
    pub watch_buffer: usize,
    /// Label routing metrics with the account.
    pub per_account_metrics: bool,
    /// Durable storage; `None` keeps everything in memory only (demo, tests, benchmarks).
    pub store: Option<StoreOptions>,
    /// Keep an [`outbox::Outbox`] of every effect, holding this many batches (a batch is the
    /// effects of one event or one timer round) before shards wait; `None` for none.
    pub outbox: Option<usize>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            shards: 1,
            shard_queue: 4096,
            max_future_skew_ms: 5000,
            watch_buffer: 4096,
            per_account_metrics: false,
            store: None,
            outbox: None,
        }
    }
}

/// Why a new configuration was not put in force; the old one stays.
#[derive(Debug, Error)]
pub enum ReconfigureError {
    /// The configuration is invalid, does not fit the running state, or could not be made durable.
    #[error("{0}")]
    Refused(String),
    /// The runtime is shutting down.
    #[error("the router is shutting down")]
    Stopped,
}

/// Why the runtime could not start.
#[derive(Debug, Error)]
pub enum StartError {
    /// The engine configuration is unusable.
    #[error("configuration: {0}")]
    Config(switchboard_core::config::ConfigError),
    /// The data directory could not be recovered.
    #[error("recovery: {0}")]
    Store(StoreError),
    /// A shard thread could not be started.
    #[error("cannot start a shard thread: {0}")]
    Thread(std::io::Error),
}

// Conversions without `#[from]`: the message already includes the cause, and a source would make
// error reports print it twice.
impl From<switchboard_core::config::ConfigError> for StartError {
    fn from(e: switchboard_core::config::ConfigError) -> Self {
        StartError::Config(e)
    }
}

impl From<StoreError> for StartError {
    fn from(e: StoreError) -> Self {
        StartError::Store(e)
    }
}

impl From<std::io::Error> for StartError {
    fn from(e: std::io::Error) -> Self {
        StartError::Thread(e)
    }
}

/// Why an event was not applied.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IngestError {
    /// The engine refused it; nothing changed.
    #[error("{0}")]
    Refused(Refusal),
    /// The shard's queue is full; retry later.
    #[error("the daemon is saturated: shard {0}'s queue is full; retry later")]
    Saturated(usize),
    /// The runtime is shutting down.
    #[error("the daemon is shutting down")]
    Stopped,
    /// The event could not be made durable (e.g. the disk is full); nothing changed, and it can
    /// be retried.
    #[error("{0}")]
    Unavailable(String),
}

/// A refusal with what a protocol needs to report it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct Refusal {
    /// The class, for a status code.
    pub class: ErrorClass,
    /// The field at fault.
    pub field: Option<&'static str>,
    /// What is wrong, naming the field (the replay format's `error` text).
    pub message: String,
}

impl From<EngineError> for Refusal {
    fn from(e: EngineError) -> Self {
        Refusal { class: e.class(), field: Some(e.field()), message: e.to_string() }
    }
}

/// What became of one event.
pub type Outcome = Result<Applied, IngestError>;

/// What an applied event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The time the event was applied at (its `at`, or the arrival time).
    pub at: Millis,
    /// Its effects, timers that fell due first included.
    pub effects: Vec<Effect>,
    /// The event's id was seen before: acknowledged, not applied again (no effects).
    pub duplicate: bool,
}

/// The outcome of a submitted event, once its shard (or, for a tick, every shard) has applied it.
#[derive(Debug)]
pub struct Pending {
    replies: Vec<oneshot::Receiver<Result<Applied, IngestError>>>,
}

impl Pending {
    /// Waits for the outcome.
    pub async fn wait(self) -> Result<Applied, IngestError> {
        let mut out = Applied { at: 0, effects: Vec::new(), duplicate: false };
        for rx in self.replies {
            let applied = rx.await.map_err(|_| IngestError::Stopped)??;
            out.at = out.at.max(applied.at);
            out.effects.extend(applied.effects);
            out.duplicate |= applied.duplicate;
        }
        Ok(out)
    }
}

impl std::future::IntoFuture for Pending {
    type Output = Result<Applied, IngestError>;
    type IntoFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.wait())
    }
}

/// The outcomes of events submitted together ([`Runtime::submit_many_patiently`]).
#[derive(Debug)]
pub struct PendingMany {
    /// Per input event, its outcome when known before any shard answered (refused by a full or
    /// stopped shard).
    early: Vec<Option<IngestError>>,
    /// Per shard answering: the input index of each event of its group, and the answer.
    parts: Vec<(Vec<usize>, oneshot::Receiver<Vec<Outcome>>)>,
}

impl PendingMany {
    /// Waits for every outcome, in the order the events were given. Effects are not returned
    /// (the caller of a group counts outcomes); a tick's outcome merges every shard's.
    pub async fn wait(self) -> Vec<Outcome> {
        let mut out: Vec<Option<Outcome>> = self.early.into_iter().map(|e| e.map(Err)).collect();
        for (indexes, rx) in self.parts {
            let answers = rx.await.unwrap_or_default();
            let mut answers = answers.into_iter();
            for i in indexes {
                let outcome = answers.next().unwrap_or(Err(IngestError::Stopped));
                out[i] = Some(match (out[i].take(), outcome) {
                    (None, outcome) => outcome,
                    (Some(Err(e)), _) | (Some(Ok(_)), Err(e)) => Err(e),
                    (Some(Ok(a)), Ok(b)) => Ok(Applied {
                        at: a.at.max(b.at),
                        effects: Vec::new(),
                        duplicate: a.duplicate | b.duplicate,
                    }),
                });
            }
        }
        out.into_iter().map(|o| o.unwrap_or(Err(IngestError::Stopped))).collect()
    }
}

/// The shard of `account` among `shards`. A fixed hash (not randomly seeded), so an account always
/// lands on the same shard, run after run.
pub fn shard_index(account: &str, shards: usize) -> usize {
    let mut h = std::hash::DefaultHasher::new();
    account.hash(&mut h);
    (h.finish() % shards.max(1) as u64) as usize
}

/// A handle to the running runtime; cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    shards: Vec<Shard>,
    read: Arc<ReadModel>,
    effects: Arc<Broadcaster>,
    metrics: Arc<Metrics>,
    /// The configuration every shard runs with; changed only by [`Runtime::reconfigure`], which
    /// holds `reconfiguring` so that two changes never interleave.
    config: parking_lot::RwLock<Arc<Config>>,
    reconfiguring: tokio::sync::Mutex<()>,
    clock: Arc<dyn Clock>,
    outbox: parking_lot::Mutex<Option<outbox::Outbox>>,
    storage: bool,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("shards", &self.inner.shards.len()).finish()
    }
}

impl Runtime {
    /// Starts the shard threads with the wall clock.
    pub fn start(config: Config, options: Options) -> Result<Runtime, StartError> {
        Self::start_with_clock(config, options, Arc::new(MonotonicClock::new()))
    }

    /// Starts the shard threads with the given clock, after recovering the data directory if the
    /// options have one (which may take a while: the newest snapshot plus the log after it).
    pub fn start_with_clock(
        config: Config,
        options: Options,
        clock: Arc<dyn Clock>,
    ) -> Result<Runtime, StartError> {
        config.check()?;
        let count = options.shards.max(1);
        let metrics = Arc::new(Metrics::new(config.channels.clone(), options.per_account_metrics));
        let mut recovered_effects = Vec::new();
        let shards: Vec<(Engine, Option<store::Store>)> = match &options.store {
            None => (0..count)
                .map(|_| Engine::new(config.clone()).map(|e| (e, None)))
                .collect::<Result<_, _>>()?,
            Some(store) => {
                let started = std::time::Instant::now();
                let recovered = layout::open(&config, store, count, options.outbox.is_some())?;
                let mut replayed = 0;
                for (i, (_, engine, r)) in recovered.iter().enumerate() {
                    replayed += r.replayed;
                    for skipped in &r.skipped_snapshots {
                        tracing::warn!(shard = i, "damaged snapshot skipped: {skipped}");
                    }
                    if let Some(t) = &r.torn {
                        tracing::warn!(
                            shard = i,
                            file = %t.path.display(),
                            offset = t.offset,
                            dropped_bytes = t.dropped,
                            "a torn last record (a write cut short by a crash) was cut off"
                        );
                    }
                    tracing::info!(
                        shard = i,
                        snapshot_seq = r.snapshot_seq,
                        replayed = r.replayed,
                        accounts = engine.account_names().len(),
                        took_ms = r.took.as_millis() as u64,
                        "recovered"
                    );
                }
                metrics.recovery_seconds.set(started.elapsed().as_secs_f64());
                metrics.recovery_replayed.set(replayed as i64);
                recovered
                    .into_iter()
                    .map(|(s, e, r)| {
                        recovered_effects.push(r.effects);
                        (e, Some(s))
                    })
                    .collect()
            }
        };
        let config = parking_lot::RwLock::new(Arc::new(config));
        let effects = Arc::new(Broadcaster::new(options.watch_buffer, shards.len()));
        let read = Arc::new(ReadModel::default());
        recovered_effects.resize_with(shards.len(), Vec::new);
        let (mut senders, outbox) = match options.outbox {
            Some(capacity) => {
                let (senders, outbox) = outbox::channel(capacity, recovered_effects);
                (senders.into_iter().map(Some).collect(), Some(outbox))
            }
            None => ((0..shards.len()).map(|_| None).collect::<Vec<_>>(), None),
        };
        let shards = shards
            .into_iter()
            .enumerate()
            .map(|(index, (engine, store))| {
                read.load(&engine);
                let parts = Parts {
                    outbox: senders[index].take(),
                    index,
                    engine,
                    store,
                    clock: clock.clone(),
                    metrics: metrics.clone(),
                    effects: effects.clone(),
                    read: read.clone(),
                };
                Shard::spawn(parts, &options)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let outbox = parking_lot::Mutex::new(outbox);
        let storage = options.store.is_some();
        Ok(Runtime {
            inner: Arc::new(Inner {
                shards,
                read,
                effects,
                metrics,
                config,
                reconfiguring: tokio::sync::Mutex::new(()),
                clock,
                outbox,
                storage,
            }),
        })
    }

    /// The metrics the runtime updates.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    /// The engine configuration in force.
    pub fn config(&self) -> Arc<Config> {
        self.inner.config.read().clone()
    }

    /// Puts a new engine configuration in force on every shard, between two events, keeping all
    /// state ([`Engine::reconfigure`]); with storage, each shard snapshots at once so that a
    /// restart replays nothing from before the change under the new configuration. Returns
    /// whether anything changed. When a shard refuses, the shards already changed go back to the
    /// old configuration and the error names the reason; the old configuration stays in force.
    pub async fn reconfigure(&self, config: Config) -> Result<bool, ReconfigureError> {
        config.check().map_err(|e| ReconfigureError::Refused(e.to_string()))?;
        let _one_at_a_time = self.inner.reconfiguring.lock().await;
        let old = self.config();
        if *old == config {
            return Ok(false);
        }
        for shard in 0..self.inner.shards.len() {
            if let Err(e) = self.reconfigure_shard(shard, config.clone()).await {
                for back in 0..shard {
                    if let Err(e) = self.reconfigure_shard(back, (*old).clone()).await {
                        tracing::error!(shard = back, error = %e, "could not return to the old configuration");
                    }
                }
                return Err(e);
            }
        }
        *self.inner.config.write() = Arc::new(config);
        Ok(true)
    }

    async fn reconfigure_shard(&self, shard: usize, config: Config) -> Result<(), ReconfigureError> {
        let (reply, rx) = oneshot::channel();
        let cmd = Command::Reconfigure { config: Box::new(config), reply };
        // Waits for room rather than failing under load: a reload is rare and must not be refused
        // for a busy moment.
        if self.send_patiently(shard, cmd, None).await.is_err() {
            return Err(ReconfigureError::Stopped);
        }
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(ReconfigureError::Refused(format!("shard {shard}: {reason}"))),
            Err(_) => Err(ReconfigureError::Stopped),
        }
    }

    /// The runtime's current time.
    pub fn now(&self) -> Millis {
        self.inner.clock.now_ms()
    }

    /// Number of shards.
    pub fn shard_count(&self) -> usize {
        self.inner.shards.len()
    }

    fn shard_of(&self, account: &str) -> usize {
        shard_index(account, self.inner.shards.len())
    }

    /// Applies an event. `at` is the event's own time if it has one; the arrival time is used
    /// otherwise, and time never goes backwards.
    pub async fn ingest(
        &self,
        event: Event,
        at: Option<Millis>,
        event_id: Option<String>,
    ) -> Result<Applied, IngestError> {
        self.submit(event, at, event_id)?.await
    }

    /// Queues an event now and returns the future of its outcome. Events submitted one after
    /// another are applied in that order (per account), so a caller can keep many in flight, e.g.
    /// to pipeline a stream, without awaiting each before sending the next. A full shard refuses
    /// at once with [`IngestError::Saturated`].
    pub fn submit(
        &self,
        event: Event,
        at: Option<Millis>,
        event_id: Option<String>,
    ) -> Result<Pending, IngestError> {
        self.try_submit(Box::new(event), at, event_id).map_err(|(e, _)| self.refused(e))
    }

    /// Like [`Runtime::submit`], but waits up to `patience` for room in a full shard instead of
    /// refusing: for streams, whose backpressure is to stop reading while they wait.
    pub async fn submit_patiently(
        &self,
        event: Event,
        at: Option<Millis>,
        event_id: Option<String>,
        patience: std::time::Duration,
    ) -> Result<Pending, IngestError> {
        let (mut event, mut event_id) = (Box::new(event), event_id);
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            match self.try_submit(event, at, event_id) {
                Ok(pending) => return Ok(pending),
                Err((IngestError::Saturated(_), Some(back))) if tokio::time::Instant::now() < deadline => {
                    (event, event_id) = back;
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
                Err((e, _)) => return Err(self.refused(e)),
            }
        }
    }

    /// Queues many events at once: one command and one answer per shard instead of one per event,
    /// which is what lets a stream go faster than a shard can be woken per event. The events of
    /// each shard are applied in the given order (so per account, in order); a tick goes to every
    /// shard. Waits up to `patience` for room in a full shard; events a shard could not take in
    /// time are answered [`IngestError::Saturated`].
    pub async fn submit_many_patiently(
        &self,
        events: Vec<Submission>,
        patience: std::time::Duration,
    ) -> PendingMany {
        let shards = self.inner.shards.len();
        let mut early = vec![None; events.len()];
        let mut groups: Vec<(Vec<usize>, Vec<Submission>)> =
            (0..shards).map(|_| Default::default()).collect();
        for (i, s) in events.into_iter().enumerate() {
            match s.event.account() {
                Some(account) => {
                    let g = &mut groups[self.shard_of(account)];
                    g.0.push(i);
                    g.1.push(s);
                }
                None => {
                    // A tick belongs to no account: every shard moves its time.
                    for g in &mut groups {
                        g.0.push(i);
                        g.1.push(Submission { event_id: None, ..s.clone() });
                    }
                }
            }
        }
        let deadline = tokio::time::Instant::now() + patience;
        let mut parts = Vec::new();
        for (shard, (indexes, events)) in groups.into_iter().enumerate() {
            // Pieces of at most a quarter of the shard's queue, so that a group never has to wait
            // for the queue to be empty to get in.
            let piece = (self.inner.shards[shard].bound() / 4).max(1);
            let mut events = events.into_iter();
            for indexes in indexes.chunks(piece) {
                let (reply, rx) = oneshot::channel();
                let cmd = Command::ApplyMany { events: events.by_ref().take(indexes.len()).collect(), reply };
                match self.send_patiently(shard, cmd, Some(deadline)).await {
                    Ok(()) => parts.push((indexes.to_vec(), rx)),
                    Err(e) => {
                        for &i in indexes {
                            early[i] = Some(self.refused(e.clone()));
                        }
                    }
                }
            }
        }
        PendingMany { early, parts }
    }

    fn refused(&self, e: IngestError) -> IngestError {
        if matches!(e, IngestError::Saturated(_)) {
            self.inner.metrics.saturated.inc();
        }
        e
    }

    /// Queues an event; on failure gives the event back when it was not sent anywhere.
    #[allow(clippy::type_complexity)]
    fn try_submit(
        &self,
        event: Box<Event>,
        at: Option<Millis>,
        event_id: Option<String>,
    ) -> Result<Pending, (IngestError, Option<(Box<Event>, Option<String>)>)> {
        let Some(account) = event.account() else {
            // A tick belongs to no account: every shard moves its time.
            let mut replies = Vec::with_capacity(self.inner.shards.len());
            for shard in 0..self.inner.shards.len() {
                let (reply, rx) = oneshot::channel();
                let cmd = Command::Apply { event: event.clone(), at, event_id: None, reply };
                self.send(shard, cmd).map_err(|(e, _)| (e, None))?;
                replies.push(rx);
            }
            return Ok(Pending { replies });
        };
        let shard = self.shard_of(account);
        let (reply, rx) = oneshot::channel();
        match self.send(shard, Command::Apply { event, at, event_id, reply }) {
            Ok(()) => Ok(Pending { replies: vec![rx] }),
            Err((e, Command::Apply { event, event_id, .. })) => Err((e, Some((event, event_id)))),
            Err((e, _)) => Err((e, None)),
        }
    }

    /// Queues `cmd`, waiting for room in a full shard until `deadline` (`None`: as long as it
    /// takes); fails when the shard stopped, or is still full at the deadline.
    async fn send_patiently(
        &self,
        shard: usize,
        mut cmd: Command,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<(), IngestError> {
        loop {
            match self.send(shard, cmd) {
                Ok(()) => return Ok(()),
                Err((IngestError::Saturated(_), back))
                    if deadline.is_none_or(|d| tokio::time::Instant::now() < d) =>
                {
                    cmd = back;
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
                Err((e, _)) => return Err(e),
            }
        }
    }

    fn send(&self, shard: usize, cmd: Command) -> Result<(), (IngestError, Command)> {
        self.inner.shards[shard].send(cmd).map_err(|(full, cmd)| {
            let e = if full { IngestError::Saturated(shard) } else { IngestError::Stopped };
            (e, cmd)
        })
    }

    /// Runs `f` on the engine of the shard that owns `account`, between two events.
    pub async fn query<R: Send + 'static>(
        &self,
        account: &str,
        f: impl FnOnce(&Engine) -> R + Send + 'static,
    ) -> Result<R, IngestError> {
        let (reply, rx) = oneshot::channel();
        let job = Box::new(move |engine: &Engine| {
            let _ = reply.send(f(engine));
        });
        self.send(self.shard_of(account), Command::Query(job)).map_err(|(e, _)| self.refused(e))?;
        rx.await.map_err(|_| IngestError::Stopped)
    }

    /// Runs `f` on every shard's engine and collects the answers in shard order.
    pub async fn query_all<R: Send + 'static>(
        &self,
        f: impl Fn(&Engine) -> R + Send + Sync + 'static,
    ) -> Result<Vec<R>, IngestError> {
        let f = Arc::new(f);
        let mut receivers = Vec::with_capacity(self.inner.shards.len());
        for shard in 0..self.inner.shards.len() {
            let (reply, rx) = oneshot::channel();
            let f = f.clone();
            self.send(
                shard,
                Command::Query(Box::new(move |engine: &Engine| {
                    let _ = reply.send(f(engine));
                })),
            )
            .map_err(|(e, _)| self.refused(e))?;
            receivers.push(rx);
        }
        let mut out = Vec::with_capacity(receivers.len());
        for rx in receivers {
            out.push(rx.await.map_err(|_| IngestError::Stopped)?);
        }
        Ok(out)
    }

    /// The read model: agents and account counts, readable without stopping a shard.
    pub fn read_model(&self) -> &ReadModel {
        &self.inner.read
    }

    /// Every account's stats, computed now by every shard (the read model's are at most
    /// [`read::STATS_EVERY_MS`] old, and free).
    pub async fn all_stats(&self) -> Result<Vec<AccountStats>, IngestError> {
        let per_shard = self
            .query_all(|engine| {
                engine.account_names().iter().filter_map(|a| engine.stats(a)).collect::<Vec<_>>()
            })
            .await?;
        Ok(per_shard.into_iter().flatten().collect())
    }

    /// Sets the state gauges (queue depth, agents, capacity) from the read model and renders every
    /// metric in the Prometheus text format. No shard is stopped for it.
    pub fn render_metrics(&self) -> String {
        let stats = self.inner.read.all_stats();
        self.inner.metrics.set_state(&stats, self.now());
        self.inner.metrics.ready.set(i64::from(self.is_ready()));
        self.inner.metrics.encode()
    }

    /// Whether events are logged (and so event ids remembered across restarts).
    pub fn has_storage(&self) -> bool {
        self.inner.storage
    }

    /// The outbox of every effect (with [`Options::outbox`]), for the one publisher that takes it.
    pub fn take_outbox(&self) -> Option<outbox::Outbox> {
        self.inner.outbox.lock().take()
    }

    /// A new receiver of every effect from now on.
    pub fn subscribe(&self) -> EffectReceiver {
        self.inner.effects.subscribe()
    }

    /// Makes the next log write of `account`'s shard fail, as a full disk would (tests).
    #[cfg(feature = "fault-injection")]
    pub fn fail_next_write(&self, account: &str) {
        let _ = self.send(self.shard_of(account), Command::FailNextWrite);
    }

    /// Whether every shard thread is running.
    pub fn is_running(&self) -> bool {
        self.inner.shards.iter().all(Shard::is_running)
    }

    /// Whether every shard can take events: running, and its storage writable.
    pub fn is_ready(&self) -> bool {
        self.inner.shards.iter().all(|s| s.is_running() && s.is_healthy())
    }

    /// Stops taking work, lets every shard finish what it holds, and joins the threads.
    pub fn shutdown(&self) {
        for shard in &self.inner.shards {
            shard.stop();
        }
    }
}

#[cfg(test)]
mod tests;
