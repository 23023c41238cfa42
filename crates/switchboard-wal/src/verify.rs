//! Checking and repairing a data directory, for operators (`switchboard wal verify|repair`).

use crate::log::{Scan, check_header, scan};
use crate::snapshot::read_snapshot;
use crate::{WalError, io_err, list};
use std::path::{Path, PathBuf};

/// What one file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    /// The file.
    pub path: PathBuf,
    /// `segment` or `snapshot`.
    pub kind: &'static str,
    /// Whole, valid records (segments) or 1 (a valid snapshot).
    pub records: u64,
    /// First and last seq of a segment's valid records; a snapshot's seq.
    pub seqs: Option<(u64, u64)>,
    /// What is wrong, with the byte offset.
    pub problem: Option<String>,
}

/// One thing `repair` does (or would do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairAction {
    /// The file.
    pub path: PathBuf,
    /// What happens to it.
    pub action: String,
}

/// Every directory under `root` (itself included) holding log segments or snapshots.
fn log_dirs(root: &Path) -> Result<Vec<PathBuf>, WalError> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut has_files = false;
        for entry in std::fs::read_dir(&dir).map_err(io_err(&dir))? {
            let path = entry.map_err(io_err(&dir))?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "wal" || e == "snap") {
                has_files = true;
            }
        }
        if has_files {
            out.push(dir);
        }
    }
    out.sort();
    Ok(out)
}

/// The seq the newest valid snapshot in `dir` covers (0 if none).
fn covered(dir: &Path) -> Result<u64, WalError> {
    Ok(crate::latest_snapshot(dir).map(|(s, _)| s.map_or(0, |(seq, _)| seq)).unwrap_or(0))
}

/// If a log continues at `seq` after `last`, the seq it jumps from, unless the records skipped are
/// all covered by a snapshot.
fn jump(last: Option<u64>, seq: u64, covered: u64) -> Option<u64> {
    let l = last?;
    (seq > covered + 1 && seq != l.max(covered) + 1).then_some(l)
}

/// Reads every segment and snapshot under `root` and says what each holds and what is wrong.
pub fn verify(root: &Path) -> Result<Vec<FileReport>, WalError> {
    let mut out = Vec::new();
    for dir in log_dirs(root)? {
        for (seq, path) in list(&dir, "snap")? {
            let problem = read_snapshot(&path).err().map(|e| e.to_string());
            out.push(FileReport {
                path,
                kind: "snapshot",
                records: u64::from(problem.is_none()),
                seqs: Some((seq, seq)),
                problem,
            });
        }
        let covered = covered(&dir)?;
        let mut last: Option<u64> = None;
        for (_, path) in list(&dir, "wal")? {
            let data = std::fs::read(&path).map_err(io_err(&path))?;
            let mut report =
                FileReport { path: path.clone(), kind: "segment", records: 0, seqs: None, problem: None };
            if let Err(e) = check_header(&path, &data) {
                report.problem = Some(e.to_string());
                out.push(report);
                continue;
            }
            let (records, broken) = match scan(&data) {
                Scan::Clean(r) => (r, None),
                Scan::Broken { records, offset, reason, at_end } => {
                    let kind = if at_end { "torn tail" } else { "corrupt" };
                    (records, Some(format!("{kind} at byte offset {offset}: {reason}")))
                }
            };
            report.records = records.len() as u64;
            report.seqs = records.first().zip(records.last()).map(|(a, b)| (a.seq, b.seq));
            let gap = records.first().and_then(|r| jump(last, r.seq, covered).map(|l| (l, r.seq)));
            report.problem = match (gap, broken) {
                (Some((l, s)), _) => Some(format!("seq jumps from {l} to {s}: a segment is missing")),
                (None, b) => b,
            };
            last = records.last().map(|r| r.seq).or(last);
            out.push(report);
        }
    }
    Ok(out)
}

/// Makes every log under `root` readable again, losing as little as possible: a segment is cut
/// at its first bad record, later segments of the same log (which can no longer follow on) and
/// damaged snapshots are renamed to `*.corrupt` for inspection. With `apply` false, only says
/// what it would do.
pub fn repair(root: &Path, apply: bool) -> Result<Vec<RepairAction>, WalError> {
    let mut actions = Vec::new();
    let aside = |path: &Path, actions: &mut Vec<RepairAction>, why: &str| -> Result<(), WalError> {
        let target = PathBuf::from(format!("{}.corrupt", path.display()));
        actions.push(RepairAction {
            path: path.into(),
            action: format!("renamed to {} ({why})", target.display()),
        });
        if apply {
            std::fs::rename(path, &target).map_err(io_err(path))?;
        }
        Ok(())
    };
    for dir in log_dirs(root)? {
        for (_, path) in list(&dir, "snap")? {
            if let Err(e) = read_snapshot(&path) {
                aside(&path, &mut actions, &e.to_string())?;
            }
        }
        let covered = covered(&dir)?;
        let mut broken_before = false;
        let mut last: Option<u64> = None;
        for (_, path) in list(&dir, "wal")? {
            if broken_before {
                aside(&path, &mut actions, "it follows a damaged segment")?;
                continue;
            }
            let data = std::fs::read(&path).map_err(io_err(&path))?;
            if let Err(e) = check_header(&path, &data) {
                aside(&path, &mut actions, &e.to_string())?;
                broken_before = true;
                continue;
            }
            let (records, cut) = match scan(&data) {
                Scan::Clean(r) => (r, None),
                Scan::Broken { records, offset, reason, .. } => (records, Some((offset, reason))),
            };
            let first = records.first().map(|r| r.seq);
            if let Some(f) = first
                && let Some(l) = jump(last, f, covered)
            {
                aside(&path, &mut actions, &format!("seq jumps from {l} to {f}"))?;
                broken_before = true;
                continue;
            }
            if let Some((offset, reason)) = cut {
                actions.push(RepairAction {
                    path: path.clone(),
                    action: format!(
                        "cut at byte offset {offset} ({reason}), dropping {} bytes",
                        data.len() as u64 - offset
                    ),
                });
                if apply {
                    let file = std::fs::OpenOptions::new().write(true).open(&path).map_err(io_err(&path))?;
                    file.set_len(offset).and_then(|()| file.sync_all()).map_err(io_err(&path))?;
                }
                broken_before = true;
            }
            last = records.last().map(|r| r.seq).or(last);
        }
        if apply && !actions.is_empty() {
            crate::sync_dir(&dir)?;
        }
    }
    Ok(actions)
}
