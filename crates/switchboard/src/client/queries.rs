//! `switchboard agents`, `queue`, `ticket`, `stats` and `reload`: one call each, as text or as JSON.
//!
//! The JSON keeps the API's field names and raw values (milliseconds, 0-based positions), with
//! `null` for absent fields, so scripts see the same keys every time.

use super::format::{self, Table, duration, list, or_dash, ordered};
use super::{Conn, Failure, print, print_json};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::process::ExitCode;
use switchboard_core::{AgentStatus, Priority, TicketStatus};
use switchboard_proto::v1;

/// Arguments of `switchboard agents`.
#[derive(clap::Args)]
pub struct AgentsArgs {
    /// The account.
    #[arg(long)]
    account: String,
    #[command(flatten)]
    conn: Conn,
}

/// Arguments of `switchboard queue`.
#[derive(clap::Args)]
pub struct QueueArgs {
    /// The account.
    #[arg(long)]
    account: String,
    /// Show at most this many tickets (the daemon caps the listing; the total counts them all).
    #[arg(long)]
    limit: Option<u32>,
    #[command(flatten)]
    conn: Conn,
}

/// Arguments of `switchboard ticket`.
#[derive(clap::Args)]
pub struct TicketArgs {
    /// The account.
    #[arg(long)]
    account: String,
    /// The ticket id (e.g. `c-42#1`).
    #[arg(value_name = "ID")]
    ticket: String,
    #[command(flatten)]
    conn: Conn,
}

/// Arguments of `switchboard stats`.
#[derive(clap::Args)]
pub struct StatsArgs {
    /// The account (default: every account the daemon knows).
    #[arg(long)]
    account: Option<String>,
    #[command(flatten)]
    conn: Conn,
}

/// Arguments of `switchboard reload`.
#[derive(clap::Args)]
pub struct ReloadArgs {
    #[command(flatten)]
    conn: Conn,
}

/// `switchboard reload`: `Reload`, and what it did.
pub(super) async fn reload(args: ReloadArgs) -> Result<ExitCode, Failure> {
    let mut client = args.conn.connect().await?;
    let r = client.reload(v1::ReloadRequest {}).await?.into_inner();
    if args.conn.json {
        print_json(&json!({
            "source": r.source,
            "engine_changed": r.engine_changed,
            "tokens": r.tokens,
            "restart_needed": r.restart_needed,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let source = if r.source.is_empty() { "the embedded default".to_owned() } else { r.source };
    let routing = if r.engine_changed { "changed" } else { "unchanged" };
    let mut text = format!(
        "reloaded {source}: routing settings {routing}, {} API tokens
",
        r.tokens
    );
    if !r.restart_needed.is_empty() {
        text += &format!(
            "changed but applied only after a restart: {}
",
            r.restart_needed.join(", ")
        );
    }
    print(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// `switchboard agents`: `ListAgents` as a table with a column per channel.
pub(super) async fn agents(args: AgentsArgs) -> Result<ExitCode, Failure> {
    let mut client = args.conn.connect().await?;
    let request = v1::ListAgentsRequest { account: args.account.clone() };
    let agents = client.list_agents(request).await?.into_inner().agents;
    if args.conn.json {
        let agents: Vec<Value> = agents.iter().map(agent_json).collect();
        print_json(&json!({ "account": args.account, "agents": agents }))?;
        return Ok(ExitCode::SUCCESS);
    }
    if agents.is_empty() {
        print(&format!("no agents in account {:?}\n", args.account))?;
        return Ok(ExitCode::SUCCESS);
    }
    // Every agent has every configured channel, in config order; the first agent's are the columns.
    let channels: Vec<&str> = agents[0].channels.iter().map(|c| c.channel.as_str()).collect();
    let mut header = vec!["AGENT", "GROUPS", "SKILLS"];
    let upper: Vec<String> = channels.iter().map(|c| c.to_uppercase()).collect();
    header.extend(upper.iter().map(String::as_str));
    let mut table = Table::new(&header);
    for a in &agents {
        let mut row = vec![a.id.clone(), list(&a.groups), list(&a.skills)];
        row.extend(channels.iter().map(|name| {
            a.channels
                .iter()
                .find(|c| c.channel == *name)
                .map_or_else(|| "-".to_owned(), |c| format!("{} {}/{}", c.status, c.load, c.capacity))
        }));
        table.row(row);
    }
    print(&table.render(""))?;
    Ok(ExitCode::SUCCESS)
}

fn agent_json(a: &v1::Agent) -> Value {
    let channels: Vec<Value> = a
        .channels
        .iter()
        .map(|c| {
            json!({
                "channel": c.channel,
                "status": c.status,
                "capacity": c.capacity,
                "load": c.load,
                "offered": c.offered,
            })
        })
        .collect();
    json!({ "id": a.id, "groups": a.groups, "skills": a.skills, "channels": channels })
}

/// `switchboard queue`: `ListQueue` in queue order, with the total waiting.
pub(super) async fn queue(args: QueueArgs) -> Result<ExitCode, Failure> {
    let mut client = args.conn.connect().await?;
    let request = v1::ListQueueRequest { account: args.account.clone(), limit: args.limit };
    let reply = client.list_queue(request).await?.into_inner();
    if args.conn.json {
        let entries: Vec<Value> = reply
            .entries
            .iter()
            .map(|q| {
                json!({
                    "position": q.position,
                    "ticket": q.ticket,
                    "channel": q.channel,
                    "priority": q.priority,
                    "group": q.group,
                    "queue_time": q.queue_time,
                    "wait_ms": q.wait_ms,
                })
            })
            .collect();
        print_json(&json!({ "account": args.account, "entries": entries, "total": reply.total }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut text = String::new();
    if !reply.entries.is_empty() {
        let mut table = Table::new(&["POS", "TICKET", "CHANNEL", "PRIORITY", "GROUP", "WAIT"]);
        for q in &reply.entries {
            table.row(vec![
                (q.position + 1).to_string(),
                q.ticket.clone(),
                q.channel.clone(),
                q.priority.clone(),
                or_dash(q.group.as_deref()),
                duration(q.wait_ms),
            ]);
        }
        text = table.render("");
    }
    let shown = reply.entries.len() as u64;
    if shown < reply.total {
        text.push_str(&format!("{} waiting (first {shown} shown)\n", reply.total));
    } else {
        text.push_str(&format!("{} waiting\n", reply.total));
    }
    print(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// `switchboard ticket`: every field of `GetTicket`, one per line.
pub(super) async fn ticket(args: TicketArgs) -> Result<ExitCode, Failure> {
    let mut client = args.conn.connect().await?;
    let request = v1::GetTicketRequest { account: args.account.clone(), ticket: args.ticket };
    let t = client.get_ticket(request).await?.into_inner();
    if args.conn.json {
        print_json(&json!({
            "account": args.account,
            "id": t.id,
            "status": t.status,
            "channel": t.channel,
            "via": t.via,
            "requester": t.requester,
            "priority": t.priority,
            "group": t.group,
            "skills": t.skills,
            "optional_skills": t.optional_skills,
            "skills_relaxed": t.skills_relaxed,
            "style": t.style,
            "assignee": t.assignee,
            "offered_to": t.offered_to,
            "offered_at": t.offered_at,
            "queue_time": t.queue_time,
            "queue_position": t.queue_position,
            "wait_ms": t.wait_ms,
            "conversation": t.conversation,
            "follow_up_of": t.follow_up_of,
            "created_at": t.created_at,
            "solved_at": t.solved_at,
            "closes_at": t.closes_at,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let now = format::now_ms();
    let time = |at: Option<u64>| at.map_or_else(|| "-".to_owned(), |at| format::time(at, now));
    let fields = [
        ("id", t.id.clone()),
        ("status", t.status.clone()),
        ("channel", t.channel.clone()),
        ("via", t.via.clone()),
        ("requester", or_dash(t.requester.as_deref())),
        ("priority", t.priority.clone()),
        ("group", or_dash(t.group.as_deref())),
        ("skills", list(&t.skills)),
        ("optional skills", list(&t.optional_skills)),
        ("skills relaxed", if t.skills_relaxed { "yes" } else { "no" }.to_owned()),
        ("style", t.style.clone()),
        ("assignee", or_dash(t.assignee.as_deref())),
        ("offered to", or_dash(t.offered_to.as_deref())),
        ("offered at", time(t.offered_at)),
        ("queue time", time(Some(t.queue_time))),
        ("queue position", t.queue_position.map_or_else(|| "-".to_owned(), |p| (p + 1).to_string())),
        ("wait", t.wait_ms.map_or_else(|| "-".to_owned(), duration)),
        ("conversation", or_dash(t.conversation.as_deref())),
        ("follow-up of", or_dash(t.follow_up_of.as_deref())),
        ("created at", time(Some(t.created_at))),
        ("solved at", time(t.solved_at)),
        ("closes at", time(t.closes_at)),
    ];
    let width = fields.iter().map(|(key, _)| key.len() + 1).max().unwrap_or(0);
    let text: String =
        fields.iter().map(|(key, value)| format!("{:<width$}  {value}\n", format!("{key}:"))).collect();
    print(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// `switchboard stats`: `GetAccountStats` for one account, or for each of `ListAccounts`.
pub(super) async fn stats(args: StatsArgs) -> Result<ExitCode, Failure> {
    let mut client = args.conn.connect().await?;
    let accounts = match args.account {
        Some(account) => vec![account],
        None => {
            let request = v1::ListAccountsRequest {};
            client.list_accounts(request).await?.into_inner().accounts
        }
    };
    if accounts.is_empty() && !args.conn.json {
        print("no accounts yet\n")?;
    }
    for (i, account) in accounts.into_iter().enumerate() {
        let request = v1::GetAccountStatsRequest { account };
        let s = client.get_account_stats(request).await?.into_inner();
        // One line per account in JSON, so many accounts stream like JSON Lines.
        let more = if args.conn.json {
            print_json(&stats_json(&s))?
        } else {
            print(&format!("{}{}", if i > 0 { "\n" } else { "" }, stats_text(&s)))?
        };
        if !more {
            break;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn ticket_statuses() -> [&'static str; 6] {
    TicketStatus::ALL.map(TicketStatus::as_str)
}

fn agent_statuses() -> [&'static str; 4] {
    AgentStatus::ALL.map(AgentStatus::as_str)
}

/// Priorities most urgent first, the order the queue serves them.
fn priorities() -> [&'static str; 4] {
    let mut p = Priority::ALL.map(Priority::as_str);
    p.reverse();
    p
}

fn ordered_json<V: Copy + Into<Value>>(map: &HashMap<String, V>, known: &[&str]) -> Value {
    let entries: Map<String, Value> =
        ordered(map, known).into_iter().map(|(k, v)| (k.to_owned(), (*v).into())).collect();
    Value::Object(entries)
}

fn stats_json(s: &v1::AccountStats) -> Value {
    let channels: Vec<Value> = s
        .channels
        .iter()
        .map(|c| {
            json!({
                "channel": c.channel,
                "agents_by_status": ordered_json(&c.agents_by_status, &agent_statuses()),
                "online_capacity": c.online_capacity,
                "load": c.load,
                "offered": c.offered,
                "queued_by_priority": ordered_json(&c.queued_by_priority, &priorities()),
                "oldest_wait_ms_by_priority": ordered_json(&c.oldest_wait_ms_by_priority, &priorities()),
            })
        })
        .collect();
    json!({
        "account": s.account,
        "agents": s.agents,
        "tickets_by_status": ordered_json(&s.tickets_by_status, &ticket_statuses()),
        "queued": s.queued,
        "channels": channels,
    })
}

fn stats_text(s: &v1::AccountStats) -> String {
    let counts = |map: &HashMap<String, u32>, known: &[&str]| {
        ordered(map, known)
            .into_iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let tickets = ordered(&s.tickets_by_status, &ticket_statuses())
        .into_iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut text = format!("{}: {} agents, {} queued\n  tickets: {tickets}\n", s.account, s.agents, s.queued);
    let mut header = vec!["CHANNEL"];
    let statuses: Vec<String> = agent_statuses().iter().map(|st| st.to_uppercase()).collect();
    header.extend(statuses.iter().map(String::as_str));
    header.extend(["ONLINE CAP", "LOAD", "OFFERED", "QUEUED", "OLDEST WAIT"]);
    let mut table = Table::new(&header);
    for c in &s.channels {
        let mut row = vec![c.channel.clone()];
        row.extend(
            agent_statuses().iter().map(|st| c.agents_by_status.get(*st).copied().unwrap_or(0).to_string()),
        );
        let queued: u64 = c.queued_by_priority.values().map(|&n| u64::from(n)).sum();
        let by_priority = counts(&c.queued_by_priority, &priorities());
        let oldest = c.oldest_wait_ms_by_priority.values().max().copied();
        row.extend([
            c.online_capacity.to_string(),
            c.load.to_string(),
            c.offered.to_string(),
            if queued > 0 { format!("{queued} ({by_priority})") } else { "0".to_owned() },
            oldest.map_or_else(|| "-".to_owned(), duration),
        ]);
        table.row(row);
    }
    text.push_str(&table.render("  "));
    text
}
