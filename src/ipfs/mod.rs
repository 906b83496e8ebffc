//! IPFS storage: kubo-compatible UnixFS import, an on-disk blockstore with pins and GC,
//! a trustless HTTP gateway, and signed uploads within a quota pro-rata to token holdings.
//!
//! # Purpose
//! The seed's "EOS.IO Storage": block producers host files for token holders over
//! IPFS/HTTPS. Anyone fetches by CID through a standard gateway; accounts upload within a
//! share of the node's storage proportional to their token balance, plus a small public
//! tier. Independent of the pipeline except that quotas read balances from the executed
//! state through [`crate::chain::StateView`].
//!
//! # Goals
//! - CIDs identical to `ipfs add` byte for byte ([`importer`]): CIDv0, 256 KiB chunks,
//!   balanced DAG of at most 174 links, dag-pb leaves; `--cid-version 1` with raw leaves;
//!   directories (`-r`, `-w`). Streaming: memory is bounded whatever the file size.
//! - A blockstore that verifies every block it reads ([`blockstore`]), kubo's recursive
//!   and direct pins, garbage collection.
//! - A gateway ([`gateway`]) serving `/ipfs/{cid}[/path]` with Range, ETag and immutable
//!   caching, directory listings, and the trustless responses (`?format=raw|car`, matching
//!   `Accept` types) that let a client verify what it fetched; signed uploads and deletes.
//! - Quotas ([`quota`]) and the upload signature scheme ([`auth`]) a client reproduces
//!   from docs/IPFS.md alone.
//!
//! # Non-goals
//! No bitswap, DHT or libp2p: this node serves what it stores and fetches nothing. No HAMT
//! directories (kubo shards directories above 256 KiB of links; such an import is
//! refused), no IPNS, no other hash than SHA-256, no other codecs than dag-pb and raw.
//!
//! # Threads and ownership
//! The gateway runs on the caller's tokio runtime; each request that touches the disk or
//! hashes runs its work on the blocking pool and streams bytes to hyper through a bounded
//! channel. An upload's body is forwarded chunk by chunk to one blocking task that imports
//! it into a staging directory.
//!
//! # On-disk layout (docs/IPFS.md, "Repo layout")
//! ```text
//! <repo>/VERSION            "1\n"
//! <repo>/blocks/<xx>/<key>  one file a block; key = CIDv1 base32, xx = first digest byte
//! <repo>/state.json         pins and upload ledger, versioned JSON, replaced atomically
//! <repo>/repo.lock          exclusive while state.json is read-modified-written
//! <repo>/gc.lock            shared by imports, exclusive for garbage collection
//! <repo>/tmp/               staging of imports in progress
//! ```
//!
//! # What survives a crash
//! A block is in `blocks/` only after it was fsynced and renamed, so it is whole; a crash
//! mid-import leaves files under `tmp/` only, removed by the next GC, and no pin. The state
//! file is replaced by rename after fsync: after a crash it is the old or the new one.
//! An upload is charged and pinned in one state write after its blocks are durable, so a
//! crash never leaves a charged upload without its blocks nor a partial upload visible.
//! Should a block file still be damaged (disk fault), every read detects it by hash.
//!
//! # Storage seam
//! Blocks are whole immutable files committed by rename, not offsets within a file, so
//! the `read_at`/`write_at` storage trait of the log does not fit; crash behaviour is
//! instead covered by tests that leave staging debris and damaged blocks on disk and check
//! that reads, GC and verification handle them.
//!
//! Docs: docs/IPFS.md (formats, signing, quotas, endpoints and errors).

pub mod auth;
pub mod bench;
pub mod blockstore;
pub mod car;
pub mod cid;
pub mod cli;
pub mod dagpb;
pub mod gateway;
pub mod importer;
pub mod quota;
pub mod reader;
pub mod unixfs;

pub use blockstore::{BlockError, Blockstore, GcReport, PinKind, RepoError, RepoState, Staging};
pub use cid::{Cid, CidError, Version};
pub use gateway::{serve, Gateway, GatewayConfig, GatewayError, DEFAULT_GATEWAY_ADDR};
pub use importer::{ImportError, ImportOptions, Imported};
