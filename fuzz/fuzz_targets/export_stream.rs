//! Arbitrary bytes as a segment export stream: header decoder, zstd, verification.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| dawn::log::fuzz::export_stream(data));
