//! Signature and authorization checks, batched.
//!
//! ed25519 signatures do not reveal their key, so each signature must be matched to a key
//! of the authorizing accounts. The fast path pairs signature i with the i-th distinct key
//! of the authorizations (in authorization order, keys in authority order: what `dawn
//! push` and the SDK produce; keys of delegated account permissions follow their
//! authority's own, depth first, each permission visited once, where first met nearest
//! the top) and verifies all pairs of many transactions in batches of
//! 256 spread over a thread pool. A batch that fails sends its transactions down the slow
//! path, which tries every signature against every candidate key one by one, so any
//! signature order is accepted, only slower.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use rayon::prelude::*;
use smallvec::SmallVec;

use crate::chain::{
    verify_batch_of, Authority, ChainId, Checksum256, PermissionLevel, PublicKey, SignedTransaction,
    StateView, TxId, AUTHORITY_DEPTH_MAX,
};

use super::IngestError;

/// Signature pairs verified per batch call.
pub const VERIFY_BATCH: usize = 256;

/// Most authorities visited for one transaction's candidate keys; keys of authorities
/// beyond it are not candidates (their signatures are refused as bad), which bounds the
/// work a deeply delegated authority can cause.
pub const REACHED_MAX: usize = 256;

/// A candidate key: the index of its authority in [`Prepared`]'s reached list and its
/// index among that authority's keys. Keys stay where the cached authority holds them (a
/// decoded key is 192 bytes): nothing is copied per transaction but these indices.
#[derive(Debug, Clone, Copy)]
struct KeyRef {
    authority: u32,
    key: u32,
}

/// A transaction ready for signature checks: its digest and candidate keys.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The transaction.
    pub tx: SignedTransaction,
    /// Its id.
    pub id: TxId,
    /// The digest its signatures cover.
    pub digest: Checksum256,
    /// Every authority visited, in visiting order: each declared authorization's, each
    /// followed by those its account permissions lead to (depth first).
    /// Each with the depth it was (nearest the top) reached at.
    reached: SmallVec<[(PermissionLevel, Arc<Authority>, u8); 2]>,
    /// Each distinct declared authorization, as an index into `reached`.
    declared: SmallVec<[u32; 2]>,
    /// Distinct keys of the reached authorities, in pairing order.
    candidates: SmallVec<[KeyRef; 2]>,
}

impl Prepared {
    /// Number of distinct candidate keys.
    pub fn candidate_count(&self) -> usize {
        self.candidates.len()
    }

    /// The `i`-th candidate key, in pairing order.
    pub fn candidate(&self, i: usize) -> &PublicKey {
        let r = self.candidates[i];
        &self.reached[r.authority as usize].1.keys[r.key as usize].key
    }

    /// Adds `auth`, reached at `depth`, and depth first the authorities its account
    /// permissions lead to; their keys become candidates unless already there. Returns
    /// its index in `reached`. A level met again is not added twice, but is followed
    /// again when met nearer the top (its accounts may have been cut off by the depth).
    fn reach(
        &mut self,
        level: PermissionLevel,
        auth: Arc<Authority>,
        state: &dyn StateView,
        depth: usize,
    ) -> Option<u32> {
        let at = match self.reached.iter().position(|(l, ..)| *l == level) {
            Some(at) if usize::from(self.reached[at].2) <= depth => return Some(at as u32),
            Some(at) => {
                self.reached[at].2 = depth as u8;
                at
            }
            // Declared authorizations (depth 0) are always kept: they must be checked.
            None if depth > 0 && self.reached.len() >= REACHED_MAX => return None,
            None => {
                let at = self.reached.len();
                // Bounded by the transaction's size (declared) plus REACHED_MAX; u32
                // cannot wrap for any accepted transaction.
                for (k, kw) in auth.keys.iter().enumerate() {
                    if !(0..self.candidates.len()).any(|i| *self.candidate(i) == kw.key) {
                        self.candidates.push(KeyRef { authority: at as u32, key: k as u32 });
                    }
                }
                self.reached.push((level, auth, depth as u8));
                at
            }
        };
        if depth < AUTHORITY_DEPTH_MAX {
            let auth = self.reached[at].1.clone();
            for a in &auth.accounts {
                if let Some(sub) = state.permission(&a.permission) {
                    self.reach(a.permission, sub, state, depth + 1);
                }
            }
        }
        Some(at as u32)
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
    let mut p = Prepared {
        tx,
        id,
        digest,
        reached: SmallVec::new(),
        declared: SmallVec::new(),
        candidates: SmallVec::new(),
    };
    for a in 0..p.tx.transaction.actions.len() {
        for l in 0..p.tx.transaction.actions[a].authorization.len() {
            let level = p.tx.transaction.actions[a].authorization[l];
            if p.declared.iter().any(|&d| p.reached[d as usize].0 == level) {
                continue;
            }
            let auth = state.permission(&level).ok_or(IngestError::UnknownAuthority(level))?;
            let at = p.reach(level, auth, state, 0).expect("declared authorizations are always kept");
            p.declared.push(at);
        }
    }
    Ok(p)
}

fn slow_path(p: &Prepared, state: &dyn StateView) -> Result<(), IngestError> {
    let mut signed: SmallVec<[&PublicKey; 2]> = SmallVec::new();
    for (index, sig) in p.tx.signatures.iter().enumerate() {
        match (0..p.candidate_count()).map(|i| p.candidate(i)).find(|k| k.verify(&p.digest, sig)) {
            Some(k) => signed.push(k),
            None => return Err(IngestError::BadSignature { index }),
        }
    }
    satisfied(p, &signed, state)
}

fn satisfied(p: &Prepared, signed: &[&PublicKey], state: &dyn StateView) -> Result<(), IngestError> {
    let lookup = |l: &PermissionLevel| state.permission(l);
    for &d in &p.declared {
        let (level, auth, _) = &p.reached[d as usize];
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
    // Fast-path pairs: (transaction index, signature index = candidate index).
    let mut pairs: Vec<(u32, u32)> = Vec::with_capacity(batch.len());
    let mut fast = vec![true; batch.len()];
    for (i, p) in batch.iter().enumerate() {
        let n = p.tx.signatures.len();
        if n > p.candidate_count() {
            fast[i] = false;
            continue;
        }
        pairs.extend((0..n as u32).map(|s| (i as u32, s)));
    }
    let failed: Vec<u32> = pairs
        .par_chunks(VERIFY_BATCH)
        .flat_map_iter(|chunk| {
            let started = crate::chain::thread_cpu_ns();
            let ok = verify_batch_of(chunk.iter().map(|&(i, s)| {
                let p = &batch[i as usize];
                (&p.digest, &p.tx.signatures[s as usize], p.candidate(s as usize))
            }));
            crate::chain::add_cpu_since(busy, started);
            chunk.iter().filter(move |_| !ok).map(|&(i, _)| i).collect::<Vec<_>>()
        })
        .collect();
    for i in failed {
        fast[i as usize] = false;
    }
    // The weights of verified keys: a few comparisons each, here. Transactions off the
    // fast path verify their signatures one by one, on the pool.
    let mut out: Vec<Result<(), IngestError>> = batch
        .iter()
        .zip(&fast)
        .map(|(p, &fast)| {
            if !fast {
                return Ok(());
            }
            let signed: SmallVec<[&PublicKey; 2]> =
                (0..p.tx.signatures.len()).map(|s| p.candidate(s)).collect();
            satisfied(p, &signed, state)
        })
        .collect();
    let slow: Vec<usize> = (0..batch.len()).filter(|&i| !fast[i]).collect();
    if !slow.is_empty() {
        let slow: Vec<(usize, Result<(), IngestError>)> =
            slow.into_par_iter().map(|i| (i, slow_path(&batch[i], state))).collect();
        for (i, r) in slow {
            out[i] = r;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::chain::{n, Action, Bytes, KeyWeight, Name, PermissionLevelWeight, PrivateKey, TimePointSec};

    struct Perms(HashMap<PermissionLevel, Arc<Authority>>);

    impl StateView for Perms {
        fn account_exists(&self, account: Name) -> bool {
            self.0.keys().any(|l| l.actor == account)
        }
        fn permission(&self, level: &PermissionLevel) -> Option<Arc<Authority>> {
            self.0.get(level).cloned()
        }
    }

    fn level(actor: &str) -> PermissionLevel {
        PermissionLevel { actor: n(actor), permission: n("active") }
    }

    fn key(actor: &str) -> PublicKey {
        PrivateKey::from_seed(actor.as_bytes()).public()
    }

    /// `actor`'s authority: its own key, then the given accounts' `active`.
    fn authority(actor: &str, accounts: &[&str]) -> Arc<Authority> {
        Arc::new(Authority {
            threshold: 1,
            keys: vec![KeyWeight { key: key(actor), weight: 1 }],
            accounts: accounts
                .iter()
                .map(|a| PermissionLevelWeight { permission: level(a), weight: 1 })
                .collect(),
        })
    }

    fn tx(authorizers: &[&str]) -> SignedTransaction {
        SignedTransaction::unsigned_with(
            TimePointSec(1),
            Action {
                account: n("eosio.token"),
                name: n("transfer"),
                authorization: authorizers.iter().map(|a| level(a)).collect(),
                data: Bytes::from(vec![]),
            },
        )
    }

    #[test]
    fn candidates_come_in_first_appearance_order_depth_first_each_level_once() {
        // a -> [b, c], b -> [a, e], e -> [g]: a cycle between a and b. Each level is visited
        // once, at its nearest depth: a, b, (a again: skipped), e, g, then c.
        let state = Perms(HashMap::from([
            (level("a"), authority("a", &["b", "c"])),
            (level("b"), authority("b", &["a", "e"])),
            (level("c"), authority("c", &[])),
            (level("e"), authority("e", &["g"])),
            (level("g"), authority("g", &[])),
        ]));
        let p = prepare_with(tx(&["a", "a"]), TxId(Checksum256::hash(b"t")), Checksum256::hash(b"d"), &state)
            .unwrap();
        let order: Vec<PublicKey> = (0..p.candidate_count()).map(|i| *p.candidate(i)).collect();
        assert_eq!(order, ["a", "b", "e", "g", "c"].map(key));
        assert_eq!(p.declared.len(), 1, "a repeated authorization is checked once");
    }

    #[test]
    fn delegation_visits_are_bounded() {
        // Two accounts delegating to each other twice over: 2^depth paths without a bound.
        let state = Perms(HashMap::from([
            (level("a"), authority("a", &["b", "bb"])),
            (level("b"), authority("b", &["a", "aa"])),
            (level("aa"), authority("aa", &["b", "bb"])),
            (level("bb"), authority("bb", &["a", "aa"])),
        ]));
        let p =
            prepare_with(tx(&["a"]), TxId(Checksum256::hash(b"t")), Checksum256::hash(b"d"), &state).unwrap();
        assert_eq!(p.candidate_count(), 4);
        assert_eq!(p.reached.len(), 4, "each level is visited once");
        assert!(matches!(
            prepare_with(tx(&["nobody"]), TxId(Checksum256::hash(b"t")), Checksum256::hash(b"d"), &state),
            Err(IngestError::UnknownAuthority(_))
        ));
        // A delegation wider than the bound: REACHED_MAX authorities are visited in all,
        // the declared one included, so only their keys are candidates.
        let wide: Vec<String> = (0..REACHED_MAX + 20)
            .map(|i| format!("w{}{}", char::from(b'a' + (i / 26) as u8), char::from(b'a' + (i % 26) as u8)))
            .collect();
        let names: Vec<&str> = wide.iter().map(String::as_str).collect();
        let mut perms: HashMap<_, _> = names.iter().map(|w| (level(w), authority(w, &[]))).collect();
        perms.insert(level("a"), authority("a", &names));
        let p =
            prepare_with(tx(&["a"]), TxId(Checksum256::hash(b"t")), Checksum256::hash(b"d"), &Perms(perms))
                .unwrap();
        assert_eq!(p.candidate_count(), REACHED_MAX);
    }

    /// `tx(authorizers)` prepared and signed by `signers`' keys, in that order.
    fn signed(state: &Perms, authorizers: &[&str], signers: &[&str]) -> Prepared {
        let digest = Checksum256::hash(authorizers.concat().as_bytes());
        let mut t = tx(authorizers);
        t.signatures = signers.iter().map(|s| PrivateKey::from_seed(s.as_bytes()).sign(&digest)).collect();
        prepare_with(t, TxId(digest), digest, state).unwrap()
    }

    #[test]
    fn any_signature_order_is_accepted_and_a_bad_signature_is_named() {
        let state = Perms(HashMap::from([
            (level("a"), authority("a", &[])),
            (level("b"), authority("b", &[])),
            (level("c"), authority("c", &[])),
        ]));
        let batch = vec![
            // Pairing order: the fast path.
            signed(&state, &["a", "b"], &["a", "b"]),
            // Reversed: the batch fails, the slow path matches each signature.
            signed(&state, &["a", "b"], &["b", "a"]),
            // A stranger's signature in second place.
            signed(&state, &["a", "c"], &["a", "zz"]),
            // Only one of two required authorities signed.
            signed(&state, &["a", "c"], &["a"]),
        ];
        let busy = AtomicU64::new(0);
        let r = verify_all(&batch, &state, &busy);
        assert!(r[0].is_ok() && r[1].is_ok(), "{r:?}");
        assert!(matches!(r[2], Err(IngestError::BadSignature { index: 1 })), "{:?}", r[2]);
        assert!(matches!(&r[3], Err(IngestError::MissingAuthority(l)) if *l == level("c")), "{:?}", r[3]);
    }
}
