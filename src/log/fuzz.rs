//! Entry points shared by the cargo-fuzz targets (fuzz/) and the robustness tests: each
//! feeds arbitrary bytes to a decoder and must return, never panic or hang.

use std::sync::Arc;

use super::format::{self, SegmentHeader};
use super::storage::{Dir, MemDir};
use super::{inspect, segment_name, Config, Log, Offset};

/// Treats `data` as the only segment file of a log: recovery, inspection, and reading
/// every record that recovery keeps.
pub fn segment_file(data: &[u8]) {
    let _ = SegmentHeader::decode(data);
    let _ = format::verify_batch(data);
    let _ = format::Footer::decode_fixed(data);
    let dir = MemDir::new();
    dir.put(&segment_name(0), data.to_vec());
    let _ = inspect::inspect(&dir);
    if let Ok(log) = Log::open(Arc::new(dir) as Arc<dyn Dir>, Config::tiny()) {
        let mut next = log.oldest_offset().0;
        let end = log.durable_end().0;
        while next < end {
            match log.read(Offset(next), 16, usize::MAX) {
                Ok(recs) if !recs.is_empty() => next = recs.last().map_or(end, |r| r.offset.0 + 1),
                _ => break,
            }
        }
        let _ = log.append(&[b"after"]);
    }
}

/// Treats `data` as a segment export stream imported into an empty log.
pub fn export_stream(data: &[u8]) {
    if let Ok(log) = Log::open(Arc::new(MemDir::new()) as Arc<dyn Dir>, Config::tiny()) {
        let _ = log.import_segment(data);
    }
}
