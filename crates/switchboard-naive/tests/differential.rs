//! Differential test: random event streams over a small world go to both `switchboard_core::Engine`
//! and the naive router, which must accept and refuse the same events (with the same error texts)
//! and give identical effects, event by event, under each assignment method. The engine's own
//! invariant check runs after every event.
//!
//! Events are generated as templates and made concrete while the stream runs, so that "accept the
//! second outstanding offer" or "set the status of the fourth ticket" can name real ids. The
//! outstanding offers and the tickets are read from the effects, which both sides must agree on.
//!
//! 256 cases by default; ordering subtleties can take thousands to show, so search deeper with
//! `PROPTEST_CASES=20000 cargo test --release -p switchboard-naive --test differential`.

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use switchboard_core::config::{DAY_MS, Style, StyleRule, UnifiedStatus};
use switchboard_core::{
    AgentStatus, AssignmentMethod, AssignmentMode, Config, CustomerMessage, Effect, EffectKind, Engine,
    Event, NewTicket, Priority, TicketAttrs, TicketStatus, TransferTarget,
};
use switchboard_naive::NaiveRouter;

const ACCOUNTS: [&str; 2] = ["a1", "a2"];
/// The last one is never upserted, so events naming it are refused.
const AGENTS: [&str; 6] = ["ag1", "ag2", "ag3", "ag4", "ag5", "nobody"];
const CONVERSATIONS: [&str; 6] = ["c1", "c2", "c3", "c4", "c5", "c6"];
/// Explicit ids; `c2#1` and `c3#2` collide with conversation tickets on purpose.
const EXPLICIT_TICKETS: [&str; 5] = ["t1", "t2", "t3", "c2#1", "c3#2"];
const GROUPS: [&str; 2] = ["g1", "g2"];
const SKILLS: [&str; 3] = ["s1", "s2", "s3"];
/// The last one is not configured.
const CHANNELS: [&str; 4] = ["messaging", "email", "talk", "fax"];
const VIAS: [&str; 5] = ["web_widget", "mobile_sdk", "whatsapp", "email", "api"];
/// `quick` exists only in account a2; `bogus` nowhere.
const STYLES: [&str; 5] = ["live_chat", "live_chat_returning", "social_messaging", "quick", "bogus"];
/// Per-channel names, then unified-only names (`in_meeting` exists in a2 only), then junk.
const AGENT_STATUSES: [&str; 6] = ["online", "away", "transfers_only", "offline", "in_meeting", "busy"];

/// The shipped defaults with `method`, plus an account `a2` whose policy differs in every way the
/// engine must look up per account: modes, timeouts (a 0 s skills timeout), reassignment, styles,
/// style rules and a custom unified status.
fn config(method: AssignmentMethod) -> Config {
    let mut config = Config::default();
    Arc::make_mut(&mut config.defaults).assignment_method = method;
    let mut a2 = (*config.defaults).clone();
    a2.channels[0].skills_timeout_ms = 0;
    a2.channels[0].mode = AssignmentMode::Auto;
    a2.channels[1].mode = AssignmentMode::Offer;
    a2.channels[1].offer_timeout_ms = 10_000;
    a2.channels[1].reassign_on_unavailable = true;
    a2.channels[2].reassign_on_unavailable = false;
    a2.channels[2].skills_timeout_ms = 30_000;
    a2.styles.push(Style { name: "quick".into(), close_after_solved_ms: 300_000 });
    a2.style_rules
        .insert(0, StyleRule { channel: Some(vec!["email".into()]), style: 3, ..StyleRule::default() });
    a2.unified_statuses.push(UnifiedStatus {
        name: "in_meeting".into(),
        per_channel: vec![AgentStatus::Away, AgentStatus::Online, AgentStatus::TransfersOnly],
    });
    config.accounts.insert("a2".into(), Arc::new(a2));
    config
}

/// Which ticket an event names.
#[derive(Debug, Clone)]
enum TicketRef {
    /// The n-th ticket the account has created so far (modulo their number).
    Existing(usize),
    /// The n-th ticket that currently has an assignee (any ticket when none has).
    Held(usize),
    /// A fixed id, which may or may not exist.
    Named(&'static str),
}

/// An event with its ids still to be resolved against the stream so far.
#[derive(Debug, Clone)]
enum Template {
    Upsert {
        account: usize,
        agent: usize,
        groups: Vec<bool>,
        skills: Vec<bool>,
        capacity: Vec<Option<u32>>,
    },
    Status {
        account: usize,
        agent: usize,
        status: usize,
        channel: Option<usize>,
    },
    Remove {
        account: usize,
        agent: usize,
    },
    Message {
        account: usize,
        conversation: usize,
        attrs: Attrs,
    },
    Create {
        account: usize,
        ticket: usize,
        attrs: Attrs,
    },
    /// Accept or decline the n-th outstanding offer of any account (a made-up one in `account`
    /// when there is none), or have someone else (`stranger`) answer it. A `late` answer is chosen
    /// before the timers due at its time fire, so it may come exactly at the offer's deadline.
    Answer {
        account: usize,
        offer: usize,
        accept: bool,
        stranger: Option<usize>,
        late: bool,
    },
    SetStatus {
        account: usize,
        ticket: TicketRef,
        status: TicketStatus,
    },
    Transfer {
        account: usize,
        ticket: TicketRef,
        to: TransferTarget,
    },
    Tick,
}

/// A new ticket's attributes, as indices into the world's names.
#[derive(Debug, Clone)]
struct Attrs {
    channel: usize,
    via: usize,
    authenticated: bool,
    brand: Option<&'static str>,
    priority: Priority,
    group: Option<usize>,
    skills: Vec<bool>,
    optional_skills: Vec<bool>,
    style: Option<usize>,
}

fn pick(flags: &[bool], names: &[&str]) -> Vec<String> {
    flags.iter().zip(names).filter(|(f, _)| **f).map(|(_, n)| (*n).to_owned()).collect()
}

fn flags(n: usize, p: f64) -> impl Strategy<Value = Vec<bool>> {
    proptest::collection::vec(proptest::bool::weighted(p), n)
}

fn attrs() -> impl Strategy<Value = Attrs> {
    (
        prop_oneof![6 => Just(0usize), 2 => Just(1), 2 => Just(2), 1 => Just(3)],
        0..VIAS.len(),
        any::<bool>(),
        proptest::option::weighted(0.2, Just("b1")),
        prop_oneof![
            1 => Just(Priority::Low),
            3 => Just(Priority::Normal),
            1 => Just(Priority::High),
            1 => Just(Priority::Urgent),
        ],
        proptest::option::weighted(0.4, 0..GROUPS.len()),
        flags(SKILLS.len(), 0.2),
        flags(SKILLS.len(), 0.3),
        proptest::option::weighted(0.3, 0..STYLES.len()),
    )
        .prop_map(
            |(channel, via, authenticated, brand, priority, group, skills, optional_skills, style)| Attrs {
                channel,
                via,
                authenticated,
                brand,
                priority,
                group,
                skills,
                optional_skills,
                style,
            },
        )
}

fn ticket_ref() -> impl Strategy<Value = TicketRef> {
    prop_oneof![
        5 => any::<usize>().prop_map(TicketRef::Existing),
        5 => any::<usize>().prop_map(TicketRef::Held),
        1 => proptest::sample::select(&["t1", "c1#1", "ghost"][..]).prop_map(TicketRef::Named),
    ]
}

fn template() -> impl Strategy<Value = Template> {
    let account = prop_oneof![3 => Just(0usize), 2 => Just(1)];
    let agent = prop_oneof![30 => 0..5usize, 1 => Just(5)];
    prop_oneof![
        // Now and then a capacity for the unconfigured channel, which refuses the upsert.
        3 => (account.clone(), 0..5usize, flags(GROUPS.len(), 0.6), flags(SKILLS.len(), 0.6),
              proptest::collection::vec(proptest::option::weighted(0.8, 0..4u32), 3),
              proptest::bool::weighted(0.05))
            .prop_map(|(account, agent, groups, skills, mut capacity, unconfigured)| {
                capacity.push(unconfigured.then_some(1));
                Template::Upsert { account, agent, groups, skills, capacity }
            }),
        6 => (account.clone(), agent.clone(),
              prop_oneof![10 => 0..4usize, 1 => 4..6usize],
              proptest::option::weighted(0.5, prop_oneof![10 => 0..3usize, 1 => Just(3)]))
            .prop_map(|(account, agent, status, channel)| {
                Template::Status { account, agent, status, channel }
            }),
        1 => (account.clone(), agent.clone())
            .prop_map(|(account, agent)| Template::Remove { account, agent }),
        8 => (account.clone(), 0..CONVERSATIONS.len(), attrs())
            .prop_map(|(account, conversation, attrs)| {
                Template::Message { account, conversation, attrs }
            }),
        2 => (account.clone(), 0..EXPLICIT_TICKETS.len(), attrs())
            .prop_map(|(account, ticket, attrs)| Template::Create { account, ticket, attrs }),
        8 => (account.clone(), any::<usize>(), proptest::bool::weighted(0.7),
              proptest::option::weighted(0.1, agent.clone()), proptest::bool::weighted(0.2))
            .prop_map(|(account, offer, accept, stranger, late)| {
                Template::Answer { account, offer, accept, stranger, late }
            }),
        6 => (account.clone(), ticket_ref(),
              prop_oneof![
                  3 => Just(TicketStatus::Open), 3 => Just(TicketStatus::Pending),
                  2 => Just(TicketStatus::OnHold), 4 => Just(TicketStatus::Solved),
                  1 => Just(TicketStatus::New), 1 => Just(TicketStatus::Closed)])
            .prop_map(|(account, ticket, status)| Template::SetStatus { account, ticket, status }),
        3 => (account.clone(), ticket_ref(),
              prop_oneof![
                  6 => agent.prop_map(|a| TransferTarget::Agent(AGENTS[a].into())),
                  4 => (0..GROUPS.len()).prop_map(|g| TransferTarget::Group(GROUPS[g].into()))])
            .prop_map(|(account, ticket, to)| Template::Transfer { account, ticket, to }),
        1 => Just(Template::Tick),
    ]
}

/// Every agent of both accounts upserted with some capacity and set online (or away), so that the
/// random events that follow have someone to route to. Shrinking may drop any of it.
fn setup() -> impl Strategy<Value = Vec<(u64, Template)>> {
    let agent = (
        flags(GROUPS.len(), 0.6),
        flags(SKILLS.len(), 0.6),
        proptest::collection::vec(0..4u32, 3),
        prop_oneof![4 => Just(0usize), 1 => Just(1)],
    );
    proptest::collection::vec(agent, 10).prop_map(|agents| {
        let mut events = Vec::new();
        for (i, (groups, skills, capacity, status)) in agents.into_iter().enumerate() {
            let (account, agent) = (i / 5, i % 5);
            // No entry for the unconfigured channel, which would refuse the upsert.
            let capacity = capacity.into_iter().map(Some).chain([None]).collect();
            events.push((0, Template::Upsert { account, agent, groups, skills, capacity }));
            events.push((0, Template::Status { account, agent, status, channel: None }));
        }
        events
    })
}

/// Milliseconds to the next event: often none or exactly a timeout (ties between timers and
/// events are where ordering rules bite), sometimes long enough for close windows to run out.
fn time_step() -> impl Strategy<Value = u64> {
    prop_oneof![
        8 => Just(0u64),
        3 => Just(1u64),
        8 => 0..5_000u64,
        2 => Just(10_000u64),
        3 => Just(30_000u64),
        2 => Just(60_000u64),
        3 => 0..120_000u64,
        1 => Just(300_000u64),
        1 => Just(3_600_000u64),
        1 => 0..2 * 3_600_000u64,
        1 => Just(4 * DAY_MS),
        1 => 0..5 * DAY_MS,
    ]
}

/// What the stream so far has shown, read from the (agreed) effects.
#[derive(Default)]
struct Seen {
    /// Tickets per account, in creation order.
    tickets: BTreeMap<String, Vec<String>>,
    /// Outstanding offers per account: (ticket, agent), oldest first.
    offers: BTreeMap<String, Vec<(String, String)>>,
    /// Tickets with an assignee per account, oldest assignment first.
    held: BTreeMap<String, Vec<String>>,
}

impl Seen {
    fn observe(&mut self, effects: &[Effect]) {
        for e in effects {
            let account = e.account.to_string();
            let ticket = e.ticket.to_string();
            let offers = self.offers.entry(account.clone()).or_default();
            let held = self.held.entry(account.clone()).or_default();
            match &e.kind {
                EffectKind::TicketCreated { .. } => self.tickets.entry(account).or_default().push(ticket),
                EffectKind::Offered { agent } => offers.push((ticket, agent.to_string())),
                EffectKind::OfferWithdrawn { .. } => offers.retain(|(t, _)| *t != ticket),
                EffectKind::Assigned { .. } => {
                    offers.retain(|(t, _)| *t != ticket);
                    held.retain(|t| *t != ticket);
                    held.push(ticket);
                }
                EffectKind::Unassigned { .. } => held.retain(|t| *t != ticket),
                _ => {}
            }
        }
    }

    fn ticket(&self, account: &str, r: &TicketRef) -> String {
        match r {
            TicketRef::Named(id) => (*id).to_owned(),
            TicketRef::Held(n) => match self.held.get(account) {
                Some(list) if !list.is_empty() => list[n % list.len()].clone(),
                _ => self.ticket(account, &TicketRef::Existing(*n)),
            },
            TicketRef::Existing(n) => match self.tickets.get(account) {
                Some(list) if !list.is_empty() => list[n % list.len()].clone(),
                _ => "none-yet".to_owned(),
            },
        }
    }

    fn event(&self, template: &Template) -> Event {
        let attrs = |a: &Attrs| TicketAttrs {
            channel: CHANNELS[a.channel].to_owned(),
            via: VIAS[a.via].to_owned(),
            authenticated: a.authenticated,
            brand: a.brand.map(str::to_owned),
            priority: a.priority,
            group: a.group.map(|g| GROUPS[g].to_owned()),
            skills: pick(&a.skills, &SKILLS),
            optional_skills: pick(&a.optional_skills, &SKILLS),
            style: a.style.map(|s| STYLES[s].to_owned()),
        };
        match template {
            Template::Upsert { account, agent, groups, skills, capacity } => Event::AgentUpserted {
                account: ACCOUNTS[*account].into(),
                agent: AGENTS[*agent].into(),
                groups: pick(groups, &GROUPS),
                skills: pick(skills, &SKILLS),
                capacity: capacity
                    .iter()
                    .zip(CHANNELS)
                    .filter_map(|(n, c)| n.map(|n| (c.to_owned(), n)))
                    .collect(),
            },
            Template::Status { account, agent, status, channel } => Event::AgentStatus {
                account: ACCOUNTS[*account].into(),
                agent: AGENTS[*agent].into(),
                status: AGENT_STATUSES[*status].into(),
                channel: channel.map(|c| CHANNELS[c].to_owned()),
            },
            Template::Remove { account, agent } => {
                Event::AgentRemoved { account: ACCOUNTS[*account].into(), agent: AGENTS[*agent].into() }
            }
            Template::Message { account, conversation, attrs: a } => Event::Message(CustomerMessage {
                account: ACCOUNTS[*account].into(),
                conversation: CONVERSATIONS[*conversation].into(),
                requester: format!("cust-{conversation}"),
                attrs: attrs(a),
            }),
            Template::Create { account, ticket, attrs: a } => Event::TicketCreated(NewTicket {
                account: ACCOUNTS[*account].into(),
                ticket: EXPLICIT_TICKETS[*ticket].into(),
                requester: None,
                attrs: attrs(a),
            }),
            Template::Answer { account, offer, accept, stranger, .. } => {
                let offers: Vec<(&String, &(String, String))> = self
                    .offers
                    .iter()
                    .flat_map(|(account, offers)| offers.iter().map(move |o| (account, o)))
                    .collect();
                let (account, (ticket, mut agent)) = match offers.as_slice() {
                    [] => {
                        let account = ACCOUNTS[*account];
                        let ticket = self.ticket(account, &TicketRef::Existing(*offer));
                        (account.to_owned(), (ticket, "ag1".to_owned()))
                    }
                    _ => {
                        let (account, offer) = offers[offer % offers.len()];
                        (account.clone(), offer.clone())
                    }
                };
                if let Some(stranger) = stranger {
                    agent = AGENTS[*stranger].into();
                }
                match accept {
                    true => Event::OfferAccepted { account, ticket, agent },
                    false => Event::OfferDeclined { account, ticket, agent },
                }
            }
            Template::SetStatus { account, ticket, status } => Event::TicketStatus {
                account: ACCOUNTS[*account].into(),
                ticket: self.ticket(ACCOUNTS[*account], ticket),
                status: *status,
            },
            Template::Transfer { account, ticket, to } => Event::TicketTransferred {
                account: ACCOUNTS[*account].into(),
                ticket: self.ticket(ACCOUNTS[*account], ticket),
                to: to.clone(),
            },
            Template::Tick => Event::Tick,
        }
    }
}

/// The event as a replay-format line, so a failing case can be replayed by hand.
fn wire_line(at: u64, event: &Event) -> String {
    let mut v = Map::new();
    v.insert("at".into(), json!(at));
    v.insert("type".into(), json!(event.type_name()));
    if let Some(account) = event.account() {
        v.insert("account".into(), json!(account));
    }
    let attrs = |v: &mut Map<String, Value>, a: &TicketAttrs| {
        v.insert("channel".into(), json!(a.channel));
        v.insert("via".into(), json!(a.via));
        v.insert("authenticated".into(), json!(a.authenticated));
        v.insert("brand".into(), json!(a.brand));
        v.insert("priority".into(), json!(a.priority.as_str()));
        v.insert("group".into(), json!(a.group));
        v.insert("skills".into(), json!(a.skills));
        v.insert("optional_skills".into(), json!(a.optional_skills));
        v.insert("style".into(), json!(a.style));
    };
    match event {
        Event::AgentUpserted { agent, groups, skills, capacity, .. } => {
            v.insert("agent".into(), json!(agent));
            v.insert("groups".into(), json!(groups));
            v.insert("skills".into(), json!(skills));
            let capacity: Map<String, Value> = capacity.iter().map(|(c, n)| (c.clone(), json!(n))).collect();
            v.insert("capacity".into(), Value::Object(capacity));
        }
        Event::AgentStatus { agent, status, channel, .. } => {
            v.insert("agent".into(), json!(agent));
            v.insert("status".into(), json!(status));
            v.insert("channel".into(), json!(channel));
        }
        Event::AgentRemoved { agent, .. } => {
            v.insert("agent".into(), json!(agent));
        }
        Event::Message(m) => {
            v.insert("conversation".into(), json!(m.conversation));
            v.insert("requester".into(), json!(m.requester));
            attrs(&mut v, &m.attrs);
        }
        Event::TicketCreated(t) => {
            v.insert("ticket".into(), json!(t.ticket));
            attrs(&mut v, &t.attrs);
        }
        Event::OfferAccepted { ticket, agent, .. } | Event::OfferDeclined { ticket, agent, .. } => {
            v.insert("ticket".into(), json!(ticket));
            v.insert("agent".into(), json!(agent));
        }
        Event::TicketStatus { ticket, status, .. } => {
            v.insert("ticket".into(), json!(ticket));
            v.insert("status".into(), json!(status.as_str()));
        }
        Event::TicketTransferred { ticket, to, .. } => {
            v.insert("ticket".into(), json!(ticket));
            match to {
                TransferTarget::Agent(a) => v.insert("agent".into(), json!(a)),
                TransferTarget::Group(g) => v.insert("group".into(), json!(g)),
            };
        }
        Event::Tick => {}
    }
    v.retain(|_, x| !x.is_null());
    Value::Object(v).to_string()
}

/// Effects as indented replay-format lines.
fn show(effects: &[Effect]) -> String {
    effects
        .iter()
        .map(|e| {
            let mut line = Vec::new();
            switchboard_wire::write_effect(e, &mut line);
            format!("    {}", String::from_utf8_lossy(&line))
        })
        .collect()
}

/// Runs the stream through both; on the first disagreement (or broken engine invariant), the error
/// says where and lists the events so far as replay lines.
fn run(method: AssignmentMethod, stream: &[(u64, Template)]) -> Result<(), String> {
    let mut engine = Engine::new(config(method)).map_err(|e| e.to_string())?;
    let mut naive = NaiveRouter::new(config(method)).map_err(|e| e.to_string())?;
    let mut seen = Seen::default();
    let mut at = 1_767_571_200_000u64;
    let mut lines = Vec::new();
    let report = |what: String, lines: &[String], engine: &[Effect], naive: &[Effect]| {
        let events = lines.join("\n    ");
        let (engine, naive) = (show(engine), show(naive));
        format!("{method:?}: {what}\n  events:\n    {events}\n  engine:\n{engine}  naive:\n{naive}")
    };
    for (i, (step, template)) in stream.iter().enumerate() {
        at += step;
        let (mut by_engine, mut by_naive) = (Vec::new(), Vec::new());
        // An answer that is not `late` sees the offers left once due timers have fired; a late one
        // may name an offer that times out at this very `at` (routing.md 9).
        if let Template::Answer { late: false, .. } = template {
            engine.advance(at, &mut by_engine);
            naive.advance(at, &mut by_naive);
            if by_engine != by_naive {
                let what = format!("effects differ advancing to {at} before event {i}");
                return Err(report(what, &lines, &by_engine, &by_naive));
            }
            seen.observe(&by_engine);
            (by_engine, by_naive) = (Vec::new(), Vec::new());
        }
        let event = seen.event(template);
        lines.push(wire_line(at, &event));
        let engine_result = engine.apply(&event, at, &mut by_engine);
        let naive_result = naive.apply(&event, at, &mut by_naive);
        let (engine_result, naive_result) =
            (engine_result.map_err(|e| e.to_string()), naive_result.map_err(|e| e.to_string()));
        if engine_result != naive_result || by_engine != by_naive {
            let what =
                format!("event {i} differs: engine {engine_result:?}, naive {naive_result:?}, effects:");
            return Err(report(what, &lines, &by_engine, &by_naive));
        }
        if let Err(broken) = engine.check_invariants() {
            let what = format!("engine invariant broken after event {i}: {broken}");
            return Err(report(what, &lines, &by_engine, &by_naive));
        }
        seen.observe(&by_engine);
    }
    Ok(())
}

proptest! {
    // 256 cases unless PROPTEST_CASES says otherwise.
    #![proptest_config(ProptestConfig {
        max_shrink_iters: 20_000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn engine_and_naive_router_agree(
        setup in setup(),
        events in proptest::collection::vec((time_step(), template()), 1..120)
    ) {
        let stream: Vec<_> = setup.into_iter().chain(events).collect();
        for method in AssignmentMethod::ALL {
            if let Err(report) = run(method, &stream) {
                prop_assert!(false, "{}", report);
            }
        }
    }
}
