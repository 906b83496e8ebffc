//! Arbitrary bytes as contract code: `setcode`'s checks refuse or accept without a panic,
//! and an accepted module is compiled and cached under its hash.
#![no_main]
use std::sync::OnceLock;

use dawn::exec::wasm::WasmRuntime;

static RUNTIME: OnceLock<WasmRuntime> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let rt = RUNTIME.get_or_init(|| WasmRuntime::new().expect("engine"));
    if let Ok(hash) = rt.validate(data) {
        assert!(rt.is_loaded(&hash));
    }
});
