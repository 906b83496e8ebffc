//! Server-side transaction filters, evaluated per result of the results log.
//!
//! A subscription's [`Filter`] is a list of [`TxFilter`]s: a transaction matches when any
//! of them does (an empty list matches everything: the unfiltered stream producers and
//! syncing nodes read). Within a `TxFilter` every field must hold (AND), as in Solana's
//! Yellowstone feeds; a field is a [`NameLists`] of `include` (any of), `require` (all of)
//! and `exclude` (none of) over the names the transaction touches, and an empty list is no
//! condition.

use serde::{Deserialize, Serialize};

use crate::chain::results::{Origin, TxResult};
use crate::chain::{Name, SignedBlock, TransactionStatus};

/// Most `TxFilter`s in one subscription.
pub const FILTERS_MAX: usize = 64;
/// Most names in all the lists of one subscription together.
pub const FILTER_NAMES_MAX: usize = 4096;

/// Conditions on one set of names a transaction touches.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NameLists {
    /// At least one of these (when not empty).
    pub include: Vec<Name>,
    /// All of these.
    pub require: Vec<Name>,
    /// None of these.
    pub exclude: Vec<Name>,
}

impl NameLists {
    fn is_empty(&self) -> bool {
        self.include.is_empty() && self.require.is_empty() && self.exclude.is_empty()
    }

    fn len(&self) -> usize {
        self.include.len() + self.require.len() + self.exclude.len()
    }

    /// Sorts and dedups the lists; refuses lists that can never match.
    fn normalize(&mut self, field: &str) -> Result<(), String> {
        for l in [&mut self.include, &mut self.require, &mut self.exclude] {
            l.sort_unstable();
            l.dedup();
        }
        if let Some(n) = self.require.iter().find(|n| self.exclude.binary_search(n).is_ok()) {
            return Err(format!("{field}: {n} is both required and excluded, so nothing can match"));
        }
        if !self.include.is_empty() && self.include.iter().all(|n| self.exclude.binary_search(n).is_ok()) {
            return Err(format!("{field}: every included name is also excluded, so nothing can match"));
        }
        Ok(())
    }

    /// Does a sorted, deduplicated set of names satisfy the lists?
    fn matches(&self, set: &[Name]) -> bool {
        let has = |n: &Name| set.binary_search(n).is_ok();
        (self.include.is_empty() || intersects(&self.include, set))
            && self.require.iter().all(has)
            && !intersects(&self.exclude, set)
    }
}

/// Do two sorted lists share a name? Walks the shorter and searches the longer: a filter
/// may list thousands of names, a transaction touches a handful.
fn intersects(a: &[Name], b: &[Name]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    short.iter().any(|n| long.binary_search(n).is_ok())
}

/// One filter: every field must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TxFilter {
    /// Accounts of the actions run (the transaction's and inline ones).
    pub contracts: NameLists,
    /// Names of the actions run.
    pub actions: NameLists,
    /// Accounts that authorized them.
    pub actors: NameLists,
    /// Scopes declared read or written.
    pub scopes: NameLists,
    /// Scopes declared written.
    pub write_scopes: NameLists,
    /// Receipt statuses, any of (empty: all).
    pub statuses: Vec<TransactionStatus>,
}

/// A subscription's filter: any of its `TxFilter`s (none: every transaction).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Filter(pub Vec<TxFilter>);

impl Filter {
    /// Every transaction.
    pub fn all() -> Self {
        Self(Vec::new())
    }

    /// Checks the limits and sorts every list, so matching can binary search; the error
    /// says what is wrong.
    pub fn normalize(&mut self) -> Result<(), String> {
        if self.0.len() > FILTERS_MAX {
            return Err(format!("{} filters; at most {FILTERS_MAX}", self.0.len()));
        }
        let mut names = 0;
        for (i, f) in self.0.iter_mut().enumerate() {
            let ctx = |field: &str| format!("filter {i}, {field}");
            f.contracts.normalize(&ctx("contracts"))?;
            f.actions.normalize(&ctx("actions"))?;
            f.actors.normalize(&ctx("actors"))?;
            f.scopes.normalize(&ctx("scopes"))?;
            f.write_scopes.normalize(&ctx("write_scopes"))?;
            f.statuses.sort_unstable_by_key(|s| *s as u8);
            f.statuses.dedup();
            names +=
                f.contracts.len() + f.actions.len() + f.actors.len() + f.scopes.len() + f.write_scopes.len();
        }
        if names > FILTER_NAMES_MAX {
            return Err(format!("{names} names in the filter lists; at most {FILTER_NAMES_MAX}"));
        }
        Ok(())
    }

    /// Does the filter select every transaction?
    pub fn is_all(&self) -> bool {
        self.0.is_empty()
            || self.0.iter().any(|f| {
                f.statuses.is_empty()
                    && [&f.contracts, &f.actions, &f.actors, &f.scopes, &f.write_scopes]
                        .iter()
                        .all(|l| l.is_empty())
            })
    }

    /// Does a transaction with these facts match? (Lists must be normalized.)
    pub fn matches(&self, facts: &TxFacts<'_>) -> bool {
        self.0.is_empty()
            || self.0.iter().any(|f| {
                (f.statuses.is_empty() || f.statuses.contains(&facts.status))
                    && f.contracts.matches(facts.contracts)
                    && f.actions.matches(facts.actions)
                    && f.actors.matches(facts.actors)
                    && f.scopes.matches(facts.scopes)
                    && f.write_scopes.matches(facts.write_scopes)
            })
    }
}

/// The names a result touches, each list sorted and deduplicated: what filters look at.
/// A view into a block's [`FactsTable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxFacts<'a> {
    /// Its receipt status.
    pub status: TransactionStatus,
    /// Accounts of its actions (declared and inline, from the traces).
    pub contracts: &'a [Name],
    /// Names of those actions.
    pub actions: &'a [Name],
    /// Actors authorizing those actions.
    pub actors: &'a [Name],
    /// Declared read and write scopes (empty for deferred deliveries, whose declarations
    /// are not in the logs).
    pub scopes: &'a [Name],
    /// Declared write scopes.
    pub write_scopes: &'a [Name],
}

/// The [`TxFacts`] of every result of a block, in one flat list of names.
///
/// One allocation for the whole block, and rows without pointers: a block's facts are
/// built once, read by every subscription and freed in one step, where per-result inline
/// lists were each visited again, in cold memory, just to be dropped (and allocated when
/// longer than four names).
///
/// # Invariant
/// Row `i`'s five lists are consecutive runs of `names`, starting where row `i - 1`'s
/// last one ends (0 for row 0) and ending at `ends`; each run is sorted and deduplicated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FactsTable {
    names: Vec<Name>,
    rows: Vec<FactsRow>,
}

/// A result's status and where each of its lists ends in [`FactsTable::names`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FactsRow {
    status: TransactionStatus,
    ends: [u32; 5],
}

impl FactsTable {
    /// Heap memory the table holds.
    pub fn heap_bytes(&self) -> usize {
        self.names.capacity() * std::mem::size_of::<Name>()
            + self.rows.capacity() * std::mem::size_of::<FactsRow>()
    }

    /// The facts of every result of `results`, whose transactions (for block and delayed
    /// origins) are in `block`.
    pub fn of(results: &[TxResult], block: &SignedBlock) -> Self {
        let mut t =
            Self { names: Vec::with_capacity(results.len() * 8), rows: Vec::with_capacity(results.len()) };
        for r in results {
            t.push(r, block);
        }
        t
    }

    /// Adds the facts of `result`. The declared actions count even when the transaction
    /// failed before running them (its traces are then short).
    pub fn push(&mut self, result: &TxResult, block: &SignedBlock) {
        let declared = match result.origin {
            Origin::Block(i) | Origin::Delayed(i) => {
                block.transactions.get(i as usize).map(|t| &t.transaction)
            }
            _ => None,
        };
        let actions = || declared.into_iter().flat_map(|t| t.actions.iter()).chain(result.traces.actions());
        let mut ends = [0u32; 5];
        let mut list = |k: usize, names: &mut Vec<Name>, items: &mut dyn Iterator<Item = Name>| {
            let start = names.len();
            names.extend(items);
            sort_dedup_from(names, start);
            ends[k] = u32::try_from(names.len()).expect("a block's facts fit in u32 names");
        };
        let names = &mut self.names;
        list(0, names, &mut actions().map(|a| a.account));
        list(1, names, &mut actions().map(|a| a.name));
        list(2, names, &mut actions().flat_map(|a| a.authorization.iter().map(|p| p.actor)));
        list(
            3,
            names,
            &mut declared.into_iter().flat_map(|t| t.read_scopes.iter().chain(&t.write_scopes)).copied(),
        );
        list(4, names, &mut declared.into_iter().flat_map(|t| t.write_scopes.iter()).copied());
        self.rows.push(FactsRow { status: result.receipt.status, ends });
    }

    /// Results in the table.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when there is no result.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The facts of result `i`.
    pub fn get(&self, i: usize) -> TxFacts<'_> {
        let row = &self.rows[i];
        let start = if i == 0 { 0 } else { self.rows[i - 1].ends[4] as usize };
        let [a, b, c, d, e] = row.ends.map(|x| x as usize);
        let n = &self.names;
        TxFacts {
            status: row.status,
            contracts: &n[start..a],
            actions: &n[a..b],
            actors: &n[b..c],
            scopes: &n[c..d],
            write_scopes: &n[d..e],
        }
    }

    /// The facts of every result, in order.
    pub fn iter(&self) -> impl Iterator<Item = TxFacts<'_>> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }
}

/// Sorts `v[start..]` and removes its duplicates.
fn sort_dedup_from(v: &mut Vec<Name>, start: usize) {
    v[start..].sort_unstable();
    let mut kept = start;
    for i in start..v.len() {
        if kept == start || v[i] != v[kept - 1] {
            v[kept] = v[i];
            kept += 1;
        }
    }
    v.truncate(kept);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::n;

    /// A test's facts, owning their lists.
    struct Owned {
        status: TransactionStatus,
        contracts: Vec<Name>,
        actions: Vec<Name>,
        actors: Vec<Name>,
    }

    impl Owned {
        fn view(&self) -> TxFacts<'_> {
            TxFacts {
                status: self.status,
                contracts: &self.contracts,
                actions: &self.actions,
                actors: &self.actors,
                scopes: &self.actors,
                write_scopes: &self.actors,
            }
        }
    }

    fn facts(contracts: &[&str], actors: &[&str], status: TransactionStatus) -> Owned {
        let names = |v: &[&str]| {
            let mut v: Vec<Name> = v.iter().map(|s| n(s)).collect();
            v.sort_unstable();
            v
        };
        Owned { status, contracts: names(contracts), actions: names(&["transfer"]), actors: names(actors) }
    }

    #[test]
    fn fields_and_and_lists_or() {
        let mut f = Filter(vec![TxFilter {
            contracts: NameLists { include: vec![n("eosio.token"), n("wasm.token")], ..Default::default() },
            actors: NameLists { require: vec![n("alice")], exclude: vec![n("carol")], ..Default::default() },
            ..Default::default()
        }]);
        f.normalize().unwrap();
        let ok = TransactionStatus::Executed;
        assert!(f.matches(&facts(&["eosio.token"], &["alice", "bob"], ok).view()));
        assert!(f.matches(&facts(&["wasm.token"], &["alice"], ok).view()));
        assert!(!f.matches(&facts(&["other"], &["alice"], ok).view()));
        assert!(!f.matches(&facts(&["eosio.token"], &["bob"], ok).view()));
        assert!(!f.matches(&facts(&["eosio.token"], &["alice", "carol"], ok).view()));
        f.0.push(TxFilter { statuses: vec![TransactionStatus::HardFail], ..Default::default() });
        f.normalize().unwrap();
        assert!(f.matches(&facts(&["other"], &[], TransactionStatus::HardFail).view()));
        assert!(!f.is_all());
        assert!(Filter::all().matches(&facts(&[], &[], ok).view()));
    }

    #[test]
    fn absurd_filters_are_refused() {
        let mut f = Filter(vec![TxFilter {
            actors: NameLists { require: vec![n("alice")], exclude: vec![n("alice")], ..Default::default() },
            ..Default::default()
        }]);
        assert!(f.normalize().unwrap_err().contains("both required and excluded"));
        let mut f = Filter(vec![TxFilter::default(); FILTERS_MAX + 1]);
        assert!(f.normalize().is_err());
        let many: Vec<Name> = (0..FILTER_NAMES_MAX as u64 + 1).map(Name).collect();
        let mut f = Filter(vec![TxFilter {
            actors: NameLists { include: many, ..Default::default() },
            ..Default::default()
        }]);
        assert!(f.normalize().unwrap_err().contains("names"));
    }

    /// Each list of every row, as a naive reading of the result and its transaction.
    fn naive(result: &TxResult, block: &SignedBlock) -> [Vec<Name>; 5] {
        let declared = match result.origin {
            Origin::Block(i) | Origin::Delayed(i) => {
                block.transactions.get(i as usize).map(|t| t.transaction.clone())
            }
            _ => None,
        };
        let mut acts: Vec<crate::chain::Action> = declared.iter().flat_map(|t| t.actions.clone()).collect();
        acts.extend(result.traces.iter().map(|(_, a)| a.clone()));
        let scopes: Vec<Name> =
            declared.iter().flat_map(|t| [t.read_scopes.clone(), t.write_scopes.clone()].concat()).collect();
        let writes: Vec<Name> = declared.iter().flat_map(|t| t.write_scopes.clone()).collect();
        let mut lists = [
            acts.iter().map(|a| a.account).collect::<Vec<_>>(),
            acts.iter().map(|a| a.name).collect(),
            acts.iter().flat_map(|a| a.authorization.iter().map(|p| p.actor)).collect(),
            scopes,
            writes,
        ];
        for l in &mut lists {
            l.sort_unstable();
            l.dedup();
        }
        lists
    }

    proptest::proptest! {
        #[test]
        fn the_table_holds_each_results_lists(
            txs in proptest::collection::vec(
                (proptest::collection::vec((0u64..4, 0u64..4, proptest::collection::vec(0u64..5, 0..3)), 0..4),
                 proptest::collection::vec(0u64..6, 0..4), proptest::collection::vec(0u64..6, 0..3)),
                0..6),
            origins in proptest::collection::vec((0u32..8, 0u8..3, proptest::collection::vec(0usize..4, 0..4)), 0..10),
        ) {
            use crate::chain::{Action, Bytes, ChainId, Checksum256, PermissionLevel, SignedTransaction, TimePointSec, Transaction, TransactionReceipt, TxId};
            use crate::chain::results::TraceLog;
            let action = |c: u64, a: u64, actors: &[u64]| Action {
                account: Name(c + 1),
                name: Name(a + 100),
                authorization: actors.iter().map(|x| PermissionLevel { actor: Name(x + 200), permission: Name(1) }).collect(),
                data: Bytes::from(vec![]),
            };
            let transactions: Vec<SignedTransaction> = txs.iter().map(|(acts, reads, writes)| SignedTransaction {
                transaction: Transaction {
                    expiration: TimePointSec(1),
                    actions: acts.iter().map(|(c, a, who)| action(*c, *a, who)).collect(),
                    read_scopes: reads.iter().map(|x| Name(x + 300)).collect(),
                    write_scopes: writes.iter().map(|x| Name(x + 300)).collect(),
                    ..Transaction::default()
                },
                signatures: smallvec::smallvec![],
            }).collect();
            let header = crate::chain::BlockHeader { producer: n("eosio"), ..Default::default() };
            let chain = ChainId(Checksum256::hash(b"c"));
            let block = SignedBlock::seal(header, transactions, &crate::chain::PrivateKey::from_seed(b"p"), &chain);
            let results: Vec<TxResult> = origins.iter().map(|(i, kind, traces)| TxResult {
                origin: match kind {
                    0 => Origin::Block(*i),
                    1 => Origin::Delayed(*i),
                    _ => Origin::Deferred { sender: n("a"), sender_id: u64::from(*i) },
                },
                receipt: TransactionReceipt {
                    id: TxId(Checksum256::default()),
                    status: if *i % 2 == 0 { TransactionStatus::Executed } else { TransactionStatus::HardFail },
                    cpu_usage_us: 0,
                    net_usage_bytes: 0,
                },
                error: None,
                traces: {
                    // Each delivery its own run; a run of two for even names.
                    let mut log = TraceLog::default();
                    for t in traces {
                        let a = action(*t as u64, 1, &[*t as u64, 0]);
                        log.push(Name(*t as u64), &a, false, 0, String::new());
                        if t % 2 == 0 {
                            log.push(Name(*t as u64 + 1), &a, true, 0, String::new());
                        }
                    }
                    log
                },
                traces_pruned: false,
            }).collect();
            let table = FactsTable::of(&results, &block);
            proptest::prop_assert_eq!(table.len(), results.len());
            proptest::prop_assert_eq!(table.iter().count(), results.len());
            for (i, r) in results.iter().enumerate() {
                let f = table.get(i);
                let [contracts, actions, actors, scopes, write_scopes] = naive(r, &block);
                proptest::prop_assert_eq!(f.status, r.receipt.status);
                proptest::prop_assert_eq!(f.contracts, &contracts[..]);
                proptest::prop_assert_eq!(f.actions, &actions[..]);
                proptest::prop_assert_eq!(f.actors, &actors[..]);
                proptest::prop_assert_eq!(f.scopes, &scopes[..]);
                proptest::prop_assert_eq!(f.write_scopes, &write_scopes[..]);
            }
        }
    }
}
