//! Running one transaction: authorization checks, then each action delivered in EOS.IO's
//! order (the receiver, each notified account in the order notified, then the inline
//! actions depth first), on native or WASM code.

use serde::de::DeserializeOwned;

use crate::chain::{codec, Action, Name, PermissionLevel};

use super::context::{Delivery, TxCtx};
use super::error::ActionError;
use super::system_rows::{account_key, permission_key};
use super::{native, ContractCode};

/// Runs `actions` in `ctx`. With `check_auth`, every authorization must name an existing
/// account and permission first.
pub fn run_actions(ctx: &mut TxCtx<'_>, actions: &[Action], check_auth: bool) -> Result<(), ActionError> {
    if check_auth {
        for a in actions {
            for level in &a.authorization {
                authorize(ctx, level)?;
            }
        }
    }
    for a in actions {
        run_action(ctx, a.clone(), 0)?;
    }
    Ok(())
}

/// Checks `level` names an existing account and permission. The actor is a declared write
/// scope (Dawn's rule, checked before), so this read is ordered against any change to it.
fn authorize(ctx: &mut TxCtx<'_>, level: &PermissionLevel) -> Result<(), ActionError> {
    ctx.check_scope(level.actor, false)?;
    ctx.charge(50)?;
    // Invariant: a permission row exists only for an existing account (they are created
    // with it or for it, and accounts are never removed), so a found permission answers
    // for the account too; the account is read only to name what is missing.
    if ctx.row(&permission_key(level.actor, level.permission)).is_some() {
        return Ok(());
    }
    if ctx.row(&account_key(level.actor)).is_none() {
        return Err(ActionError::UnknownAccount(level.actor));
    }
    Err(ActionError::UnknownPermission(level.to_string()))
}

fn run_action(ctx: &mut TxCtx<'_>, action: Action, depth: u8) -> Result<(), ActionError> {
    // The action passes from each delivery to the next: its receiver's, then each notified
    // account's, with no copy.
    let mut action = action;
    let mut recipients: smallvec::SmallVec<[Name; 4]> = smallvec::smallvec![action.account];
    let mut inlines = Vec::new();
    let mut i = 0;
    while i < recipients.len() {
        let receiver = recipients[i];
        ctx.begin_delivery(Delivery {
            receiver,
            action,
            depth,
            notify: Default::default(),
            inlines: Vec::new(),
            console: String::new(),
        })?;
        let r = dispatch(ctx, receiver, i == 0);
        let d = ctx.current.take().expect("set by begin_delivery");
        // The deliveries of one action follow one another (inline actions run after).
        let kept = ctx.push_trace(receiver, &d.action, i > 0, depth, d.console);
        action = d.action;
        r?;
        kept?;
        for x in d.notify {
            if !recipients.contains(&x) {
                recipients.push(x);
            }
        }
        inlines.extend(d.inlines);
        i += 1;
    }
    for a in inlines {
        run_action(ctx, a, depth + 1)?;
    }
    Ok(())
}

fn dispatch(ctx: &mut TxCtx<'_>, receiver: Name, direct: bool) -> Result<(), ActionError> {
    match ctx.contracts.code.get(&receiver) {
        Some(ContractCode::System) => native::system::apply(ctx),
        Some(ContractCode::Token) => native::token::apply(ctx),
        Some(ContractCode::Wasm(hash)) => {
            let hash = *hash;
            let runtime = ctx.contracts.wasm.clone();
            runtime.call(ctx, &hash)
        }
        None if direct => Err(ActionError::NoContract(receiver, ctx.action().name)),
        None => Ok(()),
    }
}

/// Decodes the current action's data as `T`.
pub fn action_data<T: DeserializeOwned>(ctx: &TxCtx<'_>) -> Result<T, ActionError> {
    let a = ctx.action();
    codec::decode(&a.data.0, 1 << 20).map_err(|e| ActionError::Malformed {
        action: format!("{}::{}", a.account, a.name),
        detail: e.to_string(),
    })
}

/// Fails with `msg` unless `cond` (the native side of `eosio_assert`).
pub fn check(cond: bool, msg: &str) -> Result<(), ActionError> {
    if cond {
        Ok(())
    } else {
        Err(ActionError::Assert(msg.to_string()))
    }
}
