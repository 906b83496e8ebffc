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

/// Decodes exactly one `T` from all of `bytes`, allocating at most `limit` bytes (a length
/// prefix cannot make the decoder reserve more), rejecting trailing bytes.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], limit: u64) -> Result<T, CodecError> {
    options()
        .with_limit(limit)
        .reject_trailing_bytes()
        .deserialize(bytes)
        .map_err(|e| CodecError(e.to_string()))
}
