//! What subscriptions read: blocks from the chain and results logs, decoded once and
//! shared, and the heads at each commitment level.
//!
//! The [`Feed`] follows the results log (a block is streamed once it is executed), reads
//! each new block's header from the chain log, and tracks finality with [`Finality`]. It
//! keeps a bounded cache of recently decoded blocks, so live subscribers share one decode
//! and one encoding of each message; at the head the block and its results usually come
//! decoded from the logs' caches of their newest records (left by the producer and exec),
//! so nothing is decoded here at all. A lagging subscriber decodes from the logs (memory
//! maps) without filling the cache. Nothing here buffers per subscriber.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use tokio::sync::watch;

use crate::chain::results::{BlockResults, Origin, TxResult};
use crate::chain::{
    codec, BlockHeader, BlockId, BlockNum, Name, SealedBlock, SignedBlock, SignedTransaction,
};
use crate::log::{Log, Offset, ReadError};

use super::filter::FactsTable;
use super::protocol::{Cursor, Message, Projection, TxMessage};

/// Largest chain or results record decoded (the results log's record limit).
const RECORD_BYTES_MAX: u64 = 128 << 20;

/// One block as publish serves it: decoded once, shared by every subscription reading it.
#[derive(Debug)]
pub struct FeedBlock {
    /// The block's id.
    pub id: BlockId,
    /// The signed block: the chain log's record, decoded (or as the producer appended it).
    pub block: Arc<SignedBlock>,
    /// Its results: the results log's record, decoded (or as exec appended them).
    pub results: Arc<BlockResults>,
    /// What filters look at, per result.
    pub facts: FactsTable,
    /// Encoded transaction messages per projection (receipts, full), each built on first
    /// use (a selective filter encodes only what it sends).
    encoded: [Vec<OnceLock<Bytes>>; 2],
    /// Encoded `BlockBegin`.
    begin: Bytes,
    /// Approximate memory held (for the cache budget).
    pub bytes: usize,
}

/// Decodes a chain or results record of block `num`.
fn decode_record<T: serde::de::DeserializeOwned>(num: BlockNum, bytes: &[u8]) -> Result<T, SourceError> {
    codec::decode(bytes, RECORD_BYTES_MAX).map_err(|e| SourceError::Corrupt { num, detail: e.to_string() })
}

impl FeedBlock {
    /// Decodes block `num` from its chain and results records, checking that they agree.
    pub fn decode(num: BlockNum, chain: &[u8], results: &[u8]) -> Result<Self, SourceError> {
        let block = decode_record::<SignedBlock>(num, chain)?;
        let decoded = decode_record::<BlockResults>(num, results)?;
        Self::from_parts(num, (Arc::new(block), chain.len()), (Arc::new(decoded), results.len()))
    }

    /// Block `num` from its decoded chain and results records, each with its record's
    /// length, checking that they agree.
    pub fn from_parts(
        num: BlockNum,
        (block, chain_len): (Arc<SignedBlock>, usize),
        (results, results_len): (Arc<BlockResults>, usize),
    ) -> Result<Self, SourceError> {
        let corrupt = |detail: String| SourceError::Corrupt { num, detail };
        let id = block.header.id();
        if block.header.block_num() != num || results.block_num != num || results.block_id != id {
            return Err(corrupt(format!(
                "the chain log holds block {} ({}), the results log block {} ({})",
                block.header.block_num(),
                id,
                results.block_num,
                results.block_id
            )));
        }
        // Each transaction of the block has one result (exec records a delayed one once, as
        // `Delayed`): a record naming one twice is refused, so the facts built below stay
        // bounded by the two records' sizes.
        let mut named = vec![false; block.transactions.len()];
        for r in &results.transactions {
            if let Origin::Block(i) | Origin::Delayed(i) = r.origin {
                match named.get_mut(i as usize) {
                    None => {
                        return Err(corrupt(format!("a result names transaction {i}, past the block's end")))
                    }
                    Some(true) => return Err(corrupt(format!("two results name transaction {i}"))),
                    Some(seen) => *seen = true,
                }
            }
        }
        let facts = FactsTable::of(&results.transactions, &block);
        let begin = Message::BlockBegin {
            cursor: Cursor::begin(num),
            block_id: id,
            header: block.header.clone(),
            results: results.transactions.len() as u32,
        }
        .encode();
        let n = results.transactions.len();
        let encoded = [(0..n).map(|_| OnceLock::new()).collect(), (0..n).map(|_| OnceLock::new()).collect()];
        // Memory held, from the shapes themselves: each transaction and result inline, the
        // facts and the message slots; the two records' lengths stand for what spills to
        // the heap (long action data, console output) and for the encoded messages, each
        // about as long as the part of a record it encodes.
        let bytes = block.transactions.len() * std::mem::size_of::<SignedTransaction>()
            + n * (std::mem::size_of::<TxResult>() + 2 * std::mem::size_of::<OnceLock<Bytes>>())
            + facts.heap_bytes()
            + chain_len
            + results_len;
        Ok(Self { id, block, results, facts, encoded, begin, bytes })
    }

    /// The block's number.
    pub fn num(&self) -> BlockNum {
        self.results.block_num
    }

    /// The encoded `BlockBegin`.
    pub fn begin_message(&self) -> &Bytes {
        &self.begin
    }

    /// The encoded `BlockEnd` for a subscriber that got `matched` of its transactions.
    pub fn end_message(&self, matched: u32) -> Bytes {
        Message::BlockEnd {
            cursor: Cursor::end(self.num()),
            block_id: self.id,
            state_root: self.results.state_root,
            results_root: self.results.results_root,
            matched,
        }
        .encode()
    }

    /// The encoded message of result `index` in `projection` (receipts or full), encoded
    /// once and shared by every subscriber sending it.
    pub fn tx_message(&self, index: usize, projection: Projection) -> &Bytes {
        let slot = match projection {
            Projection::Full => 1,
            _ => 0,
        };
        self.encoded[slot][index].get_or_init(|| self.encode_tx(index, projection).encode())
    }

    fn encode_tx(&self, index: usize, projection: Projection) -> Message {
        let r = &self.results.transactions[index];
        let full = projection == Projection::Full;
        let transaction = match r.origin {
            Origin::Block(i) | Origin::Delayed(i) if full => self.block.transactions.get(i as usize).cloned(),
            _ => None,
        };
        Message::Transaction(Box::new(TxMessage {
            cursor: Cursor::result(self.num(), index as u32),
            id: r.receipt.id,
            origin: r.origin.clone(),
            receipt: r.receipt.clone(),
            error: r.error.clone(),
            transaction,
            traces: if full { r.traces.to_action_traces() } else { Vec::new() },
            traces_pruned: r.traces_pruned,
        }))
    }
}

/// A block that cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// It was pruned.
    #[error("block {num} was pruned; the oldest block kept is {oldest}")]
    Pruned {
        /// The block asked for.
        num: BlockNum,
        /// The oldest block kept.
        oldest: BlockNum,
    },
    /// It is not in the logs (yet).
    #[error("block {0} is not in the logs")]
    Missing(BlockNum),
    /// Its records do not decode or disagree.
    #[error("block {num} cannot be served: {detail}")]
    Corrupt {
        /// The block.
        num: BlockNum,
        /// What is wrong.
        detail: String,
    },
}

/// The newest block at each commitment level, with its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Heads {
    /// Newest executed block.
    pub applied: (BlockNum, BlockId),
    /// Newest irreversible executed block.
    pub irreversible: (BlockNum, BlockId),
    /// Set once the logs are closed: nothing more will come.
    pub closed: bool,
}

/// What a subscription reads blocks from: the [`Feed`] in a node, a model in tests.
pub trait BlockSource: Send + Sync {
    /// The heads now.
    fn heads(&self) -> Heads;
    /// The oldest block that can be read.
    fn oldest(&self) -> BlockNum;
    /// The id of block `num`, from the chain log (known before the block is executed).
    fn block_id(&self, num: BlockNum) -> Result<BlockId, SourceError>;
    /// Executed block `num`.
    fn block(&self, num: BlockNum) -> Result<Arc<FeedBlock>, SourceError>;
}

/// Finality by EOS.IO's DPoS rule: a block is irreversible once blocks from 2/3+1 of the
/// scheduled producers have been built on it (itself included). With one producer every
/// block is irreversible as soon as it exists.
#[derive(Debug, Clone)]
pub struct Finality {
    required: usize,
    /// Blocks after the irreversible one, oldest first, with their producers.
    pending: VecDeque<(BlockNum, BlockId, Name)>,
    irreversible: (BlockNum, BlockId),
}

impl Finality {
    /// Finality for a schedule of `producers` (at least one).
    pub fn new(producers: usize) -> Self {
        Self {
            required: producers.max(1) * 2 / 3 + 1,
            pending: VecDeque::new(),
            irreversible: (BlockNum(0), BlockId::default()),
        }
    }

    /// Confirmations needed.
    pub fn required(&self) -> usize {
        self.required
    }

    /// Adds the next block; returns the newest irreversible block.
    pub fn push(&mut self, num: BlockNum, id: BlockId, producer: Name) -> (BlockNum, BlockId) {
        self.pending.push_back((num, id, producer));
        let mut seen: Vec<Name> = Vec::with_capacity(self.required);
        let mut newest_final = None;
        for (i, (_, _, p)) in self.pending.iter().enumerate().rev() {
            if !seen.contains(p) {
                seen.push(*p);
            }
            if seen.len() >= self.required {
                newest_final = Some(i);
                break;
            }
        }
        if let Some(i) = newest_final {
            let (n, id, _) = self.pending[i];
            self.irreversible = (n, id);
            self.pending.drain(..=i);
        }
        self.irreversible
    }

    /// The newest irreversible block.
    pub fn irreversible(&self) -> (BlockNum, BlockId) {
        self.irreversible
    }
}

/// How many blocks back finality is reconstructed at start (a schedule of 21 producers
/// with 12 blocks each finalizes within this).
const FINALITY_WINDOW_BLOCKS: u32 = 1024;

/// Blocks and heads from a node's logs, shared by its subscriptions.
pub struct Feed {
    chain: Log,
    results: Log,
    heads_tx: watch::Sender<Heads>,
    cache: Mutex<Cache>,
    cache_bytes_max: usize,
    producers: usize,
    /// Blocks being decoded now: subscriptions asking for the same block at once (every
    /// live one, when a block arrives) wait for one decode instead of each decoding it.
    decoding: Mutex<HashMap<BlockNum, Arc<Decoding>>>,
}

type Decoding = OnceLock<Result<Arc<FeedBlock>, SourceError>>;

#[derive(Default)]
struct Cache {
    blocks: BTreeMap<BlockNum, Arc<FeedBlock>>,
    bytes: usize,
}

impl Feed {
    /// A feed over the logs for a schedule of `producers`, caching up to `cache_bytes_max`
    /// of decoded blocks. Call [`Feed::follow`] to keep its heads current.
    pub fn new(chain: Log, results: Log, producers: usize, cache_bytes_max: usize) -> Arc<Self> {
        let (heads_tx, _) = watch::channel(Heads::default());
        Arc::new(Self {
            chain,
            results,
            heads_tx,
            cache: Mutex::default(),
            cache_bytes_max,
            producers,
            decoding: Mutex::default(),
        })
    }

    /// A receiver that sees every change of the heads.
    pub fn subscribe_heads(&self) -> watch::Receiver<Heads> {
        self.heads_tx.subscribe()
    }

    /// Bytes of decoded blocks held in the cache now.
    pub fn cache_bytes(&self) -> usize {
        self.cache.lock().expect("cache lock").bytes
    }

    fn header(&self, num: BlockNum) -> Result<BlockHeader, SourceError> {
        let rec = self.chain.get(Offset(u64::from(num.0) - 1)).map_err(|e| self.read_error(num, e))?;
        // A signed block's encoding starts with its header.
        codec::decode_front::<BlockHeader>(&mut &rec.data[..], RECORD_BYTES_MAX)
            .map_err(|e| SourceError::Corrupt { num, detail: e.to_string() })
    }

    fn read_error(&self, num: BlockNum, e: ReadError) -> SourceError {
        match e {
            ReadError::Pruned { oldest, .. } => {
                SourceError::Pruned { num, oldest: BlockNum(oldest.0 as u32 + 1) }
            }
            ReadError::PastEnd { .. } => SourceError::Missing(num),
            e => SourceError::Corrupt { num, detail: e.to_string() },
        }
    }

    /// Follows the results log until it closes, advancing the heads as blocks are
    /// executed. Runs as one task per node.
    pub async fn follow(self: Arc<Self>) {
        let mut finality = Finality::new(self.producers);
        let end = self.results.durable_end().0;
        let oldest = self.results.oldest_offset().0.max(self.chain.oldest_offset().0);
        let mut next = end.saturating_sub(u64::from(FINALITY_WINDOW_BLOCKS)).max(oldest);
        loop {
            let end = self.results.durable_end().0;
            let mut heads = *self.heads_tx.borrow();
            while next < end {
                let num = BlockNum(next as u32 + 1);
                match self.header(num) {
                    Ok(h) => {
                        let id = h.id();
                        heads.irreversible = finality.push(num, id, h.producer);
                        heads.applied = (num, id);
                    }
                    Err(e) => {
                        tracing::error!(target: "dawn::publish", error = %e, "cannot read an executed block's header; subscriptions stop at the block before it");
                        heads.closed = true;
                        self.heads_tx.send_replace(heads);
                        return;
                    }
                }
                next += 1;
            }
            self.heads_tx.send_replace(heads);
            if self.results.wait_durable(Offset(next)).await.is_err() {
                // Closed: what was durable has been published.
                let end = self.results.durable_end().0;
                if next >= end {
                    let mut heads = *self.heads_tx.borrow();
                    heads.closed = true;
                    self.heads_tx.send_replace(heads);
                    return;
                }
            }
        }
    }

    /// Block `num` from the logs: each record taken decoded where its writer left it,
    /// read and decoded otherwise.
    fn load(&self, num: BlockNum) -> Result<Arc<FeedBlock>, SourceError> {
        let off = Offset(u64::from(num.0) - 1);
        // At the head, the producer and exec left these records decoded.
        let block = match self.chain.decoded::<SealedBlock>(off) {
            Some((sealed, len)) => (sealed.block.clone(), len),
            None => {
                let r = self.chain.get(off).map_err(|e| self.read_error(num, e))?;
                (Arc::new(decode_record(num, &r.data)?), r.data.len())
            }
        };
        let results = match self.results.decoded::<BlockResults>(off) {
            Some(kept) => kept,
            None => {
                let r = self.results.get(off).map_err(|e| self.read_error(num, e))?;
                (Arc::new(decode_record(num, &r.data)?), r.data.len())
            }
        };
        Ok(Arc::new(FeedBlock::from_parts(num, block, results)?))
    }

    fn insert(&self, block: &Arc<FeedBlock>) {
        let mut cache = self.cache.lock().expect("cache lock");
        if cache.blocks.insert(block.num(), block.clone()).is_none() {
            cache.bytes += block.bytes;
        }
        while cache.bytes > self.cache_bytes_max && cache.blocks.len() > 1 {
            let (_, b) = cache.blocks.pop_first().expect("not empty");
            cache.bytes -= b.bytes;
        }
    }
}

impl BlockSource for Feed {
    fn heads(&self) -> Heads {
        *self.heads_tx.borrow()
    }

    fn oldest(&self) -> BlockNum {
        BlockNum(self.results.oldest_offset().0.max(self.chain.oldest_offset().0) as u32 + 1)
    }

    fn block_id(&self, num: BlockNum) -> Result<BlockId, SourceError> {
        if num.0 == 0 {
            return Err(SourceError::Missing(num));
        }
        if let Some(b) = self.cache.lock().expect("cache lock").blocks.get(&num) {
            return Ok(b.id);
        }
        Ok(self.header(num)?.id())
    }

    fn block(&self, num: BlockNum) -> Result<Arc<FeedBlock>, SourceError> {
        if num.0 == 0 || num > self.heads().applied.0 {
            return Err(SourceError::Missing(num));
        }
        if let Some(b) = self.cache.lock().expect("cache lock").blocks.get(&num) {
            return Ok(b.clone());
        }
        let slot = self.decoding.lock().expect("decoding lock").entry(num).or_default().clone();
        let result = slot.get_or_init(|| self.load(num)).clone();
        if let Ok(block) = &result {
            // Only recent blocks enter the cache: a subscriber replaying history must not
            // push out the blocks every live subscriber is reading.
            let newest_cached =
                self.cache.lock().expect("cache lock").blocks.last_key_value().map(|(n, _)| *n);
            if newest_cached.is_none_or(|n| num.0 + CACHE_RECENT_BLOCKS >= n.0) {
                self.insert(block);
            }
        }
        // Retire the slot after the cache insert, so a later caller finds one or the other.
        let mut decoding = self.decoding.lock().expect("decoding lock");
        if decoding.get(&num).is_some_and(|s| Arc::ptr_eq(s, &slot)) {
            decoding.remove(&num);
        }
        result
    }
}

/// Blocks behind the newest cached one that may still enter the cache.
const CACHE_RECENT_BLOCKS: u32 = 64;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::n;

    fn id(i: u32) -> BlockId {
        let mut b = [0u8; 32];
        b[0..4].copy_from_slice(&i.to_be_bytes());
        BlockId(crate::chain::Checksum256(b))
    }

    #[test]
    fn one_producer_finalizes_every_block() {
        let mut f = Finality::new(1);
        for i in 1..5 {
            assert_eq!(f.push(BlockNum(i), id(i), n("eosio")).0, BlockNum(i));
        }
    }

    #[test]
    fn dpos_needs_two_thirds_plus_one_distinct_producers() {
        // 4 producers: 3 confirmations.
        let mut f = Finality::new(4);
        assert_eq!(f.required(), 3);
        let ps = [n("a"), n("a"), n("b"), n("b"), n("c"), n("d")];
        let got: Vec<u32> = ps
            .iter()
            .enumerate()
            .map(|(i, p)| f.push(BlockNum(i as u32 + 1), id(i as u32 + 1), *p).0 .0)
            .collect();
        // After block 5 (by c), blocks 2.. have a, b, c on top: block 2 is final.
        assert_eq!(got, vec![0, 0, 0, 0, 2, 4]);
    }
}
