//! Token amounts as EOS.IO writes them: `"10.0000 SYS"` is 100000 units of symbol `SYS`
//! with precision 4. A symbol packs its precision in the low byte and up to 7 upper-case
//! letters above it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A token symbol: precision and code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Symbol(pub u64);

/// An amount of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Asset {
    /// Amount in the smallest unit.
    pub amount: i64,
    /// The token.
    pub symbol: Symbol,
}

/// Largest amount an asset may hold (EOS.IO's 2^62 - 1).
pub const ASSET_AMOUNT_MAX: i64 = (1 << 62) - 1;

/// A malformed symbol or asset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad asset {0:?}: expected like \"10.0000 SYS\" (1-7 upper-case letters, precision at most 18, |amount| < 2^62)")]
pub struct AssetError(pub String);

impl Symbol {
    /// A symbol from precision and code.
    pub fn new(precision: u8, code: &str) -> Result<Self, AssetError> {
        let b = code.as_bytes();
        if precision > 18 || b.is_empty() || b.len() > 7 || !b.iter().all(u8::is_ascii_uppercase) {
            return Err(AssetError(format!("{precision},{code}")));
        }
        let mut v = u64::from(precision);
        for (i, c) in b.iter().enumerate() {
            v |= u64::from(*c) << (8 * (i + 1));
        }
        Ok(Self(v))
    }
    /// Would [`Symbol::new`] make this symbol? (Precision at most 18, 1 to 7 upper-case
    /// letters.) Checked on the bits, without building the code.
    pub fn is_valid(&self) -> bool {
        let mut v = self.0 >> 8;
        if self.precision() > 18 || v == 0 {
            return false;
        }
        while v != 0 {
            if !(v as u8).is_ascii_uppercase() {
                return false;
            }
            v >>= 8;
        }
        true
    }
    /// Digits after the decimal point.
    pub fn precision(&self) -> u8 {
        (self.0 & 0xff) as u8
    }
    /// The letters.
    pub fn code(&self) -> String {
        let mut s = String::new();
        let mut v = self.0 >> 8;
        while v != 0 {
            s.push((v & 0xff) as u8 as char);
            v >>= 8;
        }
        s
    }
}

impl fmt::Display for Asset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = u32::from(self.symbol.precision());
        let sign = if self.amount < 0 { "-" } else { "" };
        let a = self.amount.unsigned_abs();
        if p == 0 {
            write!(f, "{sign}{a} {}", self.symbol.code())
        } else {
            let d = 10u64.pow(p);
            write!(f, "{sign}{}.{:0width$} {}", a / d, a % d, self.symbol.code(), width = p as usize)
        }
    }
}

impl FromStr for Asset {
    type Err = AssetError;
    fn from_str(s: &str) -> Result<Self, AssetError> {
        let err = || AssetError(s.to_string());
        let (num, code) = s.trim().split_once(' ').ok_or_else(err)?;
        let (neg, num) = match num.strip_prefix('-') {
            Some(n) => (true, n),
            None => (false, num),
        };
        let (int, frac) = num.split_once('.').unwrap_or((num, ""));
        if int.is_empty()
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(err());
        }
        let precision = u8::try_from(frac.len()).map_err(|_| err())?;
        let symbol = Symbol::new(precision, code.trim()).map_err(|_| err())?;
        let digits = format!("{int}{frac}");
        let amount: i64 = digits.parse().map_err(|_| err())?;
        if amount > ASSET_AMOUNT_MAX {
            return Err(err());
        }
        Ok(Self { amount: if neg { -amount } else { amount }, symbol })
    }
}

impl Serialize for Asset {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(self)
        } else {
            (self.amount, self.symbol.0).serialize(s)
        }
    }
}

/// Binary: the raw u64. JSON: EOS.IO's `"4,SYS"` (precision, code).
impl Serialize for Symbol {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(&format_args!("{},{}", self.precision(), self.code()))
        } else {
            self.0.serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for Symbol {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let t = String::deserialize(d)?;
            let (p, c) = t.split_once(',').ok_or_else(|| serde::de::Error::custom(AssetError(t.clone())))?;
            let p: u8 = p.parse().map_err(|_| serde::de::Error::custom(AssetError(t.clone())))?;
            Symbol::new(p, c).map_err(serde::de::Error::custom)
        } else {
            u64::deserialize(d).map(Symbol)
        }
    }
}

impl<'de> Deserialize<'de> for Asset {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
        } else {
            let (amount, sym) = <(i64, u64)>::deserialize(d)?;
            // Same rules as the text form: a symbol that Symbol::new accepts, |amount| < 2^62.
            if !Symbol(sym).is_valid() || amount.unsigned_abs() > ASSET_AMOUNT_MAX as u64 {
                return Err(serde::de::Error::custom(AssetError(format!(
                    "amount {amount}, symbol {sym:#x}"
                ))));
            }
            Ok(Self { amount, symbol: Symbol(sym) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eos_text() {
        let a: Asset = "10.0000 SYS".parse().unwrap();
        assert_eq!(a.amount, 100000);
        assert_eq!(a.symbol.precision(), 4);
        assert_eq!(a.symbol.code(), "SYS");
        assert_eq!(a.to_string(), "10.0000 SYS");
        assert_eq!("-0.0001 SYS".parse::<Asset>().unwrap().to_string(), "-0.0001 SYS");
        assert_eq!("7 TOK".parse::<Asset>().unwrap().to_string(), "7 TOK");

        // The published value of symbol 4,EOS.
        assert_eq!(Symbol::new(4, "EOS").unwrap().0, 1397703940);
        for bad in ["10 sys", "1.2.3 SYS", "SYS", "1.0 TOOLONGSYM", "99999999999999999999 X"] {
            assert!(bad.parse::<Asset>().is_err(), "{bad}");
        }
    }
}
