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
    pub fn matches(&self, facts: &TxFacts) -> bool {
        self.0.is_empty()
            || self.0.iter().any(|f| {
                (f.statuses.is_empty() || f.statuses.contains(&facts.status))
                    && f.contracts.matches(&facts.contracts)
                    && f.actions.matches(&facts.actions)
                    && f.actors.matches(&facts.actors)
                    && f.scopes.matches(&facts.scopes)
                    && f.write_scopes.matches(&facts.write_scopes)
            })
    }
}

/// A sorted, deduplicated list of names; a transaction's lists are short, so they are kept
/// inline (no allocation for up to four names).
pub type Names = smallvec::SmallVec<[Name; 4]>;

/// The names a result touches, each list sorted and deduplicated: what filters look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxFacts {
    /// Its receipt status.
    pub status: TransactionStatus,
    /// Accounts of its actions (declared and inline, from the traces).
    pub contracts: Names,
    /// Names of those actions.
    pub actions: Names,
    /// Actors authorizing those actions.
    pub actors: Names,
    /// Declared read and write scopes (empty for deferred deliveries, whose declarations
    /// are not in the logs).
    pub scopes: Names,
    /// Declared write scopes.
    pub write_scopes: Names,
}

impl TxFacts {
    /// The facts of `result`, whose transaction (for block and delayed origins) is in
    /// `block`. The declared actions count even when the transaction failed before running
    /// them (its traces are then short).
    pub fn of(result: &TxResult, block: &SignedBlock) -> Self {
        let mut contracts = Names::new();
        let mut actions = Names::new();
        let mut actors = Names::new();
        let (mut scopes, mut write_scopes) = (Names::new(), Names::new());
        let mut add = |a: &crate::chain::Action| {
            contracts.push(a.account);
            actions.push(a.name);
            actors.extend(a.authorization.iter().map(|p| p.actor));
        };
        if let Origin::Block(i) | Origin::Delayed(i) = result.origin {
            if let Some(tx) = block.transactions.get(i as usize) {
                let t = &tx.transaction;
                t.actions.iter().for_each(&mut add);
                scopes.extend(t.read_scopes.iter().chain(&t.write_scopes).copied());
                write_scopes.extend(t.write_scopes.iter().copied());
            }
        }
        for tr in &result.traces {
            add(&tr.action);
        }
        for l in [&mut contracts, &mut actions, &mut actors, &mut scopes, &mut write_scopes] {
            l.sort_unstable();
            l.dedup();
        }
        Self { status: result.receipt.status, contracts, actions, actors, scopes, write_scopes }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::n;

    fn facts(contracts: &[&str], actors: &[&str], status: TransactionStatus) -> TxFacts {
        let names = |v: &[&str]| {
            let mut v: Names = v.iter().map(|s| n(s)).collect();
            v.sort_unstable();
            v
        };
        TxFacts {
            status,
            contracts: names(contracts),
            actions: names(&["transfer"]),
            actors: names(actors),
            scopes: names(actors),
            write_scopes: names(actors),
        }
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
        assert!(f.matches(&facts(&["eosio.token"], &["alice", "bob"], ok)));
        assert!(f.matches(&facts(&["wasm.token"], &["alice"], ok)));
        assert!(!f.matches(&facts(&["other"], &["alice"], ok)));
        assert!(!f.matches(&facts(&["eosio.token"], &["bob"], ok)));
        assert!(!f.matches(&facts(&["eosio.token"], &["alice", "carol"], ok)));
        f.0.push(TxFilter { statuses: vec![TransactionStatus::HardFail], ..Default::default() });
        f.normalize().unwrap();
        assert!(f.matches(&facts(&["other"], &[], TransactionStatus::HardFail)));
        assert!(!f.is_all());
        assert!(Filter::all().matches(&facts(&[], &[], ok)));
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
}
