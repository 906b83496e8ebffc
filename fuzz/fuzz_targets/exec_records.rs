//! Arbitrary bytes as exec's records: a results-log record, the action data and deferred
//! requests contracts hand to the host, and a state snapshot file. Decoding never panics,
//! what decodes re-encodes to the same bytes, and a snapshot either loads with a state
//! root equal to its header's or is refused.
#![no_main]
use dawn::chain::{codec, Action};
use dawn::exec::system_rows::{DeferredEntry, DeferredRequest};
use dawn::exec::BlockResults;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(r) = codec::decode::<BlockResults>(data, 1 << 20) {
        assert_eq!(codec::encode(&r), data, "results records decode canonically");
    }
    if let Ok(a) = codec::decode::<Action>(data, 1 << 20) {
        assert_eq!(codec::encode(&a), data);
    }
    if let Ok(d) = codec::decode::<DeferredRequest>(data, 1 << 20) {
        let _ = dawn::exec::deferred::check_request(dawn::chain::Name(1), &d);
    }
    let _ = codec::decode::<DeferredEntry>(data, 1 << 20);
    let dir = std::env::temp_dir().join(format!("dawn-fuzz-snapshot-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("snapshot-0000000001.bin");
    if std::fs::write(&path, data).is_ok() {
        if let Ok((h, store)) = dawn::exec::snapshot::read(&path) {
            assert_eq!(store.root(), h.state_root);
        }
    }
});
