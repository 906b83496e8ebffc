//! `dawn bench publish`: fan-out of real executed blocks (token transfers run by exec,
//! with receipts and traces in the results log) to 1, 10 and 100 QUIC subscribers whose
//! filters select 1%, 10% and 100% of the transactions, beside the plain log read rate
//! measured in the same run.
//!
//! Each configuration has two phases. Catch-up: the subscribers wait at block 1, the whole
//! log is appended at once, and they read it as fast as they can (`delivered_per_s`, from
//! the first append to the last delivery). Live: they start at the
//! head, and blocks are appended to the served logs at a steady pace; the time from a
//! block's append to the results log to its `BlockEnd` at each subscriber gives the
//! latency percentiles. Every subscriber's set of transactions is compared with a
//! brute-force evaluation of its filter over the whole log before a figure is printed.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::Serialize;

use crate::chain::results::BlockResults;
use crate::chain::{codec, Genesis, Name, SignedBlock};
use crate::exec::workload::{self, BlockMaker};
use crate::exec::{ExecConfig, ExecStage};
use crate::log::bench::bar;
use crate::log::{Config as LogConfig, Log, Offset, SyncPolicy};
use crate::publish::filter::FactsTable;
use crate::publish::{
    ClientConfig, Commitment, Feed, Filter, Identity, Message, NameLists, Projection, PublishConfig,
    PublishServer, Start, Subscribe, Subscription, TxFilter,
};

/// Accounts of the generated transfers (100 disjoint pairs: each sender is 1% of them).
pub const ACCOUNTS: usize = 200;

/// A chain log and its results log, executed by the real exec stage.
pub struct ExecutedLogs {
    /// The chain log.
    pub chain: Log,
    /// The results log.
    pub results: Log,
    /// The genesis they start from.
    pub genesis: Genesis,
}

fn log_config(sync: SyncPolicy) -> LogConfig {
    LogConfig {
        sync,
        record_bytes_max: crate::exec::executor::RESULTS_RECORD_BYTES_MAX,
        batch_bytes_max: 2 * u64::from(crate::exec::executor::RESULTS_RECORD_BYTES_MAX),
        ..LogConfig::default()
    }
}

/// Opens (empty) chain and results logs under `dir`.
pub fn open_logs(dir: &Path) -> anyhow::Result<(Log, Log)> {
    let chain = Log::open_path(&dir.join("chain"), log_config(SyncPolicy::Never))?;
    let results = Log::open_path(&dir.join("results"), log_config(SyncPolicy::Never))?;
    Ok((chain, results))
}

/// Writes `blocks` blocks of `per_block` token transfers over [`ACCOUNTS`] accounts to
/// new logs in `dir` and executes them with the real exec stage.
pub fn executed_logs(dir: &Path, blocks: usize, per_block: usize) -> anyhow::Result<ExecutedLogs> {
    let genesis = workload::genesis(ACCOUNTS);
    let (chain, results) = open_logs(dir)?;
    let mut maker = BlockMaker::new(&genesis);
    let txs = workload::transfers(crate::chain::n("eosio.token"), ACCOUNTS, blocks * per_block, 0, 7);
    let mut it = txs.into_iter();
    for _ in 0..blocks {
        let b = maker.next(it.by_ref().take(per_block).collect());
        chain.append(&[codec::encode(&b)])?;
    }
    let stage = ExecStage::open(&genesis, chain.clone(), results.clone(), ExecConfig::default())?;
    chain.close()?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    stage.run(rt.handle().clone())?;
    if results.durable_end().0 != blocks as u64 {
        bail!("exec produced {} results for {blocks} blocks", results.durable_end().0);
    }
    // The chain log was closed to end exec's run; it is still read through this handle.
    Ok(ExecutedLogs { chain, results, genesis })
}

/// A filter selecting transfers sent by the first `senders` of the 100 sender accounts:
/// `senders`% of the generated transactions (none: all of them).
pub fn sender_filter(senders: usize) -> Filter {
    if senders >= ACCOUNTS / 2 {
        return Filter::all();
    }
    let include: Vec<Name> = (0..senders).map(|p| workload::account(2 * p)).collect();
    Filter(vec![TxFilter { actors: NameLists { include, ..Default::default() }, ..Default::default() }])
}

/// `(block, result index)` of every result `filter` selects in the logs: the brute-force
/// reference a stream is checked against.
pub fn expected(chain: &Log, results: &Log, filter: &Filter) -> anyhow::Result<Vec<(u32, u32)>> {
    let mut f = filter.clone();
    f.normalize().map_err(anyhow::Error::msg)?;
    let mut out = Vec::new();
    for off in results.oldest_offset().0..results.durable_end().0 {
        let b: SignedBlock = codec::decode(&chain.get(Offset(off))?.data, u64::MAX)?;
        let r: BlockResults = codec::decode(&results.get(Offset(off))?.data, u64::MAX)?;
        for (i, facts) in FactsTable::of(&r.transactions, &b).iter().enumerate() {
            if f.matches(&facts) {
                out.push((r.block_num.0, i as u32));
            }
        }
    }
    Ok(out)
}

/// The figures printed by `dawn bench publish --json`.
#[derive(Debug, Clone, Serialize)]
pub struct PublishReport {
    /// Transactions delivered per second (catch-up, all subscribers together), 1
    /// subscriber selecting 100%.
    pub delivered_per_s_1_subscribers: f64,
    /// Same with 10 subscribers.
    pub delivered_per_s_10_subscribers: f64,
    /// Same with 100 subscribers.
    pub delivered_per_s_100_subscribers: f64,
    /// Median append-to-delivery latency (live), 100 subscribers selecting 100%.
    pub p50_ms: f64,
    /// 99th percentile of the same.
    pub p99_ms: f64,
    /// Plain log reads (chain and results record of each block, no decoding): blocks per
    /// second, the baseline.
    pub log_read_records_per_s: f64,
    /// The transactions in those records per second (comparable with `delivered_per_s`).
    pub log_read_transactions_per_s: f64,
    /// Every configuration measured.
    pub runs: Vec<RunFigures>,
    /// Blocks in the log.
    pub blocks: usize,
    /// Transactions per block.
    pub transactions_per_block: usize,
    /// Live phase: blocks appended per second.
    pub live_blocks_per_s: f64,
}

/// One configuration's figures.
#[derive(Debug, Clone, Serialize)]
pub struct RunFigures {
    /// Subscribers.
    pub subscribers: usize,
    /// Percent of transactions each selects.
    pub selected_percent: usize,
    /// Catch-up: transactions delivered per second, all subscribers together.
    pub delivered_per_s: f64,
    /// Live: median append-to-delivery latency.
    pub p50_ms: f64,
    /// Live: 99th percentile.
    pub p99_ms: f64,
    /// Live: the largest.
    pub max_ms: f64,
}

/// Sizes of a run.
#[derive(Debug, Clone, Copy)]
pub struct PublishPlan {
    /// Blocks in the catch-up log.
    pub blocks: usize,
    /// Transfers per block.
    pub per_block: usize,
    /// Blocks appended in the live phase.
    pub live_blocks: usize,
    /// Live blocks per second.
    pub live_rate: f64,
}

struct Collected {
    got: Vec<(u32, u32)>,
    /// Arrival time of each block's end.
    ends: Vec<(u32, Instant)>,
}

async fn collect(
    config: ClientConfig,
    request: Subscribe,
    until_block: u32,
    subscribed: tokio::sync::mpsc::UnboundedSender<()>,
) -> anyhow::Result<Collected> {
    let mut sub = Subscription::open(&config, &request).await?;
    let _ = subscribed.send(());
    let mut c = Collected { got: Vec::new(), ends: Vec::new() };
    loop {
        for m in sub.next_batch().await? {
            match m {
                Message::Transaction(t) => c.got.push((t.cursor.block_num.0, t.cursor.seq - 1)),
                Message::BlockEnd { cursor, .. } => c.ends.push((cursor.block_num.0, Instant::now())),
                Message::Heartbeat { cursor, .. } if cursor.block_num.0 >= until_block => return Ok(c),
                _ => {}
            }
            if c.ends.last().is_some_and(|e| e.0 >= until_block) {
                return Ok(c);
            }
        }
    }
}

fn request(start: Start, filter: Filter) -> Subscribe {
    Subscribe {
        version: crate::publish::protocol::PROTOCOL_VERSION,
        commitment: Commitment::Applied,
        start,
        filter,
        projection: Projection::Full,
        heartbeat_ms: 200,
    }
}

pub(super) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Runs the bench in `dir`.
pub fn run(dir: &Path, plan: PublishPlan, quiet: bool) -> anyhow::Result<PublishReport> {
    let pb = bar(1, "executing the workload", quiet);
    let total_blocks = plan.blocks + plan.live_blocks;
    let src = executed_logs(&dir.join("source"), total_blocks, plan.per_block)?;
    pb.finish_and_clear();

    // The baseline: plain reads of both logs.
    let t = Instant::now();
    let mut records = 0u64;
    for log in [&src.chain, &src.results] {
        let mut next = 0;
        while next < plan.blocks as u64 {
            let batch = log.read(Offset(next), 256, 64 << 20)?;
            next = batch.last().context("records")?.offset.0 + 1;
            records += batch.len() as u64;
        }
    }
    let read_s = t.elapsed().as_secs_f64();
    let log_read_records_per_s = (records / 2) as f64 / read_s;

    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let configs: Vec<(usize, usize)> =
        [1usize, 10, 100].iter().flat_map(|s| [1usize, 10, 100].map(|p| (*s, p))).collect();
    let pb = bar(configs.len() as u64, "fan-out configurations", quiet);
    let mut runs = Vec::new();
    for (i, &(subs, percent)) in configs.iter().enumerate() {
        let run_dir = dir.join(format!("run{i}"));
        let (chain, results) = open_logs(&run_dir)?;
        let filter = sender_filter(percent);
        let want_all = expected(&src.chain, &src.results, &filter)?;
        let r = rt.block_on(fan_out(&src, &chain, &results, &filter, &want_all, subs, plan))?;
        runs.push(RunFigures { subscribers: subs, selected_percent: percent, ..r });
        pb.inc(1);
        let _ = std::fs::remove_dir_all(&run_dir);
    }
    pb.finish_and_clear();
    let find = |s: usize, p: usize| {
        runs.iter().find(|r| r.subscribers == s && r.selected_percent == p).expect("run")
    };
    Ok(PublishReport {
        delivered_per_s_1_subscribers: find(1, 100).delivered_per_s,
        delivered_per_s_10_subscribers: find(10, 100).delivered_per_s,
        delivered_per_s_100_subscribers: find(100, 100).delivered_per_s,
        p50_ms: find(100, 100).p50_ms,
        p99_ms: find(100, 100).p99_ms,
        log_read_records_per_s,
        log_read_transactions_per_s: log_read_records_per_s * plan.per_block as f64,
        runs: runs.clone(),
        blocks: plan.blocks,
        transactions_per_block: plan.per_block,
        live_blocks_per_s: plan.live_rate,
    })
}

async fn fan_out(
    src: &ExecutedLogs,
    chain: &Log,
    results: &Log,
    filter: &Filter,
    want_all: &[(u32, u32)],
    subs: usize,
    plan: PublishPlan,
) -> anyhow::Result<RunFigures> {
    let feed = Feed::new(chain.clone(), results.clone(), src.genesis.producers.len(), 256 << 20);
    tokio::spawn(feed.clone().follow());
    let identity = Identity::generate(&[crate::publish::tls::SERVER_NAME])?;
    let config = PublishConfig {
        addr: "127.0.0.1:0".parse()?,
        subscriptions_max: 1024,
        connections_max: 1024,
        ..PublishConfig::default()
    };
    let server = PublishServer::bind(config, &identity, feed.clone())?;
    let client = ClientConfig::pinned(server.local_addr(), server.fingerprint());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server_task = tokio::spawn(server.run(async {
        let _ = stop_rx.await;
    }));
    // Catch-up: every subscriber waits at block 1, then the whole log is appended at once,
    // so the figure is the fan-out rate, not the connection handshakes.
    let last_catchup = plan.blocks as u32;
    let want_catchup: Vec<(u32, u32)> =
        want_all.iter().copied().filter(|(b, _)| *b <= last_catchup).collect();
    let (subscribed, mut accepted) = tokio::sync::mpsc::unbounded_channel();
    let tasks: Vec<_> = (0..subs)
        .map(|_| {
            tokio::spawn(collect(
                client.clone(),
                request(Start::Block(crate::chain::BlockNum(1)), filter.clone()),
                last_catchup,
                subscribed.clone(),
            ))
        })
        .collect();
    for _ in 0..subs {
        if accepted.recv().await.is_none() {
            break;
        }
    }
    let t = Instant::now();
    for off in 0..plan.blocks as u64 {
        chain.append(&[src.chain.get(Offset(off))?.data])?;
        results.append(&[src.results.get(Offset(off))?.data])?;
    }
    let mut delivered = 0usize;
    for task in tasks {
        let c = task.await??;
        if c.got != want_catchup {
            bail!(
                "a subscriber got {} transactions, the filter selects {}: the stream is incomplete",
                c.got.len(),
                want_catchup.len()
            );
        }
        delivered += c.got.len();
    }
    let delivered_per_s = delivered as f64 / t.elapsed().as_secs_f64();

    // Live: subscribe at the head, then append at a steady pace.
    let (subscribed, mut accepted) = tokio::sync::mpsc::unbounded_channel();
    let until = (plan.blocks + plan.live_blocks) as u32;
    let tasks: Vec<_> = (0..subs)
        .map(|_| {
            tokio::spawn(collect(
                client.clone(),
                request(Start::Head, filter.clone()),
                until,
                subscribed.clone(),
            ))
        })
        .collect();
    // Every subscriber is at the head before the first live block.
    for _ in 0..subs {
        if accepted.recv().await.is_none() {
            break;
        }
    }
    let mut appended = Vec::with_capacity(plan.live_blocks);
    let interval = Duration::from_secs_f64(1.0 / plan.live_rate);
    let mut next_at = tokio::time::Instant::now();
    for off in plan.blocks..plan.blocks + plan.live_blocks {
        tokio::time::sleep_until(next_at).await;
        next_at += interval;
        chain.append(&[src.chain.get(Offset(off as u64))?.data])?;
        appended.push((off as u32 + 1, Instant::now()));
        results.append(&[src.results.get(Offset(off as u64))?.data])?;
    }
    let want_live: Vec<(u32, u32)> = want_all.iter().copied().filter(|(b, _)| *b > last_catchup).collect();
    let mut lat = Vec::new();
    for task in tasks {
        let c = task.await??;
        if c.got != want_live {
            bail!(
                "a live subscriber got {} transactions, the filter selects {}",
                c.got.len(),
                want_live.len()
            );
        }
        for (b, at) in c.ends {
            if let Some((_, t0)) = appended.iter().find(|(n, _)| *n == b) {
                lat.push(at.duration_since(*t0).as_secs_f64() * 1e3);
            }
        }
    }
    let _ = stop_tx.send(());
    let _ = server_task.await;
    let l = super::pipeline_bench::Latency::of(&mut lat);
    Ok(RunFigures {
        subscribers: subs,
        selected_percent: 0,
        delivered_per_s,
        p50_ms: l.p50_ms,
        p99_ms: l.p99_ms,
        max_ms: l.max_ms,
    })
}
