//! What every scenario stands on: the testkit's Nextcloud stand-in and sample ExApp in this
//! process, and harp as a separate process (so its CPU and memory are its own), all on
//! 127.0.0.1 with ports chosen by the kernel.

use harp_testkit::exapp::FakeExApp;
use harp_testkit::nextcloud::FakeNextcloud;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

pub const KEY: &str = "bench-shared-key";
pub const APP: &str = "bench-app";
/// The stand-in's session cookie for `usr`.
pub const COOKIE: &str = "oc_sessionPassphrase=sess-usr";

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The ExApp's record: a PUBLIC route, USER routes (echo, WebSocket, download, upload).
pub fn record(port: u16) -> Value {
    json!({
        "exapp_token": "bench-secret",
        "exapp_version": "1.0.0",
        "host": "127.0.0.1",
        "port": port,
        "routes": [
            {"url": "^/public", "access_level": 0, "bruteforce_protection": []},
            {"url": "^/user", "access_level": 1, "bruteforce_protection": []},
            {"url": "^/ws$", "access_level": 1, "bruteforce_protection": []},
            {"url": "^/download", "access_level": 1, "bruteforce_protection": []},
            {"url": "^/upload", "access_level": 1, "bruteforce_protection": []},
        ],
    })
}

/// The stand-ins, with the app registered.
pub struct Backends {
    pub nc: FakeNextcloud,
    pub exapp: FakeExApp,
}

impl Backends {
    pub async fn start() -> Result<Self, Error> {
        let nc = FakeNextcloud::start(KEY).await?;
        let exapp = FakeExApp::start().await?;
        nc.add_app(APP, record(exapp.port()));
        Ok(Backends { nc, exapp })
    }
}

/// The harp binary to measure: `$HARP_BIN`, else `target/release/harp`.
pub fn harp_bin() -> PathBuf {
    std::env::var_os("HARP_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/release/harp"))
}

/// A port the kernel just handed out (bound and released; loopback only).
pub fn free_port() -> Result<u16, Error> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// harp running as a child process; killed when dropped.
pub struct Harp {
    pub child: Child,
    pub pid: u32,
    pub http: SocketAddr,
    pub started: Instant,
    _certs: tempfile::TempDir,
}

impl Harp {
    /// Spawns harp against `nextcloud_url`; returns at once (see `wait_ready`).
    pub fn spawn(nextcloud_url: &str) -> Result<Self, Error> {
        Self::spawn_with(nextcloud_url, &[])
    }

    /// The same, with extra `HP_*` variables.
    pub fn spawn_with(nextcloud_url: &str, extra: &[(&str, &str)]) -> Result<Self, Error> {
        let certs = tempfile::tempdir()?;
        let http: SocketAddr = ([127, 0, 0, 1], free_port()?).into();
        let control: SocketAddr = ([127, 0, 0, 1], free_port()?).into();
        let frp: SocketAddr = ([127, 0, 0, 1], free_port()?).into();
        let started = Instant::now();
        let mut command = Command::new(harp_bin());
        command.envs(extra.iter().copied());
        let child = command
            .env("HP_SHARED_KEY", KEY)
            .env("NC_INSTANCE_URL", nextcloud_url)
            .env("HP_EXAPPS_ADDRESS", http.to_string())
            .env("HP_CONTROL_ADDRESS", control.to_string())
            .env("HP_FRP_ADDRESS", frp.to_string())
            .env("HP_CERTS_DIR", certs.path())
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .env("HP_LOG_LEVEL", "warning")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", harp_bin().display()))?;
        let pid = child.id().ok_or("harp exited at once")?;
        Ok(Harp {
            child,
            pid,
            http,
            started,
            _certs: certs,
        })
    }

    /// Waits until harp's HTTP listener answers a request harp settles alone (the control
    /// plane without a key: 401), polling every 200 µs for up to 10 s; returns the time from
    /// spawn to that first answer.
    pub async fn wait_ready(&mut self) -> Result<Duration, Error> {
        let deadline = self.started + Duration::from_secs(10);
        loop {
            if let Ok(status) = raw_status(self.http, "/exapps/app_api/info").await
                && status == 401
            {
                return Ok(self.started.elapsed());
            }
            if let Ok(Some(code)) = self.child.try_wait() {
                return Err(format!("harp exited with {code} before serving").into());
            }
            if Instant::now() > deadline {
                return Err("harp did not serve within 10 s".into());
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }

    /// Resident memory now and at its peak, in KiB (`/proc/<pid>/status`).
    pub fn rss_kib(&self) -> (u64, u64) {
        rss_kib(self.pid)
    }
}

/// `VmRSS` and `VmHWM` of a process, in KiB (0 when unreadable).
pub fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// One HTTP/1.1 GET on a fresh connection; the status code.
pub async fn raw_status(addr: SocketAddr, path: &str) -> Result<u16, Error> {
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut head = vec![0u8; 64];
    let n = s.read(&mut head).await?;
    let line = String::from_utf8_lossy(&head[..n]);
    line.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no status line in {line:?}").into())
}
