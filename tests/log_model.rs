//! Property test: random sequences of appends, reads, reopens, rolls and prunes on a tiny
//! configuration match a plain in-memory model.

use std::sync::Arc;

use dawn::log::storage::{Dir, MemDir};
use dawn::log::{Config, Log, Offset, ReadError, Retention};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Append(Vec<Vec<u8>>),
    Read { at: u16, max: u8 },
    Reopen,
    Roll,
    Prune(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..=3).prop_map(Op::Append),
        3 => (any::<u16>(), 1u8..8).prop_map(|(at, max)| Op::Read { at, max }),
        1 => Just(Op::Reopen),
        1 => Just(Op::Roll),
        1 => any::<u16>().prop_map(Op::Prune),
    ]
}

fn check_all(log: &Log, model: &[Vec<u8>], oldest: u64) {
    assert_eq!(log.durable_end().0, model.len() as u64);
    assert_eq!(log.oldest_offset().0, oldest);
    let mut next = oldest;
    while next < model.len() as u64 {
        let recs = log.read(Offset(next), 5, usize::MAX).unwrap();
        assert!(!recs.is_empty());
        for r in recs {
            assert_eq!(r.offset.0, next);
            assert_eq!(&r.data[..], &model[next as usize][..], "record {next}");
            next += 1;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn log_matches_model(ops in prop::collection::vec(op(), 1..120), retain in prop::option::of(2usize..5)) {
        let dir = MemDir::new();
        let config = Config { retention: Retention { segments_max: retain, bytes_max: None }, ..Config::tiny() };
        let open = |d: &MemDir| Log::open(Arc::new(d.clone()) as Arc<dyn Dir>, config.clone()).unwrap();
        let mut log = open(&dir);
        let mut model: Vec<Vec<u8>> = Vec::new();
        let mut oldest = 0u64;
        for op in ops {
            match op {
                Op::Append(batch) => {
                    let a = log.append(&batch).unwrap();
                    prop_assert_eq!(a.first.0, model.len() as u64);
                    prop_assert_eq!(a.count as usize, batch.len());
                    log.wait_durable_blocking(a.last()).unwrap();
                    model.extend(batch);
                }
                Op::Read { at, max } => {
                    let end = model.len() as u64;
                    let from = u64::from(at) % (end + 2);
                    match log.read(Offset(from), max as usize, usize::MAX) {
                        Ok(recs) => {
                            prop_assert!(from >= oldest);
                            let want = (end.saturating_sub(from)).min(u64::from(max));
                            prop_assert_eq!(recs.len() as u64, want);
                            for (i, r) in recs.iter().enumerate() {
                                prop_assert_eq!(r.offset.0, from + i as u64);
                                prop_assert_eq!(&r.data[..], &model[(from + i as u64) as usize][..]);
                            }
                        }
                        Err(ReadError::Pruned { offset, oldest: o }) => {
                            prop_assert!(from < oldest);
                            prop_assert_eq!(offset.0, from);
                            prop_assert_eq!(o.0, oldest);
                        }
                        Err(ReadError::PastEnd { .. }) => prop_assert!(from > end),
                        Err(e) => prop_assert!(false, "unexpected error {e}"),
                    }
                }
                Op::Reopen => {
                    drop(log);
                    log = open(&dir);
                    prop_assert!(log.recovery_report().truncated.is_empty());
                }
                Op::Roll => log.roll().unwrap(),
                Op::Prune(at) => {
                    let below = u64::from(at) % (model.len() as u64 + 2);
                    log.prune_below(Offset(below)).unwrap();
                    let new_oldest = log.oldest_offset().0;
                    prop_assert!(new_oldest >= oldest);
                    prop_assert!(new_oldest <= below.max(oldest) || new_oldest == log.segments().last().unwrap().base.0);
                }
            }
            // Retention and pruning only ever move the oldest offset forward.
            let o = log.oldest_offset().0;
            prop_assert!(o >= oldest);
            oldest = o;
            if let Some(max) = retain {
                prop_assert!(log.segments().len() <= max);
            }
        }
        check_all(&log, &model, oldest);
        drop(log);
        let log = open(&dir);
        check_all(&log, &model, oldest);
    }
}

/// A future that awaits `$next` (a tail read) until the log is closed, collecting each
/// result; any other error fails the test.
macro_rules! until_closed {
    ($next:expr) => {
        async {
            let mut got = Vec::new();
            loop {
                match $next.await {
                    Ok(x) => got.push(x),
                    Err(ReadError::Closed) => break,
                    Err(e) => panic!("{e}"),
                }
            }
            got
        }
    };
}

/// Appends records 0..n (each its index, little-endian) on another thread, each waited
/// durable, then closes the log.
fn append_then_close(log: &Log, n: u32) -> std::thread::JoinHandle<()> {
    let log = log.clone();
    std::thread::spawn(move || {
        for i in 0..n {
            let a = log.append(&[i.to_le_bytes()]).unwrap();
            log.wait_durable_blocking(a.last()).unwrap();
        }
        log.close().unwrap();
    })
}

#[test]
fn tail_follows_appends_from_another_thread() {
    let log = Log::open(Arc::new(MemDir::new()), Config::tiny()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let writer = append_then_close(&log, 200);
    let mut tail = log.tail(Offset(0));
    let got: Vec<_> =
        rt.block_on(until_closed!(tail.next_batch(7, usize::MAX))).into_iter().flatten().collect();
    writer.join().unwrap();
    assert_eq!(got.len(), 200);
    for (i, r) in got.iter().enumerate() {
        assert_eq!(r.offset.0, i as u64);
        assert_eq!(&r.data[..], &(i as u32).to_le_bytes());
    }
}

#[test]
fn tail_offsets_follow_appends_without_reading() {
    let log = Log::open(Arc::new(MemDir::new()), Config::tiny()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let writer = append_then_close(&log, 100);
    let mut tail = log.tail(Offset(0));
    let ranges = rt.block_on(until_closed!(tail.next_offsets(7)));
    writer.join().unwrap();
    // Consecutive, each at most 7 and at least 1, covering every record once; each durable.
    let mut next = 0;
    for r in &ranges {
        assert_eq!(r.start.0, next);
        assert!(r.end.0 > r.start.0 && r.end.0 - r.start.0 <= 7, "{r:?}");
        next = r.end.0;
    }
    assert_eq!(next, 100);
    assert_eq!(tail.position().0, 100);
    assert_eq!(&log.get(Offset(99)).unwrap().data[..], &99u32.to_le_bytes());
}

#[test]
fn append_limits_are_enforced_and_change_nothing() {
    let log = Log::open(Arc::new(MemDir::new()), Config::tiny()).unwrap();
    let empty: [&[u8]; 0] = [];
    assert!(matches!(log.append(&empty), Err(dawn::log::AppendError::Empty)));
    assert!(matches!(
        log.append(&[vec![0u8; 1025]]),
        Err(dawn::log::AppendError::RecordTooLarge { index: 0, len: 1025, max: 1024 })
    ));
    assert!(matches!(
        log.append(&[b"a", b"b", b"c", b"d"]),
        Err(dawn::log::AppendError::BatchTooLarge { records: 4, .. })
    ));
    assert_eq!(log.next_offset().0, 0);
    let a = log.append(&[b"ok"]).unwrap();
    assert_eq!(a.first.0, 0);
}

#[test]
fn canary_the_model_check_can_fail() {
    // A wrong model must be caught: proves `check_all` compares contents.
    let log = Log::open(Arc::new(MemDir::new()), Config::tiny()).unwrap();
    let a = log.append(&[b"x"]).unwrap();
    log.wait_durable_blocking(a.last()).unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check_all(&log, &[b"y".to_vec()], 0)));
    assert!(r.is_err());
}

/// Tiny segments, synced on a timer of `ms` milliseconds.
fn interval_sync(ms: u64) -> Config {
    Config { sync: dawn::log::SyncPolicy::Interval(std::time::Duration::from_millis(ms)), ..Config::tiny() }
}

#[test]
fn interval_policy_shares_one_sync_among_many_appends() {
    let log = Log::open(Arc::new(MemDir::new()), interval_sync(300)).unwrap();
    let mut last = None;
    for i in 0..40u32 {
        last = Some(log.append(&[i.to_le_bytes()]).unwrap());
    }
    log.wait_durable_blocking(last.unwrap().last()).unwrap();
    // Tiny segments roll (and fsync) on their own; the timer adds at most a couple more.
    let rolls = log.segments().len() as u64;
    assert!(log.stats().syncs <= 2, "{} syncs for 40 appends and {rolls} segments", log.stats().syncs);
}

#[test]
fn a_log_pruned_to_nothing_continues_its_offsets() {
    let dir = MemDir::new();
    let log = Log::open(Arc::new(dir.clone()), Config::tiny()).unwrap();
    for i in 0..30u32 {
        let a = log.append(&[vec![i as u8; 200]]).unwrap();
        log.wait_durable_blocking(a.last()).unwrap();
    }
    log.roll().unwrap();
    let mut stream = Vec::new();
    log.export_segment(Offset(0), &mut stream, 1).unwrap();
    log.prune_below(Offset(30)).unwrap();
    assert_eq!(log.oldest_offset(), Offset(30));
    assert_eq!(log.segments().len(), 1);
    // The first segment again, at offsets this log has already handed out: refused.
    assert!(matches!(log.import_segment(&stream[..]), Err(dawn::log::ImportError::NotContiguous { .. })));
    assert_eq!(log.next_offset(), Offset(30));
}

#[test]
fn many_readers_beside_one_writer_see_a_consistent_prefix() {
    let tmp = tempfile::tempdir().unwrap();
    let config = Config { segment_bytes_max: 32 << 10, ..Config::default() };
    let log = Log::open_path(tmp.path(), config).unwrap();
    let total = 5_000u64;
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut i = 0u64;
            while i < total {
                let batch: Vec<Vec<u8>> =
                    (i..(i + 7).min(total)).map(|j| j.to_le_bytes().repeat(3)).collect();
                let a = log.append(&batch).unwrap();
                i += u64::from(a.count);
            }
            log.close().unwrap();
        });
        for reader in 0..4u64 {
            let log = &log;
            s.spawn(move || {
                let mut next = 0;
                while next < total {
                    // Whatever a reader sees is durable, in order, and intact.
                    for r in log.read(Offset(next), 10 + reader as usize * 13, usize::MAX).unwrap() {
                        assert_eq!(r.offset.0, next);
                        assert_eq!(&r.data[..], &next.to_le_bytes().repeat(3)[..]);
                        next += 1;
                    }
                    std::thread::yield_now();
                }
            });
        }
    });
}

/// A decoded value left by the writer is seen exactly when the record is: once durable
/// and until pruned, and only as the type it was kept as.
#[test]
fn decoded_records_follow_the_records_visibility() {
    let log = Log::open(Arc::new(MemDir::new()), interval_sync(60_000)).unwrap();
    let a = log.append_decoded(b"seven".to_vec(), Arc::new(7u32)).unwrap();
    assert!(log.decoded::<u32>(a.first).is_none(), "not durable yet");
    assert!(matches!(log.get(a.first), Err(ReadError::PastEnd { .. })), "nor is the record");
    log.roll().unwrap();
    let (v, len) = log.decoded::<u32>(a.first).expect("durable now");
    assert_eq!((*v, len), (7, 5));
    assert_eq!(&log.get(a.first).unwrap().data[..], b"seven", "the record itself is appended");
    assert!(log.decoded::<String>(a.first).is_none(), "kept as another type");
    let b = log.append(&[b"eight".to_vec()]).unwrap();
    log.roll().unwrap();
    assert!(log.decoded::<u32>(b.first).is_none(), "durable, but appended without a value");
    log.prune_below(b.first).unwrap();
    assert!(log.decoded::<u32>(a.first).is_none(), "pruned with its record");
}
