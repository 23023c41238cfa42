//! The write-ahead log: segments of checksummed records.

use crate::{FORMAT_VERSION, MAX_RECORD_BYTES, WalError, io_err, list, seq_name, sync_dir};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub(crate) const MAGIC: &[u8; 8] = b"SWBWAL\0\0";
pub(crate) const HEADER_LEN: u64 = 16;
/// Length and checksum before each record body.
pub(crate) const RECORD_HEADER: usize = 8;

/// A torn tail found and cut off at open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Torn {
    /// The segment.
    pub path: PathBuf,
    /// Where the incomplete record started; the file now ends there.
    pub offset: u64,
    /// Bytes dropped.
    pub dropped: u64,
}

/// What opening the log found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OpenReport {
    /// Records handed to the visitor (those after the snapshot).
    pub replayed: u64,
    /// The last seq in the log (0 if empty).
    pub last_seq: u64,
    /// A torn last record, cut off.
    pub torn: Option<Torn>,
}

/// One record as read back.
pub(crate) struct RawRecord<'a> {
    pub offset: u64,
    pub seq: u64,
    pub payload: &'a [u8],
}

/// How reading a segment's records ended.
pub(crate) enum Scan<'a> {
    /// Every byte was a whole, valid record.
    Clean(Vec<RawRecord<'a>>),
    /// Records up to `offset`, then something that is not a valid record.
    Broken { records: Vec<RawRecord<'a>>, offset: u64, reason: String, at_end: bool },
}

/// Checks a segment's header.
pub(crate) fn check_header(path: &Path, data: &[u8]) -> Result<(), WalError> {
    if data.len() < HEADER_LEN as usize || &data[..8] != MAGIC {
        return Err(WalError::Corrupt {
            path: path.into(),
            offset: 0,
            reason: "not a Switchboard log segment".into(),
        });
    }
    let version = u32::from_le_bytes(data[8..12].try_into().expect("4 bytes"));
    if version != FORMAT_VERSION {
        return Err(WalError::Version { path: path.into(), found: version, expected: FORMAT_VERSION });
    }
    Ok(())
}

/// Reads the records of a segment (after its header).
pub(crate) fn scan(data: &[u8]) -> Scan<'_> {
    let mut records = Vec::new();
    let mut offset = HEADER_LEN as usize;
    while offset < data.len() {
        let broken = |records, reason: &str, at_end| Scan::Broken {
            records,
            offset: offset as u64,
            reason: reason.into(),
            at_end,
        };
        let rest = &data[offset..];
        if rest.len() < RECORD_HEADER {
            return broken(records, "incomplete record header", true);
        }
        let len = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes"));
        let crc = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes"));
        // Zeros to the end of the file are space the file system allocated for a write that never
        // landed: a torn tail like any other.
        let zeros_from = |i: usize| rest[i.min(rest.len())..].iter().all(|&b| b == 0);
        if len > MAX_RECORD_BYTES || (len as usize) < 8 {
            return broken(records, &format!("impossible record length {len}"), zeros_from(0));
        }
        let end = RECORD_HEADER + len as usize;
        if rest.len() < end {
            return broken(records, "record cut short", true);
        }
        let body = &rest[RECORD_HEADER..end];
        if crc32c::crc32c(body) != crc {
            return broken(records, "checksum mismatch", zeros_from(end));
        }
        let seq = u64::from_le_bytes(body[..8].try_into().expect("8 bytes"));
        records.push(RawRecord { offset: offset as u64, seq, payload: &body[8..] });
        offset += end;
    }
    Scan::Clean(records)
}

/// The append-only log of one directory.
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    segment_bytes: u64,
    /// The segment being appended to; shared with the handles [`Wal::segment`] lends.
    current: Segment,
    /// Bytes of the current segment that hold whole, kept records.
    len: u64,
    /// Every segment, by first seq, the current one last.
    segments: Vec<(u64, PathBuf)>,
    next_seq: u64,
    /// Records appended but not yet written.
    batch: Vec<u8>,
    batch_first_seq: u64,
    /// Written since the last sync.
    unsynced: bool,
    /// A failed write may have left bytes past `len`.
    poisoned: bool,
    /// Test hook: the next write fails as a full disk would.
    #[cfg(feature = "fault-injection")]
    fail_next_write: bool,
}

impl Wal {
    /// Opens (creating if needed) the log in `dir`. Every record with a seq above `after_seq` (the
    /// snapshot's) is handed to `visit` in order. A torn last record is cut off and reported; any
    /// other damage is an error naming the file and offset.
    pub fn open(
        dir: &Path,
        after_seq: u64,
        segment_bytes: u64,
        mut visit: impl FnMut(u64, &[u8]) -> Result<(), String>,
    ) -> Result<(Wal, OpenReport), WalError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let mut segments = list(dir, "wal")?;
        let mut report = OpenReport::default();
        let mut last_seq: Option<u64> = None;
        let count = segments.len();
        let mut keep_len = HEADER_LEN;
        let mut drop_last = false;
        for (i, (first, path)) in segments.iter().enumerate() {
            let is_last = i + 1 == count;
            let data = std::fs::read(path).map_err(io_err(path))?;
            if is_last && data.len() < HEADER_LEN as usize && data.starts_with(&MAGIC[..data.len().min(8)]) {
                // Created but its header never made it to disk: nothing was ever written after it.
                drop_last = true;
                break;
            }
            check_header(path, &data)?;
            let (records, broken) = match scan(&data) {
                Scan::Clean(r) => (r, None),
                Scan::Broken { records, offset, reason, at_end } => (records, Some((offset, reason, at_end))),
            };
            for (j, r) in records.iter().enumerate() {
                if j == 0 && r.seq != *first {
                    return Err(WalError::Corrupt {
                        path: path.clone(),
                        offset: r.offset,
                        reason: format!("segment named for seq {first} starts with seq {}", r.seq),
                    });
                }
                // Records the snapshot covers may be missing (removed, or cut by a repair); any
                // other jump hides records nothing else holds.
                let expected =
                    if r.seq <= after_seq + 1 { r.seq } else { last_seq.unwrap_or(0).max(after_seq) + 1 };
                if r.seq != expected {
                    return Err(WalError::Gap { path: path.clone(), expected, found: r.seq });
                }
                if r.seq > after_seq {
                    visit(r.seq, r.payload).map_err(|reason| WalError::Record {
                        path: path.clone(),
                        seq: r.seq,
                        offset: r.offset,
                        reason,
                    })?;
                    report.replayed += 1;
                }
                last_seq = Some(r.seq);
            }
            match broken {
                // Only the very end of the newest segment can be a write cut short by a crash.
                Some((offset, _, true)) if is_last => {
                    report.torn =
                        Some(Torn { path: path.clone(), offset, dropped: data.len() as u64 - offset });
                    keep_len = offset;
                }
                Some((offset, reason, _)) => {
                    return Err(WalError::Corrupt { path: path.clone(), offset, reason });
                }
                None => keep_len = data.len() as u64,
            }
        }
        if drop_last {
            let (_, path) = segments.pop().expect("the last segment");
            std::fs::remove_file(&path).map_err(io_err(&path))?;
        }
        let next_seq = last_seq.unwrap_or(0).max(after_seq) + 1;
        report.last_seq = last_seq.unwrap_or(0);
        if let (Some(torn), Some((_, path))) = (&report.torn, segments.last()) {
            let file = OpenOptions::new().write(true).open(path).map_err(io_err(path))?;
            file.set_len(torn.offset).and_then(|()| file.sync_all()).map_err(io_err(path))?;
        }
        // Appending after a snapshot that covers more than the log holds would leave a jump inside a
        // segment: start a new one instead.
        let behind = last_seq.is_some_and(|l| l + 1 != next_seq);
        let (file, path, len) = match segments.last().filter(|_| !behind) {
            Some((_, path)) => {
                let file = OpenOptions::new().append(true).open(path).map_err(io_err(path))?;
                (Arc::new(file), path.clone(), keep_len)
            }
            None => {
                let (file, path) = create_segment(dir, next_seq)?;
                let file = Arc::new(file);
                segments.push((next_seq, path.clone()));
                (file, path, HEADER_LEN)
            }
        };
        let wal = Wal {
            dir: dir.into(),
            segment_bytes,
            current: Segment { file, path },
            len,
            segments,
            next_seq,
            batch: Vec::new(),
            batch_first_seq: next_seq,
            unsynced: false,
            poisoned: false,
            #[cfg(feature = "fault-injection")]
            fail_next_write: false,
        };
        Ok((wal, report))
    }

    /// The seq the next appended record gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Buffers a record; returns its seq. Nothing reaches the file before [`Wal::write`].
    pub fn append(&mut self, payload: &[u8]) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        let seq_bytes = seq.to_le_bytes();
        let crc = crc32c::crc32c_append(crc32c::crc32c(&seq_bytes), payload);
        self.batch.extend_from_slice(&((payload.len() + 8) as u32).to_le_bytes());
        self.batch.extend_from_slice(&crc.to_le_bytes());
        self.batch.extend_from_slice(&seq_bytes);
        self.batch.extend_from_slice(payload);
        seq
    }

    /// Hands the buffered records to the OS in one write. On failure the file is cut back to where
    /// the batch started, the batch is dropped (its seqs will be reused) and the error returned.
    pub fn write(&mut self) -> Result<(), WalError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let result = self.try_write();
        if result.is_err() {
            self.next_seq = self.batch_first_seq;
            self.poisoned = true;
            // Best effort now; retried before the next write otherwise.
            if self.current.file.set_len(self.len).is_ok() {
                self.poisoned = false;
            }
        }
        self.batch.clear();
        self.batch_first_seq = self.next_seq;
        result
    }

    fn try_write(&mut self) -> Result<(), WalError> {
        #[cfg(feature = "fault-injection")]
        if std::mem::take(&mut self.fail_next_write) {
            // Half the batch lands, as when the disk fills mid-write.
            let half = self.batch.len() / 2;
            (&*self.current.file).write_all(&self.batch[..half]).map_err(|e| self.current.io(e))?;
            return Err(WalError::Io {
                path: self.current.path.clone(),
                cause: std::io::Error::new(
                    std::io::ErrorKind::StorageFull,
                    "no space left on device (injected)",
                ),
            });
        }
        if self.poisoned {
            self.current.file.set_len(self.len).map_err(|e| self.current.io(e))?;
            self.poisoned = false;
        }
        if self.len > HEADER_LEN && self.len + self.batch.len() as u64 > self.segment_bytes {
            self.rotate()?;
        }
        (&*self.current.file).write_all(&self.batch).map_err(|e| self.current.io(e))?;
        self.len += self.batch.len() as u64;
        self.unsynced = true;
        Ok(())
    }

    /// Starts a new segment for the batch about to be written; the old one is made durable first.
    fn rotate(&mut self) -> Result<(), WalError> {
        self.current.file.sync_data().map_err(|e| self.current.io(e))?;
        let (file, path) = create_segment(&self.dir, self.batch_first_seq)?;
        self.segments.push((self.batch_first_seq, path.clone()));
        self.current = Segment { file: Arc::new(file), path };
        self.len = HEADER_LEN;
        Ok(())
    }

    /// Makes everything written durable against power loss.
    pub fn sync(&mut self) -> Result<(), WalError> {
        if self.unsynced {
            self.current.file.sync_data().map_err(|e| self.current.io(e))?;
            self.unsynced = false;
        }
        Ok(())
    }

    /// The segment being written, for fsyncing from another thread: an fsync through the handle
    /// covers everything written to that segment before it starts. [`Wal::sync`] still syncs
    /// (it does not know about such fsyncs), and a rotation still syncs the old segment itself.
    pub fn segment(&self) -> &Segment {
        &self.current
    }

    /// Whether records were written since the last [`Wal::sync`].
    pub fn has_unsynced(&self) -> bool {
        self.unsynced
    }

    /// Deletes the segments whose records all have seqs up to `seq` (a snapshot covers them). The
    /// current segment is kept.
    pub fn remove_through(&mut self, seq: u64) -> Result<usize, WalError> {
        let mut removed = 0;
        while self.segments.len() > 1 && self.segments[1].0 <= seq + 1 {
            let (_, path) = self.segments.remove(0);
            std::fs::remove_file(&path).map_err(io_err(&path))?;
            removed += 1;
        }
        if removed > 0 {
            sync_dir(&self.dir)?;
        }
        Ok(removed)
    }

    /// Makes the next [`Wal::write`] fail after writing half its batch (tests only).
    #[cfg(feature = "fault-injection")]
    pub fn fail_next_write(&mut self) {
        self.fail_next_write = true;
    }

    /// Number of segment files.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }
}

/// A handle on one log segment that can make it durable from any thread.
#[derive(Debug, Clone)]
pub struct Segment {
    file: Arc<File>,
    path: PathBuf,
}

impl Segment {
    /// fsyncs the segment's data (`fdatasync`).
    pub fn sync(&self) -> Result<(), WalError> {
        self.file.sync_data().map_err(|e| self.io(e))
    }

    /// An I/O error on this segment. (A closure for `map_err` rather than `io_err(&path)`, which
    /// would copy the path on every write, failed or not.)
    fn io(&self, cause: std::io::Error) -> WalError {
        WalError::Io { path: self.path.clone(), cause }
    }

    /// Whether both handles are on the same segment.
    pub fn same(&self, other: &Segment) -> bool {
        Arc::ptr_eq(&self.file, &other.file)
    }
}

/// Creates a segment with its header, durably (file and directory entry).
fn create_segment(dir: &Path, first_seq: u64) -> Result<(File, PathBuf), WalError> {
    let path = dir.join(seq_name(first_seq, "wal"));
    let mut file = OpenOptions::new().create_new(true).append(true).open(&path).map_err(io_err(&path))?;
    let mut header = Vec::with_capacity(HEADER_LEN as usize);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    header.extend_from_slice(&0u32.to_le_bytes());
    file.write_all(&header).map_err(io_err(&path))?;
    file.sync_all().map_err(io_err(&path))?;
    sync_dir(dir)?;
    Ok((file, path))
}
