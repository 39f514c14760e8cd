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
use common::*;

use futures_util::{SinkExt, StreamExt};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const NGINX: &str = "/usr/sbin/nginx";

/// The nginx binary, or `None` (with a loud message) when it is missing and not required.
fn nginx_binary() -> Option<PathBuf> {
    let path = Path::new(NGINX);
    if path.exists() {
        return Some(path.to_path_buf());
    }
    if std::env::var("HARP_REQUIRE_PEERS").as_deref() == Ok("1") {
        panic!("{NGINX} is missing and HARP_REQUIRE_PEERS=1 (install Debian's nginx-light)");
    }
    eprintln!(
        "SKIPPED: {NGINX} is missing; install nginx-light to run the nginx-in-front tests \
         (set HARP_REQUIRE_PEERS=1 to make this a failure)"
    );
    None
}

/// The README's nginx snippet, pointed at `harp`.
fn readme_snippet(harp: SocketAddr) -> String {
    let readme_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
    let readme = std::fs::read_to_string(readme_path).expect("read README.md");
    let (_, after) = readme
        .split_once("<!-- nginx:begin -->")
        .expect("README has <!-- nginx:begin -->");
    let (section, _) = after
        .split_once("<!-- nginx:end -->")
        .expect("README has <!-- nginx:end -->");
    let (_, block) = section
        .split_once("```nginx\n")
        .expect("an ```nginx block between the markers");
    let (block, _) = block.split_once("```").expect("the ```nginx block ends");
    assert!(
        block.contains("127.0.0.1:8780"),
        "the README's snippet proxies to 127.0.0.1:8780: {block}"
    );
    assert!(
        readme.contains("map $http_upgrade $connection_upgrade { default upgrade; '' close; }"),
        "the README gives the $connection_upgrade map"
    );
    block.replace("127.0.0.1:8780", &harp.to_string())
}

/// Whether this process runs as root (nginx's workers then need `user root` to use the
/// temporary directory, which only its owner may enter).
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// A running nginx. Dropping it stops it (SIGTERM to the master, which stops its workers).
struct Nginx {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Nginx {
    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    fn stop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while std::time::Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

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

/// Starts nginx in front of `harp` and waits until it accepts connections.
async fn start_nginx(bin: &Path, harp: SocketAddr) -> Nginx {
    let snippet = readme_snippet(harp);
    // A port picked free can be taken before nginx binds it: try a few.
    for attempt in 1..=3 {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, config(dir.path(), port, &snippet)).expect("write nginx.conf");
        let child = Command::new(bin)
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .arg("-c")
            .arg(&conf)
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn nginx");
        let mut nginx = Nginx {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if TcpStream::connect(nginx.addr).await.is_ok() {
                return nginx;
            }
            if let Ok(Some(status)) = nginx.child.try_wait() {
                let log = nginx.error_log();
                if log.contains("Address already in use") && attempt < 3 {
                    break;
                }
                panic!("nginx exited ({status}) before accepting connections:\n{log}");
            }
            if Instant::now() > deadline {
                panic!(
                    "nginx did not accept connections within 10 s:\n{}",
                    nginx.error_log()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    unreachable!("three attempts")
}

/// harp (trusting nginx, banning after 3 failures) with nginx in front, or `None` to skip.
async fn setup() -> Option<(TestHarp, Nginx)> {
    let bin = nginx_binary()?;
    let h = start(&[
        ("HP_TRUSTED_PROXY_IPS", "127.0.0.1"),
        ("HP_BLACKLIST_COUNT", "3"),
    ])
    .await;
    let nginx = start_nginx(&bin, h.addr).await;
    Some((h, nginx))
}

/// A GET through nginx, optionally as a client named in `X-Forwarded-For`.
async fn via(nginx: &Nginx, path: &str, xff: Option<&str>) -> Reply {
    let headers: Vec<(&str, &str)> = xff.map(|v| ("x-forwarded-for", v)).into_iter().collect();
    send(nginx.addr, "GET", path, &headers, "")
        .await
        .unwrap_or_else(|e| panic!("GET {path} through nginx: no response: {e}"))
}

#[tokio::test]
async fn public_sse_and_websocket_pass_through_nginx() {
    let Some((h, nginx)) = setup().await else {
        return;
    };
    // A plain request; nginx's forwarding headers reach the ExApp unchanged.
    let r = via(&nginx, &format!("/exapps/{APP}/public?via=nginx"), None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["path"], "/public");
    assert_eq!(r.json()["query"], "via=nginx");
    assert_eq!(r.seen_header("host").as_deref(), Some("harp.test"));
    assert_eq!(
        r.seen_header("x-forwarded-for").as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(r.seen_header("x-real-ip").as_deref(), Some("127.0.0.1"));

    // Server-sent events: each event arrives on its own, about 300 ms apart.
    let mut stream = TcpStream::connect(nginx.addr).await.expect("connect nginx");
    let started = Instant::now();
    stream
        .write_all(
            format!(
                "GET /exapps/{APP}/sse?n=4&interval_ms=300 HTTP/1.1\r\nHost: harp.test\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .expect("write");
    let mut seen = Vec::new();
    let mut arrivals: Vec<Duration> = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = started + Duration::from_secs(10);
    while arrivals.len() < 4 {
        let n = match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => panic!(
                "SSE: only {} events within 10 s: {:?}",
                arrivals.len(),
                String::from_utf8_lossy(&seen)
            ),
            Ok(Ok(0)) | Ok(Err(_)) => panic!(
                "SSE: stream ended after {} events: {:?}",
                arrivals.len(),
                String::from_utf8_lossy(&seen)
            ),
            Ok(Ok(n)) => n,
        };
        seen.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&seen);
        while arrivals.len() < 4 && text.contains(&format!("data: event {}\n\n", arrivals.len())) {
            arrivals.push(started.elapsed());
        }
    }
    let text = String::from_utf8_lossy(&seen);
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains("content-type: text/event-stream"),
        "{text}"
    );
    for i in 1..4 {
        let gap = arrivals[i] - arrivals[i - 1];
        assert!(
            gap >= Duration::from_millis(150),
            "SSE events {} and {i} arrived together ({gap:?} apart): buffered somewhere; arrivals {arrivals:?}",
            i - 1
        );
    }

    // A WebSocket (a user route: Basic auth) echoes through nginx.
    let mut request = format!("ws://{}/exapps/{APP}/ws", nginx.addr)
        .into_client_request()
        .expect("ws request");
    request.headers_mut().insert(
        "authorization",
        basic("usr", "password").parse().expect("header value"),
    );
    let (mut ws, resp) = timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async(request),
    )
    .await
    .expect("WebSocket handshake within 10 s")
    .expect("WebSocket handshake through nginx");
    assert_eq!(resp.status(), 101);
    for text in ["hello through nginx", "second message"] {
        ws.send(Message::text(text)).await.expect("send text");
        let reply = timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("echo within 10 s")
            .expect("a message")
            .expect("a valid frame");
        assert_eq!(reply, Message::text(format!("Echo: {text}")));
    }
    ws.send(Message::binary(vec![0u8, 1, 2, 255]))
        .await
        .expect("send binary");
    let reply = timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("echo within 10 s")
        .expect("a message")
        .expect("a valid frame");
    assert_eq!(reply, Message::binary(vec![0u8, 1, 2, 255]));
    let _ = ws.close(None).await;
    assert!(
        h.exapp
            .seen()
            .iter()
            .any(|e| e["path"] == "/ws" && e["headers"]["upgrade"] == "websocket"),
        "the ExApp saw the upgrade"
    );
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
        let r = via(&nginx, &imaginary, None).await;
        assert_eq!(
            (r.status.as_u16(), r.text().as_str()),
            (404, "404 Not Found")
        );
    }
    assert!(!h.state().bans.is_banned(nginx_ip));
    assert_eq!(via(&nginx, &public, None).await.status, 200);

    // Three failures from the client nginx names: nginx sends "203.0.113.7, 127.0.0.1".
    for i in 0..3 {
        assert!(!h.state().bans.is_banned(attacker), "banned after {i}");
        assert_eq!(
            via(&nginx, &public, Some("203.0.113.7")).await.status,
            200,
            "not banned yet after {i} failures"
        );
        let r = via(&nginx, &imaginary, Some("203.0.113.7")).await;
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
    let r = via(&nginx, &public, Some("203.0.113.7")).await;
    assert_eq!(r.status, 502, "{}", r.text());
    // Trusted entries the client adds on the right do not hide it either.
    let r = via(&nginx, &public, Some("203.0.113.7, 127.0.0.1")).await;
    assert_eq!(r.status, 502, "{}", r.text());
    assert_eq!(
        h.exapp.request_count(),
        served_before,
        "banned requests never reach the ExApp"
    );
    let log = nginx.error_log();
    assert!(
        log.contains("Connection reset by peer"),
        "nginx's 502 comes from harp's reset:\n{log}"
    );

    // Everybody else is still served: another forwarded client, and nginx's own address.
    let r = via(&nginx, &public, Some("198.51.100.9")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.seen_header("x-forwarded-for").as_deref(),
        Some("198.51.100.9, 127.0.0.1")
    );
    assert_eq!(via(&nginx, &public, None).await.status, 200);
    assert!(!h.state().bans.is_banned(nginx_ip));
    assert!(h.state().bans.is_banned(attacker));
}
