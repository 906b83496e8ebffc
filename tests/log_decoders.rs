//! Robustness of every decoder on arbitrary and mutated input (the same entry points the
//! cargo-fuzz targets in fuzz/ drive): no panic, no hang.

use std::sync::Arc;

use dawn::log::storage::{Dir, MemDir};
use dawn::log::{fuzz, segment_name, Config, Log, Offset};
use proptest::prelude::*;

/// A valid single-segment image and a valid export stream, to mutate.
fn seeds() -> (Vec<u8>, Vec<u8>) {
    let dir = MemDir::new();
    let log = Log::open(Arc::new(dir.clone()) as Arc<dyn Dir>, Config::tiny()).unwrap();
    for i in 0..20u32 {
        let a = log.append(&[i.to_le_bytes().repeat(i as usize)]).unwrap();
        log.wait_durable_blocking(a.last()).unwrap();
    }
    log.roll().unwrap();
    let mut stream = Vec::new();
    log.export_segment(Offset(0), &mut stream, 1).unwrap();
    drop(log);
    let image = dir.snapshot()[&segment_name(0)].clone();
    (image, stream)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..2048)) {
        fuzz::segment_file(&data);
        fuzz::export_stream(&data);
    }

    #[test]
    fn mutated_segment(flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4), cut in any::<prop::sample::Index>()) {
        let (image, stream) = seeds();
        let mut img = image.clone();
        for (i, b) in &flips {
            let at = i.index(img.len());
            img[at] ^= b | 1;
        }
        fuzz::segment_file(&img);
        fuzz::segment_file(&image[..cut.index(image.len() + 1)]);
        let mut s = stream.clone();
        for (i, b) in &flips {
            let at = i.index(s.len());
            s[at] ^= b | 1;
        }
        fuzz::export_stream(&s);
        fuzz::export_stream(&stream[..cut.index(stream.len() + 1)]);
    }
}
