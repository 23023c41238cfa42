//! The sharded runtime under concurrency: many tasks submit the interleaved event streams of many
//! accounts while other tasks query the shards, read the read model and watch effects. Accounts are
//! independent, so however the streams interleave, every account must end exactly where a sequential
//! replay of its own events on a fresh engine, at the same times, ends: same effects in the same
//! order, same state.
//!
//! **Time.** The runtime's clock here is a manual one held a day below the events' times, so no timer
//! ever falls due by the clock: timers fire only inside `Engine::apply`, at the events' explicit
//! `at`s, as in a replay. A shard's time never goes back: an event whose `at` is earlier than one
//! already applied on its shard (for any account) is applied at the later time. So that concurrency
//! cannot move any event's time, the generated times are rounded up to a grid and the ingest tasks
//! go from one grid time to the next together (a barrier): within a round every event carries the
//! same `at`, and the order in which the tasks' events reach the shards is free.
//!
//! The seed is printed; `SWITCHBOARD_TEST_SEED=<n> cargo test -p switchboard-runtime --test
//! concurrency -- --nocapture` runs the same streams again.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use switchboard_core::snapshot::AccountSnapshot;
use switchboard_core::view::{AccountStats, AgentView, QueueEntry};
use switchboard_core::{Config, Effect, Engine, Event, Millis};
use switchboard_runtime::clock::Clock;
use switchboard_runtime::watch::EffectReceiver;
use switchboard_runtime::watch::{RecvError, TryRecvError};
use switchboard_runtime::{Applied, IngestError, Options, Runtime};
use switchboard_sim::{Gridded, SimParams};
use tokio::sync::{Barrier, watch};

/// Accounts of the simulated centre, spread over the shards by the runtime's hash.
const ACCOUNTS: usize = 48;
/// Agents per account.
const AGENTS: usize = 10;
/// Customer arrivals per minute per account (daily mean).
const ARRIVALS_PER_MINUTE: f64 = 0.5;
/// Events generated, all accounts together.
const EVENTS: usize = 15_000;
const SHARDS: usize = 3;
/// Tasks submitting events; account `i` belongs to task `i % INGESTERS`.
const INGESTERS: usize = 16;
/// Tasks querying the shards, and tasks reading the read model.
const QUERIERS: usize = 3;
const READERS: usize = 3;
/// How many rounds a pipelined task runs ahead of the answers it awaits.
const PIPELINE_ROUNDS: usize = 4;
/// Effects buffered for watchers: small, so that the slow watcher falls behind.
const WATCH_BUFFER: usize = 512;
/// Event times are rounded up to this grid; one round per grid time that has events.
const GRID: Millis = 10_000;
const HOUR: Millis = 3_600_000;
/// Monday 2026-01-05 07:00 UTC: the morning shifts are logging in.
const START: Millis = 1_767_571_200_000 + 7 * HOUR;
/// Where the manual clock starts: a day before the first event, so no timer falls due by it.
const CLOCK_START: Millis = START - 24 * HOUR;

/// A clock the test moves by hand.
struct ManualClock(AtomicU64);

impl Clock for ManualClock {
    fn now_ms(&self) -> Millis {
        self.0.load(Ordering::SeqCst)
    }
}

fn seed() -> u64 {
    match std::env::var("SWITCHBOARD_TEST_SEED") {
        Ok(s) => s.trim().parse().expect("SWITCHBOARD_TEST_SEED is a number"),
        Err(_) => SystemTime::now().duration_since(UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64 % 1_000_000),
    }
}

/// The workload: a simulated centre on the grid ([`switchboard_sim::gridded`]).
fn workload(seed: u64) -> Gridded {
    let params = SimParams {
        accounts: ACCOUNTS,
        agents_per_account: AGENTS,
        skills: 4,
        arrivals_per_minute: ARRIVALS_PER_MINUTE,
        start_ms: START,
        seed,
        ..SimParams::default()
    };
    switchboard_sim::gridded(params, GRID, EVENTS, 0)
}

/// Each account's events with their times, in order.
fn per_account(w: &Gridded) -> Vec<Vec<(Millis, Event)>> {
    let mut out = vec![Vec::new(); w.accounts.len()];
    for (round, account, event) in &w.events {
        out[*account].push((w.times[*round], event.clone()));
    }
    out
}

/// What the runtime answered to one event.
struct Reply {
    round: usize,
    account: usize,
    /// The event's position among its account's events.
    k: usize,
    effects: Vec<Effect>,
}

/// Submits a task's events round by round; every task waits for all the others at the end of each
/// round. An eighth of the tasks await each event before the next (`ingest`, sent again when a full
/// shard refuses it); the others queue their events (`submit_patiently`, which waits for room in a
/// full shard) and await the answers a few rounds later. Problems are recorded, not panicked on,
/// so that no task leaves the others waiting at the barrier.
async fn ingester(
    rt: Runtime,
    barrier: Arc<Barrier>,
    times: Arc<Vec<Millis>>,
    work: Vec<(usize, usize, usize, Event)>,
    pipelined: bool,
) -> (Vec<Reply>, Vec<String>, u64) {
    let mut replies = Vec::with_capacity(work.len());
    let mut problems = Vec::new();
    let mut retries = 0;
    let mut work = work.into_iter().peekable();
    let mut in_flight = std::collections::VecDeque::new();
    let mut record = |round: usize,
                      account: usize,
                      k: usize,
                      at: Millis,
                      outcome: Result<Applied, IngestError>| {
        match outcome {
            Ok(applied) => {
                if applied.at != at || applied.duplicate {
                    return Err(format!(
                        "event {k} of account #{account} applied at {} (duplicate: {}), sent with at {at}",
                        applied.at, applied.duplicate
                    ));
                }
                replies.push(Reply { round, account, k, effects: applied.effects });
                Ok(())
            }
            Err(e) => Err(format!("event {k} of account #{account} at {at}: {e}")),
        }
    };
    for (round, &at) in times.iter().enumerate() {
        while let Some((_, account, k, event)) = work.next_if(|w| w.0 == round) {
            if pipelined {
                match rt.submit_patiently(event, Some(at), None, Duration::from_secs(30)).await {
                    Ok(pending) => in_flight.push_back((round, account, k, pending)),
                    Err(e) => problems.push(format!("event {k} of account #{account} not queued: {e}")),
                }
            } else {
                // `ingest` refuses at once when the shard's queue is full (the pipelined tasks often
                // fill it): nothing was queued, so sending the event again keeps the order.
                let outcome = loop {
                    match rt.ingest(event.clone(), Some(at), None).await {
                        Err(IngestError::Saturated(_)) => {
                            retries += 1;
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                        outcome => break outcome,
                    }
                };
                problems.extend(record(round, account, k, at, outcome).err());
            }
        }
        // Every event of this round is in its shard's queue (or applied) before any of the next.
        barrier.wait().await;
        // Answers are awaited a few rounds later: the order of application is the order of
        // submission, so only submission needs the barrier.
        while in_flight.front().is_some_and(|p| p.0 + PIPELINE_ROUNDS <= round) {
            let (r, account, k, pending) = in_flight.pop_front().expect("checked");
            let outcome = pending.await;
            problems.extend(record(r, account, k, times[r], outcome).err());
        }
    }
    for (r, account, k, pending) in in_flight {
        let outcome = pending.await;
        problems.extend(record(r, account, k, times[r], outcome).err());
    }
    (replies, problems, retries)
}

/// What a watcher saw.
struct Watched {
    name: &'static str,
    effects: Vec<Effect>,
    /// Effects it was told it missed, and how many times it was told.
    lagged: u64,
    lags: u32,
}

/// Receives effects until told that everything has been sent, then takes what is left. A slow
/// watcher pauses every `pause_every` effects.
async fn watcher(
    name: &'static str,
    mut rx: EffectReceiver,
    mut done: watch::Receiver<bool>,
    pause_every: Option<usize>,
) -> Watched {
    let mut w = Watched { name, effects: Vec::new(), lagged: 0, lags: 0 };
    loop {
        let item = tokio::select! {
            item = rx.recv() => item,
            // Sent once every event has been answered, so every effect has been broadcast.
            _ = done.changed() => break,
        };
        match item {
            Ok(e) => {
                w.effects.push(e);
                if pause_every.is_some_and(|n| w.effects.len().is_multiple_of(n)) {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
            Err(RecvError::Lagged(n)) => {
                w.lagged += n;
                w.lags += 1;
            }
            Err(RecvError::Closed) => break,
        }
    }
    loop {
        match rx.try_recv() {
            Ok(e) => w.effects.push(e),
            Err(TryRecvError::Lagged(n)) => {
                w.lagged += n;
                w.lags += 1;
            }
            Err(TryRecvError::Empty | TryRecvError::Closed) => break,
        }
    }
    w
}

/// A small deterministic PRNG for the readers' choices.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % n.max(1) as u64) as usize
    }
}

/// What one account looks like on an engine: time, views, queue, counts and state.
#[derive(Debug, PartialEq)]
struct AccountState {
    now: Millis,
    agents: Vec<AgentView>,
    stats: Option<AccountStats>,
    queue: Vec<QueueEntry>,
    effects_emitted: u64,
    snapshot: AccountSnapshot,
}

/// Every account of an engine, by name.
fn account_states(engine: &Engine) -> Vec<(String, AccountState)> {
    let snapshot = engine.snapshot();
    snapshot
        .accounts
        .into_iter()
        .map(|mut a| {
            // Timer sequence numbers are an engine's private tie-breaker, numbered across all its
            // accounts: they differ between a shard and a one-account engine. Due times stay.
            for t in &mut a.tickets {
                for (_, seq) in
                    [&mut t.offer_timer, &mut t.skills_timer, &mut t.close_timer].into_iter().flatten()
                {
                    *seq = 0;
                }
            }
            let name = a.name.to_string();
            let state = AccountState {
                now: snapshot.now,
                agents: engine.agents(&name),
                stats: engine.stats(&name),
                queue: engine.queue(&name, usize::MAX),
                effects_emitted: engine.effects_emitted(&name),
                snapshot: a,
            };
            (name, state)
        })
        .collect()
}

/// What one query sees, between two events of the shard: views that must agree with each other.
fn consistent(engine: &Engine, account: &str, check_invariants: bool) -> Result<(), String> {
    if check_invariants {
        engine.check_invariants()?;
    }
    let Some(stats) = engine.stats(account) else { return Ok(()) };
    let agents = engine.agents(account);
    if stats.agents as usize != agents.len() {
        return Err(format!("{account}: stats count {} agents, the views {}", stats.agents, agents.len()));
    }
    for (c, cs) in stats.channels.iter().enumerate() {
        let load: u64 = agents.iter().map(|a| u64::from(a.channels[c].load)).sum();
        let offered: u32 = agents.iter().map(|a| a.channels[c].offered).sum();
        if (load, offered) != (cs.load, cs.offered) {
            return Err(format!(
                "{account} {}: stats say load {} offered {}, the agents {load} {offered}",
                cs.channel, cs.load, cs.offered
            ));
        }
    }
    let queue = engine.queue(account, usize::MAX);
    if queue.len() != stats.queued as usize {
        return Err(format!("{account}: {} queued, the queue lists {}", stats.queued, queue.len()));
    }
    Ok(())
}

/// Load recounted from the tickets of a snapshot: per live agent and channel, the tickets on offer
/// to them plus the `new`/`open` tickets assigned to them, which must be what the views say.
fn recount_load(snapshot: &AccountSnapshot, agents: &[AgentView]) -> Result<(), String> {
    let mut counted: BTreeMap<(&str, &str), (u32, u32)> = BTreeMap::new();
    for t in &snapshot.tickets {
        if let Some((a, _)) = t.offer {
            let e = counted.entry((&snapshot.agents[a as usize].id, &t.channel)).or_default();
            e.0 += 1;
            e.1 += 1;
        }
        if let Some(a) = t.assignee
            && t.status.counts()
        {
            counted.entry((&snapshot.agents[a as usize].id, &t.channel)).or_default().0 += 1;
        }
    }
    for a in agents {
        for c in &a.channels {
            let (load, offered) = counted.remove(&(&*a.id, &*c.channel)).unwrap_or_default();
            if (load, offered) != (c.load, c.offered) {
                return Err(format!(
                    "{} on {}: load {} (offered {}), its tickets count {load} ({offered})",
                    a.id, c.channel, c.load, c.offered
                ));
            }
        }
    }
    // What is left counts against agents that are gone: nothing may.
    if let Some(((agent, channel), n)) = counted.into_iter().find(|(_, n)| n.0 > 0) {
        return Err(format!("{n:?} tickets count against {agent} on {channel}, who is not a live agent"));
    }
    Ok(())
}

/// Whether `part` is a subsequence of `whole`.
fn is_subsequence(part: &[&Effect], whole: &[Effect]) -> bool {
    let mut it = whole.iter();
    part.iter().all(|p| it.any(|w| w == *p))
}

/// The first difference between two effect sequences, with some context.
fn first_difference(got: &[Effect], want: &[Effect]) -> String {
    let i = got.iter().zip(want).position(|(g, w)| g != w).unwrap_or(got.len().min(want.len()));
    let around = |v: &[Effect]| {
        v[i.saturating_sub(3)..(i + 3).min(v.len())]
            .iter()
            .map(|e| format!("\n    {e:?}"))
            .collect::<String>()
    };
    format!(
        "{} effects vs {} expected; first difference at #{i}:\n  runtime:{}\n  replay:{}",
        got.len(),
        want.len(),
        around(got),
        around(want)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_streams_give_every_account_its_sequential_result() {
    let seed = seed();
    println!("seed {seed} (SWITCHBOARD_TEST_SEED={seed} to run these streams again)");
    let started = Instant::now();
    let work = workload(seed);
    let n_accounts = work.accounts.len();
    assert_eq!(n_accounts, ACCOUNTS, "every account has events");
    println!(
        "{} events of {n_accounts} accounts in {} rounds of up to {GRID} ms ({} refused by the generating engine and left out), generated in {:?}",
        work.events.len(),
        work.times.len(),
        work.dropped,
        started.elapsed()
    );

    let clock = Arc::new(ManualClock(AtomicU64::new(CLOCK_START)));
    let rt = Runtime::start_with_clock(
        Config::default(),
        Options {
            shards: SHARDS,
            // Small queues: pipelined tasks meet full shards and wait for room.
            shard_queue: 64,
            max_future_skew_ms: 365 * 24 * HOUR,
            watch_buffer: WATCH_BUFFER,
            ..Options::default()
        },
        clock.clone(),
    )
    .expect("the runtime starts");
    let per_shard: Vec<usize> = (0..SHARDS)
        .map(|s| work.accounts.iter().filter(|a| switchboard_runtime::shard_index(a, SHARDS) == s).count())
        .collect();
    assert!(per_shard.iter().all(|&n| n > 0), "accounts on every shard: {per_shard:?}");
    let accounts = Arc::new(work.accounts.clone());
    let times = Arc::new(work.times.clone());

    // Watchers first, so that they see everything from the first effect on.
    let (done_tx, done_rx) = watch::channel(false);
    let watchers = vec![
        tokio::spawn(watcher("fast", rt.subscribe(), done_rx.clone(), None)),
        tokio::spawn(watcher("fast-2", rt.subscribe(), done_rx.clone(), None)),
        tokio::spawn(watcher("slow", rt.subscribe(), done_rx.clone(), Some(16))),
    ];

    let stop = Arc::new(AtomicBool::new(false));
    let mut side = Vec::new();
    // The clock goes on (a day below the events, so it fires nothing): the read model's counts,
    // published at most every STATS_EVERY_MS of it, keep being refreshed while readers read them.
    side.push(tokio::spawn({
        let (clock, stop) = (clock.clone(), stop.clone());
        async move {
            let mut ticks = 0;
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(1)).await;
                clock.0.fetch_add(25, Ordering::SeqCst);
                ticks += 1;
            }
            format!("clock: {ticks} ticks")
        }
    }));
    for i in 0..QUERIERS {
        let (rt, accounts, stop) = (rt.clone(), accounts.clone(), stop.clone());
        side.push(tokio::spawn(async move {
            let mut rng = Rng(seed ^ (0x51 + i as u64));
            let (mut n, mut saturated) = (0, 0);
            while !stop.load(Ordering::Relaxed) {
                let account = accounts[rng.below(accounts.len())].clone();
                let check = n % 32 == 0;
                let a = account.clone();
                // A query waits in the shard's queue like an event; a full queue refuses it at once
                // (gRPC: RESOURCE_EXHAUSTED), which the pipelined ingesters often cause here.
                match rt.query(&account, move |e| consistent(e, &a, check)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => panic!("query {n}: {e}"),
                    Err(IngestError::Saturated(_)) => saturated += 1,
                    Err(e) => panic!("query {n}: {e}"),
                }
                if n % 16 == 5 {
                    match rt.all_stats().await {
                        Ok(stats) => assert!(stats.len() <= accounts.len()),
                        Err(IngestError::Saturated(_)) => saturated += 1,
                        Err(e) => panic!("all stats: {e}"),
                    }
                }
                if n % 32 == 9 {
                    let text = rt.render_metrics();
                    assert!(text.contains("switchboard_ready 1"), "{text}");
                }
                n += 1;
                tokio::time::sleep(Duration::from_micros(500)).await;
            }
            format!("querier {i}: {n} queries ({saturated} refused as saturated)")
        }));
    }
    for i in 0..READERS {
        let (rt, accounts, stop) = (rt.clone(), accounts.clone(), stop.clone());
        side.push(tokio::spawn(async move {
            let mut rng = Rng(seed ^ (0x77 + i as u64));
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let read = rt.read_model();
                let account = &accounts[rng.below(accounts.len())];
                if let Some(agents) = read.agents(account) {
                    assert!(
                        agents.windows(2).all(|w| w[0].id < w[1].id),
                        "{account}: agents sorted, once each"
                    );
                    for a in &agents {
                        assert_eq!(a.channels.len(), 3, "{account}/{}", a.id);
                        assert!(a.channels.iter().all(|c| c.offered <= c.load), "{account}: {a:?}");
                    }
                    if let Some(a) = agents.get(rng.below(agents.len().max(1))) {
                        // Agents may leave between the two reads; one that is there is whole.
                        if let Some(one) = read.agent(account, &a.id) {
                            assert_eq!(one.id, a.id);
                        }
                    }
                }
                if let Some(s) = read.stats(account) {
                    let queued: u32 = s.channels.iter().flat_map(|c| c.queued_by_priority).sum();
                    assert_eq!(queued, s.queued, "{account}: {s:?}");
                    assert!(s.channels.iter().all(|c| c.offered as u64 <= c.load), "{account}: {s:?}");
                }
                if n % 16 == 3 {
                    let all = read.all_stats();
                    assert!(all.windows(2).all(|w| w[0].account < w[1].account));
                    assert!(read.account_names().len() <= accounts.len());
                }
                n += 1;
                tokio::time::sleep(Duration::from_micros(500)).await;
            }
            format!("reader {i}: {n} reads")
        }));
    }

    // The ingest tasks.
    let per_account = per_account(&work);
    let mut tasks: Vec<Vec<(usize, usize, usize, Event)>> = vec![Vec::new(); INGESTERS];
    let mut k = vec![0; n_accounts];
    for (round, account, event) in work.events {
        tasks[account % INGESTERS].push((round, account, k[account], event));
        k[account] += 1;
    }
    let barrier = Arc::new(Barrier::new(INGESTERS));
    let ingest_started = Instant::now();
    let ingesters: Vec<_> = tasks
        .into_iter()
        .enumerate()
        .map(|(i, w)| tokio::spawn(ingester(rt.clone(), barrier.clone(), times.clone(), w, i % 8 != 0)))
        .collect();
    let mut replies = Vec::new();
    let mut problems = Vec::new();
    let mut retries = 0;
    for task in ingesters {
        let (r, p, n) = tokio::time::timeout(Duration::from_secs(120), task)
            .await
            .expect("ingestion finishes")
            .expect("an ingest task panicked");
        replies.extend(r);
        problems.extend(p);
        retries += n;
    }
    let ingest_took = ingest_started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let mut side_ops = Vec::new();
    for task in side {
        side_ops.push(task.await.expect("a query, reader or clock task failed"));
    }
    // Every effect was broadcast before its event was answered: the watchers can take the rest.
    done_tx.send(true).unwrap();
    let mut watched = Vec::new();
    for w in watchers {
        watched.push(w.await.expect("a watcher failed"));
    }
    assert!(
        problems.is_empty(),
        "{} problems, first ones: {:#?}",
        problems.len(),
        &problems[..problems.len().min(10)]
    );

    // (a) Per account: what the runtime produced, in its order, against a sequential replay.
    // All the timers of an account that fall due in a round fire in the round's first event on its
    // shard (the clock fires none), whichever account that event is for; they come before the
    // account's own events of that round. So an account's effects, in order, are: per round, the
    // effects of its that another account's reply carried, then its own replies in order.
    let index: HashMap<&str, usize> = accounts.iter().enumerate().map(|(i, a)| (a.as_str(), i)).collect();
    // Per account: (round, 0 if another account's reply carried it else 1, event, position), effect.
    type Keyed = Vec<((usize, u8, usize, usize), Effect)>;
    let mut keyed: Vec<Keyed> = vec![Vec::new(); n_accounts];
    let mut foreign: HashMap<(usize, usize), (usize, usize)> = HashMap::new();
    let mut total_effects = 0;
    for r in &replies {
        for (pos, e) in r.effects.iter().enumerate() {
            total_effects += 1;
            let a = index[&*e.account];
            let own = a == r.account;
            if !own {
                let carrier = *foreign.entry((a, r.round)).or_insert((r.account, r.k));
                assert_eq!(
                    carrier,
                    (r.account, r.k),
                    "timers of {} fired in two events of round {}",
                    accounts[a],
                    r.round
                );
            }
            keyed[a].push(((r.round, u8::from(own), if own { r.k } else { 0 }, pos), e.clone()));
        }
    }
    let actual: Vec<Vec<Effect>> = keyed
        .into_iter()
        .map(|mut v| {
            v.sort_by_key(|(key, _)| *key);
            v.into_iter().map(|(_, e)| e).collect()
        })
        .collect();

    let mut runtime_states: HashMap<String, AccountState> =
        rt.query_all(account_states).await.unwrap().into_iter().flatten().collect();
    let mut replayed = 0;
    for (a, events) in per_account.iter().enumerate() {
        let name = &accounts[a];
        let mut engine = Engine::new(Config::default()).unwrap();
        let mut want = Vec::new();
        for (i, (at, event)) in events.iter().enumerate() {
            // The timers due by then, then the event, each checked in the state it leaves.
            let from = want.len();
            engine.advance(*at, &mut want);
            let timers = want.len();
            let routing = engine.check_routed(&want[from..]).and_then(|()| {
                engine.apply(event, *at, &mut want).map_err(|e| format!("refused in the replay: {e}"))?;
                engine.check_routed(&want[timers..])
            });
            if let Err(e) = routing {
                let list: String = want[from..].iter().map(|e| format!("\n    {e:?}")).collect();
                panic!(
                    "{name}: event {i} at {at}: {e}\n  event: {event:?}\n  timers' and event's effects:{list}"
                );
            }
        }
        let runtime_state = runtime_states.remove(name).unwrap_or_else(|| panic!("{name}: not on its shard"));
        // The shard went on to later rounds (other accounts' events): the account's timers due by
        // then fired there.
        let from = want.len();
        engine.advance(runtime_state.now, &mut want);
        engine.check_routed(&want[from..]).unwrap_or_else(|e| panic!("{name}: at the end: {e}"));
        assert!(actual[a] == want, "{name}: {}", first_difference(&actual[a], &want));
        let (_, replay_state) = account_states(&engine).pop().expect("one account");
        assert_eq!(runtime_state.effects_emitted, want.len() as u64, "{name}: effects numbered");
        assert_eq!(runtime_state, replay_state, "{name}: the state differs from the replay's");
        recount_load(&runtime_state.snapshot, &runtime_state.agents)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        replayed += want.len();
    }
    assert!(runtime_states.is_empty(), "accounts nobody sent events for: {:?}", runtime_states.keys());
    assert_eq!(replayed, total_effects);

    // (b) The invariants of every shard, recounted from scratch.
    for (i, r) in rt.query_all(|e| e.check_invariants()).await.unwrap().into_iter().enumerate() {
        r.unwrap_or_else(|e| panic!("shard {i}: {e}"));
    }
    let per_shard_accounts: Vec<usize> = rt.query_all(|e| e.account_names().len()).await.unwrap();
    assert_eq!(per_shard_accounts, per_shard, "accounts where the hash puts them");

    // (c) The read model agrees with the engines once its counting interval has passed (on the
    // runtime's clock). The first query wakes each shard, which publishes after it; the second
    // returns after that publication.
    clock.0.fetch_add(10 * switchboard_runtime::read::STATS_EVERY_MS, Ordering::SeqCst);
    rt.query_all(|_| ()).await.unwrap();
    rt.query_all(|_| ()).await.unwrap();
    let read = rt.read_model();
    let mut names: Vec<&str> = accounts.iter().map(String::as_str).collect();
    names.sort_unstable();
    let read_names = read.account_names();
    assert_eq!(read_names.iter().map(|n| &**n).collect::<Vec<_>>(), names, "accounts in the read model");
    for name in accounts.iter() {
        let n = name.clone();
        let (agents, stats) = rt.query(name, move |e| (e.agents(&n), e.stats(&n))).await.unwrap();
        assert_eq!(read.agents(name).as_ref(), Some(&agents), "{name}: agents in the read model");
        assert_eq!(read.stats(name), stats, "{name}: counts in the read model");
    }

    // (d) Watchers saw each account's effects in order: all of them, or a subsequence and a count
    // of exactly those they missed.
    let mut watch_report = Vec::new();
    for w in &watched {
        assert_eq!(
            w.effects.len() as u64 + w.lagged,
            total_effects as u64,
            "watcher {}: {} seen + {} missed",
            w.name,
            w.effects.len(),
            w.lagged
        );
        let mut by_account: Vec<Vec<&Effect>> = vec![Vec::new(); n_accounts];
        for e in &w.effects {
            by_account[index[&*e.account]].push(e);
        }
        for (a, seen) in by_account.iter().enumerate() {
            if w.lagged == 0 {
                assert!(
                    seen.len() == actual[a].len() && seen.iter().zip(&actual[a]).all(|(s, e)| *s == e),
                    "watcher {}: {} in another order than the replies",
                    w.name,
                    accounts[a]
                );
            } else {
                assert!(is_subsequence(seen, &actual[a]), "watcher {}: {} out of order", w.name, accounts[a]);
            }
        }
        watch_report.push(format!(
            "{} saw {} (missed {} in {} lags)",
            w.name,
            w.effects.len(),
            w.lagged,
            w.lags
        ));
    }
    rt.shutdown();
    let mut by_type: BTreeMap<&str, usize> = BTreeMap::new();
    for e in actual.iter().flatten() {
        *by_type.entry(e.kind.type_name()).or_default() += 1;
    }
    println!("effects by type: {by_type:?}");
    println!(
        "{total_effects} effects; ingestion took {ingest_took:?} with {INGESTERS} tasks on {SHARDS} shards ({retries} events sent again after `Saturated`) (accounts per shard {per_shard:?}); {}; watchers: {}; {:?} in all",
        side_ops.join(", "),
        watch_report.join(", "),
        started.elapsed()
    );
}
