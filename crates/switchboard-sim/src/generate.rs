//! The simulator driven by an in-process engine, writing the events as a replay file.

use crate::{SimEvent, SimParams, Simulator};
use std::io::{self, Write};
use switchboard_core::config::ConfigError;
use switchboard_core::{Config, Effect, EffectKind, Engine};
use thiserror::Error;

/// Write the buffer out once it holds this much.
const FLUSH_BYTES: usize = 1 << 16;

/// What a [`generate`] run produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GenStats {
    /// Lines written, bad ones included.
    pub lines: u64,
    /// Of those, deliberately bad lines.
    pub bad_lines: u64,
    /// Events the engine refused although the simulator meant them to be valid (expected 0).
    pub refused: u64,
    /// Effects the engine produced, by type, in the order of [`EffectKind::TYPE_NAMES`].
    pub effects: [u64; EffectKind::TYPE_NAMES.len()],
    /// Due time of the first and the last line.
    pub first_at: Option<u64>,
    /// See `first_at`.
    pub last_at: Option<u64>,
}

/// Why [`generate`] stopped.
#[derive(Debug, Error)]
pub enum GenError {
    /// The engine cannot run with the configuration.
    #[error("configuration: {0}")]
    Config(ConfigError),
    /// Writing failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

// Without `#[from]`: the message includes the cause, and a source would print it twice.
impl From<ConfigError> for GenError {
    fn from(e: ConfigError) -> Self {
        GenError::Config(e)
    }
}

/// Runs the simulator against an in-process engine configured by `config`, and writes its first `n`
/// lines (events, and bad lines if asked for) to `out` as JSON Lines in the replay format. Replaying
/// the file with the same configuration gives the effects the simulator reacted to.
///
/// The configuration must have the channels `messaging`, `email` and `talk` and the unified statuses
/// `online`, `away`, `transfers_only` and `offline`, as the shipped one does; with others, events
/// naming the missing ones are refused (and counted in [`GenStats::refused`]).
pub fn generate(
    params: SimParams,
    config: Config,
    n: u64,
    out: &mut impl Write,
) -> Result<GenStats, GenError> {
    let mut engine = Engine::new(config)?;
    let mut sim = Simulator::new(params);
    let mut stats = GenStats::default();
    let mut effects: Vec<Effect> = Vec::with_capacity(64);
    let mut buf = Vec::with_capacity(FLUSH_BYTES * 2);
    while stats.lines < n {
        let deadline = engine.next_deadline();
        let due = sim.peek_time();
        // Timers due at or before the next event fire first (routing.md: they fire before the
        // event at that time), and the simulator sees their effects before it acts.
        if let Some(d) = deadline
            && due.is_none_or(|t| d <= t)
        {
            engine.advance(d, &mut effects);
            tally(&mut stats, &effects);
            sim.observe(&effects);
            effects.clear();
            continue;
        }
        if due.is_none() {
            break;
        }
        // Here the deadline, if any, is after the next due time, so it is at least 1.
        let limit = deadline.map_or(u64::MAX, |d| d.saturating_sub(1));
        let Some(line) = sim.next_due(limit) else {
            continue;
        };
        stats.lines += 1;
        stats.first_at.get_or_insert(line.at());
        stats.last_at = Some(line.at());
        line.write_line(&mut buf);
        match &line {
            SimEvent::Event { at, event } => {
                if engine.apply(event, *at, &mut effects).is_err() {
                    stats.refused += 1;
                }
                tally(&mut stats, &effects);
                sim.observe(&effects);
                effects.clear();
            }
            // A bad line changes nothing, and the timers its `at` would fire have fired already.
            SimEvent::Bad { .. } => stats.bad_lines += 1,
        }
        if buf.len() >= FLUSH_BYTES {
            out.write_all(&buf)?;
            buf.clear();
        }
    }
    out.write_all(&buf)?;
    Ok(stats)
}

fn tally(stats: &mut GenStats, effects: &[Effect]) {
    for e in effects {
        let name = e.kind.type_name();
        if let Some(i) = EffectKind::TYPE_NAMES.iter().position(|&n| n == name) {
            stats.effects[i] += 1;
        }
    }
}
