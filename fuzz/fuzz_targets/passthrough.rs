//! The Docker pass-through allow-list (contract §6): see `harp::fuzzing::passthrough`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| harp::fuzzing::passthrough(data));
