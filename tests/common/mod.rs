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
