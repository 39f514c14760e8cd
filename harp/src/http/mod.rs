//! HTTP plumbing shared by the data plane and the control plane: the body type, canned
//! responses with HaRP's exact texts, header names, and the per-connection server.

pub mod body;
pub mod headers;
pub mod server;
pub mod streaming;
