//! `switchboard send`: JSON Lines events to the daemon through one `IngestStream` call.
//!
//! A blocking thread reads and decodes the input and feeds a bounded channel; the call streams from
//! it, so memory stays flat however long the file is, and the daemon's window of events in flight,
//! through HTTP/2 flow control, sets the pace.

use super::{Conn, Failure, print, print_json, warn};
use anyhow::Context;
use serde_json::{Value, json};
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::PathBuf;
use std::process::ExitCode;
use switchboard_proto::code_name;
use switchboard_proto::convert::event_to_proto;
use switchboard_proto::v1;
use switchboard_wire::{self as wire, Expected, WireError};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

/// Arguments of `switchboard send`.
#[derive(clap::Args)]
pub struct Args {
    /// Events file, one JSON object a line; `-` or nothing for standard input.
    file: Option<PathBuf>,
    #[command(flatten)]
    conn: Conn,
}

/// Decoded events waiting to be sent: enough to keep the stream busy while the next lines are read.
const READ_AHEAD: usize = 256;

/// A line that was not accepted.
struct Rejected {
    /// 1-based line number in the input.
    line: u64,
    /// The gRPC status code the event got (or would have got).
    code: tonic::Code,
    /// The field at fault, when there is one.
    field: Option<String>,
    /// Why.
    error: String,
}

/// `switchboard send`: streams the input and reports the rejected lines.
pub(super) async fn run(args: Args) -> Result<ExitCode, Failure> {
    let (input, name) = open(args.file.as_ref())?;
    let mut client = args.conn.connect().await?;
    let (tx, rx) = mpsc::channel(READ_AHEAD);
    let reader = tokio::task::spawn_blocking(move || read(input, &tx));
    // The reply comes once the daemon has seen the end of the stream, so the reader has finished
    // by then; on an error the reader stops at its next send, and is not waited for.
    let reply = client.ingest_stream(ReceiverStream::new(rx)).await?.into_inner();
    let reading = reader.await.context("reading the input")?;

    let mut rejected = reading.refused;
    rejected.extend(reply.rejected.into_iter().map(|r| Rejected {
        line: reading.lines.line_of(r.index),
        code: tonic::Code::from_i32(r.code),
        field: Some(r.field).filter(|f| !f.is_empty()),
        error: r.error,
    }));
    rejected.sort_by_key(|r| r.line);
    report(&args.conn, reply.accepted, reply.duplicates, &rejected)?;
    if let Some(e) = reading.error {
        return Err(anyhow::Error::new(e)
            .context(format!("reading {name} stopped after line {}", reading.lines.read))
            .into());
    }
    Ok(if rejected.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Opens the input and names it for messages.
fn open(file: Option<&PathBuf>) -> Result<(Box<dyn BufRead + Send>, String), Failure> {
    Ok(match file {
        Some(p) if p.as_os_str() != "-" => {
            let f = File::open(p).with_context(|| format!("cannot open {}", p.display()))?;
            (Box::new(BufReader::with_capacity(1 << 16, f)), p.display().to_string())
        }
        _ => (Box::new(BufReader::with_capacity(1 << 16, io::stdin())), "standard input".to_owned()),
    })
}

fn report(conn: &Conn, accepted: u64, duplicates: u64, rejected: &[Rejected]) -> Result<(), Failure> {
    if conn.json {
        for r in rejected {
            let record = json!({
                "type": "rejected",
                "line": r.line,
                "code": code_name(r.code),
                "field": r.field,
                "error": r.error,
            });
            if !print_json(&record)? {
                return Ok(());
            }
        }
        print_json(&json!({
            "type": "summary",
            "accepted": accepted,
            "duplicates": duplicates,
            "rejected": rejected.len(),
        }))?;
    } else {
        for r in rejected {
            warn(format_args!("line {}: {}", r.line, r.error));
        }
        let duplicates = match duplicates {
            0 => String::new(),
            n => format!(", {n} duplicates"),
        };
        print(&format!("{accepted} accepted, {} rejected{duplicates}\n", rejected.len()))?;
    }
    Ok(())
}

/// What the reader saw.
struct Reading {
    /// Lines refused before sending, in line order.
    refused: Vec<Rejected>,
    /// From the position of an event in the stream to its line.
    lines: LineMap,
    /// The read error that ended the input early, if any.
    error: Option<io::Error>,
}

/// Reads and decodes lines, sending the events until the input ends or the call is gone.
fn read(mut input: impl BufRead, tx: &mpsc::Sender<v1::Event>) -> Reading {
    let mut reading = Reading { refused: Vec::new(), lines: LineMap::default(), error: None };
    let mut raw = Vec::with_capacity(1024);
    loop {
        raw.clear();
        match input.read_until(b'\n', &mut raw) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                reading.error = Some(e);
                break;
            }
        }
        let line = reading.lines.read + 1;
        if raw.iter().all(u8::is_ascii_whitespace) {
            reading.lines.skip();
            continue;
        }
        match decode(&raw) {
            Ok(event) => {
                if tx.blocking_send(event).is_err() {
                    break;
                }
                reading.lines.send();
            }
            Err(e) => {
                reading.lines.skip();
                reading.refused.push(Rejected {
                    line,
                    code: tonic::Code::InvalidArgument,
                    field: e.field().map(str::to_owned),
                    error: e.to_string(),
                });
            }
        }
    }
    reading
}

/// One line as an API event, with the replay format's error texts. Only shapes are checked here;
/// whether tickets and agents exist is the daemon's to say.
fn decode(raw: &[u8]) -> Result<v1::Event, WireError> {
    let text = std::str::from_utf8(raw)
        .map_err(|e| WireError::NotJson(format!("invalid UTF-8 at byte {}", e.valid_up_to())))?;
    let obj = wire::parse_object(text)?;
    let at = match wire::at_of(&obj) {
        Ok(at) => Some(at),
        Err(WireError::Missing(_)) => None,
        Err(e) => return Err(e),
    };
    let event_id = match obj.get("event_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) if !id.is_empty() => Some(id.clone()),
        Some(_) => {
            return Err(WireError::Invalid { field: "event_id", expected: Expected::NonEmptyString });
        }
    };
    let event = wire::decode_event(&obj, &wire::ShapeOnly)?;
    Ok(event_to_proto(at, event_id, event))
}

/// The daemon numbers rejections by position in the stream; this maps them back to input lines.
/// Only the places where lines were skipped (blank or refused) are kept, so a long file costs no
/// memory per event.
#[derive(Default)]
struct LineMap {
    /// Lines read.
    read: u64,
    /// Events sent.
    sent: u64,
    /// `(first event, lines skipped before it)`, one entry per run of skipped lines.
    skips: Vec<(u64, u64)>,
}

impl LineMap {
    fn send(&mut self) {
        self.read += 1;
        self.sent += 1;
    }

    fn skip(&mut self) {
        self.read += 1;
        let skipped = self.read - self.sent;
        match self.skips.last_mut() {
            Some((first, n)) if *first == self.sent => *n = skipped,
            _ => self.skips.push((self.sent, skipped)),
        }
    }

    /// The 1-based line of the event at `index` in the stream.
    fn line_of(&self, index: u64) -> u64 {
        let runs = self.skips.partition_point(|&(first, _)| first <= index);
        let skipped = runs.checked_sub(1).map_or(0, |i| self.skips[i].1);
        index + 1 + skipped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_positions_map_back_to_lines() {
        let mut map = LineMap::default();
        // Lines: 1 skip, 2 send (#0), 3 send (#1), 4 skip, 5 skip, 6 send (#2), 7 skip.
        for send in [false, true, true, false, false, true, false] {
            if send { map.send() } else { map.skip() }
        }
        assert_eq!([0, 1, 2].map(|i| map.line_of(i)), [2, 3, 6]);
        assert_eq!((map.read, map.skips.len()), (7, 3));
    }

    #[test]
    fn lines_decode_with_or_without_at() {
        let event = decode(br#"{"type":"tick"}"#).unwrap();
        assert_eq!(event.at, None);
        let event = decode(br#"{"at":5,"event_id":"e1","type":"tick"}"#).unwrap();
        assert_eq!((event.at, event.event_id.as_deref()), (Some(5), Some("e1")));
        let created =
            br#"{"type":"ticket_created","account":"a","ticket":"t","channel":"email","via":"email"}"#;
        assert!(decode(created).is_ok());
        let errors = [
            (&br#"{"at":"soon","type":"tick"}"#[..], "invalid field 'at': expected an integer >= 0"),
            (br#"{"type":"tick","event_id":3}"#, "invalid field 'event_id': expected a non-empty string"),
            (br#"{"type":"message","account":"a"}"#, "missing field 'conversation'"),
            (b"{\"type\":\"\xff\"}", "not JSON: invalid UTF-8 at byte 9"),
        ];
        for (line, error) in errors {
            assert_eq!(decode(line).unwrap_err().to_string(), error);
        }
    }
}
