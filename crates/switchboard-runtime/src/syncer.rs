//! The `interval` fsync, off the shard's thread.
//!
//! An fsync takes 0.2–4 ms on the disks measured (benches/README.md), and under `interval` nothing
//! waits for it: acknowledgements promise only that the OS has the bytes. Done on the shard
//! thread, every event arriving meanwhile waited for it anyway. Here a thread per shard sleeps
//! until the interval after the first unsynced write has passed, then fsyncs the segments written
//! since, while the shard goes on writing.
//!
//! The hand-over ([`Plan`]): the shard marks a sync as pending when it writes and none is; the
//! syncer clears the mark, with a swap, *before* it fsyncs. A write that finds the mark set is
//! therefore covered by an fsync that has not started yet (the syncer's swap reads the shard's,
//! so the write happens before the fsync), and a write that finds it clear schedules a new one.
//! The loom model at the end checks it. A lock and a condition variable carry the rest rather
//! than a channel: the channel's blocking receive spins and yields first, which on a busy machine
//! costs a scheduler slice at a time.

use crate::sync::{self, Arc, AtomicBool, Condvar, Mutex, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use switchboard_wal::{Segment, WalError};

/// The shard's side of one syncer thread.
pub(crate) struct Syncer {
    plan: Arc<Plan<Segment>>,
    /// The segment last handed over: a write to another one (after a rotation) is always handed
    /// over, since a pending fsync would not cover it.
    sent: Option<Segment>,
    thread: Option<JoinHandle<()>>,
}

impl Syncer {
    /// Starts the thread `name`, which fsyncs `every` after the first unsynced write.
    pub fn start(name: String, every: Duration) -> std::io::Result<Syncer> {
        let plan = Arc::new(Plan::<Segment>::default());
        let thread = {
            let plan = plan.clone();
            std::thread::Builder::new().name(name).spawn(move || {
                while let Some(segments) = plan.next(every) {
                    let done = segments
                        .iter()
                        .map(|segment| {
                            let started = Instant::now();
                            let result = segment.sync();
                            (started.elapsed(), result.err())
                        })
                        .collect();
                    plan.report(done);
                }
            })?
        };
        Ok(Syncer { plan, sent: None, thread: Some(thread) })
    }

    /// Records that `segment` was just written to: an fsync of it is scheduled unless one that
    /// covers this write already is. Called for every batch: it clones the handle only when it
    /// schedules.
    pub fn written(&mut self, segment: &Segment) {
        let moved = self.sent.as_ref().is_none_or(|s| !s.same(segment));
        if self.plan.written(segment, moved, Segment::same) {
            self.sent = Some(segment.clone());
        }
    }

    /// How long each fsync since the last call took, and the first failure among them.
    pub fn take(&self) -> (Vec<Duration>, Option<WalError>) {
        let mut state = sync::lock(&self.plan.state);
        (std::mem::take(&mut state.took), state.failure.take())
    }
}

impl Drop for Syncer {
    /// Ends the thread: what it still holds is fsynced at once, not after the interval.
    fn drop(&mut self) {
        self.plan.close();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What a writer and its syncer share, for any kind of segment `T`.
struct Plan<T> {
    /// Set by a write that scheduled an fsync, cleared by the syncer just before it fsyncs.
    pending: AtomicBool,
    state: Mutex<State<T>>,
    wake: Condvar,
}

struct State<T> {
    /// Segments to fsync, and when the first of their writes happened.
    todo: Vec<T>,
    since: Option<Instant>,
    /// The writer is done: fsync what is left at once, then end.
    closed: bool,
    /// How long each fsync took, since the writer last looked.
    took: Vec<Duration>,
    /// The first failure since the writer last looked.
    failure: Option<WalError>,
}

impl<T> Default for Plan<T> {
    fn default() -> Self {
        let state = State { todo: Vec::new(), since: None, closed: false, took: Vec::new(), failure: None };
        Plan { pending: AtomicBool::new(false), state: Mutex::new(state), wake: Condvar::new() }
    }
}

impl<T: Clone> Plan<T> {
    /// The writer wrote to `segment` (another one than last time if `moved`): schedules an fsync
    /// unless a pending one covers the write. Returns whether it scheduled one.
    fn written(&self, segment: &T, moved: bool, same: impl Fn(&T, &T) -> bool) -> bool {
        let was_pending = self.pending.swap(true, Ordering::SeqCst);
        if was_pending && !moved {
            return false;
        }
        let mut state = sync::lock(&self.state);
        if !state.todo.iter().any(|s| same(s, segment)) {
            state.todo.push(segment.clone());
        }
        state.since.get_or_insert_with(Instant::now);
        drop(state);
        self.wake.notify_one();
        true
    }

    /// On the syncer: waits until an fsync is due (`every` after the first write it covers, or at
    /// once when closed) and returns the segments to fsync; `None` once closed with nothing left.
    fn next(&self, every: Duration) -> Option<Vec<T>> {
        let mut state = sync::lock(&self.state);
        loop {
            match state.since {
                None if state.closed => return None,
                None => state = sync::wait(&self.wake, state),
                Some(since) if !state.closed && !sync::passed(since + every) => {
                    state = sync::wait_until(&self.wake, state, since + every);
                }
                Some(_) => {
                    // A swap, not a store: it reads the writer's last swap, so every write that
                    // found the mark set happens before the fsync that follows.
                    self.pending.swap(false, Ordering::SeqCst);
                    state.since = None;
                    // `written` adds each segment once.
                    return Some(std::mem::take(&mut state.todo));
                }
            }
        }
    }

    /// On the syncer: how the fsyncs it was given went.
    fn report(&self, done: Vec<(Duration, Option<WalError>)>) {
        let mut state = sync::lock(&self.state);
        for (took, failure) in done {
            state.took.push(took);
            if let Some(e) = failure {
                state.failure.get_or_insert(e);
            }
        }
    }

    /// The writer is done.
    fn close(&self) {
        sync::lock(&self.state).closed = true;
        self.wake.notify_one();
    }
}

#[cfg(all(test, not(switchboard_loom)))]
mod tests {
    use super::*;
    use switchboard_wal::Wal;

    /// A directory removed when dropped.
    struct Dir(std::path::PathBuf);

    impl Dir {
        fn new(name: &str) -> Dir {
            let p = std::env::temp_dir().join(format!("switchboard-syncer-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            Dir(p)
        }

        fn path(&self) -> &std::path::Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn wal(dir: &std::path::Path) -> Wal {
        Wal::open(dir, 0, 1 << 20, |_, _| Ok(())).unwrap().0
    }

    /// Waits until `n` more fsyncs are done, failing after 10 s.
    fn wait_for(syncer: &Syncer, n: usize) {
        let until = Instant::now() + Duration::from_secs(10);
        let mut seen = 0;
        while seen < n {
            let (took, failure) = syncer.take();
            assert!(failure.is_none());
            seen += took.len();
            assert!(Instant::now() < until, "expected {n} fsyncs, saw {seen}");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(seen, n);
    }

    #[test]
    fn writes_within_one_interval_share_one_fsync_and_later_writes_get_another() {
        let dir = Dir::new("shared");
        let mut wal = wal(dir.path());
        let mut syncer = Syncer::start("test-sync".into(), Duration::from_millis(200)).unwrap();
        for _ in 0..3 {
            wal.append(b"x");
            wal.write().unwrap();
            syncer.written(wal.segment());
        }
        wait_for(&syncer, 1);
        assert!(!syncer.plan.pending.load(Ordering::SeqCst));
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(syncer.take().0.len(), 0, "three writes in one interval: one fsync");
        wal.append(b"y");
        wal.write().unwrap();
        syncer.written(wal.segment());
        wait_for(&syncer, 1);
    }

    #[test]
    fn a_write_to_a_new_segment_is_fsynced_even_while_one_is_pending() {
        let dir = Dir::new("rotation");
        let (mut a, mut b) = (wal(&dir.path().join("a")), wal(&dir.path().join("b")));
        let mut syncer = Syncer::start("test-sync".into(), Duration::from_millis(50)).unwrap();
        a.append(b"x");
        a.write().unwrap();
        syncer.written(a.segment());
        b.append(b"x");
        b.write().unwrap();
        syncer.written(b.segment());
        wait_for(&syncer, 2);
    }

    #[test]
    fn dropping_the_syncer_fsyncs_what_it_holds_without_waiting_out_the_interval() {
        let dir = Dir::new("drop");
        let mut wal = wal(dir.path());
        let mut syncer = Syncer::start("test-sync".into(), Duration::from_secs(3600)).unwrap();
        wal.append(b"x");
        wal.write().unwrap();
        syncer.written(wal.segment());
        let plan = syncer.plan.clone();
        let started = Instant::now();
        drop(syncer);
        assert!(started.elapsed() < Duration::from_secs(60));
        assert_eq!(plan.state.lock().took.len(), 1);
    }
}

#[cfg(all(test, switchboard_loom))]
mod loom_tests {
    use super::*;
    use loom::sync::atomic::AtomicUsize;

    /// The writer writes twice (a count stands in for the file) and tells the plan each time; the
    /// syncer "fsyncs" by reading how many writes it covers. Whatever the interleaving, the last
    /// fsync must cover both writes, with no interval at all (`sync::passed`) and with the close.
    fn model(moves: bool) {
        sync::check(move || {
            let plan = Arc::new(Plan::<u8>::default());
            let written = Arc::new(AtomicUsize::new(0));
            let covered = Arc::new(AtomicUsize::new(0));
            let syncer = {
                let (plan, written, covered) = (plan.clone(), written.clone(), covered.clone());
                loom::thread::spawn(move || {
                    while let Some(segments) = plan.next(Duration::ZERO) {
                        assert!(!segments.is_empty());
                        // What an fsync starting now covers: every write already made. Relaxed,
                        // so only the plan's own synchronisation can make the writes visible.
                        covered.store(written.load(Ordering::Relaxed), Ordering::Relaxed);
                        plan.report(Vec::new());
                    }
                })
            };
            for i in 0..2u8 {
                written.fetch_add(1, Ordering::Relaxed);
                let segment = if moves { i } else { 0 };
                plan.written(&segment, moves, |a, b| a == b);
            }
            plan.close();
            syncer.join().unwrap();
            assert_eq!(covered.load(Ordering::Relaxed), 2, "a write no fsync covered");
        });
    }

    #[test]
    fn every_write_is_covered_by_an_fsync_that_starts_after_it() {
        model(false);
    }

    #[test]
    fn a_rotation_is_covered_too() {
        model(true);
    }
}
