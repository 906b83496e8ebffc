//! What exec writes to the results log and publish reads from it: per block, every
//! transaction's receipt with its action traces and console output, the state root after the
//! block, and the results merkle root. One record per block, at offset `block number - 1`
//! (as in the chain log). Layout: docs/FORMAT.md, "Results log".

use serde::{Deserialize, Serialize};

use super::{codec, merkle, Action, BlockId, BlockNum, Checksum256, Name, TransactionReceipt};

/// One delivery of an action to a receiver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionTrace {
    /// Whose handler ran (the contract, or a notified account).
    pub receiver: Name,
    /// The action (encoded as the action itself; shared in memory between deliveries).
    pub action: std::sync::Arc<Action>,
    /// Inline depth: 0 for an action of the transaction itself.
    pub depth: u8,
    /// What the handler printed.
    pub console: String,
}

/// Where a result's transaction came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Origin {
    /// The transaction at this index of the block.
    Block(u32),
    /// A deferred request delivered in this block.
    Deferred {
        /// The contract that sent it.
        sender: Name,
        /// Its id for it.
        sender_id: u64,
    },
    /// A transaction of this block with `delay_sec`, recorded now and run later.
    Delayed(u32),
}

/// A transaction's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxResult {
    /// Where it came from.
    pub origin: Origin,
    /// Its receipt.
    pub receipt: TransactionReceipt,
    /// Why it failed, for failed statuses.
    pub error: Option<String>,
    /// Deliveries in execution order (those that ran before a failure, for failed ones).
    pub traces: Vec<ActionTrace>,
    /// True when the block's trace budget was spent and this result's traces were dropped.
    pub traces_pruned: bool,
}

impl TxResult {
    /// Its merkle leaf: SHA-256 of its encoding.
    pub fn leaf(&self) -> Checksum256 {
        Checksum256::hash(&codec::encode(self))
    }
}

/// One block's results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockResults {
    /// The block.
    pub block_num: BlockNum,
    /// Its id.
    pub block_id: BlockId,
    /// Deferred deliveries first, then the block's transactions in block order.
    pub transactions: Vec<TxResult>,
    /// The state root after the block.
    pub state_root: Checksum256,
    /// Merkle root of the results' leaves.
    pub results_root: Checksum256,
}

impl BlockResults {
    /// The results root of `transactions` (leaves hashed on the current rayon pool).
    pub fn compute_root(transactions: &[TxResult]) -> Checksum256 {
        use rayon::prelude::*;
        let leaves: Vec<Checksum256> = transactions.par_iter().map(TxResult::leaf).collect();
        merkle::root(&leaves)
    }

    /// The result of the block's transaction at `index`, if any. Deferred deliveries come
    /// first, then the block's transactions in order, so it is found by position.
    pub fn for_index(&self, index: u32) -> Option<&TxResult> {
        let deferred = self.transactions.partition_point(|t| matches!(t.origin, Origin::Deferred { .. }));
        self.transactions
            .get(deferred + index as usize)
            .filter(|t| matches!(t.origin, Origin::Block(i) | Origin::Delayed(i) if i == index))
    }
}
