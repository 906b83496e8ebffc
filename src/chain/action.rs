//! Actions and the permission levels that authorize them.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

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

/// Opaque bytes: raw in the binary codec, hex in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Bytes(pub Vec<u8>);

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
            hex::decode(&s).map(Self).map_err(|_| serde::de::Error::custom(format!("{s:?} is not hex")))
        } else {
            d.deserialize_byte_buf(BytesVisitor)
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
        Ok(Bytes(v))
    }

    fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Bytes, E> {
        Ok(Bytes(v.to_vec()))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Bytes, A::Error> {
        let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
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
    pub authorization: Vec<PermissionLevel>,
    /// Its arguments (hex in JSON).
    pub data: Bytes,
}
