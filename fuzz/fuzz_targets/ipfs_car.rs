//! CAR reader: never panics; every block it returns matches its CID.
#![no_main]

use dawn::ipfs::car;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((roots, blocks)) = car::read_all(data) {
        assert!(roots.len() <= car::ROOTS_MAX);
        for (cid, block) in &blocks {
            assert!(cid.matches(block));
        }
        let h = car::header(&roots);
        assert_eq!(car::read_all(&h).expect("own header parses").0, roots);
    }
});
