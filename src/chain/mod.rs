//! The data model every stage shares: names, keys, signatures, actions, transactions,
//! blocks, receipts, the canonical codec, merkle roots, the genesis.
//!
//! # Goals
//! - EOS.IO's model with ed25519: 64-bit names, authorities, actions, transactions with
//!   Dawn's declared read and write scopes, blocks whose headers carry the roots of the
//!   newest executed block.
//! - One canonical binary encoding ([`codec`], the bincode 1 wire format) and one JSON form
//!   an EOS.IO user recognises (names as text, keys as `PUB_ED_…`, bytes as hex, times as
//!   `2026-11-24T06:00:00`), from the same serde derives: types switch on
//!   `is_human_readable`. Both are specified in docs/FORMAT.md, "Chain data model".
//! - Ids and digests: transaction id = SHA-256 of the encoding; signatures cover
//!   SHA-256(chain id || encoding); block ids carry their number in the first 4 bytes.
//!
//! # Non-goals
//! No I/O, no threads, no clock except `TimePoint::now`. No execution: receipts are
//! produced by exec.

mod action;
mod asset;
mod authority;
mod block;
pub mod codec;
mod crypto;
mod genesis;
pub mod merkle;
mod name;
mod receipt;
pub mod results;
mod state;
mod time;
pub mod token;
mod transaction;

pub use action::{Action, Authorizations, Bytes, PermissionLevel, BYTES_INLINE};
pub use asset::{Asset, AssetError, Symbol, ASSET_AMOUNT_MAX};
pub use authority::{Authority, AuthorityError, KeyWeight, PermissionLevelWeight, AUTHORITY_DEPTH_MAX};
pub use block::{BlockHeader, BlockId, BlockNum, SealedBlock, SignedBlock};
pub use crypto::{verify_batch, verify_batch_of, Checksum256, KeyError, PrivateKey, PublicKey, Signature};
pub use genesis::{
    Genesis, GenesisAccount, GenesisBalance, GenesisContract, GenesisError, ProducerKey, SYSTEM_ACCOUNT,
};
pub use name::{n, Name, NameError};
pub use receipt::{TransactionReceipt, TransactionStatus};
pub use state::{ExecutedRoots, ScopeDeclaration, StateView};
pub use time::{add_cpu_since, thread_cpu_ns, TimeError, TimePoint, TimePointSec};
pub use transaction::{
    Actions, ChainId, ScopeError, Scopes, Signatures, SignedTransaction, Transaction, TxId,
};
