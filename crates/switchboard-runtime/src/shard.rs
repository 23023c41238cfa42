//! One shard: a thread that owns an engine and serves commands from a bounded channel.

use crate::clock::Clock;
use crate::metrics::{EventResult, Metrics};
use crate::{Applied, IngestError, Options, Refusal};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use parking_lot::{Mutex, RwLock};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;
use switchboard_core::{Effect, Engine, ErrorClass, Event, Millis};
use tokio::sync::{broadcast, oneshot};

/// Work for a shard.
pub(crate) enum Command {
    /// Apply an event at its own time, or at the arrival time when `at` is `None`.
    Apply { event: Box<Event>, at: Option<Millis>, reply: oneshot::Sender<Result<Applied, IngestError>> },
    /// Read the engine between two events.
    Query(Box<dyn FnOnce(&Engine) + Send>),
}

/// The caller's side of a shard.
pub(crate) struct Shard {
    // Senders take the read lock (shared, cheap); stopping takes the write lock and drops the
    // sender, so the thread sees the channel close once it has served everything already queued.
    tx: RwLock<Option<Sender<Command>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    running: Arc<AtomicBool>,
}

impl Shard {
    pub fn spawn(
        index: usize,
        engine: Engine,
        options: &Options,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        effects: broadcast::Sender<Effect>,
    ) -> Result<Shard, switchboard_core::config::ConfigError> {
        let (tx, rx) = crossbeam_channel::bounded(options.shard_queue.max(1));
        let running = Arc::new(AtomicBool::new(true));
        let worker = Worker {
            engine,
            rx,
            clock,
            metrics,
            effects,
            max_future_skew_ms: options.max_future_skew_ms,
            running: running.clone(),
        };
        let thread =
            std::thread::Builder::new().name(format!("shard-{index}")).spawn(move || worker.run()).map_err(
                |e| switchboard_core::config::ConfigError(format!("cannot start shard thread: {e}")),
            )?;
        Ok(Shard { tx: RwLock::new(Some(tx)), thread: Mutex::new(Some(thread)), running })
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

    /// Closes the queue and waits for the thread to serve what it holds and exit.
    pub fn stop(&self) {
        self.tx.write().take();
        if let Some(thread) = self.thread.lock().take() {
            let _ = thread.join();
        }
    }
}

/// The thread's side of a shard.
struct Worker {
    engine: Engine,
    rx: Receiver<Command>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    effects: broadcast::Sender<Effect>,
    max_future_skew_ms: Millis,
    running: Arc<AtomicBool>,
}

impl Worker {
    fn run(mut self) {
        loop {
            let now = self.clock.now_ms();
            let cmd = match self.engine.next_deadline() {
                Some(due) if due <= now => {
                    self.fire_timers(now);
                    continue;
                }
                // Sleep exactly until the next timer, or until work arrives.
                Some(due) => self.rx.recv_timeout(Duration::from_millis(due - now)),
                None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match cmd {
                Ok(Command::Apply { event, at, reply }) => {
                    let _ = reply.send(self.apply(*event, at));
                }
                Ok(Command::Query(job)) => job(&self.engine),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        self.running.store(false, Ordering::Release);
    }

    fn fire_timers(&mut self, now: Millis) {
        let mut effects = Vec::new();
        self.engine.advance(now, &mut effects);
        self.metrics.effects(&self.engine, &effects, None);
        self.publish(&effects);
    }

    fn apply(&mut self, event: Event, at: Option<Millis>) -> Result<Applied, IngestError> {
        let account = event.account().unwrap_or("").to_owned();
        let type_name = event.type_name();
        let wall = self.clock.now_ms();
        if let Some(at) = at {
            if at > wall.saturating_add(self.max_future_skew_ms) {
                self.metrics.event(&account, type_name, EventResult::Rejected);
                self.metrics.rejection(&account, "at_ahead");
                return Err(IngestError::Refused(Refusal {
                    class: ErrorClass::InvalidArgument,
                    field: Some("at"),
                    message: format!(
                        "invalid field 'at': {at} is {} ms ahead of the daemon's clock (at most {} ms allowed)",
                        at - wall,
                        self.max_future_skew_ms
                    ),
                }));
            }
        }
        // Time never goes backwards: a late `at` is applied at the engine's current time.
        let at = at.unwrap_or(wall).max(self.engine.now());
        let mut effects = Vec::new();
        let result = self.engine.apply(&event, at, &mut effects);
        let transferred = match &event {
            Event::TicketTransferred { ticket, .. } => Some(ticket.as_str()),
            _ => None,
        };
        self.metrics.effects(&self.engine, &effects, transferred);
        self.publish(&effects);
        match result {
            Ok(()) => {
                self.metrics.event(&account, type_name, EventResult::Accepted);
                if matches!(event, Event::OfferAccepted { .. }) {
                    self.metrics.offer_accepted(&account);
                }
                Ok(Applied { at, effects })
            }
            Err(e) => {
                self.metrics.event(&account, type_name, EventResult::Rejected);
                self.metrics.rejection(&account, class_name(e.class()));
                Err(IngestError::Refused(e.into()))
            }
        }
    }

    fn publish(&self, effects: &[Effect]) {
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
