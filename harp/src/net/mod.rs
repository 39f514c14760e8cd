//! Sockets: binding and accepting, TLS, the per-connection wrapper that enforces client
//! timeouts and HaRP's silent drop, and the true client IP behind trusted proxies.

pub mod client_ip;
pub mod conn;
pub mod listener;
pub mod tls;
