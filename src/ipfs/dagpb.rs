//! dag-pb nodes (the protobuf `PBNode`/`PBLink` of the dag-pb spec) encoded and decoded by
//! hand.
//!
//! The schema is two messages of three fields; writing them by hand keeps the encoding
//! byte-for-byte under our control (kubo's canonical form: links before data, every link
//! with `Hash`, `Name` and `Tsize`) and avoids a code generator in the build. The decoder
//! is strict (wire types checked, unknown fields refused, no field repeated where the
//! schema forbids it) and is fuzzed in fuzz/fuzz_targets/ipfs_dagpb.rs.
//!
//! Spec: <https://ipld.io/specs/codecs/dag-pb/spec/>.

use super::cid::{put_uvarint, uvarint_len, Cid, CidError};

/// Largest block this store reads or writes: 2 MiB, the bitswap limit kubo enforces.
pub const BLOCK_BYTES_MAX: usize = 2 << 20;

/// A link to another block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PbLink {
    /// The target.
    pub hash: Cid,
    /// Its name in a directory; empty for the chunks of a file.
    pub name: Option<String>,
    /// Cumulative size of the target's DAG (block bytes including all descendants).
    pub tsize: Option<u64>,
}

/// A dag-pb node.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PbNode {
    /// Links, in order.
    pub links: Vec<PbLink>,
    /// Opaque data (a UnixFS `Data` message for UnixFS).
    pub data: Option<Vec<u8>>,
}

/// Why bytes are not a dag-pb node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DagPbError {
    /// The protobuf framing is broken.
    #[error("malformed protobuf at byte {offset}: {what}")]
    Malformed {
        /// Byte offset in the node.
        offset: usize,
        /// What is wrong.
        what: &'static str,
    },
    /// A link's hash is not a supported CID.
    #[error("link {index} has a bad CID: {source}")]
    BadLink {
        /// Position of the link.
        index: usize,
        /// Why.
        source: CidError,
    },
    /// A link name is not UTF-8.
    #[error("link {0} has a name that is not UTF-8")]
    BadName(usize),
    /// The block is larger than [`BLOCK_BYTES_MAX`].
    #[error("block is {0} bytes; the limit is {BLOCK_BYTES_MAX}")]
    TooLarge(usize),
}

pub(crate) fn put_key(out: &mut Vec<u8>, field: u32, wire: u8) {
    put_uvarint(out, (u64::from(field) << 3) | u64::from(wire));
}

pub(crate) fn put_bytes_field(out: &mut Vec<u8>, field: u32, b: &[u8]) {
    put_key(out, field, 2);
    put_uvarint(out, b.len() as u64);
    out.extend_from_slice(b);
}

pub(crate) fn put_varint_field(out: &mut Vec<u8>, field: u32, v: u64) {
    put_key(out, field, 0);
    put_uvarint(out, v);
}

impl PbLink {
    fn encoded_len(&self) -> usize {
        let h = self.hash.to_bytes().len();
        let mut n = 1 + uvarint_len(h as u64) + h;
        if let Some(name) = &self.name {
            n += 1 + uvarint_len(name.len() as u64) + name.len();
        }
        if let Some(t) = self.tsize {
            n += 1 + uvarint_len(t);
        }
        n
    }
}

impl PbNode {
    /// The canonical encoding: links (field 2) in order, then data (field 1).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len_hint());
        for l in &self.links {
            put_key(&mut out, 2, 2);
            put_uvarint(&mut out, l.encoded_len() as u64);
            put_bytes_field(&mut out, 1, &l.hash.to_bytes());
            if let Some(name) = &l.name {
                put_bytes_field(&mut out, 2, name.as_bytes());
            }
            if let Some(t) = l.tsize {
                put_varint_field(&mut out, 3, t);
            }
        }
        if let Some(d) = &self.data {
            put_bytes_field(&mut out, 1, d);
        }
        out
    }

    fn encoded_len_hint(&self) -> usize {
        self.links.len() * 48 + self.data.as_ref().map_or(0, |d| d.len() + 8)
    }

    /// Decodes a node, strictly.
    pub fn decode(b: &[u8]) -> Result<Self, DagPbError> {
        if b.len() > BLOCK_BYTES_MAX {
            return Err(DagPbError::TooLarge(b.len()));
        }
        let mut r = Reader { b, pos: 0 };
        let mut node = PbNode::default();
        while !r.done() {
            let (field, wire) = r.key()?;
            match (field, wire) {
                (1, 2) => {
                    if node.data.is_some() {
                        return Err(r.err("Data repeated"));
                    }
                    node.data = Some(r.bytes()?.to_vec());
                }
                (2, 2) => {
                    if node.data.is_some() {
                        return Err(r.err("Links after Data"));
                    }
                    let start = r.pos;
                    let body = r.bytes()?;
                    let index = node.links.len();
                    node.links.push(decode_link(body, start, index)?);
                }
                _ => return Err(r.err("unknown field or wire type in PBNode")),
            }
        }
        Ok(node)
    }
}

fn decode_link(b: &[u8], base: usize, index: usize) -> Result<PbLink, DagPbError> {
    let mut r = Reader { b, pos: 0 };
    let mut hash = None;
    let mut name = None;
    let mut tsize = None;
    let err = |pos: usize, what| DagPbError::Malformed { offset: base + pos, what };
    let mut last = 0;
    while !r.done() {
        let at = r.pos;
        let (field, wire) = r.key().map_err(|_| err(at, "bad key in PBLink"))?;
        if field <= last {
            return Err(err(at, "PBLink fields out of order or repeated"));
        }
        last = field;
        match (field, wire) {
            (1, 2) => {
                let h = r.bytes().map_err(|_| err(at, "truncated Hash"))?;
                hash = Some(Cid::from_bytes(h).map_err(|source| DagPbError::BadLink { index, source })?);
            }
            (2, 2) => {
                let n = r.bytes().map_err(|_| err(at, "truncated Name"))?;
                name = Some(String::from_utf8(n.to_vec()).map_err(|_| DagPbError::BadName(index))?);
            }
            (3, 0) => tsize = Some(r.varint().map_err(|_| err(at, "bad Tsize"))?),
            _ => return Err(err(at, "unknown field or wire type in PBLink")),
        }
    }
    let hash = hash.ok_or_else(|| err(0, "PBLink without Hash"))?;
    Ok(PbLink { hash, name, tsize })
}

/// A protobuf reader over a byte slice.
pub(crate) struct Reader<'a> {
    pub(crate) b: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn done(&self) -> bool {
        self.pos >= self.b.len()
    }
    pub(crate) fn err(&self, what: &'static str) -> DagPbError {
        DagPbError::Malformed { offset: self.pos, what }
    }
    /// Protobuf varint: up to 10 bytes.
    pub(crate) fn varint(&mut self) -> Result<u64, DagPbError> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let byte = *self.b.get(self.pos).ok_or_else(|| self.err("truncated varint"))?;
            self.pos += 1;
            if i == 9 && byte > 1 {
                return Err(self.err("varint overflows 64 bits"));
            }
            v |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.err("varint longer than 10 bytes"))
    }
    pub(crate) fn key(&mut self) -> Result<(u64, u8), DagPbError> {
        let k = self.varint()?;
        Ok((k >> 3, (k & 7) as u8))
    }
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], DagPbError> {
        let len = self.varint()?;
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| self.pos.checked_add(l))
            .filter(|&e| e <= self.b.len())
            .ok_or_else(|| self.err("length runs past the end"))?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    pub(crate) fn fixed32(&mut self) -> Result<u32, DagPbError> {
        let s = self.b.get(self.pos..self.pos + 4).ok_or_else(|| self.err("truncated fixed32"))?;
        self.pos += 4;
        Ok(u32::from_le_bytes(s.try_into().expect("4 bytes")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipfs::cid::{Version, CODEC_RAW};

    #[test]
    fn round_trip_and_strictness() {
        let c = Cid::of(Version::V1, CODEC_RAW, b"x");
        let n = PbNode {
            links: vec![PbLink { hash: c, name: Some(String::new()), tsize: Some(1) }],
            data: Some(vec![8, 2]),
        };
        let b = n.encode();
        assert_eq!(PbNode::decode(&b).unwrap(), n);
        // Data before links is refused; truncation is refused.
        let mut swapped = vec![0x0a, 2, 8, 2];
        swapped.extend_from_slice(&b[..b.len() - 4]);
        assert!(PbNode::decode(&swapped).is_err());
        assert!(PbNode::decode(&b[..b.len() - 1]).is_err());
        assert!(PbNode::decode(&[0x18, 1]).is_err());
    }
}
