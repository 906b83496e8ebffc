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
        read_scopes: vec![],
        write_scopes: vec![n(who)],
        actions: vec![Action {
            account: n("eosio.token"),
            name: n("transfer"),
            authorization: vec![PermissionLevel { actor: n(who), permission: n("active") }],
            data: Bytes(nonce.to_le_bytes().to_vec()),
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
