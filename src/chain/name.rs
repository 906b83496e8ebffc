//! EOS.IO account names: up to 12 characters from `.12345a-z` in 5 bits each, and a
//! 13th character in 4 bits (`.1-5a-j`), packed into a u64 from the high bits down.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An account, permission, action or table name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Name(pub u64);

/// Why a string is not a valid name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// More than 13 characters.
    #[error("name {0:?} is longer than 13 characters")]
    TooLong(String),
    /// A character outside `.12345a-z`.
    #[error("name {name:?} has {ch:?} at position {pos}; names use only a-z, 1-5 and '.'")]
    BadChar {
        /// The name.
        name: String,
        /// The character.
        ch: char,
        /// Its position.
        pos: usize,
    },
    /// The 13th character is past `j`.
    #[error("name {0:?}: the 13th character must be one of .1-5a-j")]
    BadThirteenth(String),
    /// Trailing dots do not survive a round trip, so they are refused.
    #[error("name {0:?} ends with '.'; trailing dots are not part of a canonical name")]
    TrailingDot(String),
}

fn symbol(c: u8) -> Option<u64> {
    match c {
        b'.' => Some(0),
        b'1'..=b'5' => Some(u64::from(c - b'1') + 1),
        b'a'..=b'z' => Some(u64::from(c - b'a') + 6),
        _ => None,
    }
}

const CHARMAP: &[u8; 32] = b".12345abcdefghijklmnopqrstuvwxyz";

impl Name {
    /// The name with this raw value.
    pub const fn raw(v: u64) -> Self {
        Self(v)
    }

    /// A name from a literal at compile time, as EOS.IO's `string_to_name` (`a-z`, `1-5`,
    /// `.`; up to 12 characters plus a 13th of `.`, `1-5`, `a-j`). An invalid literal fails
    /// the build when used in a constant.
    pub const fn constant(s: &str) -> Self {
        let b = s.as_bytes();
        assert!(b.len() <= 13, "a name has at most 13 characters");
        let mut v: u64 = 0;
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            let sym: u64 = match c {
                b'.' => 0,
                b'1'..=b'5' => (c - b'1') as u64 + 1,
                b'a'..=b'z' => (c - b'a') as u64 + 6,
                _ => panic!("a name holds only a-z, 1-5 and ."),
            };
            if i < 12 {
                v |= (sym & 0x1f) << (64 - 5 * (i + 1));
            } else {
                assert!(sym <= 0x0f, "the 13th character of a name is one of . 1-5 a-j");
                v |= sym;
            }
            i += 1;
        }
        Self(v)
    }

    /// The canonical text form (trailing dots trimmed).
    pub fn to_text(self) -> String {
        let mut s = [b'.'; 13];
        let mut tmp = self.0;
        for i in 0..13 {
            let (mask, shift) = if i == 0 { (0x0f, 4) } else { (0x1f, 5) };
            s[12 - i] = CHARMAP[(tmp & mask) as usize];
            tmp >>= shift;
        }
        let end = s.iter().rposition(|&c| c != b'.').map_or(0, |p| p + 1);
        String::from_utf8(s[..end].to_vec()).expect("ascii")
    }
}

impl FromStr for Name {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let b = s.as_bytes();
        if b.len() > 13 {
            return Err(NameError::TooLong(s.to_string()));
        }
        let mut v = 0u64;
        for (i, &c) in b.iter().enumerate() {
            let sym = symbol(c).ok_or_else(|| NameError::BadChar {
                name: s.to_string(),
                ch: s[i..].chars().next().unwrap_or('?'),
                pos: i,
            })?;
            if i < 12 {
                v |= (sym & 0x1f) << (64 - 5 * (i + 1));
            } else {
                if sym > 0x0f {
                    return Err(NameError::BadThirteenth(s.to_string()));
                }
                v |= sym;
            }
        }
        if b.last() == Some(&b'.') {
            return Err(NameError::TrailingDot(s.to_string()));
        }
        Ok(Self(v))
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl Serialize for Name {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&self.to_text())
        } else {
            s.serialize_u64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            s.parse().map_err(serde::de::Error::custom)
        } else {
            u64::deserialize(d).map(Self)
        }
    }
}

/// Builds a [`Name`] from a literal, panicking on an invalid one (for constants and tests).
pub fn n(s: &str) -> Name {
    s.parse().unwrap_or_else(|e| panic!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn published_values() {
        assert_eq!(n("eosio").0, 6138663577826885632);
        assert_eq!(n("eosio.token").0, 6138663591592764928);
        assert_eq!(Name::constant("eosio.token"), n("eosio.token"));
        assert_eq!(Name::constant("zzzzzzzzzzzzj"), n("zzzzzzzzzzzzj"));
        assert_eq!(n("active").0, 3617214756542218240);
        assert_eq!(n("owner").0, 12044502819693133824);
        assert_eq!(n("transfer").0, 14829575313431724032);
        assert_eq!(n("").0, 0);
        assert_eq!(Name(6138663577826885632).to_string(), "eosio");
    }

    #[test]
    fn rejects() {
        assert!(matches!("Alice".parse::<Name>(), Err(NameError::BadChar { pos: 0, .. })));
        assert!(matches!("alice6".parse::<Name>(), Err(NameError::BadChar { pos: 5, .. })));
        assert!(matches!("aaaaaaaaaaaaaa".parse::<Name>(), Err(NameError::TooLong(_))));
        assert!(matches!("aaaaaaaaaaaak".parse::<Name>(), Err(NameError::BadThirteenth(_))));
        assert!(matches!("alice.".parse::<Name>(), Err(NameError::TrailingDot(_))));
        assert!("aaaaaaaaaaaaj".parse::<Name>().is_ok());
    }

    proptest! {
        #[test]
        fn round_trips(v in any::<u64>()) {
            let text = Name(v).to_text();
            // Trailing dots stand for zero bits, so trimming them loses nothing.
            let back: Name = text.parse().unwrap();
            prop_assert_eq!(back.to_text(), text);
            prop_assert_eq!(back, Name(v));
        }

        #[test]
        fn text_round_trips(s in "[a-z1-5][a-z1-5.]{0,10}[a-z1-5]") {
            let name: Name = s.parse().unwrap();
            prop_assert_eq!(name.to_text(), s);
        }
    }
}
