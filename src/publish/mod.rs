//! The publish stage: filtered, resumable QUIC streams of executed blocks for Tier-2
//! subscribers (explorers, wallets, exchanges), other producers and syncing nodes.
//!
//! # Purpose
//! A subscriber is a cursor and a filter over the logs. The server reads the chain log and
//! the results log, evaluates each subscription's filter on the server, and writes the
//! matching messages to a unidirectional QUIC stream. At the head it takes the newest
//! records decoded, as the producer and exec appended them ([`crate::log::Log::decoded`]:
//! values whose encodings are the records, visible exactly when the records are), rather
//! than reading them back and decoding them again. The log is the
//! buffer: history and live data come through the same path, so switching from replay to
//! live has no gap and no duplicate.
//!
//! # Goals
//! - Protocol version 1 (docs/PROTOCOL.md): `Subscribe {filter, start, commitment,
//!   projection}` on a control stream; block begin, transactions with receipts and
//!   traces, block end with roots, `Undo`, `Irreversible`, heartbeats on a data stream,
//!   many messages per frame; every message carries the cursor to resume after it.
//! - Resume by cursor and a locator of block ids, rewinding a client that was on a dropped
//!   fork with `Undo` instead of silently continuing it.
//! - Commitment `applied` (executed) and `irreversible` (2/3+1 of the producers, see
//!   [`feed::Finality`]).
//! - Bounded memory: one shared cache of the newest decoded blocks (8 MiB), beside each log's cache
//!   of its newest decoded records ([`crate::log::decoded`]); per subscriber only its
//!   position and QUIC's flow-control window.
//!
//! # Non-goals
//! No `accepted` level on streams (a block is streamed once executed, so every message
//! has its receipt); no server-side state per client across connections (the client
//! holds its cursor); segment serving for fast-sync is the log's `export`/`import`.
//!
//! # Tasks and ownership
//! [`feed::Feed::follow`] (one task) advances the heads as exec appends results. The
//! [`server::PublishServer`] accepts connections; each subscription is a task that drives
//! a [`session::Session`] (a plain state machine over a [`feed::BlockSource`], polled on
//! the blocking pool since it may decode blocks) and writes its batches.
//!
//! # What survives a crash
//! Nothing of publish's own: the certificate and key (data dir `publish/`) are written
//! atomically; subscribers resume from their cursors against the logs.

pub mod bench;
pub mod client;
pub mod feed;
pub mod filter;
pub mod protocol;
pub mod server;
pub mod session;
pub mod tls;
pub mod wire;

pub use client::{ClientConfig, ClientError, ResumingSubscriber, Subscription};
pub use feed::{BlockSource, Feed, FeedBlock, Heads};
pub use filter::{Filter, NameLists, TxFilter};
pub use protocol::{Commitment, Cursor, ErrorCode, Message, Projection, Start, Subscribe};
pub use server::{PublishConfig, PublishServer, PublishStats};
pub use tls::{ClientAuth, Fingerprint, Identity, Trust};
