//! The intake core: checks, the queue, and the block producer task that seals queued
//! transactions into blocks and appends them to the chain log.
//!
//! A transaction is acknowledged only after the block holding it is durable in the chain
//! log; acknowledgements go out in block order, so acknowledged order is chain order.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::chain::{
    add_cpu_since, codec, BlockHeader, BlockId, BlockNum, ChainId, Checksum256, Name, PrivateKey,
    SealedBlock, SignedBlock, SignedTransaction, StateView, TimePoint, TimePointSec, TxId,
};
use crate::log::{Log, Offset};

use super::acks::{AckSlot, BatchAcks};
use super::builder::{self, BlockLimits, Candidate};
use super::history::{History, Placement};
use super::verify;
use super::IngestError;

/// Settings of intake and block production.
#[derive(Debug, Clone)]
pub struct IntakeConfig {
    /// Time between blocks.
    pub block_interval: Duration,
    /// Block caps.
    pub block: BlockLimits,
    /// Largest encoded transaction accepted.
    pub transaction_bytes_max: usize,
    /// How far ahead an expiration may be.
    pub expiration_window_sec: u32,
    /// Most transactions waiting for a block. Each waiting one holds its decoded form and
    /// its encoding (kept for the block's bytes): about twice its encoded size.
    pub queue_max: usize,
    /// The producer account.
    pub producer: Name,
    /// Fields the node adds to `get_info` (the publish endpoint and its certificate
    /// fingerprint): name and text value.
    pub info_extra: Vec<(String, String)>,
}

impl Default for IntakeConfig {
    fn default() -> Self {
        Self {
            block_interval: Duration::from_millis(500),
            block: BlockLimits::default(),
            transaction_bytes_max: 64 << 10,
            expiration_window_sec: 3600,
            queue_max: 200_000,
            producer: crate::chain::SYSTEM_ACCOUNT,
            info_extra: Vec::new(),
        }
    }
}

/// The acknowledgement of a durable transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    /// The transaction.
    pub id: TxId,
    /// Its block.
    pub block_num: BlockNum,
    /// Its position in the block.
    pub index: u32,
}

/// Where intake's time goes, since open: counted per pushed batch, per chunk of signatures
/// and per block (never per transaction), for `dawn bench` and metrics. `*_cpu_ns` are CPU
/// time of the threads doing the work (not time spent preempted or blocked).
#[derive(Debug, Default)]
pub struct IntakeStats {
    /// Batched signature verification, on the verify pool.
    pub verify_cpu_ns: AtomicU64,
    /// The serial parts of checking a batch: TaPoS and dedup lookups, reservations and
    /// queueing (they run on the verify pool too, between its parallel parts: hashing,
    /// authority lookups and signatures).
    pub admit_cpu_ns: AtomicU64,
    /// Sealing blocks: selection, merkle root, signing and encoding.
    pub seal_cpu_ns: AtomicU64,
    /// Wall time from a block's append to the chain log until it is durable (the group
    /// commit): a wait.
    pub durable_wait_ns: AtomicU64,
    /// Blocks sealed.
    pub blocks: AtomicU64,
}

/// A transaction past the stateless checks: prepared for its signature checks, with its
/// encoding and its block leaf.
type Checked = (verify::Prepared, Vec<u8>, Checksum256);

struct Pending {
    tx: SignedTransaction,
    id: TxId,
    leaf: Checksum256,
    /// Its encoding, computed once at admission: the block's bytes are these, copied.
    encoded: Vec<u8>,
    ack: AckSlot,
}

impl Candidate for Pending {
    fn bytes(&self) -> usize {
        self.encoded.len()
    }
    fn write_scopes(&self) -> &[Name] {
        &self.tx.transaction.write_scopes
    }
}

struct Inner {
    config: IntakeConfig,
    chain: ChainId,
    key: PrivateKey,
    log: Log,
    state: Arc<dyn StateView>,
    history: RwLock<History>,
    queue: Mutex<VecDeque<Pending>>,
    /// The producer's second queue buffer, empty between selections: swapped with the
    /// queue so both keep their capacity (no regrowth, no fresh pages, every block).
    spare: Mutex<VecDeque<Pending>>,
    stopped: Mutex<Option<String>>,
    stop: Notify,
    stats: IntakeStats,
}

/// The intake of one producer. Cheap to clone.
#[derive(Clone)]
pub struct Intake {
    inner: Arc<Inner>,
}

/// What get_info reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Info {
    /// The chain id.
    pub chain_id: Checksum256,
    /// Head block number (0 before any block).
    pub head_block_num: BlockNum,
    /// Head block id.
    pub head_block_id: BlockId,
    /// Head block time.
    pub head_block_time: Option<TimePoint>,
    /// Head block producer.
    pub head_block_producer: Option<Name>,
    /// Last irreversible block: with a single producer, every durable block.
    pub last_irreversible_block_num: BlockNum,
    /// Its id.
    pub last_irreversible_block_id: BlockId,
    /// Transactions waiting for a block.
    pub pending_transactions: usize,
}

impl Intake {
    /// Opens intake over the chain log, replaying it to rebuild recent history.
    pub fn open(
        config: IntakeConfig,
        chain: ChainId,
        key: PrivateKey,
        log: Log,
        state: Arc<dyn StateView>,
    ) -> Result<Self, IngestError> {
        let mut history = History::new(&chain);
        let end = log.durable_end().0;
        let mut next = log.oldest_offset().0;
        if next != 0 {
            return Err(IngestError::Internal(
                "the chain log was pruned; intake needs it from block 1".into(),
            ));
        }
        while next < end {
            let recs =
                log.read(Offset(next), 256, 64 << 20).map_err(|e| IngestError::Internal(e.to_string()))?;
            for r in recs {
                let block: SignedBlock = codec::decode(&r.data, 64 << 20)
                    .map_err(|e| IngestError::Internal(format!("chain log record {}: {e}", r.offset)))?;
                if block.header.previous != history.head_id()
                    || block.header.block_num().0 as u64 != r.offset.0 + 1
                {
                    return Err(IngestError::Internal(format!(
                        "chain log record {} does not continue the chain",
                        r.offset
                    )));
                }
                history.apply_block(&block);
                next = r.offset.0 + 1;
            }
        }
        history.prune(TimePointSec::now());
        tracing::info!(target: "dawn::ingest", head = history.head_num().0, "intake ready");
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                chain,
                key,
                log,
                state,
                history: RwLock::new(history),
                queue: Mutex::new(VecDeque::new()),
                spare: Mutex::new(VecDeque::new()),
                stopped: Mutex::new(None),
                stop: Notify::new(),
                stats: IntakeStats::default(),
            }),
        })
    }

    /// The chain id.
    pub fn chain_id(&self) -> ChainId {
        self.inner.chain
    }

    /// The configuration.
    pub fn config(&self) -> &IntakeConfig {
        &self.inner.config
    }

    /// Heap bytes of the dedup window ([`History::heap_bytes`]).
    pub fn dedup_window_bytes(&self) -> usize {
        self.inner.history.read().expect("history lock").heap_bytes()
    }

    /// Where intake's time went since open.
    pub fn stats(&self) -> &IntakeStats {
        &self.inner.stats
    }

    /// Decodes a binary transaction within the size limit.
    pub fn decode(&self, bytes: &[u8]) -> Result<SignedTransaction, IngestError> {
        let max = self.inner.config.transaction_bytes_max;
        if bytes.len() > max {
            return Err(IngestError::TooLarge { what: "transaction", len: bytes.len(), max });
        }
        codec::decode(bytes, max as u64).map_err(|e| IngestError::Malformed(e.to_string()))
    }

    /// Checks, queues, and waits until each transaction is durable in a block. One result
    /// per transaction, in order; a refused one changes nothing.
    pub async fn push(&self, txs: Vec<SignedTransaction>) -> Vec<Result<Ack, IngestError>> {
        let inner = self.inner.clone();
        let (done, checked) = tokio::sync::oneshot::channel();
        // The whole check runs on the verify pool, its serial parts included: no other
        // thread then competes with the pool's workers for the cores (a blocking thread
        // per batch did, and preempted workers left a core idle while it ran).
        // Invariant: no lock is held across a parallel call inside `check_batch`, as a
        // worker waiting on one may run another batch's check meanwhile.
        rayon::spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Self::check_batch(&inner, txs)));
            let _ = done.send(r);
        });
        match checked.await {
            Ok(Ok(acks)) => acks.wait().await,
            Ok(Err(_)) => vec![Err(IngestError::Internal("checking a batch panicked".into()))],
            Err(_) => vec![Err(IngestError::ShuttingDown)],
        }
    }

    fn check_batch(inner: &Inner, txs: Vec<SignedTransaction>) -> Arc<BatchAcks> {
        use rayon::prelude::*;
        let cfg = &inner.config;
        let now = TimePointSec::now();
        // Stateless checks, encoding and hashing, in parallel and without any lock. Each
        // transaction is encoded once: its size, its block leaf, id and digest come from it,
        // and the block's bytes are these encodings copied.
        let mut checked: Vec<Result<Checked, IngestError>> = txs
            .into_par_iter()
            .map(|tx| {
                let (encoded, id, digest, leaf) = tx.digests(&inner.chain);
                let len = encoded.len();
                if len > cfg.transaction_bytes_max {
                    return Err(IngestError::TooLarge {
                        what: "transaction",
                        len,
                        max: cfg.transaction_bytes_max,
                    });
                }
                tx.transaction.check_scopes()?;
                History::check_expiration(&tx.transaction, now, cfg.expiration_window_sec)?;
                Ok((verify::prepare_with(tx, id, digest, &*inner.state)?, encoded, leaf))
            })
            .collect();
        // Serial parts only: a worker waiting in a parallel call may run other work.
        let started = crate::chain::thread_cpu_ns();
        // TaPoS and duplicates: quick lookups, one short read lock for the whole batch.
        {
            let history = inner.history.read().expect("history lock");
            for c in checked.iter_mut() {
                let Ok((p, ..)) = c else { continue };
                let verdict =
                    history.check_tapos(&p.tx.transaction).and_then(|()| match history.seen(&p.id) {
                        Some(_) => Err(IngestError::Duplicate(p.id)),
                        None => Ok(()),
                    });
                if let Err(e) = verdict {
                    *c = Err(e);
                }
            }
        }
        let acks = BatchAcks::new(checked.len());
        let mut prepared = Vec::with_capacity(checked.len());
        let mut extra = Vec::with_capacity(checked.len());
        for (i, c) in checked.into_iter().enumerate() {
            match c {
                Ok((p, encoded, leaf)) => {
                    prepared.push(p);
                    extra.push((i, encoded, leaf));
                }
                Err(e) => acks.refuse(i, e),
            }
        }
        add_cpu_since(&inner.stats.admit_cpu_ns, started);
        let verdicts = verify::verify_all(&prepared, &*inner.state, &inner.stats.verify_cpu_ns);
        let started = crate::chain::thread_cpu_ns();
        let mut history = inner.history.write().expect("history lock");
        let mut queue = inner.queue.lock().expect("queue lock");
        // Read under the queue lock: once the producer has drained the queue for the last
        // time, it was already set, so nothing is queued after the last block.
        let stopped = inner.stopped.lock().expect("stop lock").is_some();
        let mut accepted = 0;
        for ((p, v), (i, encoded, leaf)) in prepared.into_iter().zip(verdicts).zip(extra) {
            let admitted = v.and_then(|()| {
                if stopped {
                    return Err(IngestError::ShuttingDown);
                }
                if queue.len() >= cfg.queue_max {
                    return Err(IngestError::Overloaded(queue.len()));
                }
                history.reserve(p.id, p.tx.transaction.expiration)
            });
            match admitted {
                Ok(()) => {
                    queue.push_back(Pending { tx: p.tx, id: p.id, leaf, encoded, ack: acks.slot(i) });
                    accepted += 1;
                }
                Err(e) => acks.refuse(i, e),
            }
        }
        // Before the queue lock is released: the producer cannot fill a slot yet.
        acks.expect(accepted);
        drop((queue, history));
        add_cpu_since(&inner.stats.admit_cpu_ns, started);
        acks
    }

    /// Current chain facts.
    pub fn info(&self) -> Info {
        let h = self.inner.history.read().expect("history lock");
        Info {
            chain_id: self.inner.chain.0,
            head_block_num: h.head_num(),
            head_block_id: h.head_id(),
            head_block_time: h.head.map(|x| x.time),
            head_block_producer: h.head.map(|x| x.producer),
            last_irreversible_block_num: h.head_num(),
            last_irreversible_block_id: h.head_id(),
            pending_transactions: self.inner.queue.lock().expect("queue lock").len(),
        }
    }

    /// A block by number, read from the chain log.
    pub fn block(&self, num: BlockNum) -> Result<SignedBlock, IngestError> {
        if num.0 == 0 || num > self.info().head_block_num {
            return Err(IngestError::NotFound(format!("block {num}")));
        }
        let rec = self
            .inner
            .log
            .get(Offset(u64::from(num.0) - 1))
            .map_err(|e| IngestError::Internal(e.to_string()))?;
        codec::decode(&rec.data, 64 << 20).map_err(|e| IngestError::Internal(e.to_string()))
    }

    /// Where a transaction is: in a block, waiting, or unknown.
    pub fn status(&self, id: &TxId) -> Option<(Option<Placement>, bool)> {
        let h = self.inner.history.read().expect("history lock");
        match h.seen(id)? {
            Some(p) => Some((Some(p), p.block <= h.head_num())),
            None => Some((None, false)),
        }
    }

    /// The state view intake checks authorizations against.
    pub fn state(&self) -> &Arc<dyn StateView> {
        &self.inner.state
    }

    /// Stops taking transactions; the producer seals what is queued and returns.
    pub fn stop(&self) {
        *self.inner.stopped.lock().expect("stop lock") = Some("stopping".into());
        self.inner.stop.notify_one();
    }

    /// The block producer: every interval, seals the next block from the queue, appends it
    /// to the chain log, waits until it is durable, then acknowledges its transactions.
    /// Returns after [`Intake::stop`] once the queue is empty, or with an error if the
    /// chain log fails (the node must then stop).
    pub async fn run_producer(&self) -> Result<(), IngestError> {
        let inner = &self.inner;
        let mut tick = tokio::time::interval(inner.config.block_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let stopping = tokio::select! {
                _ = tick.tick() => inner.stopped.lock().expect("stop lock").is_some(),
                _ = inner.stop.notified() => true,
            };
            loop {
                let selected = self.select();
                if selected.is_empty() {
                    break;
                }
                if let Err(e) = self.seal(selected).await {
                    tracing::error!(target: "dawn::ingest", error = %e, "block production failed; the node must stop");
                    *inner.stopped.lock().expect("stop lock") = Some(e.to_string());
                    for p in inner.queue.lock().expect("queue lock").drain(..) {
                        p.ack.send(Err(IngestError::ShuttingDown));
                    }
                    return Err(e);
                }
                if !stopping {
                    break;
                }
            }
            if stopping {
                return Ok(());
            }
        }
    }

    /// Takes the next block's transactions from the queue. The queue is swapped out whole
    /// (for the empty spare) and the selection made outside the lock, so admissions
    /// (which hold the history lock while they queue) never wait on it; what is left goes
    /// back in front of what arrived meanwhile, keeping arrival order. (While out, it does
    /// not count towards `queue_max`, nor `get_info`'s pending count: the bound may be
    /// passed by one selection's worth, briefly.)
    fn select(&self) -> Vec<Pending> {
        let inner = &self.inner;
        let mut taken = inner.spare.lock().expect("spare lock");
        std::mem::swap(&mut *inner.queue.lock().expect("queue lock"), &mut *taken);
        let selected = builder::select(&mut taken, &inner.config.block);
        if !taken.is_empty() {
            let mut queue = inner.queue.lock().expect("queue lock");
            taken.append(&mut queue);
            std::mem::swap(&mut *queue, &mut *taken);
        }
        selected
    }

    async fn seal(&self, selected: Vec<Pending>) -> Result<(), IngestError> {
        let inner = &self.inner;
        let started = crate::chain::thread_cpu_ns();
        let (previous, head_time) = {
            let h = inner.history.read().expect("history lock");
            (h.head_id(), h.head.map_or(0, |x| x.time.0))
        };
        // The roots of the newest block exec has finished, for validators to compare.
        let executed = inner.state.executed();
        let header = BlockHeader {
            previous,
            // Block timestamps strictly increase even if the clock steps back.
            timestamp: TimePoint(TimePoint::now().0.max(head_time + 1)),
            producer: inner.config.producer,
            transaction_mroot: Checksum256::default(),
            executed_block_num: executed.map_or(BlockNum(0), |e| e.num),
            executed_state_root: executed.map_or_else(Checksum256::default, |e| e.state_root),
            executed_results_root: executed.map_or_else(Checksum256::default, |e| e.results_root),
            schedule_version: 0,
        };
        let mut txs = Vec::with_capacity(selected.len());
        let mut ids = Vec::with_capacity(selected.len());
        let mut leaves = Vec::with_capacity(selected.len());
        let mut acks = Vec::with_capacity(selected.len());
        let mut sizes = Vec::with_capacity(selected.len());
        let mut encoded = Vec::with_capacity(selected.len());
        for p in selected {
            txs.push(p.tx);
            ids.push(p.id);
            leaves.push(p.leaf);
            acks.push(p.ack);
            sizes.push(p.encoded.len() as u32);
            encoded.push(p.encoded);
        }
        let block = Arc::new(SignedBlock::seal_with_leaves(header, txs, &leaves, &inner.key, &inner.chain));
        let num = block.header.block_num();
        let bytes = block.encode_with(&encoded);
        debug_assert!(bytes == codec::encode(&*block), "a block's bytes differ from its encoding");
        drop(encoded);
        add_cpu_since(&inner.stats.seal_cpu_ns, started);
        inner.stats.blocks.fetch_add(1, Ordering::Relaxed);
        let appending = Instant::now();
        let log = inner.log.clone();
        // Exec and publish read this block back at the head: they take it decoded, and
        // exec takes the ids and sizes too.
        let kept = Arc::new(SealedBlock { block: block.clone(), ids: ids.clone(), sizes });
        let appended = tokio::task::spawn_blocking(move || log.append_decoded(bytes, kept))
            .await
            .map_err(|e| IngestError::Internal(e.to_string()))?
            .map_err(|e| IngestError::Internal(format!("chain log append: {e}")))?;
        // Invariant: record offset = block number - 1.
        if appended.first.0 != u64::from(num.0) - 1 {
            return Err(IngestError::Internal(format!(
                "block {num} landed at chain log offset {}",
                appended.first
            )));
        }
        inner.log.wait_durable(appended.last()).await.map_err(|e| IngestError::Internal(e.to_string()))?;
        inner.stats.durable_wait_ns.fetch_add(appending.elapsed().as_nanos() as u64, Ordering::Relaxed);
        {
            let mut h = inner.history.write().expect("history lock");
            h.apply_block_with_ids(&block, &ids);
            h.prune(TimePointSec::now());
        }
        tracing::debug!(target: "dawn::ingest", block = num.0, transactions = acks.len(), "sealed block");
        for (index, (id, ack)) in ids.into_iter().zip(acks).enumerate() {
            ack.send(Ok(Ack { id, block_num: num, index: index as u32 }));
        }
        Ok(())
    }
}
