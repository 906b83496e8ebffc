#![allow(missing_docs)] // criterion_group! generates undocumented items
//! Kernels of publish on one block of 200 executed token transfers: decoding it from its
//! chain and results records (once per block, shared by all subscribers), encoding its
//! transaction messages (once per block and projection), evaluating a filter over it (per
//! subscriber), and a client decoding a frame of its messages. The system figures (QUIC
//! fan-out to many subscribers) are `dawn bench publish`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dawn::chain::BlockNum;
use dawn::log::Offset;
use dawn::node::publish_bench::{executed_logs, sender_filter};
use dawn::publish::feed::FeedBlock;
use dawn::publish::protocol::decode_messages;
use dawn::publish::Projection;

const PER_BLOCK: usize = 200;

fn kernels(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let logs = executed_logs(dir.path(), 1, PER_BLOCK).unwrap();
    let chain = logs.chain.get(Offset(0)).unwrap().data;
    let results = logs.results.get(Offset(0)).unwrap().data;
    let mut g = c.benchmark_group("publish_block_200_transfers");
    g.throughput(Throughput::Elements(PER_BLOCK as u64));
    g.bench_function("decode", |b| b.iter(|| FeedBlock::decode(BlockNum(1), &chain, &results).unwrap()));
    g.bench_function("encode_full_messages", |b| {
        b.iter_batched(
            || FeedBlock::decode(BlockNum(1), &chain, &results).unwrap(),
            |block| (0..PER_BLOCK).map(|i| block.tx_message(i, Projection::Full).len()).sum::<usize>(),
            criterion::BatchSize::LargeInput,
        )
    });
    let block = FeedBlock::decode(BlockNum(1), &chain, &results).unwrap();
    let mut filter = sender_filter(10);
    filter.normalize().unwrap();
    g.bench_function("filter_10pct", |b| b.iter(|| block.facts.iter().filter(|f| filter.matches(f)).count()));
    // A `Messages` body as the client reads it: the count, then the messages.
    let mut body = (PER_BLOCK as u32).to_le_bytes().to_vec();
    (0..PER_BLOCK).for_each(|i| body.extend_from_slice(block.tx_message(i, Projection::Full)));
    g.bench_function("client_decode_frame", |b| b.iter(|| decode_messages(&body).unwrap().len()));
    g.finish();
}

criterion_group!(benches, kernels);
criterion_main!(benches);
