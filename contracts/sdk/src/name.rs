//! EOS.IO names, token symbols and assets.

use core::ops::{Add, AddAssign, Neg, Sub, SubAssign};

use crate::check;

/// An account, action, permission or table name: an EOS.IO 64-bit name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Name(pub u64);

/// The 5-bit symbol of a name character, or 32 for a character outside `.1-5a-z`.
const fn char_symbol(c: u8) -> u64 {
    match c {
        b'.' => 0,
        b'1'..=b'5' => (c - b'1') as u64 + 1,
        b'a'..=b'z' => (c - b'a') as u64 + 6,
        _ => 32,
    }
}

const NAME_CHARS: &[u8; 32] = b".12345abcdefghijklmnopqrstuvwxyz";

impl Name {
    /// The name written `text`, computed as EOS.IO's `string_to_name`.
    ///
    /// Panics (a compile error in a `const`) unless `text` is a canonical name: at most 13
    /// characters from `.1-5a-z`, a 13th character only from `.1-5a-j`, no trailing `.`.
    pub const fn new(text: &str) -> Name {
        match Name::parse(text) {
            Some(n) => n,
            None => panic!("invalid name: use up to 12 of a-z, 1-5 and '.' (13th: .1-5a-j), no trailing '.'"),
        }
    }

    /// The name written `text`, or `None` if it is not a canonical name (see [`Name::new`]).
    pub const fn parse(text: &str) -> Option<Name> {
        let b = text.as_bytes();
        if b.len() > 13 || (!b.is_empty() && b[b.len() - 1] == b'.') {
            return None;
        }
        let mut value = 0u64;
        let mut i = 0;
        while i < b.len() {
            let c = char_symbol(b[i]);
            if c > 31 {
                return None;
            }
            if i < 12 {
                value |= c << (64 - 5 * (i + 1));
            } else if c > 15 {
                return None;
            } else {
                value |= c;
            }
            i += 1;
        }
        Some(Name(value))
    }

    /// The raw 64-bit value.
    pub const fn value(self) -> u64 {
        self.0
    }

    /// Writes the canonical text (trailing dots dropped) into `buf`; returns it.
    pub fn write_text(self, buf: &mut [u8; 13]) -> &str {
        let mut v = self.0;
        let mut i = 13;
        while i > 0 {
            i -= 1;
            let (mask, shift) = if i == 12 { (0x0f, 4) } else { (0x1f, 5) };
            buf[i] = NAME_CHARS[(v & mask) as usize];
            v >>= shift;
        }
        let mut end = 13;
        while end > 0 && buf[end - 1] == b'.' {
            end -= 1;
        }
        // Every byte comes from NAME_CHARS, which is ASCII.
        match core::str::from_utf8(&buf[..end]) {
            Ok(s) => s,
            Err(_) => "",
        }
    }
}

/// A token symbol: the precision in the low byte, up to 7 upper-case letters above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Symbol(pub u64);

impl Symbol {
    /// The symbol `precision,CODE`, e.g. `Symbol::new(4, "SYS")`.
    ///
    /// Panics (a compile error in a `const`) unless the result [`is_valid`](Symbol::is_valid).
    pub const fn new(precision: u8, code: &str) -> Symbol {
        let b = code.as_bytes();
        let mut v = precision as u64;
        let mut i = 0;
        while i < b.len() && i < 7 {
            v |= (b[i] as u64) << (8 * (i + 1));
            i += 1;
        }
        let s = Symbol(v);
        if b.len() > 7 || !s.is_valid() {
            panic!("invalid symbol: use 1-7 letters A-Z and a precision of at most 18");
        }
        s
    }

    /// Digits after the decimal point.
    pub const fn precision(self) -> u8 {
        (self.0 & 0xff) as u8
    }

    /// The symbol code, `raw >> 8`: the letters without the precision. Token tables use it
    /// as the row id (and as the `stat` table's scope).
    pub const fn code(self) -> u64 {
        self.0 >> 8
    }

    /// True if the code is 1 to 7 letters `A`-`Z` with no gap and the precision is at most 18.
    pub const fn is_valid(self) -> bool {
        if self.precision() > 18 {
            return false;
        }
        let mut code = self.code();
        if code == 0 {
            return false;
        }
        while code != 0 {
            let c = (code & 0xff) as u8;
            if c < b'A' || c > b'Z' {
                return false;
            }
            code >>= 8;
        }
        true
    }
}

/// Largest magnitude of an asset amount: 2^62 - 1, as in EOS.IO.
pub const ASSET_AMOUNT_MAX: i64 = (1 << 62) - 1;

/// An amount of a token in its smallest unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Asset {
    /// The amount, in units of 10^-precision.
    pub amount: i64,
    /// The token.
    pub symbol: Symbol,
}

impl Asset {
    /// An asset of `amount` units of `symbol`.
    pub const fn new(amount: i64, symbol: Symbol) -> Asset {
        Asset { amount, symbol }
    }

    /// True if `|amount| <= 2^62 - 1`.
    pub const fn is_amount_within_range(&self) -> bool {
        -ASSET_AMOUNT_MAX <= self.amount && self.amount <= ASSET_AMOUNT_MAX
    }

    /// True if the amount is within range and the symbol is valid (EOS.IO's `asset::is_valid`).
    pub const fn is_valid(&self) -> bool {
        self.is_amount_within_range() && self.symbol.is_valid()
    }
}

impl AddAssign for Asset {
    /// Adds `other`, failing the transaction on a symbol mismatch or leaving the range.
    fn add_assign(&mut self, other: Asset) {
        check(self.symbol == other.symbol, "attempt to add asset with different symbol");
        // Both amounts are within +-2^62 when valid; wrapping keeps invalid ones from
        // trapping, and the range checks below catch the result.
        self.amount = self.amount.wrapping_add(other.amount);
        check(-ASSET_AMOUNT_MAX <= self.amount, "addition underflow");
        check(self.amount <= ASSET_AMOUNT_MAX, "addition overflow");
    }
}

impl SubAssign for Asset {
    /// Subtracts `other`, failing the transaction on a symbol mismatch or leaving the range.
    fn sub_assign(&mut self, other: Asset) {
        check(self.symbol == other.symbol, "attempt to subtract asset with different symbol");
        self.amount = self.amount.wrapping_sub(other.amount);
        check(-ASSET_AMOUNT_MAX <= self.amount, "subtraction underflow");
        check(self.amount <= ASSET_AMOUNT_MAX, "subtraction overflow");
    }
}

impl Add for Asset {
    type Output = Asset;
    /// The sum; see [`AddAssign`].
    fn add(mut self, other: Asset) -> Asset {
        self += other;
        self
    }
}

impl Sub for Asset {
    type Output = Asset;
    /// The difference; see [`SubAssign`].
    fn sub(mut self, other: Asset) -> Asset {
        self -= other;
        self
    }
}

impl Neg for Asset {
    type Output = Asset;
    /// The negated amount (never overflows for an amount within range).
    fn neg(self) -> Asset {
        Asset { amount: self.amount.wrapping_neg(), symbol: self.symbol }
    }
}
