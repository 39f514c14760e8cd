//! The true client IP used for bans and failure records (contract §3.2 with decision D11):
//! the TCP peer, unless the peer is a trusted proxy; then `X-Forwarded-For` is walked from the
//! right, skipping trusted addresses, and the first untrusted one is the client. `X-Real-IP` is
//! used only when there is no `X-Forwarded-For`.

use ipnet::IpNet;
use std::net::IpAddr;

/// Whether `ip` lies inside one of `nets` (IPv4 never matches IPv6 networks).
pub fn is_trusted(ip: IpAddr, nets: &[IpNet]) -> bool {
    nets.iter().any(|n| n.contains(&ip))
}

/// Parses one forwarded address as Python's `ip_address` would, plus `%scope` on IPv6.
fn parse_forwarded(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    let entry = entry.split_once('%').map_or(entry, |(ip, _scope)| ip);
    entry.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

/// The client behind `peer`. `xff` and `real_ip` are the last occurrences of those headers.
pub fn true_client_ip(
    peer: IpAddr,
    trusted: &[IpNet],
    xff: Option<&str>,
    real_ip: Option<&str>,
) -> IpAddr {
    let peer = peer.to_canonical();
    if !is_trusted(peer, trusted) {
        return peer;
    }
    if let Some(xff) = xff.filter(|v| !v.trim().is_empty()) {
        let mut candidate = None;
        for entry in xff.rsplit(',') {
            match parse_forwarded(entry) {
                Some(ip) if is_trusted(ip, trusted) => candidate = Some(ip),
                Some(ip) => return ip,
                // A hop we cannot read: trust nothing further left of it.
                None => break,
            }
        }
        return candidate.unwrap_or(peer);
    }
    real_ip.and_then(parse_forwarded).unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(s: &[&str]) -> Vec<IpNet> {
        s.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn untrusted_peer_is_the_client_whatever_it_claims() {
        let t = nets(&["10.0.0.0/8"]);
        assert_eq!(
            true_client_ip(ip("1.2.3.4"), &t, Some("9.9.9.9"), Some("8.8.8.8")),
            ip("1.2.3.4")
        );
        assert_eq!(
            true_client_ip(ip("1.2.3.4"), &[], Some("9.9.9.9"), None),
            ip("1.2.3.4")
        );
    }

    #[test]
    fn walks_forwarded_for_from_the_right() {
        let t = nets(&["10.0.0.0/8"]);
        // The client put a fake address first; nginx appended the real one.
        assert_eq!(
            true_client_ip(ip("10.0.0.2"), &t, Some("6.6.6.6, 1.2.3.4"), None),
            ip("1.2.3.4")
        );
        // Two trusted hops.
        assert_eq!(
            true_client_ip(ip("10.0.0.2"), &t, Some("1.2.3.4, 10.0.0.3"), None),
            ip("1.2.3.4")
        );
        // Only trusted hops: the left-most one.
        assert_eq!(
            true_client_ip(ip("10.0.0.2"), &t, Some("10.0.0.9,10.0.0.3"), None),
            ip("10.0.0.9")
        );
        // Garbage written by a trusted hop: stop there.
        assert_eq!(
            true_client_ip(ip("10.0.0.2"), &t, Some("1.2.3.4, junk"), None),
            ip("10.0.0.2")
        );
        assert_eq!(
            true_client_ip(ip("10.0.0.2"), &t, Some("fe80::1%eth0"), None),
            ip("fe80::1")
        );
    }

    #[test]
    fn real_ip_only_without_forwarded_for() {
        let t = nets(&["127.0.0.0/8"]);
        assert_eq!(
            true_client_ip(ip("127.0.0.1"), &t, None, Some("5.5.5.5")),
            ip("5.5.5.5")
        );
        assert_eq!(
            true_client_ip(ip("127.0.0.1"), &t, Some("4.4.4.4"), Some("5.5.5.5")),
            ip("4.4.4.4")
        );
        assert_eq!(
            true_client_ip(ip("127.0.0.1"), &t, None, Some("nope")),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn mapped_ipv4_is_canonical() {
        let t = nets(&["127.0.0.0/8"]);
        assert_eq!(
            true_client_ip(ip("::ffff:127.0.0.1"), &t, Some("::ffff:1.2.3.4"), None),
            ip("1.2.3.4")
        );
    }
}
