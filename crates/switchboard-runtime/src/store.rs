//! Durability for one shard: its write-ahead log, its snapshots and its window of seen event ids.
//!
//! The contract: an event is logged before it is applied, and acknowledged only once the log
//! holds it under the fsync policy (`always`: fsynced; `interval`: written to the OS, fsynced
//! within the interval by a thread of its own, `syncer.rs`; `never`: written to the OS). Every event that passes the runtime's own checks
//! is logged, even one the engine will refuse: refusing is deterministic, and a refused event
//! still moves time. Recovery is the newest valid snapshot plus the log after it, through the same
//! engine, so the state after a restart is the state before it.

use crate::syncer::Syncer;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use switchboard_core::snapshot::{EngineSnapshot, SnapshotError};
use switchboard_core::{Config, Engine, Event, Millis};
use switchboard_wal::{Wal, WalError};
use thiserror::Error;

/// When the log is fsynced, and so what an acknowledgement promises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Before every acknowledgement (events arriving together share one fsync).
    Always,
    /// At most this long after a write; a power loss can lose that much acknowledged work.
    Interval(Duration),
    /// Never: the OS writes when it likes (tests, benchmarks).
    Never,
}

/// How shards store their state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// The data directory.
    pub dir: PathBuf,
    /// When to fsync.
    pub fsync: FsyncPolicy,
    /// Start a new log segment past this size.
    pub segment_bytes: u64,
    /// Snapshot after this many logged events...
    pub snapshot_every_events: u64,
    /// ...or this long after the last snapshot, if anything was logged since.
    pub snapshot_every: Duration,
    /// How long an event id is remembered.
    pub dedup_window_ms: Millis,
    /// How many event ids are remembered at most, per shard.
    pub dedup_max_ids: usize,
}

impl StoreOptions {
    /// Defaults with the data directory `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        StoreOptions {
            dir: dir.into(),
            fsync: FsyncPolicy::Always,
            segment_bytes: 64 << 20,
            snapshot_every_events: 100_000,
            snapshot_every: Duration::from_secs(300),
            dedup_window_ms: 24 * 3600 * 1000,
            dedup_max_ids: 1_000_000,
        }
    }
}

/// Why a shard's storage could not be opened.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The log or a snapshot.
    #[error(transparent)]
    Wal(#[from] WalError),
    /// A record or snapshot that checks out on disk but does not decode.
    #[error("{path}: {reason}")]
    Decode {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A snapshot that does not fit the configuration.
    #[error("{path}: {cause}")]
    Snapshot {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        cause: SnapshotError,
    },
    /// The data directory's layout.
    #[error("{0}")]
    Layout(String),
}

/// The version of the payload encoding inside records and snapshots (postcard of the types below);
/// the log's own header version covers the framing.
const PAYLOAD_VERSION: u8 = 1;

/// One logged event.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    at: Millis,
    event_id: Option<String>,
    event: Event,
}

/// An event id seen: account, id, and the time it was applied at.
pub(crate) type SeenId = (Arc<str>, Arc<str>, Millis);

/// A shard's snapshot: the engine and the event ids seen.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ShardState {
    pub engine: EngineSnapshot,
    /// `(account, event id, at)`, oldest first.
    pub seen: Vec<SeenId>,
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = vec![PAYLOAD_VERSION];
    // postcard into a Vec only fails for types serde cannot describe, which ours are not.
    out.extend(postcard::to_stdvec(value).unwrap_or_default());
    out
}

fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, String> {
    match bytes.split_first() {
        Some((&PAYLOAD_VERSION, rest)) => {
            postcard::from_bytes(rest).map_err(|e| format!("cannot decode: {e}"))
        }
        Some((v, _)) => Err(format!("payload version {v}, but this build reads version {PAYLOAD_VERSION}")),
        None => Err("empty payload".into()),
    }
}

/// Event ids seen recently, per account, so a retried or redelivered event is not applied twice.
#[derive(Debug)]
pub(crate) struct Seen {
    window_ms: Millis,
    max: usize,
    ids: HashMap<(Arc<str>, Arc<str>), Millis>,
    order: VecDeque<(Millis, Arc<str>, Arc<str>)>,
}

impl Seen {
    fn new(window_ms: Millis, max: usize) -> Self {
        Seen { window_ms, max: max.max(1), ids: HashMap::new(), order: VecDeque::new() }
    }

    /// Whether `id` was applied for `account` within the window before `now`.
    pub fn contains(&self, account: &str, id: &str, now: Millis) -> bool {
        let key: (Arc<str>, Arc<str>) = (Arc::from(account), Arc::from(id));
        self.ids.get(&key).is_some_and(|&at| now.saturating_sub(at) <= self.window_ms)
    }

    pub fn insert(&mut self, account: &str, id: &str, at: Millis) {
        let (account, id): (Arc<str>, Arc<str>) = (account.into(), id.into());
        self.ids.insert((account.clone(), id.clone()), at);
        self.order.push_back((at, account, id));
        while self.order.len() > self.max
            || self.order.front().is_some_and(|f| at.saturating_sub(f.0) > self.window_ms)
        {
            if let Some((t, a, i)) = self.order.pop_front() {
                let key = (a, i);
                // Only forget the id if this entry is the one that set it.
                if self.ids.get(&key) == Some(&t) {
                    self.ids.remove(&key);
                }
            }
        }
    }

    /// The ids, oldest first; the strings are shared, not copied.
    fn export(&self) -> Vec<SeenId> {
        self.order.iter().map(|(t, a, i)| (a.clone(), i.clone(), *t)).collect()
    }
}

/// What recovery found, for the log.
#[derive(Debug, Clone, Default)]
pub struct Recovered {
    /// The seq the snapshot covered (0: none).
    pub snapshot_seq: u64,
    /// Log records replayed after it.
    pub replayed: u64,
    /// A torn tail cut off, if any.
    pub torn: Option<switchboard_wal::Torn>,
    /// Newer snapshots skipped because they were damaged.
    pub skipped_snapshots: Vec<String>,
    /// How long it took.
    pub took: Duration,
    /// The effects of the replayed records, numbered, when asked for (for the outbox).
    pub effects: Vec<crate::outbox::NumberedEffect>,
}

/// A shard's storage.
pub(crate) struct Store {
    dir: PathBuf,
    wal: Wal,
    opts: StoreOptions,
    pub seen: Seen,
    logged_since_snapshot: u64,
    last_snapshot: Instant,
    /// Under `interval`: the thread that fsyncs.
    syncer: Option<Syncer>,
    /// A snapshot being written in the background, and the seq it covers.
    job: Option<(u64, JoinHandle<Result<(), WalError>>)>,
}

impl Store {
    /// Opens the shard directory `dir`: the newest valid snapshot, then the log after it through a
    /// fresh engine. Returns the engine in the recovered state.
    /// With `keep_effects`, the effects of the replayed records are kept in [`Recovered::effects`].
    /// Under the `interval` policy this starts the shard's fsync thread, named after `dir`.
    pub fn recover(
        dir: &Path,
        config: &Config,
        opts: &StoreOptions,
        keep_effects: bool,
    ) -> Result<(Store, Engine, Recovered), StoreError> {
        let started = Instant::now();
        let mut report = Recovered::default();
        let (snapshot, skipped) = switchboard_wal::latest_snapshot(dir)?;
        report.skipped_snapshots = skipped.iter().map(ToString::to_string).collect();
        let mut seen = Seen::new(opts.dedup_window_ms, opts.dedup_max_ids);
        let (mut engine, after) = match snapshot {
            None => (Engine::new(config.clone()).map_err(|e| StoreError::Layout(e.to_string()))?, 0),
            Some((seq, bytes)) => {
                let path = dir.join(format!("{seq:020}.snap"));
                let state: ShardState =
                    decode(&bytes).map_err(|reason| StoreError::Decode { path: path.clone(), reason })?;
                let engine = Engine::restore(config.clone(), &state.engine)
                    .map_err(|cause| StoreError::Snapshot { path, cause })?;
                for (a, i, t) in &state.seen {
                    seen.insert(a, i, *t);
                }
                (engine, seq)
            }
        };
        report.snapshot_seq = after;
        let mut scratch = Vec::new();
        let (wal, opened) = Wal::open(dir, after, opts.segment_bytes, |_, payload| {
            let r: Record = decode(payload)?;
            if !keep_effects {
                scratch.clear();
            }
            if engine.apply(&r.event, r.at, &mut scratch).is_ok()
                && let (Some(id), Some(account)) = (&r.event_id, r.event.account())
            {
                seen.insert(account, id, r.at);
            }
            Ok(())
        })?;
        if keep_effects {
            report.effects = crate::outbox::number(&engine, &scratch);
        }
        report.replayed = opened.replayed;
        report.torn = opened.torn;
        report.took = started.elapsed();
        let syncer = match opts.fsync {
            FsyncPolicy::Interval(every) => {
                let name = format!("sync-{}", dir.file_name().unwrap_or_default().to_string_lossy());
                Some(Syncer::start(name, every).map_err(|e| WalError::Io { path: dir.into(), cause: e })?)
            }
            FsyncPolicy::Always | FsyncPolicy::Never => None,
        };
        let store = Store {
            dir: dir.into(),
            wal,
            opts: opts.clone(),
            seen,
            logged_since_snapshot: opened.replayed,
            last_snapshot: Instant::now(),
            syncer,
            job: None,
        };
        Ok((store, engine, report))
    }

    /// Buffers an event for the log.
    pub fn log(&mut self, at: Millis, event_id: Option<&str>, event: &Event) {
        // Encoding through a borrowed view would save a clone per event; the record type stays
        // owned to keep the format obvious.
        let record = Record { at, event_id: event_id.map(String::from), event: event.clone() };
        self.wal.append(&encode(&record));
        self.logged_since_snapshot += 1;
    }

    /// Writes what was logged and, under `always`, fsyncs it (under `interval`, schedules the
    /// fsync): after `Ok`, the batch may be acknowledged. After `Err` nothing of the batch is in
    /// the log.
    pub fn commit(&mut self) -> Result<(), WalError> {
        self.wal.write()?;
        match (self.opts.fsync, &mut self.syncer) {
            (FsyncPolicy::Always, _) => self.wal.sync()?,
            (FsyncPolicy::Interval(_), Some(syncer)) => syncer.written(self.wal.segment()),
            _ => {}
        }
        Ok(())
    }

    /// The interval fsyncs done since the last call (how long each took) and the first failure
    /// among them; nothing under the other policies.
    pub fn fsyncs(&self) -> (Vec<Duration>, Option<WalError>) {
        self.syncer.as_ref().map(Syncer::take).unwrap_or_default()
    }

    /// Background duties: a snapshot when one is due, and cleaning up after a finished one.
    /// Errors are reported, never fatal: the next call tries again. A snapshot is taken only when
    /// `may_snapshot` says the outbox allows it (see `outbox.rs`).
    pub fn tick(&mut self, engine: &mut Engine, may_snapshot: impl FnOnce() -> bool) -> Result<(), WalError> {
        if let Some((_, job)) = &self.job
            && job.is_finished()
        {
            let (seq, job) = self.job.take().expect("checked");
            match job.join() {
                Ok(Ok(())) => {
                    self.wal.remove_through(seq)?;
                    switchboard_wal::remove_snapshots_before(&self.dir, seq)?;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => tracing::error!(dir = %self.dir.display(), "the snapshot writer panicked"),
            }
        }
        let due = self.logged_since_snapshot >= self.opts.snapshot_every_events
            || (self.logged_since_snapshot > 0 && self.last_snapshot.elapsed() >= self.opts.snapshot_every);
        if due && self.job.is_none() && may_snapshot() {
            self.start_snapshot(engine);
        }
        Ok(())
    }

    /// Takes the engine's state now and writes it in the background; the log is trimmed once the
    /// snapshot is durable. Only freezing the state happens here, on the shard thread (see
    /// [`Engine::freeze`]); turning it into plain data and encoding it happen on the writer's.
    fn start_snapshot(&mut self, engine: &mut Engine) {
        let seq = self.wal.next_seq() - 1;
        let frozen = engine.freeze();
        let seen = self.seen.export();
        let dir = self.dir.clone();
        self.logged_since_snapshot = 0;
        self.last_snapshot = Instant::now();
        let job = std::thread::Builder::new().name("snapshot".into()).spawn(move || {
            let state = ShardState { engine: frozen.snapshot(), seen };
            switchboard_wal::write_snapshot(&dir, seq, &encode(&state)).map(|_| ())
        });
        match job {
            Ok(job) => self.job = Some((seq, job)),
            Err(e) => tracing::error!(error = %e, "cannot start the snapshot writer"),
        }
    }

    /// Writes a snapshot of `engine` now, waiting for it to be durable, and trims what it covers
    /// (a change of configuration: the log before it must never be replayed under the new one).
    pub fn snapshot_now(&mut self, engine: &Engine) -> Result<(), WalError> {
        self.wal.write()?;
        self.wal.sync()?;
        if let Some((_, job)) = self.job.take() {
            let _ = job.join();
        }
        let seq = self.wal.next_seq() - 1;
        let state = ShardState { engine: engine.snapshot(), seen: self.seen.export() };
        switchboard_wal::write_snapshot(&self.dir, seq, &encode(&state))?;
        self.logged_since_snapshot = 0;
        self.last_snapshot = Instant::now();
        self.wal.remove_through(seq)?;
        switchboard_wal::remove_snapshots_before(&self.dir, seq)?;
        Ok(())
    }

    /// Makes the next log write fail (tests).
    #[cfg(feature = "fault-injection")]
    pub fn fail_next_write(&mut self) {
        self.wal.fail_next_write();
    }

    /// At shutdown: fsync the log and write a final snapshot, so the next start has nothing to
    /// replay.
    /// Without `may_snapshot`, the log is left for the next start to replay (effects not yet
    /// published are then handed over again).
    pub fn close(&mut self, engine: &Engine, may_snapshot: bool) -> Result<(), WalError> {
        self.wal.write()?;
        self.wal.sync()?;
        if let Some((_, job)) = self.job.take() {
            let _ = job.join();
        }
        if self.logged_since_snapshot > 0 && may_snapshot {
            let seq = self.wal.next_seq() - 1;
            let state = ShardState { engine: engine.snapshot(), seen: self.seen.export() };
            switchboard_wal::write_snapshot(&self.dir, seq, &encode(&state))?;
            self.wal.remove_through(seq)?;
            switchboard_wal::remove_snapshots_before(&self.dir, seq)?;
        }
        Ok(())
    }
}

/// Writes a shard directory holding only a snapshot (covering nothing in its empty log): how a
/// regrouped shard starts.
pub(crate) fn write_initial(dir: &Path, state: &ShardState) -> Result<(), WalError> {
    switchboard_wal::write_snapshot(dir, 0, &encode(state)).map(|_| ())
}

/// Reads a shard's state without keeping its log open: for regrouping.
pub(crate) fn read_state(dir: &Path, config: &Config, opts: &StoreOptions) -> Result<ShardState, StoreError> {
    let (store, engine, _) = Store::recover(dir, config, opts, false)?;
    Ok(ShardState { engine: engine.snapshot(), seen: store.seen.export() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_ids_expire_by_age_and_by_count() {
        let mut s = Seen::new(1000, 3);
        s.insert("a", "1", 0);
        s.insert("a", "2", 10);
        assert!(s.contains("a", "1", 500));
        assert!(!s.contains("b", "1", 500), "ids are per account");
        assert!(!s.contains("a", "1", 1001), "older than the window");
        s.insert("a", "3", 20);
        s.insert("a", "4", 30);
        assert!(!s.contains("a", "1", 30), "the oldest goes when the count is exceeded");
        assert!(s.contains("a", "4", 30));
        s.insert("a", "5", 2000);
        assert!(!s.contains("a", "2", 2000));
        assert_eq!(s.export().len(), 1);
    }

    #[test]
    fn payloads_carry_their_version() {
        let bytes = encode(&Record { at: 5, event_id: None, event: Event::Tick });
        let back: Record = decode(&bytes).unwrap();
        assert_eq!((back.at, back.event), (5, Event::Tick));
        let mut other = bytes.clone();
        other[0] = 9;
        assert_eq!(
            decode::<Record>(&other).unwrap_err(),
            "payload version 9, but this build reads version 1"
        );
    }
}
