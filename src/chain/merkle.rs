//! Merkle roots over a block's transactions (and receipts), with inclusion proofs a third
//! party can check knowing only the root, the leaf, its index and the leaf count.
//!
//! The tree is RFC 6962's (Certificate Transparency): leaves hashed as
//! `SHA-256(0x00 || leaf)`, inner nodes as `SHA-256(0x01 || left || right)`, the split at
//! the largest power of two below the count, so no leaf is ever duplicated (the
//! duplicate-last-leaf scheme lets two different lists share a root). Empty: SHA-256("").
//! Large trees hash their halves in parallel when built on a rayon pool's thread; the root
//! is the same on any thread count.

use super::Checksum256;

/// Hash of one leaf.
pub fn leaf_hash(leaf: &Checksum256) -> Checksum256 {
    Checksum256::hash_parts(&[&[0u8], &leaf.0])
}

fn node_hash(l: &Checksum256, r: &Checksum256) -> Checksum256 {
    Checksum256::hash_parts(&[&[1u8], &l.0, &r.0])
}

fn split(n: usize) -> usize {
    // Largest power of two strictly below n (n >= 2).
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// Subtrees at least this large hash their halves in parallel (on the current rayon pool).
const PARALLEL_LEAVES_MIN: usize = 1024;

fn root_of_hashed(h: &[Checksum256], parallel: bool) -> Checksum256 {
    match h.len() {
        0 => Checksum256::hash(&[]),
        1 => h[0],
        n => {
            let k = split(n);
            let (l, r) = if parallel && n >= PARALLEL_LEAVES_MIN {
                rayon::join(|| root_of_hashed(&h[..k], true), || root_of_hashed(&h[k..], true))
            } else {
                (root_of_hashed(&h[..k], false), root_of_hashed(&h[k..], false))
            };
            node_hash(&l, &r)
        }
    }
}

/// The root over `leaves` (each a digest, e.g. a transaction id).
///
/// In parallel only when called on a rayon pool's thread (exec's workers hashing a block's
/// results): from any other thread, rayon would queue the work on the global pool behind
/// whatever that pool is busy with (intake's signature checks), and the caller (the block
/// producer) would wait for all of it.
pub fn root(leaves: &[Checksum256]) -> Checksum256 {
    use rayon::prelude::*;
    let parallel = leaves.len() >= PARALLEL_LEAVES_MIN && rayon::current_thread_index().is_some();
    let hashed: Vec<Checksum256> = if parallel {
        leaves.par_iter().map(leaf_hash).collect()
    } else {
        leaves.iter().map(leaf_hash).collect()
    };
    root_of_hashed(&hashed, parallel)
}

/// The audit path of leaf `index`: sibling hashes from the leaf up.
pub fn proof(leaves: &[Checksum256], index: usize) -> Option<Vec<Checksum256>> {
    if index >= leaves.len() {
        return None;
    }
    let hashed: Vec<Checksum256> = leaves.iter().map(leaf_hash).collect();
    let mut path = Vec::new();
    path_of(&hashed, index, &mut path);
    Some(path)
}

fn path_of(h: &[Checksum256], index: usize, out: &mut Vec<Checksum256>) {
    if h.len() <= 1 {
        return;
    }
    let k = split(h.len());
    if index < k {
        path_of(&h[..k], index, out);
        out.push(root_of_hashed(&h[k..], false));
    } else {
        path_of(&h[k..], index - k, out);
        out.push(root_of_hashed(&h[..k], false));
    }
}

/// Checks that `leaf` is at `index` among `count` leaves under `root`.
pub fn verify(
    root: &Checksum256,
    leaf: &Checksum256,
    index: usize,
    count: usize,
    path: &[Checksum256],
) -> bool {
    if index >= count {
        return false;
    }
    // Walk down to learn, at each level, whether the leaf is in the left or right part.
    let mut sides = Vec::new();
    let (mut i, mut n) = (index, count);
    while n > 1 {
        let k = split(n);
        if i < k {
            sides.push(true);
            n = k;
        } else {
            sides.push(false);
            i -= k;
            n -= k;
        }
    }
    if sides.len() != path.len() {
        return false;
    }
    let mut h = leaf_hash(leaf);
    for (sib, left) in path.iter().zip(sides.iter().rev()) {
        h = if *left { node_hash(&h, sib) } else { node_hash(sib, &h) };
    }
    h == *root
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn leaves(n: usize) -> Vec<Checksum256> {
        (0..n).map(|i| Checksum256::hash(&(i as u64).to_le_bytes())).collect()
    }

    #[test]
    fn small_trees() {
        assert_eq!(root(&[]), Checksum256::hash(&[]));
        let l = leaves(3);
        let expect = node_hash(&node_hash(&leaf_hash(&l[0]), &leaf_hash(&l[1])), &leaf_hash(&l[2]));
        assert_eq!(root(&l), expect);
        // No second preimage by duplicating the last leaf.
        let mut dup = l.clone();
        dup.push(l[2]);
        assert_ne!(root(&l), root(&dup));
    }

    #[test]
    fn large_trees_hash_alike_on_a_pool_and_off_it() {
        let l = leaves(3 * PARALLEL_LEAVES_MIN + 17);
        let off = root(&l);
        assert!(rayon::current_thread_index().is_none());
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        let on = pool.install(|| {
            assert!(rayon::current_thread_index().is_some());
            root(&l)
        });
        assert_eq!(on, off);
        // Both equal the tree walked leaf by leaf, as a proof's path sees it.
        let p = proof(&l, 5).unwrap();
        assert!(verify(&off, &l[5], 5, l.len(), &p));
    }

    proptest! {
        #[test]
        fn every_proof_verifies_and_tampering_fails(n in 1usize..70, pick in any::<prop::sample::Index>()) {
            let l = leaves(n);
            let r = root(&l);
            let i = pick.index(n);
            let p = proof(&l, i).unwrap();
            prop_assert!(verify(&r, &l[i], i, n, &p));
            prop_assert!(!verify(&r, &Checksum256::hash(b"x"), i, n, &p));
            if n > 1 {
                prop_assert!(!verify(&r, &l[i], (i + 1) % n, n, &p));
            }
        }
    }
}
