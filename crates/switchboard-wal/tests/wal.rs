//! The log and snapshots on a real file system: round trips, crashes, damage and repair.

use std::io::Write;
use std::path::{Path, PathBuf};
use switchboard_wal::{
    Wal, WalError, latest_snapshot, remove_snapshots_before, repair, verify, write_snapshot,
};

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!("switchboard-wal-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Records as replayed: seq and payload.
type Replayed = Vec<(u64, Vec<u8>)>;

/// Opens the log and collects what it replays.
fn open(dir: &Path, after: u64, segment_bytes: u64) -> Result<(Wal, Replayed), WalError> {
    let mut seen = Vec::new();
    let (wal, _) = Wal::open(dir, after, segment_bytes, |seq, p| {
        seen.push((seq, p.to_vec()));
        Ok(())
    })?;
    Ok((wal, seen))
}

fn write_records(wal: &mut Wal, from: u32, to: u32) {
    for i in from..to {
        wal.append(format!("record {i}").as_bytes());
    }
    wal.write().unwrap();
    wal.sync().unwrap();
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    v.sort();
    v
}

#[test]
fn records_come_back_in_order_after_a_restart() {
    let d = TempDir::new("roundtrip");
    let (mut wal, seen) = open(&d.0, 0, 1 << 20).unwrap();
    assert!(seen.is_empty());
    assert_eq!(wal.next_seq(), 1);
    write_records(&mut wal, 0, 3);
    write_records(&mut wal, 3, 5);
    drop(wal);
    let (wal, seen) = open(&d.0, 0, 1 << 20).unwrap();
    assert_eq!(seen.iter().map(|(s, _)| *s).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5]);
    assert_eq!(seen[4].1, b"record 4");
    assert_eq!(wal.next_seq(), 6);
    // Only what follows a snapshot is replayed.
    drop(wal);
    let (_, seen) = open(&d.0, 3, 1 << 20).unwrap();
    assert_eq!(seen.iter().map(|(s, _)| *s).collect::<Vec<_>>(), vec![4, 5]);
}

#[test]
fn segments_rotate_and_a_snapshot_lets_old_ones_go() {
    let d = TempDir::new("rotate");
    let (mut wal, _) = open(&d.0, 0, 100).unwrap();
    for i in 0..10 {
        write_records(&mut wal, i * 2, i * 2 + 2);
    }
    let before = segments(&d.0).len();
    assert!(before >= 5, "{before} segments");
    let removed = wal.remove_through(12).unwrap();
    assert!(removed > 0);
    assert_eq!(removed, before - segments(&d.0).len());
    let first = segments(&d.0)[0].clone();
    let first_seq: u64 = first.file_stem().unwrap().to_str().unwrap().parse().unwrap();
    assert!(first_seq <= 13, "records 13.. must remain: oldest segment starts at {first_seq}");
    drop(wal);
    let (wal, seen) = open(&d.0, 12, 100).unwrap();
    assert_eq!(seen.first().map(|r| r.0), Some(13));
    assert_eq!(seen.last().map(|r| r.0), Some(20));
    assert_eq!(wal.next_seq(), 21);
}

#[test]
fn a_torn_last_record_is_cut_off_and_reported() {
    let d = TempDir::new("torn");
    let (mut wal, _) = open(&d.0, 0, 1 << 20).unwrap();
    write_records(&mut wal, 0, 3);
    drop(wal);
    let seg = segments(&d.0).pop().unwrap();
    let good_len = std::fs::metadata(&seg).unwrap().len();
    // A crash mid-write: the start of a fourth record.
    let mut f = std::fs::OpenOptions::new().append(true).open(&seg).unwrap();
    f.write_all(&[20, 0, 0, 0, 1, 2, 3, 4, 5, 6]).unwrap();
    drop(f);
    let mut seen = 0;
    let (mut wal, report) = Wal::open(&d.0, 0, 1 << 20, |_, _| {
        seen += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(seen, 3);
    let torn = report.torn.expect("torn tail reported");
    assert_eq!((torn.offset, torn.dropped), (good_len, 10));
    assert_eq!(std::fs::metadata(&seg).unwrap().len(), good_len);
    // Writing goes on from there.
    assert_eq!(wal.next_seq(), 4);
    write_records(&mut wal, 3, 4);
    drop(wal);
    let (_, seen) = open(&d.0, 0, 1 << 20).unwrap();
    assert_eq!(seen.len(), 4);
}

#[test]
fn zeros_at_the_end_are_a_torn_tail_too() {
    let d = TempDir::new("zeros");
    let (mut wal, _) = open(&d.0, 0, 1 << 20).unwrap();
    write_records(&mut wal, 0, 2);
    drop(wal);
    let seg = segments(&d.0).pop().unwrap();
    let mut f = std::fs::OpenOptions::new().append(true).open(&seg).unwrap();
    f.write_all(&[0; 4096]).unwrap();
    drop(f);
    let (_, report) = Wal::open(&d.0, 0, 1 << 20, |_, _| Ok(())).unwrap();
    assert_eq!(report.torn.unwrap().dropped, 4096);
}

#[test]
fn a_corrupt_record_elsewhere_stops_the_start_naming_file_and_offset() {
    let d = TempDir::new("corrupt");
    let (mut wal, _) = open(&d.0, 0, 1 << 20).unwrap();
    write_records(&mut wal, 0, 5);
    drop(wal);
    let seg = segments(&d.0).pop().unwrap();
    let mut data = std::fs::read(&seg).unwrap();
    // The second record: header 16 bytes, first record 8 + 8 + "record 0".len().
    let second = 16 + 8 + 8 + 8;
    data[second + 20] ^= 0xff;
    std::fs::write(&seg, &data).unwrap();
    let err = Wal::open(&d.0, 0, 1 << 20, |_, _| Ok(())).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, WalError::Corrupt { offset, .. } if offset == second as u64), "{text}");
    assert!(text.contains(&seg.display().to_string()) && text.contains("checksum mismatch"), "{text}");
    // verify says the same; repair cuts there, and the log opens again with what came before.
    let report = verify(&d.0).unwrap();
    assert!(
        report[0].problem.as_deref().unwrap().contains(&format!("corrupt at byte offset {second}")),
        "{report:?}"
    );
    let dry = repair(&d.0, false).unwrap();
    assert_eq!(dry.len(), 1);
    assert_eq!(std::fs::read(&seg).unwrap(), data, "a dry run changes nothing");
    repair(&d.0, true).unwrap();
    let (_, seen) = open(&d.0, 0, 1 << 20).unwrap();
    assert_eq!(seen.len(), 1);
    assert!(verify(&d.0).unwrap().iter().all(|r| r.problem.is_none()));
}

#[test]
fn another_format_version_is_refused_clearly() {
    let d = TempDir::new("version");
    let (mut wal, _) = open(&d.0, 0, 1 << 20).unwrap();
    write_records(&mut wal, 0, 1);
    drop(wal);
    let seg = segments(&d.0).pop().unwrap();
    let mut data = std::fs::read(&seg).unwrap();
    data[8] = 2;
    std::fs::write(&seg, &data).unwrap();
    let err = Wal::open(&d.0, 0, 1 << 20, |_, _| Ok(())).unwrap_err();
    assert!(err.to_string().contains("format version 2, but this build reads version 1"), "{err}");
}

#[test]
fn a_missing_segment_is_a_gap() {
    let d = TempDir::new("gap");
    let (mut wal, _) = open(&d.0, 0, 80).unwrap();
    for i in 0..6 {
        write_records(&mut wal, i * 2, i * 2 + 2);
    }
    drop(wal);
    let segs = segments(&d.0);
    assert!(segs.len() >= 3);
    std::fs::remove_file(&segs[1]).unwrap();
    let err = Wal::open(&d.0, 0, 80, |_, _| Ok(())).unwrap_err();
    assert!(matches!(err, WalError::Gap { .. }), "{err}");
    assert!(err.to_string().contains("a segment is missing"));
}

#[test]
fn a_failed_write_leaves_nothing_behind_and_the_log_goes_on() {
    let d = TempDir::new("fail");
    let (mut wal, _) = open(&d.0, 0, 1 << 20).unwrap();
    write_records(&mut wal, 0, 2);
    wal.append(b"lost 1");
    wal.append(b"lost 2");
    wal.fail_next_write();
    let err = wal.write().unwrap_err();
    assert!(err.to_string().contains("no space left on device"), "{err}");
    assert_eq!(wal.next_seq(), 3, "the failed batch's seqs are reused");
    write_records(&mut wal, 2, 3);
    drop(wal);
    let (_, seen) = open(&d.0, 0, 1 << 20).unwrap();
    let payloads: Vec<_> = seen.iter().map(|(s, p)| (*s, String::from_utf8(p.clone()).unwrap())).collect();
    assert_eq!(payloads, vec![(1, "record 0".into()), (2, "record 1".into()), (3, "record 2".into())]);
}

#[test]
fn snapshots_are_whole_or_absent_and_a_bad_one_falls_back_to_an_older() {
    let d = TempDir::new("snap");
    assert!(latest_snapshot(&d.0).unwrap().0.is_none());
    write_snapshot(&d.0, 10, b"state at 10").unwrap();
    let newer = write_snapshot(&d.0, 20, b"state at 20").unwrap();
    assert_eq!(latest_snapshot(&d.0).unwrap().0, Some((20, b"state at 20".to_vec())));
    let mut data = std::fs::read(&newer).unwrap();
    let last = data.len() - 1;
    data[last] ^= 1;
    std::fs::write(&newer, &data).unwrap();
    let (found, skipped) = latest_snapshot(&d.0).unwrap();
    assert_eq!(found, Some((10, b"state at 10".to_vec())));
    assert!(skipped[0].to_string().contains("checksum mismatch"));
    // Version mismatch is refused, not skipped.
    data[8] = 9;
    std::fs::write(&newer, &data).unwrap();
    assert!(latest_snapshot(&d.0).unwrap_err().to_string().contains("format version 9"));
    std::fs::remove_file(&newer).unwrap();
    // A temporary file left by a crash mid-snapshot is ignored, then cleaned up.
    std::fs::write(d.0.join("00000000000000000030.snap.tmp"), b"half").unwrap();
    assert_eq!(latest_snapshot(&d.0).unwrap().0.map(|s| s.0), Some(10));
    write_snapshot(&d.0, 40, b"state at 40").unwrap();
    remove_snapshots_before(&d.0, 40).unwrap();
    let left: Vec<_> = std::fs::read_dir(&d.0).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from("00000000000000000040.snap")]);
}

#[test]
fn a_snapshot_ahead_of_the_log_end_starts_a_new_segment() {
    // After a repair cut the log short of what the snapshot covers, records go on from the
    // snapshot's seq in a segment of their own.
    let d = TempDir::new("ahead");
    let (mut wal, _) = open(&d.0, 0, 1 << 20).unwrap();
    write_records(&mut wal, 0, 3);
    drop(wal);
    write_snapshot(&d.0, 10, b"state at 10").unwrap();
    let (mut wal, seen) = open(&d.0, 10, 1 << 20).unwrap();
    assert!(seen.is_empty());
    assert_eq!(wal.next_seq(), 11);
    write_records(&mut wal, 3, 5);
    drop(wal);
    assert_eq!(segments(&d.0).len(), 2);
    let (_, seen) = open(&d.0, 10, 1 << 20).unwrap();
    assert_eq!(seen.iter().map(|r| r.0).collect::<Vec<_>>(), vec![11, 12]);
    assert!(verify(&d.0).unwrap().iter().all(|r| r.problem.is_none()), "{:?}", verify(&d.0));
    // Without the snapshot the jump is a hole.
    std::fs::remove_file(d.0.join("00000000000000000010.snap")).unwrap();
    assert!(matches!(Wal::open(&d.0, 0, 1 << 20, |_, _| Ok(())), Err(WalError::Gap { .. })));
}
