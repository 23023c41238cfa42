//! CPython's `json.loads` error messages.
//!
//! The replay format's `not JSON: ...` text is what CPython 3's `json.loads(line)` says, and expected
//! effect files compare it byte for byte; serde_json words and places its errors differently. This
//! module re-traces CPython's decoder (`json.decoder.JSONDecoder.decode` over the C scanner in
//! `Modules/_json.c`, as of 3.11) far enough to find the first error and its position. It builds no
//! values and runs only once serde_json has refused a line.
//!
//! Positions are code-point indexes, as in Python strings. Unlike CPython it has no recursion limit:
//! it walks nesting with an explicit stack, so a deep line cannot overflow ours.

/// CPython's `JSONDecodeError` text for `text`, or `None` when CPython would accept it.
pub(crate) fn decode_error(text: &str) -> Option<String> {
    let s: Vec<char> = text.chars().collect();
    decode(&s).err().map(|failure| failure.describe(&s))
}

/// A `JSONDecodeError`: its message and the code-point index it points at.
#[derive(Debug)]
struct Failure {
    msg: &'static str,
    pos: usize,
}

impl Failure {
    fn at(msg: &'static str, pos: usize) -> Self {
        Failure { msg, pos }
    }

    /// `JSONDecodeError.__str__`: the message, then line, column and index.
    fn describe(&self, s: &[char]) -> String {
        let before = &s[..self.pos.min(s.len())];
        let line = before.iter().filter(|&&c| c == '\n').count() + 1;
        let column = match before.iter().rposition(|&c| c == '\n') {
            Some(newline) => self.pos - newline,
            None => self.pos + 1,
        };
        format!("{}: line {line} column {column} (char {})", self.msg, self.pos)
    }
}

/// The index just past a scanned item, or where and why scanning failed.
type Scan = Result<usize, Failure>;

/// `json.loads` on a `str`: BOM check, then `JSONDecoder.decode`.
fn decode(s: &[char]) -> Result<(), Failure> {
    if s.first() == Some(&'\u{feff}') {
        return Err(Failure::at("Unexpected UTF-8 BOM (decode using utf-8-sig)", 0));
    }
    let end = skip_whitespace(s, scan_value(s, skip_whitespace(s, 0))?);
    if end == s.len() { Ok(()) } else { Err(Failure::at("Extra data", end)) }
}

/// JSON's four whitespace characters only, as `json.decoder.WHITESPACE`.
fn skip_whitespace(s: &[char], mut i: usize) -> usize {
    while matches!(s.get(i), Some(' ' | '\t' | '\n' | '\r')) {
        i += 1;
    }
    i
}

/// An open array or object, waiting for its next member or its end.
#[derive(Clone, Copy)]
enum Container {
    Array,
    Object,
}

impl Container {
    fn closer(self) -> char {
        match self {
            Container::Array => ']',
            Container::Object => '}',
        }
    }
}

/// `scan_once` at `idx`, containers included; returns the index after the value.
fn scan_value(s: &[char], mut idx: usize) -> Scan {
    let mut open: Vec<Container> = Vec::new();
    loop {
        let mut end = match s.get(idx) {
            Some('"') => scan_string(s, idx + 1)?,
            Some(&c @ ('[' | '{')) => {
                let container = if c == '[' { Container::Array } else { Container::Object };
                let first = skip_whitespace(s, idx + 1);
                if s.get(first) == Some(&container.closer()) {
                    first + 1
                } else {
                    open.push(container);
                    idx = member_start(s, container, first)?;
                    continue;
                }
            }
            _ => constant_end(s, idx)
                .or_else(|| number_end(s, idx))
                .ok_or(Failure::at("Expecting value", idx))?,
        };
        // A value ended at `end`: close every container it completes, until one wants another member.
        loop {
            let Some(&container) = open.last() else {
                return Ok(end);
            };
            let i = skip_whitespace(s, end);
            match s.get(i) {
                Some(&c) if c == container.closer() => {
                    open.pop();
                    end = i + 1;
                }
                Some(',') => {
                    idx = member_start(s, container, skip_whitespace(s, i + 1))?;
                    break;
                }
                _ => return Err(Failure::at("Expecting ',' delimiter", i)),
            }
        }
    }
}

/// Where a member's value starts: at `i` in an array; after `"key" :` in an object.
fn member_start(s: &[char], container: Container, i: usize) -> Scan {
    match container {
        Container::Array => Ok(i),
        Container::Object => {
            if s.get(i) != Some(&'"') {
                return Err(Failure::at("Expecting property name enclosed in double quotes", i));
            }
            let colon = skip_whitespace(s, scan_string(s, i + 1)?);
            if s.get(colon) != Some(&':') {
                return Err(Failure::at("Expecting ':' delimiter", colon));
            }
            Ok(skip_whitespace(s, colon + 1))
        }
    }
}

/// The end of `null`, `true`, `false`, or one of the non-standard `NaN`, `Infinity`, `-Infinity` that
/// CPython accepts, when one starts at `idx`.
fn constant_end(s: &[char], idx: usize) -> Option<usize> {
    ["null", "true", "false", "NaN", "Infinity", "-Infinity"]
        .into_iter()
        .find(|name| name.chars().enumerate().all(|(k, c)| s.get(idx + k) == Some(&c)))
        .map(|name| idx + name.len())
}

/// The end of the longest `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?` at `idx`, if any.
fn number_end(s: &[char], idx: usize) -> Option<usize> {
    let digit = |i: usize| s.get(i).is_some_and(char::is_ascii_digit);
    let digits_from = |mut i: usize| {
        while digit(i) {
            i += 1;
        }
        i
    };
    let mut i = idx;
    if s.get(i) == Some(&'-') {
        i += 1;
    }
    i = match s.get(i) {
        Some('0') => i + 1,
        Some('1'..='9') => digits_from(i + 1),
        _ => return None,
    };
    if s.get(i) == Some(&'.') && digit(i + 1) {
        i = digits_from(i + 1);
    }
    if matches!(s.get(i), Some('e' | 'E')) {
        let mut j = i + 1;
        if matches!(s.get(j), Some('+' | '-')) {
            j += 1;
        }
        // Without exponent digits the number ends before the `e` (CPython backtracks).
        if digit(j) {
            i = digits_from(j);
        }
    }
    Some(i)
}

/// `scanstring_unicode`: `start` is just past the opening quote; returns the index after the closing one.
fn scan_string(s: &[char], start: usize) -> Scan {
    let begin = start - 1;
    let unterminated = || Failure::at("Unterminated string starting at", begin);
    let mut end = start;
    loop {
        let mut next = end;
        let stop = loop {
            match s.get(next) {
                None => return Err(unterminated()),
                Some(&c @ ('"' | '\\')) => break c,
                Some(&c) if c <= '\u{1f}' => {
                    return Err(Failure::at("Invalid control character at", next));
                }
                Some(_) => next += 1,
            }
        };
        if stop == '"' {
            return Ok(next + 1);
        }
        next += 1;
        match s.get(next) {
            None => return Err(unterminated()),
            Some('u') => {
                next += 1;
                end = next + 4;
                // CPython wants a character after the four digits (`end >= len` fails), so `"\u0041`
                // at the very end is an escape error, not an unterminated string.
                if end >= s.len() {
                    return Err(Failure::at("Invalid \\uXXXX escape", next - 1));
                }
                let unit = hex4(&s[next..end]).ok_or(Failure::at("Invalid \\uXXXX escape", end - 5))?;
                // A high surrogate followed by `\u`: CPython reads the next four digits too (failing on
                // bad ones) and keeps them only when they make a low surrogate.
                if (0xd800..0xdc00).contains(&unit)
                    && end + 6 < s.len()
                    && s[end] == '\\'
                    && s[end + 1] == 'u'
                {
                    let low =
                        hex4(&s[end + 2..end + 6]).ok_or(Failure::at("Invalid \\uXXXX escape", end + 1))?;
                    if (0xdc00..0xe000).contains(&low) {
                        end += 6;
                    }
                }
            }
            Some('"' | '\\' | '/' | 'b' | 'f' | 'n' | 'r' | 't') => end = next + 1,
            Some(_) => return Err(Failure::at("Invalid \\escape", next - 1)),
        }
    }
}

/// The value of four hex digits.
fn hex4(digits: &[char]) -> Option<u32> {
    digits.iter().try_fold(0, |value, c| Some(value << 4 | c.to_digit(16)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{WireError, parse_object};
    use std::io::Write;
    use std::process::{Command, Stdio};

    fn error(text: &str) -> String {
        decode_error(text).unwrap_or_else(|| panic!("{text:?} should fail"))
    }

    #[test]
    fn messages_of_the_conformance_trace() {
        assert_eq!(error("garbage in the pipe\n"), "Expecting value: line 1 column 1 (char 0)");
        assert_eq!(
            error("{\"at\":1767576319100,\"type\":\"message\",\"account\":\"acme\"\n"),
            "Expecting ',' delimiter: line 2 column 1 (char 54)"
        );
        assert_eq!(
            error("{\"at\": 1767583669147, \"type\": tick}\n"),
            "Expecting value: line 1 column 31 (char 30)"
        );
    }

    #[test]
    fn each_kind_of_message() {
        let cases = [
            ("", "Expecting value: line 1 column 1 (char 0)"),
            ("\n", "Expecting value: line 2 column 1 (char 1)"),
            ("\u{feff}{}", "Unexpected UTF-8 BOM (decode using utf-8-sig): line 1 column 1 (char 0)"),
            ("{} {}", "Extra data: line 1 column 4 (char 3)"),
            ("{'a': 1}", "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
            ("{\"a\" 1}", "Expecting ':' delimiter: line 1 column 6 (char 5)"),
            ("[1 2]", "Expecting ',' delimiter: line 1 column 4 (char 3)"),
            ("[1,]", "Expecting value: line 1 column 4 (char 3)"),
            ("{\"a\":1,}", "Expecting property name enclosed in double quotes: line 1 column 8 (char 7)"),
            ("\"abc", "Unterminated string starting at: line 1 column 1 (char 0)"),
            ("[\"a\\", "Unterminated string starting at: line 1 column 2 (char 1)"),
            ("\"a\tb\"", "Invalid control character at: line 1 column 3 (char 2)"),
            ("\"a\\xb\"", "Invalid \\escape: line 1 column 3 (char 2)"),
            ("\"\\u12x4\"", "Invalid \\uXXXX escape: line 1 column 3 (char 2)"),
            ("\"\\u0041", "Invalid \\uXXXX escape: line 1 column 3 (char 2)"),
            ("\"\\ud800\\u12x4\"", "Invalid \\uXXXX escape: line 1 column 9 (char 8)"),
            ("\"é\" x", "Extra data: line 1 column 5 (char 4)"),
            ("{\"a\":\n\n  -}", "Expecting value: line 3 column 3 (char 9)"),
            ("1.e5", "Extra data: line 1 column 2 (char 1)"),
            ("tru", "Expecting value: line 1 column 1 (char 0)"),
        ];
        for (text, message) in cases {
            assert_eq!(error(text), message, "for {text:?}");
        }
    }

    #[test]
    fn accepts_what_cpython_accepts() {
        for text in [
            "{}\n",
            " [ ] \r\n",
            "[NaN, Infinity, -Infinity, -0, 1e999, 1.5E+3]",
            "\"\\ud800\"",
            "\"\\ud83d\\ude00 \\u00e9 \\/\"",
            "{\"a\": {\"b\": [[], {}, null, true, false]}}",
            &format!("{}{}", "[".repeat(5000), "]".repeat(5000)),
        ] {
            assert_eq!(decode_error(text), None, "for {text:?}");
        }
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let text = "[".repeat(1_000_000);
        assert_eq!(
            decode_error(&text).as_deref(),
            Some("Expecting value: line 1 column 1000001 (char 1000000)")
        );
    }

    /// A small deterministic generator (xorshift64*), so failures reproduce.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
        }
    }

    /// Valid lines, mutated a few times each: truncated, characters dropped, inserted, replaced.
    fn malformed_inputs() -> Vec<String> {
        const SEEDS: [&str; 10] = [
            r#"{"at":1767576319100,"type":"message","account":"acme","conversation":"c-1","requester":"u","via":"sms"}"#,
            r#"{"at": 1767583669147, "type": "tick"}"#,
            r#"{"a": [1, -2.5e3, true, false, null, {"b": "\u00e9\ud83d\ude00 \n \\ \/ \""}], "c": {}}"#,
            "[1, 2, 3]",
            r#"{"x": NaN, "y": Infinity, "z": -Infinity, "w": -0.5E+10}"#,
            "\"café 😀 ünï\"",
            r#"{"agent":"a","capacity":{"messaging":3,"email":10},"skills":["en","fr"]}"#,
            "[[[{\"k\" : [ 0 , 1.25e-3 ] }]], {}, []]",
            r#"{"s": "\ud800\udc00\ud800x\u0041\t"}"#,
            "  {\n\"a\"\n:\n1\n}  ",
        ];
        const ALPHABET: [char; 34] = [
            '"', '\\', ',', ':', '{', '}', '[', ']', ' ', '\n', '\r', '\t', 'a', 'u', 'd', '8', '0', '1',
            '-', '+', '.', 'e', 'E', 'N', 'I', 'n', 't', 'f', 'x', '/', '\u{1}', '\u{feff}', 'é', '😀',
        ];
        const SUFFIXES: [&str; 5] = ["", "\n", "\r\n", " x", "\n\n"];
        let mut rng = Rng(0x5eed_1234_abcd_0001);
        let mut inputs = Vec::new();
        for round in 0..30_000 {
            let mut chars: Vec<char> = SEEDS[round % SEEDS.len()].chars().collect();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(chars.len() + 1);
                let new = ALPHABET[rng.below(ALPHABET.len())];
                match rng.below(4) {
                    0 => chars.truncate(at),
                    1 if at < chars.len() => {
                        chars.remove(at);
                    }
                    2 if at < chars.len() => chars[at] = new,
                    _ => chars.insert(at, new),
                }
            }
            let mut text: String = chars.into_iter().collect();
            text.push_str(SUFFIXES[rng.below(SUFFIXES.len())]);
            inputs.push(text);
        }
        inputs
    }

    /// What python3's `json.loads` says for each input: `Some("ok")`, `Some("error: <message>")`, or
    /// `None` for another exception (e.g. `RecursionError`), which the replay format does not cover.
    fn python_verdicts(inputs: &[String]) -> Option<Vec<Option<String>>> {
        const SCRIPT: &str = r#"
import json, sys
verdicts = []
for text in json.loads(sys.stdin.buffer.read()):
    try:
        json.loads(text)
        verdicts.append("ok")
    except json.JSONDecodeError as e:
        verdicts.append("error: " + str(e))
    except Exception:
        verdicts.append(None)
sys.stdout.write(json.dumps(verdicts))
"#;
        let mut child = match Command::new("python3")
            .args(["-c", SCRIPT])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
        {
            Ok(child) => child,
            Err(e) => {
                eprintln!("note: python3 unavailable ({e}); CPython comparison skipped");
                return None;
            }
        };
        let input = serde_json::to_vec(inputs).expect("strings serialize");
        child.stdin.take().expect("piped stdin").write_all(&input).expect("write to python3");
        let output = child.wait_with_output().expect("python3 runs");
        assert!(output.status.success(), "python3 failed");
        Some(serde_json::from_slice(&output.stdout).expect("python3 prints a JSON list"))
    }

    #[test]
    fn messages_match_python3() {
        let inputs = malformed_inputs();
        let Some(verdicts) = python_verdicts(&inputs) else {
            return;
        };
        let mut mismatches = Vec::new();
        let mut compared_errors = 0;
        for (text, verdict) in inputs.iter().zip(verdicts) {
            let Some(verdict) = verdict else { continue };
            let ours = match verdict.strip_prefix("error: ") {
                Some(message) => {
                    compared_errors += 1;
                    let ours = parse_object(text);
                    if ours == Err(WireError::NotJson(message.to_owned())) {
                        continue;
                    }
                    format!("{ours:?}")
                }
                None => match decode_error(text) {
                    None => continue,
                    Some(message) => message,
                },
            };
            mismatches.push(format!("{text:?}: python3 {verdict:?}, ours {ours}"));
        }
        assert!(compared_errors > 10_000, "too few malformed inputs: {compared_errors}");
        assert!(
            mismatches.is_empty(),
            "{} mismatches, first ones:\n{}",
            mismatches.len(),
            mismatches[..mismatches.len().min(20)].join("\n")
        );
    }
}
