//! Configuration from an arbitrary environment (D12): see `harp::fuzzing::config`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| harp::fuzzing::config(data));
