//! Properties of harp's parsers of hostile input over arbitrary bytes, shared by the cargo-fuzz
//! targets in `fuzz/` and by `tests/fuzz_replay.rs`, which replays the committed corpora and
//! crash reproducers with a plain `cargo test`.
//!
//! Each function takes the fuzzer's bytes and panics only when a property breaks. Beyond "no
//! panic", each checks the parser against the contract's own definition (HaRP's regexes,
//! decision D11's walk) or a security invariant (no `..` after decoding, the shared key never
//! in a message, only documented Docker calls).

use crate::config::{Config, env};
use crate::control::passthrough;
use crate::net::client_ip::{is_trusted, true_client_ip};
use crate::proxy::path::{has_dot_dot, split_appid};
use fancy_regex::Regex;
use http::Method;
use ipnet::IpNet;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::LazyLock;

/// HaRP's `..` rule and app-id search, verbatim from contract §3.1 steps 3–4.
static HARP_DOT_DOT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|/|%2[fF])(?:\.|%2[eE]){2}(?:/|%2[fF]|$)").expect("contract regex")
});
static HARP_APPID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:^|/)exapps/([^/]+)").expect("contract regex"));

/// The request path (contract §3.1 steps 3–4): `has_dot_dot` and `split_appid` agree with HaRP's
/// regexes, and a path that passes the `..` check has no `..` segment once percent-decoded.
pub fn path(data: &[u8]) {
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    let dot_dot = has_dot_dot(path);
    assert_eq!(
        dot_dot,
        HARP_DOT_DOT.is_match(path).unwrap_or(false),
        "`..` check differs from HaRP's regex on {path:?}"
    );
    if !dot_dot {
        let decoded: Vec<u8> = percent_encoding::percent_decode_str(path).collect();
        assert!(
            !decoded.split(|&b| b == b'/').any(|s| s == b".."),
            "{path:?} passes the `..` check but decodes to a `..` segment"
        );
    }
    let expected = HARP_APPID.captures(path).ok().flatten().and_then(|c| {
        let appid = c.get(1)?.as_str();
        let target = path
            .strip_prefix("/exapps/")
            .and_then(|rest| rest.strip_prefix(appid))
            .unwrap_or(path);
        Some((appid, target))
    });
    assert_eq!(split_appid(path), expected, "app id of {path:?}");
}

/// Peers and trusted networks the client-IP target chooses from (IPv4, IPv6, mapped IPv4).
const PEERS: [&str; 8] = [
    "127.0.0.1",
    "10.0.0.2",
    "::1",
    "::ffff:10.0.0.2",
    "1.2.3.4",
    "fe80::1",
    "2001:db8::5",
    "192.168.1.1",
];
const NETS: [&str; 8] = [
    "127.0.0.0/8",
    "10.0.0.0/8",
    "::1/128",
    "2001:db8::/32",
    "192.168.0.0/16",
    "0.0.0.0/0",
    "fe80::/10",
    "1.2.3.4/32",
];

/// The client IP (contract §3.2 with decision D11). Byte 0 picks the peer (bits 0–2) and whether
/// `X-Forwarded-For` (bit 3) and `X-Real-IP` (bit 4) are present, byte 1 the trusted networks
/// (one bit each), the rest is the two header values separated by a newline. The answer must be
/// the one of D11's walk: an untrusted peer is the client whatever it claims; behind trusted
/// proxies the right-most untrusted hop is the client, and nothing left of it can be chosen.
pub fn client_ip(data: &[u8]) {
    let [flags, net_bits, rest @ ..] = data else {
        return;
    };
    let peer: IpAddr = PEERS[usize::from(flags & 7)].parse().expect("table");
    let trusted: Vec<IpNet> = NETS
        .iter()
        .enumerate()
        .filter(|(i, _)| net_bits & (1 << i) != 0)
        .map(|(_, n)| n.parse().expect("table"))
        .collect();
    let text = String::from_utf8_lossy(rest);
    let (xff, real_ip) = text.split_once('\n').unwrap_or((&text, ""));
    let xff = (flags & 8 != 0).then_some(xff);
    let real_ip = (flags & 16 != 0).then_some(real_ip);

    let got = true_client_ip(peer, &trusted, xff, real_ip);
    assert_eq!(got, got.to_canonical(), "client IPs are canonical");
    assert_eq!(got, expected_client(peer, &trusted, xff, real_ip));
    if !is_trusted(peer.to_canonical(), &trusted) {
        assert_eq!(got, peer.to_canonical(), "an untrusted peer chose its IP");
    }
}

/// D11's walk written out by index, independently of the iterator in `net::client_ip`.
fn expected_client(
    peer: IpAddr,
    trusted: &[IpNet],
    xff: Option<&str>,
    real: Option<&str>,
) -> IpAddr {
    let parse = |entry: &str| {
        let entry = entry.trim();
        let ip = entry.split('%').next().unwrap_or(entry);
        ip.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
    };
    let peer = peer.to_canonical();
    if !is_trusted(peer, trusted) {
        return peer;
    }
    match xff.filter(|v| !v.trim().is_empty()) {
        Some(xff) => {
            let hops: Vec<Option<IpAddr>> = xff.split(',').map(parse).collect();
            let mut client = peer;
            for hop in hops.iter().rev() {
                match hop {
                    Some(ip) if is_trusted(*ip, trusted) => client = *ip,
                    Some(ip) => return *ip,
                    None => break,
                }
            }
            client
        }
        None => real.and_then(parse).unwrap_or(peer),
    }
}

/// Every variable harp reads except `HP_SHARED_KEY_FILE` (a fuzzer must not make harp read
/// arbitrary files such as `/dev/zero`).
const VARIABLES: [&str; 30] = [
    env::HP_SHARED_KEY,
    env::NC_INSTANCE_URL,
    env::HP_EXAPPS_ADDRESS,
    env::HP_EXAPPS_HTTPS_ADDRESS,
    env::HP_FRP_ADDRESS,
    env::HP_SPOA_ADDRESS,
    env::HP_FRP_DISABLE_TLS,
    env::HP_FRP_ALLOW_PORTS,
    env::HP_FRP_CERT_VALIDITY_DAYS,
    env::HP_LOG_LEVEL,
    env::HP_LOG_FORMAT,
    env::HP_VERBOSE_START,
    env::HP_TRUSTED_PROXY_IPS,
    env::HP_SESSION_LIFETIME,
    env::HP_BLACKLIST_COUNT,
    env::HP_BLACKLIST_WINDOW,
    env::HP_TIMEOUT_CONNECT,
    env::HP_TIMEOUT_CLIENT,
    env::HP_TIMEOUT_SERVER,
    env::HP_TIMEOUT_TUNNEL,
    env::HP_WATCHDOG_ENABLED,
    env::HP_WATCHDOG_INTERVAL,
    env::HP_WATCHDOG_FAILS,
    env::HP_WAIT_AGENT_HTTP,
    env::HP_WAIT_SPOA,
    env::HP_WAIT_FRP,
    env::HP_WAIT_INTERVAL,
    env::HP_CERTS_DIR,
    env::HP_CONTROL_ADDRESS,
    env::DOCKER_HOST,
];

/// The environment read from fuzz bytes: one `NAME=value` per line. A one-byte name stands for
/// `VARIABLES[byte % 30]`, so the fuzzer reaches every variable without guessing names. Address
/// values with a host name are left out (see [`literal_address`]).
fn environment(data: &[u8]) -> HashMap<String, String> {
    String::from_utf8_lossy(data)
        .split('\n')
        .filter_map(|line| {
            let (name, value) = line.split_once('=')?;
            let name = match name.as_bytes() {
                [b] => VARIABLES[usize::from(*b) % VARIABLES.len()],
                _ => name,
            };
            let keep = name != env::HP_SHARED_KEY_FILE
                && (!ADDRESSES.contains(&name) || literal_address(value));
            keep.then(|| (name.to_string(), value.to_string()))
        })
        .collect()
}

/// Variables in HAProxy `bind` syntax, whose host names harp resolves at start-up.
const ADDRESSES: [&str; 5] = [
    env::HP_EXAPPS_ADDRESS,
    env::HP_EXAPPS_HTTPS_ADDRESS,
    env::HP_FRP_ADDRESS,
    env::HP_SPOA_ADDRESS,
    env::HP_CONTROL_ADDRESS,
];

/// Whether parsing `value` as a bind address stays off the network: its host part (as
/// `config::parse::bind_address` finds it) is empty, `*` or an IP literal. A host name would be
/// a DNS query per execution: slow, and not the same answer every time.
fn literal_address(value: &str) -> bool {
    let v = crate::config::strip_quotes(value).trim();
    let v = v
        .strip_prefix("ipv4@")
        .or_else(|| v.strip_prefix("ipv6@"))
        .unwrap_or(v);
    let host = match v.strip_prefix('[') {
        Some(rest) => rest.split_once("]:").map(|(h, _)| h),
        None => v.rsplit_once(':').map(|(h, _)| h),
    };
    host.is_none_or(|h| h.is_empty() || h == "*" || h.parse::<IpAddr>().is_ok())
}

/// Configuration parsing (decision D12) over an arbitrary environment: never a panic, the same
/// answer twice, an accepted configuration keeps its promises, and the shared key appears in no
/// error, warning or `Debug` output. The last check parses again with the key's letters and
/// digits rotated (same length, same validity): any message or `Debug` text that holds the key
/// must then come out unchanged, so it cannot have been made from the key.
pub fn config(data: &[u8]) {
    let env = environment(data);
    let first = Config::from_env(&env);
    let again = Config::from_env(&env);
    assert_eq!(report(&first), report(&again), "parsing is deterministic");
    match &first.result {
        Ok(c) => {
            let key = c.shared_key.expose();
            assert!(!key.is_empty() && key.bytes().all(|b| (0x20..=0x7e).contains(&b)));
            assert!(!key.contains(['"', '\\']));
            for t in [c.timeouts.connect, c.timeouts.client, c.timeouts.server] {
                assert!(!t.is_zero());
            }
            assert!(!c.timeouts.tunnel.is_zero());
            assert!((1..=36_500).contains(&c.frp_cert_validity_days));
            assert!(c.session_lifetime.as_secs_f64() <= 10.0);
            // The scheme may be in any case (`HTTPS://`): the URI parser normalises it.
            let url: http::Uri = c.nextcloud_url.parse().expect("a checked URL parses");
            assert!(matches!(url.scheme_str(), Some("http" | "https")));
            assert!(url.authority().is_some());
        }
        Err(errors) => assert!(!errors.is_empty()),
    }
    let Some(key) = env.get(env::HP_SHARED_KEY) else {
        return;
    };
    let rotated = rotate(key);
    if rotated == *key {
        return;
    }
    let mut other_env = env.clone();
    other_env.insert(env::HP_SHARED_KEY.to_string(), rotated);
    let other = Config::from_env(&other_env);
    assert_eq!(
        first.result.is_ok(),
        other.result.is_ok(),
        "rotation kept validity"
    );
    let (messages, debug) = report(&first);
    let (other_messages, other_debug) = report(&other);
    assert_eq!(
        debug, other_debug,
        "the key shows in the configuration's Debug"
    );
    for m in messages.iter().filter(|m| m.contains(key.as_str())) {
        assert!(other_messages.contains(m), "the key shows in {m:?}");
    }
}

/// Errors, warnings and the `Debug` of the configuration.
fn report(parsed: &crate::config::Parsed) -> (Vec<String>, String) {
    let mut messages = parsed.warnings.clone();
    let debug = match &parsed.result {
        Ok(c) => format!("{c:?}"),
        Err(e) => {
            messages.extend(e.iter().cloned());
            String::new()
        }
    };
    (messages, debug)
}

/// Each ASCII letter and digit moved one place within its class (`a`→`b`, `z`→`a`, `9`→`0`).
fn rotate(value: &str) -> String {
    value
        .chars()
        .map(|c| match c {
            'a'..='y' | 'A'..='Y' | '0'..='8' => char::from(c as u8 + 1),
            'z' => 'a',
            'Z' => 'A',
            '9' => '0',
            c => c,
        })
        .collect()
}

/// The pass-through allow-list, written from contract §6 (case-insensitive, on the decoded path;
/// `true` for the POST entry).
static DOCUMENTED: LazyLock<Vec<(bool, Regex)>> = LazyLock::new(|| {
    [
        (false, r"(?i)^(/v[\d\.]+)?/_ping$"),
        (false, r"(?i)^(/v[\d\.]+)?/images/.*/json"),
        (
            false,
            r"(?i)^(/v[\d\.]+)?/containers/nc_app_[a-zA-Z0-9_.-]+/json",
        ),
        (
            false,
            r"(?i)^(/v[\d\.]+)?/containers/nc_app_[a-zA-Z0-9_.-]+/logs",
        ),
        (true, r"(?i)^(/v[\d\.]+)?/images/create"),
    ]
    .into_iter()
    .map(|(post, re)| (post, Regex::new(re).expect("contract regex")))
    .collect()
});

const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "get",
];

fn documented(method: &Method, decoded: &str) -> bool {
    let get = method == Method::GET || method == Method::HEAD;
    DOCUMENTED.iter().any(|(post, re)| {
        (if *post { method == Method::POST } else { get }) && re.is_match(decoded).unwrap_or(false)
    })
}

/// `path.Clean` as the Go engines apply it before routing: empty and `.` segments go, `..`
/// removes the segment before it.
fn go_clean(path: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                kept.pop();
            }
            s => kept.push(s),
        }
    }
    format!("/{}", kept.join("/"))
}

/// The Docker pass-through allow-list (contract §6). Byte 0 picks the method, the rest is the
/// path as sent. An allowed call uses GET, HEAD or POST, its decoded path matches the documented
/// regexes, and still matches them as the engine routes it (decoded once, then cleaned): no
/// encoding, case, `//`, `.` or query trick turns an allowed-looking path into another call.
pub fn passthrough(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(path) = std::str::from_utf8(rest) else {
        return;
    };
    let method: Method = METHODS[usize::from(pick) % METHODS.len()]
        .parse()
        .expect("table");
    if !passthrough::allowed(&method, path) {
        return;
    }
    assert!(
        [Method::GET, Method::HEAD, Method::POST].contains(&method),
        "{method} {path:?} allowed"
    );
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    assert!(
        documented(&method, &decoded),
        "{method} {path:?} allowed but not documented"
    );
    let routed = go_clean(&decoded);
    assert!(
        documented(&method, &routed),
        "{method} {path:?} allowed, but the engine routes it as {routed:?}"
    );
}
