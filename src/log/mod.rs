//! The segmented log engine: an append-only log of byte records with 64-bit offsets.
//!
//! # Purpose
//! Every stage of dawn reads its input from and writes its output to a log: the chain log
//! (blocks, the source of truth) and the results log (receipts). This module knows nothing
//! of blocks; it stores opaque byte records, durably, in order.
//!
//! # Goals
//! - Appends in batches; an append returns offsets at once, durability is reported
//!   separately ([`Log::wait_durable`]) under a per-log [`SyncPolicy`]. With `always`,
//!   concurrent appends share one fdatasync (group commit).
//! - Records framed with length and xxh3 checksum, inside batch frames whose header,
//!   trailer and checksum must all agree (a torn write is unmistakable); segments with a
//!   header and, once sealed, a footer holding a sparse index and a checksum chained from
//!   the previous segment. Byte layouts: docs/FORMAT.md.
//! - Reads from any offset (sealed segments through memory maps), many readers beside one
//!   writer, and a [`Tail`] that waits for new durable records.
//! - Opening costs time proportional to the active tail: sealed segments are checked by
//!   their footer only. Recovery follows [`recovery::TABLE`].
//! - Pruning by segment ([`Log::prune_below`], [`Retention`]); segment shipping for
//!   fast-sync ([`Log::export_segment`], [`Log::import_segment`]).
//!
//! # Non-goals
//! No record keys, compaction, or transactions across logs; no replication (publish ships
//! segments); no encryption.
//!
//! # Threads and ownership
//! The caller's thread encodes and writes each batch (`pwrite` to the page cache) under
//! the writer lock. One `dawn-log-sync` thread per log (policies `always` and `interval`)
//! fsyncs the active segment and advances the durability watermark. Readers clone an
//! `Arc<Segment>` under a short read lock and then read without locks.
//!
//! # What survives a crash
//! Every record reported durable. On open, a torn tail (bytes after the last valid batch
//! that no later batch records as fsynced) is cut and logged; damage to fsynced data,
//! to a sealed segment's footer or header, or a broken chain is an [`OpenError::Corrupt`]
//! naming the file and byte. Readers see only durable records, so nothing a reader saw
//! can vanish in a crash.
//!
//! # Storage seam
//! All I/O goes through [`storage::Dir`] and [`storage::Storage`], implemented by files,
//! memory, and a crash-simulating backend ([`crash::CrashDir`]) used by tests.

pub mod bench;
pub mod cli;
mod config;
pub mod crash;
pub mod decoded;
mod engine;
mod error;
pub mod format;
pub mod fuzz;
pub mod inspect;
pub mod recovery;
mod segment;
pub mod ship;
pub mod storage;
mod tail;

pub use config::{
    Config, ConfigError, Retention, SyncPolicy, BATCH_BYTES_MAX_LIMIT, RECORD_BYTES_MAX_LIMIT,
    SEGMENT_BYTES_MAX_LIMIT,
};
pub use engine::{Appended, Log, LogStats, SegmentInfo};
pub use error::{
    AppendError, DurabilityError, ExportError, ImportError, Location, OpenError, PruneError, ReadError,
};
pub use segment::{parse_segment_name, segment_name};
pub use ship::{ShipHeader, ShipSummary};
pub use tail::Tail;

use bytes::Bytes;

/// The position of a record in a log: 0 for the first record ever appended, then one more
/// for each record.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize, serde::Deserialize,
)]
pub struct Offset(pub u64);

impl std::fmt::Display for Offset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A record read from a log. `data` shares the segment's memory map or read buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Its offset.
    pub offset: Offset,
    /// Its bytes.
    pub data: Bytes,
}
