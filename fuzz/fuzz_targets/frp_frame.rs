//! frp framing and message JSON (frp-protocol.md §2.1): see `frp_wire::fuzzing::frame`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| frp_wire::fuzzing::frame(data));
