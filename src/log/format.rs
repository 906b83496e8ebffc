//! Byte layout of segment files: header, batch frames, records, the seal footer.
//!
//! Pure functions over byte slices: no I/O, no clock. Every structure is little-endian and
//! documented box by box in docs/FORMAT.md ("Segment files"); the constants and the
//! compile-time size assertions below are the source of truth that the document mirrors.
//!
//! ```text
//! segment = header(64) batch* [index_entry* footer(64)]
//! batch   = batch_header(40) record* batch_trailer(16)
//! record  = len u32 | xxh3_64(data) u64 | data
//! ```

use xxhash_rust::xxh3::xxh3_64;

/// Magic bytes at the start of every segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"DAWNSEG\0";
/// Current segment format version (see docs/FORMAT.md, "Version history").
pub const FORMAT_VERSION: u16 = 1;
/// Size of the segment header.
pub const SEGMENT_HEADER_LEN: usize = 64;
/// Magic opening every batch frame ("BTCH" read as little-endian u32).
pub const BATCH_MAGIC: u32 = u32::from_le_bytes(*b"BTCH");
/// Size of a batch header.
pub const BATCH_HEADER_LEN: usize = 40;
/// Size of a record header (length + checksum).
pub const RECORD_HEADER_LEN: usize = 12;
/// Magic closing every batch frame.
pub const BATCH_TRAILER_MAGIC: u64 = u64::from_le_bytes(*b"DAWNBEND");
/// Size of a batch trailer (checksum + magic).
pub const BATCH_TRAILER_LEN: usize = 16;
/// Size of one sparse-index entry in a seal footer.
pub const INDEX_ENTRY_LEN: usize = 8;
/// Magic of the seal footer (the last 64 bytes of a sealed segment).
pub const FOOTER_MAGIC: [u8; 8] = *b"DAWNSEAL";
/// Size of the fixed seal footer.
pub const FOOTER_LEN: usize = 64;
/// Framing bytes a batch adds on top of its records' data.
pub const BATCH_OVERHEAD: usize = BATCH_HEADER_LEN + BATCH_TRAILER_LEN;

// Layout assertions: the document and the code must agree on every size.
const _: () = assert!(SEGMENT_HEADER_LEN == 8 + 2 + 2 + 4 + 8 + 8 + 24 + 8);
const _: () = assert!(BATCH_HEADER_LEN == 4 + 4 + 8 + 8 + 4 + 4 + 8);
const _: () = assert!(RECORD_HEADER_LEN == 4 + 8);
const _: () = assert!(BATCH_TRAILER_LEN == 8 + 8);
const _: () = assert!(FOOTER_LEN == 8 + 8 + 8 + 8 + 4 + 4 + 8 + 8 + 8);
const _: () = assert!(INDEX_ENTRY_LEN == 4 + 4);

/// Why a byte range is not a valid structure. Positions are relative to the slice given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// Fewer bytes than the structure needs: a torn or partial write, or end of data.
    #[error("incomplete: need {need} bytes, have {have}")]
    Incomplete {
        /// Bytes required.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// The magic bytes are wrong.
    #[error("bad magic")]
    BadMagic,
    /// The format version is not one this build reads.
    #[error("unsupported format version {0}")]
    UnsupportedVersion(u16),
    /// A checksum does not match the bytes it covers.
    #[error("checksum mismatch in {what}: stored {stored:#018x}, computed {computed:#018x}")]
    Checksum {
        /// Which structure.
        what: &'static str,
        /// Checksum stored in the file.
        stored: u64,
        /// Checksum of the bytes as read.
        computed: u64,
    },
    /// Fields disagree with each other or with what the reader expected.
    #[error("inconsistent: {0}")]
    Inconsistent(String),
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().expect("2 bytes"))
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}
fn need(b: &[u8], n: usize) -> Result<(), FrameError> {
    if b.len() < n {
        Err(FrameError::Incomplete { need: n, have: b.len() })
    } else {
        Ok(())
    }
}
fn check(what: &'static str, stored: u64, computed: u64) -> Result<(), FrameError> {
    if stored == computed {
        Ok(())
    } else {
        Err(FrameError::Checksum { what, stored, computed })
    }
}

/// The fixed header at the start of a segment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Offset of the first record this segment holds (or will hold).
    pub base_offset: u64,
    /// Chain checksum of the previous segment's footer (0 for a log's first segment).
    pub prev_chain: u64,
}

impl SegmentHeader {
    /// Encodes the header into its 64 bytes.
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_LEN] {
        let mut b = [0u8; SEGMENT_HEADER_LEN];
        b[0..8].copy_from_slice(&SEGMENT_MAGIC);
        b[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        // 10..12 flags (0), 12..16 reserved (0)
        b[16..24].copy_from_slice(&self.base_offset.to_le_bytes());
        b[24..32].copy_from_slice(&self.prev_chain.to_le_bytes());
        // 32..56 reserved (0)
        let sum = xxh3_64(&b[..56]);
        b[56..64].copy_from_slice(&sum.to_le_bytes());
        b
    }

    /// Decodes and verifies a header from the first 64 bytes of `b`.
    pub fn decode(b: &[u8]) -> Result<Self, FrameError> {
        need(b, SEGMENT_HEADER_LEN)?;
        if b[0..8] != SEGMENT_MAGIC {
            return Err(FrameError::BadMagic);
        }
        check("segment header", u64_at(b, 56), xxh3_64(&b[..56]))?;
        let version = u16_at(b, 8);
        if version != FORMAT_VERSION {
            return Err(FrameError::UnsupportedVersion(version));
        }
        if u16_at(b, 10) != 0 || u32_at(b, 12) != 0 || b[32..56].iter().any(|&x| x != 0) {
            return Err(FrameError::Inconsistent("reserved header bytes are not zero".into()));
        }
        Ok(Self { base_offset: u64_at(b, 16), prev_chain: u64_at(b, 24) })
    }
}

/// The fixed header of a batch frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Number of records in the batch (at least 1).
    pub count: u32,
    /// Offset of the batch's first record.
    pub first_offset: u64,
    /// Every record below this offset had been fsynced when this batch was written.
    /// Recovery uses it to tell a torn tail from damage to acknowledged data.
    pub synced_before: u64,
    /// Length of the records area (record headers plus data).
    pub body_len: u32,
}

impl BatchHeader {
    /// Total length of the frame this header opens.
    pub fn frame_len(&self) -> usize {
        BATCH_OVERHEAD + self.body_len as usize
    }

    /// Offset one past the batch's last record.
    pub fn end_offset(&self) -> u64 {
        self.first_offset + u64::from(self.count)
    }

    fn encode_into(&self, b: &mut [u8]) {
        b[0..4].copy_from_slice(&BATCH_MAGIC.to_le_bytes());
        b[4..8].copy_from_slice(&self.count.to_le_bytes());
        b[8..16].copy_from_slice(&self.first_offset.to_le_bytes());
        b[16..24].copy_from_slice(&self.synced_before.to_le_bytes());
        b[24..28].copy_from_slice(&self.body_len.to_le_bytes());
        b[28..32].copy_from_slice(&0u32.to_le_bytes());
        let sum = xxh3_64(&b[..32]);
        b[32..40].copy_from_slice(&sum.to_le_bytes());
    }

    /// Decodes and verifies a batch header at the start of `b` (the body is not checked).
    pub fn decode(b: &[u8]) -> Result<Self, FrameError> {
        need(b, BATCH_HEADER_LEN)?;
        if u32_at(b, 0) != BATCH_MAGIC {
            return Err(FrameError::BadMagic);
        }
        check("batch header", u64_at(b, 32), xxh3_64(&b[..32]))?;
        let h = Self {
            count: u32_at(b, 4),
            first_offset: u64_at(b, 8),
            synced_before: u64_at(b, 16),
            body_len: u32_at(b, 24),
        };
        if h.first_offset.checked_add(u64::from(h.count)).is_none() {
            return Err(FrameError::Inconsistent("batch offsets overflow u64".into()));
        }
        if h.count == 0 || u32_at(b, 28) != 0 {
            return Err(FrameError::Inconsistent("empty batch or reserved bits set".into()));
        }
        if (h.body_len as usize) < h.count as usize * RECORD_HEADER_LEN {
            return Err(FrameError::Inconsistent(format!(
                "body of {} bytes cannot hold {} records",
                h.body_len, h.count
            )));
        }
        Ok(h)
    }
}

/// Appends one batch frame holding `records` to `out`; returns its header.
///
/// The caller guarantees `records` is not empty and each record fits in a u32 (the log
/// checks both against its configured limits before encoding).
pub fn encode_batch<R: AsRef<[u8]>>(
    first_offset: u64,
    synced_before: u64,
    records: &[R],
    out: &mut Vec<u8>,
) -> BatchHeader {
    assert!(!records.is_empty(), "a batch holds at least one record");
    let start = out.len();
    let body_len: usize = records.iter().map(|r| RECORD_HEADER_LEN + r.as_ref().len()).sum::<usize>();
    let header = BatchHeader {
        count: u32::try_from(records.len()).expect("batch record count fits u32"),
        first_offset,
        synced_before,
        body_len: u32::try_from(body_len).expect("batch body fits u32"),
    };
    out.reserve(BATCH_OVERHEAD + body_len);
    out.resize(start + BATCH_HEADER_LEN, 0);
    header.encode_into(&mut out[start..]);
    for r in records {
        let data = r.as_ref();
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&xxh3_64(data).to_le_bytes());
        out.extend_from_slice(data);
    }
    let sum = xxh3_64(&out[start..]);
    out.extend_from_slice(&sum.to_le_bytes());
    out.extend_from_slice(&BATCH_TRAILER_MAGIC.to_le_bytes());
    // Paired with the decode-side check: the frame is exactly the length its header claims.
    debug_assert_eq!(out.len() - start, header.frame_len());
    header
}

/// A batch frame whose header, trailer and checksum have been verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedBatch {
    /// The decoded header.
    pub header: BatchHeader,
    /// Length of the whole frame.
    pub frame_len: usize,
}

/// Verifies the batch frame at the start of `b`: header, length, trailer magic and the
/// checksum over header and body. Record checksums are checked by [`records`].
pub fn verify_batch(b: &[u8]) -> Result<VerifiedBatch, FrameError> {
    let header = BatchHeader::decode(b)?;
    let frame_len = header.frame_len();
    need(b, frame_len)?;
    let trailer = &b[frame_len - BATCH_TRAILER_LEN..frame_len];
    if u64_at(trailer, 8) != BATCH_TRAILER_MAGIC {
        return Err(FrameError::BadMagic);
    }
    check("batch", u64_at(trailer, 0), xxh3_64(&b[..frame_len - BATCH_TRAILER_LEN]))?;
    Ok(VerifiedBatch { header, frame_len })
}

/// Walks the records of a verified batch frame `b`, yielding `(byte range of data)` in
/// order, and checks each record's own checksum and that lengths add up exactly.
pub fn records<'a>(b: &'a [u8], header: &BatchHeader) -> RecordIter<'a> {
    let body_end = BATCH_HEADER_LEN + header.body_len as usize;
    RecordIter { b, pos: BATCH_HEADER_LEN, end: body_end, left: header.count }
}

/// Iterator over the records of a batch frame; see [`records`].
#[derive(Debug)]
pub struct RecordIter<'a> {
    b: &'a [u8],
    pos: usize,
    end: usize,
    left: u32,
}

impl<'a> RecordIter<'a> {
    /// Skips `n` records without checking their checksums; returns how many were skipped.
    pub fn skip_unchecked(&mut self, n: u32) -> Result<u32, FrameError> {
        let mut done = 0;
        while done < n && self.left > 0 {
            let len = self.next_len()?;
            self.pos += RECORD_HEADER_LEN + len;
            self.left -= 1;
            done += 1;
        }
        Ok(done)
    }

    fn next_len(&self) -> Result<usize, FrameError> {
        if self.pos + RECORD_HEADER_LEN > self.end {
            return Err(FrameError::Inconsistent("record header past batch body".into()));
        }
        let len = u32_at(self.b, self.pos) as usize;
        if self.pos + RECORD_HEADER_LEN + len > self.end {
            return Err(FrameError::Inconsistent("record data past batch body".into()));
        }
        Ok(len)
    }
}

impl<'a> Iterator for RecordIter<'a> {
    type Item = Result<std::ops::Range<usize>, FrameError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            if self.pos != self.end {
                self.pos = self.end;
                return Some(Err(FrameError::Inconsistent("bytes left after last record".into())));
            }
            return None;
        }
        let len = match self.next_len() {
            Ok(len) => len,
            Err(e) => {
                self.left = 0;
                self.pos = self.end;
                return Some(Err(e));
            }
        };
        let data = self.pos + RECORD_HEADER_LEN..self.pos + RECORD_HEADER_LEN + len;
        let stored = u64_at(self.b, self.pos + 4);
        self.pos = data.end;
        self.left -= 1;
        if let Err(e) = check("record", stored, xxh3_64(&self.b[data.clone()])) {
            self.left = 0;
            self.pos = self.end;
            return Some(Err(e));
        }
        Some(Ok(data))
    }
}

/// One sparse-index entry: the batch starting at `pos` holds offset `base + offset_delta`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    /// Offset of the batch's first record minus the segment's base offset.
    pub offset_delta: u32,
    /// Byte position of the batch frame in the segment file.
    pub pos: u32,
}

/// The fixed seal footer, the last 64 bytes of a sealed segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footer {
    /// Records in the segment (at least 1: an empty segment is never sealed).
    pub record_count: u64,
    /// Offset of the segment's last record.
    pub last_offset: u64,
    /// Byte position where the index entries start (= end of the last batch).
    pub index_pos: u64,
    /// Number of index entries.
    pub index_count: u32,
    /// xxh3_64 over bytes `[0, index_pos)`: the header and every batch.
    pub body_checksum: u64,
    /// `chain(prev_chain, body_checksum, record_count, last_offset)`.
    pub chain: u64,
}

/// The chained segment checksum: ties a segment to every segment before it.
pub fn chain(prev_chain: u64, body_checksum: u64, record_count: u64, last_offset: u64) -> u64 {
    let mut b = [0u8; 32];
    b[0..8].copy_from_slice(&prev_chain.to_le_bytes());
    b[8..16].copy_from_slice(&body_checksum.to_le_bytes());
    b[16..24].copy_from_slice(&record_count.to_le_bytes());
    b[24..32].copy_from_slice(&last_offset.to_le_bytes());
    xxh3_64(&b)
}

impl Footer {
    /// Appends the index entries and the footer to `out`.
    pub fn encode(&self, index: &[IndexEntry], out: &mut Vec<u8>) {
        assert_eq!(index.len(), self.index_count as usize);
        let start = out.len();
        for e in index {
            out.extend_from_slice(&e.offset_delta.to_le_bytes());
            out.extend_from_slice(&e.pos.to_le_bytes());
        }
        out.extend_from_slice(&FOOTER_MAGIC);
        out.extend_from_slice(&self.record_count.to_le_bytes());
        out.extend_from_slice(&self.last_offset.to_le_bytes());
        out.extend_from_slice(&self.index_pos.to_le_bytes());
        out.extend_from_slice(&self.index_count.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&self.body_checksum.to_le_bytes());
        out.extend_from_slice(&self.chain.to_le_bytes());
        let sum = xxh3_64(&out[start..]);
        out.extend_from_slice(&sum.to_le_bytes());
        debug_assert_eq!(out.len() - start, index.len() * INDEX_ENTRY_LEN + FOOTER_LEN);
    }

    /// Decodes the fixed footer from the last 64 bytes of `tail` (its checksum also covers
    /// the index entries, so it is verified by [`Footer::verify_with_index`]).
    pub fn decode_fixed(tail: &[u8]) -> Result<Self, FrameError> {
        need(tail, FOOTER_LEN)?;
        let f = &tail[tail.len() - FOOTER_LEN..];
        if f[0..8] != FOOTER_MAGIC {
            return Err(FrameError::BadMagic);
        }
        if u32_at(f, 36) != 0 {
            return Err(FrameError::Inconsistent("reserved footer bytes are not zero".into()));
        }
        Ok(Self {
            record_count: u64_at(f, 8),
            last_offset: u64_at(f, 16),
            index_pos: u64_at(f, 24),
            index_count: u32_at(f, 32),
            body_checksum: u64_at(f, 40),
            chain: u64_at(f, 48),
        })
    }

    /// Verifies the footer checksum over `index_and_footer` (the index entries followed by
    /// the 64-byte footer) and decodes the index entries.
    pub fn verify_with_index(&self, index_and_footer: &[u8]) -> Result<Vec<IndexEntry>, FrameError> {
        let expect = self.index_count as usize * INDEX_ENTRY_LEN + FOOTER_LEN;
        if index_and_footer.len() != expect {
            return Err(FrameError::Inconsistent(format!(
                "index and footer span {} bytes, footer says {expect}",
                index_and_footer.len()
            )));
        }
        let n = index_and_footer.len();
        check("footer", u64_at(index_and_footer, n - 8), xxh3_64(&index_and_footer[..n - 8]))?;
        let entries: Vec<IndexEntry> = index_and_footer[..n - FOOTER_LEN]
            .chunks_exact(INDEX_ENTRY_LEN)
            .map(|c| IndexEntry { offset_delta: u32_at(c, 0), pos: u32_at(c, 4) })
            .collect();
        // The index must be strictly increasing in both fields and point inside the body.
        for w in entries.windows(2) {
            if w[1].offset_delta <= w[0].offset_delta || w[1].pos <= w[0].pos {
                return Err(FrameError::Inconsistent("index entries not increasing".into()));
            }
        }
        if entries.iter().any(|e| u64::from(e.pos) >= self.index_pos) {
            return Err(FrameError::Inconsistent("index entry points past the body".into()));
        }
        if self.record_count == 0 || self.last_offset == u64::MAX || self.record_count > self.last_offset + 1
        {
            return Err(FrameError::Inconsistent("record count and last offset disagree".into()));
        }
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_snapshot() {
        let h = SegmentHeader { base_offset: 0x0102_0304_0506_0708, prev_chain: 42 };
        let b = h.encode();
        assert_eq!(&b[..8], b"DAWNSEG\0");
        assert_eq!(&b[8..10], &[1, 0]);
        assert_eq!(&b[16..24], &[8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(SegmentHeader::decode(&b).unwrap(), h);
        let mut bad = b;
        bad[20] ^= 1;
        assert!(matches!(SegmentHeader::decode(&bad), Err(FrameError::Checksum { .. })));
    }

    #[test]
    fn batch_round_trip() {
        let recs: Vec<&[u8]> = vec![b"a", b"", b"hello world"];
        let mut out = Vec::new();
        let h = encode_batch(7, 3, &recs, &mut out);
        assert_eq!(out.len(), h.frame_len());
        let v = verify_batch(&out).unwrap();
        assert_eq!(v.header, h);
        let got: Vec<&[u8]> = records(&out, &v.header).map(|r| &out[r.unwrap()]).collect::<Vec<_>>();
        assert_eq!(got, recs);
        for i in 0..out.len() {
            let mut bad = out.clone();
            bad[i] ^= 0x40;
            assert!(verify_batch(&bad).is_err(), "flip at {i} went unnoticed");
        }
        for cut in 0..out.len() {
            assert!(verify_batch(&out[..cut]).is_err());
        }
    }

    #[test]
    fn batch_header_snapshot() {
        let mut out = Vec::new();
        encode_batch(1, 0, &[b"xy"], &mut out);
        assert_eq!(&out[0..4], b"BTCH");
        assert_eq!(&out[4..8], &[1, 0, 0, 0]);
        assert_eq!(&out[24..28], &[14, 0, 0, 0]);
        assert_eq!(&out[out.len() - 8..], b"DAWNBEND");
    }

    #[test]
    fn footer_round_trip() {
        let idx = vec![IndexEntry { offset_delta: 0, pos: 64 }, IndexEntry { offset_delta: 10, pos: 5000 }];
        let f = Footer {
            record_count: 20,
            last_offset: 119,
            index_pos: 9000,
            index_count: 2,
            body_checksum: 5,
            chain: chain(1, 5, 20, 119),
        };
        let mut out = Vec::new();
        f.encode(&idx, &mut out);
        let d = Footer::decode_fixed(&out).unwrap();
        assert_eq!(d, f);
        assert_eq!(d.verify_with_index(&out).unwrap(), idx);
        let mut bad = out.clone();
        bad[3] ^= 1;
        assert!(d.verify_with_index(&bad).is_err());
    }
}
