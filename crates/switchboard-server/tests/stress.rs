//! The real daemon on an ephemeral loopback port under concurrent clients: ingest clients, each on
//! its own connection and owning some accounts, send the interleaved event streams of a simulated
//! contact centre (unary `Ingest` or `IngestStream`), while `WatchEffects` watchers follow the
//! effects and readers poll `GetAgent`, `ListAgents`, `ListQueue`, `GetTicket` and
//! `GetAccountStats`. Accounts are independent, so every account's effects, in the order the
//! daemon emitted them, must be those of a sequential replay of its own events on a fresh engine at
//! the same times; and at the end what the API shows must be that replay's state and add up.
//!
//! **Time.** Every event carries an explicit `at`. The daemon runs on the wall clock and applies an
//! `at` earlier than its shard's time at the shard's time (after any timer has fired by the wall
//! clock, that is now), so events far in the past lose their times. Here the events lie a week or so
//! in the future instead (the daemon is started with a `max_future_skew_ms` that allows it): no
//! timer falls due by the wall clock during the test, so timers fire only inside the events' own
//! application, at the events' times, as in a replay. And as in the runtime's concurrency test,
//! times are rounded up to a grid and the ingest clients go from one grid time to the next together
//! (each round's events answered before the next round starts), so that no shard ever sees an
//! earlier `at` after a later one, whatever the interleaving.
//!
//! The seed is printed; `SWITCHBOARD_TEST_SEED=<n>` runs the same streams again.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use switchboard_config::Settings;
use switchboard_core::{Config, Engine, Event, Millis};
use switchboard_proto::convert;
use switchboard_proto::v1::router_client::RouterClient;
use switchboard_proto::v1::{self, watch_item::Item};
use switchboard_server::Daemon;
use switchboard_sim::{Gridded, SimParams};
use tokio::sync::Barrier;
use tonic::Code;
use tonic::transport::Channel;

const ACCOUNTS: usize = 32;
const AGENTS: usize = 10;
const ARRIVALS_PER_MINUTE: f64 = 0.5;
/// Events generated, all accounts together.
const EVENTS: usize = 6_000;
const SHARDS: usize = 3;
/// Ingest clients (connections); account `i` belongs to client `i % CLIENTS`. Even clients send
/// unary `Ingest` calls (one chain per account, concurrent), odd ones an `IngestStream` per round.
const CLIENTS: usize = 8;
/// Clients polling the queries.
const READERS: usize = 3;
/// Event times are rounded up to this grid; one round per grid time that has events.
const GRID: Millis = 20_000;
const HOUR: Millis = 3_600_000;
const DAY: Millis = 24 * HOUR;
/// Monday 2026-01-05 07:00 UTC in the simulator's time; moved by whole weeks into the future.
const SIM_START: Millis = 1_767_571_200_000 + 7 * HOUR;
/// An account no simulated event names: its one effect, sent last, tells the watchers that they
/// have been sent everything before it.
const SENTINEL: &str = "zz-sentinel";

fn seed() -> u64 {
    match std::env::var("SWITCHBOARD_TEST_SEED") {
        Ok(s) => s.trim().parse().expect("SWITCHBOARD_TEST_SEED is a number"),
        Err(_) => SystemTime::now().duration_since(UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64 % 1_000_000),
    }
}

/// The workload: a simulated centre on the grid ([`switchboard_sim::gridded`]), moved forward by
/// `shift`.
fn workload(seed: u64, shift: Millis) -> Gridded {
    let params = SimParams {
        accounts: ACCOUNTS,
        agents_per_account: AGENTS,
        skills: 4,
        arrivals_per_minute: ARRIVALS_PER_MINUTE,
        start_ms: SIM_START,
        seed,
        ..SimParams::default()
    };
    switchboard_sim::gridded(params, GRID, EVENTS, shift)
}

/// What `Ingest` answered to one event.
struct Reply {
    account: usize,
    effects: Vec<v1::Effect>,
}

/// What an ingest client did.
#[derive(Default)]
struct Sent {
    replies: Vec<Reply>,
    /// Unexpected outcomes.
    problems: Vec<String>,
    /// `Ingest` calls refused with RESOURCE_EXHAUSTED (a full shard queue) and sent again.
    retries: u64,
    calls: u64,
}

/// Sends a client's events round by round; after each round (every event answered) it waits for
/// the other clients. Problems are recorded, not panicked on, so that no client leaves the others
/// waiting at the barrier.
async fn ingest_client(
    mut client: RouterClient<Channel>,
    barrier: Arc<Barrier>,
    times: Arc<Vec<Millis>>,
    work: Vec<(usize, usize, Event)>,
    stream: bool,
) -> Sent {
    let mut sent = Sent::default();
    let mut work = work.into_iter().peekable();
    for (round, &at) in times.iter().enumerate() {
        let mut batch = Vec::new();
        while let Some((_, account, event)) = work.next_if(|w| w.0 == round) {
            batch.push((account, convert::event_to_proto(Some(at), None, event)));
        }
        if stream && !batch.is_empty() {
            let n = batch.len() as u64;
            sent.calls += 1;
            let events: Vec<v1::Event> = batch.into_iter().map(|(_, e)| e).collect();
            match client.ingest_stream(tokio_stream::iter(events)).await {
                Ok(reply) => {
                    let r = reply.into_inner();
                    if (r.accepted, r.duplicates) != (n, 0) || !r.rejected.is_empty() {
                        sent.problems.push(format!(
                            "round {round}: stream of {n}: {} accepted, {} duplicates, rejected {:?}",
                            r.accepted, r.duplicates, r.rejected
                        ));
                    }
                }
                Err(status) => sent.problems.push(format!("round {round}: IngestStream: {status:?}")),
            }
        } else {
            // One chain of calls per account, the chains concurrent (HTTP/2 multiplexes them on
            // the client's connection): each account's events stay in order.
            let mut chains: BTreeMap<usize, Vec<v1::Event>> = BTreeMap::new();
            for (account, event) in batch {
                chains.entry(account).or_default().push(event);
            }
            let chains = chains
                .into_iter()
                .map(|(account, events)| unary_chain(client.clone(), round, account, events));
            for chain in futures_util::future::join_all(chains).await {
                sent.replies.extend(chain.replies);
                sent.problems.extend(chain.problems);
                sent.retries += chain.retries;
                sent.calls += chain.calls;
            }
        }
        barrier.wait().await;
    }
    sent
}

/// Sends one account's events of a round with unary calls, one after another.
async fn unary_chain(
    mut client: RouterClient<Channel>,
    round: usize,
    account: usize,
    events: Vec<v1::Event>,
) -> Sent {
    let mut sent = Sent::default();
    for event in events {
        loop {
            sent.calls += 1;
            match client.ingest(event.clone()).await {
                Ok(reply) => {
                    let r = reply.into_inner();
                    if !r.applied {
                        sent.problems.push(format!("round {round}: not applied: {event:?}"));
                    }
                    sent.replies.push(Reply { account, effects: r.effects });
                }
                // A full shard queue: nothing was applied, so sending it again keeps the account's
                // order.
                Err(status) if status.code() == Code::ResourceExhausted => {
                    sent.retries += 1;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                }
                Err(status) => sent.problems.push(format!("round {round}: {status:?}: {event:?}")),
            }
            break;
        }
    }
    sent
}

/// What a watcher saw until the sentinel's effect.
struct Watched {
    name: &'static str,
    effects: Vec<v1::Effect>,
    /// Effects it was told it missed, and how many times it was told.
    lagged: u64,
    lags: u32,
    problem: Option<String>,
}

/// Opens a `WatchEffects` stream (subscribed once this returns) and a task reading it until the
/// sentinel's effect; a slow watcher pauses every 16 effects.
async fn watcher(
    addr: &str,
    name: &'static str,
    request: v1::WatchRequest,
    slow: bool,
) -> tokio::task::JoinHandle<Watched> {
    let mut client = connect(addr).await;
    let mut stream = client.watch_effects(request).await.expect("WatchEffects").into_inner();
    tokio::spawn(async move {
        let mut w = Watched { name, effects: Vec::new(), lagged: 0, lags: 0, problem: None };
        loop {
            match stream.message().await {
                Ok(Some(v1::WatchItem { item: Some(Item::Effect(e)) })) => {
                    if e.account == SENTINEL {
                        break;
                    }
                    w.effects.push(e);
                    if slow && w.effects.len().is_multiple_of(16) {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
                Ok(Some(v1::WatchItem { item: Some(Item::Lagged(n)) })) => {
                    w.lagged += n;
                    w.lags += 1;
                }
                Ok(Some(v1::WatchItem { item: None })) => {}
                Ok(None) => {
                    w.problem = Some("the stream ended before the sentinel".into());
                    break;
                }
                Err(status) => {
                    w.problem = Some(format!("{status:?}"));
                    break;
                }
            }
        }
        drop(client);
        w
    })
}

async fn connect(addr: &str) -> RouterClient<Channel> {
    // One channel (one HTTP/2 connection) per client.
    let channel = Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.expect("connect");
    RouterClient::new(channel).max_decoding_message_size(64 << 20)
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

/// The answer of a query, or `None` after a failure the test expects while events flow (counted
/// in `refused`): the account or agent not there yet (or any more), or a full shard queue.
fn answer<T>(r: Result<tonic::Response<T>, tonic::Status>, what: &str, refused: &mut u64) -> Option<T> {
    match r {
        Ok(r) => Some(r.into_inner()),
        Err(s) if matches!(s.code(), Code::NotFound | Code::ResourceExhausted) => {
            *refused += 1;
            None
        }
        Err(s) => panic!("{what}: {s:?}"),
    }
}

/// Polls the queries until told to stop; checks what each answer shows on its own.
async fn reader(addr: String, accounts: Arc<Vec<String>>, stop: Arc<AtomicBool>, seed: u64) -> String {
    let mut c = connect(&addr).await;
    let mut rng = Rng(seed);
    let (mut calls, mut refused) = (0u64, 0u64);
    while !stop.load(Ordering::Relaxed) {
        let account = accounts[rng.below(accounts.len())].clone();
        calls += 1;
        match rng.below(5) {
            0 => {
                let r = c.get_account_stats(v1::GetAccountStatsRequest { account: account.clone() }).await;
                if let Some(s) = answer(r, "GetAccountStats", &mut refused) {
                    assert_eq!(s.channels.len(), 3, "{account}");
                    let queued: u32 = s.channels.iter().flat_map(|c| c.queued_by_priority.values()).sum();
                    assert_eq!(queued, s.queued, "{account}: {s:?}");
                    assert!(s.channels.iter().all(|c| u64::from(c.offered) <= c.load), "{account}: {s:?}");
                }
            }
            1 => {
                let r = c.list_agents(v1::ListAgentsRequest { account: account.clone() }).await;
                let Some(list) = answer(r, "ListAgents", &mut refused) else { continue };
                let agents = list.agents;
                assert!(agents.windows(2).all(|w| w[0].id < w[1].id), "{account}: agents sorted, once each");
                assert!(agents.iter().flat_map(|a| &a.channels).all(|c| c.offered <= c.load), "{account}");
                if let Some(a) = agents.get(rng.below(agents.len())) {
                    calls += 1;
                    let r = c.get_agent(v1::GetAgentRequest { account, agent: a.id.clone() }).await;
                    // An agent may have left since the list.
                    if let Some(one) = answer(r, "GetAgent", &mut refused) {
                        assert_eq!(one.id, a.id);
                    }
                }
            }
            2 => {
                let r =
                    c.list_queue(v1::ListQueueRequest { account: account.clone(), limit: Some(20) }).await;
                let Some(q) = answer(r, "ListQueue", &mut refused) else { continue };
                assert!(q.entries.len() as u64 <= q.total.min(20), "{account}: {q:?}");
                assert!(
                    q.entries.iter().enumerate().all(|(i, e)| e.position == i as u64),
                    "{account}: {q:?}"
                );
                if let Some(e) = q.entries.first() {
                    // Tickets never vanish, closed ones included: one listed is found.
                    calls += 1;
                    let request = v1::GetTicketRequest { account: account.clone(), ticket: e.ticket.clone() };
                    match c.get_ticket(request).await {
                        Ok(t) => assert_eq!(t.into_inner().id, e.ticket),
                        Err(s) if s.code() == Code::ResourceExhausted => refused += 1,
                        Err(s) => panic!("GetTicket {account}/{}: {s:?}", e.ticket),
                    }
                }
            }
            3 => {
                let r = c.list_accounts(v1::ListAccountsRequest {}).await.expect("ListAccounts");
                let names = r.into_inner().accounts;
                assert!(names.windows(2).all(|w| w[0] < w[1]), "{names:?}");
            }
            _ => {
                let r = c.get_agent(v1::GetAgentRequest { account, agent: "nobody".into() }).await;
                assert_eq!(r.unwrap_err().code(), Code::NotFound);
            }
        }
        tokio::time::sleep(Duration::from_millis(4)).await;
    }
    format!("{calls} queries ({refused} not found yet or refused as saturated)")
}

/// The first difference between two effect sequences, with some context.
fn first_difference(got: &[v1::Effect], want: &[v1::Effect]) -> String {
    let i = got.iter().zip(want).position(|(g, w)| g != w).unwrap_or(got.len().min(want.len()));
    let around = |v: &[v1::Effect]| {
        v[i.saturating_sub(3)..(i + 3).min(v.len())]
            .iter()
            .map(|e| format!("\n    {e:?}"))
            .collect::<String>()
    };
    format!(
        "{} effects vs {} expected; first difference at #{i}:\n  daemon:{}\n  replay:{}",
        got.len(),
        want.len(),
        around(got),
        around(want)
    )
}

/// Where `block` occurs as a contiguous run in `seq` at or after `from`.
fn find_block(seq: &[v1::Effect], block: &[&v1::Effect], from: usize) -> Option<usize> {
    (from..=seq.len().saturating_sub(block.len()))
        .find(|&i| block.iter().zip(&seq[i..]).all(|(b, s)| *b == s))
}

/// Checks one account through the API at the end: its stats, agents (read model), queue and every
/// ticket are the replay's (`engine`, at the shard's time `now`), and its counts add up: load per
/// agent and channel is the tickets on offer to them plus their `new`/`open` tickets, statuses and
/// the queue are what the tickets say, and the channel stats are the sums over the agents.
async fn check_account(
    mut c: RouterClient<Channel>,
    name: String,
    engine: Engine,
    now: Millis,
    tickets: Vec<String>,
) {
    let name = &name;
    let account = || name.clone();
    let stats =
        c.get_account_stats(v1::GetAccountStatsRequest { account: account() }).await.unwrap().into_inner();
    assert_eq!(stats, convert::stats_to_proto(&engine.stats(name).unwrap(), now), "{name}: stats");
    let agents =
        c.list_agents(v1::ListAgentsRequest { account: account() }).await.unwrap().into_inner().agents;
    let want: Vec<v1::Agent> = engine.agents(name).iter().map(convert::agent_to_proto).collect();
    assert_eq!(agents, want, "{name}: agents (the read model)");
    for agent in &want {
        let one = c
            .get_agent(v1::GetAgentRequest { account: account(), agent: agent.id.clone() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(&one, agent, "{name}: GetAgent");
    }
    let queue =
        c.list_queue(v1::ListQueueRequest { account: account(), limit: None }).await.unwrap().into_inner();
    let want: Vec<v1::QueueEntry> = engine
        .queue(name, usize::MAX)
        .iter()
        .enumerate()
        .map(|(i, q)| convert::queue_entry_to_proto(i, q, now))
        .collect();
    assert_eq!((queue.total as usize, &queue.entries), (want.len(), &want), "{name}: queue");
    // Recount from every ticket: load per agent and channel (offers plus new/open assigned
    // tickets), offers, statuses and the queue.
    let mut load: BTreeMap<(String, String), (u32, u32)> = BTreeMap::new();
    let mut by_status: BTreeMap<String, u32> = BTreeMap::new();
    let mut queued = 0;
    for ticket in &tickets {
        let t = c
            .get_ticket(v1::GetTicketRequest { account: account(), ticket: ticket.clone() })
            .await
            .unwrap()
            .into_inner();
        let view = engine.ticket(name, ticket).expect("the replay has it");
        assert_eq!(t, convert::ticket_to_proto(&view, now), "{name}: ticket {ticket}");
        *by_status.entry(t.status.clone()).or_default() += 1;
        queued += u32::from(t.queue_position.is_some());
        if let Some(agent) = &t.offered_to {
            let l = load.entry((agent.clone(), t.channel.clone())).or_default();
            l.0 += 1;
            l.1 += 1;
        }
        if let Some(agent) = &t.assignee
            && matches!(t.status.as_str(), "new" | "open")
        {
            load.entry((agent.clone(), t.channel.clone())).or_default().0 += 1;
        }
    }
    let statuses: BTreeMap<String, u32> =
        stats.tickets_by_status.iter().filter(|(_, n)| **n > 0).map(|(s, n)| (s.clone(), *n)).collect();
    assert_eq!(statuses, by_status, "{name}: tickets by status");
    assert_eq!(stats.queued, queued, "{name}: queued");
    for agent in &agents {
        for ch in &agent.channels {
            let (l, o) = load.remove(&(agent.id.clone(), ch.channel.clone())).unwrap_or_default();
            assert_eq!(
                (ch.load, ch.offered),
                (l, o),
                "{name}: {} on {}: load (offered)",
                agent.id,
                ch.channel
            );
        }
    }
    assert!(load.values().all(|l| l.0 == 0), "{name}: tickets count against agents who are gone: {load:?}");
    for ch in &stats.channels {
        let mine = || agents.iter().flat_map(|a| a.channels.iter().filter(|c| c.channel == ch.channel));
        let (l, o) = mine().fold((0, 0), |(l, o), c| (l + u64::from(c.load), o + c.offered));
        let online: u64 = mine().filter(|c| c.status == "online").map(|c| u64::from(c.capacity)).sum();
        assert_eq!(
            (ch.load, ch.offered, ch.online_capacity),
            (l, o, online),
            "{name} {}: stats against the agents (load, offered, online capacity)",
            ch.channel
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_clients_get_every_account_its_sequential_result() {
    let seed = seed();
    println!("seed {seed} (SWITCHBOARD_TEST_SEED={seed} to run these streams again)");
    let started = Instant::now();
    // Whole weeks forward, to at least an hour ahead of the wall clock.
    let wall = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as Millis;
    let week = 7 * DAY;
    let shift = (wall + HOUR).saturating_sub(SIM_START).div_ceil(week) * week;
    let work = workload(seed, shift);
    let n_accounts = work.accounts.len();
    assert_eq!(n_accounts, ACCOUNTS, "every account has events");
    let span = work.times.last().unwrap() - work.times[0];
    println!(
        "{} events of {n_accounts} accounts in {} rounds over {} min from {} ms after the wall clock ({} refused by the generating engine and left out), generated in {:?}",
        work.events.len(),
        work.times.len(),
        span / 60_000,
        work.times[0] - wall,
        work.dropped,
        started.elapsed()
    );

    let mut settings = Settings::default();
    settings.storage.enabled = false;
    settings.server.grpc_addr = "127.0.0.1:0".parse().unwrap();
    settings.server.http_addr = "127.0.0.1:0".parse().unwrap();
    settings.server.shutdown_grace_ms = 2000;
    settings.runtime.shards = SHARDS;
    // Small queues: unary calls meet full shards (RESOURCE_EXHAUSTED, sent again), streams wait.
    settings.runtime.shard_queue = 16;
    settings.runtime.max_future_skew_ms = 60 * DAY;
    // More than every effect of the test: the watchers cannot lose any.
    settings.limits.watch_buffer = 1 << 16;
    let daemon = Daemon::start(&settings).await.expect("the daemon starts");
    let addr = daemon.grpc_addr().to_string();
    assert!(daemon.grpc_addr().ip().is_loopback());

    let mut subset: Vec<String> = work.accounts.iter().step_by(3).cloned().collect();
    subset.push(SENTINEL.into());
    let types = ["ticket_created", "offered", "assigned", "status_changed"];
    let watchers = vec![
        watcher(&addr, "all", v1::WatchRequest::default(), false).await,
        watcher(&addr, "some accounts", v1::WatchRequest { accounts: subset.clone(), types: vec![] }, false)
            .await,
        watcher(
            &addr,
            "some types, slow",
            v1::WatchRequest { accounts: vec![], types: types.iter().map(|t| t.to_string()).collect() },
            true,
        )
        .await,
    ];

    let accounts = Arc::new(work.accounts.clone());
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..READERS)
        .map(|i| tokio::spawn(reader(addr.clone(), accounts.clone(), stop.clone(), seed ^ (0x33 + i as u64))))
        .collect();

    let times = Arc::new(work.times.clone());
    let mut per_account: Vec<Vec<(Millis, Event)>> = vec![Vec::new(); n_accounts];
    let mut tasks: Vec<Vec<(usize, usize, Event)>> = vec![Vec::new(); CLIENTS];
    for (round, account, event) in work.events {
        per_account[account].push((work.times[round], event.clone()));
        tasks[account % CLIENTS].push((round, account, event));
    }
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let ingest_started = Instant::now();
    let mut clients = Vec::new();
    for (i, w) in tasks.into_iter().enumerate() {
        let client = connect(&addr).await;
        clients.push(tokio::spawn(ingest_client(client, barrier.clone(), times.clone(), w, i % 2 == 1)));
    }
    let mut sent = Sent::default();
    for task in clients {
        let s = tokio::time::timeout(Duration::from_secs(120), task)
            .await
            .expect("ingestion finishes")
            .expect("an ingest client panicked");
        sent.replies.extend(s.replies);
        sent.problems.extend(s.problems);
        sent.retries += s.retries;
        sent.calls += s.calls;
    }
    let ingest_took = ingest_started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let mut reads = Vec::new();
    for r in readers {
        reads.push(r.await.expect("a reader failed"));
    }
    assert!(
        sent.problems.is_empty(),
        "{} problems, first ones: {:#?}",
        sent.problems.len(),
        &sent.problems[..sent.problems.len().min(10)]
    );

    // Every event has been answered, so every effect has been broadcast; the sentinel's comes after.
    // Without an `at` it is applied at its shard's time: no timer falls due for it.
    let mut c = connect(&addr).await;
    let sentinel = v1::Event {
        at: None,
        event_id: None,
        kind: Some(v1::event::Kind::Message(v1::Message {
            account: SENTINEL.into(),
            conversation: "end".into(),
            requester: "test".into(),
            via: "whatsapp".into(),
            ..Default::default()
        })),
    };
    let r = c.ingest(sentinel).await.expect("the sentinel").into_inner();
    assert_eq!(r.effects.len(), 1, "{r:?}");
    let mut watched = Vec::new();
    for w in watchers {
        let w = tokio::time::timeout(Duration::from_secs(30), w).await.expect("a watcher ends").unwrap();
        assert!(w.problem.is_none(), "watcher {}: {:?}", w.name, w.problem);
        watched.push(w);
    }

    // Per account: the effects the daemon emitted (the watcher of everything, which cannot have
    // lagged), in order, against a sequential replay on a fresh engine at the same times, which
    // also checks that every routing decision stood within capacity.
    let all = &watched[0];
    assert_eq!(all.lagged, 0, "the watcher of everything lagged: its buffer is too small for this test");
    let index: HashMap<&str, usize> = accounts.iter().enumerate().map(|(i, a)| (a.as_str(), i)).collect();
    let mut actual: Vec<Vec<v1::Effect>> = vec![Vec::new(); n_accounts];
    for e in &all.effects {
        actual[index[e.account.as_str()]].push(e.clone());
    }
    let rt = daemon.runtime();
    let mut engines = Vec::with_capacity(n_accounts);
    let mut expected_effects: Vec<Vec<v1::Effect>> = Vec::with_capacity(n_accounts);
    for (a, events) in per_account.iter().enumerate() {
        let name = &accounts[a];
        let mut engine = Engine::new(Config::default()).unwrap();
        let mut want = Vec::new();
        for (i, (at, event)) in events.iter().enumerate() {
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
        // The shard went on to later rounds (other accounts' events): the account's timers due by
        // then fired there.
        let shard_now = rt.query(name, |e| e.now()).await.unwrap();
        let from = want.len();
        engine.advance(shard_now, &mut want);
        engine.check_routed(&want[from..]).unwrap_or_else(|e| panic!("{name}: at the end: {e}"));
        let want: Vec<v1::Effect> = want.iter().map(convert::effect_to_proto).collect();
        assert!(actual[a] == want, "{name}: {}", first_difference(&actual[a], &want));
        engines.push((engine, shard_now));
        expected_effects.push(want);
    }
    let total: usize = expected_effects.iter().map(Vec::len).sum();

    // The replies of unary calls: each carries, per account, a contiguous run of that account's
    // effects; a client's own accounts' runs come in the order of its calls.
    let mut next = vec![0; n_accounts];
    for r in &sent.replies {
        let mut runs: BTreeMap<usize, Vec<&v1::Effect>> = BTreeMap::new();
        for e in &r.effects {
            runs.entry(index[e.account.as_str()]).or_default().push(e);
        }
        for (a, run) in runs {
            let from = if a == r.account { next[a] } else { 0 };
            let at = find_block(&expected_effects[a], &run, from).unwrap_or_else(|| {
                panic!("{}: a reply's effects are not a run of the account's: {run:?}", accounts[a])
            });
            if a == r.account {
                next[a] = at + run.len();
            }
        }
    }

    // The other watchers saw the effects they asked for, in order (all of them, or a subsequence
    // and the count of what they missed).
    let mut watch_report = Vec::new();
    for w in &watched {
        let wants = |e: &v1::Effect| match w.name {
            "some accounts" => subset.contains(&e.account),
            "some types, slow" => types.contains(&e.r#type.as_str()),
            _ => true,
        };
        let want: Vec<&v1::Effect> = all.effects.iter().filter(|e| wants(e)).collect();
        if w.lagged == 0 {
            assert!(
                w.effects.iter().eq(want.iter().copied()),
                "watcher {}: not what it asked for, in order",
                w.name
            );
        } else {
            // What it missed is counted before its filter: at least what it asked for and lacks.
            assert!(w.effects.len() as u64 + w.lagged >= want.len() as u64, "watcher {}", w.name);
            let mut it = want.iter();
            assert!(w.effects.iter().all(|e| it.any(|x| *x == e)), "watcher {}: out of order", w.name);
        }
        watch_report.push(format!(
            "{} saw {} (missed {} in {} lags)",
            w.name,
            w.effects.len(),
            w.lagged,
            w.lags
        ));
    }

    // At the end, through the API: the replay's state, and counts that add up.
    let names = c.list_accounts(v1::ListAccountsRequest {}).await.unwrap().into_inner().accounts;
    let mut want_names: Vec<String> = accounts.iter().cloned().chain([SENTINEL.to_string()]).collect();
    want_names.sort();
    assert_eq!(names, want_names);
    // Eight accounts at a time, over one connection: fewer queries in flight than a shard's queue
    // holds, so none is refused as saturated.
    let tickets_checked = expected_effects.iter().flatten().filter(|e| e.r#type == "ticket_created").count();
    let mut checks = tokio::task::JoinSet::new();
    for (a, (engine, now)) in engines.into_iter().enumerate() {
        let tickets: Vec<String> = expected_effects[a]
            .iter()
            .filter(|e| e.r#type == "ticket_created")
            .map(|e| e.ticket.clone())
            .collect();
        if checks.len() >= 8 {
            checks.join_next().await.expect("a check").expect("an account's end state");
        }
        checks.spawn(check_account(c.clone(), accounts[a].clone(), engine, now, tickets));
    }
    while let Some(done) = checks.join_next().await {
        done.expect("an account's end state");
    }
    for (i, r) in rt.query_all(|e| e.check_invariants()).await.unwrap().into_iter().enumerate() {
        r.unwrap_or_else(|e| panic!("shard {i}: {e}"));
    }
    daemon.shutdown().await;
    println!(
        "{total} effects; {} events in {} calls ({} sent again after RESOURCE_EXHAUSTED) by {CLIENTS} clients on {SHARDS} shards in {ingest_took:?}; readers: {}; watchers: {}; {tickets_checked} tickets checked; {:?} in all",
        per_account.iter().map(Vec::len).sum::<usize>(),
        sent.calls,
        sent.retries,
        reads.join(", "),
        watch_report.join(", "),
        started.elapsed()
    );
}
