//! A whole node with its publish endpoint and IPFS gateway: a transfer pushed over HTTP is
//! executed and streamed to a subscriber (library client and `dawn subscribe`), get_info
//! advertises both services, and a token holder uploads a file through the gateway with a
//! signed request and reads it back.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use dawn::chain::{codec, PermissionLevel, SignedTransaction, TransactionStatus};
use dawn::node::{client, dev};
use dawn::publish::protocol::PROTOCOL_VERSION;
use dawn::publish::{
    ClientConfig, Commitment, Filter, Message, NameLists, Projection, Start, Subscribe, Subscription,
    TxFilter,
};
use http_body_util::{BodyExt, Full};
use serde_json::Value;

struct Running {
    http: SocketAddr,
    publish: SocketAddr,
    gateway: SocketAddr,
    intake: dawn::ingest::Intake,
    _node: common::NodeThread,
}

impl Running {
    fn start() -> Self {
        let (node, (http, publish, gateway, intake)) = common::NodeThread::start(|node| {
            (node.http_addr, node.publish.unwrap().0, node.gateway.unwrap(), node.intake.clone())
        });
        Self { http, publish, gateway, intake, _node: node }
    }
}

async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> (u16, Bytes) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    let mut b = hyper::Request::builder().method(method).uri(path).header("host", addr.to_string());
    for (k, v) in headers {
        b = b.header(*k, v);
    }
    let resp = sender.send_request(b.body(Full::new(Bytes::from(body))).unwrap()).await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.into_body().collect().await.unwrap().to_bytes())
}

#[test]
fn a_node_streams_what_it_executes_and_stores_what_holders_upload() {
    let node = Running::start();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let url = format!("http://{}", node.http);
    rt.block_on(async {
        // get_info advertises both services.
        let (s, info) =
            client::post_json(&format!("{url}/v1/chain/get_info"), &serde_json::json!({})).await.unwrap();
        assert_eq!(s, 200);
        assert_eq!(info["publish_endpoint"], Value::String(node.publish.to_string()));
        assert_eq!(info["ipfs_gateway"], Value::String(format!("http://{}", node.gateway)));
        let fingerprint: dawn::publish::Fingerprint =
            info["publish_fingerprint"].as_str().unwrap().parse().unwrap();

        // A transfer by alice, applied.
        // A real token transfer (workload's encoding), with TaPoS and expiry for this chain.
        let head = node.intake.info().head_block_id;
        let mut tx = dawn::exec::workload::transfer(
            dawn::chain::n("eosio.token"),
            dawn::chain::n("alice"),
            dawn::chain::n("bob"),
            10_000,
            1,
        );
        let template = common::unsigned_transfer(head, "alice", 1);
        (tx.expiration, tx.ref_block_num, tx.ref_block_prefix) =
            (template.expiration, template.ref_block_num, template.ref_block_prefix);
        let st = SignedTransaction::sign(tx, &[&dev::dev_key("alice")], &node.intake.chain_id());
        let (s, v) = client::post_raw(
            &format!("{url}/v1/chain/push_transaction?wait=applied"),
            "application/octet-stream",
            codec::encode(&st),
        )
        .await
        .unwrap();
        assert_eq!(s, 200, "{v}");

        // A subscriber filtering on alice gets it, with its receipt.
        let filter = Filter(vec![TxFilter {
            actors: NameLists { include: vec![dawn::chain::n("alice")], ..Default::default() },
            ..Default::default()
        }]);
        let req = Subscribe {
            version: PROTOCOL_VERSION,
            commitment: Commitment::Irreversible,
            start: Start::Oldest,
            filter,
            projection: Projection::Full,
            heartbeat_ms: 0,
        };
        let mut sub =
            Subscription::open(&ClientConfig::pinned(node.publish, fingerprint), &req).await.unwrap();
        let found = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                for m in sub.next_batch().await.unwrap() {
                    if let Message::Transaction(t) = m {
                        if t.id == st.id() {
                            return t;
                        }
                    }
                }
            }
        })
        .await
        .expect("the transfer is streamed");
        assert_eq!(found.transaction.as_ref(), Some(&st));
        assert_eq!(found.receipt.status, TransactionStatus::Executed, "{:?}", found.error);

        // A token holder uploads through the gateway and reads the file back.
        let level = PermissionLevel { actor: dawn::chain::n("alice"), permission: dawn::chain::n("active") };
        let file = b"stored by a token holder".to_vec();
        let target = "/v1/storage/add?name=note.txt";
        let ts = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let headers = dawn::ipfs::auth::sign_request(
            &dev::dev_key("alice"),
            &node.intake.chain_id(),
            &level,
            ts,
            target,
            &file,
        );
        let (s, body) = http(node.gateway, "POST", target, &headers, file.clone()).await;
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(s, 200, "{v}");
        let cid = v["Hash"].as_str().unwrap().to_string();
        let (s, got) = http(node.gateway, "GET", &format!("/ipfs/{cid}"), &[], Vec::new()).await;
        assert_eq!((s, &got[..]), (200, &file[..]));
    });

    // The command-line subscriber prints the same transaction as a JSON line.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dawn"))
        .args(["subscribe", "--server", &node.publish.to_string(), "--url", &url, "--from", "oldest"])
        .args(["--actor", "alice", "--limit", "1", "--projection", "receipts"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let tx = lines.iter().find(|l| l["type"] == "transaction").expect("a transaction line");
    assert_eq!(tx["receipt"]["status"], "executed");
    assert!(tx["cursor"].as_str().unwrap().contains('.'));
    assert_eq!(lines[0]["type"], "block_begin");
}
