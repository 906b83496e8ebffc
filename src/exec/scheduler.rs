//! The conflict order of a block, from declared scopes alone.
//!
//! Two transactions conflict when one writes a scope the other reads or writes. Each
//! transaction gets a wave: one more than the latest wave of any earlier transaction it
//! conflicts with. Transactions of one wave are pairwise independent, so they run in
//! parallel against the same state, and committing their writes in block order gives
//! bit for bit the serial outcome. A pure function: no threads, no state.

use crate::chain::Name;

/// What the scheduler needs of a transaction.
pub trait Scoped {
    /// Scopes it reads (sorted and unique).
    fn reads(&self) -> &[Name];
    /// Scopes it writes (sorted and unique).
    fn writes(&self) -> &[Name];
}

/// A bare declaration `(reads, writes)`.
impl Scoped for (Vec<Name>, Vec<Name>) {
    fn reads(&self) -> &[Name] {
        &self.0
    }
    fn writes(&self) -> &[Name] {
        &self.1
    }
}

/// The wave of each transaction, in block order; waves start at 0.
pub fn waves<T: Scoped>(txs: &[T]) -> Vec<u32> {
    // Per scope: one more than the latest wave that wrote it, and than the latest that
    // read it (0: none yet), so that a transaction's wave is a plain maximum. This loop
    // is the one serial part of scheduling a block: one map probe per declared scope.
    let mut after: foldhash::HashMap<Name, After> = foldhash::HashMap::default();
    after.reserve(txs.len() * 2);
    let mut out = Vec::with_capacity(txs.len());
    for t in txs {
        let mut wave = 0u32;
        for s in t.writes() {
            if let Some(a) = after.get(s) {
                wave = wave.max(a.write).max(a.read);
            }
        }
        for s in t.reads() {
            if let Some(a) = after.get(s) {
                wave = wave.max(a.write);
            }
        }
        for s in t.writes() {
            after.entry(*s).or_default().write = wave + 1;
        }
        for s in t.reads() {
            let a = after.entry(*s).or_default();
            a.read = a.read.max(wave + 1);
        }
        out.push(wave);
    }
    out
}

/// The earliest wave a later transaction may take, per kind of access to a scope.
#[derive(Default)]
struct After {
    /// After the latest writer: anything that touches the scope.
    write: u32,
    /// After the latest reader: a writer.
    read: u32,
}

/// Groups transaction indexes by wave, each group in block order.
pub fn group(waves: &[u32]) -> Vec<Vec<usize>> {
    let n = waves.iter().max().map_or(0, |m| *m as usize + 1);
    let mut groups = vec![Vec::new(); n];
    for (i, w) in waves.iter().enumerate() {
        groups[*w as usize].push(i);
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type T = (Vec<Name>, Vec<Name>);

    fn conflict(a: &T, b: &T) -> bool {
        a.1.iter().any(|s| b.0.contains(s) || b.1.contains(s)) || b.1.iter().any(|s| a.0.contains(s))
    }

    proptest! {
        /// Every conflicting pair is ordered by wave as in the block; independent
        /// transactions share the earliest possible wave.
        #[test]
        fn conflicts_are_ordered(spec in prop::collection::vec((prop::collection::btree_set(0u64..6, 0..3), prop::collection::btree_set(0u64..6, 0..3)), 0..40)) {
            let txs: Vec<T> = spec.into_iter().map(|(r, w)| {
                let w: Vec<Name> = w.into_iter().map(Name).collect();
                let r: Vec<Name> = r.into_iter().map(Name).filter(|x| !w.contains(x)).collect();
                (r, w)
            }).collect();
            let waves = waves(&txs);
            for j in 0..txs.len() {
                let mut need = 0;
                for i in 0..j {
                    if conflict(&txs[i], &txs[j]) {
                        prop_assert!(waves[i] < waves[j]);
                        need = need.max(waves[i] + 1);
                    }
                }
                prop_assert_eq!(waves[j], need);
            }
        }
    }

    #[test]
    fn readers_share_a_wave_and_precede_a_writer() {
        let a = Name(1);
        let txs = vec![(vec![a], vec![]), (vec![a], vec![]), (vec![], vec![a]), (vec![a], vec![])];
        assert_eq!(waves(&txs), vec![0, 0, 1, 2]);
        assert_eq!(group(&[0, 0, 1, 2]), vec![vec![0, 1], vec![2], vec![3]]);
    }
}
