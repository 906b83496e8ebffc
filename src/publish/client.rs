//! The Rust client: open a subscription ([`Subscription`]), or keep one going across
//! drops ([`ResumingSubscriber`], which reconnects and resumes after the last cursor it
//! handed out, with a locator of the blocks it saw so a dropped fork is undone).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::chain::{BlockId, BlockNum};

use super::protocol::{
    decode_messages, decode_reply, decode_stream_open, encode_subscribe, Cursor, ErrorCode, FrameError,
    FrameKind, Message, Reply, Start, Subscribe, LOCATOR_MAX,
};
use super::tls::{client_config, Identity, TlsError, Trust, SERVER_NAME};
use super::wire::{read_frame, read_frame_into, ReadFrameError};

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The server's publish address.
    pub server: SocketAddr,
    /// The name to check the certificate against (with a CA file; ignored when pinned).
    pub server_name: String,
    /// How to trust the server.
    pub trust: Trust,
    /// A client certificate, for servers that require known clients.
    pub identity: Option<Identity>,
    /// Bytes the server may send ahead of what this client has read (per stream; the
    /// connection gets twice as much).
    pub receive_window_bytes: u32,
}

impl ClientConfig {
    /// Connects to `server`, trusting the certificate with `fingerprint`.
    pub fn pinned(server: SocketAddr, fingerprint: super::tls::Fingerprint) -> Self {
        Self {
            server,
            server_name: SERVER_NAME.into(),
            trust: Trust::Pinned(fingerprint),
            identity: None,
            receive_window_bytes: RECEIVE_WINDOW_BYTES,
        }
    }
}

/// The default per-stream receive window.
pub const RECEIVE_WINDOW_BYTES: u32 = 8 << 20;

/// A subscription that failed or ended.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// TLS could not be set up.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The connection could not be made or was lost.
    #[error("connection to {server}: {detail}")]
    Connection {
        /// The server.
        server: SocketAddr,
        /// What happened.
        detail: String,
    },
    /// The server refused the subscription.
    #[error("subscription refused ({code:?}): {message}")]
    Rejected {
        /// Why.
        code: ErrorCode,
        /// What to do.
        message: String,
        /// The oldest block kept, when given.
        oldest: Option<BlockNum>,
    },
    /// The server ended the stream with an error message.
    #[error("the server ended the stream ({code:?}): {message}")]
    Ended {
        /// Why.
        code: ErrorCode,
        /// What to do.
        message: String,
        /// The oldest block kept, when given.
        oldest: Option<BlockNum>,
    },
    /// The server sent something this client cannot read.
    #[error("protocol error: {0}")]
    Protocol(String),
}

impl ClientError {
    /// Would reconnecting and resuming help?
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Connection { .. } => true,
            Self::Rejected { code, .. } | Self::Ended { code, .. } => code.is_retryable(),
            Self::Tls(_) | Self::Protocol(_) => false,
        }
    }
}

impl ClientError {
    /// A frame read from `server` failed: a bad frame is a protocol error, a stream that
    /// broke is a (retryable) connection failure.
    fn reading(server: SocketAddr, e: ReadFrameError) -> Self {
        match e {
            ReadFrameError::Frame(f) => Self::Protocol(f.to_string()),
            other => Self::Connection { server, detail: other.to_string() },
        }
    }
}

impl From<FrameError> for ClientError {
    fn from(e: FrameError) -> Self {
        Self::Protocol(e.to_string())
    }
}

/// One open subscription.
pub struct Subscription {
    endpoint: quinn::Endpoint,
    conn: quinn::Connection,
    _control: quinn::SendStream,
    data: quinn::RecvStream,
    server: SocketAddr,
    /// The server's id for it.
    pub id: u64,
    /// The position the stream starts after.
    pub position: Cursor,
    /// The newest block at its commitment when it was accepted.
    pub head: BlockNum,
    /// The oldest block kept then.
    pub oldest: BlockNum,
    ended: bool,
    /// The frame buffer, reused.
    buf: Vec<u8>,
}

impl Subscription {
    /// Connects and subscribes.
    pub async fn open(config: &ClientConfig, request: &Subscribe) -> Result<Self, ClientError> {
        let server = config.server;
        let conn_err = |detail: String| ClientError::Connection { server, detail };
        let tls = client_config(&config.trust, config.identity.as_ref())?;
        let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
            .map_err(|e| ClientError::Tls(TlsError::Config(e.to_string())))?;
        let mut qc = quinn::ClientConfig::new(Arc::new(crypto));
        let mut transport = quinn::TransportConfig::default();
        transport
            .keep_alive_interval(Some(Duration::from_secs(5)))
            .max_idle_timeout(Some(quinn::IdleTimeout::try_from(Duration::from_secs(30)).expect("in range")))
            .max_concurrent_uni_streams(quinn::VarInt::from_u32(16))
            .stream_receive_window(quinn::VarInt::from_u32(config.receive_window_bytes))
            .receive_window(quinn::VarInt::from_u32(config.receive_window_bytes.saturating_mul(2)));
        qc.transport_config(Arc::new(transport));
        let bind: SocketAddr =
            if server.is_ipv6() { "[::]:0" } else { "0.0.0.0:0" }.parse().expect("an address");
        let mut endpoint = quinn::Endpoint::client(bind).map_err(|e| conn_err(e.to_string()))?;
        endpoint.set_default_client_config(qc);
        let conn = endpoint
            .connect(server, &config.server_name)
            .map_err(|e| conn_err(e.to_string()))?
            .await
            .map_err(|e| conn_err(e.to_string()))?;
        let (mut send, mut recv) = conn.open_bi().await.map_err(|e| conn_err(e.to_string()))?;
        send.write_all(&encode_subscribe(request)).await.map_err(|e| conn_err(e.to_string()))?;
        let body = read_frame(&mut recv, FrameKind::Reply)
            .await
            .map_err(|e| ClientError::reading(server, e))?
            .ok_or_else(|| {
                ClientError::Protocol("the server closed the control stream without a reply".into())
            })?;
        let (id, position, head, oldest) = match decode_reply(&body)? {
            Reply::Accepted { subscription, position, head, oldest } => {
                (subscription, position, head, oldest)
            }
            Reply::Rejected { code, message, oldest } => {
                return Err(ClientError::Rejected { code, message, oldest })
            }
        };
        let mut data = conn.accept_uni().await.map_err(|e| conn_err(e.to_string()))?;
        let open = read_frame(&mut data, FrameKind::StreamOpen)
            .await
            .map_err(|e| ClientError::reading(server, e))?
            .ok_or_else(|| ClientError::Protocol("the data stream ended before it opened".into()))?;
        let got = decode_stream_open(&open)?;
        if got != id {
            return Err(ClientError::Protocol(format!("data stream for subscription {got}, expected {id}")));
        }
        Ok(Self {
            endpoint,
            conn,
            _control: send,
            data,
            server,
            id,
            position,
            head,
            oldest,
            ended: false,
            buf: Vec::new(),
        })
    }

    /// The next frame's messages. An `Error` message from the server ends the stream and
    /// is returned as [`ClientError::Ended`] (after the messages before it).
    pub async fn next_batch(&mut self) -> Result<Vec<Message>, ClientError> {
        if self.ended {
            return Err(ClientError::Protocol("the stream has ended".into()));
        }
        let len = match read_frame_into(&mut self.data, FrameKind::Messages, &mut self.buf).await {
            Ok(Some(len)) => len,
            Ok(None) => {
                self.ended = true;
                return Err(ClientError::Connection {
                    server: self.server,
                    detail: "the server ended the stream".into(),
                });
            }
            Err(ReadFrameError::Reset(code)) => {
                self.ended = true;
                let code = super::server::error_code_from_wire(code).unwrap_or(ErrorCode::Internal);
                return Err(ClientError::Ended {
                    code,
                    message: format!("the server reset the stream ({code:?})"),
                    oldest: None,
                });
            }
            Err(ReadFrameError::Stream(detail)) => {
                self.ended = true;
                return Err(ClientError::Connection { server: self.server, detail });
            }
            Err(e) => return Err(ClientError::reading(self.server, e)),
        };
        let messages = decode_messages(&self.buf[..len])?;
        if let Some(Message::Error { code, message, oldest, .. }) = messages.last() {
            self.ended = true;
            return Err(ClientError::Ended { code: *code, message: message.clone(), oldest: *oldest });
        }
        Ok(messages)
    }

    /// Ends the subscription and the connection.
    pub fn close(&self) {
        self.conn.close(quinn::VarInt::from_u32(0), b"done");
        let _ = &self.endpoint;
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.conn.close(quinn::VarInt::from_u32(0), b"done");
    }
}

/// A subscription that survives drops: on a retryable failure it reconnects (with
/// back-off) and resumes after the last message it returned, so the caller sees every
/// matching message once, in order.
pub struct ResumingSubscriber {
    config: ClientConfig,
    request: Subscribe,
    current: Option<Subscription>,
    cursor: Option<Cursor>,
    locator: VecDeque<(BlockNum, BlockId)>,
    /// Reconnections so far.
    pub reconnects: u64,
    backoff: Duration,
}

/// Longest wait between reconnection attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(5);

impl ResumingSubscriber {
    /// A subscriber that will open `request` at its first [`ResumingSubscriber::next`].
    pub fn new(config: ClientConfig, request: Subscribe) -> Self {
        Self {
            config,
            request,
            current: None,
            cursor: None,
            locator: VecDeque::new(),
            reconnects: 0,
            backoff: Duration::from_millis(100),
        }
    }

    /// The cursor after the last message returned.
    pub fn cursor(&self) -> Option<Cursor> {
        self.cursor
    }

    /// Blocks seen, newest first: what a resume sends.
    pub fn locator(&self) -> Vec<(BlockNum, BlockId)> {
        self.locator.iter().copied().collect()
    }

    fn resume_request(&self) -> Subscribe {
        let mut r = self.request.clone();
        if let Some(c) = self.cursor {
            let mut locator: Vec<(BlockNum, BlockId)> = self.locator();
            if locator.first().map(|l| l.0) == Some(c.block_num) {
                locator.truncate(LOCATOR_MAX);
                r.start = Start::After { cursor: c, locator };
            } else if c.seq == Cursor::END {
                // Nothing seen but a position: carry on from the next block.
                r.start = Start::Block(BlockNum(c.block_num.0 + 1));
            }
        }
        r
    }

    fn observe(&mut self, m: &Message) {
        let mut seen = |num: BlockNum, id: BlockId| {
            if num.0 > 0 && self.locator.front().is_none_or(|f| f.0 != num) {
                self.locator.push_front((num, id));
                self.locator.truncate(LOCATOR_MAX);
            }
        };
        match m {
            Message::BlockBegin { cursor, block_id, .. } | Message::BlockEnd { cursor, block_id, .. } => {
                seen(cursor.block_num, *block_id)
            }
            Message::Heartbeat { cursor, block_id, .. } => seen(cursor.block_num, *block_id),
            Message::Undo { block_num, block_id, .. } => {
                self.locator.retain(|(n, _)| n <= block_num);
                if self.locator.front().is_none_or(|f| f.0 != *block_num) {
                    self.locator.push_front((*block_num, *block_id));
                }
            }
            Message::Transaction(_) | Message::Irreversible { .. } | Message::Error { .. } => {}
        }
        if !matches!(m, Message::Irreversible { .. } | Message::Error { .. }) {
            self.cursor = Some(m.cursor());
        }
    }

    /// The next messages, reconnecting as needed; fails only on errors that a reconnect
    /// would not fix (a pruned cursor, a bad filter, an unknown fork, TLS).
    pub async fn next(&mut self) -> Result<Vec<Message>, ClientError> {
        loop {
            if self.current.is_none() {
                match Subscription::open(&self.config, &self.resume_request()).await {
                    Ok(s) => {
                        self.backoff = Duration::from_millis(100);
                        // Nothing returned yet: a reconnect resumes where this stream
                        // started, not at a new head (or the oldest block again).
                        if self.cursor.is_none() {
                            self.cursor = Some(s.position);
                        }
                        self.current = Some(s);
                    }
                    Err(e) if e.is_retryable() => {
                        tracing::info!(target: "dawn::publish::client", error = %e, "reconnecting in {:?}", self.backoff);
                        tokio::time::sleep(self.backoff).await;
                        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
            let sub = self.current.as_mut().expect("a subscription");
            match sub.next_batch().await {
                Ok(messages) => {
                    for m in &messages {
                        self.observe(m);
                    }
                    return Ok(messages);
                }
                Err(e) if e.is_retryable() => {
                    tracing::info!(target: "dawn::publish::client", error = %e, cursor = ?self.cursor, "stream lost; resuming");
                    self.current = None;
                    self.reconnects += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Drops the current connection (the next call reconnects and resumes): for tests
    /// and for callers that detect a problem themselves.
    pub fn disconnect(&mut self) {
        if self.current.take().is_some() {
            self.reconnects += 1;
        }
    }
}
