//! Shared pieces of the IPFS tests: kubo's deterministic test data generator and an
//! in-memory executed state.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Mutex;

use dawn::chain::{codec, Asset, Authority, Name, PermissionLevel, StateView, Symbol};

/// ChaCha20 (RFC 8439) keystream from `key` with a zero nonce, starting at block 0: the
/// bytes of kubo's `testutils.DeterministicRandomReaderBytes(size, seed)` with
/// `key = SHA-256(seed)` (kubo test/cli/testutils/random_deterministic.go).
pub(crate) fn chacha20_stream(key: &[u8; 32], nonce: &[u8; 12], counter: u32, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 64);
    let mut block = counter;
    while out.len() < len {
        out.extend_from_slice(&chacha20_block(key, block, nonce));
        block = block.wrapping_add(1);
    }
    out.truncate(len);
    out
}

fn chacha20_block(key: &[u8; 32], counter: u32, nonce: &[u8; 12]) -> [u8; 64] {
    let w = |b: &[u8]| u32::from_le_bytes(b.try_into().unwrap());
    let mut s = [0u32; 16];
    s[..4].copy_from_slice(&[0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574]);
    for i in 0..8 {
        s[4 + i] = w(&key[4 * i..4 * i + 4]);
    }
    s[12] = counter;
    for i in 0..3 {
        s[13 + i] = w(&nonce[4 * i..4 * i + 4]);
    }
    let mut x = s;
    fn qr(x: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
        x[a] = x[a].wrapping_add(x[b]);
        x[d] = (x[d] ^ x[a]).rotate_left(16);
        x[c] = x[c].wrapping_add(x[d]);
        x[b] = (x[b] ^ x[c]).rotate_left(12);
        x[a] = x[a].wrapping_add(x[b]);
        x[d] = (x[d] ^ x[a]).rotate_left(8);
        x[c] = x[c].wrapping_add(x[d]);
        x[b] = (x[b] ^ x[c]).rotate_left(7);
    }
    for _ in 0..10 {
        qr(&mut x, 0, 4, 8, 12);
        qr(&mut x, 1, 5, 9, 13);
        qr(&mut x, 2, 6, 10, 14);
        qr(&mut x, 3, 7, 11, 15);
        qr(&mut x, 0, 5, 10, 15);
        qr(&mut x, 1, 6, 11, 12);
        qr(&mut x, 2, 7, 8, 13);
        qr(&mut x, 3, 4, 9, 14);
    }
    let mut out = [0u8; 64];
    for i in 0..16 {
        out[4 * i..4 * i + 4].copy_from_slice(&x[i].wrapping_add(s[i]).to_le_bytes());
    }
    out
}

/// kubo's deterministic test bytes for `seed`.
pub(crate) fn kubo_deterministic(seed: &str, len: usize) -> Vec<u8> {
    let key: [u8; 32] = dawn::chain::Checksum256::hash(seed.as_bytes()).0;
    chacha20_stream(&key, &[0; 12], 0, len)
}

type Rows = BTreeMap<(Name, Name, Name, u64), Vec<u8>>;

/// An executed state in memory: permissions and token rows.
#[derive(Default)]
pub(crate) struct FakeState {
    pub(crate) perms: Mutex<BTreeMap<PermissionLevel, Authority>>,
    pub(crate) rows: Mutex<Rows>,
}

pub(crate) fn sys() -> Symbol {
    Symbol::new(4, "SYS").unwrap()
}

impl FakeState {
    /// Sets `account`'s balance of SYS (units of 0.0001).
    pub(crate) fn set_balance(&self, account: Name, amount: i64) {
        let code = sys().0 >> 8;
        let a = Asset { amount, symbol: sys() };
        self.rows.lock().unwrap().insert(
            (Name::constant("eosio.token"), account, Name::constant("accounts"), code),
            codec::encode(&a),
        );
    }
    /// Sets the supply of SYS.
    pub(crate) fn set_supply(&self, amount: i64) {
        let code = sys().0 >> 8;
        let s = Asset { amount, symbol: sys() };
        let max = Asset { amount: 1 << 60, symbol: sys() };
        let row = codec::encode(&(s, max, Name::constant("eosio")));
        self.rows
            .lock()
            .unwrap()
            .insert((Name::constant("eosio.token"), Name(code), Name::constant("stat"), code), row);
    }
}

impl StateView for FakeState {
    fn account_exists(&self, account: Name) -> bool {
        self.perms.lock().unwrap().keys().any(|p| p.actor == account)
    }
    fn permission(&self, level: &PermissionLevel) -> Option<std::sync::Arc<Authority>> {
        self.perms.lock().unwrap().get(level).cloned().map(std::sync::Arc::new)
    }
    fn table_rows(
        &self,
        code: Name,
        scope: Name,
        table: Name,
        lower: u64,
        limit: usize,
    ) -> Vec<(u64, Vec<u8>)> {
        self.rows
            .lock()
            .unwrap()
            .range((code, scope, table, lower)..=(code, scope, table, u64::MAX))
            .take(limit)
            .map(|((_, _, _, id), v)| (*id, v.clone()))
            .collect()
    }
}
