//! What intake remembers of recent history: the head, recent block ids for TaPoS, the ids
//! seen within the expiration window (dedup), and where each of those transactions landed. Rebuilt
//! from the chain log at start; updated as blocks are sealed. Pure: time is passed in.

use std::collections::BTreeMap;

use foldhash::HashMap as FastMap;
use hashbrown::hash_map::Entry;

use crate::chain::{
    BlockId, BlockNum, ChainId, Name, SignedBlock, TimePoint, TimePointSec, Transaction, TxId,
};

use super::IngestError;

/// The dedup table: hashbrown's map (std's, with its allocation's size exposed for memory
/// accounting) under a fast hash with a random per-process seed.
type IdTable = hashbrown::HashMap<IdKey, Slot, foldhash::fast::RandomState>;

/// TaPoS can refer to any of the last 2^16 blocks (ref_block_num is 16 bits).
pub const TAPOS_WINDOW: u32 = 1 << 16;

/// The head block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Its number.
    pub num: BlockNum,
    /// Its id.
    pub id: BlockId,
    /// Its timestamp.
    pub time: TimePoint,
    /// Its producer.
    pub producer: Name,
}

/// Where a transaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// Block number.
    pub block: BlockNum,
    /// Position in the block.
    pub index: u32,
}

/// Recent history; see the module docs.
#[derive(Debug)]
pub struct History {
    /// The genesis pseudo-block 0, which TaPoS may name before any block exists.
    pub genesis: BlockId,
    /// The head, once a block exists.
    pub head: Option<Head>,
    recent: FastMap<u16, BlockId>,
    /// Every id seen within the expiration window and, once sealed, where it landed
    /// ([`Slot`]). One entry per transaction: 24 bytes, plus 16 in `expiries`. The keys
    /// are SHA-256 prefixes, hashed again with a fast hash under a random per-process seed.
    seen: IdTable,
    /// Ids by expiration second, for pruning. An id released after a refusal may stay
    /// in its bucket: pruning a missing id is a no-op, and an id's expiration is part of
    /// what it hashes, so the id cannot come back with another expiration (short of a
    /// 128-bit collision, see [`IdKey`], which could at worst forget the other id early).
    expiries: BTreeMap<TimePointSec, Vec<IdKey>>,
}

/// The first 128 bits of a transaction id: what the dedup window keys on.
///
/// The window holds every id of the last expiration window (up to an hour of traffic), so
/// its entry size is the node's memory per transaction per second. Two ids sharing 128
/// bits cost a birthday search of 2^64 SHA-256 evaluations to find, and all it would win
/// is the second of the finder's own two transactions refused as a duplicate (and its
/// status query answered with the first's placement); matching someone else's id is a
/// second preimage (2^128).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct IdKey(u64, u64);

impl IdKey {
    fn of(id: &TxId) -> Self {
        let b = &id.0 .0;
        let word = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        Self(word(0), word(8))
    }
}

/// Where a remembered transaction landed, packed: block number in the high half, index in
/// the low half; 0 while it waits for a block (block numbers start at 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot(u64);

impl Slot {
    const PENDING: Self = Self(0);

    fn placed(p: Placement) -> Self {
        debug_assert!(p.block.0 > 0, "block numbers start at 1");
        Self(u64::from(p.block.0) << 32 | u64::from(p.index))
    }

    fn placement(self) -> Option<Placement> {
        (self != Self::PENDING)
            .then_some(Placement { block: BlockNum((self.0 >> 32) as u32), index: self.0 as u32 })
    }
}

impl History {
    /// Empty history of the chain `chain`.
    pub fn new(chain: &ChainId) -> Self {
        let mut g = chain.0;
        g.0[0..4].copy_from_slice(&[0, 0, 0, 0]);
        let genesis = BlockId(g);
        let mut recent = FastMap::default();
        recent.insert(0, genesis);
        Self { genesis, head: None, recent, seen: IdTable::default(), expiries: BTreeMap::new() }
    }

    /// The head number (0 before any block).
    pub fn head_num(&self) -> BlockNum {
        self.head.map_or(BlockNum(0), |h| h.num)
    }

    /// The head id (the genesis pseudo-block before any block).
    pub fn head_id(&self) -> BlockId {
        self.head.map_or(self.genesis, |h| h.id)
    }

    /// Checks expiration: after `now`, at most `window_sec` ahead.
    pub fn check_expiration(tx: &Transaction, now: TimePointSec, window_sec: u32) -> Result<(), IngestError> {
        if tx.expiration <= now {
            return Err(IngestError::Expired { expiration: tx.expiration, now });
        }
        if tx.expiration.0 - now.0 > window_sec {
            return Err(IngestError::ExpirationTooFar {
                expiration: tx.expiration,
                now,
                max_sec: window_sec,
            });
        }
        Ok(())
    }

    /// Checks TaPoS against the recent blocks.
    pub fn check_tapos(&self, tx: &Transaction) -> Result<(), IngestError> {
        let id = self
            .recent
            .get(&tx.ref_block_num)
            .ok_or(IngestError::UnknownRefBlock { ref_block_num: tx.ref_block_num })?;
        if id.ref_block_prefix() != tx.ref_block_prefix {
            return Err(IngestError::BadRefBlockPrefix {
                block_num: id.num(),
                got: tx.ref_block_prefix,
                expected: id.ref_block_prefix(),
            });
        }
        Ok(())
    }

    /// Records `id` as seen until `expiration`; a duplicate is refused.
    pub fn reserve(&mut self, id: TxId, expiration: TimePointSec) -> Result<(), IngestError> {
        let key = IdKey::of(&id);
        match self.seen.entry(key) {
            Entry::Occupied(_) => Err(IngestError::Duplicate(id)),
            Entry::Vacant(e) => {
                e.insert(Slot::PENDING);
                self.expiries.entry(expiration).or_default().push(key);
                Ok(())
            }
        }
    }

    /// Forgets a reservation of a transaction that was then refused. A sealed transaction
    /// is never forgotten this way: its placement stays until it expires.
    pub fn release(&mut self, id: &TxId) {
        // Its expiry bucket keeps the id; see `expiries`.
        let key = IdKey::of(id);
        if self.seen.get(&key) == Some(&Slot::PENDING) {
            self.seen.remove(&key);
        }
    }

    /// Forgets ids whose expiration has passed: they can no longer be accepted anyway.
    ///
    /// Placements go with them, so intake's memory is bounded by the transactions of the
    /// last expiration window (an hour at most), not by the length of the chain; older
    /// transactions are found through their block.
    pub fn prune(&mut self, now: TimePointSec) {
        while let Some(entry) = self.expiries.first_entry() {
            if *entry.key() > now {
                break;
            }
            for id in entry.remove() {
                self.seen.remove(&id);
            }
        }
    }

    /// Transactions remembered (for dedup and status), for memory accounting.
    pub fn remembered(&self) -> usize {
        self.seen.len()
    }

    /// Heap bytes the dedup window holds: the id table's allocation (buckets and control
    /// bytes, touched yet or not) and the expiry lists' capacities. The window keeps one
    /// entry per transaction until it expires, so this grows with the traffic of the last
    /// expiration window, not with the chain.
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        let lists: usize = self.expiries.values().map(|v| v.capacity() * size_of::<IdKey>()).sum();
        let entries = self.expiries.len() * (size_of::<TimePointSec>() + size_of::<Vec<IdKey>>());
        self.seen.allocation_size() + lists + entries
    }

    /// Takes a sealed (durable) block into account. Blocks must come in order.
    pub fn apply_block(&mut self, block: &SignedBlock) {
        let ids: Vec<TxId> = block.transactions.iter().map(|t| t.id()).collect();
        // Replayed blocks bring ids not seen before (sealed ones were reserved already).
        self.seen.reserve(ids.len());
        self.apply_block_with_ids(block, &ids);
    }

    /// As [`History::apply_block`], with the transaction ids already computed.
    pub fn apply_block_with_ids(&mut self, block: &SignedBlock, ids: &[TxId]) {
        let id = block.header.id();
        let num = id.num();
        assert_eq!(block.header.previous, self.head_id(), "blocks are applied in chain order");
        self.recent.insert((num.0 & 0xffff) as u16, id);
        for (i, (t, &tid)) in block.transactions.iter().zip(ids).enumerate() {
            let placed = Slot::placed(Placement { block: num, index: i as u32 });
            let key = IdKey::of(&tid);
            match self.seen.entry(key) {
                Entry::Occupied(mut e) => *e.get_mut() = placed,
                Entry::Vacant(e) => {
                    e.insert(placed);
                    self.expiries.entry(t.transaction.expiration).or_default().push(key);
                }
            }
        }
        self.head = Some(Head { num, id, time: block.header.timestamp, producer: block.header.producer });
    }

    /// What is known of `id` within the expiration window: `None` if nothing, else where
    /// it landed (`None` inside: accepted, waiting for a block). One lookup for both.
    pub fn seen(&self, id: &TxId) -> Option<Option<Placement>> {
        self.seen.get(&IdKey::of(id)).map(|s| s.placement())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{n, Checksum256, PrivateKey, SignedTransaction};

    /// An unsigned one-action transaction expiring at `expiration`, unique by `data`.
    fn tx(expiration: u32, data: Vec<u8>) -> SignedTransaction {
        SignedTransaction::unsigned_with(
            TimePointSec(expiration),
            crate::chain::Action {
                account: n("a"),
                name: n("b"),
                authorization: smallvec::smallvec![],
                data: crate::chain::Bytes::from(data),
            },
        )
    }

    /// The block after `previous`, at `time`, holding `txs`.
    fn block(chain: &ChainId, previous: BlockId, time: u64, txs: Vec<SignedTransaction>) -> SignedBlock {
        let header = crate::chain::BlockHeader {
            previous,
            timestamp: TimePoint(time),
            producer: n("eosio"),
            ..Default::default()
        };
        SignedBlock::seal(header, txs, &PrivateKey::from_seed(b"p"), chain)
    }

    #[test]
    fn slots_keep_every_placement() {
        assert_eq!(Slot::PENDING.placement(), None);
        for (block, index) in [(1, 0), (1, u32::MAX), (u32::MAX, 0), (u32::MAX, u32::MAX), (70_000, 12_345)] {
            let p = Placement { block: BlockNum(block), index };
            assert_eq!(Slot::placed(p).placement(), Some(p));
        }
    }

    #[test]
    fn release_forgets_only_what_is_not_sealed() {
        let chain = ChainId(Checksum256::hash(b"c"));
        let mut h = History::new(&chain);
        let (sealed, refused) = (tx(1000, vec![1]), tx(1000, vec![2]));
        for t in [&sealed, &refused] {
            h.reserve(t.id(), t.transaction.expiration).unwrap();
        }
        h.release(&refused.id());
        assert_eq!(h.seen(&refused.id()), None, "no longer pending");
        h.reserve(refused.id(), refused.transaction.expiration).expect("a released id may come again");
        h.apply_block(&block(&chain, h.head_id(), 1, vec![sealed.clone()]));
        h.release(&sealed.id());
        assert_eq!(h.seen(&sealed.id()), Some(Some(Placement { block: BlockNum(1), index: 0 })));
        assert!(matches!(
            h.reserve(sealed.id(), sealed.transaction.expiration),
            Err(IngestError::Duplicate(_))
        ));
        h.prune(TimePointSec(1000));
        assert_eq!(h.remembered(), 0, "both ids expire, the refused one's stale bucket entry too");
    }

    #[test]
    fn heap_bytes_follow_the_window() {
        let chain = ChainId(Checksum256::hash(b"c"));
        let mut h = History::new(&chain);
        assert_eq!(h.heap_bytes(), 0);
        let n = 10_000u32;
        for i in 0..n {
            let t = tx(1000 + i / 1000, i.to_le_bytes().to_vec());
            h.reserve(t.id(), t.transaction.expiration).unwrap();
        }
        // A table slot is 24 bytes and a control byte, at 7/16 to 7/8 full; an expiry
        // entry 16 bytes, its list half to wholly full.
        let before = h.heap_bytes();
        let per = before as f64 / f64::from(n);
        assert!(
            (25.0 * 8.0 / 7.0 + 16.0..=25.0 * 16.0 / 7.0 + 32.0 + 1.0).contains(&per),
            "{per} bytes an id"
        );
        h.prune(TimePointSec(1000 + n / 1000));
        assert_eq!(h.remembered(), 0);
        let after = h.heap_bytes();
        assert!(before - after >= n as usize * 16, "the expiry lists go with their ids: {before} -> {after}");
        assert!(after as f64 >= 25.0 * 8.0 / 7.0 * f64::from(n), "the table keeps its buckets: {after}");
    }

    #[test]
    fn memory_is_bounded_by_the_expiration_window() {
        let chain = ChainId(Checksum256::hash(b"c"));
        let mut h = History::new(&chain);
        for b in 0..50u32 {
            let txs = (0..10u32).map(|i| tx(1000 + b, (b * 100 + i).to_le_bytes().to_vec())).collect();
            h.apply_block(&block(&chain, h.head_id(), u64::from(b), txs));
            h.prune(TimePointSec(1000 + b.saturating_sub(5)));
        }
        // Only the last few seconds' transactions are remembered.
        assert!(h.remembered() <= 60, "{} remembered", h.remembered());
        assert!(h.seen.values().all(|s| s.placement().is_some()));
        assert!(h.expiries.values().map(Vec::len).sum::<usize>() <= 60);
        assert_eq!(h.head_num().0, 50);
    }
}
