//! A real Docker-compatible engine for tests: podman's Docker Engine API on a unix socket and a
//! loopback image registry, started by `scripts/engine.sh start` (see TESTING.md, "Real
//! Docker-compatible engine"). Standalone: include it with `#[path = "common/engine.rs"] mod
//! engine;` or from `common/mod.rs`; it needs only std, tokio, hyper, hyper-util, http-body-util,
//! bytes and serde_json.
//!
//! Tests create containers with `"HostConfig": {"NetworkMode": "host"}` so every connection stays
//! on 127.0.0.1, give them unique names ([`unique_name`]) because tests run in parallel, and
//! register them with a [`Cleanup`] so a failing test does not leave them behind.
#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// The image `scripts/build-test-image.sh` pushes to the registry, without the registry part.
pub const TEST_IMAGE: &str = "harp-test-exapp";
pub const TEST_IMAGE_TAG: &str = "1";

/// How long one API call may take (an image pull from the loopback registry takes about a second).
const API_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Clone, Debug)]
pub struct Engine {
    /// `unix:///.../engine.sock`, the form harp's `DOCKER_HOST` takes.
    pub docker_host: String,
    /// `127.0.0.1:<port>` of the plain-HTTP registry.
    pub registry: String,
}

/// The state dir `scripts/engine.sh` uses by default: `<repo>/.engine`.
pub fn default_state_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the harp crate sits in the workspace root")
        .join(".engine")
}

fn parse_env_file(text: &str) -> (Option<String>, Option<String>) {
    let (mut host, mut registry) = (None, None);
    for line in text.lines() {
        let line = line.trim();
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value
            .trim()
            .trim_matches(|c| c == '"' || c == '\'')
            .to_string();
        match key.trim() {
            "HARP_TEST_DOCKER_HOST" => host = Some(value),
            "HARP_TEST_REGISTRY" => registry = Some(value),
            _ => {}
        }
    }
    (host, registry)
}

impl Engine {
    /// `HARP_TEST_DOCKER_HOST` and `HARP_TEST_REGISTRY` from the environment, else from the
    /// `env` file `scripts/engine.sh start` writes (`$HARP_ENGINE_DIR/env`, default
    /// `<repo>/.engine/env`). `None` when neither names an existing socket.
    pub fn from_env() -> Option<Engine> {
        let (mut host, mut registry) = (
            std::env::var("HARP_TEST_DOCKER_HOST")
                .ok()
                .filter(|v| !v.is_empty()),
            std::env::var("HARP_TEST_REGISTRY")
                .ok()
                .filter(|v| !v.is_empty()),
        );
        if host.is_none() || registry.is_none() {
            let dir = std::env::var_os("HARP_ENGINE_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(default_state_dir);
            let text = std::fs::read_to_string(dir.join("env")).ok()?;
            let (h, r) = parse_env_file(&text);
            host = host.or(h);
            registry = registry.or(r);
        }
        let engine = Engine {
            docker_host: host?,
            registry: registry?,
        };
        engine.socket_path().exists().then_some(engine)
    }

    /// The engine for a test that needs it. When it is missing or does not answer `/_ping`:
    /// panics if `HARP_REQUIRE_PEERS=1` (as in CI), else prints SKIPPED and returns `None`.
    pub fn require() -> Option<Engine> {
        let problem = match Engine::from_env() {
            None => {
                "no engine (HARP_TEST_DOCKER_HOST / .engine/env missing or socket gone)".to_string()
            }
            Some(engine) => match engine.ping_blocking() {
                Ok(()) => return Some(engine),
                Err(e) => format!(
                    "the engine at {} does not answer /_ping: {e}",
                    engine.docker_host
                ),
            },
        };
        if std::env::var("HARP_REQUIRE_PEERS").as_deref() == Ok("1") {
            panic!(
                "HARP_REQUIRE_PEERS=1 but {problem}; run `bash scripts/engine.sh start && \
                 bash scripts/build-test-image.sh` first"
            );
        }
        eprintln!(
            "SKIPPED: {problem} (run `bash scripts/engine.sh start && bash scripts/build-test-image.sh`; \
             set HARP_REQUIRE_PEERS=1 to make this a failure)"
        );
        None
    }

    /// The socket's path (`docker_host` without `unix://`).
    pub fn socket_path(&self) -> PathBuf {
        PathBuf::from(
            self.docker_host
                .strip_prefix("unix://")
                .unwrap_or(&self.docker_host),
        )
    }

    /// `<registry>/harp-test-exapp` (pass as `fromImage`, with `tag=1`).
    pub fn image_repo(&self) -> String {
        format!("{}/{TEST_IMAGE}", self.registry)
    }

    /// `<registry>/harp-test-exapp:1`, the full reference of the test ExApp image.
    pub fn image(&self) -> String {
        format!("{}/{TEST_IMAGE}:{TEST_IMAGE_TAG}", self.registry)
    }

    /// One raw Engine API call over the unix socket: `path` as Docker takes it (e.g.
    /// `/v1.41/containers/create?name=x`), a JSON body if given. Returns the status and the whole
    /// body (streams such as pulls and logs are read to their end). Panics on transport errors
    /// and after two minutes.
    pub async fn api(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, Vec<u8>) {
        let call = async {
            let stream = tokio::net::UnixStream::connect(self.socket_path())
                .await
                .unwrap_or_else(|e| panic!("connect {}: {e}", self.docker_host));
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .expect("http1 handshake with the engine");
            tokio::spawn(conn);
            let mut req = hyper::Request::builder()
                .method(method)
                .uri(path)
                .header("host", "docker");
            let body = match body {
                Some(json) => {
                    req = req.header("content-type", "application/json");
                    Bytes::from(serde_json::to_vec(&json).expect("serialise body"))
                }
                None => Bytes::new(),
            };
            let req = req.body(Full::new(body)).expect("request");
            let resp = sender
                .send_request(req)
                .await
                .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
            let status = resp.status().as_u16();
            let bytes = resp
                .into_body()
                .collect()
                .await
                .unwrap_or_else(|e| panic!("{method} {path}: reading the body: {e}"))
                .to_bytes();
            (status, bytes.to_vec())
        };
        tokio::time::timeout(API_TIMEOUT, call)
            .await
            .unwrap_or_else(|_| {
                panic!("{method} {path}: no complete answer within {API_TIMEOUT:?}")
            })
    }

    /// [`Engine::api`] with the body parsed as JSON (`Null` when empty or not JSON).
    pub async fn api_json(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let (status, bytes) = self.api(method, path, body).await;
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    }

    /// Pulls the test image from the registry through the Engine API (as AppAPI does) and
    /// panics unless the pull stream ends without an error line.
    pub async fn pull_test_image(&self) {
        let path = format!(
            "/v1.41/images/create?fromImage={}&tag={TEST_IMAGE_TAG}",
            self.image_repo()
        );
        let (status, body) = self.api("POST", &path, None).await;
        let text = String::from_utf8_lossy(&body);
        assert!(
            status == 200 && !text.contains("\"error\""),
            "pull {} failed ({status}): {text}\n(run `bash scripts/build-test-image.sh`)",
            self.image()
        );
    }

    /// `GET /containers/<name>/json`: `None` on 404.
    pub async fn inspect(&self, name: &str) -> Option<serde_json::Value> {
        let (status, json) = self
            .api_json("GET", &format!("/v1.41/containers/{name}/json"), None)
            .await;
        match status {
            200 => Some(json),
            404 => None,
            other => panic!("inspect {name}: {other} {json}"),
        }
    }

    /// Runs `cmd` in a running container via the exec API; returns (exit code, stdout, stderr).
    pub async fn exec(&self, container: &str, cmd: &[&str]) -> (i64, Vec<u8>, Vec<u8>) {
        let (status, created) = self
            .api_json(
                "POST",
                &format!("/v1.41/containers/{container}/exec"),
                Some(serde_json::json!({
                    "AttachStdout": true, "AttachStderr": true, "Cmd": cmd
                })),
            )
            .await;
        assert_eq!(status, 201, "exec create in {container}: {created}");
        let id = created["Id"].as_str().expect("exec Id").to_string();
        let (status, raw) = self
            .api(
                "POST",
                &format!("/v1.41/exec/{id}/start"),
                Some(serde_json::json!({"Detach": false, "Tty": false})),
            )
            .await;
        assert_eq!(status, 200, "exec start in {container}");
        let (_, info) = self
            .api_json("GET", &format!("/v1.41/exec/{id}/json"), None)
            .await;
        let (stdout, stderr) = demux(&raw);
        (info["ExitCode"].as_i64().unwrap_or(-1), stdout, stderr)
    }

    /// `stdout` + `stderr` of a container's logs, de-multiplexed.
    pub async fn logs(&self, container: &str) -> (Vec<u8>, Vec<u8>) {
        let (status, raw) = self
            .api(
                "GET",
                &format!("/v1.41/containers/{container}/logs?stdout=true&stderr=true"),
                None,
            )
            .await;
        assert_eq!(status, 200, "logs of {container}");
        demux(&raw)
    }

    /// Force-removes a container (and its anonymous volumes); a missing one is fine.
    pub async fn remove_container(&self, name: &str) {
        let (status, body) = self
            .api(
                "DELETE",
                &format!("/v1.41/containers/{name}?force=true&v=true"),
                None,
            )
            .await;
        assert!(
            matches!(status, 204 | 404),
            "remove container {name}: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }

    /// Removes a named volume; a missing one is fine.
    pub async fn remove_volume(&self, name: &str) {
        let (status, body) = self
            .api("DELETE", &format!("/v1.41/volumes/{name}?force=true"), None)
            .await;
        assert!(
            matches!(status, 204 | 404),
            "remove volume {name}: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }

    /// One blocking call with std only (for `require` and `Drop`): returns status and body.
    pub fn api_blocking(&self, method: &str, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
        let mut s = std::os::unix::net::UnixStream::connect(self.socket_path())?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        s.set_write_timeout(Some(Duration::from_secs(30)))?;
        write!(
            s,
            "{method} {path} HTTP/1.0\r\nHost: docker\r\nContent-Length: 0\r\n\r\n"
        )?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw)?;
        let head_end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| std::io::Error::other("no HTTP head in the answer"))?;
        let head = String::from_utf8_lossy(&raw[..head_end]);
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line: {head}")))?;
        Ok((status, raw[head_end + 4..].to_vec()))
    }

    fn ping_blocking(&self) -> std::io::Result<()> {
        match self.api_blocking("GET", "/_ping")? {
            (200, body) if body == b"OK" => Ok(()),
            (status, body) => Err(std::io::Error::other(format!(
                "{status} {}",
                String::from_utf8_lossy(&body)
            ))),
        }
    }
}

/// Splits Docker's multiplexed stream (8-byte frame headers: stream type, 3 zero bytes, u32
/// big-endian length) into stdout and stderr. Bytes that do not parse as frames are returned as
/// stdout unchanged (a TTY stream is not framed).
pub fn demux(raw: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut rest = raw;
    while !rest.is_empty() {
        if rest.len() < 8 || !matches!(rest[0], 0..=2) || rest[1..4] != [0, 0, 0] {
            return (raw.to_vec(), Vec::new());
        }
        let len = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        if rest.len() < 8 + len {
            return (raw.to_vec(), Vec::new());
        }
        let frame = &rest[8..8 + len];
        if rest[0] == 2 { &mut err } else { &mut out }.extend_from_slice(frame);
        rest = &rest[8 + len..];
    }
    (out, err)
}

/// `<prefix>_<pid>_<n>`: container and volume names that parallel tests (and test binaries)
/// cannot share. Keep the `nc_app_` prefix where harp's name rules apply.
pub fn unique_name(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A port the kernel just handed out on 127.0.0.1 (free now; bind it soon).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// Removes the containers and volumes registered with it when dropped, also when the test
/// panics (blocking calls, so it works outside the runtime too).
pub struct Cleanup {
    engine: Engine,
    containers: Vec<String>,
    volumes: Vec<String>,
}

impl Cleanup {
    pub fn new(engine: &Engine) -> Cleanup {
        Cleanup {
            engine: engine.clone(),
            containers: Vec::new(),
            volumes: Vec::new(),
        }
    }

    pub fn container(&mut self, name: &str) -> &mut Self {
        self.containers.push(name.to_string());
        self
    }

    pub fn volume(&mut self, name: &str) -> &mut Self {
        self.volumes.push(name.to_string());
        self
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for name in &self.containers {
            let path = format!("/v1.41/containers/{name}?force=true&v=true");
            if let Err(e) = self.engine.api_blocking("DELETE", &path) {
                eprintln!("cleanup: removing container {name}: {e}");
            }
        }
        for name in &self.volumes {
            let path = format!("/v1.41/volumes/{name}?force=true");
            if let Err(e) = self.engine.api_blocking("DELETE", &path) {
                eprintln!("cleanup: removing volume {name}: {e}");
            }
        }
    }
}
