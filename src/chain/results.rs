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
    /// Each result's encoding and the results root, whose leaves are hashed over those
    /// same bytes (on the current rayon pool): with [`BlockResults::record`], a block's
    /// results are encoded once for both its root and its record.
    pub fn encode_and_root(transactions: &[TxResult]) -> (Vec<Vec<u8>>, Checksum256) {
        use rayon::prelude::*;
        let encoded: Vec<Vec<u8>> = transactions.par_iter().with_min_len(64).map(codec::encode).collect();
        let leaves: Vec<Checksum256> =
            encoded.par_iter().with_min_len(64).map(|e| Checksum256::hash(e)).collect();
        (encoded, merkle::root(&leaves))
    }

    /// The encoding of these results (equal to `codec::encode(self)`), assembled from the
    /// encodings [`BlockResults::encode_and_root`] gave for `self.transactions`.
    ///
    /// The layout is the codec's for this struct: its fields in order, the vector as a u64
    /// length and its elements.
    pub fn record(&self, encoded: &[Vec<u8>]) -> Vec<u8> {
        debug_assert_eq!(encoded.len(), self.transactions.len());
        let head = codec::encode(&(self.block_num, self.block_id));
        let tail = codec::encode(&(self.state_root, self.results_root));
        let body: usize = encoded.iter().map(Vec::len).sum();
        let mut out = Vec::with_capacity(head.len() + 8 + body + tail.len());
        out.extend_from_slice(&head);
        out.extend_from_slice(&(encoded.len() as u64).to_le_bytes());
        for e in encoded {
            out.extend_from_slice(e);
        }
        out.extend_from_slice(&tail);
        out
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{n, Bytes, PermissionLevel, TransactionStatus, TxId};
    use std::sync::Arc;

    fn result(i: u32, origin: Origin, traces: usize, error: Option<&str>) -> TxResult {
        let action = Arc::new(Action {
            account: n("eosio.token"),
            name: n("transfer"),
            authorization: smallvec::smallvec![PermissionLevel {
                actor: n("alice"),
                permission: n("active")
            }],
            data: Bytes::from(vec![i as u8; 3 + i as usize]),
        });
        TxResult {
            origin,
            receipt: TransactionReceipt {
                id: TxId(Checksum256::hash(&i.to_le_bytes())),
                status: if error.is_some() {
                    TransactionStatus::SoftFail
                } else {
                    TransactionStatus::Executed
                },
                cpu_usage_us: 100 + i,
                net_usage_bytes: 200,
            },
            error: error.map(str::to_string),
            traces: (0..traces)
                .map(|d| ActionTrace {
                    receiver: n("bob"),
                    action: action.clone(),
                    depth: d as u8,
                    console: "x".repeat(d),
                })
                .collect(),
            traces_pruned: traces == 0,
        }
    }

    /// The record assembled from the leaves' encodings is the codec's encoding of the
    /// whole struct, and the root is the one over `TxResult::leaf`.
    #[test]
    fn record_from_encodings_equals_the_codec() {
        for count in [0usize, 1, 3, 70] {
            let transactions: Vec<TxResult> = (0..count as u32)
                .map(|i| {
                    let origin = match i % 3 {
                        0 => Origin::Block(i),
                        1 => Origin::Deferred { sender: n("carol"), sender_id: u64::from(i) },
                        _ => Origin::Delayed(i),
                    };
                    result(i, origin, i as usize % 4, (i % 5 == 4).then_some("no balance"))
                })
                .collect();
            let (encoded, root) = BlockResults::encode_and_root(&transactions);
            let leaves: Vec<Checksum256> = transactions.iter().map(TxResult::leaf).collect();
            assert_eq!(root, merkle::root(&leaves));
            let r = BlockResults {
                block_num: BlockNum(7 + count as u32),
                block_id: BlockId(Checksum256::hash(b"block")),
                transactions,
                state_root: Checksum256::hash(b"state"),
                results_root: root,
            };
            assert_eq!(r.record(&encoded), codec::encode(&r), "{count} results");
        }
    }
}
