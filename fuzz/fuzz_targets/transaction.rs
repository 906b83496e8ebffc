//! Arbitrary bytes as a signed transaction (binary codec and JSON) and as a block: decoding
//! never panics, and whatever decodes re-encodes to the same bytes.
#![no_main]
use dawn::chain::{codec, SignedBlock, SignedTransaction};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(tx) = codec::decode::<SignedTransaction>(data, 1 << 20) {
        assert_eq!(codec::encode(&tx), data, "binary decoding is canonical");
        let _ = tx.digests(&dawn::chain::ChainId(dawn::chain::Checksum256::default()));
        let json = serde_json::to_string(&tx).expect("decoded transactions have a JSON form");
        let back: SignedTransaction = serde_json::from_str(&json).expect("JSON round trip");
        assert_eq!(back, tx);
    }
    if let Ok(b) = codec::decode::<SignedBlock>(data, 1 << 20) {
        assert_eq!(codec::encode(&b), data);
    }
    let _ = serde_json::from_slice::<SignedTransaction>(data);
});
