//! Native contracts: the system contract (`eosio`) and the core token (`eosio.token`, as
//! Dawn 1.0 had it). They act only through [`super::context::TxCtx`], like WASM contracts,
//! so scopes, authorization and costs follow the same rules.

pub mod system;
pub mod token;
