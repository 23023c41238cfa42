//! Durable storage for Switchboard: an append-only write-ahead log of opaque records, and snapshot
//! files, in one directory per shard.
//!
//! The crate knows nothing of events or engines: records and snapshots are bytes with a sequence
//! number. It does know disks: every record and snapshot is length-prefixed and checksummed
//! (CRC-32C), files carry a magic and a format version, snapshots are replaced atomically (temp
//! file, fsync, rename, fsync of the directory), and a failed write is rolled back so that what is
//! on disk is exactly what was acknowledged as written.
//!
//! # On-disk format (version 1)
//!
//! Log segment `<first seq, 20 digits>.wal`:
//! ```text
//! header   "SWBWAL\0\0" (8 bytes) | version u32 LE | reserved u32 (0)
//! record*  length u32 LE | crc32c(body) u32 LE | body = seq u64 LE ++ payload
//! ```
//! Sequence numbers start at 1 and increase by one across segments; a segment's name is the seq of
//! its first record. Snapshot `<seq, 20 digits>.snap`, covering every record up to `seq`:
//! ```text
//! "SWBSNAP\0" (8) | version u32 LE | crc32c(payload) u32 LE | length u64 LE | payload
//! ```
//!
//! # Written and flushed
//!
//! [`Wal::append`] only buffers. [`Wal::write`] hands the buffered batch to the OS in one write: a
//! process crash after it loses nothing. [`Wal::sync`] makes it durable against power loss
//! (`fdatasync`). The caller decides when to acknowledge according to its fsync policy. If a write
//! fails, the file is cut back to where the batch started and the batch is dropped, so records that
//! were never acknowledged cannot reappear at the next start.

mod log;
mod snapshot;
mod verify;

pub use log::{OpenReport, Segment, Torn, Wal};
pub use snapshot::{Snapshot, latest_snapshot, remove_snapshots_before, write_snapshot};
pub use verify::{FileReport, RepairAction, repair, verify};

use std::path::PathBuf;
use thiserror::Error;

/// The format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// Largest record body accepted when reading; anything longer is corruption (a length prefix read
/// from garbage), not a real record.
pub const MAX_RECORD_BYTES: u32 = 64 << 20;

/// Why the log or a snapshot could not be read or written.
#[derive(Debug, Error)]
pub enum WalError {
    /// The operating system refused.
    #[error("{path}: {cause}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// A record or snapshot does not check out, somewhere other than a torn tail.
    #[error(
        "{path}: corrupt at byte offset {offset}: {reason} (see `switchboard wal verify` / `switchboard wal repair`)"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Where the bad record starts.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A file written by another format version.
    #[error("{path}: format version {found}, but this build reads version {expected}")]
    Version {
        /// The file.
        path: PathBuf,
        /// Its version.
        found: u32,
        /// Ours.
        expected: u32,
    },
    /// Sequence numbers jump: a segment is missing.
    #[error("{path}: expected a record with seq {expected}, found seq {found}: a segment is missing")]
    Gap {
        /// The file where the jump shows.
        path: PathBuf,
        /// The seq that should have come.
        expected: u64,
        /// The seq that came.
        found: u64,
    },
    /// The caller's visitor refused a record.
    #[error("{path}: record seq {seq} at byte offset {offset}: {reason}")]
    Record {
        /// The file.
        path: PathBuf,
        /// The record's seq.
        seq: u64,
        /// Where it starts.
        offset: u64,
        /// What the visitor said.
        reason: String,
    },
}

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> WalError {
    let path = path.into();
    move |cause| WalError::Io { path, cause }
}

/// Fsyncs a directory, so that a create, rename or delete inside it is durable.
pub(crate) fn sync_dir(dir: &std::path::Path) -> Result<(), WalError> {
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io_err(dir))
}

/// `<n, 20 digits>.<ext>`: sorts by name in seq order.
pub(crate) fn seq_name(seq: u64, ext: &str) -> String {
    format!("{seq:020}.{ext}")
}

/// The seq in a `<n>.<ext>` file name.
pub(crate) fn parse_seq_name(name: &str, ext: &str) -> Option<u64> {
    let stem = name.strip_suffix(ext)?.strip_suffix('.')?;
    (stem.len() == 20).then(|| stem.parse().ok()).flatten()
}

/// The files `<n>.<ext>` in `dir`, by seq.
pub(crate) fn list(dir: &std::path::Path, ext: &str) -> Result<Vec<(u64, PathBuf)>, WalError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        if let Some(seq) = entry.file_name().to_str().and_then(|n| parse_seq_name(n, ext)) {
            out.push((seq, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}
