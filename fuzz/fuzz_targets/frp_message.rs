//! One frp message body of a chosen type (frp-protocol.md §2.3): see `frp_wire::fuzzing::message`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| frp_wire::fuzzing::message(data));
