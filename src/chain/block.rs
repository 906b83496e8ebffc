//! Block headers, signed blocks, block ids and numbers, TaPoS.

use serde::{Deserialize, Serialize};

use super::{
    codec, merkle, ChainId, Checksum256, Name, PrivateKey, PublicKey, Signature, SignedTransaction, TimePoint,
};

/// A block number: 1 for the first block after genesis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct BlockNum(pub u32);

impl std::fmt::Display for BlockNum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A block id: SHA-256 of the header's encoding with its first 4 bytes replaced by the
/// block number, big-endian (as EOS.IO does), so the number can be read off the id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct BlockId(pub Checksum256);

impl BlockId {
    /// The block number encoded in the id.
    pub fn num(&self) -> BlockNum {
        BlockNum(u32::from_be_bytes(self.0 .0[0..4].try_into().expect("4 bytes")))
    }

    /// `ref_block_prefix` for TaPoS: bytes 8..12 as a little-endian u32.
    pub fn ref_block_prefix(&self) -> u32 {
        u32::from_le_bytes(self.0 .0[8..12].try_into().expect("4 bytes"))
    }
}

impl std::fmt::Display for BlockId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A block header. The executed-root fields carry the state and results roots of the
/// newest block the producer had finished executing when it sealed this one (ordering is
/// decoupled from execution; validators compare them later). `Default` is the zero header:
/// all-zero ids and roots, time 0, nothing executed (a fixture; a chain's first block
/// names its genesis pseudo-block as previous).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockHeader {
    /// Id of the previous block (for block 1, the genesis pseudo-block: the chain id with
    /// its first four bytes, the block number, zeroed).
    pub previous: BlockId,
    /// When the block was sealed.
    pub timestamp: TimePoint,
    /// The producer that sealed it.
    pub producer: Name,
    /// Merkle root of the transaction ids, in block order.
    pub transaction_mroot: Checksum256,
    /// The newest block executed by the producer when sealing (0: none yet).
    pub executed_block_num: BlockNum,
    /// State root after that block.
    pub executed_state_root: Checksum256,
    /// Results merkle root of that block.
    pub executed_results_root: Checksum256,
    /// Version of the producer schedule in force.
    pub schedule_version: u32,
}

impl BlockHeader {
    /// This block's number: one more than the previous block's.
    pub fn block_num(&self) -> BlockNum {
        BlockNum(self.previous.num().0 + 1)
    }

    /// This block's id.
    pub fn id(&self) -> BlockId {
        let mut h = Checksum256::hash(&codec::encode(self));
        h.0[0..4].copy_from_slice(&self.block_num().0.to_be_bytes());
        BlockId(h)
    }

    /// The digest the producer signs: SHA-256 of the chain id and the header encoding.
    pub fn signing_digest(&self, chain: &ChainId) -> Checksum256 {
        Checksum256::hash_parts(&[&chain.0 .0, &codec::encode(self)])
    }
}

/// A block as its producer sealed it, with what intake derived from each transaction's
/// encoding: its id ([`crate::chain::Transaction::id`]) and its encoded size. The producer
/// appends it decoded beside the block's chain log record, so readers at the head take the
/// block, and exec the ids and sizes, without decoding, hashing or measuring again.
///
/// Invariant: `ids[i]` and `sizes[i]` are those of `block.transactions[i]` (intake computes
/// them from the same encoding the block carries; exec checks them in debug builds).
#[derive(Debug)]
pub struct SealedBlock {
    /// The block.
    pub block: std::sync::Arc<SignedBlock>,
    /// Each transaction's id, in block order.
    pub ids: Vec<super::TxId>,
    /// Each transaction's encoded size in bytes, in block order.
    pub sizes: Vec<u32>,
}

/// A block as it is stored in the chain log: header, producer signature, transactions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedBlock {
    /// The header.
    pub header: BlockHeader,
    /// The producer's signature over [`BlockHeader::signing_digest`].
    pub producer_signature: Signature,
    /// Transactions in block order.
    pub transactions: Vec<SignedTransaction>,
}

impl SignedBlock {
    /// Builds and signs a block over `transactions`. The transaction merkle root is over
    /// [`SignedTransaction::leaf`], which covers the signatures too, so nobody can swap or
    /// strip a signature without breaking the producer's signature.
    pub fn seal(
        header: BlockHeader,
        transactions: Vec<SignedTransaction>,
        key: &PrivateKey,
        chain: &ChainId,
    ) -> Self {
        let leaves: Vec<Checksum256> = transactions.iter().map(SignedTransaction::leaf).collect();
        Self::seal_with_leaves(header, transactions, &leaves, key, chain)
    }

    /// As [`SignedBlock::seal`], with the leaves already computed (in order).
    pub fn seal_with_leaves(
        mut header: BlockHeader,
        transactions: Vec<SignedTransaction>,
        leaves: &[Checksum256],
        key: &PrivateKey,
        chain: &ChainId,
    ) -> Self {
        debug_assert_eq!(leaves.len(), transactions.len());
        header.transaction_mroot = merkle::root(leaves);
        let producer_signature = key.sign(&header.signing_digest(chain));
        Self { header, producer_signature, transactions }
    }

    /// Its encoding, given each transaction's own encoding in block order (as intake kept
    /// them): the header and signature are encoded and the transactions' encodings copied
    /// behind their count, with no second pass through the codec. Equals
    /// `codec::encode(self)` whenever `encoded[i]` is `codec::encode(&self.transactions[i])`.
    pub fn encode_with(&self, encoded: &[impl AsRef<[u8]>]) -> Vec<u8> {
        assert_eq!(encoded.len(), self.transactions.len(), "one encoding per transaction");
        super::codec::encode_around_list(&(&self.header, &self.producer_signature), encoded, &())
    }

    /// Checks the producer signature and the transaction merkle root.
    pub fn verify(&self, producer_key: &PublicKey, chain: &ChainId) -> bool {
        let leaves: Vec<Checksum256> = self.transactions.iter().map(SignedTransaction::leaf).collect();
        merkle::root(&leaves) == self.header.transaction_mroot
            && producer_key.verify(&self.header.signing_digest(chain), &self.producer_signature)
    }
}
