//! dawn: a producer node for an EOS.IO-style blockchain, built as a one-way streaming
//! pipeline around a segmented write-ahead log. See DESIGN.md for the pipeline; each
//! module is one stage and opens with its own design notes.

pub mod chain;
pub mod exec;
pub mod ingest;
pub mod ipfs;
pub mod log;
pub mod node;
pub mod publish;
