//! Configuration of one log: segment size, limits, sync policy, retention.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::format::{BATCH_OVERHEAD, FOOTER_LEN, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN};

/// Largest segment size a log may be configured with. Sparse-index positions are u32, so a
/// segment (its body, one batch past the roll point, and its footer) must stay below 4 GiB.
pub const SEGMENT_BYTES_MAX_LIMIT: u64 = 1 << 30;
/// Largest record a log may be configured to accept.
pub const RECORD_BYTES_MAX_LIMIT: u32 = 128 << 20;
/// Largest batch (records plus framing) a log may be configured to accept.
pub const BATCH_BYTES_MAX_LIMIT: u64 = 256 << 20;

const _: () = assert!(
    SEGMENT_BYTES_MAX_LIMIT + BATCH_BYTES_MAX_LIMIT + (FOOTER_LEN as u64) * 2 < u32::MAX as u64,
    "a segment's body can outgrow its roll point by one batch (an over-full segment rolls before the next append) and must still fit u32 positions"
);
const _: () = assert!((RECORD_BYTES_MAX_LIMIT as u64) < BATCH_BYTES_MAX_LIMIT);

/// When appended records are made durable with fdatasync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPolicy {
    /// Group commit: a background syncer fsyncs as soon as there is unsynced data, and all
    /// appends written while one sync runs share the next one. Records count as durable
    /// only after their sync.
    Always,
    /// Fsync at most once per interval. Records count as durable after the next sync.
    Interval(Duration),
    /// Never fsync (except when a segment is sealed). Records count as durable as soon as
    /// they are written to the operating system: they survive a process crash, not a power
    /// loss.
    Never,
}

impl fmt::Display for SyncPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Always => write!(f, "always"),
            Self::Interval(d) => write!(f, "interval:{}ms", d.as_millis()),
            Self::Never => write!(f, "never"),
        }
    }
}

impl FromStr for SyncPolicy {
    type Err = String;

    /// Parses `always`, `never`, or `interval:MS` (also `interval(MS)` and `MSms`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        match s {
            "always" => return Ok(Self::Always),
            "never" => return Ok(Self::Never),
            _ => {}
        }
        let ms = s
            .strip_prefix("interval:")
            .or_else(|| s.strip_prefix("interval(").and_then(|r| r.strip_suffix(')')))
            .unwrap_or(s);
        let ms = ms.strip_suffix("ms").unwrap_or(ms);
        match ms.parse::<u64>() {
            Ok(n) if n > 0 => Ok(Self::Interval(Duration::from_millis(n))),
            _ => Err(format!("unknown sync policy {s:?}: use `always`, `never` or `interval:MS` (MS > 0)")),
        }
    }
}

/// Which sealed segments are pruned automatically after each roll. The active segment is
/// never pruned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Retention {
    /// Keep at most this many segments (the active one included).
    pub segments_max: Option<usize>,
    /// Keep at most this many bytes of segments (the active one included).
    pub bytes_max: Option<u64>,
}

/// Settings of one log. [`Config::default`] suits production; [`Config::tiny`] makes
/// rollover and pruning happen within a few operations in tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The active segment is sealed once it reaches this many bytes.
    pub segment_bytes_max: u64,
    /// Largest record accepted.
    pub record_bytes_max: u32,
    /// Most records in one append.
    pub batch_records_max: u32,
    /// Most bytes (records plus framing) in one append.
    pub batch_bytes_max: u64,
    /// A sparse-index entry is added at a batch that starts at least this many bytes after
    /// the previous entry.
    pub index_interval_bytes: u32,
    /// When appends are fsynced.
    pub sync: SyncPolicy,
    /// Automatic pruning.
    pub retention: Retention,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            segment_bytes_max: 64 << 20,
            record_bytes_max: 8 << 20,
            batch_records_max: 1 << 16,
            batch_bytes_max: 64 << 20,
            index_interval_bytes: 4096,
            sync: SyncPolicy::Always,
            retention: Retention::default(),
        }
    }
}

/// A configuration that breaks a limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid log configuration: {0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Tiny limits: 4 KiB segments, batches of at most 3 records.
    pub fn tiny() -> Self {
        Self {
            segment_bytes_max: 4096,
            record_bytes_max: 1024,
            batch_records_max: 3,
            batch_bytes_max: 4096,
            index_interval_bytes: 256,
            sync: SyncPolicy::Always,
            retention: Retention::default(),
        }
    }

    /// Checks every limit and the relations between them.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let min_segment = (SEGMENT_HEADER_LEN + BATCH_OVERHEAD + RECORD_HEADER_LEN) as u64;
        if self.segment_bytes_max < min_segment || self.segment_bytes_max > SEGMENT_BYTES_MAX_LIMIT {
            return Err(ConfigError(format!(
                "segment_bytes_max {} must be within {min_segment}..={SEGMENT_BYTES_MAX_LIMIT}",
                self.segment_bytes_max
            )));
        }
        if self.record_bytes_max == 0 || self.record_bytes_max > RECORD_BYTES_MAX_LIMIT {
            return Err(ConfigError(format!(
                "record_bytes_max {} must be within 1..={RECORD_BYTES_MAX_LIMIT}",
                self.record_bytes_max
            )));
        }
        if self.batch_records_max == 0 {
            return Err(ConfigError("batch_records_max must be at least 1".into()));
        }
        let one_record = u64::from(self.record_bytes_max) + (BATCH_OVERHEAD + RECORD_HEADER_LEN) as u64;
        if self.batch_bytes_max < one_record || self.batch_bytes_max > BATCH_BYTES_MAX_LIMIT {
            return Err(ConfigError(format!(
                "batch_bytes_max {} must hold one largest record ({one_record}) and be at most {BATCH_BYTES_MAX_LIMIT}",
                self.batch_bytes_max
            )));
        }
        if self.index_interval_bytes == 0 {
            return Err(ConfigError("index_interval_bytes must be at least 1".into()));
        }
        if let SyncPolicy::Interval(d) = self.sync {
            if d.is_zero() {
                return Err(ConfigError("sync interval must be above zero".into()));
            }
        }
        if self.retention.segments_max == Some(0) {
            return Err(ConfigError("retention.segments_max must be at least 1".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_policy_parses() {
        assert_eq!("always".parse(), Ok(SyncPolicy::Always));
        assert_eq!("never".parse(), Ok(SyncPolicy::Never));
        assert_eq!("interval:5".parse(), Ok(SyncPolicy::Interval(Duration::from_millis(5))));
        assert_eq!("interval(7)".parse(), Ok(SyncPolicy::Interval(Duration::from_millis(7))));
        assert_eq!("10ms".parse(), Ok(SyncPolicy::Interval(Duration::from_millis(10))));
        assert!("sometimes".parse::<SyncPolicy>().is_err());
        assert!("interval:0".parse::<SyncPolicy>().is_err());
        for p in [SyncPolicy::Always, SyncPolicy::Never, SyncPolicy::Interval(Duration::from_millis(3))] {
            assert_eq!(p.to_string().parse(), Ok(p));
        }
    }

    #[test]
    fn defaults_and_tiny_are_valid() {
        Config::default().validate().unwrap();
        Config::tiny().validate().unwrap();
        let bad = Config { segment_bytes_max: 10, ..Config::tiny() };
        assert!(bad.validate().is_err());
        let bad = Config { batch_bytes_max: 10, ..Config::tiny() };
        assert!(bad.validate().is_err());
    }
}
