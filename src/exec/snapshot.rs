//! State snapshots: every row of the state at the end of one block, so a node restarts from
//! the newest snapshot and replays only the chain log after it.
//!
//! A snapshot is taken by cloning the row map (reference counts, no value bytes copied)
//! between blocks and written by a background thread, so execution goes on while it is
//! compressed and synced. Files are written to a temporary name, fsynced and renamed, so a
//! crash leaves either the whole snapshot or none; a snapshot that fails any check at load
//! is skipped with a warning, and an older one (or the genesis) is used instead.
//!
//! File layout (docs/FORMAT.md, "State snapshot"), little-endian:
//!
//! ```text
//! +--------+---------+-----------+----------+------------+--------------+-----------+
//! | magic  | version | block_num | block_id | state_root | results_root | rows      |
//! | 8      | 4       | 4         | 32       | 32         | 32           | 8         |
//! +--------+---------+-----------+----------+------------+--------------+-----------+
//! | body_checksum 8 (xxh3 of the uncompressed body) | header_checksum 8 (xxh3 of all before) |
//! +-------------------------------------------------+----------------------------------------+
//! | zstd frame of the body: per row, key 32 bytes, value length u32, value bytes   |
//! +--------------------------------------------------------------------------------+
//! ```

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use xxhash_rust::xxh3::Xxh3;

use crate::chain::{BlockId, BlockNum, Checksum256, Name};

use super::store::{RowKey, Store};
use super::ExecutedHead;

/// First bytes of a snapshot file.
pub const MAGIC: [u8; 8] = *b"DAWNSNAP";
/// Snapshot format version.
pub const VERSION: u32 = 1;
/// Size of the fixed header.
pub const HEADER_BYTES: usize = 136;
const _: () = assert!(HEADER_BYTES == 8 + 4 + 4 + 32 + 32 + 32 + 8 + 8 + 8);
/// Snapshots kept on disk (older ones are removed after a new one is written).
pub const SNAPSHOTS_KEPT: usize = 2;
/// Largest row value a snapshot may hold (as the store allows).
pub const VALUE_BYTES_MAX: usize = super::wasm::CODE_BYTES_MAX;

/// A snapshot that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not a valid snapshot.
    #[error("{path}: {detail}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
}

/// What a snapshot header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotHeader {
    /// The block the state is at the end of.
    pub block_num: BlockNum,
    /// That block's id.
    pub block_id: BlockId,
    /// The state root after it.
    pub state_root: Checksum256,
    /// Its results root.
    pub results_root: Checksum256,
    /// Rows in the body.
    pub rows: u64,
    /// xxh3 of the uncompressed body.
    pub body_checksum: u64,
}

impl SnapshotHeader {
    /// Its encoding.
    pub fn encode(&self) -> [u8; HEADER_BYTES] {
        let mut b = [0u8; HEADER_BYTES];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..12].copy_from_slice(&VERSION.to_le_bytes());
        b[12..16].copy_from_slice(&self.block_num.0.to_le_bytes());
        b[16..48].copy_from_slice(&self.block_id.0 .0);
        b[48..80].copy_from_slice(&self.state_root.0);
        b[80..112].copy_from_slice(&self.results_root.0);
        b[112..120].copy_from_slice(&self.rows.to_le_bytes());
        b[120..128].copy_from_slice(&self.body_checksum.to_le_bytes());
        let sum = xxhash_rust::xxh3::xxh3_64(&b[..128]);
        b[128..136].copy_from_slice(&sum.to_le_bytes());
        b
    }

    /// Decodes and checks a header.
    pub fn decode(b: &[u8]) -> Result<Self, String> {
        if b.len() < HEADER_BYTES {
            return Err(format!("{} bytes, shorter than a header", b.len()));
        }
        if b[0..8] != MAGIC {
            return Err("not a snapshot (bad magic)".into());
        }
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        let c32 = |i: usize| Checksum256(b[i..i + 32].try_into().expect("32 bytes"));
        if u64_at(128) != xxhash_rust::xxh3::xxh3_64(&b[..128]) {
            return Err("header checksum mismatch".into());
        }
        if u32_at(8) != VERSION {
            return Err(format!("format version {}; this node reads version {VERSION}", u32_at(8)));
        }
        Ok(Self {
            block_num: BlockNum(u32_at(12)),
            block_id: BlockId(c32(16)),
            state_root: c32(48),
            results_root: c32(80),
            rows: u64_at(112),
            body_checksum: u64_at(120),
        })
    }
}

/// The file name of the snapshot at `block`.
pub fn file_name(block: BlockNum) -> String {
    format!("snapshot-{:010}.bin", block.0)
}

fn parse_name(name: &str) -> Option<u32> {
    name.strip_prefix("snapshot-")?.strip_suffix(".bin")?.parse().ok()
}

/// Snapshots in `dir`, newest first.
pub fn list(dir: &Path) -> Vec<(BlockNum, PathBuf)> {
    let mut v: Vec<(BlockNum, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| parse_name(&e.file_name().to_string_lossy()).map(|n| (BlockNum(n), e.path())))
        .collect();
    v.sort_by_key(|x| std::cmp::Reverse(x.0));
    v
}

/// Rows captured for a snapshot: cheap clones of the store's values.
pub type Rows = Vec<(RowKey, Bytes)>;

/// Captures the rows of `store` (between blocks), in no particular order: [`write`] sorts
/// them off the executor's path.
pub fn capture(store: &Store) -> Rows {
    store.iter().map(|(k, v)| (*k, v.clone())).collect()
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> SnapshotError + '_ {
    move |source| SnapshotError::Io { path: path.to_path_buf(), source }
}

/// Writes a snapshot of `rows` (sorted here) at `head` (block `id`) into `dir`, durably,
/// and removes all but the newest [`SNAPSHOTS_KEPT`].
pub fn write(dir: &Path, head: ExecutedHead, id: BlockId, rows: &mut Rows) -> Result<PathBuf, SnapshotError> {
    rows.sort_unstable_by_key(|(k, _)| *k);
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let path = dir.join(file_name(head.num));
    let tmp = dir.join(format!("{}.tmp", file_name(head.num)));
    // A write cut short by a crash leaves its temporary file; only one snapshot is written
    // at a time, so any left now is such debris.
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snapshot-") && name.ends_with(".bin.tmp") {
            let _ = std::fs::remove_file(e.path());
        }
    }
    let mut body_hash = Xxh3::new();
    for (k, v) in rows.iter() {
        body_hash.update(&k.encode());
        body_hash.update(&(v.len() as u32).to_le_bytes());
        body_hash.update(v);
    }
    let header = SnapshotHeader {
        block_num: head.num,
        block_id: id,
        state_root: head.state_root,
        results_root: head.results_root,
        rows: rows.len() as u64,
        body_checksum: body_hash.digest(),
    };
    let file = File::create(&tmp).map_err(io(&tmp))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    w.write_all(&header.encode()).map_err(io(&tmp))?;
    let mut z = zstd::Encoder::new(w, 1).map_err(io(&tmp))?;
    for (k, v) in rows.iter() {
        z.write_all(&k.encode()).map_err(io(&tmp))?;
        z.write_all(&(v.len() as u32).to_le_bytes()).map_err(io(&tmp))?;
        z.write_all(v).map_err(io(&tmp))?;
    }
    let w = z.finish().map_err(io(&tmp))?;
    let file = w.into_inner().map_err(|e| SnapshotError::Io { path: tmp.clone(), source: e.into_error() })?;
    file.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))?;
    for (_, old) in list(dir).into_iter().skip(SNAPSHOTS_KEPT) {
        if let Err(e) = std::fs::remove_file(&old) {
            tracing::warn!(target: "dawn::exec::snapshot", file = %old.display(), error = %e, "could not remove an old snapshot");
        }
    }
    Ok(path)
}

/// Reads and checks a snapshot: header, every row, the body checksum, and the state root
/// recomputed from the rows.
pub fn read(path: &Path) -> Result<(SnapshotHeader, Store), SnapshotError> {
    let corrupt = |detail: String| SnapshotError::Corrupt { path: path.to_path_buf(), detail };
    let mut file = BufReader::with_capacity(1 << 20, File::open(path).map_err(io(path))?);
    let mut hb = [0u8; HEADER_BYTES];
    file.read_exact(&mut hb).map_err(|e| corrupt(format!("header: {e}")))?;
    let header = SnapshotHeader::decode(&hb).map_err(corrupt)?;
    let mut z = zstd::Decoder::with_buffer(file).map_err(io(path))?;
    let mut body_hash = Xxh3::new();
    let mut rows = Vec::new();
    let mut previous: Option<RowKey> = None;
    for i in 0..header.rows {
        let mut kb = [0u8; 36];
        z.read_exact(&mut kb).map_err(|e| corrupt(format!("row {i}: {e}")))?;
        let len = u32::from_le_bytes(kb[32..36].try_into().expect("4 bytes")) as usize;
        if len > VALUE_BYTES_MAX {
            return Err(corrupt(format!("row {i}: value of {len} bytes, over {VALUE_BYTES_MAX}")));
        }
        let mut value = vec![0u8; len];
        z.read_exact(&mut value).map_err(|e| corrupt(format!("row {i}: {e}")))?;
        body_hash.update(&kb);
        body_hash.update(&value);
        let u = |j: usize| u64::from_le_bytes(kb[j..j + 8].try_into().expect("8 bytes"));
        let key = RowKey { code: Name(u(0)), scope: Name(u(8)), table: Name(u(16)), id: u(24) };
        if previous.is_some_and(|p| p >= key) {
            return Err(corrupt(format!("row {i}: keys out of order")));
        }
        previous = Some(key);
        rows.push((key, Some(Bytes::from(value))));
    }
    if z.read(&mut [0u8; 1]).map_err(|e| corrupt(format!("after the rows: {e}")))? != 0 {
        return Err(corrupt("bytes after the last row".into()));
    }
    if body_hash.digest() != header.body_checksum {
        return Err(corrupt("body checksum mismatch".into()));
    }
    let mut store = Store::new();
    store.commit(rows);
    if store.root() != header.state_root {
        return Err(corrupt(format!(
            "rows hash to state root {}, the header says {}",
            store.root(),
            header.state_root
        )));
    }
    Ok((header, store))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_bytes_are_pinned() {
        let h = SnapshotHeader {
            block_num: BlockNum(7),
            block_id: BlockId(Checksum256([1; 32])),
            state_root: Checksum256([2; 32]),
            results_root: Checksum256([3; 32]),
            rows: 9,
            body_checksum: 0x0102_0304_0506_0708,
        };
        let b = h.encode();
        assert_eq!(&b[0..16], b"DAWNSNAP\x01\x00\x00\x00\x07\x00\x00\x00");
        assert_eq!(SnapshotHeader::decode(&b), Ok(h));
        let mut bad = b;
        bad[20] ^= 1;
        assert_eq!(SnapshotHeader::decode(&bad), Err("header checksum mismatch".into()));
    }
}
