//! Native contracts: the system contract (`eosio`) and the core token (`eosio.token`, as
//! Dawn 1.0 had it). They act only through [`super::context::TxCtx`], like WASM contracts,
//! so scopes, authorization and costs follow the same rules.

pub mod system;
pub mod token;

use crate::chain::{codec, Name};

/// Encodes JSON action data for the actions whose layouts this node knows: the system
/// actions and the token actions (the native token's and, byte for byte, the WASM
/// token's). `None` for other action names.
pub fn encode_json_data(action: Name, json: &serde_json::Value) -> Option<Result<Vec<u8>, String>> {
    fn enc<T: serde::de::DeserializeOwned + serde::Serialize>(
        v: &serde_json::Value,
    ) -> Result<Vec<u8>, String> {
        serde_json::from_value::<T>(v.clone()).map(|t| codec::encode(&t)).map_err(|e| e.to_string())
    }
    let a = action.to_string();
    Some(match a.as_str() {
        "transfer" => enc::<token::Transfer>(json),
        "create" => enc::<token::Create>(json),
        "issue" => enc::<token::Issue>(json),
        "retire" => enc::<token::Retire>(json),
        "open" => enc::<token::Open>(json),
        "close" => enc::<token::Close>(json),
        "newaccount" => enc::<system::NewAccount>(json),
        "updateauth" => enc::<system::UpdateAuth>(json),
        "deleteauth" => enc::<system::DeleteAuth>(json),
        "setcode" => enc::<system::SetCode>(json),
        "setprods" => enc::<system::SetProds>(json),
        _ => return None,
    })
}
