//! The results log's records, produced here and defined in the shared data model so that
//! publish reads them without importing exec: see [`crate::chain::results`].

pub use crate::chain::results::{ActionTrace, BlockResults, Origin, Trace, TraceLog, TxResult};
