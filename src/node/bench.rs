//! `dawn bench ingest`: pre-signed transactions through the real intake, in process and
//! over loopback HTTP, beside the machine's plain batched ed25519 verification rate
//! measured in the same run on the same cores.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use indicatif::ProgressBar;
use rayon::prelude::*;
use serde::Serialize;

use crate::chain::{
    codec, n, verify_batch, Action, Bytes, ChainId, GenesisAccount, GenesisBalance, Name, PermissionLevel,
    PrivateKey, SignedTransaction, TimePointSec, Transaction,
};
use crate::ingest::{BlockLimits, Intake, IntakeConfig};
use crate::log::bench::{bar, median};
use crate::log::SyncPolicy;

use super::{client, dev, NodeConfig};

/// Block interval of the bench node: short, so the figure is intake's capacity rather
/// than transactions-in-flight over the interval.
pub const BENCH_BLOCK_INTERVAL: Duration = Duration::from_millis(20);

/// Sizes of one run.
#[derive(Debug, Clone, Copy)]
pub struct IngestPlan {
    /// Transactions per phase (in-process, HTTP).
    pub transactions: usize,
    /// Sending accounts.
    pub accounts: usize,
    /// Transactions per push.
    pub batch: usize,
    /// Concurrent pushers.
    pub clients: usize,
    /// Rounds, each a baseline, an in-process and an HTTP phase; figures are medians.
    pub rounds: usize,
}

/// The figures printed by `dawn bench ingest --json`. Rates and ratios are medians over
/// the rounds; each round's ratios are taken against the baseline measured just before
/// it, so a machine whose speed drifts (shared, noisy) skews both sides alike.
#[derive(Debug, Clone, Serialize)]
pub struct IngestReport {
    /// Transactions per second acknowledged durable, pushed in process.
    pub ingest_tps_inproc: f64,
    /// Same, pushed over loopback HTTP (binary push_transactions).
    pub ingest_tps_http: f64,
    /// Plain batched ed25519 verifications per second on the same cores (the baseline).
    pub verify_batch_per_s: f64,
    /// `ingest_tps_inproc / verify_batch_per_s`.
    pub inproc_vs_verify: f64,
    /// `ingest_tps_http / verify_batch_per_s`.
    pub http_vs_verify: f64,
    /// Rounds run.
    pub rounds: usize,
    /// Each round's `inproc_vs_verify`.
    pub inproc_vs_verify_rounds: Vec<f64>,
    /// Each round's `http_vs_verify`.
    pub http_vs_verify_rounds: Vec<f64>,
    /// Transactions per phase.
    pub transactions: usize,
    /// Sending accounts.
    pub accounts: usize,
    /// Transactions per push.
    pub batch: usize,
    /// Concurrent pushers.
    pub clients: usize,
    /// Encoded transaction size in bytes.
    pub transaction_bytes: usize,
    /// Cores used.
    pub cores: usize,
    /// Chain log durability.
    pub sync: String,
    /// Block interval of the bench node, in milliseconds.
    pub block_interval_ms: u64,
    /// Share of all cores busy during the in-process phase (process CPU time over wall
    /// time times cores): below 1 means cores sat idle.
    pub inproc_cpu_busy: Option<f64>,
    /// Same for the HTTP phase (client and node share the process).
    pub http_cpu_busy: Option<f64>,
}

/// Signatures per second verified in batches (as intake does) on the current thread pool:
/// the ceiling every ingest figure is set beside. Fails if any signature is bad.
pub(super) fn verify_rate(
    items: &[(crate::chain::Checksum256, crate::chain::Signature, crate::chain::PublicKey)],
) -> anyhow::Result<f64> {
    let start = Instant::now();
    if !items.par_chunks(crate::ingest::verify::VERIFY_BATCH).all(verify_batch) {
        bail!("baseline verification failed: a pre-signed signature does not verify");
    }
    Ok(items.len() as f64 / start.elapsed().as_secs_f64())
}

/// CPU seconds (user + system) this process has used, from /proc/self/stat (Linux);
/// None elsewhere.
pub(super) fn cpu_seconds() -> Option<f64> {
    stat_cpu(&std::fs::read_to_string("/proc/self/stat").ok()?).map(|(_, s)| s)
}

/// The command (or thread) name of a `/proc/.../stat` line and its fields after the name,
/// from the 3rd (`state`) on. The name may hold spaces and parentheses: the last `)` ends
/// it.
pub(super) fn stat_fields(stat: &str) -> Option<(&str, Vec<&str>)> {
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    Some((stat.get(open + 1..close)?, stat.get(close + 2..)?.split_whitespace().collect()))
}

/// The command (or thread) name and the CPU seconds (user + system) in a
/// `/proc/.../stat` line.
pub(super) fn stat_cpu(stat: &str) -> Option<(&str, f64)> {
    // utime and stime are the 14th and 15th fields, in clock ticks of 1/100 s.
    let (name, f) = stat_fields(stat)?;
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some((name, ticks / 100.0))
}

fn account_name(i: usize) -> Name {
    // "bench" + 7 letters: unique for any i below 26^7.
    let mut s = String::from("bench");
    let mut x = i;
    for _ in 0..7 {
        s.push((b'a' + (x % 26) as u8) as char);
        x /= 26;
    }
    n(&s)
}

fn key(i: usize) -> PrivateKey {
    PrivateKey::from_seed(format!("dawn bench account {i}").as_bytes())
}

/// Signs `count` transfers starting at nonce `from` (spread over the accounts).
fn presign(
    plan: &IngestPlan,
    keys: &[PrivateKey],
    chain: &ChainId,
    ref_block_prefix: u32,
    count: usize,
    pb: &ProgressBar,
) -> Vec<SignedTransaction> {
    let expiration = TimePointSec(TimePointSec::now().0 + 3000);
    (0..count)
        .into_par_iter()
        .map(|i| {
            let a = i % plan.accounts;
            let to = account_name((i + 1) % plan.accounts);
            let from_name = account_name(a);
            let mut writes = vec![from_name, to];
            writes.sort();
            let tx = Transaction {
                expiration,
                ref_block_num: 0,
                ref_block_prefix,
                max_cpu_us: 0,
                max_net_bytes: 0,
                delay_sec: 0,
                read_scopes: smallvec::smallvec![],
                write_scopes: writes.into(),
                actions: smallvec::smallvec![Action {
                    account: n("eosio.token"),
                    name: n("transfer"),
                    authorization: smallvec::smallvec![PermissionLevel {
                        actor: from_name,
                        permission: n("active")
                    }],
                    // to, quantity (amount, symbol), memo: the shape of a token transfer.
                    data: Bytes::from(codec::encode(&(
                        from_name,
                        to,
                        (1i64 + i as i64, 1398362884u64),
                        format!("bench {i}"),
                    ))),
                }],
            };
            pb.inc(1);
            SignedTransaction::sign(tx, &[&keys[a]], chain)
        })
        .collect()
}

/// Figures of one round.
struct Round {
    verify_per_s: f64,
    inproc_tps: f64,
    http_tps: f64,
    inproc_busy: Option<f64>,
    http_busy: Option<f64>,
}

/// Runs the bench in a temporary data directory under `dir`.
pub fn run(
    dir: &std::path::Path,
    plan: IngestPlan,
    sync: SyncPolicy,
    quiet: bool,
) -> anyhow::Result<IngestReport> {
    if plan.accounts < 2 || plan.batch == 0 || plan.clients == 0 || plan.transactions == 0 || plan.rounds == 0
    {
        bail!("need at least 2 accounts and 1 transaction, batch, client and round");
    }
    let keys: Vec<PrivateKey> = (0..plan.accounts).into_par_iter().map(key).collect();
    let mut genesis = dev::dev_genesis();
    for (i, k) in keys.iter().enumerate() {
        genesis.accounts.push(GenesisAccount {
            name: account_name(i),
            owner_key: k.public(),
            active_key: k.public(),
        });
        genesis.balances.push(GenesisBalance {
            account: account_name(i),
            balance: "1000.0000 SYS".parse().expect("valid"),
        });
    }
    let chain = genesis.chain_id();
    // Every phase of every round pushes transactions of its own (intake refuses
    // duplicates).
    let total = 2 * plan.transactions * plan.rounds;
    let pb = bar(total as u64, "pre-sign", quiet);
    // TaPoS names the genesis pseudo-block 0, whose prefix comes from the chain id.
    let tapos = crate::ingest::History::new(&chain).genesis;
    let all = presign(&plan, &keys, &chain, tapos.ref_block_prefix(), total, &pb);
    pb.finish_and_clear();
    let transaction_bytes = codec::encode(&all[0]).len();

    let data = tempfile::Builder::new().prefix("dawn-ingest-bench-").tempdir_in(dir)?;
    let config = NodeConfig {
        data_dir: data.path().to_path_buf(),
        http_addr: "127.0.0.1:0".parse().expect("addr"),
        intake: IntakeConfig {
            block_interval: BENCH_BLOCK_INTERVAL,
            block: BlockLimits { transactions_max: 100_000, bytes_max: 6 << 20, ..BlockLimits::default() },
            queue_max: 4 * plan.transactions + 1,
            ..IntakeConfig::default()
        },
        sync,
        // Intake alone: exec holds the genesis state (every account the transfers need)
        // instead of taking CPU from the stage measured; `dawn bench` runs them together.
        exec: crate::exec::ExecConfig { execute: false, ..crate::exec::ExecConfig::default() },
        publish: None,
        gateway: None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<(SocketAddr, Intake)>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let node = rt.spawn(super::run(
        config,
        genesis,
        dev::dev_key("eosio"),
        async {
            let _ = stop_rx.await;
        },
        move |node| {
            let _ = ready_tx.send((node.http_addr, node.intake.clone()));
        },
    ));
    let (addr, intake) =
        ready_rx.recv_timeout(Duration::from_secs(60)).context("bench node did not start")?;

    let mut rounds = Vec::with_capacity(plan.rounds);
    for (r, txs) in all.chunks(2 * plan.transactions).enumerate() {
        let (inproc, http) = txs.split_at(plan.transactions);
        // Baseline: plain batched verification of this round's in-process signatures.
        let items: Vec<_> = inproc
            .iter()
            .enumerate()
            .map(|(i, t)| {
                (
                    t.transaction.signing_digest(&chain),
                    t.signatures[0],
                    keys[(r * 2 * plan.transactions + i) % plan.accounts].public(),
                )
            })
            .collect();
        let verify_per_s = verify_rate(&items)?;
        drop(items);
        let (inproc_tps, inproc_busy) = push_in_process(&rt, &intake, &plan, inproc, quiet)?;
        let (http_tps, http_busy) = push_http(&rt, addr, &plan, http, quiet)?;
        rounds.push(Round { verify_per_s, inproc_tps, http_tps, inproc_busy, http_busy });
    }
    let _ = stop_tx.send(());
    rt.block_on(node)??;

    let pick = |f: &dyn Fn(&Round) -> f64| median(&mut rounds.iter().map(f).collect::<Vec<_>>());
    let inproc_vs_verify_rounds: Vec<f64> = rounds.iter().map(|r| r.inproc_tps / r.verify_per_s).collect();
    let http_vs_verify_rounds: Vec<f64> = rounds.iter().map(|r| r.http_tps / r.verify_per_s).collect();
    let busy = |f: &dyn Fn(&Round) -> Option<f64>| {
        let mut v: Vec<f64> = rounds.iter().filter_map(f).collect();
        (!v.is_empty()).then(|| median(&mut v))
    };
    Ok(IngestReport {
        ingest_tps_inproc: pick(&|r| r.inproc_tps),
        ingest_tps_http: pick(&|r| r.http_tps),
        verify_batch_per_s: pick(&|r| r.verify_per_s),
        inproc_vs_verify: median(&mut inproc_vs_verify_rounds.clone()),
        http_vs_verify: median(&mut http_vs_verify_rounds.clone()),
        rounds: plan.rounds,
        inproc_vs_verify_rounds,
        http_vs_verify_rounds,
        transactions: plan.transactions,
        accounts: plan.accounts,
        batch: plan.batch,
        clients: plan.clients,
        transaction_bytes,
        cores: rayon::current_num_threads(),
        sync: sync.to_string(),
        block_interval_ms: BENCH_BLOCK_INTERVAL.as_millis() as u64,
        inproc_cpu_busy: busy(&|r| r.inproc_busy),
        http_cpu_busy: busy(&|r| r.http_busy),
    })
}

/// Pushes `txs` through the in-process API from `plan.clients` tasks; the rate of
/// durable acknowledgements and the share of cores busy meanwhile.
fn push_in_process(
    rt: &tokio::runtime::Runtime,
    intake: &Intake,
    plan: &IngestPlan,
    txs: &[SignedTransaction],
    quiet: bool,
) -> anyhow::Result<(f64, Option<f64>)> {
    let pb = Arc::new(bar(txs.len() as u64, "ingest in-process", quiet));
    // Requests are built before the clock starts: the bench measures intake, not cloning.
    // Pushers take the next request from one shared list, so all stay busy to the end.
    let requests: Vec<Mutex<Vec<SignedTransaction>>> =
        txs.chunks(plan.batch).map(|c| Mutex::new(c.to_vec())).collect();
    let requests = Arc::new(requests);
    let next = Arc::new(AtomicUsize::new(0));
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    let accepted = rt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..plan.clients {
            let (intake, pb, requests, next) = (intake.clone(), pb.clone(), requests.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                let mut ok = 0usize;
                while let Some(r) = requests.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let batch = std::mem::take(&mut *r.lock().expect("request lock"));
                    let len = batch.len() as u64;
                    ok += intake.push(batch).await.iter().filter(|r| r.is_ok()).count();
                    pb.inc(len);
                }
                ok
            }));
        }
        let mut ok = 0;
        for t in tasks {
            ok += t.await.unwrap_or(0);
        }
        ok
    });
    let figures = phase_figures("in-process", txs.len(), accepted, start, cpu0);
    pb.finish_and_clear();
    figures
}

/// A phase's rate of acknowledged transactions and the share of cores busy meanwhile,
/// from its start time and process CPU reading; an error unless all `pushed` were
/// `accepted`.
fn phase_figures(
    phase: &str,
    pushed: usize,
    accepted: usize,
    start: Instant,
    cpu0: Option<f64>,
) -> anyhow::Result<(f64, Option<f64>)> {
    let secs = start.elapsed().as_secs_f64();
    let busy = cpu0.zip(cpu_seconds()).map(|(a, b)| (b - a) / secs / rayon::current_num_threads() as f64);
    if accepted != pushed {
        bail!("{phase} phase: {accepted} of {pushed} transactions accepted");
    }
    Ok((pushed as f64 / secs, busy))
}

/// Pushes `txs` over loopback HTTP (binary push_transactions) from `plan.clients` tasks;
/// the rate of durable acknowledgements and the share of cores busy meanwhile (client
/// and node share the process).
fn push_http(
    rt: &tokio::runtime::Runtime,
    addr: SocketAddr,
    plan: &IngestPlan,
    txs: &[SignedTransaction],
    quiet: bool,
) -> anyhow::Result<(f64, Option<f64>)> {
    let pb = Arc::new(bar(txs.len() as u64, "ingest HTTP", quiet));
    let url = format!("http://{addr}/v1/chain/push_transactions");
    let batches: Vec<Vec<u8>> = txs.chunks(plan.batch).map(|c| codec::encode(&c.to_vec())).collect();
    let batches = Arc::new(batches);
    let next = Arc::new(AtomicUsize::new(0));
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    let accepted = rt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..plan.clients {
            let (batches, url, pb, next) = (batches.clone(), url.clone(), pb.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                let mut ok = 0usize;
                while let Some(b) = batches.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let (status, v) = client::post_raw(&url, "application/octet-stream", b.clone()).await?;
                    if status != 200 {
                        anyhow::bail!("push_transactions failed ({status}): {v}");
                    }
                    let results = v.as_array().map(Vec::as_slice).unwrap_or_default();
                    ok += results.iter().filter(|r| r["status"] == "accepted").count();
                    pb.inc(results.len() as u64);
                }
                Ok(ok)
            }));
        }
        let mut ok = 0;
        for t in tasks {
            ok += t.await??;
        }
        anyhow::Ok(ok)
    })?;
    let figures = phase_figures("HTTP", txs.len(), accepted, start, cpu0);
    pb.finish_and_clear();
    figures
}
