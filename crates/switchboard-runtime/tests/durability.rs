//! What an acknowledgement promises, checked on a real file system: restarts, crash images, duplicate
//! ids, snapshots and log compaction, timers across downtime, format versions, a failing disk.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use switchboard_core::snapshot::EngineSnapshot;
use switchboard_core::{Config, CustomerMessage, Event, Millis, TicketAttrs};
use switchboard_runtime::clock::Clock;
use switchboard_runtime::store::{FsyncPolicy, StoreOptions};
use switchboard_runtime::{IngestError, Options, Runtime, Submission};

/// A clock the test moves by hand.
struct ManualClock(AtomicU64);

impl Clock for ManualClock {
    fn now_ms(&self) -> Millis {
        self.0.load(Ordering::SeqCst)
    }
}

const T0: Millis = 1_767_571_200_000;

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("switchboard-durability-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        Dir(p)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn options(dir: &Path, shards: usize) -> Options {
    Options {
        shards,
        store: Some(StoreOptions { fsync: FsyncPolicy::Always, ..StoreOptions::new(dir) }),
        ..Options::default()
    }
}

fn start(dir: &Path, shards: usize, clock: &Arc<ManualClock>) -> Runtime {
    Runtime::start_with_clock(Config::default(), options(dir, shards), clock.clone()).expect("starts")
}

fn agent(account: &str, id: &str) -> Event {
    Event::AgentUpserted {
        account: account.into(),
        agent: id.into(),
        groups: vec![],
        skills: vec![],
        capacity: vec![("messaging".into(), 2)],
    }
}

fn online(account: &str, id: &str) -> Event {
    Event::AgentStatus { account: account.into(), agent: id.into(), status: "online".into(), channel: None }
}

fn message(account: &str, conversation: &str) -> Event {
    Event::Message(CustomerMessage {
        account: account.into(),
        conversation: conversation.into(),
        requester: "r".into(),
        attrs: TicketAttrs { channel: "messaging".into(), via: "whatsapp".into(), ..TicketAttrs::default() },
    })
}

/// Every shard's state, merged into one snapshot per account, in a stable order.
async fn state(rt: &Runtime) -> Vec<String> {
    let parts: Vec<EngineSnapshot> = rt.query_all(|e| e.snapshot()).await.unwrap();
    let mut accounts: Vec<String> =
        parts.into_iter().flat_map(|p| p.accounts).map(|a| format!("{a:?}")).collect();
    accounts.sort();
    accounts
}

/// As [`state`], but with timer sequence numbers (an engine's private tie-breaker, renumbered when
/// accounts move between shards) left out; due times stay.
async fn state_across_shards(rt: &Runtime) -> Vec<String> {
    let parts: Vec<EngineSnapshot> = rt.query_all(|e| e.snapshot()).await.unwrap();
    let mut accounts: Vec<String> = parts
        .into_iter()
        .flat_map(|p| p.accounts)
        .map(|mut a| {
            for t in &mut a.tickets {
                for (_, seq) in
                    [&mut t.offer_timer, &mut t.skills_timer, &mut t.close_timer].into_iter().flatten()
                {
                    *seq = 0;
                }
            }
            format!("{a:?}")
        })
        .collect();
    accounts.sort();
    accounts
}

/// A scenario of several accounts: agents, offers, accepts, a queue.
async fn busy_day(rt: &Runtime) {
    for account in ["acme", "globex", "initech"] {
        rt.ingest(agent(account, "a1"), None, None).await.unwrap();
        rt.ingest(online(account, "a1"), None, None).await.unwrap();
        for c in 0..5 {
            rt.ingest(message(account, &format!("c{c}")), None, Some(format!("{account}-m{c}")))
                .await
                .unwrap();
        }
        let accept =
            Event::OfferAccepted { account: account.into(), ticket: "c0#1".into(), agent: "a1".into() };
        rt.ingest(accept, None, None).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_recovers_exactly_the_state_before_it() {
    let dir = Dir::new("restart");
    let clock = Arc::new(ManualClock(AtomicU64::new(T0)));
    let rt = start(&dir.0, 2, &clock);
    busy_day(&rt).await;
    let before = state(&rt).await;
    rt.shutdown();
    let rt = start(&dir.0, 2, &clock);
    assert_eq!(state(&rt).await, before);
    // And it goes on from there.
    let applied = rt.ingest(message("acme", "c9"), None, None).await.unwrap();
    assert_eq!(applied.effects.len(), 1, "a1 is full: the new ticket waits");
    rt.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_image_taken_after_acknowledgements_recovers_them_all() {
    let dir = Dir::new("crash");
    let image = Dir::new("crash-image");
    let clock = Arc::new(ManualClock(AtomicU64::new(T0)));
    let rt = start(&dir.0, 2, &clock);
    busy_day(&rt).await;
    let before = state(&rt).await;
    // What is on disk right now, as a power cut would leave it (no shutdown, no final snapshot).
    copy_dir(&dir.0, &image.0);
    let recovered = start(&image.0, 2, &clock);
    assert_eq!(state(&recovered).await, before);
    assert!(recovered.metrics().recovery_replayed.get() > 0, "recovered from the log, not a snapshot");
    recovered.shutdown();
    rt.shutdown();
}

/// Copies a data directory. Where a shard may be compacting meanwhile, run it on the shard's thread
/// (in a query) so that the shard removes nothing while it copies; a snapshot writer may still
/// rename its temporary file away, which is then missing from the copy as if the copy had been
/// taken a moment earlier.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            match std::fs::copy(entry.path(), target) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    assert!(
                        entry.path().extension().is_some_and(|x| x == "tmp"),
                        "{:?} vanished",
                        entry.path()
                    );
                }
                copied => {
                    copied.unwrap();
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repeated_event_id_is_acknowledged_as_a_duplicate_even_after_a_restart() {
    let dir = Dir::new("dedup");
    let clock = Arc::new(ManualClock(AtomicU64::new(T0)));
    let rt = start(&dir.0, 1, &clock);
    let first = rt.ingest(message("acme", "c"), None, Some("e-1".into())).await.unwrap();
    assert!(!first.duplicate && !first.effects.is_empty());
    let again = rt.ingest(message("acme", "c"), None, Some("e-1".into())).await.unwrap();
    assert!(again.duplicate && again.effects.is_empty());
    // The same id in another account is another event.
    let other = rt.ingest(message("globex", "c"), None, Some("e-1".into())).await.unwrap();
    assert!(!other.duplicate);
    rt.shutdown();
    let rt = start(&dir.0, 1, &clock);
    assert!(rt.ingest(message("acme", "c"), None, Some("e-1".into())).await.unwrap().duplicate);
    let stats = rt.all_stats().await.unwrap();
    assert!(stats.iter().all(|s| s.tickets_by_status.iter().sum::<u32>() == 1), "applied once: {stats:?}");
    rt.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn snapshots_compact_the_log_and_recovery_uses_them() {
    let dir = Dir::new("compact");
    let clock = Arc::new(ManualClock(AtomicU64::new(T0)));
    let mut opts = options(&dir.0, 1);
    let store = opts.store.as_mut().unwrap();
    store.snapshot_every_events = 50;
    store.segment_bytes = 4096;
    let rt = Runtime::start_with_clock(Config::default(), opts.clone(), clock.clone()).unwrap();
    rt.ingest(agent("acme", "a1"), None, None).await.unwrap();
    for c in 0..400 {
        rt.ingest(message("acme", &format!("c{c}")), None, None).await.unwrap();
    }
    // Snapshots are written in the background; give the shard a moment and a nudge.
    let shard_dir = dir.0.join("shards-1").join("shard-0");
    let mut segments = usize::MAX;
    for _ in 0..100 {
        rt.query("acme", |_| ()).await.unwrap();
        segments = count(&shard_dir, "wal");
        if segments <= 3 && count(&shard_dir, "snap") == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(segments <= 3, "old segments removed: {segments} left");
    let before = state(&rt).await;
    let (from, to) = (dir.0.clone(), dir.0.with_extension("image"));
    rt.query("acme", move |_| copy_dir(&from, &to)).await.unwrap();
    let image = Dir(dir.0.with_extension("image"));
    let recovered =
        Runtime::start_with_clock(Config::default(), options(&image.0, 1), clock.clone()).unwrap();
    assert_eq!(state(&recovered).await, before);
    assert!(recovered.metrics().recovery_replayed.get() < 100, "most of it came from the snapshot");
    recovered.shutdown();
    rt.shutdown();
}

fn count(dir: &Path, ext: &str) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == ext))
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn timers_due_during_the_downtime_fire_at_recovery() {
    let dir = Dir::new("downtime");
    let clock = Arc::new(ManualClock(AtomicU64::new(T0)));
    let rt = start(&dir.0, 1, &clock);
    rt.ingest(agent("acme", "a1"), None, None).await.unwrap();
    rt.ingest(online("acme", "a1"), None, None).await.unwrap();
    rt.ingest(message("acme", "c"), None, None).await.unwrap();
    rt.shutdown();
    // Down for a minute: the offer's 30 s timeout passes meanwhile.
    clock.0.store(T0 + 60_000, Ordering::SeqCst);
    let rt = start(&dir.0, 1, &clock);
    let mut ticket = None;
    for _ in 0..100 {
        ticket = rt.query("acme", |e| e.ticket("acme", "c#1")).await.unwrap();
        if ticket.as_ref().is_some_and(|t| t.offered_to.is_none()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let ticket = ticket.unwrap();
    assert_eq!(ticket.offered_to, None, "the offer timed out at recovery");
    // a1 let it time out, so it is not offered to a1 again: it waits.
    assert_eq!(ticket.queue_position, Some(0));
    rt.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn another_shard_count_regroups_the_accounts() {
    let dir = Dir::new("regroup");
    let clock = Arc::new(ManualClock(AtomicU64::new(T0)));
    let rt = start(&dir.0, 2, &clock);
    busy_day(&rt).await;
    let before = state_across_shards(&rt).await;
    rt.shutdown();
    let rt = start(&dir.0, 3, &clock);
    assert_eq!(state_across_shards(&rt).await, before);
    assert!(dir.0.join("shards-3").exists() && !dir.0.join("shards-2").exists());
    // Duplicate ids moved with their accounts.
    assert!(rt.ingest(message("globex", "c3"), None, Some("globex-m3".into())).await.unwrap().duplicate);
    rt.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_log_of_another_format_version_stops_the_start_clearly() {
    let dir = Dir::new("version");
    let clock = Arc::new(ManualClock(AtomicU64::new(T0)));
    let rt = start(&dir.0, 1, &clock);
    rt.ingest(agent("acme", "a1"), None, None).await.unwrap();
    copy_dir(&dir.0, &dir.0.with_extension("image"));
    let image = Dir(dir.0.with_extension("image"));
    rt.shutdown();
    let shard = image.0.join("shards-1").join("shard-0");
    let segment = std::fs::read_dir(&shard)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "wal"))
        .unwrap();
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes[8] = 7;
    std::fs::write(&segment, bytes).unwrap();
    let err = Runtime::start_with_clock(Config::default(), options(&image.0, 1), clock.clone()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("format version 7, but this build reads version 1") && text.contains(".wal"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_disk_refuses_events_unapplied_and_recovers_when_it_works() {
    let dir = Dir::new("disk");
    let clock = Arc::new(ManualClock(AtomicU64::new(T0)));
    let rt = start(&dir.0, 1, &clock);
    rt.ingest(agent("acme", "a1"), None, None).await.unwrap();
    assert!(rt.is_ready());
    rt.fail_next_write("acme");
    let err = rt.ingest(message("acme", "lost"), None, None).await.unwrap_err();
    assert!(matches!(&err, IngestError::Unavailable(m) if m.contains("no space left on device")), "{err:?}");
    assert!(!rt.is_ready(), "unready while the log cannot be written");
    assert!(rt.query("acme", |e| e.ticket("acme", "lost#1")).await.unwrap().is_none(), "nothing applied");
    // The disk works again: the retry goes through and readiness comes back.
    rt.ingest(message("acme", "lost"), None, None).await.unwrap();
    assert!(rt.is_ready());
    let before = state(&rt).await;
    rt.shutdown();
    let rt = start(&dir.0, 1, &clock);
    assert_eq!(state(&rt).await, before, "the failed write left nothing behind");
    rt.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repeat_arriving_with_its_original_waits_for_the_original_to_be_durable() {
    let dir = Dir::new("repeat");
    let clock = Arc::new(ManualClock(AtomicU64::new(T0)));
    let rt = start(&dir.0, 1, &clock);
    // Hold the shard so that the original and its repeat land in one batch, whose write fails.
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let holder = rt.clone();
    let busy = tokio::spawn(async move {
        holder
            .query("acme", move |_| {
                let _ = wait.recv();
            })
            .await
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    rt.fail_next_write("acme");
    let original = rt.submit(message("acme", "c"), None, Some("x".into())).unwrap();
    let repeat = rt.submit(message("acme", "c"), None, Some("x".into())).unwrap();
    go.send(()).unwrap();
    busy.await.unwrap().unwrap();
    assert!(matches!(original.wait().await, Err(IngestError::Unavailable(_))));
    assert!(
        matches!(repeat.wait().await, Err(IngestError::Unavailable(_))),
        "not acknowledged: nothing is durable"
    );
    // When the write succeeds, the repeat is acknowledged as a duplicate of what was applied.
    let original = rt.submit(message("acme", "c"), None, Some("y".into())).unwrap();
    let repeat = rt.submit(message("acme", "c"), None, Some("y".into())).unwrap();
    assert!(!original.wait().await.unwrap().duplicate);
    assert!(repeat.wait().await.unwrap().duplicate);
    rt.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn events_submitted_as_a_group_share_the_log_dedup_and_failures_of_single_ones() {
    let dir = Dir::new("group");
    let clock = Arc::new(ManualClock(AtomicU64::new(T0)));
    let rt = start(&dir.0, 2, &clock);
    let with_id = |account: &str, conversation: &str, id: &str| Submission {
        event: message(account, conversation),
        at: None,
        event_id: Some(id.into()),
    };
    let patience = Duration::from_secs(5);
    rt.ingest(message("acme", "seen"), None, Some("old".into())).await.unwrap();
    let group = vec![
        with_id("acme", "c1", "e1"),
        with_id("acme", "c1", "e1"),    // a repeat within the group
        with_id("acme", "seen", "old"), // a repeat of an earlier event
        with_id("globex", "c1", "e1"),  // the same id in another account
    ];
    let outcomes = rt.submit_many_patiently(group, patience).await.wait().await;
    let duplicates: Vec<bool> = outcomes.iter().map(|o| o.as_ref().unwrap().duplicate).collect();
    assert_eq!(duplicates, vec![false, true, true, false]);
    // A failed write answers every event of the group UNAVAILABLE and applies none of them.
    rt.fail_next_write("acme");
    let outcomes = rt
        .submit_many_patiently(vec![with_id("acme", "c2", "e2"), with_id("acme", "c3", "e3")], patience)
        .await;
    assert!(outcomes.wait().await.iter().all(|o| matches!(o, Err(IngestError::Unavailable(_)))));
    let before = state(&rt).await;
    rt.shutdown();
    // What was acknowledged is what a restart recovers, and the ids are still known.
    let rt = start(&dir.0, 2, &clock);
    assert_eq!(state(&rt).await, before);
    let again = rt.submit_many_patiently(vec![with_id("acme", "c1", "e1")], patience).await.wait().await;
    assert!(again[0].as_ref().unwrap().duplicate);
    let stats = rt.all_stats().await.unwrap();
    let tickets: u32 = stats.iter().map(|s| s.tickets_by_status.iter().sum::<u32>()).sum();
    assert_eq!(tickets, 3, "seen#1, c1#1 in acme and c1#1 in globex: {stats:?}");
    rt.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_configuration_changed_live_is_what_a_crash_image_recovers_under() {
    let dir = Dir::new("reconfigure");
    let image = Dir::new("reconfigure-image");
    let clock = Arc::new(ManualClock(AtomicU64::new(T0)));
    let rt = start(&dir.0, 2, &clock);
    busy_day(&rt).await;
    let mut auto = Config::default();
    Arc::make_mut(&mut auto.defaults).channels[0].mode = switchboard_core::AssignmentMode::Auto;

    // A configuration the state does not fit is refused whole; the old one stays.
    let mut other_channels = auto.clone();
    other_channels.channels.reverse();
    let err = rt.reconfigure(other_channels).await.unwrap_err();
    assert!(err.to_string().contains("the channels cannot change"), "{err}");
    assert_eq!(*rt.config(), Config::default());

    assert!(rt.reconfigure(auto.clone()).await.unwrap(), "changed");
    assert!(!rt.reconfigure(auto.clone()).await.unwrap(), "the same again changes nothing");
    // Messaging is now assigned without an offer.
    rt.ingest(agent("acme", "a2"), None, None).await.unwrap();
    let applied = rt.ingest(online("acme", "a2"), None, None).await.unwrap();
    let kinds: Vec<&str> = applied.effects.iter().map(|e| e.kind.type_name()).collect();
    assert!(kinds.contains(&"assigned") && !kinds.contains(&"offered"), "{kinds:?}");
    let before = state(&rt).await;

    // Crashed now: the snapshot taken at the change holds everything before it, so only the two
    // events after it are replayed, under the new configuration.
    copy_dir(&dir.0, &image.0);
    let recovered = Runtime::start_with_clock(auto, options(&image.0, 2), clock.clone()).expect("starts");
    assert_eq!(state(&recovered).await, before);
    assert_eq!(recovered.metrics().recovery_replayed.get(), 2);
    recovered.shutdown();
    rt.shutdown();
}
