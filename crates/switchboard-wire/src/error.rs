//! Why an input line could not be decoded into an event.

use std::fmt;
use thiserror::Error;

/// A line the codec refuses. `Display` gives the replay format's `error` text byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WireError {
    /// The line is not JSON; the text is CPython's `json.loads` message (serde_json's when CPython
    /// would have accepted the line, e.g. `NaN`).
    #[error("not JSON: {0}")]
    NotJson(String),
    /// Valid JSON, but not an object.
    #[error("not a JSON object")]
    NotObject,
    /// A required field is absent or `null`.
    #[error("missing field '{0}'")]
    Missing(&'static str),
    /// A field holds a value of the wrong shape.
    #[error("invalid field '{field}': {expected}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What it should have held.
        expected: Expected,
    },
    /// A `type` that is not an event type (names are case-sensitive).
    #[error("invalid field 'type': unknown event type \"{0}\"")]
    UnknownType(String),
    /// A name outside a closed set (priority, ticket status).
    #[error("invalid field '{field}': \"{given}\" is not one of {allowed}")]
    NotOneOf {
        /// The field.
        field: &'static str,
        /// The name given.
        given: String,
        /// The accepted names, comma separated.
        allowed: String,
    },
    /// A `capacity` entry whose value is not a non-negative integer fitting `u32`.
    #[error("invalid field 'capacity': value for \"{0}\" must be a non-negative integer")]
    CapacityValue(String),
    /// A `ticket_transferred` with both `agent` and `group`, or neither.
    #[error("invalid field 'agent'/'group': exactly one of them is required")]
    TransferTarget,
    /// A field names a ticket, agent, channel or style that does not exist (or, for a new ticket,
    /// one that does); the text is the engine's.
    #[error(transparent)]
    Unknown(switchboard_core::EngineError),
    /// An `at` below the previous event's; raised by drivers, which alone know the previous `at`.
    #[error("invalid field 'at': {at} is earlier than the previous event ({previous})")]
    AtBeforePrevious {
        /// The line's `at`.
        at: u64,
        /// The `at` of the last accepted time.
        previous: u64,
    },
}

impl WireError {
    /// The field the error is about; `None` when the line is not a JSON object at all.
    ///
    /// `TransferTarget` concerns both `agent` and `group` and reports `agent`, the first of them.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            WireError::NotJson(_) | WireError::NotObject => None,
            WireError::Missing(field)
            | WireError::Invalid { field, .. }
            | WireError::NotOneOf { field, .. } => Some(field),
            WireError::UnknownType(_) => Some("type"),
            WireError::CapacityValue(_) => Some("capacity"),
            WireError::TransferTarget => Some("agent"),
            WireError::AtBeforePrevious { .. } => Some("at"),
            WireError::Unknown(e) => Some(e.field()),
        }
    }
}

/// The shape a field should have had, as said after `invalid field '...': `.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// A JSON integer ≥ 0 that fits `u64` (`at`).
    UnsignedInteger,
    /// Any JSON string.
    String,
    /// A JSON string with at least one character (ids).
    NonEmptyString,
    /// A JSON array of non-empty strings (groups, skills).
    NameList,
    /// `true` or `false`.
    Bool,
    /// A JSON object mapping channel names to counts (`capacity`).
    CapacityMap,
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Expected::UnsignedInteger => "expected an integer >= 0",
            Expected::String => "expected a string",
            Expected::NonEmptyString => "expected a non-empty string",
            Expected::NameList => "expected a list of non-empty strings",
            Expected::Bool => "expected true or false",
            Expected::CapacityMap => "expected an object of channel: non-negative integer",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_the_replay_formats() {
        let cases = [
            (
                WireError::NotJson("Expecting value: line 1 column 1 (char 0)".into()),
                "not JSON: Expecting value: line 1 column 1 (char 0)",
            ),
            (WireError::NotObject, "not a JSON object"),
            (WireError::Missing("at"), "missing field 'at'"),
            (
                WireError::Invalid { field: "at", expected: Expected::UnsignedInteger },
                "invalid field 'at': expected an integer >= 0",
            ),
            (
                WireError::UnknownType("agent_login".into()),
                "invalid field 'type': unknown event type \"agent_login\"",
            ),
            (
                WireError::NotOneOf {
                    field: "priority",
                    given: "super-urgent".into(),
                    allowed: "low, normal, high, urgent".into(),
                },
                "invalid field 'priority': \"super-urgent\" is not one of low, normal, high, urgent",
            ),
            (
                WireError::CapacityValue("messaging".into()),
                "invalid field 'capacity': value for \"messaging\" must be a non-negative integer",
            ),
            (WireError::TransferTarget, "invalid field 'agent'/'group': exactly one of them is required"),
            (
                WireError::AtBeforePrevious { at: 1767579106918, previous: 1767579109277 },
                "invalid field 'at': 1767579106918 is earlier than the previous event (1767579109277)",
            ),
        ];
        for (error, text) in cases {
            assert_eq!(error.to_string(), text);
        }
    }

    #[test]
    fn field_names_the_field_or_nothing() {
        assert_eq!(WireError::NotJson(String::new()).field(), None);
        assert_eq!(WireError::NotObject.field(), None);
        assert_eq!(WireError::Missing("requester").field(), Some("requester"));
        assert_eq!(
            WireError::Invalid { field: "skills", expected: Expected::NameList }.field(),
            Some("skills")
        );
        assert_eq!(WireError::UnknownType("x".into()).field(), Some("type"));
        assert_eq!(WireError::CapacityValue("x".into()).field(), Some("capacity"));
        assert_eq!(WireError::TransferTarget.field(), Some("agent"));
        assert_eq!(WireError::AtBeforePrevious { at: 1, previous: 2 }.field(), Some("at"));
    }
}
