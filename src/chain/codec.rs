//! The one canonical binary codec: the bincode 1 wire format (fixed-width little-endian
//! integers, u64 length prefixes, enums as u32 variant indexes), behind this module so a
//! move to a maintained bincode-compatible crate stays a one-file change. The layout of
//! every type is written down in docs/FORMAT.md ("Chain data model").

use bincode::Options;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A decode failure.
#[derive(Debug, thiserror::Error)]
#[error("malformed bytes: {0}")]
pub struct CodecError(String);

fn options() -> impl Options {
    bincode::DefaultOptions::new().with_fixint_encoding().with_little_endian()
}

/// Encodes `value`.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    options().serialize(value).expect("chain types always encode")
}

/// The encoded length of `value`, without encoding it.
pub fn encoded_len<T: Serialize + ?Sized>(value: &T) -> usize {
    options().serialized_size(value).expect("chain types always encode") as usize
}

/// The encoding of a struct whose fields are `head`'s, then one list, then `tail`'s, given
/// the list's elements already encoded: the codec writes a struct as its fields in order
/// and a list as a u64 count then its elements, so this equals encoding the struct when
/// `head` and `tail` encode its fields before and after the list and `items[i]` encodes
/// its i-th element. Lets a producer copy encodings it already has instead of running
/// every element through the codec again.
pub fn encode_around_list<H: Serialize, T: Serialize>(
    head: &H,
    items: &[impl AsRef<[u8]>],
    tail: &T,
) -> Vec<u8> {
    let body: usize = items.iter().map(|e| e.as_ref().len()).sum();
    let mut out = Vec::with_capacity(encoded_len(head) + 8 + body + encoded_len(tail));
    options().serialize_into(&mut out, head).expect("chain types always encode");
    out.extend_from_slice(&(items.len() as u64).to_le_bytes());
    for e in items {
        out.extend_from_slice(e.as_ref());
    }
    options().serialize_into(&mut out, tail).expect("chain types always encode");
    out
}

/// Decodes exactly one `T` from all of `bytes` (at most `limit` of them), rejecting
/// trailing bytes. bincode 1.3.3 does not apply its own limit when reading from a slice
/// (its issue #299), so the length is checked here; a length prefix still cannot make it
/// reserve much, since serde caps preallocation and every element must be present.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], limit: u64) -> Result<T, CodecError> {
    if bytes.len() as u64 > limit {
        return Err(CodecError(format!("{} bytes; the limit is {limit}", bytes.len())));
    }
    options()
        .with_limit(limit)
        .reject_trailing_bytes()
        .deserialize(bytes)
        .map_err(|e| CodecError(e.to_string()))
}

/// Decodes one `T` from the front of `bytes` and advances `bytes` past it, for sequences
/// of values in one buffer (the subscription protocol's frames). At most `limit` bytes
/// are read for it: as in [`decode`], bincode's own limit does not apply to slices, so it
/// reads from a window of `limit` bytes. Decoded from the slice itself, so a length prefix
/// larger than what follows fails before anything is allocated for it; the encoding is
/// canonical, so the bytes it took are its encoded length.
pub fn decode_front<T: DeserializeOwned + Serialize>(bytes: &mut &[u8], limit: u64) -> Result<T, CodecError> {
    let window = &bytes[..bytes.len().min(usize::try_from(limit).unwrap_or(usize::MAX))];
    let value: T =
        options().allow_trailing_bytes().deserialize(window).map_err(|e| CodecError(e.to_string()))?;
    *bytes = bytes
        .get(encoded_len(&value)..)
        .ok_or_else(|| CodecError("a value re-encodes longer than the bytes it came from".into()))?;
    Ok(value)
}
