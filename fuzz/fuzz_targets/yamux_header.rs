//! yamux frame header (frp-protocol.md §1.3): parsing arbitrary bytes must not panic, and a
//! header that parses must encode back to the same 12 bytes.
#![no_main]

use frp_wire::yamux::{HEADER_LEN, Header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match Header::parse(data) {
        Ok(Some(header)) => assert_eq!(header.encode()[..], data[..HEADER_LEN]),
        Ok(None) => assert!(data.len() < HEADER_LEN),
        Err(_) => assert!(data.len() >= HEADER_LEN),
    }
});
