//! One shard: a thread that owns an engine (and its storage) and serves commands from a bounded
//! channel.
//!
//! Events are taken in batches: every event waiting in the channel (up to a bound) is checked,
//! logged, committed to storage once (one write, one fsync under `always`), then applied and
//! answered. Batching is the group commit: under load many events share one fsync, and alone an
//! event pays for its own.

use crate::clock::Clock;
use crate::metrics::{EventResult, Metrics};
use crate::read::{ReadModel, STATS_EVERY_MS, Touched};
use crate::store::Store;
use crate::{Applied, IngestError, Options, Refusal};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use parking_lot::{Mutex, RwLock};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use switchboard_core::{Config, Effect, Engine, ErrorClass, Event, Millis};
use tokio::sync::{broadcast, oneshot};

/// Most events committed together.
const MAX_BATCH: usize = 1024;

/// How long a due snapshot waits for the bus publisher to confirm the effects sent so far.
const SNAPSHOT_PATIENCE: Duration = Duration::from_millis(200);

/// How long the final snapshot at shutdown waits for the bus publisher.
const CLOSE_PATIENCE: Duration = Duration::from_secs(5);

/// Where a shard answers an event.
pub(crate) type Reply = oneshot::Sender<Result<Applied, IngestError>>;

/// A read of the engine, run on the shard between two events.
pub(crate) type Job = Box<dyn FnOnce(&Engine) + Send>;

/// An event as it arrives at a shard.
pub(crate) struct Arrival {
    event: Box<Event>,
    at: Option<Millis>,
    event_id: Option<String>,
    reply: Reply,
}

/// Work for a shard.
pub(crate) enum Command {
    /// Apply an event at its own time, or at the arrival time when `at` is `None`.
    Apply { event: Box<Event>, at: Option<Millis>, event_id: Option<String>, reply: Reply },
    /// Read the engine between two events.
    Query(Job),
    /// Put a new engine configuration in force (see [`Worker::reconfigure`]).
    Reconfigure { config: Box<Config>, reply: oneshot::Sender<Result<(), String>> },
    /// Make the next log write fail (tests).
    #[cfg(feature = "fault-injection")]
    FailNextWrite,
}

/// The caller's side of a shard.
pub(crate) struct Shard {
    // Senders take the read lock (shared, cheap); stopping takes the write lock and drops the
    // sender, so the thread sees the channel close once it has served everything already queued.
    tx: RwLock<Option<Sender<Command>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    running: Arc<AtomicBool>,
    /// False while the shard's storage refuses writes.
    healthy: Arc<AtomicBool>,
}

/// What a shard thread is given.
pub(crate) struct Parts {
    pub index: usize,
    pub engine: Engine,
    pub store: Option<Store>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    pub effects: broadcast::Sender<Effect>,
    pub read: Arc<ReadModel>,
    pub outbox: Option<crate::outbox::Sender>,
}

impl Shard {
    pub fn spawn(parts: Parts, options: &Options) -> std::io::Result<Shard> {
        let (tx, rx) = crossbeam_channel::bounded(options.shard_queue.max(1));
        let running = Arc::new(AtomicBool::new(true));
        let healthy = Arc::new(AtomicBool::new(true));
        let index = parts.index;
        let worker = Worker {
            engine: parts.engine,
            store: parts.store,
            rx,
            clock: parts.clock,
            metrics: parts.metrics,
            effects: parts.effects,
            max_future_skew_ms: options.max_future_skew_ms,
            running: running.clone(),
            healthy: healthy.clone(),
            index,
            read: parts.read,
            outbox: parts.outbox,
            touched: Touched::default(),
            last_stats: std::collections::BTreeMap::new(),
        };
        let thread =
            std::thread::Builder::new().name(format!("shard-{index}")).spawn(move || worker.run())?;
        Ok(Shard { tx: RwLock::new(Some(tx)), thread: Mutex::new(Some(thread)), running, healthy })
    }

    /// Queues a command; when it cannot, gives it back with whether the queue was full (rather
    /// than the shard stopped).
    pub fn send(&self, cmd: Command) -> Result<(), (bool, Command)> {
        match self.tx.read().as_ref() {
            None => Err((false, cmd)),
            Some(tx) => tx.try_send(cmd).map_err(|e| match e {
                TrySendError::Full(cmd) => (true, cmd),
                TrySendError::Disconnected(cmd) => (false, cmd),
            }),
        }
    }

    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }

    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    /// Closes the queue and waits for the thread to serve what it holds, store a final snapshot,
    /// and exit.
    pub fn stop(&self) {
        self.tx.write().take();
        if let Some(thread) = self.thread.lock().take() {
            let _ = thread.join();
        }
    }
}

/// An event taken from the channel, on its way to being logged and applied.
struct Pending {
    event: Box<Event>,
    at: Millis,
    event_id: Option<String>,
    reply: Reply,
}

/// What [`Worker::admit`] made of an event.
enum Admitted {
    /// To be logged and applied.
    Log(Pending),
    /// A repeat of the batch's event at this index.
    RepeatOf(usize, Reply),
    /// Answered already (refused, or a duplicate of an event logged earlier).
    Answered,
}

/// The thread's side of a shard.
struct Worker {
    engine: Engine,
    store: Option<Store>,
    rx: Receiver<Command>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    effects: broadcast::Sender<Effect>,
    max_future_skew_ms: Millis,
    running: Arc<AtomicBool>,
    healthy: Arc<AtomicBool>,
    index: usize,
    read: Arc<ReadModel>,
    /// Every effect, for the bus publisher.
    outbox: Option<crate::outbox::Sender>,
    /// What the current batch touched, for the read model.
    touched: Touched,
    /// When each account's counts were last published.
    last_stats: std::collections::BTreeMap<Arc<str>, Millis>,
}

impl Worker {
    fn run(mut self) {
        loop {
            let now = self.clock.now_ms();
            if self.engine.next_deadline().is_some_and(|due| due <= now) {
                self.fire_timers(now);
                continue;
            }
            // Sleep until the next timer or storage duty, or until work arrives.
            let timer = self.engine.next_deadline().map(|due| Duration::from_millis(due - now));
            let fsync = self
                .store
                .as_ref()
                .and_then(Store::fsync_due)
                .map(|t| t.saturating_duration_since(Instant::now()));
            // Snapshots are checked at least this often even when idle.
            let duty = self.store.as_ref().map(|_| Duration::from_secs(1));
            // Counts held back by their interval are published when it ends.
            let stats = self.touched.pending().then(|| Duration::from_millis(STATS_EVERY_MS));
            let wait = [timer, fsync, duty, stats].into_iter().flatten().min();
            let cmd = match wait {
                Some(wait) => self.rx.recv_timeout(wait),
                None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match cmd {
                Ok(Command::Apply { event, at, event_id, reply }) => {
                    if let Some(next) = self.batch(Arrival { event, at, event_id, reply }) {
                        self.control(next);
                    }
                }
                Ok(other) => self.control(other),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            self.publish();
            self.storage_duties();
        }
        if let Some(store) = &mut self.store {
            // A final snapshot would cover effects the publisher may never have confirmed; without
            // it, the next start replays the log and hands them over again.
            let published = self.outbox.as_ref().is_none_or(|o| o.caught_up(CLOSE_PATIENCE));
            if !published {
                tracing::warn!(
                    shard = self.index,
                    unpublished = self.outbox.as_ref().map_or(0, |o| o.unconfirmed()),
                    "effects not yet published to the bus: no final snapshot, the next start publishes them"
                );
            }
            if let Err(e) = store.close(&self.engine, published) {
                tracing::error!(shard = self.index, error = %e, "could not store a final snapshot");
            }
        }
        self.running.store(false, Ordering::Release);
    }

    /// Serves a command other than an event.
    fn control(&mut self, cmd: Command) {
        match cmd {
            Command::Apply { event, at, event_id, reply } => {
                if let Some(next) = self.batch(Arrival { event, at, event_id, reply }) {
                    self.control(next);
                }
            }
            Command::Query(job) => job(&self.engine),
            Command::Reconfigure { config, reply } => {
                let _ = reply.send(self.reconfigure(*config));
            }
            #[cfg(feature = "fault-injection")]
            Command::FailNextWrite => {
                if let Some(store) = &mut self.store {
                    store.fail_next_write();
                }
            }
        }
    }

    /// Puts `config` in force ([`Engine::reconfigure`]) and, with storage, snapshots at once: the
    /// log after that snapshot is replayed under the new configuration at the next start (which
    /// reads the same file), the log before it never is. The snapshot must be able to cover every
    /// effect so far, so the bus publisher has to have confirmed them. On any failure the old
    /// configuration stays and the error says why.
    fn reconfigure(&mut self, config: Config) -> Result<(), String> {
        if *self.engine.config() == config {
            return Ok(());
        }
        if self.store.is_some() && !self.outbox.as_ref().is_none_or(|o| o.caught_up(CLOSE_PATIENCE)) {
            return Err("effects are still waiting to be published to the bus: try again".into());
        }
        let old = self.engine.config().clone();
        self.engine.reconfigure(config).map_err(|e| e.to_string())?;
        if let Some(store) = &mut self.store
            && let Err(e) = store.snapshot_now(&self.engine)
        {
            self.metrics.storage_errors.inc();
            // The same state under the configuration it came from: cannot be refused.
            if let Err(back) = self.engine.reconfigure(old) {
                tracing::error!(shard = self.index, error = %back, "could not return to the old configuration");
            }
            return Err(format!("cannot store the snapshot that marks the change: {e}"));
        }
        Ok(())
    }

    fn storage_duties(&mut self) {
        let Some(store) = &mut self.store else { return };
        let outbox = &self.outbox;
        // A snapshot waits briefly for the publisher to confirm what was sent (normally a round
        // trip to the broker); if it cannot, the snapshot is tried again at the next duty.
        let may_snapshot = || outbox.as_ref().is_none_or(|o| o.caught_up(SNAPSHOT_PATIENCE));
        if let Err(e) = store.tick(&self.engine, may_snapshot) {
            tracing::error!(shard = self.index, error = %e, "storage");
            self.metrics.storage_errors.inc();
        }
    }

    fn fire_timers(&mut self, now: Millis) {
        let mut effects = Vec::new();
        self.engine.advance(now, &mut effects);
        self.metrics.effects(&self.engine, &effects, None);
        self.touched.effects(&effects);
        self.broadcast(&effects);
        self.publish();
    }

    /// Brings the read model up to date with what the last batch touched.
    fn publish(&mut self) {
        let now = self.clock.now_ms();
        self.touched.publish(&self.engine, &self.read, now, &mut self.last_stats);
    }

    /// Takes `first` and every event already waiting behind it (up to `MAX_BATCH`, stopping at a
    /// query or any other command, which is returned to run after the batch), logs them, commits once, then applies
    /// and answers them in order.
    fn batch(&mut self, first: Arrival) -> Option<Command> {
        let wall = self.clock.now_ms();
        let mut clock = self.engine.now();
        let mut batch: Vec<Pending> = Vec::new();
        // Repeats of an id logged in this very batch: answered with the original's outcome once it
        // is known, never before the original is durable.
        let mut repeats: Vec<(usize, Reply)> = Vec::new();
        let mut query = None;
        let mut next = Some(first);
        while let Some(arrival) = next.take() {
            match self.admit(arrival, wall, &mut clock, &batch) {
                Admitted::Log(p) => batch.push(p),
                Admitted::RepeatOf(i, reply) => repeats.push((i, reply)),
                Admitted::Answered => {}
            }
            if batch.len() >= MAX_BATCH {
                break;
            }
            match self.rx.try_recv() {
                Ok(Command::Apply { event, at, event_id, reply }) => {
                    next = Some(Arrival { event, at, event_id, reply })
                }
                // Anything else waits until the batch is answered, keeping arrival order.
                Ok(other) => query = Some(other),
                Err(_) => {}
            }
        }
        if batch.is_empty() {
            return query;
        }
        if let Some(store) = &mut self.store {
            for p in &batch {
                store.log(p.at, p.event_id.as_deref(), &p.event);
            }
            let started = Instant::now();
            let committed = store.commit();
            self.metrics.wal_commit.observe(started.elapsed().as_secs_f64());
            if let Err(e) = committed {
                // Nothing of the batch is in the log, and nothing was applied: every event is
                // answered UNAVAILABLE and can be retried once the disk recovers.
                if self.healthy.swap(false, Ordering::AcqRel) {
                    tracing::error!(shard = self.index, error = %e, "cannot write the log: refusing events until it works again");
                }
                self.metrics.storage_errors.inc();
                let message = format!("cannot make the event durable: {e}");
                for p in batch {
                    self.metrics.event(
                        p.event.account().unwrap_or(""),
                        p.event.type_name(),
                        EventResult::Rejected,
                    );
                    self.metrics.rejection(p.event.account().unwrap_or(""), "unavailable");
                    let _ = p.reply.send(Err(IngestError::Unavailable(message.clone())));
                }
                for (_, reply) in repeats {
                    let _ = reply.send(Err(IngestError::Unavailable(message.clone())));
                }
                return query;
            }
            if !self.healthy.swap(true, Ordering::AcqRel) {
                tracing::info!(shard = self.index, "the log is writable again");
            }
            self.metrics.wal_records.inc_by(batch.len() as u64);
        }
        let mut answers = Vec::with_capacity(batch.len());
        for p in batch {
            let result = self.apply(p.event, p.at, p.event_id);
            answers.push((p.reply, result));
        }
        // The read model first, so that a client reading after its answer sees its own event.
        self.publish();
        for (i, reply) in repeats {
            let outcome =
                answers[i].1.as_ref().map(|a| Applied { at: a.at, effects: Vec::new(), duplicate: true });
            let _ = reply.send(outcome.map_err(Clone::clone));
        }
        for (reply, result) in answers {
            let _ = reply.send(result);
        }
        query
    }

    /// Checks an event before it is logged: its time, and whether its id was seen.
    fn admit(&mut self, arrival: Arrival, wall: Millis, clock: &mut Millis, batch: &[Pending]) -> Admitted {
        let Arrival { event, at, event_id, reply } = arrival;
        let account = event.account().unwrap_or("");
        if let Some(at) = at
            && at > wall.saturating_add(self.max_future_skew_ms)
        {
            self.metrics.event(account, event.type_name(), EventResult::Rejected);
            self.metrics.rejection(account, "at_ahead");
            let _ = reply.send(Err(IngestError::Refused(Refusal {
                class: ErrorClass::InvalidArgument,
                field: Some("at"),
                message: format!(
                    "invalid field 'at': {at} is {} ms ahead of the daemon's clock (at most {} ms allowed)",
                    at - wall,
                    self.max_future_skew_ms
                ),
            })));
            return Admitted::Answered;
        }
        // Time never goes backwards: a late `at` is applied at the current time. The time logged
        // is the time applied, so a replay applies it at the same time.
        let at = at.unwrap_or(wall).max(*clock);
        *clock = at;
        if let (Some(id), Some(store)) = (&event_id, &self.store) {
            let original = batch.iter().position(|p| {
                p.event_id.as_deref() == Some(id.as_str()) && p.event.account() == event.account()
            });
            if let Some(i) = original {
                self.metrics.event(account, event.type_name(), EventResult::Duplicate);
                return Admitted::RepeatOf(i, reply);
            }
            if store.seen.contains(account, id, at) {
                self.metrics.event(account, event.type_name(), EventResult::Duplicate);
                let _ = reply.send(Ok(Applied { at, effects: Vec::new(), duplicate: true }));
                return Admitted::Answered;
            }
        }
        Admitted::Log(Pending { event, at, event_id, reply })
    }

    fn apply(
        &mut self,
        event: Box<Event>,
        at: Millis,
        event_id: Option<String>,
    ) -> Result<Applied, IngestError> {
        let account = event.account().unwrap_or("").to_owned();
        let type_name = event.type_name();
        let mut effects = Vec::new();
        let result = self.engine.apply(&event, at, &mut effects);
        let transferred = match &*event {
            Event::TicketTransferred { ticket, .. } => Some(ticket.as_str()),
            _ => None,
        };
        self.metrics.effects(&self.engine, &effects, transferred);
        self.touched.event(&event);
        self.touched.effects(&effects);
        self.broadcast(&effects);
        match result {
            Ok(()) => {
                if let (Some(id), Some(store)) = (&event_id, &mut self.store) {
                    store.seen.insert(&account, id, at);
                }
                self.metrics.event(&account, type_name, EventResult::Accepted);
                if matches!(*event, Event::OfferAccepted { .. }) {
                    self.metrics.offer_accepted(&account);
                }
                Ok(Applied { at, effects, duplicate: false })
            }
            Err(e) => {
                self.metrics.event(&account, type_name, EventResult::Rejected);
                self.metrics.rejection(&account, class_name(e.class()));
                Err(IngestError::Refused(e.into()))
            }
        }
    }

    /// Sends effects to the outbox (waiting if it is full) and to the watchers.
    fn broadcast(&mut self, effects: &[Effect]) {
        if let Some(outbox) = &mut self.outbox {
            outbox.send(&self.engine, effects);
        }
        if self.effects.receiver_count() == 0 {
            return;
        }
        for e in effects {
            // An error only means every watcher has gone since the check: nothing to do.
            let _ = self.effects.send(e.clone());
        }
    }
}

/// A short stable name for an error class, used as a metric label.
pub(crate) fn class_name(class: ErrorClass) -> &'static str {
    match class {
        ErrorClass::InvalidArgument => "invalid_argument",
        ErrorClass::NotFound => "not_found",
        ErrorClass::FailedPrecondition => "failed_precondition",
        ErrorClass::AlreadyExists => "already_exists",
    }
}
