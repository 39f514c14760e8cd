//! The yamux frame header (frp-protocol.md §1.3): see `frp_wire::fuzzing::yamux_header`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| frp_wire::fuzzing::yamux_header(data));
