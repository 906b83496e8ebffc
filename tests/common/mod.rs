//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub(crate) mod contracts;

use dawn::chain::{
    n, Action, BlockId, Bytes, ChainId, PermissionLevel, SignedTransaction, TimePointSec, Transaction,
};
use dawn::node::dev;

/// A transfer-shaped transaction from the dev account `who`, valid against `head` for a
/// minute, with `nonce` in its data so each one is distinct, signed with `who`'s dev key.
pub(crate) fn transfer(chain: &ChainId, head: BlockId, who: &str, nonce: u64) -> SignedTransaction {
    SignedTransaction::sign(unsigned_transfer(head, who, nonce), &[&dev::dev_key(who)], chain)
}

/// As [`transfer`], unsigned.
pub(crate) fn unsigned_transfer(head: BlockId, who: &str, nonce: u64) -> Transaction {
    Transaction {
        expiration: TimePointSec(TimePointSec::now().0 + 60),
        ref_block_num: (head.num().0 & 0xffff) as u16,
        ref_block_prefix: head.ref_block_prefix(),
        max_cpu_us: 0,
        max_net_bytes: 0,
        delay_sec: 0,
        read_scopes: smallvec::smallvec![],
        write_scopes: smallvec::smallvec![n(who)],
        actions: smallvec::smallvec![Action {
            account: n("eosio.token"),
            name: n("transfer"),
            authorization: smallvec::smallvec![PermissionLevel { actor: n(who), permission: n("active") }],
            data: Bytes::from(nonce.to_le_bytes().to_vec()),
        }],
    }
}

/// A test node's settings in `dir`: every service on an ephemeral loopback port, blocks
/// every 30 ms, the chain log synced on every commit.
pub(crate) fn node_config(dir: &std::path::Path) -> dawn::node::NodeConfig {
    dawn::node::NodeConfig {
        data_dir: dir.to_path_buf(),
        http_addr: "127.0.0.1:0".parse().unwrap(),
        intake: dawn::ingest::IntakeConfig {
            block_interval: std::time::Duration::from_millis(30),
            ..dawn::ingest::IntakeConfig::default()
        },
        sync: dawn::log::SyncPolicy::Always,
        exec: dawn::exec::ExecConfig::default(),
        publish: Some(dawn::publish::PublishConfig {
            addr: "127.0.0.1:0".parse().unwrap(),
            ..dawn::publish::PublishConfig::default()
        }),
        gateway: Some(("127.0.0.1:0".parse().unwrap(), dawn::ipfs::gateway::GatewayConfig::default())),
    }
}

/// A dev-genesis node running on its own thread and runtime, stopped cleanly (and its
/// result checked) when dropped.
pub(crate) struct NodeThread {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl NodeThread {
    /// Starts a node with [`node_config`] in a new directory and returns what `ready`
    /// takes from it once it listens.
    pub(crate) fn start<T: Send + 'static>(
        ready: impl FnOnce(&dawn::node::Node) -> T + Send + 'static,
    ) -> (Self, T) {
        let dir = tempfile::tempdir().unwrap();
        let config = node_config(dir.path());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt =
                tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(dawn::node::run(
                config,
                dev::dev_genesis(),
                dev::dev_key("eosio"),
                async {
                    let _ = stop_rx.await;
                },
                move |node| {
                    let _ = ready_tx.send(ready(node));
                },
            ))
        });
        let value = ready_rx.recv_timeout(std::time::Duration::from_secs(30)).expect("node started");
        (Self { stop: Some(stop_tx), thread: Some(thread), _dir: dir }, value)
    }
}

impl Drop for NodeThread {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            t.join().unwrap().unwrap();
        }
    }
}
