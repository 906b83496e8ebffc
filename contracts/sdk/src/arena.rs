//! A bump arena over linear memory above `__heap_base`.
//!
//! Every action runs in a fresh instance, so memory is never freed: each allocation is
//! new, zeroed memory that stays valid until the instance ends. The arena grows memory
//! with `memory.grow` and fails the transaction with `out of memory` when the module's
//! maximum (64 pages) is reached.

#[cfg(target_arch = "wasm32")]
use core::arch::wasm32;

use crate::fail;

#[cfg(target_arch = "wasm32")]
extern "C" {
    /// First byte after the stack and static data; defined by the linker.
    static __heap_base: u8;
}

#[cfg(target_arch = "wasm32")]
const PAGE: usize = 65536;

/// The next free byte; 0 until the first allocation.
#[cfg(target_arch = "wasm32")]
static mut NEXT: usize = 0;

/// Allocates `len` zeroed bytes, 8-byte aligned, that live until the action ends.
#[cfg(target_arch = "wasm32")]
pub fn alloc(len: usize) -> &'static mut [u8] {
    // SAFETY: an instance runs one action on one thread, so nothing else touches NEXT;
    // the returned range was never handed out before and lies within linear memory
    // (grown below if needed), which is zero until first written.
    unsafe {
        if NEXT == 0 {
            NEXT = &__heap_base as *const u8 as usize;
        }
        let start = (NEXT + 7) & !7;
        let end = match start.checked_add(len) {
            Some(e) => e,
            None => fail("out of memory"),
        };
        let have = wasm32::memory_size(0) * PAGE;
        if end > have {
            let pages = (end - have - 1) / PAGE + 1;
            if wasm32::memory_grow(0, pages) == usize::MAX {
                fail("out of memory");
            }
        }
        NEXT = end;
        core::slice::from_raw_parts_mut(start as *mut u8, len)
    }
}

/// Not available outside wasm32: fails.
#[cfg(not(target_arch = "wasm32"))]
pub fn alloc(_len: usize) -> &'static mut [u8] {
    fail("the arena exists only in a wasm32 contract")
}

/// Copies `bytes` into the arena.
pub fn copy(bytes: &[u8]) -> &'static [u8] {
    let out = alloc(bytes.len());
    out.copy_from_slice(bytes);
    out
}
