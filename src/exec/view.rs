//! [`StateView`] over the executed state, for ingest: accounts and permissions from the
//! state rows, the executed head, receipts from the results log, and scope inference.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::watch;

use crate::chain::{
    codec, Authority, BlockNum, ExecutedRoots, Name, PermissionLevel, StateView, TimePoint, Transaction,
    TransactionReceipt,
};
use crate::log::{Log, Offset};

use super::results::BlockResults;
use super::store::{RowKey, Store};
use super::system_rows::{account_key, permission_key, PermissionRow};
use super::{ExecutedHead, Executor};

/// The last block whose results were read, decoded.
pub(super) type LastRead = (BlockNum, Arc<BlockResults>);

/// Where exec's time goes, since open: counted per block (never per transaction), for
/// `dawn bench` and metrics. Nanoseconds of wall-clock time on the `dawn-exec` thread
/// (a block's waves run on the worker pool meanwhile).
#[derive(Debug, Default)]
pub struct ExecStats {
    /// Decoding and executing blocks (the waves on the workers included).
    pub execute_ns: AtomicU64,
    /// Encoding results and appending them to the results log.
    pub results_ns: AtomicU64,
    /// Blocks executed.
    pub blocks: AtomicU64,
    /// Transactions in them.
    pub transactions: AtomicU64,
}

/// Exec's read-only face. Cheap to clone.
#[derive(Clone)]
pub struct ExecView {
    pub(super) store: Arc<RwLock<Store>>,
    pub(super) executor: Arc<RwLock<Executor>>,
    pub(super) head: watch::Receiver<Option<ExecutedHead>>,
    pub(super) results: Log,
    pub(super) last_read: Arc<Mutex<Option<LastRead>>>,
    pub(super) stats: Arc<ExecStats>,
    pub(super) authorities: Arc<AuthorityCache>,
}

/// Decoded permissions by level, each with the row bytes it was decoded from. Decoding an
/// authority decompresses its keys (a few microseconds each), which intake would otherwise
/// pay for every transaction.
///
/// Invariant: an entry tagged with the current [`PermissionGeneration`] holds what its row
/// held at some instant since that generation began, so it is served without reading the
/// state; any other entry is served only after its row is read and found unchanged. The
/// executor bumps the generation after committing any permission row, so a changed
/// permission is never served stale once its block is applied.
pub(super) struct AuthorityCache {
    generation: Arc<PermissionGeneration>,
    entries: RwLock<foldhash::HashMap<PermissionLevel, CachedAuthority>>,
}

/// Counts commits that wrote permission rows; shared by the executor and its views.
#[derive(Debug, Default)]
pub struct PermissionGeneration(AtomicU64);

impl PermissionGeneration {
    /// The current generation.
    pub fn current(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    /// Starts a new generation: call after permission rows were committed.
    pub fn bump(&self) {
        self.0.fetch_add(1, Ordering::Release);
    }
}

struct CachedAuthority {
    generation: u64,
    row: Vec<u8>,
    auth: Arc<Authority>,
}

impl AuthorityCache {
    pub(super) fn new(generation: Arc<PermissionGeneration>) -> Self {
        Self { generation, entries: RwLock::default() }
    }
}

/// Most cached permissions; the cache starts over when full.
const AUTHORITY_CACHE_MAX: usize = 1 << 17;

impl ExecView {
    /// Where exec's time went since open.
    pub fn stats(&self) -> &ExecStats {
        &self.stats
    }

    /// The executed head, updated after each block's results are in the results log.
    pub fn subscribe_head(&self) -> watch::Receiver<Option<ExecutedHead>> {
        self.head.clone()
    }

    /// A block's results from the results log. The last block read is kept decoded, so
    /// the receipts of one block (a batch waiting for it) decode it once.
    pub fn block_results(&self, num: BlockNum) -> Option<Arc<BlockResults>> {
        if num.0 == 0 || self.executed().is_none_or(|h| h.num < num) {
            return None;
        }
        if let Some((n, r)) = &*self.last_read.lock().expect("results cache lock") {
            if *n == num {
                return Some(r.clone());
            }
        }
        let rec = self.results.get(Offset(u64::from(num.0) - 1)).ok()?;
        let r: Arc<BlockResults> =
            Arc::new(codec::decode(&rec.data, u64::from(super::executor::RESULTS_RECORD_BYTES_MAX)).ok()?);
        *self.last_read.lock().expect("results cache lock") = Some((num, r.clone()));
        Some(r)
    }
}

impl StateView for ExecView {
    fn account_exists(&self, account: Name) -> bool {
        let store = self.store.read().expect("state lock");
        store.get(&account_key(account)).is_some()
    }

    fn permission(&self, level: &PermissionLevel) -> Option<Arc<Authority>> {
        let cache = &self.authorities;
        // Read before the row: an entry tagged with it is at least as new as this generation.
        let generation = cache.generation.current();
        if let Some(c) = cache.entries.read().expect("authority cache lock").get(level) {
            if c.generation == generation {
                return Some(c.auth.clone());
            }
        }
        let store = self.store.read().expect("state lock");
        let row = store.get(&permission_key(level.actor, level.permission))?;
        let mut entries = cache.entries.write().expect("authority cache lock");
        if let Some(c) = entries.get_mut(level) {
            if c.row[..] == row[..] {
                c.generation = c.generation.max(generation);
                return Some(c.auth.clone());
            }
        }
        let auth = Arc::new(codec::decode::<PermissionRow>(row, 1 << 16).ok()?.auth);
        if entries.len() >= AUTHORITY_CACHE_MAX {
            entries.clear();
        }
        entries.insert(*level, CachedAuthority { generation, row: row.to_vec(), auth: auth.clone() });
        Some(auth)
    }

    fn executed(&self) -> Option<ExecutedRoots> {
        *self.head.borrow()
    }

    fn executed_changes(&self) -> Option<watch::Receiver<Option<ExecutedRoots>>> {
        Some(self.head.clone())
    }

    fn receipt(&self, num: BlockNum, index: u32) -> Option<(TransactionReceipt, Option<String>)> {
        let r = self.block_results(num)?;
        r.for_index(index).map(|t| (t.receipt.clone(), t.error.clone()))
    }

    fn table_rows(
        &self,
        code: Name,
        scope: Name,
        table: Name,
        lower: u64,
        limit: usize,
    ) -> Vec<(u64, Vec<u8>)> {
        let store = self.store.read().expect("state lock");
        let mut out = Vec::new();
        let mut next = Some(lower);
        while let Some(id) = next {
            if out.len() >= limit {
                break;
            }
            let Some(found) = store.lower_bound(code, scope, table, id) else { break };
            if let Some(v) = store.get(&RowKey { code, scope, table, id: found }) {
                out.push((found, v.to_vec()));
            }
            next = found.checked_add(1);
        }
        out
    }

    fn compute_scopes(&self, tx: &Transaction) -> Option<crate::chain::ScopeDeclaration> {
        let ex = self.executor.read().expect("executor lock");
        Some(ex.compute_scopes(tx, TimePoint::now()).map_err(|e| e.to_string()))
    }
}
