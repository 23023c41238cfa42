//! `switchboard wal verify|repair DIR`: check and mend a data directory, for operators.

use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::ExitCode;

/// Subcommands of `switchboard wal`.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Read every log segment and snapshot under DIR and report what each holds and what is wrong
    /// (exit status 1 if anything is).
    Verify {
        /// The data directory (`[storage] dir`), or one shard's directory.
        dir: PathBuf,
    },
    /// Make the logs under DIR readable again, losing as little as possible: cut each damaged
    /// segment at its first bad record, and set aside (`*.corrupt`) what can no longer follow and
    /// damaged snapshots. Without --yes, only says what it would do. Stop the daemon first.
    Repair {
        /// The data directory.
        dir: PathBuf,
        /// Do it.
        #[arg(long)]
        yes: bool,
    },
}

pub fn run(cmd: Command) -> Result<ExitCode> {
    match cmd {
        Command::Verify { dir } => {
            let reports =
                switchboard_wal::verify(&dir).with_context(|| format!("verifying {}", dir.display()))?;
            if reports.is_empty() {
                println!("{}: no log segments or snapshots found", dir.display());
                return Ok(ExitCode::FAILURE);
            }
            let mut bad = 0;
            for r in &reports {
                let what = match (r.kind, r.seqs) {
                    ("snapshot", Some((seq, _))) => format!("snapshot covering seq 1..{seq}"),
                    (_, Some((a, b))) => format!("segment, {} records, seq {a}..{b}", r.records),
                    (_, None) => "segment, no records".to_string(),
                };
                let status = if r.problem.is_some() { "DAMAGED" } else { "ok" };
                println!("{status:<8} {} ({what})", r.path.display());
                if let Some(p) = &r.problem {
                    bad += 1;
                    println!("         {p}");
                }
            }
            println!("{} files, {bad} damaged", reports.len());
            Ok(if bad == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Command::Repair { dir, yes } => {
            let actions =
                switchboard_wal::repair(&dir, yes).with_context(|| format!("repairing {}", dir.display()))?;
            if actions.is_empty() {
                println!("nothing to repair under {}", dir.display());
            }
            for a in &actions {
                println!("{}{}: {}", if yes { "" } else { "would have " }, a.path.display(), a.action);
            }
            if !yes && !actions.is_empty() {
                println!("(dry run: add --yes to do it, with the daemon stopped)");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
