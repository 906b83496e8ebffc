//! Typed errors, one enum per operation.

use std::io;

use super::Offset;

/// Where in which file something went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file (a path for the file backend).
    pub file: String,
    /// Byte position in the file.
    pub pos: u64,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at byte {}", self.file, self.pos)
    }
}

/// Opening (and recovering) a log failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The configuration breaks a limit.
    #[error(transparent)]
    Config(#[from] super::ConfigError),
    /// Another process holds the log directory.
    #[error("{path} is in use by another process (lock file held); stop it or pick another directory")]
    Locked {
        /// The lock file.
        path: String,
    },
    /// Damage that recovery must not repair by itself: acknowledged data would be lost.
    #[error("corrupt log: {location}: {detail}; run `dawn log inspect` on the directory for a full report")]
    Corrupt {
        /// Where.
        location: Location,
        /// What is wrong.
        detail: String,
    },
    /// An I/O operation failed.
    #[error("i/o error on {file}: {source}")]
    Io {
        /// The file or directory.
        file: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// An append was refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppendError {
    /// The batch holds no record.
    #[error("empty append: a batch needs at least one record")]
    Empty,
    /// A record is larger than `record_bytes_max`.
    #[error("record {index} of the batch is {len} bytes; the limit is {max}")]
    RecordTooLarge {
        /// Position of the record in the batch.
        index: usize,
        /// Its length.
        len: usize,
        /// `record_bytes_max`.
        max: u32,
    },
    /// The batch has more records or bytes than allowed.
    #[error("batch of {records} records and {bytes} bytes exceeds the limits ({records_max} records, {bytes_max} bytes); split it")]
    BatchTooLarge {
        /// Records in the batch.
        records: usize,
        /// Framed bytes of the batch.
        bytes: u64,
        /// `batch_records_max`.
        records_max: u32,
        /// `batch_bytes_max`.
        bytes_max: u64,
    },
    /// An earlier write or sync failed; the log takes no more appends until it is reopened
    /// (after a failed fsync the page cache cannot be trusted).
    #[error("log stopped after an i/o failure ({0}); reopen it to recover")]
    Poisoned(String),
    /// The log was closed.
    #[error("log is closed")]
    Closed,
    /// Writing failed; the log is now poisoned.
    #[error("i/o error on {file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl AppendError {
    /// True when the caller may retry the same batch later on this log handle.
    pub fn is_retryable(&self) -> bool {
        false
    }
    /// True when this log handle can take no more appends.
    pub fn is_fatal(&self) -> bool {
        matches!(self, Self::Poisoned(_) | Self::Closed | Self::Io { .. })
    }
}

/// Waiting for durability failed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum DurabilityError {
    /// A write or sync failed before the offset became durable; it may be lost.
    #[error("log stopped after an i/o failure before offset {0} was durable")]
    Poisoned(Offset),
    /// The log was closed before the offset became durable.
    #[error("log closed before offset {0} was durable")]
    Closed(Offset),
}

/// A read failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The offset was pruned.
    #[error("offset {offset} was pruned; the oldest offset kept is {oldest}")]
    Pruned {
        /// The offset asked for.
        offset: Offset,
        /// The oldest offset still in the log.
        oldest: Offset,
    },
    /// The offset is past the end of the durable log.
    #[error("offset {offset} is past the end of the log (next durable offset is {end})")]
    PastEnd {
        /// The offset asked for.
        offset: Offset,
        /// One past the last durable record.
        end: Offset,
    },
    /// A checksum or frame check failed: the data on disk is damaged.
    #[error("corrupt record data at {location}: {detail}")]
    Corrupt {
        /// Where.
        location: Location,
        /// What is wrong.
        detail: String,
    },
    /// The log was closed (tailing readers only).
    #[error("log is closed")]
    Closed,
    /// An I/O operation failed.
    #[error("i/o error on {file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// Pruning failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PruneError {
    /// Removing a segment file failed; the segments before it are gone, it and later
    /// ones are kept.
    #[error("i/o error removing {file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// Exporting a sealed segment failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// No sealed segment starts at that offset.
    #[error("no sealed segment starts at offset {base}; sealed segments start at: {available}")]
    NoSuchSegment {
        /// The base asked for.
        base: Offset,
        /// Bases of the sealed segments, for the message.
        available: String,
    },
    /// The segment failed verification; it is not shipped.
    #[error("segment is corrupt at {location}: {detail}")]
    Corrupt {
        /// Where.
        location: Location,
        /// What is wrong.
        detail: String,
    },
    /// Reading the segment or writing the stream failed.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
}

/// Importing a shipped segment was refused or failed; the log is unchanged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The stream is not a segment export, or its header is damaged.
    #[error("not a valid segment export: {0}")]
    BadStream(String),
    /// The stream's contents do not match its checksums or do not form a sealed segment.
    #[error("segment export failed verification: {0}")]
    Verification(String),
    /// The segment does not start where this log continues.
    #[error("segment starts at offset {got} but this log continues at {expected}")]
    NotContiguous {
        /// The log's next offset.
        expected: Offset,
        /// The segment's base offset.
        got: Offset,
    },
    /// The segment's chain does not continue this log's last sealed segment.
    #[error("segment's previous-chain checksum {got:#018x} does not match this log's last sealed segment ({expected:#018x}): it belongs to another history")]
    ChainMismatch {
        /// Chain checksum of this log's last sealed segment.
        expected: u64,
        /// The segment's recorded previous chain checksum.
        got: u64,
    },
    /// The log has unsealed records, so an imported segment cannot follow it.
    #[error("this log has {records} unsealed records after offset {sealed_end}; import needs an empty active segment")]
    ActiveNotEmpty {
        /// Records in the active segment.
        records: u64,
        /// Offset where the active segment starts.
        sealed_end: Offset,
    },
    /// The log is poisoned or closed.
    #[error(transparent)]
    Append(#[from] AppendError),
    /// Reading the stream or writing the segment failed.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
}
