//! Reading UnixFS DAGs back: what a CID is (file, directory, symlink), path resolution
//! through directories, and byte ranges of files streamed block by block (a range skips
//! the subtrees it does not touch using each node's `blocksizes`).

use std::ops::Range;

use bytes::Bytes;

use super::blockstore::{BlockError, Blockstore};
use super::cid::{Cid, CODEC_RAW};
use super::dagpb::PbNode;
use super::unixfs::{DataType, UnixfsData, UnixfsError};

/// Deepest file DAG read (kubo's defaults reach depth 4 only for files over 200 TB).
pub const DAG_DEPTH_MAX: usize = 32;
/// Most path segments resolved.
pub const PATH_SEGMENTS_MAX: usize = 256;

/// One entry of a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// Its name.
    pub name: String,
    /// Its root.
    pub cid: Cid,
    /// Cumulative DAG size from the link.
    pub tsize: u64,
}

/// What a CID holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A file of `size` bytes.
    File {
        /// Its length.
        size: u64,
    },
    /// A basic directory.
    Directory {
        /// Its entries, in link order.
        entries: Vec<DirEntry>,
    },
    /// A symbolic link.
    Symlink {
        /// Its target.
        target: String,
    },
}

/// Why a DAG could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// A block is missing, corrupt or unreadable.
    #[error(transparent)]
    Block(#[from] BlockError),
    /// A block is not a UnixFS node.
    #[error("{cid} is not UnixFS: {source}")]
    Unixfs {
        /// The block.
        cid: Cid,
        /// Why.
        source: UnixfsError,
    },
    /// A path segment names nothing.
    #[error("no link named {name:?} under {parent}")]
    NoLink {
        /// The directory.
        parent: Cid,
        /// The segment.
        name: String,
    },
    /// A path continues below something that is not a directory.
    #[error("{0} is not a directory")]
    NotADirectory(Cid),
    /// A HAMT-sharded directory (not produced or read by this store).
    #[error("{0} is a HAMT-sharded directory, which this gateway does not read")]
    Sharded(Cid),
    /// Too many levels or path segments.
    #[error("DAG under {0} is deeper than {DAG_DEPTH_MAX} levels or the path has more than {PATH_SEGMENTS_MAX} segments")]
    TooDeep(Cid),
    /// Sizes in the DAG do not add up.
    #[error("inconsistent file DAG at {cid}: {why}")]
    Inconsistent {
        /// The node.
        cid: Cid,
        /// What does not add up.
        why: String,
    },
    /// The consumer of the bytes stopped (a client went away).
    #[error("reader stopped: {0}")]
    Stopped(String),
}

fn unixfs(cid: &Cid, node: &PbNode) -> Result<UnixfsData, ReadError> {
    let data = node.data.as_ref().ok_or(ReadError::Unixfs { cid: *cid, source: UnixfsError::NotUnixfs })?;
    UnixfsData::decode(data).map_err(|source| ReadError::Unixfs { cid: *cid, source })
}

/// What `cid` is.
pub fn stat(store: &Blockstore, cid: &Cid) -> Result<Node, ReadError> {
    let (data, node) = store.links(cid)?;
    let Some(node) = node else {
        return Ok(Node::File { size: data.len() as u64 });
    };
    let fs = unixfs(cid, &node)?;
    Ok(match fs.kind {
        DataType::File | DataType::Raw => {
            let inline = fs.data.as_ref().map_or(0, |d| d.len() as u64);
            let size = if node.links.is_empty() { inline } else { fs.filesize.unwrap_or(0) };
            Node::File { size }
        }
        DataType::Directory => Node::Directory {
            entries: node
                .links
                .iter()
                .map(|l| DirEntry {
                    name: l.name.clone().unwrap_or_default(),
                    cid: l.hash,
                    tsize: l.tsize.unwrap_or(0),
                })
                .collect(),
        },
        DataType::Symlink => Node::Symlink {
            target: String::from_utf8_lossy(fs.data.as_deref().unwrap_or_default()).into_owned(),
        },
        DataType::HamtShard => return Err(ReadError::Sharded(*cid)),
        DataType::Metadata => return Err(ReadError::Unixfs { cid: *cid, source: UnixfsError::BadType(3) }),
    })
}

/// Resolves `segments` under `root`; returns the target and every block passed through
/// (the root and each directory, in order; the target not included).
pub fn resolve(store: &Blockstore, root: &Cid, segments: &[&str]) -> Result<(Cid, Vec<Cid>), ReadError> {
    if segments.len() > PATH_SEGMENTS_MAX {
        return Err(ReadError::TooDeep(*root));
    }
    let mut cur = *root;
    let mut passed = Vec::new();
    for seg in segments {
        match stat(store, &cur)? {
            Node::Directory { entries } => {
                let e = entries
                    .iter()
                    .find(|e| e.name == *seg)
                    .ok_or_else(|| ReadError::NoLink { parent: cur, name: seg.to_string() })?;
                passed.push(cur);
                cur = e.cid;
            }
            _ => return Err(ReadError::NotADirectory(cur)),
        }
    }
    Ok((cur, passed))
}

/// Streams bytes `range` of the file at `cid` to `out`, in order, in block-sized pieces.
/// The range is clamped to the file.
pub fn read_file(
    store: &Blockstore,
    cid: &Cid,
    range: Range<u64>,
    out: &mut dyn FnMut(Bytes) -> Result<(), ReadError>,
) -> Result<u64, ReadError> {
    let mut sent = 0;
    read_rec(store, cid, range.start, range.end, 0, &mut |b| {
        sent += b.len() as u64;
        out(b)
    })?;
    Ok(sent)
}

/// Reads `[start, end)` relative to the node's own bytes; returns bytes produced.
fn read_rec(
    store: &Blockstore,
    cid: &Cid,
    start: u64,
    end: u64,
    depth: usize,
    out: &mut dyn FnMut(Bytes) -> Result<(), ReadError>,
) -> Result<u64, ReadError> {
    if depth > DAG_DEPTH_MAX {
        return Err(ReadError::TooDeep(*cid));
    }
    let (data, node) = store.links(cid)?;
    let Some(node) = node else {
        debug_assert_eq!(cid.codec(), CODEC_RAW);
        return emit(&data, start, end, out);
    };
    let fs = unixfs(cid, &node)?;
    if !matches!(fs.kind, DataType::File | DataType::Raw) {
        return Err(ReadError::Inconsistent { cid: *cid, why: "a file links to a non-file node".into() });
    }
    let inline = fs.data.map(Bytes::from).unwrap_or_default();
    let mut produced = emit(&inline, start, end, out)?;
    if node.links.len() != fs.blocksizes.len() {
        return Err(ReadError::Inconsistent {
            cid: *cid,
            why: format!("{} links but {} blocksizes", node.links.len(), fs.blocksizes.len()),
        });
    }
    let mut pos = inline.len() as u64;
    for (link, &bs) in node.links.iter().zip(&fs.blocksizes) {
        let child_end = pos
            .checked_add(bs)
            .ok_or_else(|| ReadError::Inconsistent { cid: *cid, why: "blocksizes overflow".into() })?;
        if child_end > start && pos < end {
            let s = start.max(pos) - pos;
            let e = end.min(child_end) - pos;
            let got = read_rec(store, &link.hash, s, e, depth + 1, out)?;
            if got != e - s {
                return Err(ReadError::Inconsistent {
                    cid: link.hash,
                    why: format!("child holds fewer bytes than the {bs} its parent's blocksizes say"),
                });
            }
            produced += got;
        }
        pos = child_end;
        if pos >= end {
            break;
        }
    }
    Ok(produced)
}

fn emit(
    data: &Bytes,
    start: u64,
    end: u64,
    out: &mut dyn FnMut(Bytes) -> Result<(), ReadError>,
) -> Result<u64, ReadError> {
    let len = data.len() as u64;
    if start >= len || end <= start {
        return Ok(0);
    }
    let e = end.min(len);
    out(data.slice(start as usize..e as usize))?;
    Ok(e - start)
}
