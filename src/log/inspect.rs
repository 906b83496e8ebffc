//! A read-only check of a log directory: every segment, every checksum, every link.
//! It never changes a byte; [`super::Log::open`] is what repairs (cuts torn tails).

use serde::Serialize;

use super::format::{self, SEGMENT_HEADER_LEN};
use super::recovery::{is_import_leftover, LOCK_NAME};
use super::segment::{self, TailEnd};
use super::storage::Dir;

/// The verdict on one segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Verdict {
    /// Every checksum verifies.
    Ok,
    /// A torn tail that opening the log will cut (never-acknowledged bytes).
    TornTail {
        /// First byte cut.
        at: u64,
        /// Bytes that would be cut.
        bytes: u64,
        /// Why they are invalid.
        why: String,
    },
    /// Damage that opening the log will refuse.
    Corrupt {
        /// Byte position.
        at: u64,
        /// What is wrong.
        why: String,
    },
}

/// One segment's report.
#[derive(Debug, Clone, Serialize)]
pub struct SegmentReport {
    /// File name.
    pub name: String,
    /// First offset (from the file name).
    pub base: u64,
    /// Last offset, if the segment holds any valid record.
    pub last: Option<u64>,
    /// Valid records.
    pub records: u64,
    /// File size.
    pub bytes: u64,
    /// Whether it ends in a valid seal.
    pub sealed: bool,
    /// The chain checksum of a sealed segment.
    pub chain: Option<u64>,
    /// The verdict.
    pub verdict: Verdict,
}

/// The report on a whole directory.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Report {
    /// Segments, oldest first.
    pub segments: Vec<SegmentReport>,
    /// Files that are not part of the log (left alone on open).
    pub ignored: Vec<String>,
    /// Files left by an interrupted import (removed on open).
    pub leftovers: Vec<String>,
    /// Problems between segments (gaps, chain mismatches, unsealed middle segments).
    pub problems: Vec<String>,
}

impl Report {
    /// True when opening the log would succeed without losing acknowledged data.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
            && self.segments.iter().all(|s| !matches!(s.verdict, Verdict::Corrupt { .. }))
    }
}

/// Inspects every segment in `dir`. Reads everything, writes nothing.
pub fn inspect(dir: &dyn Dir) -> std::io::Result<Report> {
    let mut report = Report::default();
    let mut segs = Vec::new();
    for name in dir.list()? {
        match segment::parse_segment_name(&name) {
            Some(base) => segs.push((base, name)),
            None if name == LOCK_NAME => {}
            None if is_import_leftover(&name) => report.leftovers.push(name),
            None => report.ignored.push(name),
        }
    }
    segs.sort();
    report.ignored.sort();
    let count = segs.len();
    let mut prev: Option<(String, Option<(u64, u64)>)> = None;
    for (i, (base, name)) in segs.into_iter().enumerate() {
        let storage = dir.open(&name)?;
        let len = storage.len()?;
        let mut image = vec![0u8; len as usize];
        storage.read_at(&mut image, 0)?;
        let last_seg = i + 1 == count;
        let mut rep = SegmentReport {
            name: name.clone(),
            base,
            last: None,
            records: 0,
            bytes: len,
            sealed: false,
            chain: None,
            verdict: Verdict::Ok,
        };
        let header = match format::SegmentHeader::decode(&image) {
            Ok(h) if h.base_offset == base => Some(h),
            Ok(h) => {
                rep.verdict = Verdict::Corrupt {
                    at: 0,
                    why: format!("header base {} differs from file name", h.base_offset),
                };
                None
            }
            Err(e) if last_seg && len <= SEGMENT_HEADER_LEN as u64 => {
                rep.verdict = Verdict::TornTail {
                    at: 0,
                    bytes: len,
                    why: format!("segment creation cut short ({e}); removed on open"),
                };
                None
            }
            Err(e) => {
                rep.verdict = Verdict::Corrupt { at: 0, why: format!("header: {e}") };
                None
            }
        };
        let mut link_end = None;
        if let Some(h) = header {
            if let Some((pname, Some((next, chain)))) = &prev {
                if *next != base {
                    report.problems.push(format!("{name} starts at {base} but {pname} ends before {next}"));
                } else if *chain != h.prev_chain {
                    report.problems.push(format!("{name}'s previous-chain checksum does not match {pname}"));
                }
            }
            let has_seal = segment::load_seal(&*storage, len).is_ok();
            // As on open: a seal on the last segment counts only if its body verifies;
            // otherwise the segment is scanned like an unsealed one.
            let verified = if has_seal { Some(segment::verify_sealed_image(&image)) } else { None };
            match verified {
                Some(Ok((_, seal))) => {
                    rep.sealed = true;
                    rep.records = seal.footer.record_count;
                    rep.last = Some(seal.footer.last_offset);
                    rep.chain = Some(seal.footer.chain);
                    link_end = Some((seal.footer.last_offset + 1, seal.footer.chain));
                }
                Some(Err((at, why))) if !last_seg => rep.verdict = Verdict::Corrupt { at: at as u64, why },
                _ => {
                    let scan = segment::scan_batches(&image, base, u32::MAX);
                    rep.records = scan.next_offset - base;
                    rep.last = scan.next_offset.checked_sub(1).filter(|_| rep.records > 0);
                    match scan.end {
                        TailEnd::Clean => {}
                        TailEnd::Torn { at, why } => {
                            rep.verdict = Verdict::TornTail { at: at as u64, bytes: len - at as u64, why }
                        }
                        TailEnd::Corrupt { at, why } => rep.verdict = Verdict::Corrupt { at: at as u64, why },
                    }
                    if !last_seg {
                        report
                            .problems
                            .push(format!("{name} is not the last segment but has no valid seal footer"));
                    }
                }
            }
        }
        prev = Some((name, link_end));
        report.segments.push(rep);
    }
    Ok(report)
}
