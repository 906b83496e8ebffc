//! The signature on storage requests (uploads and deletes), reproducible by any client from
//! docs/IPFS.md, "Signing a request".
//!
//! ```text
//! digest = SHA-256( chain_id                      32 bytes
//!                 ‖ "dawn-storage-v1" ‖ 0x00      16 bytes, domain separation
//!                 ‖ actor                         8 bytes, name as u64 little-endian
//!                 ‖ permission                    8 bytes, likewise
//!                 ‖ timestamp                     8 bytes, unix seconds, u64 little-endian
//!                 ‖ len(target)                   4 bytes, u32 little-endian
//!                 ‖ target                        the request's path and query, as sent
//!                 ‖ SHA-256(body) )               32 bytes
//! ```
//! sent as headers `x-dawn-actor: alice@active`, `x-dawn-timestamp: 1767225600`,
//! `x-dawn-signature: SIG_ED_…`. The target binds the endpoint, the file name and the
//! options; the body hash binds the content; the chain id keeps a signature from being
//! replayed on another chain; the timestamp, accepted within ±[`TIMESTAMP_SKEW_MAX_SEC`] of
//! the node's clock, bounds replay to a window in which repeating an upload or delete
//! changes nothing (both are idempotent).
//!
//! Version 1 accepts one signature by a key listed directly in the permission's authority
//! whose weight alone meets the threshold (checked with
//! [`crate::chain::Authority::satisfied_by`]); multi-signature and delegated authorities
//! are refused with [`AuthError::MissingAuthority`].

use sha2::{Digest as _, Sha256};

use crate::chain::{ChainId, Checksum256, Name, PermissionLevel, PrivateKey, Signature, StateView};

/// Domain tag, followed by a zero byte in the digest.
pub const DOMAIN: &[u8] = b"dawn-storage-v1";
/// Header naming `actor@permission`.
pub const HEADER_ACTOR: &str = "x-dawn-actor";
/// Header with the unix time in seconds.
pub const HEADER_TIMESTAMP: &str = "x-dawn-timestamp";
/// Header with the `SIG_ED_…` signature.
pub const HEADER_SIGNATURE: &str = "x-dawn-signature";
/// Largest accepted distance between the request's timestamp and the node's clock.
pub const TIMESTAMP_SKEW_MAX_SEC: u64 = 300;
/// Longest request target signed.
pub const TARGET_BYTES_MAX: usize = 4096;

/// Why a signed request was refused. Nothing changes on refusal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// A header is missing or malformed.
    #[error("bad or missing {header} header: {why}")]
    BadHeader {
        /// The header.
        header: &'static str,
        /// Why.
        why: String,
    },
    /// The timestamp is outside the accepted window.
    #[error("timestamp {timestamp} is more than {TIMESTAMP_SKEW_MAX_SEC} s from the node's clock ({now}); sign again with the current time")]
    Stale {
        /// The request's timestamp.
        timestamp: u64,
        /// The node's clock.
        now: u64,
    },
    /// No such account or permission in the executed state.
    #[error("unknown authority {0}")]
    UnknownAuthority(PermissionLevel),
    /// The signature verifies against no key of the permission, or that key's weight does
    /// not meet the threshold.
    #[error("the signature does not satisfy {0}: sign with a key of that permission whose weight meets its threshold")]
    MissingAuthority(PermissionLevel),
}

/// The digest a client signs.
pub fn signing_digest(
    chain: &ChainId,
    level: &PermissionLevel,
    timestamp: u64,
    target: &str,
    body_sha256: &Checksum256,
) -> Checksum256 {
    let mut h = Sha256::new();
    h.update(chain.0 .0);
    h.update(DOMAIN);
    h.update([0u8]);
    h.update(level.actor.0.to_le_bytes());
    h.update(level.permission.0.to_le_bytes());
    h.update(timestamp.to_le_bytes());
    h.update((target.len() as u32).to_le_bytes());
    h.update(target.as_bytes());
    h.update(body_sha256.0);
    Checksum256(h.finalize().into())
}

/// The three headers of a signed request, as `(name, value)` pairs.
pub fn sign_request(
    key: &PrivateKey,
    chain: &ChainId,
    level: &PermissionLevel,
    timestamp: u64,
    target: &str,
    body: &[u8],
) -> [(&'static str, String); 3] {
    let d = signing_digest(chain, level, timestamp, target, &Checksum256::hash(body));
    [
        (HEADER_ACTOR, level.to_string()),
        (HEADER_TIMESTAMP, timestamp.to_string()),
        (HEADER_SIGNATURE, key.sign(&d).to_text()),
    ]
}

/// Parsed headers of a signed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Who signs.
    pub level: PermissionLevel,
    /// When.
    pub timestamp: u64,
    /// The signature.
    pub signature: Signature,
}

impl Credentials {
    /// Parses the header values; `None` for all three absent (an anonymous request).
    pub fn parse(
        actor: Option<&str>,
        timestamp: Option<&str>,
        signature: Option<&str>,
    ) -> Result<Option<Self>, AuthError> {
        if actor.is_none() && timestamp.is_none() && signature.is_none() {
            return Ok(None);
        }
        let need = |v: Option<&str>, header| {
            v.map(str::to_string).ok_or(AuthError::BadHeader { header, why: "missing".into() })
        };
        let a = need(actor, HEADER_ACTOR)?;
        let (actor, perm) = a.split_once('@').ok_or(AuthError::BadHeader {
            header: HEADER_ACTOR,
            why: format!("{a:?} is not actor@permission"),
        })?;
        let name = |s: &str| {
            s.parse::<Name>().map_err(|e| AuthError::BadHeader { header: HEADER_ACTOR, why: e.to_string() })
        };
        let level = PermissionLevel { actor: name(actor)?, permission: name(perm)? };
        let t = need(timestamp, HEADER_TIMESTAMP)?;
        let timestamp = t.parse().map_err(|_| AuthError::BadHeader {
            header: HEADER_TIMESTAMP,
            why: format!("{t:?} is not unix seconds"),
        })?;
        let s = need(signature, HEADER_SIGNATURE)?;
        let signature = s.parse().map_err(|e: crate::chain::KeyError| AuthError::BadHeader {
            header: HEADER_SIGNATURE,
            why: e.to_string(),
        })?;
        Ok(Some(Self { level, timestamp, signature }))
    }

    /// Checks the timestamp window and the signature against the permission's authority in
    /// `state`.
    pub fn verify(
        &self,
        state: &dyn StateView,
        chain: &ChainId,
        now: u64,
        target: &str,
        body_sha256: &Checksum256,
    ) -> Result<(), AuthError> {
        if self.timestamp.abs_diff(now) > TIMESTAMP_SKEW_MAX_SEC {
            return Err(AuthError::Stale { timestamp: self.timestamp, now });
        }
        if target.len() > TARGET_BYTES_MAX {
            return Err(AuthError::BadHeader { header: "target", why: "request target too long".into() });
        }
        let auth = state.permission(&self.level).ok_or(AuthError::UnknownAuthority(self.level))?;
        let d = signing_digest(chain, &self.level, self.timestamp, target, body_sha256);
        let signed: Vec<_> =
            auth.keys.iter().map(|k| k.key).filter(|k| k.verify(&d, &self.signature)).take(1).collect();
        // Only the key that signed, and no delegation (v1): the lookup resolves nothing.
        if signed.is_empty() || !auth.satisfied_by(&signed, &|_| None, 0) {
            return Err(AuthError::MissingAuthority(self.level));
        }
        Ok(())
    }
}
