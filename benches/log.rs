#![allow(missing_docs)] // criterion_group! generates undocumented items
//! Kernels of the log engine: batch encoding and verification, checksums, appends and
//! reads on the in-memory backend (no disk noise), and on files with group commit.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use dawn::log::format::{encode_batch, records, verify_batch};
use dawn::log::storage::{Dir, MemDir};
use dawn::log::{Config, Log, Offset, SyncPolicy};

fn batch_200b(n: usize) -> Vec<Vec<u8>> {
    (0..n as u64).map(|i| dawn::log::bench::pattern_record(i, 200)).collect()
}

fn codec(c: &mut Criterion) {
    let recs = batch_200b(1000);
    let mut g = c.benchmark_group("batch_1000x200b");
    g.throughput(Throughput::Elements(1000));
    let mut buf = Vec::with_capacity(256 << 10);
    g.bench_function("encode", |b| {
        b.iter(|| {
            buf.clear();
            encode_batch(0, 0, &recs, &mut buf)
        })
    });
    buf.clear();
    encode_batch(0, 0, &recs, &mut buf);
    g.bench_function("verify_frame", |b| b.iter(|| verify_batch(&buf).unwrap()));
    g.bench_function("verify_records", |b| {
        let v = verify_batch(&buf).unwrap();
        b.iter(|| records(&buf, &v.header).map(|r| r.unwrap().len()).sum::<usize>())
    });
    g.finish();
    let mut g = c.benchmark_group("checksum_64k");
    let data = vec![7u8; 64 << 10];
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("xxh3_64", |b| b.iter(|| xxhash_rust::xxh3::xxh3_64(&data)));
    g.finish();
}

fn engine(c: &mut Criterion) {
    let recs = batch_200b(1000);
    let mut g = c.benchmark_group("log_memory");
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("append_10x1000x200b", |b| {
        b.iter_batched(
            || {
                Log::open(
                    Arc::new(MemDir::new()) as Arc<dyn Dir>,
                    Config { sync: SyncPolicy::Never, ..Config::default() },
                )
                .unwrap()
            },
            |log| {
                for _ in 0..10 {
                    log.append(&recs).unwrap();
                }
                log
            },
            BatchSize::PerIteration,
        )
    });
    let log = Log::open(
        Arc::new(MemDir::new()) as Arc<dyn Dir>,
        Config { sync: SyncPolicy::Never, segment_bytes_max: 1 << 20, ..Config::default() },
    )
    .unwrap();
    for _ in 0..20 {
        log.append(&recs).unwrap();
    }
    g.throughput(Throughput::Elements(1000));
    g.bench_function("read_1000x200b_sealed", |b| {
        b.iter(|| log.read(Offset(5000), 1000, usize::MAX).unwrap().len())
    });
    g.finish();

    let tmp = tempfile::tempdir_in(".").unwrap();
    let log = Log::open_path(tmp.path(), Config { sync: SyncPolicy::Always, ..Config::default() }).unwrap();
    let mut g = c.benchmark_group("log_file");
    g.throughput(Throughput::Elements(1000));
    g.sample_size(20);
    g.bench_function("append_1000x200b_durable", |b| {
        b.iter(|| {
            let a = log.append(&recs).unwrap();
            log.wait_durable_blocking(a.last()).unwrap();
        })
    });
    g.finish();
}

criterion_group!(benches, codec, engine);
criterion_main!(benches);
