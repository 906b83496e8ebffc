//! eosio.token for dawn (docs/CONTRACTS.md, "The token contract").
//!
//! Tables of the contract account:
//!
//! | table | scope | id | row |
//! | --- | --- | --- | --- |
//! | `stat` | symbol code as a name (`symbol >> 8`) | symbol code | [`CurrencyStats`] |
//! | `accounts` | the holder | symbol code | [`Account`] |
//!
//! A transfer touches only the scopes of `from` and `to`: it checks the symbol and
//! precision against `from`'s balance row instead of reading `stat`.

#![no_std]

use dawn_sdk::{
    check, dispatch, is_account, record, require_auth, require_recipient, Asset, Name, Symbol, Table,
};

const STAT: Name = Name::new("stat");
const ACCOUNTS: Name = Name::new("accounts");
const MAX_MEMO: usize = 256;

record! {
    /// A row of `stat`: one token's supply, maximum supply and issuer.
    pub struct CurrencyStats {
        /// Tokens issued and not retired.
        pub supply: Asset,
        /// The most that may be issued.
        pub max_supply: Asset,
        /// The only account that may issue and retire.
        pub issuer: Name,
    }
}

record! {
    /// A row of `accounts`: one holder's balance of one token.
    pub struct Account {
        /// The balance.
        pub balance: Asset,
    }
}

record! {
    /// Arguments of `create`.
    pub struct Create {
        /// The account allowed to issue the token.
        pub issuer: Name,
        /// The maximum supply, which also fixes the symbol and precision.
        pub maximum_supply: Asset,
    }
}

record! {
    /// Arguments of `issue`.
    pub struct Issue<'a> {
        /// Receiver of the new tokens: must be the issuer.
        pub to: Name,
        /// The amount.
        pub quantity: Asset,
        /// A note, at most 256 bytes.
        pub memo: &'a str,
    }
}

record! {
    /// Arguments of `retire`.
    pub struct Retire<'a> {
        /// The amount taken out of the issuer's balance and the supply.
        pub quantity: Asset,
        /// A note, at most 256 bytes.
        pub memo: &'a str,
    }
}

record! {
    /// Arguments of `transfer`.
    pub struct Transfer<'a> {
        /// The payer.
        pub from: Name,
        /// The payee.
        pub to: Name,
        /// The amount.
        pub quantity: Asset,
        /// A note, at most 256 bytes.
        pub memo: &'a str,
    }
}

record! {
    /// Arguments of `open`.
    pub struct Open {
        /// The account that gets a zero balance row.
        pub owner: Name,
        /// The token, with its precision.
        pub symbol: Symbol,
        /// The account authorizing (and, in EOS.IO, paying for) the row.
        pub ram_payer: Name,
    }
}

record! {
    /// Arguments of `close`.
    pub struct Close {
        /// The holder whose zero balance row is removed.
        pub owner: Name,
        /// The token.
        pub symbol: Symbol,
    }
}

/// Entry point: runs the contract's own actions; notifications of other contracts'
/// actions (`code != receiver`) are ignored.
#[no_mangle]
pub extern "C" fn apply(receiver: u64, code: u64, action: u64) {
    if code != receiver {
        return;
    }
    let this = Name(receiver);
    dispatch!(action, {
        "create" => |d: Create| create(this, d),
        "issue" => |d: Issue| issue(this, d),
        "retire" => |d: Retire| retire(this, d),
        "transfer" => |d: Transfer| transfer(this, d),
        "open" => |d: Open| open(this, d),
        "close" => |d: Close| close(this, d),
    });
}

fn stats(this: Name, sym: Symbol) -> Table<CurrencyStats> {
    Table::new(this, Name(sym.code()), STAT)
}

fn accounts(this: Name, owner: Name) -> Table<Account> {
    Table::new(this, owner, ACCOUNTS)
}

fn create(this: Name, d: Create) {
    require_auth(this);
    let sym = d.maximum_supply.symbol;
    check(sym.is_valid(), "invalid symbol name");
    check(d.maximum_supply.is_valid(), "invalid supply");
    check(d.maximum_supply.amount > 0, "max-supply must be positive");
    let table = stats(this, sym);
    check(!table.contains(sym.code()), "token with symbol already exists");
    let row = CurrencyStats { supply: Asset::new(0, sym), max_supply: d.maximum_supply, issuer: d.issuer };
    table.set(sym.code(), &row);
}

fn issue(this: Name, d: Issue) {
    let sym = d.quantity.symbol;
    check(sym.is_valid(), "invalid symbol name");
    check(d.memo.len() <= MAX_MEMO, "memo has more than 256 bytes");
    let table = stats(this, sym);
    let mut st = table.get_or_fail(sym.code(), "token with symbol does not exist, create token before issue");
    check(d.to == st.issuer, "tokens can only be issued to issuer account");
    require_auth(st.issuer);
    check(d.quantity.is_valid(), "invalid quantity");
    check(d.quantity.amount > 0, "must issue positive quantity");
    check(d.quantity.symbol == st.supply.symbol, "symbol precision mismatch");
    check(d.quantity.amount <= st.max_supply.amount - st.supply.amount, "quantity exceeds available supply");
    st.supply += d.quantity;
    table.set(sym.code(), &st);
    add_balance(this, st.issuer, d.quantity);
}

fn retire(this: Name, d: Retire) {
    let sym = d.quantity.symbol;
    check(sym.is_valid(), "invalid symbol name");
    check(d.memo.len() <= MAX_MEMO, "memo has more than 256 bytes");
    let table = stats(this, sym);
    let mut st = table.get_or_fail(sym.code(), "token with symbol does not exist, create token before issue");
    require_auth(st.issuer);
    check(d.quantity.is_valid(), "invalid quantity");
    check(d.quantity.amount > 0, "must retire positive quantity");
    check(d.quantity.symbol == st.supply.symbol, "symbol precision mismatch");
    st.supply -= d.quantity;
    table.set(sym.code(), &st);
    sub_balance(this, st.issuer, d.quantity);
}

fn transfer(this: Name, d: Transfer) {
    check(d.from != d.to, "cannot transfer to self");
    require_auth(d.from);
    check(is_account(d.to), "to account does not exist");
    require_recipient(d.from);
    require_recipient(d.to);
    check(d.quantity.is_valid(), "invalid quantity");
    check(d.quantity.amount > 0, "must transfer positive quantity");
    // In place of eosio.token's `stat` lookup: the symbol and precision must match the
    // payer's balance row, so a transfer reads no scope but `from` and `to`.
    let from = accounts(this, d.from);
    let mut balance = from.get_or_fail(d.quantity.symbol.code(), "no balance object found");
    check(d.quantity.symbol == balance.balance.symbol, "symbol precision mismatch");
    check(d.memo.len() <= MAX_MEMO, "memo has more than 256 bytes");
    check(balance.balance.amount >= d.quantity.amount, "overdrawn balance");
    balance.balance -= d.quantity;
    from.set(d.quantity.symbol.code(), &balance);
    add_balance(this, d.to, d.quantity);
}

fn open(this: Name, d: Open) {
    require_auth(d.ram_payer);
    check(is_account(d.owner), "owner account does not exist");
    let st = stats(this, d.symbol).get_or_fail(d.symbol.code(), "symbol does not exist");
    check(st.supply.symbol == d.symbol, "symbol precision mismatch");
    let table = accounts(this, d.owner);
    if !table.contains(d.symbol.code()) {
        table.set(d.symbol.code(), &Account { balance: Asset::new(0, d.symbol) });
    }
}

fn close(this: Name, d: Close) {
    require_auth(d.owner);
    let table = accounts(this, d.owner);
    let row = table.get_or_fail(
        d.symbol.code(),
        "Balance row already deleted or never existed. Action won't have any effect.",
    );
    check(row.balance.amount == 0, "Cannot close because the balance is not zero.");
    table.remove(d.symbol.code());
}

/// Subtracts `value` from `owner`'s balance row, which must exist and cover it.
fn sub_balance(this: Name, owner: Name, value: Asset) {
    let table = accounts(this, owner);
    let mut row = table.get_or_fail(value.symbol.code(), "no balance object found");
    check(row.balance.amount >= value.amount, "overdrawn balance");
    row.balance -= value;
    table.set(value.symbol.code(), &row);
}

/// Adds `value` to `owner`'s balance row, creating it if needed.
fn add_balance(this: Name, owner: Name, value: Asset) {
    let table = accounts(this, owner);
    let row = match table.get(value.symbol.code()) {
        Some(mut row) => {
            row.balance += value;
            row
        }
        None => Account { balance: value },
    };
    table.set(value.symbol.code(), &row);
}
