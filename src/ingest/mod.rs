//! Intake: HTTP, signature checks, dedup, expiry and TaPoS, limits, block sealing.
//!
//! # Purpose
//! Takes signed transactions over HTTP (EOS.IO's chain API paths), refuses bad ones with a
//! specific error, orders the rest into blocks every `block_interval`, appends each block
//! to the chain log with group commit, and acknowledges a transaction only once its block
//! is durable.
//!
//! # Tasks and ownership
//! - HTTP connections: tokio tasks; each request decodes on the task and hands the whole
//!   check of its batch to the rayon pool (one worker per core, `dawn-verify-N`), where
//!   signatures are verified in batches of 256 ([`verify`]) and the serial parts run too,
//!   so nothing else competes with the workers for the cores.
//! - One producer task ([`Intake::run_producer`]) owns block sealing; it is the only
//!   writer of the chain log. [`History`] (TaPoS ids, dedup window, placements) and the
//!   queue sit behind short mutexes.
//! - Authorization reads the newest executed state through [`crate::chain::StateView`],
//!   wired in by src/node; exec re-checks everything.
//!
//! # What survives a crash
//! Every acknowledged transaction: acknowledgements follow the durable append of their
//! block. Intake's memory (history, queue) is rebuilt from the chain log at start;
//! transactions queued but not yet sealed were never acknowledged and are gone.
//!
//! API: docs/API.md. Block and transaction layout: docs/FORMAT.md.

mod acks;
pub mod builder;
mod error;
pub mod history;
pub mod http;
mod intake;
pub mod verify;

pub use builder::BlockLimits;
pub use error::{ErrorBody, IngestError};
pub use history::History;
pub use intake::{Ack, Info, Intake, IntakeConfig, IntakeStats};
