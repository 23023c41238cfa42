//! Memory of the engine's state: bytes per agent and bytes per open ticket, and the size of a
//! snapshot of that state on disk.
//!
//!     cargo run --release -p switchboard-benches --example memory            # 100k agents, 1M tickets
//!     cargo run --release -p switchboard-benches --example memory -- --quick # a tenth of that
//!
//! The state is built through the engine's public API only (`Engine::apply` with generated events),
//! with the daemon's allocator (mimalloc), and measured as the growth of the process's resident set
//! (`VmRSS` in `/proc/self/status`, so Linux only): what an operator sees, allocator overhead and
//! unused capacity that was touched included. A counting global allocator would give live bytes
//! instead, but implementing `GlobalAlloc` takes `unsafe`, which the workspace forbids
//! (`unsafe_code = "forbid"`, inherited by this crate). Each case runs in a child process of its
//! own (this program again, with `--case <name>`), so that no case inherits another's heap.
//!
//! Snapshot sizes are those of the real file: the same events go through a one-shard runtime with
//! storage (`fsync = never`) in a temporary directory, and the snapshot it stores at shutdown is
//! measured.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use switchboard_benches::{Rng, T0};
use switchboard_core::{Config, CustomerMessage, Engine, Event, NewTicket, Priority, TicketAttrs};
use switchboard_runtime::store::{FsyncPolicy, StoreOptions};
use switchboard_runtime::{Options, Runtime};

const GROUPS: [&str; 8] = ["support", "billing", "sales", "vip", "tier1", "tier2", "emea", "amer"];
const SKILLS: usize = 32;

/// What a case builds: `setup` events (agents), then `main` events (tickets, or nothing), and what
/// the figure is per: the agents, or the tickets of `main`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    /// One account of N agents, online.
    Agents,
    /// 100 accounts of N/100 agents, online.
    AgentsSpread,
    /// One account without agents and M messaging tickets waiting in its queue (each with its
    /// conversation).
    Queued,
    /// One account of 1,000 agents and M email tickets assigned to them and open.
    Open,
}

impl Case {
    const ALL: [Case; 4] = [Case::Agents, Case::AgentsSpread, Case::Queued, Case::Open];

    fn name(self) -> &'static str {
        match self {
            Case::Agents => "agents",
            Case::AgentsSpread => "agents-spread",
            Case::Queued => "queued",
            Case::Open => "open",
        }
    }

    fn describe(self, sizes: Sizes) -> String {
        match self {
            Case::Agents => format!("{} agents, 1 account, online", sizes.agents),
            Case::AgentsSpread => format!("{} agents, 100 accounts, online", sizes.agents),
            Case::Queued => format!("{} messaging tickets waiting (new)", sizes.tickets),
            Case::Open => format!("{} email tickets assigned, open", sizes.tickets),
        }
    }

    fn from_name(name: &str) -> Option<Case> {
        Case::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The agents' events and the tickets' events, made one at a time as they are taken (a list
    /// of them would be freed memory the engine could then grow into unseen).
    fn events(self, sizes: Sizes) -> (Events, Events) {
        let none = || -> Events { Box::new(std::iter::empty()) };
        match self {
            Case::Agents => (agents("bench".into(), sizes.agents, 10, 7), none()),
            Case::AgentsSpread => {
                let per = sizes.agents / 100;
                let setup = (0..100).flat_map(move |a| agents(format!("acct-{a:03}"), per, 10, a));
                (Box::new(setup), none())
            }
            Case::Queued => (none(), Box::new((0..sizes.tickets).map(queued_ticket))),
            Case::Open => {
                // Room for every ticket: 1,000 agents of email capacity tickets / 1,000 (rounded up).
                let capacity = sizes.tickets.div_ceil(1000) as u32;
                (agents("bench".into(), 1000, capacity, 7), Box::new((0..sizes.tickets).map(email_ticket)))
            }
        }
    }

    /// How many units the figure is per.
    fn units(self, sizes: Sizes) -> usize {
        match self {
            Case::Agents | Case::AgentsSpread => sizes.agents,
            Case::Queued | Case::Open => sizes.tickets,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Sizes {
    agents: usize,
    tickets: usize,
}

type Events = Box<dyn Iterator<Item = Event>>;

/// `n` agents of `account`: one to three groups of eight, two to four skills of 32, capacity on two
/// channels (messaging 2 to 5, email `email`), then online.
fn agents(account: String, n: usize, email: u32, seed: u64) -> Events {
    let mut rng = Rng::new(seed);
    Box::new((0..n).flat_map(move |i| {
        let mut groups: Vec<String> =
            (0..1 + rng.below(3)).map(|_| GROUPS[rng.below(8) as usize].to_string()).collect();
        groups.sort();
        groups.dedup();
        let mut skills: Vec<String> =
            (0..2 + rng.below(3)).map(|_| format!("skill-{:02}", rng.below(SKILLS as u64))).collect();
        skills.sort();
        skills.dedup();
        let agent = format!("{account}-ag{i:06}");
        let upsert = Event::AgentUpserted {
            account: account.clone(),
            agent: agent.clone(),
            groups,
            skills,
            capacity: vec![("messaging".into(), 2 + rng.below(4) as u32), ("email".into(), email)],
        };
        let online =
            Event::AgentStatus { account: account.clone(), agent, status: "online".into(), channel: None };
        [upsert, online]
    }))
}

fn priority(i: usize) -> Priority {
    match i % 20 {
        0 | 1 => Priority::Low,
        2..=4 => Priority::High,
        5 => Priority::Urgent,
        _ => Priority::Normal,
    }
}

/// A WhatsApp conversation's first message: a new ticket on messaging, some with a group or a
/// required skill.
fn queued_ticket(i: usize) -> Event {
    Event::Message(CustomerMessage {
        account: "bench".into(),
        conversation: format!("wa-{i}"),
        requester: format!("cust-{i}"),
        attrs: TicketAttrs {
            channel: "messaging".into(),
            via: "whatsapp".into(),
            priority: priority(i),
            group: i.is_multiple_of(4).then(|| GROUPS[i % 8].to_string()),
            skills: if i.is_multiple_of(3) { vec![format!("skill-{:02}", i % SKILLS)] } else { vec![] },
            ..TicketAttrs::default()
        },
    })
}

/// An email ticket with a helpdesk id; email assigns automatically, so it is assigned and open.
fn email_ticket(i: usize) -> Event {
    Event::TicketCreated(NewTicket {
        account: "bench".into(),
        ticket: format!("em-{i}"),
        requester: Some(format!("cust-{i}")),
        attrs: TicketAttrs {
            channel: "email".into(),
            via: "email".into(),
            priority: priority(i),
            ..TicketAttrs::default()
        },
    })
}

/// The resident set and its peak, in bytes.
fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status (Linux only)");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Child: builds the case on an engine and prints `rss_start rss_setup rss_end peak seconds check`.
fn measure(case: Case, sizes: Sizes) {
    let (setup, main) = case.events(sizes);
    let mut engine = Engine::new(Config::default()).expect("the default config is valid");
    let mut out = Vec::new();
    let (start, _) = rss();
    let started = Instant::now();
    for e in setup {
        out.clear();
        engine.apply(&e, T0, &mut out).expect("setup events are valid");
    }
    let (after_setup, _) = rss();
    for e in main {
        out.clear();
        engine.apply(&e, T0, &mut out).expect("ticket events are valid");
    }
    let took = started.elapsed().as_secs_f64();
    let (end, peak) = rss();
    // What was built, as the engine counts it: live agents and tickets by status.
    let (agents, tickets) = engine.account_names().iter().filter_map(|a| engine.stats(a)).fold(
        (0u64, [0u64; 6]),
        |(agents, mut t), s| {
            for (x, n) in t.iter_mut().zip(s.tickets_by_status) {
                *x += u64::from(n);
            }
            (agents + u64::from(s.agents), t)
        },
    );
    let statuses = ["new", "open", "pending", "on_hold", "solved", "closed"];
    let built: Vec<String> = std::iter::once(format!("agents={agents}"))
        .chain(statuses.iter().zip(tickets).filter(|(_, n)| *n > 0).map(|(s, n)| format!("{s}={n}")))
        .collect();
    println!("{start} {after_setup} {end} {peak} {took:.3} {}", built.join(","));
    // The engine is dropped with the process, not here: freeing it is not part of the measurement.
    std::mem::forget(engine);
}

/// Child: ingests the case's events through a one-shard runtime with storage, shuts it down (which
/// stores a snapshot) and prints the snapshot's size in bytes.
fn snapshot(case: Case, sizes: Sizes) {
    let dir = std::env::temp_dir().join(format!("switchboard-memory-{}-{}", case.name(), std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = StoreOptions {
        fsync: FsyncPolicy::Never,
        // Only the snapshot at shutdown.
        snapshot_every_events: u64::MAX,
        snapshot_every: Duration::from_secs(24 * 3600),
        ..StoreOptions::new(&dir)
    };
    let rt =
        Runtime::start(Config::default(), Options { shards: 1, store: Some(store), ..Options::default() })
            .expect("the runtime starts");
    let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio");
    let (setup, main) = case.events(sizes);
    tokio.block_on(async {
        let mut in_flight = VecDeque::new();
        for e in setup.into_iter().chain(main) {
            let pending = rt.submit_patiently(e, None, None, Duration::from_secs(60)).await.expect("queued");
            in_flight.push_back(pending);
            if in_flight.len() >= 4096 {
                in_flight.pop_front().expect("not empty").await.expect("applied");
            }
        }
        for p in in_flight {
            p.await.expect("applied");
        }
    });
    rt.shutdown();
    let size = newest_snapshot(&dir).map(|p| std::fs::metadata(p).expect("snapshot").len());
    let _ = std::fs::remove_dir_all(&dir);
    println!("{}", size.expect("a snapshot was stored at shutdown"));
}

/// The `.snap` file with the highest sequence number under `dir`.
fn newest_snapshot(dir: &Path) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).ok()?.flatten() {
            let p = entry.path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|e| e == "snap") {
                found.push(p);
            }
        }
    }
    found.into_iter().max_by_key(|p| p.file_name().map(|n| n.to_os_string()))
}

/// Runs this program again as a child with `args` and returns its standard output.
fn child(args: &[&str]) -> String {
    let exe = std::env::current_exe().expect("the program's path");
    let out = Command::new(exe).args(args).output().expect("the child runs");
    assert!(out.status.success(), "child {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8")
}

fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / (1 << 20) as f64)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let sizes = if quick {
        Sizes { agents: 10_000, tickets: 100_000 }
    } else {
        Sizes { agents: 100_000, tickets: 1_000_000 }
    };
    let case_arg = |flag: &str| {
        args.iter().position(|a| a == flag).map(|i| {
            let name = args.get(i + 1).map_or("", String::as_str);
            Case::from_name(name).unwrap_or_else(|| panic!("unknown case {name:?}"))
        })
    };
    if let Some(case) = case_arg("--case") {
        return measure(case, sizes);
    }
    if let Some(case) = case_arg("--snapshot") {
        return snapshot(case, sizes);
    }

    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "switchboard memory: engine state built with Engine::apply, mimalloc, resident set growth ({cpus} CPUs)"
    );
    println!();
    println!(
        "| case | RSS before | RSS growth (MiB) | bytes each | snapshot (MiB) | snapshot bytes each | build s | built |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
    let mode = if quick { vec!["--quick"] } else { vec![] };
    for case in Case::ALL {
        let mut a = mode.clone();
        a.extend(["--case", case.name()]);
        let line = child(&a);
        let f: Vec<&str> = line.split_whitespace().collect();
        let n = |i: usize| f[i].parse::<u64>().expect("a number");
        let (start, after_setup, end) = (n(0), n(1), n(2));
        // Agents: everything built; tickets: what the tickets added to the agents (if any).
        let grown = match case {
            Case::Agents | Case::AgentsSpread => end - start,
            Case::Queued | Case::Open => end - after_setup,
        };
        let units = case.units(sizes) as u64;
        let mut a = mode.clone();
        a.extend(["--snapshot", case.name()]);
        let snap: u64 = child(&a).trim().parse().expect("a size");
        println!(
            "| {} | {} MiB | {} | {} | {} | {} | {} | {} |",
            case.describe(sizes),
            mib(start),
            mib(grown),
            grown / units,
            mib(snap),
            snap / units,
            f[4],
            f[5]
        );
    }
    println!();
    println!(
        "bytes each: RSS growth / agents (agent cases, everything built) or / tickets (ticket cases, beyond the agents); snapshot bytes each: the whole snapshot file / the same count"
    );
}
