//! Choosing the transactions of the next block: in arrival order, up to the block's
//! transaction and byte caps, with no single write scope taking more than its share (as
//! Solana caps one hot account at a quarter of a block), so one hot account cannot
//! serialize a whole block. Transactions held back keep their order for the next block.

use std::collections::VecDeque;

use foldhash::{HashMap, HashMapExt};

use crate::chain::Name;

/// Caps on one block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockLimits {
    /// Most transactions in a block.
    pub transactions_max: usize,
    /// Most bytes of encoded transactions in a block.
    pub bytes_max: usize,
    /// Most transactions writing one scope, in percent of `transactions_max`.
    pub write_scope_share_percent: u32,
}

impl Default for BlockLimits {
    fn default() -> Self {
        Self { transactions_max: 20_000, bytes_max: 4 << 20, write_scope_share_percent: 25 }
    }
}

impl BlockLimits {
    /// Transactions one write scope may have in a block (at least 1).
    pub fn per_scope_max(&self) -> usize {
        (self.transactions_max * self.write_scope_share_percent as usize / 100).max(1)
    }
}

/// What the builder needs to know of a waiting transaction.
pub trait Candidate {
    /// Encoded size.
    fn bytes(&self) -> usize;
    /// Declared write scopes.
    fn write_scopes(&self) -> &[Name];
}

/// Removes from `queue` and returns the transactions of the next block.
pub fn select<T: Candidate>(queue: &mut VecDeque<T>, limits: &BlockLimits) -> Vec<T> {
    let per_scope = limits.per_scope_max();
    let room = queue.len().min(limits.transactions_max);
    let mut per: HashMap<Name, usize> = HashMap::with_capacity(room.min(1 << 16));
    let mut bytes = 0usize;
    let mut chosen = Vec::with_capacity(room);
    let mut held = VecDeque::new();
    while let Some(t) = queue.pop_front() {
        if chosen.len() == limits.transactions_max {
            queue.push_front(t);
            break;
        }
        let over_scope = t.write_scopes().iter().any(|s| per.get(s).copied().unwrap_or(0) >= per_scope);
        // Intake refuses transactions larger than a block, so every one fits some block.
        if over_scope || bytes + t.bytes() > limits.bytes_max {
            held.push_back(t);
            continue;
        }
        bytes += t.bytes();
        for s in t.write_scopes() {
            *per.entry(*s).or_default() += 1;
        }
        chosen.push(t);
    }
    // Held-back transactions go first next time, in their original order.
    while let Some(t) = held.pop_back() {
        queue.push_front(t);
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::n;

    #[derive(Debug, Clone, PartialEq)]
    struct T(usize, usize, Vec<Name>);
    impl Candidate for T {
        fn bytes(&self) -> usize {
            self.1
        }
        fn write_scopes(&self) -> &[Name] {
            &self.2
        }
    }

    #[test]
    fn caps_and_order() {
        let limits = BlockLimits { transactions_max: 8, bytes_max: 1000, write_scope_share_percent: 25 };
        let mut q: VecDeque<T> =
            (0..20).map(|i| T(i, 10, vec![if i % 2 == 0 { n("hot") } else { Name(i as u64 + 1) }])).collect();
        let b = select(&mut q, &limits);
        // Two hot ones at most (25% of 8), the rest cold, in order.
        assert_eq!(b.iter().filter(|t| t.2[0] == n("hot")).count(), 2);
        assert_eq!(b.len(), 8);
        assert!(b.windows(2).all(|w| w[0].0 < w[1].0));
        // The held-back hot ones come first next time, in order.
        assert_eq!(q.front().unwrap().0, 4);
        let total = b.len() + q.len();
        assert_eq!(total, 20);
        let mut q2: VecDeque<T> = (0..5).map(|i| T(i, 400, vec![])).collect();
        assert_eq!(select(&mut q2, &limits).len(), 2);
    }
}
