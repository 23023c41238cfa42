//! One shard: a thread that owns an engine (and its storage) and serves commands from a bounded
//! channel.
//!
//! Events are taken in batches: every event waiting in the channel (up to a bound) is checked,
//! logged, committed to storage once (one write, one fsync under `always`), then applied and
//! answered. Batching is the group commit: under load many events share one fsync, and alone an
//! event pays for its own.

use crate::clock::Clock;
use crate::doorbell::Doorbell;
use crate::metrics::{EventResult, Metrics};
use crate::read::{ReadModel, STATS_EVERY_MS, Touched};
use crate::store::Store;
use crate::watch::Broadcaster;
use crate::{Applied, IngestError, Options, Outcome, Refusal};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError, TrySendError};
use parking_lot::{Mutex, RwLock};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use switchboard_core::{Config, Effect, Engine, ErrorClass, Event, Millis};
use tokio::sync::oneshot;

/// Most events committed together.
const MAX_BATCH: usize = 1024;

/// How long a due snapshot waits for the bus publisher to confirm the effects sent so far.
const SNAPSHOT_PATIENCE: Duration = Duration::from_millis(200);

/// How long the final snapshot at shutdown waits for the bus publisher.
const CLOSE_PATIENCE: Duration = Duration::from_secs(5);

/// Where a shard answers an event.
pub(crate) type Reply = oneshot::Sender<Result<Applied, IngestError>>;

/// Where a shard answers a group of events, in the group's order.
pub(crate) type GroupReply = oneshot::Sender<Vec<Outcome>>;

/// A read of the engine, run on the shard between two events.
pub(crate) type Job = Box<dyn FnOnce(&Engine) + Send>;

/// One event of a group submitted at once ([`crate::Runtime::submit_many_patiently`]).
#[derive(Debug, Clone)]
pub struct Submission {
    /// The event.
    pub event: Event,
    /// Its own time, or `None` for the arrival time.
    pub at: Option<Millis>,
    /// Its id, for deduplication.
    pub event_id: Option<String>,
}

/// An event as it arrives at a shard.
struct Arrival {
    event: Box<Event>,
    at: Option<Millis>,
    event_id: Option<String>,
    reply: To,
    /// When it was handed to the shard.
    since: Instant,
}

/// Where an event's outcome goes: its own reply, or a slot of a group's.
enum To {
    One(Reply),
    Slot { group: usize, index: usize },
}

/// The groups being answered in one batch: their slots fill as events are answered, and each
/// group is sent once the batch is done (every path through a batch answers every event).
#[derive(Default)]
struct Answers {
    groups: Vec<(Vec<Option<Outcome>>, GroupReply)>,
}

impl Answers {
    /// Turns an event command into its arrivals.
    fn open(&mut self, cmd: Command, since: Instant, out: &mut Vec<Arrival>) {
        match cmd {
            Command::Apply { event, at, event_id, reply } => {
                out.push(Arrival { event, at, event_id, reply: To::One(reply), since })
            }
            Command::ApplyMany { events, reply } => {
                let group = self.groups.len();
                self.groups.push(((0..events.len()).map(|_| None).collect(), reply));
                out.extend(events.into_iter().enumerate().map(|(index, s)| Arrival {
                    event: Box::new(s.event),
                    at: s.at,
                    event_id: s.event_id,
                    reply: To::Slot { group, index },
                    since,
                }));
            }
            _ => unreachable!("only event commands are opened"),
        }
    }

    /// Whether the outcome goes to a group, whose caller only counts outcomes (no effects).
    fn is_slot(to: &To) -> bool {
        matches!(to, To::Slot { .. })
    }

    fn send(&mut self, to: To, outcome: Result<Applied, IngestError>) {
        match to {
            To::One(reply) => {
                let _ = reply.send(outcome);
            }
            To::Slot { group, index } => self.groups[group].0[index] = Some(outcome),
        }
    }

    fn finish(self) {
        for (slots, reply) in self.groups {
            let _ = reply.send(slots.into_iter().map(|s| s.unwrap_or(Err(IngestError::Stopped))).collect());
        }
    }
}

/// Work for a shard.
pub(crate) enum Command {
    /// Apply an event at its own time, or at the arrival time when `at` is `None`.
    Apply { event: Box<Event>, at: Option<Millis>, event_id: Option<String>, reply: Reply },
    /// Apply events in order, answering once for all of them.
    ApplyMany { events: Vec<Submission>, reply: GroupReply },
    /// Read the engine between two events.
    Query(Job),
    /// Put a new engine configuration in force (see [`Worker::reconfigure`]).
    Reconfigure { config: Box<Config>, reply: oneshot::Sender<Result<(), String>> },
    /// Make the next log write fail (tests).
    #[cfg(feature = "fault-injection")]
    FailNextWrite,
}

impl Command {
    /// The events the command carries, for the queue bound.
    fn events(&self) -> usize {
        match self {
            Command::Apply { .. } => 1,
            Command::ApplyMany { events, .. } => events.len(),
            _ => 0,
        }
    }
}

/// A command and when it was queued.
type Queued = (Instant, Command);

/// The caller's side of a shard.
pub(crate) struct Shard {
    // Senders take the read lock (shared, cheap); stopping takes the write lock and drops the
    // sender, so the thread sees the channel close once it has served everything already queued.
    tx: RwLock<Option<Sender<Queued>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    running: Arc<AtomicBool>,
    /// False while the shard's storage refuses writes.
    healthy: Arc<AtomicBool>,
    /// Events queued and not yet taken by the thread, against `bound`.
    queued: Arc<AtomicUsize>,
    bound: usize,
    /// The thread, to wake it when it sleeps (`doorbell.rs`).
    waker: std::thread::Thread,
    doorbell: Arc<Doorbell>,
}

/// What a shard thread is given.
pub(crate) struct Parts {
    pub index: usize,
    pub engine: Engine,
    pub store: Option<Store>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    pub effects: Arc<Broadcaster>,
    pub read: Arc<ReadModel>,
    pub outbox: Option<crate::outbox::Sender>,
}

impl Shard {
    pub fn spawn(parts: Parts, options: &Options) -> std::io::Result<Shard> {
        let bound = options.shard_queue.max(1);
        let (tx, rx) = crossbeam_channel::bounded(bound);
        let queued = Arc::new(AtomicUsize::new(0));
        let doorbell = Arc::new(Doorbell::default());
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
            queued: queued.clone(),
            broadcast: Vec::new(),
            doorbell: doorbell.clone(),
        };
        let thread =
            std::thread::Builder::new().name(format!("shard-{index}")).spawn(move || worker.run())?;
        Ok(Shard {
            waker: thread.thread().clone(),
            tx: RwLock::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            running,
            healthy,
            queued,
            bound,
            doorbell,
        })
    }

    /// Queues a command; when it cannot, gives it back with whether the queue was full (rather
    /// than the shard stopped). The queue holds at most `shard_queue` events, however they are
    /// grouped (groups come in pieces that fit: `Runtime::submit_many_patiently`). Stamps the
    /// command with the time it was queued, which `switchboard_shard_latency_seconds` starts from.
    pub fn send(&self, cmd: Command) -> Result<(), (bool, Command)> {
        let guard = self.tx.read();
        let Some(tx) = guard.as_ref() else { return Err((false, cmd)) };
        let n = cmd.events();
        // Counted before sending so that the thread's decrement never comes first.
        let before = self.queued.fetch_add(n, Ordering::AcqRel);
        if before + n > self.bound {
            self.queued.fetch_sub(n, Ordering::AcqRel);
            return Err((true, cmd));
        }
        tx.try_send((Instant::now(), cmd)).map_err(|e| {
            self.queued.fetch_sub(n, Ordering::AcqRel);
            match e {
                TrySendError::Full((_, cmd)) => (true, cmd),
                TrySendError::Disconnected((_, cmd)) => (false, cmd),
            }
        })?;
        self.doorbell.ring(|| self.waker.unpark());
        Ok(())
    }

    /// The most events the queue holds.
    pub fn bound(&self) -> usize {
        self.bound
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
        self.waker.unpark();
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
    reply: To,
    since: Instant,
}

/// What [`Worker::admit`] made of an event.
enum Admitted {
    /// To be logged and applied.
    Log(Pending),
    /// A repeat of the batch's event at this index.
    RepeatOf(usize, To),
    /// Answered already (refused, or a duplicate of an event logged earlier).
    Answered,
}

/// The thread's side of a shard.
struct Worker {
    engine: Engine,
    store: Option<Store>,
    rx: Receiver<Queued>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    effects: Arc<Broadcaster>,
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
    /// Events in the queue (shared with [`Shard`]).
    queued: Arc<AtomicUsize>,
    /// The effects of the batch being applied, for watchers.
    broadcast: Vec<Effect>,
    /// How senders wake the thread when it sleeps waiting for a command.
    doorbell: Arc<Doorbell>,
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
            // Snapshots are checked at least this often even when idle.
            let duty = self.store.as_ref().map(|_| Duration::from_secs(1));
            // Counts held back by their interval are published when it ends.
            let stats = self.touched.pending().then(|| Duration::from_millis(STATS_EVERY_MS));
            let wait = [timer, duty, stats].into_iter().flatten().min();
            let cmd = self.next_command(wait);
            if let Ok((_, cmd)) = &cmd {
                self.taken(cmd);
            }
            match cmd {
                Ok((since, cmd)) => self.control(cmd, since),
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

    /// The next command, waiting for it at most `wait` (`None`: for ever). Sleeps as
    /// `doorbell.rs` describes, so under load commands pass without any wakeup.
    fn next_command(&self, wait: Option<Duration>) -> Result<Queued, RecvTimeoutError> {
        let deadline = wait.map(|w| Instant::now() + w);
        loop {
            match self.rx.try_recv() {
                Ok(cmd) => return Ok(cmd),
                Err(TryRecvError::Disconnected) => return Err(RecvTimeoutError::Disconnected),
                Err(TryRecvError::Empty) => {}
            }
            let timeout = match deadline {
                None => None,
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return Err(RecvTimeoutError::Timeout),
                },
            };
            self.doorbell.sleep(|| !self.rx.is_empty(), timeout);
        }
    }

    /// Accounts for a command taken off the queue.
    fn taken(&self, cmd: &Command) {
        let n = cmd.events();
        if n > 0 {
            self.queued.fetch_sub(n, Ordering::AcqRel);
        }
    }

    /// Serves a command queued at `since`.
    fn control(&mut self, cmd: Command, since: Instant) {
        match cmd {
            cmd @ (Command::Apply { .. } | Command::ApplyMany { .. }) => {
                if let Some((since, next)) = self.batch(cmd, since) {
                    self.control(next, since);
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
        let (fsyncs, failed) = store.fsyncs();
        for took in fsyncs {
            self.metrics.wal_fsync.observe(took.as_secs_f64());
        }
        if let Some(e) = failed {
            tracing::error!(shard = self.index, error = %e, "cannot fsync the log");
            self.metrics.storage_errors.inc();
        }
        let may_snapshot = || outbox.as_ref().is_none_or(|o| o.caught_up(SNAPSHOT_PATIENCE));
        if let Err(e) = store.tick(&mut self.engine, may_snapshot) {
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
        self.flush_broadcast();
        self.publish();
    }

    /// Brings the read model up to date with what the last batch touched.
    fn publish(&mut self) {
        let now = self.clock.now_ms();
        self.touched.publish(&self.engine, &self.read, now, &mut self.last_stats);
    }

    /// Takes the event command `first` and every event command already waiting behind it (up to
    /// `MAX_BATCH` events, stopping at a query or any other command, which is returned to run
    /// after the batch), logs them, commits once, then applies and answers them in order.
    fn batch(&mut self, first: Command, since: Instant) -> Option<Queued> {
        let mut answers = Answers::default();
        let query = self.batch_into(first, since, &mut answers);
        answers.finish();
        query
    }

    fn batch_into(&mut self, first: Command, since: Instant, answers: &mut Answers) -> Option<Queued> {
        let wall = self.clock.now_ms();
        let mut clock = self.engine.now();
        let mut batch: Vec<Pending> = Vec::new();
        // Repeats of an id logged in this very batch: answered with the original's outcome once it
        // is known, never before the original is durable.
        let mut repeats: Vec<(usize, To)> = Vec::new();
        let mut query = None;
        let mut arrivals = Vec::new();
        let mut next = Some((since, first));
        while let Some((since, cmd)) = next.take() {
            answers.open(cmd, since, &mut arrivals);
            for arrival in arrivals.drain(..) {
                match self.admit(arrival, wall, &mut clock, &batch, answers) {
                    Admitted::Log(p) => batch.push(p),
                    Admitted::RepeatOf(i, reply) => repeats.push((i, reply)),
                    Admitted::Answered => {}
                }
            }
            if batch.len() >= MAX_BATCH {
                break;
            }
            match self.rx.try_recv() {
                Ok((since, cmd @ (Command::Apply { .. } | Command::ApplyMany { .. }))) => {
                    self.taken(&cmd);
                    next = Some((since, cmd));
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
                    answers.send(p.reply, Err(IngestError::Unavailable(message.clone())));
                }
                for (_, reply) in repeats {
                    answers.send(reply, Err(IngestError::Unavailable(message.clone())));
                }
                return query;
            }
            if !self.healthy.swap(true, Ordering::AcqRel) {
                tracing::info!(shard = self.index, "the log is writable again");
            }
            self.metrics.wal_records.inc_by(batch.len() as u64);
        }
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut handed_over = Vec::with_capacity(batch.len());
        for p in batch {
            let keep_effects = !Answers::is_slot(&p.reply);
            handed_over.push(p.since);
            let result = self.apply(p.event, p.at, p.event_id, keep_effects);
            outcomes.push((p.reply, result));
        }
        self.flush_broadcast();
        // The read model first, so that a client reading after its answer sees its own event.
        self.publish();
        for (i, reply) in repeats {
            let outcome =
                outcomes[i].1.as_ref().map(|a| Applied { at: a.at, effects: Vec::new(), duplicate: true });
            answers.send(reply, outcome.map_err(Clone::clone));
        }
        for (reply, result) in outcomes {
            answers.send(reply, result);
        }
        for since in handed_over {
            self.metrics.shard_latency.observe(since.elapsed().as_secs_f64());
        }
        query
    }

    /// Checks an event before it is logged: its time, and whether its id was seen.
    fn admit(
        &mut self,
        arrival: Arrival,
        wall: Millis,
        clock: &mut Millis,
        batch: &[Pending],
        answers: &mut Answers,
    ) -> Admitted {
        let Arrival { event, at, event_id, reply, since } = arrival;
        let account = event.account().unwrap_or("");
        if let Some(at) = at
            && at > wall.saturating_add(self.max_future_skew_ms)
        {
            self.metrics.event(account, event.type_name(), EventResult::Rejected);
            self.metrics.rejection(account, "at_ahead");
            answers.send(reply, Err(IngestError::Refused(Refusal {
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
                answers.send(reply, Ok(Applied { at, effects: Vec::new(), duplicate: true }));
                return Admitted::Answered;
            }
        }
        Admitted::Log(Pending { event, at, event_id, reply, since })
    }

    fn apply(
        &mut self,
        event: Box<Event>,
        at: Millis,
        event_id: Option<String>,
        keep_effects: bool,
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
                let effects = if keep_effects { effects } else { Vec::new() };
                Ok(Applied { at, effects, duplicate: false })
            }
            Err(e) => {
                self.metrics.event(&account, type_name, EventResult::Rejected);
                self.metrics.rejection(&account, class_name(e.class()));
                Err(IngestError::Refused(e.into()))
            }
        }
    }

    /// Sends effects to the outbox (waiting if it is full), and keeps them for the watchers until
    /// [`Worker::flush_broadcast`].
    fn broadcast(&mut self, effects: &[Effect]) {
        if let Some(outbox) = &mut self.outbox {
            outbox.send(&self.engine, effects);
        }
        if self.effects.is_watched() {
            self.broadcast.extend_from_slice(effects);
        }
    }

    /// Hands the batch's effects to the watchers, as one message.
    fn flush_broadcast(&mut self) {
        if !self.broadcast.is_empty() {
            self.effects.send(self.index, std::mem::take(&mut self.broadcast));
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
