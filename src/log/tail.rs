//! A reader that follows the log, waiting (async) for new durable records.

use tokio::sync::watch;

use super::engine::Mark;
use super::error::ReadError;
use super::{Log, Offset, Record};

/// Follows a log from an offset. Holds no buffer: every batch is read from the log, so a
/// slow tail costs disk reads, never memory.
#[derive(Debug)]
pub struct Tail {
    log: Log,
    next: Offset,
    rx: watch::Receiver<Mark>,
}

impl Tail {
    pub(super) fn new(log: Log, from: Offset, rx: watch::Receiver<Mark>) -> Self {
        Self { log, next: from, rx }
    }

    /// The offset the next returned record will have.
    pub fn position(&self) -> Offset {
        self.next
    }

    /// Returns the offsets of the next durable records (at least one, at most
    /// `max_records`), waiting for them if needed, without reading them: for a follower
    /// that takes most records as their writer left them decoded ([`Log::decoded`]) and
    /// reads only the others. Fails as [`Tail::next_batch`] does.
    pub async fn next_offsets(&mut self, max_records: usize) -> Result<std::ops::Range<Offset>, ReadError> {
        let durable = self.durable_past_next().await?;
        let start = self.next;
        self.next = Offset(durable.min(start.0 + max_records.max(1) as u64));
        Ok(start..self.next)
    }

    /// Returns the next durable records (at least one, at most `max_records`, stopping
    /// once `max_bytes` of data are reached), waiting for them if needed. Fails with
    /// [`ReadError::Closed`] once the log is closed or stopped and everything durable has
    /// been returned.
    pub async fn next_batch(
        &mut self,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Vec<Record>, ReadError> {
        loop {
            let records = self.log.read(self.next, max_records, max_bytes)?;
            if let Some(last) = records.last() {
                self.next = Offset(last.offset.0 + 1);
                return Ok(records);
            }
            self.durable_past_next().await?;
        }
    }

    /// Waits until a record at the tail's position is durable; the durable end then.
    /// Fails with [`ReadError::Closed`] once the log is closed or stopped with nothing
    /// durable left there.
    async fn durable_past_next(&mut self) -> Result<u64, ReadError> {
        loop {
            let m = *self.rx.borrow_and_update();
            if m.durable > self.next.0 {
                return Ok(m.durable);
            }
            if m.closed || m.poisoned {
                return Err(ReadError::Closed);
            }
            self.rx.changed().await.map_err(|_| ReadError::Closed)?;
        }
    }
}
