//! The repo: blocks on disk keyed by CID, the pin set and upload ledger, garbage
//! collection. Layout and formats: docs/IPFS.md, "Repo layout".
//!
//! - A block is a whole file `blocks/<xx>/<key>`, `key` the CIDv1 in base32 (so a block
//!   named by its CIDv0 and by its CIDv1 is one file), `xx` the first byte of its digest in
//!   hex. Blocks are immutable: written into a staging directory under `tmp/`, fsynced,
//!   then renamed into place and the directory fsynced, so a crash leaves either no file
//!   or a whole one. Every read is checked against the CID; a mismatch is
//!   [`BlockError::Corrupt`] naming the file.
//! - `state.json` holds the pin set and the per-account upload ledger. It is replaced
//!   whole (temp file, fsync, rename, fsync directory) under an exclusive lock on
//!   `repo.lock`, so several processes (the CLI beside a running gateway) can update it.
//! - Writers hold a shared lock on `gc.lock` from their first staged block until their
//!   roots are pinned; garbage collection takes it exclusively, so it never removes a
//!   block an import is about to pin, and clears `tmp/` (a crashed import's leftovers).

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::cid::{base32_decode, Cid, CODEC_DAG_PB};
use super::dagpb::{DagPbError, PbNode, BLOCK_BYTES_MAX};
use super::importer::BlockSink;

/// Version of the repo layout, in the `VERSION` file.
pub const REPO_VERSION: u32 = 1;
/// Version of `state.json`.
pub const STATE_VERSION: u32 = 1;

/// Why a block could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlockError {
    /// No such block here.
    #[error("block {0} is not in this repo")]
    NotFound(Cid),
    /// The file does not hash to its CID: disk corruption or tampering.
    #[error("block {cid} is corrupt: {path} does not hash to its CID; run `dawn ipfs verify`")]
    Corrupt {
        /// The block.
        cid: Cid,
        /// Its file.
        path: PathBuf,
    },
    /// The file is larger than any block may be.
    #[error("block {cid} at {path} is {len} bytes, over the {BLOCK_BYTES_MAX}-byte limit")]
    TooLarge {
        /// The block.
        cid: Cid,
        /// Its file.
        path: PathBuf,
        /// Its length.
        len: u64,
    },
    /// A dag-pb block that does not decode.
    #[error("block {cid} is not valid dag-pb: {source}")]
    BadNode {
        /// The block.
        cid: Cid,
        /// Why.
        source: DagPbError,
    },
    /// The file system failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

/// Why the repo or its state could not be opened or updated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RepoError {
    /// The file system failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The repo was written by another layout version.
    #[error("{path} says repo version {found:?}; this build reads version {REPO_VERSION}")]
    Version {
        /// The VERSION file.
        path: PathBuf,
        /// What it says.
        found: String,
    },
    /// `state.json` does not parse.
    #[error("{path} is corrupt: {why}")]
    CorruptState {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// A block needed to walk a pinned DAG is missing or corrupt.
    #[error(transparent)]
    Block(#[from] BlockError),
    /// `pin rm` of something not pinned.
    #[error("{0} is not pinned (or only indirectly)")]
    NotPinned(Cid),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> RepoError + '_ {
    move |source| RepoError::Io { path: path.to_path_buf(), source }
}

/// How a CID is pinned (kubo's kinds; `indirect` is derived, never stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PinKind {
    /// The block and everything below it.
    Recursive,
    /// The block alone.
    Direct,
}

/// The contents of `state.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoState {
    /// Format version ([`STATE_VERSION`]).
    pub version: u32,
    /// The pin set.
    pub pins: BTreeMap<Cid, PinKind>,
    /// Uploads per account (`-` is the anonymous pool): root → charged bytes.
    pub uploads: BTreeMap<String, BTreeMap<Cid, u64>>,
}

impl Default for RepoState {
    fn default() -> Self {
        Self { version: STATE_VERSION, pins: BTreeMap::new(), uploads: BTreeMap::new() }
    }
}

impl RepoState {
    /// Bytes charged to `account`.
    pub fn used(&self, account: &str) -> u64 {
        self.uploads.get(account).map_or(0, |m| m.values().sum())
    }
    /// Roots that keep their whole DAG alive: recursive pins and every upload.
    pub fn recursive_roots(&self) -> impl Iterator<Item = Cid> + '_ {
        self.pins
            .iter()
            .filter(|(_, k)| **k == PinKind::Recursive)
            .map(|(c, _)| *c)
            .chain(self.uploads.values().flat_map(|m| m.keys().copied()))
    }
}

/// What garbage collection did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Blocks removed.
    pub removed: Vec<Cid>,
    /// Their bytes.
    pub bytes: u64,
    /// Blocks kept.
    pub kept: u64,
}

/// The repo directory.
#[derive(Debug, Clone)]
pub struct Blockstore {
    root: PathBuf,
}

impl Blockstore {
    /// Opens (creating if needed) the repo at `root`.
    pub fn open(root: &Path) -> Result<Self, RepoError> {
        for d in [root.to_path_buf(), root.join("blocks"), root.join("tmp")] {
            fs::create_dir_all(&d).map_err(io_err(&d))?;
        }
        let vpath = root.join("VERSION");
        match fs::read_to_string(&vpath) {
            Ok(s) if s.trim() == REPO_VERSION.to_string() => {}
            Ok(s) => return Err(RepoError::Version { path: vpath, found: s.trim().to_string() }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                write_atomic(&vpath, format!("{REPO_VERSION}\n").as_bytes())?;
            }
            Err(e) => return Err(RepoError::Io { path: vpath, source: e }),
        }
        Ok(Self { root: root.to_path_buf() })
    }

    /// Takes the GC lock: shared for writers, exclusive for GC. Released on drop.
    fn gc_lock(&self, exclusive: bool) -> Result<File, RepoError> {
        let path = self.root.join("gc.lock");
        let f =
            OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(io_err(&path))?;
        if exclusive { f.lock() } else { f.lock_shared() }.map_err(io_err(&path))?;
        Ok(f)
    }

    /// The repo directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where block `cid` lives.
    pub fn block_path(&self, cid: &Cid) -> PathBuf {
        self.root.join("blocks").join(format!("{:02x}", cid.digest().0[0])).join(cid.store_key())
    }

    /// Is the block here (not verified)?
    pub fn has(&self, cid: &Cid) -> bool {
        self.block_path(cid).is_file()
    }

    /// Reads a block and checks it against its CID.
    pub fn get(&self, cid: &Cid) -> Result<Bytes, BlockError> {
        let path = self.block_path(cid);
        let data = match fs::metadata(&path) {
            Ok(m) if m.len() > BLOCK_BYTES_MAX as u64 => {
                return Err(BlockError::TooLarge { cid: *cid, path, len: m.len() })
            }
            Ok(_) => fs::read(&path).map_err(|source| BlockError::Io { path: path.clone(), source })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(BlockError::NotFound(*cid)),
            Err(source) => return Err(BlockError::Io { path, source }),
        };
        if !cid.matches(&data) {
            tracing::warn!(target: "dawn::ipfs", %cid, path = %path.display(), "corrupt block");
            return Err(BlockError::Corrupt { cid: *cid, path });
        }
        Ok(Bytes::from(data))
    }

    /// Reads a block and decodes its links (none for raw blocks).
    pub fn links(&self, cid: &Cid) -> Result<(Bytes, Option<PbNode>), BlockError> {
        let data = self.get(cid)?;
        if cid.codec() != CODEC_DAG_PB {
            return Ok((data, None));
        }
        let node = PbNode::decode(&data).map_err(|source| BlockError::BadNode { cid: *cid, source })?;
        Ok((data, Some(node)))
    }

    /// Starts an import: blocks go to a private staging directory and become visible only
    /// at [`Staging::commit`]. Holds a shared GC lock until dropped.
    pub fn stage(&self) -> Result<Staging, RepoError> {
        let lock = self.gc_lock(false)?;
        let dir = self.root.join("tmp").join(format!("stage-{:016x}", rand::random::<u64>()));
        fs::create_dir(&dir).map_err(io_err(&dir))?;
        Ok(Staging { store: self.clone(), dir, staged: Vec::new(), seen: HashSet::new(), _gc: lock })
    }

    /// Reads `state.json` (an empty state if there is none).
    pub fn state(&self) -> Result<RepoState, RepoError> {
        let path = self.root.join("state.json");
        let text = match fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(RepoState::default()),
            Err(e) => return Err(RepoError::Io { path, source: e }),
        };
        let st: RepoState = serde_json::from_slice(&text)
            .map_err(|e| RepoError::CorruptState { path: path.clone(), why: e.to_string() })?;
        if st.version != STATE_VERSION {
            return Err(RepoError::CorruptState {
                path,
                why: format!("state version {} (this build reads {STATE_VERSION})", st.version),
            });
        }
        Ok(st)
    }

    /// Read-modify-write of `state.json` under the repo lock. `f` may refuse (its error is
    /// returned and nothing is written).
    pub fn update_state<T, E: From<RepoError>>(
        &self,
        f: impl FnOnce(&mut RepoState) -> Result<T, E>,
    ) -> Result<T, E> {
        let lock_path = self.root.join("repo.lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        lock.lock().map_err(io_err(&lock_path))?;
        let mut st = self.state()?;
        let before = st.clone();
        let out = f(&mut st)?;
        if st != before {
            let text = serde_json::to_vec_pretty(&st).expect("state serializes");
            write_atomic(&self.root.join("state.json"), &text)?;
        }
        drop(lock);
        Ok(out)
    }

    /// Calls `visit` on every block of the DAG under `root` once, depth-first in link
    /// order (the order of `ipfs dag export`). Fails on a missing or corrupt block.
    pub fn walk(
        &self,
        root: &Cid,
        visit: &mut dyn FnMut(&Cid, &Bytes) -> Result<(), BlockError>,
    ) -> Result<(), BlockError> {
        let mut seen = HashSet::new();
        let mut stack = vec![*root];
        while let Some(c) = stack.pop() {
            if !seen.insert(c.store_key()) {
                continue;
            }
            let (data, node) = self.links(&c)?;
            visit(&c, &data)?;
            if let Some(n) = node {
                stack.extend(n.links.iter().rev().map(|l| l.hash));
            }
        }
        Ok(())
    }

    /// Pins `cid` (recursive: its whole DAG must be here and intact).
    pub fn pin_add(&self, cid: &Cid, kind: PinKind) -> Result<(), RepoError> {
        // Keep GC out between checking the blocks and recording the pin.
        let _gc = self.gc_lock(false)?;
        match kind {
            PinKind::Recursive => self.walk(cid, &mut |_, _| Ok(()))?,
            PinKind::Direct => {
                self.get(cid)?;
            }
        }
        self.update_state(|st| {
            // A recursive pin covers a direct one; never downgrade.
            let e = st.pins.entry(*cid).or_insert(kind);
            if kind == PinKind::Recursive {
                *e = kind;
            }
            Ok::<_, RepoError>(())
        })
    }

    /// Unpins `cid` (either kind).
    pub fn pin_rm(&self, cid: &Cid) -> Result<(), RepoError> {
        self.update_state(|st| match st.pins.remove(cid) {
            Some(_) => Ok(()),
            None => Err(RepoError::NotPinned(*cid)),
        })
    }

    /// Every stored block's CID (as CIDv1), with its file length. Unrecognised file names
    /// are skipped.
    pub fn list(&self) -> Result<Vec<(Cid, u64)>, RepoError> {
        let mut out = Vec::new();
        let blocks = self.root.join("blocks");
        for shard in fs::read_dir(&blocks).map_err(io_err(&blocks))? {
            let shard = shard.map_err(io_err(&blocks))?.path();
            if !shard.is_dir() {
                continue;
            }
            for f in fs::read_dir(&shard).map_err(io_err(&shard))? {
                let f = f.map_err(io_err(&shard))?;
                let name = f.file_name();
                let Some(cid) = name.to_str().and_then(base32_decode).and_then(|b| Cid::from_bytes(&b).ok())
                else {
                    continue;
                };
                let len = f.metadata().map_err(io_err(&f.path()))?.len();
                out.push((cid, len));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Removes every block not reachable from a pin or an upload, and the staging leftovers
    /// of crashed imports. Waits for running imports. A pinned DAG with a missing or
    /// corrupt block stops GC before anything is removed.
    pub fn gc(&self) -> Result<GcReport, RepoError> {
        let lock = self.gc_lock(true)?;
        let st = self.state()?;
        let mut live = HashSet::new();
        for root in st.recursive_roots() {
            self.walk(&root, &mut |c, _| {
                live.insert(c.store_key());
                Ok(())
            })?;
        }
        for (c, k) in &st.pins {
            if *k == PinKind::Direct {
                live.insert(c.store_key());
            }
        }
        let mut report = GcReport::default();
        for (cid, len) in self.list()? {
            if live.contains(&cid.store_key()) {
                report.kept += 1;
                continue;
            }
            let p = self.block_path(&cid);
            fs::remove_file(&p).map_err(io_err(&p))?;
            report.removed.push(cid);
            report.bytes += len;
        }
        let tmp = self.root.join("tmp");
        for e in fs::read_dir(&tmp).map_err(io_err(&tmp))? {
            let p = e.map_err(io_err(&tmp))?.path();
            let r = if p.is_dir() { fs::remove_dir_all(&p) } else { fs::remove_file(&p) };
            r.map_err(io_err(&p))?;
        }
        tracing::info!(target: "dawn::ipfs", removed = report.removed.len(), bytes = report.bytes, kept = report.kept, "gc");
        drop(lock);
        Ok(report)
    }

    /// Checks every block against its CID; returns the corrupt ones.
    pub fn verify(&self) -> Result<(u64, Vec<(Cid, PathBuf)>), RepoError> {
        let mut bad = Vec::new();
        let mut n = 0;
        for (cid, _) in self.list()? {
            n += 1;
            match self.get(&cid) {
                Ok(_) => {}
                Err(BlockError::Corrupt { cid, path } | BlockError::TooLarge { cid, path, .. }) => {
                    bad.push((cid, path))
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok((n, bad))
    }
}

/// An import in progress: blocks written under `tmp/`, invisible until committed. Dropping
/// it without committing removes them.
#[derive(Debug)]
pub struct Staging {
    store: Blockstore,
    dir: PathBuf,
    staged: Vec<(Cid, u64)>,
    seen: HashSet<Cid>,
    _gc: File,
}

impl Staging {
    /// Blocks staged (new to the repo), with their sizes.
    pub fn staged(&self) -> &[(Cid, u64)] {
        &self.staged
    }

    /// Makes every staged block durable and visible: fsync each, rename into `blocks/`,
    /// fsync the directories. The shared GC lock is still held: pin before dropping.
    pub fn commit(&mut self) -> Result<(), RepoError> {
        let mut dirs = std::collections::BTreeSet::new();
        for (cid, _) in &self.staged {
            let src = self.dir.join(cid.store_key());
            File::open(&src).and_then(|f| f.sync_data()).map_err(io_err(&src))?;
            let dst = self.store.block_path(cid);
            let parent = dst.parent().expect("block path has a shard dir").to_path_buf();
            if dirs.insert(parent.clone()) {
                fs::create_dir_all(&parent).map_err(io_err(&parent))?;
            }
            fs::rename(&src, &dst).map_err(io_err(&dst))?;
        }
        dirs.insert(self.store.root.join("blocks"));
        for d in dirs {
            sync_dir(&d)?;
        }
        self.staged.clear();
        Ok(())
    }
}

impl BlockSink for Staging {
    fn put(&mut self, cid: &Cid, parts: &[&[u8]]) -> io::Result<()> {
        if !self.seen.insert(cid.to_v1()) || self.store.has(cid) {
            return Ok(());
        }
        let path = self.dir.join(cid.store_key());
        let mut f = File::create(&path)?;
        let mut len = 0;
        for p in parts {
            f.write_all(p)?;
            len += p.len() as u64;
        }
        self.staged.push((*cid, len));
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            tracing::warn!(target: "dawn::ipfs", dir = %self.dir.display(), error = %e, "could not remove staging directory");
        }
    }
}

fn sync_dir(d: &Path) -> Result<(), RepoError> {
    File::open(d).and_then(|f| f.sync_all()).map_err(io_err(d))
}

/// Replaces `path` with `data` atomically: a temp file beside it, fsync, rename, fsync of
/// the directory. (Not under `tmp/`, which GC clears while a state update may run.)
fn write_atomic(path: &Path, data: &[u8]) -> Result<(), RepoError> {
    let dir = path.parent().expect("repo files have a parent");
    let name = path.file_name().expect("repo files have a name").to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp-{:016x}", rand::random::<u64>()));
    let r = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()
    })();
    if let Err(e) = r {
        let _ = fs::remove_file(&tmp);
        return Err(RepoError::Io { path: tmp, source: e });
    }
    fs::rename(&tmp, path).map_err(io_err(path))?;
    sync_dir(dir)
}
