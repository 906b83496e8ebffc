//! Small WAT contracts for exec tests: an inline-action sender and a deferred-request
//! sender, and the transactions that deploy and call them.

use dawn::chain::{codec, n, Action, Authority, Bytes, Name, PermissionLevel, Transaction};
use dawn::exec::native::system::{NewAccount, SetCode};
use dawn::exec::system_rows::DeferredRequest;
use dawn::exec::workload;

/// The host functions the test contracts import.
pub(crate) const IMPORTS: &str = r#"
  (import "env" "eosio_assert" (func $assert (param i32 i32 i32)))
  (import "env" "db_set" (func $db_set (param i64 i64 i64 i32 i32)))
  (import "env" "print" (func $print (param i32 i32)))
  (import "env" "send_inline" (func $send_inline (param i32 i32)))
  (import "env" "send_deferred" (func $send_deferred (param i64 i32 i32 i32)))
  (import "env" "read_action_data" (func $read (param i32 i32) (result i32)))
  (import "env" "action_data_size" (func $size (result i32)))
"#;

/// Bytes as a WAT data string.
pub(crate) fn wat_bytes(b: &[u8]) -> String {
    b.iter().map(|x| format!("\\{x:02x}")).collect()
}

/// A contract that sends `inline` from its handler (with `own_only`, only for actions
/// addressed to itself, not for notifications).
pub(crate) fn inline_sender(inline: &Action, own_only: bool) -> String {
    let bytes = codec::encode(inline);
    let send = format!("(call $send_inline (i32.const 64) (i32.const {}))", bytes.len());
    let body =
        if own_only { format!("(if (i64.eq (local.get $c) (local.get $r)) (then {send}))") } else { send };
    format!(
        r#"(module {IMPORTS}
          (memory (export "memory") 1)
          (data (i32.const 64) "{}")
          (func (export "apply") (param $r i64) (param $c i64) (param $a i64) {body}))"#,
        wat_bytes(&bytes)
    )
}

/// Data of the deferrer's `go`: whether the request will succeed, and its sender id.
pub(crate) fn defer_data(ok: bool, sender_id: u64) -> Vec<u8> {
    let mut d = vec![u8::from(ok)];
    d.extend_from_slice(&sender_id.to_le_bytes());
    d
}

/// A contract `d` whose `go` (data from [`defer_data`]) schedules, 1 s later, its own
/// action `later`, which writes row 1 of table 1 or fails with "fail"; its `onerror`
/// writes row 2.
pub(crate) fn deferrer(d: Name) -> String {
    let later = |data: Vec<u8>| Action {
        account: d,
        name: n("later"),
        authorization: smallvec::smallvec![PermissionLevel { actor: d, permission: n("active") }],
        data: Bytes::from(data),
    };
    let req = |data| {
        codec::encode(&DeferredRequest {
            read_scopes: smallvec::smallvec![],
            write_scopes: smallvec::smallvec![d],
            actions: smallvec::smallvec![later(data)],
        })
    };
    let (ok, bad) = (req(vec![1]), req(vec![0]));
    format!(
        r#"(module {IMPORTS}
          (memory (export "memory") 1)
          (data (i32.const 0) "fail")
          (data (i32.const 256) "{okh}")
          (data (i32.const 1024) "{badh}")
          (func (export "apply") (param $r i64) (param $c i64) (param $a i64)
            (if (i64.eq (local.get $a) (i64.const {go}))
              (then
                (drop (call $read (i32.const 8) (i32.const 9)))
                (if (i32.load8_u (i32.const 8))
                  (then (call $send_deferred (i64.load (i32.const 9)) (i32.const 1) (i32.const 256) (i32.const {okl})))
                  (else (call $send_deferred (i64.load (i32.const 9)) (i32.const 1) (i32.const 1024) (i32.const {badl}))))))
            (if (i64.eq (local.get $a) (i64.const {lt}))
              (then
                (drop (call $read (i32.const 8) (i32.const 1)))
                (call $assert (i32.load8_u (i32.const 8)) (i32.const 0) (i32.const 4))
                (call $db_set (local.get $r) (i64.const 1) (i64.const 1) (i32.const 0) (i32.const 4))))
            (if (i64.eq (local.get $a) (i64.const {oe}))
              (then (call $db_set (local.get $r) (i64.const 1) (i64.const 2) (i32.const 0) (i32.const 4))))))"#,
        okh = wat_bytes(&ok),
        badh = wat_bytes(&bad),
        okl = ok.len(),
        badl = bad.len(),
        go = n("go").0 as i64,
        lt = n("later").0 as i64,
        oe = n("onerror").0 as i64,
    )
}

/// The transactions creating account `name` (by `eosio`) and deploying `wat` on it.
pub(crate) fn deploy_txs(name: Name, wat: &str) -> Vec<Transaction> {
    let auth = Authority::single_key(workload::producer_key().public());
    let eosio = n("eosio");
    let code = wat::parse_str(wat).unwrap();
    vec![
        workload::transaction(
            vec![workload::action(
                eosio,
                "newaccount",
                eosio,
                &NewAccount { creator: eosio, name, owner: auth.clone(), active: auth },
            )],
            vec![],
            vec![eosio, name],
        ),
        workload::transaction(
            vec![workload::action(
                eosio,
                "setcode",
                name,
                &SetCode { account: name, vmtype: 0, vmversion: 0, code: Bytes::from(code) },
            )],
            vec![],
            vec![name],
        ),
    ]
}

/// A transaction calling `contract::action` with `data`, authorized by `actor@active`,
/// writing `writes` (and the actor).
pub(crate) fn call(
    actor: Name,
    contract: Name,
    action: &str,
    data: Vec<u8>,
    writes: Vec<Name>,
) -> Transaction {
    let a = Action {
        account: contract,
        name: action.parse().unwrap(),
        authorization: smallvec::smallvec![PermissionLevel { actor, permission: n("active") }],
        data: Bytes::from(data),
    };
    let mut w = writes;
    w.push(actor);
    workload::transaction(vec![a], vec![], w)
}
