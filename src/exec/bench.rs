//! `dawn bench exec`: pre-built blocks of token transfers executed by the real executor,
//! native and WASM, over disjoint account pairs and over a mix where a share of the
//! transfers touches one hot account, on 1 thread and on N. Every transfer must execute
//! before a figure is printed. The baselines are the same workloads on one thread in the
//! same run (speedups), and native against WASM (what the VM costs).

use std::sync::Arc;
use std::time::Instant;

use anyhow::bail;
use serde::Serialize;

use crate::chain::{n, Name, SignedBlock, TransactionStatus};
use crate::log::bench::bar;

use super::wasm::WasmRuntime;
use super::workload::{self, BlockMaker, WASM_TOKEN};
use super::{ExecConfig, Executor};

/// Sizes of one run.
#[derive(Debug, Clone, Copy)]
pub struct ExecPlan {
    /// Transfers per measurement.
    pub transfers: usize,
    /// Accounts (half as many disjoint pairs).
    pub accounts: usize,
    /// Transfers per block.
    pub block: usize,
    /// Threads of the parallel runs.
    pub threads: usize,
    /// Percent of transfers touching the hot account, in the hot workload.
    pub hot_percent: u32,
    /// Rounds per figure (the median is reported).
    pub rounds: usize,
}

/// The figures printed by `dawn bench exec --json`.
#[derive(Debug, Clone, Serialize)]
pub struct ExecReport {
    /// Native token, disjoint pairs, 1 thread.
    pub native_transfers_per_s_1t: f64,
    /// Native token, disjoint pairs, N threads.
    pub native_transfers_per_s_nt: f64,
    /// WASM token, disjoint pairs, 1 thread.
    pub wasm_transfers_per_s_1t: f64,
    /// WASM token, disjoint pairs, N threads.
    pub wasm_transfers_per_s_nt: f64,
    /// WASM token, hot mix, 1 thread.
    pub wasm_hot_transfers_per_s_1t: f64,
    /// WASM token, hot mix, N threads.
    pub wasm_hot_transfers_per_s_nt: f64,
    /// Native token, hot mix, 1 thread.
    pub native_hot_transfers_per_s_1t: f64,
    /// Native token, hot mix, N threads.
    pub native_hot_transfers_per_s_nt: f64,
    /// N.
    pub threads: usize,
    /// WASM, disjoint: N threads over 1.
    pub speedup_disjoint: f64,
    /// WASM, hot mix: N threads over 1.
    pub speedup_hot: f64,
    /// Native, disjoint: N threads over 1.
    pub native_speedup_disjoint: f64,
    /// Native, hot mix: N threads over 1.
    pub native_speedup_hot: f64,
    /// Native over WASM on 1 thread, disjoint (what the VM costs).
    pub native_over_wasm_1t: f64,
    /// Cores of the machine.
    pub cores: usize,
    /// Transfers per measurement.
    pub transfers: usize,
    /// Transfers per block.
    pub block: usize,
    /// Accounts.
    pub accounts: usize,
    /// Percent of transfers touching the hot account in the hot mix.
    pub hot_percent: u32,
    /// Rounds per figure (medians).
    pub rounds: usize,
}

struct Chain {
    genesis: crate::chain::Genesis,
    setup: Vec<SignedBlock>,
    maker: BlockMaker,
}

fn chain(accounts: usize) -> Chain {
    let genesis = workload::genesis(accounts);
    let mut maker = BlockMaker::new(&genesis);
    let setup = workload::deploy_wasm_token(accounts).into_iter().map(|b| maker.next(b)).collect();
    Chain { genesis, setup, maker }
}

/// The warm-up block, then the measured blocks.
fn blocks(
    c: &Chain,
    contract: Name,
    plan: &ExecPlan,
    hot: u32,
    seed: u64,
) -> (SignedBlock, Vec<SignedBlock>) {
    let mut maker = c.maker.clone();
    let mut txs = workload::transfers(contract, plan.accounts, plan.transfers + plan.block, hot, seed);
    let warmup = maker.next(txs.drain(..plan.block.min(txs.len())).collect());
    let blocks = txs.chunks(plan.block).map(|b| maker.next(b.to_vec())).collect();
    (warmup, blocks)
}

/// Executes `blocks` after the setup and a warm-up block on a fresh executor; transfers
/// per second. The warm-up (other transfers of the same shape) lets the worker threads
/// fault in their heaps and stores, so the figure is the steady state.
fn measure(
    c: &Chain,
    warmup: &SignedBlock,
    blocks: &[SignedBlock],
    threads: usize,
    wasm: &Arc<WasmRuntime>,
) -> anyhow::Result<f64> {
    let config = ExecConfig { threads, wasm: Some(wasm.clone()), ..ExecConfig::default() };
    let mut ex = Executor::from_genesis(&c.genesis, config)?;
    for b in c.setup.iter().chain([warmup]) {
        ex.execute_block(b);
    }
    let count: usize = blocks.iter().map(|b| b.transactions.len()).sum();
    let start = Instant::now();
    let mut failed = Vec::new();
    for b in blocks {
        let r = ex.execute_block(b);
        failed.extend(r.transactions.into_iter().filter(|t| t.receipt.status != TransactionStatus::Executed));
    }
    let secs = start.elapsed().as_secs_f64();
    if let Some(f) = failed.first() {
        bail!("{} transfers failed, the first with: {}", failed.len(), f.error.clone().unwrap_or_default());
    }
    Ok(count as f64 / secs)
}

/// Runs the bench.
pub fn run(plan: ExecPlan, quiet: bool) -> anyhow::Result<ExecReport> {
    if plan.accounts < 4 || plan.transfers == 0 || plan.block == 0 {
        bail!("need at least 4 accounts, 1 transfer and blocks of at least 1");
    }
    let wasm = Arc::new(WasmRuntime::new().map_err(anyhow::Error::msg)?);
    let c = chain(plan.accounts);
    let cases: Vec<(Name, u32, usize)> = [n("eosio.token"), WASM_TOKEN]
        .into_iter()
        .flat_map(|contract| {
            [
                (contract, 0, 1),
                (contract, 0, plan.threads),
                (contract, plan.hot_percent, 1),
                (contract, plan.hot_percent, plan.threads),
            ]
        })
        .collect();
    let pb = bar((cases.len() * plan.rounds) as u64, "exec bench", quiet);
    let mut figures = Vec::new();
    for (contract, hot, threads) in cases {
        let (warmup, blocks) = blocks(&c, contract, &plan, hot, 42);
        let mut rounds = Vec::new();
        for _ in 0..plan.rounds.max(1) {
            rounds.push(measure(&c, &warmup, &blocks, threads, &wasm)?);
            pb.inc(1);
        }
        figures.push(crate::log::bench::median(&mut rounds));
    }
    pb.finish_and_clear();
    let [n1, nn, nh1, nhn, w1, wn, wh1, whn] = figures[..] else { unreachable!("eight cases") };
    Ok(ExecReport {
        native_transfers_per_s_1t: n1,
        native_transfers_per_s_nt: nn,
        wasm_transfers_per_s_1t: w1,
        wasm_transfers_per_s_nt: wn,
        wasm_hot_transfers_per_s_1t: wh1,
        wasm_hot_transfers_per_s_nt: whn,
        native_hot_transfers_per_s_1t: nh1,
        native_hot_transfers_per_s_nt: nhn,
        threads: plan.threads,
        speedup_disjoint: wn / w1,
        speedup_hot: whn / wh1,
        native_speedup_disjoint: nn / n1,
        native_speedup_hot: nhn / nh1,
        native_over_wasm_1t: n1 / w1,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        transfers: plan.transfers,
        block: plan.block,
        accounts: plan.accounts,
        hot_percent: plan.hot_percent,
        rounds: plan.rounds,
    })
}
