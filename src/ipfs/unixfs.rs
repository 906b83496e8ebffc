//! The UnixFS `Data` message carried in a dag-pb node's data field, encoded and decoded by
//! hand for the same reasons as [`super::dagpb`] (eight optional fields; exact control of
//! the bytes kubo writes).
//!
//! ```text
//! message Data {
//!   enum DataType { Raw = 0; Directory = 1; File = 2; Metadata = 3; Symlink = 4; HAMTShard = 5; }
//!   required DataType Type = 1; optional bytes Data = 2; optional uint64 filesize = 3;
//!   repeated uint64 blocksizes = 4; optional uint64 hashType = 5; optional uint64 fanout = 6;
//!   optional uint32 mode = 7; optional UnixTime mtime = 8;
//! }
//! ```
//! Spec: <https://specs.ipfs.tech/unixfs/>.

use super::dagpb::{put_bytes_field, put_key, put_varint_field, DagPbError, Reader};

/// What a UnixFS node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    /// Raw file bytes (old leaves).
    Raw,
    /// A directory: named links.
    Directory,
    /// A file or a chunk of one.
    File,
    /// Metadata (unused by kubo).
    Metadata,
    /// A symbolic link; data is the target.
    Symlink,
    /// A sharded directory (HAMT).
    HamtShard,
}

impl DataType {
    fn from_u64(v: u64) -> Option<Self> {
        Some(match v {
            0 => Self::Raw,
            1 => Self::Directory,
            2 => Self::File,
            3 => Self::Metadata,
            4 => Self::Symlink,
            5 => Self::HamtShard,
            _ => return None,
        })
    }
    fn to_u64(self) -> u64 {
        match self {
            Self::Raw => 0,
            Self::Directory => 1,
            Self::File => 2,
            Self::Metadata => 3,
            Self::Symlink => 4,
            Self::HamtShard => 5,
        }
    }
}

/// A decoded UnixFS `Data` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixfsData {
    /// The node type.
    pub kind: DataType,
    /// Inline bytes (file data of a leaf, symlink target).
    pub data: Option<Vec<u8>>,
    /// Total file bytes under this node.
    pub filesize: Option<u64>,
    /// File bytes under each link, in link order.
    pub blocksizes: Vec<u64>,
    /// HAMT hash function.
    pub hash_type: Option<u64>,
    /// HAMT fanout.
    pub fanout: Option<u64>,
    /// Unix permission bits.
    pub mode: Option<u32>,
    /// Modification time: seconds and nanoseconds.
    pub mtime: Option<(i64, Option<u32>)>,
}

/// Why bytes are not a UnixFS node this reader understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UnixfsError {
    /// The protobuf framing is broken.
    #[error(transparent)]
    Protobuf(#[from] DagPbError),
    /// No `Type` field.
    #[error("UnixFS data has no Type")]
    NoType,
    /// An unknown `Type`.
    #[error("unknown UnixFS type {0}")]
    BadType(u64),
    /// A dag-pb node without data is not UnixFS.
    #[error("dag-pb node has no UnixFS data")]
    NotUnixfs,
    /// Sizes that do not add up: the DAG is inconsistent.
    #[error("inconsistent UnixFS file: {0}")]
    Inconsistent(String),
}

impl UnixfsData {
    /// A node of `kind` with nothing else set.
    pub fn new(kind: DataType) -> Self {
        Self {
            kind,
            data: None,
            filesize: None,
            blocksizes: Vec::new(),
            hash_type: None,
            fanout: None,
            mode: None,
            mtime: None,
        }
    }

    /// Encodes in field order, as kubo does.
    pub fn encode(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(16 + self.data.as_ref().map_or(0, Vec::len) + self.blocksizes.len() * 4);
        put_varint_field(&mut out, 1, self.kind.to_u64());
        if let Some(d) = &self.data {
            put_bytes_field(&mut out, 2, d);
        }
        if let Some(s) = self.filesize {
            put_varint_field(&mut out, 3, s);
        }
        for b in &self.blocksizes {
            put_varint_field(&mut out, 4, *b);
        }
        if let Some(h) = self.hash_type {
            put_varint_field(&mut out, 5, h);
        }
        if let Some(f) = self.fanout {
            put_varint_field(&mut out, 6, f);
        }
        if let Some(m) = self.mode {
            put_varint_field(&mut out, 7, u64::from(m));
        }
        if let Some((secs, nanos)) = self.mtime {
            let mut t = Vec::new();
            put_varint_field(&mut t, 1, secs as u64);
            if let Some(n) = nanos {
                put_key(&mut t, 2, 5);
                t.extend_from_slice(&n.to_le_bytes());
            }
            put_bytes_field(&mut out, 8, &t);
        }
        out
    }

    /// Decodes; unknown fields are refused.
    pub fn decode(b: &[u8]) -> Result<Self, UnixfsError> {
        let mut r = Reader { b, pos: 0 };
        let mut kind = None;
        let mut d = Self::new(DataType::Raw);
        while !r.done() {
            let (field, wire) = r.key()?;
            match (field, wire) {
                (1, 0) => {
                    let v = r.varint()?;
                    kind = Some(DataType::from_u64(v).ok_or(UnixfsError::BadType(v))?);
                }
                (2, 2) => d.data = Some(r.bytes()?.to_vec()),
                (3, 0) => d.filesize = Some(r.varint()?),
                (4, 0) => d.blocksizes.push(r.varint()?),
                (4, 2) => {
                    // Packed form, which proto2 parsers accept too.
                    let packed = r.bytes()?;
                    let mut p = Reader { b: packed, pos: 0 };
                    while !p.done() {
                        d.blocksizes.push(p.varint()?);
                    }
                }
                (5, 0) => d.hash_type = Some(r.varint()?),
                (6, 0) => d.fanout = Some(r.varint()?),
                (7, 0) => d.mode = Some(r.varint()? as u32),
                (8, 2) => {
                    let t = r.bytes()?;
                    let mut tr = Reader { b: t, pos: 0 };
                    let mut secs = 0i64;
                    let mut nanos = None;
                    while !tr.done() {
                        match tr.key()? {
                            (1, 0) => secs = tr.varint()? as i64,
                            (2, 5) => nanos = Some(tr.fixed32()?),
                            _ => return Err(tr.err("unknown field in UnixTime").into()),
                        }
                    }
                    d.mtime = Some((secs, nanos));
                }
                _ => return Err(r.err("unknown field or wire type in UnixFS Data").into()),
            }
        }
        d.kind = kind.ok_or(UnixfsError::NoType)?;
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_bytes_are_kubos() {
        // The UnixFS data of kubo's empty file: Type=File, filesize=0.
        let mut d = UnixfsData::new(DataType::File);
        d.filesize = Some(0);
        assert_eq!(d.encode(), [0x08, 0x02, 0x18, 0x00]);
        assert_eq!(UnixfsData::decode(&d.encode()).unwrap(), d);
        let mut full = UnixfsData::new(DataType::File);
        full.data = Some(b"abc".to_vec());
        full.filesize = Some(3);
        full.blocksizes = vec![1, 2];
        full.mode = Some(0o644);
        full.mtime = Some((5, Some(7)));
        assert_eq!(UnixfsData::decode(&full.encode()).unwrap(), full);
        assert!(matches!(UnixfsData::decode(&[0x08, 0x09]), Err(UnixfsError::BadType(9))));
        assert!(matches!(UnixfsData::decode(&[0x18, 0x00]), Err(UnixfsError::NoType)));
    }
}
