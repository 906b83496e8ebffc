//! Transaction receipts, with EOS.IO's statuses.

use serde::{Deserialize, Serialize};

use super::TxId;

/// What happened to a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransactionStatus {
    /// Ran and applied its changes.
    Executed,
    /// Failed in a handler; only its failure is recorded (the sender is notified).
    SoftFail,
    /// Failed and nothing but the failed receipt is recorded.
    HardFail,
    /// Scheduled to run in a later block (`delay_sec` or a deferred action).
    Delayed,
    /// A delayed transaction that was not run before its expiry.
    Expired,
}

/// The receipt of one transaction in a block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionReceipt {
    /// The transaction.
    pub id: TxId,
    /// Its status.
    pub status: TransactionStatus,
    /// CPU billed, in microseconds of the deterministic cost model.
    pub cpu_usage_us: u32,
    /// Bytes billed.
    pub net_usage_bytes: u32,
}
