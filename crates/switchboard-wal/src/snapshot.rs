//! Snapshot files: one payload covering the log up to a seq, replaced atomically.

use crate::{FORMAT_VERSION, WalError, io_err, list, seq_name, sync_dir};
use std::io::Write;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"SWBSNAP\0";
const HEADER_LEN: usize = 24;

/// A snapshot read back: the seq it covers up to, and its payload.
pub type Snapshot = (u64, Vec<u8>);

/// Writes the snapshot covering the log up to `seq`: to a temporary file, fsynced, renamed into
/// place, and the directory fsynced, so a crash leaves either no snapshot or a whole one.
pub fn write_snapshot(dir: &Path, seq: u64, payload: &[u8]) -> Result<PathBuf, WalError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let path = dir.join(seq_name(seq, "snap"));
    let temp = dir.join(format!("{}.tmp", seq_name(seq, "snap")));
    let mut file = std::fs::File::create(&temp).map_err(io_err(&temp))?;
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    header.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    header.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    file.write_all(&header).and_then(|()| file.write_all(payload)).map_err(io_err(&temp))?;
    file.sync_all().map_err(io_err(&temp))?;
    drop(file);
    std::fs::rename(&temp, &path).map_err(io_err(&path))?;
    sync_dir(dir)?;
    Ok(path)
}

/// Reads and checks one snapshot file.
pub(crate) fn read_snapshot(path: &Path) -> Result<Vec<u8>, WalError> {
    let data = std::fs::read(path).map_err(io_err(path))?;
    let corrupt = |reason: &str| WalError::Corrupt { path: path.into(), offset: 0, reason: reason.into() };
    if data.len() < HEADER_LEN || &data[..8] != MAGIC {
        return Err(corrupt("not a Switchboard snapshot"));
    }
    let version = u32::from_le_bytes(data[8..12].try_into().expect("4 bytes"));
    if version != FORMAT_VERSION {
        return Err(WalError::Version { path: path.into(), found: version, expected: FORMAT_VERSION });
    }
    let crc = u32::from_le_bytes(data[12..16].try_into().expect("4 bytes"));
    let len = u64::from_le_bytes(data[16..24].try_into().expect("8 bytes"));
    let payload = &data[HEADER_LEN..];
    if payload.len() as u64 != len {
        return Err(corrupt(&format!("{} payload bytes, header says {len}", payload.len())));
    }
    if crc32c::crc32c(payload) != crc {
        return Err(corrupt("checksum mismatch"));
    }
    Ok(payload.to_vec())
}

/// The newest snapshot in `dir` that checks out, with its seq, and the newer ones that did not (a
/// snapshot that fails its checksum is skipped for an older one, whose log tail still covers the
/// difference as long as no segment was removed after the bad one was written).
pub fn latest_snapshot(dir: &Path) -> Result<(Option<Snapshot>, Vec<WalError>), WalError> {
    if !dir.exists() {
        return Ok((None, Vec::new()));
    }
    let mut skipped = Vec::new();
    for (seq, path) in list(dir, "snap")?.into_iter().rev() {
        match read_snapshot(&path) {
            Ok(payload) => return Ok((Some((seq, payload)), skipped)),
            // A version mismatch is not damage: refuse to start rather than fall back silently.
            Err(e @ WalError::Version { .. }) => return Err(e),
            Err(e) => skipped.push(e),
        }
    }
    Ok((None, skipped))
}

/// Removes snapshots older than `seq` and leftover temporary files.
pub fn remove_snapshots_before(dir: &Path, seq: u64) -> Result<(), WalError> {
    for (s, path) in list(dir, "snap")? {
        if s < seq {
            std::fs::remove_file(&path).map_err(io_err(&path))?;
        }
    }
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let path = entry.map_err(io_err(dir))?.path();
        if path.extension().is_some_and(|e| e == "tmp") {
            std::fs::remove_file(&path).map_err(io_err(&path))?;
        }
    }
    sync_dir(dir)
}
