//! The publish stage over real QUIC on loopback, against logs of real executed blocks:
//! filters checked against a brute-force evaluation over the whole log, resume without gap
//! or duplicate, history switching to live, forks undone, pruned cursors, bad frames,
//! stalled clients.

use std::sync::Arc;
use std::time::Duration;

use dawn::chain::{n, BlockId, BlockNum, TransactionStatus};
use dawn::exec::workload::account;
use dawn::log::{Config as LogConfig, Log, Offset, SyncPolicy};
use dawn::node::publish_bench::{executed_logs, expected, sender_filter, ExecutedLogs};
use dawn::publish::protocol::{self, FrameKind, PROTOCOL_VERSION};
use dawn::publish::{
    ClientAuth, ClientConfig, ClientError, Commitment, Cursor, ErrorCode, Feed, Filter, Identity, Message,
    NameLists, Projection, PublishConfig, PublishServer, PublishStats, ResumingSubscriber, Start, Subscribe,
    Subscription, Trust, TxFilter,
};

const BLOCKS: usize = 30;
const PER_BLOCK: usize = 100;

/// Source logs executed once per test binary.
fn source() -> &'static ExecutedLogs {
    static SRC: std::sync::OnceLock<(tempfile::TempDir, ExecutedLogs)> = std::sync::OnceLock::new();
    // Exec runs its own runtime: generate on a plain thread, outside the test's runtime.
    &SRC.get_or_init(|| {
        std::thread::spawn(|| {
            let dir = tempfile::tempdir().unwrap();
            let logs = executed_logs(dir.path(), BLOCKS, PER_BLOCK).unwrap();
            (dir, logs)
        })
        .join()
        .unwrap()
    })
    .1
}

/// A served pair of logs (small segments, so pruning works) and a server over them.
struct Served {
    _dir: tempfile::TempDir,
    chain: Log,
    results: Log,
    feed: Arc<Feed>,
    client: ClientConfig,
    stats: Arc<PublishStats>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Served {
    async fn start(blocks: usize, config: PublishConfig) -> Self {
        Self::start_with(blocks, config, Identity::generate(&[dawn::publish::tls::SERVER_NAME]).unwrap())
            .await
    }

    async fn start_with(blocks: usize, config: PublishConfig, identity: Identity) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let lc = LogConfig {
            sync: SyncPolicy::Never,
            segment_bytes_max: 256 << 10,
            record_bytes_max: 8 << 20,
            batch_bytes_max: 16 << 20,
            ..LogConfig::default()
        };
        let chain = Log::open_path(&dir.path().join("chain"), lc.clone()).unwrap();
        let results = Log::open_path(&dir.path().join("results"), lc).unwrap();
        let feed = Feed::new(chain.clone(), results.clone(), 1, 64 << 20);
        tokio::spawn(feed.clone().follow());
        let server = PublishServer::bind(
            PublishConfig { addr: "127.0.0.1:0".parse().unwrap(), ..config },
            &identity,
            feed.clone(),
        )
        .unwrap();
        let client = ClientConfig::pinned(server.local_addr(), server.fingerprint());
        let stats = server.stats();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.run(async {
            let _ = rx.await;
        }));
        let s = Self { _dir: dir, chain, results, feed, client, stats, stop: Some(tx) };
        s.append(0..blocks).await;
        s
    }

    /// Copies source blocks `range` (offsets) into the served logs and waits until the
    /// feed has seen them.
    async fn append(&self, range: std::ops::Range<usize>) {
        let src = source();
        let last = range.end;
        for off in range {
            self.chain.append(&[src.chain.get(Offset(off as u64)).unwrap().data]).unwrap();
            self.results.append(&[src.results.get(Offset(off as u64)).unwrap().data]).unwrap();
        }
        let mut heads = self.feed.subscribe_heads();
        tokio::time::timeout(Duration::from_secs(10), heads.wait_for(|h| h.applied.0 .0 as usize >= last))
            .await
            .expect("the feed follows the results log")
            .unwrap();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

fn request(start: Start, filter: Filter) -> Subscribe {
    Subscribe {
        version: PROTOCOL_VERSION,
        commitment: Commitment::Applied,
        start,
        filter,
        projection: Projection::Full,
        heartbeat_ms: 100,
    }
}

/// `(block, index)` of every transaction message, checking each block's begin/end framing.
fn transactions(messages: &[Message]) -> Vec<(u32, u32)> {
    messages
        .iter()
        .filter_map(|m| match m {
            Message::Transaction(t) => Some((t.cursor.block_num.0, t.cursor.seq - 1)),
            _ => None,
        })
        .collect()
}

/// Reads until the stream has covered block `until` (a block end or a heartbeat past it).
async fn read_until(sub: &mut Subscription, until: u32) -> Vec<Message> {
    let mut out = Vec::new();
    loop {
        let batch =
            tokio::time::timeout(Duration::from_secs(20), sub.next_batch()).await.expect("progress").unwrap();
        let done = batch.iter().any(|m| match m {
            Message::BlockEnd { cursor, .. } | Message::Heartbeat { cursor, .. } => {
                cursor.block_num.0 >= until
            }
            _ => false,
        });
        out.extend(batch);
        if done {
            return out;
        }
    }
}

fn all_expected(filter: &Filter) -> Vec<(u32, u32)> {
    let src = source();
    expected(&src.chain, &src.results, filter)
        .unwrap()
        .into_iter()
        .filter(|(b, _)| *b as usize <= BLOCKS)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_get_exactly_what_their_filters_select() {
    let served = Served::start(BLOCKS, PublishConfig::default()).await;
    let filters = vec![
        Filter::all(),
        sender_filter(1),
        sender_filter(10),
        Filter(vec![TxFilter {
            contracts: NameLists { include: vec![n("eosio.token")], ..Default::default() },
            actors: NameLists { exclude: vec![account(0), account(2)], ..Default::default() },
            ..Default::default()
        }]),
        Filter(vec![TxFilter { statuses: vec![TransactionStatus::HardFail], ..Default::default() }]),
        Filter(vec![
            TxFilter {
                scopes: NameLists { include: vec![account(5)], ..Default::default() },
                ..Default::default()
            },
            TxFilter {
                write_scopes: NameLists { require: vec![account(6), account(7)], ..Default::default() },
                ..Default::default()
            },
        ]),
    ];
    let mut tasks = Vec::new();
    for f in filters.clone() {
        let client = served.client.clone();
        tasks.push(tokio::spawn(async move {
            let mut sub = Subscription::open(&client, &request(Start::Oldest, f)).await.unwrap();
            read_until(&mut sub, BLOCKS as u32).await
        }));
    }
    for (f, t) in filters.iter().zip(tasks) {
        let got = t.await.unwrap();
        let want = all_expected(f);
        assert_eq!(transactions(&got), want, "filter {f:?}");
        // Every message's cursor is after the previous one: in order, no duplicate.
        let cursors: Vec<Cursor> = got
            .iter()
            .filter(|m| !matches!(m, Message::Irreversible { .. } | Message::Heartbeat { .. }))
            .map(Message::cursor)
            .collect();
        assert!(cursors.windows(2).all(|w| w[0] < w[1]), "cursors strictly increase");
        // A transaction message sits between its block's begin and end.
        let mut open: Option<u32> = None;
        for m in &got {
            match m {
                Message::BlockBegin { cursor, .. } => {
                    assert!(open.is_none());
                    open = Some(cursor.block_num.0);
                }
                Message::Transaction(t) => assert_eq!(open, Some(t.cursor.block_num.0)),
                Message::BlockEnd { cursor, matched, .. } => {
                    assert_eq!(open.take(), Some(cursor.block_num.0));
                    let n = want.iter().filter(|(b, _)| *b == cursor.block_num.0).count();
                    assert_eq!(*matched as usize, n);
                }
                _ => {}
            }
        }
    }
    // The unfiltered stream carries the full transactions and traces of real executions.
    let mut sub =
        Subscription::open(&served.client, &request(Start::Block(BlockNum(3)), Filter::all())).await.unwrap();
    let got = read_until(&mut sub, 3).await;
    let Some(Message::Transaction(t)) = got.iter().find(|m| matches!(m, Message::Transaction(_))) else {
        panic!("no transaction")
    };
    assert!(t.transaction.is_some() && !t.traces.is_empty());
    assert_eq!(t.receipt.status, TransactionStatus::Executed);
    assert_eq!(t.cursor.block_num, BlockNum(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_switches_to_live_and_resumes_across_drops_without_gap_or_duplicate() {
    let served = Served::start(10, PublishConfig::default()).await;
    let filter = sender_filter(10);
    let mut sub = ResumingSubscriber::new(served.client.clone(), request(Start::Oldest, filter.clone()));
    let mut got = Vec::new();
    let appender = {
        let chain = served.chain.clone();
        let results = served.results.clone();
        tokio::spawn(async move {
            let src = source();
            for off in 10..BLOCKS {
                tokio::time::sleep(Duration::from_millis(20)).await;
                chain.append(&[src.chain.get(Offset(off as u64)).unwrap().data]).unwrap();
                results.append(&[src.results.get(Offset(off as u64)).unwrap().data]).unwrap();
            }
        })
    };
    let mut batches = 0;
    loop {
        let batch =
            tokio::time::timeout(Duration::from_secs(20), sub.next()).await.expect("progress").unwrap();
        batches += 1;
        let done = batch
            .iter()
            .any(|m| matches!(m, Message::BlockEnd { cursor, .. } if cursor.block_num.0 as usize >= BLOCKS));
        got.extend(batch);
        if done {
            break;
        }
        // Drop the connection every few frames: the subscriber resumes by itself.
        if batches % 3 == 0 {
            sub.disconnect();
        }
    }
    appender.await.unwrap();
    assert!(sub.reconnects >= 2, "the test dropped connections ({} batches)", batches);
    assert_eq!(transactions(&got), all_expected(&filter));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_on_a_dropped_fork_is_undone_and_an_unknown_one_refused() {
    let served = Served::start(BLOCKS, PublishConfig::default()).await;
    let id = |num: u32| {
        let src = source();
        let r: dawn::chain::results::BlockResults =
            dawn::chain::codec::decode(&src.results.get(Offset(u64::from(num) - 1)).unwrap().data, u64::MAX)
                .unwrap();
        r.block_id
    };
    let forged = BlockId(dawn::chain::Checksum256([7; 32]));
    // The client saw block 12 on another fork, and blocks 10 and 11 as this node has them.
    let start = Start::After {
        cursor: Cursor::result(BlockNum(12), 4),
        locator: vec![(BlockNum(12), forged), (BlockNum(11), id(11)), (BlockNum(10), id(10))],
    };
    let mut sub = Subscription::open(&served.client, &request(start, Filter::all())).await.unwrap();
    let got = read_until(&mut sub, 12).await;
    match &got[0] {
        Message::Undo { block_num, block_id, cursor } => {
            assert_eq!((*block_num, *block_id, *cursor), (BlockNum(11), id(11), Cursor::end(BlockNum(11))));
        }
        m => panic!("expected an undo first, got {m:?}"),
    }
    assert!(matches!(&got[1], Message::BlockBegin { cursor, .. } if cursor.block_num == BlockNum(12)));
    let txs = transactions(&got);
    assert_eq!(txs.first(), Some(&(12, 0)), "block 12 is sent again from its start");

    // Resuming inside a block on this chain continues right after the cursor.
    let start =
        Start::After { cursor: Cursor::result(BlockNum(12), 4), locator: vec![(BlockNum(12), id(12))] };
    let mut sub = Subscription::open(&served.client, &request(start, Filter::all())).await.unwrap();
    let got = read_until(&mut sub, 12).await;
    assert_eq!(transactions(&got).first(), Some(&(12, 5)));
    assert!(!got
        .iter()
        .any(|m| matches!(m, Message::BlockBegin { cursor, .. } if cursor.block_num == BlockNum(12))));

    let start = Start::After { cursor: Cursor::end(BlockNum(12)), locator: vec![(BlockNum(12), forged)] };
    match Subscription::open(&served.client, &request(start, Filter::all())).await {
        Err(ClientError::Rejected { code: ErrorCode::UnknownFork, .. }) => {}
        other => panic!("expected unknown_fork, got {:?}", other.err()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruned_cursors_and_absurd_requests_get_clear_refusals() {
    let served = Served::start(BLOCKS, PublishConfig::default()).await;
    served.chain.roll().unwrap();
    served.results.roll().unwrap();
    served.chain.prune_below(Offset(15)).unwrap();
    served.results.prune_below(Offset(15)).unwrap();
    let oldest = dawn::publish::BlockSource::oldest(&*served.feed);
    assert!(oldest > BlockNum(1), "pruning removed a segment");
    match Subscription::open(&served.client, &request(Start::Block(BlockNum(1)), Filter::all())).await {
        Err(ClientError::Rejected { code: ErrorCode::Pruned, oldest: Some(o), message }) => {
            assert_eq!(o, oldest);
            assert!(message.contains("oldest"), "{message}");
        }
        other => panic!("expected pruned, got {:?}", other.err()),
    }
    // Oldest starts at the oldest block kept.
    let mut sub = Subscription::open(&served.client, &request(Start::Oldest, Filter::all())).await.unwrap();
    let got = read_until(&mut sub, oldest.0).await;
    assert!(matches!(&got[0], Message::BlockBegin { cursor, .. } if cursor.block_num == oldest));

    let contradictory = Filter(vec![TxFilter {
        actors: NameLists { require: vec![n("alice")], exclude: vec![n("alice")], ..Default::default() },
        ..Default::default()
    }]);
    match Subscription::open(&served.client, &request(Start::Head, contradictory)).await {
        Err(ClientError::Rejected { code: ErrorCode::BadFilter, .. }) => {}
        other => panic!("expected bad_filter, got {:?}", other.err()),
    }
    match Subscription::open(&served.client, &request(Start::Block(BlockNum(10_000)), Filter::all())).await {
        Err(ClientError::Rejected { code: ErrorCode::FutureCursor, .. }) => {}
        other => panic!("expected future_cursor, got {:?}", other.err()),
    }
    let mut unknown = request(Start::Head, Filter::all());
    unknown.version = 9;
    match Subscription::open(&served.client, &unknown).await {
        Err(ClientError::Rejected { code: ErrorCode::UnsupportedVersion, message, .. }) => {
            assert!(message.contains('9'), "{message}")
        }
        other => panic!("expected unsupported_version, got {:?}", other.err()),
    }
}

/// A raw connection for sending bytes no client would.
async fn raw_connection(client: &ClientConfig) -> (quinn::Endpoint, quinn::Connection) {
    let tls = dawn::publish::tls::client_config(&client.trust, None).unwrap();
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
    let mut ep = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    ep.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
    let conn = ep.connect(client.server, &client.server_name).unwrap().await.unwrap();
    (ep, conn)
}

async fn read_reply(recv: &mut quinn::RecvStream) -> protocol::Reply {
    let body = dawn::publish::wire::read_frame(recv, FrameKind::Reply).await.unwrap().expect("a reply");
    protocol::decode_reply(&body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_and_silent_clients_are_answered_and_cleaned_up() {
    let config = PublishConfig { subscribe_timeout: Duration::from_millis(300), ..PublishConfig::default() };
    let served = Served::start(3, config).await;
    let (_ep, conn) = raw_connection(&served.client).await;
    let cases: Vec<(Vec<u8>, ErrorCode)> = vec![
        // An unknown frame kind.
        (vec![0, 0, 0, 0, 9], ErrorCode::Malformed),
        // A Subscribe frame claiming 1 MiB.
        (vec![0, 0, 16, 0, 1], ErrorCode::Malformed),
        // A Subscribe frame of garbage after a valid version.
        (protocol::frame(FrameKind::Subscribe, &[1, 0, 0xff, 0xff, 0xff]).to_vec(), ErrorCode::Malformed),
        // A frame of the wrong kind.
        (protocol::frame(FrameKind::Reply, &[0; 4]).to_vec(), ErrorCode::Malformed),
    ];
    for (bytes, code) in cases {
        let (mut send, mut recv) = conn.open_bi().await.unwrap();
        send.write_all(&bytes).await.unwrap();
        match read_reply(&mut recv).await {
            protocol::Reply::Rejected { code: got, message, .. } => {
                assert_eq!(got, code, "{bytes:?}: {message}");
                assert!(!message.is_empty());
            }
            r => panic!("{bytes:?} accepted: {r:?}"),
        }
    }
    // A control stream that never sends a Subscribe times out with a reply.
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    send.write_all(&[]).await.unwrap();
    let _ = send.write_all(&[0, 0]).await; // half a header, then silence
    match tokio::time::timeout(Duration::from_secs(5), read_reply(&mut recv)).await.expect("answered") {
        protocol::Reply::Rejected { code: ErrorCode::Stalled, .. } => {}
        r => panic!("expected stalled, got {r:?}"),
    }
    // Nothing is left behind: no subscription counted.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(served.stats.subscriptions.load(std::sync::atomic::Ordering::Relaxed), 0);
    // The server still serves others.
    let mut sub = Subscription::open(&served.client, &request(Start::Oldest, Filter::all())).await.unwrap();
    assert!(!transactions(&read_until(&mut sub, 3).await).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_subscriber_neither_slows_others_nor_grows_memory() {
    let config = PublishConfig {
        stall_timeout: Duration::from_millis(1500),
        send_window_bytes: 256 << 10,
        ..PublishConfig::default()
    };
    let served = Served::start(BLOCKS, config).await;
    // Subscribes to everything from the start and never reads.
    let mut stalled_cfg = served.client.clone();
    stalled_cfg.receive_window_bytes = 64 << 10;
    let stalled = Subscription::open(&stalled_cfg, &request(Start::Oldest, Filter::all())).await.unwrap();
    // Others read everything meanwhile, in full.
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let client = served.client.clone();
        tasks.push(tokio::spawn(async move {
            let mut sub = Subscription::open(&client, &request(Start::Oldest, Filter::all())).await.unwrap();
            read_until(&mut sub, BLOCKS as u32).await
        }));
    }
    let want = all_expected(&Filter::all());
    for t in tasks {
        let got =
            tokio::time::timeout(Duration::from_secs(30), t).await.expect("others are not slowed").unwrap();
        assert_eq!(transactions(&got), want);
    }
    // The server holds no more than its shared cache for it, and resets it once stalled.
    assert!(served.feed.cache_bytes() <= PublishConfig::default().cache_bytes_max);
    tokio::time::timeout(Duration::from_secs(10), async {
        while served.stats.stalled.load(std::sync::atomic::Ordering::Relaxed) == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the stalled stream is reset");
    drop(stalled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn irreversible_streams_announce_finality_and_headers_skip_transactions() {
    let served = Served::start(5, PublishConfig::default()).await;
    let mut req = request(Start::Oldest, Filter::all());
    req.commitment = Commitment::Irreversible;
    req.projection = Projection::Headers;
    let mut sub = Subscription::open(&served.client, &req).await.unwrap();
    let got = read_until(&mut sub, 5).await;
    assert!(transactions(&got).is_empty());
    let ends: Vec<u32> = got
        .iter()
        .filter_map(|m| match m {
            Message::BlockEnd { cursor, .. } => Some(cursor.block_num.0),
            _ => None,
        })
        .collect();
    assert_eq!(ends, vec![1, 2, 3, 4, 5]);
    assert!(got.iter().any(|m| matches!(m, Message::Irreversible { block_num, .. } if block_num.0 == 5)));
    // Idle streams send heartbeats carrying the scan position.
    let hb = read_until(&mut sub, 5).await;
    assert!(hb
        .iter()
        .any(|m| matches!(m, Message::Heartbeat { cursor, .. } if *cursor == Cursor::end(BlockNum(5)))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ca_trust_and_known_client_certificates() {
    // A CA, and a certificate for `localhost` it issued to the server.
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server_cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&server_key, &ca, &ca_key)
        .unwrap();
    let pem = tempfile::tempdir().unwrap();
    let path = |f: &str| pem.path().join(f);
    std::fs::write(path("ca.pem"), ca.pem()).unwrap();
    std::fs::write(path("server.pem"), server_cert.pem()).unwrap();
    std::fs::write(path("server.key"), server_key.serialize_pem()).unwrap();
    let server_id = Identity::from_pem_files(&path("server.pem"), &path("server.key")).unwrap();
    let known = Identity::generate(&["subscriber"]).unwrap();
    let stranger = Identity::generate(&["stranger"]).unwrap();
    let config =
        PublishConfig { clients: ClientAuth::Known(vec![known.fingerprint()]), ..PublishConfig::default() };
    let served = Served::start_with(3, config, server_id.clone()).await;
    let via_ca = |identity: Option<Identity>, name: &str| ClientConfig {
        server: served.client.server,
        server_name: name.into(),
        trust: Trust::CaFile(path("ca.pem")),
        identity,
        receive_window_bytes: dawn::publish::client::RECEIVE_WINDOW_BYTES,
    };
    let req = request(Start::Oldest, Filter::all());
    // A known client trusting the CA subscribes.
    let mut sub = Subscription::open(&via_ca(Some(known.clone()), "localhost"), &req).await.unwrap();
    assert!(!transactions(&read_until(&mut sub, 3).await).is_empty());
    // A stranger's certificate, or none, is refused; so is a name the certificate lacks.
    assert!(Subscription::open(&via_ca(Some(stranger), "localhost"), &req).await.is_err());
    assert!(Subscription::open(&via_ca(None, "localhost"), &req).await.is_err());
    assert!(Subscription::open(&via_ca(Some(known.clone()), "elsewhere"), &req).await.is_err());
    // Pinning: the right fingerprint works, another is refused.
    let mut pinned = ClientConfig::pinned(served.client.server, server_id.fingerprint());
    pinned.identity = Some(known.clone());
    assert!(Subscription::open(&pinned, &req).await.is_ok());
    pinned.trust = Trust::Pinned(known.fingerprint());
    match Subscription::open(&pinned, &req).await {
        Err(ClientError::Connection { detail, .. }) => assert!(detail.contains("fingerprint"), "{detail}"),
        other => panic!("expected a refused handshake, got {:?}", other.err()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_dropped_before_its_first_message_resumes_where_it_started() {
    let served = Served::start(5, PublishConfig::default()).await;
    let filter = sender_filter(10);
    let mut sub = ResumingSubscriber::new(served.client.clone(), request(Start::Head, filter.clone()));
    // The first call connects at the head (block 5) and waits; drop it with nothing read.
    let first = tokio::time::timeout(Duration::from_millis(300), sub.next()).await;
    assert!(first.is_err() || first.unwrap().unwrap().iter().all(|m| !matches!(m, Message::Transaction(_))));
    sub.disconnect();
    served.append(5..12).await;
    let mut got = Vec::new();
    while !got.iter().any(|m| matches!(m, Message::BlockEnd { cursor, .. } if cursor.block_num.0 == 12)) {
        got.extend(
            tokio::time::timeout(Duration::from_secs(20), sub.next()).await.expect("progress").unwrap(),
        );
    }
    let want: Vec<(u32, u32)> =
        all_expected(&filter).into_iter().filter(|(b, _)| (6..=12).contains(b)).collect();
    assert_eq!(transactions(&got), want, "blocks appended while disconnected are not skipped");
}
