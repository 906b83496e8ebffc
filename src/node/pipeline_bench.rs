//! `dawn bench`: the whole pipeline end to end, the headline figure.
//!
//! Pre-signed token transfers (native `eosio.token` or the WASM token, over disjoint
//! account pairs or a hot-account mix) go through the real node: intake (in process, or
//! over loopback HTTP with `--http`), block sealing into the chain log with group commit,
//! exec and the results log, and the publish endpoint, to filtered QUIC subscribers that
//! together select every transaction. `tps` runs from the first submit to the last receipt
//! delivered to a subscriber (at `applied`); per transaction the latencies to its
//! acknowledgement (durable), to its block being applied and to its delivery are kept.
//! Every receipt must say `executed` and every subscriber's set must be complete before
//! a figure is printed.
//!
//! Each configuration runs in a child process of the same binary, so that `--cores 1`
//! really pins every stage: the child starts with its CPU affinity set to one CPU, and
//! every pool (tokio, the verify pool, exec's workers) is sized from it. The baseline,
//! plain batched ed25519 verification of the same signatures, is measured in the child
//! on the same cores before the node starts. Without `--cores` the bench runs on one core
//! and on all cores and reports the scaling.
//!
//! The bench's own load, its pushers (and HTTP clients) and its subscribers, stands for
//! clients and Tier-2 nodes on other machines: it runs on a runtime of its own, kept to a
//! CPU the node does not use (preferring one that shares no physical core with the
//! node's), so a one-core figure is the node's work alone. When the node has every CPU
//! (the all-core run) the load shares them; the bench then also runs one core carrying
//! its load, and `scaling` compares those two, placed alike. `--load-on-node-cores` runs
//! the load on the node's cores throughout.
//!
//! Where the time goes comes from two sources: the stages' own counters (intake, exec,
//! publish; counted per batch or block), and CPU time per thread grouped by thread name,
//! the load's threads apart.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::chain::{
    codec, n, Name, PrivateKey, SignedTransaction, TimePointSec, Transaction, TransactionStatus,
};
use crate::exec::{workload, ExecConfig, ExecView};
use crate::ingest::{BlockLimits, Intake, IntakeConfig};
use crate::log::{Log, SyncPolicy};
use crate::publish::filter::FILTER_NAMES_MAX;
use crate::publish::{
    ClientConfig, Commitment, Filter, Fingerprint, Message, NameLists, Projection, PublishConfig,
    PublishStats, Start, Subscribe, Subscription, TxFilter,
};

use super::publish_bench::percentile;
use super::NodeConfig;

/// Name of the threads of the bench's own load (pushers, subscribers) when it runs on a
/// CPU of its own.
const LOAD_THREAD: &str = "dawn-load";

/// Signatures verified per round of the baseline (three rounds; the median is kept).
pub const VERIFY_SAMPLE_MAX: usize = 40_000;
/// How long the subscribers may take to receive the last transaction after the last
/// acknowledgement before the run fails.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(120);

/// The contract the transfers run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Workload {
    /// The native `eosio.token`.
    Native,
    /// The WASM token (contracts/token) deployed on `wasm.token`.
    Wasm,
}

impl std::fmt::Display for Workload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Native => "native",
            Self::Wasm => "wasm",
        })
    }
}

/// `dawn bench` (no target): the whole pipeline, end to end.
#[derive(Debug, Clone, clap::Args)]
pub struct PipelineArgs {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Transactions per run.
    #[arg(long, default_value_t = 100_000)]
    pub transactions: usize,
    /// Accounts (half as many disjoint sender/receiver pairs).
    #[arg(long, default_value_t = 10_000)]
    pub accounts: usize,
    /// The token the transfers run on.
    #[arg(long, value_enum, default_value_t = Workload::Native)]
    pub workload: Workload,
    /// Percent of transfers touching one hot account (0: disjoint pairs only).
    #[arg(long, default_value_t = 0)]
    pub hot_percent: u32,
    /// Publish subscribers; each selects the transfers of its share of the senders, so
    /// that together they receive every transaction once.
    #[arg(long, default_value_t = 4)]
    pub subscribers: usize,
    /// Subscribers receive the signed transactions and action traces too (projection
    /// `full`), not only the receipts.
    #[arg(long)]
    pub full: bool,
    /// Push over loopback HTTP (binary `push_transactions`) instead of in process.
    #[arg(long)]
    pub http: bool,
    /// Chain log sync policy.
    #[arg(long, default_value = "always")]
    pub sync: SyncPolicy,
    /// Cores the node runs on (its threads are pinned to that many CPUs and every pool
    /// sized to them; the bench's load runs on another CPU if one is free). Without it:
    /// one run on 1 core and one on all cores, and the scaling.
    #[arg(long)]
    pub cores: Option<usize>,
    /// Transactions per push.
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
    /// Concurrent pushers.
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
    /// Block interval of the bench node, in milliseconds.
    #[arg(long, default_value_t = 20)]
    pub block_interval_ms: u64,
    /// Multiplies `--transactions`: run 10 times longer to check that memory stays flat
    /// (`rss_growth_bytes_per_tx_second_half`: what the run adds once its caches are full;
    /// `rss_growth_beyond_dedup_bytes_per_tx_second_half`: the same beyond intake's dedup
    /// window, which grows with time until transactions expire).
    #[arg(long, default_value_t = 1)]
    pub duration_factor: usize,
    /// Transactions pushed through the whole pipeline, and delivered, before the measured
    /// ones, so that the figures are the node's steady state: its caches filled (each
    /// sender's decoded keys, the allocator's pages, the tables' capacity) as on a node
    /// that has been running. 0 measures a node straight from genesis.
    #[arg(long, default_value_t = 20_000)]
    pub warmup: usize,
    /// Child runs per configuration; each configuration reports its median run (by
    /// efficiency), and every run's efficiency is listed (the machine's speed drifts).
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Directory for the temporary data directory (the disk to measure).
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// Run the bench's own pushers and subscribers on the node's cores. By default they
    /// run on a CPU the node does not use when there is one (as clients and Tier-2 nodes
    /// run on other machines), so that the node's figures are the node's work alone.
    #[arg(long)]
    pub load_on_node_cores: bool,
    /// Run one configuration in this process and print its figures as JSON (what the
    /// bench starts its child processes with).
    #[arg(long, hide = true)]
    pub child: bool,
    /// The CPU the child runs its pushers and subscribers on (set by the bench for its
    /// child processes; absent: on the node's cores).
    #[arg(long, hide = true)]
    pub load_cpu: Option<usize>,
}

/// Latency percentiles, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Latency {
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

impl Latency {
    /// The percentiles of `ms`, in any order.
    pub(super) fn of(ms: &mut [f64]) -> Self {
        ms.sort_by(f64::total_cmp);
        Self {
            p50_ms: percentile(ms, 0.5),
            p99_ms: percentile(ms, 0.99),
            max_ms: ms.last().copied().unwrap_or(0.0),
        }
    }
}

/// Busy time of each stage during the measured window, from the stages' own counters, in
/// seconds: CPU time of the threads doing the work unless the name says `wall` or `wait`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StageBusy {
    /// Intake: hashing, encoding and authority lookups of pushed transactions (the verify
    /// pool's CPU time less the signature checks and the admission).
    pub intake_prepare_s: f64,
    /// Intake: batched signature verification.
    pub intake_verify_s: f64,
    /// Intake: TaPoS and dedup lookups, reservations and queueing.
    pub intake_admit_s: f64,
    /// Sealing blocks (selection, merkle root, signing, encoding).
    pub seal_s: f64,
    /// Waiting for blocks to be durable (group commit), wall time.
    pub durable_wait_s: f64,
    /// Exec decoding and executing blocks (waves on the workers included), wall time.
    pub exec_wall_s: f64,
    /// Exec encoding and appending results, wall time.
    pub results_write_wall_s: f64,
    /// Publish sessions polling (reading blocks, filtering, encoding messages).
    pub publish_poll_s: f64,
    /// Publish waiting for QUIC streams to take frames, wall time summed over subscriptions.
    pub publish_write_wait_s: f64,
    /// Blocks sealed.
    pub blocks: u64,
    /// fdatasyncs of the chain log.
    pub chain_syncs: u64,
}

/// CPU time of the process's threads during the measured window, grouped by what they
/// run, in seconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ThreadCpu {
    /// The verify pool: intake's hashing, authority lookups and signature checks.
    pub verify_pool_s: f64,
    /// The node's tokio runtime, workers and blocking threads: HTTP, intake's queueing,
    /// block sealing, publish sessions and QUIC (and the bench's pushers and subscribers
    /// when they share the node's cores).
    pub runtime_s: f64,
    /// The exec stage thread (decoding, committing, results).
    pub exec_stage_s: f64,
    /// Exec's workers (the waves).
    pub exec_workers_s: f64,
    /// The logs' group-commit syncers.
    pub log_sync_s: f64,
    /// Everything else of the node (state snapshots, the main thread).
    pub other_s: f64,
    /// All the node's threads (everything above; not `load_s`).
    pub total_s: f64,
    /// The bench's pushers and subscribers, when they run on a CPU of their own.
    #[serde(default)]
    pub load_s: f64,
}

/// Memory of the process, from /proc/self/status, in bytes.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Memory {
    /// Anonymous resident memory when the first transaction is submitted (everything
    /// pre-generated is resident by then).
    pub rss_anon_start: u64,
    /// Anonymous resident memory after the last delivery.
    pub rss_anon_end: u64,
    /// Resident memory (anonymous and mapped files: the logs read through mmap) at the end.
    pub rss_end: u64,
    /// Peak resident memory.
    pub rss_peak: u64,
    /// `(rss_anon_end - rss_anon_start) / transactions`.
    pub rss_growth_bytes_per_tx: f64,
    /// Anonymous resident memory when half the transactions had been delivered.
    #[serde(default)]
    pub rss_anon_half: u64,
    /// Growth per transaction delivered in the second half of the run: caches, pools and
    /// arenas have filled by then, so this is what a longer run would keep adding. Absent
    /// when the half-way sample came too late to cover a quarter of the run (short runs).
    #[serde(default)]
    pub rss_growth_bytes_per_tx_second_half: Option<f64>,
    /// Minor page faults of the process during the window (pages first touched: heap
    /// growth, and memory the allocator gave back and took again); the load's included.
    #[serde(default)]
    pub minor_faults: u64,
    /// Heap bytes of intake's dedup window at the half-way sample: its table's allocation
    /// and its expiry lists' capacities ([`crate::ingest::History::heap_bytes`]).
    #[serde(default)]
    pub dedup_window_bytes_half: u64,
    /// As `dedup_window_bytes_half`, at the end.
    #[serde(default)]
    pub dedup_window_bytes_end: u64,
    /// `rss_growth_bytes_per_tx_second_half` less the dedup window's growth over the same
    /// transactions. The window keeps an entry per transaction until it expires (an hour
    /// at most; the bench's expire after the run), so it grows with time, not with the
    /// chain; this is what a longer run would add beyond it.
    #[serde(default)]
    pub rss_growth_beyond_dedup_bytes_per_tx_second_half: Option<f64>,
}

/// The figures of one configuration (one child process).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunReport {
    /// Cores the run was pinned to.
    pub cores: usize,
    /// Exec worker threads.
    pub exec_threads: usize,
    /// Transactions from the first submit to the last delivery to a subscriber, per second.
    pub tps: f64,
    /// Transactions from the first submit to the last acknowledgement (durable), per second.
    pub accepted_tps: f64,
    /// Plain batched ed25519 verifications per second on the same cores (the ceiling).
    pub verify_batch_per_s: f64,
    /// `tps / verify_batch_per_s`.
    pub efficiency: f64,
    /// Submit to acknowledgement (durable in the chain log).
    pub ack: Latency,
    /// Submit to its block being applied (executed, results written).
    pub applied: Latency,
    /// Submit to delivery to its subscriber.
    pub delivered: Latency,
    /// Seconds from the first submit to the last delivery.
    pub seconds: f64,
    /// The stages' busy time.
    pub stages: StageBusy,
    /// CPU time per thread group.
    pub threads: ThreadCpu,
    /// The node's CPU time over wall time and cores, during the window (summed over its
    /// threads alive at the end of the window).
    pub cpu_busy: f64,
    /// The CPU the bench's pushers and subscribers ran on, outside the node's cores;
    /// absent: they shared the node's cores.
    #[serde(default)]
    pub load_cpu: Option<usize>,
    /// Memory.
    pub memory: Memory,
    /// Transactions measured.
    pub transactions: usize,
    /// Transactions pushed and delivered before them, not measured (`--warmup`).
    #[serde(default)]
    pub warmup_transactions: usize,
    /// The warm-up's own tps, measured as `tps` is (a node fresh from genesis; null
    /// without a warm-up).
    #[serde(default)]
    pub warmup_tps: Option<f64>,
    /// Blocks they landed in.
    pub blocks: usize,
    /// The efficiency of every round of this configuration, in run order; this report is
    /// the median one's.
    #[serde(default)]
    pub efficiency_rounds: Vec<f64>,
    /// The tps of every round, in run order.
    #[serde(default)]
    pub tps_rounds: Vec<f64>,
}

/// The figures printed by `dawn bench --json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PipelineReport {
    /// Transactions per second end to end (first submit to last delivery, at `applied`)
    /// on one core (or on `--cores`).
    pub tps: f64,
    /// Median submit-to-delivery latency of that run, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile of the same.
    pub p99_ms: f64,
    /// Plain batched ed25519 verifications per second on the same core (the ceiling).
    pub verify_batch_per_s: f64,
    /// `tps / verify_batch_per_s`, both on one core.
    pub efficiency: f64,
    /// All-core tps over one-core tps, divided by the cores (1.0: linear), the one-core
    /// run's load placed as the all-core run's (on the node's cores when no CPU was free
    /// beside it); absent when only one configuration ran.
    pub scaling: Option<f64>,
    /// Cores of the all-core run (or `--cores`).
    pub cores: usize,
    /// tps on all cores.
    pub tps_all_cores: Option<f64>,
    /// The verify baseline on all cores.
    pub verify_batch_per_s_all_cores: Option<f64>,
    /// Token contract.
    pub workload: Workload,
    /// Percent of transfers touching the hot account.
    pub hot_percent: u32,
    /// Pushed in process (`inproc`) or over loopback HTTP (`http`).
    pub intake: String,
    /// Transactions per run (measured).
    pub transactions: usize,
    /// Transactions each run pushed and delivered before the measured ones.
    #[serde(default)]
    pub warmup_transactions: usize,
    /// Accounts.
    pub accounts: usize,
    /// Encoded transaction size in bytes.
    pub transaction_bytes: usize,
    /// Subscribers.
    pub subscribers: usize,
    /// Chain log durability.
    pub sync: String,
    /// Block interval, milliseconds.
    pub block_interval_ms: u64,
    /// Every configuration's figures.
    pub runs: Vec<RunReport>,
}

/// A child's output: its figures and the facts of the workload.
#[derive(Debug, Serialize, Deserialize)]
struct ChildOutput {
    run: RunReport,
    transaction_bytes: usize,
}

/// Runs `dawn bench`: the child configurations, then the report.
pub fn run(args: &PipelineArgs) -> anyhow::Result<()> {
    if args.child {
        let out = run_child(args)?;
        println!("{}", serde_json::to_string(&out)?);
        return Ok(());
    }
    let report = run_all(args)?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_table(&report);
    }
    Ok(())
}

/// Runs each configuration in a child process and combines the figures.
pub fn run_all(args: &PipelineArgs) -> anyhow::Result<PipelineReport> {
    check_args(args)?;
    let allowed = affinity::allowed_cpus();
    let all = allowed.len().max(1);
    let configs: Vec<usize> = match args.cores {
        Some(0) => vec![all],
        Some(c) if c > all => bail!("--cores {c}: this process may run on {all} CPUs"),
        Some(c) => vec![c],
        None if all == 1 => vec![1],
        None => vec![1, all],
    };
    // Each configuration with its load beside the node when a CPU is free; and where the
    // last (all-core) run must carry its load on the node's cores, a one-core run doing
    // the same, so that `scaling` compares like with like.
    let mut plan: Vec<(usize, Option<usize>)> = Vec::new();
    for &cores in &configs {
        let node = &allowed[..cores.min(allowed.len())];
        let load = if args.load_on_node_cores { None } else { affinity::load_cpu(node, &allowed) };
        plan.push((cores, load));
    }
    let scaled = configs.len() > 1;
    if scaled && plan[0].1.is_some() && plan.last().is_some_and(|p| p.1.is_none()) {
        plan.insert(1, (configs[0], None));
    }
    let mut runs = Vec::new();
    let mut transaction_bytes = 0;
    for (cores, load_cpu) in plan {
        let mut rounds = Vec::with_capacity(args.rounds);
        let beside = if load_cpu.is_some() { ", load beside" } else { "" };
        for round in 0..args.rounds {
            if args.rounds > 1 {
                eprintln!("{cores} core(s){beside}: round {} of {}", round + 1, args.rounds);
            }
            let out = spawn_child(args, &allowed[..cores.min(allowed.len())], cores, load_cpu)?;
            transaction_bytes = out.transaction_bytes;
            rounds.push(out.run);
        }
        runs.push(median_round(rounds));
    }
    let first = &runs[0];
    let last = runs.last().expect("a run");
    // The one-core run placed as the all-core one: the load on the node's cores, or not.
    let base =
        runs.iter().find(|r| r.cores == first.cores && r.load_cpu.is_none() == last.load_cpu.is_none());
    let scaling =
        scaled.then(|| base.unwrap_or(first)).map(|b| last.tps / b.tps / last.cores as f64 * b.cores as f64);
    Ok(PipelineReport {
        tps: first.tps,
        p50_ms: first.delivered.p50_ms,
        p99_ms: first.delivered.p99_ms,
        verify_batch_per_s: first.verify_batch_per_s,
        efficiency: first.efficiency,
        scaling,
        cores: last.cores,
        tps_all_cores: scaled.then_some(last.tps),
        verify_batch_per_s_all_cores: scaled.then_some(last.verify_batch_per_s),
        workload: args.workload,
        hot_percent: args.hot_percent,
        intake: if args.http { "http" } else { "inproc" }.into(),
        transactions: args.transactions * args.duration_factor.max(1),
        warmup_transactions: args.warmup,
        accounts: args.accounts,
        transaction_bytes,
        subscribers: args.subscribers,
        sync: args.sync.to_string(),
        block_interval_ms: args.block_interval_ms,
        runs,
    })
}

/// The median round by efficiency (the upper one of an even count), with every round's
/// efficiency and tps in run order.
fn median_round(mut rounds: Vec<RunReport>) -> RunReport {
    let efficiency_rounds: Vec<f64> = rounds.iter().map(|r| r.efficiency).collect();
    let tps_rounds: Vec<f64> = rounds.iter().map(|r| r.tps).collect();
    rounds.sort_by(|a, b| a.efficiency.total_cmp(&b.efficiency));
    let mut median = rounds.swap_remove(rounds.len() / 2);
    median.efficiency_rounds = efficiency_rounds;
    median.tps_rounds = tps_rounds;
    median
}

fn check_args(a: &PipelineArgs) -> anyhow::Result<()> {
    if a.accounts < 4
        || a.transactions == 0
        || a.batch == 0
        || a.clients == 0
        || a.subscribers == 0
        || a.rounds == 0
    {
        bail!("need at least 4 accounts and 1 transaction, batch, client, subscriber and round");
    }
    if a.block_interval_ms == 0 {
        bail!("--block-interval-ms must be positive");
    }
    Ok(())
}

/// Starts `dawn bench --child` pinned to `cpus`, its load on `load_cpu` if given, and
/// reads its figures from its stdout.
fn spawn_child(
    args: &PipelineArgs,
    cpus: &[usize],
    cores: usize,
    load_cpu: Option<usize>,
) -> anyhow::Result<ChildOutput> {
    let exe = std::env::current_exe().context("locating the dawn binary")?;
    let mut cmd = std::process::Command::new(exe);
    if std::env::var_os("RUST_LOG").is_none() {
        cmd.args(["--log-level", "warn"]);
    }
    cmd.arg("bench").arg("--child").args(["--cores", &cores.to_string()]);
    cmd.args(["--transactions", &args.transactions.to_string()]);
    cmd.args(["--accounts", &args.accounts.to_string()]);
    cmd.args(["--workload", &args.workload.to_string()]);
    cmd.args(["--hot-percent", &args.hot_percent.to_string()]);
    cmd.args(["--subscribers", &args.subscribers.to_string()]);
    cmd.args(["--sync", &args.sync.to_string()]);
    cmd.args(["--batch", &args.batch.to_string()]);
    cmd.args(["--clients", &args.clients.to_string()]);
    cmd.args(["--block-interval-ms", &args.block_interval_ms.to_string()]);
    cmd.args(["--duration-factor", &args.duration_factor.to_string()]);
    cmd.args(["--warmup", &args.warmup.to_string()]);
    cmd.arg("--dir").arg(&args.dir);
    if args.http {
        cmd.arg("--http");
    }
    if args.full {
        cmd.arg("--full");
    }
    if let Some(cpu) = load_cpu {
        cmd.args(["--load-cpu", &cpu.to_string()]);
    }
    cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::inherit());
    affinity::pin_child(&mut cmd, cpus);
    let out = cmd.output().context("starting the bench child process")?;
    if !out.status.success() {
        bail!("the {cores}-core run failed ({})", out.status);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().rev().find(|l| l.starts_with('{')).context("the child printed no figures")?;
    serde_json::from_str(line).context("reading the child's figures")
}

/// CPU affinity (Linux): which CPUs this process may use, and pinning a child to some.
mod affinity {
    /// The CPUs this process may run on (every one the machine has where that cannot be
    /// read).
    pub(super) fn allowed_cpus() -> Vec<usize> {
        super::super::pool::allowed_cores()
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect())
    }

    /// A CPU for the bench's load beside a node on `node`: one of `allowed` the node does
    /// not use, preferably sharing no physical core with it (hyperthread siblings share
    /// execution units and caches, which would slow the node); None when the node has
    /// them all.
    pub(super) fn load_cpu(node: &[usize], allowed: &[usize]) -> Option<usize> {
        let free = allowed.iter().copied().filter(|c| !node.contains(c));
        let siblings: Vec<usize> = node.iter().flat_map(|&c| siblings_of(c)).collect();
        free.clone().find(|c| !siblings.contains(c)).or_else(|| free.clone().next())
    }

    /// The hyperthread siblings of `cpu` (itself included), from sysfs; empty where it is
    /// missing.
    fn siblings_of(cpu: usize) -> Vec<usize> {
        let path = format!("/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list");
        std::fs::read_to_string(path).map(|t| parse_cpu_list(&t)).unwrap_or_default()
    }

    /// A sysfs CPU list: `0-3,8,10-11`.
    pub(super) fn parse_cpu_list(text: &str) -> Vec<usize> {
        let mut out = Vec::new();
        for part in text.trim().split(',').filter(|p| !p.is_empty()) {
            let mut ends = part.splitn(2, '-').map(|x| x.trim().parse::<usize>());
            match (ends.next(), ends.next()) {
                (Some(Ok(a)), None) => out.push(a),
                (Some(Ok(a)), Some(Ok(b))) if a <= b => out.extend(a..=b),
                _ => return Vec::new(),
            }
        }
        out
    }

    /// Sets the child's affinity to `cpus` between fork and exec, so that every thread it
    /// ever starts runs on them.
    pub(super) fn pin_child(cmd: &mut std::process::Command, cpus: &[usize]) {
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::process::CommandExt;
            let set = super::super::pool::cpu_set(cpus);
            // SAFETY: sched_setaffinity is a single system call, safe between fork and exec;
            // the set was built before the fork.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (cmd, cpus);
    }
}

/// What the bench needs of the running node.
struct Ready {
    http_addr: SocketAddr,
    intake: Intake,
    exec: ExecView,
    chain_log: Log,
    publish: (SocketAddr, Fingerprint),
    publish_stats: Arc<PublishStats>,
}

/// A snapshot of the stages' counters.
#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    verify: u64,
    admit: u64,
    seal: u64,
    durable: u64,
    blocks: u64,
    exec: u64,
    results: u64,
    poll: u64,
    write: u64,
    syncs: u64,
}

impl Counters {
    fn read(r: &Ready) -> Self {
        let i = r.intake.stats();
        let e = r.exec.stats();
        let p = &r.publish_stats;
        let l = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        Self {
            verify: l(&i.verify_cpu_ns),
            admit: l(&i.admit_cpu_ns),
            seal: l(&i.seal_cpu_ns),
            durable: l(&i.durable_wait_ns),
            blocks: l(&i.blocks),
            exec: l(&e.execute_ns),
            results: l(&e.results_ns),
            poll: l(&p.poll_cpu_ns),
            write: l(&p.write_wait_ns),
            syncs: r.chain_log.stats().syncs,
        }
    }

    /// The busy times since `before`; `verify_pool_s` is the verify pool's CPU time.
    fn busy_since(&self, before: &Self, verify_pool_s: f64) -> StageBusy {
        let s = |a: u64, b: u64| a.saturating_sub(b) as f64 / 1e9;
        let verify = s(self.verify, before.verify);
        StageBusy {
            // The pool runs the whole check of a batch: what is not signatures or the
            // serial admission is hashing and authority lookups.
            intake_prepare_s: (verify_pool_s - verify - s(self.admit, before.admit)).max(0.0),
            intake_verify_s: verify,
            intake_admit_s: s(self.admit, before.admit),
            seal_s: s(self.seal, before.seal),
            durable_wait_s: s(self.durable, before.durable),
            exec_wall_s: s(self.exec, before.exec),
            results_write_wall_s: s(self.results, before.results),
            publish_poll_s: s(self.poll, before.poll),
            publish_write_wait_s: s(self.write, before.write),
            blocks: self.blocks.saturating_sub(before.blocks),
            chain_syncs: self.syncs.saturating_sub(before.syncs),
        }
    }
}

/// CPU seconds per thread of this process, by thread id, with the thread's name.
fn thread_cpu() -> HashMap<u64, (String, f64)> {
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else { return out };
    for e in dir.flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else { continue };
        let Some((name, seconds)) = super::bench::stat_cpu(&stat) else { continue };
        let tid = e.file_name().to_string_lossy().parse().unwrap_or(0);
        out.insert(tid, (name.to_string(), seconds));
    }
    out
}

fn thread_cpu_since(before: &HashMap<u64, (String, f64)>) -> ThreadCpu {
    let mut t = ThreadCpu::default();
    for (tid, (name, now)) in thread_cpu() {
        let s = now - before.get(&tid).map_or(0.0, |b| b.1);
        if name.starts_with(LOAD_THREAD) {
            t.load_s += s;
            continue;
        }
        let slot = if name.starts_with("dawn-verify") {
            &mut t.verify_pool_s
        } else if name.starts_with("dawn-rt") {
            &mut t.runtime_s
        } else if name.starts_with("dawn-exec-") {
            &mut t.exec_workers_s
        } else if name == "dawn-exec" {
            &mut t.exec_stage_s
        } else if name.starts_with("dawn-log-sync") {
            &mut t.log_sync_s
        } else {
            &mut t.other_s
        };
        *slot += s;
        t.total_s += s;
    }
    t
}

/// Minor page faults of this process so far, from /proc/self/stat (0 where it is missing).
fn minor_faults() -> u64 {
    stat_minor_faults(&std::fs::read_to_string("/proc/self/stat").unwrap_or_default()).unwrap_or(0)
}

/// The minor faults in a `/proc/.../stat` line.
fn stat_minor_faults(stat: &str) -> Option<u64> {
    // minflt is the 10th field.
    super::bench::stat_fields(stat)?.1.get(7)?.parse().ok()
}

/// `(VmRSS, VmHWM, RssAnon)` in bytes (zeros where /proc is missing).
fn memory() -> (u64, u64, u64) {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |k: &str| {
        text.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"), field("RssAnon:"))
}

fn account_key(i: usize) -> PrivateKey {
    PrivateKey::from_seed(format!("dawn pipeline bench account {i}").as_bytes())
}

/// A buffer of the bench's own (a pusher's pre-built batches, the records of a run), held
/// only to be dropped later: until the measured window ends, and a warm-up's until the
/// figures after it are read, so that the node never reuses their pages while measured.
type Resident = Box<dyn Send>;

/// One submitted transaction: its index in the workload, times since the start (ns) and
/// where it landed.
#[derive(Debug, Clone, Copy, Default)]
struct Submitted {
    tx: u32,
    submit_ns: u64,
    ack_ns: u64,
    block: u32,
    index: u32,
}

/// One delivered transaction: where it is, when it arrived (ns since the start), and
/// whether its receipt says executed.
#[derive(Debug, Clone, Copy, Default)]
struct Delivered {
    block: u32,
    index: u32,
    at_ns: u64,
    executed: bool,
}

/// A vector with room for `n` items whose pages are already resident, so that filling it
/// does not count as growth in the memory figures.
fn resident<T: Default + Clone>(n: usize) -> Vec<T> {
    // `resize` writes every element; `vec![x; n]` may take a zeroed allocation for types
    // whose default is all zeros, whose pages the OS maps only when first written.
    let mut v = Vec::with_capacity(n);
    v.resize(n, T::default());
    v.clear();
    v
}

/// Growth per transaction after the half-way sample `(delivered, anonymous RSS)`, if at
/// least a quarter of the `count` transactions came after it.
fn second_half_growth(count: u64, (delivered, rss_half): (u64, u64), rss_end: u64) -> Option<f64> {
    let after = count.saturating_sub(delivered);
    (after > 0 && after >= count / 4).then(|| (rss_end as f64 - rss_half as f64) / after as f64)
}

/// Runs one configuration in this process.
fn run_child(args: &PipelineArgs) -> anyhow::Result<ChildOutput> {
    check_args(args)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    super::pool::init_verify_pool(cores, true);
    let count = args.transactions * args.duration_factor.max(1);
    let warm = args.warmup;
    if count.checked_add(warm).is_none_or(|all| all > u32::MAX as usize) {
        bail!("at most {} transactions, warm-up included", u32::MAX);
    }
    let m = args.accounts;
    let label = format!("{cores} core{}", if cores == 1 { "" } else { "s" });

    // The chain: workload accounts, each with its own key.
    let keys: Vec<PrivateKey> = (0..m).into_par_iter().map(account_key).collect();
    let mut genesis = workload::genesis(m);
    for (a, k) in genesis.accounts.iter_mut().zip(&keys) {
        a.owner_key = k.public();
        a.active_key = k.public();
    }
    let chain = genesis.chain_id();
    // TaPoS names the genesis pseudo-block 0, whose prefix comes from the chain id.
    let prefix = crate::ingest::History::new(&chain).genesis.ref_block_prefix();
    let expiration = TimePointSec(TimePointSec::now().0 + 3000);
    let stamp = |mut t: Transaction| {
        t.expiration = expiration;
        t.ref_block_num = 0;
        t.ref_block_prefix = prefix;
        t
    };
    let contract = match args.workload {
        Workload::Native => n("eosio.token"),
        Workload::Wasm => workload::WASM_TOKEN,
    };
    let index: HashMap<Name, usize> = (0..m).map(|i| (workload::account(i), i)).collect();
    // The warm-up's transactions first, then the measured ones: one sequence, so no two
    // are alike (each carries its place in it).
    let pb = progress((warm + count) as u64, &format!("{label}: pre-signing"));
    let plain = workload::transfers(contract, m, warm + count, args.hot_percent, 7);
    let all_senders: Vec<usize> = plain.iter().map(|t| index[&t.actions[0].authorization[0].actor]).collect();
    let all: Vec<SignedTransaction> = plain
        .into_par_iter()
        .zip(all_senders.par_iter())
        .map(|(t, s)| {
            pb.inc(1);
            SignedTransaction::sign(stamp(t), &[&keys[*s]], &chain)
        })
        .collect();
    pb.finish_and_clear();
    let (warm_txs, txs) = all.split_at(warm);
    let senders = &all_senders[warm..];
    let transaction_bytes = codec::encode(&txs[0]).len();

    // The ceiling: plain batched verification of the same signatures on the same cores.
    let sample = count.min(VERIFY_SAMPLE_MAX);
    let items: Vec<_> = txs[..sample]
        .par_iter()
        .zip(senders[..sample].par_iter())
        .map(|(t, s)| (t.transaction.signing_digest(&chain), t.signatures[0], keys[*s].public()))
        .collect();
    let mut rates =
        (0..3).map(|_| super::bench::verify_rate(&items)).collect::<anyhow::Result<Vec<f64>>>()?;
    rates.sort_by(f64::total_cmp);
    let verify_batch_per_s = rates[1];
    drop(items);

    // Subscribers: the senders split into groups, one group's transfers each.
    let mut groups: Vec<Vec<Name>> = vec![Vec::new(); args.subscribers];
    let mut sender_group = vec![usize::MAX; m];
    let mut distinct: Vec<usize> = all_senders.clone();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < args.subscribers {
        bail!("{} senders cannot be split among {} subscribers", distinct.len(), args.subscribers);
    }
    for (k, s) in distinct.iter().enumerate() {
        groups[k % args.subscribers].push(workload::account(*s));
        sender_group[*s] = k % args.subscribers;
    }
    if groups[0].len() > FILTER_NAMES_MAX {
        bail!(
            "{} senders per subscriber; a filter holds at most {FILTER_NAMES_MAX}: raise --subscribers",
            groups[0].len()
        );
    }
    let expected_of = |senders: &[usize]| {
        let mut expected = vec![0usize; args.subscribers];
        for s in senders {
            expected[sender_group[*s]] += 1;
        }
        expected
    };
    let (expected_warm, expected) = (expected_of(&all_senders[..warm]), expected_of(senders));

    // The node.
    let data = tempfile::Builder::new().prefix("dawn-pipeline-bench-").tempdir_in(&args.dir)?;
    let config = NodeConfig {
        data_dir: data.path().to_path_buf(),
        http_addr: "127.0.0.1:0".parse().expect("addr"),
        intake: IntakeConfig {
            block_interval: Duration::from_millis(args.block_interval_ms),
            block: BlockLimits { transactions_max: 100_000, bytes_max: 32 << 20, ..BlockLimits::default() },
            queue_max: 2 * (warm + count) + 100_000,
            ..IntakeConfig::default()
        },
        sync: args.sync,
        exec: ExecConfig { threads: cores, ..ExecConfig::default() },
        publish: Some(PublishConfig {
            addr: "127.0.0.1:0".parse().expect("addr"),
            ..PublishConfig::default()
        }),
        gateway: None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .thread_name("dawn-rt")
        .enable_all()
        .build()?;
    // The bench's pushers and subscribers: on their own runtime, kept to their own CPU,
    // when the bench gave one; else on the node's runtime. The report names the CPU only
    // if every load thread was kept to it.
    let load_pinned = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let load_rt = match args.load_cpu {
        Some(cpu) => {
            let pinned = load_pinned.clone();
            Some(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name(LOAD_THREAD)
                    .on_thread_start(move || {
                        if !super::pool::pin_current_thread(cpu) {
                            pinned.store(false, Ordering::Relaxed);
                        }
                    })
                    .enable_all()
                    .build()?,
            )
        }
        None => None,
    };
    let load = load_rt.as_ref().unwrap_or(&rt).handle().clone();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Ready>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let node = rt.spawn(super::run(
        config,
        genesis,
        workload::producer_key(),
        async {
            let _ = stop_rx.await;
        },
        move |node| {
            if let (Some(publish), Some(publish_stats)) = (node.publish, node.publish_stats.clone()) {
                let _ = ready_tx.send(Ready {
                    http_addr: node.http_addr,
                    intake: node.intake.clone(),
                    exec: node.exec.clone(),
                    chain_log: node.chain_log.clone(),
                    publish,
                    publish_stats,
                });
            }
        },
    ));
    let ready = match ready_rx.recv_timeout(Duration::from_secs(60)) {
        Ok(r) => r,
        Err(_) => {
            // A node that failed has ended; one that is only slow is told to stop.
            let _ = stop_tx.send(());
            return Err(match rt.block_on(node) {
                Ok(Err(e)) => e.context("the bench node did not start"),
                _ => anyhow::anyhow!("the bench node did not start"),
            });
        }
    };
    let ready = Arc::new(ready);
    let result = rt.block_on(async {
        if args.workload == Workload::Wasm {
            deploy_wasm(&ready, args.accounts, &chain, &stamp).await?;
        }
        let mut warmup_tps = None;
        let mut kept = Vec::new();
        if warm > 0 {
            let warmup = format!("{label}, warm-up");
            let w =
                measure(args, &ready, &load, warm_txs, &expected_warm, &groups, &warmup, &mut kept).await?;
            tracing::info!(target: "dawn::bench", tps = w.tps, "warm-up done");
            warmup_tps = Some(w.tps);
        }
        let run = measure(args, &ready, &load, txs, &expected, &groups, &label, &mut kept).await?;
        drop(kept);
        anyhow::Ok(RunReport { warmup_transactions: warm, warmup_tps, ..run })
    });
    drop(load_rt);
    let load_cpu = args.load_cpu.filter(|_| load_pinned.load(Ordering::Relaxed));
    if args.load_cpu.is_some() && load_cpu.is_none() {
        tracing::warn!(target: "dawn::bench", "the bench's load could not be kept to its own CPU: it shared the node's");
    }
    let _ = stop_tx.send(());
    let stopped = rt.block_on(node);
    let run = result?;
    stopped??;
    Ok(ChildOutput {
        run: RunReport {
            cores,
            exec_threads: cores,
            verify_batch_per_s,
            efficiency: run.tps / verify_batch_per_s,
            load_cpu,
            ..run
        },
        transaction_bytes,
    })
}

fn progress(len: u64, msg: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{msg:>28} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    pb.set_message(msg.to_string());
    pb
}

/// Waits until exec has applied block `num`.
async fn wait_applied(exec: &ExecView, num: u32) -> anyhow::Result<()> {
    let mut head = exec.subscribe_head();
    tokio::time::timeout(Duration::from_secs(60), head.wait_for(|h| h.is_some_and(|h| h.num.0 >= num)))
        .await
        .context("exec did not apply the setup blocks within 60 s")??;
    Ok(())
}

/// Deploys and funds the WASM token through intake, one step per block.
async fn deploy_wasm(
    ready: &Ready,
    accounts: usize,
    chain: &crate::chain::ChainId,
    stamp: impl Fn(Transaction) -> Transaction,
) -> anyhow::Result<()> {
    let [deploy, fund] = workload::deploy_wasm_token(accounts);
    let producer = workload::producer_key();
    // newaccount, then setcode (authorized by the new account), then the funding (the
    // code takes effect at the block after setcode).
    let steps: Vec<Vec<Transaction>> = deploy.into_iter().map(|t| vec![t]).chain([fund]).collect();
    for step in steps {
        let signed: Vec<SignedTransaction> =
            step.into_iter().map(|t| SignedTransaction::sign(stamp(t), &[&producer], chain)).collect();
        let mut last = 0;
        for r in ready.intake.push(signed).await {
            last = last.max(r.context("a WASM token setup transaction was refused")?.block_num.0);
        }
        wait_applied(&ready.exec, last).await?;
        // Every setup receipt must say executed.
        let block = ready.exec.block_results(crate::chain::BlockNum(last)).context("setup results")?;
        if let Some(t) = block.transactions.iter().find(|t| t.receipt.status != TransactionStatus::Executed) {
            bail!("a WASM token setup transaction failed: {:?}", t.error);
        }
    }
    Ok(())
}

/// One subscriber: subscribes (then reports through `opened`) and collects `expect`
/// transactions with their arrival times.
async fn subscriber(
    config: ClientConfig,
    request: Subscribe,
    expect: usize,
    t0: Instant,
    pb: ProgressBar,
    opened: tokio::sync::oneshot::Sender<()>,
) -> anyhow::Result<Vec<Delivered>> {
    let mut sub = Subscription::open(&config, &request).await?;
    let _ = opened.send(());
    let mut out: Vec<Delivered> = resident(expect);
    while out.len() < expect {
        let batch = sub.next_batch().await?;
        let at_ns = t0.elapsed().as_nanos() as u64;
        let before = out.len();
        for m in batch {
            if let Message::Transaction(t) = m {
                out.push(Delivered {
                    block: t.cursor.block_num.0,
                    index: t.cursor.seq - 1,
                    at_ns,
                    executed: t.receipt.status == TransactionStatus::Executed,
                });
            }
        }
        pb.inc((out.len() - before) as u64);
    }
    sub.close();
    Ok(out)
}

/// Pushes `txs` through the node and measures them; every buffer of the run is moved to
/// `keep` at the end, for the caller to drop when no later window is measured.
#[allow(clippy::too_many_arguments)]
async fn measure(
    args: &PipelineArgs,
    ready: &Arc<Ready>,
    load: &tokio::runtime::Handle,
    txs: &[SignedTransaction],
    expected: &[usize],
    groups: &[Vec<Name>],
    label: &str,
    keep: &mut Vec<Resident>,
) -> anyhow::Result<RunReport> {
    let count = txs.len();
    // Applied times of blocks, as exec publishes its head.
    let applied_log: Arc<Mutex<Vec<(u32, u64)>>> = Arc::new(Mutex::new(resident(count + 1024)));
    let t0 = Instant::now();
    let watcher = {
        let mut head = ready.exec.subscribe_head();
        let log = applied_log.clone();
        load.spawn(async move {
            while head.changed().await.is_ok() {
                let num = head.borrow_and_update().map_or(0, |h| h.num.0);
                let at = t0.elapsed().as_nanos() as u64;
                log.lock().expect("applied log").push((num, at));
            }
        })
    };
    // Subscribers, at the head before the first submit.
    let pb = progress(count as u64, &format!("{label}: delivered"));
    let client = ClientConfig::pinned(ready.publish.0, ready.publish.1);
    let projection = if args.full { Projection::Full } else { Projection::Receipts };
    let mut subs = Vec::new();
    for (group, expect) in groups.iter().zip(expected) {
        let request = Subscribe {
            version: crate::publish::protocol::PROTOCOL_VERSION,
            commitment: Commitment::Applied,
            start: Start::Head,
            filter: Filter(vec![TxFilter {
                actors: NameLists { include: group.clone(), ..Default::default() },
                ..Default::default()
            }]),
            projection,
            heartbeat_ms: 1000,
        };
        // Opened here, so that each is subscribed before anything is submitted.
        let (open_tx, open_rx) = tokio::sync::oneshot::channel();
        let (config, expect, pb) = (client.clone(), *expect, pb.clone());
        subs.push(load.spawn(subscriber(config, request, expect, t0, pb, open_tx)));
        if open_rx.await.is_err() {
            let failed = subs.pop().expect("the task just pushed").await?;
            return Err(failed.err().unwrap_or_else(|| anyhow::anyhow!("a subscriber ended early")))
                .context("subscribing to the bench node");
        }
    }

    // The pushers' work, split before the clock starts.
    let batches: Vec<(u32, &[SignedTransaction])> =
        txs.chunks(args.batch).enumerate().map(|(i, c)| ((i * args.batch) as u32, c)).collect();
    let per_client: Vec<Vec<(u32, Vec<SignedTransaction>)>> = (0..args.clients)
        .map(|c| batches.iter().skip(c).step_by(args.clients).map(|(s, b)| (*s, b.to_vec())).collect())
        .collect();
    let http_batches: Vec<Vec<(u32, usize, Vec<u8>)>> = if args.http {
        per_client
            .iter()
            .map(|bs| bs.iter().map(|(s, b)| (*s, b.len(), codec::encode(b))).collect())
            .collect()
    } else {
        Vec::new()
    };
    let per_client = if args.http { Vec::new() } else { per_client };
    let mut records: Vec<Vec<Submitted>> =
        (0..args.clients).map(|_| resident(count / args.clients + args.batch)).collect();

    let before = Counters::read(ready);
    let cpu_before = thread_cpu();
    let (_, _, rss_anon_start) = memory();
    let faults_start = minor_faults();
    let start_ns = t0.elapsed().as_nanos() as u64;
    // Memory at half the deliveries, for the second half's growth.
    let half = {
        let (pb, target, intake) = (pb.clone(), count as u64 / 2, ready.intake.clone());
        load.spawn(async move {
            loop {
                let delivered = pb.position();
                if delivered >= target {
                    return (delivered, memory().2, intake.dedup_window_bytes() as u64);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    let mut pushers = Vec::new();
    if args.http {
        let url = format!("http://{}/v1/chain/push_transactions", ready.http_addr);
        for (batches, mut rec) in http_batches.into_iter().zip(records.drain(..)) {
            let url = url.clone();
            pushers.push(load.spawn(async move {
                for (first, len, body) in &batches {
                    let (first, len) = (*first, *len);
                    let submit_ns = t0.elapsed().as_nanos() as u64;
                    // A copy: the pre-encoded batch stays resident until the window ends.
                    let (status, v) =
                        super::client::post_raw(&url, "application/octet-stream", body.clone()).await?;
                    let ack_ns = t0.elapsed().as_nanos() as u64;
                    if status != 200 {
                        bail!("push_transactions failed ({status}): {v}");
                    }
                    let results = v.as_array().map(Vec::as_slice).unwrap_or_default();
                    if results.len() != len {
                        bail!("push_transactions answered {} results for {len}", results.len());
                    }
                    for (k, r) in results.iter().enumerate() {
                        if r["status"] != "accepted" {
                            bail!("transaction refused: {r}");
                        }
                        let field = |f: &str| r[f].as_u64().and_then(|x| u32::try_from(x).ok());
                        let (Some(block), Some(index)) = (field("block_num"), field("block_index")) else {
                            bail!("an acknowledgement without its block: {r}");
                        };
                        rec.push(Submitted { tx: first + k as u32, submit_ns, ack_ns, block, index });
                    }
                }
                anyhow::Ok((rec, Box::new(batches) as Resident))
            }));
        }
    } else {
        for (batches, mut rec) in per_client.into_iter().zip(records.drain(..)) {
            let intake = ready.intake.clone();
            pushers.push(load.spawn(async move {
                for (first, batch) in &batches {
                    let first = *first;
                    let submit_ns = t0.elapsed().as_nanos() as u64;
                    // A copy, as a client builds its transactions: the pre-signed ones stay
                    // resident until the window ends, so freeing them is not measured and
                    // their memory is not reused by the node's (memory figures).
                    let acks = intake.push(batch.clone()).await;
                    let ack_ns = t0.elapsed().as_nanos() as u64;
                    for (k, a) in acks.into_iter().enumerate() {
                        let a = a.context("a transaction was refused")?;
                        rec.push(Submitted {
                            tx: first + k as u32,
                            submit_ns,
                            ack_ns,
                            block: a.block_num.0,
                            index: a.index,
                        });
                    }
                }
                anyhow::Ok((rec, Box::new(batches) as Resident))
            }));
        }
    }
    // Each pusher's records and batches, kept as they are until the figures are read.
    let mut pushed: Vec<(Vec<Submitted>, Resident)> = Vec::with_capacity(pushers.len());
    for p in pushers {
        pushed.push(p.await??);
    }
    let mut delivered: Vec<Vec<Delivered>> = Vec::new();
    for s in subs {
        let d = tokio::time::timeout(DELIVERY_TIMEOUT, s)
            .await
            .context("the subscribers did not receive every transaction in time")???;
        delivered.push(d);
    }
    let end_ns = t0.elapsed().as_nanos() as u64;
    let (rss_end, rss_peak, rss_anon_end) = memory();
    let faults = minor_faults().saturating_sub(faults_start);
    let dedup_end = ready.intake.dedup_window_bytes() as u64;
    let (delivered_half, rss_anon_half, dedup_half) = half.await?;
    let threads = thread_cpu_since(&cpu_before);
    let mut submitted: Vec<Submitted> = Vec::with_capacity(count);
    let mut batches = Vec::with_capacity(pushed.len());
    for (records, b) in pushed {
        submitted.extend(records);
        batches.push(b);
    }
    let stages = Counters::read(ready).busy_since(&before, threads.verify_pool_s);
    pb.finish_and_clear();
    // Exec publishes its head just after the results are in the log, which subscribers
    // may already read: let the watcher see the last block before stopping it.
    let last_block = submitted.iter().map(|s| s.block).max().unwrap_or(0);
    wait_applied(&ready.exec, last_block).await?;
    tokio::task::yield_now().await;
    while applied_log.lock().expect("applied log").last().is_none_or(|x| x.0 < last_block) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    watcher.abort();

    // Every transaction acknowledged once, delivered once, executed.
    if submitted.len() != count {
        bail!("{} of {count} transactions acknowledged", submitted.len());
    }
    let mut at: HashMap<(u32, u32), u32> = HashMap::with_capacity(count);
    for (i, s) in submitted.iter().enumerate() {
        if at.insert((s.block, s.index), i as u32).is_some() {
            bail!("two transactions acknowledged at block {} index {}", s.block, s.index);
        }
    }
    let mut delivery_ns = vec![u64::MAX; count];
    let mut last_delivery = 0;
    for (k, d) in delivered.iter().enumerate() {
        if d.len() != expected[k] {
            bail!("subscriber {k} received {} transactions, its filter selects {}", d.len(), expected[k]);
        }
        for x in d {
            let Some(&i) = at.get(&(x.block, x.index)) else {
                bail!("subscriber {k} received block {} index {}, which nobody submitted", x.block, x.index);
            };
            if !x.executed {
                bail!(
                    "transaction {} was not executed (block {} index {})",
                    submitted[i as usize].tx,
                    x.block,
                    x.index
                );
            }
            if delivery_ns[i as usize] != u64::MAX {
                bail!("block {} index {} delivered twice", x.block, x.index);
            }
            delivery_ns[i as usize] = x.at_ns;
            last_delivery = last_delivery.max(x.at_ns);
        }
    }
    if let Some(i) = delivery_ns.iter().position(|d| *d == u64::MAX) {
        bail!("transaction {} was never delivered", submitted[i].tx);
    }
    let first_submit = submitted.iter().map(|s| s.submit_ns).min().unwrap_or(start_ns);
    let last_ack = submitted.iter().map(|s| s.ack_ns).max().unwrap_or(start_ns);
    let applied = applied_log.lock().expect("applied log").clone();
    let applied_at = |block: u32| {
        let k = applied.partition_point(|(n, _)| *n < block);
        applied.get(k).map(|x| x.1)
    };
    let ms = |a: u64, b: u64| a.saturating_sub(b) as f64 / 1e6;
    let mut ack = Vec::with_capacity(count);
    let mut app = Vec::with_capacity(count);
    let mut del = Vec::with_capacity(count);
    let mut blocks: Vec<u32> = Vec::new();
    for (s, d) in submitted.iter().zip(&delivery_ns) {
        ack.push(ms(s.ack_ns, s.submit_ns));
        let a = applied_at(s.block).with_context(|| format!("block {} was never seen applied", s.block))?;
        // The results are in the log a moment before exec publishes its head: a delivery
        // proves the block applied.
        app.push(ms(a.min(*d), s.submit_ns));
        del.push(ms(*d, s.submit_ns));
        blocks.push(s.block);
    }
    blocks.sort_unstable();
    blocks.dedup();
    let seconds = (last_delivery - first_submit) as f64 / 1e9;
    let window = (end_ns - start_ns) as f64 / 1e9;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpu_busy = threads.total_s / window / cores as f64;
    let (ack_ms, applied_ms, delivered_ms) =
        (Latency::of(&mut ack), Latency::of(&mut app), Latency::of(&mut del));
    keep.push(Box::new((batches, submitted, at, delivery_ns, delivered, applied, (ack, app, del))));
    Ok(RunReport {
        cores,
        exec_threads: cores,
        tps: count as f64 / seconds,
        accepted_tps: count as f64 / ((last_ack - first_submit) as f64 / 1e9),
        verify_batch_per_s: 0.0,
        efficiency: 0.0,
        ack: ack_ms,
        applied: applied_ms,
        delivered: delivered_ms,
        seconds,
        stages,
        threads,
        cpu_busy,
        // Named by the caller, which knows whether the load was kept to its CPU.
        load_cpu: None,
        memory: Memory {
            rss_anon_start,
            rss_anon_end,
            rss_end,
            rss_peak,
            rss_growth_bytes_per_tx: (rss_anon_end as f64 - rss_anon_start as f64) / count as f64,
            rss_anon_half,
            rss_growth_bytes_per_tx_second_half: second_half_growth(
                count as u64,
                (delivered_half, rss_anon_half),
                rss_anon_end,
            ),
            minor_faults: faults,
            dedup_window_bytes_half: dedup_half,
            dedup_window_bytes_end: dedup_end,
            rss_growth_beyond_dedup_bytes_per_tx_second_half: second_half_growth(
                count as u64,
                (delivered_half, rss_anon_half.saturating_sub(dedup_half)),
                rss_anon_end.saturating_sub(dedup_end),
            ),
        },
        transactions: count,
        warmup_transactions: 0,
        warmup_tps: None,
        blocks: blocks.len(),
        efficiency_rounds: Vec::new(),
        tps_rounds: Vec::new(),
    })
}

fn print_table(r: &PipelineReport) {
    let hot =
        if r.hot_percent == 0 { "disjoint pairs".to_string() } else { format!("{}% hot", r.hot_percent) };
    println!(
        "{} token transfers: {} of {} B over {} accounts ({hot}), after {} to warm up; {} subscribers, intake {}, sync {}, blocks every {} ms",
        r.workload, r.transactions, r.transaction_bytes, r.accounts, r.warmup_transactions, r.subscribers, r.intake, r.sync, r.block_interval_ms
    );
    let head: Vec<String> = r
        .runs
        .iter()
        .map(|x| {
            let load = if x.load_cpu.is_some() { ", load apart" } else { "" };
            format!("{} core{}{load}", x.cores, if x.cores == 1 { "" } else { "s" })
        })
        .collect();
    let row = |name: &str, cells: Vec<String>| {
        print!("{name:<50}");
        for c in cells {
            print!(" {c:>20}");
        }
        println!();
    };
    let each = |f: &dyn Fn(&RunReport) -> String| r.runs.iter().map(f).collect::<Vec<_>>();
    let lat = |l: &Latency| format!("{:.1} / {:.1} / {:.1}", l.p50_ms, l.p99_ms, l.max_ms);
    let share = |s: f64, x: &RunReport| format!("{s:.2} s  {:>4.0}%", 100.0 * s / x.seconds);
    row("", head);
    row("tps (submit to delivered, applied)", each(&|x| format!("{:.0}", x.tps)));
    row("verify_batch_per_s (ceiling)", each(&|x| format!("{:.0}", x.verify_batch_per_s)));
    row("tps / verify_batch_per_s", each(&|x| format!("{:.2}", x.efficiency)));
    if r.runs.iter().any(|x| x.efficiency_rounds.len() > 1) {
        let list = |v: &[f64]| v.iter().map(|e| format!("{e:.2}")).collect::<Vec<_>>().join(" ");
        row("  every round (the median is reported)", each(&|x| list(&x.efficiency_rounds)));
    }
    if r.runs.iter().any(|x| x.warmup_tps.is_some()) {
        let cold = |x: &RunReport| x.warmup_tps.map_or("-".into(), |t| format!("{t:.0}"));
        row("  the warm-up's tps (from genesis)", each(&cold));
    }
    row("accepted tps (submit to durable ack)", each(&|x| format!("{:.0}", x.accepted_tps)));
    row("latency ms p50/p99/max: ack", each(&|x| lat(&x.ack)));
    row("  applied", each(&|x| lat(&x.applied)));
    row("  delivered", each(&|x| lat(&x.delivered)));
    row("run: seconds, blocks", each(&|x| format!("{:.2} s, {}", x.seconds, x.blocks)));
    println!("stage busy (CPU seconds unless marked, share of the run)");
    row("  intake: hashing, authorities", each(&|x| share(x.stages.intake_prepare_s, x)));
    row("  intake: signature verify", each(&|x| share(x.stages.intake_verify_s, x)));
    row("  intake: dedup, queueing", each(&|x| share(x.stages.intake_admit_s, x)));
    row("  block sealing", each(&|x| share(x.stages.seal_s, x)));
    row("  durable wait (group commit; wall)", each(&|x| share(x.stages.durable_wait_s, x)));
    row("  exec: executing blocks (wall)", each(&|x| share(x.stages.exec_wall_s, x)));
    row("  exec: writing results (wall)", each(&|x| share(x.stages.results_write_wall_s, x)));
    row("  publish: session polls", each(&|x| share(x.stages.publish_poll_s, x)));
    row("  publish: stream write waits (wall)", each(&|x| share(x.stages.publish_write_wait_s, x)));
    row("  chain log fdatasyncs", each(&|x| format!("{}", x.stages.chain_syncs)));
    println!("CPU by thread (seconds, share of the run's core-seconds)");
    let cpu = |s: f64, x: &RunReport| format!("{s:.2} s  {:>4.0}%", 100.0 * s / (x.seconds * x.cores as f64));
    row("  verify pool", each(&|x| cpu(x.threads.verify_pool_s, x)));
    row("  tokio (sealing, publish, QUIC; load if shared)", each(&|x| cpu(x.threads.runtime_s, x)));
    row("  exec stage thread", each(&|x| cpu(x.threads.exec_stage_s, x)));
    row("  exec workers", each(&|x| cpu(x.threads.exec_workers_s, x)));
    row("  log syncers", each(&|x| cpu(x.threads.log_sync_s, x)));
    row("  other", each(&|x| cpu(x.threads.other_s, x)));
    row("  all the node's", each(&|x| cpu(x.threads.total_s, x)));
    row(
        "bench pushers, subscribers (own CPU; seconds)",
        each(&|x| {
            x.load_cpu.map_or("on the node's".into(), |c| format!("CPU {c}: {:.2} s", x.threads.load_s))
        }),
    );
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    row(
        "memory: anon RSS start -> end MiB",
        each(&|x| format!("{:.0} -> {:.0}", mib(x.memory.rss_anon_start), mib(x.memory.rss_anon_end))),
    );
    row("  growth bytes per transaction", each(&|x| format!("{:.1}", x.memory.rss_growth_bytes_per_tx)));
    row(
        "    in the run's second half",
        each(&|x| x.memory.rss_growth_bytes_per_tx_second_half.map_or("-".into(), |g| format!("{g:.1}"))),
    );
    row(
        "    beyond the dedup window",
        each(&|x| {
            x.memory
                .rss_growth_beyond_dedup_bytes_per_tx_second_half
                .map_or("-".into(), |g| format!("{g:.1}"))
        }),
    );
    row(
        "  dedup window MiB, half -> end",
        each(&|x| {
            format!(
                "{:.0} -> {:.0}",
                mib(x.memory.dedup_window_bytes_half),
                mib(x.memory.dedup_window_bytes_end)
            )
        }),
    );
    row("  peak RSS MiB", each(&|x| format!("{:.0}", mib(x.memory.rss_peak))));
    row("  minor page faults in the run", each(&|x| format!("{}", x.memory.minor_faults)));
    if let Some(s) = r.scaling {
        println!(
            "scaling: {}-core tps over 1-core tps (load placed alike), per core = {s:.2} (1.00 is linear)",
            r.cores
        );
    }
}

#[cfg(test)]
mod tests {
    use super::{affinity, second_half_growth, stat_minor_faults};

    #[test]
    fn minor_faults_are_read_past_a_name_with_parentheses() {
        let stat = "42 (a) b (c) ) S 1 42 42 0 -1 4194560 12345 0 7 0 100 20 0 0 20 0 3";
        assert_eq!(stat_minor_faults(stat), Some(12345));
        assert_eq!(stat_minor_faults("42 (dawn) S 1"), None);
        assert_eq!(stat_minor_faults("no name"), None);
    }

    #[test]
    fn sysfs_cpu_lists_parse() {
        assert_eq!(affinity::parse_cpu_list("0-3,8,10-11\n"), vec![0, 1, 2, 3, 8, 10, 11]);
        assert_eq!(affinity::parse_cpu_list("5"), vec![5]);
        assert_eq!(affinity::parse_cpu_list(""), Vec::<usize>::new());
        assert_eq!(affinity::parse_cpu_list("3-1"), Vec::<usize>::new(), "a backward range is refused");
        assert_eq!(affinity::parse_cpu_list("x"), Vec::<usize>::new());
    }

    #[test]
    fn the_load_cpu_is_one_the_node_does_not_use() {
        assert_eq!(affinity::load_cpu(&[0, 1], &[0, 1]), None);
        let c = affinity::load_cpu(&[0], &[0, 1, 2]).unwrap();
        assert!(c == 1 || c == 2);
        assert_eq!(affinity::load_cpu(&[2], &[2, 5]), Some(5));
    }

    #[test]
    fn second_half_growth_needs_a_quarter_of_the_run() {
        assert_eq!(second_half_growth(1000, (500, 1_000), 51_000), Some(100.0));
        assert_eq!(second_half_growth(1000, (750, 0), 250), Some(1.0));
        assert_eq!(second_half_growth(1000, (800, 0), 200), None, "sampled too late");
        assert_eq!(second_half_growth(1000, (1000, 0), 0), None);
        assert_eq!(second_half_growth(0, (0, 0), 0), None);
        assert_eq!(second_half_growth(100, (50, 1_000), 500), Some(-10.0), "memory may shrink");
    }
}
