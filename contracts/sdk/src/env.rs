//! The raw host functions of module `env` (host API version 1, docs/CONTRACTS.md).
//!
//! Names are passed as `i64` (the bits of a `u64`), pointers and lengths as `i32` offsets
//! into linear memory. Prefer the safe wrappers at the crate root; these are the exact
//! imports a contract module declares.

#[link(wasm_import_module = "env")]
extern "C" {
    /// Length of the current action's data.
    pub fn action_data_size() -> i32;
    /// Copies `min(len, size)` bytes of the action data to `ptr`; returns the number copied.
    pub fn read_action_data(ptr: *mut u8, len: i32) -> i32;
    /// Fails unless `account` (any permission) authorized the current action.
    pub fn require_auth(account: i64);
    /// Fails unless `account@permission` authorized the current action.
    pub fn require_auth2(account: i64, permission: i64);
    /// 1 if `account` authorized the current action, else 0.
    pub fn has_auth(account: i64) -> i32;
    /// Delivers the current action to `account` too, after the current handler.
    pub fn require_recipient(account: i64);
    /// 1 if the account exists, else 0.
    pub fn is_account(account: i64) -> i32;
    /// Reads row `(code, scope, table, id)`: -1 if absent, else the value's size, copying
    /// `min(len, size)` bytes to `ptr`.
    pub fn db_get(code: i64, scope: i64, table: i64, id: i64, ptr: *mut u8, len: i32) -> i32;
    /// Creates or replaces row `(receiver, scope, table, id)`.
    pub fn db_set(scope: i64, table: i64, id: i64, ptr: *const u8, len: i32);
    /// Removes row `(receiver, scope, table, id)`; 1 if it existed.
    pub fn db_remove(scope: i64, table: i64, id: i64) -> i32;
    /// The first id of `(code, scope, table)` at least `id` (unsigned): 1 and the id
    /// written as 8 little-endian bytes at `out_id`, or 0 if none.
    pub fn db_lowerbound(code: i64, scope: i64, table: i64, id: i64, out_id: *mut u8) -> i32;
    /// Queues an encoded `Action` to run after the current handler.
    pub fn send_inline(ptr: *const u8, len: i32);
    /// Schedules an encoded `DeferredRequest` at least `delay_sec` seconds later.
    pub fn send_deferred(sender_id: i64, delay_sec: i32, ptr: *const u8, len: i32);
    /// Cancels this contract's pending deferred request `sender_id`.
    pub fn cancel_deferred(sender_id: i64);
    /// The block's timestamp, milliseconds since 1970-01-01 UTC.
    pub fn current_time() -> i64;
    /// The block's number.
    pub fn current_block() -> i64;
    /// Writes the SHA-256 of `len` bytes at `ptr` as 32 bytes at `out`.
    pub fn sha256(ptr: *const u8, len: i32, out: *mut u8);
    /// Fails the transaction with the UTF-8 message if `test` is 0.
    pub fn eosio_assert(test: i32, msg: *const u8, msg_len: i32);
    /// Appends UTF-8 text to the action's console output.
    pub fn print(ptr: *const u8, len: i32);
}
