//! Wiring the stages into a node: the data directory, the genesis, the chain log, intake
//! and its HTTP API, exec and the results log, and clean shutdown.
//!
//! # Data directory
//! `genesis.json` (written at first start; a restart must find the same one), `chain/`
//! (the chain log), `results/` (the results log), `state/` (state snapshots) and
//! `publish/` (the publish endpoint's certificate and key) and `ipfs/` (the IPFS repo the
//! gateway serves and `dawn ipfs` works on). A running node holds both
//! logs' locks.
//!
//! # Tasks
//! The HTTP server, the block producer and the publish endpoint (its feed follows the
//! results log) run on one tokio runtime; exec runs on its own
//! `dawn-exec` thread (and its worker pool), following the chain log. Intake reads the
//! executed state through exec's [`crate::chain::StateView`]. If the producer or exec
//! fails the node stops with an error: a critical task never dies quietly. Ctrl-C stops
//! taking transactions, seals what is queued, lets exec finish the durable blocks, syncs
//! and exits.

pub mod bench;
pub mod cli;
pub mod client;
pub mod dev;
pub mod erc20;
pub mod pipeline_bench;
pub mod pool;
pub mod publish_bench;
pub mod subscribe;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};

use crate::chain::{Genesis, PrivateKey, StateView};
use crate::exec::{ExecConfig, ExecStage, ExecView};
use crate::ingest::{http, Intake, IntakeConfig};
use crate::ipfs::gateway::{Gateway, GatewayConfig};
use crate::log::{Config as LogConfig, Log, SyncPolicy};
use crate::publish::{Feed, Fingerprint, Identity, PublishConfig, PublishServer, PublishStats};

/// Where and how a node runs.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The data directory.
    pub data_dir: PathBuf,
    /// The HTTP API address.
    pub http_addr: SocketAddr,
    /// Intake settings.
    pub intake: IntakeConfig,
    /// Chain log sync policy.
    pub sync: SyncPolicy,
    /// Exec settings.
    pub exec: ExecConfig,
    /// The publish endpoint (none: not served).
    pub publish: Option<PublishConfig>,
    /// The IPFS gateway's address and settings (none: not served). The quota's token
    /// symbol is taken from the genesis.
    pub gateway: Option<(SocketAddr, GatewayConfig)>,
}

/// Reads the genesis stored in `data_dir`, or stores `genesis` there on first start. A
/// different stored genesis is an error: that directory holds another chain.
pub fn load_or_store_genesis(data_dir: &Path, genesis: &Genesis) -> anyhow::Result<Genesis> {
    std::fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let path = data_dir.join("genesis.json");
    if path.exists() {
        let text = std::fs::read_to_string(&path)?;
        let stored: Genesis =
            serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
        if stored.chain_id() != genesis.chain_id() {
            bail!(
                "{} holds another chain (chain id {}), not this genesis ({}); pick another --data-dir",
                data_dir.display(),
                stored.chain_id().0,
                genesis.chain_id().0
            );
        }
        return Ok(stored);
    }
    genesis.validate()?;
    let tmp = data_dir.join("genesis.json.tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(genesis)?)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    std::fs::File::open(data_dir)?.sync_all()?;
    Ok(genesis.clone())
}

/// A running node's handles.
pub struct Node {
    /// Intake.
    pub intake: Intake,
    /// The chain log.
    pub chain_log: Log,
    /// The bound HTTP address.
    pub http_addr: SocketAddr,
    /// The executed state.
    pub exec: ExecView,
    /// The publish endpoint's address and certificate fingerprint, when served.
    pub publish: Option<(SocketAddr, Fingerprint)>,
    /// The publish endpoint's counters, when served.
    pub publish_stats: Option<Arc<PublishStats>>,
    /// The IPFS gateway's address, when served.
    pub gateway: Option<SocketAddr>,
}

/// Starts a single-producer node and runs it until `shutdown` completes or a critical task
/// fails. `on_ready` is called once the API listens.
pub async fn run(
    config: NodeConfig,
    genesis: Genesis,
    producer_key: PrivateKey,
    shutdown: impl std::future::Future<Output = ()>,
    on_ready: impl FnOnce(&Node),
) -> anyhow::Result<()> {
    let genesis = load_or_store_genesis(&config.data_dir, &genesis)?;
    let producer = genesis.producers.first().context("genesis has no producer")?;
    if producer.block_signing_key != producer_key.public() {
        bail!(
            "the producer key does not match the genesis producer {}'s signing key",
            producer.producer_name
        );
    }
    let chain_dir = config.data_dir.join("chain");
    let log_config = LogConfig { sync: config.sync, ..LogConfig::default() };
    let chain_log = tokio::task::spawn_blocking(move || Log::open_path(&chain_dir, log_config))
        .await?
        .context("opening the chain log")?;
    let results_dir = config.data_dir.join("results");
    // The results log is derived: a tail lost to a power cut is re-executed from the chain
    // log at the next start (and every kept record is compared with its re-execution), so
    // it is written without fsync and never delays the chain log's group commits.
    let results_config = LogConfig {
        sync: SyncPolicy::Never,
        record_bytes_max: crate::exec::executor::RESULTS_RECORD_BYTES_MAX,
        batch_bytes_max: 2 * u64::from(crate::exec::executor::RESULTS_RECORD_BYTES_MAX),
        ..LogConfig::default()
    };
    let results_log = tokio::task::spawn_blocking(move || Log::open_path(&results_dir, results_config))
        .await?
        .context("opening the results log")?;
    let stage = {
        let exec = ExecConfig {
            snapshot_dir: Some(config.data_dir.join("state")),
            keep_decoded_results: config.publish.is_some(),
            ..config.exec.clone()
        };
        let (g, chain, results) = (genesis.clone(), chain_log.clone(), results_log.clone());
        tokio::task::spawn_blocking(move || ExecStage::open(&g, chain, results, exec))
            .await?
            .context("starting exec")?
    };
    let view = stage.view();
    let state: Arc<dyn StateView> = Arc::new(view.clone());
    // Publish: the endpoint and its certificate (made at first start, kept in publish/).
    let publish = match config.publish.clone() {
        Some(pc) => {
            let dir = config.data_dir.join("publish");
            let identity = tokio::task::spawn_blocking(move || {
                Identity::load_or_create(&dir, &[crate::publish::tls::SERVER_NAME, "localhost"])
            })
            .await?
            .context("publish certificate")?;
            let feed = Feed::new(
                chain_log.clone(),
                results_log.clone(),
                genesis.producers.len(),
                pc.cache_bytes_max,
            );
            tokio::spawn(feed.clone().follow());
            Some(PublishServer::bind(pc, &identity, feed).context("starting the publish endpoint")?)
        }
        None => None,
    };
    let publish_info = publish.as_ref().map(|p| (p.local_addr(), p.fingerprint()));
    // The IPFS gateway: the repo in ipfs/, quotas from the executed token balances.
    let gateway = match config.gateway.clone() {
        Some((addr, mut gc)) => {
            gc.quota.token_symbol = genesis.core_symbol();
            let repo = config.data_dir.join("ipfs");
            let (st, chain_id) = (state.clone(), genesis.chain_id());
            let gw = tokio::task::spawn_blocking(move || Gateway::open(&repo, gc, st, chain_id))
                .await?
                .context("opening the IPFS repo")?;
            let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
                format!(
                    "cannot listen on {addr} for the IPFS gateway; pick another --gateway or --no-gateway"
                )
            })?;
            Some((listener, Arc::new(gw)))
        }
        None => None,
    };
    let gateway_addr = match &gateway {
        Some((l, _)) => Some(l.local_addr()?),
        None => None,
    };
    let mut intake_config = IntakeConfig { producer: producer.producer_name, ..config.intake };
    if let Some((addr, fp)) = publish_info {
        intake_config.info_extra.push(("publish_endpoint".into(), addr.to_string()));
        intake_config.info_extra.push(("publish_fingerprint".into(), fp.to_string()));
    }
    if let Some(addr) = gateway_addr {
        intake_config.info_extra.push(("ipfs_gateway".into(), format!("http://{addr}")));
    }
    let intake = Intake::open(intake_config, genesis.chain_id(), producer_key, chain_log.clone(), state)?;
    let listener = http::bind(config.http_addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.http_addr))?;
    let http_addr = listener.local_addr()?;
    // Exec starts once every endpoint is bound, so a busy port stops the node before any
    // thread follows the chain log.
    let (exec_done_tx, exec_done_rx) = tokio::sync::oneshot::channel();
    let handle = tokio::runtime::Handle::current();
    let exec_thread = std::thread::Builder::new().name("dawn-exec".into()).spawn(move || {
        let r = stage.run(handle);
        let _ = exec_done_tx.send(r);
    })?;
    let node = Node {
        intake: intake.clone(),
        chain_log: chain_log.clone(),
        http_addr,
        exec: view,
        publish: publish_info,
        publish_stats: publish.as_ref().map(PublishServer::stats),
        gateway: gateway_addr,
    };
    on_ready(&node);
    tracing::info!(target: "dawn::node", %http_addr, "node running");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (publish_stop_tx, publish_stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(http::serve(listener, intake.clone(), async {
        let _ = stop_rx.await;
    }));
    let (gateway_stop_tx, gateway_stop_rx) = tokio::sync::oneshot::channel::<()>();
    let gateway_task = gateway.map(|(listener, gw)| {
        tokio::spawn(crate::ipfs::gateway::serve(listener, gw, async {
            let _ = gateway_stop_rx.await;
        }))
    });
    let publish_task = publish.map(|p| {
        tokio::spawn(p.run(async {
            let _ = publish_stop_rx.await;
        }))
    });
    let producer_task = {
        let intake = intake.clone();
        tokio::spawn(async move { intake.run_producer().await })
    };
    tokio::pin!(shutdown);
    tokio::pin!(producer_task);
    tokio::pin!(exec_done_rx);
    // Set when exec's end was already taken (and reported) in the select.
    let mut exec_ended = false;
    let result = tokio::select! {
        _ = &mut shutdown => {
            tracing::info!(target: "dawn::node", "stopping: sealing queued transactions");
            intake.stop();
            producer_task.await?.map_err(anyhow::Error::from)
        }
        r = &mut producer_task => {
            match r? {
                Ok(()) => Ok(()),
                Err(e) => Err(anyhow::Error::from(e).context("block producer failed")),
            }
        }
        r = &mut exec_done_rx => {
            let e = match r {
                Ok(Err(e)) => anyhow::Error::from(e),
                _ => anyhow::anyhow!("exec stopped unexpectedly"),
            };
            tracing::error!(target: "dawn::node", error = %e, "exec failed; the node stops");
            exec_ended = true;
            intake.stop();
            let _ = producer_task.await;
            Err(e.context("exec failed"))
        }
    };
    let _ = stop_tx.send(());
    let _ = server.await;
    let _ = publish_stop_tx.send(());
    if let Some(t) = publish_task {
        let _ = t.await;
    }
    let _ = gateway_stop_tx.send(());
    if let Some(t) = gateway_task {
        let _ = t.await;
    }
    let log = chain_log.clone();
    tokio::task::spawn_blocking(move || log.close()).await??;
    // Exec finishes the durable blocks, then sees the chain log closed and stops.
    let exec_result = if exec_ended {
        Ok(())
    } else {
        exec_done_rx.await.unwrap_or_else(|_| {
            Err(crate::exec::ExecError::Log { what: "exec", detail: "the exec thread panicked".into() })
        })
    };
    let _ = tokio::task::spawn_blocking(move || exec_thread.join()).await;
    match (result, exec_result) {
        (Err(e), _) => Err(e),
        (Ok(()), Err(e)) => Err(anyhow::Error::from(e).context("exec failed")),
        (Ok(()), Ok(())) => Ok(()),
    }
}
