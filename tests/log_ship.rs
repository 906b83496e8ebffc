//! Segment shipping: export sealed segments, import them elsewhere after verification.

use dawn::log::{Config, ImportError, Log, Offset};

fn config() -> Config {
    Config { segment_bytes_max: 16 << 10, ..Config::default() }
}

fn rec(i: u64) -> Vec<u8> {
    format!("transfer {i} from alice to bob, memo: fast-sync test payload").into_bytes()
}

fn source(n: u64) -> (tempfile::TempDir, Log) {
    let tmp = tempfile::tempdir().unwrap();
    let log = Log::open_path(tmp.path(), config()).unwrap();
    for chunk in (0..n).collect::<Vec<_>>().chunks(17) {
        let batch: Vec<Vec<u8>> = chunk.iter().map(|&i| rec(i)).collect();
        let a = log.append(&batch).unwrap();
        log.wait_durable_blocking(a.last()).unwrap();
    }
    (tmp, log)
}

fn export(log: &Log, base: Offset) -> Vec<u8> {
    let mut out = Vec::new();
    let s = log.export_segment(base, &mut out, 3).unwrap();
    assert_eq!(s.stream_bytes as usize, out.len());
    assert!(s.stream_bytes < s.segment_bytes, "zstd should shrink repetitive records");
    out
}

#[test]
fn every_sealed_segment_ships_and_the_copy_continues() {
    let (_t, src) = source(3000);
    let sealed: Vec<_> = src.segments().into_iter().filter(|s| s.sealed).collect();
    assert!(sealed.len() >= 3);
    let dst_dir = tempfile::tempdir().unwrap();
    let dst = Log::open_path(dst_dir.path(), config()).unwrap();
    for s in &sealed {
        let stream = export(&src, s.base);
        let got = dst.import_segment(&stream[..]).unwrap();
        assert_eq!(got.base_offset, s.base.0);
        assert_eq!(got.records, s.records);
    }
    let end = sealed.last().map(|s| s.base.0 + s.records).unwrap();
    assert_eq!(dst.durable_end().0, end);
    for i in 0..end {
        assert_eq!(&dst.get(Offset(i)).unwrap().data[..], &rec(i)[..]);
    }
    // The copy's chain matches the source's, segment by segment.
    let dst_sealed: Vec<_> = dst.segments().into_iter().filter(|s| s.sealed).collect();
    assert_eq!(
        dst_sealed.iter().map(|s| s.chain).collect::<Vec<_>>(),
        sealed.iter().map(|s| s.chain).collect::<Vec<_>>()
    );
    // It takes appends after the imported history, and survives a reopen.
    let a = dst.append(&[rec(end)]).unwrap();
    assert_eq!(a.first.0, end);
    dst.wait_durable_blocking(a.last()).unwrap();
    drop(dst);
    let dst = Log::open_path(dst_dir.path(), config()).unwrap();
    assert_eq!(dst.durable_end().0, end + 1);
}

#[test]
fn a_new_node_starts_from_any_segment() {
    let (_t, src) = source(3000);
    let sealed: Vec<_> = src.segments().into_iter().filter(|s| s.sealed).collect();
    let dst_dir = tempfile::tempdir().unwrap();
    let dst = Log::open_path(dst_dir.path(), config()).unwrap();
    dst.import_segment(&export(&src, sealed[1].base)[..]).unwrap();
    assert_eq!(dst.oldest_offset(), sealed[1].base);
    // The next one must follow exactly.
    assert!(matches!(
        dst.import_segment(&export(&src, sealed[0].base)[..]),
        Err(ImportError::NotContiguous { .. })
    ));
    dst.import_segment(&export(&src, sealed[2].base)[..]).unwrap();
}

#[test]
fn damaged_or_foreign_streams_are_rejected_and_change_nothing() {
    let (_t, src) = source(3000);
    let sealed: Vec<_> = src.segments().into_iter().filter(|s| s.sealed).collect();
    let dst_dir = tempfile::tempdir().unwrap();
    let dst = Log::open_path(dst_dir.path(), config()).unwrap();
    dst.import_segment(&export(&src, sealed[0].base)[..]).unwrap();
    let before = dst.segments();
    let good = export(&src, sealed[1].base);

    // A flipped byte anywhere: header, or compressed body.
    for pos in [3, 20, 70, good.len() / 2, good.len() - 2] {
        let mut bad = good.clone();
        bad[pos] ^= 0x01;
        let err = dst.import_segment(&bad[..]).unwrap_err();
        assert!(matches!(err, ImportError::BadStream(_) | ImportError::Verification(_)), "byte {pos}: {err}");
    }
    // Truncated streams.
    for cut in [0, 10, 72, good.len() - 1] {
        assert!(dst.import_segment(&good[..cut]).is_err(), "cut at {cut}");
    }
    // A segment from another history at the right offset: the chain does not match.
    let other_dir = tempfile::tempdir().unwrap();
    let other = Log::open_path(other_dir.path(), config()).unwrap();
    for chunk in (0..3000u64).collect::<Vec<_>>().chunks(17) {
        let batch: Vec<Vec<u8>> = chunk
            .iter()
            .map(|&i| format!("other {i} ........................................").into_bytes())
            .collect();
        let a = other.append(&batch).unwrap();
        other.wait_durable_blocking(a.last()).unwrap();
    }
    let other_seg = other.segments().into_iter().find(|s| s.sealed && s.base == sealed[1].base);
    if let Some(seg) = other_seg {
        let err = dst.import_segment(&export(&other, seg.base)[..]).unwrap_err();
        assert!(matches!(err, ImportError::ChainMismatch { .. }), "{err}");
    }
    assert_eq!(dst.segments(), before, "a rejected import changed the log");
    assert!(std::fs::read_dir(dst_dir.path()).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .ends_with(".tmp")));
    // The good one still goes in.
    dst.import_segment(&good[..]).unwrap();
}

#[test]
fn import_needs_an_empty_active_segment() {
    let (_t, src) = source(3000);
    let sealed: Vec<_> = src.segments().into_iter().filter(|s| s.sealed).collect();
    let dst_dir = tempfile::tempdir().unwrap();
    let dst = Log::open_path(dst_dir.path(), config()).unwrap();
    dst.import_segment(&export(&src, sealed[0].base)[..]).unwrap();
    let a = dst.append(&[b"local record"]).unwrap();
    dst.wait_durable_blocking(a.last()).unwrap();
    assert!(matches!(
        dst.import_segment(&export(&src, sealed[1].base)[..]),
        Err(ImportError::ActiveNotEmpty { records: 1, .. })
    ));
}

#[test]
fn only_sealed_segments_export() {
    let (_t, src) = source(10);
    let err = src.export_segment(Offset(0), Vec::new(), 1).unwrap_err();
    assert!(matches!(err, dawn::log::ExportError::NoSuchSegment { .. }), "{err}");
}
