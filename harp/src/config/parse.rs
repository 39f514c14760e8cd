//! Parsers for single configuration values, with HaRP's accepted forms (contract §1):
//! quote stripping, HAProxy time syntax, HAProxy bind addresses, trusted proxy lists.
//! Pure functions: each returns the value plus any warnings, or an error message.

use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// HaRP's `start.sh` quote stripping: one leading and one trailing `"`, then one leading and one
/// trailing `'`, each independently (contract §1.4).
pub fn strip_quotes(value: &str) -> &str {
    let v = value.strip_prefix('"').unwrap_or(value);
    let v = v.strip_suffix('"').unwrap_or(v);
    let v = v.strip_prefix('\'').unwrap_or(v);
    v.strip_suffix('\'').unwrap_or(v)
}

/// A duration in HAProxy's time syntax: an integer and an optional unit (`us`, `ms`, `s`, `m`,
/// `h`, `d`). A bare number means milliseconds, which HaRP accepts and which usually surprises,
/// so it comes back with a warning.
pub fn haproxy_time(value: &str) -> Result<(Duration, Option<String>), String> {
    let v = value.trim();
    let digits_end = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (number, unit) = v.split_at(digits_end);
    if number.is_empty() {
        return Err(format!(
            "'{value}' is not a duration: use a whole number with a unit, e.g. 30s, 500ms, 5m"
        ));
    }
    let n: u64 = number
        .parse()
        .map_err(|_| format!("'{value}' is too large a duration"))?;
    let d = match unit {
        "" => Duration::from_millis(n),
        "us" => Duration::from_micros(n),
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        "d" => Duration::from_secs(n.saturating_mul(86400)),
        other => {
            return Err(format!(
                "'{value}' has an unknown unit '{other}': use us, ms, s, m, h or d"
            ));
        }
    };
    let warning = unit.is_empty().then(|| {
        format!("'{value}' has no unit, so it means {n} milliseconds (HAProxy's rule); write '{n}ms' or e.g. '{n}s' to be explicit")
    });
    Ok((d, warning))
}

/// An address in HAProxy `bind` syntax: `host:port`, `[v6]:port`, `:port`, `*:port`, with an
/// optional `ipv4@`/`ipv6@` prefix. An empty host or `*` means every IPv4 interface; a host
/// name is resolved now.
pub fn bind_address(value: &str) -> Result<SocketAddr, String> {
    let v = value.trim();
    let v = v
        .strip_prefix("ipv4@")
        .or_else(|| v.strip_prefix("ipv6@"))
        .unwrap_or(v);
    let (host, port) = if let Some(rest) = v.strip_prefix('[') {
        let (h, p) = rest
            .split_once("]:")
            .ok_or_else(|| format!("'{value}' is not an address: expected [IPv6]:port"))?;
        (h, p)
    } else {
        v.rsplit_once(':')
            .ok_or_else(|| format!("'{value}' is not an address: expected host:port"))?
    };
    let port: u16 = port
        .parse()
        .map_err(|_| format!("'{value}' has an invalid port '{port}'"))?;
    let host = if host.is_empty() || host == "*" {
        "0.0.0.0"
    } else {
        host
    };
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    (host, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| format!("'{value}': the host '{host}' cannot be resolved"))
}

/// Port ranges: `23000-23999,24000-24099` or single ports, comma-separated.
pub fn port_ranges(value: &str) -> Result<Vec<std::ops::RangeInclusive<u16>>, String> {
    let mut ranges = Vec::new();
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (Ok(a), Ok(b)) = (a.trim().parse::<u16>(), b.trim().parse::<u16>()) else {
            return Err(format!(
                "'{part}' is not a port or a range like 23000-23999"
            ));
        };
        if a == 0 || a > b {
            return Err(format!("'{part}' is not a valid range"));
        }
        ranges.push(a..=b);
    }
    if ranges.is_empty() {
        return Err("no ports given".to_string());
    }
    Ok(ranges)
}

/// `HP_TRUSTED_PROXY_IPS`: a comma-separated list of IPs and CIDR networks. Like HaRP, it
/// tolerates quotes (straight and curly) around entries and masks host bits with a warning. Unlike
/// HaRP, an entry that is not an address at all is an error, not a silently ignored log line.
pub fn trusted_proxies(value: &str) -> (Vec<IpNet>, Vec<String>, Vec<String>) {
    const QUOTES: &[char] = &['\'', '"', '\u{201c}', '\u{201d}', '\u{2018}', '\u{2019}'];
    let mut nets = Vec::new();
    let mut warnings = Vec::new();
    let mut errors = Vec::new();
    for raw in value.split(',') {
        let entry = raw.trim().trim_matches(QUOTES).trim();
        if entry.is_empty() {
            continue;
        }
        match parse_network(entry) {
            Ok((net, exact)) => {
                if !exact {
                    warnings.push(format!(
                        "HP_TRUSTED_PROXY_IPS: interpreting '{entry}' as '{net}' (host bits set)"
                    ));
                }
                nets.push(net);
            }
            Err(e) => errors.push(format!("HP_TRUSTED_PROXY_IPS: '{entry}' {e}")),
        }
    }
    (nets, warnings, errors)
}

/// One network: an address (a /32 or /128), `addr/prefix`, or `addr/netmask`. Returns the
/// network and whether it was written without host bits.
fn parse_network(entry: &str) -> Result<(IpNet, bool), String> {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Ok((IpNet::from(ip), true));
    }
    let (addr, mask) = entry
        .split_once('/')
        .ok_or("is not an IP address or CIDR network")?;
    let addr: IpAddr = addr
        .trim()
        .parse()
        .map_err(|_| "is not an IP address or CIDR network".to_string())?;
    let prefix = match mask.trim().parse::<u8>() {
        Ok(p) => p,
        Err(_) => netmask_prefix(addr, mask.trim())?,
    };
    let net =
        IpNet::new(addr, prefix).map_err(|_| format!("has an invalid prefix length /{prefix}"))?;
    let exact = net.trunc() == net;
    Ok((net.trunc(), exact))
}

/// Python's `ip_network` also takes a netmask (`255.0.0.0`) or a host mask (`0.255.255.255`).
fn netmask_prefix(addr: IpAddr, mask: &str) -> Result<u8, String> {
    let (IpAddr::V4(_), Ok(IpAddr::V4(m))) = (addr, mask.parse::<IpAddr>()) else {
        return Err(format!("has an invalid mask '{mask}'"));
    };
    let bits = u32::from(m);
    let ones = bits.leading_ones();
    if bits == u32::MAX.checked_shl(32 - ones).unwrap_or(0) {
        return Ok(ones as u8);
    }
    let inverted = !bits;
    let ones = inverted.leading_ones();
    if inverted == u32::MAX.checked_shl(32 - ones).unwrap_or(0) {
        return Ok(ones as u8);
    }
    Err(format!("has an invalid mask '{mask}'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_are_stripped_like_start_sh() {
        assert_eq!(strip_quotes("\"abc\""), "abc");
        assert_eq!(strip_quotes("'abc'"), "abc");
        assert_eq!(strip_quotes("\"'abc'\""), "abc");
        assert_eq!(strip_quotes("\"abc"), "abc");
        assert_eq!(strip_quotes("a'b"), "a'b");
    }

    #[test]
    fn haproxy_times() {
        let s = |v| haproxy_time(v).map(|(d, _)| d);
        assert_eq!(s("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(s("1800s"), Ok(Duration::from_secs(1800)));
        assert_eq!(s("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(s("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(s("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(s("24d"), Ok(Duration::from_secs(24 * 86400)));
        assert_eq!(s("10us"), Ok(Duration::from_micros(10)));
        assert_eq!(s("3000"), Ok(Duration::from_millis(3000)));
        assert!(haproxy_time("3000").unwrap().1.is_some());
        assert!(haproxy_time("30s").unwrap().1.is_none());
        assert!(s("30 s").is_err());
        assert!(s("s").is_err());
        assert!(s("-1s").is_err());
        assert!(s("1.5s").is_err());
        assert!(s("30x").is_err());
    }

    #[test]
    fn bind_addresses() {
        assert_eq!(
            bind_address("0.0.0.0:8780"),
            Ok("0.0.0.0:8780".parse().unwrap())
        );
        assert_eq!(bind_address(":8780"), Ok("0.0.0.0:8780".parse().unwrap()));
        assert_eq!(bind_address("*:8780"), Ok("0.0.0.0:8780".parse().unwrap()));
        assert_eq!(bind_address("[::]:8780"), Ok("[::]:8780".parse().unwrap()));
        assert_eq!(
            bind_address("ipv4@127.0.0.1:1"),
            Ok("127.0.0.1:1".parse().unwrap())
        );
        assert!(bind_address("127.0.0.1").is_err());
        assert!(bind_address("127.0.0.1:99999").is_err());
    }

    #[test]
    fn port_range_lists() {
        assert_eq!(
            port_ranges("23000-23999, 24000-24099"),
            Ok(vec![23000..=23999, 24000..=24099])
        );
        assert_eq!(port_ranges("25000"), Ok(vec![25000..=25000]));
        assert!(port_ranges("").is_err());
        assert!(port_ranges("2-1").is_err());
        assert!(port_ranges("0-10").is_err());
        assert!(port_ranges("x").is_err());
    }

    #[test]
    fn trusted_proxy_lists() {
        let (nets, warnings, errors) = trusted_proxies(
            " \u{201c}10.0.0.0/8\u{201d}, '172.18.0.1', 192.168.1.5/24, nope, ::1, 10.0.0.0/255.255.0.0",
        );
        let shown: Vec<String> = nets.iter().map(|n| n.to_string()).collect();
        assert_eq!(
            shown,
            [
                "10.0.0.0/8",
                "172.18.0.1/32",
                "192.168.1.0/24",
                "::1/128",
                "10.0.0.0/16"
            ]
        );
        assert_eq!(warnings.len(), 1);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("nope"));
    }
}
