//! A node killed with SIGKILL while clients push loses no acknowledged transaction: after
//! restart every acknowledged id is in the block and position it was acknowledged with,
//! so acknowledged order is chain order.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;

use dawn::chain::{codec, BlockId, ChainId, SignedBlock, SignedTransaction, TxId};
use dawn::log::crash::SplitMix;
use dawn::log::{Config, Log, Offset};
use dawn::node::{client, dev};
use serde_json::{json, Value};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start(dir: &std::path::Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_dawn"))
        .args(["dev", "--data-dir"])
        .arg(dir)
        .args([
            "--http",
            &format!("127.0.0.1:{port}"),
            "--block-interval-ms",
            "15",
            "--snapshot-interval",
            "7",
            "--publish",
            "127.0.0.1:0",
            "--gateway",
            "127.0.0.1:0",
        ])
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn wait_ready(rt: &tokio::runtime::Runtime, url: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok((200, v)) = rt.block_on(client::post_json(&format!("{url}/v1/chain/get_info"), &json!({})))
        {
            return v;
        }
        assert!(Instant::now() < deadline, "node did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A real token transfer from `who` to the next dev account, made unique by its memo.
fn transfer(info: &Value, who: &str, nonce: u64) -> SignedTransaction {
    let chain = ChainId(info["chain_id"].as_str().unwrap().parse().unwrap());
    let head = BlockId(info["head_block_id"].as_str().unwrap().parse().unwrap());
    let i = dev::DEV_ACCOUNTS.iter().position(|a| *a == who).unwrap();
    let to = dev::DEV_ACCOUNTS[(i + 1) % dev::DEV_ACCOUNTS.len()];
    let mut tx = common::unsigned_transfer(head, who, nonce);
    let data = dawn::exec::native::token::Transfer {
        from: dawn::chain::n(who),
        to: dawn::chain::n(to),
        quantity: "0.0001 SYS".parse().unwrap(),
        memo: format!("{nonce}"),
    };
    tx.actions[0].data = dawn::chain::Bytes::from(codec::encode(&data));
    tx.write_scopes = smallvec::smallvec![dawn::chain::n(who), dawn::chain::n(to)];
    tx.write_scopes.sort();
    SignedTransaction::sign(tx, &[&dev::dev_key(who)], &chain)
}

#[test]
fn sigkill_loses_no_acknowledged_transaction() {
    let tmp = tempfile::tempdir().unwrap();
    let seed: u64 = std::env::var("DAWN_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(11);
    let mut rng = SplitMix(seed);
    let acked: Arc<Mutex<Vec<(TxId, u64, u64)>>> = Arc::default();
    let nonce = Arc::new(AtomicU64::new(0));
    for round in 0..4 {
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let mut child = start(tmp.path(), port);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let info = wait_ready(&rt, &url);
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..3)
            .map(|c| {
                let (url, info, acked, stop, nonce) = (url.clone(), info.clone(), acked.clone(), stop.clone(), nonce.clone());
                std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                    while !stop.load(Ordering::SeqCst) {
                        let who = dev::DEV_ACCOUNTS[c];
                        let st = transfer(&info, who, nonce.fetch_add(1, Ordering::SeqCst));
                        let body = json!({"signatures": st.signatures, "packed_trx": hex::encode(codec::encode(&st.transaction))});
                        match rt.block_on(client::post_json(&format!("{url}/v1/chain/push_transaction"), &body)) {
                            Ok((200, v)) => {
                                assert_eq!(v["transaction_id"], json!(st.id()));
                                acked.lock().unwrap().push((st.id(), v["block_num"].as_u64().unwrap(), v["block_index"].as_u64().unwrap()));
                            }
                            Ok(_) | Err(_) => std::thread::sleep(Duration::from_millis(5)),
                        }
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(200 + rng.below(600)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        stop.store(true, Ordering::SeqCst);
        for c in clients {
            c.join().unwrap();
        }
        // Read the chain log as a restarted node would.
        let log = Log::open_path(&tmp.path().join("chain"), Config::default())
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        let mut placed: HashMap<TxId, (u64, u64)> = HashMap::new();
        let end = log.durable_end().0;
        for off in 0..end {
            let b: SignedBlock = codec::decode(&log.get(Offset(off)).unwrap().data, 64 << 20).unwrap();
            assert_eq!(u64::from(b.header.block_num().0), off + 1);
            for (i, t) in b.transactions.iter().enumerate() {
                assert!(
                    placed.insert(t.id(), (off + 1, i as u64)).is_none(),
                    "a transaction is in two places"
                );
            }
        }
        drop(log);
        let acked = acked.lock().unwrap();
        for (id, block, index) in acked.iter() {
            assert_eq!(
                placed.get(id),
                Some(&(*block, *index)),
                "round {round} (seed {seed}): acknowledged {id} lost or moved"
            );
        }
        assert!(!acked.is_empty() || round > 0, "no transaction was acknowledged");
    }
    let total = acked.lock().unwrap().len();
    assert!(total >= 20, "only {total} transactions were acknowledged: the test proved little");
    // The node restarts on the same chain and takes new transactions.
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut child = start(tmp.path(), port);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let info = wait_ready(&rt, &url);
    assert!(info["head_block_num"].as_u64().unwrap() > 0);
    let st = transfer(&info, "dave", u64::MAX);
    let (s, v) = rt
        .block_on(client::post_json(
            &format!("{url}/v1/chain/push_transaction"),
            &serde_json::to_value(&st).unwrap(),
        ))
        .unwrap();
    assert_eq!(s, 200, "{v}");
    // Exec caught up after every restart (each start re-executed the chain after its newest
    // snapshot and matched the results log, or it would not have started); its state root
    // is the one a replay from genesis computes.
    let deadline = Instant::now() + Duration::from_secs(30);
    let info = loop {
        let info = wait_ready(&rt, &url);
        if info["executed_block_num"] == info["head_block_num"] || Instant::now() > deadline {
            break info;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    let executed = info["executed_block_num"].as_u64().unwrap();
    assert!(executed > 0);
    assert!(tmp.path().join("state").read_dir().unwrap().count() > 0, "snapshots were written");
    let chain = Log::open_path(&tmp.path().join("chain"), Config::default()).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let results = Log::open_path(
        scratch.path(),
        Config { record_bytes_max: 128 << 20, batch_bytes_max: 256 << 20, ..Config::default() },
    )
    .unwrap();
    let stage =
        dawn::exec::ExecStage::open(&dev::dev_genesis(), chain, results, dawn::exec::ExecConfig::default())
            .unwrap();
    let replayed = stage.head().unwrap();
    assert_eq!(u64::from(replayed.num.0), executed, "no block is sealed without transactions");
    assert_eq!(json!(replayed.state_root), info["executed_state_root"]);
}

/// Ctrl-C (SIGINT) stops the node cleanly, after sealing what it acknowledged; starting it
/// again resumes the same chain.
#[test]
fn sigint_stops_cleanly_and_restart_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut child = start(tmp.path(), port);
    let info = wait_ready(&rt, &url);
    let st = transfer(&info, "alice", 1);
    let (s, v) = rt
        .block_on(client::post_json(
            &format!("{url}/v1/chain/push_transaction"),
            &serde_json::to_value(&st).unwrap(),
        ))
        .unwrap();
    assert_eq!(s, 200, "{v}");
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let code = loop {
        if let Some(code) = child.try_wait().unwrap() {
            break code;
        }
        assert!(Instant::now() < deadline, "node did not stop on SIGINT");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(code.success(), "node exited with {code}");
    // The log was closed cleanly: nothing to cut on reopen.
    let log = Log::open_path(&tmp.path().join("chain"), Config::default()).unwrap();
    assert!(log.recovery_report().truncated.is_empty());
    let head = log.durable_end().0;
    drop(log);
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut child = start(tmp.path(), port);
    let info2 = wait_ready(&rt, &url);
    assert_eq!(info2["chain_id"], info["chain_id"]);
    assert_eq!(info2["head_block_num"].as_u64().unwrap(), head);
    let (s, tx) = rt
        .block_on(client::post_json(&format!("{url}/v1/history/get_transaction"), &json!({"id": st.id()})))
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(s, 200, "{tx}");
    assert_eq!(tx["block_num"], v["block_num"]);
}
