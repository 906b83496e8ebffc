//! The state store: contract rows at `(code, scope, table, id)`, sharded by scope, each
//! shard a hash map for point reads and writes beside its keys in order for range queries;
//! the state root that follows it; and the per-transaction overlay that holds a transaction's
//! writes until it commits.
//!
//! Account metadata, permissions, code and deferred requests are rows of the system
//! contract (`eosio`, see [`super::system_rows`]), so one root covers all of the state.
//!
//! # Invariant
//! `root` is always the [`LtHash`] sum of row hash (the [`LtHash`] of the row's key and value) over every row in `rows`. Every
//! mutation either goes through [`Store::apply`] and then [`Store::update_root`] with the
//! changes it returned ([`Store::commit`] does both), or through
//! [`Store::apply_prehashed`] with a delta from [`writes_delta`] computed against this
//! same store before any of those keys changed (the executor's waves: transactions of one
//! wave write disjoint scopes, so each one's delta is computed on its worker thread).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;

use bytes::Bytes;
use rayon::prelude::*;

use crate::chain::{Checksum256, Name};

use super::lthash::LtHash;

/// The address of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct RowKey {
    /// The contract that owns the table.
    pub code: Name,
    /// The scope (who the row is about: a holder, a symbol, …).
    pub scope: Name,
    /// The table.
    pub table: Name,
    /// The primary key (compared unsigned).
    pub id: u64,
}

impl RowKey {
    /// Its 32-byte encoding, as hashed into the state root: four little-endian u64s.
    pub fn encode(&self) -> [u8; 32] {
        let mut b = [0u8; 32];
        b[0..8].copy_from_slice(&self.code.0.to_le_bytes());
        b[8..16].copy_from_slice(&self.scope.0.to_le_bytes());
        b[16..24].copy_from_slice(&self.table.0.to_le_bytes());
        b[24..32].copy_from_slice(&self.id.to_le_bytes());
        b
    }

    fn table_start(code: Name, scope: Name, table: Name, id: u64) -> Self {
        Self { code, scope, table, id }
    }
}

/// One change to a row: the value before (`None`: absent) and after.
#[derive(Debug, Clone)]
pub struct RowChange {
    /// The row.
    pub key: RowKey,
    /// Its value before the change.
    pub old: Option<Bytes>,
    /// Its value after (`None`: removed).
    pub new: Option<Bytes>,
}

/// Shards of the row map. Rows are sharded by scope, so a table (and a scope) lives in one
/// shard: range queries stay within one map, and a wave's writes, which touch disjoint
/// scopes, commit to the shards in parallel.
pub const SHARDS: usize = 16;

/// Batches smaller than this commit on the calling thread (small waves, hot accounts).
const PARALLEL_WRITES_MIN: usize = 1024;

fn shard_of(scope: Name) -> usize {
    // Fibonacci hashing of the scope: names share long prefixes, so mix before taking bits.
    (scope.0.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 60) as usize
}
const _: () = assert!(SHARDS == 1 << 4);

/// One shard's rows.
///
/// Point reads and writes, nearly all of a transaction's row traffic, probe the hash map:
/// two or three cache lines, where a search of an ordered map of a few thousand rows walks
/// four nodes of several lines each (cold after other work, so it waits on memory). The
/// ordered key set serves range queries and iteration in key order; only a new key or a
/// removed one touches it, so replacing a value (a balance) costs one probe.
///
/// # Invariant
/// `order` holds exactly the keys of `values`.
#[derive(Debug, Clone, Default)]
struct Shard {
    /// Keyed by a per-process random seed, so a contract cannot aim its keys at one bucket
    /// without learning the seed.
    values: HashMap<RowKey, Bytes, foldhash::quality::RandomState>,
    order: BTreeSet<RowKey>,
}

impl Shard {
    fn get(&self, key: &RowKey) -> Option<&Bytes> {
        self.values.get(key)
    }

    /// Sets (`Some`) or removes (`None`) a row; the value it replaced.
    fn put(&mut self, key: RowKey, new: Option<Bytes>) -> Option<Bytes> {
        match new {
            Some(v) => {
                let old = self.values.insert(key, v);
                if old.is_none() {
                    self.order.insert(key);
                }
                old
            }
            None => {
                let old = self.values.remove(&key);
                if old.is_some() {
                    self.order.remove(&key);
                }
                old
            }
        }
    }

    /// Rows in key order.
    fn iter(&self) -> impl Iterator<Item = (&RowKey, &Bytes)> {
        self.order.iter().map(move |k| (k, &self.values[k]))
    }

    fn len(&self) -> usize {
        self.values.len()
    }
}

/// All rows and the state root.
#[derive(Debug, Clone)]
pub struct Store {
    rows: Vec<Shard>,
    root: LtHash,
}

impl Default for Store {
    fn default() -> Self {
        Self { rows: (0..SHARDS).map(|_| Shard::default()).collect(), root: LtHash::default() }
    }
}

impl Store {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn shard(&self, key: &RowKey) -> &Shard {
        &self.rows[shard_of(key.scope)]
    }

    fn shard_mut(&mut self, key: &RowKey) -> &mut Shard {
        &mut self.rows[shard_of(key.scope)]
    }

    /// A row's value.
    pub fn get(&self, key: &RowKey) -> Option<&Bytes> {
        self.shard(key).get(key)
    }

    /// Touches a row's map entry and value so that a read soon after finds them in cache.
    /// A hint: it changes nothing. Many independent touches in a row overlap their misses
    /// to memory, where the reads of a transaction, each waiting on the one before, cannot.
    pub fn warm(&self, key: &RowKey) {
        if let Some(v) = self.get(key) {
            std::hint::black_box(v.first());
        }
    }

    /// The first row of `(code, scope, table)` with id at least `id`.
    pub fn lower_bound(&self, code: Name, scope: Name, table: Name, id: u64) -> Option<u64> {
        let start = RowKey::table_start(code, scope, table, id);
        self.rows[shard_of(scope)]
            .order
            .range((Bound::Included(start), Bound::Unbounded))
            .next()
            .filter(|k| k.code == code && k.scope == scope && k.table == table)
            .map(|k| k.id)
    }

    /// Every row, shard by shard (key order within a shard, not across shards).
    pub fn iter(&self) -> impl Iterator<Item = (&RowKey, &Bytes)> {
        self.rows.iter().flat_map(Shard::iter)
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.iter().map(Shard::len).sum()
    }

    /// True when there is no row.
    pub fn is_empty(&self) -> bool {
        self.rows.iter().all(|s| s.values.is_empty())
    }

    /// Applies writes in order (`None` removes), returning what changed (old and new value
    /// of each row written, in the order given). The root is not updated: pass the changes
    /// to [`Store::update_root`] (separately so a block's changes can be coalesced and hashed
    /// in parallel).
    pub fn apply(&mut self, writes: impl IntoIterator<Item = (RowKey, Option<Bytes>)>) -> Vec<RowChange> {
        let mut changes = Vec::new();
        for (key, new) in writes {
            let old = self.shard_mut(&key).put(key, new.clone());
            if old != new {
                changes.push(RowChange { key, old, new });
            }
        }
        changes
    }

    /// Folds changes into the root: for each change, minus the old row's vector, plus the
    /// new one's. Consecutive changes of one row telescope, so any order and any split
    /// across threads gives the same root; the hashing runs in parallel.
    pub fn update_root(&mut self, changes: Vec<RowChange>) {
        let delta = changes
            .par_iter()
            .with_min_len(256)
            .fold(LtHash::default, |mut acc, c| {
                let key = c.key.encode();
                if let Some(o) = &c.old {
                    acc.sub_element(&[&key, o]);
                }
                if let Some(n) = &c.new {
                    acc.add_element(&[&key, n]);
                }
                acc
            })
            .reduce(LtHash::default, |mut a, b| {
                a.add(&b);
                a
            });
        self.root.add(&delta);
    }

    /// Applies writes whose root delta was computed beforehand by [`writes_delta`] against
    /// the values they replace; the caller adds that delta with
    /// [`Store::add_prehashed_delta`] once the batch it covers is applied. Writes are
    /// applied in the order given within each shard, the shards in parallel. Returns, in
    /// that order per shard, the value each write replaced for the keys `keep` selects.
    pub fn apply_prehashed(
        &mut self,
        writes: Vec<(RowKey, Option<Bytes>)>,
        keep: impl Fn(&RowKey) -> bool + Sync,
    ) -> Vec<(RowKey, Option<Bytes>)> {
        let mut kept = Vec::new();
        if writes.len() < PARALLEL_WRITES_MIN {
            for w in writes {
                let shard = &mut self.rows[shard_of(w.0.scope)];
                apply_to_shard(shard, [w], &keep, &mut kept);
            }
            return kept;
        }
        // Each shard's list allocated once at its size (counted first), not grown by doubling.
        let mut counts = [0usize; SHARDS];
        for (k, _) in &writes {
            counts[shard_of(k.scope)] += 1;
        }
        let mut per: Vec<Vec<(RowKey, Option<Bytes>)>> =
            counts.iter().map(|&n| Vec::with_capacity(n)).collect();
        for w in writes {
            per[shard_of(w.0.scope)].push(w);
        }
        let per_shard: Vec<Vec<(RowKey, Option<Bytes>)>> = self
            .rows
            .par_iter_mut()
            .zip(per)
            .map(|(shard, writes)| {
                let mut kept = Vec::new();
                apply_to_shard(shard, writes, &keep, &mut kept);
                kept
            })
            .collect();
        kept.extend(per_shard.into_iter().flatten());
        kept
    }

    /// Adds a delta from [`writes_delta`] for writes applied by [`Store::apply_prehashed`].
    pub fn add_prehashed_delta(&mut self, delta: &LtHash) {
        self.root.add(delta);
    }

    /// Applies writes and updates the root at once.
    pub fn commit(&mut self, writes: impl IntoIterator<Item = (RowKey, Option<Bytes>)>) {
        let changes = self.apply(writes);
        self.update_root(changes);
    }

    /// The state root: a digest of the multiset hash of every row.
    pub fn root(&self) -> Checksum256 {
        Checksum256(self.root.checksum())
    }

    /// Recomputes the root from every row (for checks; O(rows)).
    pub fn recompute_root(&self) -> Checksum256 {
        let sum = self
            .rows
            .par_iter()
            .flat_map(|s| s.values.par_iter())
            .fold(LtHash::default, |mut acc, (k, v)| {
                acc.add_element(&[&k.encode(), v]);
                acc
            })
            .reduce(LtHash::default, |mut a, b| {
                a.add(&b);
                a
            });
        Checksum256(sum.checksum())
    }
}

/// Applies `writes` (all of one shard) in order, keeping the replaced values `keep` selects.
fn apply_to_shard(
    shard: &mut Shard,
    writes: impl IntoIterator<Item = (RowKey, Option<Bytes>)>,
    keep: &impl Fn(&RowKey) -> bool,
    kept: &mut Vec<(RowKey, Option<Bytes>)>,
) {
    for (key, new) in writes {
        let old = shard.put(key, new);
        if keep(&key) {
            kept.push((key, old));
        }
    }
}

/// Adds to `acc` the root delta of `writes` over `base`: for each row that changes, minus
/// its current vector, plus its new one.
pub fn writes_delta(base: &Store, writes: &[(RowKey, Option<Bytes>)], acc: &mut LtHash) {
    for (k, new) in writes {
        let old = base.get(k);
        if old == new.as_ref() {
            continue;
        }
        let key = k.encode();
        if let Some(o) = old {
            acc.sub_element(&[&key, o]);
        }
        if let Some(n) = new {
            acc.add_element(&[&key, n]);
        }
    }
}

/// A transaction's pending writes over a base store. Reads see the overlay first.
#[derive(Debug, Default, Clone)]
pub struct Overlay {
    writes: OverlayWrites,
}

/// Most writes kept in a sorted vector before the overlay moves them to a map. A token
/// transfer writes two rows: a vector is one small allocation that becomes the outcome's
/// write list as it is, where a map allocates a node of eleven slots and is then copied
/// out; a contract writing many rows gets the map's logarithmic inserts.
const OVERLAY_VEC_MAX: usize = 32;

/// The pending writes, in key order either way.
#[derive(Debug, Clone)]
enum OverlayWrites {
    /// Sorted by key, each key once.
    Few(Vec<(RowKey, Option<Bytes>)>),
    Many(BTreeMap<RowKey, Option<Bytes>>),
}

impl Default for OverlayWrites {
    fn default() -> Self {
        Self::Few(Vec::new())
    }
}

impl Overlay {
    /// The pending write of `key`: `Some(None)` if the transaction removed it.
    fn pending(&self, key: &RowKey) -> Option<&Option<Bytes>> {
        match &self.writes {
            OverlayWrites::Few(v) => v.binary_search_by(|(k, _)| k.cmp(key)).ok().map(|i| &v[i].1),
            OverlayWrites::Many(m) => m.get(key),
        }
    }

    /// Reads through the overlay.
    pub fn get<'a>(&'a self, base: &'a Store, key: &RowKey) -> Option<&'a Bytes> {
        match self.pending(key) {
            Some(w) => w.as_ref(),
            None => base.get(key),
        }
    }

    /// Writes a row (`None` removes it).
    pub fn put(&mut self, key: RowKey, value: Option<Bytes>) {
        match &mut self.writes {
            OverlayWrites::Few(v) => match v.binary_search_by(|(k, _)| k.cmp(&key)) {
                Ok(i) => v[i].1 = value,
                Err(_) if v.len() == OVERLAY_VEC_MAX => {
                    let mut m: BTreeMap<RowKey, Option<Bytes>> = std::mem::take(v).into_iter().collect();
                    m.insert(key, value);
                    self.writes = OverlayWrites::Many(m);
                }
                Err(i) => {
                    if v.capacity() == 0 {
                        v.reserve_exact(4);
                    }
                    v.insert(i, (key, value));
                }
            },
            OverlayWrites::Many(m) => {
                m.insert(key, value);
            }
        }
    }

    /// The first pending write at or after `start`, if it is in `start`'s table.
    fn pending_from(&self, start: &RowKey) -> Option<(u64, bool)> {
        let first = match &self.writes {
            OverlayWrites::Few(v) => v.get(v.partition_point(|(k, _)| k < start)).map(|(k, w)| (k, w)),
            OverlayWrites::Many(m) => m.range((Bound::Included(start), Bound::Unbounded)).next(),
        };
        first
            .filter(|(k, _)| k.code == start.code && k.scope == start.scope && k.table == start.table)
            .map(|(k, v)| (k.id, v.is_some()))
    }

    /// The first row of `(code, scope, table)` with id at least `id`, overlay and base
    /// merged (removed rows skipped).
    pub fn lower_bound(&self, base: &Store, code: Name, scope: Name, table: Name, id: u64) -> Option<u64> {
        let mut from = id;
        loop {
            let b = base.lower_bound(code, scope, table, from);
            let o = self.pending_from(&RowKey::table_start(code, scope, table, from));
            let candidate = match (b, o) {
                (None, None) => return None,
                (Some(b), None) => return Some(b),
                (None, Some((oid, live))) => (oid, live),
                (Some(b), Some((oid, live))) if oid <= b => (oid, live),
                (Some(b), Some(_)) => return Some(b),
            };
            // The overlay decides for `candidate.0`: live, or removed (look further).
            if candidate.1 {
                return Some(candidate.0);
            }
            from = candidate.0.checked_add(1)?;
        }
    }

    /// The writes, in key order.
    pub fn into_writes(self) -> Vec<(RowKey, Option<Bytes>)> {
        match self.writes {
            OverlayWrites::Few(v) => v,
            OverlayWrites::Many(m) => m.into_iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(scope: u64, id: u64) -> RowKey {
        RowKey { code: Name(1), scope: Name(scope), table: Name(2), id }
    }

    #[test]
    fn incremental_root_matches_recomputed() {
        let mut s = Store::new();
        s.commit([(k(1, 1), Some(Bytes::from_static(b"a"))), (k(1, 2), Some(Bytes::from_static(b"b")))]);
        s.commit([(k(1, 1), Some(Bytes::from_static(b"c"))), (k(1, 2), None), (k(3, 0), Some(Bytes::new()))]);
        assert_eq!(s.root(), s.recompute_root());
        let mut t = Store::new();
        t.commit([(k(3, 0), Some(Bytes::new())), (k(1, 1), Some(Bytes::from_static(b"c")))]);
        assert_eq!(s.root(), t.root());
        assert_ne!(s.root(), Store::new().root());
    }

    #[test]
    fn overlay_lower_bound_merges() {
        let mut s = Store::new();
        s.commit((0..5).map(|i| (k(1, i * 2), Some(Bytes::from_static(b"x")))));
        let mut o = Overlay::default();
        o.put(k(1, 0), None);
        o.put(k(1, 3), Some(Bytes::from_static(b"y")));
        o.put(k(1, 4), None);
        o.put(k(1, 6), None);
        let ids: Vec<u64> = std::iter::successors(o.lower_bound(&s, Name(1), Name(1), Name(2), 0), |i| {
            o.lower_bound(&s, Name(1), Name(1), Name(2), i + 1)
        })
        .collect();
        assert_eq!(ids, vec![2, 3, 8]);
        assert_eq!(o.lower_bound(&s, Name(1), Name(2), Name(2), 0), None);
    }

    proptest::proptest! {
        /// An overlay agrees with an ordered map of its writes over a base store, below
        /// and past the size where it moves from a vector to a map: point reads, lower
        /// bounds merged with the base, and the write list in key order.
        #[test]
        fn the_overlay_agrees_with_an_ordered_map(
            base in proptest::collection::vec((0u64..3, 0u64..40), 0..30),
            puts in proptest::collection::vec((0u64..3, 0u64..40, proptest::option::of(0u8..4)), 0..80),
        ) {
            let key = |scope: u64, id: u64| RowKey { code: Name(1), scope: Name(scope), table: Name(2), id };
            let mut store = Store::new();
            store.commit(base.iter().map(|(sc, id)| (key(*sc, *id), Some(Bytes::from_static(b"base")))));
            let mut overlay = Overlay::default();
            let mut model: BTreeMap<RowKey, Option<Bytes>> = BTreeMap::new();
            // Every read agrees after each write, so the move from vector to map is covered
            // at the write that makes it.
            for (n, (sc, id, v)) in puts.iter().enumerate() {
                let value = v.map(|b| Bytes::from(vec![b]));
                overlay.put(key(*sc, *id), value.clone());
                model.insert(key(*sc, *id), value);
                let merged = |k: &RowKey| match model.get(k) {
                    Some(w) => w.clone(),
                    None => store.get(k).cloned(),
                };
                for sc in 0..3 {
                    for id in 0..41 {
                        proptest::prop_assert_eq!(
                            overlay.get(&store, &key(sc, id)).cloned(), merged(&key(sc, id)), "after write {}", n);
                        let want = (id..41).find(|i| merged(&key(sc, *i)).is_some());
                        proptest::prop_assert_eq!(
                            overlay.lower_bound(&store, Name(1), Name(sc), Name(2), id), want, "after write {}", n);
                    }
                }
            }
            proptest::prop_assert_eq!(overlay.into_writes(), model.into_iter().collect::<Vec<_>>());
        }

        /// Random writes and removals, committed directly and through the prehashed path,
        /// leave the store agreeing with an ordered map of the same rows: point reads, range
        /// queries, iteration in key order within each shard, length, and root.
        #[test]
        fn the_store_agrees_with_an_ordered_map(
            batches in proptest::collection::vec(
                proptest::collection::vec((0u64..6, 0u64..3, 0u64..8, proptest::option::of(0u8..4)), 0..24),
                1..6),
            queries in proptest::collection::vec((0u64..6, 0u64..3, 0u64..10), 0..16),
        ) {
            let key = |scope: u64, table: u64, id: u64| RowKey { code: Name(1), scope: Name(scope), table: Name(table), id };
            let mut store = Store::new();
            let mut model: BTreeMap<RowKey, Bytes> = BTreeMap::new();
            for (n, batch) in batches.iter().enumerate() {
                let writes: Vec<(RowKey, Option<Bytes>)> = batch
                    .iter()
                    .map(|&(s, t, id, v)| (key(s, t, id), v.map(|v| Bytes::from(vec![v; v as usize]))))
                    .collect();
                for (k, v) in &writes {
                    match v {
                        Some(v) => model.insert(*k, v.clone()),
                        None => model.remove(k),
                    };
                }
                if n % 2 == 0 {
                    store.commit(writes);
                } else {
                    // The executor's path: the delta against the store before the writes.
                    // Within one batch a key may repeat, so hash each write against the
                    // value it replaces, in order.
                    let mut delta = LtHash::default();
                    let mut shadow = store.clone();
                    for w in &writes {
                        writes_delta(&shadow, std::slice::from_ref(w), &mut delta);
                        shadow.commit([w.clone()]);
                    }
                    store.apply_prehashed(writes, |_| false);
                    store.add_prehashed_delta(&delta);
                }
            }
            proptest::prop_assert_eq!(store.len(), model.len());
            proptest::prop_assert_eq!(store.is_empty(), model.is_empty());
            for (k, v) in &model {
                proptest::prop_assert_eq!(store.get(k), Some(v));
            }
            for &(s, t, id) in &queries {
                proptest::prop_assert_eq!(store.get(&key(s, t, id)), model.get(&key(s, t, id)));
                let expect = model
                    .range(key(s, t, id)..)
                    .next()
                    .filter(|(k, _)| k.scope == Name(s) && k.table == Name(t))
                    .map(|(k, _)| k.id);
                proptest::prop_assert_eq!(store.lower_bound(Name(1), Name(s), Name(t), id), expect);
            }
            let mut seen: Vec<(RowKey, Bytes)> = Vec::new();
            for shard in store.rows.iter() {
                let rows: Vec<(RowKey, Bytes)> = shard.iter().map(|(k, v)| (*k, v.clone())).collect();
                proptest::prop_assert!(rows.windows(2).all(|w| w[0].0 < w[1].0), "key order within a shard");
                seen.extend(rows);
            }
            proptest::prop_assert_eq!(seen.len(), store.iter().count());
            seen.sort_by_key(|(k, _)| *k);
            proptest::prop_assert_eq!(seen, model.into_iter().collect::<Vec<_>>());
            proptest::prop_assert_eq!(store.root(), store.recompute_root());
        }
    }
}
