//! Header rewriting on the way to the ExApp (contract §3.4, appapi-contract §2.5): the four
//! AppAPI headers set (replacing any client copies), hop-by-hop headers removed, everything
//! else passed unchanged. `harp-shared-key` is removed: an ExApp never needs the master key.

use crate::http::headers::*;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Removes connection-level headers. For an upgrade request, `Upgrade` survives and
/// `Connection: upgrade` is set again.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, upgrade: bool) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for name in named {
        if !(upgrade && name == header::UPGRADE) {
            headers.remove(name);
        }
    }
    for name in [
        header::CONNECTION,
        KEEP_ALIVE,
        PROXY_CONNECTION,
        header::TE,
        header::TRANSFER_ENCODING,
    ] {
        headers.remove(name);
    }
    if upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        headers.remove(header::UPGRADE);
    }
}

/// Sets the headers every forwarded request carries.
pub fn set_appapi_headers(
    headers: &mut HeaderMap,
    appid: HeaderValue,
    version: HeaderValue,
    authorization: HeaderValue,
) {
    headers.remove(HARP_SHARED_KEY);
    headers.insert(EX_APP_ID, appid);
    headers.insert(EX_APP_VERSION, version);
    headers.insert(AUTHORIZATION_APP_API, authorization);
    headers.insert(AA_VERSION, HeaderValue::from_static(AA_VERSION_VALUE));
}

/// Whether the request asks for a protocol upgrade (WebSocket) on HTTP/1.1.
pub fn wants_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop() {
        let mut h = HeaderMap::new();
        h.insert("connection", "keep-alive, x-private".parse().unwrap());
        h.insert("x-private", "1".parse().unwrap());
        h.insert("keep-alive", "timeout=5".parse().unwrap());
        h.insert("upgrade", "websocket".parse().unwrap());
        h.insert("cookie", "a=b".parse().unwrap());
        let mut up = h.clone();
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("cookie"));
        strip_hop_by_hop(&mut up, true);
        assert_eq!(up.get("upgrade").unwrap(), "websocket");
        assert_eq!(up.get("connection").unwrap(), "upgrade");
        assert!(!up.contains_key("x-private"));
    }

    #[test]
    fn appapi_headers_replace_client_copies() {
        let mut h = HeaderMap::new();
        h.append("ex-app-id", "evil".parse().unwrap());
        h.append("ex-app-id", "evil2".parse().unwrap());
        h.insert("harp-shared-key", "k".parse().unwrap());
        set_appapi_headers(
            &mut h,
            HeaderValue::from_static("app"),
            HeaderValue::from_static("1.0"),
            HeaderValue::from_static("Og=="),
        );
        assert_eq!(h.get_all("ex-app-id").iter().count(), 1);
        assert_eq!(h.get("ex-app-id").unwrap(), "app");
        assert_eq!(h.get("aa-version").unwrap(), "32");
        assert!(!h.contains_key("harp-shared-key"));
    }
}
