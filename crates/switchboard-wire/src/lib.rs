//! The replay format's JSON Lines codec.
//!
//! Input: one line's text → [`parse_object`] → [`at_of`] and [`account_of`] (which drivers need even
//! when the rest is bad) → [`decode_event`]. Every refusal is a [`WireError`] whose `Display` is the
//! `error` text of the `rejected` record, byte for byte. Output: [`write_effect`] and
//! [`write_rejected`] append one line each to a byte buffer.
//!
//! Time order (`at` never decreasing) needs the previous line, so drivers check it themselves and
//! report [`WireError::AtBeforePrevious`].

mod cpython;
mod decode;
mod encode;
mod error;

pub use decode::{Known, ShapeOnly, decode_event};
pub use encode::{write_effect, write_rejected};
pub use error::{Expected, WireError};

use serde_json::Value;

/// A decoded JSON object, as one input line holds.
pub type Object = serde_json::Map<String, Value>;

/// Parses one line's text, including its trailing `"\n"` or `"\r\n"` when it had one (CPython's error
/// positions count that newline, so `not JSON` texts depend on it).
pub fn parse_object(text: &str) -> Result<Object, WireError> {
    match serde_json::from_str(text) {
        Ok(Value::Object(obj)) => Ok(obj),
        Ok(_) => Err(WireError::NotObject),
        // CPython accepts a few things serde_json refuses (NaN, numbers beyond f64, lone surrogates,
        // nesting past serde_json's depth limit); for those, serde_json's own message is all there is.
        Err(e) => Err(WireError::NotJson(cpython::decode_error(text).unwrap_or_else(|| e.to_string()))),
    }
}

/// The line's `account`, when it is a non-empty string; rejected records carry it.
pub fn account_of(obj: &Object) -> Option<&str> {
    obj.get("account").and_then(Value::as_str).filter(|account| !account.is_empty())
}

/// The line's `at`: a JSON integer ≥ 0 that fits `u64` (`null` counts as absent).
pub fn at_of(obj: &Object) -> Result<u64, WireError> {
    match obj.get("at") {
        None | Some(Value::Null) => Err(WireError::Missing("at")),
        Some(at) => {
            at.as_u64().ok_or(WireError::Invalid { field: "at", expected: Expected::UnsignedInteger })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(text: &str) -> Object {
        parse_object(text).expect("a JSON object")
    }

    #[test]
    fn parse_object_accepts_objects_with_their_newline() {
        for text in ["{}", "{\"at\":1}\n", " {\"at\":1} \r\n"] {
            assert!(parse_object(text).is_ok(), "{text:?}");
        }
    }

    #[test]
    fn parse_object_refuses_other_json() {
        for text in ["[1, 2, 3]\n", "3", "\"{}\"", "null", "true\n"] {
            assert_eq!(parse_object(text), Err(WireError::NotObject), "{text:?}");
        }
    }

    #[test]
    fn not_json_uses_cpythons_words() {
        let cases = [
            ("garbage in the pipe\n", "not JSON: Expecting value: line 1 column 1 (char 0)"),
            (
                "{\"at\":1767576319100,\"type\":\"message\",\"account\":\"acme\"\n",
                "not JSON: Expecting ',' delimiter: line 2 column 1 (char 54)",
            ),
            (
                "{\"at\": 1767583669147, \"type\": tick}\n",
                "not JSON: Expecting value: line 1 column 31 (char 30)",
            ),
            ("\n", "not JSON: Expecting value: line 2 column 1 (char 1)"),
        ];
        for (text, message) in cases {
            assert_eq!(parse_object(text).map_err(|e| e.to_string()), Err(message.to_owned()));
        }
    }

    #[test]
    fn not_json_falls_back_to_serde_json_where_cpython_accepts() {
        for (text, message) in [
            ("{\"at\": NaN}", "not JSON: expected value at line 1 column 8"),
            ("{\"x\": 1e999}", "not JSON: number out of range at line 1 column 11"),
            ("{\"x\": \"\\ud800\"}", "not JSON: unexpected end of hex escape at line 1 column 14"),
        ] {
            assert_eq!(parse_object(text).map_err(|e| e.to_string()), Err(message.to_owned()));
        }
    }

    #[test]
    fn account_of_needs_a_non_empty_string() {
        assert_eq!(account_of(&object(r#"{"account":"acme"}"#)), Some("acme"));
        for text in [r#"{}"#, r#"{"account":""}"#, r#"{"account":null}"#, r#"{"account":1}"#] {
            assert_eq!(account_of(&object(text)), None, "{text}");
        }
    }

    #[test]
    fn at_of_needs_an_unsigned_integer() {
        assert_eq!(at_of(&object(r#"{"at":1767579106918}"#)), Ok(1767579106918));
        assert_eq!(at_of(&object(r#"{"at":0}"#)), Ok(0));
        assert_eq!(at_of(&object(r#"{"at":18446744073709551615}"#)), Ok(u64::MAX));
        for text in [r#"{}"#, r#"{"at":null}"#, r#"{"type":"tick"}"#] {
            assert_eq!(at_of(&object(text)).map_err(|e| e.to_string()), Err("missing field 'at'".into()));
        }
        for bad in ["1.0", "-1", "18446744073709551616", "\"1\"", "true", "[1]", "{}", "1e3"] {
            assert_eq!(
                at_of(&object(&format!(r#"{{"at":{bad}}}"#))).map_err(|e| e.to_string()),
                Err("invalid field 'at': expected an integer >= 0".into()),
                "{bad}"
            );
        }
    }
}
