//! The genesis: the chain's starting point, read from JSON. Its canonical encoding's
//! SHA-256 is the chain id.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{codec, Asset, ChainId, Checksum256, Name, PublicKey, Symbol, TimePoint};

/// A producer and the key it signs blocks with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerKey {
    /// The producer account.
    pub producer_name: Name,
    /// Its block-signing key.
    pub block_signing_key: PublicKey,
}

/// An account created at genesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenesisAccount {
    /// The account.
    pub name: Name,
    /// Key of its `owner` permission.
    pub owner_key: PublicKey,
    /// Key of its `active` permission.
    pub active_key: PublicKey,
}

/// A starting token balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenesisBalance {
    /// The holder (an account of the genesis).
    pub account: Name,
    /// The amount.
    pub balance: Asset,
}

/// A WASM contract deployed at genesis on one of its accounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenesisContract {
    /// The account (created by the genesis).
    pub account: Name,
    /// The module (hex in JSON).
    pub code: super::Bytes,
}

/// The whole genesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Genesis {
    /// Timestamp of the chain's start.
    pub initial_timestamp: TimePoint,
    /// Key of the system account `eosio`.
    pub initial_key: PublicKey,
    /// The initial producer schedule.
    pub producers: Vec<ProducerKey>,
    /// Accounts besides `eosio`.
    pub accounts: Vec<GenesisAccount>,
    /// Maximum supply of the core token (its symbol is the core symbol).
    pub core_token_max_supply: Asset,
    /// Starting balances.
    pub balances: Vec<GenesisBalance>,
    /// Contracts deployed at genesis. Left out of the encoding (and so of the chain id)
    /// when empty, so a genesis without contracts keeps the chain id it had before this
    /// field existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contracts: Vec<GenesisContract>,
}

/// A genesis that cannot start a chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GenesisError {
    /// No producer.
    #[error("the genesis needs at least one producer")]
    NoProducers,
    /// An account appears twice (or is `eosio`).
    #[error("account {0} is defined twice")]
    DuplicateAccount(Name),
    /// A producer or balance names an account the genesis does not create.
    #[error("{what} names account {name}, which the genesis does not create")]
    UnknownAccount {
        /// Where.
        what: &'static str,
        /// The account.
        name: Name,
    },
    /// A contract with empty code, or two contracts on one account.
    #[error("contract of {0}: empty code, or a second contract on the account")]
    BadContract(Name),
    /// A balance in another symbol, negative, or the total above the maximum supply.
    #[error("bad balance: {0}")]
    BadBalance(String),
}

/// The system account.
pub const SYSTEM_ACCOUNT: Name = Name(6138663577826885632);

impl Genesis {
    /// The chain id: SHA-256 of the canonical encoding.
    pub fn chain_id(&self) -> ChainId {
        ChainId(Checksum256::hash(&codec::encode(self)))
    }

    /// The core token's symbol.
    pub fn core_symbol(&self) -> Symbol {
        self.core_token_max_supply.symbol
    }

    /// Checks the genesis is consistent.
    pub fn validate(&self) -> Result<(), GenesisError> {
        if self.producers.is_empty() {
            return Err(GenesisError::NoProducers);
        }
        let mut names = BTreeSet::from([SYSTEM_ACCOUNT]);
        for a in &self.accounts {
            if !names.insert(a.name) {
                return Err(GenesisError::DuplicateAccount(a.name));
            }
        }
        for p in &self.producers {
            if !names.contains(&p.producer_name) {
                return Err(GenesisError::UnknownAccount { what: "a producer", name: p.producer_name });
            }
        }
        let mut deployed = BTreeSet::new();
        for c in &self.contracts {
            if c.account == SYSTEM_ACCOUNT || !names.contains(&c.account) {
                return Err(GenesisError::UnknownAccount { what: "a contract", name: c.account });
            }
            if c.code.0.is_empty() || !deployed.insert(c.account) {
                return Err(GenesisError::BadContract(c.account));
            }
        }
        let mut total: i128 = 0;
        let mut holders = BTreeSet::new();
        for b in &self.balances {
            if !holders.insert(b.account) {
                return Err(GenesisError::BadBalance(format!("{} has two balances; give one", b.account)));
            }
            if !names.contains(&b.account) {
                return Err(GenesisError::UnknownAccount { what: "a balance", name: b.account });
            }
            if b.balance.symbol != self.core_symbol() || b.balance.amount < 0 {
                return Err(GenesisError::BadBalance(format!("{} for {}", b.balance, b.account)));
            }
            total += i128::from(b.balance.amount);
        }
        if total > i128::from(self.core_token_max_supply.amount) {
            return Err(GenesisError::BadBalance(format!(
                "balances add up to more than the maximum supply {}",
                self.core_token_max_supply
            )));
        }
        Ok(())
    }
}
