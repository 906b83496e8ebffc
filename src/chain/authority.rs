//! EOS.IO authorities: a threshold over weighted keys and weighted account permissions.

use std::borrow::Borrow;
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
    pub fn satisfied_by<K: Borrow<PublicKey>>(
        &self,
        signed: &[K],
        lookup: &dyn Fn(&PermissionLevel) -> Option<Arc<Authority>>,
        depth: usize,
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
                if lookup(&a.permission).is_some_and(|auth| auth.satisfied_by(signed, lookup, depth + 1)) {
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
