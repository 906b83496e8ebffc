//! CID parsers, binary and text: never panic; what parses round-trips.
#![no_main]

use dawn::ipfs::cid::Cid;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = Cid::from_bytes(data) {
        assert_eq!(c.to_bytes(), data);
        assert_eq!(c.to_string().parse::<Cid>().expect("own text parses"), c);
    }
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(c) = s.parse::<Cid>() {
            assert_eq!(Cid::from_bytes(&c.to_bytes()).expect("own bytes parse"), c);
        }
    }
});
