//! Storage quotas pro-rata to token holdings (docs/IPFS.md, "Quotas").
//!
//! ```text
//! limit(account) = public_tier_bytes + ⌊ capacity_bytes × holder_share_percent / 100
//!                                        × balance(account) / supply ⌋
//! ```
//! `balance` is the account's row in table `accounts` of the token contract (scope the
//! account), `supply` the `supply` of the token's `stat` row (scope and id the symbol
//! code), both read from the newest executed state. Requests without a signature share one
//! anonymous pool of `anonymous_bytes`.
//!
//! Usage is charged per upload root: the root's cumulative DAG size (what kubo reports as
//! `CumulativeSize`: every block under it, counted as often as it is linked). Uploading a
//! root the account already holds charges nothing more. Blocks shared with other uploads,
//! of this account or another, are charged to each upload that includes them, so one
//! account's usage never depends on what others store or delete. A delete releases the
//! charge; a balance that drops below usage refuses further uploads and keeps existing
//! data.

use serde::Deserialize;

use crate::chain::{token, Name, StateView, Symbol};

/// The ledger key of the anonymous pool.
pub const ANONYMOUS: &str = "-";

/// Quota parameters.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuotaConfig {
    /// Storage this node offers for uploads, in bytes.
    pub capacity_bytes: u64,
    /// Percentage of `capacity_bytes` shared among token holders pro-rata.
    pub holder_share_percent: u8,
    /// Bytes every account may store whatever its balance.
    pub public_tier_bytes: u64,
    /// Bytes shared by all unsigned uploads together (0 refuses unsigned uploads).
    pub anonymous_bytes: u64,
    /// The token contract.
    pub token_contract: Name,
    /// The token whose holdings count.
    pub token_symbol: Symbol,
}

impl Default for QuotaConfig {
    fn default() -> Self {
        Self {
            capacity_bytes: 100 << 30,
            holder_share_percent: 90,
            public_tier_bytes: 16 << 20,
            anonymous_bytes: 0,
            token_contract: Name::constant("eosio.token"),
            token_symbol: Symbol::new(4, "SYS").expect("valid symbol"),
        }
    }
}

/// A balance and the supply it is a share of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holding {
    /// The account's balance in the smallest unit (0 if none).
    pub balance: u64,
    /// The token's current supply (0 if the token does not exist).
    pub supply: u64,
}

/// Reads `account`'s holding of the configured token from `state`.
pub fn holding(state: &dyn StateView, cfg: &QuotaConfig, account: Name) -> Holding {
    let code = token::code_of(cfg.token_symbol);
    let row = |scope: Name, table: Name| {
        state.table_rows(cfg.token_contract, scope, table, code, 1).into_iter().find(|(id, _)| *id == code)
    };
    let balance = row(account, token::T_ACCOUNTS)
        .and_then(|(_, v)| token::Balance::decode(&v).ok())
        .filter(|b| b.balance.symbol == cfg.token_symbol)
        .map_or(0, |b| b.balance.amount.max(0) as u64);
    let supply = row(Name(code), token::T_STAT)
        .and_then(|(_, v)| token::CurrencyStats::decode(&v).ok())
        .filter(|s| s.supply.symbol == cfg.token_symbol)
        .map_or(0, |s| s.supply.amount.max(0) as u64);
    Holding { balance, supply }
}

/// The quota of an account with `h`.
pub fn limit(cfg: &QuotaConfig, h: Holding) -> u64 {
    let share = if h.supply == 0 {
        0
    } else {
        let pool = u128::from(cfg.capacity_bytes) * u128::from(cfg.holder_share_percent.min(100)) / 100;
        let b = u128::from(h.balance.min(h.supply));
        (pool * b / u128::from(h.supply)) as u64
    };
    cfg.public_tier_bytes.saturating_add(share)
}

/// An upload that does not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("over quota: {used} bytes used + {requested} requested > limit {limit} bytes")]
pub struct QuotaExceeded {
    /// Bytes already charged.
    pub used: u64,
    /// Bytes of this upload.
    pub requested: u64,
    /// The limit.
    pub limit: u64,
}

/// Checks that `requested` more bytes fit.
pub fn check(used: u64, requested: u64, limit: u64) -> Result<(), QuotaExceeded> {
    if used.saturating_add(requested) > limit {
        return Err(QuotaExceeded { used, requested, limit });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula() {
        let cfg = QuotaConfig {
            capacity_bytes: 1000,
            holder_share_percent: 50,
            public_tier_bytes: 10,
            ..QuotaConfig::default()
        };
        assert_eq!(limit(&cfg, Holding { balance: 0, supply: 100 }), 10);
        assert_eq!(limit(&cfg, Holding { balance: 25, supply: 100 }), 10 + 125);
        assert_eq!(limit(&cfg, Holding { balance: 100, supply: 100 }), 10 + 500);
        assert_eq!(limit(&cfg, Holding { balance: 5, supply: 0 }), 10);
        assert!(check(100, 10, 110).is_ok());
        assert_eq!(check(100, 11, 110), Err(QuotaExceeded { used: 100, requested: 11, limit: 110 }));
    }
}
