//! Deterministic workloads for tests and benchmarks: a genesis with many funded accounts,
//! token transfers (disjoint pairs or a hot-account mix), the setup that deploys the WASM
//! token, and unsigned blocks around them (exec does not verify transaction signatures of
//! this producer's blocks; see the module docs).

use crate::chain::{
    codec, Action, Asset, Authority, BlockHeader, BlockId, Bytes, ChainId, Genesis, GenesisAccount,
    GenesisBalance, Name, PermissionLevel, PrivateKey, ProducerKey, SignedBlock, Symbol, TimePoint,
    TimePointSec, Transaction,
};

use super::native::system::{NewAccount, SetCode};
use super::native::token::{Create, Issue, Transfer};
use super::system_rows::{ACTIVE, EOSIO};

/// The WASM token contract (contracts/token, built by tools/build-contracts.sh).
pub const TOKEN_WASM: &[u8] = include_bytes!("../../contracts/token/token.wasm");

/// The account the WASM token is deployed to by [`deploy_wasm_token`].
pub const WASM_TOKEN: Name = Name::constant("wasm.token");

/// The n-th workload account: `u` and four letters.
pub fn account(i: usize) -> Name {
    let mut s = String::from("u");
    let mut v = i;
    for _ in 0..4 {
        s.push((b'a' + (v % 26) as u8) as char);
        v /= 26;
    }
    s.parse().expect("valid name")
}

/// The producer key of workload chains.
pub fn producer_key() -> PrivateKey {
    PrivateKey::from_seed(b"dawn workload producer")
}

/// The core symbol of workload chains (`4,SYS`).
pub fn sys() -> Symbol {
    Symbol::new(4, "SYS").expect("valid")
}

/// A genesis with `accounts` accounts holding 1,000,000.0000 SYS each.
pub fn genesis(accounts: usize) -> Genesis {
    let key = producer_key().public();
    Genesis {
        initial_timestamp: TimePoint(1_767_225_600_000),
        initial_key: key,
        producers: vec![ProducerKey { producer_name: EOSIO, block_signing_key: key }],
        accounts: (0..accounts)
            .map(|i| GenesisAccount { name: account(i), owner_key: key, active_key: key })
            .collect(),
        core_token_max_supply: Asset { amount: 1 << 61, symbol: sys() },
        balances: (0..accounts)
            .map(|i| GenesisBalance {
                account: account(i),
                balance: Asset { amount: 10_000_000_000, symbol: sys() },
            })
            .collect(),
        contracts: Vec::new(),
    }
}

fn sorted(mut v: Vec<Name>) -> Vec<Name> {
    v.sort();
    v.dedup();
    v
}

/// An action authorized by `actor@active`.
pub fn action<T: serde::Serialize>(contract: Name, name: &str, actor: Name, data: &T) -> Action {
    Action {
        account: contract,
        name: name.parse().expect("valid action name"),
        authorization: smallvec::smallvec![PermissionLevel { actor, permission: ACTIVE }],
        data: Bytes::from(codec::encode(data)),
    }
}

/// A transaction of `actions` writing `writes` (sorted here), expiring an hour after the
/// workload epoch.
pub fn transaction(actions: Vec<Action>, reads: Vec<Name>, writes: Vec<Name>) -> Transaction {
    Transaction {
        expiration: TimePointSec(1_767_225_600 + 3600),
        ref_block_num: 0,
        ref_block_prefix: 0,
        max_cpu_us: 0,
        max_net_bytes: 0,
        delay_sec: 0,
        read_scopes: sorted(reads).into(),
        write_scopes: sorted(writes).into(),
        actions: actions.into(),
    }
}

/// A transfer of `amount` units of SYS on `contract` with a memo making it unique.
pub fn transfer(contract: Name, from: Name, to: Name, amount: i64, nonce: u64) -> Transaction {
    let t = Transfer { from, to, quantity: Asset { amount, symbol: sys() }, memo: format!("n{nonce}") };
    transaction(vec![action(contract, "transfer", from, &t)], vec![], vec![from, to])
}

/// `count` transfers over `accounts` accounts: disjoint pairs within each run of
/// `accounts / 2` transfers, and with `hot_percent` of them touching account 0.
pub fn transfers(
    contract: Name,
    accounts: usize,
    count: usize,
    hot_percent: u32,
    seed: u64,
) -> Vec<Transaction> {
    assert!(accounts >= 4, "a transfer workload needs at least 4 accounts");
    let pairs = accounts / 2;
    let mut x = seed | 1;
    (0..count)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let p = i % pairs;
            let (mut from, mut to) = (account(2 * p), account(2 * p + 1));
            if (x % 100) < u64::from(hot_percent) {
                if x & 1 == 0 {
                    from = account(0);
                } else {
                    to = account(0);
                }
                if from == to {
                    to = account(1);
                }
            }
            transfer(contract, from, to, 1 + (x % 1000) as i64, i as u64)
        })
        .collect()
}

/// Two blocks of transactions: the first creates `wasm.token` and deploys the WASM token
/// there (code takes effect at the next block); the second creates SYS on it and gives
/// each of the first `accounts` accounts 1,000,000.0000 of it.
pub fn deploy_wasm_token(accounts: usize) -> [Vec<Transaction>; 2] {
    let auth = Authority::single_key(producer_key().public());
    let txs = vec![
        transaction(
            vec![action(
                EOSIO,
                "newaccount",
                EOSIO,
                &NewAccount { creator: EOSIO, name: WASM_TOKEN, owner: auth.clone(), active: auth },
            )],
            vec![],
            vec![EOSIO, WASM_TOKEN],
        ),
        transaction(
            vec![action(
                EOSIO,
                "setcode",
                WASM_TOKEN,
                &SetCode {
                    account: WASM_TOKEN,
                    vmtype: 0,
                    vmversion: 0,
                    code: Bytes::from(TOKEN_WASM.to_vec()),
                },
            )],
            vec![],
            vec![WASM_TOKEN],
        ),
    ];
    let mut fund = Vec::new();
    let scope = Name(crate::chain::token::code_of(sys()));
    let total = Asset { amount: 10_000_000_000 * accounts.max(1) as i64, symbol: sys() };
    let create = Create { issuer: EOSIO, maximum_supply: Asset { amount: 1 << 61, symbol: sys() } };
    let issue = Issue { to: EOSIO, quantity: total, memo: String::new() };
    fund.push(transaction(
        vec![action(WASM_TOKEN, "create", WASM_TOKEN, &create), action(WASM_TOKEN, "issue", EOSIO, &issue)],
        vec![],
        vec![EOSIO, scope, WASM_TOKEN],
    ));
    for chunk in (0..accounts).collect::<Vec<_>>().chunks(100) {
        let actions = chunk
            .iter()
            .map(|i| {
                let t = Transfer {
                    from: EOSIO,
                    to: account(*i),
                    quantity: Asset { amount: 10_000_000_000, symbol: sys() },
                    memo: String::new(),
                };
                action(WASM_TOKEN, "transfer", EOSIO, &t)
            })
            .collect();
        let mut writes: Vec<Name> = chunk.iter().map(|i| account(*i)).collect();
        writes.push(EOSIO);
        fund.push(transaction(actions, vec![], writes));
    }
    [txs, fund]
}

/// Builds block after `previous` (at `time`) holding `txs`, unsigned transactions, sealed
/// by the workload producer.
pub fn block(previous: BlockId, time: TimePoint, txs: Vec<Transaction>, chain: &ChainId) -> SignedBlock {
    let header = BlockHeader { previous, timestamp: time, producer: EOSIO, ..BlockHeader::default() };
    let txs = txs
        .into_iter()
        .map(|transaction| crate::chain::SignedTransaction { transaction, signatures: Default::default() })
        .collect();
    SignedBlock::seal(header, txs, &producer_key(), chain)
}

/// Chains blocks: each call seals the next block, 500 ms after the previous.
#[derive(Debug, Clone)]
pub struct BlockMaker {
    /// The chain id.
    pub chain: ChainId,
    /// The previous block's id.
    pub previous: BlockId,
    /// The previous block's time.
    pub time: TimePoint,
}

impl BlockMaker {
    /// Starts after the genesis.
    pub fn new(genesis: &Genesis) -> Self {
        Self { chain: genesis.chain_id(), previous: BlockId::default(), time: genesis.initial_timestamp }
    }

    /// The next block holding `txs`.
    pub fn next(&mut self, txs: Vec<Transaction>) -> SignedBlock {
        self.time = TimePoint(self.time.0 + 500);
        let b = block(self.previous, self.time, txs, &self.chain);
        self.previous = b.header.id();
        b
    }
}
