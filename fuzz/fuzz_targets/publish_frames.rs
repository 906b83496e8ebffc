//! Arbitrary bytes as the subscription protocol's frames: a frame header, a `Subscribe`
//! body (what a server reads from any client), and `Reply`, `StreamOpen` and `Messages`
//! bodies (what a client reads from any server). Decoding never panics, a decoded
//! `Subscribe` re-encodes to the same bytes, and a filter either normalizes or is refused.
#![no_main]
use dawn::chain::codec;
use dawn::publish::protocol;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data.len() >= protocol::FRAME_HEADER_BYTES {
        let _ = protocol::parse_header(data[..protocol::FRAME_HEADER_BYTES].try_into().unwrap());
    }
    if let Ok(mut s) = protocol::decode_subscribe(data) {
        assert_eq!(codec::encode(&s), data, "Subscribe decodes canonically");
        let _ = s.filter.normalize();
    }
    let _ = protocol::decode_reply(data);
    let _ = protocol::decode_stream_open(data);
    if let Ok(messages) = protocol::decode_messages(data) {
        for m in &messages {
            let _ = m.cursor();
        }
    }
});
