//! What the tunnel server shows operators: connected clients, their proxies and ports, and the
//! traffic moved (`GET /tunnels` on the loopback control port).

use super::Tunnels;
use serde::Serialize;
use std::sync::atomic::Ordering;

#[derive(Serialize)]
pub struct Report {
    pub clients: Vec<Client>,
}

#[derive(Serialize)]
pub struct Client {
    pub run_id: String,
    pub address: String,
    pub version: String,
    pub os: String,
    pub arch: String,
    pub connected_seconds: u64,
    pub proxies: Vec<Proxy>,
}

#[derive(Serialize)]
pub struct Proxy {
    pub name: String,
    pub port: u16,
    pub idle_work_connections: usize,
    pub connections_total: u64,
    pub connections_open: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

pub fn report(tunnels: &Tunnels) -> Report {
    let proxies = tunnels.registry.proxies();
    let clients = tunnels
        .registry
        .clients()
        .into_iter()
        .map(|(session, c)| Client {
            connected_seconds: c.since.elapsed().map(|d| d.as_secs()).unwrap_or(0),
            proxies: proxies
                .iter()
                .filter(|(_, p)| p.session == session)
                .map(|(name, p)| Proxy {
                    name: name.clone(),
                    port: p.port,
                    idle_work_connections: tunnels.pools.idle_count(&c.run_id),
                    connections_total: p.stats.connections_total.load(Ordering::Relaxed),
                    connections_open: p.stats.connections_open.load(Ordering::Relaxed),
                    bytes_in: p.stats.bytes_in.load(Ordering::Relaxed),
                    bytes_out: p.stats.bytes_out.load(Ordering::Relaxed),
                })
                .collect(),
            run_id: c.run_id,
            address: c.address.to_string(),
            version: c.version,
            os: c.os,
            arch: c.arch,
        })
        .collect();
    Report { clients }
}
