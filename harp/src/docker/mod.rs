//! Talking to Docker Engines for AppAPI's deployment endpoints (contract §5.5): a small Engine
//! API client over a tunnel port or the local socket, the names HaRP gives containers and
//! volumes, the request payloads AppAPI sends, and the container-create body built from them.

pub mod client;
pub mod names;
pub mod payload;
pub mod spec;
