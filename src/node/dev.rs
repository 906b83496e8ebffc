//! The embedded development genesis: the system account as the only producer, four funded
//! accounts, all with keys derived from fixed seeds and printed at start. For local
//! development only: anyone can derive these keys.

use crate::chain::{
    n, Bytes, Genesis, GenesisAccount, GenesisBalance, GenesisContract, PrivateKey, ProducerKey, TimePoint,
    SYSTEM_ACCOUNT,
};

/// Accounts the dev genesis funds.
pub const DEV_ACCOUNTS: &[&str] = &["alice", "bob", "carol", "dave"];
/// The account the dev genesis deploys the WASM token (contracts/token) to.
pub const DEV_WASM_TOKEN: &str = "wasm.token";

/// The dev key of `account` (`eosio` is the producer).
pub fn dev_key(account: &str) -> PrivateKey {
    PrivateKey::from_seed(format!("dawn dev key {account}").as_bytes())
}

/// The dev genesis.
pub fn dev_genesis() -> Genesis {
    let eosio = dev_key("eosio").public();
    Genesis {
        initial_timestamp: TimePoint(1_767_225_600_000), // 2026-01-01T00:00:00.000
        initial_key: eosio,
        producers: vec![ProducerKey { producer_name: SYSTEM_ACCOUNT, block_signing_key: eosio }],
        accounts: DEV_ACCOUNTS
            .iter()
            .chain([&DEV_WASM_TOKEN])
            .map(|a| GenesisAccount {
                name: n(a),
                owner_key: dev_key(a).public(),
                active_key: dev_key(a).public(),
            })
            .collect(),
        core_token_max_supply: "10000000000.0000 SYS".parse().expect("valid"),
        balances: DEV_ACCOUNTS
            .iter()
            .map(|a| GenesisBalance { account: n(a), balance: "1000000.0000 SYS".parse().expect("valid") })
            .collect(),
        contracts: vec![GenesisContract {
            account: n(DEV_WASM_TOKEN),
            code: Bytes::from(crate::exec::workload::TOKEN_WASM.to_vec()),
        }],
    }
}
