//! CARv1 (content-addressed archives), written and read.
//!
//! ```text
//! varint(len(header)) header                  header = dag-cbor {"roots": [cid…], "version": 1}
//! varint(len(cid) + len(block)) cid block     repeated, one per block
//! ```
//! The header's dag-cbor is written and read by hand: the only shape allowed is that map
//! of two keys (canonical order: `roots`, then `version`), CIDs as tag 42 over a byte
//! string with a leading 0x00. The reader checks every block against its CID.
//!
//! Spec: <https://ipld.io/specs/transport/car/carv1/>.

use std::io::{self, Read, Write};

use super::blockstore::{BlockError, Blockstore};
use super::cid::{get_uvarint, put_uvarint, Cid, CidError};
use super::dagpb::BLOCK_BYTES_MAX;

/// Largest header accepted.
pub const HEADER_BYTES_MAX: usize = 64 * 1024;
/// Most roots accepted in a header.
pub const ROOTS_MAX: usize = 1024;

/// Why a CAR could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CarError {
    /// Reading or writing failed.
    #[error("CAR I/O error: {0}")]
    Io(#[from] io::Error),
    /// The header is not `{"roots": [...], "version": 1}`.
    #[error("bad CAR header: {0}")]
    BadHeader(&'static str),
    /// A section's length or CID is malformed.
    #[error("bad CAR section at byte {offset}: {what}")]
    BadSection {
        /// Offset of the section.
        offset: u64,
        /// What is wrong.
        what: String,
    },
    /// A block does not hash to its CID.
    #[error("block {cid} at byte {offset} does not match its CID")]
    Mismatch {
        /// The CID claimed.
        cid: Cid,
        /// Offset of the section.
        offset: u64,
    },
    /// A CID in the header is malformed.
    #[error("bad CID in CAR header: {0}")]
    Cid(#[from] CidError),
    /// A block of the DAG could not be read from the store.
    #[error(transparent)]
    Block(#[from] BlockError),
}

/// The header section (with its length prefix) for `roots`.
pub fn header(roots: &[Cid]) -> Vec<u8> {
    let mut h = vec![0xa2, 0x65];
    h.extend_from_slice(b"roots");
    cbor_head(&mut h, 4, roots.len() as u64);
    for r in roots {
        let b = r.to_bytes();
        h.extend_from_slice(&[0xd8, 0x2a]); // tag 42
        cbor_head(&mut h, 2, b.len() as u64 + 1);
        h.push(0x00);
        h.extend_from_slice(&b);
    }
    h.push(0x67);
    h.extend_from_slice(b"version");
    h.push(0x01);
    let mut out = Vec::with_capacity(h.len() + 2);
    put_uvarint(&mut out, h.len() as u64);
    out.extend_from_slice(&h);
    out
}

fn cbor_head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    match n {
        0..=23 => out.push(m | n as u8),
        24..=0xff => out.extend_from_slice(&[m | 24, n as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        _ => {
            out.push(m | 26);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        }
    }
}

/// The length prefix and CID of a block section; the block's bytes follow.
pub fn section_prefix(cid: &Cid, block_len: usize) -> Vec<u8> {
    let c = cid.to_bytes();
    let mut out = Vec::with_capacity(c.len() + 4);
    put_uvarint(&mut out, (c.len() + block_len) as u64);
    out.extend_from_slice(&c);
    out
}

/// Writes the DAG under `root` (every block once, depth-first) as a CAR with that root.
/// Returns the bytes written.
pub fn export(store: &Blockstore, root: &Cid, w: &mut dyn Write) -> Result<u64, CarError> {
    let h = header(&[*root]);
    w.write_all(&h)?;
    let mut n = h.len() as u64;
    let mut io_err = None;
    store
        .walk(root, &mut |cid, data| {
            let p = section_prefix(cid, data.len());
            if let Err(e) = w.write_all(&p).and_then(|_| w.write_all(data)) {
                io_err = Some(e);
                return Err(BlockError::NotFound(*cid)); // stops the walk; replaced below
            }
            n += (p.len() + data.len()) as u64;
            Ok(())
        })
        .map_err(|e| match io_err.take() {
            Some(io) => CarError::Io(io),
            None => CarError::Block(e),
        })?;
    Ok(n)
}

/// Streams a CAR: roots first, then each block verified.
pub struct CarReader<R: Read> {
    r: R,
    offset: u64,
    roots: Vec<Cid>,
}

impl<R: Read> CarReader<R> {
    /// Reads and checks the header.
    pub fn new(mut r: R) -> Result<Self, CarError> {
        let (len, used) = read_varint(&mut r)?.ok_or(CarError::BadHeader("empty input"))?;
        if len == 0 || len > HEADER_BYTES_MAX as u64 {
            return Err(CarError::BadHeader("header length out of range"));
        }
        let mut h = vec![0u8; len as usize];
        r.read_exact(&mut h)?;
        let roots = parse_header(&h)?;
        Ok(Self { r, offset: used as u64 + len, roots })
    }

    /// The roots named in the header.
    pub fn roots(&self) -> &[Cid] {
        &self.roots
    }

    /// The next block, verified; `None` at a clean end.
    pub fn next_block(&mut self) -> Result<Option<(Cid, Vec<u8>)>, CarError> {
        let at = self.offset;
        let Some((len, used)) = read_varint(&mut self.r)? else {
            return Ok(None);
        };
        let bad = |what: String| CarError::BadSection { offset: at, what };
        if len == 0 || len > (BLOCK_BYTES_MAX + 64) as u64 {
            return Err(bad(format!("section length {len} out of range")));
        }
        let mut s = vec![0u8; len as usize];
        self.r.read_exact(&mut s).map_err(|e| bad(format!("truncated: {e}")))?;
        let (cid, n) = Cid::read_bytes(&s).map_err(|e| bad(e.to_string()))?;
        let data = s.split_off(n);
        if !cid.matches(&data) {
            return Err(CarError::Mismatch { cid, offset: at });
        }
        self.offset += used as u64 + len;
        Ok(Some((cid, data)))
    }
}

/// A CAR's roots and its verified blocks in file order.
pub type CarContents = (Vec<Cid>, Vec<(Cid, Vec<u8>)>);

/// Reads a whole CAR from memory: roots and verified blocks.
pub fn read_all(bytes: &[u8]) -> Result<CarContents, CarError> {
    let mut r = CarReader::new(bytes)?;
    let mut blocks = Vec::new();
    while let Some(b) = r.next_block()? {
        blocks.push(b);
    }
    Ok((r.roots.clone(), blocks))
}

/// Reads a varint from a stream; `None` at end of input before its first byte.
fn read_varint<R: Read>(r: &mut R) -> Result<Option<(u64, usize)>, CarError> {
    let mut buf = Vec::with_capacity(9);
    loop {
        let mut b = [0u8];
        match r.read(&mut b) {
            Ok(0) if buf.is_empty() => return Ok(None),
            Ok(0) => return Err(CarError::BadHeader("truncated varint")),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
        buf.push(b[0]);
        if b[0] & 0x80 == 0 || buf.len() == 9 {
            break;
        }
    }
    let mut pos = 0;
    let v = get_uvarint(&buf, &mut pos).map_err(|_| CarError::BadHeader("bad varint"))?;
    Ok(Some((v, buf.len())))
}

struct Cbor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Cbor<'_> {
    fn head(&mut self) -> Result<(u8, u64), CarError> {
        let e = CarError::BadHeader("truncated CBOR");
        let first = *self.b.get(self.pos).ok_or(e)?;
        self.pos += 1;
        let major = first >> 5;
        let info = first & 31;
        let n = match info {
            0..=23 => u64::from(info),
            24..=27 => {
                let w = 1usize << (info - 24);
                let s = self.b.get(self.pos..self.pos + w).ok_or(CarError::BadHeader("truncated CBOR"))?;
                self.pos += w;
                s.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x))
            }
            _ => return Err(CarError::BadHeader("indefinite or reserved CBOR length")),
        };
        Ok((major, n))
    }
    fn take(&mut self, n: u64) -> Result<&[u8], CarError> {
        let n = usize::try_from(n).map_err(|_| CarError::BadHeader("CBOR length too large"))?;
        let end = self.pos.checked_add(n).filter(|&e| e <= self.b.len());
        let end = end.ok_or(CarError::BadHeader("CBOR string runs past the header"))?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
}

/// Parses the header map; returns the roots.
pub fn parse_header(h: &[u8]) -> Result<Vec<Cid>, CarError> {
    let mut c = Cbor { b: h, pos: 0 };
    let (major, n) = c.head()?;
    if major != 5 || n != 2 {
        return Err(CarError::BadHeader("not a map of two entries"));
    }
    let mut roots = None;
    let mut version = None;
    for _ in 0..2 {
        let (m, len) = c.head()?;
        if m != 3 {
            return Err(CarError::BadHeader("map key is not a string"));
        }
        match c.take(len)? {
            b"roots" if roots.is_none() => {
                let (m, count) = c.head()?;
                if m != 4 || count as usize > ROOTS_MAX {
                    return Err(CarError::BadHeader("roots is not an array of at most 1024 CIDs"));
                }
                let mut v = Vec::new();
                for _ in 0..count {
                    if c.head()? != (6, 42) {
                        return Err(CarError::BadHeader("root is not a CID (tag 42)"));
                    }
                    let (m, len) = c.head()?;
                    if m != 2 {
                        return Err(CarError::BadHeader("CID is not a byte string"));
                    }
                    let b = c.take(len)?;
                    if b.first() != Some(&0) {
                        return Err(CarError::BadHeader("CID bytes lack the 0x00 multibase prefix"));
                    }
                    v.push(Cid::from_bytes(&b[1..])?);
                }
                roots = Some(v);
            }
            b"version" if version.is_none() => {
                let (m, v) = c.head()?;
                if m != 0 {
                    return Err(CarError::BadHeader("version is not an integer"));
                }
                version = Some(v);
            }
            _ => return Err(CarError::BadHeader("unexpected or repeated key")),
        }
    }
    if c.pos != h.len() {
        return Err(CarError::BadHeader("bytes after the header map"));
    }
    if version != Some(1) {
        return Err(CarError::BadHeader("version is not 1"));
    }
    roots.ok_or(CarError::BadHeader("no roots"))
}
