//! The acknowledgements of one pushed batch, gathered in one place: the pusher waits once
//! for the whole batch instead of once per transaction, and the producer fills a slot
//! per transaction without a channel of its own (a channel per transaction cost an
//! allocation and a wake-up each).

use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::intake::Ack;
use super::IngestError;

/// One result per transaction of a batch, in push order.
#[derive(Debug)]
pub(super) struct BatchAcks {
    slots: Mutex<Slots>,
    done: Notify,
}

#[derive(Debug)]
struct Slots {
    results: Vec<Option<Result<Ack, IngestError>>>,
    /// Accepted transactions not yet acknowledged.
    ///
    /// Invariant: raised (by [`BatchAcks::expect`]) before the slots' [`AckSlot`]s can
    /// reach the producer, so it reaches zero only once every accepted one is filled.
    waiting: usize,
}

impl BatchAcks {
    /// Slots for `n` transactions, none filled.
    pub(super) fn new(n: usize) -> Arc<Self> {
        Arc::new(Self {
            slots: Mutex::new(Slots { results: (0..n).map(|_| None).collect(), waiting: 0 }),
            done: Notify::new(),
        })
    }

    /// Records the refusal of transaction `index`.
    pub(super) fn refuse(&self, index: usize, e: IngestError) {
        self.slots.lock().expect("ack lock").results[index] = Some(Err(e));
    }

    /// The slot of transaction `index`, for the producer to fill once it is queued.
    /// [`BatchAcks::expect`] must count it before the producer can see it.
    pub(super) fn slot(self: &Arc<Self>, index: usize) -> AckSlot {
        AckSlot { batch: self.clone(), index: index as u32, filled: false }
    }

    /// Counts `n` more slots handed out, which [`BatchAcks::wait`] waits for. Called while
    /// the queue holding them is locked, so before the producer can fill any.
    pub(super) fn expect(&self, n: usize) {
        self.slots.lock().expect("ack lock").waiting += n;
    }

    /// Waits until every accepted transaction is acknowledged (or failed), then returns
    /// all results in push order.
    pub(super) async fn wait(&self) -> Vec<Result<Ack, IngestError>> {
        loop {
            {
                let mut s = self.slots.lock().expect("ack lock");
                if s.waiting == 0 {
                    return std::mem::take(&mut s.results)
                        .into_iter()
                        .map(|r| r.unwrap_or(Err(IngestError::ShuttingDown)))
                        .collect();
                }
            }
            // `notify_one` keeps a permit when nobody waits yet: no wake-up is lost.
            self.done.notified().await;
        }
    }

    fn fill(&self, index: u32, r: Result<Ack, IngestError>) {
        let mut s = self.slots.lock().expect("ack lock");
        s.results[index as usize] = Some(r);
        // Saturating: if the check panicked between queueing a slot and counting it, the
        // pusher already has its error and nobody waits on this count.
        s.waiting = s.waiting.saturating_sub(1);
        if s.waiting == 0 {
            self.done.notify_one();
        }
    }
}

/// Where the producer puts one queued transaction's result. Dropped unfilled (a node
/// stopping on a fault), it answers `ShuttingDown`, so no pusher waits forever.
#[derive(Debug)]
pub(super) struct AckSlot {
    batch: Arc<BatchAcks>,
    index: u32,
    filled: bool,
}

impl AckSlot {
    /// Delivers the result.
    pub(super) fn send(mut self, r: Result<Ack, IngestError>) {
        self.filled = true;
        self.batch.fill(self.index, r);
    }
}

impl Drop for AckSlot {
    fn drop(&mut self) {
        if !self.filled {
            self.batch.fill(self.index, Err(IngestError::ShuttingDown));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{BlockNum, Checksum256, TxId};

    fn ack(i: u32) -> Ack {
        Ack { id: TxId(Checksum256::hash(&i.to_le_bytes())), block_num: BlockNum(1), index: i }
    }

    #[tokio::test]
    async fn waits_for_every_accepted_slot_and_keeps_push_order() {
        let b = BatchAcks::new(3);
        b.refuse(1, IngestError::Overloaded(9));
        let (s0, s2) = (b.slot(0), b.slot(2));
        b.expect(2);
        let waiter = tokio::spawn({
            let b = b.clone();
            async move { b.wait().await }
        });
        s2.send(Ok(ack(2)));
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "one slot is still open");
        drop(s0);
        let r = waiter.await.unwrap();
        assert!(matches!(r[0], Err(IngestError::ShuttingDown)), "dropped unfilled: {:?}", r[0]);
        assert!(matches!(r[1], Err(IngestError::Overloaded(9))));
        assert_eq!(r[2].as_ref().unwrap(), &ack(2));
    }

    #[tokio::test]
    async fn a_batch_with_nothing_accepted_returns_at_once() {
        let b = BatchAcks::new(1);
        b.refuse(0, IngestError::ShuttingDown);
        assert_eq!(b.wait().await.len(), 1);
    }
}
