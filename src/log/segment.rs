//! One segment file: naming, loading a seal footer, scanning batches, reading records.

use std::sync::{Arc, OnceLock, RwLock};

use bytes::Bytes;

use super::error::{Location, ReadError};
use super::format::{
    self, BatchHeader, FrameError, IndexEntry, BATCH_HEADER_LEN, BATCH_MAGIC, FOOTER_LEN, INDEX_ENTRY_LEN,
    SEGMENT_HEADER_LEN,
};
use super::storage::{Dir, Storage};
use super::{Offset, Record};

/// Suffix of segment file names.
pub(crate) const SEGMENT_SUFFIX: &str = ".seg";
/// Suffix of files that an interrupted import leaves behind; removed at open.
pub(crate) const TMP_SUFFIX: &str = ".tmp";

/// The file name of the segment whose first offset is `base`: 20 zero-padded digits, so
/// names sort like offsets.
pub fn segment_name(base: u64) -> String {
    format!("{base:020}{SEGMENT_SUFFIX}")
}

/// The base offset encoded in a segment file name, if `name` is one.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A segment's seal: footer and sparse index, read from its end.
#[derive(Debug, Clone)]
pub(crate) struct Seal {
    /// The fixed footer.
    pub(crate) footer: format::Footer,
    /// The sparse index.
    pub(crate) index: Vec<IndexEntry>,
}

/// Reads and verifies the seal of a file of `len` bytes, or says why there is none.
pub(crate) fn load_seal(storage: &dyn Storage, len: u64) -> Result<Seal, FrameError> {
    if len < (SEGMENT_HEADER_LEN + FOOTER_LEN) as u64 {
        return Err(FrameError::Incomplete { need: SEGMENT_HEADER_LEN + FOOTER_LEN, have: len as usize });
    }
    let mut fixed = [0u8; FOOTER_LEN];
    storage
        .read_at(&mut fixed, len - FOOTER_LEN as u64)
        .map_err(|e| FrameError::Inconsistent(format!("reading footer: {e}")))?;
    let footer = format::Footer::decode_fixed(&fixed)?;
    let span = footer.index_count as u64 * INDEX_ENTRY_LEN as u64 + FOOTER_LEN as u64;
    if footer.index_pos.checked_add(span) != Some(len) || footer.index_pos < SEGMENT_HEADER_LEN as u64 {
        return Err(FrameError::Inconsistent(format!(
            "footer places the index at {} with {} entries, file is {len} bytes",
            footer.index_pos, footer.index_count
        )));
    }
    let mut tail = vec![0u8; span as usize];
    storage
        .read_at(&mut tail, footer.index_pos)
        .map_err(|e| FrameError::Inconsistent(format!("reading index: {e}")))?;
    let index = footer.verify_with_index(&tail)?;
    Ok(Seal { footer, index })
}

/// What a scan of a segment's batches found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TailEnd {
    /// Every byte after the header belongs to a valid batch.
    Clean,
    /// Invalid bytes from `at` on, and nothing after them that had been fsynced: a torn
    /// write that was never acknowledged as durable. Safe to cut.
    Torn {
        /// First invalid byte.
        at: usize,
        /// Why the bytes there are not a batch.
        why: String,
    },
    /// Invalid bytes at `at`, but a later valid batch records that data past `at` had been
    /// fsynced: acknowledged data is damaged.
    Corrupt {
        /// First invalid byte.
        at: usize,
        /// What is wrong.
        why: String,
    },
}

/// The result of scanning the batches of an unsealed segment.
#[derive(Debug, Clone)]
pub(crate) struct Scan {
    /// End of the last valid batch.
    pub(crate) valid_end: usize,
    /// Offset after the last valid record.
    pub(crate) next_offset: u64,
    /// Sparse index of the valid batches.
    pub(crate) index: Vec<IndexEntry>,
    /// Byte position of the last index entry.
    pub(crate) last_index_pos: Option<usize>,
    /// What follows the valid batches.
    pub(crate) end: TailEnd,
}

/// Scans the batches of a whole segment file image `file` (header included) whose base
/// offset is `base`, verifying every batch and record checksum.
pub(crate) fn scan_batches(file: &[u8], base: u64, index_interval: u32) -> Scan {
    let mut pos = SEGMENT_HEADER_LEN;
    let mut next = base;
    let mut index = Vec::new();
    let mut last_index_pos: Option<usize> = None;
    let end = loop {
        if pos == file.len() {
            break TailEnd::Clean;
        }
        let why = match check_batch_at(file, pos, next) {
            Ok(h) => {
                if last_index_pos.is_none_or(|p| pos - p >= index_interval as usize) {
                    index.push(IndexEntry { offset_delta: (next - base) as u32, pos: pos as u32 });
                    last_index_pos = Some(pos);
                }
                pos += h.frame_len();
                next = h.end_offset();
                continue;
            }
            Err(why) => why,
        };
        break classify_invalid(file, pos, next, why);
    };
    Scan { valid_end: pos, next_offset: next, index, last_index_pos, end }
}

/// Verifies the batch at `pos` fully: frame, expected first offset, every record.
fn check_batch_at(file: &[u8], pos: usize, expected: u64) -> Result<BatchHeader, String> {
    let v = format::verify_batch(&file[pos..]).map_err(|e| e.to_string())?;
    if v.header.first_offset != expected {
        return Err(format!(
            "batch starts at offset {} where {expected} was expected",
            v.header.first_offset
        ));
    }
    let frame = &file[pos..pos + v.frame_len];
    for r in format::records(frame, &v.header) {
        r.map_err(|e| e.to_string())?;
    }
    Ok(v.header)
}

/// Decides whether invalid bytes at `at` are a torn tail or damage to synced data: damage
/// when some later valid batch says records at or past `expected` had been fsynced.
fn classify_invalid(file: &[u8], at: usize, expected: u64, why: String) -> TailEnd {
    let magic = BATCH_MAGIC.to_le_bytes();
    let mut q = at + 1;
    while q + BATCH_HEADER_LEN <= file.len() {
        if file[q..q + 4] == magic {
            if let Ok(v) = format::verify_batch(&file[q..]) {
                if v.header.synced_before > expected {
                    return TailEnd::Corrupt {
                        at,
                        why: format!(
                            "{why}; a later batch at byte {q} records that offsets below {} were fsynced",
                            v.header.synced_before
                        ),
                    };
                }
            }
        }
        q += 1;
    }
    TailEnd::Torn { at, why }
}

/// Verifies a whole sealed segment image: header, every batch and record, footer, index
/// and body checksum. Returns the header and seal.
pub(crate) fn verify_sealed_image(file: &[u8]) -> Result<(format::SegmentHeader, Seal), (usize, String)> {
    let header = format::SegmentHeader::decode(file).map_err(|e| (0, format!("header: {e}")))?;
    let fixed = format::Footer::decode_fixed(file)
        .map_err(|e| (file.len().saturating_sub(FOOTER_LEN), format!("footer: {e}")))?;
    let index_pos = usize::try_from(fixed.index_pos).unwrap_or(usize::MAX);
    if index_pos > file.len() || index_pos < SEGMENT_HEADER_LEN {
        return Err((file.len() - FOOTER_LEN, "footer index position outside the file".into()));
    }
    let index =
        fixed.verify_with_index(&file[index_pos..]).map_err(|e| (index_pos, format!("footer: {e}")))?;
    let scan = scan_batches(&file[..index_pos], header.base_offset, 1);
    if let TailEnd::Torn { at, why } | TailEnd::Corrupt { at, why } = scan.end {
        return Err((at, why));
    }
    let count = scan.next_offset - header.base_offset;
    if count != fixed.record_count || count == 0 || fixed.last_offset.checked_add(1) != Some(scan.next_offset)
    {
        return Err((
            index_pos,
            format!(
                "footer claims {} records ending at {}, batches hold {count}",
                fixed.record_count, fixed.last_offset
            ),
        ));
    }
    // Every index entry must point at a batch start with the offset it claims.
    let starts: std::collections::HashMap<u32, u32> =
        scan.index.iter().map(|e| (e.pos, e.offset_delta)).collect();
    if let Some(bad) = index.iter().find(|e| starts.get(&e.pos) != Some(&e.offset_delta)) {
        return Err((index_pos, format!("index entry at byte {} does not match a batch", bad.pos)));
    }
    let body = xxhash_rust::xxh3::xxh3_64(&file[..index_pos]);
    if body != fixed.body_checksum {
        return Err((
            0,
            format!("body checksum {body:#018x} differs from footer's {:#018x}", fixed.body_checksum),
        ));
    }
    let chain = format::chain(header.prev_chain, body, fixed.record_count, fixed.last_offset);
    if chain != fixed.chain {
        return Err((index_pos, "footer chain checksum does not match".into()));
    }
    Ok((header, Seal { footer: fixed, index }))
}

/// A segment as the log holds it: sealed (immutable, memory-mapped on first read) or
/// active (being appended to by the writer).
#[derive(Debug)]
pub(crate) struct Segment {
    /// File name.
    pub(crate) name: String,
    /// Human-readable location for errors.
    pub(crate) location: String,
    /// Offset of the first record.
    pub(crate) base: u64,
    /// Chain checksum of the previous segment, from the header.
    pub(crate) prev_chain: u64,
    /// The file.
    pub(crate) storage: Arc<dyn Storage>,
    /// Sealed or active state.
    pub(crate) state: SegmentState,
}

/// Sealed or active.
#[derive(Debug)]
pub(crate) enum SegmentState {
    /// Immutable; readable through a memory map.
    Sealed {
        /// Footer and index.
        seal: Seal,
        /// File length.
        len: u64,
        /// The memory map, made on first read.
        map: OnceLock<Bytes>,
    },
    /// Being appended to. The writer adds index entries here before it makes the batches
    /// they point at visible to readers.
    Active {
        /// Sparse index of the batches written so far.
        index: RwLock<Vec<IndexEntry>>,
    },
}

impl Segment {
    /// A sealed segment.
    pub(crate) fn sealed(
        dir: &dyn Dir,
        name: String,
        base: u64,
        prev_chain: u64,
        storage: Arc<dyn Storage>,
        seal: Seal,
        len: u64,
    ) -> Self {
        Self {
            location: dir.describe(&name),
            name,
            base,
            prev_chain,
            storage,
            state: SegmentState::Sealed { seal, len, map: OnceLock::new() },
        }
    }

    /// An active segment.
    pub(crate) fn active(
        dir: &dyn Dir,
        name: String,
        base: u64,
        prev_chain: u64,
        storage: Arc<dyn Storage>,
        index: Vec<IndexEntry>,
    ) -> Self {
        Self {
            location: dir.describe(&name),
            name,
            base,
            prev_chain,
            storage,
            state: SegmentState::Active { index: RwLock::new(index) },
        }
    }

    /// The seal, if sealed.
    pub(crate) fn seal(&self) -> Option<&Seal> {
        match &self.state {
            SegmentState::Sealed { seal, .. } => Some(seal),
            SegmentState::Active { .. } => None,
        }
    }

    /// File length of a sealed segment.
    pub(crate) fn sealed_len(&self) -> Option<u64> {
        match &self.state {
            SegmentState::Sealed { len, .. } => Some(*len),
            SegmentState::Active { .. } => None,
        }
    }

    fn corrupt(&self, pos: u64, detail: impl Into<String>) -> ReadError {
        ReadError::Corrupt { location: Location { file: self.location.clone(), pos }, detail: detail.into() }
    }

    fn io(&self, source: std::io::Error) -> ReadError {
        ReadError::Io { file: self.location.clone(), source }
    }

    /// The byte position of the batch to start from when looking for `offset`.
    fn seek(&self, offset: u64) -> u64 {
        let find = |index: &[IndexEntry]| {
            let delta = (offset - self.base) as u32;
            let i = index.partition_point(|e| e.offset_delta <= delta);
            if i == 0 {
                SEGMENT_HEADER_LEN as u64
            } else {
                u64::from(index[i - 1].pos)
            }
        };
        match &self.state {
            SegmentState::Sealed { seal, .. } => find(&seal.index),
            SegmentState::Active { index } => find(&index.read().expect("index lock")),
        }
    }

    /// The whole batch frame at `pos`.
    fn frame_at(&self, pos: u64, body_end: u64) -> Result<(BatchHeader, Bytes), ReadError> {
        let header_bytes;
        let header_slice: &[u8] = match &self.state {
            SegmentState::Sealed { .. } => {
                let m = self.map()?;
                let start = pos as usize;
                if start + BATCH_HEADER_LEN > body_end as usize {
                    return Err(self.corrupt(pos, "batch header runs past the segment body"));
                }
                header_bytes = m.slice(start..start + BATCH_HEADER_LEN);
                &header_bytes
            }
            SegmentState::Active { .. } => {
                let mut b = vec![0u8; BATCH_HEADER_LEN];
                self.storage.read_at(&mut b, pos).map_err(|e| self.io(e))?;
                header_bytes = Bytes::from(b);
                &header_bytes
            }
        };
        let header =
            BatchHeader::decode(header_slice).map_err(|e| self.corrupt(pos, format!("batch header: {e}")))?;
        let len = header.frame_len() as u64;
        if pos + len > body_end {
            return Err(self.corrupt(pos, "batch runs past the durable end of the segment"));
        }
        let frame = match &self.state {
            SegmentState::Sealed { .. } => self.map()?.slice(pos as usize..(pos + len) as usize),
            SegmentState::Active { .. } => {
                let mut b = vec![0u8; len as usize];
                self.storage.read_at(&mut b, pos).map_err(|e| self.io(e))?;
                Bytes::from(b)
            }
        };
        Ok((header, frame))
    }

    /// The memory map of a sealed segment (made on first use).
    pub(crate) fn map(&self) -> Result<Bytes, ReadError> {
        match &self.state {
            SegmentState::Sealed { map, len, .. } => {
                if let Some(m) = map.get() {
                    return Ok(m.clone());
                }
                let m = self.storage.map().map_err(|e| self.io(e))?;
                if m.len() as u64 != *len {
                    return Err(self.corrupt(0, format!("file is {} bytes, was {len} when opened", m.len())));
                }
                Ok(map.get_or_init(|| m).clone())
            }
            SegmentState::Active { .. } => unreachable!("active segments are read with pread"),
        }
    }

    /// Appends to `out` the records from `from` on, stopping before offset `until`, after
    /// `max_records` records in all, or once `max_bytes` bytes of data were added (at least
    /// one record is always returned). `body_end` bounds the bytes that may be read.
    pub(crate) fn read_into(
        &self,
        from: u64,
        until: u64,
        body_end: u64,
        max_records: usize,
        max_bytes: usize,
        out: &mut Vec<Record>,
    ) -> Result<(), ReadError> {
        let mut pos = self.seek(from);
        let mut bytes = 0usize;
        let start_len = out.len();
        let mut next = from;
        while next < until
            && out.len() - start_len < max_records
            && (bytes < max_bytes || out.len() == start_len)
        {
            let (header, frame) = self.frame_at(pos, body_end)?;
            let first = header.first_offset;
            if first > next {
                return Err(
                    self.corrupt(pos, format!("batch starts at offset {first}, expected at most {next}"))
                );
            }
            if header.end_offset() <= next {
                pos += frame.len() as u64;
                continue;
            }
            let mut it = format::records(&frame, &header);
            let skip = (next - first) as u32;
            if it.skip_unchecked(skip).map_err(|e| self.corrupt(pos, e.to_string()))? != skip {
                return Err(self.corrupt(pos, "batch ended early"));
            }
            for r in it {
                if next >= until
                    || out.len() - start_len >= max_records
                    || (bytes >= max_bytes && out.len() > start_len)
                {
                    break;
                }
                let range = r.map_err(|e| self.corrupt(pos, format!("record {next}: {e}")))?;
                bytes += range.len();
                out.push(Record { offset: Offset(next), data: frame.slice(range) });
                next += 1;
            }
            pos += frame.len() as u64;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(segment_name(42), "00000000000000000042.seg");
        assert_eq!(parse_segment_name("00000000000000000042.seg"), Some(42));
        assert_eq!(parse_segment_name("42.seg"), None);
        assert_eq!(parse_segment_name("0000000000000000004x.seg"), None);
        assert_eq!(parse_segment_name("00000000000000000042.tmp"), None);
    }

    fn image(batches: &[&[&[u8]]], synced: bool) -> Vec<u8> {
        let mut f = format::SegmentHeader { base_offset: 10, prev_chain: 0 }.encode().to_vec();
        let mut next = 10;
        for b in batches {
            let h = format::encode_batch(next, if synced { next } else { 10 }, b, &mut f);
            next = h.end_offset();
        }
        f
    }

    #[test]
    fn scan_clean_and_torn() {
        let f = image(&[&[b"a", b"b"], &[b"c"]], true);
        let s = scan_batches(&f, 10, 1);
        assert_eq!(s.end, TailEnd::Clean);
        assert_eq!(s.next_offset, 13);
        assert_eq!(s.index.len(), 2);
        let cut = &f[..f.len() - 3];
        let s = scan_batches(cut, 10, 1);
        assert!(matches!(s.end, TailEnd::Torn { .. }));
        assert_eq!(s.next_offset, 12);
    }

    #[test]
    fn damage_before_synced_batch_is_corruption() {
        let f = image(&[&[b"a", b"b"], &[b"c"], &[b"d"]], true);
        let mut bad = f.clone();
        bad[SEGMENT_HEADER_LEN + 45] ^= 1; // inside the first batch's first record
        assert!(matches!(scan_batches(&bad, 10, 1).end, TailEnd::Corrupt { .. }));
        // The same damage when no later batch claims it was synced: a torn tail.
        let f = image(&[&[b"a", b"b"], &[b"c"]], false);
        let mut bad = f.clone();
        bad[SEGMENT_HEADER_LEN + 45] ^= 1;
        assert!(matches!(scan_batches(&bad, 10, 1).end, TailEnd::Torn { .. }));
    }
}
