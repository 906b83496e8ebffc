//! Exec: scope-partitioned parallel execution of native and WASM contracts.
//!
//! # Purpose
//! Reads blocks from the chain log, runs their transactions, and appends per block the
//! receipts, action traces, state root and results root to the results log. The chain log
//! is the source of truth; state and results are derived and rebuilt from it.
//!
//! # Goals
//! - Transactions declare the scopes they read and write; the [`scheduler`] orders
//!   conflicting ones and runs independent ones in parallel. The outcome is bit for bit
//!   the serial one, on any number of threads (tested).
//! - One set of rules for native and WASM contracts: both act through
//!   [`context::TxCtx`] (scope checks, authorization, fuel costs). WASM runs on wasmtime
//!   with fuel metering, so CPU is billed in the same units on every machine.
//! - A state root maintained incrementally ([`lthash`]) and folded in parallel.
//! - Inline actions, notifications and deferred requests with EOS.IO's order and statuses.
//!
//! # Non-goals (for now)
//! Signature checks of this producer's own blocks: intake verified them; exec re-checks
//! that every authorizing account and permission exists in the state it executes against.
//! Consensus parameters (CPU defaults, deferred limits) are node settings, not yet part of
//! the genesis.
//!
//! # Threads and ownership
//! One `dawn-exec` thread ([`stage`]) owns the [`Executor`] and appends to the results
//! log; a rayon pool of `threads` workers runs each wave. The state sits behind a RwLock:
//! waves and readers (ingest's [`view::ExecView`]) share it, commits take it briefly.
//!
//! # What survives a crash
//! The results log (written without fsync by the node: it is derived, and a tail lost to a
//! power cut is re-executed) and the state snapshots ([`snapshot`], written whole or
//! not at all). At start the state is loaded from the newest snapshot that checks out (or
//! the genesis) and the chain log after it is re-executed; every block already in the
//! results log is compared with its re-execution: a difference stops the node
//! ([`ExecError::Diverged`]).
//!
//! Host API: docs/CONTRACTS.md. Results log and state rows: docs/FORMAT.md.

pub mod apply;
pub mod bench;
pub mod context;
pub mod deferred;
mod error;
pub mod executor;
pub mod lthash;
pub mod native;
pub mod results;
pub mod scheduler;
pub mod snapshot;
pub mod stage;
pub mod store;
pub mod system_rows;
pub mod view;
pub mod wasm;
pub mod workload;

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;

use crate::chain::{Checksum256, Name};

pub use error::{ActionError, ExecError};
pub use executor::{ExecutedHead, Executor};
pub use results::{ActionTrace, BlockResults, Origin, Trace, TraceLog, TxResult};
pub use stage::ExecStage;
pub use view::{ExecStats, ExecView, PermissionGeneration};

/// Settings of exec.
#[derive(Debug, Clone)]
pub struct ExecConfig {
    /// Worker threads for a wave (1: serial).
    pub threads: usize,
    /// CPU a transaction gets when its `max_cpu_us` is 0.
    pub default_max_cpu_us: u32,
    /// Most CPU any transaction may ask for.
    pub max_cpu_us_cap: u32,
    /// Most deferred requests delivered in one block; the rest wait for the next.
    pub deferred_per_block_max: usize,
    /// A deferred request not run this long after its delivery time expires.
    pub deferred_expiry_sec: u32,
    /// A WASM engine to share (tests and benches start many executors); `None` starts one.
    pub wasm: Option<Arc<wasm::WasmRuntime>>,
    /// Where the stage keeps state snapshots; `None`: no snapshots (replay from genesis).
    pub snapshot_dir: Option<std::path::PathBuf>,
    /// Take a snapshot after every this many blocks (0: never).
    pub snapshot_interval_blocks: u32,
    /// Whether the stage executes the blocks it follows. `false` holds the state as it
    /// was opened while the chain log grows: `dawn bench ingest` measures intake alone.
    pub execute: bool,
    /// Whether the stage leaves each block's results decoded beside their record for a
    /// reader at the head (publish): the node turns it off when publish is off.
    pub keep_decoded_results: bool,
}

impl Default for ExecConfig {
    fn default() -> Self {
        Self {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            default_max_cpu_us: 10_000,
            max_cpu_us_cap: 150_000,
            deferred_per_block_max: 1_000,
            deferred_expiry_sec: 600,
            wasm: None,
            snapshot_dir: None,
            snapshot_interval_blocks: 1_000,
            execute: true,
            keep_decoded_results: true,
        }
    }
}

/// Which code runs for an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContractCode {
    /// The native system contract.
    System,
    /// The native core token.
    Token,
    /// A WASM module, by hash.
    Wasm(Checksum256),
}

impl ContractCode {
    /// Native code cannot be replaced by `setcode`.
    pub fn is_native(&self) -> bool {
        matches!(self, Self::System | Self::Token)
    }
}

/// The contracts in force for a block (code changes take effect at the next block), and
/// the account rows as they were at the block's start for rows changed during it.
pub struct Contracts {
    /// Code by account (looked up for every delivery: a fast hash under a per-process seed).
    pub code: foldhash::HashMap<Name, ContractCode>,
    /// Block-start values of account rows changed by earlier waves of this block.
    pub accounts_before: HashMap<store::RowKey, Option<Bytes>>,
    /// The WASM engine.
    pub wasm: Arc<wasm::WasmRuntime>,
}
