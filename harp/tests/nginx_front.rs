//! Debian's nginx in front of harp, configured with the README's snippet (the ```nginx block
//! between `<!-- nginx:begin -->` and `<!-- nginx:end -->`, read at test time) plus the
//! `map $http_upgrade $connection_upgrade` line the README asks for. Proves that plain
//! requests, server-sent events (event by event) and WebSockets pass through, and that with
//! `HP_TRUSTED_PROXY_IPS` set to nginx's address bans hit the client named in
//! `X-Forwarded-For` (walked from the right, D11), never nginx itself (D19).
//!
//! nginx runs as a child process with its own prefix, configuration, logs and temporary files
//! in a temporary directory, listening on a free port of 127.0.0.1. Without nginx the tests
//! skip loudly, or fail when `HARP_REQUIRE_PEERS=1` (as in CI, which installs `nginx-light`).

mod common;
#[path = "common/front.rs"]
mod front;
use common::*;
use front::*;

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::Command;

const NGINX: &str = "/usr/sbin/nginx";

/// A running nginx (stopped on drop).
type Nginx = Front;

fn config(dir: &Path, port: u16, snippet: &str) -> String {
    let d = dir.display();
    let user = if running_as_root() {
        "user root;\n"
    } else {
        ""
    };
    format!(
        "{user}worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 512; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    server {{
        listen 127.0.0.1:{port};
        server_name harp.test;
{snippet}
    }}
}}
"
    )
}

/// Starts nginx in front of `harp`, with the README's snippet, and waits until it accepts
/// connections.
async fn start_nginx(bin: &Path, harp: SocketAddr) -> Nginx {
    let snippet = readme_snippet("nginx", "nginx", harp);
    assert!(
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
            .expect("README")
            .contains("map $http_upgrade $connection_upgrade { default upgrade; '' close; }"),
        "the README gives the $connection_upgrade map"
    );
    Front::start("nginx", "error.log", |dir, port| {
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, config(dir, port, &snippet)).expect("write nginx.conf");
        let mut cmd = Command::new(bin);
        cmd.arg("-p")
            .arg(dir)
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-c")
            .arg(&conf)
            .args(["-g", "daemon off;"]);
        cmd
    })
    .await
}

/// harp (trusting nginx, banning after 3 failures) with nginx in front, or `None` to skip.
async fn setup() -> Option<(TestHarp, Nginx)> {
    let bin = require_binary(NGINX, "nginx-light")?;
    let h = start(&[
        ("HP_TRUSTED_PROXY_IPS", "127.0.0.1"),
        ("HP_BLACKLIST_COUNT", "3"),
    ])
    .await;
    let nginx = start_nginx(&bin, h.addr).await;
    Some((h, nginx))
}

#[tokio::test]
async fn public_sse_and_websocket_pass_through_nginx() {
    let Some((h, nginx)) = setup().await else {
        return;
    };
    // A plain request; nginx's forwarding headers reach the ExApp unchanged.
    let r = check_plain(nginx.addr).await;
    assert_eq!(
        r.seen_header("x-forwarded-for").as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(r.seen_header("x-real-ip").as_deref(), Some("127.0.0.1"));
    check_sse(nginx.addr).await;
    check_websocket(nginx.addr, &h.exapp).await;
}

#[tokio::test]
async fn bans_hit_the_forwarded_client_never_nginx() {
    let Some((h, nginx)) = setup().await else {
        return;
    };
    let attacker: IpAddr = "203.0.113.7".parse().unwrap();
    let other: IpAddr = "198.51.100.9".parse().unwrap();
    let nginx_ip: IpAddr = "127.0.0.1".parse().unwrap();
    let public = format!("/exapps/{APP}/public");
    let imaginary = format!("/exapps/{APP}/imaginary");

    // Failures from nginx's own address (no X-Forwarded-For from the client): never counted,
    // nginx is trusted.
    for _ in 0..4 {
        let r = via(nginx.addr, &imaginary, None).await;
        assert_eq!(
            (r.status.as_u16(), r.text().as_str()),
            (404, "404 Not Found")
        );
    }
    assert!(!h.state().bans.is_banned(nginx_ip));
    assert_eq!(via(nginx.addr, &public, None).await.status, 200);

    // Three failures from the client nginx names: nginx sends "203.0.113.7, 127.0.0.1".
    for i in 0..3 {
        assert!(!h.state().bans.is_banned(attacker), "banned after {i}");
        assert_eq!(
            via(nginx.addr, &public, Some("203.0.113.7")).await.status,
            200,
            "not banned yet after {i} failures"
        );
        let r = via(nginx.addr, &imaginary, Some("203.0.113.7")).await;
        assert_eq!(
            (r.status.as_u16(), r.text().as_str()),
            (404, "404 Not Found")
        );
    }
    assert!(h.state().bans.is_banned(attacker));
    assert!(!h.state().bans.is_banned(nginx_ip));
    assert!(!h.state().bans.is_banned(other));

    // The banned client is dropped by harp: nginx sees a reset and answers 502.
    let served_before = h.exapp.request_count();
    let r = via(nginx.addr, &public, Some("203.0.113.7")).await;
    assert_eq!(r.status, 502, "{}", r.text());
    // Trusted entries the client adds on the right do not hide it either.
    let r = via(nginx.addr, &public, Some("203.0.113.7, 127.0.0.1")).await;
    assert_eq!(r.status, 502, "{}", r.text());
    assert_eq!(
        h.exapp.request_count(),
        served_before,
        "banned requests never reach the ExApp"
    );
    let log = nginx.log_text();
    assert!(
        log.contains("Connection reset by peer"),
        "nginx's 502 comes from harp's reset:\n{log}"
    );

    // Everybody else is still served: another forwarded client, and nginx's own address.
    let r = via(nginx.addr, &public, Some("198.51.100.9")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.seen_header("x-forwarded-for").as_deref(),
        Some("198.51.100.9, 127.0.0.1")
    );
    assert_eq!(via(nginx.addr, &public, None).await.status, 200);
    assert!(!h.state().bans.is_banned(nginx_ip));
    assert!(h.state().bans.is_banned(attacker));
}
