//! Determinism: random blocks (conflicts, hot accounts, failures, delayed transactions,
//! native and WASM tokens) executed with 1 and with N threads give identical results,
//! receipt by receipt, and the same state root, which also equals the root recomputed
//! from scratch.

use std::sync::Arc;

use dawn::chain::{n, Name, Transaction};
use dawn::exec::wasm::WasmRuntime;
use dawn::exec::workload::{self, account, BlockMaker, WASM_TOKEN};
use dawn::exec::{BlockResults, ExecConfig, Executor};
use proptest::prelude::*;

const ACCOUNTS: usize = 12;

fn engine() -> Arc<WasmRuntime> {
    static E: std::sync::OnceLock<Arc<WasmRuntime>> = std::sync::OnceLock::new();
    E.get_or_init(|| Arc::new(WasmRuntime::new().unwrap())).clone()
}

#[derive(Debug, Clone)]
struct Spec {
    wasm: bool,
    from: usize,
    to: usize,
    amount: i64,
    delay: bool,
    undeclared: bool,
}

fn spec() -> impl Strategy<Value = Spec> {
    (any::<bool>(), 0..ACCOUNTS, 0..ACCOUNTS, prop_oneof![9 => 1i64..1_000_000, 1 => Just(1i64 << 60)], prop::bool::weighted(0.1), prop::bool::weighted(0.05))
        .prop_map(|(wasm, from, to, amount, delay, undeclared)| Spec { wasm, from, to, amount, delay, undeclared })
}

fn tx(s: &Spec, nonce: u64) -> Transaction {
    let contract = if s.wasm { WASM_TOKEN } else { n("eosio.token") };
    let mut t = workload::transfer(contract, account(s.from), account(s.to), s.amount, nonce);
    if s.delay {
        t.delay_sec = 1;
    }
    if s.undeclared && s.from != s.to {
        t.write_scopes = vec![account(s.from)];
    }
    t
}

fn run(threads: usize, blocks: &[Vec<Transaction>]) -> (Vec<BlockResults>, dawn::chain::Checksum256, dawn::chain::Checksum256) {
    let g = workload::genesis(ACCOUNTS);
    let mut ex = Executor::from_genesis(&g, ExecConfig { threads, wasm: Some(engine()), ..ExecConfig::default() }).unwrap();
    let mut maker = BlockMaker::new(&g);
    let mut out: Vec<BlockResults> = workload::deploy_wasm_token(ACCOUNTS).into_iter().map(|b| ex.execute_block(&maker.next(b))).collect();
    for b in blocks {
        out.push(ex.execute_block(&maker.next(b.clone())));
    }
    // One more empty block, so delayed transactions of the last block run too.
    out.push(ex.execute_block(&maker.next(vec![])));
    out.push(ex.execute_block(&maker.next(vec![])));
    let root = ex.state_root();
    let recomputed = ex.store().read().unwrap().recompute_root();
    (out, root, recomputed)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn one_thread_equals_many(blocks in prop::collection::vec(prop::collection::vec(spec(), 0..60), 1..4)) {
        let mut nonce = 0;
        let blocks: Vec<Vec<Transaction>> = blocks.iter().map(|b| b.iter().map(|s| { nonce += 1; tx(s, nonce) }).collect()).collect();
        let (serial, root1, re1) = run(1, &blocks);
        let (parallel, root4, re4) = run(4, &blocks);
        prop_assert_eq!(root1, re1);
        prop_assert_eq!(root4, re4);
        prop_assert_eq!(root1, root4);
        prop_assert_eq!(serial.len(), parallel.len());
        for (a, b) in serial.iter().zip(&parallel) {
            prop_assert_eq!(a, b);
        }
    }
}

#[test]
fn hot_account_block_is_serial_equivalent() {
    let blocks = vec![workload::transfers(n("eosio.token"), ACCOUNTS, 300, 10, 7), workload::transfers(WASM_TOKEN, ACCOUNTS, 300, 50, 9)];
    let (a, r1, _) = run(1, &blocks);
    let (b, r2, _) = run(3, &blocks);
    assert_eq!(a, b);
    assert_eq!(r1, r2);
    for block in &a[2..4] {
        let executed = block.transactions.iter().filter(|t| t.receipt.status == dawn::chain::TransactionStatus::Executed).count();
        assert_eq!(executed, 300, "every transfer of the workload succeeds");
    }
    let _: Name = account(0);
}

/// Canary: the comparison above can fail. One different amount in one transfer gives
/// another state root and other results.
#[test]
fn canary_a_different_block_differs() {
    let a = vec![workload::transfers(n("eosio.token"), ACCOUNTS, 50, 10, 7)];
    let mut b = a.clone();
    b[0][17] = workload::transfer(n("eosio.token"), account(2), account(3), 999, 17);
    let (ra, root_a, _) = run(2, &a);
    let (rb, root_b, _) = run(2, &b);
    assert_ne!(root_a, root_b);
    assert_ne!(ra, rb);
}
