//! The system contract's rows: account metadata, permissions, code, deferred requests and
//! the producer schedule are rows of `eosio`, so the one state root covers them. Layouts are
//! the canonical codec of these structs (docs/FORMAT.md, "State rows").

use serde::{Deserialize, Serialize};

use crate::chain::{Actions, Authority, Checksum256, Name, ProducerKey, Scopes, TimePoint};

use super::store::RowKey;

/// The system account.
pub const EOSIO: Name = Name::constant("eosio");
/// The native core token contract.
pub const EOSIO_TOKEN: Name = Name::constant("eosio.token");
/// Table of account metadata: scope the account, id 0.
pub const T_ACCOUNT: Name = Name::constant("account");
/// Table of permissions: scope the account, id the permission name.
pub const T_PERMISSION: Name = Name::constant("permission");
/// Table of contract code: scope the account, id 0, the WASM bytes.
pub const T_CODE: Name = Name::constant("code");
/// Table of deferred requests: scope the sending contract, id its `sender_id`.
pub const T_DEFERRED: Name = Name::constant("deferred");
/// Table of the producer schedule: scope `eosio`, id 0.
pub const T_SCHEDULE: Name = Name::constant("prodsched");
/// The `owner` permission.
pub const OWNER: Name = Name::constant("owner");
/// The `active` permission.
pub const ACTIVE: Name = Name::constant("active");
/// A contract's code permission (`account@eosio.code`), used by inline actions.
pub const EOSIO_CODE: Name = Name::constant("eosio.code");

/// The row of `account`'s metadata ([`AccountMeta`]).
pub fn account_key(account: Name) -> RowKey {
    RowKey { code: EOSIO, scope: account, table: T_ACCOUNT, id: 0 }
}

/// The row of `account`'s permission `permission` ([`PermissionRow`]).
pub fn permission_key(account: Name, permission: Name) -> RowKey {
    RowKey { code: EOSIO, scope: account, table: T_PERMISSION, id: permission.0 }
}

/// Metadata of an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountMeta {
    /// When it was created (the block time).
    pub creation: TimePoint,
    /// SHA-256 of its WASM code; zero when it has none.
    pub code_hash: Checksum256,
    /// May run privileged system actions.
    pub privileged: bool,
}

/// A permission and its parent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionRow {
    /// The parent permission (`owner` has none: the empty name).
    pub parent: Name,
    /// Who may act with it.
    pub auth: Authority,
}

/// What a contract asks to run later (`send_deferred`): its own transaction with its own
/// scopes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeferredRequest {
    /// Scopes it reads, sorted and unique.
    pub read_scopes: Scopes,
    /// Scopes it writes, sorted and unique.
    pub write_scopes: Scopes,
    /// The actions.
    pub actions: Actions,
}

/// A deferred request as stored until it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeferredEntry {
    /// The contract that sent it.
    pub sender: Name,
    /// The sender's id for it.
    pub sender_id: u64,
    /// Runs in the first block at or after this time (ms since the epoch).
    pub delivery_ms: u64,
    /// Expires if not run by this time (ms).
    pub expires_ms: u64,
    /// The request.
    pub request: DeferredRequest,
}

/// The producer schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerSchedule {
    /// Bumped at each change.
    pub version: u32,
    /// The producers, in order.
    pub producers: Vec<ProducerKey>,
}
