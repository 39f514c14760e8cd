//! Is a harp running here? `GET /heartbeat` on `HP_CONTROL_ADDRESS`. The checks of the
//! running instance (tunnels, engines behind tunnels, peers) need it.

use super::{Finding, control};
use crate::config::Config;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The control port's address, or `None` when no harp answers there.
pub struct Control {
    pub addr: Option<SocketAddr>,
    pub finding: Finding,
}

/// An address to connect to for a listen address (`0.0.0.0`/`::` mean this host).
pub fn reachable(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
    } else {
        addr
    }
}

pub async fn check(config: &Config) -> Control {
    let addr = reachable(config.control_address);
    match control::get(addr, "/heartbeat").await {
        Ok((200, _)) => Control {
            addr: Some(addr),
            finding: Finding::ok("harp", format!("harp is running (control port {addr})")),
        },
        Ok((status, _)) => Control {
            addr: None,
            finding: Finding::fail(
                "harp",
                format!(
                    "{addr} answers /heartbeat with {status}: something else listens on HP_CONTROL_ADDRESS"
                ),
            ),
        },
        Err(e) => Control {
            addr: None,
            finding: Finding::warn(
                "harp",
                format!(
                    "no harp answers on HP_CONTROL_ADDRESS {addr} ({e}); checks of the running instance are skipped"
                ),
            ),
        },
    }
}
