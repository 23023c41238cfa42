//! `switchboard replay`: JSON Lines events in, effects out, exactly as routing.md's replay format.
//!
//! Streams: one line in memory at a time, effects written through a buffer, so a million-line file
//! takes seconds and constant memory.

use anyhow::{Context, Result};
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use switchboard_core::{Effect, Engine};
use switchboard_wire as wire;

/// Arguments of `switchboard replay`.
#[derive(clap::Args)]
pub struct Args {
    /// Events file, one JSON object a line; `-` or nothing for standard input.
    file: Option<PathBuf>,
    /// Configuration file (default: the shipped configuration).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Fail on the first rejected line (exit status 1) instead of reporting it and going on.
    #[arg(long)]
    strict: bool,
}

/// Flush the output buffer once it holds this much.
const FLUSH_BYTES: usize = 1 << 16;

pub fn run(args: Args) -> Result<ExitCode> {
    let settings = crate::load_settings(args.config.as_ref())?;
    let mut engine = Engine::new(settings.engine).context("configuration")?;
    let input: Box<dyn BufRead> = match &args.file {
        None => Box::new(BufReader::with_capacity(1 << 16, io::stdin().lock())),
        Some(p) if p.as_os_str() == "-" => Box::new(BufReader::with_capacity(1 << 16, io::stdin().lock())),
        Some(p) => Box::new(BufReader::with_capacity(
            1 << 16,
            File::open(p).with_context(|| format!("cannot open {}", p.display()))?,
        )),
    };
    let stdout = io::stdout().lock();
    let mut out = BufWriter::with_capacity(1 << 16, stdout);
    match replay(&mut engine, input, &mut out, args.strict) {
        Ok(Outcome::Done) => {}
        Ok(Outcome::Rejected { line, error }) => {
            out.flush().ok();
            eprintln!("switchboard replay: line {line}: {error} (--strict)");
            return Ok(ExitCode::FAILURE);
        }
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
        Err(e) => return Err(e).context("replay"),
    }
    match out.flush() {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(e).context("writing effects"),
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// How a replay ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every line was read.
    Done,
    /// `strict` and this line was rejected.
    Rejected {
        /// 1-based line number.
        line: u64,
        /// Why.
        error: String,
    },
}

/// Replays `input` into `engine`, writing effect lines to `out`.
pub fn replay(
    engine: &mut Engine,
    mut input: impl BufRead,
    out: &mut impl Write,
    strict: bool,
) -> io::Result<Outcome> {
    let mut raw = Vec::with_capacity(1024);
    let mut buf = Vec::with_capacity(FLUSH_BYTES * 2);
    let mut effects: Vec<Effect> = Vec::with_capacity(64);
    let mut line = 0u64;
    loop {
        raw.clear();
        if input.read_until(b'\n', &mut raw)? == 0 {
            break;
        }
        line += 1;
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let rejected = match std::str::from_utf8(&raw) {
            Err(e) => {
                Some((engine.now(), None, format!("not JSON: invalid UTF-8 at byte {}", e.valid_up_to())))
            }
            Ok(text) => step(engine, text, &mut effects),
        };
        for e in effects.drain(..) {
            wire::write_effect(&e, &mut buf);
        }
        if let Some((at, account, error)) = rejected {
            wire::write_rejected(at, account.as_deref(), line, &error, &mut buf);
            if strict {
                out.write_all(&buf)?;
                return Ok(Outcome::Rejected { line, error });
            }
        }
        if buf.len() >= FLUSH_BYTES {
            out.write_all(&buf)?;
            buf.clear();
        }
    }
    // Timers due at the last event's time have fired already; later ones wait for a later event.
    out.write_all(&buf)?;
    Ok(Outcome::Done)
}

/// Applies one line; returns the rejected record's `at`, `account` and error when it is refused.
fn step(engine: &mut Engine, text: &str, effects: &mut Vec<Effect>) -> Option<(u64, Option<String>, String)> {
    let now = engine.now();
    let obj = match wire::parse_object(text) {
        Ok(obj) => obj,
        Err(e) => return Some((now, None, e.to_string())),
    };
    let account = wire::account_of(&obj).map(str::to_owned);
    let at = match wire::at_of(&obj) {
        Ok(at) if at < now => {
            return Some((now, account, wire::WireError::AtBeforePrevious { at, previous: now }.to_string()));
        }
        Ok(at) => at,
        Err(e) => return Some((now, account, e.to_string())),
    };
    // A valid `at` moves time even if the rest of the line is refused (routing.md, reading 1).
    engine.advance(at, effects);
    let event = match wire::decode_event(&obj, &*engine) {
        Ok(ev) => ev,
        Err(e) => return Some((at, account, e.to_string())),
    };
    engine.apply(&event, at, effects).err().map(|e| (at, account, e.to_string()))
}
