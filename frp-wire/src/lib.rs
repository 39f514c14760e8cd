//! The frp v1 wire format, as frpc/frps 0.61.1–0.65.0 speak it, without I/O.
//!
//! Everything here is pure: bytes in, values out, and back. Sockets, TLS, yamux sessions and
//! timeouts belong to the tunnel that uses this crate. All decoders take hostile input: they
//! return typed errors and never panic. The byte-level reference is
//! `frp-protocol.md` (section numbers below refer to it).
//!
//! | module    | owns                                                                 | §        |
//! |-----------|----------------------------------------------------------------------|----------|
//! | [`msg`]   | message structs (Login, NewProxy, …), type bytes, the [`Message`] enum | 2.2, 2.3 |
//! | [`codec`] | framing `type ‖ i64 BE length ‖ JSON`, 10240-byte limit, incremental decode | 2.1 |
//! | [`auth`]  | `privilege_key` = hex(md5(token ‖ timestamp)) and its constant-time check | 3.1 |
//! | [`crypto`]| AES-128-CFB stream cipher, PBKDF2 key, IV handling, random run ids    | 4        |
//! | [`yamux`] | the 12-byte hashicorp yamux frame header and frp's window constants  | 1.3      |
//! | [`fuzzing`] | the decoders' properties over arbitrary bytes, for `fuzz/` and its replay test | – |
//!
//! A server's control stream, in these terms: read bytes into a buffer and [`decode`] a
//! [`Login`]; answer with [`encode`]d [`LoginResp`]. Every later byte in each direction goes
//! through a [`Decryptor`] / [`Encryptor`] made from [`Key::derive`], and the plaintext is framed
//! the same way. `decode` reports exactly how many bytes a message used, because the peer's IV
//! may follow the clear-text message in the same read.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod codec;
pub mod crypto;
pub mod fuzzing;
mod json;
pub mod msg;
pub mod yamux;

pub use auth::{privilege_key, verify_privilege_key};
pub use codec::{WireError, decode, encode, encode_into, frame_len};
pub use crypto::{Decryptor, Encryptor, Key, RngError, random_iv, random_run_id};
pub use msg::{
    ClientSpec, CloseProxy, Login, LoginResp, Message, MsgType, NewProxy, NewProxyResp,
    NewVisitorConn, NewVisitorConnResp, NewWorkConn, Ping, Pong, ReqWorkConn, StartWorkConn,
};
