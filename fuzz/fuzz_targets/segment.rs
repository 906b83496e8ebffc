//! Arbitrary bytes as a segment file: header, batch, record and footer decoders, recovery.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| dawn::log::fuzz::segment_file(data));
