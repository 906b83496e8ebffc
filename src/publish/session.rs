//! One subscription as a plain state machine: no sockets, no clock (time is passed in).
//!
//! [`Session::start`] checks a `Subscribe` against a [`BlockSource`] and finds where the
//! stream begins (rewinding with `Undo` when the client's locator leaves this node's
//! chain). [`Session::poll`] then returns the next batch of encoded messages to send, or
//! says when to call again. The driver (server.rs) writes the batches to a QUIC stream and
//! only calls `poll` again once the previous batch is written, so a slow subscriber holds
//! its position and reads from the logs later: nothing is buffered for it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::chain::{BlockId, BlockNum};

use super::feed::{BlockSource, FeedBlock, Heads, SourceError};
use super::filter::Filter;
use super::protocol::{
    put_messages_prefix, Commitment, Cursor, ErrorCode, Message, Projection, Reply, Start, Subscribe,
    DATA_FRAME_BYTES_MAX, FRAME_MESSAGES_MAX, LOCATOR_MAX, MESSAGES_PREFIX_BYTES,
};

/// Most blocks scanned in one poll, so a selective filter over a long history still
/// yields (for heartbeats and fairness).
pub const POLL_BLOCKS_MAX: u32 = 256;
/// Shortest heartbeat interval a client may ask for.
pub const HEARTBEAT_MIN: Duration = Duration::from_millis(100);
/// Longest heartbeat interval.
pub const HEARTBEAT_MAX: Duration = Duration::from_secs(60);

/// What to do next.
#[derive(Debug)]
pub enum Poll {
    /// Send these encoded messages as one frame, then poll again.
    Send(Batch),
    /// Nothing to send until the heads change or `until` passes.
    Wait {
        /// When a heartbeat falls due.
        until: Instant,
    },
    /// Send this error and end the stream.
    End(Batch),
}

/// One `Messages` frame, built in place: each message is copied in behind a header that
/// [`Batch::into_frame`] fills at the end. The frame goes to the QUIC stream as one buffer:
/// quinn's send buffer finds a packet's bytes by walking its unacknowledged chunks from the
/// oldest, so a chunk per message made every packet's lookup grow with the backlog.
#[derive(Debug, Default)]
pub struct Batch {
    /// Header, count and messages once the first message is in (empty until then, so a
    /// poll that sends nothing allocates nothing); the first [`MESSAGES_PREFIX_BYTES`] are
    /// blank until `into_frame`.
    frame: Vec<u8>,
    /// Messages in it.
    count: u32,
    /// Transactions among them.
    pub transactions: u32,
    /// Does it hold stream messages (not only an `Irreversible`)?
    pub moved: bool,
}

/// A batch's first allocation, for its header and first messages.
const BATCH_CAPACITY_START: usize = 4 << 10;
/// The most a batch's capacity grows to by doubling: a whole frame. (`full` is asked before
/// each message, so the last one may pass it; it then gets exactly the room it needs, not
/// a doubled allocation.)
const BATCH_CAPACITY_MAX: usize = MESSAGES_PREFIX_BYTES + DATA_FRAME_BYTES_MAX as usize;

impl Batch {
    fn push(&mut self, m: impl AsRef<[u8]>) {
        let m = m.as_ref();
        if self.frame.is_empty() {
            self.frame.reserve_exact(BATCH_CAPACITY_START.max(MESSAGES_PREFIX_BYTES + m.len()));
            self.frame.resize(MESSAGES_PREFIX_BYTES, 0);
        }
        let need = self.frame.len() + m.len();
        if need > self.frame.capacity() {
            let grown = (self.frame.capacity() * 2).min(BATCH_CAPACITY_MAX).max(need);
            self.frame.reserve_exact(grown - self.frame.len());
        }
        self.moved = true;
        self.count += 1;
        self.frame.extend_from_slice(m);
    }

    /// Messages in it.
    pub fn len(&self) -> u32 {
        self.count
    }

    /// The encoded messages' total length.
    pub fn body_bytes(&self) -> usize {
        self.frame.len().saturating_sub(MESSAGES_PREFIX_BYTES)
    }

    /// The whole frame, header and count filled in.
    pub fn into_frame(mut self) -> Bytes {
        if self.frame.is_empty() {
            self.frame.resize(MESSAGES_PREFIX_BYTES, 0);
        }
        let body = self.body_bytes();
        put_messages_prefix(&mut self.frame[..MESSAGES_PREFIX_BYTES], self.count, body);
        Bytes::from(self.frame)
    }

    fn full(&self) -> bool {
        self.body_bytes() >= DATA_FRAME_BYTES_MAX as usize || self.count + 3 >= FRAME_MESSAGES_MAX
    }

    /// No messages yet.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// The block being streamed.
struct InBlock {
    block: Arc<FeedBlock>,
    /// Next result to look at.
    next: usize,
    /// Results sent from it.
    matched: u32,
    /// Was its `BlockBegin` sent?
    begun: bool,
}

/// One subscription's state.
pub struct Session {
    commitment: Commitment,
    projection: Projection,
    filter: Filter,
    all: bool,
    heartbeat: Duration,
    /// The next block to stream (when `current` is `None`).
    next_block: BlockNum,
    current: Option<InBlock>,
    /// The last position sent or scanned, and the id of its block.
    position: Cursor,
    position_id: BlockId,
    /// Messages to send before anything else (an `Undo`).
    pending: Vec<Message>,
    /// The newest irreversible block announced.
    announced_irreversible: BlockNum,
    /// When the last message went out.
    last_sent: Instant,
    /// Resuming inside this block: the first result to look at (its `BlockBegin` was
    /// sent before).
    resume_at: Option<(BlockNum, usize)>,
}

fn reject(code: ErrorCode, message: String, oldest: Option<BlockNum>) -> Reply {
    Reply::Rejected { code, message, oldest }
}

impl Session {
    /// Checks `req` and places the stream; the reply is `Accepted` with the session, or
    /// `Rejected` saying why.
    pub fn start(
        mut req: Subscribe,
        source: &dyn BlockSource,
        subscription: u64,
        now: Instant,
    ) -> Result<(Self, Reply), Reply> {
        req.filter.normalize().map_err(|e| reject(ErrorCode::BadFilter, e, None))?;
        let heads = source.heads();
        let head = target(heads, req.commitment);
        let oldest = source.oldest();
        let mut pending = Vec::new();
        let (next_block, resume) = match req.start {
            Start::Head => (BlockNum(head.0 .0 + 1), None),
            Start::Oldest => (oldest, None),
            Start::Block(n) => {
                let n = BlockNum(n.0.max(1));
                if n < oldest {
                    return Err(reject(
                        ErrorCode::Pruned,
                        format!(
                            "block {n} was pruned; the oldest block kept is {oldest}: start there or later"
                        ),
                        Some(oldest),
                    ));
                }
                if n.0 > heads.applied.0 .0 + 1 && source.block_id(BlockNum(n.0 - 1)).is_err() {
                    return Err(reject(
                        ErrorCode::FutureCursor,
                        format!("block {n} is past the newest block {}", heads.applied.0),
                        None,
                    ));
                }
                (n, None)
            }
            Start::After { cursor, ref locator } => {
                if locator.is_empty() || locator.len() > LOCATOR_MAX || locator[0].0 != cursor.block_num {
                    return Err(reject(
                        ErrorCode::Malformed,
                        format!(
                            "a resume locator holds 1 to {LOCATOR_MAX} blocks, newest first, the first being the cursor's block"
                        ),
                        None,
                    ));
                }
                let mut found = None;
                if let Err(SourceError::Missing(_)) = source.block_id(cursor.block_num) {
                    // This node has not reached the cursor's block: it cannot say whether
                    // the client's chain is its own yet.
                    return Err(reject(
                        ErrorCode::FutureCursor,
                        format!(
                            "cursor {cursor} is past this node's newest block {}; retry later or use another node",
                            heads.applied.0
                        ),
                        None,
                    ));
                }
                for (num, id) in locator {
                    match source.block_id(*num) {
                        Ok(have) if have == *id => {
                            found = Some((*num, *id));
                            break;
                        }
                        Ok(_) | Err(SourceError::Missing(_)) => continue,
                        Err(SourceError::Pruned { .. }) => {
                            return Err(reject(
                                ErrorCode::Pruned,
                                format!("cursor {cursor} is older than the oldest block kept ({oldest}); resync from a snapshot or start at {oldest}"),
                                Some(oldest),
                            ));
                        }
                        Err(e) => return Err(reject(ErrorCode::Internal, e.to_string(), None)),
                    }
                }
                let (num, id) = found.ok_or_else(|| {
                    reject(
                        ErrorCode::UnknownFork,
                        format!(
                            "none of the {} blocks of the locator is on this node's chain",
                            locator.len()
                        ),
                        Some(oldest),
                    )
                })?;
                if num == cursor.block_num {
                    (cursor.block_num, Some((cursor, id)))
                } else {
                    // The client's newer blocks are not on this chain: rewind it.
                    let at = Cursor::end(num);
                    pending.push(Message::Undo { cursor: at, block_num: num, block_id: id });
                    (BlockNum(num.0 + 1), Some((at, id)))
                }
            }
        };
        let (position, position_id) = match resume {
            Some(p) => p,
            None => {
                let before = BlockNum(next_block.0.saturating_sub(1));
                (Cursor::end(before), source.block_id(before).unwrap_or_default())
            }
        };
        let heartbeat = if req.heartbeat_ms == 0 {
            Duration::from_secs(5)
        } else {
            Duration::from_millis(u64::from(req.heartbeat_ms)).clamp(HEARTBEAT_MIN, HEARTBEAT_MAX)
        };
        let all = req.filter.is_all();
        let mut s = Self {
            commitment: req.commitment,
            projection: req.projection,
            filter: req.filter,
            all,
            heartbeat,
            next_block,
            current: None,
            position,
            position_id,
            pending,
            announced_irreversible: BlockNum(0),
            last_sent: now,
            resume_at: None,
        };
        // Resuming inside a block: continue after the cursor's result once it is read.
        if let Some((c, _)) = resume {
            if c.seq == Cursor::END {
                s.next_block = BlockNum(c.block_num.0 + 1);
            } else {
                s.next_block = c.block_num;
                s.resume_at = Some((c.block_num, c.seq as usize));
            }
        }
        let reply = Reply::Accepted { subscription, position: s.position, head: head.0, oldest };
        Ok((s, reply))
    }

    /// The position after everything sent so far.
    pub fn position(&self) -> Cursor {
        self.position
    }

    /// The next batch to send, an error to end with, or when to call again. Call it again
    /// after sending a batch, when the heads change, or at `until`.
    pub fn poll(&mut self, source: &dyn BlockSource, now: Instant) -> Poll {
        let mut batch = Batch::default();
        for m in self.pending.drain(..) {
            batch.push(m.encode());
        }
        let heads = source.heads();
        let (head, _) = target(heads, self.commitment);
        let mut scanned = 0;
        while !batch.full() && scanned < POLL_BLOCKS_MAX {
            if self.current.is_none() {
                if self.next_block > head {
                    break;
                }
                match source.block(self.next_block) {
                    Ok(block) => {
                        let (next, begun) = match self.resume_at.take() {
                            Some((n, next)) if n == self.next_block => (next, true),
                            _ => (0, false),
                        };
                        // Resuming inside the block: what was sent before counts in its end.
                        let next = next.min(block.facts.len());
                        let matched = if self.all {
                            next as u32
                        } else {
                            block.facts.iter().take(next).filter(|f| self.filter.matches(f)).count() as u32
                        };
                        self.current = Some(InBlock { block, next, matched, begun });
                    }
                    Err(SourceError::Missing(_)) => break,
                    // Send what this poll scanned first; the error comes at the next poll.
                    Err(_) if !batch.is_empty() => break,
                    Err(SourceError::Pruned { oldest, .. }) => {
                        return self.end(
                            batch,
                            ErrorCode::FellBehind,
                            format!(
                                "this subscriber fell behind: block {} was pruned before it was read (the oldest kept is {oldest}); read faster, filter more, or start again from a snapshot",
                                self.next_block
                            ),
                            Some(oldest),
                        );
                    }
                    Err(e) => return self.end(batch, ErrorCode::Internal, e.to_string(), None),
                }
            }
            let cur = self.current.as_mut().expect("a current block");
            let num = cur.block.num();
            if !cur.begun && (self.all || self.projection == Projection::Headers) {
                batch.push(cur.block.begin_message());
                cur.begun = true;
                self.position = Cursor::begin(num);
                self.position_id = cur.block.id;
            }
            if self.projection != Projection::Headers {
                let n = cur.block.results.transactions.len();
                while cur.next < n && !batch.full() {
                    let i = cur.next;
                    cur.next += 1;
                    if !self.all && !self.filter.matches(&cur.block.facts.get(i)) {
                        continue;
                    }
                    if !cur.begun {
                        batch.push(cur.block.begin_message());
                        cur.begun = true;
                    }
                    batch.push(cur.block.tx_message(i, self.projection));
                    batch.transactions += 1;
                    cur.matched += 1;
                    self.position = Cursor::result(num, i as u32);
                    self.position_id = cur.block.id;
                }
                if cur.next < n {
                    break; // the batch is full inside this block
                }
            }
            if cur.begun {
                batch.push(cur.block.end_message(cur.matched));
            }
            self.position = Cursor::end(num);
            self.position_id = cur.block.id;
            self.current = None;
            self.next_block = BlockNum(num.0 + 1);
            scanned += 1;
        }
        // Finality up to what this stream has covered.
        let (irr, irr_id) = heads.irreversible;
        // `next_block` is the block in progress or the next one: everything before it is covered.
        let covered = BlockNum(self.next_block.0.saturating_sub(1));
        if irr > self.announced_irreversible && irr <= covered && irr.0 > 0 {
            self.announced_irreversible = irr;
            let moved = batch.moved;
            batch.push(
                Message::Irreversible { cursor: self.position, block_num: irr, block_id: irr_id }.encode(),
            );
            batch.moved = moved;
        }
        if batch.moved {
            self.last_sent = now;
            return Poll::Send(batch);
        }
        if batch.is_empty() && heads.closed && self.next_block > head && self.current.is_none() {
            return self.end(
                batch,
                ErrorCode::ShuttingDown,
                "the node is stopping; reconnect and resume".into(),
                None,
            );
        }
        // Nothing but finality (if anything) to send: a heartbeat when due, so the client's
        // position follows the scan even when no block matches.
        let due = self.last_sent + self.heartbeat;
        if now >= due {
            self.last_sent = now;
            batch.push(
                Message::Heartbeat {
                    cursor: self.position,
                    block_id: self.position_id,
                    head: heads.applied.0,
                    irreversible: heads.irreversible.0,
                }
                .encode(),
            );
        }
        if !batch.is_empty() {
            return Poll::Send(batch);
        }
        if scanned > 0 {
            // More history to scan: come back at once.
            return Poll::Wait { until: now };
        }
        Poll::Wait { until: self.last_sent + self.heartbeat }
    }

    fn end(&mut self, mut batch: Batch, code: ErrorCode, message: String, oldest: Option<BlockNum>) -> Poll {
        batch.push(Message::Error { cursor: self.position, code, message, oldest }.encode());
        Poll::End(batch)
    }
}

/// The newest block streamable at `commitment`.
fn target(heads: Heads, commitment: Commitment) -> (BlockNum, BlockId) {
    match commitment {
        Commitment::Applied => heads.applied,
        Commitment::Irreversible => {
            if heads.irreversible.0 <= heads.applied.0 {
                heads.irreversible
            } else {
                heads.applied
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::protocol::{decode_messages, parse_header, FrameKind, FRAME_HEADER_BYTES};

    #[test]
    fn a_batch_allocates_on_its_first_message_and_grows_to_one_frame_at_most() {
        let empty = Batch::default();
        assert_eq!((empty.frame.capacity(), empty.body_bytes()), (0, 0));
        let frame = empty.into_frame();
        assert_eq!(
            parse_header(frame[..FRAME_HEADER_BYTES].try_into().unwrap()).unwrap(),
            (FrameKind::Messages, 4)
        );
        assert!(decode_messages(&frame[FRAME_HEADER_BYTES..]).unwrap().is_empty());

        // Messages of about 100 KB: the frame limit is reached after ten or so.
        let m = Message::Error {
            cursor: Cursor::end(BlockNum(3)),
            code: ErrorCode::Malformed,
            message: "x".repeat(100_000),
            oldest: None,
        }
        .encode();
        let mut b = Batch::default();
        let mut pushed = 0;
        while !b.full() {
            b.push(&m);
            pushed += 1;
            assert!(
                b.frame.capacity() <= BATCH_CAPACITY_MAX + m.len(),
                "{} after {pushed}",
                b.frame.capacity()
            );
        }
        assert_eq!(b.len(), pushed);
        assert_eq!(b.body_bytes(), pushed as usize * m.len());
        let frame = b.into_frame();
        let (kind, len) = parse_header(frame[..FRAME_HEADER_BYTES].try_into().unwrap()).unwrap();
        assert_eq!((kind, len as usize), (FrameKind::Messages, frame.len() - FRAME_HEADER_BYTES));
        assert_eq!(decode_messages(&frame[FRAME_HEADER_BYTES..]).unwrap().len(), pushed as usize);
    }
}
