//! Tunnel clients connected to the running harp (`/tunnels` on the control port).

use super::{Finding, control};
use std::net::SocketAddr;

const CHECK: &str = "tunnels";

pub async fn check(harp: Option<SocketAddr>) -> Finding {
    let Some(addr) = harp else {
        return Finding::warn(CHECK, "not checked: harp is not running here");
    };
    let report = match control::get_json(addr, "/tunnels").await {
        Ok(r) => r,
        Err(e) => return Finding::fail(CHECK, format!("cannot read harp's tunnel report: {e}")),
    };
    let clients = report["clients"].as_array().cloned().unwrap_or_default();
    if clients.is_empty() {
        return Finding::warn(
            CHECK,
            "no tunnel client is connected (fine if no ExApp or remote Docker engine uses frpc; otherwise check HP_FRP_ADDRESS is reachable from them and their certificates)",
        );
    }
    let described: Vec<String> = clients
        .iter()
        .map(|c| {
            let ports: Vec<String> = c["proxies"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .map(|p| format!("{} on {}", p["name"].as_str().unwrap_or("?"), p["port"]))
                        .collect()
                })
                .unwrap_or_default();
            format!(
                "{} ({})",
                c["address"].as_str().unwrap_or("?"),
                if ports.is_empty() {
                    "no proxy".to_string()
                } else {
                    ports.join(", ")
                }
            )
        })
        .collect();
    Finding::ok(
        CHECK,
        format!("{} connected: {}", clients.len(), described.join("; ")),
    )
}
