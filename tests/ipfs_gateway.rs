//! The gateway over real loopback HTTP: files, ranges, caching, directories, the trustless
//! raw and CAR responses, and signed uploads within quotas.

mod ipfs_support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use dawn::chain::{Authority, ChainId, Checksum256, Name, PermissionLevel, PrivateKey};
use dawn::ipfs::auth::sign_request;
use dawn::ipfs::blockstore::PinKind;
use dawn::ipfs::car;
use dawn::ipfs::cid::Cid;
use dawn::ipfs::gateway::{serve, Gateway, GatewayConfig};
use dawn::ipfs::importer::{import_bytes, import_paths, ImportOptions, WalkOptions};
use dawn::ipfs::quota::QuotaConfig;
use http_body_util::{BodyExt, Full};
use hyper::header::HeaderMap;
use ipfs_support::{kubo_deterministic, FakeState};
use serde_json::Value;

struct Server {
    addr: SocketAddr,
    gw: Arc<Gateway>,
    state: Arc<FakeState>,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

const CHAIN: ChainId = ChainId(Checksum256([7; 32]));

async fn start(config: GatewayConfig) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let state = Arc::new(FakeState::default());
    let gw = Arc::new(Gateway::open(&dir.path().join("ipfs"), config, state.clone(), CHAIN).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, gw.clone(), async {
        let _ = rx.await;
    }));
    Server { addr, gw, state, _dir: dir, stop: Some(tx), task: Some(task) }
}

impl Server {
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap().unwrap();
    }

    async fn req(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> (u16, HeaderMap, Bytes) {
        let stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.unwrap();
        tokio::spawn(conn);
        let mut b = hyper::Request::builder().method(method).uri(path).header("host", self.addr.to_string());
        for (k, v) in headers {
            b = b.header(*k, v);
        }
        let resp = sender.send_request(b.body(Full::new(Bytes::from(body))).unwrap()).await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, headers, body)
    }

    async fn get(&self, path: &str, headers: &[(&str, String)]) -> (u16, HeaderMap, Bytes) {
        self.req("GET", path, headers, Vec::new()).await
    }

    fn add_local(&self, data: &[u8], opts: ImportOptions) -> Cid {
        let store = self.gw.store();
        let mut st = store.stage().unwrap();
        let r = import_bytes(data, opts, &mut st).unwrap();
        st.commit().unwrap();
        store.pin_add(&r.cid, PinKind::Recursive).unwrap();
        r.cid
    }
}

fn h(headers: &HeaderMap, k: &str) -> String {
    headers.get(k).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_ranges_and_caching() {
    let s = start(GatewayConfig::default()).await;
    let data = kubo_deterministic("gw", 2 * 262144 + 5000);
    let cid = s.add_local(&data, ImportOptions::default());
    let url = format!("/ipfs/{cid}");

    let (st, hd, body) = s.get(&url, &[]).await;
    assert_eq!(st, 200);
    assert_eq!(body, data);
    assert_eq!(h(&hd, "etag"), format!("\"{cid}\""));
    assert_eq!(h(&hd, "cache-control"), "public, max-age=29030400, immutable");
    assert_eq!(h(&hd, "accept-ranges"), "bytes");
    assert_eq!(h(&hd, "content-type"), "application/octet-stream");

    let (st, hd, body) = s.get(&url, &[("range", "bytes=262140-262150".into())]).await;
    assert_eq!(st, 206);
    assert_eq!(body, &data[262140..262151]);
    assert_eq!(h(&hd, "content-range"), format!("bytes 262140-262150/{}", data.len()));
    let (st, _, body) = s.get(&url, &[("range", "bytes=-100".into())]).await;
    assert_eq!((st, &body[..]), (206, &data[data.len() - 100..]));
    let (st, hd, body) = s.get(&url, &[("range", format!("bytes={}-", data.len()))]).await;
    assert_eq!(st, 416);
    assert_eq!(h(&hd, "content-range"), format!("bytes */{}", data.len()));
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["name"], "bad_range");

    let (st, _, body) = s.get(&url, &[("if-none-match", format!("\"{cid}\""))]).await;
    assert_eq!((st, body.len()), (304, 0));
    let (st, hd, body) = s.req("HEAD", &url, &[], Vec::new()).await;
    assert_eq!((st, body.len()), (200, 0));
    assert_eq!(h(&hd, "content-length"), data.len().to_string());

    // Errors are specific and JSON.
    let (st, _, body) = s.get("/ipfs/QmNotACid", &[]).await;
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((st, v["name"].as_str().unwrap()), (400, "bad_cid"));
    let missing = Cid::of(dawn::ipfs::Version::V1, dawn::ipfs::cid::CODEC_RAW, b"not here");
    let (st, _, body) = s.get(&format!("/ipfs/{missing}"), &[]).await;
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((st, v["name"].as_str().unwrap()), (404, "not_found"));
    let (st, _, _) = s.get(&format!("{url}?format=tar"), &[]).await;
    assert_eq!(st, 400);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directories_and_trustless_responses() {
    let s = start(GatewayConfig::default()).await;
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("site");
    std::fs::create_dir_all(p.join("sub dir")).unwrap();
    std::fs::write(p.join("a.txt"), "Hello Mars!\n").unwrap();
    std::fs::write(p.join("sub dir/ą.json"), "{\"x\":1}").unwrap();
    let store = s.gw.store();
    let mut st = store.stage().unwrap();
    let root = import_paths(
        &[p],
        false,
        ImportOptions::default(),
        WalkOptions { recursive: true, hidden: false },
        &mut st,
        &mut |_| {},
    )
    .unwrap()
    .unwrap()
    .cid;
    st.commit().unwrap();
    store.pin_add(&root, PinKind::Recursive).unwrap();
    drop(st);

    let (st, hd, _) = s.get(&format!("/ipfs/{root}"), &[]).await;
    assert_eq!(st, 301);
    assert_eq!(h(&hd, "location"), format!("/ipfs/{root}/"));
    let (st, hd, body) = s.get(&format!("/ipfs/{root}/"), &[]).await;
    assert_eq!(st, 200);
    assert!(h(&hd, "content-type").starts_with("text/html"));
    let html = String::from_utf8(body.to_vec()).unwrap();
    assert!(html.contains("a.txt") && html.contains("href=\"sub%20dir\""), "{html}");
    let (st, hd, body) = s.get(&format!("/ipfs/{root}/sub%20dir/%C4%85.json"), &[]).await;
    assert_eq!((st, &body[..]), (200, &b"{\"x\":1}"[..]));
    assert_eq!(h(&hd, "content-type"), "application/json");
    let (st, _, _) = s.get(&format!("/ipfs/{root}/nope.txt"), &[]).await;
    assert_eq!(st, 404);

    // ?format=raw and Accept: the block itself, verifiable against its CID.
    let (st, hd, body) = s.get(&format!("/ipfs/{root}?format=raw"), &[]).await;
    assert_eq!(st, 200);
    assert_eq!(h(&hd, "content-type"), "application/vnd.ipld.raw");
    assert!(root.matches(&body));
    let (_, _, body2) =
        s.get(&format!("/ipfs/{root}/a.txt"), &[("accept", "application/vnd.ipld.raw".into())]).await;
    assert_eq!(
        Cid::of(dawn::ipfs::Version::V0, dawn::ipfs::cid::CODEC_DAG_PB, &body2).to_string(),
        "QmPrrHqJzto9m7SyiRzarwkqPcCSsKR2EB1AyqJfe8L8tN"
    );

    // CAR of a path: header root is the requested root, the path's blocks come first,
    // every block verifies, and the file reassembles.
    let (st, hd, body) = s
        .get(&format!("/ipfs/{root}/sub%20dir"), &[("accept", "application/vnd.ipld.car; version=1".into())])
        .await;
    assert_eq!(st, 200);
    assert!(h(&hd, "content-type").starts_with("application/vnd.ipld.car"));
    let (roots, blocks) = car::read_all(&body).unwrap();
    assert_eq!(roots, vec![root]);
    assert_eq!(blocks[0].0, root);
    assert_eq!(blocks.len(), 3, "root, sub dir, the json file");
    let (st, _, whole) = s.get(&format!("/ipfs/{root}?format=car"), &[]).await;
    assert_eq!(st, 200);
    let (_, all) = car::read_all(&whole).unwrap();
    assert_eq!(all.len(), 4);
    s.stop().await;
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn signed(
    key: &PrivateKey,
    level: &PermissionLevel,
    target: &str,
    body: &[u8],
    ts: u64,
) -> Vec<(&'static str, String)> {
    sign_request(key, &CHAIN, level, ts, target, body).to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_quota_deletes_and_balance_changes() {
    let quota = QuotaConfig {
        capacity_bytes: 2_000_000,
        holder_share_percent: 50,
        public_tier_bytes: 1000,
        ..QuotaConfig::default()
    };
    let s = start(GatewayConfig { quota, upload_bytes_max: 3_000_000, uploads_enabled: true }).await;
    let alice: Name = "alice".parse().unwrap();
    let level = PermissionLevel { actor: alice, permission: "active".parse().unwrap() };
    let key = PrivateKey::from_seed(b"alice");
    s.state.perms.lock().unwrap().insert(level, Authority::single_key(key.public()));
    s.state.set_supply(1_000_000);
    s.state.set_balance(alice, 500_000); // half the supply: 1000 + 500_000 bytes

    let file = kubo_deterministic("upload", 300_000);
    let target = "/v1/storage/add?name=f.bin";
    let (st, _, body) =
        s.req("POST", target, &signed(&key, &level, target, &file, now()), file.clone()).await;
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(st, 200, "{v}");
    let cid: Cid = v["Hash"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        cid.to_string(),
        import_bytes(&file, ImportOptions::default(), &mut dawn::ipfs::importer::NullSink::default())
            .unwrap()
            .cid
            .to_string()
    );
    let dag = v["dag_bytes"].as_u64().unwrap();
    assert!(dag > 300_000);
    assert_eq!(
        (v["charged"].as_u64(), v["used"].as_u64(), v["limit"].as_u64()),
        (Some(dag), Some(dag), Some(501_000))
    );
    let (_, _, got) = s.get(&format!("/ipfs/{cid}"), &[]).await;
    assert_eq!(got, file);

    // The same root again costs nothing.
    let (st, _, body) =
        s.req("POST", target, &signed(&key, &level, target, &file, now()), file.clone()).await;
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((st, v["charged"].as_u64(), v["used"].as_u64()), (200, Some(0), Some(dag)));

    // Over quota: 413 naming the figures, and nothing of it kept.
    let blocks_before = s.gw.store().list().unwrap();
    let big = kubo_deterministic("big", 250_000);
    let (st, _, body) = s.req("POST", target, &signed(&key, &level, target, &big, now()), big.clone()).await;
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((st, v["name"].as_str().unwrap()), (413, "over_quota"), "{v}");
    let details: Vec<String> = serde_json::from_value(v["details"].clone()).unwrap();
    assert!(
        details.contains(&format!("used {dag}")) && details.contains(&"limit 501000".to_string()),
        "{details:?}"
    );
    assert_eq!(s.gw.store().list().unwrap(), blocks_before);
    assert_eq!(std::fs::read_dir(s.gw.store().root().join("tmp")).unwrap().count(), 0);

    // Bad signature, wrong body, stale timestamp, no signature: refused, nothing kept.
    let other = PrivateKey::from_seed(b"mallory");
    let small = b"small file".to_vec();
    let (st, _, _) =
        s.req("POST", target, &signed(&other, &level, target, &small, now()), small.clone()).await;
    assert_eq!(st, 401);
    let (st, _, _) =
        s.req("POST", target, &signed(&key, &level, target, b"other body", now()), small.clone()).await;
    assert_eq!(st, 401);
    let (st, _, body) =
        s.req("POST", target, &signed(&key, &level, target, &small, now() - 3600), small.clone()).await;
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((st, v["name"].as_str().unwrap()), (401, "stale_timestamp"));
    let (st, _, body) = s.req("POST", target, &[], small.clone()).await;
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((st, v["name"].as_str().unwrap()), (401, "signature_required"));
    assert_eq!(s.gw.store().list().unwrap(), blocks_before);

    // A balance drop refuses further uploads and keeps existing data.
    s.state.set_balance(alice, 0);
    let (st, _, _) = s.req("POST", target, &signed(&key, &level, target, &small, now()), small.clone()).await;
    assert_eq!(st, 413);
    let (st, _, got) = s.get(&format!("/ipfs/{cid}"), &[]).await;
    assert_eq!((st, got.len()), (200, file.len()));

    // Delete frees the quota; GC then reclaims the blocks; deleting again is 404.
    let rm = format!("/v1/storage/rm?cid={cid}");
    let (st, _, body) = s.req("POST", &rm, &signed(&key, &level, &rm, b"", now()), Vec::new()).await;
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((st, v["freed"].as_u64(), v["used"].as_u64()), (200, Some(dag), Some(0)), "{v}");
    let (st, _, _) = s.req("POST", &rm, &signed(&key, &level, &rm, b"", now()), Vec::new()).await;
    assert_eq!(st, 404);
    assert!(s.gw.store().gc().unwrap().removed.len() >= 3);
    // With the public tier only, a small upload fits again.
    let (st, _, body) =
        s.req("POST", target, &signed(&key, &level, target, &small, now()), small.clone()).await;
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    let (_, _, body) = s.get("/v1/storage/usage?account=alice", &[]).await;
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (v["limit"].as_u64(), v["balance"].as_u64(), v["supply"].as_u64()),
        (Some(1000), Some(0), Some(1_000_000))
    );
    assert_eq!(v["uploads"].as_array().unwrap().len(), 1);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_pool_and_size_limit() {
    let quota = QuotaConfig { anonymous_bytes: 400, ..QuotaConfig::default() };
    let s = start(GatewayConfig { quota, upload_bytes_max: 1000, uploads_enabled: true }).await;
    let (st, _, body) = s.req("POST", "/v1/storage/add?cid-version=1", &[], b"public".to_vec()).await;
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(st, 200, "{v}");
    assert!(v["Hash"].as_str().unwrap().starts_with("bafkrei"));
    let (st, _, body) = s.req("POST", "/v1/storage/add", &[], vec![1u8; 500]).await;
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((st, v["name"].as_str().unwrap()), (413, "over_quota"));
    let (st, _, body) = s.req("POST", "/v1/storage/add", &[], vec![1u8; 1001]).await;
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((st, v["name"].as_str().unwrap()), (413, "too_large"));
    let (st, _, _) = s.req("POST", "/v1/storage/add?cid-version=7", &[], b"x".to_vec()).await;
    assert_eq!(st, 400);
    s.stop().await;
}

/// Sends a request whose body has no announced length (chunked) and returns the status
/// line and body.
async fn chunked(
    addr: SocketAddr,
    target: &str,
    headers: &[(&'static str, String)],
    body: &[u8],
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!(
        "POST {target} HTTP/1.1\r\nhost: {addr}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n"
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    for part in body.chunks(64 << 10) {
        if s.write_all(format!("{:x}\r\n", part.len()).as_bytes()).await.is_err()
            || s.write_all(part).await.is_err()
            || s.write_all(b"\r\n").await.is_err()
        {
            break; // the server answered and closed early
        }
    }
    let _ = s.write_all(b"0\r\n\r\n").await;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unannounced_lengths_meet_the_same_quota_and_removals_carry_no_body() {
    let quota = QuotaConfig { capacity_bytes: 0, public_tier_bytes: 100_000, ..QuotaConfig::default() };
    let s = start(GatewayConfig { quota, upload_bytes_max: 10_000_000, uploads_enabled: true }).await;
    let alice: Name = "alice".parse().unwrap();
    let level = PermissionLevel { actor: alice, permission: "active".parse().unwrap() };
    let key = PrivateKey::from_seed(b"alice");
    s.state.perms.lock().unwrap().insert(level, Authority::single_key(key.public()));
    let blocks_before = s.gw.store().list().unwrap();
    // Three times the quota, sent without a Content-Length: refused while it arrives.
    let file = kubo_deterministic("chunked", 300_000);
    let target = "/v1/storage/add?name=c.bin";
    let (status, text) = chunked(s.addr, target, &signed(&key, &level, target, &file, now()), &file).await;
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("over_quota"), "{text}");
    // Refused as soon as what arrived passed the limit, not after importing all of it.
    let requested: u64 = text
        .split("\"requested ")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .and_then(|n| n.parse().ok())
        .expect("the figures are in the details");
    assert!(requested < file.len() as u64, "refused after {requested} bytes: {text}");
    assert_eq!(s.gw.store().list().unwrap(), blocks_before, "nothing of it is kept");
    // Within the quota, the same way, it is stored.
    let small = kubo_deterministic("chunked-small", 20_000);
    let (status, text) = chunked(s.addr, target, &signed(&key, &level, target, &small, now()), &small).await;
    assert_eq!(status, 200, "{text}");
    // A removal with a body over its bound is refused before anything else.
    let rm = "/v1/storage/rm?cid=QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH";
    let junk = vec![0u8; 100_000];
    let (st, _, _) = s.req("POST", rm, &signed(&key, &level, rm, &junk, now()), junk.clone()).await;
    assert_eq!(st, 400);
    s.stop().await;
}
