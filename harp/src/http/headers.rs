//! Header names harp reads or writes, and the hop-by-hop set a proxy must not forward.

use http::HeaderName;

pub const HARP_SHARED_KEY: HeaderName = HeaderName::from_static("harp-shared-key");
pub const EX_APP_ID: HeaderName = HeaderName::from_static("ex-app-id");
pub const EX_APP_VERSION: HeaderName = HeaderName::from_static("ex-app-version");
pub const EX_APP_HOST: HeaderName = HeaderName::from_static("ex-app-host");
pub const EX_APP_PORT: HeaderName = HeaderName::from_static("ex-app-port");
pub const AUTHORIZATION_APP_API: HeaderName = HeaderName::from_static("authorization-app-api");
pub const AA_VERSION: HeaderName = HeaderName::from_static("aa-version");
pub const DOCKER_ENGINE_PORT: HeaderName = HeaderName::from_static("docker-engine-port");
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
pub const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
pub const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// The value of `AA-VERSION` sent to every ExApp (nc_py_api <= 0.18 requires one).
pub const AA_VERSION_VALUE: &str = "32";

/// The session cookie whose value keys the session cache.
pub const SESSION_COOKIE: &str = "oc_sessionPassphrase";

/// The last occurrence of a header as text (decision D6: for decisions, the last one wins).
pub fn last<'a>(headers: &'a http::HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers
        .get_all(name)
        .iter()
        .next_back()
        .and_then(|v| v.to_str().ok())
}

/// The value of the first `oc_sessionPassphrase` cookie, across every `Cookie` header.
pub fn session_cookie(headers: &http::HeaderMap) -> Option<&str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;

    #[test]
    fn cookie_and_last_wins() {
        let mut h = HeaderMap::new();
        h.append(
            "cookie",
            "a=1; oc_sessionPassphrase=first; b=2".parse().unwrap(),
        );
        h.append("cookie", "oc_sessionPassphrase=second".parse().unwrap());
        h.append("x-forwarded-for", "1.1.1.1".parse().unwrap());
        h.append("x-forwarded-for", "2.2.2.2".parse().unwrap());
        assert_eq!(session_cookie(&h), Some("first"));
        assert_eq!(last(&h, &X_FORWARDED_FOR), Some("2.2.2.2"));
        assert_eq!(session_cookie(&HeaderMap::new()), None);
    }
}
