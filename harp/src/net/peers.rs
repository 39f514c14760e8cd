//! The TCP peers the data plane has seen, for `harp doctor`'s trusted-proxy check: per address,
//! how many requests came, how many carried `X-Forwarded-For`/`X-Real-IP`, and whether the
//! address is in `HP_TRUSTED_PROXY_IPS`. Bounded: at most [`MAX_PEERS`] addresses are kept
//! (later ones are not recorded), so it cannot grow with hostile traffic.

use serde::Serialize;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Addresses kept.
pub const MAX_PEERS: usize = 64;

/// What was seen from one peer address.
#[derive(Debug, Clone, Serialize)]
pub struct Peer {
    pub address: IpAddr,
    pub trusted: bool,
    pub requests: u64,
    pub forwarded: u64,
}

#[derive(Default)]
pub struct SeenPeers {
    peers: Mutex<HashMap<IpAddr, Peer>>,
}

impl SeenPeers {
    /// Counts one request from `address` (canonical form).
    pub fn record(&self, address: IpAddr, trusted: bool, forwarded: bool) {
        let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        let len = peers.len();
        let peer = match peers.get_mut(&address) {
            Some(p) => p,
            None if len >= MAX_PEERS => return,
            None => peers.entry(address).or_insert(Peer {
                address,
                trusted,
                requests: 0,
                forwarded: 0,
            }),
        };
        peer.requests += 1;
        peer.forwarded += u64::from(forwarded);
    }

    /// Every recorded peer, by address.
    pub fn list(&self) -> Vec<Peer> {
        let mut all: Vec<Peer> = self
            .peers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        all.sort_by_key(|p| p.address);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_caps() {
        let seen = SeenPeers::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        seen.record(a, true, true);
        seen.record(a, true, false);
        for i in 0..200u32 {
            seen.record(IpAddr::from(i.to_be_bytes()), false, false);
        }
        let list = seen.list();
        assert_eq!(list.len(), MAX_PEERS);
        let first = list.iter().find(|p| p.address == a).unwrap();
        assert_eq!(
            (first.requests, first.forwarded, first.trusted),
            (2, 1, true)
        );
    }
}
