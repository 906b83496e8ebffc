//! Native tests of the SDK's pure parts: names, symbols, assets and the codec. Failures
//! that fail a transaction in a contract panic here with the same message.

use dawn_sdk::{
    decode, encode_into, record, Action, Asset, Name, PermissionLevel, Reader, Seq, Symbol, ASSET_AMOUNT_MAX,
};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn enc<T: dawn_sdk::Pack + ?Sized>(v: &T) -> Vec<u8> {
    let mut buf = vec![0u8; v.packed_size()];
    let n = encode_into(v, &mut buf).len();
    assert_eq!(n, buf.len(), "packed_size matches the encoding");
    buf
}

#[test]
fn published_name_values() {
    const EOSIO: Name = Name::new("eosio");
    assert_eq!(EOSIO.0, 6138663577826885632);
    assert_eq!(Name::new("active").0, 3617214756542218240);
    assert_eq!(Name::new("owner").0, 12044502819693133824);
    assert_eq!(Name::new("eosio.token").0, 6138663591592764928);
    assert_eq!(Name::new("transfer").0, 14829575313431724032);
    assert_eq!(Name::new("").0, 0);
}

#[test]
fn name_text_round_trip() {
    for s in ["eosio", "eosio.token", "a", "zzzzzzzzzzzzj", "1.2.3.4.5", ".leading", "accounts"] {
        let mut buf = [0u8; 13];
        assert_eq!(Name::new(s).write_text(&mut buf), s);
    }
    let mut buf = [0u8; 13];
    assert_eq!(Name(u64::MAX).write_text(&mut buf), "zzzzzzzzzzzzj");
}

#[test]
fn bad_names_refused() {
    for s in ["Eosio", "eosio6", "toolongname.abc", "zzzzzzzzzzzzk", "trailing.", "a b"] {
        assert_eq!(Name::parse(s), None, "{s}");
    }
}

#[test]
#[should_panic(expected = "invalid name")]
fn name_new_panics_on_bad_text() {
    Name::new("UPPER");
}

#[test]
fn symbols() {
    const EOS: Symbol = Symbol::new(4, "EOS");
    assert_eq!(EOS.0, 1397703940);
    assert_eq!(EOS.precision(), 4);
    assert_eq!(EOS.code(), 0x534F45);
    assert!(Symbol::new(18, "ABCDEFG").is_valid());
    assert!(!Symbol(19 | (b'A' as u64) << 8).is_valid(), "precision above 18");
    assert!(!Symbol(4).is_valid(), "empty code");
    assert!(!Symbol(4 | (b'a' as u64) << 8).is_valid(), "lower case");
    assert!(!Symbol(4 | (b'A' as u64) << 8 | (b'B' as u64) << 24).is_valid(), "gap");
}

#[test]
fn assets() {
    let sys = Symbol::new(4, "SYS");
    assert!(Asset::new(ASSET_AMOUNT_MAX, sys).is_valid());
    assert!(Asset::new(-ASSET_AMOUNT_MAX, sys).is_valid());
    assert!(!Asset::new(ASSET_AMOUNT_MAX + 1, sys).is_valid());
    assert!(!Asset::new(i64::MIN, sys).is_valid());
    let mut a = Asset::new(5, sys);
    a += Asset::new(7, sys);
    a -= Asset::new(2, sys);
    assert_eq!(a, Asset::new(10, sys));
    assert_eq!(-a, Asset::new(-10, sys));
}

#[test]
#[should_panic(expected = "addition overflow")]
fn asset_overflow() {
    let sys = Symbol::new(4, "SYS");
    let _ = Asset::new(ASSET_AMOUNT_MAX, sys) + Asset::new(1, sys);
}

#[test]
#[should_panic(expected = "attempt to subtract asset with different symbol")]
fn asset_symbol_mismatch() {
    let _ = Asset::new(1, Symbol::new(4, "SYS")) - Asset::new(1, Symbol::new(4, "EOS"));
}

#[test]
fn permission_level_and_action_layout() {
    let eosio_active = PermissionLevel::new(Name::new("eosio"), Name::new("active"));
    assert_eq!(hex(&enc(&eosio_active)), "0000000000ea305500000000a8ed3232");
    let auth = [eosio_active];
    let action = Action {
        account: Name::new("eosio.token"),
        name: Name::new("transfer"),
        authorization: &auth,
        data: &[1, 2],
    };
    let bytes = enc(&action);
    assert_eq!(bytes.len(), 32 + 16 + 2);
    assert_eq!(&bytes[16..24], &1u64.to_le_bytes());
    assert_eq!(&bytes[40..48], &2u64.to_le_bytes());
    assert_eq!(&bytes[48..], &[1, 2]);
}

record! {
    #[derive(Debug, PartialEq)]
    struct Transfer<'a> {
        from: Name,
        to: Name,
        quantity: Asset,
        memo: &'a str,
    }
}

record! {
    #[derive(Debug, PartialEq)]
    struct Mixed {
        flag: bool,
        small: u16,
        id: u32,
        opt: Option<u8>,
        digest: [u8; 4],
        pair: (i8, i64),
    }
}

#[test]
fn record_round_trip() {
    let t = Transfer {
        from: Name::new("alice"),
        to: Name::new("bob"),
        quantity: Asset::new(100000, Symbol::new(4, "SYS")),
        memo: "hi",
    };
    let bytes = enc(&t);
    assert_eq!(bytes.len(), 8 + 8 + 16 + 8 + 2);
    assert_eq!(&bytes[32..40], &2u64.to_le_bytes());
    assert_eq!(decode::<Transfer>(&bytes), t);

    let m = Mixed { flag: true, small: 0x0102, id: 7, opt: Some(9), digest: [1, 2, 3, 4], pair: (-1, -2) };
    let bytes = enc(&m);
    assert_eq!(hex(&bytes[..13]), "01020107000000010901020304");
    assert_eq!(decode::<Mixed>(&bytes), m);
}

#[test]
fn sequences() {
    let names = [Name::new("a"), Name::new("b"), Name::new("c")];
    let bytes = enc(&names[..]);
    assert_eq!(bytes.len(), 8 + 24);
    let seq: Seq<Name> = decode(&bytes);
    assert_eq!(seq.len(), 3);
    assert_eq!(seq.iter().collect::<Vec<_>>(), names.to_vec());
    assert_eq!(enc(&seq), bytes);
    let encoded = enc(&["x", "yz"][..]);
    let strs: Seq<&str> = decode(&encoded);
    assert_eq!(strs.iter().collect::<Vec<_>>(), ["x", "yz"]);
    let encoded = enc(&[5u8, 6][..]);
    let raw: &[u8] = decode(&encoded);
    assert_eq!(raw, &[5, 6]);
}

#[test]
#[should_panic(expected = "decode: unexpected end of data")]
fn short_input() {
    decode::<Asset>(&[0u8; 15]);
}

#[test]
#[should_panic(expected = "decode: trailing bytes after value")]
fn trailing_input() {
    decode::<u32>(&[0u8; 5]);
}

#[test]
#[should_panic(expected = "decode: length exceeds data")]
fn huge_length() {
    let mut bytes = u64::MAX.to_le_bytes().to_vec();
    bytes.push(b'x');
    decode::<&str>(&bytes);
}

#[test]
#[should_panic(expected = "decode: length exceeds data")]
fn huge_count() {
    let mut bytes = 3u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(&[0u8; 16]);
    decode::<Seq<Name>>(&bytes);
}

#[test]
#[should_panic(expected = "decode: invalid UTF-8 in string")]
fn bad_utf8() {
    let mut bytes = 2u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(&[0xff, 0xfe]);
    decode::<&str>(&bytes);
}

#[test]
#[should_panic(expected = "decode: invalid bool")]
fn bad_bool() {
    decode::<bool>(&[2]);
}

#[test]
#[should_panic(expected = "encode: buffer too small")]
fn small_buffer() {
    let mut buf = [0u8; 7];
    encode_into(&1u64, &mut buf);
}

#[test]
fn reader_steps() {
    let data = [1u8, 0, 2, 0, 0, 0, 9];
    let mut r = Reader::new(&data);
    assert_eq!(r.read::<u16>(), 1);
    assert_eq!(r.read::<u32>(), 2);
    assert_eq!(r.remaining(), 1);
    assert_eq!(r.read_bytes(1), &[9]);
    r.finish();
}

#[test]
fn plain_sequences_are_skipped_and_others_checked() {
    let blob = [7u8; 300];
    let bytes = enc(&(&blob[..], 9u32));
    assert_eq!(bytes.len(), 8 + 300 + 4);
    let (seq, tail): (Seq<u8>, u32) = decode(&bytes);
    assert_eq!((seq.len(), seq.raw().len(), tail), (300, 300, 9));
    assert!(seq.iter().all(|b| b == 7));
    let flags = [true, false];
    let encoded = enc(&flags[..]);
    let ok: Seq<bool> = decode(&encoded);
    assert_eq!(ok.iter().collect::<Vec<_>>(), flags);
}

#[test]
#[should_panic(expected = "decode: invalid bool")]
fn sequence_elements_checked_when_read() {
    let mut bytes = 2u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(&[1, 5]);
    decode::<Seq<bool>>(&bytes);
}
