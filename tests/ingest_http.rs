//! Every intake rejection path over real HTTP: the specific error, and nothing else changed.

use std::time::Duration;

mod common;

use dawn::chain::{codec, n, Bytes, ChainId, PrivateKey, SignedTransaction, TimePointSec, Transaction};
use dawn::ingest::Intake;
use dawn::node::{client, dev};
use serde_json::{json, Value};

struct TestNode {
    url: String,
    intake: Intake,
    rt: tokio::runtime::Runtime,
    _node: common::NodeThread,
}

impl TestNode {
    fn start() -> Self {
        let (node, (addr, intake)) = common::NodeThread::start(|node| (node.http_addr, node.intake.clone()));
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        Self { url: format!("http://{addr}"), intake, rt, _node: node }
    }

    fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.rt.block_on(client::post_json(&format!("{}{path}", self.url), &body)).unwrap()
    }

    fn post_raw(&self, path: &str, ct: &str, body: Vec<u8>) -> (u16, Value) {
        self.rt.block_on(client::post_raw(&format!("{}{path}", self.url), ct, body)).unwrap()
    }

    fn chain(&self) -> ChainId {
        self.intake.chain_id()
    }

    /// A transfer-like transaction from `from`, valid against the current head.
    fn tx(&self, from: &str, nonce: u8) -> Transaction {
        common::unsigned_transfer(self.intake.info().head_block_id, from, u64::from(nonce))
    }

    fn sign(&self, tx: Transaction, who: &str) -> SignedTransaction {
        SignedTransaction::sign(tx, &[&dev::dev_key(who)], &self.chain())
    }

    /// Pushes and expects refusal `name`; checks nothing changed.
    fn refuse(&self, body: Value, status: u16, name: &str) {
        let before = self.intake.info();
        let (s, v) = self.post("/v1/chain/push_transaction", body);
        assert_eq!((s, v["name"].as_str().unwrap_or("")), (status, name), "{v}");
        assert!(!v["message"].as_str().unwrap().is_empty());
        std::thread::sleep(Duration::from_millis(80));
        let after = self.intake.info();
        assert_eq!(after.head_block_num, before.head_block_num, "a refusal produced a block");
        assert_eq!(after.pending_transactions, 0);
    }
}

fn full(st: &SignedTransaction) -> Value {
    serde_json::to_value(st).unwrap()
}

fn packed(st: &SignedTransaction) -> Value {
    json!({"signatures": st.signatures, "compression": "none", "packed_trx": hex::encode(codec::encode(&st.transaction))})
}

#[test]
fn accepted_in_every_form_and_acknowledged_durable() {
    let node = TestNode::start();
    let a = node.sign(node.tx("alice", 1), "alice");
    let (s, v) = node.post("/v1/chain/push_transaction", packed(&a));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["transaction_id"], json!(a.id()));
    let block = v["block_num"].as_u64().unwrap();
    assert!(block >= 1);
    // Durable before the reply: the block is in the chain log.
    let (s, b) = node.post("/v1/chain/get_block", json!({"block_num_or_id": block}));
    assert_eq!(s, 200);
    assert_eq!(
        b["transactions"][v["block_index"].as_u64().unwrap() as usize]["signatures"],
        json!(a.signatures)
    );
    let b2 = node.sign(node.tx("bob", 2), "bob");
    assert_eq!(node.post("/v1/chain/push_transaction", full(&b2)).0, 200);
    let c = node.sign(node.tx("carol", 3), "carol");
    let (s, v) = node.post_raw(
        "/v1/chain/push_transaction?wait=applied",
        "application/octet-stream",
        codec::encode(&c),
    );
    assert_eq!(s, 200, "{v}");
    // Applied: executed, with its receipt (these transfers carry no valid transfer data, so
    // they fail, in their block, with a failed receipt).
    assert_eq!(v["status"], "irreversible", "{v}");
    assert_eq!(v["executed"], true, "{v}");
    assert_eq!(v["receipt"]["status"], "hard_fail", "{v}");
    assert!(
        v["receipt"]["error"].as_str().unwrap().contains("malformed data for eosio.token::transfer"),
        "{v}"
    );
    // Status by id: every earlier block is executed too.
    let (s, st) = node.post("/v1/history/get_transaction", json!({"id": a.id()}));
    assert_eq!(s, 200);
    assert_eq!(st["status"], "irreversible");
    assert_eq!(st["executed"], true);
    assert_eq!(st["block_num"].as_u64().unwrap(), block);
    let (s, info) = node.post("/v1/chain/get_info", json!({}));
    assert_eq!(s, 200);
    assert_eq!(info["chain_id"], json!(node.chain().0));
}

#[test]
fn every_rejection_is_specific_and_changes_nothing() {
    let node = TestNode::start();
    // Malformed bytes and JSON.
    node.refuse(json!({"nonsense": true}), 400, "malformed");
    let (s, v) = node.post_raw("/v1/chain/push_transaction", "application/octet-stream", vec![1, 2, 3]);
    assert_eq!((s, v["name"].as_str().unwrap()), (400, "malformed"));
    let (s, v) = node.post_raw("/v1/chain/push_transaction", "application/json", b"{not json".to_vec());
    assert_eq!((s, v["name"].as_str().unwrap()), (400, "malformed"));
    // Oversized request.
    let (s, v) = node.post_raw("/v1/chain/push_transaction", "application/octet-stream", vec![0; 2 << 20]);
    assert_eq!((s, v["name"].as_str().unwrap()), (413, "too_large"));
    // Oversized transaction inside a well-formed request.
    let mut big = node.tx("alice", 9);
    big.actions[0].data = Bytes::from(vec![7; 100_000]);
    node.refuse(packed(&node.sign(big, "alice")), 413, "too_large");
    // Scopes.
    let mut t = node.tx("alice", 1);
    t.write_scopes = smallvec::smallvec![n("bob"), n("alice")];
    node.refuse(full(&node.sign(t, "alice")), 400, "bad_scopes");
    let mut t = node.tx("alice", 1);
    t.write_scopes = smallvec::smallvec![n("bob")];
    node.refuse(full(&node.sign(t, "alice")), 400, "bad_scopes");
    let mut t = node.tx("alice", 1);
    t.read_scopes = smallvec::smallvec![n("alice")];
    node.refuse(full(&node.sign(t, "alice")), 400, "bad_scopes");
    // Expiration.
    let mut t = node.tx("alice", 1);
    t.expiration = TimePointSec(TimePointSec::now().0 - 1);
    node.refuse(full(&node.sign(t, "alice")), 400, "expired");
    let mut t = node.tx("alice", 1);
    t.expiration = TimePointSec(TimePointSec::now().0 + 3700);
    node.refuse(full(&node.sign(t, "alice")), 400, "expiration_too_far");
    // TaPoS.
    let mut t = node.tx("alice", 1);
    t.ref_block_num = 4242;
    node.refuse(full(&node.sign(t, "alice")), 400, "unknown_ref_block");
    let mut t = node.tx("alice", 1);
    t.ref_block_prefix ^= 1;
    node.refuse(full(&node.sign(t, "alice")), 400, "bad_ref_block_prefix");
    // Signatures and authority.
    node.refuse(full(&node.sign(node.tx("alice", 1), "bob")), 401, "bad_signature");
    node.refuse(
        full(&SignedTransaction { transaction: node.tx("alice", 1), signatures: smallvec::smallvec![] }),
        401,
        "missing_authority",
    );
    let mut t = node.tx("alice", 1);
    t.actions[0].authorization[0].actor = n("nobody");
    t.write_scopes = smallvec::smallvec![n("alice"), n("nobody")];
    node.refuse(full(&node.sign(t, "alice")), 400, "unknown_authority");
    let other_chain = SignedTransaction::sign(
        node.tx("alice", 1),
        &[&dev::dev_key("alice")],
        &ChainId(dawn::chain::Checksum256::hash(b"other")),
    );
    node.refuse(full(&other_chain), 401, "bad_signature");
    let mut t = node.tx("alice", 1);
    t.actions[0].authorization[0].permission = n("owner");
    let st = SignedTransaction::sign(t, &[&PrivateKey::from_seed(b"stranger")], &node.chain());
    node.refuse(full(&st), 401, "bad_signature");
    // Duplicates.
    let ok = node.sign(node.tx("dave", 5), "dave");
    assert_eq!(node.post("/v1/chain/push_transaction", full(&ok)).0, 200);
    node.refuse(full(&ok), 409, "duplicate");
    // Lookups.
    let (s, v) = node.post("/v1/chain/get_block", json!({"block_num_or_id": 999_999}));
    assert_eq!((s, v["name"].as_str().unwrap()), (404, "not_found"));
    // An id whose number exists but whose hash is another block's, in the query string.
    let wrong = format!("00000001{}", "ab".repeat(28));
    let (s, v) = node.post(&format!("/v1/chain/get_block?block_num_or_id={wrong}"), json!({}));
    assert_eq!((s, v["name"].as_str().unwrap()), (404, "not_found"), "{v}");
    let (s, v) = node.post("/v1/chain/get_account", json!({"account_name": "nobody"}));
    assert_eq!((s, v["name"].as_str().unwrap()), (404, "unknown_account"));
    let (s, v) = node.post("/v1/chain/get_account", json!({"account_name": "Bad Name"}));
    assert_eq!((s, v["name"].as_str().unwrap()), (400, "malformed"));
    let (s, v) = node.post("/v1/history/get_transaction", json!({"id": "00".repeat(32)}));
    assert_eq!((s, v["name"].as_str().unwrap()), (404, "not_found"));
    let (s, v) = node.post("/v1/chain/nothing_here", json!({}));
    assert_eq!((s, v["name"].as_str().unwrap()), (404, "no_endpoint"));
}

#[test]
fn batches_report_each_transaction_and_keep_order() {
    let node = TestNode::start();
    let good: Vec<SignedTransaction> = (0..20u8)
        .map(|i| node.sign(node.tx(dev::DEV_ACCOUNTS[i as usize % 4], i), dev::DEV_ACCOUNTS[i as usize % 4]))
        .collect();
    let mut items: Vec<Value> = good.iter().map(packed).collect();
    items.insert(5, full(&node.sign(node.tx("alice", 99), "bob")));
    let (s, v) = node.post("/v1/chain/push_transactions", Value::Array(items));
    assert_eq!(s, 200);
    let results = v.as_array().unwrap();
    assert_eq!(results.len(), 21);
    assert_eq!(results[5]["name"], "bad_signature");
    let mut positions = Vec::new();
    for (i, r) in results.iter().enumerate().filter(|(i, _)| *i != 5) {
        assert_eq!(r["status"], "accepted", "item {i}: {r}");
        positions.push((r["block_num"].as_u64().unwrap(), r["block_index"].as_u64().unwrap()));
    }
    // Acknowledged order is chain order.
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
}

/// Scope inference runs the transaction against the newest state: the minimal declaration
/// for a transfer, a specific refusal for one that would fail or has no action.
#[test]
fn compute_scopes_declares_what_a_transaction_touches() {
    let node = TestNode::start();
    let mut tx = node.tx("alice", 1);
    let data = dawn::exec::native::token::Transfer {
        from: dawn::chain::n("alice"),
        to: dawn::chain::n("bob"),
        quantity: "1.0000 SYS".parse().unwrap(),
        memo: String::new(),
    };
    tx.actions[0].data = dawn::chain::Bytes::from(codec::encode(&data));
    tx.write_scopes = smallvec::smallvec![];
    let (s, v) = node.post("/v1/chain/compute_scopes", json!({"transaction": tx}));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["read_scopes"], json!([]));
    assert_eq!(v["write_scopes"], json!(["alice", "bob"]));
    // Overdrawn: the speculative run fails, and says why.
    let mut over = tx.clone();
    let big = dawn::exec::native::token::Transfer { quantity: "999999999.0000 SYS".parse().unwrap(), ..data };
    over.actions[0].data = dawn::chain::Bytes::from(codec::encode(&big));
    let (s, v) = node.post("/v1/chain/compute_scopes", json!({"transaction": over}));
    assert_eq!((s, v["name"].as_str().unwrap()), (422, "would_fail"), "{v}");
    assert!(v["message"].as_str().unwrap().contains("overdrawn balance"), "{v}");
    let mut empty = tx.clone();
    empty.actions.clear();
    let (s, v) = node.post("/v1/chain/compute_scopes", json!({"transaction": empty}));
    assert_eq!((s, v["name"].as_str().unwrap()), (400, "bad_scopes"), "{v}");
    let (s, v) = node.post("/v1/chain/compute_scopes", json!({"transaction": {"nonsense": 1}}));
    assert_eq!((s, v["name"].as_str().unwrap()), (400, "malformed"), "{v}");
    // Nothing was applied by any of it.
    let (_, b) = node.post("/v1/chain/get_currency_balance", json!({"account": "bob"}));
    assert_eq!(b, json!(["1000000.0000 SYS"]));
}
