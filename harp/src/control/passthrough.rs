//! The filtered Docker Engine pass-through (contract §6): requests to `/exapps/app_api/<docker
//! path>` with a `docker-engine-port` header go to that engine, streamed both ways (image pull
//! progress arrives line by line), but only the read-only calls and image pulls AppAPI needs;
//! everything else gets HAProxy's 403 page and never reaches the engine (HaRP #39).

use crate::engine;
use crate::http::body::{self, Body};
use crate::http::headers::{DOCKER_ENGINE_PORT, HARP_SHARED_KEY};
use crate::state::State;
use fancy_regex::Regex;
use http::{Method, Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::sync::LazyLock;

/// Allowed calls: methods and a case-insensitive regex on the URL-decoded path.
static ALLOWED: LazyLock<Vec<(bool, Regex)>> = LazyLock::new(|| {
    [
        (false, r"^(/v[\d\.]+)?/_ping$"),
        (false, r"^(/v[\d\.]+)?/images/.*/json"),
        (
            false,
            r"^(/v[\d\.]+)?/containers/nc_app_[a-zA-Z0-9_.-]+/json",
        ),
        (
            false,
            r"^(/v[\d\.]+)?/containers/nc_app_[a-zA-Z0-9_.-]+/logs",
        ),
        (true, r"^(/v[\d\.]+)?/images/create"),
    ]
    .into_iter()
    .filter_map(|(post, re)| Regex::new(&format!("(?i){re}")).ok().map(|r| (post, r)))
    .collect()
});

/// Whether `method` on `path` (as sent, before decoding) is on the allow-list. The decoded path
/// must also be in the form the engine routes (no empty, `.` or `..` segment): Go engines clean
/// the path first, so `/images//json` would otherwise pass as "inspect" and be routed as "list".
pub fn allowed(method: &Method, path: &str) -> bool {
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    if !is_clean(&decoded) {
        return false;
    }
    let is_get = method == Method::GET || method == Method::HEAD;
    ALLOWED.iter().any(|(post, re)| {
        let method_ok = if *post {
            method == Method::POST
        } else {
            is_get
        };
        method_ok && re.is_match(decoded.as_ref()).unwrap_or(false)
    })
}

/// Whether Go's `path.Clean` leaves `decoded` as it is (a trailing `/` aside).
fn is_clean(decoded: &str) -> bool {
    let inner = decoded.strip_prefix('/').unwrap_or(decoded);
    let inner = inner.strip_suffix('/').unwrap_or(inner);
    !inner
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
}

/// Forwards an allowed request to the engine on `port`.
pub async fn forward(
    state: &State,
    req: Request<Incoming>,
    target: &str,
    port_value: &str,
) -> Response<Body> {
    let Ok(port) = port_value.trim().parse::<u16>() else {
        return body::harp_unavailable();
    };
    if !allowed(req.method(), target) {
        tracing::info!(method = %req.method(), path = target, "Docker API call not allowed through the pass-through");
        return body::forbidden_by_rules();
    }
    let stream = match engine::connect(state, port, state.config.timeouts.connect).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(port, error = %e, "Docker Engine unreachable");
            return body::no_server();
        }
    };
    let (mut sender, conn) = match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
    {
        Ok(pair) => pair,
        Err(_) => return body::no_server(),
    };
    tokio::spawn(conn);
    let (mut parts, incoming) = req.into_parts();
    let path_and_query = match parts.uri.query() {
        Some(q) => format!("{target}?{q}"),
        None => target.to_string(),
    };
    parts.uri = match path_and_query.parse() {
        Ok(u) => u,
        Err(_) => return body::harp_unavailable(),
    };
    parts.version = http::Version::HTTP_11;
    parts.headers.remove(HARP_SHARED_KEY);
    parts.headers.remove(DOCKER_ENGINE_PORT);
    crate::proxy::headers::strip_hop_by_hop(&mut parts.headers, false);
    let req = Request::from_parts(parts, incoming.boxed_unsync());
    match tokio::time::timeout(state.config.timeouts.server, sender.send_request(req)).await {
        Err(_) => body::gateway_timeout(),
        Ok(Err(_)) => body::bad_gateway(),
        Ok(Ok(resp)) => state.upstream.relay(resp),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list() {
        let get = Method::GET;
        for p in [
            "/_ping",
            "/v1.41/_ping",
            "/V1.44/_PING",
            "/v1.44/containers/nc_app_x/json",
            "/v1.44/containers/nc_app_x/logs",
            "/v1.44/images/ghcr.io/a/b:1/json",
            "/v1.44/images/ghcr.io%2Fa%2Fb%3A1/json",
        ] {
            assert!(allowed(&get, p), "{p}");
        }
        assert!(allowed(&Method::HEAD, "/_ping"));
        assert!(allowed(&Method::POST, "/v1.44/images/create"));
        for (m, p) in [
            (Method::GET, "/v1.44/containers/json"),
            (Method::GET, "/v1.44/containers/other/json"),
            (Method::DELETE, "/v1.44/containers/nc_app_x"),
            (Method::POST, "/v1.44/containers/nc_app_x/exec"),
            (Method::POST, "/v1.44/containers/create"),
            (Method::POST, "/_ping"),
            (Method::GET, "/v1.44/images/create"),
            // Not clean: the engine would route another call.
            (Method::GET, "/v1.44/images//json"),
            (Method::GET, "/v1.44/images/%2Fjson"),
            (Method::GET, "/v1.44/images/./json"),
            (
                Method::GET,
                "/v1.44/containers/nc_app_x/json/../../other/json",
            ),
            (
                Method::POST,
                "/v1.44/images/create/%2e%2e/%2e%2e/containers/create",
            ),
        ] {
            assert!(!allowed(&m, p), "{m} {p}");
        }
    }
}
