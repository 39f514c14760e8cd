//! The integration-test harness: harp started in-process on 127.0.0.1:0 against the testkit's
//! Nextcloud stand-in (a faithful fake built from the contract docs: no real Nextcloud runs
//! here) and a stand-in ExApp, plus small HTTP clients that show exactly what came back,
//! including "no response at all" (the silent drop).
#![allow(dead_code)]

use bytes::Bytes;
use harp::app::Running;
use harp::config::Config;
use harp_testkit::exapp::FakeExApp;
use harp_testkit::nextcloud::FakeNextcloud;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

pub const KEY: &str = "some_very_secure_password";
pub const APP: &str = "app-skeleton-python";
pub const SECRET: &str = "12345";

/// The routes of app-skeleton-python, plus a brute-force-protected one.
pub fn skeleton_record(port: u16) -> Value {
    json!({
        "exapp_token": SECRET,
        "exapp_version": "3.0.3",
        "host": "127.0.0.1",
        "port": port,
        "routes": [
            {"url": "^/public$", "access_level": 0, "bruteforce_protection": []},
            {"url": "^/user$", "access_level": 1, "bruteforce_protection": [418]},
            {"url": "^/admin$", "access_level": 2, "bruteforce_protection": []},
            {"url": "^/$", "access_level": 1, "bruteforce_protection": []},
            {"url": "^/ws$", "access_level": 1, "bruteforce_protection": []},
            {"url": "^/sse", "access_level": 0, "bruteforce_protection": []},
            {"url": "^/download", "access_level": 0, "bruteforce_protection": []},
            {"url": "^/upload", "access_level": 0, "bruteforce_protection": []},
            {"url": "^/slow", "access_level": 0, "bruteforce_protection": []},
        ]
    })
}

pub struct TestHarp {
    pub addr: SocketAddr,
    pub running: Option<Running>,
    pub shutdown: CancellationToken,
    pub nc: FakeNextcloud,
    pub exapp: FakeExApp,
    pub certs: tempfile::TempDir,
}

impl TestHarp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn state(&self) -> &harp::state::State {
        &self.running.as_ref().expect("running").state
    }
}

impl Drop for TestHarp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The environment every test starts from; `extra` overrides or adds variables.
pub fn test_env(
    nextcloud_url: &str,
    certs: &std::path::Path,
    extra: &[(&str, &str)],
) -> HashMap<String, String> {
    let mut env: HashMap<String, String> = [
        ("HP_SHARED_KEY", KEY),
        ("NC_INSTANCE_URL", nextcloud_url),
        ("HP_EXAPPS_ADDRESS", "127.0.0.1:0"),
        ("HP_EXAPPS_HTTPS_ADDRESS", "127.0.0.1:0"),
        ("HP_CONTROL_ADDRESS", "127.0.0.1:0"),
        ("HP_FRP_ADDRESS", "127.0.0.1:0"),
        ("HP_CERTS_DIR", certs.to_str().expect("utf-8 temp path")),
        ("DOCKER_HOST", "unix:///nonexistent/docker.sock"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    env
}

/// harp with the stand-ins, the skeleton app registered in Nextcloud.
pub async fn start(extra: &[(&str, &str)]) -> TestHarp {
    let nc = FakeNextcloud::start(KEY).await.expect("fake nextcloud");
    let exapp = FakeExApp::start().await.expect("fake exapp");
    nc.add_app(APP, skeleton_record(exapp.port()));
    start_with(nc, exapp, extra).await
}

pub async fn start_with(nc: FakeNextcloud, exapp: FakeExApp, extra: &[(&str, &str)]) -> TestHarp {
    let certs = tempfile::tempdir().expect("tempdir");
    let env = test_env(&nc.url(), certs.path(), extra);
    let config = Config::from_env(&env).result.expect("valid test config");
    let shutdown = CancellationToken::new();
    let running = harp::app::start(config, shutdown.clone())
        .await
        .expect("harp starts");
    TestHarp {
        addr: running.http_addr,
        running: Some(running),
        shutdown,
        nc,
        exapp,
        certs,
    }
}

/// A response read in full.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// The headers the stand-in ExApp saw (from its echo).
    pub fn seen_header(&self, name: &str) -> Option<String> {
        self.json()["headers"][name].as_str().map(str::to_string)
    }
}

/// One request on a fresh HTTP/1.1 connection. `Err` means no HTTP response came back
/// (the connection was reset or closed: harp's silent drop).
pub async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<Reply, String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "harp.test");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| e.to_string())?;
    let resp = tokio::time::timeout(Duration::from_secs(30), sender.send_request(req))
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|e| e.to_string())?;
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok(Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}

pub async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    send(addr, "GET", path, headers, "")
        .await
        .unwrap_or_else(|e| panic!("GET {path}: no response: {e}"))
}

/// Asserts that harp answered nothing and reset the connection.
pub async fn assert_dropped(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) {
    if let Ok(r) = send(addr, "GET", path, headers, "").await {
        panic!(
            "GET {path}: expected a silent drop, got {} {}",
            r.status,
            r.text()
        );
    }
}

/// Writes raw bytes and reads whatever comes back until the peer closes (or `wait` passes).
/// Returns the bytes and whether the connection was reset.
pub async fn raw(addr: SocketAddr, request: &[u8], wait: Duration) -> (Vec<u8>, bool) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let _ = stream.write_all(request).await;
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return (out, false),
            Ok(Ok(0)) => return (out, false),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Ok(Err(e)) => return (out, e.kind() == std::io::ErrorKind::ConnectionReset),
        }
    }
}

pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

pub fn b64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// The six headers of an AppAPI-signed call.
pub fn signed_headers(key: &str, port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("ex-app-version", "3.0.3".to_string()),
        ("ex-app-id", APP.to_string()),
        ("ex-app-host", "127.0.0.1".to_string()),
        ("ex-app-port", port.to_string()),
        ("authorization-app-api", b64(&format!(":{SECRET}"))),
        ("harp-shared-key", key.to_string()),
    ]
}

/// Borrowed view of owned header pairs, for `send`/`get`.
pub fn hdrs<'a>(owned: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    owned.iter().map(|(k, v)| (*k, v.as_str())).collect()
}
