//! Opening a log: the recovery table, and the steps that apply it to each segment file.
//!
//! Every segment file is described by a few facts; [`decide`] maps them to one action
//! through [`TABLE`]. A test enumerates every combination of facts and checks that exactly
//! one row matches, so no case is left to chance. Only the last segment's batches are
//! scanned: opening costs time proportional to the active tail, not to the whole log.
//! Sealed segments are checked through their footer here, and in full by
//! `dawn log inspect` and on export.

use std::sync::Arc;

use xxhash_rust::xxh3::Xxh3;

use super::config::Config;
use super::error::{Location, OpenError};
use super::format::{self, IndexEntry, SEGMENT_HEADER_LEN};
use super::segment::{self, Scan, Segment, TailEnd, SEGMENT_SUFFIX, TMP_SUFFIX};
use super::storage::{Dir, Storage};

/// Name of the lock file in a log directory (file backend).
pub const LOCK_NAME: &str = "LOCK";

/// Is the segment header readable?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderFact {
    /// Magic, version and checksum verify, and the base offset matches the file name.
    Valid,
    /// Not valid, and the file holds nothing past the header's 64 bytes: a segment whose
    /// creation was cut short. It cannot hold an acknowledged record.
    Torn,
    /// Not valid, with data after it.
    Invalid,
}

/// Does the segment end in a valid seal (footer and index)?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealFact {
    /// The footer verifies and agrees with the header.
    Sealed,
    /// No valid footer.
    Open,
}

/// What a scan of the batches found (only the last, unsealed segment is scanned).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TailFact {
    /// All batches valid to the end of the file.
    Clean,
    /// Invalid bytes at the end that were never fsynced.
    Torn,
    /// Invalid bytes that had been fsynced (a later valid batch says so).
    Corrupt,
    /// Not scanned.
    NotScanned,
}

/// Does the segment continue the previous one (offsets contiguous, chain checksum equal)?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkFact {
    /// It continues the previous segment, or it is the first one kept.
    Continues,
    /// A gap, an overlap, or a chain checksum from another history.
    Broken,
}

/// The facts about one segment file that recovery acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// Is this the segment with the highest base offset?
    pub last: bool,
    /// Header state.
    pub header: HeaderFact,
    /// Seal state (meaningful when the header is valid).
    pub seal: SealFact,
    /// Tail scan result (meaningful for the last, unsealed segment).
    pub tail: TailFact,
    /// Link to the previous segment (meaningful when the header is valid).
    pub link: LinkFact,
}

/// What recovery does with a segment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Keep it as a sealed segment.
    KeepSealed,
    /// Keep it as the active segment; append after its last batch.
    KeepActive,
    /// Cut the torn bytes after the last valid batch, log what was cut, keep it active.
    TruncateTail,
    /// Delete the file: its creation never completed, it holds no record.
    RemoveTornCreation,
    /// Refuse to open: acknowledged data would be lost. The reason is shown to the user.
    Refuse(&'static str),
    /// A combination the scanner never produces; reaching it is a bug.
    Impossible,
}

/// A pattern over one fact.
#[derive(Debug, Clone, Copy)]
pub enum Pat<T> {
    /// Any value.
    Any,
    /// Exactly this value.
    Is(T),
}

impl<T: PartialEq> Pat<T> {
    fn matches(&self, v: &T) -> bool {
        match self {
            Pat::Any => true,
            Pat::Is(x) => x == v,
        }
    }
}

/// One row of the recovery table.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    /// Pattern on [`Facts::last`].
    pub last: Pat<bool>,
    /// Pattern on [`Facts::header`].
    pub header: Pat<HeaderFact>,
    /// Pattern on [`Facts::seal`].
    pub seal: Pat<SealFact>,
    /// Pattern on [`Facts::tail`].
    pub tail: Pat<TailFact>,
    /// Pattern on [`Facts::link`].
    pub link: Pat<LinkFact>,
    /// What to do.
    pub action: Action,
}

impl Row {
    /// Does this row match `f`?
    pub fn matches(&self, f: &Facts) -> bool {
        self.last.matches(&f.last)
            && self.header.matches(&f.header)
            && self.seal.matches(&f.seal)
            && self.tail.matches(&f.tail)
            && self.link.matches(&f.link)
    }
}

use Pat::{Any, Is};

/// The recovery table. Exactly one row matches any combination of facts (tested).
pub const TABLE: &[Row] = &[
    Row { last: Is(true), header: Is(HeaderFact::Torn), seal: Any, tail: Any, link: Any, action: Action::RemoveTornCreation },
    Row { last: Is(false), header: Is(HeaderFact::Torn), seal: Any, tail: Any, link: Any, action: Action::Refuse("segment header is missing, yet later segments exist") },
    Row { last: Any, header: Is(HeaderFact::Invalid), seal: Any, tail: Any, link: Any, action: Action::Refuse("segment header is damaged (bad magic, version, checksum, or base offset differs from the file name)") },
    Row { last: Any, header: Is(HeaderFact::Valid), seal: Any, tail: Any, link: Is(LinkFact::Broken), action: Action::Refuse("segment does not continue the previous one (offset gap or chain checksum mismatch)") },
    Row { last: Any, header: Is(HeaderFact::Valid), seal: Is(SealFact::Sealed), tail: Any, link: Is(LinkFact::Continues), action: Action::KeepSealed },
    Row { last: Is(false), header: Is(HeaderFact::Valid), seal: Is(SealFact::Open), tail: Any, link: Is(LinkFact::Continues), action: Action::Refuse("a segment before the last one has no valid seal footer") },
    Row { last: Is(true), header: Is(HeaderFact::Valid), seal: Is(SealFact::Open), tail: Is(TailFact::Clean), link: Is(LinkFact::Continues), action: Action::KeepActive },
    Row { last: Is(true), header: Is(HeaderFact::Valid), seal: Is(SealFact::Open), tail: Is(TailFact::Torn), link: Is(LinkFact::Continues), action: Action::TruncateTail },
    Row { last: Is(true), header: Is(HeaderFact::Valid), seal: Is(SealFact::Open), tail: Is(TailFact::Corrupt), link: Is(LinkFact::Continues), action: Action::Refuse("checksum failure inside data that had been fsynced") },
    Row { last: Is(true), header: Is(HeaderFact::Valid), seal: Is(SealFact::Open), tail: Is(TailFact::NotScanned), link: Is(LinkFact::Continues), action: Action::Impossible },
];

/// The action for a segment with facts `f`: the first (and only) matching row.
pub fn decide(f: &Facts) -> Action {
    TABLE.iter().find(|r| r.matches(f)).map_or(Action::Impossible, |r| r.action)
}

/// Every combination of facts, for exhaustiveness tests.
pub fn all_facts() -> Vec<Facts> {
    let mut v = Vec::new();
    for last in [false, true] {
        for header in [HeaderFact::Valid, HeaderFact::Torn, HeaderFact::Invalid] {
            for seal in [SealFact::Sealed, SealFact::Open] {
                for tail in [TailFact::Clean, TailFact::Torn, TailFact::Corrupt, TailFact::NotScanned] {
                    for link in [LinkFact::Continues, LinkFact::Broken] {
                        v.push(Facts { last, header, seal, tail, link });
                    }
                }
            }
        }
    }
    v
}

/// What recovery changed or noticed, for the log and for tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Torn tails cut: (file, position, bytes cut, reason).
    pub truncated: Vec<(String, u64, u64, String)>,
    /// Files deleted (torn segment creations, leftover import files).
    pub removed: Vec<String>,
    /// Files in the directory that are not part of the log, left alone.
    pub ignored: Vec<String>,
    /// A new active segment created at open.
    pub created: Option<String>,
}

/// The writer's starting point: the active segment after recovery.
pub(super) struct ActiveStart {
    pub name: String,
    pub storage: Arc<dyn Storage>,
    pub base: u64,
    pub prev_chain: u64,
    pub pos: u64,
    pub next: u64,
    pub index: Vec<IndexEntry>,
    pub last_index_pos: Option<u64>,
    pub hasher: Xxh3,
}

/// The recovered log: sealed segments in order, the active one, and the report.
pub(super) struct Recovered {
    pub sealed: Vec<Arc<Segment>>,
    pub active: ActiveStart,
    pub report: RecoveryReport,
}

fn io_err(dir: &dyn Dir, name: &str) -> impl FnOnce(std::io::Error) -> OpenError {
    let file = dir.describe(name);
    move |source| OpenError::Io { file, source }
}

/// Is `name` a segment file left by an interrupted import (`<segment>.seg.tmp`)?
pub fn is_import_leftover(name: &str) -> bool {
    name.strip_suffix(TMP_SUFFIX).is_some_and(|n| segment::parse_segment_name(n).is_some())
}

/// Writes a fresh segment header into a new file and makes it and its name durable.
pub(super) fn create_segment(
    dir: &dyn Dir,
    base: u64,
    prev_chain: u64,
) -> std::io::Result<(String, Arc<dyn Storage>)> {
    let name = segment::segment_name(base);
    let storage = dir.create(&name)?;
    storage.write_at(&format::SegmentHeader { base_offset: base, prev_chain }.encode(), 0)?;
    storage.sync_data()?;
    dir.sync()?;
    Ok((name, storage))
}

/// Applies the recovery table to every segment in `dir`.
pub(super) fn recover(dir: &dyn Dir, config: &Config) -> Result<Recovered, OpenError> {
    let mut report = RecoveryReport::default();
    let mut segs = Vec::new();
    for name in dir.list().map_err(io_err(dir, ""))? {
        if let Some(base) = segment::parse_segment_name(&name) {
            segs.push((base, name));
        } else if is_import_leftover(&name) {
            dir.remove(&name).map_err(io_err(dir, &name))?;
            tracing::warn!(target: "dawn::log", file = %dir.describe(&name), "removed a leftover temporary file");
            report.removed.push(name);
        } else if name != LOCK_NAME {
            tracing::warn!(target: "dawn::log", file = %dir.describe(&name), "ignoring a file that is not a log segment");
            report.ignored.push(name);
        }
    }
    segs.sort();
    let mut sealed: Vec<Arc<Segment>> = Vec::new();
    // (next offset, chain) after the last kept sealed segment.
    let mut prev: Option<(u64, u64)> = None;
    let mut active = None;
    let count = segs.len();
    for (i, (base, name)) in segs.into_iter().enumerate() {
        let storage = dir.open(&name).map_err(io_err(dir, &name))?;
        let len = storage.len().map_err(io_err(dir, &name))?;
        let mut head = vec![0u8; len.min(SEGMENT_HEADER_LEN as u64) as usize];
        storage.read_at(&mut head, 0).map_err(io_err(dir, &name))?;
        let decoded = format::SegmentHeader::decode(&head);
        let header = decoded.as_ref().ok().copied().filter(|h| h.base_offset == base);
        let header_fact = match (&decoded, header) {
            (_, Some(_)) => HeaderFact::Valid,
            (Err(_), None) if len <= SEGMENT_HEADER_LEN as u64 => HeaderFact::Torn,
            _ => HeaderFact::Invalid,
        };
        let prev_chain = header.map_or(0, |h| h.prev_chain);
        let seal = header.and_then(|_| segment::load_seal(&*storage, len).ok()).filter(|s| {
            let f = &s.footer;
            f.last_offset.checked_add(1).is_some()
                && f.last_offset.checked_add(1) == base.checked_add(f.record_count)
                && f.chain == format::chain(prev_chain, f.body_checksum, f.record_count, f.last_offset)
        });
        let link = match prev {
            Some((next, chain)) if header.is_some() && (base != next || prev_chain != chain) => {
                LinkFact::Broken
            }
            _ => LinkFact::Continues,
        };
        let last = i + 1 == count;
        let mut scan: Option<(Scan, Vec<u8>)> = None;
        let mut seal = seal;
        if last && header.is_some() {
            // The last segment is the tail: read it whole. A seal there counts only if the
            // body checksum verifies, since the footer may have reached the disk while an
            // earlier unsynced batch did not (a sealing fsync that never completed).
            let mut image = vec![0u8; len as usize];
            storage.read_at(&mut image, 0).map_err(io_err(dir, &name))?;
            if let Some(s) = &seal {
                let body = &image[..s.footer.index_pos as usize];
                if xxhash_rust::xxh3::xxh3_64(body) != s.footer.body_checksum {
                    tracing::warn!(target: "dawn::log", file = %dir.describe(&name), "seal footer present but the body does not match it; treating the segment as unsealed");
                    seal = None;
                }
            }
            if seal.is_none() {
                scan = Some((segment::scan_batches(&image, base, config.index_interval_bytes), image));
            }
        }
        let tail = match scan.as_ref().map(|s| &s.0.end) {
            None => TailFact::NotScanned,
            Some(TailEnd::Clean) => TailFact::Clean,
            Some(TailEnd::Torn { .. }) => TailFact::Torn,
            Some(TailEnd::Corrupt { .. }) => TailFact::Corrupt,
        };
        let facts = Facts {
            last,
            header: header_fact,
            seal: if seal.is_some() { SealFact::Sealed } else { SealFact::Open },
            tail,
            link,
        };
        let action = decide(&facts);
        tracing::debug!(target: "dawn::log", file = %dir.describe(&name), ?facts, ?action, "recovery");
        match action {
            Action::KeepSealed => {
                let seal = seal.expect("sealed");
                prev = Some((seal.footer.last_offset + 1, seal.footer.chain));
                sealed.push(Arc::new(Segment::sealed(dir, name, base, prev_chain, storage, seal, len)));
            }
            Action::KeepActive | Action::TruncateTail => {
                let (scan, image) = scan.expect("scanned");
                if let TailEnd::Torn { at, why } = &scan.end {
                    let cut = len - *at as u64;
                    tracing::warn!(
                        target: "dawn::log",
                        file = %dir.describe(&name), at, bytes_cut = cut, next_offset = scan.next_offset, reason = %why,
                        "cut a torn tail: these bytes were never acknowledged as durable"
                    );
                    storage.set_len(*at as u64).map_err(io_err(dir, &name))?;
                    storage.sync_data().map_err(io_err(dir, &name))?;
                    report.truncated.push((name.clone(), *at as u64, cut, why.clone()));
                }
                // What a crashed process left may still be only in the page cache: make it
                // durable before readers see it or later batches vouch for it.
                storage.sync_data().map_err(io_err(dir, &name))?;
                let mut hasher = Xxh3::new();
                hasher.update(&image[..scan.valid_end]);
                active = Some(ActiveStart {
                    name,
                    storage,
                    base,
                    prev_chain,
                    pos: scan.valid_end as u64,
                    next: scan.next_offset,
                    index: scan.index,
                    last_index_pos: scan.last_index_pos.map(|p| p as u64),
                    hasher,
                });
            }
            Action::RemoveTornCreation => {
                drop(storage);
                dir.remove(&name).map_err(io_err(dir, &name))?;
                dir.sync().map_err(io_err(dir, &name))?;
                tracing::warn!(target: "dawn::log", file = %dir.describe(&name), "removed a segment whose creation was cut short");
                report.removed.push(name);
            }
            Action::Refuse(why) => {
                let pos = match (&scan, facts.header) {
                    (Some((Scan { end: TailEnd::Corrupt { at, .. }, .. }, _)), _) => *at as u64,
                    (_, HeaderFact::Valid) if facts.link == LinkFact::Continues => len,
                    _ => 0,
                };
                let detail = match scan.map(|s| s.0.end) {
                    Some(TailEnd::Corrupt { why: w, .. }) => format!("{why}: {w}"),
                    _ => why.to_string(),
                };
                return Err(OpenError::Corrupt {
                    location: Location { file: dir.describe(&name), pos },
                    detail,
                });
            }
            Action::Impossible => {
                return Err(OpenError::Corrupt {
                    location: Location { file: dir.describe(&name), pos: 0 },
                    detail: format!("recovery reached a case that cannot happen: {facts:?}"),
                });
            }
        }
    }
    let active = match active {
        Some(a) => a,
        None => {
            let (base, prev_chain) = prev.unwrap_or((0, 0));
            let (name, storage) =
                create_segment(dir, base, prev_chain).map_err(io_err(dir, &segment::segment_name(base)))?;
            tracing::info!(target: "dawn::log", file = %dir.describe(&name), base, "created active segment");
            report.created = Some(name.clone());
            let mut hasher = Xxh3::new();
            hasher.update(&format::SegmentHeader { base_offset: base, prev_chain }.encode());
            ActiveStart {
                name,
                storage,
                base,
                prev_chain,
                pos: SEGMENT_HEADER_LEN as u64,
                next: base,
                index: Vec::new(),
                last_index_pos: None,
                hasher,
            }
        }
    };
    debug_assert!(active.name.ends_with(SEGMENT_SUFFIX), "active segment {} misnamed", active.name);
    Ok(Recovered { sealed, active, report })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_exhaustive_and_unambiguous() {
        for f in all_facts() {
            let n = TABLE.iter().filter(|r| r.matches(&f)).count();
            assert_eq!(n, 1, "{n} rows match {f:?}");
        }
    }

    #[test]
    fn impossible_only_where_the_scanner_cannot_lead() {
        for f in all_facts() {
            if decide(&f) == Action::Impossible {
                // The last unsealed segment with a valid header is always scanned.
                assert!(
                    f.last
                        && f.header == HeaderFact::Valid
                        && f.seal == SealFact::Open
                        && f.tail == TailFact::NotScanned
                );
            }
        }
    }
}
