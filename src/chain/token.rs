//! The core token's rows, as every stage reads them: exec's native token writes them (the
//! WASM token in contracts/token writes the same bytes), intake serves balances from them,
//! and the IPFS gateway sizes quotas by them. Layout: docs/CONTRACTS.md, "The token
//! contract".

use serde::{Deserialize, Serialize};

use super::{codec, Asset, Name};

/// Table of supplies: scope the symbol code, id the symbol code.
pub const T_STAT: Name = Name::constant("stat");
/// Table of balances: scope the holder, id the symbol code.
pub const T_ACCOUNTS: Name = Name::constant("accounts");

/// Largest encoding of a token row accepted when decoding one.
pub const ROW_BYTES_MAX: u64 = 1 << 16;

/// A `stat` row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrencyStats {
    /// Issued and not retired.
    pub supply: Asset,
    /// The most that may be issued.
    pub max_supply: Asset,
    /// Who may issue.
    pub issuer: Name,
}

/// An `accounts` row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    /// The holder's balance.
    pub balance: Asset,
}

impl CurrencyStats {
    /// Decodes a `stat` row.
    pub fn decode(row: &[u8]) -> Result<Self, codec::CodecError> {
        codec::decode(row, ROW_BYTES_MAX)
    }
}

impl Balance {
    /// Decodes an `accounts` row.
    pub fn decode(row: &[u8]) -> Result<Self, codec::CodecError> {
        codec::decode(row, ROW_BYTES_MAX)
    }
}

/// The scope and id of a symbol's rows: its code (the symbol without the precision byte).
pub fn code_of(symbol: super::Symbol) -> u64 {
    symbol.0 >> 8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_and_refuse_garbage() {
        let supply: Asset = "10.0000 SYS".parse().unwrap();
        let s = CurrencyStats { supply, max_supply: supply, issuer: super::super::n("eosio") };
        assert_eq!(CurrencyStats::decode(&codec::encode(&s)).unwrap(), s);
        let b = Balance { balance: supply };
        assert_eq!(Balance::decode(&codec::encode(&b)).unwrap(), b);
        assert!(Balance::decode(&[1, 2, 3]).is_err());
        assert_eq!(code_of(supply.symbol), u64::from_le_bytes(*b"SYS\0\0\0\0\0"));
    }
}
