//! The exec stage driver: follows the chain log, executes each durable block, appends its
//! results to the results log, and publishes the executed head.
//!
//! At open the state is rebuilt from genesis by re-executing the chain log; blocks whose
//! results are already in the results log are compared with them byte for byte (a
//! difference is [`ExecError::Diverged`]), the others are appended. Then a `dawn-exec`
//! thread follows the chain log until it closes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use tokio::sync::watch;

use std::collections::BTreeMap;

use crate::chain::{codec, BlockNum, Checksum256, Genesis, SealedBlock, SignedBlock};
use crate::log::{Log, Offset};

use super::error::ExecError;
use super::snapshot;
use super::view::{AuthorityCache, ExecView};
use super::{ExecConfig, ExecutedHead, Executor};

/// Where a block to execute comes from.
enum BlockInput<'a> {
    /// As the producer appended it, with its ids and sizes.
    Decoded(Arc<SealedBlock>),
    /// Its chain log record.
    Record(&'a [u8]),
}

/// Largest block record read.
pub const BLOCK_BYTES_MAX: u64 = 64 << 20;

/// The running stage's handle.
pub struct ExecStage {
    executor: Arc<RwLock<Executor>>,
    chain: Log,
    results: Log,
    head_tx: watch::Sender<Option<ExecutedHead>>,
    view: ExecView,
    snapshot_busy: Arc<AtomicBool>,
    snapshot_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// True while `open` replays the chain log (see [`ExecStage::maybe_snapshot`]).
    replaying: bool,
    loaded_snapshot: Option<BlockNum>,
    /// Roots of the newest executed blocks, for checking the roots headers claim without
    /// reading the results log back.
    recent_roots: Mutex<BTreeMap<BlockNum, (Checksum256, Checksum256)>>,
    /// Append results with their decoded form kept for publish ([`Log::append_decoded`]).
    keep_decoded_results: bool,
}

/// Executed blocks whose roots are kept in memory; older claims are read from the log.
pub const RECENT_ROOTS_MAX: usize = 4096;

fn log_err(what: &'static str) -> impl Fn(String) -> ExecError {
    move |detail| ExecError::Log { what, detail }
}

impl ExecStage {
    /// Rebuilds the state from `genesis` and the chain log, checking or completing the
    /// results log, and returns the stage ready to follow new blocks.
    pub fn open(genesis: &Genesis, chain: Log, results: Log, config: ExecConfig) -> Result<Self, ExecError> {
        let keep_decoded_results = config.keep_decoded_results;
        let (executor, start) = match Self::from_snapshot(&chain, &results, &config)? {
            Some(x) => x,
            None => (Executor::from_genesis(genesis, config)?, 0),
        };
        let head = executor.head();
        let store = executor.store();
        let authorities = Arc::new(AuthorityCache::new(executor.permission_generation()));
        let executor = Arc::new(RwLock::new(executor));
        let (head_tx, head_rx) = watch::channel(head);
        let view = ExecView {
            store,
            executor: executor.clone(),
            head: head_rx,
            results: results.clone(),
            last_read: Arc::default(),
            stats: Arc::default(),
            authorities,
        };
        let mut stage = Self {
            executor,
            chain,
            results,
            head_tx,
            view,
            snapshot_busy: Arc::new(AtomicBool::new(false)),
            snapshot_thread: Mutex::new(None),
            replaying: true,
            loaded_snapshot: (start > 0).then_some(BlockNum(start as u32)),
            recent_roots: Mutex::new(BTreeMap::new()),
            keep_decoded_results,
        };
        let end = stage.chain.durable_end().0;
        if stage.results.next_offset().0 > end {
            return Err(ExecError::Log {
                what: "results log",
                detail: format!(
                    "it holds {} blocks but the chain log only {end}; the data directory is inconsistent",
                    stage.results.next_offset().0
                ),
            });
        }
        if end > start {
            tracing::info!(target: "dawn::exec", from = start + 1, to = end, "replaying the chain log");
        }
        let pb = if end - start > 1_000 {
            indicatif::ProgressBar::new(end - start)
        } else {
            indicatif::ProgressBar::hidden()
        };
        let mut next = start;
        while next < end {
            let recs = stage
                .chain
                .read(Offset(next), 256, 64 << 20)
                .map_err(|e| log_err("chain log read")(e.to_string()))?;
            for r in recs {
                stage.execute_record(r.offset, BlockInput::Record(&r.data))?;
                next = r.offset.0 + 1;
                pb.inc(1);
            }
        }
        pb.finish_and_clear();
        stage.replaying = false;
        Ok(stage)
    }

    /// The newest snapshot that checks out against both logs: its executor, and the number
    /// of blocks it covers. Snapshots that fail a check are skipped with a warning.
    fn from_snapshot(
        chain: &Log,
        results: &Log,
        config: &ExecConfig,
    ) -> Result<Option<(Executor, u64)>, ExecError> {
        let Some(dir) = &config.snapshot_dir else { return Ok(None) };
        let limit = chain.durable_end().0.min(results.next_offset().0);
        for (num, path) in snapshot::list(dir) {
            if u64::from(num.0) > limit || num.0 == 0 {
                continue;
            }
            let checked = snapshot::read(&path).map_err(|e| e.to_string()).and_then(|(h, store)| {
                let block = chain.get(Offset(u64::from(num.0) - 1)).map_err(|e| e.to_string())?;
                let block: SignedBlock =
                    codec::decode(&block.data, BLOCK_BYTES_MAX).map_err(|e| e.to_string())?;
                let res = results.get(Offset(u64::from(num.0) - 1)).map_err(|e| e.to_string())?;
                let res: super::BlockResults =
                    codec::decode(&res.data, u64::from(super::executor::RESULTS_RECORD_BYTES_MAX))
                        .map_err(|e| e.to_string())?;
                if h.block_num != num || block.header.id() != h.block_id {
                    return Err(format!(
                        "it is of block {} {}, the chain log has {}",
                        h.block_num,
                        h.block_id,
                        block.header.id()
                    ));
                }
                if res.state_root != h.state_root || res.results_root != h.results_root {
                    return Err("its roots differ from the results log's".into());
                }
                Ok((h, store))
            });
            match checked {
                Ok((h, store)) => {
                    let head = ExecutedHead {
                        num: h.block_num,
                        state_root: h.state_root,
                        results_root: h.results_root,
                    };
                    tracing::info!(target: "dawn::exec", block = num.0, rows = store.len(), file = %path.display(), "loaded state snapshot");
                    return Ok(Some((
                        Executor::from_store(store, Some(head), config.clone())?,
                        u64::from(num.0),
                    )));
                }
                Err(e) => {
                    tracing::warn!(target: "dawn::exec", file = %path.display(), error = %e, "skipping a snapshot that does not check out")
                }
            }
        }
        Ok(None)
    }

    /// Starts writing a snapshot of the state after `block` on a background thread. While
    /// following the head, a block that comes while a snapshot is being written skips its
    /// turn rather than hold up execution; while replaying, it waits for that write, since
    /// nobody waits on replay and every interval then gets its snapshot.
    fn maybe_snapshot(&self, block: &SignedBlock, head: ExecutedHead) {
        let ex = self.executor.read().expect("executor lock");
        let (Some(dir), interval) = (ex.config().snapshot_dir.clone(), ex.config().snapshot_interval_blocks)
        else {
            return;
        };
        if interval == 0 || !head.num.0.is_multiple_of(interval) {
            return;
        }
        if self.replaying {
            self.finish_snapshots();
        }
        if self.snapshot_busy.swap(true, Ordering::AcqRel) {
            return;
        }
        let mut rows = snapshot::capture(&ex.store().read().expect("state lock"));
        drop(ex);
        let id = block.header.id();
        let busy = self.snapshot_busy.clone();
        let handle = std::thread::Builder::new().name("dawn-snapshot".into()).spawn(move || {
            match snapshot::write(&dir, head, id, &mut rows) {
                Ok(path) => tracing::info!(target: "dawn::exec::snapshot", block = head.num.0, rows = rows.len(), file = %path.display(), "wrote state snapshot"),
                Err(e) => tracing::error!(target: "dawn::exec::snapshot", error = %e, "writing a state snapshot failed; the next interval tries again"),
            }
            busy.store(false, Ordering::Release);
        });
        match handle {
            Ok(h) => {
                if let Some(old) = self.snapshot_thread.lock().expect("snapshot lock").replace(h) {
                    let _ = old.join();
                }
            }
            Err(e) => {
                tracing::error!(target: "dawn::exec::snapshot", error = %e, "cannot start the snapshot thread");
                self.snapshot_busy.store(false, Ordering::Release);
            }
        }
    }

    /// The block of the snapshot the state was loaded from at open (`None`: genesis).
    pub fn loaded_snapshot(&self) -> Option<BlockNum> {
        self.loaded_snapshot
    }

    /// Waits for a snapshot being written.
    pub fn finish_snapshots(&self) {
        if let Some(h) = self.snapshot_thread.lock().expect("snapshot lock").take() {
            let _ = h.join();
        }
    }

    /// The read-only view for ingest.
    pub fn view(&self) -> ExecView {
        self.view.clone()
    }

    /// The executed head.
    pub fn head(&self) -> Option<ExecutedHead> {
        *self.head_tx.borrow()
    }

    /// Executes the block at `offset`, as the producer left it decoded or from its record.
    fn execute_record(&self, offset: Offset, source: BlockInput<'_>) -> Result<(), ExecError> {
        let started = Instant::now();
        let (block, sealed): (Arc<SignedBlock>, _) = match source {
            BlockInput::Decoded(sealed) => (sealed.block.clone(), Some(sealed)),
            BlockInput::Record(data) => (
                Arc::new(
                    codec::decode(data, BLOCK_BYTES_MAX)
                        .map_err(|e| ExecError::BadBlock { offset: offset.0, detail: e.to_string() })?,
                ),
                None,
            ),
        };
        let derived = sealed.as_ref().map(|s| (&s.ids[..], &s.sizes[..]));
        let num = block.header.block_num();
        if u64::from(num.0) != offset.0 + 1 {
            return Err(ExecError::BadBlock { offset: offset.0, detail: format!("holds block {num}") });
        }
        self.check_claimed_roots(&block)?;
        let (results, bytes) =
            self.executor.write().expect("executor lock").execute_block_record(&block, derived);
        let results = Arc::new(results);
        let stats = &self.view.stats;
        let executed = Instant::now();
        stats.execute_ns.fetch_add((executed - started).as_nanos() as u64, Ordering::Relaxed);
        stats.blocks.fetch_add(1, Ordering::Relaxed);
        stats.transactions.fetch_add(block.transactions.len() as u64, Ordering::Relaxed);
        debug_assert_eq!(bytes, codec::encode(&*results), "a record assembled from its parts");
        if offset.0 < self.results.next_offset().0 {
            let stored = self.results.get(offset).map_err(|e| log_err("results log read")(e.to_string()))?;
            if stored.data[..] != bytes[..] {
                let detail = match codec::decode::<super::BlockResults>(
                    &stored.data,
                    u64::from(super::executor::RESULTS_RECORD_BYTES_MAX),
                ) {
                    Ok(old) if old.state_root != results.state_root => {
                        format!("state root {} here, {} stored", results.state_root, old.state_root)
                    }
                    Ok(_) => "receipts differ".to_string(),
                    Err(e) => format!(
                        "stored record does not decode: {e}; this version writes results log format {}, \
                         and a chain whose results an older format recorded cannot be resumed by it: \
                         start from a new data directory",
                        crate::chain::results::RESULTS_FORMAT_VERSION
                    ),
                };
                return Err(ExecError::Diverged { block: num.0, detail });
            }
        } else {
            // Publish reads these results back at the head: it takes them decoded.
            let appended = if self.keep_decoded_results {
                self.results.append_decoded(bytes, results.clone())
            } else {
                self.results.append(&[bytes])
            };
            let a = appended.map_err(|e| log_err("results log append")(e.to_string()))?;
            if a.first != offset {
                return Err(log_err("results log append")(format!(
                    "block {num} landed at offset {}",
                    a.first
                )));
            }
            self.results
                .wait_durable_blocking(a.last())
                .map_err(|e| log_err("results log sync")(e.to_string()))?;
        }
        stats.results_ns.fetch_add(executed.elapsed().as_nanos() as u64, Ordering::Relaxed);
        tracing::debug!(target: "dawn::exec", block = num.0, transactions = results.transactions.len(), state_root = %results.state_root, "executed block");
        let head = ExecutedHead { num, state_root: results.state_root, results_root: results.results_root };
        {
            let mut recent = self.recent_roots.lock().expect("roots lock");
            recent.insert(num, (head.state_root, head.results_root));
            while recent.len() > RECENT_ROOTS_MAX {
                recent.pop_first();
            }
        }
        self.head_tx.send_replace(Some(head));
        self.maybe_snapshot(&block, head);
        Ok(())
    }

    /// A block header carries the roots of the newest block its producer had executed;
    /// they must be the roots this node computed for that block.
    fn check_claimed_roots(&self, block: &SignedBlock) -> Result<(), ExecError> {
        let h = &block.header;
        if h.executed_block_num.0 == 0 {
            return Ok(());
        }
        let num = h.executed_block_num;
        if num >= h.block_num() {
            return Err(ExecError::Diverged {
                block: h.block_num().0,
                detail: format!(
                    "block {} claims to follow the execution of block {num}, which is not before it",
                    h.block_num()
                ),
            });
        }
        let recent = self.recent_roots.lock().expect("roots lock").get(&num).copied();
        let ours = recent.or_else(|| {
            self.results
                .get(Offset(u64::from(num.0) - 1))
                .ok()
                .and_then(|r| {
                    codec::decode::<super::BlockResults>(
                        &r.data,
                        u64::from(super::executor::RESULTS_RECORD_BYTES_MAX),
                    )
                    .ok()
                })
                .map(|r| (r.state_root, r.results_root))
        });
        match ours {
            Some((s, r)) if s == h.executed_state_root && r == h.executed_results_root => Ok(()),
            Some((s, r)) => Err(ExecError::Diverged {
                block: num.0,
                detail: format!(
                    "block {} claims state root {} and results root {} for block {num}; this node computed {s} and {r}",
                    h.block_num(),
                    h.executed_state_root,
                    h.executed_results_root
                ),
            }),
            None => Err(ExecError::Diverged {
                block: num.0,
                detail: format!("block {} claims roots of block {num}, which this node has not executed", h.block_num()),
            }),
        }
    }

    /// Follows the chain log on the calling thread until it closes, executing each new
    /// durable block. `rt` drives the log's async tail.
    pub fn run(self, rt: tokio::runtime::Handle) -> Result<(), ExecError> {
        let mut tail = self.chain.tail(self.results.next_offset());
        let execute = self.executor.read().expect("executor lock").config().execute;
        loop {
            // Offsets only: at the head the producer left each block decoded, and reading its
            // record back (a copy and a checksum) would be spent for nothing.
            let new = match rt.block_on(tail.next_offsets(64)) {
                Ok(r) => r,
                Err(crate::log::ReadError::Closed) => break,
                Err(e) => return Err(log_err("chain log read")(e.to_string())),
            };
            if !execute {
                continue;
            }
            let mut next = new.start;
            while next < new.end {
                // The producer leaves the block it appended decoded; a block from elsewhere
                // (sync, replay) is read, with the rest of the range, and decoded here.
                if let Some((sealed, _)) = self.chain.decoded::<SealedBlock>(next) {
                    self.execute_record(next, BlockInput::Decoded(sealed))?;
                    next = Offset(next.0 + 1);
                    continue;
                }
                let left = (new.end.0 - next.0) as usize;
                let recs = self
                    .chain
                    .read(next, left, 64 << 20)
                    .map_err(|e| log_err("chain log read")(e.to_string()))?;
                for r in recs {
                    self.execute_record(r.offset, BlockInput::Record(&r.data))?;
                    next = Offset(r.offset.0 + 1);
                }
            }
        }
        self.finish_snapshots();
        self.results.close().map_err(|e| log_err("results log close")(e.to_string()))?;
        tracing::info!(target: "dawn::exec", head = self.head().map_or(0, |h| h.num.0), "exec stopped");
        Ok(())
    }
}
