//! The reverse-proxy hop: a probe sent through Nextcloud's public URL must reach harp with the
//! `/exapps/` prefix intact (a `proxy_pass http://harp:8780/;` with a trailing `/` in nginx, for
//! example, strips it).
//!
//! - harp running: the probe is `GET <public>/exapps/app_api/info` with the shared key (never
//!   counted as a failure, so it cannot get anyone banned); harp's JSON answer means the hop is
//!   right. Otherwise harp's request count (`/peers` on the control port) tells whether the probe
//!   reached harp with a changed path or never reached it.
//! - harp not running: doctor listens on `HP_EXAPPS_ADDRESS` itself for a moment and sees the
//!   exact path the probe arrives with.

use super::{Finding, control};
use crate::auth::nextcloud::NextcloudClient;
use crate::config::Config;
use http::{Request, Response};
use hyper::body::Incoming;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

const CHECK: &str = "proxy";
const STRIP_HINT: &str = "forward /exapps/ unchanged (nginx: `proxy_pass http://<harp>:8780;` with no path or trailing /; Caddy: `reverse_proxy`, not `handle_path`; Apache: `ProxyPass /exapps/ http://<harp>:8780/exapps/`)";

pub async fn check(config: &Config, harp: Option<SocketAddr>, public_url: Option<&str>) -> Finding {
    let Some(public) = public_url else {
        return Finding::warn(
            CHECK,
            "not checked: give --public-url https://<your Nextcloud>/ to check that the reverse proxy forwards /exapps/ to harp",
        );
    };
    let public = public.trim().trim_end_matches('/');
    match public.parse::<http::Uri>() {
        Ok(u) if matches!(u.scheme_str(), Some("http" | "https")) && u.authority().is_some() => {}
        _ => {
            return Finding::fail(
                CHECK,
                format!("--public-url '{public}' is not an http(s) URL"),
            );
        }
    }
    match harp {
        Some(control) => through_running_harp(config, control, public).await,
        None => with_own_listener(config, public).await,
    }
}

async fn requests_seen(control: SocketAddr) -> Option<u64> {
    let peers = control::get_json(control, "/peers").await.ok()?;
    Some(
        peers
            .as_array()?
            .iter()
            .filter_map(|p| p["requests"].as_u64())
            .sum(),
    )
}

async fn through_running_harp(config: &Config, control: SocketAddr, public: &str) -> Finding {
    let before = requests_seen(control).await;
    let client = NextcloudClient::new(public, config.shared_key.clone());
    let answer = client.probe("/exapps/app_api/info").await;
    let after = requests_seen(control).await;
    let reached = matches!((before, after), (Some(b), Some(a)) if a > b);
    match answer {
        Ok((status, Some(body))) if status == 200 && body.get("harp").is_some() => Finding::ok(
            CHECK,
            format!("{public}/exapps/ reaches harp with the path unchanged"),
        ),
        Ok((status, _)) if reached && status == 401 => Finding::fail(
            CHECK,
            format!(
                "the probe through {public}/exapps/ reached harp's control plane, but harp refused this shared key (401): HP_SHARED_KEY here is not the running harp's key"
            ),
        ),
        Ok((status, _)) if reached => Finding::fail(
            CHECK,
            format!(
                "the probe through {public}/exapps/ reached harp but not as /exapps/app_api/info (HTTP {status}): the reverse proxy changes the path, most likely it strips the /exapps/ prefix; {STRIP_HINT}"
            ),
        ),
        Ok((status, _)) => Finding::fail(
            CHECK,
            format!(
                "the probe through {public}/exapps/ never reached harp (the proxy answered HTTP {status}): route /exapps/ to harp's HP_EXAPPS_ADDRESS ({})",
                config.exapps_address
            ),
        ),
        Err(e) => Finding::fail(CHECK, format!("cannot reach {public}: {e}")),
    }
}

async fn with_own_listener(config: &Config, public: &str) -> Finding {
    let listener = match crate::net::listener::bind(config.exapps_address) {
        Ok(l) => l,
        Err(e) => {
            return Finding::fail(
                CHECK,
                format!(
                    "no harp answers on its control port, and HP_EXAPPS_ADDRESS {} is taken ({e}): is something else listening there?",
                    config.exapps_address
                ),
            );
        }
    };
    let nonce = format!(
        "harp-doctor-probe-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    );
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let server = {
        let seen = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let seen = seen.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let path = req
                            .uri()
                            .path_and_query()
                            .map_or_else(String::new, |p| p.to_string());
                        seen.lock().unwrap_or_else(|p| p.into_inner()).push(path);
                        async {
                            Ok::<_, std::convert::Infallible>(Response::new(
                                http_body_util::Full::new(bytes::Bytes::from_static(
                                    b"harp doctor probe\n",
                                )),
                            ))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        })
    };
    let client = NextcloudClient::new(public, config.shared_key.clone());
    let expected = format!("/exapps/{nonce}/check");
    let answer = client.probe(&expected).await;
    server.abort();
    let arrived: Vec<String> = seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let ours = arrived.iter().find(|p| p.contains(&nonce));
    match (ours, answer) {
        (Some(path), _) if *path == expected => Finding::ok(
            CHECK,
            format!(
                "{public}/exapps/ reaches HP_EXAPPS_ADDRESS with the path unchanged (checked with a temporary listener: harp is not running)"
            ),
        ),
        (Some(path), _) => Finding::fail(
            CHECK,
            format!(
                "the probe sent as {expected} arrived as {path}: the reverse proxy rewrites the path (strips the /exapps/ prefix?); {STRIP_HINT}"
            ),
        ),
        (None, Ok((status, _))) => Finding::fail(
            CHECK,
            format!(
                "the probe through {public}/exapps/ never reached HP_EXAPPS_ADDRESS {} (the proxy answered HTTP {status}): route /exapps/ to harp",
                config.exapps_address
            ),
        ),
        (None, Err(e)) => Finding::fail(CHECK, format!("cannot reach {public}: {e}")),
    }
}
