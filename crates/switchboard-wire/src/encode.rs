//! Effects and rejections as JSON Lines.
//!
//! This is the replay's hot path (every effect of a million-line trace comes through here), so objects
//! are written straight into the caller's buffer, keys in a fixed order, with no intermediate value.

use switchboard_core::{Effect, EffectKind};

/// Appends `effect` as one compact JSON object and a newline: `at`, `type`, `account`, `ticket`, then
/// the effect's own fields. Absent optional fields (`conversation`, `follow_up_of`, `reopened.agent`)
/// are omitted.
pub fn write_effect(effect: &Effect, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"at\":");
    write_u64(out, effect.at);
    out.extend_from_slice(b",\"type\":");
    write_name(out, effect.kind.type_name());
    write_key(out, "account");
    write_str(out, &effect.account);
    write_key(out, "ticket");
    write_str(out, &effect.ticket);
    match &effect.kind {
        EffectKind::TicketCreated { conversation, style, follow_up_of } => {
            if let Some(conversation) = conversation {
                write_key(out, "conversation");
                write_str(out, conversation);
            }
            write_key(out, "style");
            write_str(out, style);
            if let Some(previous) = follow_up_of {
                write_key(out, "follow_up_of");
                write_str(out, previous);
            }
        }
        EffectKind::Offered { agent } | EffectKind::Assigned { agent } => {
            write_key(out, "agent");
            write_str(out, agent);
        }
        EffectKind::OfferWithdrawn { agent, reason } => {
            write_key(out, "agent");
            write_str(out, agent);
            write_key(out, "reason");
            write_name(out, reason.as_str());
        }
        EffectKind::Unassigned { agent, reason } => {
            write_key(out, "agent");
            write_str(out, agent);
            write_key(out, "reason");
            write_name(out, reason.as_str());
        }
        EffectKind::StatusChanged { from, to, reason } => {
            write_key(out, "from");
            write_name(out, from.as_str());
            write_key(out, "to");
            write_name(out, to.as_str());
            write_key(out, "reason");
            write_name(out, reason.as_str());
        }
        EffectKind::Reopened { agent } => {
            if let Some(agent) = agent {
                write_key(out, "agent");
                write_str(out, agent);
            }
        }
        EffectKind::SkillsRelaxed => {}
    }
    out.extend_from_slice(b"}\n");
}

/// Appends a `rejected` record and a newline: `at`, `type`, `account` (omitted when `None`), the
/// 1-based input `line` and the `error` text.
pub fn write_rejected(at: u64, account: Option<&str>, line: u64, error: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"at\":");
    write_u64(out, at);
    out.extend_from_slice(b",\"type\":\"rejected\"");
    if let Some(account) = account {
        write_key(out, "account");
        write_str(out, account);
    }
    write_key(out, "line");
    write_u64(out, line);
    write_key(out, "error");
    write_str(out, error);
    out.extend_from_slice(b"}\n");
}

/// `,"key":` — keys are fixed identifiers that need no escaping.
fn write_key(out: &mut Vec<u8>, key: &str) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

/// A wire name of the core's enums (`snake_case` ASCII), which needs no escaping.
fn write_name(out: &mut Vec<u8>, name: &str) {
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.push(b'"');
}

fn write_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// A JSON string with serde_json's escaping; ids and error texts come from input and may hold anything.
fn write_str(out: &mut Vec<u8>, s: &str) {
    // Serializing a str into a Vec cannot fail: the only errors would be the writer's, and a Vec's
    // writes always succeed.
    let _ = serde_json::to_writer(&mut *out, s);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use std::sync::Arc;
    use switchboard_core::{StatusReason, TicketStatus, UnassignReason, WithdrawReason};

    fn effect(kind: EffectKind) -> Effect {
        Effect { at: 1767571240138, account: "initech".into(), ticket: "em-1".into(), kind }
    }

    fn encoded(effect: &Effect) -> String {
        let mut out = Vec::new();
        write_effect(effect, &mut out);
        String::from_utf8(out).expect("UTF-8")
    }

    fn agent(id: &str) -> Arc<str> {
        id.into()
    }

    #[test]
    fn status_changed_text() {
        let e = effect(EffectKind::StatusChanged {
            from: TicketStatus::New,
            to: TicketStatus::Open,
            reason: StatusReason::Assigned,
        });
        assert_eq!(
            encoded(&e),
            "{\"at\":1767571240138,\"type\":\"status_changed\",\"account\":\"initech\",\"ticket\":\"em-1\",\"from\":\"new\",\"to\":\"open\",\"reason\":\"assigned\"}\n"
        );
    }

    #[test]
    fn ticket_created_omits_absent_links() {
        let bare = effect(EffectKind::TicketCreated {
            conversation: None,
            style: "social_messaging".into(),
            follow_up_of: None,
        });
        assert_eq!(
            encoded(&bare),
            "{\"at\":1767571240138,\"type\":\"ticket_created\",\"account\":\"initech\",\"ticket\":\"em-1\",\"style\":\"social_messaging\"}\n"
        );
        let linked = effect(EffectKind::TicketCreated {
            conversation: Some("we-1".into()),
            style: "live_chat".into(),
            follow_up_of: Some("we-1#1".into()),
        });
        assert_eq!(
            encoded(&linked),
            "{\"at\":1767571240138,\"type\":\"ticket_created\",\"account\":\"initech\",\"ticket\":\"em-1\",\"conversation\":\"we-1\",\"style\":\"live_chat\",\"follow_up_of\":\"we-1#1\"}\n"
        );
    }

    #[test]
    fn every_effect_parses_back_with_its_fields() {
        let cases = [
            (
                EffectKind::TicketCreated {
                    conversation: Some("c".into()),
                    style: "live_chat".into(),
                    follow_up_of: Some("c#1".into()),
                },
                json!({"conversation": "c", "style": "live_chat", "follow_up_of": "c#1"}),
            ),
            (EffectKind::Offered { agent: agent("a1") }, json!({"agent": "a1"})),
            (
                EffectKind::OfferWithdrawn { agent: agent("a1"), reason: WithdrawReason::AgentUnavailable },
                json!({"agent": "a1", "reason": "agent_unavailable"}),
            ),
            (
                EffectKind::OfferWithdrawn { agent: agent("a1"), reason: WithdrawReason::Transferred },
                json!({"agent": "a1", "reason": "transferred"}),
            ),
            (EffectKind::Assigned { agent: agent("a2") }, json!({"agent": "a2"})),
            (
                EffectKind::Unassigned { agent: agent("a2"), reason: UnassignReason::Transferred },
                json!({"agent": "a2", "reason": "transferred"}),
            ),
            (
                EffectKind::StatusChanged {
                    from: TicketStatus::Solved,
                    to: TicketStatus::Closed,
                    reason: StatusReason::StyleClose,
                },
                json!({"from": "solved", "to": "closed", "reason": "style_close"}),
            ),
            (
                EffectKind::StatusChanged {
                    from: TicketStatus::OnHold,
                    to: TicketStatus::Open,
                    reason: StatusReason::CustomerReply,
                },
                json!({"from": "on_hold", "to": "open", "reason": "customer_reply"}),
            ),
            (EffectKind::Reopened { agent: Some(agent("a3")) }, json!({"agent": "a3"})),
            (EffectKind::Reopened { agent: None }, json!({})),
            (EffectKind::SkillsRelaxed, json!({})),
        ];
        for (kind, fields) in cases {
            let type_name = kind.type_name();
            let text = encoded(&effect(kind));
            assert!(text.ends_with('\n') && text.matches('\n').count() == 1, "{text}");
            let mut expected = json!({
                "at": 1767571240138u64, "type": type_name, "account": "initech", "ticket": "em-1"
            });
            if let (Value::Object(all), Value::Object(own)) = (&mut expected, fields) {
                all.extend(own);
            }
            assert_eq!(serde_json::from_str::<Value>(&text).expect("JSON"), expected, "{text}");
            let keys: Vec<_> = ["\"at\"", "\"type\"", "\"account\"", "\"ticket\""]
                .iter()
                .map(|key| text.find(key).expect("key present"))
                .collect();
            assert!(keys.is_sorted(), "key order in {text}");
        }
    }

    #[test]
    fn strings_are_escaped() {
        let e = Effect {
            at: 0,
            account: "a\"c\\me\n".into(),
            ticket: "t\u{1}é😀".into(),
            kind: EffectKind::Assigned { agent: agent("</script>") },
        };
        let text = encoded(&e);
        assert_eq!(
            text,
            "{\"at\":0,\"type\":\"assigned\",\"account\":\"a\\\"c\\\\me\\n\",\"ticket\":\"t\\u0001é😀\",\"agent\":\"</script>\"}\n"
        );
        let back: Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(back["account"], "a\"c\\me\n");
        assert_eq!(back["ticket"], "t\u{1}é😀");
    }

    #[test]
    fn rejected_records() {
        let mut out = Vec::new();
        write_rejected(
            1767575242551,
            Some("umbrella"),
            1184,
            "invalid field 'type': unknown event type \"agent_login\"",
            &mut out,
        );
        write_rejected(u64::MAX, None, 1, "not JSON: Expecting value: line 1 column 1 (char 0)", &mut out);
        assert_eq!(
            String::from_utf8(out).expect("UTF-8"),
            concat!(
                "{\"at\":1767575242551,\"type\":\"rejected\",\"account\":\"umbrella\",\"line\":1184,",
                "\"error\":\"invalid field 'type': unknown event type \\\"agent_login\\\"\"}\n",
                "{\"at\":18446744073709551615,\"type\":\"rejected\",\"line\":1,",
                "\"error\":\"not JSON: Expecting value: line 1 column 1 (char 0)\"}\n",
            )
        );
    }

    #[test]
    fn appends_to_what_is_there() {
        let mut out = b"previous\n".to_vec();
        write_effect(&effect(EffectKind::SkillsRelaxed), &mut out);
        assert!(out.starts_with(b"previous\n{\"at\":"));
    }
}
