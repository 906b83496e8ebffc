//! Library for writing dawn contracts: WebAssembly modules run by the node against host
//! API version 1 (docs/CONTRACTS.md).
//!
//! A contract is a `#![no_std]` `cdylib` crate that exports
//! `apply(receiver: u64, code: u64, action: u64)` and dispatches with [`dispatch!`]:
//!
//! ```ignore
//! #![no_std]
//! use dawn_sdk::{dispatch, record, require_auth, print, Name};
//!
//! record! {
//!     /// Arguments of `hi`.
//!     pub struct Hi<'a> { pub user: Name, pub greeting: &'a str }
//! }
//!
//! #[no_mangle]
//! pub extern "C" fn apply(receiver: u64, code: u64, action: u64) {
//!     if code != receiver {
//!         return; // a notification of another contract's action
//!     }
//!     dispatch!(action, {
//!         "hi" => |d: Hi| { require_auth(d.user); print(d.greeting); },
//!     });
//! }
//! ```
//!
//! Memory: there is no global allocator. Decoded strings and byte strings borrow from
//! the action data; [`arena`] hands out memory that lives until the action ends (each
//! action runs in a fresh instance). Failures (`check`, malformed data, a panic) fail the
//! transaction with a message.

#![no_std]

pub mod arena;
pub mod codec;
pub mod env;
mod name;
mod table;

pub use codec::{
    decode, encode, encode_into, encode_into_uninit, Pack, Reader, Seq, SeqIter, Unpack, Writer,
};
pub use name::{Asset, Name, Symbol, ASSET_AMOUNT_MAX};
pub use table::{Ids, Rows, Table};

/// Fails the transaction with `msg`.
#[cfg(target_arch = "wasm32")]
pub fn fail(msg: &str) -> ! {
    // SAFETY: `msg` is readable for its length.
    unsafe {
        env::eosio_assert(0, msg.as_ptr(), msg.len() as i32);
    }
    // The host never returns from a failed assertion.
    core::arch::wasm32::unreachable()
}

/// Panics with `msg` (builds for other targets, so the codec can be unit-tested natively).
#[cfg(not(target_arch = "wasm32"))]
pub fn fail(msg: &str) -> ! {
    panic!("{}", msg)
}

/// Fails the transaction with `msg` unless `cond` holds.
#[inline]
pub fn check(cond: bool, msg: &str) {
    if !cond {
        fail(msg);
    }
}

/// Fails the transaction with `prefix` followed by the text of `name`.
pub fn fail_with_name(prefix: &str, name: Name) -> ! {
    let mut text = [0u8; 13];
    let text = name.write_text(&mut text);
    let mut buf = [0u8; 128];
    let n = prefix.len().min(buf.len() - text.len());
    buf[..n].copy_from_slice(&prefix.as_bytes()[..n]);
    buf[n..n + text.len()].copy_from_slice(text.as_bytes());
    match core::str::from_utf8(&buf[..n + text.len()]) {
        Ok(msg) => fail(msg),
        // `prefix` was cut inside a multi-byte character.
        Err(e) => fail(core::str::from_utf8(&buf[..e.valid_up_to()]).unwrap_or("")),
    }
}

/// Fails unless `account` (with any permission) authorized the current action.
pub fn require_auth(account: Name) {
    // SAFETY: plain values only.
    unsafe { env::require_auth(account.0 as i64) }
}

/// Fails unless `account@permission` authorized the current action.
pub fn require_auth2(account: Name, permission: Name) {
    // SAFETY: plain values only.
    unsafe { env::require_auth2(account.0 as i64, permission.0 as i64) }
}

/// True if `account` authorized the current action.
pub fn has_auth(account: Name) -> bool {
    // SAFETY: plain values only.
    unsafe { env::has_auth(account.0 as i64) != 0 }
}

/// Delivers the current action to `account` too, after the current handler (once per
/// account; the receiver itself is ignored).
pub fn require_recipient(account: Name) {
    // SAFETY: plain values only.
    unsafe { env::require_recipient(account.0 as i64) }
}

/// True if the account exists.
pub fn is_account(account: Name) -> bool {
    // SAFETY: plain values only.
    unsafe { env::is_account(account.0 as i64) != 0 }
}

/// The block's timestamp in milliseconds since 1970-01-01 UTC.
pub fn current_time() -> u64 {
    // SAFETY: no arguments.
    unsafe { env::current_time() as u64 }
}

/// The block's number.
pub fn current_block() -> u64 {
    // SAFETY: no arguments.
    unsafe { env::current_block() as u64 }
}

/// The SHA-256 digest of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    // SAFETY: `data` is readable and `out` writable for their lengths.
    unsafe { env::sha256(data.as_ptr(), data.len() as i32, out.as_mut_ptr()) }
    out
}

/// Appends `text` to the action's console output.
pub fn print(text: &str) {
    // SAFETY: `text` is readable for its length.
    unsafe { env::print(text.as_ptr(), text.len() as i32) }
}

/// Appends the decimal digits of `v` to the console output.
pub fn print_u64(v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut v = v;
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    // SAFETY: `buf[i..]` is readable ASCII.
    unsafe { env::print(buf[i..].as_ptr(), (buf.len() - i) as i32) }
}

/// Appends the decimal digits of `v` (with a `-` if negative) to the console output.
pub fn print_i64(v: i64) {
    if v < 0 {
        print("-");
    }
    print_u64(v.unsigned_abs());
}

/// Appends the text of `name` to the console output.
pub fn print_name(name: Name) {
    let mut buf = [0u8; 13];
    print(name.write_text(&mut buf));
}

/// The current action's data, copied into memory that lives until the action ends.
pub fn action_bytes() -> &'static [u8] {
    // SAFETY: no arguments.
    let size = unsafe { env::action_data_size() };
    let buf = arena::alloc(size.max(0) as usize);
    // SAFETY: `buf` is writable for its length.
    unsafe { env::read_action_data(buf.as_mut_ptr(), buf.len() as i32) };
    buf
}

/// The current action's data decoded as `T`; fails unless it is exactly one `T`.
pub fn action_data<T: Unpack<'static>>() -> T {
    decode(action_bytes())
}

/// The permission `active`.
pub const ACTIVE: Name = Name::new("active");

/// A permission level `actor@permission`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PermissionLevel {
    /// The account.
    pub actor: Name,
    /// Its permission.
    pub permission: Name,
}

impl PermissionLevel {
    /// `actor@permission`.
    pub const fn new(actor: Name, permission: Name) -> PermissionLevel {
        PermissionLevel { actor, permission }
    }
}

impl Pack for PermissionLevel {
    fn packed_size(&self) -> usize {
        16
    }
    fn pack(&self, w: &mut Writer) {
        self.actor.pack(w);
        self.permission.pack(w);
    }
}

impl<'a> Unpack<'a> for PermissionLevel {
    const MIN_SIZE: usize = 16;
    const PLAIN: bool = true;
    fn unpack(r: &mut Reader<'a>) -> Self {
        PermissionLevel { actor: r.read(), permission: r.read() }
    }
}

/// An action to send: `{account, name, authorization, data}` with `data` already encoded.
#[derive(Debug, Clone, Copy)]
pub struct Action<'a> {
    /// The contract to run.
    pub account: Name,
    /// The action's name.
    pub name: Name,
    /// Its authorizations: only the sending contract (`receiver@active` or
    /// `receiver@eosio.code`).
    pub authorization: &'a [PermissionLevel],
    /// The encoded arguments.
    pub data: &'a [u8],
}

impl<'a> Action<'a> {
    /// An action whose data is the encoding of `args`.
    pub fn new<T: Pack + ?Sized>(
        account: Name,
        name: Name,
        authorization: &'a [PermissionLevel],
        args: &T,
    ) -> Action<'a> {
        Action { account, name, authorization, data: encode(args) }
    }
}

impl<'a> Pack for Action<'a> {
    fn packed_size(&self) -> usize {
        16 + self.authorization.packed_size() + self.data.packed_size()
    }
    fn pack(&self, w: &mut Writer) {
        self.account.pack(w);
        self.name.pack(w);
        self.authorization.pack(w);
        self.data.pack(w);
    }
}

/// A deferred transaction to schedule with [`send_deferred`].
#[derive(Debug, Clone, Copy)]
pub struct DeferredRequest<'a> {
    /// Scopes read, sorted and unique.
    pub read_scopes: &'a [Name],
    /// Scopes written, sorted and unique, disjoint from `read_scopes`.
    pub write_scopes: &'a [Name],
    /// The actions, authorized only by the sending contract.
    pub actions: &'a [Action<'a>],
}

impl<'a> Pack for DeferredRequest<'a> {
    fn packed_size(&self) -> usize {
        self.read_scopes.packed_size() + self.write_scopes.packed_size() + self.actions.packed_size()
    }
    fn pack(&self, w: &mut Writer) {
        self.read_scopes.pack(w);
        self.write_scopes.pack(w);
        self.actions.pack(w);
    }
}

record! {
    /// Data of the `onerror` action a contract receives when its deferred request fails
    /// or expires.
    #[derive(Debug, Clone, Copy)]
    pub struct OnError<'a> {
        /// The `sender_id` the request was sent with.
        pub sender_id: u64,
        /// Why it failed.
        pub error: &'a str,
    }
}

/// Queues `action` to run after the current handler, in this transaction.
pub fn send_inline(action: &Action) {
    let bytes = encode(action);
    // SAFETY: `bytes` is readable for its length.
    unsafe { env::send_inline(bytes.as_ptr(), bytes.len() as i32) }
}

/// Schedules `request` as its own transaction at least `delay_sec` seconds later,
/// replacing this contract's pending request with the same `sender_id`.
pub fn send_deferred(sender_id: u64, delay_sec: u32, request: &DeferredRequest) {
    check(delay_sec <= i32::MAX as u32, "delay_sec out of range");
    check(strictly_ascending(request.read_scopes), "deferred read_scopes must be sorted and unique");
    check(strictly_ascending(request.write_scopes), "deferred write_scopes must be sorted and unique");
    check(
        request.read_scopes.iter().all(|s| request.write_scopes.binary_search(s).is_err()),
        "deferred read_scopes and write_scopes must be disjoint",
    );
    let bytes = encode(request);
    // SAFETY: `bytes` is readable for its length.
    unsafe { env::send_deferred(sender_id as i64, delay_sec as i32, bytes.as_ptr(), bytes.len() as i32) }
}

/// Cancels this contract's pending deferred request `sender_id`, if any.
pub fn cancel_deferred(sender_id: u64) {
    // SAFETY: plain values only.
    unsafe { env::cancel_deferred(sender_id as i64) }
}

fn strictly_ascending(names: &[Name]) -> bool {
    names.windows(2).all(|w| w[0] < w[1])
}

/// Runs the handler registered for `action`, passing it the action data decoded as the
/// handler's argument type.
///
/// Each arm is `"name" => handler`, where `handler` is a function or closure taking one
/// argument that implements [`Unpack<'static>`](Unpack); the name is checked at compile
/// time. An action with no arm fails with `unknown action <name>`, unless a final
/// `; else => handler` gives a function or closure that takes the action's [`Name`].
///
/// ```ignore
/// dispatch!(action, {
///     "transfer" => transfer,
///     "open" => |d: Open| open(receiver, d),
/// });
/// dispatch!(action, { "ping" => ping; else => |_| {} }); // ignore other actions
/// ```
#[macro_export]
macro_rules! dispatch {
    ($action:expr, { $($name:literal => $handler:expr),+ ; else => $default:expr $(,)? }) => {{
        let action: u64 = $action;
        $(
            if action == ({ const N: $crate::Name = $crate::Name::new($name); N.0 }) {
                ($handler)($crate::action_data());
            } else
        )+
        {
            ($default)($crate::Name(action));
        }
    }};
    ($action:expr, { $($name:literal => $handler:expr),+ $(,)? }) => {
        $crate::dispatch!($action, { $($name => $handler),+ ; else => |unknown: $crate::Name| {
            $crate::fail_with_name("unknown action ", unknown)
        } })
    };
}

/// Fails the transaction on a panic. The message is fixed: formatting the panic's own
/// message would pull `core::fmt` into every module.
#[cfg(all(feature = "panic-handler", target_arch = "wasm32"))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    fail("contract panicked (an arithmetic overflow, out-of-range index or failed unwrap)")
}
