//! The log handle: one writer appends, many readers read, a syncer thread group-commits.
//!
//! Lock order (never taken the other way round): `writer` → `segments` → `sync.state`, and
//! `writer` → `decoded` (the cache of decoded records, which readers take alone).
//! Readers take only `segments` (briefly, to clone an `Arc<Segment>`) and the watermark.

use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;

use tokio::sync::watch;
use xxhash_rust::xxh3::Xxh3;

use super::config::{Config, SyncPolicy};
use super::decoded::{DecodedCache, DecodedValue};
use super::error::{AppendError, DurabilityError, OpenError, PruneError, ReadError};
use super::format::{self, Footer, IndexEntry, BATCH_OVERHEAD, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN};
use super::recovery::{self, RecoveryReport, LOCK_NAME};
use super::segment::{Segment, SegmentState};
use super::storage::{Dir, FileDir, Storage};
use super::{Offset, Record};

/// Offsets `[first, first + count)` assigned to one append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Offset of the batch's first record.
    pub first: Offset,
    /// Number of records.
    pub count: u32,
}

impl Appended {
    /// Offset of the batch's last record.
    pub fn last(&self) -> Offset {
        Offset(self.first.0 + u64::from(self.count) - 1)
    }
}

/// A summary of one segment, for inspection and the CLI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    /// File name.
    pub name: String,
    /// First offset.
    pub base: Offset,
    /// Records held (durable ones for the active segment).
    pub records: u64,
    /// Bytes on disk.
    pub bytes: u64,
    /// Sealed (immutable) or active.
    pub sealed: bool,
    /// Chain checksum of a sealed segment.
    pub chain: Option<u64>,
    /// Chain checksum of the segment before it, from its header.
    pub prev_chain: u64,
}

/// What the durability watermark says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Mark {
    /// Every record below this offset is durable (per the sync policy).
    pub(super) durable: u64,
    /// A write or sync failed: no further offset becomes durable.
    pub(super) poisoned: bool,
    /// The log was closed.
    pub(super) closed: bool,
}

/// The durability watermark, observable from async tasks and blocking threads.
#[derive(Debug)]
struct Watermark {
    tx: watch::Sender<Mark>,
    mark: Mutex<Mark>,
    cv: Condvar,
}

impl Watermark {
    fn new(durable: u64) -> Self {
        let m = Mark { durable, poisoned: false, closed: false };
        Self { tx: watch::Sender::new(m), mark: Mutex::new(m), cv: Condvar::new() }
    }

    fn update(&self, f: impl FnOnce(&mut Mark)) {
        let mut m = self.mark.lock().expect("watermark lock");
        let before = *m;
        f(&mut m);
        // Invariant: the durable watermark never moves backwards.
        assert!(m.durable >= before.durable, "durable watermark moved backwards");
        if *m != before {
            self.tx.send_replace(*m);
            self.cv.notify_all();
        }
    }

    fn get(&self) -> Mark {
        *self.mark.lock().expect("watermark lock")
    }
}

/// State shared by the writer and the syncer thread.
#[derive(Debug)]
struct SyncState {
    /// The file that holds the newest written records.
    file: Arc<dyn Storage>,
    /// Records below this offset are written to `file` (or to an already synced segment).
    written: u64,
    /// Records below this offset have been fsynced.
    synced: u64,
    poisoned: Option<String>,
    shutdown: bool,
}

#[derive(Debug)]
struct SyncShared {
    state: Mutex<SyncState>,
    cv: Condvar,
    syncs: AtomicU64,
}

/// Counters of one open log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct LogStats {
    /// fdatasyncs done by the group-commit syncer since open.
    pub syncs: u64,
}

/// The writer's view of the active segment.
struct Writer {
    name: String,
    storage: Arc<dyn Storage>,
    base: u64,
    prev_chain: u64,
    pos: u64,
    next: u64,
    index: Vec<IndexEntry>,
    last_index_pos: Option<u64>,
    hasher: Xxh3,
    active: Arc<Segment>,
    buf: Vec<u8>,
    poisoned: Option<String>,
    closed: bool,
}

struct Shared {
    dir: Arc<dyn Dir>,
    config: Config,
    writer: Mutex<Writer>,
    segments: RwLock<Vec<Arc<Segment>>>,
    sync: Arc<SyncShared>,
    watermark: Arc<Watermark>,
    syncer: Mutex<Option<JoinHandle<()>>>,
    report: RecoveryReport,
    decoded: DecodedCache,
    _lock: Option<File>,
}

/// A segmented append-only log of byte records. Cheap to clone; all clones share one log.
#[derive(Clone)]
pub struct Log {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log").field("dir", &self.shared.dir).finish_non_exhaustive()
    }
}

impl Log {
    /// Opens (creating if needed) the log in directory `path`, locking it against other
    /// processes, and recovers it.
    pub fn open_path(path: &Path, config: Config) -> Result<Self, OpenError> {
        let dir = FileDir::create_all(path)
            .map_err(|source| OpenError::Io { file: path.display().to_string(), source })?;
        let lock_path = path.join(LOCK_NAME);
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| OpenError::Io { file: lock_path.display().to_string(), source })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(OpenError::Locked { path: lock_path.display().to_string() })
            }
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(OpenError::Io { file: lock_path.display().to_string(), source })
            }
        }
        Self::open_inner(Arc::new(dir), config, Some(lock))
    }

    /// Opens the log held by `dir` (any storage backend) and recovers it.
    pub fn open(dir: Arc<dyn Dir>, config: Config) -> Result<Self, OpenError> {
        Self::open_inner(dir, config, None)
    }

    fn open_inner(dir: Arc<dyn Dir>, config: Config, lock: Option<File>) -> Result<Self, OpenError> {
        config.validate()?;
        let rec = recovery::recover(&*dir, &config)?;
        let a = rec.active;
        let active = Arc::new(Segment::active(
            &*dir,
            a.name.clone(),
            a.base,
            a.prev_chain,
            a.storage.clone(),
            a.index.clone(),
        ));
        let mut segments = rec.sealed;
        segments.push(active.clone());
        let next = a.next;
        let sync = Arc::new(SyncShared {
            state: Mutex::new(SyncState {
                file: a.storage.clone(),
                written: next,
                synced: next,
                poisoned: None,
                shutdown: false,
            }),
            cv: Condvar::new(),
            syncs: AtomicU64::new(0),
        });
        let watermark = Arc::new(Watermark::new(next));
        let writer = Writer {
            name: a.name,
            storage: a.storage,
            base: a.base,
            prev_chain: a.prev_chain,
            pos: a.pos,
            next,
            index: a.index,
            last_index_pos: a.last_index_pos,
            hasher: a.hasher,
            active,
            buf: Vec::new(),
            poisoned: None,
            closed: false,
        };
        let syncer = match config.sync {
            SyncPolicy::Never => None,
            policy => {
                let (s, w) = (sync.clone(), watermark.clone());
                Some(
                    std::thread::Builder::new()
                        .name("dawn-log-sync".into())
                        .spawn(move || run_syncer(policy, s, w))
                        .map_err(|source| OpenError::Io { file: "syncer thread".into(), source })?,
                )
            }
        };
        tracing::debug!(target: "dawn::log", segments = segments.len(), next_offset = next, "log opened");
        Ok(Self {
            shared: Arc::new(Shared {
                dir,
                config,
                writer: Mutex::new(writer),
                segments: RwLock::new(segments),
                sync,
                watermark,
                syncer: Mutex::new(syncer),
                report: rec.report,
                decoded: DecodedCache::default(),
                _lock: lock,
            }),
        })
    }

    /// The configuration the log was opened with.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// Counters since open.
    pub fn stats(&self) -> LogStats {
        LogStats { syncs: self.shared.sync.syncs.load(Ordering::Relaxed) }
    }

    /// What recovery did when the log was opened.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.shared.report
    }

    /// Appends `records` as one batch and returns their offsets. The records are visible
    /// to readers, and acknowledged, only once durable: see [`Log::wait_durable`].
    ///
    /// Blocks on a positional write to the page cache; call it from a blocking context.
    pub fn append<R: AsRef<[u8]>>(&self, records: &[R]) -> Result<Appended, AppendError> {
        self.append_inner(records, None)
    }

    /// Appends one record, the encoding of `value`, and leaves `value` for readers that
    /// would decode the record again ([`Log::decoded`]): kept before the record can become
    /// durable, so a reader at the head always finds it. The caller promises that `record`
    /// is the encoding of `value`. A record larger than the cache's byte budget is appended
    /// without keeping its value (see [`super::decoded`]).
    pub fn append_decoded(&self, record: Vec<u8>, value: DecodedValue) -> Result<Appended, AppendError> {
        self.append_inner(&[record], Some(value))
    }

    fn append_inner<R: AsRef<[u8]>>(
        &self,
        records: &[R],
        decoded: Option<DecodedValue>,
    ) -> Result<Appended, AppendError> {
        // Declared before the writer lock, so values the cache evicts are freed after it.
        let mut _evicted = None;
        let cfg = &self.shared.config;
        if records.is_empty() {
            return Err(AppendError::Empty);
        }
        let mut bytes = BATCH_OVERHEAD as u64;
        for (index, r) in records.iter().enumerate() {
            let len = r.as_ref().len();
            if len > cfg.record_bytes_max as usize {
                return Err(AppendError::RecordTooLarge { index, len, max: cfg.record_bytes_max });
            }
            bytes += (RECORD_HEADER_LEN + len) as u64;
        }
        if records.len() > cfg.batch_records_max as usize || bytes > cfg.batch_bytes_max {
            return Err(AppendError::BatchTooLarge {
                records: records.len(),
                bytes,
                records_max: cfg.batch_records_max,
                bytes_max: cfg.batch_bytes_max,
            });
        }
        let mut w = self.shared.writer.lock().expect("writer lock");
        if w.closed {
            return Err(AppendError::Closed);
        }
        if let Some(p) = &w.poisoned {
            return Err(AppendError::Poisoned(p.clone()));
        }
        if let Some(p) = self.shared.sync.state.lock().expect("sync lock").poisoned.clone() {
            w.poisoned = Some(p.clone());
            return Err(AppendError::Poisoned(p));
        }
        if w.pos >= cfg.segment_bytes_max && w.next > w.base {
            self.roll_locked(&mut w)?;
        }
        let synced_before = self.shared.sync.state.lock().expect("sync lock").synced;
        let first = w.next;
        let mut buf = std::mem::take(&mut w.buf);
        buf.clear();
        let header = format::encode_batch(first, synced_before, records, &mut buf);
        debug_assert_eq!(buf.len() as u64, bytes);
        if let Err(source) = w.storage.write_at(&buf, w.pos) {
            return Err(self.poison(&mut w, source));
        }
        w.hasher.update(&buf);
        let pos = w.pos;
        if w.last_index_pos.is_none_or(|p| pos - p >= u64::from(cfg.index_interval_bytes)) {
            let entry = IndexEntry { offset_delta: (first - w.base) as u32, pos: pos as u32 };
            w.index.push(entry);
            w.last_index_pos = Some(pos);
            if let SegmentState::Active { index } = &w.active.state {
                index.write().expect("index lock").push(entry);
            }
        }
        w.pos += buf.len() as u64;
        w.next = header.end_offset();
        w.buf = buf;
        let next = w.next;
        if let Some(value) = decoded {
            // Before the watermark can pass the record (lock order: writer, then the cache).
            _evicted = Some(self.shared.decoded.keep(first, value, records[0].as_ref().len()));
        }
        match cfg.sync {
            SyncPolicy::Never => self.shared.watermark.update(|m| m.durable = next),
            policy => {
                let mut s = self.shared.sync.state.lock().expect("sync lock");
                s.written = next;
                // `interval` syncs on its timer only; `always` wakes the syncer now.
                if policy == SyncPolicy::Always {
                    self.shared.sync.cv.notify_one();
                }
            }
        }
        if w.pos >= cfg.segment_bytes_max {
            self.roll_locked(&mut w)?;
        }
        Ok(Appended { first: Offset(first), count: header.count })
    }

    fn poison(&self, w: &mut Writer, source: std::io::Error) -> AppendError {
        let msg = format!("{}: {source}", self.shared.dir.describe(&w.name));
        tracing::error!(target: "dawn::log", error = %msg, "log write failed; no more appends until reopened");
        w.poisoned = Some(msg.clone());
        self.shared.sync.state.lock().expect("sync lock").poisoned = Some(msg);
        self.shared.watermark.update(|m| m.poisoned = true);
        AppendError::Io { file: self.shared.dir.describe(&w.name), source }
    }

    /// Seals the active segment (if it holds any record) and starts a new one.
    pub fn roll(&self) -> Result<(), AppendError> {
        let mut w = self.shared.writer.lock().expect("writer lock");
        if w.closed {
            return Err(AppendError::Closed);
        }
        if let Some(p) = &w.poisoned {
            return Err(AppendError::Poisoned(p.clone()));
        }
        if w.next == w.base {
            return Ok(());
        }
        self.roll_locked(&mut w)
    }

    /// Seal: footer + fsync; then a new segment, its header fsynced, the directory fsynced.
    /// Only then do records of the new segment get written, so recovery always finds the
    /// sealed segment complete before a later one exists.
    fn roll_locked(&self, w: &mut Writer) -> Result<(), AppendError> {
        let body_checksum = w.hasher.digest();
        let record_count = w.next - w.base;
        let last_offset = w.next - 1;
        let footer = Footer {
            record_count,
            last_offset,
            index_pos: w.pos,
            index_count: w.index.len() as u32,
            body_checksum,
            chain: format::chain(w.prev_chain, body_checksum, record_count, last_offset),
        };
        let mut buf = std::mem::take(&mut w.buf);
        buf.clear();
        footer.encode(&w.index, &mut buf);
        let sealed_len = w.pos + buf.len() as u64;
        if let Err(e) = w.storage.write_at(&buf, w.pos).and_then(|_| w.storage.sync_data()) {
            return Err(self.poison(w, e));
        }
        w.buf = buf;
        let (name, storage) = match recovery::create_segment(&*self.shared.dir, w.next, footer.chain) {
            Ok(x) => x,
            Err(e) => return Err(self.poison(w, e)),
        };
        let dir = &*self.shared.dir;
        let seal = super::segment::Seal { footer, index: std::mem::take(&mut w.index) };
        let sealed = Arc::new(Segment::sealed(
            dir,
            w.name.clone(),
            w.base,
            w.prev_chain,
            w.storage.clone(),
            seal,
            sealed_len,
        ));
        let active =
            Arc::new(Segment::active(dir, name.clone(), w.next, footer.chain, storage.clone(), Vec::new()));
        {
            let mut segs = self.shared.segments.write().expect("segments lock");
            let last = segs.last_mut().expect("an active segment");
            *last = sealed;
            segs.push(active.clone());
        }
        tracing::debug!(target: "dawn::log", sealed = %w.name, records = record_count, next = %name, "rolled segment");
        let next = w.next;
        {
            let mut s = self.shared.sync.state.lock().expect("sync lock");
            s.file = storage.clone();
            s.written = next;
            s.synced = s.synced.max(next);
        }
        self.shared.watermark.update(|m| m.durable = m.durable.max(next));
        let mut hasher = Xxh3::new();
        hasher.update(&format::SegmentHeader { base_offset: next, prev_chain: footer.chain }.encode());
        *w = Writer {
            name,
            storage,
            base: next,
            prev_chain: footer.chain,
            pos: SEGMENT_HEADER_LEN as u64,
            next,
            index: Vec::new(),
            last_index_pos: None,
            hasher,
            active,
            buf: std::mem::take(&mut w.buf),
            poisoned: None,
            closed: false,
        };
        if let Err(e) = self.apply_retention() {
            tracing::warn!(target: "dawn::log", error = %e, "retention pruning failed; will retry at the next roll");
        }
        Ok(())
    }

    /// The decoded record at `offset`, as kept by [`Log::append_decoded`], with the record's
    /// length: only once the record is durable and while it is not pruned (when
    /// [`Log::get`] would return it), and only if it was kept as a `T`.
    pub fn decoded<T: Send + Sync + 'static>(&self, offset: Offset) -> Option<(Arc<T>, usize)> {
        if offset.0 >= self.durable_end().0 || offset.0 < self.oldest_offset().0 {
            return None;
        }
        let (value, len) = self.shared.decoded.get(offset.0)?;
        value.downcast::<T>().ok().map(|v| (v, len))
    }

    /// Waits until record `offset` is durable.
    pub async fn wait_durable(&self, offset: Offset) -> Result<(), DurabilityError> {
        let mut rx = self.shared.watermark.tx.subscribe();
        let m = *rx
            .wait_for(|m| m.durable > offset.0 || m.poisoned || m.closed)
            .await
            .expect("the watermark sender lives as long as the log");
        mark_result(m, offset)
    }

    /// Blocks the thread until record `offset` is durable.
    pub fn wait_durable_blocking(&self, offset: Offset) -> Result<(), DurabilityError> {
        let wm = &self.shared.watermark;
        let mut m = wm.mark.lock().expect("watermark lock");
        while !(m.durable > offset.0 || m.poisoned || m.closed) {
            m = wm.cv.wait(m).expect("watermark lock");
        }
        mark_result(*m, offset)
    }

    /// Offset one past the last durable record: readers see records below it.
    pub fn durable_end(&self) -> Offset {
        Offset(self.shared.watermark.get().durable)
    }

    /// Offset the next appended record will get.
    pub fn next_offset(&self) -> Offset {
        Offset(self.shared.writer.lock().expect("writer lock").next)
    }

    /// The oldest offset still kept (the base of the first segment).
    pub fn oldest_offset(&self) -> Offset {
        Offset(self.shared.segments.read().expect("segments lock")[0].base)
    }

    /// Reads durable records from `from` on: at most `max_records`, and stops adding once
    /// `max_bytes` of data are reached (at least one record is returned when any is
    /// available). An empty result means `from` is the durable end.
    pub fn read(&self, from: Offset, max_records: usize, max_bytes: usize) -> Result<Vec<Record>, ReadError> {
        let end = self.durable_end().0;
        let mut out = Vec::new();
        let mut next = from.0;
        while next < end && out.len() < max_records {
            let (seg, seg_end, body_end) = self.locate(Offset(next), end)?;
            let before = out.len();
            let bytes_so_far: usize = out.iter().map(|r: &Record| r.data.len()).sum();
            if bytes_so_far >= max_bytes && !out.is_empty() {
                break;
            }
            seg.read_into(
                next,
                seg_end.min(end),
                body_end,
                max_records - out.len(),
                max_bytes - bytes_so_far.min(max_bytes),
                &mut out,
            )?;
            if out.len() == before {
                break;
            }
            next = out.last().expect("records").offset.0 + 1;
            if next < seg_end {
                break; // a limit was reached inside this segment
            }
        }
        if out.is_empty() && from.0 > end {
            return Err(ReadError::PastEnd { offset: from, end: Offset(end) });
        }
        Ok(out)
    }

    /// Reads the single record at `offset`.
    pub fn get(&self, offset: Offset) -> Result<Record, ReadError> {
        let mut v = self.read(offset, 1, usize::MAX)?;
        v.pop().ok_or(ReadError::PastEnd { offset, end: self.durable_end() })
    }

    /// The segment holding `offset`, the offset its records end at, and the readable end
    /// of its body.
    fn locate(&self, offset: Offset, durable: u64) -> Result<(Arc<Segment>, u64, u64), ReadError> {
        let segs = self.shared.segments.read().expect("segments lock");
        let oldest = segs[0].base;
        if offset.0 < oldest {
            return Err(ReadError::Pruned { offset, oldest: Offset(oldest) });
        }
        let i = segs.partition_point(|s| s.base <= offset.0) - 1;
        let seg = segs[i].clone();
        let (seg_end, body_end) = match seg.seal() {
            Some(seal) => (seal.footer.last_offset + 1, seal.footer.index_pos),
            // The active segment: readable up to the durable watermark; every batch below
            // it is completely written, so the file length bounds the frames safely.
            None => (durable.max(seg.base), u64::MAX),
        };
        Ok((seg, seg_end, body_end))
    }

    /// A reader that follows the log from `from`, waiting for new durable records.
    pub fn tail(&self, from: Offset) -> super::Tail {
        super::Tail::new(self.clone(), from, self.shared.watermark.tx.subscribe())
    }

    /// Summaries of every segment, oldest first.
    pub fn segments(&self) -> Vec<SegmentInfo> {
        let segs = self.shared.segments.read().expect("segments lock").clone();
        let durable = self.durable_end().0;
        segs.iter()
            .map(|s| SegmentInfo {
                name: s.name.clone(),
                base: Offset(s.base),
                records: s.seal().map_or(durable.saturating_sub(s.base), |x| x.footer.record_count),
                bytes: s.sealed_len().unwrap_or_else(|| s.storage.len().unwrap_or(0)),
                sealed: s.seal().is_some(),
                chain: s.seal().map(|x| x.footer.chain),
                prev_chain: s.prev_chain,
            })
            .collect()
    }

    pub(super) fn sealed_segment(&self, base: Offset) -> Option<Arc<Segment>> {
        let segs = self.shared.segments.read().expect("segments lock");
        segs.iter().find(|s| s.base == base.0 && s.seal().is_some()).cloned()
    }

    pub(super) fn dir(&self) -> &Arc<dyn Dir> {
        &self.shared.dir
    }

    /// Removes every sealed segment whose records all lie below `offset`; returns the
    /// removed file names. The active segment is never removed.
    pub fn prune_below(&self, offset: Offset) -> Result<Vec<String>, PruneError> {
        self.prune_while(|segs| {
            let s = &segs[0];
            s.seal().is_some_and(|seal| seal.footer.last_offset < offset.0)
        })
    }

    /// Prunes by the configured retention.
    pub fn apply_retention(&self) -> Result<Vec<String>, PruneError> {
        let r = self.shared.config.retention;
        if r.segments_max.is_none() && r.bytes_max.is_none() {
            return Ok(Vec::new());
        }
        self.prune_while(|segs| {
            let too_many = r.segments_max.is_some_and(|m| segs.len() > m);
            let bytes: u64 =
                segs.iter().map(|s| s.sealed_len().unwrap_or_else(|| s.storage.len().unwrap_or(0))).sum();
            let too_big = r.bytes_max.is_some_and(|m| bytes > m);
            (too_many || too_big) && segs[0].seal().is_some()
        })
    }

    /// Removes the oldest segment while `more(segments)` holds and it is sealed. Oldest
    /// first, so a crash part way leaves a contiguous suffix of the log.
    fn prune_while(&self, mut more: impl FnMut(&[Arc<Segment>]) -> bool) -> Result<Vec<String>, PruneError> {
        let mut removed = Vec::new();
        let dir = &self.shared.dir;
        {
            let mut segs = self.shared.segments.write().expect("segments lock");
            while segs.len() > 1 && more(&segs) {
                let s = segs[0].clone();
                // One directory sync per removal: removals become durable oldest first, so
                // a crash part way leaves a contiguous suffix.
                dir.remove(&s.name)
                    .map_err(|source| PruneError::Io { file: dir.describe(&s.name), source })?;
                segs.remove(0);
                dir.sync().map_err(|source| PruneError::Io { file: dir.describe(&s.name), source })?;
                tracing::info!(target: "dawn::log", file = %s.location, base = s.base, "pruned segment");
                removed.push(s.name.clone());
            }
        }
        Ok(removed)
    }

    /// Syncs what was written, stops the syncer and refuses further appends. Tailing
    /// readers see the end of the log. Also done when the last handle is dropped.
    pub fn close(&self) -> Result<(), AppendError> {
        let mut w = self.shared.writer.lock().expect("writer lock");
        if w.closed {
            return Ok(());
        }
        w.closed = true;
        let result = if w.poisoned.is_none() {
            w.storage.sync_data().map_err(|e| self.poison(&mut w, e))
        } else {
            Ok(())
        };
        let next = w.next;
        drop(w);
        if result.is_ok() {
            self.shared.watermark.update(|m| m.durable = m.durable.max(next));
        }
        self.shared.stop_syncer();
        self.shared.watermark.update(|m| m.closed = true);
        result
    }

    /// Runs `f` with the writer locked and the active segment empty; `f` returns the
    /// sealed segment it placed (already durable in the directory) and the new active
    /// segment's name and storage.
    pub(super) fn replace_empty_active<E>(
        &self,
        f: impl FnOnce(&WriterView) -> Result<(Arc<Segment>, String, Arc<dyn Storage>), E>,
    ) -> Result<(), E> {
        let mut w = self.shared.writer.lock().expect("writer lock");
        // Decided under the writer lock, so no append or roll can slip in between.
        let never_written = {
            let segs = self.shared.segments.read().expect("segments lock");
            segs.len() == 1 && w.base == 0 && w.next == 0
        };
        let poisoned =
            w.poisoned.clone().or_else(|| self.shared.sync.state.lock().expect("sync lock").poisoned.clone());
        let view = WriterView {
            base: w.base,
            next: w.next,
            prev_chain: w.prev_chain,
            poisoned,
            closed: w.closed,
            never_written,
        };
        let (sealed, name, storage) = f(&view)?;
        let seal = sealed.seal().expect("imported segment is sealed").footer;
        let next = seal.last_offset + 1;
        let active = Arc::new(Segment::active(
            &*self.shared.dir,
            name.clone(),
            next,
            seal.chain,
            storage.clone(),
            Vec::new(),
        ));
        {
            let mut segs = self.shared.segments.write().expect("segments lock");
            segs.pop();
            segs.push(sealed);
            segs.push(active.clone());
        }
        {
            let mut s = self.shared.sync.state.lock().expect("sync lock");
            s.file = storage.clone();
            s.written = next;
            s.synced = next;
        }
        self.shared.watermark.update(|m| m.durable = next);
        let mut hasher = Xxh3::new();
        hasher.update(&format::SegmentHeader { base_offset: next, prev_chain: seal.chain }.encode());
        *w = Writer {
            name,
            storage,
            base: next,
            prev_chain: seal.chain,
            pos: SEGMENT_HEADER_LEN as u64,
            next,
            index: Vec::new(),
            last_index_pos: None,
            hasher,
            active,
            buf: std::mem::take(&mut w.buf),
            poisoned: None,
            closed: false,
        };
        Ok(())
    }
}

/// A snapshot of the writer's position, for import checks.
#[derive(Debug, Clone)]
pub(super) struct WriterView {
    pub base: u64,
    pub next: u64,
    pub prev_chain: u64,
    pub poisoned: Option<String>,
    pub closed: bool,
    /// The log never held a record: one segment, base 0, empty.
    pub never_written: bool,
}

fn mark_result(m: Mark, offset: Offset) -> Result<(), DurabilityError> {
    if m.durable > offset.0 {
        Ok(())
    } else if m.poisoned {
        Err(DurabilityError::Poisoned(offset))
    } else {
        Err(DurabilityError::Closed(offset))
    }
}

impl Shared {
    fn stop_syncer(&self) {
        {
            let mut s = self.sync.state.lock().expect("sync lock");
            s.shutdown = true;
            self.sync.cv.notify_all();
        }
        if let Some(h) = self.syncer.lock().expect("syncer lock").take() {
            let _ = h.join();
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let w = self.writer.get_mut().expect("writer lock");
        if !w.closed && w.poisoned.is_none() {
            let _ = w.storage.sync_data();
        }
        self.stop_syncer();
    }
}

/// The syncer thread: group commit. Every sync covers all records written before it
/// started; appends that arrive meanwhile share the next one.
fn run_syncer(policy: SyncPolicy, sync: Arc<SyncShared>, watermark: Arc<Watermark>) {
    let interval = match policy {
        SyncPolicy::Interval(d) => Some(d),
        _ => None,
    };
    let mut s = sync.state.lock().expect("sync lock");
    loop {
        match interval {
            None => {
                while s.written == s.synced && !s.shutdown {
                    s = sync.cv.wait(s).expect("sync lock");
                }
            }
            Some(d) => {
                if !s.shutdown {
                    s = sync.cv.wait_timeout(s, d).expect("sync lock").0;
                }
            }
        }
        if s.poisoned.is_some() || (s.shutdown && s.written == s.synced) {
            return;
        }
        if s.written == s.synced {
            continue;
        }
        let (file, target) = (s.file.clone(), s.written);
        drop(s);
        let result = file.sync_data();
        s = sync.state.lock().expect("sync lock");
        sync.syncs.fetch_add(1, Ordering::Relaxed);
        match result {
            Ok(()) => {
                s.synced = s.synced.max(target);
                let synced = s.synced;
                watermark.update(|m| m.durable = m.durable.max(synced));
            }
            Err(e) => {
                tracing::error!(target: "dawn::log", error = %e, "fsync failed; the log stops taking appends");
                s.poisoned = Some(format!("fsync failed: {e}"));
                watermark.update(|m| m.poisoned = true);
                return;
            }
        }
    }
}
