//! frp message framing and JSON (frp-protocol.md §2): decoding arbitrary bytes must not panic,
//! must never claim more bytes than it was given or than one frame can hold, and whatever
//! decodes must re-encode to a canonical frame that decodes to the same message.
#![no_main]

use frp_wire::codec::{self, MAX_FRAME_LEN, WireError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let header = codec::frame_len(data);
    match codec::decode(data) {
        Ok(Some((msg, used))) => {
            assert!(used <= data.len() && used <= MAX_FRAME_LEN);
            assert_eq!(header.ok().flatten(), Some(used));
            match codec::encode(&msg) {
                Ok(wire) => {
                    let (again, n) = codec::decode(&wire)
                        .expect("re-encoded frame decodes")
                        .expect("re-encoded frame is complete");
                    assert_eq!(n, wire.len());
                    assert_eq!(again, msg);
                    assert_eq!(codec::encode(&again).expect("encodes twice"), wire);
                }
                // Go-style escaping (`<` → `\u003c`) or the always-present `client_spec` can
                // push a body that was just under the limit over it.
                Err(WireError::TooLarge(_)) => {}
                Err(e) => panic!("decoded message failed to encode: {e}"),
            }
        }
        Ok(None) => assert!(data.len() < MAX_FRAME_LEN),
        Err(_) => assert!(header.is_err() || data.len() >= codec::HEADER_LEN),
    }
});
