//! Corruption tests on real files: each kind of damage gives its documented outcome.

use std::fs;
use std::path::Path;

use dawn::log::inspect::{inspect, Verdict};
use dawn::log::storage::FileDir;
use dawn::log::{Config, Log, Offset, OpenError, ReadError};

fn small_config() -> Config {
    Config { segment_bytes_max: 8192, index_interval_bytes: 512, ..Config::default() }
}

/// A log of `n` records (offset i holds `rec(i)`), closed; returns the segment paths.
fn make_log(dir: &Path, n: u64) -> Vec<std::path::PathBuf> {
    let log = Log::open_path(dir, small_config()).unwrap();
    for i in 0..n {
        let a = log.append(&[rec(i)]).unwrap();
        log.wait_durable_blocking(a.last()).unwrap();
    }
    log.close().unwrap();
    drop(log);
    segments(dir)
}

fn segments(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    v.sort();
    v
}

fn rec(i: u64) -> Vec<u8> {
    format!("record number {i:08} with some padding to make it longer").into_bytes()
}

fn flip(path: &Path, pos: u64) {
    let mut b = fs::read(path).unwrap();
    b[pos as usize] ^= 0x10;
    fs::write(path, b).unwrap();
}

#[test]
fn flipped_byte_in_a_sealed_segment_is_found_on_read_and_by_inspect() {
    let tmp = tempfile::tempdir().unwrap();
    let segs = make_log(tmp.path(), 400);
    assert!(segs.len() >= 3);
    // Byte 64 + 40 + 12 + 5: inside the first record's data.
    flip(&segs[0], 64 + 40 + 12 + 5);
    // Opening is O(tail): the sealed segment's body is not read, so open succeeds...
    let log = Log::open_path(tmp.path(), small_config()).unwrap();
    // ...but reading the damaged record names the file and byte, never skips it.
    match log.read(Offset(0), 10, usize::MAX) {
        Err(ReadError::Corrupt { location, detail }) => {
            assert!(location.file.ends_with("00000000000000000000.seg"), "{location}");
            assert_eq!(location.pos, 64);
            assert!(detail.contains("record 0"), "{detail}");
        }
        other => panic!("expected a corruption error, got {other:?}"),
    }
    // Records in other segments still read.
    assert_eq!(&log.get(Offset(399)).unwrap().data[..], &rec(399)[..]);
    // Export refuses to ship it.
    assert!(matches!(
        log.export_segment(Offset(0), Vec::new(), 1),
        Err(dawn::log::ExportError::Corrupt { .. })
    ));
    drop(log);
    let report = inspect(&FileDir::existing(tmp.path()).unwrap()).unwrap();
    assert!(!report.is_ok());
    assert!(matches!(report.segments[0].verdict, Verdict::Corrupt { .. }));
    assert!(report.segments[1..].iter().all(|s| s.verdict == Verdict::Ok));
}

#[test]
fn damaged_seal_footer_before_the_last_segment_refuses_to_open() {
    let tmp = tempfile::tempdir().unwrap();
    let segs = make_log(tmp.path(), 400);
    let len = fs::metadata(&segs[0]).unwrap().len();
    flip(&segs[0], len - 20);
    match Log::open_path(tmp.path(), small_config()) {
        Err(OpenError::Corrupt { location, detail }) => {
            assert!(location.file.ends_with("00000000000000000000.seg"));
            assert!(detail.contains("no valid seal"), "{detail}");
        }
        other => panic!("expected refusal, got {other:?}"),
    }
}

#[test]
fn truncated_tail_is_cut_and_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let segs = make_log(tmp.path(), 100);
    let last = segs.last().unwrap();
    let len = fs::metadata(last).unwrap().len();
    let f = fs::OpenOptions::new().write(true).open(last).unwrap();
    f.set_len(len - 7).unwrap();
    drop(f);
    let before = inspect(&FileDir::existing(tmp.path()).unwrap()).unwrap();
    assert!(before.is_ok(), "a torn tail is repaired on open, not refused");
    assert!(matches!(before.segments.last().unwrap().verdict, Verdict::TornTail { .. }));
    let log = Log::open_path(tmp.path(), small_config()).unwrap();
    let rep = log.recovery_report();
    assert_eq!(rep.truncated.len(), 1);
    let (_, _, cut, _) = &rep.truncated[0];
    assert!(*cut > 0);
    assert_eq!(log.durable_end().0, 99, "only the torn last record is lost");
    for i in 0..99 {
        assert_eq!(&log.get(Offset(i)).unwrap().data[..], &rec(i)[..]);
    }
    let a = log.append(&[rec(99)]).unwrap();
    assert_eq!(a.first.0, 99);
    log.wait_durable_blocking(a.last()).unwrap();
    drop(log);
    let report = inspect(&FileDir::existing(tmp.path()).unwrap()).unwrap();
    assert!(report.segments.iter().all(|s| s.verdict == Verdict::Ok));
}

#[test]
fn garbage_files_in_the_directory() {
    let tmp = tempfile::tempdir().unwrap();
    make_log(tmp.path(), 50);
    // A file that is not a segment: ignored, reported.
    fs::write(tmp.path().join("notes.txt"), b"hello").unwrap();
    // A leftover import: removed.
    fs::write(tmp.path().join("00000000000000099999.seg.tmp"), b"partial").unwrap();
    let log = Log::open_path(tmp.path(), small_config()).unwrap();
    assert_eq!(log.recovery_report().ignored, vec!["notes.txt".to_string()]);
    assert_eq!(log.recovery_report().removed, vec!["00000000000000099999.seg.tmp".to_string()]);
    assert_eq!(log.durable_end().0, 50);
    drop(log);
    // Garbage under a segment name, after the last segment, longer than a header: refused.
    let garbage = tmp.path().join("00000000000000099999.seg");
    fs::write(&garbage, vec![0xAB; 500]).unwrap();
    // The refusal names the first file that breaks the rules: here the active segment,
    // which would no longer be last; inspect names the garbage file itself.
    assert!(matches!(Log::open_path(tmp.path(), small_config()), Err(OpenError::Corrupt { .. })));
    let report = inspect(&FileDir::existing(tmp.path()).unwrap()).unwrap();
    let bad = report.segments.iter().find(|s| s.name == "00000000000000099999.seg").unwrap();
    assert!(matches!(&bad.verdict, Verdict::Corrupt { why, .. } if why.contains("header")));
    fs::remove_file(&garbage).unwrap();
    // A short file where the next segment would be created after a seal: an interrupted
    // segment creation. It cannot hold a record, so it is removed and made anew.
    let log = Log::open_path(tmp.path(), small_config()).unwrap();
    log.roll().unwrap();
    let active = log.segments().last().unwrap().name.clone();
    drop(log);
    fs::write(tmp.path().join(&active), vec![0xAB; 30]).unwrap();
    let log = Log::open_path(tmp.path(), small_config()).unwrap();
    assert_eq!(log.recovery_report().removed, vec![active.clone()]);
    assert_eq!(log.recovery_report().created, Some(active));
    assert_eq!(log.durable_end().0, 50);
}

#[test]
fn wrong_segment_header_refuses_to_open() {
    for (what, pos) in [("magic", 0u64), ("version", 8), ("base offset", 16)] {
        let tmp = tempfile::tempdir().unwrap();
        let segs = make_log(tmp.path(), 400);
        flip(&segs[1], pos);
        match Log::open_path(tmp.path(), small_config()) {
            Err(OpenError::Corrupt { location, detail }) => {
                assert_eq!(location.file, segs[1].display().to_string(), "{what}");
                assert!(detail.contains("header"), "{what}: {detail}");
            }
            other => panic!("{what}: expected refusal, got {other:?}"),
        }
        let report = inspect(&FileDir::existing(tmp.path()).unwrap()).unwrap();
        assert!(!report.is_ok(), "{what}");
    }
}

#[test]
fn a_missing_middle_segment_is_a_gap() {
    let tmp = tempfile::tempdir().unwrap();
    let segs = make_log(tmp.path(), 400);
    fs::remove_file(&segs[1]).unwrap();
    match Log::open_path(tmp.path(), small_config()) {
        Err(OpenError::Corrupt { detail, .. }) => assert!(detail.contains("does not continue"), "{detail}"),
        other => panic!("expected refusal, got {other:?}"),
    }
}

#[test]
fn damage_to_fsynced_data_in_the_active_segment_refuses_to_open() {
    let tmp = tempfile::tempdir().unwrap();
    let segs = make_log(tmp.path(), 20);
    assert_eq!(segs.len(), 1);
    // The first batch was fsynced before later batches were written (they record it).
    flip(&segs[0], 64 + 40 + 12 + 3);
    match Log::open_path(tmp.path(), small_config()) {
        Err(OpenError::Corrupt { location, detail }) => {
            assert_eq!(location.pos, 64);
            assert!(detail.contains("fsynced"), "{detail}");
        }
        other => panic!("expected refusal, got {other:?}"),
    }
    // The directory is untouched: the damage is still there for an operator to look at.
    assert!(!inspect(&FileDir::existing(tmp.path()).unwrap()).unwrap().is_ok());
}

#[test]
fn pruned_offsets_give_the_oldest_kept() {
    let tmp = tempfile::tempdir().unwrap();
    make_log(tmp.path(), 400);
    let log = Log::open_path(tmp.path(), small_config()).unwrap();
    let removed = log.prune_below(Offset(250)).unwrap();
    assert!(!removed.is_empty());
    let oldest = log.oldest_offset();
    assert!(oldest.0 <= 250 && oldest.0 > 0);
    match log.read(Offset(0), 1, usize::MAX) {
        Err(ReadError::Pruned { offset, oldest: o }) => {
            assert_eq!(offset, Offset(0));
            assert_eq!(o, oldest);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(&log.get(oldest).unwrap().data[..], &rec(oldest.0)[..]);
    drop(log);
    let log = Log::open_path(tmp.path(), small_config()).unwrap();
    assert_eq!(log.oldest_offset(), oldest);
}

#[test]
fn a_second_process_cannot_open_the_same_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let _log = Log::open_path(tmp.path(), small_config()).unwrap();
    assert!(matches!(Log::open_path(tmp.path(), small_config()), Err(OpenError::Locked { .. })));
}
