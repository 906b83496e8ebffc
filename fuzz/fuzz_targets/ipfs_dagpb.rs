//! dag-pb and UnixFS decoders: never panic; whatever decodes re-encodes to bytes that
//! decode to the same node.
#![no_main]

use dawn::ipfs::dagpb::PbNode;
use dawn::ipfs::unixfs::UnixfsData;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(node) = PbNode::decode(data) {
        let again = PbNode::decode(&node.encode()).expect("re-encoded node decodes");
        assert_eq!(again, node);
        if let Some(d) = &node.data {
            if let Ok(fs) = UnixfsData::decode(d) {
                assert_eq!(UnixfsData::decode(&fs.encode()).expect("re-encoded UnixFS decodes"), fs);
            }
        }
    }
    if let Ok(fs) = UnixfsData::decode(data) {
        assert_eq!(UnixfsData::decode(&fs.encode()).expect("re-encoded UnixFS decodes"), fs);
    }
});
