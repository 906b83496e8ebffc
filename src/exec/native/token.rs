//! The core token, native: eosio.token's actions, tables and messages, byte for byte the
//! same rows as the WASM token in contracts/token (docs/CONTRACTS.md, "The token
//! contract"), so the benchmark compares only the runtimes.

use serde::{Deserialize, Serialize};

use crate::chain::{codec, Asset, Name, Symbol, ASSET_AMOUNT_MAX};

use super::super::apply::{action_data, check};
use super::super::context::TxCtx;
use super::super::error::ActionError;
use super::super::store::RowKey;
use super::super::system_rows::account_key;

pub use crate::chain::token::{code_of, Balance, CurrencyStats, T_ACCOUNTS, T_STAT};

/// Longest memo, in bytes.
pub const MEMO_BYTES_MAX: usize = 256;

/// `create` data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Create {
    /// The issuer.
    pub issuer: Name,
    /// The maximum supply (its symbol is the token's).
    pub maximum_supply: Asset,
}

/// `issue` data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Issue {
    /// Receiver: must be the issuer.
    pub to: Name,
    /// Amount.
    pub quantity: Asset,
    /// Memo.
    pub memo: String,
}

/// `retire` data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Retire {
    /// Amount.
    pub quantity: Asset,
    /// Memo.
    pub memo: String,
}

/// `transfer` data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    /// Sender.
    pub from: Name,
    /// Receiver.
    pub to: Name,
    /// Amount.
    pub quantity: Asset,
    /// Memo.
    pub memo: String,
}

/// `open` data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Open {
    /// Holder.
    pub owner: Name,
    /// Symbol.
    pub symbol: Symbol,
    /// Who authorizes.
    pub ram_payer: Name,
}

/// `close` data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Close {
    /// Holder.
    pub owner: Name,
    /// Symbol.
    pub symbol: Symbol,
}

fn valid(a: &Asset) -> bool {
    a.amount.unsigned_abs() <= ASSET_AMOUNT_MAX as u64 && a.symbol.is_valid()
}

/// Handles an action delivered to the token contract.
pub fn apply(ctx: &mut TxCtx<'_>) -> Result<(), ActionError> {
    let me = ctx.receiver();
    if ctx.action().account != me {
        return Ok(()); // a notification of another contract's action
    }
    let name = ctx.action().name;
    match name {
        n if n == Name::constant("transfer") => transfer(ctx, action_data(ctx)?),
        n if n == Name::constant("create") => create(ctx, action_data(ctx)?),
        n if n == Name::constant("issue") => issue(ctx, action_data(ctx)?),
        n if n == Name::constant("retire") => retire(ctx, action_data(ctx)?),
        n if n == Name::constant("open") => open(ctx, action_data(ctx)?),
        n if n == Name::constant("close") => close(ctx, action_data(ctx)?),
        _ => Err(ActionError::UnknownAction(me, name)),
    }
}

fn stats(ctx: &mut TxCtx<'_>, sym: Symbol) -> Result<Option<CurrencyStats>, ActionError> {
    let code = code_of(sym);
    let me = ctx.receiver();
    ctx.db_get(me, Name(code), T_STAT, code, decode_row)?.transpose()
}

fn decode_row<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T, ActionError> {
    codec::decode(b, crate::chain::token::ROW_BYTES_MAX)
        .map_err(|e| ActionError::Assert(format!("corrupt token row: {e}")))
}

fn balance(ctx: &mut TxCtx<'_>, owner: Name, sym: Symbol) -> Result<Option<Balance>, ActionError> {
    let me = ctx.receiver();
    ctx.db_get(me, owner, T_ACCOUNTS, code_of(sym), decode_row)?.transpose()
}

fn set_balance(ctx: &mut TxCtx<'_>, owner: Name, b: &Balance) -> Result<(), ActionError> {
    ctx.db_set(owner, T_ACCOUNTS, code_of(b.balance.symbol), &codec::encode(b))
}

/// The rows `action` (of this token on `contract`) will read, for warming caches ahead of
/// it: a transfer's two balances and its receiver's account row. A hint only: data that
/// does not decode gives none, and the action itself checks everything.
pub fn rows_read(contract: Name, action: &crate::chain::Action, mut row: impl FnMut(RowKey)) {
    if action.name != Name::constant("transfer") {
        return;
    }
    // The fixed-size head of `Transfer` (from, to, quantity): no memo decoded.
    let Ok((from, to, quantity)) = codec::decode_front::<(Name, Name, Asset)>(&mut &action.data[..], 32)
    else {
        return;
    };
    let code = code_of(quantity.symbol);
    row(RowKey { code: contract, scope: from, table: T_ACCOUNTS, id: code });
    row(RowKey { code: contract, scope: to, table: T_ACCOUNTS, id: code });
    row(account_key(to));
}

fn sub_balance(ctx: &mut TxCtx<'_>, owner: Name, value: Asset) -> Result<(), ActionError> {
    let from = balance(ctx, owner, value.symbol)?;
    let mut from = from.ok_or_else(|| ActionError::Assert("no balance object found".into()))?;
    check(from.balance.symbol == value.symbol, "symbol precision mismatch")?;
    check(from.balance.amount >= value.amount, "overdrawn balance")?;
    from.balance.amount -= value.amount;
    set_balance(ctx, owner, &from)
}

fn add_balance(ctx: &mut TxCtx<'_>, owner: Name, value: Asset) -> Result<(), ActionError> {
    let row = match balance(ctx, owner, value.symbol)? {
        None => Balance { balance: value },
        Some(mut to) => {
            check(to.balance.symbol == value.symbol, "symbol precision mismatch")?;
            to.balance.amount += value.amount;
            check(to.balance.amount <= ASSET_AMOUNT_MAX, "balance overflow")?;
            to
        }
    };
    set_balance(ctx, owner, &row)
}

fn memo_ok(memo: &str) -> Result<(), ActionError> {
    check(memo.len() <= MEMO_BYTES_MAX, "memo has more than 256 bytes")
}

fn transfer(ctx: &mut TxCtx<'_>, t: Transfer) -> Result<(), ActionError> {
    check(t.from != t.to, "cannot transfer to self")?;
    ctx.require_auth(t.from, None)?;
    check(ctx.is_account(t.to)?, "to account does not exist")?;
    ctx.require_recipient(t.from)?;
    ctx.require_recipient(t.to)?;
    check(valid(&t.quantity), "invalid quantity")?;
    check(t.quantity.amount > 0, "must transfer positive quantity")?;
    memo_ok(&t.memo)?;
    sub_balance(ctx, t.from, t.quantity)?;
    add_balance(ctx, t.to, t.quantity)
}

fn create(ctx: &mut TxCtx<'_>, c: Create) -> Result<(), ActionError> {
    let me = ctx.receiver();
    ctx.require_auth(me, None)?;
    let sym = c.maximum_supply.symbol;
    check(sym.is_valid(), "invalid symbol name")?;
    check(valid(&c.maximum_supply), "invalid supply")?;
    check(c.maximum_supply.amount > 0, "max-supply must be positive")?;
    check(stats(ctx, sym)?.is_none(), "token with symbol already exists")?;
    let s = CurrencyStats {
        supply: Asset { amount: 0, symbol: sym },
        max_supply: c.maximum_supply,
        issuer: c.issuer,
    };
    ctx.db_set(Name(code_of(sym)), T_STAT, code_of(sym), &codec::encode(&s))
}

fn issue(ctx: &mut TxCtx<'_>, i: Issue) -> Result<(), ActionError> {
    let sym = i.quantity.symbol;
    check(sym.is_valid(), "invalid symbol name")?;
    memo_ok(&i.memo)?;
    let mut st = stats(ctx, sym)?.ok_or_else(|| {
        ActionError::Assert("token with symbol does not exist, create token before issue".into())
    })?;
    check(i.to == st.issuer, "tokens can only be issued to issuer account")?;
    ctx.require_auth(st.issuer, None)?;
    check(valid(&i.quantity), "invalid quantity")?;
    check(i.quantity.amount > 0, "must issue positive quantity")?;
    check(i.quantity.symbol == st.supply.symbol, "symbol precision mismatch")?;
    check(i.quantity.amount <= st.max_supply.amount - st.supply.amount, "quantity exceeds available supply")?;
    st.supply.amount += i.quantity.amount;
    ctx.db_set(Name(code_of(sym)), T_STAT, code_of(sym), &codec::encode(&st))?;
    add_balance(ctx, st.issuer, i.quantity)
}

fn retire(ctx: &mut TxCtx<'_>, r: Retire) -> Result<(), ActionError> {
    let sym = r.quantity.symbol;
    check(sym.is_valid(), "invalid symbol name")?;
    memo_ok(&r.memo)?;
    let mut st =
        stats(ctx, sym)?.ok_or_else(|| ActionError::Assert("token with symbol does not exist".into()))?;
    ctx.require_auth(st.issuer, None)?;
    check(valid(&r.quantity), "invalid quantity")?;
    check(r.quantity.amount > 0, "must retire positive quantity")?;
    check(r.quantity.symbol == st.supply.symbol, "symbol precision mismatch")?;
    st.supply.amount -= r.quantity.amount;
    ctx.db_set(Name(code_of(sym)), T_STAT, code_of(sym), &codec::encode(&st))?;
    sub_balance(ctx, st.issuer, r.quantity)
}

fn open(ctx: &mut TxCtx<'_>, o: Open) -> Result<(), ActionError> {
    ctx.require_auth(o.ram_payer, None)?;
    check(ctx.is_account(o.owner)?, "owner account does not exist")?;
    let st = stats(ctx, o.symbol)?.ok_or_else(|| ActionError::Assert("symbol does not exist".into()))?;
    check(st.supply.symbol == o.symbol, "symbol precision mismatch")?;
    if balance(ctx, o.owner, o.symbol)?.is_none() {
        set_balance(ctx, o.owner, &Balance { balance: Asset { amount: 0, symbol: o.symbol } })?;
    }
    Ok(())
}

fn close(ctx: &mut TxCtx<'_>, c: Close) -> Result<(), ActionError> {
    ctx.require_auth(c.owner, None)?;
    let b = balance(ctx, c.owner, c.symbol)?.ok_or_else(|| {
        ActionError::Assert(
            "Balance row already deleted or never existed. Action won't have any effect.".into(),
        )
    })?;
    check(b.balance.amount == 0, "Cannot close because the balance is not zero.")?;
    ctx.db_remove(c.owner, T_ACCOUNTS, code_of(c.symbol))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{n, Action, Bytes};
    use crate::exec::workload;

    /// The hint names a transfer's two balances and its receiver's account, and nothing for
    /// other actions or data that does not decode.
    #[test]
    fn rows_read_names_a_transfers_rows() {
        let (token, alice, bob) = (n("eosio.token"), n("alice"), n("bob"));
        let sys = workload::sys();
        let t =
            Transfer { from: alice, to: bob, quantity: Asset { amount: 1, symbol: sys }, memo: "m".into() };
        let transfer = workload::action(token, "transfer", alice, &t);
        let mut keys = Vec::new();
        rows_read(token, &transfer, |k| keys.push(k));
        let balance = |owner| RowKey { code: token, scope: owner, table: T_ACCOUNTS, id: code_of(sys) };
        assert_eq!(keys, [balance(alice), balance(bob), account_key(bob)]);
        let issue = Action { name: n("issue"), ..transfer.clone() };
        let short = Action { data: Bytes::from_slice(&transfer.data[..20]), ..transfer };
        for a in [issue, short] {
            let mut none = Vec::new();
            rows_read(token, &a, |k| none.push(k));
            assert!(none.is_empty(), "{}", a.name);
        }
    }
}
