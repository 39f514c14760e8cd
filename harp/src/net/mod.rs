//! Sockets: binding and accepting (with the connection limit), TLS, the per-connection wrapper that enforces client
//! timeouts and HaRP's silent drop, and the true client IP behind trusted proxies.

pub mod client_ip;
pub mod conn;
pub mod gate;
pub mod listener;
pub mod tls;
