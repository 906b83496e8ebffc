//! Signature and authorization checks, batched.
//!
//! ed25519 signatures do not reveal their key, so each signature must be matched to a key
//! of the authorizing accounts. The fast path pairs signature i with the i-th distinct key
//! of the authorizations (in authorization order, keys in authority order: what `dawn
//! push` and the SDK produce) and verifies all pairs of many transactions in batches of
//! 256 spread over a thread pool. A batch that fails sends its transactions down the slow
//! path, which tries every signature against every candidate key one by one, so any
//! signature order is accepted, only slower.

use std::sync::atomic::AtomicU64;

use rayon::prelude::*;

use crate::chain::{
    verify_batch, Authority, ChainId, Checksum256, PermissionLevel, PublicKey, SignedTransaction, StateView,
    TxId, AUTHORITY_DEPTH_MAX,
};

use super::IngestError;

/// Signature pairs verified per batch call.
pub const VERIFY_BATCH: usize = 256;

/// A transaction ready for signature checks: its digest and candidate keys.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The transaction.
    pub tx: SignedTransaction,
    /// Its id.
    pub id: TxId,
    /// The digest its signatures cover.
    pub digest: Checksum256,
    /// Distinct keys of the authorizers, in pairing order.
    pub candidates: Vec<PublicKey>,
    /// Each authorization and its authority.
    pub authorities: Vec<(PermissionLevel, Authority)>,
}

fn collect_keys(auth: &Authority, state: &dyn StateView, depth: usize, out: &mut Vec<PublicKey>) {
    for k in &auth.keys {
        if !out.contains(&k.key) {
            out.push(k.key);
        }
    }
    if depth < AUTHORITY_DEPTH_MAX {
        for a in &auth.accounts {
            if let Some(sub) = state.permission(&a.permission) {
                collect_keys(&sub, state, depth + 1, out);
            }
        }
    }
}

/// Looks up the authorities a transaction needs and its candidate keys.
pub fn prepare(
    tx: SignedTransaction,
    chain: &ChainId,
    state: &dyn StateView,
) -> Result<Prepared, IngestError> {
    let (id, digest) = tx.transaction.id_and_digest(chain);
    prepare_with(tx, id, digest, state)
}

/// As [`prepare`], with the id and signing digest already computed.
pub fn prepare_with(
    tx: SignedTransaction,
    id: TxId,
    digest: Checksum256,
    state: &dyn StateView,
) -> Result<Prepared, IngestError> {
    let mut authorities: Vec<(PermissionLevel, Authority)> = Vec::new();
    let mut candidates = Vec::new();
    for a in &tx.transaction.actions {
        for level in &a.authorization {
            if authorities.iter().any(|(l, _)| l == level) {
                continue;
            }
            let auth = state.permission(level).ok_or(IngestError::UnknownAuthority(*level))?;
            collect_keys(&auth, state, 0, &mut candidates);
            authorities.push((*level, auth));
        }
    }
    Ok(Prepared { id, digest, tx, candidates, authorities })
}

fn slow_path(p: &Prepared, state: &dyn StateView) -> Result<(), IngestError> {
    let mut signed = Vec::new();
    for (index, sig) in p.tx.signatures.iter().enumerate() {
        match p.candidates.iter().find(|k| k.verify(&p.digest, sig)) {
            Some(k) => signed.push(*k),
            None => return Err(IngestError::BadSignature { index }),
        }
    }
    satisfied(p, &signed, state)
}

fn satisfied(p: &Prepared, signed: &[PublicKey], state: &dyn StateView) -> Result<(), IngestError> {
    let lookup = |l: &PermissionLevel| state.permission(l);
    for (level, auth) in &p.authorities {
        if !auth.satisfied_by(signed, &lookup, 0) {
            return Err(IngestError::MissingAuthority(*level));
        }
    }
    Ok(())
}

/// Checks the signatures and authorizations of every transaction; one result each, in
/// order. The CPU time of the batched signature checks is added to `busy` (nanoseconds).
pub fn verify_all(
    batch: &[Prepared],
    state: &dyn StateView,
    busy: &AtomicU64,
) -> Vec<Result<(), IngestError>> {
    // Fast-path pairs: (transaction index, digest, signature, key).
    let mut pairs = Vec::new();
    let mut fast = vec![true; batch.len()];
    for (i, p) in batch.iter().enumerate() {
        if p.tx.signatures.len() > p.candidates.len() {
            fast[i] = false;
            continue;
        }
        for (s, k) in p.tx.signatures.iter().zip(&p.candidates) {
            pairs.push((i, p.digest, *s, *k));
        }
    }
    let failed: Vec<usize> = pairs
        .par_chunks(VERIFY_BATCH)
        .flat_map_iter(|chunk| {
            let started = crate::chain::thread_cpu_ns();
            let items: Vec<_> = chunk.iter().map(|(_, d, s, k)| (*d, *s, *k)).collect();
            let ok = verify_batch(&items);
            crate::chain::add_cpu_since(busy, started);
            chunk.iter().filter(move |_| !ok).map(|(i, ..)| *i).collect::<Vec<_>>()
        })
        .collect();
    for i in failed {
        fast[i] = false;
    }
    batch
        .par_iter()
        .enumerate()
        .map(|(i, p)| {
            if fast[i] {
                let n = p.tx.signatures.len();
                satisfied(p, &p.candidates[..n], state)
            } else {
                slow_path(p, state)
            }
        })
        .collect()
}
