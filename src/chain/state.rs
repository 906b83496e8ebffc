//! The read-only view of the newest executed state that ingest consults (keys for
//! authorization, account existence). Defined here so no stage imports another: exec
//! implements it and src/node wires it in; exec re-checks everything itself.

use super::{Authority, Name, PermissionLevel};

/// Read access to executed state, as of the newest executed block.
pub trait StateView: Send + Sync {
    /// Does the account exist?
    fn account_exists(&self, account: Name) -> bool;
    /// The authority of `level`, if the account and permission exist.
    fn permission(&self, level: &PermissionLevel) -> Option<Authority>;
}
