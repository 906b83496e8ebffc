//! The block executor: a plain state machine from (state, block) to (state, results). No
//! logs, no clock; the stage driver ([`super::stage`]) feeds it blocks.
//!
//! A block runs as: the deferred requests due at its timestamp (taken out of state first),
//! then its transactions in block order. All of them are grouped into waves by declared
//! scopes ([`super::scheduler`]); each wave runs on the thread pool against the state as
//! the previous wave left it, and commits in block order. Row hashes for the state root
//! are folded in once per block, in parallel.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use bytes::Bytes;
use rayon::prelude::*;

use crate::chain::{
    codec, Action, Authority, BlockNum, Checksum256, Genesis, Name, PermissionLevel, SignedBlock,
    SignedTransaction, TransactionReceipt, TransactionStatus, TxId,
};

use super::apply::run_actions;
use super::context::{BlockFacts, DeferredOp, ScopeMode, TxCtx, FUEL_PER_US};
use super::deferred::{self, DeferredIndex};
use super::error::{ActionError, ExecError};
use super::lthash::LtHash;
use super::native::token::{self, Balance, CurrencyStats};
use super::results::{BlockResults, Origin, TraceLog, TxResult};
use super::scheduler::{self, Scoped};
use super::store::{self, RowChange, RowKey, Store};
use super::system_rows::{
    account_key, permission_key, AccountMeta, DeferredEntry, DeferredRequest, PermissionRow,
    ProducerSchedule, ACTIVE, EOSIO, EOSIO_TOKEN, OWNER, T_ACCOUNT, T_CODE, T_PERMISSION, T_SCHEDULE,
};
use super::view::PermissionGeneration;
use super::wasm::WasmRuntime;
use super::{ContractCode, Contracts, ExecConfig};

/// One unit the scheduler orders: a transaction of the block or a deferred delivery.
/// Block transactions are borrowed from the block, deferred deliveries owned.
struct Item<'b> {
    origin: Origin,
    id: TxId,
    reads: Cow<'b, [Name]>,
    writes: Cow<'b, [Name]>,
    actions: Cow<'b, [Action]>,
    fuel: u64,
    net_bytes: u32,
    kind: ItemKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ItemKind {
    /// Run now.
    Run,
    /// A block transaction with `delay_sec`: store it, run it later.
    /// (Boxed: rare, and inline it would double every item's size.)
    Delay { delay_sec: u32, request: Box<DeferredRequest> },
    /// A deferred delivery: on failure, notify the sender with `onerror`.
    Deferred { sender: Name, sender_id: u64, expired: bool },
    /// A transaction whose declaration is malformed: fails at once.
    Refuse(String),
}

impl Scoped for Item<'_> {
    fn reads(&self) -> &[Name] {
        &self.reads
    }
    fn writes(&self) -> &[Name] {
        &self.writes
    }
}

/// What running an item produced, before commit.
struct Outcome {
    status: TransactionStatus,
    error: Option<String>,
    writes: Vec<(RowKey, Option<Bytes>)>,
    deferred_ops: Vec<DeferredOp>,
    traces: TraceLog,
    fuel_used: u64,
}

/// The executor's head: the newest executed block and its roots (the shared model's
/// [`crate::chain::ExecutedRoots`], which ingest reads through the state view).
pub type ExecutedHead = crate::chain::ExecutedRoots;

/// The executor.
pub struct Executor {
    config: ExecConfig,
    pool: Arc<rayon::ThreadPool>,
    store: Arc<RwLock<Store>>,
    contracts: Contracts,
    deferred: DeferredIndex,
    head: Option<ExecutedHead>,
    permissions: Arc<PermissionGeneration>,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor").field("head", &self.head).field("threads", &self.config.threads).finish()
    }
}

fn put<T: serde::Serialize>(
    rows: &mut Vec<(RowKey, Option<Bytes>)>,
    code: Name,
    scope: Name,
    table: Name,
    id: u64,
    v: &T,
) {
    rows.push((RowKey { code, scope, table, id }, Some(Bytes::from(codec::encode(v)))));
}

/// The rows of the state a genesis starts: the system and token accounts, the genesis
/// accounts with their keys, the core token's supply and balances, the producer schedule.
pub fn genesis_rows(genesis: &Genesis) -> Result<Vec<(RowKey, Option<Bytes>)>, ExecError> {
    genesis.validate().map_err(|e| ExecError::Genesis(e.to_string()))?;
    let mut rows = Vec::new();
    let account = |rows: &mut Vec<_>, name: Name, owner: Authority, active: Authority, privileged: bool| {
        let meta = AccountMeta {
            creation: genesis.initial_timestamp,
            code_hash: Checksum256::default(),
            privileged,
        };
        put(rows, EOSIO, name, T_ACCOUNT, 0, &meta);
        put(rows, EOSIO, name, T_PERMISSION, OWNER.0, &PermissionRow { parent: Name(0), auth: owner });
        put(rows, EOSIO, name, T_PERMISSION, ACTIVE.0, &PermissionRow { parent: OWNER, auth: active });
    };
    let sys = Authority::single_key(genesis.initial_key);
    account(&mut rows, EOSIO, sys.clone(), sys.clone(), true);
    if genesis.accounts.iter().all(|a| a.name != EOSIO_TOKEN) {
        account(&mut rows, EOSIO_TOKEN, sys.clone(), sys, false);
    }
    for a in &genesis.accounts {
        account(
            &mut rows,
            a.name,
            Authority::single_key(a.owner_key),
            Authority::single_key(a.active_key),
            false,
        );
    }
    for c in &genesis.contracts {
        // Replaces the account row written above with one carrying the code hash.
        let meta = AccountMeta {
            creation: genesis.initial_timestamp,
            code_hash: Checksum256::hash(&c.code.0),
            privileged: false,
        };
        put(&mut rows, EOSIO, c.account, T_ACCOUNT, 0, &meta);
        rows.push((
            RowKey { code: EOSIO, scope: c.account, table: T_CODE, id: 0 },
            Some(Bytes::from(c.code.0.to_vec())),
        ));
    }
    let sym = genesis.core_symbol();
    let code = token::code_of(sym);
    let supply: i64 = genesis.balances.iter().map(|b| b.balance.amount).sum();
    let stats = CurrencyStats {
        supply: crate::chain::Asset { amount: supply, symbol: sym },
        max_supply: genesis.core_token_max_supply,
        issuer: EOSIO,
    };
    put(&mut rows, EOSIO_TOKEN, Name(code), token::T_STAT, code, &stats);
    for b in &genesis.balances {
        put(&mut rows, EOSIO_TOKEN, b.account, token::T_ACCOUNTS, code, &Balance { balance: b.balance });
    }
    let schedule = ProducerSchedule { version: 0, producers: genesis.producers.clone() };
    put(&mut rows, EOSIO, EOSIO, T_SCHEDULE, 0, &schedule);
    Ok(rows)
}

impl Executor {
    /// An executor at the genesis state.
    pub fn from_genesis(genesis: &Genesis, config: ExecConfig) -> Result<Self, ExecError> {
        let mut store = Store::new();
        store.commit(genesis_rows(genesis)?);
        Self::from_store(store, None, config)
    }

    /// An executor over a loaded state whose newest executed block is `head`.
    pub fn from_store(
        store: Store,
        head: Option<ExecutedHead>,
        config: ExecConfig,
    ) -> Result<Self, ExecError> {
        let pool = Arc::new(
            rayon::ThreadPoolBuilder::new()
                .num_threads(config.threads.max(1))
                .thread_name(|i| format!("dawn-exec-{i}"))
                .build()
                .map_err(|e| ExecError::Engine(e.to_string()))?,
        );
        let wasm = match &config.wasm {
            Some(w) => w.clone(),
            // A thread keeps to one lane: more lanes than worker threads would go unused.
            None => Arc::new(WasmRuntime::with_lanes(config.threads).map_err(ExecError::Engine)?),
        };
        let mut contracts =
            Contracts { code: foldhash::HashMap::default(), accounts_before: HashMap::new(), wasm };
        contracts.rebuild(&store)?;
        let deferred = DeferredIndex::load(&store);
        Ok(Self {
            config,
            pool,
            store: Arc::new(RwLock::new(store)),
            contracts,
            deferred,
            head,
            permissions: Arc::default(),
        })
    }

    /// The generation of permission rows, bumped after each commit that wrote one (views
    /// cache decoded authorities against it).
    pub fn permission_generation(&self) -> Arc<PermissionGeneration> {
        self.permissions.clone()
    }

    /// The shared state (readers take the read lock; the executor writes between waves).
    pub fn store(&self) -> Arc<RwLock<Store>> {
        self.store.clone()
    }

    /// The newest executed block.
    pub fn head(&self) -> Option<ExecutedHead> {
        self.head
    }

    /// The current state root.
    pub fn state_root(&self) -> Checksum256 {
        self.store.read().expect("state lock").root()
    }

    /// The configuration.
    pub fn config(&self) -> &ExecConfig {
        &self.config
    }

    /// Deferred requests waiting.
    pub fn deferred_pending(&self) -> usize {
        self.deferred.len()
    }

    fn fuel_for(&self, max_cpu_us: u32) -> u64 {
        let us = if max_cpu_us == 0 { self.config.default_max_cpu_us } else { max_cpu_us };
        u64::from(us.min(self.config.max_cpu_us_cap)) * FUEL_PER_US
    }

    /// Runs `tx` against the newest state without keeping anything, recording every scope
    /// it reads and writes: the minimal declaration (read scopes, write scopes), each sorted.
    /// The authorizing actors are always write scopes, as Dawn requires.
    pub fn compute_scopes(
        &self,
        tx: &crate::chain::Transaction,
        now: crate::chain::TimePoint,
    ) -> Result<(Vec<Name>, Vec<Name>), ActionError> {
        let store = self.store.read().expect("state lock");
        let facts = BlockFacts { num: BlockNum(self.head.map_or(0, |h| h.num.0) + 1), time: now };
        let mode = ScopeMode::Record { read: Default::default(), write: Default::default() };
        let mut ctx =
            TxCtx::new(&store, &self.contracts, facts, &[], &[], mode, self.fuel_for(tx.max_cpu_us));
        for a in &tx.actions {
            for l in &a.authorization {
                ctx.check_scope(l.actor, true)?;
            }
        }
        run_actions(&mut ctx, &tx.actions, true)?;
        match ctx.mode {
            ScopeMode::Record { read, write } => {
                Ok((read.into_iter().collect(), write.into_iter().collect()))
            }
            ScopeMode::Enforce => unreachable!("recording mode was set above"),
        }
    }

    fn items<'b>(
        &mut self,
        block: &'b SignedBlock,
        derived: Option<(&[TxId], &[u32])>,
        facts: BlockFacts,
        setup: &mut Vec<(RowKey, Option<Bytes>)>,
    ) -> Vec<Item<'b>> {
        let now = facts.time.0;
        let due = self.deferred.due(now, self.config.deferred_per_block_max);
        let mut items = Vec::with_capacity(due.len() + block.transactions.len());
        let stored: Vec<Option<Bytes>> = {
            let store = self.store.read().expect("state lock");
            due.iter().map(|(s, id)| store.get(&deferred::row_key(*s, *id)).cloned()).collect()
        };
        for ((sender, sender_id), stored) in due.into_iter().zip(stored) {
            let key = deferred::row_key(sender, sender_id);
            // The id is the SHA-256 of the stored entry (its canonical encoding).
            self.deferred.remove(sender, sender_id);
            setup.push((key, None));
            let Some((bytes, e)) =
                stored.and_then(|b| codec::decode::<DeferredEntry>(&b, 1 << 20).ok().map(|e| (b, e)))
            else {
                continue;
            };
            items.push(Item {
                origin: Origin::Deferred { sender, sender_id },
                id: TxId(Checksum256::hash(&bytes)),
                reads: Cow::Owned(e.request.read_scopes.into_vec()),
                writes: Cow::Owned(e.request.write_scopes.into_vec()),
                actions: Cow::Owned(e.request.actions.into_vec()),
                fuel: self.fuel_for(0),
                net_bytes: 0,
                kind: ItemKind::Deferred { sender, sender_id, expired: now > e.expires_ms },
            });
        }
        // Ids and sizes come from intake, or are hashed and encoded on the pool, each item
        // written in place behind the deferred ones (no second list copied over).
        let this = &*self;
        items.par_extend(
            block
                .transactions
                .par_iter()
                .enumerate()
                .map(|(i, st)| this.block_item(i as u32, st, derived.map(|(ids, sizes)| (ids[i], sizes[i])))),
        );
        items
    }

    fn block_item<'b>(
        &self,
        index: u32,
        st: &'b SignedTransaction,
        derived: Option<(TxId, u32)>,
    ) -> Item<'b> {
        let t = &st.transaction;
        let (id, net_bytes) = match derived {
            Some((id, size)) => {
                debug_assert_eq!((id, size), (t.id(), codec::encoded_len(st) as u32), "intake's id and size");
                (id, size)
            }
            None => (t.id(), codec::encoded_len(st) as u32),
        };
        let mut item = Item {
            origin: Origin::Block(index),
            id,
            reads: Cow::Borrowed(&t.read_scopes),
            writes: Cow::Borrowed(&t.write_scopes),
            actions: Cow::Borrowed(&t.actions),
            fuel: self.fuel_for(t.max_cpu_us),
            net_bytes,
            kind: ItemKind::Run,
        };
        if let Err(e) = t.check_scopes() {
            // Exec re-checks what intake checked. A malformed declaration cannot be
            // scheduled by it: the transaction conflicts with nothing and fails.
            item.reads = Cow::Borrowed(&[]);
            item.writes = Cow::Borrowed(&[]);
            item.kind = ItemKind::Refuse(e.to_string());
        } else if t.delay_sec > 0 {
            item.origin = Origin::Delayed(index);
            item.kind = ItemKind::Delay {
                delay_sec: t.delay_sec,
                request: Box::new(DeferredRequest {
                    read_scopes: t.read_scopes.clone(),
                    write_scopes: t.write_scopes.clone(),
                    actions: t.actions.clone(),
                }),
            };
            // Storing it touches only the system's deferred table, committed in order.
            item.reads = Cow::Borrowed(&[]);
            item.writes = Cow::Borrowed(&[]);
        }
        item
    }

    /// Executes `block` and returns its results. The state advances; the caller appends
    /// the results to the results log. All parallel work (waves, hashing) runs on this
    /// executor's `threads` workers.
    pub fn execute_block(&mut self, block: &SignedBlock) -> BlockResults {
        self.execute_block_encoded(block, None).0
    }

    /// As [`Executor::execute_block`], also returning the results' encoding (the results
    /// log record), assembled from the per-transaction encodings the results root was
    /// hashed over: each result is encoded once.
    ///
    /// `derived` holds each transaction's id and encoded size as intake computed them
    /// (a [`crate::chain::SealedBlock`]'s); `None` computes them here.
    pub fn execute_block_record(
        &mut self,
        block: &SignedBlock,
        derived: Option<(&[TxId], &[u32])>,
    ) -> (BlockResults, Vec<u8>) {
        let (results, encoded) = self.execute_block_encoded(block, derived);
        let record = results.record(&encoded);
        (results, record)
    }

    fn execute_block_encoded(
        &mut self,
        block: &SignedBlock,
        derived: Option<(&[TxId], &[u32])>,
    ) -> (BlockResults, Vec<Vec<u8>>) {
        // Derived values that do not cover the block are ignored (computed here instead).
        let n = block.transactions.len();
        let derived = derived.filter(|(ids, sizes)| ids.len() == n && sizes.len() == n);
        let pool = self.pool.clone();
        pool.install(|| self.execute_block_on_pool(block, derived))
    }

    fn execute_block_on_pool(
        &mut self,
        block: &SignedBlock,
        derived: Option<(&[TxId], &[u32])>,
    ) -> (BlockResults, Vec<Vec<u8>>) {
        let facts = BlockFacts { num: block.header.block_num(), time: block.header.timestamp };
        let mut setup = Vec::new();
        let items = self.items(block, derived, facts, &mut setup);
        let mut changes: Vec<RowChange> = Vec::new();
        {
            let mut store = self.store.write().expect("state lock");
            changes.extend(store.apply(setup));
        }
        self.contracts.accounts_before.clear();
        let waves = scheduler::group(&scheduler::waves(&items));
        // Accounts whose metadata or code changed: their directory entries are refreshed
        // after the block (code takes effect at the next one).
        let mut touched_accounts = std::collections::BTreeSet::new();
        // Each item's outcome, set by whichever worker runs it: in place, in block order,
        // with no per-wave list to gather and scatter.
        let mut outcomes: Vec<OnceLock<Outcome>> = (0..items.len()).map(|_| OnceLock::new()).collect();
        // The last wave's rows are committed beside the building of the results (below).
        let mut last_wave = None;
        let wave_count = waves.len();
        for (w, wave) in waves.into_iter().enumerate() {
            // Each worker also hashes its transactions' row changes against the wave's
            // state (write scopes in a wave are disjoint, so no other transaction of the
            // wave changes those rows): the root delta is ready when the wave is.
            let delta: LtHash = {
                let store = self.store.read().expect("state lock");
                let (store, contracts, outcomes) = (&*store, &self.contracts, &outcomes);
                // A chunk's rows are warmed together first (their misses overlap), then
                // its transactions run.
                let step = |mut h: LtHash, chunk: &[usize]| {
                    for i in chunk {
                        warm_rows(store, contracts, &items[*i]);
                    }
                    for i in chunk {
                        let o = run_item(store, contracts, facts, &items[*i]);
                        store::writes_delta(store, &o.writes, &mut h);
                        // Invariant: an item is in exactly one wave, run once.
                        assert!(outcomes[*i].set(o).is_ok(), "item {i} ran twice");
                    }
                    h
                };
                if wave.len() > 1 && self.config.threads > 1 {
                    // Every thread gets work, however small the wave.
                    let chunk = WARM_CHUNK.min(wave.len().div_ceil(self.config.threads));
                    wave.par_chunks(chunk).fold(LtHash::default, step).reduce(
                        LtHash::default,
                        |mut h1, h2| {
                            h1.add(&h2);
                            h1
                        },
                    )
                } else {
                    wave.chunks(WARM_CHUNK).fold(LtHash::default(), step)
                }
            };
            let shared = self.store.clone();
            let mut store = shared.write().expect("state lock");
            // The wave's row writes, in block order. Deferred requests are stored in the
            // system's deferred table, which no transaction writes, so they commit as each
            // transaction's turn comes.
            let ran = |i: usize| outcomes[i].get().expect("every item of the wave ran");
            let mut wave_writes = Vec::with_capacity(wave.iter().map(|&i| ran(i).writes.len()).sum());
            for &i in &wave {
                let o = outcomes[i].get_mut().expect("every item of the wave ran");
                wave_writes.append(&mut o.writes);
                let ops = std::mem::take(&mut o.deferred_ops);
                changes.extend(self.apply_deferred_ops(&mut store, facts, ops));
                if let ItemKind::Delay { delay_sec, request } = &items[i].kind {
                    let id = u64::from_le_bytes(items[i].id.0 .0[..8].try_into().expect("8 bytes"));
                    let op = DeferredOp::Send {
                        sender: EOSIO,
                        sender_id: id,
                        delay_sec: *delay_sec,
                        request: (**request).clone(),
                    };
                    changes.extend(self.apply_deferred_ops(&mut store, facts, vec![op]));
                }
            }
            if w + 1 < wave_count {
                self.commit_wave(&mut store, wave_writes, &delta, &mut touched_accounts);
            } else {
                last_wave = Some((wave_writes, delta));
            }
        }
        // Two independent jobs on the pool: committing the last wave and finishing the
        // state root, and turning the outcomes into results with their merkle root. Nothing
        // in the results depends on the state; this keeps the workers busy while the row
        // maps are written.
        let this = &mut *self;
        let (state_root, (transactions, (encoded, results_root))) = rayon::join(
            move || {
                let shared = this.store.clone();
                let mut store = shared.write().expect("state lock");
                if let Some((writes, delta)) = last_wave {
                    this.commit_wave(&mut store, writes, &delta, &mut touched_accounts);
                }
                store.update_root(changes);
                for account in touched_accounts {
                    if let Err(e) = this.contracts.refresh(&store, account) {
                        tracing::error!(target: "dawn::exec", %account, error = %e, "loading contract code");
                    }
                }
                store.root()
            },
            move || {
                let mut transactions: Vec<TxResult> = items
                    .par_iter()
                    .zip(outcomes.into_par_iter())
                    .map(|(item, o)| {
                        let o = o.into_inner().expect("every item ran in some wave");
                        TxResult {
                            origin: item.origin.clone(),
                            receipt: TransactionReceipt {
                                id: item.id,
                                status: o.status,
                                cpu_usage_us: o.fuel_used.div_ceil(FUEL_PER_US) as u32,
                                net_usage_bytes: item.net_bytes,
                            },
                            error: o.error,
                            traces: o.traces,
                            traces_pruned: false,
                        }
                    })
                    .collect();
                prune_traces(&mut transactions);
                let encoded_and_root = BlockResults::encode_and_root(&transactions);
                (transactions, encoded_and_root)
            },
        );
        self.contracts.accounts_before.clear();
        let results = BlockResults {
            block_num: facts.num,
            block_id: block.header.id(),
            transactions,
            state_root,
            results_root,
        };
        self.head = Some(ExecutedHead { num: facts.num, state_root, results_root });
        (results, encoded)
    }

    /// Applies one wave's row writes (their root delta computed by the workers), notes the
    /// accounts whose metadata or code changed, and starts a new permission generation if
    /// a permission row was written.
    fn commit_wave(
        &mut self,
        store: &mut Store,
        writes: Vec<(RowKey, Option<Bytes>)>,
        delta: &LtHash,
        touched_accounts: &mut std::collections::BTreeSet<Name>,
    ) {
        let system = |k: &RowKey| k.code == EOSIO && (k.table == T_ACCOUNT || k.table == T_CODE);
        let permissions_written = writes.iter().any(|(k, _)| k.code == EOSIO && k.table == T_PERMISSION);
        let kept = store.apply_prehashed(writes, system);
        if permissions_written {
            self.permissions.bump();
        }
        for (key, old) in kept {
            touched_accounts.insert(key.scope);
            if key.table == T_ACCOUNT {
                self.contracts.accounts_before.entry(key).or_insert(old);
            }
        }
        store.add_prehashed_delta(delta);
    }

    fn apply_deferred_ops(
        &mut self,
        store: &mut Store,
        facts: BlockFacts,
        ops: Vec<DeferredOp>,
    ) -> Vec<RowChange> {
        let mut writes = Vec::new();
        for op in ops {
            match op {
                DeferredOp::Send { sender, sender_id, delay_sec, request } => {
                    let delivery_ms = facts.time.0 + u64::from(delay_sec) * 1000;
                    let e = DeferredEntry {
                        sender,
                        sender_id,
                        delivery_ms,
                        expires_ms: delivery_ms + u64::from(self.config.deferred_expiry_sec) * 1000,
                        request,
                    };
                    self.deferred.insert(&e);
                    writes.push((deferred::row_key(sender, sender_id), Some(Bytes::from(codec::encode(&e)))));
                }
                DeferredOp::Cancel { sender, sender_id } => {
                    self.deferred.remove(sender, sender_id);
                    writes.push((deferred::row_key(sender, sender_id), None));
                }
            }
        }
        store.apply(writes)
    }
}

/// Most bytes of action traces one block's results keep; traces of later transactions
/// are dropped (their receipts stay), so a block's results record stays far below
/// [`RESULTS_RECORD_BYTES_MAX`].
pub const BLOCK_TRACE_BYTES_MAX: usize = 64 << 20;
/// The results log's record limit.
pub const RESULTS_RECORD_BYTES_MAX: u32 = 128 << 20;
const _: () = assert!(BLOCK_TRACE_BYTES_MAX <= RESULTS_RECORD_BYTES_MAX as usize / 2);

/// Drops traces past [`BLOCK_TRACE_BYTES_MAX`], in block order (deterministic).
fn prune_traces(transactions: &mut [TxResult]) {
    let mut total = 0usize;
    for t in transactions.iter_mut() {
        total += t.traces.budget_bytes();
        if total > BLOCK_TRACE_BYTES_MAX && !t.traces.is_empty() {
            t.traces.clear();
            t.traces_pruned = true;
        }
    }
}

/// `onerror` data sent to the sender of a failed or expired deferred request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OnError {
    /// The sender's id for the request.
    pub sender_id: u64,
    /// Why it did not apply.
    pub error: String,
}

/// Transactions whose rows are warmed together before they run: enough for their misses to
/// memory to overlap, few enough that their rows stay in cache until read (a token
/// transfer reads about four).
const WARM_CHUNK: usize = 32;

/// Warms the rows `item` is known to read before it runs: the permission of each
/// authorization (checked first, whatever the contract) and what a native contract says
/// its action reads. A hint only: it changes nothing.
fn warm_rows(store: &Store, contracts: &Contracts, item: &Item) {
    if !matches!(item.kind, ItemKind::Run | ItemKind::Deferred { .. }) {
        return;
    }
    for a in item.actions.iter() {
        for level in &a.authorization {
            store.warm(&permission_key(level.actor, level.permission));
        }
        if let Some(ContractCode::Token) = contracts.code.get(&a.account) {
            token::rows_read(a.account, a, |key| store.warm(&key));
        }
    }
}

fn run_item(store: &Store, contracts: &Contracts, facts: BlockFacts, item: &Item) -> Outcome {
    let fail = |status, error: String, fuel_used, traces| Outcome {
        status,
        error: Some(error),
        writes: Vec::new(),
        deferred_ops: Vec::new(),
        traces,
        fuel_used,
    };
    match &item.kind {
        ItemKind::Refuse(e) => {
            return fail(
                TransactionStatus::HardFail,
                format!("bad scope declaration: {e}"),
                0,
                TraceLog::default(),
            )
        }
        ItemKind::Delay { .. } => {
            return Outcome {
                status: TransactionStatus::Delayed,
                error: None,
                writes: Vec::new(),
                deferred_ops: Vec::new(),
                traces: TraceLog::default(),
                fuel_used: 0,
            }
        }
        _ => {}
    }
    let (expired, deferred_from) = match &item.kind {
        ItemKind::Deferred { sender, sender_id, expired } => (*expired, Some((*sender, *sender_id))),
        _ => (false, None),
    };
    // A delayed transaction of a block (sent by `eosio`) has no sender contract to notify.
    let system_sent = deferred_from.is_some_and(|(s, _)| s == EOSIO);
    if expired && system_sent {
        return fail(
            TransactionStatus::Expired,
            "expired before it could run".into(),
            0,
            TraceLog::default(),
        );
    }
    let mut first_fuel = 0;
    let error = if expired {
        ActionError::Deferred("expired before it could run".into())
    } else {
        let mut ctx =
            TxCtx::new(store, contracts, facts, &item.reads, &item.writes, ScopeMode::Enforce, item.fuel);
        match run_actions(&mut ctx, &item.actions, true) {
            Ok(()) => {
                return Outcome {
                    status: TransactionStatus::Executed,
                    error: None,
                    fuel_used: ctx.fuel_used(),
                    deferred_ops: std::mem::take(&mut ctx.deferred_ops),
                    traces: std::mem::take(&mut ctx.traces),
                    writes: ctx.overlay.into_writes(),
                }
            }
            Err(e) => {
                if deferred_from.is_none() || system_sent {
                    return fail(
                        TransactionStatus::HardFail,
                        e.to_string(),
                        ctx.fuel_used(),
                        std::mem::take(&mut ctx.traces),
                    );
                }
                first_fuel = ctx.fuel_used();
                e
            }
        }
    };
    // A contract's deferred request failed or expired: its sender hears of it through
    // `onerror`, run with the request's scopes.
    let (sender, sender_id) = deferred_from.expect("only deferred requests reach here");
    let data = OnError { sender_id, error: error.to_string() };
    let onerror = Action {
        account: sender,
        name: Name::constant("onerror"),
        authorization: smallvec::smallvec![PermissionLevel { actor: sender, permission: ACTIVE }],
        data: crate::chain::Bytes::from(codec::encode(&data)),
    };
    let mut ctx =
        TxCtx::new(store, contracts, facts, &item.reads, &item.writes, ScopeMode::Enforce, item.fuel);
    let handled = run_actions(&mut ctx, std::slice::from_ref(&onerror), false);
    let status = if expired {
        TransactionStatus::Expired
    } else if handled.is_ok() {
        TransactionStatus::SoftFail
    } else {
        TransactionStatus::HardFail
    };
    let message = match &handled {
        Ok(()) => error.to_string(),
        Err(h) => format!("{error}; onerror failed too: {h}"),
    };
    Outcome {
        status,
        error: Some(message),
        // Both runs are billed: the request's and its onerror's.
        fuel_used: first_fuel + ctx.fuel_used(),
        deferred_ops: if handled.is_ok() { std::mem::take(&mut ctx.deferred_ops) } else { Vec::new() },
        traces: std::mem::take(&mut ctx.traces),
        writes: if handled.is_ok() { ctx.overlay.into_writes() } else { Vec::new() },
    }
}

impl Contracts {
    /// Rebuilds the directory of contracts from the state (at load): the native ones, and
    /// every account with code (compiling modules not yet loaded).
    pub fn rebuild(&mut self, store: &Store) -> Result<(), ExecError> {
        self.code.clear();
        self.code.insert(EOSIO, ContractCode::System);
        self.code.insert(EOSIO_TOKEN, ContractCode::Token);
        let accounts: Vec<Name> = store
            .iter()
            .filter(|(k, _)| k.code == EOSIO && k.table == T_ACCOUNT)
            .map(|(k, _)| k.scope)
            .collect();
        for account in accounts {
            self.refresh(store, account)?;
        }
        Ok(())
    }

    /// Brings the directory entry of `account` in line with its metadata row: its module
    /// (compiled if not yet loaded), or no entry when it has no code. Native accounts keep
    /// their native code.
    pub fn refresh(&mut self, store: &Store, account: Name) -> Result<(), ExecError> {
        if self.code.get(&account).is_some_and(ContractCode::is_native) {
            return Ok(());
        }
        let meta: Option<AccountMeta> = store
            .get(&account_key(account))
            .map(|v| codec::decode(v, 1 << 16))
            .transpose()
            .map_err(|e| ExecError::Genesis(format!("account row {account}: {e}")))?;
        let hash = match meta {
            Some(m) if m.code_hash != Checksum256::default() => m.code_hash,
            _ => {
                self.code.remove(&account);
                return Ok(());
            }
        };
        if !self.wasm.is_loaded(&hash) {
            let bytes = store
                .get(&RowKey { code: EOSIO, scope: account, table: T_CODE, id: 0 })
                .ok_or_else(|| ExecError::Genesis(format!("{account} has a code hash but no code")))?;
            self.wasm.validate(bytes).map_err(|e| ExecError::Engine(format!("code of {account}: {e}")))?;
        }
        self.code.insert(account, ContractCode::Wasm(hash));
        Ok(())
    }
}
