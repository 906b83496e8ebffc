//! The QUIC server: accepts connections, reads each `Subscribe` from its control stream,
//! and drives a [`Session`] per subscription, writing its batches to a unidirectional
//! stream. Only bytes move here; every decision is the session's.
//!
//! Memory per subscriber is bounded by QUIC flow control: a write waits while the peer's
//! window is full (at most `send_window_bytes` unacknowledged per connection), and the
//! session is not polled again until the write completes, so a slow reader only lags.
//! A write that makes no progress for `stall_timeout` resets the stream with the
//! `stalled` code; a subscriber whose next block was pruned gets a `fell_behind` error.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::feed::Feed;
use super::protocol::{decode_subscribe, frame, ErrorCode, FrameError, FrameKind, Reply};
use super::session::{Batch, Poll, Session};
use super::tls::{server_config, ClientAuth, Identity, TlsError};
use super::wire::{read_frame, ReadFrameError};
use crate::chain::codec;

/// The default address of the publish endpoint.
pub const DEFAULT_ADDR: &str = "127.0.0.1:9876";

/// Server settings, each a limit with its unit in the name.
#[derive(Debug, Clone)]
pub struct PublishConfig {
    /// Where to listen (UDP).
    pub addr: SocketAddr,
    /// Which clients to accept.
    pub clients: ClientAuth,
    /// Most connections at once; more are refused.
    pub connections_max: usize,
    /// Most subscriptions on one connection.
    pub subscriptions_per_connection_max: u32,
    /// Most subscriptions on the node.
    pub subscriptions_max: usize,
    /// How long a new control stream may take to send its `Subscribe`.
    pub subscribe_timeout: Duration,
    /// How long a write may make no progress before the stream is reset.
    pub stall_timeout: Duration,
    /// A connection with no traffic for this long is closed (clients send keep-alives).
    pub idle_timeout: Duration,
    /// Bytes sent and not yet acknowledged per connection (the per-subscriber memory
    /// bound).
    pub send_window_bytes: u64,
    /// Bytes of decoded blocks shared by live subscribers: the newest blocks, which
    /// subscribers at or near the head read. Older blocks are decoded again from the
    /// logs for whoever reads them (a read of a few microseconds a transaction), so a
    /// bigger cache saves little and keeps cold blocks whose freeing costs the node.
    pub cache_bytes_max: usize,
}

impl Default for PublishConfig {
    fn default() -> Self {
        Self {
            addr: DEFAULT_ADDR.parse().expect("a valid address"),
            clients: ClientAuth::Anyone,
            connections_max: 1024,
            subscriptions_per_connection_max: 16,
            subscriptions_max: 4096,
            subscribe_timeout: Duration::from_secs(10),
            stall_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(30),
            send_window_bytes: 4 << 20,
            cache_bytes_max: 8 << 20,
        }
    }
}

/// A server failure at start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// TLS could not be set up.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The UDP socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The failure.
        source: std::io::Error,
    },
}

/// Counters a running server keeps.
#[derive(Debug, Default)]
pub struct PublishStats {
    /// Open connections.
    pub connections: AtomicUsize,
    /// Open subscriptions.
    pub subscriptions: AtomicUsize,
    /// Transaction messages written, all subscriptions together.
    pub transactions_sent: AtomicU64,
    /// Frames written.
    pub frames_sent: AtomicU64,
    /// Streams reset because the client stopped reading.
    pub stalled: AtomicU64,
    /// CPU nanoseconds polling sessions (reading and decoding blocks, filtering, encoding
    /// messages), counted per poll.
    pub poll_cpu_ns: AtomicU64,
    /// Wall nanoseconds writing frames until the QUIC stream took them (flow-control waits
    /// included), per frame, summed over subscriptions.
    pub write_wait_ns: AtomicU64,
}

/// A bound publish endpoint.
pub struct PublishServer {
    endpoint: quinn::Endpoint,
    feed: Arc<Feed>,
    config: Arc<PublishConfig>,
    stats: Arc<PublishStats>,
    fingerprint: super::tls::Fingerprint,
    next_subscription: Arc<AtomicU64>,
}

/// The QUIC application error code (connection close, stream reset) of `code`: its
/// variant index plus one, 0 being a clean close (docs/PROTOCOL.md, "Error codes").
pub fn error_code(code: ErrorCode) -> quinn::VarInt {
    quinn::VarInt::from_u32(code as u32 + 1)
}

/// The [`ErrorCode`] of a QUIC application error code, if it is one.
pub fn error_code_from_wire(code: u64) -> Option<ErrorCode> {
    ErrorCode::ALL.into_iter().find(|c| error_code(*c).into_inner() == code)
}

impl PublishServer {
    /// Binds the endpoint (inside a tokio runtime).
    pub fn bind(config: PublishConfig, identity: &Identity, feed: Arc<Feed>) -> Result<Self, PublishError> {
        let tls = server_config(identity, &config.clients)?;
        let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls)
            .map_err(|e| TlsError::Config(e.to_string()))?;
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        let mut transport = quinn::TransportConfig::default();
        transport
            .max_concurrent_bidi_streams(quinn::VarInt::from_u32(config.subscriptions_per_connection_max))
            .max_concurrent_uni_streams(quinn::VarInt::from_u32(0))
            .max_idle_timeout(Some(
                quinn::IdleTimeout::try_from(config.idle_timeout)
                    .expect("an idle timeout within QUIC's range"),
            ))
            .send_window(config.send_window_bytes)
            .stream_receive_window(quinn::VarInt::from_u32(super::protocol::CONTROL_FRAME_BYTES_MAX * 2));
        server.transport_config(Arc::new(transport));
        let endpoint = quinn::Endpoint::server(server, config.addr)
            .map_err(|source| PublishError::Bind { addr: config.addr, source })?;
        Ok(Self {
            endpoint,
            feed,
            config: Arc::new(config),
            stats: Arc::default(),
            fingerprint: identity.fingerprint(),
            next_subscription: Arc::new(AtomicU64::new(1)),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.endpoint.local_addr().expect("a bound endpoint has an address")
    }

    /// The certificate fingerprint clients pin.
    pub fn fingerprint(&self) -> super::tls::Fingerprint {
        self.fingerprint
    }

    /// The server's counters.
    pub fn stats(&self) -> Arc<PublishStats> {
        self.stats.clone()
    }

    /// Accepts connections until `shutdown` completes, then closes every connection with
    /// the `shutting_down` code.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let incoming = tokio::select! {
                _ = &mut shutdown => break,
                i = self.endpoint.accept() => match i { Some(i) => i, None => break },
            };
            if self.stats.connections.load(Ordering::Relaxed) >= self.config.connections_max {
                tracing::warn!(target: "dawn::publish", peer = %incoming.remote_address(), "connection refused: at the connection limit");
                incoming.refuse();
                continue;
            }
            let (feed, config, stats, ids) =
                (self.feed.clone(), self.config.clone(), self.stats.clone(), self.next_subscription.clone());
            // Counted from before the handshake, so a burst of handshakes cannot pass the limit.
            stats.connections.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                let _counted = CountGuard(&stats.connections);
                let peer = incoming.remote_address();
                match incoming.await {
                    Ok(conn) => {
                        tracing::debug!(target: "dawn::publish", %peer, "connected");
                        serve_connection(conn, feed, config, stats.clone(), ids).await;
                    }
                    Err(e) => tracing::debug!(target: "dawn::publish", %peer, error = %e, "handshake failed"),
                }
            });
        }
        self.endpoint
            .close(error_code(ErrorCode::ShuttingDown), b"the node is stopping; reconnect and resume");
        let _ = tokio::time::timeout(Duration::from_secs(2), self.endpoint.wait_idle()).await;
    }
}

async fn serve_connection(
    conn: quinn::Connection,
    feed: Arc<Feed>,
    config: Arc<PublishConfig>,
    stats: Arc<PublishStats>,
    ids: Arc<AtomicU64>,
) {
    loop {
        let (send, recv) = match conn.accept_bi().await {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(target: "dawn::publish", peer = %conn.remote_address(), reason = %e, "connection ended");
                return;
            }
        };
        let sub = Subscriber {
            conn: conn.clone(),
            feed: feed.clone(),
            config: config.clone(),
            stats: stats.clone(),
            id: ids.fetch_add(1, Ordering::Relaxed),
        };
        tokio::spawn(sub.serve(send, recv));
    }
}

struct Subscriber {
    conn: quinn::Connection,
    feed: Arc<Feed>,
    config: Arc<PublishConfig>,
    stats: Arc<PublishStats>,
    id: u64,
}

async fn reply(send: &mut quinn::SendStream, r: &Reply) {
    let _ = send.write_all(&frame(FrameKind::Reply, &codec::encode(r))).await;
}

async fn refuse(mut send: quinn::SendStream, code: ErrorCode, message: String) {
    tracing::debug!(target: "dawn::publish", ?code, %message, "subscription refused");
    reply(&mut send, &Reply::Rejected { code, message, oldest: None }).await;
    let _ = send.finish();
}

impl Subscriber {
    async fn serve(self, mut ctl_send: quinn::SendStream, mut ctl_recv: quinn::RecvStream) {
        let body = match tokio::time::timeout(
            self.config.subscribe_timeout,
            read_frame(&mut ctl_recv, FrameKind::Subscribe),
        )
        .await
        {
            Err(_) => {
                return refuse(
                    ctl_send,
                    ErrorCode::Stalled,
                    format!("no Subscribe within {} s", self.config.subscribe_timeout.as_secs()),
                )
                .await
            }
            Ok(Ok(Some(b))) => b,
            Ok(Ok(None)) => return,
            Ok(Err(ReadFrameError::Frame(e))) => {
                return refuse(ctl_send, ErrorCode::Malformed, e.to_string()).await
            }
            Ok(Err(e)) => {
                tracing::debug!(target: "dawn::publish", error = %e, "control stream failed");
                return;
            }
        };
        let req = match decode_subscribe(&body) {
            Ok(r) => r,
            Err(e @ FrameError::UnsupportedVersion(_)) => {
                return refuse(ctl_send, ErrorCode::UnsupportedVersion, e.to_string()).await
            }
            Err(e) => return refuse(ctl_send, ErrorCode::Malformed, e.to_string()).await,
        };
        let open = self.stats.subscriptions.fetch_add(1, Ordering::Relaxed);
        let _guard = CountGuard(&self.stats.subscriptions);
        if open >= self.config.subscriptions_max {
            return refuse(
                ctl_send,
                ErrorCode::TooManySubscriptions,
                format!(
                    "this node serves at most {} subscriptions; retry later",
                    self.config.subscriptions_max
                ),
            )
            .await;
        }
        let (session, accepted) = {
            let (feed, id) = (self.feed.clone(), self.id);
            match tokio::task::spawn_blocking(move || Session::start(req, &*feed, id, Instant::now())).await {
                Ok(r) => r,
                Err(_) => {
                    return refuse(ctl_send, ErrorCode::Internal, "the subscription task failed".into()).await
                }
            }
        }
        .map_or_else(|r| (None, r), |(s, r)| (Some(s), r));
        reply(&mut ctl_send, &accepted).await;
        let Some(session) = session else {
            let _ = ctl_send.finish();
            return;
        };
        tracing::debug!(target: "dawn::publish", peer = %self.conn.remote_address(), subscription = self.id, position = %session.position(), "subscribed");
        let mut data = match self.conn.open_uni().await {
            Ok(s) => s,
            Err(_) => return,
        };
        if data.write_all(&frame(FrameKind::StreamOpen, &codec::encode(&self.id))).await.is_err() {
            return;
        }
        // The client ends a subscription by finishing (or resetting) its control stream.
        let (gone_tx, mut gone_rx) = tokio::sync::oneshot::channel::<()>();
        let watcher = tokio::spawn(async move {
            let _ = ctl_recv.read_to_end(64).await;
            let _ = gone_tx.send(());
        });
        self.stream(session, &mut data, &mut gone_rx).await;
        // The stream is over either way: release the control stream and its watcher.
        watcher.abort();
        let _ = ctl_send.finish();
    }

    async fn stream(
        &self,
        mut session: Session,
        data: &mut quinn::SendStream,
        gone: &mut tokio::sync::oneshot::Receiver<()>,
    ) {
        let mut heads = self.feed.subscribe_heads();
        loop {
            heads.borrow_and_update();
            let feed = self.feed.clone();
            let stats = self.stats.clone();
            let (s, poll) = match tokio::task::spawn_blocking(move || {
                let started = crate::chain::thread_cpu_ns();
                let p = session.poll(&*feed, Instant::now());
                crate::chain::add_cpu_since(&stats.poll_cpu_ns, started);
                (session, p)
            })
            .await
            {
                Ok(r) => r,
                Err(_) => return,
            };
            session = s;
            match poll {
                Poll::Send(batch) => {
                    if !self.write(data, batch, gone).await {
                        return;
                    }
                }
                Poll::End(batch) => {
                    let _ = self.write(data, batch, gone).await;
                    let _ = data.finish();
                    return;
                }
                Poll::Wait { until } => {
                    tokio::select! {
                        _ = heads.changed() => {}
                        _ = tokio::time::sleep_until(until.into()) => {}
                        _ = &mut *gone => return,
                    }
                }
            }
        }
    }

    /// Writes a batch as one frame; false when the stream is done for (the client left,
    /// or it stalled and the stream was reset).
    async fn write(
        &self,
        data: &mut quinn::SendStream,
        batch: Batch,
        gone: &mut tokio::sync::oneshot::Receiver<()>,
    ) -> bool {
        let batch_transactions = batch.transactions;
        let mut chunks = [batch.into_frame()];
        let _timed = AddElapsed(&self.stats.write_wait_ns, Instant::now());
        tokio::select! {
            r = self.write_with_progress(data, &mut chunks) => match r {
                Ok(true) => {
                    self.stats.frames_sent.fetch_add(1, Ordering::Relaxed);
                    self.stats.transactions_sent.fetch_add(u64::from(batch_transactions), Ordering::Relaxed);
                    true
                }
                Ok(false) => false,
                Err(()) => {
                    self.stats.stalled.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(target: "dawn::publish", peer = %self.conn.remote_address(), subscription = self.id,
                        "subscriber stalled: nothing read for {} s; stream reset", self.config.stall_timeout.as_secs());
                    let _ = data.reset(error_code(ErrorCode::Stalled));
                    false
                }
            },
            _ = &mut *gone => false,
        }
    }

    /// Writes every chunk; `Ok(false)` when the stream failed, `Err(())` when no byte was
    /// taken for `stall_timeout` (a slow reader that keeps reading is never cut off).
    async fn write_with_progress(
        &self,
        data: &mut quinn::SendStream,
        chunks: &mut [Bytes],
    ) -> Result<bool, ()> {
        let mut rest = chunks;
        while !rest.is_empty() {
            match tokio::time::timeout(self.config.stall_timeout, data.write_chunks(rest)).await {
                Ok(Ok(w)) => rest = &mut rest[w.chunks..],
                Ok(Err(_)) => return Ok(false),
                Err(_) => return Err(()),
            }
        }
        Ok(true)
    }
}

/// Adds the time since its start to a counter when dropped.
struct AddElapsed<'a>(&'a AtomicU64, Instant);

impl Drop for AddElapsed<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(self.1.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }
}

struct CountGuard<'a>(&'a AtomicUsize);

impl Drop for CountGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
