//! From a parsed JSON object to an [`Event`]: field presence and shape, in the replay format's order.
//!
//! Each field is judged whole where it is read, including whether the ticket, agent, channel or
//! style it names exists (asked of a [`Known`], normally the engine), so a line with several faults
//! reports the first in field order, as the conformance trace expects (an `offer_accepted` with an
//! unknown ticket and no agent is about the ticket). What needs more than existence (statuses,
//! transitions) is the engine's to refuse.

use crate::{Expected, Object, WireError};
use serde_json::Value;
use switchboard_core::{
    CustomerMessage, Engine, EngineError, Event, NewTicket, Priority, TicketAttrs, TicketStatus,
    TransferTarget,
};

/// What exists, as far as decoding needs to know. Each answer is `None` when the implementation
/// cannot tell, and then the field is taken as it is (the engine judges it when the event arrives).
pub trait Known {
    /// Whether the account has a ticket with this id.
    fn ticket(&self, account: &str, ticket: &str) -> Option<bool>;
    /// Whether the account has a (live) agent with this id.
    fn agent(&self, account: &str, agent: &str) -> Option<bool>;
    /// Whether the channel is configured.
    fn channel(&self, channel: &str) -> Option<bool>;
    /// Whether the account's policy has the style.
    fn style(&self, account: &str, style: &str) -> Option<bool>;
}

impl Known for Engine {
    fn ticket(&self, account: &str, ticket: &str) -> Option<bool> {
        Some(self.has_ticket(account, ticket))
    }

    fn agent(&self, account: &str, agent: &str) -> Option<bool> {
        Some(self.has_agent(account, agent))
    }

    fn channel(&self, channel: &str) -> Option<bool> {
        Some(self.config().channel_index(channel).is_some())
    }

    fn style(&self, account: &str, style: &str) -> Option<bool> {
        Some(self.config().policy(account).style_index(style).is_some())
    }
}

/// Knows nothing: decoding that checks shapes only, for clients without an engine (the engine
/// judges names and ids when the event reaches it).
#[derive(Debug, Clone, Copy, Default)]
pub struct ShapeOnly;

impl Known for ShapeOnly {
    fn ticket(&self, _: &str, _: &str) -> Option<bool> {
        None
    }
    fn agent(&self, _: &str, _: &str) -> Option<bool> {
        None
    }
    fn channel(&self, _: &str) -> Option<bool> {
        None
    }
    fn style(&self, _: &str, _: &str) -> Option<bool> {
        None
    }
}

/// Decodes everything but `at`: `type` first, then `account`, then the type's fields in the order the
/// replay format lists them, so a line with several faults reports the first of them.
pub fn decode_event(obj: &Object, known: &impl Known) -> Result<Event, WireError> {
    let f = Fields(obj);
    let type_name = f.str("type")?;
    // Called first in each account-scoped arm: an unknown type outranks a missing account. The
    // checks below run in the order written, which is the replay format's field order.
    let account = || f.non_empty("account");
    let unknown = |exists: Option<bool>, error: &dyn Fn() -> EngineError| match exists {
        Some(false) => Err(WireError::Unknown(error())),
        _ => Ok(()),
    };
    let existing_ticket = |account: &str| {
        let ticket = f.non_empty("ticket")?;
        unknown(known.ticket(account, &ticket), &|| EngineError::UnknownTicket(ticket.clone()))?;
        Ok::<_, WireError>(ticket)
    };
    let existing_agent = |account: &str, value: String| {
        unknown(known.agent(account, &value), &|| EngineError::UnknownAgent {
            field: "agent",
            agent: value.clone(),
        })?;
        Ok::<_, WireError>(value)
    };
    let channel = |value: String| {
        unknown(known.channel(&value), &|| EngineError::UnknownChannel {
            field: "channel",
            channel: value.clone(),
        })?;
        Ok::<_, WireError>(value)
    };
    let style = |account: &str, value: Option<String>| {
        if let Some(v) = &value {
            unknown(known.style(account, v), &|| EngineError::UnknownStyle(v.clone()))?;
        }
        Ok::<_, WireError>(value)
    };
    Ok(match type_name {
        "agent_upserted" => {
            let account = account()?;
            let agent = f.non_empty("agent")?;
            let groups = f.names("groups")?;
            let skills = f.names("skills")?;
            let capacity = f.capacity()?;
            for (c, _) in &capacity {
                unknown(known.channel(c), &|| EngineError::UnknownChannel {
                    field: "capacity",
                    channel: c.clone(),
                })?;
            }
            Event::AgentUpserted { account, agent, groups, skills, capacity }
        }
        "agent_status" => {
            let account = account()?;
            let agent = existing_agent(&account, f.non_empty("agent")?)?;
            let status = f.non_empty("status")?;
            let channel = f.opt_string("channel")?;
            Event::AgentStatus { account, agent, status, channel }
        }
        "agent_removed" => {
            let account = account()?;
            let agent = existing_agent(&account, f.non_empty("agent")?)?;
            Event::AgentRemoved { account, agent }
        }
        "message" => {
            let account = account()?;
            let conversation = f.non_empty("conversation")?;
            let requester = f.non_empty("requester")?;
            let channel = channel(f.opt_string("channel")?.unwrap_or_else(|| "messaging".to_owned()))?;
            let via = f.string("via")?;
            let authenticated = f.flag("authenticated")?;
            let brand = f.opt_string("brand")?;
            let priority = f.priority()?;
            let group = f.opt_non_empty("group")?;
            let skills = f.names("skills")?;
            let optional_skills = f.names("optional_skills")?;
            let style = style(&account, f.opt_string("style")?)?;
            Event::Message(CustomerMessage {
                account,
                conversation,
                requester,
                attrs: TicketAttrs {
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
            })
        }
        "ticket_created" => {
            let account = account()?;
            let ticket = f.non_empty("ticket")?;
            if known.ticket(&account, &ticket) == Some(true) {
                return Err(WireError::Unknown(EngineError::TicketExists { field: "ticket", ticket }));
            }
            let channel = channel(f.string("channel")?)?;
            let via = f.string("via")?;
            let requester = f.opt_non_empty("requester")?;
            let priority = f.priority()?;
            let group = f.opt_non_empty("group")?;
            let skills = f.names("skills")?;
            let optional_skills = f.names("optional_skills")?;
            let style = style(&account, f.opt_string("style")?)?;
            let authenticated = f.flag("authenticated")?;
            let brand = f.opt_string("brand")?;
            Event::TicketCreated(NewTicket {
                account,
                ticket,
                requester,
                attrs: TicketAttrs {
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
            })
        }
        "offer_accepted" | "offer_declined" => {
            let account = account()?;
            let ticket = existing_ticket(&account)?;
            let agent = existing_agent(&account, f.non_empty("agent")?)?;
            if type_name == "offer_accepted" {
                Event::OfferAccepted { account, ticket, agent }
            } else {
                Event::OfferDeclined { account, ticket, agent }
            }
        }
        "ticket_status" => {
            let account = account()?;
            let ticket = existing_ticket(&account)?;
            let status = f.ticket_status()?;
            Event::TicketStatus { account, ticket, status }
        }
        "ticket_transferred" => {
            let account = account()?;
            let ticket = existing_ticket(&account)?;
            let to = match f.transfer_target()? {
                TransferTarget::Agent(a) => TransferTarget::Agent(existing_agent(&account, a)?),
                group => group,
            };
            Event::TicketTransferred { account, ticket, to }
        }
        "tick" => Event::Tick,
        _ => return Err(WireError::UnknownType(type_name.to_owned())),
    })
}

/// The decoded line's fields, read with the replay format's rules: `null` is absent, and ids and names
/// are non-empty strings.
struct Fields<'a>(&'a Object);

impl<'a> Fields<'a> {
    fn get(&self, field: &str) -> Option<&'a Value> {
        self.0.get(field).filter(|value| !value.is_null())
    }

    fn opt_str(&self, field: &'static str) -> Result<Option<&'a str>, WireError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(invalid(field, Expected::String)),
        }
    }

    fn str(&self, field: &'static str) -> Result<&'a str, WireError> {
        self.opt_str(field)?.ok_or(WireError::Missing(field))
    }

    fn opt_string(&self, field: &'static str) -> Result<Option<String>, WireError> {
        Ok(self.opt_str(field)?.map(str::to_owned))
    }

    fn string(&self, field: &'static str) -> Result<String, WireError> {
        self.opt_string(field)?.ok_or(WireError::Missing(field))
    }

    fn opt_non_empty(&self, field: &'static str) -> Result<Option<String>, WireError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
            Some(_) => Err(invalid(field, Expected::NonEmptyString)),
        }
    }

    fn non_empty(&self, field: &'static str) -> Result<String, WireError> {
        self.opt_non_empty(field)?.ok_or(WireError::Missing(field))
    }

    /// A list of ids (groups, skills); absent is empty.
    fn names(&self, field: &'static str) -> Result<Vec<String>, WireError> {
        let not_names = || invalid(field, Expected::NameList);
        match self.get(field) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(s) if !s.is_empty() => Ok(s.clone()),
                    _ => Err(not_names()),
                })
                .collect(),
            Some(_) => Err(not_names()),
        }
    }

    /// A boolean; absent is false.
    fn flag(&self, field: &'static str) -> Result<bool, WireError> {
        match self.get(field) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(invalid(field, Expected::Bool)),
        }
    }

    /// `priority`; absent is `normal`.
    fn priority(&self) -> Result<Priority, WireError> {
        let Some(name) = self.opt_str("priority")? else {
            return Ok(Priority::default());
        };
        Priority::parse(name).ok_or_else(|| WireError::NotOneOf {
            field: "priority",
            given: name.to_owned(),
            allowed: Priority::ALL.map(Priority::as_str).join(", "),
        })
    }

    /// `ticket_status`'s `status`: only the statuses an agent may set.
    fn ticket_status(&self) -> Result<TicketStatus, WireError> {
        let name = self.str("status")?;
        TicketStatus::parse(name).filter(|status| TicketStatus::AGENT_SETTABLE.contains(status)).ok_or_else(
            || WireError::NotOneOf {
                field: "status",
                given: name.to_owned(),
                allowed: TicketStatus::AGENT_SETTABLE.map(TicketStatus::as_str).join(", "),
            },
        )
    }

    /// `capacity`, channel names kept as given (the engine knows which channels exist); absent is empty.
    fn capacity(&self) -> Result<Vec<(String, u32)>, WireError> {
        match self.get("capacity") {
            None => Ok(Vec::new()),
            Some(Value::Object(entries)) => entries
                .iter()
                .map(|(channel, n)| {
                    n.as_u64()
                        .and_then(|n| u32::try_from(n).ok())
                        .map(|n| (channel.clone(), n))
                        .ok_or_else(|| WireError::CapacityValue(channel.clone()))
                })
                .collect(),
            Some(_) => Err(invalid("capacity", Expected::CapacityMap)),
        }
    }

    /// `ticket_transferred`'s `agent` or `group`: exactly one of them.
    fn transfer_target(&self) -> Result<TransferTarget, WireError> {
        match (self.get("agent"), self.get("group")) {
            (Some(_), None) => Ok(TransferTarget::Agent(self.non_empty("agent")?)),
            (None, Some(_)) => Ok(TransferTarget::Group(self.non_empty("group")?)),
            _ => Err(WireError::TransferTarget),
        }
    }
}

fn invalid(field: &'static str, expected: Expected) -> WireError {
    WireError::Invalid { field, expected }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_object;

    fn decode(line: &str) -> Result<Event, WireError> {
        decode_event(&parse_object(line).expect("test lines are JSON objects"), &ShapeOnly)
    }

    fn error(line: &str) -> String {
        match decode(line) {
            Ok(event) => panic!("{line} decoded to {event:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn attrs(channel: &str, via: &str) -> TicketAttrs {
        TicketAttrs { channel: channel.into(), via: via.into(), ..TicketAttrs::default() }
    }

    fn strings(names: &[&str]) -> Vec<String> {
        names.iter().map(|&s| s.to_owned()).collect()
    }

    #[test]
    fn type_is_checked_first() {
        assert_eq!(error(r#"{"at":1,"account":"a"}"#), "missing field 'type'");
        assert_eq!(error(r#"{"at":1,"type":null,"account":"a"}"#), "missing field 'type'");
        assert_eq!(error(r#"{"type":7}"#), "invalid field 'type': expected a string");
        assert_eq!(
            error(r#"{"type":"agent_login","account":"umbrella","ticket":"x"}"#),
            "invalid field 'type': unknown event type \"agent_login\""
        );
        assert_eq!(error(r#"{"type":"Message"}"#), "invalid field 'type': unknown event type \"Message\"");
        assert_eq!(error(r#"{"type":""}"#), "invalid field 'type': unknown event type \"\"");
    }

    #[test]
    fn account_comes_after_type_and_before_other_fields() {
        for type_name in Event::TYPE_NAMES.into_iter().filter(|&t| t != "tick") {
            assert_eq!(error(&format!(r#"{{"type":"{type_name}"}}"#)), "missing field 'account'");
            assert_eq!(
                error(&format!(r#"{{"type":"{type_name}","account":null}}"#)),
                "missing field 'account'"
            );
            for bad in ["\"\"", "3", "[\"a\"]", "{}", "true"] {
                assert_eq!(
                    error(&format!(r#"{{"type":"{type_name}","account":{bad}}}"#)),
                    "invalid field 'account': expected a non-empty string"
                );
            }
        }
    }

    #[test]
    fn tick_needs_nothing_and_ignores_the_rest() {
        assert_eq!(decode(r#"{"at":5,"type":"tick"}"#), Ok(Event::Tick));
        assert_eq!(decode(r#"{"type":"tick","account":"","agent":7}"#), Ok(Event::Tick));
    }

    #[test]
    fn agent_upserted() {
        assert_eq!(
            decode(
                r#"{"type":"agent_upserted","account":"acme","agent":"a1","groups":["g"],
                "skills":["en","fr"],"capacity":{"fax":0,"messaging":3},"extra":{"x":[1]}}"#
            ),
            Ok(Event::AgentUpserted {
                account: "acme".into(),
                agent: "a1".into(),
                groups: strings(&["g"]),
                skills: strings(&["en", "fr"]),
                capacity: vec![("fax".into(), 0), ("messaging".into(), 3)],
            })
        );
        assert_eq!(
            decode(
                r#"{"type":"agent_upserted","account":"acme","agent":"a1","groups":null,"skills":[],"capacity":null}"#
            ),
            Ok(Event::AgentUpserted {
                account: "acme".into(),
                agent: "a1".into(),
                groups: vec![],
                skills: vec![],
                capacity: vec![],
            })
        );
        let head = r#"{"type":"agent_upserted","account":"acme""#;
        assert_eq!(error(&format!("{head}}}")), "missing field 'agent'");
        assert_eq!(
            error(&format!(r#"{head},"agent":""}}"#)),
            "invalid field 'agent': expected a non-empty string"
        );
        for (field, bad) in [
            ("groups", "\"g\""),
            ("groups", "[\"\"]"),
            ("skills", "\"billing\""),
            ("skills", "[\"en\", 3]"),
            ("skills", "[null]"),
            ("skills", "{}"),
        ] {
            assert_eq!(
                error(&format!(r#"{head},"agent":"a","{field}":{bad}}}"#)),
                format!("invalid field '{field}': expected a list of non-empty strings")
            );
        }
        for bad in ["[]", "3", "\"messaging\"", "true"] {
            assert_eq!(
                error(&format!(r#"{head},"agent":"a","capacity":{bad}}}"#)),
                "invalid field 'capacity': expected an object of channel: non-negative integer"
            );
        }
        for bad in ["-1", "1.0", "4294967296", "\"3\"", "null", "true"] {
            assert_eq!(
                error(&format!(r#"{head},"agent":"a","capacity":{{"email":2,"messaging":{bad}}}}}"#)),
                "invalid field 'capacity': value for \"messaging\" must be a non-negative integer"
            );
        }
        // Field order: agent, groups, skills, capacity.
        assert_eq!(
            error(&format!(r#"{head},"capacity":[],"skills":1,"groups":1}}"#)),
            "missing field 'agent'"
        );
        assert_eq!(
            error(&format!(r#"{head},"agent":"a","capacity":[],"skills":1,"groups":1}}"#)),
            "invalid field 'groups': expected a list of non-empty strings"
        );
        assert_eq!(
            error(&format!(r#"{head},"agent":"a","capacity":[],"skills":1}}"#)),
            "invalid field 'skills': expected a list of non-empty strings"
        );
    }

    #[test]
    fn capacity_keeps_the_largest_u32() {
        let line = r#"{"type":"agent_upserted","account":"a","agent":"b","capacity":{"talk":4294967295}}"#;
        let Ok(Event::AgentUpserted { capacity, .. }) = decode(line) else { panic!("valid") };
        assert_eq!(capacity, vec![("talk".into(), u32::MAX)]);
    }

    #[test]
    fn agent_status() {
        assert_eq!(
            decode(r#"{"type":"agent_status","account":"acme","agent":"a1","status":"busy"}"#),
            Ok(Event::AgentStatus {
                account: "acme".into(),
                agent: "a1".into(),
                status: "busy".into(),
                channel: None,
            })
        );
        assert_eq!(
            decode(
                r#"{"type":"agent_status","account":"acme","agent":"a1","status":"online","channel":"email"}"#
            ),
            Ok(Event::AgentStatus {
                account: "acme".into(),
                agent: "a1".into(),
                status: "online".into(),
                channel: Some("email".into()),
            })
        );
        let head = r#"{"type":"agent_status","account":"acme""#;
        assert_eq!(error(&format!(r#"{head},"status":"online"}}"#)), "missing field 'agent'");
        assert_eq!(error(&format!(r#"{head},"agent":"a"}}"#)), "missing field 'status'");
        assert_eq!(
            error(&format!(r#"{head},"agent":"a","status":""}}"#)),
            "invalid field 'status': expected a non-empty string"
        );
        assert_eq!(
            error(&format!(r#"{head},"agent":"a","status":"online","channel":1}}"#)),
            "invalid field 'channel': expected a string"
        );
    }

    #[test]
    fn agent_removed() {
        assert_eq!(
            decode(r#"{"type":"agent_removed","account":"acme","agent":"a1"}"#),
            Ok(Event::AgentRemoved { account: "acme".into(), agent: "a1".into() })
        );
        assert_eq!(error(r#"{"type":"agent_removed","account":"acme"}"#), "missing field 'agent'");
        assert_eq!(
            error(r#"{"type":"agent_removed","account":"acme","agent":["a1"]}"#),
            "invalid field 'agent': expected a non-empty string"
        );
    }

    #[test]
    fn message_defaults() {
        assert_eq!(
            decode(
                r#"{"type":"message","account":"acme","conversation":"c","requester":"u","via":"sms","brand":null}"#
            ),
            Ok(Event::Message(CustomerMessage {
                account: "acme".into(),
                conversation: "c".into(),
                requester: "u".into(),
                attrs: attrs("messaging", "sms"),
            }))
        );
    }

    #[test]
    fn message_with_everything() {
        let line = r#"{"at":1,"type":"message","account":"acme","conversation":"c","requester":"u",
            "channel":"talk","via":"","authenticated":true,"brand":"b","priority":"urgent","group":"g",
            "skills":["s"],"optional_skills":["o1","o2"],"style":"live_chat","unknown":"ignored"}"#;
        assert_eq!(
            decode(line),
            Ok(Event::Message(CustomerMessage {
                account: "acme".into(),
                conversation: "c".into(),
                requester: "u".into(),
                attrs: TicketAttrs {
                    channel: "talk".into(),
                    via: String::new(),
                    authenticated: true,
                    brand: Some("b".into()),
                    priority: Priority::Urgent,
                    group: Some("g".into()),
                    skills: strings(&["s"]),
                    optional_skills: strings(&["o1", "o2"]),
                    style: Some("live_chat".into()),
                },
            }))
        );
    }

    #[test]
    fn message_errors_in_field_order() {
        let head = r#"{"type":"message","account":"acme""#;
        let full = r#""conversation":"c","requester":"u","via":"sms""#;
        let cases = [
            (r#""channel":"messaging""#.to_owned(), "missing field 'conversation'"),
            (r#""conversation":"zz-2398","channel":"messaging""#.into(), "missing field 'requester'"),
            (r#""conversation":"c","requester":"u","channel":"messaging""#.into(), "missing field 'via'"),
            (
                r#""conversation":"","requester":"u","via":"sms""#.into(),
                "invalid field 'conversation': expected a non-empty string",
            ),
            (
                r#""conversation":"c","requester":"","via":"sms""#.into(),
                "invalid field 'requester': expected a non-empty string",
            ),
            (
                r#""conversation":"c","requester":"u","via":1,"channel":2"#.into(),
                "invalid field 'channel': expected a string",
            ),
            (
                r#""conversation":"c","requester":"u","via":1"#.into(),
                "invalid field 'via': expected a string",
            ),
            (
                format!(r#"{full},"authenticated":"yes","brand":3"#),
                "invalid field 'authenticated': expected true or false",
            ),
            (format!(r#"{full},"authenticated":1"#), "invalid field 'authenticated': expected true or false"),
            (format!(r#"{full},"brand":3,"priority":3"#), "invalid field 'brand': expected a string"),
            (
                format!(r#"{full},"priority":"super-urgent","group":"""#),
                "invalid field 'priority': \"super-urgent\" is not one of low, normal, high, urgent",
            ),
            (
                format!(r#"{full},"priority":"Urgent""#),
                "invalid field 'priority': \"Urgent\" is not one of low, normal, high, urgent",
            ),
            (format!(r#"{full},"priority":1"#), "invalid field 'priority': expected a string"),
            (
                format!(r#"{full},"group":"","skills":1"#),
                "invalid field 'group': expected a non-empty string",
            ),
            (
                format!(r#"{full},"skills":"billing","optional_skills":1"#),
                "invalid field 'skills': expected a list of non-empty strings",
            ),
            (
                format!(r#"{full},"optional_skills":[""],"style":1"#),
                "invalid field 'optional_skills': expected a list of non-empty strings",
            ),
            (format!(r#"{full},"style":["live_chat"]"#), "invalid field 'style': expected a string"),
        ];
        for (fields, text) in cases {
            assert_eq!(error(&format!("{head},{fields}}}")), text, "for {fields}");
        }
    }

    #[test]
    fn ticket_created() {
        assert_eq!(
            decode(
                r#"{"type":"ticket_created","account":"acme","ticket":"em-1","channel":"email","via":"email"}"#
            ),
            Ok(Event::TicketCreated(NewTicket {
                account: "acme".into(),
                ticket: "em-1".into(),
                requester: None,
                attrs: attrs("email", "email"),
            }))
        );
        let line = r#"{"type":"ticket_created","account":"acme","ticket":"em-1","channel":"email",
            "via":"api","requester":"r","priority":"low","group":"g","skills":["a"],"optional_skills":[],
            "style":"social_messaging","authenticated":false,"brand":"b"}"#;
        assert_eq!(
            decode(line),
            Ok(Event::TicketCreated(NewTicket {
                account: "acme".into(),
                ticket: "em-1".into(),
                requester: Some("r".into()),
                attrs: TicketAttrs {
                    channel: "email".into(),
                    via: "api".into(),
                    authenticated: false,
                    brand: Some("b".into()),
                    priority: Priority::Low,
                    group: Some("g".into()),
                    skills: strings(&["a"]),
                    optional_skills: vec![],
                    style: Some("social_messaging".into()),
                },
            }))
        );
        let head = r#"{"type":"ticket_created","account":"acme""#;
        let full = r#""ticket":"t","channel":"email","via":"email""#;
        let cases = [
            (r#""channel":"email","via":"email""#.to_owned(), "missing field 'ticket'"),
            (r#""ticket":"t","via":"email""#.into(), "missing field 'channel'"),
            (r#""ticket":"t","channel":"email""#.into(), "missing field 'via'"),
            (r#""ticket":"t","channel":null,"via":"email""#.into(), "missing field 'channel'"),
            (
                format!(r#"{full},"requester":"","priority":7"#),
                "invalid field 'requester': expected a non-empty string",
            ),
            (
                format!(r#"{full},"priority":"asap","group":"""#),
                "invalid field 'priority': \"asap\" is not one of low, normal, high, urgent",
            ),
            (
                format!(r#"{full},"group":"","skills":1"#),
                "invalid field 'group': expected a non-empty string",
            ),
            (
                format!(r#"{full},"skills":"billing","authenticated":1"#),
                "invalid field 'skills': expected a list of non-empty strings",
            ),
            (
                format!(r#"{full},"optional_skills":"x","style":1"#),
                "invalid field 'optional_skills': expected a list of non-empty strings",
            ),
            (format!(r#"{full},"style":1,"authenticated":1"#), "invalid field 'style': expected a string"),
            (
                format!(r#"{full},"authenticated":"no","brand":1"#),
                "invalid field 'authenticated': expected true or false",
            ),
            (format!(r#"{full},"brand":1"#), "invalid field 'brand': expected a string"),
        ];
        for (fields, text) in cases {
            assert_eq!(error(&format!("{head},{fields}}}")), text, "for {fields}");
        }
    }

    #[test]
    fn offers() {
        for (type_name, make) in [
            (
                "offer_accepted",
                (|account, ticket, agent| Event::OfferAccepted { account, ticket, agent })
                    as fn(String, String, String) -> Event,
            ),
            ("offer_declined", |account, ticket, agent| Event::OfferDeclined { account, ticket, agent }),
        ] {
            assert_eq!(
                decode(&format!(r#"{{"type":"{type_name}","account":"a","ticket":"t","agent":"g"}}"#)),
                Ok(make("a".into(), "t".into(), "g".into()))
            );
            assert_eq!(
                error(&format!(r#"{{"type":"{type_name}","account":"a","agent":""}}"#)),
                "missing field 'ticket'"
            );
            assert_eq!(
                error(&format!(r#"{{"type":"{type_name}","account":"a","ticket":"t"}}"#)),
                "missing field 'agent'"
            );
            assert_eq!(
                error(&format!(r#"{{"type":"{type_name}","account":"a","ticket":1,"agent":"g"}}"#)),
                "invalid field 'ticket': expected a non-empty string"
            );
            assert_eq!(
                error(&format!(r#"{{"type":"{type_name}","account":"a","ticket":"t","agent":""}}"#)),
                "invalid field 'agent': expected a non-empty string"
            );
        }
    }

    #[test]
    fn ticket_status() {
        for status in TicketStatus::AGENT_SETTABLE {
            assert_eq!(
                decode(&format!(
                    r#"{{"type":"ticket_status","account":"a","ticket":"t","status":"{status}"}}"#
                )),
                Ok(Event::TicketStatus { account: "a".into(), ticket: "t".into(), status })
            );
        }
        let head = r#"{"type":"ticket_status","account":"a""#;
        assert_eq!(error(&format!(r#"{head},"status":"open"}}"#)), "missing field 'ticket'");
        assert_eq!(error(&format!(r#"{head},"ticket":"t"}}"#)), "missing field 'status'");
        for given in ["closed", "new", "Open", ""] {
            assert_eq!(
                error(&format!(r#"{head},"ticket":"t","status":"{given}"}}"#)),
                format!("invalid field 'status': \"{given}\" is not one of open, pending, on_hold, solved")
            );
        }
        assert_eq!(
            error(&format!(r#"{head},"ticket":"t","status":2}}"#)),
            "invalid field 'status': expected a string"
        );
    }

    #[test]
    fn ticket_transferred() {
        let head = r#"{"type":"ticket_transferred","account":"a","ticket":"t""#;
        assert_eq!(
            decode(&format!(r#"{head},"agent":"x","group":null}}"#)),
            Ok(Event::TicketTransferred {
                account: "a".into(),
                ticket: "t".into(),
                to: TransferTarget::Agent("x".into()),
            })
        );
        assert_eq!(
            decode(&format!(r#"{head},"group":"y"}}"#)),
            Ok(Event::TicketTransferred {
                account: "a".into(),
                ticket: "t".into(),
                to: TransferTarget::Group("y".into()),
            })
        );
        for fields in
            [r#""agent":"x","group":"y""#, "", r#""agent":null,"group":null"#, r#""agent":"","group":"""#]
        {
            assert_eq!(
                error(&format!("{head}{}{fields}}}", if fields.is_empty() { "" } else { "," })),
                "invalid field 'agent'/'group': exactly one of them is required"
            );
        }
        assert_eq!(
            error(&format!(r#"{head},"agent":""}}"#)),
            "invalid field 'agent': expected a non-empty string"
        );
        assert_eq!(
            error(&format!(r#"{head},"group":5}}"#)),
            "invalid field 'group': expected a non-empty string"
        );
        assert_eq!(
            error(r#"{"type":"ticket_transferred","account":"a","agent":"x","group":"y"}"#),
            "missing field 'ticket'"
        );
    }
}
