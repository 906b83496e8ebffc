//! Segment shipping for fast-sync: a sealed segment exported as a zstd stream with its
//! checksums, and imported into another log only after full verification.
//!
//! Stream layout (docs/FORMAT.md, "Segment export stream"): a 72-byte header, then one
//! zstd stream of the segment file's exact bytes.

use std::io::{Read, Write};
use std::sync::Arc;

use xxhash_rust::xxh3::xxh3_64;

use super::config::{BATCH_BYTES_MAX_LIMIT, SEGMENT_BYTES_MAX_LIMIT};
use super::error::{AppendError, ExportError, ImportError, Location};
use super::format::{BATCH_OVERHEAD, FOOTER_LEN, INDEX_ENTRY_LEN, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN};
use super::recovery;
use super::segment::{self, Segment, TMP_SUFFIX};
use super::{Log, Offset};

/// Magic of an export stream.
pub const SHIP_MAGIC: [u8; 8] = *b"DAWNSHIP";
/// Export stream format version.
pub const SHIP_VERSION: u16 = 1;
/// Size of the export stream header.
pub const SHIP_HEADER_LEN: usize = 72;
/// Codec id of zstd.
pub const CODEC_ZSTD: u32 = 1;
/// Largest segment an import accepts: at least the largest a log can produce (a body of
/// `SEGMENT_BYTES_MAX_LIMIT` plus one batch, and an index of at most one 8-byte entry per
/// batch of at least 68 bytes), and below 4 GiB (u32 positions).
pub const SHIPPED_SEGMENT_MAX: u64 = 2 << 30;

const _: () = {
    let body = SEGMENT_BYTES_MAX_LIMIT + BATCH_BYTES_MAX_LIMIT;
    let index = body / (BATCH_OVERHEAD + RECORD_HEADER_LEN) as u64 * INDEX_ENTRY_LEN as u64;
    assert!(body + index + FOOTER_LEN as u64 <= SHIPPED_SEGMENT_MAX);
    assert!(SHIPPED_SEGMENT_MAX < u32::MAX as u64);
};

const _: () = assert!(SHIP_HEADER_LEN == 8 + 2 + 2 + 4 + 8 * 7);

/// The header of an export stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShipHeader {
    /// First offset of the segment.
    pub base_offset: u64,
    /// Records in the segment.
    pub record_count: u64,
    /// Exact length of the segment file.
    pub segment_len: u64,
    /// Chain checksum of the segment before it.
    pub prev_chain: u64,
    /// The segment's own chain checksum.
    pub chain: u64,
    /// xxh3_64 of the whole segment file.
    pub segment_checksum: u64,
}

impl ShipHeader {
    /// Encodes the 72-byte header.
    pub fn encode(&self) -> [u8; SHIP_HEADER_LEN] {
        let mut b = [0u8; SHIP_HEADER_LEN];
        b[0..8].copy_from_slice(&SHIP_MAGIC);
        b[8..10].copy_from_slice(&SHIP_VERSION.to_le_bytes());
        b[12..16].copy_from_slice(&CODEC_ZSTD.to_le_bytes());
        for (i, v) in [
            self.base_offset,
            self.record_count,
            self.segment_len,
            self.prev_chain,
            self.chain,
            self.segment_checksum,
        ]
        .iter()
        .enumerate()
        {
            b[16 + 8 * i..24 + 8 * i].copy_from_slice(&v.to_le_bytes());
        }
        let sum = xxh3_64(&b[..64]);
        b[64..72].copy_from_slice(&sum.to_le_bytes());
        b
    }

    /// Decodes and verifies a header.
    pub fn decode(b: &[u8; SHIP_HEADER_LEN]) -> Result<Self, ImportError> {
        let u64_at = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
        if b[0..8] != SHIP_MAGIC {
            return Err(ImportError::BadStream("wrong magic (expected DAWNSHIP)".into()));
        }
        if u64_at(64) != xxh3_64(&b[..64]) {
            return Err(ImportError::BadStream("header checksum mismatch".into()));
        }
        let version = u16::from_le_bytes([b[8], b[9]]);
        if version != SHIP_VERSION {
            return Err(ImportError::BadStream(format!(
                "unsupported export version {version} (this build reads {SHIP_VERSION})"
            )));
        }
        let codec = u32::from_le_bytes(b[12..16].try_into().expect("4 bytes"));
        if codec != CODEC_ZSTD || b[10..12] != [0, 0] {
            return Err(ImportError::BadStream(format!("unknown codec {codec} or flags set")));
        }
        let h = Self {
            base_offset: u64_at(16),
            record_count: u64_at(24),
            segment_len: u64_at(32),
            prev_chain: u64_at(40),
            chain: u64_at(48),
            segment_checksum: u64_at(56),
        };
        if h.segment_len > SHIPPED_SEGMENT_MAX || h.segment_len < (SEGMENT_HEADER_LEN + FOOTER_LEN) as u64 {
            return Err(ImportError::BadStream(format!(
                "segment length {} outside 128..={SHIPPED_SEGMENT_MAX}",
                h.segment_len
            )));
        }
        Ok(h)
    }
}

/// What an export or import moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ShipSummary {
    /// First offset of the segment.
    pub base_offset: u64,
    /// Records in the segment.
    pub records: u64,
    /// Segment file bytes.
    pub segment_bytes: u64,
    /// Bytes of the export stream.
    pub stream_bytes: u64,
    /// The segment's chain checksum.
    pub chain: u64,
}

struct CountingReader<R> {
    inner: R,
    n: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        Ok(n)
    }
}

struct Counter<W> {
    inner: W,
    n: u64,
}

impl<W: Write> Write for Counter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl Log {
    /// Writes the sealed segment starting at `base` to `out` as an export stream, after
    /// verifying every byte of it. `level` is the zstd level (1 is fast, about 4x on
    /// transaction-like data).
    pub fn export_segment(
        &self,
        base: Offset,
        out: impl Write,
        level: i32,
    ) -> Result<ShipSummary, ExportError> {
        let seg = self.sealed_segment(base).ok_or_else(|| ExportError::NoSuchSegment {
            base,
            available: self
                .segments()
                .iter()
                .filter(|s| s.sealed)
                .map(|s| s.base.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
        let image = seg.map().map_err(|e| ExportError::Io(std::io::Error::other(e.to_string())))?;
        let (header, seal) =
            segment::verify_sealed_image(&image).map_err(|(pos, detail)| ExportError::Corrupt {
                location: Location { file: seg.location.clone(), pos: pos as u64 },
                detail,
            })?;
        let ship = ShipHeader {
            base_offset: header.base_offset,
            record_count: seal.footer.record_count,
            segment_len: image.len() as u64,
            prev_chain: header.prev_chain,
            chain: seal.footer.chain,
            segment_checksum: xxh3_64(&image),
        };
        let mut out = Counter { inner: out, n: 0 };
        out.write_all(&ship.encode())?;
        let mut enc = zstd::stream::Encoder::new(&mut out, level)?;
        enc.write_all(&image)?;
        enc.finish()?;
        out.flush()?;
        tracing::info!(target: "dawn::log", base = ship.base_offset, records = ship.record_count, bytes = out.n, "exported segment");
        Ok(ShipSummary {
            base_offset: ship.base_offset,
            records: ship.record_count,
            segment_bytes: ship.segment_len,
            stream_bytes: out.n,
            chain: ship.chain,
        })
    }

    /// Verifies an export stream and appends its segment to this log. The segment must
    /// start exactly at this log's next offset and chain from its last sealed segment, and
    /// the active segment must be empty; a log with no records takes any starting point
    /// (a node fast-syncing from a snapshot). On any error the log is unchanged.
    pub fn import_segment(&self, input: impl Read) -> Result<ShipSummary, ImportError> {
        let mut input = CountingReader { inner: input, n: 0 };
        let mut hb = [0u8; SHIP_HEADER_LEN];
        input.read_exact(&mut hb).map_err(|e| ImportError::BadStream(format!("reading header: {e}")))?;
        let ship = ShipHeader::decode(&hb)?;
        let mut image = Vec::new();
        let mut dec = zstd::stream::Decoder::new(&mut input)?.take(ship.segment_len + 1);
        dec.read_to_end(&mut image).map_err(|e| ImportError::Verification(format!("decompressing: {e}")))?;
        drop(dec);
        let stream_bytes = input.n;
        if image.len() as u64 != ship.segment_len {
            return Err(ImportError::Verification(format!(
                "stream holds {} bytes, header says {}",
                image.len(),
                ship.segment_len
            )));
        }
        if xxh3_64(&image) != ship.segment_checksum {
            return Err(ImportError::Verification("segment checksum mismatch".into()));
        }
        let (header, seal) = segment::verify_sealed_image(&image)
            .map_err(|(pos, why)| ImportError::Verification(format!("at byte {pos}: {why}")))?;
        if header.base_offset != ship.base_offset
            || header.prev_chain != ship.prev_chain
            || seal.footer.chain != ship.chain
            || seal.footer.record_count != ship.record_count
        {
            return Err(ImportError::Verification(
                "stream header disagrees with the segment it carries".into(),
            ));
        }
        let dir = self.dir().clone();
        let name = segment::segment_name(ship.base_offset);
        self.replace_empty_active(|view| {
            if view.closed {
                return Err(ImportError::Append(AppendError::Closed));
            }
            if let Some(p) = &view.poisoned {
                return Err(ImportError::Append(AppendError::Poisoned(p.clone())));
            }
            if view.next != view.base {
                return Err(ImportError::ActiveNotEmpty {
                    records: view.next - view.base,
                    sealed_end: Offset(view.base),
                });
            }
            // Only a log that never held a record may start anywhere; one that was pruned
            // to nothing has handed out offsets and must continue from them.
            if !view.never_written {
                if ship.base_offset != view.next {
                    return Err(ImportError::NotContiguous {
                        expected: Offset(view.next),
                        got: Offset(ship.base_offset),
                    });
                }
                if ship.prev_chain != view.prev_chain {
                    return Err(ImportError::ChainMismatch {
                        expected: view.prev_chain,
                        got: ship.prev_chain,
                    });
                }
            }
            // Durable steps, each leaving a state the recovery table accepts: the segment
            // under a temporary name; then a rename over the empty active segment (same
            // name: offsets continue) or, for a log that never held a record, the empty
            // active segment removed first; then a new active segment.
            let tmp = format!("{name}{TMP_SUFFIX}");
            let file = dir.create(&tmp)?;
            file.write_at(&image, 0)?;
            file.sync_data()?;
            drop(file);
            let active_name = segment::segment_name(view.base);
            if active_name != name {
                debug_assert!(view.never_written);
                dir.remove(&active_name)?;
                dir.sync()?;
            }
            dir.rename(&tmp, &name)?;
            dir.sync()?;
            let storage = dir.open(&name)?;
            let (next_name, next_storage) =
                recovery::create_segment(&*dir, seal.footer.last_offset + 1, seal.footer.chain)?;
            let sealed = Arc::new(Segment::sealed(
                &*dir,
                name.clone(),
                ship.base_offset,
                ship.prev_chain,
                storage,
                seal.clone(),
                ship.segment_len,
            ));
            Ok((sealed, next_name, next_storage))
        })?;
        tracing::info!(target: "dawn::log", base = ship.base_offset, records = ship.record_count, "imported segment");
        Ok(ShipSummary {
            base_offset: ship.base_offset,
            records: ship.record_count,
            segment_bytes: ship.segment_len,
            stream_bytes,
            chain: ship.chain,
        })
    }
}
