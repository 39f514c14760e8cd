//! Reverse proxies in front of harp (nginx, Caddy, Apache from Debian), shared by their tests:
//! finding the server binary (a loud skip, or a failure with `HARP_REQUIRE_PEERS=1`), the
//! README's snippet for it (the fenced block between `<!-- NAME:begin -->` and
//! `<!-- NAME:end -->`, read at test time), a server process with its config, logs and
//! temporary files in a temporary directory on a free port of 127.0.0.1 (stopped on drop), and
//! the checks every proxy must pass: a plain request with the client's address in
//! `X-Forwarded-For`, server-sent events event by event, and a WebSocket echo.
#![allow(dead_code)]

use crate::common::*;
use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// `path`, or `None` (with a loud message) when it is missing and not required.
pub fn require_binary(path: &str, package: &str) -> Option<PathBuf> {
    let p = Path::new(path);
    if p.exists() {
        return Some(p.to_path_buf());
    }
    if std::env::var("HARP_REQUIRE_PEERS").as_deref() == Ok("1") {
        panic!("{path} is missing and HARP_REQUIRE_PEERS=1 (install Debian's {package})");
    }
    eprintln!(
        "SKIPPED: {path} is missing; install Debian's {package} to run this test \
         (set HARP_REQUIRE_PEERS=1 to make this a failure)"
    );
    None
}

/// The README's ````lang` block between `<!-- name:begin -->` and `<!-- name:end -->`, with
/// harp's default `127.0.0.1:8780` replaced by `harp`.
pub fn readme_snippet(name: &str, lang: &str, harp: SocketAddr) -> String {
    let readme_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
    let readme = std::fs::read_to_string(readme_path).expect("read README.md");
    let begin = format!("<!-- {name}:begin -->");
    let end = format!("<!-- {name}:end -->");
    let (_, after) = readme
        .split_once(&begin)
        .unwrap_or_else(|| panic!("README has {begin}"));
    let (section, _) = after
        .split_once(&end)
        .unwrap_or_else(|| panic!("README has {end}"));
    let fence = format!("```{lang}\n");
    let (_, block) = section
        .split_once(&fence)
        .unwrap_or_else(|| panic!("a ```{lang} block between the {name} markers"));
    let (block, _) = block.split_once("```").expect("the block ends");
    assert!(
        block.contains("127.0.0.1:8780"),
        "the README's {name} snippet proxies to 127.0.0.1:8780: {block}"
    );
    block.replace("127.0.0.1:8780", &harp.to_string())
}

/// Whether this process runs as root (servers then need to be told which user to run as).
pub fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A reverse proxy process. Dropping it stops it (SIGTERM, then SIGKILL after 5 s).
pub struct Front {
    pub child: Child,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    /// The file its errors go to, shown when something fails.
    pub log: PathBuf,
}

impl Front {
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Starts the command `make(dir, port)` builds (config written into `dir`) and waits
    /// until it accepts connections on the port. A port picked free can be taken before the
    /// server binds it: three attempts. `log` is the error log's name inside `dir`.
    pub async fn start(name: &str, log: &str, make: impl Fn(&Path, u16) -> Command) -> Front {
        for attempt in 1..=3 {
            let dir = tempfile::tempdir().expect("tempdir");
            let port = free_port();
            let mut cmd = make(dir.path(), port);
            let log_path = dir.path().join(log);
            let stderr = std::fs::File::create(dir.path().join("stderr.log"))
                .map(Stdio::from)
                .unwrap_or_else(|_| Stdio::null());
            let child = cmd
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
            let mut front = Front {
                child,
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                dir,
                log: log_path,
            };
            let deadline = Instant::now() + Duration::from_secs(15);
            loop {
                if TcpStream::connect(front.addr).await.is_ok() {
                    return front;
                }
                if let Ok(Some(status)) = front.child.try_wait() {
                    let text = format!(
                        "{}\n{}",
                        front.log_text(),
                        std::fs::read_to_string(front.dir.path().join("stderr.log"))
                            .unwrap_or_default()
                    );
                    if text.contains("in use") && attempt < 3 {
                        break;
                    }
                    panic!("{name} exited ({status}) before accepting connections:\n{text}");
                }
                assert!(
                    Instant::now() < deadline,
                    "{name} did not accept connections within 15 s:\n{}",
                    front.log_text()
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        unreachable!("three attempts")
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

impl Drop for Front {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A GET through the proxy, optionally with a client-supplied `X-Forwarded-For`.
pub async fn via(front: SocketAddr, path: &str, xff: Option<&str>) -> Reply {
    let headers: Vec<(&str, &str)> = xff.map(|v| ("x-forwarded-for", v)).into_iter().collect();
    send(front, "GET", path, &headers, "")
        .await
        .unwrap_or_else(|e| panic!("GET {path} through the proxy: no response: {e}"))
}

/// A plain request reaches the ExApp with its path, query and `Host`, and the client's
/// address (127.0.0.1) is the last `X-Forwarded-For` entry.
pub async fn check_plain(front: SocketAddr) -> Reply {
    let r = via(front, &format!("/exapps/{APP}/public?via=proxy"), None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["path"], "/public");
    assert_eq!(r.json()["query"], "via=proxy");
    assert_eq!(r.seen_header("host").as_deref(), Some("harp.test"));
    let xff = r.seen_header("x-forwarded-for").unwrap_or_default();
    assert_eq!(
        xff.rsplit(',').next().map(str::trim),
        Some("127.0.0.1"),
        "the client's address ends X-Forwarded-For: {xff:?}"
    );
    r
}

/// Server-sent events arrive one by one, about 300 ms apart (nothing buffers them).
pub async fn check_sse(front: SocketAddr) {
    let mut stream = TcpStream::connect(front).await.expect("connect the proxy");
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
}

/// A WebSocket (a user route: Basic auth) echoes text and binary through the proxy.
pub async fn check_websocket(front: SocketAddr, exapp: &harp_testkit::exapp::FakeExApp) {
    let mut request = format!("ws://{front}/exapps/{APP}/ws")
        .into_client_request()
        .expect("ws request");
    request.headers_mut().insert(
        "authorization",
        basic("usr", "password").parse().expect("header value"),
    );
    request
        .headers_mut()
        .insert("host", "harp.test".parse().expect("header value"));
    let stream = TcpStream::connect(front).await.expect("connect the proxy");
    let (mut ws, resp) = timeout(
        Duration::from_secs(10),
        tokio_tungstenite::client_async(request, stream),
    )
    .await
    .expect("WebSocket handshake within 10 s")
    .expect("WebSocket handshake through the proxy");
    assert_eq!(resp.status(), 101);
    for text in ["hello through the proxy", "second message"] {
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
        exapp
            .seen()
            .iter()
            .any(|e| e["path"] == "/ws" && e["headers"]["upgrade"] == "websocket"),
        "the ExApp saw the upgrade"
    );
}
