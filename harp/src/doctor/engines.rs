//! Docker Engines by `docker-engine-port`: the local engine (`DOCKER_HOST`, port 24000) and
//! every engine port (24000-24099) a tunnel client publishes on the running harp, each asked
//! `GET /_ping` (which any Docker-compatible engine answers `OK`).

use super::{Finding, control};
use crate::config::Config;
use crate::engine::{LOCAL_ENGINE_PORT, LocalEngine};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

const CHECK: &str = "engines";
const TIMEOUT: Duration = Duration::from_secs(5);
/// The ports HaRP reserves for Docker engines behind frpc.
const ENGINE_PORTS: std::ops::RangeInclusive<u16> = 24000..=24099;

/// `GET /_ping` over an open stream: `Ok` when the engine answers 200 `OK`.
async fn ping<S: AsyncRead + AsyncWrite + Unpin>(mut s: S) -> Result<(), String> {
    s.write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    (&mut s)
        .take(64 * 1024)
        .read_to_end(&mut answer)
        .await
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&answer);
    let status = text.lines().next().unwrap_or("").to_string();
    if status.split_whitespace().nth(1) == Some("200") && text.trim_end().ends_with("OK") {
        Ok(())
    } else if status.is_empty() {
        Err("the connection closed without an answer (not a Docker Engine?)".into())
    } else {
        Err(format!(
            "answered '{status}' instead of 200 OK (not a Docker Engine?)"
        ))
    }
}

async fn ping_local(docker_host: &str) -> Result<(), String> {
    let fut = async {
        match LocalEngine::from_docker_host(docker_host) {
            Some(LocalEngine::Unix(path)) => match UnixStream::connect(&path).await {
                Ok(s) => ping(s).await,
                Err(e) => Err(format!("cannot connect to {}: {e}", path.display())),
            },
            Some(LocalEngine::Tcp(addr)) => match TcpStream::connect(&addr).await {
                Ok(s) => ping(s).await,
                Err(e) => Err(format!("cannot connect to {addr}: {e}")),
            },
            None => Err("DOCKER_HOST is neither unix:// nor tcp://".into()),
        }
    };
    tokio::time::timeout(TIMEOUT, fut)
        .await
        .map_err(|_| format!("no answer within {}s", TIMEOUT.as_secs()))?
}

async fn ping_port(port: u16) -> Result<(), String> {
    let fut = async {
        match TcpStream::connect(("127.0.0.1", port)).await {
            Ok(s) => ping(s).await,
            Err(e) => Err(format!("cannot connect to 127.0.0.1:{port}: {e}")),
        }
    };
    tokio::time::timeout(TIMEOUT, fut)
        .await
        .map_err(|_| format!("no answer within {}s", TIMEOUT.as_secs()))?
}

/// Engine ports published by tunnel clients, with the client's address.
async fn tunnel_engines(harp: SocketAddr) -> Vec<(u16, String)> {
    let Ok(report) = control::get_json(harp, "/tunnels").await else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for c in report["clients"].as_array().into_iter().flatten() {
        for p in c["proxies"].as_array().into_iter().flatten() {
            if let Some(port) = p["port"].as_u64().and_then(|p| u16::try_from(p).ok())
                && ENGINE_PORTS.contains(&port)
            {
                found.push((port, c["address"].as_str().unwrap_or("?").to_string()));
            }
        }
    }
    found
}

pub async fn check(config: &Config, harp: Option<SocketAddr>) -> Vec<Finding> {
    let tunnelled = match harp {
        Some(addr) => tunnel_engines(addr).await,
        None => Vec::new(),
    };
    let mut findings = Vec::new();
    if !tunnelled.iter().any(|(p, _)| *p == LOCAL_ENGINE_PORT) {
        let host = &config.docker_host;
        findings.push(match ping_local(host).await {
            Ok(()) => Finding::ok(
                CHECK,
                format!("port {LOCAL_ENGINE_PORT}: the local Docker Engine ({host}) answers"),
            ),
            Err(e) => Finding::fail(
                CHECK,
                format!(
                    "port {LOCAL_ENGINE_PORT}: the local Docker Engine at DOCKER_HOST {host} does not answer: {e} (mount the Docker socket into harp, or point DOCKER_HOST at the engine; ignore if every ExApp runs on a remote engine with frpc)"
                ),
            ),
        });
    }
    for (port, client) in tunnelled {
        findings.push(match ping_port(port).await {
            Ok(()) => Finding::ok(
                CHECK,
                format!("port {port}: the Docker Engine behind tunnel client {client} answers"),
            ),
            Err(e) => Finding::fail(
                CHECK,
                format!(
                    "port {port}: tunnel client {client} publishes it but no Docker Engine answers through it: {e} (check the engine on that host and frpc's localIP/localPort or unix socket)"
                ),
            ),
        });
    }
    findings
}
