//! Typed tables: rows of one type under `(code, scope, table)`, keyed by a `u64` id.

use core::marker::PhantomData;
use core::mem::MaybeUninit;
use core::ops::{Bound, RangeBounds};

use crate::codec::{decode, encode_into, encode_into_uninit, Pack, Unpack};
use crate::name::Name;
use crate::{arena, env, fail};

/// Rows up to this size are read and written through a stack buffer; larger ones
/// through the arena.
const STACK_ROW: usize = 128;

/// The rows of table `table` in `scope` of contract `code`, each a `T`.
///
/// Reads work on any contract's tables; writes ([`set`](Table::set),
/// [`remove`](Table::remove)) always go to the running contract's own table (the host's
/// rule), so write through a table whose `code` is the receiver. Reading needs `scope`
/// declared (read or write) by the transaction; writing needs it declared write.
pub struct Table<T> {
    code: Name,
    scope: Name,
    table: Name,
    _row: PhantomData<fn() -> T>,
}

impl<T> Clone for Table<T> {
    fn clone(&self) -> Self {
        Table { code: self.code, scope: self.scope, table: self.table, _row: PhantomData }
    }
}

impl<T> Copy for Table<T> {}

impl<T> Table<T> {
    /// The table `table` in `scope` of contract `code`.
    pub const fn new(code: Name, scope: Name, table: Name) -> Table<T> {
        Table { code, scope, table, _row: PhantomData }
    }

    /// The contract owning the rows.
    pub const fn code(&self) -> Name {
        self.code
    }

    /// The scope.
    pub const fn scope(&self) -> Name {
        self.scope
    }

    /// The table name.
    pub const fn table(&self) -> Name {
        self.table
    }

    /// The encoded row `id`, copied into memory that lives until the action ends.
    pub fn get_raw(&self, id: u64) -> Option<&'static [u8]> {
        let size = self.db_get(id, core::ptr::null_mut(), 0);
        if size < 0 {
            return None;
        }
        let buf = arena::alloc(size as usize);
        self.db_get(id, buf.as_mut_ptr(), buf.len());
        Some(buf)
    }

    /// True if row `id` exists.
    pub fn contains(&self, id: u64) -> bool {
        self.db_get(id, core::ptr::null_mut(), 0) >= 0
    }

    /// Removes row `id`; true if it existed.
    pub fn remove(&self, id: u64) -> bool {
        // SAFETY: plain values only.
        unsafe { env::db_remove(self.scope.0 as i64, self.table.0 as i64, id as i64) == 1 }
    }

    /// The smallest id at least `id` (ids compare as unsigned), if any.
    pub fn lower_bound(&self, id: u64) -> Option<u64> {
        let mut out = [0u8; 8];
        // SAFETY: `out` is 8 writable bytes, as the host writes.
        let found = unsafe {
            env::db_lowerbound(
                self.code.0 as i64,
                self.scope.0 as i64,
                self.table.0 as i64,
                id as i64,
                out.as_mut_ptr(),
            )
        };
        if found == 1 {
            Some(u64::from_le_bytes(out))
        } else {
            None
        }
    }

    /// The ids in `range`, ascending.
    pub fn ids<R: RangeBounds<u64>>(&self, range: R) -> Ids<T> {
        let next = match range.start_bound() {
            Bound::Included(&s) => Some(s),
            Bound::Excluded(&s) => s.checked_add(1),
            Bound::Unbounded => Some(0),
        };
        let last = match range.end_bound() {
            Bound::Included(&e) => Some(e),
            Bound::Excluded(&e) => e.checked_sub(1),
            Bound::Unbounded => Some(u64::MAX),
        };
        let next = match (next, last) {
            (Some(n), Some(l)) if n <= l => Some(n),
            _ => None,
        };
        Ids { table: *self, next, last: last.unwrap_or(0) }
    }

    /// The rows in `range` with their ids, ascending.
    pub fn rows<R: RangeBounds<u64>>(&self, range: R) -> Rows<T>
    where
        T: for<'de> Unpack<'de>,
    {
        Rows { ids: self.ids(range) }
    }

    /// Row `id`, decoded.
    pub fn get(&self, id: u64) -> Option<T>
    where
        T: for<'de> Unpack<'de>,
    {
        let mut buf = [MaybeUninit::<u8>::uninit(); STACK_ROW];
        let size = self.db_get(id, buf.as_mut_ptr() as *mut u8, STACK_ROW);
        if size < 0 {
            None
        } else if size as usize <= STACK_ROW {
            // SAFETY: the host wrote the row's `size` bytes to the start of `buf`.
            let row = unsafe { core::slice::from_raw_parts(buf.as_ptr() as *const u8, size as usize) };
            Some(decode(row))
        } else {
            self.get_raw(id).map(decode)
        }
    }

    /// Row `id`, decoded; fails the transaction with `msg` if it does not exist.
    pub fn get_or_fail(&self, id: u64, msg: &str) -> T
    where
        T: for<'de> Unpack<'de>,
    {
        match self.get(id) {
            Some(row) => row,
            None => fail(msg),
        }
    }

    /// Creates or replaces row `id` of the running contract's table.
    pub fn set(&self, id: u64, row: &T)
    where
        T: Pack,
    {
        let size = row.packed_size();
        let mut stack = [MaybeUninit::<u8>::uninit(); STACK_ROW];
        let bytes = if size <= STACK_ROW {
            encode_into_uninit(row, &mut stack[..size])
        } else {
            encode_into(row, arena::alloc(size))
        };
        // SAFETY: `bytes` is readable for its length.
        unsafe {
            env::db_set(
                self.scope.0 as i64,
                self.table.0 as i64,
                id as i64,
                bytes.as_ptr(),
                bytes.len() as i32,
            )
        }
    }

    /// Calls `db_get`; the host writes at most `len` bytes at `ptr`, which must be
    /// writable for `len` bytes (or `len` 0).
    fn db_get(&self, id: u64, ptr: *mut u8, len: usize) -> i32 {
        // SAFETY: callers pass `len` writable bytes at `ptr`.
        unsafe {
            env::db_get(
                self.code.0 as i64,
                self.scope.0 as i64,
                self.table.0 as i64,
                id as i64,
                ptr,
                len as i32,
            )
        }
    }
}

/// Iterator over the ids of a [`Table`] in a range.
pub struct Ids<T> {
    table: Table<T>,
    next: Option<u64>,
    last: u64,
}

impl<T> Iterator for Ids<T> {
    type Item = u64;
    fn next(&mut self) -> Option<u64> {
        let from = self.next?;
        match self.table.lower_bound(from) {
            Some(id) if id <= self.last => {
                self.next = if id < self.last { Some(id + 1) } else { None };
                Some(id)
            }
            _ => {
                self.next = None;
                None
            }
        }
    }
}

/// Iterator over the `(id, row)` pairs of a [`Table`] in a range.
pub struct Rows<T> {
    ids: Ids<T>,
}

impl<T: for<'de> Unpack<'de>> Iterator for Rows<T> {
    type Item = (u64, T);
    fn next(&mut self) -> Option<(u64, T)> {
        let id = self.ids.next()?;
        match self.ids.table.get(id) {
            Some(row) => Some((id, row)),
            None => fail("table row vanished during iteration"),
        }
    }
}
