//! `switchboard watch`: effects as they happen, one a line.

use super::format::{clock, or_dash};
use super::{Conn, Failure, print, warn};
use clap::builder::PossibleValuesParser;
use serde_json::{Map, Value};
use std::process::ExitCode;
use switchboard_core::EffectKind;
use switchboard_proto::v1;
use switchboard_proto::v1::watch_item::Item;

/// Arguments of `switchboard watch`.
#[derive(clap::Args)]
pub struct Args {
    /// Only this account's effects (repeat, or separate with commas, for several; default: all).
    #[arg(long = "account", value_name = "ACCOUNT", value_delimiter = ',')]
    accounts: Vec<String>,
    /// Only effects of this type (repeat, or separate with commas, for several; default: all).
    #[arg(
        long = "type",
        value_name = "TYPE",
        value_delimiter = ',',
        value_parser = PossibleValuesParser::new(EffectKind::TYPE_NAMES),
    )]
    types: Vec<String>,
    #[command(flatten)]
    conn: Conn,
}

/// `switchboard watch`: prints each effect until Ctrl-C or the end of the stream.
pub(super) async fn run(args: Args) -> Result<ExitCode, Failure> {
    let mut client = args.conn.connect().await?;
    let scope = format!("accounts: {}; types: {}", described(&args.accounts), described(&args.types));
    let request = v1::WatchRequest { accounts: args.accounts, types: args.types };
    let mut stream = client.watch_effects(request).await?.into_inner();
    // The daemon subscribed before answering, so from here on no effect is missed; saying so on
    // stderr tells a person (or a script) that the watch is live.
    warn(format_args!("switchboard: watching {} ({scope}); Ctrl-C to stop", args.conn.uri()));
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        let item = tokio::select! {
            signal = &mut interrupted => {
                signal.map_err(|e| anyhow::Error::new(e).context("listening for Ctrl-C"))?;
                return Ok(ExitCode::SUCCESS);
            }
            item = stream.message() => item?,
        };
        let Some(item) = item else {
            warn("switchboard: the daemon ended the watch");
            return Ok(ExitCode::SUCCESS);
        };
        match item.item {
            Some(Item::Effect(e)) => {
                let line = if args.conn.json {
                    format!("{}\n", Value::Object(effect_json(&e)))
                } else {
                    format!("{}\n", effect_text(&e))
                };
                if !print(&line)? {
                    return Ok(ExitCode::SUCCESS);
                }
            }
            Some(Item::Lagged(n)) => warn(format_args!("(lagged: {n} effects dropped)")),
            // An item kind this client does not know, from a newer daemon.
            None => {}
        }
    }
}

fn described(filter: &[String]) -> String {
    if filter.is_empty() { "all".to_owned() } else { filter.join(", ") }
}

/// The effect as `switchboard replay` writes it (`switchboard_wire::write_effect`): the same keys in
/// the same order, absent fields left out.
fn effect_json(e: &v1::Effect) -> Map<String, Value> {
    let mut obj = Map::new();
    obj.insert("at".into(), e.at.into());
    obj.insert("type".into(), e.r#type.clone().into());
    obj.insert("account".into(), e.account.clone().into());
    obj.insert("ticket".into(), e.ticket.clone().into());
    let optional = [
        ("conversation", &e.conversation),
        ("style", &e.style),
        ("follow_up_of", &e.follow_up_of),
        ("agent", &e.agent),
        ("from", &e.from),
        ("to", &e.to),
        ("reason", &e.reason),
    ];
    for (key, value) in optional {
        if let Some(v) = value {
            obj.insert(key.into(), v.clone().into());
        }
    }
    obj
}

/// The effect for people: `12:03:04.123 acme offered c#1 -> ana`.
fn effect_text(e: &v1::Effect) -> String {
    let agent = || or_dash(e.agent.as_deref());
    let reason = || or_dash(e.reason.as_deref());
    let detail = match e.r#type.as_str() {
        "ticket_created" => {
            let mut parts = vec![format!("style {}", or_dash(e.style.as_deref()))];
            if let Some(c) = &e.conversation {
                parts.push(format!("conversation {c}"));
            }
            if let Some(previous) = &e.follow_up_of {
                parts.push(format!("follow-up of {previous}"));
            }
            format!(" ({})", parts.join(", "))
        }
        "offered" | "assigned" => format!(" -> {}", agent()),
        "offer_withdrawn" | "unassigned" => format!(" from {} ({})", agent(), reason()),
        "status_changed" => {
            format!(" {} -> {} ({})", or_dash(e.from.as_deref()), or_dash(e.to.as_deref()), reason())
        }
        "reopened" => match &e.agent {
            Some(a) => format!(" (kept by {a})"),
            None => String::new(),
        },
        // `skills_relaxed`, and types from a newer daemon: every field it set, as key=value.
        _ => effect_json(e)
            .into_iter()
            .skip(4)
            .map(|(k, v)| format!(" {k}={}", v.as_str().unwrap_or_default()))
            .collect(),
    };
    format!("{} {} {:<15} {}{detail}", clock(e.at), e.account, e.r#type, e.ticket)
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::{Effect, StatusReason, TicketStatus, WithdrawReason};

    fn proto(kind: EffectKind) -> v1::Effect {
        switchboard_proto::convert::effect_to_proto(&Effect {
            at: 1_767_571_384_123,
            account: "acme".into(),
            ticket: "c#1".into(),
            kind,
        })
    }

    #[test]
    fn json_matches_the_replay_format() {
        let kinds = [
            EffectKind::TicketCreated {
                conversation: Some("c".into()),
                style: "live_chat".into(),
                follow_up_of: None,
            },
            EffectKind::OfferWithdrawn { agent: "ana".into(), reason: WithdrawReason::Declined },
            EffectKind::StatusChanged {
                from: TicketStatus::New,
                to: TicketStatus::Open,
                reason: StatusReason::Accepted,
            },
            EffectKind::Reopened { agent: None },
            EffectKind::SkillsRelaxed,
        ];
        for kind in kinds {
            let e = proto(kind.clone());
            let mut expected = Vec::new();
            switchboard_wire::write_effect(
                &Effect { at: e.at, account: "acme".into(), ticket: "c#1".into(), kind },
                &mut expected,
            );
            let line = format!("{}\n", Value::Object(effect_json(&e)));
            assert_eq!(line, String::from_utf8(expected).unwrap());
        }
    }

    #[test]
    fn text_reads_as_a_sentence() {
        let offered = proto(EffectKind::Offered { agent: "ana".into() });
        assert_eq!(effect_text(&offered), "00:03:04.123 acme offered         c#1 -> ana");
        let changed = proto(EffectKind::StatusChanged {
            from: TicketStatus::New,
            to: TicketStatus::Open,
            reason: StatusReason::Accepted,
        });
        assert_eq!(effect_text(&changed), "00:03:04.123 acme status_changed  c#1 new -> open (accepted)");
        let relaxed = proto(EffectKind::SkillsRelaxed);
        assert_eq!(effect_text(&relaxed), "00:03:04.123 acme skills_relaxed  c#1");
    }
}
