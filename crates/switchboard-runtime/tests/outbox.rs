//! The outbox a bus publisher reads: every effect numbered within its account, nothing lost across
//! restarts, and snapshots held back until what they cover is published.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use switchboard_core::{Config, CustomerMessage, Event, Millis, TicketAttrs};
use switchboard_runtime::clock::Clock;
use switchboard_runtime::outbox::{Batch, Outbox};
use switchboard_runtime::store::{FsyncPolicy, StoreOptions};
use switchboard_runtime::{Options, Runtime};

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
        let p = std::env::temp_dir().join(format!("switchboard-outbox-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        Dir(p)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn start(dir: Option<&Path>, clock: &Arc<ManualClock>) -> Runtime {
    let options = Options {
        shards: 2,
        store: dir.map(|d| StoreOptions { fsync: FsyncPolicy::Always, ..StoreOptions::new(d) }),
        outbox: Some(1024),
        ..Options::default()
    };
    Runtime::start_with_clock(Config::default(), options, clock.clone()).expect("starts")
}

fn agent(account: &str, id: &str) -> Event {
    Event::AgentUpserted {
        account: account.into(),
        agent: id.into(),
        groups: vec![],
        skills: vec![],
        capacity: vec![("messaging".into(), 1)],
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

/// Agents and conversations in three accounts (spread over both shards), with an offer timing out.
async fn feed(rt: &Runtime, clock: &ManualClock) {
    for account in ["acme", "globex", "initech"] {
        rt.ingest(agent(account, "a1"), None, None).await.unwrap();
        rt.ingest(online(account, "a1"), None, None).await.unwrap();
        for c in ["c1", "c2", "c3"] {
            rt.ingest(message(account, c), None, None).await.unwrap();
        }
    }
    // The offers time out (30 s): withdrawn and offered again, by the shards' timers.
    clock.0.fetch_add(31_000, Ordering::SeqCst);
    rt.ingest(Event::Tick, None, None).await.unwrap();
}

/// Everything the outbox holds (recovered batches first), without confirming: what arrives until
/// it has been quiet for 200 ms.
async fn drain(outbox: &mut Outbox) -> Vec<Batch> {
    let mut batches = std::mem::take(&mut outbox.recovered);
    while let Ok(Some(b)) = tokio::time::timeout(std::time::Duration::from_millis(200), outbox.recv()).await {
        batches.push(b);
    }
    batches
}

/// `(account, seq, type)` of each effect, grouped by account, in outbox order.
fn by_account(batches: &[Batch]) -> BTreeMap<String, Vec<(u64, &'static str)>> {
    let mut out: BTreeMap<String, Vec<(u64, &'static str)>> = BTreeMap::new();
    for b in batches {
        for n in &b.effects {
            out.entry(n.effect.account.to_string()).or_default().push((n.seq, n.effect.kind.type_name()));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_effect_reaches_the_outbox_numbered_from_1_per_account() {
    let clock = Arc::new(ManualClock(AtomicU64::new(T0)));
    let rt = start(None, &clock);
    let mut outbox = rt.take_outbox().expect("an outbox");
    assert!(rt.take_outbox().is_none(), "only one publisher takes it");
    assert!(outbox.recovered.is_empty());
    let mut watcher = rt.subscribe();
    feed(&rt, &clock).await;
    let batches = drain(&mut outbox).await;
    let accounts = by_account(&batches);
    assert_eq!(accounts.len(), 3);
    for (account, effects) in &accounts {
        let seqs: Vec<u64> = effects.iter().map(|e| e.0).collect();
        assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "{account}: {effects:?}");
        assert!(effects.iter().any(|e| e.1 == "offer_withdrawn"), "{account}: the timers' effects too");
    }
    // The same effects as the watchers saw, in the same order per account.
    let mut watched: BTreeMap<String, Vec<&'static str>> = BTreeMap::new();
    while let Ok(e) = watcher.try_recv() {
        watched.entry(e.account.to_string()).or_default().push(e.kind.type_name());
    }
    for (account, effects) in &accounts {
        assert_eq!(&effects.iter().map(|e| e.1).collect::<Vec<_>>(), &watched[account]);
    }
    // `upto` counts the shard's effects so far.
    for shard in 0..2 {
        let mut total = 0;
        for b in batches.iter().filter(|b| b.shard == shard) {
            total += b.effects.len() as u64;
            assert_eq!(b.upto, total);
        }
    }
    rt.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpublished_effects_are_handed_over_again_after_a_restart() {
    let dir = Dir::new("unpublished");
    let clock = Arc::new(ManualClock(AtomicU64::new(T0)));
    let rt = start(Some(&dir.0), &clock);
    let mut outbox = rt.take_outbox().unwrap();
    feed(&rt, &clock).await;
    let sent = by_account(&drain(&mut outbox).await);
    // The publisher goes away without confirming anything: the shutdown keeps the log instead of
    // a final snapshot.
    drop(outbox);
    rt.shutdown();

    let rt = start(Some(&dir.0), &clock);
    let mut outbox = rt.take_outbox().unwrap();
    let recovered = std::mem::take(&mut outbox.recovered);
    assert_eq!(by_account(&recovered), sent, "the same effects, with the same numbers");
    // New effects carry on the numbering.
    rt.ingest(message("acme", "c4"), None, None).await.unwrap();
    let next = by_account(&drain(&mut outbox).await);
    assert_eq!(next["acme"][0].0, sent["acme"].len() as u64 + 1);
    // This time everything is confirmed: the shutdown snapshots, and nothing comes back.
    outbox.confirm(0, u64::MAX);
    outbox.confirm(1, u64::MAX);
    rt.shutdown();
    drop(outbox);

    let rt = start(Some(&dir.0), &clock);
    let outbox = rt.take_outbox().unwrap();
    assert!(outbox.recovered.is_empty(), "a confirmed shutdown leaves nothing to hand over");
    rt.shutdown();
}
