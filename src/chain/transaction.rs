//! Transactions: the fields of DESIGN.md, their id, the signed digest, and the scope rules.

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use super::{codec, Action, Checksum256, Name, Signature, TimePointSec};

/// A transaction id: SHA-256 of the transaction's canonical encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TxId(pub Checksum256);

impl std::fmt::Display for TxId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A chain id: SHA-256 of the genesis; covered by every signature so a transaction cannot
/// be replayed on another chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChainId(pub Checksum256);

/// A transaction's scope list; two (a transfer's sender and receiver) live inline.
pub type Scopes = SmallVec<[Name; 2]>;
/// A transaction's actions; one is the common case and lives inline.
pub type Actions = SmallVec<[Action; 1]>;
/// A transaction's signatures; one is the common case and lives inline.
pub type Signatures = SmallVec<[Signature; 1]>;

/// An unsigned transaction. `Default` is the empty one (expired at the epoch, no actions):
/// a base to fill in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    /// Not valid at or after this time.
    pub expiration: TimePointSec,
    /// Low 16 bits of a recent block number (TaPoS).
    pub ref_block_num: u16,
    /// Bytes 8..12 of that block's id, as a little-endian u32 (TaPoS).
    pub ref_block_prefix: u32,
    /// CPU the sender allows (0: the chain's default).
    pub max_cpu_us: u32,
    /// Network bytes the sender allows (0: the chain's default).
    pub max_net_bytes: u32,
    /// Seconds to delay execution.
    pub delay_sec: u32,
    /// Scopes the transaction reads, sorted and unique.
    pub read_scopes: Scopes,
    /// Scopes the transaction writes, sorted and unique.
    pub write_scopes: Scopes,
    /// The actions, run in order.
    pub actions: Actions,
}

/// A scope declaration that breaks Dawn's rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScopeError {
    /// A list is not sorted ascending by name value, or repeats a scope.
    #[error("{list} scopes must be sorted and unique; {at} is out of order or repeated")]
    NotSortedUnique {
        /// `read` or `write`.
        list: &'static str,
        /// The offending scope.
        at: Name,
    },
    /// A scope is in both lists.
    #[error("scope {0} is declared both read and write; declare it once, as write")]
    ReadAndWrite(Name),
    /// An authorizing actor is not a write scope.
    #[error("actor {0} authorizes an action but is not in write_scopes; add it")]
    ActorNotWritten(Name),
    /// No action.
    #[error("a transaction needs at least one action")]
    NoActions,
}

fn sorted_unique(list: &'static str, v: &[Name]) -> Result<(), ScopeError> {
    for w in v.windows(2) {
        if w[0].0 >= w[1].0 {
            return Err(ScopeError::NotSortedUnique { list, at: w[1] });
        }
    }
    Ok(())
}

impl Transaction {
    /// Its canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Its id.
    pub fn id(&self) -> TxId {
        TxId(Checksum256::hash(&self.encode()))
    }

    /// The digest signatures cover: SHA-256 of the chain id followed by the encoding.
    pub fn signing_digest(&self, chain: &ChainId) -> Checksum256 {
        Checksum256::hash_parts(&[&chain.0 .0, &self.encode()])
    }

    /// The id and the signing digest from one encoding.
    pub fn id_and_digest(&self, chain: &ChainId) -> (TxId, Checksum256) {
        let enc = self.encode();
        (TxId(Checksum256::hash(&enc)), Checksum256::hash_parts(&[&chain.0 .0, &enc]))
    }

    /// Checks the scope declaration as Dawn requires: each list sorted and unique, the
    /// lists disjoint, every authorizing actor a write scope.
    pub fn check_scopes(&self) -> Result<(), ScopeError> {
        if self.actions.is_empty() {
            return Err(ScopeError::NoActions);
        }
        sorted_unique("read", &self.read_scopes)?;
        sorted_unique("write", &self.write_scopes)?;
        for r in &self.read_scopes {
            if self.write_scopes.binary_search_by_key(&r.0, |w| w.0).is_ok() {
                return Err(ScopeError::ReadAndWrite(*r));
            }
        }
        for a in &self.actions {
            for auth in &a.authorization {
                if self.write_scopes.binary_search_by_key(&auth.actor.0, |w| w.0).is_err() {
                    return Err(ScopeError::ActorNotWritten(auth.actor));
                }
            }
        }
        Ok(())
    }
}

/// A transaction with its signatures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedTransaction {
    /// The transaction.
    pub transaction: Transaction,
    /// Signatures over [`Transaction::signing_digest`].
    pub signatures: Signatures,
}

impl SignedTransaction {
    /// A transaction with one action, expiring at `expiration`, all else zero and no
    /// signatures: a fixture for unit tests.
    #[cfg(test)]
    pub(crate) fn unsigned_with(expiration: TimePointSec, action: Action) -> Self {
        Self {
            transaction: Transaction {
                expiration,
                actions: smallvec::smallvec![action],
                ..Transaction::default()
            },
            signatures: smallvec::smallvec![],
        }
    }

    /// Signs `transaction` with each key.
    pub fn sign(transaction: Transaction, keys: &[&super::PrivateKey], chain: &ChainId) -> Self {
        let d = transaction.signing_digest(chain);
        let signatures = keys.iter().map(|k| k.sign(&d)).collect();
        Self { transaction, signatures }
    }

    /// Its id (of the transaction, signatures excluded).
    pub fn id(&self) -> TxId {
        self.transaction.id()
    }

    /// Encodes once and derives everything intake needs: the encoding (kept for the block
    /// it goes into), the id, the signing digest and the block leaf. The transaction's own
    /// encoding is the prefix of the signed one (fields in order; the signatures come last
    /// as a u64 count and 64 bytes each), so it is hashed in place, and the leaf's hash
    /// goes on from the id's state over that prefix instead of hashing it twice.
    pub fn digests(&self, chain: &ChainId) -> (Vec<u8>, TxId, Checksum256, Checksum256) {
        use sha2::Digest;
        let enc = codec::encode(self);
        let tx_len = enc.len() - 8 - 64 * self.signatures.len();
        let (tx_bytes, signatures) = enc.split_at(tx_len);
        debug_assert_eq!(tx_bytes, &self.transaction.encode()[..]);
        let mut id = sha2::Sha256::new();
        id.update(tx_bytes);
        let mut leaf = id.clone();
        leaf.update(signatures);
        let digest = Checksum256::hash_parts(&[&chain.0 .0, tx_bytes]);
        (enc, TxId(Checksum256(id.finalize().into())), digest, Checksum256(leaf.finalize().into()))
    }

    /// Its merkle leaf in a block: SHA-256 of the whole encoding, signatures included.
    pub fn leaf(&self) -> Checksum256 {
        Checksum256::hash(&codec::encode(self))
    }
}
