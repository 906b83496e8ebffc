//! The system contract `eosio`: accounts, permissions, code and the producer schedule.
//!
//! | action | data | authority |
//! | --- | --- | --- |
//! | `newaccount` | `{creator, name, owner: Authority, active: Authority}` | `creator` |
//! | `updateauth` | `{account, permission, parent, auth: Authority}` | `account@owner` for `owner`; else `owner`, the parent, or the permission itself |
//! | `deleteauth` | `{account, permission}` | `owner`, the parent, or the permission itself |
//! | `setcode` | `{account, vmtype: u8, vmversion: u8, code: bytes}` | `account@active` or `account@owner` |
//! | `setprods` | `{schedule: Vec<ProducerKey>}` | `eosio` |
//!
//! Every write lands in the affected account's scope (or `eosio`'s for the schedule), so
//! the transaction must declare it: creating `bob` writes scope `bob`.

use serde::{Deserialize, Serialize};

use crate::chain::{codec, Authority, Bytes, Checksum256, Name, ProducerKey};

use super::super::apply::{action_data, check};
use super::super::context::TxCtx;
use super::super::error::ActionError;
use super::super::store::RowKey;
use super::super::system_rows::{
    account_key, permission_key, AccountMeta, PermissionRow, ProducerSchedule, ACTIVE, EOSIO, EOSIO_CODE,
    OWNER, T_ACCOUNT, T_CODE, T_PERMISSION, T_SCHEDULE,
};

/// `newaccount` data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAccount {
    /// Who pays and authorizes.
    pub creator: Name,
    /// The new account.
    pub name: Name,
    /// Its owner authority.
    pub owner: Authority,
    /// Its active authority.
    pub active: Authority,
}

/// `updateauth` data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateAuth {
    /// The account.
    pub account: Name,
    /// The permission to create or change.
    pub permission: Name,
    /// Its parent (empty for `owner`).
    pub parent: Name,
    /// The new authority.
    pub auth: Authority,
}

/// `deleteauth` data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteAuth {
    /// The account.
    pub account: Name,
    /// The permission to delete (not `owner` or `active`).
    pub permission: Name,
}

/// `setcode` data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetCode {
    /// The account.
    pub account: Name,
    /// 0: WASM.
    pub vmtype: u8,
    /// 0.
    pub vmversion: u8,
    /// The module; empty removes the contract.
    pub code: Bytes,
}

/// `setprods` data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetProds {
    /// The new schedule.
    pub schedule: Vec<ProducerKey>,
}

/// Handles an action delivered to `eosio`.
pub fn apply(ctx: &mut TxCtx<'_>) -> Result<(), ActionError> {
    if ctx.action().account != EOSIO {
        return Ok(()); // a notification: the system contract does nothing with it
    }
    let name = ctx.action().name;
    match name {
        n if n == Name::constant("newaccount") => newaccount(ctx, action_data(ctx)?),
        n if n == Name::constant("updateauth") => updateauth(ctx, action_data(ctx)?),
        n if n == Name::constant("deleteauth") => deleteauth(ctx, action_data(ctx)?),
        n if n == Name::constant("setcode") => setcode(ctx, action_data(ctx)?),
        n if n == Name::constant("setprods") => setprods(ctx, action_data(ctx)?),
        _ => Err(ActionError::UnknownAction(EOSIO, name)),
    }
}

/// Fails unless the action is authorized by `account` with one of `permissions`.
fn require_one_of(ctx: &mut TxCtx<'_>, account: Name, permissions: &[Name]) -> Result<(), ActionError> {
    ctx.charge(20)?;
    let ok =
        ctx.action().authorization.iter().any(|l| l.actor == account && permissions.contains(&l.permission));
    if ok {
        return Ok(());
    }
    let wanted: Vec<String> = permissions.iter().map(|p| format!("{account}@{p}")).collect();
    Err(ActionError::MissingAuth(wanted.join(" or ")))
}

fn permission_row(
    ctx: &mut TxCtx<'_>,
    account: Name,
    permission: Name,
) -> Result<Option<PermissionRow>, ActionError> {
    ctx.check_scope(account, false)?;
    let key = permission_key(account, permission);
    Ok(ctx.row(&key).map(|b| codec::decode(b, 1 << 16).expect("permission rows are written by this module")))
}

/// Longest chain of parents followed when checking for cycles.
pub const PERMISSION_DEPTH_MAX: usize = 16;

fn meta(ctx: &mut TxCtx<'_>, account: Name) -> Result<Option<AccountMeta>, ActionError> {
    ctx.check_scope(account, false)?;
    let key = account_key(account);
    Ok(ctx.row(&key).map(|b| codec::decode(b, 1 << 16).expect("account rows are written by this module")))
}

fn put_permission(
    ctx: &mut TxCtx<'_>,
    account: Name,
    permission: Name,
    row: &PermissionRow,
) -> Result<(), ActionError> {
    ctx.system_set(account, T_PERMISSION, permission.0, Some(codec::encode(row)))
}

fn valid_authority(auth: &Authority) -> Result<(), ActionError> {
    auth.validate().map_err(|e| ActionError::Assert(format!("invalid authority: {e}")))
}

fn newaccount(ctx: &mut TxCtx<'_>, a: NewAccount) -> Result<(), ActionError> {
    ctx.require_auth(a.creator, None)?;
    check(a.name.0 != 0, "account name cannot be empty")?;
    let text = a.name.to_string();
    check(text.len() <= 12, "account names have at most 12 characters")?;
    if let Some((_, suffix)) = text.rsplit_once('.') {
        // As EOS.IO: only the owner of a suffix creates names under it (`x.token` by `token`).
        check(
            a.creator.to_string() == suffix || a.creator == EOSIO,
            &format!("only {suffix} may create accounts ending in .{suffix}"),
        )?;
    }
    check(meta(ctx, a.name)?.is_none(), &format!("cannot create account {}: it already exists", a.name))?;
    valid_authority(&a.owner)?;
    valid_authority(&a.active)?;
    let m = AccountMeta { creation: ctx.block.time, code_hash: Checksum256::default(), privileged: false };
    ctx.system_set(a.name, T_ACCOUNT, 0, Some(codec::encode(&m)))?;
    put_permission(ctx, a.name, OWNER, &PermissionRow { parent: Name(0), auth: a.owner })?;
    put_permission(ctx, a.name, ACTIVE, &PermissionRow { parent: OWNER, auth: a.active })
}

fn updateauth(ctx: &mut TxCtx<'_>, a: UpdateAuth) -> Result<(), ActionError> {
    check(meta(ctx, a.account)?.is_some(), &format!("account {} does not exist", a.account))?;
    if a.permission == OWNER {
        require_one_of(ctx, a.account, &[OWNER])?;
        check(a.parent.0 == 0, "the owner permission has no parent")?;
    } else {
        check(a.permission != EOSIO_CODE, "eosio.code is a reserved permission")?;
        check(a.permission.0 != 0, "a permission needs a name")?;
        check(a.parent.0 != 0, "a permission other than owner needs a parent")?;
        check(a.parent != a.permission, "a permission cannot be its own parent")?;
        check(
            a.permission != ACTIVE || a.parent == OWNER,
            "the parent of active is owner and cannot change",
        )?;
        // As EOS.IO: changing a permission takes the permission itself, its parent, or owner.
        require_one_of(ctx, a.account, &[OWNER, a.parent, a.permission])?;
        // The new parent must exist and must not descend from this permission.
        let mut at = a.parent;
        for _ in 0..PERMISSION_DEPTH_MAX {
            let row = permission_row(ctx, a.account, at)?
                .ok_or_else(|| ActionError::Assert(format!("parent permission {at} does not exist")))?;
            if row.parent.0 == 0 {
                break;
            }
            check(row.parent != a.permission, &format!("{} cannot descend from itself", a.permission))?;
            at = row.parent;
        }
    }
    valid_authority(&a.auth)?;
    put_permission(ctx, a.account, a.permission, &PermissionRow { parent: a.parent, auth: a.auth })
}

fn deleteauth(ctx: &mut TxCtx<'_>, a: DeleteAuth) -> Result<(), ActionError> {
    check(a.permission != OWNER && a.permission != ACTIVE, "cannot delete owner or active")?;
    let row = permission_row(ctx, a.account, a.permission)?
        .ok_or_else(|| ActionError::Assert(format!("permission {} does not exist", a.permission)))?;
    require_one_of(ctx, a.account, &[OWNER, row.parent, a.permission])?;
    // A permission with children cannot go: they would point at nothing.
    let mut id = 0u64;
    while let Some(found) = ctx.overlay.lower_bound(ctx.base, EOSIO, a.account, T_PERMISSION, id) {
        ctx.charge(50)?;
        let child = permission_row(ctx, a.account, Name(found))?.expect("lower_bound returned a live row");
        check(
            child.parent != a.permission,
            &format!("permission {} is the parent of {}; delete that first", a.permission, Name(found)),
        )?;
        id = match found.checked_add(1) {
            Some(x) => x,
            None => break,
        };
    }
    ctx.system_set(a.account, T_PERMISSION, a.permission.0, None)
}

fn setcode(ctx: &mut TxCtx<'_>, a: SetCode) -> Result<(), ActionError> {
    require_one_of(ctx, a.account, &[ACTIVE, OWNER])?;
    check(a.vmtype == 0 && a.vmversion == 0, "only vmtype 0, vmversion 0 (WASM) is supported")?;
    check(
        !matches!(ctx.contracts.code.get(&a.account), Some(c) if c.is_native()),
        &format!("{} runs a native contract; its code cannot be replaced", a.account),
    )?;
    let mut m = meta(ctx, a.account)?.ok_or(ActionError::UnknownAccount(a.account))?;
    if a.code.0.is_empty() {
        m.code_hash = Checksum256::default();
        ctx.system_set(a.account, T_CODE, 0, None)?;
    } else {
        // Compiling is paid for: a large module costs its sender, not the node.
        ctx.charge(10_000 + a.code.0.len() as u64 * 10)?;
        ctx.contracts.wasm.validate(&a.code.0).map_err(ActionError::BadCode)?;
        m.code_hash = Checksum256::hash(&a.code.0);
        ctx.system_set(a.account, T_CODE, 0, Some(a.code.0.into_vec()))?;
    }
    ctx.system_set(a.account, T_ACCOUNT, 0, Some(codec::encode(&m)))
}

fn setprods(ctx: &mut TxCtx<'_>, a: SetProds) -> Result<(), ActionError> {
    ctx.require_auth(EOSIO, None)?;
    check(!a.schedule.is_empty(), "the producer schedule cannot be empty")?;
    check(a.schedule.len() <= 21, "at most 21 producers")?;
    for (i, p) in a.schedule.iter().enumerate() {
        check(
            a.schedule[..i].iter().all(|q| q.producer_name != p.producer_name),
            "a producer is listed twice",
        )?;
        check(ctx.is_account(p.producer_name)?, &format!("producer {} is not an account", p.producer_name))?;
    }
    ctx.check_scope(EOSIO, true)?;
    let key = RowKey { code: EOSIO, scope: EOSIO, table: T_SCHEDULE, id: 0 };
    let version = ctx
        .row(&key)
        .map(|b| {
            codec::decode::<ProducerSchedule>(b, 1 << 20)
                .expect("schedule rows are written by this module")
                .version
        })
        .unwrap_or(0);
    let s = ProducerSchedule { version: version + 1, producers: a.schedule };
    ctx.system_set(EOSIO, T_SCHEDULE, 0, Some(codec::encode(&s)))
}
