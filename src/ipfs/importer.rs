//! UnixFS import identical to kubo's `ipfs add` defaults, streaming.
//!
//! Files are cut into fixed chunks of [`CHUNK_SIZE_DEFAULT`] bytes (the last one shorter)
//! and arranged as boxo's *balanced* layout: all leaves at the same depth, each internal
//! node holding at most [`MAX_LINKS_DEFAULT`] children, filled left to right, and a file
//! of one chunk is just its leaf. With CIDv0 (the default) leaves are dag-pb nodes of
//! UnixFS type `File`; with `--cid-version 1` leaves are raw blocks (`--raw-leaves`
//! implied, as in kubo) and every CID is v1. Internal nodes carry `filesize` and one
//! `blocksizes` entry per child; links have an empty name and `Tsize`, the child's
//! cumulative DAG size.
//!
//! [`FileImporter`] is push-based: [`FileImporter::write`] bytes as they arrive and
//! [`FileImporter::finish`]. Memory is bounded by one chunk plus at most
//! `MAX_LINKS` pending links per tree level, whatever the file size. Blocks go to a
//! [`BlockSink`] as they are made.
//!
//! Directories ([`DirBuilder`], [`import_path`]) are basic UnixFS directories: links
//! sorted by name (bytewise), data `Type=Directory`. Kubo switches to a HAMT-sharded
//! directory above 256 KiB of estimated links; such directories are refused here with
//! [`ImportError::DirectoryTooLarge`] rather than given a CID kubo would not produce.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::cid::{put_uvarint, uvarint_len, Cid, Digest, Version, CODEC_DAG_PB, CODEC_RAW};
use super::dagpb::{PbLink, PbNode};
use super::unixfs::{DataType, UnixfsData};

/// kubo's default chunk size (`size-262144`).
pub const CHUNK_SIZE_DEFAULT: usize = 256 * 1024;
/// boxo's default links per internal node (8 KiB / 47 bytes per link).
pub const MAX_LINKS_DEFAULT: usize = 174;
/// kubo's threshold above which a directory becomes a HAMT shard: the sum over links of
/// name length plus binary CID length.
pub const BASIC_DIRECTORY_BYTES_MAX: usize = 256 * 1024;

/// How to import, with kubo's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportOptions {
    /// CID version of dag-pb nodes.
    pub cid_version: Version,
    /// Leaves as raw blocks (always CIDv1) instead of dag-pb `File` nodes.
    pub raw_leaves: bool,
    /// Bytes per chunk.
    pub chunk_size: usize,
    /// Links per internal node.
    pub max_links: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            cid_version: Version::V0,
            raw_leaves: false,
            chunk_size: CHUNK_SIZE_DEFAULT,
            max_links: MAX_LINKS_DEFAULT,
        }
    }
}

impl ImportOptions {
    /// kubo's `--cid-version 1`: CIDv1 with raw leaves.
    pub fn cid_v1() -> Self {
        Self { cid_version: Version::V1, raw_leaves: true, ..Self::default() }
    }
}

/// Receives each block as it is made. `parts` concatenated are the block.
pub trait BlockSink {
    /// Stores a block (or just counts it).
    fn put(&mut self, cid: &Cid, parts: &[&[u8]]) -> io::Result<()>;
}

/// A sink that keeps nothing (`ipfs add --only-hash`).
#[derive(Debug, Default)]
pub struct NullSink {
    /// Blocks seen.
    pub blocks: u64,
    /// Their bytes.
    pub bytes: u64,
}

impl BlockSink for NullSink {
    fn put(&mut self, _cid: &Cid, parts: &[&[u8]]) -> io::Result<()> {
        self.blocks += 1;
        self.bytes += parts.iter().map(|p| p.len() as u64).sum::<u64>();
        Ok(())
    }
}

/// A sink that keeps every block in memory, in the order made (tests, small uploads).
#[derive(Debug, Default)]
pub struct MemorySink {
    /// `(cid, block)` pairs.
    pub blocks: Vec<(Cid, Vec<u8>)>,
}

impl BlockSink for MemorySink {
    fn put(&mut self, cid: &Cid, parts: &[&[u8]]) -> io::Result<()> {
        self.blocks.push((*cid, parts.concat()));
        Ok(())
    }
}

/// A DAG made by an import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Imported {
    /// Its root.
    pub cid: Cid,
    /// File bytes (0 for a directory).
    pub size: u64,
    /// Cumulative DAG size: the bytes of every block under the root, root included, as
    /// kubo's link `Tsize` counts them (a block reached twice counts twice).
    pub tsize: u64,
}

/// Why an import failed. Nothing is pinned by a failed import.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// Reading the input or writing a block failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A directory would be HAMT-sharded by kubo.
    #[error("directory {path} has {bytes} bytes of links; kubo shards directories above {BASIC_DIRECTORY_BYTES_MAX} (HAMT), which this importer does not produce")]
    DirectoryTooLarge {
        /// The directory.
        path: PathBuf,
        /// Estimated link bytes.
        bytes: usize,
    },
    /// Two entries with one name (e.g. `add a/x b/x -w`).
    #[error("two entries named {0:?} in one directory")]
    DuplicateName(String),
    /// A file name that is not UTF-8 (UnixFS names are strings).
    #[error("file name {0:?} is not UTF-8")]
    BadName(PathBuf),
    /// Neither a regular file, a directory nor a symlink.
    #[error("{0} is not a regular file, directory or symlink")]
    Unsupported(PathBuf),
    /// A directory given without `-r`.
    #[error("{0} is a directory; use -r to add directories")]
    IsDirectory(PathBuf),
}

impl ImportError {
    fn io(path: &Path) -> impl FnOnce(io::Error) -> Self + '_ {
        move |source| Self::Io { path: path.to_path_buf(), source }
    }
}

#[derive(Clone, Copy)]
struct Child {
    cid: Cid,
    filesize: u64,
    tsize: u64,
}

/// Streams a file into a balanced UnixFS DAG.
pub struct FileImporter<'s, S: BlockSink + ?Sized> {
    opts: ImportOptions,
    sink: &'s mut S,
    buf: Vec<u8>,
    /// `levels[h]`: finished nodes of height `h` waiting for a parent.
    levels: Vec<Vec<Child>>,
    size: u64,
}

impl<'s, S: BlockSink + ?Sized> FileImporter<'s, S> {
    /// A new import into `sink`.
    pub fn new(opts: ImportOptions, sink: &'s mut S) -> Self {
        assert!(opts.chunk_size > 0 && opts.max_links >= 2, "chunk size and link limit must be usable");
        Self { opts, sink, buf: Vec::with_capacity(opts.chunk_size), levels: vec![Vec::new()], size: 0 }
    }

    /// Bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        self.size
    }

    /// Adds bytes.
    pub fn write(&mut self, mut data: &[u8]) -> io::Result<()> {
        let cs = self.opts.chunk_size;
        while !data.is_empty() {
            if self.buf.is_empty() && data.len() >= cs {
                let (chunk, rest) = data.split_at(cs);
                self.leaf(chunk)?;
                data = rest;
                continue;
            }
            let take = (cs - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() == cs {
                let chunk = std::mem::take(&mut self.buf);
                self.leaf(&chunk)?;
                self.buf = chunk;
                self.buf.clear();
            }
        }
        Ok(())
    }

    fn leaf(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.size += chunk.len() as u64;
        let child = make_leaf(&self.opts, chunk, self.sink)?;
        self.push(0, child)
    }

    fn push(&mut self, level: usize, child: Child) -> io::Result<()> {
        if self.levels.len() <= level {
            self.levels.push(Vec::new());
        }
        if self.levels[level].len() == self.opts.max_links {
            let full = std::mem::take(&mut self.levels[level]);
            let parent = make_internal(&self.opts, &full, self.sink)?;
            self.push(level + 1, parent)?;
        }
        self.levels[level].push(child);
        Ok(())
    }

    /// Flushes the last chunk and the pending levels; returns the root.
    pub fn finish(mut self) -> io::Result<Imported> {
        if !self.buf.is_empty() || self.size == 0 && self.levels[0].is_empty() {
            let chunk = std::mem::take(&mut self.buf);
            self.leaf(&chunk)?;
        }
        // Close each level into a parent until one node remains at the top.
        let mut level = 0;
        loop {
            let higher = self.levels[level + 1..].iter().any(|l| !l.is_empty());
            let here = std::mem::take(&mut self.levels[level]);
            if !higher && here.len() == 1 {
                let root = here[0];
                return Ok(Imported { cid: root.cid, size: self.size, tsize: root.tsize });
            }
            if !here.is_empty() {
                let parent = make_internal(&self.opts, &here, self.sink)?;
                if self.levels.len() <= level + 1 {
                    self.levels.push(Vec::new());
                }
                // The parent may overflow the next level: use push's rule.
                self.push(level + 1, parent)?;
            }
            level += 1;
        }
    }
}

fn make_leaf<S: BlockSink + ?Sized>(opts: &ImportOptions, chunk: &[u8], sink: &mut S) -> io::Result<Child> {
    if opts.raw_leaves {
        let cid = Cid::v1(CODEC_RAW, Digest::of(chunk));
        sink.put(&cid, &[chunk])?;
        let n = chunk.len() as u64;
        return Ok(Child { cid, filesize: n, tsize: n });
    }
    // PBNode{Data: UnixFS{Type: File, Data: chunk, filesize: len}}, written around the
    // chunk without copying it: prefix ‖ chunk ‖ suffix.
    let n = chunk.len() as u64;
    let mut suffix = vec![0x18];
    put_uvarint(&mut suffix, n);
    let data_field_len = if chunk.is_empty() { 0 } else { 1 + uvarint_len(n) + chunk.len() };
    let unixfs_len = 2 + data_field_len + suffix.len();
    let mut prefix = vec![0x0a];
    put_uvarint(&mut prefix, unixfs_len as u64);
    prefix.extend_from_slice(&[0x08, 0x02]);
    if !chunk.is_empty() {
        prefix.push(0x12);
        put_uvarint(&mut prefix, n);
    }
    let mut h = Sha256::new();
    h.update(&prefix);
    h.update(chunk);
    h.update(&suffix);
    let digest = Digest(h.finalize().into());
    let cid = match opts.cid_version {
        Version::V0 => Cid::v0(digest),
        Version::V1 => Cid::v1(CODEC_DAG_PB, digest),
    };
    sink.put(&cid, &[&prefix, chunk, &suffix])?;
    let block_len = (prefix.len() + chunk.len() + suffix.len()) as u64;
    Ok(Child { cid, filesize: n, tsize: block_len })
}

fn make_internal<S: BlockSink + ?Sized>(
    opts: &ImportOptions,
    children: &[Child],
    sink: &mut S,
) -> io::Result<Child> {
    let mut fs = UnixfsData::new(DataType::File);
    fs.filesize = Some(children.iter().map(|c| c.filesize).sum());
    fs.blocksizes = children.iter().map(|c| c.filesize).collect();
    let node = PbNode {
        links: children
            .iter()
            .map(|c| PbLink { hash: c.cid, name: Some(String::new()), tsize: Some(c.tsize) })
            .collect(),
        data: Some(fs.encode()),
    };
    let block = node.encode();
    let cid = Cid::of(opts.cid_version, CODEC_DAG_PB, &block);
    sink.put(&cid, &[&block])?;
    let tsize = block.len() as u64 + children.iter().map(|c| c.tsize).sum::<u64>();
    Ok(Child { cid, filesize: fs.filesize.unwrap_or(0), tsize })
}

/// Imports everything `r` yields as one file.
pub fn import_reader<S: BlockSink + ?Sized>(
    r: &mut dyn Read,
    opts: ImportOptions,
    sink: &mut S,
) -> io::Result<Imported> {
    let mut imp = FileImporter::new(opts, sink);
    let mut buf = vec![0u8; opts.chunk_size.max(64 * 1024)];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        imp.write(&buf[..n])?;
    }
    imp.finish()
}

/// Imports a byte slice as one file.
pub fn import_bytes<S: BlockSink + ?Sized>(
    data: &[u8],
    opts: ImportOptions,
    sink: &mut S,
) -> io::Result<Imported> {
    let mut imp = FileImporter::new(opts, sink);
    imp.write(data)?;
    imp.finish()
}

/// A basic UnixFS directory being built.
#[derive(Debug, Default)]
pub struct DirBuilder {
    entries: Vec<(String, Imported)>,
}

impl DirBuilder {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an entry; names must be unique.
    pub fn add(&mut self, name: &str, entry: Imported) -> Result<(), ImportError> {
        if self.entries.iter().any(|(n, _)| n == name) {
            return Err(ImportError::DuplicateName(name.to_string()));
        }
        self.entries.push((name.to_string(), entry));
        Ok(())
    }

    /// Writes the directory node; `path` names it in errors.
    pub fn finish<S: BlockSink + ?Sized>(
        mut self,
        opts: &ImportOptions,
        sink: &mut S,
        path: &Path,
    ) -> Result<Imported, ImportError> {
        let estimate: usize = self.entries.iter().map(|(n, e)| n.len() + e.cid.to_bytes().len()).sum();
        if estimate > BASIC_DIRECTORY_BYTES_MAX {
            return Err(ImportError::DirectoryTooLarge { path: path.to_path_buf(), bytes: estimate });
        }
        self.entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let node = PbNode {
            links: self
                .entries
                .iter()
                .map(|(n, e)| PbLink { hash: e.cid, name: Some(n.clone()), tsize: Some(e.tsize) })
                .collect(),
            data: Some(UnixfsData::new(DataType::Directory).encode()),
        };
        let block = node.encode();
        let cid = Cid::of(opts.cid_version, CODEC_DAG_PB, &block);
        sink.put(&cid, &[&block]).map_err(ImportError::io(path))?;
        let tsize = block.len() as u64 + self.entries.iter().map(|(_, e)| e.tsize).sum::<u64>();
        Ok(Imported { cid, size: 0, tsize })
    }
}

/// What [`import_path`] reports for each file and directory, in kubo's output order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    /// The path as kubo prints it (`dir/file`; empty for a wrapping directory).
    pub name: String,
    /// Its DAG.
    pub entry: Imported,
}

/// Options of [`import_path`] beyond the DAG format.
#[derive(Debug, Clone, Copy, Default)]
pub struct WalkOptions {
    /// Add directories (`-r`).
    pub recursive: bool,
    /// Include files whose names start with `.` inside directories (`-H`).
    pub hidden: bool,
}

/// Imports `paths` as `ipfs add [-r] [-w]` does. `on_added` is called for every file as it
/// is imported and then for every directory, children before parents (kubo's order).
/// With `wrap`, the paths are wrapped in a directory, reported last with an empty name.
/// Returns the last root (the wrapper with `wrap`).
pub fn import_paths<S: BlockSink + ?Sized>(
    paths: &[PathBuf],
    wrap: bool,
    opts: ImportOptions,
    walk: WalkOptions,
    sink: &mut S,
    on_added: &mut dyn FnMut(&Added),
) -> Result<Option<Imported>, ImportError> {
    let mut wrapper = DirBuilder::new();
    let mut last = None;
    let mut dirs = Vec::new();
    for p in paths {
        let name = base_name(p)?;
        let e = import_path(p, &name, opts, walk, sink, on_added, &mut dirs)?;
        if wrap {
            wrapper.add(&name, e)?;
        }
        last = Some(e);
    }
    // kubo prints directories after all files, children first.
    for d in dirs {
        on_added(&d);
    }
    if wrap {
        let w = wrapper.finish(&opts, sink, Path::new(""))?;
        on_added(&Added { name: String::new(), entry: w });
        return Ok(Some(w));
    }
    Ok(last)
}

fn base_name(p: &Path) -> Result<String, ImportError> {
    let name = p.file_name().map(|n| n.to_os_string()).unwrap_or_else(|| p.as_os_str().to_os_string());
    name.into_string().map_err(|_| ImportError::BadName(p.to_path_buf()))
}

/// Imports one file, symlink or (with `walk.recursive`) directory tree, printed as `name`.
fn import_path<S: BlockSink + ?Sized>(
    path: &Path,
    name: &str,
    opts: ImportOptions,
    walk: WalkOptions,
    sink: &mut S,
    on_added: &mut dyn FnMut(&Added),
    dirs: &mut Vec<Added>,
) -> Result<Imported, ImportError> {
    let meta = fs::symlink_metadata(path).map_err(ImportError::io(path))?;
    let ft = meta.file_type();
    if ft.is_symlink() {
        let target = fs::read_link(path).map_err(ImportError::io(path))?;
        let target = target.into_os_string().into_string().map_err(|_| ImportError::BadName(path.into()))?;
        let mut d = UnixfsData::new(DataType::Symlink);
        d.data = Some(target.into_bytes());
        let block = PbNode { links: Vec::new(), data: Some(d.encode()) }.encode();
        let cid = Cid::of(opts.cid_version, CODEC_DAG_PB, &block);
        sink.put(&cid, &[&block]).map_err(ImportError::io(path))?;
        let e = Imported { cid, size: 0, tsize: block.len() as u64 };
        on_added(&Added { name: name.to_string(), entry: e });
        return Ok(e);
    }
    if ft.is_file() {
        let mut f = fs::File::open(path).map_err(ImportError::io(path))?;
        let e = import_reader(&mut f, opts, sink).map_err(ImportError::io(path))?;
        on_added(&Added { name: name.to_string(), entry: e });
        return Ok(e);
    }
    if !ft.is_dir() {
        return Err(ImportError::Unsupported(path.to_path_buf()));
    }
    if !walk.recursive {
        return Err(ImportError::IsDirectory(path.to_path_buf()));
    }
    let mut names = Vec::new();
    for ent in fs::read_dir(path).map_err(ImportError::io(path))? {
        let ent = ent.map_err(ImportError::io(path))?;
        let n = ent.file_name().into_string().map_err(|_| ImportError::BadName(ent.path()))?;
        if !walk.hidden && n.starts_with('.') {
            continue;
        }
        names.push(n);
    }
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    let mut dir = DirBuilder::new();
    let mut my_dirs = Vec::new();
    for n in names {
        let child = path.join(&n);
        let e = import_path(&child, &format!("{name}/{n}"), opts, walk, sink, on_added, &mut my_dirs)?;
        dir.add(&n, e)?;
    }
    let e = dir.finish(&opts, sink, path)?;
    dirs.extend(my_dirs);
    dirs.push(Added { name: name.to_string(), entry: e });
    Ok(e)
}
