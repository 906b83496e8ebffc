#![allow(missing_docs)] // criterion_group! generates undocumented items
//! Kernels of exec: the scheduler's conflict waves, the state root's multiset hash, and
//! one block of token transfers through the executor, native and WASM, on 1 thread (the
//! system figures with N threads are `dawn bench exec`).

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use dawn::chain::{n, Name};
use dawn::exec::lthash::LtHash;
use dawn::exec::scheduler;
use dawn::exec::wasm::WasmRuntime;
use dawn::exec::workload::{self, BlockMaker, WASM_TOKEN};
use dawn::exec::{ExecConfig, Executor};

fn kernels(c: &mut Criterion) {
    let txs: Vec<(Vec<Name>, Vec<Name>)> = (0..10_000u64)
        .map(|i| {
            let hot = i % 10 == 0;
            let a = if hot { Name(1) } else { Name(2 * i + 2) };
            (vec![], vec![a, Name(2 * i + 3)])
        })
        .collect();
    let mut g = c.benchmark_group("scheduler");
    g.throughput(Throughput::Elements(txs.len() as u64));
    g.bench_function("waves_10k_10pct_hot", |b| b.iter(|| scheduler::group(&scheduler::waves(&txs))));
    g.finish();
    let mut g = c.benchmark_group("lthash");
    g.throughput(Throughput::Elements(1));
    let key = [7u8; 32];
    let value = [9u8; 16];
    let mut acc = LtHash::default();
    g.bench_function("add_row_16b", |b| b.iter(|| acc.add_element(&[&key, &value])));
    g.finish();
}

fn transfers(c: &mut Criterion) {
    let accounts = 2_000;
    let wasm = Arc::new(WasmRuntime::new().unwrap());
    let genesis = workload::genesis(accounts);
    let mut maker = BlockMaker::new(&genesis);
    let setup: Vec<_> = workload::deploy_wasm_token(accounts).into_iter().map(|b| maker.next(b)).collect();
    let mut g = c.benchmark_group("block_1000_transfers_1_thread");
    g.throughput(Throughput::Elements(1000));
    g.sample_size(20);
    for (label, contract) in [("native", n("eosio.token")), ("wasm", WASM_TOKEN)] {
        let block = maker.clone().next(workload::transfers(contract, accounts, 1000, 0, 1));
        g.bench_function(label, |b| {
            b.iter_batched(
                || {
                    let config = ExecConfig { threads: 1, wasm: Some(wasm.clone()), ..ExecConfig::default() };
                    let mut ex = Executor::from_genesis(&genesis, config).unwrap();
                    for s in &setup {
                        ex.execute_block(s);
                    }
                    ex
                },
                |mut ex| ex.execute_block(&block),
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, kernels, transfers);
criterion_main!(benches);
