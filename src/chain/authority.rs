//! EOS.IO authorities: a threshold over weighted keys and weighted account permissions.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{PermissionLevel, PublicKey};

/// A key and its weight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyWeight {
    /// The key.
    pub key: PublicKey,
    /// Its weight.
    pub weight: u16,
}

/// Another account's permission and its weight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionLevelWeight {
    /// The permission.
    pub permission: PermissionLevel,
    /// Its weight.
    pub weight: u16,
}

/// Satisfied when the weights of the keys that signed plus the weights of the account
/// permissions that are themselves satisfied reach `threshold`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authority {
    /// Weight needed.
    pub threshold: u32,
    /// Keys, sorted and unique.
    pub keys: Vec<KeyWeight>,
    /// Account permissions, sorted and unique.
    pub accounts: Vec<PermissionLevelWeight>,
}

/// Deepest chain of account permissions followed (EOS.IO's default).
pub const AUTHORITY_DEPTH_MAX: usize = 6;

/// An authority that can never be satisfied or is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthorityError {
    /// The threshold is zero or above the sum of all weights.
    #[error("threshold {threshold} cannot be met by total weight {total}")]
    Unreachable {
        /// The threshold.
        threshold: u32,
        /// Sum of weights.
        total: u64,
    },
    /// Keys or accounts not sorted and unique.
    #[error("keys and accounts must each be sorted and unique")]
    NotSorted,
}

impl Authority {
    /// A single key with weight 1 and threshold 1.
    pub fn single_key(key: PublicKey) -> Self {
        Self { threshold: 1, keys: vec![KeyWeight { key, weight: 1 }], accounts: Vec::new() }
    }

    /// Checks the authority can be met and is in canonical order.
    pub fn validate(&self) -> Result<(), AuthorityError> {
        let total: u64 = self.keys.iter().map(|k| u64::from(k.weight)).sum::<u64>()
            + self.accounts.iter().map(|a| u64::from(a.weight)).sum::<u64>();
        if self.threshold == 0 || u64::from(self.threshold) > total {
            return Err(AuthorityError::Unreachable { threshold: self.threshold, total });
        }
        if self.keys.windows(2).any(|w| w[0].key >= w[1].key)
            || self.accounts.windows(2).any(|w| w[0].permission >= w[1].permission)
        {
            return Err(AuthorityError::NotSorted);
        }
        Ok(())
    }

    /// Is this authority satisfied by signatures from `signed`? `lookup` resolves account
    /// permissions; recursion stops at [`AUTHORITY_DEPTH_MAX`].
    ///
    /// Each permission is evaluated at most once per depth (memoized): shared delegations
    /// would otherwise be walked once per path, and a few layers of many accounts naming
    /// the same next layer have fan-out^depth paths (a transaction that costs nothing to
    /// send could hold a verify worker for hours). The work is bounded by the distinct
    /// permissions reached times [`AUTHORITY_DEPTH_MAX`].
    pub fn satisfied_by<K: Borrow<PublicKey>>(
        &self,
        signed: &[K],
        lookup: &dyn Fn(&PermissionLevel) -> Option<Arc<Authority>>,
        depth: usize,
    ) -> bool {
        self.satisfied_memo(signed, lookup, depth, &mut HashMap::new())
    }

    fn satisfied_memo<K: Borrow<PublicKey>>(
        &self,
        signed: &[K],
        lookup: &dyn Fn(&PermissionLevel) -> Option<Arc<Authority>>,
        depth: usize,
        memo: &mut HashMap<(PermissionLevel, usize), bool>,
    ) -> bool {
        let mut weight = 0u64;
        for k in &self.keys {
            if signed.iter().any(|s| *s.borrow() == k.key) {
                weight += u64::from(k.weight);
            }
        }
        if weight >= u64::from(self.threshold) {
            return true;
        }
        if depth < AUTHORITY_DEPTH_MAX {
            for a in &self.accounts {
                let at = (a.permission, depth + 1);
                let met = match memo.get(&at) {
                    Some(met) => *met,
                    None => {
                        let met = lookup(&a.permission)
                            .is_some_and(|auth| auth.satisfied_memo(signed, lookup, depth + 1, memo));
                        memo.insert(at, met);
                        met
                    }
                };
                if met {
                    weight += u64::from(a.weight);
                    if weight >= u64::from(self.threshold) {
                        return true;
                    }
                }
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{n, Name, PrivateKey};
    use std::cell::Cell;

    fn level(account: Name) -> PermissionLevel {
        PermissionLevel { actor: account, permission: n("active") }
    }

    fn layer_name(layer: usize, i: usize) -> Name {
        n(&format!("l{}.a{}", (b'a' + layer as u8) as char, (b'a' + i as u8) as char))
    }

    /// Layers of `fan` accounts, each naming every account of the next layer with weight
    /// 1 and threshold `fan` (all of them needed); the last layer's accounts hold `key`.
    fn layered(
        fan: usize,
        layers: usize,
        key: &PublicKey,
    ) -> (Authority, HashMap<PermissionLevel, Arc<Authority>>) {
        let next = |layer: usize| {
            let mut accounts: Vec<PermissionLevelWeight> = (0..fan)
                .map(|i| PermissionLevelWeight { permission: level(layer_name(layer, i)), weight: 1 })
                .collect();
            accounts.sort_by_key(|a| a.permission);
            Authority { threshold: fan as u32, keys: Vec::new(), accounts }
        };
        let mut table = HashMap::new();
        for layer in 1..=layers {
            for i in 0..fan {
                let auth = if layer == layers { Authority::single_key(*key) } else { next(layer + 1) };
                table.insert(level(layer_name(layer, i)), Arc::new(auth));
            }
        }
        (next(1), table)
    }

    /// Shared delegations are evaluated once per depth: 8 layers of 8 accounts naming each
    /// other is 8^6 paths, but only 48 distinct (permission, depth) evaluations.
    #[test]
    fn shared_delegations_are_not_walked_per_path() {
        let key = PrivateKey::from_seed(b"deep").public();
        let other = PrivateKey::from_seed(b"other").public();
        let (root, table) = layered(8, 8, &key);
        let lookups = Cell::new(0usize);
        let lookup = |l: &PermissionLevel| {
            lookups.set(lookups.get() + 1);
            table.get(l).cloned()
        };
        // Within the depth limit: layer 6 is as deep as delegation goes, and its accounts
        // delegate further, so nothing is met.
        assert!(!root.satisfied_by(&[key], &lookup, 0));
        assert!(lookups.get() <= 8 * AUTHORITY_DEPTH_MAX, "{} lookups", lookups.get());
        // Five layers end in the key: met, through every path; a wrong key is not.
        let (shallow, table5) = layered(8, 5, &key);
        let lookup5 = |l: &PermissionLevel| table5.get(l).cloned();
        assert!(shallow.satisfied_by(&[key], &lookup5, 0));
        assert!(!shallow.satisfied_by(&[other], &lookup5, 0));
    }

    /// A permission first met deep (little depth left) and again shallower is judged
    /// afresh at the shallower depth: the memo is per depth.
    #[test]
    fn memo_is_per_depth() {
        let key = PrivateKey::from_seed(b"k").public();
        let chain = |name: &str, to: Name| {
            (
                level(n(name)),
                Arc::new(Authority {
                    threshold: 1,
                    keys: Vec::new(),
                    accounts: vec![PermissionLevelWeight { permission: level(to), weight: 1 }],
                }),
            )
        };
        // root -> [c1 (5 hops to target), target]: c1's path reaches target at depth 6,
        // where its own delegation to the key holder is past the limit.
        let mut table: HashMap<PermissionLevel, Arc<Authority>> = HashMap::from([
            chain("c1", n("c2")),
            chain("c2", n("c3")),
            chain("c3", n("c4")),
            chain("c4", n("c5")),
            chain("c5", n("target")),
            chain("target", n("holder")),
        ]);
        table.insert(level(n("holder")), Arc::new(Authority::single_key(key)));
        let root = Authority {
            threshold: 1,
            keys: Vec::new(),
            accounts: vec![
                PermissionLevelWeight { permission: level(n("c1")), weight: 1 },
                PermissionLevelWeight { permission: level(n("target")), weight: 1 },
            ],
        };
        let lookup = |l: &PermissionLevel| table.get(l).cloned();
        assert!(root.satisfied_by(&[key], &lookup, 0));
    }
}
