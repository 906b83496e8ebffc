//! Errors of exec: why an action failed (kept in the failed receipt) and why the stage
//! itself could not go on.

use crate::chain::Name;

/// Why a transaction failed. Its text is what the failed receipt records; every failure
/// unwinds the whole transaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ActionError {
    /// A contract's assertion failed (`eosio_assert`, `check`).
    #[error("assertion failure: {0}")]
    Assert(String),
    /// A row access outside the declared scopes.
    #[error(
        "scope {scope} is not declared {need}: {action} {access} it; add {scope} to the transaction's {list}"
    )]
    UndeclaredScope {
        /// The scope touched.
        scope: Name,
        /// `read or write` or `write`.
        need: &'static str,
        /// `reads` or `writes`.
        access: &'static str,
        /// Which action touched it (`contract::action`).
        action: String,
        /// The list to add it to.
        list: &'static str,
    },
    /// `require_auth` or an authorization check failed.
    #[error("missing authority of {0}")]
    MissingAuth(String),
    /// The transaction used more CPU than it allowed.
    #[error("cpu limit exceeded: the transaction allows {limit_us} us (raise max_cpu_us)")]
    CpuExceeded {
        /// Its limit in microseconds.
        limit_us: u64,
    },
    /// A WASM trap or runtime failure (out of bounds, unreachable, out of memory, …).
    #[error("contract {contract} trapped: {detail}")]
    Trap {
        /// The contract.
        contract: Name,
        /// What happened.
        detail: String,
    },
    /// An action addressed to an account without a contract.
    #[error("account {0} has no contract to run action {1}")]
    NoContract(Name, Name),
    /// An action name the contract does not handle.
    #[error("contract {0} has no action {1}")]
    UnknownAction(Name, Name),
    /// An account that does not exist.
    #[error("account {0} does not exist")]
    UnknownAccount(Name),
    /// A permission that does not exist.
    #[error("permission {0} does not exist")]
    UnknownPermission(String),
    /// Action data that does not decode.
    #[error("malformed data for {action}: {detail}")]
    Malformed {
        /// `contract::action`.
        action: String,
        /// The decode error.
        detail: String,
    },
    /// Inline actions nested deeper than allowed, or a bad inline action.
    #[error("inline action refused: {0}")]
    Inline(String),
    /// A row value, console output or request over its limit.
    #[error("{what} is {len} bytes; the limit is {max}")]
    TooLarge {
        /// What.
        what: &'static str,
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The transaction's scope declaration breaks Dawn's rules.
    #[error("bad scope declaration: {0}")]
    Scopes(String),
    /// A deferred request that could not be scheduled or ran past its expiry.
    #[error("deferred request: {0}")]
    Deferred(String),
    /// A code upload that cannot run here.
    #[error("invalid contract code: {0}")]
    BadCode(String),
}

/// Why the exec stage stopped. All are fatal for the stage: a node stops loudly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecError {
    /// The chain log or results log could not be read or written.
    #[error("{what}: {detail}")]
    Log {
        /// Which log and operation.
        what: &'static str,
        /// The underlying error.
        detail: String,
    },
    /// A record that does not decode or does not continue the chain.
    #[error("chain log record {offset}: {detail}")]
    BadBlock {
        /// The record's offset.
        offset: u64,
        /// What is wrong.
        detail: String,
    },
    /// Re-executing a block gave other results than the results log holds: this node's
    /// state or code differs from the one that wrote them.
    #[error("block {block}: re-execution differs from the results log ({detail}); the state is not deterministic or the data directory was altered")]
    Diverged {
        /// The block.
        block: u32,
        /// What differs.
        detail: String,
    },
    /// The WASM engine could not start.
    #[error("wasm engine: {0}")]
    Engine(String),
    /// The genesis cannot build a state.
    #[error("genesis: {0}")]
    Genesis(String),
}
