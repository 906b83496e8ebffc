//! Decoded forms of the newest records, handed over by whoever already holds them.
//!
//! A record's writer usually has the value it encoded (the producer its block, exec its
//! results), and a reader at the head would otherwise read the bytes back and decode them
//! again. The writer appends with [`super::Log::append_decoded`], which leaves the value
//! here before the record can become durable; a reader asks [`super::Log::decoded`] first
//! and falls back to reading the record.
//!
//! # Invariant
//! An entry is the value whose encoding is the record at its offset: the caller of
//! `append_decoded` promises it (the value it just encoded). Records never change once appended, so an entry stays true until
//! evicted. Readers see an entry only for a durable, unpruned offset, exactly as they
//! would see the record, so the cache changes what is decoded, never what is visible.
//!
//! Bounded: at most [`DECODED_RECORDS_MAX`] entries and [`DECODED_RECORD_BYTES_MAX`] of
//! record bytes, the oldest evicted first; a record larger than that budget is not kept.
//! Decoded values take about three times their records' bytes. Entries leave only when
//! newer ones push them out, so an idle log holds its newest ones.

use std::any::Any;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// Most entries kept. Their readers (exec after the producer, publish after both) read at
/// the head, a record or two behind; an entry kept longer only goes cold before it is
/// freed, and freeing a block's values touches all of them (16 measured 1% less
/// efficient end to end in four paired runs).
pub const DECODED_RECORDS_MAX: usize = 4;

/// Most record bytes (the encodings of the values kept) covered by the entries.
pub const DECODED_RECORD_BYTES_MAX: usize = 8 << 20;

/// A decoded value, of whatever type its writer and readers agree on.
pub type DecodedValue = Arc<dyn Any + Send + Sync>;

/// Entries pushed out of the cache; dropping it frees their values.
#[must_use = "drop it once no lock is held"]
pub(super) struct Evicted(#[allow(dead_code)] Vec<Entry>);

struct Entry {
    offset: u64,
    value: DecodedValue,
    record_bytes: usize,
}

/// The newest records' decoded values, oldest first.
#[derive(Default)]
pub(super) struct DecodedCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: VecDeque<Entry>,
    record_bytes: usize,
}

impl DecodedCache {
    /// Keeps `value` as the decoded record at `offset` (`record_bytes` long), evicting the
    /// oldest entries past the bounds; a record over the byte budget is not kept. A second
    /// value for one offset replaces the first. Returns what it evicted, for the caller to
    /// drop once it holds no lock (freeing a large value takes a while).
    pub(super) fn keep(&self, offset: u64, value: DecodedValue, record_bytes: usize) -> Evicted {
        let mut evicted = Vec::new();
        if record_bytes > DECODED_RECORD_BYTES_MAX {
            return Evicted(evicted);
        }
        {
            let mut c = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(i) = c.entries.iter().position(|e| e.offset == offset) {
                let old = c.entries.remove(i).expect("found");
                c.record_bytes -= old.record_bytes;
                evicted.push(old);
            }
            c.record_bytes += record_bytes;
            c.entries.push_back(Entry { offset, value, record_bytes });
            while c.entries.len() > DECODED_RECORDS_MAX || c.record_bytes > DECODED_RECORD_BYTES_MAX {
                let old = c.entries.pop_front().expect("over a bound, so not empty");
                c.record_bytes -= old.record_bytes;
                evicted.push(old);
            }
        }
        Evicted(evicted)
    }

    /// The value kept for `offset` and its record's length, if any.
    pub(super) fn get(&self, offset: u64) -> Option<(DecodedValue, usize)> {
        let c = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Newest first: readers at the head ask for the newest records.
        c.entries.iter().rev().find(|e| e.offset == offset).map(|e| (e.value.clone(), e.record_bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_by_count_and_bytes() {
        let c = DecodedCache::default();
        for i in 0..(DECODED_RECORDS_MAX as u64 + 10) {
            drop(c.keep(i, Arc::new(i), 10));
        }
        assert!(c.get(9).is_none(), "the oldest are evicted");
        let (v, len) = c.get(DECODED_RECORDS_MAX as u64 + 9).unwrap();
        assert_eq!((*v.downcast::<u64>().unwrap(), len), (DECODED_RECORDS_MAX as u64 + 9, 10));
        drop(c.keep(999, Arc::new(999u64), DECODED_RECORD_BYTES_MAX + 1));
        assert!(c.get(999).is_none(), "a record over the budget is not kept");
        drop(c.keep(1000, Arc::new(1000u64), DECODED_RECORD_BYTES_MAX));
        assert!(c.get(1000).is_some(), "a record of the whole budget is");
        assert!(c.get(DECODED_RECORDS_MAX as u64 + 9).is_none(), "evicted for bytes");
        drop(c.keep(1000, Arc::new("replaced"), 5));
        assert_eq!(*c.get(1000).unwrap().0.downcast::<&str>().unwrap(), "replaced");
        drop(c.keep(1001, Arc::new(1001u64), DECODED_RECORD_BYTES_MAX - 5));
        assert!(c.get(1000).is_some() && c.get(1001).is_some(), "together exactly the budget");
    }
}
