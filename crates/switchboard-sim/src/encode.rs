//! Events as replay-format JSON lines.
//!
//! Generating a million-line file goes through here once per line, so objects are written straight
//! into the caller's buffer with no intermediate value; serde_json does only the string escaping.

use switchboard_core::{Event, Priority, TicketAttrs, TransferTarget};

/// Appends `event` at time `at` as one compact JSON object and a newline, in the replay format of
/// `routing.md`: `at`, `type`, `account`, then the type's fields under the spec's names and in its
/// order.
///
/// Optional fields without a value are left out: `channel` of `agent_status`, and on tickets
/// `requester`, `brand`, `group`, `style`, an empty `skills` or `optional_skills`, a `normal`
/// `priority` and (on `ticket_created`) a false `authenticated`, all of which decode to the same
/// event. `agent_upserted` always has `groups`, `skills` and `capacity`, and `message` always has
/// `channel` and `authenticated`, since those are what the event is about. A capacity list that names
/// a channel twice is written as given, and a JSON reader keeps only one of the two.
pub fn write_event(at: u64, event: &Event, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"at\":");
    out.extend_from_slice(itoa::Buffer::new().format(at).as_bytes());
    out.extend_from_slice(b",\"type\":\"");
    out.extend_from_slice(event.type_name().as_bytes());
    out.push(b'"');
    if let Some(account) = event.account() {
        field(out, "account", account);
    }
    match event {
        Event::AgentUpserted { agent, groups, skills, capacity, .. } => {
            field(out, "agent", agent);
            list(out, "groups", groups);
            list(out, "skills", skills);
            key(out, "capacity");
            out.push(b'{');
            for (i, (channel, n)) in capacity.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                string(out, channel);
                out.push(b':');
                out.extend_from_slice(itoa::Buffer::new().format(*n).as_bytes());
            }
            out.push(b'}');
        }
        Event::AgentStatus { agent, status, channel, .. } => {
            field(out, "agent", agent);
            field(out, "status", status);
            if let Some(channel) = channel {
                field(out, "channel", channel);
            }
        }
        Event::AgentRemoved { agent, .. } => field(out, "agent", agent),
        Event::Message(m) => {
            field(out, "conversation", &m.conversation);
            field(out, "requester", &m.requester);
            field(out, "channel", &m.attrs.channel);
            field(out, "via", &m.attrs.via);
            key(out, "authenticated");
            out.extend_from_slice(if m.attrs.authenticated { b"true" } else { b"false" });
            opt_field(out, "brand", m.attrs.brand.as_deref());
            routing_attrs(out, &m.attrs);
        }
        Event::TicketCreated(t) => {
            field(out, "ticket", &t.ticket);
            field(out, "channel", &t.attrs.channel);
            field(out, "via", &t.attrs.via);
            opt_field(out, "requester", t.requester.as_deref());
            routing_attrs(out, &t.attrs);
            if t.attrs.authenticated {
                out.extend_from_slice(b",\"authenticated\":true");
            }
            opt_field(out, "brand", t.attrs.brand.as_deref());
        }
        Event::OfferAccepted { ticket, agent, .. } | Event::OfferDeclined { ticket, agent, .. } => {
            field(out, "ticket", ticket);
            field(out, "agent", agent);
        }
        Event::TicketStatus { ticket, status, .. } => {
            field(out, "ticket", ticket);
            field(out, "status", status.as_str());
        }
        Event::TicketTransferred { ticket, to, .. } => {
            field(out, "ticket", ticket);
            match to {
                TransferTarget::Agent(agent) => field(out, "agent", agent),
                TransferTarget::Group(group) => field(out, "group", group),
            }
        }
        Event::Tick => {}
    }
    out.extend_from_slice(b"}\n");
}

/// `priority`, `group`, `skills`, `optional_skills`, `style`: the fields both ticket-creating events
/// share, in the spec's order.
fn routing_attrs(out: &mut Vec<u8>, attrs: &TicketAttrs) {
    if attrs.priority != Priority::Normal {
        field(out, "priority", attrs.priority.as_str());
    }
    opt_field(out, "group", attrs.group.as_deref());
    if !attrs.skills.is_empty() {
        list(out, "skills", &attrs.skills);
    }
    if !attrs.optional_skills.is_empty() {
        list(out, "optional_skills", &attrs.optional_skills);
    }
    opt_field(out, "style", attrs.style.as_deref());
}

/// `,"key":` — keys are fixed identifiers that need no escaping.
fn key(out: &mut Vec<u8>, key: &str) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

fn field(out: &mut Vec<u8>, name: &str, value: &str) {
    key(out, name);
    string(out, value);
}

fn opt_field(out: &mut Vec<u8>, name: &str, value: Option<&str>) {
    if let Some(value) = value {
        field(out, name, value);
    }
}

fn list(out: &mut Vec<u8>, name: &str, items: &[String]) {
    key(out, name);
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(out, item);
    }
    out.push(b']');
}

/// A JSON string with serde_json's escaping: ids may hold anything a caller puts in them.
fn string(out: &mut Vec<u8>, s: &str) {
    // Serializing a str into a Vec cannot fail: the only errors would be the writer's, and a Vec's
    // writes always succeed.
    let _ = serde_json::to_writer(&mut *out, s);
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::{CustomerMessage, NewTicket, TicketStatus};
    use switchboard_wire::{ShapeOnly, decode_event, parse_object};

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|&s| s.to_owned()).collect()
    }

    /// Ids with quotes, backslashes, control characters and non-ASCII, which must be escaped.
    const AWKWARD: &str = "a\"b\\c\n\u{1}é🙂";

    fn attrs(full: bool) -> TicketAttrs {
        if !full {
            return TicketAttrs {
                channel: "messaging".into(),
                via: "web_widget".into(),
                ..TicketAttrs::default()
            };
        }
        TicketAttrs {
            channel: "talk".into(),
            via: AWKWARD.into(),
            authenticated: true,
            brand: Some("acme-outlet".into()),
            priority: Priority::Urgent,
            group: Some("vip".into()),
            skills: strings(&["english", AWKWARD]),
            optional_skills: strings(&["billing"]),
            style: Some("live_chat".into()),
        }
    }

    fn events() -> Vec<Event> {
        let account = || "acme".to_owned();
        let mut events = vec![
            Event::AgentUpserted {
                account: AWKWARD.into(),
                agent: "acme-ag001".into(),
                groups: strings(&["support", "billing"]),
                skills: strings(&["english"]),
                capacity: vec![("messaging".into(), 3), ("email".into(), 0)],
            },
            Event::AgentUpserted {
                account: account(),
                agent: "acme-ag002".into(),
                groups: vec![],
                skills: vec![],
                capacity: vec![],
            },
            Event::AgentStatus {
                account: account(),
                agent: "acme-ag001".into(),
                status: "away".into(),
                channel: None,
            },
            Event::AgentStatus {
                account: account(),
                agent: "acme-ag001".into(),
                status: "offline".into(),
                channel: Some("talk".into()),
            },
            Event::AgentRemoved { account: account(), agent: AWKWARD.into() },
            Event::OfferAccepted { account: account(), ticket: "web-1#1".into(), agent: "acme-ag001".into() },
            Event::OfferDeclined { account: account(), ticket: "web-1#1".into(), agent: "acme-ag001".into() },
            Event::TicketTransferred {
                account: account(),
                ticket: "em-2".into(),
                to: TransferTarget::Agent("acme-ag002".into()),
            },
            Event::TicketTransferred {
                account: account(),
                ticket: "em-2".into(),
                to: TransferTarget::Group("billing".into()),
            },
            Event::Tick,
        ];
        for status in TicketStatus::AGENT_SETTABLE {
            events.push(Event::TicketStatus { account: account(), ticket: "web-1#1".into(), status });
        }
        for full in [false, true] {
            events.push(Event::Message(CustomerMessage {
                account: account(),
                conversation: "web-1".into(),
                requester: "cust-1".into(),
                attrs: attrs(full),
            }));
            events.push(Event::TicketCreated(NewTicket {
                account: account(),
                ticket: "em-2".into(),
                requester: full.then(|| "cust-2".into()),
                attrs: attrs(full),
            }));
        }
        events
    }

    #[test]
    fn every_event_round_trips_through_the_wire_decoder() {
        for event in events() {
            let mut out = Vec::new();
            write_event(1_767_571_200_123, &event, &mut out);
            let text = std::str::from_utf8(&out).expect("UTF-8");
            assert!(text.ends_with("}\n") && text.matches('\n').count() == 1, "{text}");
            let obj = parse_object(text).expect("a JSON object");
            assert_eq!(switchboard_wire::at_of(&obj), Ok(1_767_571_200_123));
            let decoded = decode_event(&obj, &ShapeOnly);
            assert_eq!(decoded.as_ref(), Ok(&event), "{text}");
        }
    }

    #[test]
    fn lines_use_the_spec_names_and_leave_out_what_is_absent() {
        let mut out = Vec::new();
        let minimal = events()
            .into_iter()
            .find(|e| matches!(e, Event::TicketCreated(t) if t.requester.is_none()))
            .expect("a minimal ticket_created");
        write_event(5, &minimal, &mut out);
        assert_eq!(
            std::str::from_utf8(&out),
            Ok(concat!(
                r#"{"at":5,"type":"ticket_created","account":"acme","ticket":"em-2","#,
                r#""channel":"messaging","via":"web_widget"}"#,
                "\n"
            ))
        );
        out.clear();
        write_event(6, &Event::Tick, &mut out);
        assert_eq!(out, b"{\"at\":6,\"type\":\"tick\"}\n");
    }
}
