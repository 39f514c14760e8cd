//! Sockets: binding and accepting (with the connection limit), TLS, the per-connection
//! wrapper that enforces client timeouts and HaRP's silent drop, the true client IP behind
//! trusted proxies, and the peers seen (for `harp doctor`).

pub mod any_server_cert;
pub mod client_ip;
pub mod conn;
pub mod gate;
pub mod listener;
pub mod peers;
pub mod tls;
