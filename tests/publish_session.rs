//! The subscription state machine without sockets: random filters, projections and resume
//! points over real executed blocks, checked against a brute-force evaluation. Every
//! matching transaction arrives exactly once, in order, however often the stream is cut
//! and resumed from the last cursor the client saw.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use dawn::chain::{BlockId, BlockNum, Name, TransactionStatus};
use dawn::exec::workload::account;
use dawn::log::Offset;
use dawn::node::publish_bench::{executed_logs, expected, ExecutedLogs};
use dawn::publish::feed::{BlockSource, FeedBlock, Heads, SourceError};
use dawn::publish::protocol::{decode_messages, parse_header, FrameKind, Reply, PROTOCOL_VERSION};
use dawn::publish::session::{Poll, Session};
use dawn::publish::{Commitment, Cursor, Filter, Message, NameLists, Projection, Start, Subscribe, TxFilter};
use proptest::prelude::*;

const BLOCKS: usize = 12;

struct Model {
    _dir: tempfile::TempDir,
    logs: ExecutedLogs,
    blocks: Vec<Arc<FeedBlock>>,
}

fn model() -> &'static Model {
    static M: OnceLock<Model> = OnceLock::new();
    M.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let logs = executed_logs(dir.path(), BLOCKS, 100).unwrap();
        let blocks = (0..BLOCKS as u64)
            .map(|off| {
                Arc::new(
                    FeedBlock::decode(
                        BlockNum(off as u32 + 1),
                        &logs.chain.get(Offset(off)).unwrap().data,
                        &logs.results.get(Offset(off)).unwrap().data,
                    )
                    .unwrap(),
                )
            })
            .collect();
        Model { _dir: dir, logs, blocks }
    })
}

/// The first `visible` blocks of the model, all irreversible.
struct MemSource {
    visible: usize,
    /// Blocks below this one are pruned.
    oldest: u32,
}

impl BlockSource for MemSource {
    fn heads(&self) -> Heads {
        let m = model();
        let head = match self.visible {
            0 => (BlockNum(0), BlockId::default()),
            v => (BlockNum(v as u32), m.blocks[v - 1].id),
        };
        Heads { applied: head, irreversible: head, closed: false }
    }
    fn oldest(&self) -> BlockNum {
        BlockNum(self.oldest)
    }
    fn block_id(&self, num: BlockNum) -> Result<BlockId, SourceError> {
        self.block(num).map(|b| b.id)
    }
    fn block(&self, num: BlockNum) -> Result<Arc<FeedBlock>, SourceError> {
        if num.0 == 0 || num.0 as usize > self.visible {
            return Err(SourceError::Missing(num));
        }
        if num.0 < self.oldest {
            return Err(SourceError::Pruned { num, oldest: BlockNum(self.oldest) });
        }
        Ok(model().blocks[num.0 as usize - 1].clone())
    }
}

fn filter_strategy() -> impl Strategy<Value = Filter> {
    let names = prop::collection::vec((0usize..12).prop_map(account), 0..3);
    let lists = (names.clone(), names.clone(), names).prop_map(|(include, require, exclude)| NameLists {
        include,
        require,
        exclude,
    });
    let one = (
        lists.clone(),
        lists,
        prop::collection::vec(
            prop::sample::select(vec![TransactionStatus::Executed, TransactionStatus::HardFail]),
            0..2,
        ),
    )
        .prop_map(|(actors, scopes, statuses)| TxFilter {
            actors,
            scopes,
            statuses,
            ..Default::default()
        });
    prop::collection::vec(one, 0..3).prop_map(Filter)
}

/// Decodes a batch the way a client reads it off the wire.
fn wire(batch: dawn::publish::session::Batch) -> Vec<Message> {
    let (count, body_bytes) = (batch.len(), batch.body_bytes());
    let frame = batch.into_frame();
    let (kind, len) = parse_header(frame[..5].try_into().unwrap()).unwrap();
    assert_eq!((kind, len as usize), (FrameKind::Messages, frame.len() - 5));
    let messages = decode_messages(&frame[5..]).unwrap();
    assert_eq!((messages.len(), len as usize), (count as usize, body_bytes + 4));
    messages
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_match_once_in_order_across_resumes(
        filter in filter_strategy(),
        full in any::<bool>(),
        cuts in prop::collection::vec((1usize..6, 0usize..1000), 0..6),
        grow in prop::collection::vec(1usize..4, 1..6),
    ) {
        let m = model();
        let mut norm = filter.clone();
        if norm.normalize().is_err() {
            // Contradictory filters are refused at subscribe.
            let req = Subscribe { version: PROTOCOL_VERSION, commitment: Commitment::Applied, start: Start::Oldest, filter, projection: Projection::Full, heartbeat_ms: 0 };
            let refused = matches!(Session::start(req, &MemSource { visible: BLOCKS, oldest: 1 }, 1, Instant::now()), Err(Reply::Rejected { .. }));
            prop_assert!(refused, "a contradictory filter is refused");
            return Ok(());
        }
        let want: Vec<(u32, u32)> = expected(&m.logs.chain, &m.logs.results, &norm).unwrap();
        let projection = if full { Projection::Full } else { Projection::Receipts };
        let mut visible = 0usize;
        let mut grow = grow.into_iter().cycle();
        let mut cuts = cuts.into_iter();
        let mut next_cut = cuts.next();
        let mut got = Vec::new();
        let mut last: Option<(Cursor, Vec<(BlockNum, BlockId)>)> = None;
        let mut now = Instant::now();
        let mut polls = 0;
        'outer: loop {
            let start = match &last {
                Some((c, loc)) if !loc.is_empty() => Start::After { cursor: *c, locator: loc.clone() },
                Some((c, _)) => Start::Block(BlockNum(c.block_num.0 + 1)),
                None => Start::Oldest,
            };
            let req = Subscribe { version: PROTOCOL_VERSION, commitment: Commitment::Applied, start, filter: filter.clone(), projection, heartbeat_ms: 100 };
            let src = MemSource { visible, oldest: 1 };
            let (mut s, reply) = Session::start(req, &src, 1, now).unwrap();
            let accepted = matches!(reply, Reply::Accepted { .. });
            prop_assert!(accepted, "accepted");
            let mut frames = 0;
            loop {
                polls += 1;
                prop_assert!(polls < 10_000, "the stream makes progress");
                let src = MemSource { visible, oldest: 1 };
                match s.poll(&src, now) {
                    Poll::Send(batch) => {
                        frames += 1;
                        let messages = wire(batch);
                        // A cut drops the connection after the client processed only part
                        // of this frame (possibly in the middle of a block).
                        let cut_here = next_cut.is_some_and(|(f, _)| f == frames);
                        let keep = match next_cut {
                            Some((_, k)) if cut_here => k % (messages.len() + 1),
                            _ => messages.len(),
                        };
                        for msg in messages.into_iter().take(keep) {
                            match &msg {
                                Message::Transaction(t) => {
                                    got.push((t.cursor.block_num.0, t.cursor.seq - 1));
                                    prop_assert_eq!(t.transaction.is_some(), full);
                                }
                                Message::BlockEnd { cursor, matched, .. } => {
                                    // Counts every transaction of the block sent to this
                                    // subscriber, also across a resume inside the block.
                                    let n = want.iter().filter(|(b, _)| *b == cursor.block_num.0).count();
                                    prop_assert_eq!(*matched as usize, n);
                                }
                                Message::Undo { .. } | Message::Error { .. } => prop_assert!(false, "unexpected {:?}", msg),
                                _ => {}
                            }
                            // The client's resume state: the last cursor and the blocks seen.
                            let (c, loc) = last.get_or_insert((Cursor::default(), Vec::new()));
                            if !matches!(msg, Message::Irreversible { .. }) {
                                *c = msg.cursor();
                            }
                            if let Message::BlockBegin { cursor, block_id, .. } | Message::BlockEnd { cursor, block_id, .. } | Message::Heartbeat { cursor, block_id, .. } = &msg {
                                if cursor.block_num.0 > 0 && loc.first().map(|l| l.0) != Some(cursor.block_num) {
                                    loc.insert(0, (cursor.block_num, *block_id));
                                }
                            }
                        }
                        if cut_here {
                            next_cut = cuts.next();
                            continue 'outer;
                        }
                    }
                    Poll::Wait { until } => {
                        if visible == BLOCKS {
                            if last.as_ref().is_some_and(|(c, _)| c.block_num.0 as usize >= BLOCKS) {
                                break 'outer;
                            }
                            now = until.max(now + Duration::from_millis(1));
                        } else {
                            visible = (visible + grow.next().unwrap()).min(BLOCKS);
                        }
                    }
                    Poll::End(_) => prop_assert!(false, "the stream ended"),
                }
            }
        }
        prop_assert_eq!(got, want);
    }
}

#[test]
fn names_in_the_model_are_real_accounts() {
    // The filters above draw from the accounts the workload uses.
    let m = model();
    let senders: Vec<Name> = m.blocks[0].facts.iter().flat_map(|f| f.actors.to_vec()).collect();
    assert!(senders.contains(&account(0)));
}

#[test]
fn a_subscriber_overtaken_by_pruning_is_told_and_ended() {
    let req = Subscribe {
        version: PROTOCOL_VERSION,
        commitment: Commitment::Applied,
        start: Start::Oldest,
        filter: Filter::all(),
        projection: Projection::Headers,
        heartbeat_ms: 0,
    };
    let now = Instant::now();
    let (mut s, _) = Session::start(req, &MemSource { visible: 2, oldest: 1 }, 1, now).unwrap();
    assert!(matches!(s.poll(&MemSource { visible: 2, oldest: 1 }, now), Poll::Send(_)));
    // Retention pruned blocks 3 and 4 before this subscriber read them.
    match s.poll(&MemSource { visible: BLOCKS, oldest: 5 }, now) {
        Poll::End(batch) => match wire(batch).last() {
            Some(Message::Error { code, oldest, message, cursor }) => {
                assert_eq!((*code, *oldest), (dawn::publish::ErrorCode::FellBehind, Some(BlockNum(5))));
                assert_eq!(*cursor, Cursor::end(BlockNum(2)));
                assert!(message.contains("fell behind"), "{message}");
            }
            other => panic!("expected an error, got {other:?}"),
        },
        other => panic!("expected the end, got {other:?}"),
    }
}

#[test]
fn heartbeats_keep_coming_while_blocks_arrive_without_matches() {
    // Blocks arrive every 30 ms, none matches, heartbeats are due every 100 ms: the
    // finality announcements that follow each block must not hold them back.
    let filter = Filter(vec![TxFilter { statuses: vec![TransactionStatus::Expired], ..Default::default() }]);
    let req = Subscribe {
        version: PROTOCOL_VERSION,
        commitment: Commitment::Applied,
        start: Start::Oldest,
        filter,
        projection: Projection::Full,
        heartbeat_ms: 100,
    };
    let t0 = Instant::now();
    let (mut s, _) = Session::start(req, &MemSource { visible: 0, oldest: 1 }, 1, t0).unwrap();
    let mut heartbeats = Vec::new();
    for step in 1..=BLOCKS {
        let now = t0 + Duration::from_millis(30 * step as u64);
        let src = MemSource { visible: step, oldest: 1 };
        if let Poll::Send(batch) = s.poll(&src, now) {
            for m in wire(batch) {
                if let Message::Heartbeat { cursor, .. } = m {
                    heartbeats.push(cursor);
                }
            }
        }
    }
    assert!(heartbeats.len() >= 2, "{heartbeats:?}");
    assert!(heartbeats.last().unwrap().block_num.0 as usize >= BLOCKS - 4, "{heartbeats:?}");
}

#[test]
fn records_that_do_not_decode_or_disagree_are_refused_by_name() {
    let m = model();
    let chain = |off: u64| m.logs.chain.get(Offset(off)).unwrap().data;
    let results = |off: u64| m.logs.results.get(Offset(off)).unwrap().data;
    let corrupt = |r: Result<FeedBlock, SourceError>| match r {
        Err(SourceError::Corrupt { num, detail }) => (num, detail),
        other => panic!("expected a corrupt block, got {:?}", other.map(|b| b.num())),
    };
    // Truncated and garbage records.
    let (num, _) = corrupt(FeedBlock::decode(BlockNum(1), &chain(0)[..10], &results(0)));
    assert_eq!(num, BlockNum(1));
    corrupt(FeedBlock::decode(BlockNum(1), &chain(0), &[0xff; 40]));
    // A results record of another block, and a chain record at the wrong position.
    let (_, detail) = corrupt(FeedBlock::decode(BlockNum(1), &chain(0), &results(1)));
    assert!(detail.contains("results log block 2"), "{detail}");
    corrupt(FeedBlock::decode(BlockNum(2), &chain(0), &results(0)));
    // A results record naming a transaction the block does not have.
    let mut lying: dawn::chain::results::BlockResults =
        dawn::chain::codec::decode(&results(0), u64::MAX).unwrap();
    lying.transactions[0].origin = dawn::chain::results::Origin::Block(9_999);
    let (_, detail) = corrupt(FeedBlock::decode(BlockNum(1), &chain(0), &dawn::chain::codec::encode(&lying)));
    assert!(detail.contains("past the block's end"), "{detail}");
    // Two results naming one transaction.
    let mut twice: dawn::chain::results::BlockResults =
        dawn::chain::codec::decode(&results(0), u64::MAX).unwrap();
    let first = twice
        .transactions
        .iter()
        .find(|r| matches!(r.origin, dawn::chain::results::Origin::Block(_)))
        .cloned();
    twice.transactions.push(first.expect("block 1 has a transaction"));
    let (_, detail) = corrupt(FeedBlock::decode(BlockNum(1), &chain(0), &dawn::chain::codec::encode(&twice)));
    assert!(detail.contains("two results name transaction"), "{detail}");
    // The real pair decodes.
    assert_eq!(FeedBlock::decode(BlockNum(1), &chain(0), &results(0)).unwrap().num(), BlockNum(1));
}

#[test]
fn a_cached_block_counts_what_it_holds() {
    let m = model();
    let chain = m.logs.chain.get(Offset(0)).unwrap().data;
    let results = m.logs.results.get(Offset(0)).unwrap().data;
    let b = FeedBlock::decode(BlockNum(1), &chain, &results).unwrap();
    let (txs, rs) = (b.block.transactions.len(), b.results.transactions.len());
    assert!(txs > 0 && rs > 0);
    // At least every transaction and result as held inline, plus both records.
    let inline = txs * std::mem::size_of::<dawn::chain::SignedTransaction>()
        + rs * std::mem::size_of::<dawn::chain::results::TxResult>();
    assert!(b.bytes >= inline + chain.len() + results.len(), "{} < {}", b.bytes, inline);
    // And not wildly more: the message slots and the facts are small beside them.
    assert!(b.bytes <= 2 * (inline + chain.len() + results.len()), "{}", b.bytes);
}

#[test]
fn a_resume_beyond_this_node_is_refused_and_one_past_a_blocks_results_goes_on() {
    let m = model();
    let req = |cursor: Cursor, locator: Vec<(BlockNum, BlockId)>| Subscribe {
        version: PROTOCOL_VERSION,
        commitment: Commitment::Applied,
        start: Start::After { cursor, locator },
        filter: Filter::all(),
        projection: Projection::Headers,
        heartbeat_ms: 0,
    };
    let now = Instant::now();
    let src = MemSource { visible: 3, oldest: 1 };
    // The client saw block 5 (from a node further ahead); this one has 3.
    let ahead = req(Cursor { block_num: BlockNum(5), seq: 1 }, vec![(BlockNum(5), m.blocks[4].id)]);
    match Session::start(ahead, &src, 1, now) {
        Err(Reply::Rejected { code, .. }) => assert_eq!(code, dawn::publish::ErrorCode::FutureCursor),
        Err(other) => panic!("expected a refusal, got {other:?}"),
        Ok(_) => panic!("a cursor past this node's head was accepted"),
    }
    // A cursor past the last result of block 2 (a lying or confused client): nothing more of
    // block 2 is sent, its end and block 3 follow.
    let past = req(Cursor { block_num: BlockNum(2), seq: 1_000_000 }, vec![(BlockNum(2), m.blocks[1].id)]);
    let Ok((mut s, _)) = Session::start(past, &src, 1, now) else { panic!("refused") };
    let Poll::Send(batch) = s.poll(&src, now) else { panic!("nothing to send") };
    let msgs = wire(batch);
    assert!(msgs.iter().all(|x| !matches!(x, Message::Transaction(_))), "headers projection");
    let first = msgs.iter().find(|x| matches!(x, Message::BlockBegin { .. } | Message::BlockEnd { .. }));
    match first {
        Some(Message::BlockEnd { cursor, matched, .. }) => {
            assert_eq!(*cursor, Cursor::end(BlockNum(2)));
            assert_eq!(*matched as usize, m.blocks[1].facts.len(), "everything of block 2 counts as sent");
        }
        other => panic!("expected block 2's end first, got {other:?} in {msgs:?}"),
    }
    assert!(msgs
        .iter()
        .any(|x| matches!(x, Message::BlockBegin { cursor, .. } if cursor.block_num == BlockNum(3))));
}
