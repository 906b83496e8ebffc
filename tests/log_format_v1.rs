//! Files written by format version 1, committed under tests/data/log-v1, must stay
//! readable by every later build. Regenerate (only when adding a new format version's
//! files, never to paper over a change) with `DAWN_BLESS=1 cargo test --test log_format_v1`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dawn::log::bench::pattern_record;
use dawn::log::inspect::inspect;
use dawn::log::storage::{Dir, FileDir, MemDir};
use dawn::log::{Config, Log, Offset};

const RECORDS: u64 = 100;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/log-v1")
}

fn len(i: u64) -> usize {
    (i as usize * 7) % 90
}

fn generate(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let log = Log::open(Arc::new(FileDir::existing(dir).unwrap()) as Arc<dyn Dir>, Config::tiny()).unwrap();
    let mut i = 0;
    while i < RECORDS {
        let batch: Vec<Vec<u8>> =
            (i..(i + 1 + i % 3).min(RECORDS)).map(|j| pattern_record(j, len(j))).collect();
        let a = log.append(&batch).unwrap();
        log.wait_durable_blocking(a.last()).unwrap();
        i += batch.len() as u64;
    }
    let mut stream = Vec::new();
    log.export_segment(Offset(0), &mut stream, 3).unwrap();
    log.close().unwrap();
    std::fs::write(dir.join("first-segment.ship"), stream).unwrap();
}

#[test]
fn version_1_files_still_read() {
    let src = data_dir();
    if std::env::var_os("DAWN_BLESS").is_some() {
        generate(&src);
    }
    // Work on a copy: opening a log may create a lock file.
    let files: std::collections::BTreeMap<String, Vec<u8>> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".seg"))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
        .collect();
    assert!(files.len() >= 3, "expected several committed segments");
    let dir = MemDir::from_files(files);
    let report = inspect(&dir).unwrap();
    assert!(report.is_ok(), "{report:?}");
    let log = Log::open(Arc::new(dir) as Arc<dyn Dir>, Config::tiny()).unwrap();
    assert_eq!(log.durable_end().0, RECORDS);
    assert!(log.recovery_report().truncated.is_empty());
    for i in 0..RECORDS {
        assert_eq!(&log.get(Offset(i)).unwrap().data[..], &pattern_record(i, len(i))[..], "record {i}");
    }
    let stream = std::fs::read(src.join("first-segment.ship")).unwrap();
    let fresh = Log::open(Arc::new(MemDir::new()) as Arc<dyn Dir>, Config::tiny()).unwrap();
    let s = fresh.import_segment(&stream[..]).unwrap();
    assert_eq!(s.base_offset, 0);
    for i in 0..s.records {
        assert_eq!(&fresh.get(Offset(i)).unwrap().data[..], &pattern_record(i, len(i))[..]);
    }
}
