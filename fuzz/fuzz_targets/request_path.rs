//! The request path, `..` and the app id (contract §3.1 steps 3–4): see `harp::fuzzing::path`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| harp::fuzzing::path(data));
