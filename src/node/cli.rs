//! The node's commands: `dev`, `run`, `keys`, `push`, `get`, `genesis`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::chain::{
    codec, Action, BlockId, Bytes, Checksum256, Genesis, Name, PermissionLevel, PrivateKey,
    SignedTransaction, TimePointSec, Transaction,
};
use crate::exec::ExecConfig;
use crate::ingest::{BlockLimits, IntakeConfig};
use crate::log::SyncPolicy;

use super::{client, dev, erc20, NodeConfig};

/// Settings of a running node.
#[derive(Debug, Clone, Args)]
pub struct NodeArgs {
    /// Data directory (genesis.json and the chain log).
    #[arg(long, default_value = "./data/dev")]
    pub data_dir: PathBuf,
    /// Address of the HTTP API.
    #[arg(long, default_value = "127.0.0.1:8888")]
    pub http: SocketAddr,
    /// Milliseconds between blocks.
    #[arg(long, default_value_t = 500)]
    pub block_interval_ms: u64,
    /// Most transactions in a block.
    #[arg(long, default_value_t = BlockLimits::default().transactions_max)]
    pub block_transactions: usize,
    /// Chain log sync policy: `always` (group commit), `interval:MS`, or `never`.
    #[arg(long, default_value = "always")]
    pub sync: SyncPolicy,
    /// Threads executing a block's independent transactions (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub exec_threads: usize,
    /// Write a state snapshot every this many blocks (0: never; a restart then replays the
    /// whole chain log).
    #[arg(long, default_value_t = 1_000)]
    pub snapshot_interval: u32,
    /// Address (UDP) of the publish endpoint, the QUIC streams subscribers read.
    #[arg(long, default_value = crate::publish::server::DEFAULT_ADDR)]
    pub publish: SocketAddr,
    /// Do not serve the publish endpoint.
    #[arg(long)]
    pub no_publish: bool,
    /// Accept only subscribers presenting a client certificate with this SHA-256
    /// fingerprint (repeatable; none: anyone may subscribe).
    #[arg(long = "publish-allow-client", value_name = "FINGERPRINT")]
    pub publish_allow_clients: Vec<crate::publish::Fingerprint>,
    /// Address of the IPFS gateway (HTTP: `/ipfs/CID`, trustless `?format=car|raw`, and
    /// signed uploads within quotas).
    #[arg(long, default_value = crate::ipfs::gateway::DEFAULT_GATEWAY_ADDR)]
    pub gateway: SocketAddr,
    /// Do not serve the IPFS gateway.
    #[arg(long)]
    pub no_gateway: bool,
    /// Storage the gateway shares among token holders, in GiB (pro-rata to balances).
    #[arg(long, default_value_t = 100)]
    pub storage_capacity_gib: u64,
    /// Let the kernel place the signature-check workers freely (by default each is kept
    /// to its own core).
    #[arg(long)]
    pub no_pin: bool,
}

impl NodeArgs {
    fn config(&self) -> NodeConfig {
        NodeConfig {
            data_dir: self.data_dir.clone(),
            http_addr: self.http,
            intake: IntakeConfig {
                block_interval: Duration::from_millis(self.block_interval_ms.max(1)),
                block: BlockLimits {
                    transactions_max: self.block_transactions.max(1),
                    ..BlockLimits::default()
                },
                ..IntakeConfig::default()
            },
            sync: self.sync,
            exec: ExecConfig {
                threads: if self.exec_threads == 0 {
                    ExecConfig::default().threads
                } else {
                    self.exec_threads
                },
                snapshot_interval_blocks: self.snapshot_interval,
                ..ExecConfig::default()
            },
            publish: (!self.no_publish).then(|| crate::publish::PublishConfig {
                addr: self.publish,
                clients: if self.publish_allow_clients.is_empty() {
                    crate::publish::ClientAuth::Anyone
                } else {
                    crate::publish::ClientAuth::Known(self.publish_allow_clients.clone())
                },
                ..crate::publish::PublishConfig::default()
            }),
            gateway: (!self.no_gateway).then(|| {
                let mut g = crate::ipfs::gateway::GatewayConfig::default();
                g.quota.capacity_bytes = self.storage_capacity_gib.saturating_mul(1 << 30);
                (self.gateway, g)
            }),
        }
    }
}

/// Where the API is.
#[derive(Debug, Clone, Args)]
pub struct UrlArg {
    /// The node's HTTP API.
    #[arg(long, default_value = "http://127.0.0.1:8888", env = "DAWN_URL")]
    pub url: String,
}

/// `dawn get` targets.
#[derive(Debug, Subcommand)]
pub enum GetCommand {
    /// Chain id, head block, last irreversible block.
    Info,
    /// A block by number or id.
    Block {
        /// Block number or 64-hex id.
        block: String,
    },
    /// A transaction's block and commitment level.
    Tx {
        /// Transaction id (64 hex).
        id: String,
    },
    /// An account's permissions.
    Account {
        /// Account name.
        name: String,
    },
    /// Rows of a contract table (values in hex).
    Table {
        /// The contract.
        code: String,
        /// The scope.
        scope: String,
        /// The table.
        table: String,
        /// Most rows.
        #[arg(long, default_value_t = 10)]
        limit: u64,
        /// First id.
        #[arg(long, default_value_t = 0)]
        lower_bound: u64,
    },
    /// An account's token balances.
    Balance {
        /// The account.
        account: String,
        /// The token contract.
        #[arg(long, default_value = "eosio.token")]
        code: String,
    },
}

/// `dawn genesis` commands.
#[derive(Debug, Subcommand)]
pub enum GenesisCommand {
    /// Print the embedded development genesis as JSON.
    Dev,
    /// Add ERC20 holders (`address,balance[,key]` CSV) as accounts and balances.
    ImportErc20 {
        /// The CSV snapshot.
        csv: PathBuf,
        /// Genesis to add to (JSON); the development genesis by default.
        #[arg(long)]
        base: Option<PathBuf>,
        /// Where to write the resulting genesis JSON (`-` for stdout).
        #[arg(short, long, default_value = "-")]
        output: PathBuf,
    },
}

/// The node's commands.
#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// Start a single-producer development chain on the embedded genesis (system account,
    /// producer key, four funded accounts), printing its endpoints and keys. Ctrl-C stops
    /// it cleanly; starting it again resumes the same chain.
    Dev {
        /// Node settings.
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Start a single-producer node on a genesis file with the producer's key.
    Run {
        /// Node settings.
        #[command(flatten)]
        node: NodeArgs,
        /// Genesis JSON.
        #[arg(long)]
        genesis: PathBuf,
        /// The producer's private key (PVT_ED_…).
        #[arg(long, env = "DAWN_PRODUCER_KEY", hide_env_values = true)]
        producer_key: String,
    },
    /// Key pairs.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Build, sign and send a transaction with one action (like cleos push action).
    Push(PushArgs),
    /// Read chain facts from a node.
    Get {
        /// Where the API is.
        #[command(flatten)]
        url: UrlArg,
        /// What to read.
        #[command(subcommand)]
        what: GetCommand,
    },
    /// Genesis files.
    #[command(subcommand)]
    Genesis(GenesisCommand),
    /// IPFS: add files (CIDs identical to kubo's `ipfs add`), read, pin, collect garbage,
    /// in the node's IPFS repo (`DATA_DIR/ipfs`; safe while the node runs).
    Ipfs {
        /// The node's data directory.
        #[arg(long, default_value = "./data/dev", global = true)]
        data_dir: PathBuf,
        /// The IPFS command.
        #[command(subcommand)]
        command: crate::ipfs::cli::IpfsCommand,
    },
    /// Follow a node's publish stream (QUIC): print the matching messages as JSON lines,
    /// reconnecting and resuming after drops by itself.
    Subscribe(Box<super::subscribe::SubscribeArgs>),
    /// Benchmarks: with no target, the whole pipeline end to end (intake, chain log, exec,
    /// publish to subscribers) on 1 core and on all cores; with a target, one stage. Each
    /// beside a baseline measured in the same run.
    #[command(args_conflicts_with_subcommands = true)]
    Bench {
        /// One stage only.
        #[command(subcommand)]
        target: Option<BenchCommand>,
        /// The end-to-end bench.
        #[command(flatten)]
        args: super::pipeline_bench::PipelineArgs,
    },
}

/// `dawn bench` targets.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Pre-built blocks of token transfers through the executor, native and WASM, over
    /// disjoint pairs and a hot-account mix, on 1 thread and on N (speedups and the VM's
    /// cost measured in the same run).
    Exec {
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
        /// Transfers per measurement.
        #[arg(long, default_value_t = 50_000)]
        transfers: usize,
        /// Accounts (half as many disjoint pairs).
        #[arg(long, default_value_t = 10_000)]
        accounts: usize,
        /// Transfers per block.
        #[arg(long, default_value_t = 5_000)]
        block: usize,
        /// Threads of the parallel runs (0: one per core).
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// Percent of transfers touching one hot account in the hot mix.
        #[arg(long, default_value_t = 10)]
        hot_percent: u32,
        /// Rounds per figure (the median is reported).
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// UnixFS import of a large file beside plain SHA-256 over the same bytes, and gateway
    /// downloads over loopback HTTP.
    Ipfs(crate::ipfs::bench::IpfsBenchArgs),
    /// Fan-out of executed token transfers to 1, 10 and 100 QUIC subscribers with filters
    /// selecting 1%, 10% and 100%: delivery rate (catch-up) and append-to-delivery
    /// latency (live), beside the plain log read rate. Every subscriber's set is checked
    /// complete first.
    Publish {
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
        /// Blocks in the catch-up log.
        #[arg(long, default_value_t = 200)]
        blocks: usize,
        /// Transfers per block (a multiple of 100, so each filter matches in every block).
        #[arg(long, default_value_t = 200)]
        per_block: usize,
        /// Blocks appended in the live phase.
        #[arg(long, default_value_t = 40)]
        live_blocks: usize,
        /// Live blocks appended per second.
        #[arg(long, default_value_t = 20.0)]
        live_rate: f64,
        /// Directory for the temporary logs.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Pre-signed transfers through the real intake (in process and over loopback HTTP),
    /// acknowledged durable, beside plain batched ed25519 verification on the same cores.
    Ingest {
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
        /// Transactions per phase.
        #[arg(long, default_value_t = 100_000)]
        transactions: usize,
        /// Sending accounts.
        #[arg(long, default_value_t = 1000)]
        accounts: usize,
        /// Transactions per push.
        #[arg(long, default_value_t = 1000)]
        batch: usize,
        /// Concurrent pushers (enough batches in flight to keep every core busy while
        /// earlier batches wait for their block).
        #[arg(long, default_value_t = 16)]
        clients: usize,
        /// Rounds (each a baseline, then both phases); figures are medians.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// Chain log sync policy.
        #[arg(long, default_value = "always")]
        sync: SyncPolicy,
        /// Directory for the temporary data directory (the disk to measure).
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
}

/// `dawn keys` commands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate a new ed25519 key pair and print both halves.
    New,
}

/// `dawn push` arguments.
#[derive(Debug, Clone, Args)]
pub struct PushArgs {
    /// The contract account.
    pub contract: String,
    /// The action name.
    pub action: String,
    /// Action data, hex.
    #[arg(long, default_value = "", conflicts_with = "json")]
    pub data: String,
    /// Action data as JSON, for the system and token actions (transfer, create, issue,
    /// retire, open, close, newaccount, updateauth, deleteauth, setcode, setprods), e.g.
    /// '{"from":"alice","to":"bob","quantity":"1.0000 SYS","memo":""}'.
    #[arg(long)]
    pub json: Option<String>,
    /// Declare only the scopes given (and the authorizing actors) instead of asking the
    /// node to compute them by running the transaction against its newest state.
    #[arg(long)]
    pub no_compute_scopes: bool,
    /// Authorizations, `actor@permission` (repeatable).
    #[arg(long = "auth", required = true)]
    pub auth: Vec<String>,
    /// Private keys to sign with, PVT_ED_… (repeatable).
    #[arg(long = "key", required = true, env = "DAWN_KEY", hide_env_values = true)]
    pub keys: Vec<String>,
    /// Extra write scopes (the authorizing actors always are).
    #[arg(long, value_delimiter = ',')]
    pub write: Vec<String>,
    /// Read scopes.
    #[arg(long, value_delimiter = ',')]
    pub read: Vec<String>,
    /// Seconds until the transaction expires.
    #[arg(long, default_value_t = 120)]
    pub expire_sec: u32,
    /// Wait until the transaction is applied (executed), not just durable.
    #[arg(long)]
    pub wait_applied: bool,
    /// Where the API is.
    #[command(flatten)]
    pub url: UrlArg,
}

/// Runs a node command.
pub fn run(cmd: NodeCommand) -> anyhow::Result<()> {
    match cmd {
        NodeCommand::Dev { node } => {
            let genesis = dev::dev_genesis();
            serve(node, genesis, dev::dev_key("eosio"), true)
        }
        NodeCommand::Run { node, genesis, producer_key } => {
            let text = std::fs::read_to_string(&genesis)
                .with_context(|| format!("reading {}", genesis.display()))?;
            let g: Genesis =
                serde_json::from_str(&text).with_context(|| format!("parsing {}", genesis.display()))?;
            let key: PrivateKey = producer_key.parse().context("bad --producer-key")?;
            serve(node, g, key, false)
        }
        NodeCommand::Keys(KeysCommand::New) => {
            let k = PrivateKey::generate();
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({"public": k.public(), "private": k.to_text()}))?
            );
            Ok(())
        }
        NodeCommand::Push(args) => runtime()?.block_on(push(args)),
        NodeCommand::Get { url, what } => runtime()?.block_on(get(&url.url, what)),
        NodeCommand::Bench {
            target:
                Some(BenchCommand::Ingest { json, transactions, accounts, batch, clients, rounds, sync, dir }),
            ..
        } => {
            super::pool::init_verify_pool(0, true);
            let plan = super::bench::IngestPlan { transactions, accounts, batch, clients, rounds };
            let r = super::bench::run(&dir, plan, sync, json)?;
            if json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                let row =
                    |label: &str, value: f64, note: String| println!("{label:<24} {value:>12.0}  {note}");
                row(
                    "ingest in-process tx/s",
                    r.ingest_tps_inproc,
                    format!("{:.2}x verify baseline", r.inproc_vs_verify),
                );
                row(
                    "ingest HTTP tx/s",
                    r.ingest_tps_http,
                    format!("{:.2}x verify baseline", r.http_vs_verify),
                );
                row("verify batch sig/s", r.verify_batch_per_s, format!("baseline, {} cores", r.cores));
                println!(
                    "medians of {} rounds; {} transactions of {} bytes per phase, {} accounts, batches of {}, {} pushers, sync {}",
                    r.rounds, r.transactions, r.transaction_bytes, r.accounts, r.batch, r.clients, r.sync
                );
            }
            Ok(())
        }
        NodeCommand::Bench {
            target:
                Some(BenchCommand::Exec { json, transfers, accounts, block, threads, hot_percent, rounds }),
            ..
        } => {
            let threads = if threads == 0 { ExecConfig::default().threads } else { threads };
            let plan =
                crate::exec::bench::ExecPlan { transfers, accounts, block, threads, hot_percent, rounds };
            let r = crate::exec::bench::run(plan, json)?;
            if json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                println!(
                    "{:<28} {:>12} {:>12} {:>8}",
                    "transfers/s",
                    "1 thread",
                    format!("{threads} threads"),
                    "speedup"
                );
                let row =
                    |label: &str, a: f64, b: f64| println!("{label:<28} {a:>12.0} {b:>12.0} {:>7.2}x", b / a);
                row("native, disjoint pairs", r.native_transfers_per_s_1t, r.native_transfers_per_s_nt);
                row(
                    &format!("native, {}% hot", r.hot_percent),
                    r.native_hot_transfers_per_s_1t,
                    r.native_hot_transfers_per_s_nt,
                );
                row("wasm, disjoint pairs", r.wasm_transfers_per_s_1t, r.wasm_transfers_per_s_nt);
                row(
                    &format!("wasm, {}% hot", r.hot_percent),
                    r.wasm_hot_transfers_per_s_1t,
                    r.wasm_hot_transfers_per_s_nt,
                );
                println!(
                    "native is {:.2}x wasm on 1 thread; {} transfers in blocks of {}, {} accounts, medians of {} rounds, {} cores",
                    r.native_over_wasm_1t, r.transfers, r.block, r.accounts, r.rounds, r.cores
                );
            }
            Ok(())
        }
        NodeCommand::Ipfs { data_dir, command } => crate::ipfs::cli::run(command, &data_dir.join("ipfs")),
        NodeCommand::Bench { target: Some(BenchCommand::Ipfs(args)), .. } => crate::ipfs::bench::run(&args),
        NodeCommand::Bench { target: None, args } => super::pipeline_bench::run(&args),
        NodeCommand::Subscribe(args) => runtime()?.block_on(super::subscribe::run(*args)),
        NodeCommand::Bench {
            target: Some(BenchCommand::Publish { json, blocks, per_block, live_blocks, live_rate, dir }),
            ..
        } => {
            if per_block == 0 || per_block % 100 != 0 || blocks == 0 || live_blocks == 0 || live_rate <= 0.0 {
                bail!("--per-block must be a positive multiple of 100; --blocks, --live-blocks and --live-rate positive");
            }
            let tmp = tempfile::Builder::new().prefix("dawn-bench-publish").tempdir_in(&dir)?;
            let plan = super::publish_bench::PublishPlan { blocks, per_block, live_blocks, live_rate };
            let r = super::publish_bench::run(tmp.path(), plan, json)?;
            if json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                println!(
                    "{:>11} {:>9} {:>16} {:>9} {:>9} {:>9}",
                    "subscribers", "selected", "delivered tx/s", "p50 ms", "p99 ms", "max ms"
                );
                for x in &r.runs {
                    println!(
                        "{:>11} {:>8}% {:>16.0} {:>9.2} {:>9.2} {:>9.2}",
                        x.subscribers, x.selected_percent, x.delivered_per_s, x.p50_ms, x.p99_ms, x.max_ms
                    );
                }
                println!(
                    "baseline: plain log reads {:.0} blocks/s = {:.0} tx/s; {} blocks of {} transfers, live at {} blocks/s",
                    r.log_read_records_per_s, r.log_read_transactions_per_s, r.blocks, r.transactions_per_block, r.live_blocks_per_s
                );
            }
            Ok(())
        }
        NodeCommand::Genesis(GenesisCommand::Dev) => {
            println!("{}", serde_json::to_string_pretty(&dev::dev_genesis())?);
            Ok(())
        }
        NodeCommand::Genesis(GenesisCommand::ImportErc20 { csv, base, output }) => {
            let mut genesis = match base {
                Some(p) => serde_json::from_str(&std::fs::read_to_string(&p)?)
                    .with_context(|| format!("parsing {}", p.display()))?,
                None => dev::dev_genesis(),
            };
            let text = std::fs::read_to_string(&csv).with_context(|| format!("reading {}", csv.display()))?;
            let added = erc20::import(&mut genesis, &text)?;
            let out = serde_json::to_string_pretty(&genesis)?;
            if output.as_os_str() == "-" {
                println!("{out}");
            } else {
                std::fs::write(&output, out)?;
            }
            eprintln!("added {added} holders; chain id {}", genesis.chain_id().0);
            Ok(())
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

fn serve(node: NodeArgs, genesis: Genesis, key: PrivateKey, dev_banner: bool) -> anyhow::Result<()> {
    super::pool::init_verify_pool(0, !node.no_pin);
    let rt = runtime()?;
    let config = node.config();
    let data_dir = node.data_dir.clone();
    rt.block_on(super::run(
        config,
        genesis.clone(),
        key,
        async {
            let _ = tokio::signal::ctrl_c().await;
        },
        |node| {
            let info = node.intake.info();
            println!("dawn chain {}", genesis.chain_id().0);
            println!("  HTTP API   http://{}   (try: dawn get info)", node.http_addr);
            if let Some((addr, fp)) = node.publish {
                println!("  publish    quic://{addr}   (try: dawn subscribe)   certificate SHA-256 {fp}");
            }
            if let Some(addr) = node.gateway {
                println!("  IPFS       http://{addr}/ipfs/CID   (try: dawn ipfs add FILE)");
            }
            println!("  data dir   {}   head block {}", data_dir.display(), info.head_block_num);
            if dev_banner {
                println!(
                    "  producer   eosio    {}  {}",
                    dev::dev_key("eosio").public(),
                    dev::dev_key("eosio").to_text()
                );
                for a in dev::DEV_ACCOUNTS {
                    let k = dev::dev_key(a);
                    println!("  account    {a:<8} {}  {}  1000000.0000 SYS", k.public(), k.to_text());
                }
                let k = dev::dev_key(dev::DEV_WASM_TOKEN);
                println!(
                    "  contract   {:<8} {}  {}  the WASM token (contracts/token); create a token with it",
                    dev::DEV_WASM_TOKEN,
                    k.public(),
                    k.to_text()
                );
                println!("  (development keys: derived from fixed seeds, never use them for value)");
            }
            println!("Ctrl-C stops the node; starting it again resumes this chain.");
        },
    ))
}

pub(super) async fn get_info(url: &str) -> anyhow::Result<Value> {
    let (status, v) = client::post_json(&format!("{url}/v1/chain/get_info"), &json!({})).await?;
    if status != 200 {
        bail!("get_info failed ({status}): {v}");
    }
    Ok(v)
}

fn names(list: &[String]) -> anyhow::Result<Vec<Name>> {
    list.iter().map(|s| s.parse::<Name>().map_err(anyhow::Error::from)).collect()
}

fn action_data(args: &PushArgs) -> anyhow::Result<Vec<u8>> {
    let Some(text) = &args.json else {
        return hex::decode(&args.data).context("--data must be hex");
    };
    let v: Value = serde_json::from_str(text).context("--json is not JSON")?;
    let action: Name = args.action.parse()?;
    match crate::exec::native::encode_json_data(action, &v) {
        Some(r) => r.map_err(|e| anyhow::anyhow!("--json for {action}: {e}")),
        None => bail!("--json knows the system and token actions only; give --data in hex for {action}"),
    }
}

/// Builds the unsigned transaction `args` describes against the chain facts in `info`.
pub fn build_unsigned(args: &PushArgs, info: &Value) -> anyhow::Result<(Transaction, crate::chain::ChainId)> {
    let chain: Checksum256 = info["chain_id"].as_str().context("get_info has no chain_id")?.parse()?;
    let head: Checksum256 =
        info["head_block_id"].as_str().context("get_info has no head_block_id")?.parse()?;
    let head = BlockId(head);
    let head_time = info["head_block_time"].as_str().and_then(|t| t.parse::<crate::chain::TimePoint>().ok());
    let now = TimePointSec::now().max(head_time.map_or(TimePointSec(0), |t| t.sec()));
    let mut authorization = Vec::new();
    for a in &args.auth {
        let (actor, perm) = a.split_once('@').unwrap_or((a, "active"));
        authorization.push(PermissionLevel { actor: actor.parse()?, permission: perm.parse()? });
    }
    let mut write: Vec<Name> = authorization.iter().map(|a| a.actor).chain(names(&args.write)?).collect();
    write.sort();
    write.dedup();
    let mut read: Vec<Name> = names(&args.read)?.into_iter().filter(|r| !write.contains(r)).collect();
    read.sort();
    read.dedup();
    let tx = Transaction {
        expiration: TimePointSec(now.0 + args.expire_sec),
        ref_block_num: (head.num().0 & 0xffff) as u16,
        ref_block_prefix: head.ref_block_prefix(),
        max_cpu_us: 0,
        max_net_bytes: 0,
        delay_sec: 0,
        read_scopes: read.into(),
        write_scopes: write.into(),
        actions: smallvec::smallvec![Action {
            account: args.contract.parse()?,
            name: args.action.parse()?,
            authorization: authorization.into(),
            data: Bytes::from(action_data(args)?),
        }],
    };
    Ok((tx, crate::chain::ChainId(chain)))
}

/// Signs `tx` with the keys of `args`.
pub fn sign_push(
    args: &PushArgs,
    tx: Transaction,
    chain: &crate::chain::ChainId,
) -> anyhow::Result<SignedTransaction> {
    let keys: Vec<PrivateKey> =
        args.keys.iter().map(|k| k.parse()).collect::<Result<_, _>>().context("bad --key")?;
    let refs: Vec<&PrivateKey> = keys.iter().collect();
    Ok(SignedTransaction::sign(tx, &refs, chain))
}

/// Adds the scopes the node computed to the declaration: written ones to `write_scopes`,
/// read ones (not written) to `read_scopes`; both stay sorted and unique.
fn merge_scopes(tx: &mut Transaction, read: Vec<Name>, write: Vec<Name>) {
    tx.write_scopes.extend(write);
    tx.write_scopes.sort();
    tx.write_scopes.dedup();
    tx.read_scopes.extend(read);
    tx.read_scopes.retain(|r| tx.write_scopes.binary_search(r).is_err());
    tx.read_scopes.sort();
    tx.read_scopes.dedup();
}

async fn push(args: PushArgs) -> anyhow::Result<()> {
    let url = args.url.url.trim_end_matches('/').to_string();
    let info = get_info(&url).await?;
    let (mut tx, chain) = build_unsigned(&args, &info)?;
    if !args.no_compute_scopes {
        let (status, v) =
            client::post_json(&format!("{url}/v1/chain/compute_scopes"), &json!({"transaction": tx})).await?;
        if status != 200 {
            bail!("computing scopes: {} ({status}); fix the action, or pass --no-compute-scopes with --read/--write", v["message"].as_str().unwrap_or(&v.to_string()));
        }
        let list = |k: &str| -> anyhow::Result<Vec<Name>> { Ok(serde_json::from_value(v[k].clone())?) };
        merge_scopes(&mut tx, list("read_scopes")?, list("write_scopes")?);
        tracing::info!(target: "dawn::node", read = %names_text(&tx.read_scopes), write = %names_text(&tx.write_scopes), "scopes computed");
    }
    let st = sign_push(&args, tx, &chain)?;
    let body = json!({
        "signatures": st.signatures,
        "compression": "none",
        "packed_trx": hex::encode(codec::encode(&st.transaction)),
    });
    let wait = if args.wait_applied { "?wait=applied" } else { "" };
    let (status, v) = client::post_json(&format!("{url}/v1/chain/push_transaction{wait}"), &body).await?;
    println!("{}", serde_json::to_string_pretty(&v)?);
    if status != 200 {
        bail!("the node refused the transaction ({status})");
    }
    Ok(())
}

async fn get(url: &str, cmd: GetCommand) -> anyhow::Result<()> {
    let (path, body) = match cmd {
        GetCommand::Info => ("/v1/chain/get_info", json!({})),
        GetCommand::Block { block } => {
            let key = block.parse::<u64>().map_or(json!(block), |n| json!(n));
            ("/v1/chain/get_block", json!({"block_num_or_id": key}))
        }
        GetCommand::Tx { id } => ("/v1/history/get_transaction", json!({"id": id})),
        GetCommand::Account { name } => ("/v1/chain/get_account", json!({"account_name": name})),
        GetCommand::Table { code, scope, table, limit, lower_bound } => (
            "/v1/chain/get_table_rows",
            json!({"code": code, "scope": scope, "table": table, "limit": limit, "lower_bound": lower_bound}),
        ),
        GetCommand::Balance { account, code } => {
            ("/v1/chain/get_currency_balance", json!({"code": code, "account": account}))
        }
    };
    let (status, v) = client::post_json(&format!("{}{path}", url.trim_end_matches('/')), &body).await?;
    println!("{}", serde_json::to_string_pretty(&v)?);
    if status != 200 {
        bail!("request failed ({status})");
    }
    Ok(())
}

fn names_text(list: &[Name]) -> String {
    list.iter().map(Name::to_string).collect::<Vec<_>>().join(",")
}
