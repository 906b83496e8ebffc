//! Exec end to end on the executor: native and WASM token, scope enforcement, failures
//! that unwind, WASM runaway code, notifications, inline and deferred actions.

use std::sync::Arc;

mod common;

use common::contracts;
use dawn::chain::{codec, n, Bytes, Name, TransactionStatus};
use dawn::exec::native::token::{Balance, Transfer, T_ACCOUNTS};
use dawn::exec::store::RowKey;
use dawn::exec::wasm::WasmRuntime;
use dawn::exec::workload::{self, account, sys, BlockMaker, WASM_TOKEN};
use dawn::exec::{BlockResults, ExecConfig, Executor};

fn config(threads: usize) -> ExecConfig {
    ExecConfig { threads, ..ExecConfig::default() }
}

fn balance(ex: &Executor, contract: Name, who: Name) -> Option<i64> {
    let store = ex.store();
    let s = store.read().unwrap();
    let key = RowKey { code: contract, scope: who, table: T_ACCOUNTS, id: sys().0 >> 8 };
    s.get(&key).map(|b| codec::decode::<Balance>(b, 1024).unwrap().balance.amount)
}

fn statuses(r: &BlockResults) -> Vec<TransactionStatus> {
    r.transactions.iter().map(|t| t.receipt.status).collect()
}

fn errors(r: &BlockResults) -> Vec<String> {
    r.transactions.iter().map(|t| t.error.clone().unwrap_or_default()).collect()
}

/// A chain of 8 accounts with the WASM token deployed and funded.
fn setup(threads: usize) -> (Executor, BlockMaker) {
    let g = workload::genesis(8);
    let mut ex = Executor::from_genesis(&g, config(threads)).unwrap();
    let mut maker = BlockMaker::new(&g);
    for txs in workload::deploy_wasm_token(8) {
        let r = ex.execute_block(&maker.next(txs));
        assert!(statuses(&r).iter().all(|s| *s == TransactionStatus::Executed), "{:?}", errors(&r));
    }
    (ex, maker)
}

#[test]
fn native_and_wasm_tokens_agree() {
    let (mut ex, mut maker) = setup(2);
    let (a, b) = (account(2), account(3));
    let txs = vec![
        workload::transfer(n("eosio.token"), a, b, 12_345, 1),
        workload::transfer(WASM_TOKEN, a, b, 12_345, 1),
        workload::transfer(n("eosio.token"), a, b, 1 << 60, 2),
        workload::transfer(WASM_TOKEN, a, b, 1 << 60, 2),
        workload::transfer(n("eosio.token"), a, a, 1, 3),
        workload::transfer(WASM_TOKEN, a, a, 1, 3),
    ];
    let r = ex.execute_block(&maker.next(txs));
    use TransactionStatus::*;
    assert_eq!(statuses(&r), vec![Executed, Executed, HardFail, HardFail, HardFail, HardFail]);
    let e = errors(&r);
    assert!(e[2].contains("overdrawn balance") && e[3].contains("overdrawn balance"), "{e:?}");
    assert!(e[4].contains("cannot transfer to self") && e[5].contains("cannot transfer to self"), "{e:?}");
    for c in [n("eosio.token"), WASM_TOKEN] {
        assert_eq!(balance(&ex, c, a), Some(10_000_000_000 - 12_345));
        assert_eq!(balance(&ex, c, b), Some(10_000_000_000 + 12_345));
    }
    // Both notify `from` and `to` after the contract itself, in that order.
    for t in &r.transactions[..2] {
        let receivers: Vec<Name> = t.traces.iter().map(|(x, _)| x.receiver).collect();
        assert_eq!(receivers, vec![t.traces.actions()[0].account, a, b]);
        // One action, written once for its three deliveries.
        assert_eq!(t.traces.actions().len(), 1);
    }
    // WASM bills more CPU than native for the same work, deterministically.
    assert!(r.transactions[1].receipt.cpu_usage_us > r.transactions[0].receipt.cpu_usage_us);
    assert_eq!(ex.store().read().unwrap().recompute_root(), r.state_root);
}

#[test]
fn undeclared_scope_fails_naming_it() {
    let (mut ex, mut maker) = setup(1);
    let (a, b) = (account(2), account(3));
    let before = ex.state_root();
    for contract in [n("eosio.token"), WASM_TOKEN] {
        let mut t = workload::transfer(contract, a, b, 5, 9);
        t.write_scopes = smallvec::smallvec![a];
        let r = ex.execute_block(&maker.next(vec![t]));
        assert_eq!(statuses(&r), vec![TransactionStatus::HardFail]);
        let e = &errors(&r)[0];
        assert!(
            e.contains(&format!("scope {b} is not declared"))
                && e.contains(&format!("add {b} to the transaction's")),
            "{e}"
        );
    }
    assert_eq!(ex.state_root(), before, "failed transactions change nothing");
    // Missing authority, unknown account, malformed data.
    let mut t = workload::transfer(n("eosio.token"), a, b, 5, 10);
    t.actions[0].authorization[0].actor = b;
    let mut u = workload::transfer(n("eosio.token"), a, n("nobody"), 5, 11);
    u.write_scopes = smallvec::smallvec![n("nobody"), a];
    let mut v = workload::transfer(WASM_TOKEN, a, b, 5, 12);
    v.actions[0].data = Bytes::from(vec![1, 2, 3]);
    let r = ex.execute_block(&maker.next(vec![t, u, v]));
    let e = errors(&r);
    assert!(e[0].contains("missing authority of"), "{e:?}");
    assert!(e[1].contains("to account does not exist"), "{e:?}");
    assert!(e[2].contains("decode") || e[2].contains("malformed"), "{e:?}");
    assert_eq!(ex.state_root(), before);
}

fn deploy(ex: &mut Executor, maker: &mut BlockMaker, name: Name, wat: &str) -> BlockResults {
    ex.execute_block(&maker.next(contracts::deploy_txs(name, wat)))
}

fn call(contract: Name, action: &str, data: Vec<u8>, writes: Vec<Name>) -> dawn::chain::Transaction {
    contracts::call(account(0), contract, action, data, writes)
}

#[test]
fn runaway_wasm_fails_only_its_transaction() {
    let (mut ex, mut maker) = setup(2);
    let wat = format!(
        r#"(module {imports}
          (memory (export "memory") 1 64)
          (data (i32.const 16) "boom")
          (func (export "apply") (param $r i64) (param $c i64) (param $a i64)
            ;; action "loop": spin forever
            (if (i64.eq (local.get $a) (i64.const {lp})) (then (loop $l (br $l))))
            ;; action "trap": unreachable
            (if (i64.eq (local.get $a) (i64.const {tr})) (then unreachable))
            ;; action "grow": ask for far more memory than allowed; assert it was refused
            (if (i64.eq (local.get $a) (i64.const {gr}))
              (then (call $assert (i32.eq (memory.grow (i32.const 1000)) (i32.const -1)) (i32.const 16) (i32.const 4))
                    (call $assert (i32.const 0) (i32.const 16) (i32.const 4))))
            ;; action "oob": read action data to a pointer past memory
            (if (i64.eq (local.get $a) (i64.const {oob})) (then (drop (call $read (i32.const 1000000) (i32.const 4)))))
            ;; anything else: write a row in the receiver's own scope and print
            (call $db_set (local.get $r) (i64.const 1) (i64.const 7) (i32.const 16) (i32.const 4))
            (call $print (i32.const 16) (i32.const 4))))"#,
        lp = n("loop").0 as i64,
        tr = n("trap").0 as i64,
        gr = n("grow").0 as i64,
        oob = n("oob").0 as i64,
        imports = contracts::IMPORTS,
    );
    let c = n("runaway");
    let r = deploy(&mut ex, &mut maker, c, &wat);
    assert!(statuses(&r).iter().all(|s| *s == TransactionStatus::Executed), "{:?}", errors(&r));
    let txs = vec![
        call(c, "loop", vec![1], vec![]),
        call(c, "trap", vec![], vec![]),
        call(c, "grow", vec![], vec![]),
        call(c, "oob", vec![1, 2, 3, 4], vec![]),
        call(c, "ok", vec![], vec![c]),
        workload::transfer(n("eosio.token"), account(2), account(3), 1, 1),
    ];
    let r = ex.execute_block(&maker.next(txs));
    use TransactionStatus::*;
    assert_eq!(
        statuses(&r),
        vec![HardFail, HardFail, HardFail, HardFail, Executed, Executed],
        "{:?}",
        errors(&r)
    );
    let e = errors(&r);
    assert!(e[0].contains("cpu limit exceeded"), "{e:?}");
    assert_eq!(r.transactions[0].receipt.cpu_usage_us, 10_000, "billed exactly its limit");
    assert!(e[1].contains("trapped") && e[1].contains("unreachable"), "{e:?}");
    assert!(e[2].contains("assertion failure: boom"), "{e:?}");
    assert!(e[3].contains("out of bounds"), "{e:?}");
    assert_eq!(r.transactions[4].traces.traces()[0].console, "boom");
}

#[test]
fn inline_actions_run_after_notifications_and_unwind_together() {
    let (mut ex, mut maker) = setup(1);
    // A contract whose "relay" action sends an inline wasm.token transfer of its own funds,
    // authorized by itself, to the account named in its data.
    let relay = n("relay");
    let transfer = Transfer {
        from: relay,
        to: account(4),
        quantity: dawn::chain::Asset { amount: 7, symbol: sys() },
        memo: String::new(),
    };
    let inline = workload::action(WASM_TOKEN, "transfer", relay, &transfer);
    let wat = contracts::inline_sender(&inline, true);
    let r = deploy(&mut ex, &mut maker, relay, &wat);
    assert!(statuses(&r).iter().all(|s| *s == TransactionStatus::Executed), "{:?}", errors(&r));
    // Fund the relay, then relay: inline transfer relay -> account(4).
    let fund = workload::transfer(WASM_TOKEN, account(0), relay, 10, 1);
    let go = call(relay, "go", vec![], vec![relay, account(4)]);
    let r = ex.execute_block(&maker.next(vec![fund, go.clone()]));
    assert_eq!(statuses(&r), vec![TransactionStatus::Executed; 2], "{:?}", errors(&r));
    let trace: Vec<(Name, Name, u8)> =
        r.transactions[1].traces.iter().map(|(t, a)| (t.receiver, a.name, t.depth)).collect();
    assert_eq!(
        trace,
        vec![
            (relay, n("go"), 0),
            (WASM_TOKEN, n("transfer"), 1),
            (relay, n("transfer"), 1),
            (account(4), n("transfer"), 1)
        ]
    );
    assert_eq!(balance(&ex, WASM_TOKEN, relay), Some(3));
    // Again: the relay has 3 left, the inline transfer of 7 fails, and the whole
    // transaction unwinds (the relay keeps its 3).
    let mut again = go;
    again.actions[0].data = Bytes::from(vec![1]);
    let r = ex.execute_block(&maker.next(vec![again]));
    assert_eq!(statuses(&r), vec![TransactionStatus::HardFail]);
    assert!(errors(&r)[0].contains("overdrawn balance"));
    assert_eq!(balance(&ex, WASM_TOKEN, relay), Some(3));
    // An inline action authorized by someone else is refused.
    let sneaky = Transfer { from: account(0), ..transfer };
    let inline = workload::action(WASM_TOKEN, "transfer", account(0), &sneaky);
    let wat = contracts::inline_sender(&inline, false);
    deploy(&mut ex, &mut maker, n("sneaky"), &wat);
    let r = ex.execute_block(&maker.next(vec![call(n("sneaky"), "go", vec![], vec![account(4)])]));
    assert!(errors(&r)[0].contains("may authorize inline actions only as itself"), "{:?}", errors(&r));
}

#[test]
fn deferred_requests_run_later_and_failures_reach_onerror() {
    let (mut ex, mut maker) = setup(1);
    let d = n("deferrer");
    let wat = contracts::deferrer(d);
    let r = deploy(&mut ex, &mut maker, d, &wat);
    assert!(statuses(&r).iter().all(|s| *s == TransactionStatus::Executed), "{:?}", errors(&r));
    let r = ex.execute_block(&maker.next(vec![
        call(d, "go", contracts::defer_data(true, 1), vec![d]),
        call(d, "go", contracts::defer_data(false, 2), vec![d]),
    ]));
    assert_eq!(statuses(&r), vec![TransactionStatus::Executed; 2], "{:?}", errors(&r));
    assert_eq!(ex.deferred_pending(), 2);
    // 500 ms later: not yet due. 1 s later: both run first in the block.
    let r = ex.execute_block(&maker.next(vec![]));
    assert!(r.transactions.is_empty());
    let r = ex.execute_block(&maker.next(vec![]));
    use dawn::exec::Origin;
    let got: Vec<(Origin, TransactionStatus)> =
        r.transactions.iter().map(|t| (t.origin.clone(), t.receipt.status)).collect();
    assert_eq!(
        got,
        vec![
            (Origin::Deferred { sender: d, sender_id: 1 }, TransactionStatus::Executed),
            (Origin::Deferred { sender: d, sender_id: 2 }, TransactionStatus::SoftFail),
        ]
    );
    assert!(errors(&r)[1].contains("assertion failure: fail"));
    assert_eq!(ex.deferred_pending(), 0);
    let store = ex.store();
    let s = store.read().unwrap();
    assert!(
        s.get(&RowKey { code: d, scope: d, table: Name(1), id: 1 }).is_some(),
        "the request that succeeded wrote its row"
    );
    assert!(s.get(&RowKey { code: d, scope: d, table: Name(1), id: 2 }).is_some(), "onerror wrote its row");
}

#[test]
fn shared_engine_and_bad_code_refused() {
    let wasm = Arc::new(WasmRuntime::new().unwrap());
    assert!(wasm.validate(b"not wasm").is_err());
    let e = wasm
        .validate(&wat::parse_str(r#"(module (import "env" "exit" (func)) (memory (export "memory") 1) (func (export "apply") (param i64 i64 i64)))"#).unwrap())
        .unwrap_err();
    assert!(e.contains("env::exit"), "{e}");
    let e = wasm
        .validate(
            &wat::parse_str(
                r#"(module (memory (export "memory") 100) (func (export "apply") (param i64 i64 i64)))"#,
            )
            .unwrap(),
        )
        .unwrap_err();
    assert!(e.contains("memory"), "{e}");
    let e = wasm.validate(&wat::parse_str(r#"(module (memory (export "memory") 1))"#).unwrap()).unwrap_err();
    assert!(e.contains("apply"), "{e}");
    assert!(wasm.validate(workload::TOKEN_WASM).is_ok());
}

/// Bytes a contract hands the host that do not decode: an inline action and a deferred
/// request of garbage fail the transaction with the decoder's reason.
#[test]
fn malformed_bytes_from_a_contract_fail_its_transaction() {
    let (mut ex, mut maker) = setup(1);
    let wat = format!(
        r#"(module {imports}
          (memory (export "memory") 1)
          (data (i32.const 64) "\01\02\03")
          (func (export "apply") (param $r i64) (param $c i64) (param $a i64)
            (if (i64.eq (local.get $a) (i64.const {inl})) (then (call $send_inline (i32.const 64) (i32.const 3))))
            (if (i64.eq (local.get $a) (i64.const {dfr}))
              (then (call $send_deferred (i64.const 1) (i32.const 1) (i32.const 64) (i32.const 3))))))"#,
        imports = contracts::IMPORTS,
        inl = n("inline").0 as i64,
        dfr = n("deferred").0 as i64,
    );
    let c = n("garbage");
    let r = deploy(&mut ex, &mut maker, c, &wat);
    assert!(statuses(&r).iter().all(|s| *s == TransactionStatus::Executed), "{:?}", errors(&r));
    let before = ex.state_root();
    let r = ex.execute_block(
        &maker.next(vec![call(c, "inline", vec![], vec![c]), call(c, "deferred", vec![], vec![c])]),
    );
    assert_eq!(statuses(&r), vec![TransactionStatus::HardFail; 2]);
    let e = errors(&r);
    assert!(e[0].contains("inline action refused: send_inline: malformed bytes"), "{e:?}");
    assert!(e[1].contains("deferred request: send_deferred: malformed bytes"), "{e:?}");
    assert_eq!(ex.state_root(), before);
    assert_eq!(ex.deferred_pending(), 0);
}
