//! The subscription protocol, version 1: cursors, the client's `Subscribe`, the server's
//! reply, the messages of a data stream, and the length-prefixed frames that carry them.
//! Every byte is written down in docs/PROTOCOL.md; values are encoded with the chain
//! codec (the bincode 1 wire format of docs/FORMAT.md).

use std::fmt;
use std::str::FromStr;

use bytes::{BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};

use crate::chain::results::{ActionTrace, Origin};
use crate::chain::{
    codec, BlockHeader, BlockId, BlockNum, Checksum256, SignedTransaction, TransactionReceipt, TxId,
};

use super::filter::Filter;

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u16 = 1;
/// The TLS application protocol (ALPN) name of version 1.
pub const ALPN: &[u8] = b"dawn-publish/1";
/// Bytes of a frame header: the body length (u32) and the frame kind (u8).
pub const FRAME_HEADER_BYTES: usize = 5;
/// Largest control frame body (a `Subscribe` or a reply).
pub const CONTROL_FRAME_BYTES_MAX: u32 = 64 << 10;
/// Largest data frame body. A single message larger than this (a block's only transaction
/// with huge traces) still goes out alone in one frame up to [`MESSAGE_BYTES_MAX`].
pub const DATA_FRAME_BYTES_MAX: u32 = 1 << 20;
/// Largest single encoded message (a transaction with its traces: exec caps traces at
/// 256 KiB per transaction and a transaction at 64 KiB, so this leaves room).
pub const MESSAGE_BYTES_MAX: u32 = 4 << 20;
/// Most messages in one data frame.
pub const FRAME_MESSAGES_MAX: u32 = 4096;
const _: () =
    assert!(DATA_FRAME_BYTES_MAX <= MESSAGE_BYTES_MAX && CONTROL_FRAME_BYTES_MAX < DATA_FRAME_BYTES_MAX);

/// A position in a subscription's stream: a block and a place in it. Every message carries
/// the cursor to resume after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Cursor {
    /// The block.
    pub block_num: BlockNum,
    /// [`Cursor::BEGIN`] for the block's start, `i + 1` for its `i`th result (deferred
    /// deliveries first, then its transactions, as in the results log), [`Cursor::END`]
    /// for its end.
    pub seq: u32,
}

impl Cursor {
    /// `seq` of a block's start.
    pub const BEGIN: u32 = 0;
    /// `seq` of a block's end.
    pub const END: u32 = u32::MAX;

    /// The start of block `num`.
    pub fn begin(num: BlockNum) -> Self {
        Self { block_num: num, seq: Self::BEGIN }
    }

    /// The end of block `num`.
    pub fn end(num: BlockNum) -> Self {
        Self { block_num: num, seq: Self::END }
    }

    /// The position of result `index` of block `num`.
    pub fn result(num: BlockNum, index: u32) -> Self {
        Self { block_num: num, seq: index + 1 }
    }
}

/// Text form: `BLOCK.SEQ`, with `begin` and `end` for the block's start and end
/// (`1200.end`, `1200.3`).
impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.seq {
            Self::BEGIN => write!(f, "{}.begin", self.block_num),
            Self::END => write!(f, "{}.end", self.block_num),
            s => write!(f, "{}.{s}", self.block_num),
        }
    }
}

impl FromStr for Cursor {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a cursor: write BLOCK.SEQ, BLOCK.begin or BLOCK.end (`1200.end`)");
        let (b, q) = s.split_once('.').ok_or_else(bad)?;
        let block_num = BlockNum(b.parse().map_err(|_| bad())?);
        let seq = match q {
            "begin" => Self::BEGIN,
            "end" => Self::END,
            n => match n.parse::<u32>() {
                Ok(v) if v != Self::BEGIN && v != Self::END => v,
                _ => return Err(bad()),
            },
        };
        Ok(Self { block_num, seq })
    }
}

/// How final a block must be before it is streamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Commitment {
    /// Executed: its results are in the results log.
    Applied,
    /// Executed and confirmed by 2/3+1 of the producers.
    Irreversible,
}

/// How much of each transaction a subscriber gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Projection {
    /// Block begin and end only (heads, roots): no transaction messages.
    Headers,
    /// Per transaction: id, origin, receipt and error.
    Receipts,
    /// Also the signed transaction and its action traces with console output.
    Full,
}

/// Where a subscription starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Start {
    /// After the newest block at the subscription's commitment (live only).
    Head,
    /// At the oldest block still kept.
    Oldest,
    /// At the start of this block.
    Block(BlockNum),
    /// Right after `cursor`, which was on the chain that `locator` describes: `(number,
    /// id)` pairs, newest first, the first being `cursor`'s block. The server rewinds with
    /// `Undo` to the newest pair it has too (so a client that was on a dropped fork is
    /// rewound, never silently continued); if it has none, the subscription is refused.
    After {
        /// The last cursor the client processed.
        cursor: Cursor,
        /// Blocks the client saw, newest first (at most [`LOCATOR_MAX`]).
        locator: Vec<(BlockNum, BlockId)>,
    },
}

/// Most `(number, id)` pairs in a resume locator.
pub const LOCATOR_MAX: usize = 64;

/// The client's request, the one frame it sends on a control stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscribe {
    /// Protocol version: [`PROTOCOL_VERSION`]. First in the encoding, so a server can read
    /// it before anything else and answer an unknown one with a clear refusal.
    pub version: u16,
    /// The commitment level to stream at.
    pub commitment: Commitment,
    /// Where to start.
    pub start: Start,
    /// Which transactions to send.
    pub filter: Filter,
    /// How much of each.
    pub projection: Projection,
    /// Send a heartbeat after this many idle milliseconds (0: the server's default; clamped
    /// to the server's limits).
    pub heartbeat_ms: u32,
}

/// Why a subscription was refused or ended; the code is on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u32)]
pub enum ErrorCode {
    /// The frame could not be decoded.
    Malformed,
    /// The protocol version is not spoken here.
    UnsupportedVersion,
    /// The filter is too large or contradicts itself.
    BadFilter,
    /// The start cursor or block is older than the oldest block kept.
    Pruned,
    /// The start is past the newest block.
    FutureCursor,
    /// No block of the locator is on this node's chain.
    UnknownFork,
    /// Too many subscriptions on this connection or node.
    TooManySubscriptions,
    /// The client did not read for too long.
    Stalled,
    /// The subscriber fell behind the oldest block kept.
    FellBehind,
    /// The node is stopping.
    ShuttingDown,
    /// A server-side failure (a log read failed).
    Internal,
}

impl ErrorCode {
    /// Every code, in variant order.
    pub const ALL: [Self; 11] = [
        Self::Malformed,
        Self::UnsupportedVersion,
        Self::BadFilter,
        Self::Pruned,
        Self::FutureCursor,
        Self::UnknownFork,
        Self::TooManySubscriptions,
        Self::Stalled,
        Self::FellBehind,
        Self::ShuttingDown,
        Self::Internal,
    ];

    /// Should a client retry the same request later (after reconnecting)?
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::ShuttingDown | Self::Internal | Self::Stalled | Self::TooManySubscriptions)
    }
}

/// The server's answer on the control stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// Subscribed: the data arrives on a unidirectional stream that opens with this id.
    Accepted {
        /// The subscription's id on this connection.
        subscription: u64,
        /// The position the stream starts after.
        position: Cursor,
        /// The newest block at the commitment, now.
        head: BlockNum,
        /// The oldest block kept.
        oldest: BlockNum,
    },
    /// Refused.
    Rejected {
        /// Why.
        code: ErrorCode,
        /// What to do about it.
        message: String,
        /// The oldest block kept, when that helps (pruned cursors).
        oldest: Option<BlockNum>,
    },
}

/// A transaction's message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxMessage {
    /// Its position.
    pub cursor: Cursor,
    /// Its id.
    pub id: TxId,
    /// Where it came from.
    pub origin: Origin,
    /// Its receipt.
    pub receipt: TransactionReceipt,
    /// Why it failed, for failed statuses.
    pub error: Option<String>,
    /// The signed transaction (projection `full`; absent for deferred deliveries).
    pub transaction: Option<SignedTransaction>,
    /// Its action traces (projection `full`).
    pub traces: Vec<ActionTrace>,
    /// True when exec dropped its traces (the block's trace budget was spent).
    pub traces_pruned: bool,
}

/// One message of a data stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// A block starts.
    BlockBegin {
        /// `block.begin`.
        cursor: Cursor,
        /// Its id.
        block_id: BlockId,
        /// Its header.
        header: BlockHeader,
        /// Results in it (deferred deliveries and transactions), matched or not.
        results: u32,
    },
    /// A matching transaction.
    Transaction(Box<TxMessage>),
    /// A block ends.
    BlockEnd {
        /// `block.end`.
        cursor: Cursor,
        /// Its id.
        block_id: BlockId,
        /// The state root after it.
        state_root: Checksum256,
        /// The merkle root of its results (receipts with traces).
        results_root: Checksum256,
        /// Transactions of it sent to this subscriber.
        matched: u32,
    },
    /// Forget everything after block `block_num` (whose id is `block_id`): those blocks
    /// were on a fork this node does not have.
    Undo {
        /// `block_num.end`: the position to resume after.
        cursor: Cursor,
        /// The newest block kept.
        block_num: BlockNum,
        /// Its id.
        block_id: BlockId,
    },
    /// Every block up to `block_num` is irreversible.
    Irreversible {
        /// The position of the stream (unchanged by this message).
        cursor: Cursor,
        /// The newest irreversible block.
        block_num: BlockNum,
        /// Its id.
        block_id: BlockId,
    },
    /// Nothing matched for a while; the stream is alive and has scanned up to `cursor`.
    Heartbeat {
        /// The position the server has scanned to (resuming after it skips nothing that
        /// would match).
        cursor: Cursor,
        /// The id of the cursor's block (for the client's resume locator).
        block_id: BlockId,
        /// The newest applied block.
        head: BlockNum,
        /// The newest irreversible block.
        irreversible: BlockNum,
    },
    /// The server ends the stream: why, and what to do.
    Error {
        /// The position of the stream.
        cursor: Cursor,
        /// Why.
        code: ErrorCode,
        /// What to do about it.
        message: String,
        /// The oldest block kept, when that helps.
        oldest: Option<BlockNum>,
    },
}

impl Message {
    /// The cursor to resume after this message.
    pub fn cursor(&self) -> Cursor {
        match self {
            Self::BlockBegin { cursor, .. }
            | Self::BlockEnd { cursor, .. }
            | Self::Undo { cursor, .. }
            | Self::Irreversible { cursor, .. }
            | Self::Heartbeat { cursor, .. }
            | Self::Error { cursor, .. } => *cursor,
            Self::Transaction(t) => t.cursor,
        }
    }

    /// Encodes it as it goes in a data frame.
    pub fn encode(&self) -> Bytes {
        Bytes::from(codec::encode(self))
    }
}

/// A frame's kind byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameKind {
    /// Client to server on a control stream: one [`Subscribe`].
    Subscribe = 1,
    /// Server to client on a control stream: one [`Reply`].
    Reply = 2,
    /// First frame of a data stream: the subscription id (u64).
    StreamOpen = 3,
    /// Data stream: a u32 message count, then that many [`Message`]s.
    Messages = 4,
}

impl FrameKind {
    fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            1 => Self::Subscribe,
            2 => Self::Reply,
            3 => Self::StreamOpen,
            4 => Self::Messages,
            _ => return None,
        })
    }

    /// The largest body a frame of this kind may have.
    pub fn body_max(self) -> u32 {
        match self {
            Self::Subscribe | Self::Reply | Self::StreamOpen => CONTROL_FRAME_BYTES_MAX,
            Self::Messages => MESSAGE_BYTES_MAX + 4,
        }
    }
}

/// A frame that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The kind byte is unknown.
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    /// A frame of another kind was expected here.
    #[error("expected a {expected:?} frame, got {got:?}")]
    UnexpectedKind {
        /// The kind expected.
        expected: FrameKind,
        /// The kind received.
        got: FrameKind,
    },
    /// The length is over the limit for its kind.
    #[error("a {kind:?} frame of {len} bytes is over the limit of {max}")]
    TooLarge {
        /// Its kind.
        kind: FrameKind,
        /// Its stated length.
        len: u32,
        /// The limit.
        max: u32,
    },
    /// The body does not decode.
    #[error("malformed {kind:?} frame: {detail}")]
    Malformed {
        /// Its kind.
        kind: FrameKind,
        /// What is wrong.
        detail: String,
    },
    /// The client speaks another protocol version.
    #[error("protocol version {0} is not supported (this server speaks {PROTOCOL_VERSION})")]
    UnsupportedVersion(u16),
}

/// Parses a frame header: its kind and body length, checked against the kind's limit.
pub fn parse_header(header: [u8; FRAME_HEADER_BYTES]) -> Result<(FrameKind, u32), FrameError> {
    let len = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes"));
    let kind = FrameKind::from_byte(header[4]).ok_or(FrameError::UnknownKind(header[4]))?;
    if len > kind.body_max() {
        return Err(FrameError::TooLarge { kind, len, max: kind.body_max() });
    }
    Ok((kind, len))
}

/// Writes a frame header: the body's length, then the kind (what [`parse_header`] reads).
fn put_header(buf: &mut impl BufMut, kind: FrameKind, body_len: usize) {
    buf.put_u32_le(body_len as u32);
    buf.put_u8(kind as u8);
}

/// A whole frame: header and body.
pub fn frame(kind: FrameKind, body: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(FRAME_HEADER_BYTES + body.len());
    put_header(&mut b, kind, body.len());
    b.put_slice(body);
    b.freeze()
}

/// Bytes before a `Messages` frame's first message: the frame header and the count.
pub const MESSAGES_PREFIX_BYTES: usize = FRAME_HEADER_BYTES + 4;

/// Writes the header and count of a `Messages` frame whose `count` encoded messages total
/// `body_bytes` bytes into `prefix` (its first [`MESSAGES_PREFIX_BYTES`]).
pub fn put_messages_prefix(mut prefix: &mut [u8], count: u32, body_bytes: usize) {
    debug_assert!(count <= FRAME_MESSAGES_MAX);
    put_header(&mut prefix, FrameKind::Messages, body_bytes + 4);
    prefix.put_u32_le(count);
}

/// Encodes a `Subscribe` frame.
pub fn encode_subscribe(s: &Subscribe) -> Bytes {
    frame(FrameKind::Subscribe, &codec::encode(s))
}

/// Decodes a `Subscribe` body: the version first, so an unknown one is reported as such.
pub fn decode_subscribe(body: &[u8]) -> Result<Subscribe, FrameError> {
    let malformed = |detail: String| FrameError::Malformed { kind: FrameKind::Subscribe, detail };
    let version = body.get(0..2).ok_or_else(|| malformed("shorter than its version".into()))?;
    let version = u16::from_le_bytes([version[0], version[1]]);
    if version != PROTOCOL_VERSION {
        return Err(FrameError::UnsupportedVersion(version));
    }
    codec::decode(body, u64::from(CONTROL_FRAME_BYTES_MAX)).map_err(|e| malformed(e.to_string()))
}

/// Decodes a `Reply` body.
pub fn decode_reply(body: &[u8]) -> Result<Reply, FrameError> {
    codec::decode(body, u64::from(CONTROL_FRAME_BYTES_MAX))
        .map_err(|e| FrameError::Malformed { kind: FrameKind::Reply, detail: e.to_string() })
}

/// Decodes a `StreamOpen` body.
pub fn decode_stream_open(body: &[u8]) -> Result<u64, FrameError> {
    codec::decode(body, 8)
        .map_err(|e| FrameError::Malformed { kind: FrameKind::StreamOpen, detail: e.to_string() })
}

/// Decodes a `Messages` body: exactly the stated count of messages and nothing after.
pub fn decode_messages(body: &[u8]) -> Result<Vec<Message>, FrameError> {
    let malformed = |detail: String| FrameError::Malformed { kind: FrameKind::Messages, detail };
    let count = body.get(0..4).ok_or_else(|| malformed("shorter than its count".into()))?;
    let count = u32::from_le_bytes(count.try_into().expect("4 bytes"));
    if count > FRAME_MESSAGES_MAX {
        return Err(malformed(format!("{count} messages; at most {FRAME_MESSAGES_MAX}")));
    }
    let mut rest = &body[4..];
    // Every message takes at least 4 bytes (its variant), which bounds the allocation.
    let mut out = Vec::with_capacity((count as usize).min(rest.len() / 4));
    for i in 0..count {
        let m = codec::decode_front::<Message>(&mut rest, u64::from(MESSAGE_BYTES_MAX))
            .map_err(|e| malformed(format!("message {i}: {e}")))?;
        out.push(m);
    }
    if !rest.is_empty() {
        return Err(malformed(format!("{} bytes after the last message", rest.len())));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_text_round_trips_and_orders() {
        for c in [Cursor::begin(BlockNum(7)), Cursor::result(BlockNum(7), 0), Cursor::end(BlockNum(7))] {
            assert_eq!(c.to_string().parse::<Cursor>().unwrap(), c);
        }
        assert!(Cursor::begin(BlockNum(7)) < Cursor::result(BlockNum(7), 0));
        assert!(Cursor::result(BlockNum(7), 5) < Cursor::end(BlockNum(7)));
        assert!(Cursor::end(BlockNum(7)) < Cursor::begin(BlockNum(8)));
        assert!("7".parse::<Cursor>().is_err());
        assert!("7.4294967295".parse::<Cursor>().is_err());
        assert!("x.end".parse::<Cursor>().is_err());
    }

    #[test]
    fn frame_header_bytes_are_pinned() {
        let f = frame(FrameKind::StreamOpen, &codec::encode(&42u64));
        assert_eq!(&f[..], &[8, 0, 0, 0, 3, 42, 0, 0, 0, 0, 0, 0, 0]);
        let (kind, len) = parse_header(f[..5].try_into().unwrap()).unwrap();
        assert_eq!((kind, len), (FrameKind::StreamOpen, 8));
        assert_eq!(parse_header([0, 0, 0, 0, 9]), Err(FrameError::UnknownKind(9)));
        assert!(parse_header([0, 0, 1, 0, 1]).is_ok(), "64 KiB is the control limit itself");
        assert!(matches!(parse_header([1, 0, 1, 0, 1]), Err(FrameError::TooLarge { .. })));
    }

    #[test]
    fn error_codes_keep_their_wire_numbers() {
        for (i, c) in ErrorCode::ALL.iter().enumerate() {
            assert_eq!(codec::encode(c), (i as u32).to_le_bytes(), "{c:?}");
        }
        assert_eq!(ErrorCode::Internal as u32, 10);
    }

    #[test]
    fn unknown_versions_are_named() {
        let mut body = codec::encode(&Subscribe {
            version: PROTOCOL_VERSION,
            commitment: Commitment::Applied,
            start: Start::Head,
            filter: Filter::default(),
            projection: Projection::Full,
            heartbeat_ms: 0,
        });
        assert!(decode_subscribe(&body).is_ok());
        body[0] = 9;
        assert_eq!(decode_subscribe(&body), Err(FrameError::UnsupportedVersion(9)));
        assert!(matches!(decode_subscribe(&[1]), Err(FrameError::Malformed { .. })));
    }

    #[test]
    fn messages_frames_decode_exactly() {
        let m = Message::Heartbeat {
            cursor: Cursor::end(BlockNum(3)),
            block_id: BlockId::default(),
            head: BlockNum(3),
            irreversible: BlockNum(2),
        };
        let enc = m.encode();
        let mut frame = vec![0; MESSAGES_PREFIX_BYTES];
        put_messages_prefix(&mut frame, 2, 2 * enc.len());
        assert_eq!(
            parse_header(frame[..5].try_into().unwrap()).unwrap(),
            (FrameKind::Messages, 4 + 2 * enc.len() as u32)
        );
        let mut body = frame[5..].to_vec();
        body.extend_from_slice(&enc);
        body.extend_from_slice(&enc);
        assert_eq!(decode_messages(&body).unwrap(), vec![m.clone(), m.clone()]);
        body.push(0);
        assert!(decode_messages(&body).is_err());
        body.pop();
        body[0] = 3;
        assert!(decode_messages(&body).is_err());
    }
}
