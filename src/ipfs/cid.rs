//! Content identifiers: CIDv0 and CIDv1 over SHA-256 multihashes, their binary form and
//! their text forms (base58btc for v0, multibase base32 lower-case for v1, as kubo prints
//! them).
//!
//! Only SHA-256 (multihash code 0x12, 32-byte digest) is accepted: it is what `ipfs add`
//! uses by default and the only function this store verifies. A CID naming another hash
//! function is refused with [`CidError::UnsupportedHash`] rather than stored unverified.
//!
//! Multibase and unsigned varints are written by hand (a few dozen lines each) because the
//! forms needed are fixed and tiny, and a hand-written decoder is easy to fuzz
//! (fuzz/fuzz_targets/ipfs_cid.rs).

use std::fmt;
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

/// Multicodec of dag-pb (UnixFS nodes).
pub const CODEC_DAG_PB: u64 = 0x70;
/// Multicodec of raw blocks (raw leaves).
pub const CODEC_RAW: u64 = 0x55;
/// Multihash code of SHA-256.
pub const MULTIHASH_SHA2_256: u64 = 0x12;
/// Length of a SHA-256 digest.
pub const DIGEST_LEN: usize = 32;
/// Longest text form accepted when parsing (a CIDv1 in base32 is 59 characters).
pub const CID_TEXT_MAX: usize = 128;

/// A SHA-256 digest of a block.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest(pub [u8; DIGEST_LEN]);

impl Digest {
    /// SHA-256 of `data`.
    pub fn of(data: &[u8]) -> Self {
        Self(Sha256::digest(data).into())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// CID version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// A bare base58 multihash; always dag-pb.
    V0,
    /// `<version><codec><multihash>`, multibase-prefixed in text.
    V1,
}

/// A content identifier.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cid {
    version: Version,
    codec: u64,
    digest: Digest,
}

/// Why bytes or text are not a CID this store accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CidError {
    /// Empty input.
    #[error("empty CID")]
    Empty,
    /// The text is longer than [`CID_TEXT_MAX`].
    #[error("CID text is {0} characters; the longest accepted is {CID_TEXT_MAX}")]
    TooLong(usize),
    /// The multibase prefix is unknown.
    #[error("CID {0:?}: unknown multibase prefix (expected Qm… for v0, b… base32 or z… base58btc for v1)")]
    UnknownBase(String),
    /// A character outside the base's alphabet.
    #[error("CID {0:?} is not valid in its base")]
    BadEncoding(String),
    /// A varint is truncated or longer than 9 bytes.
    #[error("bad varint in CID")]
    BadVarint,
    /// Version other than 0 or 1.
    #[error("unsupported CID version {0}")]
    BadVersion(u64),
    /// A CIDv0 must be exactly a SHA-256 multihash.
    #[error("malformed CIDv0: expected 34 bytes starting 0x12 0x20")]
    BadV0,
    /// A hash function other than SHA-256.
    #[error("unsupported multihash function 0x{0:x}: only sha2-256 (0x12) is supported")]
    UnsupportedHash(u64),
    /// A SHA-256 multihash with a digest length other than 32.
    #[error("multihash digest length {0}; sha2-256 digests are 32 bytes")]
    BadDigestLength(u64),
    /// A codec other than dag-pb or raw.
    #[error("unsupported codec 0x{0:x}: only dag-pb (0x70) and raw (0x55) are supported")]
    UnsupportedCodec(u64),
    /// Bytes after the CID where none may be.
    #[error("{0} trailing bytes after the CID")]
    Trailing(usize),
}

impl Cid {
    /// A CIDv0 (dag-pb) of `digest`.
    pub fn v0(digest: Digest) -> Self {
        Self { version: Version::V0, codec: CODEC_DAG_PB, digest }
    }

    /// A CIDv1 of `codec` (dag-pb or raw) and `digest`.
    pub fn v1(codec: u64, digest: Digest) -> Self {
        debug_assert!(codec == CODEC_DAG_PB || codec == CODEC_RAW);
        Self { version: Version::V1, codec, digest }
    }

    /// The CID of `data` as a block of `codec` at `version` (v0 only for dag-pb).
    pub fn of(version: Version, codec: u64, data: &[u8]) -> Self {
        let digest = Digest::of(data);
        match version {
            Version::V0 if codec == CODEC_DAG_PB => Self::v0(digest),
            _ => Self::v1(codec, digest),
        }
    }

    /// Its version.
    pub fn version(&self) -> Version {
        self.version
    }
    /// Its codec.
    pub fn codec(&self) -> u64 {
        self.codec
    }
    /// Its digest.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The same block as a CIDv1 (the store's key form).
    pub fn to_v1(self) -> Self {
        Self { version: Version::V1, ..self }
    }

    /// Does `data` hash to this CID?
    pub fn matches(&self, data: &[u8]) -> bool {
        Digest::of(data) == self.digest
    }

    /// The binary form: the multihash for v0; `0x01 codec multihash` for v1.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(36);
        if self.version == Version::V1 {
            put_uvarint(&mut out, 1);
            put_uvarint(&mut out, self.codec);
        }
        put_uvarint(&mut out, MULTIHASH_SHA2_256);
        put_uvarint(&mut out, DIGEST_LEN as u64);
        out.extend_from_slice(&self.digest.0);
        out
    }

    /// Reads a binary CID at the start of `b`; returns it and the bytes it used.
    pub fn read_bytes(b: &[u8]) -> Result<(Self, usize), CidError> {
        if b.is_empty() {
            return Err(CidError::Empty);
        }
        if b[0] == 0x12 {
            // CIDv0: a bare sha2-256 multihash.
            if b.len() < 34 || b[1] != 0x20 {
                return Err(CidError::BadV0);
            }
            let digest = Digest(b[2..34].try_into().expect("length checked"));
            return Ok((Self::v0(digest), 34));
        }
        let mut pos = 0;
        let version = get_uvarint(b, &mut pos)?;
        if version != 1 {
            return Err(CidError::BadVersion(version));
        }
        let codec = get_uvarint(b, &mut pos)?;
        if codec != CODEC_DAG_PB && codec != CODEC_RAW {
            return Err(CidError::UnsupportedCodec(codec));
        }
        let code = get_uvarint(b, &mut pos)?;
        if code != MULTIHASH_SHA2_256 {
            return Err(CidError::UnsupportedHash(code));
        }
        let len = get_uvarint(b, &mut pos)?;
        if len != DIGEST_LEN as u64 {
            return Err(CidError::BadDigestLength(len));
        }
        let d = b.get(pos..pos + DIGEST_LEN).ok_or(CidError::BadVarint)?;
        let digest = Digest(d.try_into().expect("length checked"));
        Ok((Self::v1(codec, digest), pos + DIGEST_LEN))
    }

    /// Parses a binary CID that fills `b` exactly.
    pub fn from_bytes(b: &[u8]) -> Result<Self, CidError> {
        let (c, n) = Self::read_bytes(b)?;
        if n != b.len() {
            return Err(CidError::Trailing(b.len() - n));
        }
        Ok(c)
    }

    /// A file name for this block that is the same for its v0 and v1 forms: the CIDv1 in
    /// base32 without the multibase prefix.
    pub fn store_key(&self) -> String {
        base32_encode(&self.to_v1().to_bytes())
    }

    /// The codec's name as kubo prints it.
    pub fn codec_name(&self) -> &'static str {
        if self.codec == CODEC_RAW {
            "raw"
        } else {
            "dag-pb"
        }
    }
}

impl fmt::Display for Cid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.version {
            Version::V0 => f.write_str(&bs58::encode(self.to_bytes()).into_string()),
            Version::V1 => write!(f, "b{}", base32_encode(&self.to_bytes())),
        }
    }
}

impl fmt::Debug for Cid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Cid {
    type Err = CidError;
    fn from_str(s: &str) -> Result<Self, CidError> {
        if s.is_empty() {
            return Err(CidError::Empty);
        }
        if s.len() > CID_TEXT_MAX {
            return Err(CidError::TooLong(s.len()));
        }
        let bad = || CidError::BadEncoding(s.to_string());
        if s.len() == 46 && s.starts_with("Qm") {
            let b = bs58::decode(s).into_vec().map_err(|_| bad())?;
            let c = Self::from_bytes(&b)?;
            if c.version != Version::V0 {
                return Err(CidError::BadV0);
            }
            return Ok(c);
        }
        // The multibase prefix is one ASCII character; anything else (a multi-byte one
        // included) is an unknown base.
        let bytes = match s.as_bytes().first() {
            Some(b'b') => base32_decode(&s[1..]).ok_or_else(bad)?,
            Some(b'B') => base32_decode(&s[1..].to_ascii_lowercase()).ok_or_else(bad)?,
            Some(b'z') => bs58::decode(&s[1..]).into_vec().map_err(|_| bad())?,
            _ => return Err(CidError::UnknownBase(s.to_string())),
        };
        let c = Self::from_bytes(&bytes)?;
        if c.version != Version::V1 {
            // A multibase-prefixed v0 multihash is not a CID.
            return Err(CidError::BadVersion(0));
        }
        Ok(c)
    }
}

impl serde::Serialize for Cid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Cid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Appends an unsigned LEB128 varint (multiformats and protobuf share the encoding).
pub fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Number of bytes [`put_uvarint`] writes for `v`.
pub fn uvarint_len(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Reads a multiformats varint (at most 9 bytes, minimal encoding) at `*pos`.
pub fn get_uvarint(b: &[u8], pos: &mut usize) -> Result<u64, CidError> {
    let mut v: u64 = 0;
    for i in 0..9 {
        let byte = *b.get(*pos + i).ok_or(CidError::BadVarint)?;
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            if byte == 0 && i > 0 {
                return Err(CidError::BadVarint); // not minimal
            }
            *pos += i + 1;
            return Ok(v);
        }
    }
    Err(CidError::BadVarint)
}

const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// RFC 4648 base32, lower-case, no padding (multibase `b`).
pub fn base32_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let mut buf: u32 = 0;
    let mut bits = 0;
    for &b in data {
        buf = (buf << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32[((buf >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(BASE32[((buf << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Inverse of [`base32_encode`]; `None` on a character outside the alphabet or non-zero
/// padding bits.
pub fn base32_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 5 / 8);
    let mut buf: u32 = 0;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'a'..=b'z' => c - b'a',
            b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        };
        buf = (buf << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    if bits >= 5 || buf & ((1 << bits) - 1) != 0 {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips() {
        for s in [
            "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH",
            "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e",
            "bafybeiht6dtwk3les7vqm6ibpvz6qpohidvlshsfyr7l5mpysdw2vmbbhe",
        ] {
            let c: Cid = s.parse().unwrap();
            assert_eq!(c.to_string(), s);
            assert_eq!(Cid::from_bytes(&c.to_bytes()).unwrap(), c);
        }
        let v0: Cid = "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH".parse().unwrap();
        assert_eq!(v0.to_v1().to_string().parse::<Cid>().unwrap().store_key(), v0.store_key());
        assert!(matches!("Qm123".parse::<Cid>(), Err(CidError::UnknownBase(_))));
        assert!(matches!("bafy!".parse::<Cid>(), Err(CidError::BadEncoding(_))));
        assert!(matches!("".parse::<Cid>(), Err(CidError::Empty)));
        // A multi-byte first character is an unknown base, not a panic.
        for s in ["é", "éx", "ßafy", "日本"] {
            assert!(matches!(s.parse::<Cid>(), Err(CidError::UnknownBase(_))), "{s}");
        }
    }

    #[test]
    fn varints() {
        for v in [0u64, 1, 127, 128, 300, 1 << 40, (1 << 63) - 1] {
            let mut b = Vec::new();
            put_uvarint(&mut b, v);
            assert_eq!(b.len(), uvarint_len(v));
            let mut pos = 0;
            assert_eq!(get_uvarint(&b, &mut pos).unwrap(), v);
            assert_eq!(pos, b.len());
        }
        assert!(get_uvarint(&[0x80, 0x00], &mut 0).is_err());
        assert!(get_uvarint(&[0xff; 10], &mut 0).is_err());
    }

    #[test]
    fn base32_matches_rfc4648() {
        // RFC 4648 section 10 test vectors, lower-cased and unpadded.
        for (plain, enc) in [
            ("", ""),
            ("f", "my"),
            ("fo", "mzxq"),
            ("foo", "mzxw6"),
            ("foob", "mzxw6yq"),
            ("fooba", "mzxw6ytb"),
        ] {
            assert_eq!(base32_encode(plain.as_bytes()), enc);
            assert_eq!(base32_decode(enc).unwrap(), plain.as_bytes());
        }
        assert!(base32_decode("mz").is_none(), "non-zero padding bits");
        assert_eq!(base32_decode("my").unwrap(), b"f");
    }
}
