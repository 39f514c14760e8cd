//! `harp tunnel`, the frpc-compatible client, against harp's own tunnel server (HaRP's ExApp
//! `frpc.toml` shape: mutual TLS, `metadatas.token`, a unix-socket ExApp) and against the real Go
//! frps 0.65.0 (`.peers/bin/frps` or `FRPS_BIN`; HaRP's frps shape with mutual TLS): publishing,
//! traffic, a restart of frps (same run id, proxy back), refused logins with `loginFailExit`,
//! and the binary's exit codes. Readiness comes from the client's status and frps's log.

mod common;
#[path = "common/frpc.rs"]
mod frpc;
#[path = "tunnel_client/harp_server.rs"]
mod harp_server;
#[path = "tunnel_client/real_frps.rs"]
mod real_frps;
#[path = "tunnel_client/support.rs"]
mod support;
