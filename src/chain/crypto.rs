//! Digests, ed25519 keys and signatures, and their checksummed text forms.
//!
//! Text forms follow EOS.IO's: a type prefix, then base58 of the bytes followed by the
//! first 4 bytes of `ripemd160(bytes || "ED")` as a checksum (EOS.IO uses "K1"/"R1" for its
//! curves; "ED" names ed25519): `PUB_ED_…`, `PVT_ED_…`, `SIG_ED_…`.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::Signer;
use ripemd::Ripemd160;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// A SHA-256 digest: transaction ids, block ids, merkle roots, chain ids.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Checksum256(pub [u8; 32]);

impl Checksum256 {
    /// SHA-256 of `data`.
    pub fn hash(data: &[u8]) -> Self {
        Self(Sha256::digest(data).into())
    }

    /// SHA-256 of the concatenation of `parts`.
    pub fn hash_parts(parts: &[&[u8]]) -> Self {
        let mut h = Sha256::new();
        for p in parts {
            h.update(p);
        }
        Self(h.finalize().into())
    }

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for Checksum256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_hex())
    }
}

impl fmt::Display for Checksum256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl FromStr for Checksum256 {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut b = [0u8; 32];
        hex::decode_to_slice(s, &mut b).map_err(|_| KeyError::BadHex(s.to_string()))?;
        Ok(Self(b))
    }
}

impl Serialize for Checksum256 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&self.to_hex())
        } else {
            self.0.serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for Checksum256 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
        } else {
            <[u8; 32]>::deserialize(d).map(Self)
        }
    }
}

/// Why a key or signature text or byte string is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The text does not start with the expected prefix.
    #[error("expected a {expected}… string, got {got:?}")]
    BadPrefix {
        /// Expected prefix.
        expected: &'static str,
        /// The text.
        got: String,
    },
    /// Not base58.
    #[error("{0:?} is not valid base58")]
    BadBase58(String),
    /// The checksum does not match: a typo, or a key for another curve.
    #[error("checksum mismatch in {0:?}: check for a typo")]
    BadChecksum(String),
    /// Wrong number of bytes.
    #[error("{what} must be {want} bytes, got {got}")]
    BadLength {
        /// What was decoded.
        what: &'static str,
        /// Expected length.
        want: usize,
        /// Actual length.
        got: usize,
    },
    /// The bytes are not a valid ed25519 public key.
    #[error("not a valid ed25519 public key")]
    InvalidKey,
    /// Not hex.
    #[error("{0:?} is not 64 hex digits")]
    BadHex(String),
}

fn checksum(data: &[u8], suffix: &[u8]) -> [u8; 4] {
    let mut h = Ripemd160::new();
    h.update(data);
    h.update(suffix);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// Checksum suffix of a text prefix: `ED` as EOS.IO names the curve, and `EDPVT` for private
/// keys so that a private key relabelled `PUB_ED_` (same length) fails its checksum.
fn suffix(prefix: &str) -> &'static [u8] {
    if prefix == "PVT_ED_" {
        b"EDPVT"
    } else {
        b"ED"
    }
}

fn to_text(prefix: &str, data: &[u8]) -> String {
    let mut v = data.to_vec();
    v.extend_from_slice(&checksum(data, suffix(prefix)));
    format!("{prefix}{}", bs58::encode(v).into_string())
}

fn from_text<const N: usize>(prefix: &'static str, what: &'static str, s: &str) -> Result<[u8; N], KeyError> {
    let body =
        s.strip_prefix(prefix).ok_or_else(|| KeyError::BadPrefix { expected: prefix, got: s.to_string() })?;
    let v = bs58::decode(body).into_vec().map_err(|_| KeyError::BadBase58(s.to_string()))?;
    if v.len() != N + 4 {
        return Err(KeyError::BadLength { what, want: N + 4, got: v.len() });
    }
    let (data, sum) = v.split_at(N);
    if checksum(data, suffix(prefix)) != sum {
        return Err(KeyError::BadChecksum(s.to_string()));
    }
    Ok(data.try_into().expect("length checked"))
}

/// Writes fixed-size bytes with no length prefix in the binary codec.
fn ser_fixed<S: Serializer, const N: usize>(b: &[u8; N], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeTuple;
    let mut t = s.serialize_tuple(N)?;
    for x in b {
        t.serialize_element(x)?;
    }
    t.end()
}

/// Reads fixed-size bytes written by [`ser_fixed`].
fn de_fixed<'de, D: Deserializer<'de>, const N: usize>(d: D) -> Result<[u8; N], D::Error> {
    struct V<const N: usize>;
    impl<'de, const N: usize> serde::de::Visitor<'de> for V<N> {
        type Value = [u8; N];
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{N} bytes")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<[u8; N], A::Error> {
            let mut out = [0u8; N];
            for (i, b) in out.iter_mut().enumerate() {
                *b = seq.next_element()?.ok_or_else(|| serde::de::Error::invalid_length(i, &self))?;
            }
            Ok(out)
        }
    }
    d.deserialize_tuple(N, V::<N>)
}

macro_rules! text_serde {
    ($t:ty, $n:literal) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_text())
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                if s.is_human_readable() {
                    s.serialize_str(&self.to_text())
                } else {
                    ser_fixed::<S, $n>(&self.to_bytes(), s)
                }
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                if d.is_human_readable() {
                    String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
                } else {
                    let b = de_fixed::<D, $n>(d)?;
                    Self::from_bytes(&b).map_err(serde::de::Error::custom)
                }
            }
        }
    };
}

/// An ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(pub ed25519_dalek::VerifyingKey);

impl PublicKey {
    /// The 32 key bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }
    /// From 32 bytes.
    pub fn from_bytes(b: &[u8]) -> Result<Self, KeyError> {
        let arr: [u8; 32] =
            b.try_into().map_err(|_| KeyError::BadLength { what: "public key", want: 32, got: b.len() })?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&arr).map_err(|_| KeyError::InvalidKey)?;
        // Small-order keys would let batch and single verification disagree; refuse them.
        if key.is_weak() {
            return Err(KeyError::InvalidKey);
        }
        Ok(Self(key))
    }
    /// `PUB_ED_…`
    pub fn to_text(&self) -> String {
        to_text("PUB_ED_", &self.to_bytes())
    }
    /// Checks `sig` over `digest` (strict: rejects malleable and small-order forms).
    pub fn verify(&self, digest: &Checksum256, sig: &Signature) -> bool {
        self.0.verify_strict(&digest.0, &sig.0).is_ok()
    }
}

impl PartialOrd for PublicKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for PublicKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.to_bytes().cmp(&other.to_bytes())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_bytes(&from_text::<32>("PUB_ED_", "public key", s)?)
    }
}
text_serde!(PublicKey, 32);

/// An ed25519 private key.
#[derive(Clone)]
pub struct PrivateKey(pub ed25519_dalek::SigningKey);

impl PrivateKey {
    /// A new random key from the operating system's generator.
    pub fn generate() -> Self {
        Self(ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng))
    }
    /// A key derived from a seed (tests, dev chains, benches). Never for real funds.
    pub fn from_seed(seed: &[u8]) -> Self {
        Self(ed25519_dalek::SigningKey::from_bytes(&Checksum256::hash(seed).0))
    }
    /// The 32 secret bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }
    /// From 32 bytes.
    pub fn from_bytes(b: &[u8]) -> Result<Self, KeyError> {
        let arr: [u8; 32] =
            b.try_into().map_err(|_| KeyError::BadLength { what: "private key", want: 32, got: b.len() })?;
        Ok(Self(ed25519_dalek::SigningKey::from_bytes(&arr)))
    }
    /// `PVT_ED_…`
    pub fn to_text(&self) -> String {
        to_text("PVT_ED_", &self.to_bytes())
    }
    /// Its public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }
    /// Signs a digest.
    pub fn sign(&self, digest: &Checksum256) -> Signature {
        Signature(self.0.sign(&digest.0))
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({})", self.public().to_text())
    }
}

impl FromStr for PrivateKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_bytes(&from_text::<32>("PVT_ED_", "private key", s)?)
    }
}
text_serde!(PrivateKey, 32);

/// An ed25519 signature.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub ed25519_dalek::Signature);

impl Signature {
    /// The 64 signature bytes.
    pub fn to_bytes(&self) -> [u8; 64] {
        self.0.to_bytes()
    }
    /// From 64 bytes.
    pub fn from_bytes(b: &[u8]) -> Result<Self, KeyError> {
        let arr: [u8; 64] =
            b.try_into().map_err(|_| KeyError::BadLength { what: "signature", want: 64, got: b.len() })?;
        Ok(Self(ed25519_dalek::Signature::from_bytes(&arr)))
    }
    /// `SIG_ED_…`
    pub fn to_text(&self) -> String {
        to_text("SIG_ED_", &self.to_bytes())
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl FromStr for Signature {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_bytes(&from_text::<64>("SIG_ED_", "signature", s)?)
    }
}
text_serde!(Signature, 64);

/// Verifies many `(digest, signature, key)` triples at once (ed25519 batch verification,
/// about 2.5x faster than one by one). False if any one fails; callers then check one by
/// one to find which.
pub fn verify_batch(items: &[(Checksum256, Signature, PublicKey)]) -> bool {
    verify_batch_of(items.iter().map(|(d, s, k)| (d, s, k)))
}

/// As [`verify_batch`], over borrowed triples (no copy of the caller's keys into a triple
/// list first: a decoded key is 192 bytes).
pub fn verify_batch_of<'a>(
    items: impl ExactSizeIterator<Item = (&'a Checksum256, &'a Signature, &'a PublicKey)>,
) -> bool {
    let n = items.len();
    if n == 0 {
        return true;
    }
    let mut msgs: Vec<&[u8]> = Vec::with_capacity(n);
    let mut sigs: Vec<ed25519_dalek::Signature> = Vec::with_capacity(n);
    let mut keys: Vec<ed25519_dalek::VerifyingKey> = Vec::with_capacity(n);
    for (d, s, k) in items {
        msgs.push(&d.0[..]);
        sigs.push(s.0);
        keys.push(k.0);
    }
    ed25519_dalek::verify_batch(&msgs, &sigs, &keys).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn text_forms_round_trip_and_detect_typos() {
        let k = PrivateKey::from_seed(b"alice");
        let p = k.public();
        let pt = p.to_text();
        assert!(pt.starts_with("PUB_ED_"));
        assert_eq!(pt.parse::<PublicKey>().unwrap(), p);
        assert_eq!(k.to_text().parse::<PrivateKey>().unwrap().public(), p);
        let d = Checksum256::hash(b"msg");
        let s = k.sign(&d);
        assert_eq!(s.to_text().parse::<Signature>().unwrap(), s);
        assert!(p.verify(&d, &s));
        assert!(!p.verify(&Checksum256::hash(b"other"), &s));
        // One changed character is caught by the checksum.
        let mut typo = pt.clone().into_bytes();
        let i = typo.len() - 5;
        typo[i] = if typo[i] == b'a' { b'b' } else { b'a' };
        let e = String::from_utf8(typo).unwrap().parse::<PublicKey>().unwrap_err();
        assert!(matches!(e, KeyError::BadChecksum(_) | KeyError::BadBase58(_)), "{e}");
        assert!(matches!("PUB_K1_abc".parse::<PublicKey>(), Err(KeyError::BadPrefix { .. })));
    }

    #[test]
    fn batch_verification_agrees_with_single() {
        let items: Vec<_> = (0..40u8)
            .map(|i| {
                let k = PrivateKey::from_seed(&[i]);
                let d = Checksum256::hash(&[i, 1]);
                (d, k.sign(&d), k.public())
            })
            .collect();
        assert!(verify_batch(&items));
        let mut bad = items.clone();
        bad[17].0 = Checksum256::hash(b"tampered");
        assert!(!verify_batch(&bad));
    }

    proptest! {
        #[test]
        fn binary_codec_round_trips(seed in any::<[u8; 8]>(), msg in any::<[u8; 32]>()) {
            let k = PrivateKey::from_seed(&seed);
            let d = Checksum256(msg);
            let s = k.sign(&d);
            let enc = crate::chain::codec::encode(&(k.public(), s, d));
            let (p2, s2, d2): (PublicKey, Signature, Checksum256) = crate::chain::codec::decode(&enc, 1024).unwrap();
            prop_assert_eq!(p2, k.public());
            prop_assert_eq!(s2, s);
            prop_assert_eq!(d2, d);
        }
    }
}
