//! The read-only view of the newest executed state that ingest consults (keys for
//! authorization, account existence, receipts, scope inference). Defined here so no stage
//! imports another: exec implements it and src/node wires it in; exec re-checks everything
//! itself.

use std::sync::Arc;

use super::{Authority, BlockNum, Checksum256, Name, PermissionLevel, Transaction, TransactionReceipt};

/// The newest executed block and its roots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecutedRoots {
    /// The block.
    pub num: BlockNum,
    /// State root after it.
    pub state_root: Checksum256,
    /// Its results merkle root.
    pub results_root: Checksum256,
}

/// A minimal scope declaration, `(read_scopes, write_scopes)`, or why the transaction fails.
pub type ScopeDeclaration = Result<(Vec<Name>, Vec<Name>), String>;

/// Read access to executed state, as of the newest executed block.
pub trait StateView: Send + Sync {
    /// Does the account exist?
    fn account_exists(&self, account: Name) -> bool;
    /// The authority of `level`, if the account and permission exist (shared: views
    /// cache decoded authorities, and intake asks for one per transaction).
    fn permission(&self, level: &PermissionLevel) -> Option<Arc<Authority>>;
    /// The newest executed block; `None` when nothing executes (or nothing has yet).
    fn executed(&self) -> Option<ExecutedRoots> {
        None
    }
    /// Follows [`StateView::executed`] as it changes, for waiting on a block without
    /// polling; `None` when this view cannot notify (callers then poll).
    fn executed_changes(&self) -> Option<tokio::sync::watch::Receiver<Option<ExecutedRoots>>> {
        None
    }
    /// The receipt of the transaction at `index` of block `num` and its error, once that
    /// block is executed.
    fn receipt(&self, num: BlockNum, index: u32) -> Option<(TransactionReceipt, Option<String>)> {
        let _ = (num, index);
        None
    }
    /// Up to `limit` rows of table `(code, scope, table)` with id at least `lower`, in id
    /// order: `(id, value)`.
    fn table_rows(
        &self,
        code: Name,
        scope: Name,
        table: Name,
        lower: u64,
        limit: usize,
    ) -> Vec<(u64, Vec<u8>)> {
        let _ = (code, scope, table, lower, limit);
        Vec::new()
    }
    /// Runs `tx` speculatively against the newest state and returns the minimal scope
    /// declaration `(read, write)`; `None` when this view cannot execute.
    fn compute_scopes(&self, tx: &Transaction) -> Option<ScopeDeclaration> {
        let _ = tx;
        None
    }
}
