//! The canonical codec: the bincode 1 wire format with fixed-width little-endian integers.
//!
//! | shape | encoding |
//! | --- | --- |
//! | `u8`..`u64`, `i8`..`i64` | 1, 2, 4, 8 bytes, little-endian |
//! | `bool` | one byte, 0 or 1 |
//! | `Name`, `Symbol` | their `u64` |
//! | `Asset` | `amount: i64`, then `symbol: u64` |
//! | string, byte string, slice, [`Seq`] | the count as a `u64`, then the elements |
//! | fixed array `[T; N]`, tuple | the elements, no count (`()` is empty) |
//! | `Option<T>` | `0u8`, or `1u8` then the value |
//! | struct ([`record!`](crate::record)) | its fields in order, no padding |
//!
//! Decoding never reads out of bounds: malformed input fails the transaction with a
//! message starting `decode:`. Decoded strings and byte strings borrow from the input.

use core::marker::PhantomData;
use core::mem::MaybeUninit;

use crate::name::{Asset, Name, Symbol};
use crate::{arena, fail};

/// Reads values from encoded bytes.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `data`.
    pub const fn new(data: &'a [u8]) -> Reader<'a> {
        Reader { data, pos: 0 }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    /// The next `n` bytes; fails if fewer remain.
    pub fn read_bytes(&mut self, n: usize) -> &'a [u8] {
        if n > self.remaining() {
            fail("decode: unexpected end of data");
        }
        let out = &self.data[self.pos..self.pos + n];
        self.pos += n;
        out
    }

    /// The next `N` bytes as an array.
    pub fn read_array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        out.copy_from_slice(self.read_bytes(N));
        out
    }

    /// A `u64` count or length that must fit in the remaining data (each element takes at
    /// least `min_size` bytes).
    pub fn read_len(&mut self, min_size: usize) -> usize {
        let n = u64::unpack(self);
        let most = if min_size == 0 { u64::MAX } else { (self.remaining() / min_size) as u64 };
        if n > most || n > usize::MAX as u64 {
            fail("decode: length exceeds data");
        }
        n as usize
    }

    /// Decodes the next value.
    pub fn read<T: Unpack<'a>>(&mut self) -> T {
        T::unpack(self)
    }

    /// Fails unless all the data has been read.
    pub fn finish(&self) {
        if self.pos != self.data.len() {
            fail("decode: trailing bytes after value");
        }
    }
}

/// Writes encoded values into a fixed buffer.
#[derive(Debug)]
pub struct Writer<'a> {
    /// Bytes `..pos` are initialized; the rest may not be.
    buf: &'a mut [MaybeUninit<u8>],
    pos: usize,
}

impl<'a> Writer<'a> {
    /// A writer at the start of `buf`.
    pub fn new(buf: &'a mut [u8]) -> Writer<'a> {
        // SAFETY: `[u8]` and `[MaybeUninit<u8>]` have the same layout, and the writer
        // only ever stores initialized bytes, so `buf` stays initialized.
        let buf = unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) };
        Writer { buf, pos: 0 }
    }

    /// A writer at the start of a buffer that need not be initialized (no zeroing cost).
    pub fn new_uninit(buf: &'a mut [MaybeUninit<u8>]) -> Writer<'a> {
        Writer { buf, pos: 0 }
    }

    /// Appends `bytes`; fails if the buffer is full.
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        if bytes.len() > self.buf.len() - self.pos {
            fail("encode: buffer too small");
        }
        // SAFETY: the range `pos..pos + len` is within `buf` (checked above) and cannot
        // overlap `bytes`, which is borrowed while `buf` is borrowed mutably.
        unsafe {
            core::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.buf.as_mut_ptr().add(self.pos) as *mut u8,
                bytes.len(),
            );
        }
        self.pos += bytes.len();
    }

    /// Appends the encoding of `value`.
    pub fn write<T: Pack + ?Sized>(&mut self, value: &T) {
        value.pack(self);
    }

    /// Number of bytes written so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The bytes written.
    pub fn written(&self) -> &[u8] {
        // SAFETY: bytes `..pos` have been written.
        unsafe { core::slice::from_raw_parts(self.buf.as_ptr() as *const u8, self.pos) }
    }

    /// Ends writing, returning the bytes written.
    pub fn into_written(self) -> &'a [u8] {
        // SAFETY: bytes `..pos` have been written; `buf` is borrowed for `'a`.
        unsafe { core::slice::from_raw_parts(self.buf.as_ptr() as *const u8, self.pos) }
    }
}

/// A value with a canonical encoding.
pub trait Pack {
    /// Exact length of the encoding in bytes.
    fn packed_size(&self) -> usize;
    /// Appends the encoding to `w`.
    fn pack(&self, w: &mut Writer);
    /// Total encoded size of `items` (without a count); `u8` overrides it to be O(1).
    #[doc(hidden)]
    fn slice_size(items: &[Self]) -> usize
    where
        Self: Sized,
    {
        items.iter().map(Pack::packed_size).sum()
    }
    /// Appends the encodings of `items` (without a count); `u8` overrides it to copy
    /// the bytes at once.
    #[doc(hidden)]
    fn pack_slice(items: &[Self], w: &mut Writer)
    where
        Self: Sized,
    {
        for v in items {
            v.pack(w);
        }
    }
}

/// A value decodable from the canonical encoding, possibly borrowing from input `'a`.
pub trait Unpack<'a>: Sized {
    /// Encoded size of the smallest value (used to bound counts before reading them).
    const MIN_SIZE: usize;
    /// True if every value takes exactly `MIN_SIZE` bytes and any `MIN_SIZE` bytes decode
    /// (integers, names, assets): a [`Seq`] of them is then skipped, not decoded, when read.
    const PLAIN: bool = false;
    /// Decodes one value; malformed input fails the transaction.
    fn unpack(r: &mut Reader<'a>) -> Self;
}

/// Decodes a value that must span all of `data`.
pub fn decode<'a, T: Unpack<'a>>(data: &'a [u8]) -> T {
    let mut r = Reader::new(data);
    let v = T::unpack(&mut r);
    r.finish();
    v
}

/// Encodes `value` into `buf`; returns the bytes written. Fails if `buf` is too small.
pub fn encode_into<'b, T: Pack + ?Sized>(value: &T, buf: &'b mut [u8]) -> &'b [u8] {
    let mut w = Writer::new(buf);
    value.pack(&mut w);
    w.into_written()
}

/// Encodes `value` into `buf`, which need not be initialized; returns the bytes written.
pub fn encode_into_uninit<'b, T: Pack + ?Sized>(value: &T, buf: &'b mut [MaybeUninit<u8>]) -> &'b [u8] {
    let mut w = Writer::new_uninit(buf);
    value.pack(&mut w);
    w.into_written()
}

/// Encodes `value` into newly allocated memory that lives until the action ends.
pub fn encode<T: Pack + ?Sized>(value: &T) -> &'static [u8] {
    let buf = arena::alloc(value.packed_size());
    encode_into(value, buf)
}

macro_rules! int_codec {
    ($($t:ty),*) => {$(
        impl Pack for $t {
            fn packed_size(&self) -> usize {
                core::mem::size_of::<$t>()
            }
            fn pack(&self, w: &mut Writer) {
                w.write_bytes(&self.to_le_bytes());
            }
        }
        impl<'a> Unpack<'a> for $t {
            const MIN_SIZE: usize = core::mem::size_of::<$t>();
            const PLAIN: bool = true;
            fn unpack(r: &mut Reader<'a>) -> Self {
                <$t>::from_le_bytes(r.read_array())
            }
        }
    )*};
}

impl Pack for u8 {
    fn packed_size(&self) -> usize {
        1
    }
    fn pack(&self, w: &mut Writer) {
        w.write_bytes(&[*self]);
    }
    fn slice_size(items: &[u8]) -> usize {
        items.len()
    }
    fn pack_slice(items: &[u8], w: &mut Writer) {
        w.write_bytes(items);
    }
}

impl<'a> Unpack<'a> for u8 {
    const MIN_SIZE: usize = 1;
    const PLAIN: bool = true;
    fn unpack(r: &mut Reader<'a>) -> Self {
        r.read_bytes(1)[0]
    }
}

int_codec!(u16, u32, u64, i8, i16, i32, i64);

impl Pack for bool {
    fn packed_size(&self) -> usize {
        1
    }
    fn pack(&self, w: &mut Writer) {
        w.write_bytes(&[*self as u8]);
    }
}

impl<'a> Unpack<'a> for bool {
    const MIN_SIZE: usize = 1;
    fn unpack(r: &mut Reader<'a>) -> Self {
        match u8::unpack(r) {
            0 => false,
            1 => true,
            _ => fail("decode: invalid bool"),
        }
    }
}

macro_rules! u64_newtype_codec {
    ($($t:ident),*) => {$(
        impl Pack for $t {
            fn packed_size(&self) -> usize {
                8
            }
            fn pack(&self, w: &mut Writer) {
                self.0.pack(w);
            }
        }
        impl<'a> Unpack<'a> for $t {
            const MIN_SIZE: usize = 8;
            const PLAIN: bool = true;
            fn unpack(r: &mut Reader<'a>) -> Self {
                $t(u64::unpack(r))
            }
        }
    )*};
}

u64_newtype_codec!(Name, Symbol);

impl Pack for Asset {
    fn packed_size(&self) -> usize {
        16
    }
    fn pack(&self, w: &mut Writer) {
        self.amount.pack(w);
        self.symbol.pack(w);
    }
}

impl<'a> Unpack<'a> for Asset {
    const MIN_SIZE: usize = 16;
    const PLAIN: bool = true;
    /// Decodes without checking the amount range or symbol; see [`Asset::is_valid`].
    fn unpack(r: &mut Reader<'a>) -> Self {
        Asset { amount: r.read(), symbol: r.read() }
    }
}

impl Pack for str {
    fn packed_size(&self) -> usize {
        8 + self.len()
    }
    fn pack(&self, w: &mut Writer) {
        (self.len() as u64).pack(w);
        w.write_bytes(self.as_bytes());
    }
}

impl<'a> Unpack<'a> for &'a str {
    const MIN_SIZE: usize = 8;
    fn unpack(r: &mut Reader<'a>) -> Self {
        let n = r.read_len(1);
        match core::str::from_utf8(r.read_bytes(n)) {
            Ok(s) => s,
            Err(_) => fail("decode: invalid UTF-8 in string"),
        }
    }
}

/// A byte string borrowed from the input (`Vec<u8>` / `Bytes` on the node).
impl<'a> Unpack<'a> for &'a [u8] {
    const MIN_SIZE: usize = 8;
    fn unpack(r: &mut Reader<'a>) -> Self {
        let n = r.read_len(1);
        r.read_bytes(n)
    }
}

impl<T: Pack> Pack for [T] {
    fn packed_size(&self) -> usize {
        8 + T::slice_size(self)
    }
    fn pack(&self, w: &mut Writer) {
        (self.len() as u64).pack(w);
        T::pack_slice(self, w);
    }
}

impl<T: Pack, const N: usize> Pack for [T; N] {
    fn packed_size(&self) -> usize {
        T::slice_size(self)
    }
    fn pack(&self, w: &mut Writer) {
        T::pack_slice(self, w);
    }
}

impl<'a, T: Unpack<'a>, const N: usize> Unpack<'a> for [T; N] {
    const MIN_SIZE: usize = T::MIN_SIZE * N;
    const PLAIN: bool = T::PLAIN;
    fn unpack(r: &mut Reader<'a>) -> Self {
        core::array::from_fn(|_| T::unpack(r))
    }
}

impl<T: Pack + ?Sized> Pack for &T {
    fn packed_size(&self) -> usize {
        (**self).packed_size()
    }
    fn pack(&self, w: &mut Writer) {
        (**self).pack(w);
    }
}

impl<T: Pack> Pack for Option<T> {
    fn packed_size(&self) -> usize {
        1 + self.as_ref().map_or(0, Pack::packed_size)
    }
    fn pack(&self, w: &mut Writer) {
        match self {
            None => 0u8.pack(w),
            Some(v) => {
                1u8.pack(w);
                v.pack(w);
            }
        }
    }
}

impl<'a, T: Unpack<'a>> Unpack<'a> for Option<T> {
    const MIN_SIZE: usize = 1;
    fn unpack(r: &mut Reader<'a>) -> Self {
        match u8::unpack(r) {
            0 => None,
            1 => Some(T::unpack(r)),
            _ => fail("decode: invalid option tag"),
        }
    }
}

/// No data: for actions without arguments.
impl Pack for () {
    fn packed_size(&self) -> usize {
        0
    }
    fn pack(&self, _w: &mut Writer) {}
}

impl<'a> Unpack<'a> for () {
    const MIN_SIZE: usize = 0;
    const PLAIN: bool = true;
    fn unpack(_r: &mut Reader<'a>) -> Self {}
}

macro_rules! tuple_codec {
    ($(($($t:ident $i:tt),+))*) => {$(
        impl<$($t: Pack),+> Pack for ($($t,)+) {
            fn packed_size(&self) -> usize {
                0 $(+ self.$i.packed_size())+
            }
            fn pack(&self, w: &mut Writer) {
                $(self.$i.pack(w);)+
            }
        }
        impl<'a, $($t: Unpack<'a>),+> Unpack<'a> for ($($t,)+) {
            const MIN_SIZE: usize = 0 $(+ $t::MIN_SIZE)+;
            const PLAIN: bool = true $(&& $t::PLAIN)+;
            fn unpack(r: &mut Reader<'a>) -> Self {
                ($($t::unpack(r),)+)
            }
        }
    )*};
}

tuple_codec!((A 0, B 1) (A 0, B 1, C 2) (A 0, B 1, C 2, D 3));

/// An encoded vector (`Vec<T>` on the node) read in place: checked when decoded, its
/// elements decoded again on each iteration.
pub struct Seq<'a, T> {
    bytes: &'a [u8],
    len: usize,
    _elem: PhantomData<fn() -> T>,
}

impl<'a, T> Clone for Seq<'a, T> {
    fn clone(&self) -> Self {
        Seq { bytes: self.bytes, len: self.len, _elem: PhantomData }
    }
}

impl<'a, T> Copy for Seq<'a, T> {}

impl<'a, T: Unpack<'a>> Seq<'a, T> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The elements, in order.
    pub fn iter(&self) -> SeqIter<'a, T> {
        SeqIter { reader: Reader::new(self.bytes), left: self.len, _elem: PhantomData }
    }

    /// The encoded elements, without the count.
    pub fn raw(&self) -> &'a [u8] {
        self.bytes
    }
}

impl<'a, T: Unpack<'a>> Unpack<'a> for Seq<'a, T> {
    const MIN_SIZE: usize = 8;
    fn unpack(r: &mut Reader<'a>) -> Self {
        let len = r.read_len(T::MIN_SIZE);
        let bytes = if T::PLAIN {
            // read_len bounded len * MIN_SIZE by the remaining data.
            r.read_bytes(len * T::MIN_SIZE)
        } else {
            let start = r.pos;
            for _ in 0..len {
                T::unpack(r);
            }
            &r.data[start..r.pos]
        };
        Seq { bytes, len, _elem: PhantomData }
    }
}

impl<'a, T> Pack for Seq<'a, T> {
    fn packed_size(&self) -> usize {
        8 + self.bytes.len()
    }
    fn pack(&self, w: &mut Writer) {
        (self.len as u64).pack(w);
        w.write_bytes(self.bytes);
    }
}

impl<'a, T: Unpack<'a>> IntoIterator for Seq<'a, T> {
    type Item = T;
    type IntoIter = SeqIter<'a, T>;
    fn into_iter(self) -> SeqIter<'a, T> {
        self.iter()
    }
}

/// Iterator over the elements of a [`Seq`].
pub struct SeqIter<'a, T> {
    reader: Reader<'a>,
    left: usize,
    _elem: PhantomData<fn() -> T>,
}

impl<'a, T: Unpack<'a>> Iterator for SeqIter<'a, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        Some(T::unpack(&mut self.reader))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

/// Declares a struct encoded as its fields in order, implementing [`Pack`] and [`Unpack`].
///
/// ```ignore
/// dawn_sdk::record! {
///     /// Arguments of `transfer`.
///     pub struct Transfer<'a> {
///         pub from: Name,
///         pub to: Name,
///         pub quantity: Asset,
///         pub memo: &'a str,
///     }
/// }
/// ```
///
/// A struct may have one lifetime parameter, for fields that borrow from the input.
#[macro_export]
macro_rules! record {
    (@pack $name:ident $(<$lt:lifetime>)? { $($field:ident)* }) => {
        impl$(<$lt>)? $crate::Pack for $name$(<$lt>)? {
            fn packed_size(&self) -> usize {
                0 $(+ $crate::Pack::packed_size(&self.$field))*
            }
            fn pack(&self, _w: &mut $crate::Writer) {
                $($crate::Pack::pack(&self.$field, _w);)*
            }
        }
    };
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident<$lt:lifetime> {
            $($(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty),* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name<$lt> {
            $($(#[$fmeta])* $fvis $field: $ty,)*
        }
        impl<$lt> $crate::Unpack<$lt> for $name<$lt> {
            const MIN_SIZE: usize = 0 $(+ <$ty as $crate::Unpack<$lt>>::MIN_SIZE)*;
            const PLAIN: bool = true $(&& <$ty as $crate::Unpack<$lt>>::PLAIN)*;
            fn unpack(r: &mut $crate::Reader<$lt>) -> Self {
                $name { $($field: r.read(),)* }
            }
        }
        $crate::record!(@pack $name<$lt> { $($field)* });
    };
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $($(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty),* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $($(#[$fmeta])* $fvis $field: $ty,)*
        }
        impl<'de> $crate::Unpack<'de> for $name {
            const MIN_SIZE: usize = 0 $(+ <$ty as $crate::Unpack<'de>>::MIN_SIZE)*;
            const PLAIN: bool = true $(&& <$ty as $crate::Unpack<'de>>::PLAIN)*;
            fn unpack(r: &mut $crate::Reader<'de>) -> Self {
                $name { $($field: r.read(),)* }
            }
        }
        $crate::record!(@pack $name { $($field)* });
    };
}
