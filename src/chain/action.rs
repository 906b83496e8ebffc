//! Actions and the permission levels that authorize them.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use smallvec::SmallVec;

use super::Name;

/// `actor@permission`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PermissionLevel {
    /// The account.
    pub actor: Name,
    /// Its permission (`active`, `owner`, or a custom one).
    pub permission: Name,
}

impl std::fmt::Display for PermissionLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.actor, self.permission)
    }
}

/// Bytes kept inline in [`Bytes`] before they spill to the heap: a token transfer with a
/// memo of up to 23 bytes fits, so such an action's data costs no allocation.
pub const BYTES_INLINE: usize = 56;

/// Opaque bytes: raw in the binary codec, hex in JSON. Short ones live inline.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Bytes(pub SmallVec<[u8; BYTES_INLINE]>);

impl Bytes {
    /// Bytes copied from `b`.
    pub fn from_slice(b: &[u8]) -> Self {
        Self(SmallVec::from_slice(b))
    }
}

impl From<Vec<u8>> for Bytes {
    /// Keeps short data inline (the vector is then freed); longer data keeps its buffer.
    fn from(v: Vec<u8>) -> Self {
        if v.len() <= BYTES_INLINE {
            Self::from_slice(&v)
        } else {
            Self(SmallVec::from_vec(v))
        }
    }
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

/// The permission levels of one action; one is the common case and lives inline.
pub type Authorizations = SmallVec<[PermissionLevel; 1]>;

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&hex::encode(&self.0))
        } else {
            // The same bytes as a `Vec<u8>` (a u64 length, then the bytes), written whole
            // rather than element by element.
            s.serialize_bytes(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            hex::decode(&s).map(Self::from).map_err(|_| serde::de::Error::custom(format!("{s:?} is not hex")))
        } else {
            // Borrowed where the format allows, so short data is copied inline without a
            // temporary vector.
            d.deserialize_bytes(BytesVisitor)
        }
    }
}

/// Reads bytes whole from binary formats (and from a sequence, for formats that have no
/// byte strings).
struct BytesVisitor;

impl<'de> serde::de::Visitor<'de> for BytesVisitor {
    type Value = Bytes;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("bytes")
    }

    fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Bytes, E> {
        Ok(Bytes::from(v))
    }

    fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Bytes, E> {
        Ok(Bytes::from_slice(v))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Bytes, A::Error> {
        let mut v = SmallVec::new();
        v.reserve(seq.size_hint().unwrap_or(0).min(1 << 16));
        while let Some(b) = seq.next_element::<u8>()? {
            v.push(b);
        }
        Ok(Bytes(v))
    }
}

/// A call of `name` on contract `account`, authorized by `authorization`, with `data`
/// encoded for that action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    /// The contract.
    pub account: Name,
    /// The action.
    pub name: Name,
    /// Who authorizes it.
    pub authorization: Authorizations,
    /// Its arguments (hex in JSON).
    pub data: Bytes,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::codec;
    use proptest::prelude::*;

    proptest! {
        /// Short data stays inline, long data spills, and both encode as a `Vec<u8>` does
        /// (binary) and as hex (JSON), whichever way they were built.
        #[test]
        fn bytes_round_trip_either_side_of_the_inline_size(v in proptest::collection::vec(any::<u8>(), 0..2 * BYTES_INLINE)) {
            let b = Bytes::from(v.clone());
            prop_assert_eq!(b.0.spilled(), v.len() > BYTES_INLINE);
            prop_assert_eq!(&b[..], &v[..]);
            prop_assert_eq!(Bytes::from_slice(&v).clone(), b.clone());
            let enc = codec::encode(&b);
            prop_assert_eq!(&enc, &codec::encode(&v));
            let back: Bytes = codec::decode(&enc, 1 << 20).unwrap();
            prop_assert_eq!(back.0.spilled(), v.len() > BYTES_INLINE);
            prop_assert_eq!(&back, &b);
            let json = serde_json::to_string(&b).unwrap();
            prop_assert_eq!(&json, &format!("\"{}\"", hex::encode(&v)));
            prop_assert_eq!(serde_json::from_str::<Bytes>(&json).unwrap(), b);
        }
    }

    /// An action's inline lists encode exactly as vectors do (the wire and log formats
    /// do not depend on where the elements live).
    #[test]
    fn inline_lists_encode_as_vectors() {
        let level =
            PermissionLevel { actor: crate::chain::n("alice"), permission: crate::chain::n("active") };
        let one: Authorizations = smallvec::smallvec![level];
        let three: Authorizations = smallvec::smallvec![level; 3];
        assert!(!one.spilled() && three.spilled());
        assert_eq!(codec::encode(&one), codec::encode(&vec![level]));
        assert_eq!(codec::encode(&three), codec::encode(&vec![level; 3]));
        let back: Authorizations = codec::decode(&codec::encode(&three), 1 << 10).unwrap();
        assert_eq!(back, three);
    }
}
