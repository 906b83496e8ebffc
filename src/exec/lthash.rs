//! The state root's accumulator: a lattice-based homomorphic multiset hash (LtHash, Bellare
//! and Micciancio; the 1024 × 16-bit parameters Facebook and Solana use).
//!
//! Each row hashes to 1024 lanes of 16 bits (BLAKE3 in extendable-output mode over the row's
//! key and value); the accumulator is the lane-wise sum of all rows' vectors modulo 2^16.
//! Adding a row adds its vector, removing it subtracts it, so the root follows the state
//! incrementally, in any order, on any number of threads, and equals the hash of the whole
//! set recomputed from scratch. Written here because no maintained crate provides it; the
//! hashing itself is the `blake3` crate.

/// Lanes in the accumulator.
pub const LANES: usize = 1024;

/// A multiset hash: lane-wise sums modulo 2^16.
#[derive(Clone, PartialEq, Eq)]
pub struct LtHash(pub Box<[u16; LANES]>);

impl Default for LtHash {
    fn default() -> Self {
        Self(Box::new([0u16; LANES]))
    }
}

impl std::fmt::Debug for LtHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LtHash({})", hex::encode(self.checksum()))
    }
}

impl LtHash {
    /// The vector of one element, given as the parts of its encoding.
    pub fn of(parts: &[&[u8]]) -> Self {
        let mut out = Self::default();
        out.add_element(parts);
        out
    }

    /// Fills `out` with one element's vector bytes. Built in the caller's buffer: a row
    /// change hashes two elements, and a 2 KiB array returned by value (and a cloned
    /// 2 KiB hasher) cost a copy each.
    fn element_bytes(parts: &[&[u8]], out: &mut [u8; LANES * 2]) {
        use blake3::hazmat::HasherExt;
        // The key derived from the context string is the same for every row: derived once.
        static ROW_KEY: std::sync::LazyLock<blake3::hazmat::ContextKey> =
            std::sync::LazyLock::new(|| blake3::hazmat::hash_derive_key_context("dawn state row v1"));
        let mut h = blake3::Hasher::new_from_context_key(&ROW_KEY);
        for p in parts {
            h.update(&(p.len() as u64).to_le_bytes());
            h.update(p);
        }
        h.finalize_xof().fill(out);
    }

    /// Adds one element's vector without building it separately.
    pub fn add_element(&mut self, parts: &[&[u8]]) {
        let mut bytes = [0u8; LANES * 2];
        Self::element_bytes(parts, &mut bytes);
        for (lane, pair) in self.0.iter_mut().zip(bytes.chunks_exact(2)) {
            *lane = lane.wrapping_add(u16::from_le_bytes([pair[0], pair[1]]));
        }
    }

    /// Subtracts one element's vector.
    pub fn sub_element(&mut self, parts: &[&[u8]]) {
        let mut bytes = [0u8; LANES * 2];
        Self::element_bytes(parts, &mut bytes);
        for (lane, pair) in self.0.iter_mut().zip(bytes.chunks_exact(2)) {
            *lane = lane.wrapping_sub(u16::from_le_bytes([pair[0], pair[1]]));
        }
    }

    /// Adds `other` (the union of the multisets).
    pub fn add(&mut self, other: &Self) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a = a.wrapping_add(*b);
        }
    }

    /// Subtracts `other` (removes its elements).
    pub fn sub(&mut self, other: &Self) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a = a.wrapping_sub(*b);
        }
    }

    /// A 32-byte digest of the accumulator: SHA-256 of its lanes, little-endian.
    pub fn checksum(&self) -> [u8; 32] {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        for l in self.0.iter() {
            h.update(l.to_le_bytes());
        }
        h.finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_independent_and_removable() {
        let a = LtHash::of(&[b"a"]);
        let b = LtHash::of(&[b"b"]);
        let mut x = LtHash::default();
        x.add(&a);
        x.add(&b);
        let mut y = LtHash::default();
        y.add(&b);
        y.add(&a);
        assert_eq!(x, y);
        y.sub(&a);
        assert_eq!(y, b);
        assert_ne!(LtHash::of(&[b"ab"]), LtHash::of(&[b"a", b"b"]), "parts are length-prefixed");
    }

    /// The row hash is part of the state root every block header carries: pinned.
    #[test]
    fn row_vector_is_pinned() {
        let v = LtHash::of(&[b"row key", b"row value"]);
        assert_eq!(
            hex::encode(v.checksum()),
            "719bf3215edf6b8ee1a638ac2bbde569418ba2c68c2648ab5248d2b6e2625d66"
        );
        assert_eq!(&v.0[..4], &[31747, 6248, 60169, 30925]);
    }
}
