//! One transaction's execution context: its overlay over the state, its declared scopes,
//! its fuel, and the queue of deliveries (the receiver, notified accounts, inline actions)
//! in EOS.IO's order. Native contracts and the WASM host functions both act only through
//! the methods here, so the two runtimes share one set of rules and one cost table.
//!
//! # Invariants
//! - Every row read checks the scope is declared read or write, every write that it is
//!   declared write ([`TxCtx::check_scope`]); in recording mode (scope inference) the
//!   scope is recorded instead.
//! - Nothing reaches the store before the whole transaction succeeded: writes stay in the
//!   [`Overlay`], deferred requests in `deferred_ops`.

use std::collections::BTreeSet;

use bytes::Bytes;

use crate::chain::{codec, Action, BlockNum, Name, PermissionLevel, TimePoint};

use super::error::ActionError;
use super::results::TraceLog;
use super::store::{Overlay, RowKey, Store};
use super::system_rows::{account_key, DeferredRequest, EOSIO, EOSIO_CODE};
use super::Contracts;

/// Fuel units per microsecond of billed CPU.
pub const FUEL_PER_US: u64 = 100;
/// Fuel charged for each action delivery (setting up the handler).
pub const FUEL_PER_DELIVERY: u64 = 1_000;
/// Deepest level of inline actions (the top-level action is level 0).
pub const INLINE_DEPTH_MAX: u8 = 4;
/// Largest row value.
pub const ROW_BYTES_MAX: usize = 64 << 10;
/// Most console output kept per action.
pub const CONSOLE_BYTES_MAX: usize = 4 << 10;
/// Most bytes of action traces (encoded actions and console output) one transaction may
/// leave in its result.
pub const TRACE_BYTES_MAX: usize = 256 << 10;
/// Most deliveries (receivers, notifications, inline actions) in one transaction.
pub const DELIVERIES_MAX: usize = 1_024;

/// What a transaction scheduled or cancelled, applied in block order when it commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeferredOp {
    /// `send_deferred`.
    Send {
        /// The sending contract.
        sender: Name,
        /// Its id for the request.
        sender_id: u64,
        /// Delay in seconds.
        delay_sec: u32,
        /// The request.
        request: DeferredRequest,
    },
    /// `cancel_deferred`.
    Cancel {
        /// The sending contract.
        sender: Name,
        /// Its id for the request.
        sender_id: u64,
    },
}

/// How scopes are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeMode {
    /// Enforce the declaration.
    Enforce,
    /// Allow everything and record what was read and written (scope inference).
    Record {
        /// Scopes read (and not written).
        read: BTreeSet<Name>,
        /// Scopes written.
        write: BTreeSet<Name>,
    },
}

/// The facts of the block being executed.
#[derive(Debug, Clone, Copy)]
pub struct BlockFacts {
    /// Its number.
    pub num: BlockNum,
    /// Its timestamp.
    pub time: TimePoint,
}

/// The delivery being handled now.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Whose handler runs.
    pub receiver: Name,
    /// The action (handed from each delivery of it to the next: its receiver's, then each
    /// notified account's).
    pub action: Action,
    /// Inline depth (0: an action of the transaction itself).
    pub depth: u8,
    /// Accounts to notify after this handler (`require_recipient`); a few live inline.
    pub notify: smallvec::SmallVec<[Name; 4]>,
    /// Inline actions it sent.
    pub inlines: Vec<Action>,
    /// Its console output.
    pub console: String,
}

/// One transaction's context.
pub struct TxCtx<'a> {
    /// The state as of this transaction's start (its wave's).
    pub base: &'a Store,
    /// The contracts in force for this block.
    pub contracts: &'a Contracts,
    /// The block.
    pub block: BlockFacts,
    /// Pending writes.
    pub overlay: Overlay,
    read_scopes: &'a [Name],
    write_scopes: &'a [Name],
    /// How scopes are checked.
    pub mode: ScopeMode,
    /// Fuel left.
    pub fuel_left: u64,
    fuel_limit: u64,
    /// Deferred requests sent or cancelled.
    pub deferred_ops: Vec<DeferredOp>,
    /// Traces of finished deliveries, in execution order.
    pub traces: TraceLog,
    /// The current delivery.
    pub current: Option<Delivery>,
    deliveries: usize,
}

impl<'a> TxCtx<'a> {
    /// A context over `base` with the declared scopes and a fuel budget.
    pub fn new(
        base: &'a Store,
        contracts: &'a Contracts,
        block: BlockFacts,
        read_scopes: &'a [Name],
        write_scopes: &'a [Name],
        mode: ScopeMode,
        fuel_limit: u64,
    ) -> Self {
        Self {
            base,
            contracts,
            block,
            overlay: Overlay::default(),
            read_scopes,
            write_scopes,
            mode,
            fuel_left: fuel_limit,
            fuel_limit,
            deferred_ops: Vec::new(),
            traces: TraceLog::default(),
            current: None,
            deliveries: 0,
        }
    }

    /// Fuel used so far.
    pub fn fuel_used(&self) -> u64 {
        self.fuel_limit - self.fuel_left
    }

    /// The CPU limit in microseconds.
    pub fn fuel_limit_us(&self) -> u64 {
        self.fuel_limit / FUEL_PER_US
    }

    /// Charges `cost` fuel, failing when the budget is spent.
    pub fn charge(&mut self, cost: u64) -> Result<(), ActionError> {
        if self.fuel_left < cost {
            self.fuel_left = 0;
            return Err(ActionError::CpuExceeded { limit_us: self.fuel_limit / FUEL_PER_US });
        }
        self.fuel_left -= cost;
        Ok(())
    }

    fn delivery(&self) -> &Delivery {
        self.current.as_ref().expect("host calls happen inside a delivery")
    }

    fn delivery_mut(&mut self) -> &mut Delivery {
        self.current.as_mut().expect("host calls happen inside a delivery")
    }

    /// The account whose handler runs now.
    pub fn receiver(&self) -> Name {
        self.delivery().receiver
    }

    /// The current action.
    pub fn action(&self) -> &Action {
        &self.delivery().action
    }

    fn label(&self) -> String {
        self.current.as_ref().map_or_else(String::new, |d| format!("{}::{}", d.receiver, d.action.name))
    }

    /// Checks (or records) an access to `scope`.
    pub fn check_scope(&mut self, scope: Name, write: bool) -> Result<(), ActionError> {
        if let ScopeMode::Record { read, write: written } = &mut self.mode {
            if write {
                read.remove(&scope);
                written.insert(scope);
            } else if !written.contains(&scope) {
                read.insert(scope);
            }
            return Ok(());
        }
        let in_write = self.write_scopes.binary_search(&scope).is_ok();
        if write && !in_write {
            return Err(ActionError::UndeclaredScope {
                scope,
                need: "write",
                access: "writes",
                action: self.label(),
                list: "write_scopes",
            });
        }
        if !write && !in_write && self.read_scopes.binary_search(&scope).is_err() {
            return Err(ActionError::UndeclaredScope {
                scope,
                need: "read or write",
                access: "reads",
                action: self.label(),
                list: "read_scopes (or write_scopes)",
            });
        }
        Ok(())
    }

    /// Reads a row without charging or checking the scope (system lookups whose scope the
    /// caller has checked).
    pub fn row(&self, key: &RowKey) -> Option<&Bytes> {
        self.overlay.get(self.base, key)
    }

    /// `db_get`: reads a row of any contract in a declared scope through `read`, which
    /// sees the value where it lies (no copy, no reference count touched).
    pub fn db_get<R>(
        &mut self,
        code: Name,
        scope: Name,
        table: Name,
        id: u64,
        read: impl FnOnce(&[u8]) -> R,
    ) -> Result<Option<R>, ActionError> {
        self.charge(100)?;
        self.check_scope(scope, false)?;
        Ok(self.row(&RowKey { code, scope, table, id }).map(|v| read(v)))
    }

    /// `db_set`: creates or replaces a row of the receiver in a write scope.
    pub fn db_set(&mut self, scope: Name, table: Name, id: u64, value: &[u8]) -> Result<(), ActionError> {
        self.charge(200 + value.len() as u64 / 16)?;
        if value.len() > ROW_BYTES_MAX {
            return Err(ActionError::TooLarge { what: "a row value", len: value.len(), max: ROW_BYTES_MAX });
        }
        self.check_scope(scope, true)?;
        let code = self.receiver();
        self.overlay.put(RowKey { code, scope, table, id }, Some(Bytes::copy_from_slice(value)));
        Ok(())
    }

    /// `db_remove`: removes a row of the receiver in a write scope; true if it existed.
    pub fn db_remove(&mut self, scope: Name, table: Name, id: u64) -> Result<bool, ActionError> {
        self.charge(200)?;
        self.check_scope(scope, true)?;
        let key = RowKey { code: self.receiver(), scope, table, id };
        let existed = self.row(&key).is_some();
        if existed {
            self.overlay.put(key, None);
        }
        Ok(existed)
    }

    /// `db_lowerbound`: the first id at least `id` in a table of a declared scope.
    pub fn db_lowerbound(
        &mut self,
        code: Name,
        scope: Name,
        table: Name,
        id: u64,
    ) -> Result<Option<u64>, ActionError> {
        self.charge(150)?;
        self.check_scope(scope, false)?;
        Ok(self.overlay.lower_bound(self.base, code, scope, table, id))
    }

    /// Writes a system row (`eosio`'s tables) in a write scope.
    pub fn system_set(
        &mut self,
        scope: Name,
        table: Name,
        id: u64,
        value: Option<Vec<u8>>,
    ) -> Result<(), ActionError> {
        self.charge(200)?;
        self.check_scope(scope, true)?;
        self.overlay.put(RowKey { code: EOSIO, scope, table, id }, value.map(Bytes::from));
        Ok(())
    }

    /// Does `account` exist? Read live when its scope is declared (a conflict orders it
    /// against any transaction creating it); otherwise as of the block start, which no
    /// transaction of this block can change.
    pub fn is_account(&mut self, account: Name) -> Result<bool, ActionError> {
        self.charge(20)?;
        let key = account_key(account);
        Ok(if self.check_scope(account, false).is_ok() {
            self.row(&key).is_some()
        } else {
            match self.contracts.accounts_before.get(&key) {
                Some(before) => before.is_some(),
                None => self.base.get(&key).is_some(),
            }
        })
    }

    /// `require_auth`: fails unless `account` (with `permission`, if given) authorized the
    /// current action.
    pub fn require_auth(&mut self, account: Name, permission: Option<Name>) -> Result<(), ActionError> {
        self.charge(20)?;
        if self.has_auth_inner(account, permission) {
            Ok(())
        } else {
            Err(ActionError::MissingAuth(match permission {
                Some(p) => PermissionLevel { actor: account, permission: p }.to_string(),
                None => account.to_string(),
            }))
        }
    }

    fn has_auth_inner(&self, account: Name, permission: Option<Name>) -> bool {
        self.action()
            .authorization
            .iter()
            .any(|l| l.actor == account && permission.is_none_or(|p| p == l.permission))
    }

    /// `has_auth`.
    pub fn has_auth(&mut self, account: Name) -> Result<bool, ActionError> {
        self.charge(20)?;
        Ok(self.has_auth_inner(account, None))
    }

    /// `require_recipient`: notify `account` after the current handler.
    pub fn require_recipient(&mut self, account: Name) -> Result<(), ActionError> {
        self.charge(50)?;
        let d = self.delivery_mut();
        if account != d.receiver && !d.notify.contains(&account) {
            d.notify.push(account);
        }
        Ok(())
    }

    /// `send_inline`: queue an action, authorized only by the sending contract.
    pub fn send_inline(&mut self, action: Action) -> Result<(), ActionError> {
        self.charge(100 + codec::encoded_len(&action) as u64 / 16)?;
        let me = self.receiver();
        if let Some(bad) = action.authorization.iter().find(|l| l.actor != me) {
            return Err(ActionError::Inline(format!(
                "{me} sent {}::{} authorized by {bad}; a contract may authorize inline actions only as itself ({me}@active or {me}@{EOSIO_CODE})",
                action.account, action.name
            )));
        }
        if self.delivery().depth >= INLINE_DEPTH_MAX {
            return Err(ActionError::Inline(format!("inline actions nest at most {INLINE_DEPTH_MAX} deep")));
        }
        self.delivery_mut().inlines.push(action);
        Ok(())
    }

    /// `send_deferred`.
    pub fn send_deferred(
        &mut self,
        sender_id: u64,
        delay_sec: u32,
        request: DeferredRequest,
    ) -> Result<(), ActionError> {
        self.charge(300 + codec::encoded_len(&request) as u64 / 16)?;
        let me = self.receiver();
        super::deferred::check_request(me, &request)?;
        self.deferred_ops.push(DeferredOp::Send { sender: me, sender_id, delay_sec, request });
        Ok(())
    }

    /// `cancel_deferred`.
    pub fn cancel_deferred(&mut self, sender_id: u64) -> Result<(), ActionError> {
        self.charge(100)?;
        let me = self.receiver();
        self.deferred_ops.push(DeferredOp::Cancel { sender: me, sender_id });
        Ok(())
    }

    /// `print`.
    pub fn print(&mut self, text: &str) -> Result<(), ActionError> {
        self.charge(10 + text.len() as u64 / 16)?;
        let c = &mut self.delivery_mut().console;
        let room = CONSOLE_BYTES_MAX.saturating_sub(c.len());
        let mut cut = text.len().min(room);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        c.push_str(&text[..cut]);
        Ok(())
    }

    /// Keeps the trace of a finished delivery of `action`, within [`TRACE_BYTES_MAX`]
    /// (which counts the action once per delivery). With `same_run`, `action` is the one
    /// the previous delivery carried.
    pub fn push_trace(
        &mut self,
        receiver: Name,
        action: &Action,
        same_run: bool,
        depth: u8,
        console: String,
    ) -> Result<(), ActionError> {
        self.traces.push(receiver, action, same_run, depth, console);
        if self.traces.budget_bytes() > TRACE_BYTES_MAX {
            return Err(ActionError::TooLarge {
                what: "the transaction's action traces",
                len: self.traces.budget_bytes(),
                max: TRACE_BYTES_MAX,
            });
        }
        Ok(())
    }

    /// Counts a delivery against the per-transaction cap and charges its base cost.
    pub fn begin_delivery(&mut self, d: Delivery) -> Result<(), ActionError> {
        self.deliveries += 1;
        if self.deliveries > DELIVERIES_MAX {
            return Err(ActionError::Inline(format!(
                "more than {DELIVERIES_MAX} deliveries in one transaction"
            )));
        }
        self.charge(FUEL_PER_DELIVERY)?;
        self.current = Some(d);
        Ok(())
    }
}
