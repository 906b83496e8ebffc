//! Every way intake refuses a transaction or a request, with its HTTP status and the JSON
//! body `{code, name, message, details}` clients see (docs/API.md).

use serde::Serialize;

use crate::chain::{BlockNum, Name, PermissionLevel, ScopeError, TimePointSec, TxId};

/// Why a transaction or request was refused. Nothing is changed by a refusal.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// The bytes or JSON do not decode.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// The request or transaction is larger than allowed.
    #[error("{what} is {len} bytes; the limit is {max}")]
    TooLarge {
        /// What.
        what: &'static str,
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Scope declaration broken.
    #[error("bad scope declaration: {0}")]
    Scopes(#[from] ScopeError),
    /// Already expired.
    #[error("transaction expired at {expiration}; now is {now}: sign it again with a later expiration")]
    Expired {
        /// Its expiration.
        expiration: TimePointSec,
        /// Now.
        now: TimePointSec,
    },
    /// Expiration too far ahead.
    #[error("expiration {expiration} is more than {max_sec} s after now ({now})")]
    ExpirationTooFar {
        /// Its expiration.
        expiration: TimePointSec,
        /// Now.
        now: TimePointSec,
        /// The window.
        max_sec: u32,
    },
    /// TaPoS refers to a block this node does not know.
    #[error(
        "ref_block_num {ref_block_num} does not match a recent block; take it from get_info's head block"
    )]
    UnknownRefBlock {
        /// The field.
        ref_block_num: u16,
    },
    /// TaPoS prefix does not match the referenced block: another fork or another chain.
    #[error("ref_block_prefix {got} does not match block {block_num} (expected {expected}): the transaction was built on another fork or chain")]
    BadRefBlockPrefix {
        /// The block.
        block_num: BlockNum,
        /// The field.
        got: u32,
        /// The block id's prefix.
        expected: u32,
    },
    /// Seen before, within the expiration window.
    #[error("duplicate transaction {0}")]
    Duplicate(TxId),
    /// An authorizing account or permission does not exist.
    #[error("unknown authority {0}")]
    UnknownAuthority(PermissionLevel),
    /// A signature is invalid or signs for no key of the authorizers.
    #[error("signature {index} does not verify against any key of the authorizing accounts")]
    BadSignature {
        /// Position of the signature.
        index: usize,
    },
    /// The signatures do not satisfy an authorization.
    #[error("missing authority of {0}: the signatures present do not reach its threshold")]
    MissingAuthority(PermissionLevel),
    /// An account named in a lookup does not exist.
    #[error("unknown account {0}")]
    UnknownAccount(Name),
    /// No such block or transaction.
    #[error("not found: {0}")]
    NotFound(String),
    /// No such API path.
    #[error("no such endpoint {0}; see docs/API.md")]
    NoEndpoint(String),
    /// The intake queue is full.
    #[error("intake queue is full ({0} transactions waiting); retry shortly")]
    Overloaded(usize),
    /// The node is stopping.
    #[error("node is shutting down")]
    ShuttingDown,
    /// The chain log failed; the node stops.
    #[error("internal error: {0}")]
    Internal(String),
    /// Waiting for execution took longer than allowed.
    #[error("timed out: {0}")]
    Timeout(String),
    /// A speculative run (compute_scopes) failed: the transaction would fail as written.
    #[error("the transaction fails when run against the newest state: {0}")]
    Speculation(String),
}

/// The JSON error body.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    /// HTTP status.
    pub code: u16,
    /// Stable machine-readable name.
    pub name: &'static str,
    /// Human-readable message that says what to do.
    pub message: String,
    /// Extra facts.
    pub details: Vec<String>,
}

impl IngestError {
    /// HTTP status and stable name.
    pub fn status_and_name(&self) -> (u16, &'static str) {
        match self {
            Self::Malformed(_) => (400, "malformed"),
            Self::TooLarge { .. } => (413, "too_large"),
            Self::Scopes(_) => (400, "bad_scopes"),
            Self::Expired { .. } => (400, "expired"),
            Self::ExpirationTooFar { .. } => (400, "expiration_too_far"),
            Self::UnknownRefBlock { .. } => (400, "unknown_ref_block"),
            Self::BadRefBlockPrefix { .. } => (400, "bad_ref_block_prefix"),
            Self::Duplicate(_) => (409, "duplicate"),
            Self::UnknownAuthority(_) => (400, "unknown_authority"),
            Self::BadSignature { .. } => (401, "bad_signature"),
            Self::MissingAuthority(_) => (401, "missing_authority"),
            Self::UnknownAccount(_) => (404, "unknown_account"),
            Self::NotFound(_) => (404, "not_found"),
            Self::NoEndpoint(_) => (404, "no_endpoint"),
            Self::Overloaded(_) => (503, "overloaded"),
            Self::ShuttingDown => (503, "shutting_down"),
            Self::Internal(_) => (500, "internal"),
            Self::Timeout(_) => (504, "timeout"),
            Self::Speculation(_) => (422, "would_fail"),
        }
    }

    /// The JSON body.
    pub fn body(&self) -> ErrorBody {
        let (code, name) = self.status_and_name();
        let details = match self {
            Self::Duplicate(id) => vec![format!("id {id}")],
            _ => Vec::new(),
        };
        ErrorBody { code, name, message: self.to_string(), details }
    }
}
