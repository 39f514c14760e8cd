//! The true client IP from X-Forwarded-For / X-Real-IP (contract §3.2, D11): see `harp::fuzzing::client_ip`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| harp::fuzzing::client_ip(data));
