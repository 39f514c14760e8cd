//! Reaching a Docker Engine by its `docker-engine-port` (contract §6, §7.3): port 24000 is the
//! engine whose socket is mounted into harp (`DOCKER_HOST`, `unix:///var/run/docker.sock` by
//! default), reached directly without a bundled frpc, unless a tunnel client has published
//! 24000 itself; every other port is a tunnel proxy on 127.0.0.1.

use crate::state::State;
use std::io;
use std::path::PathBuf;
use std::time::Duration;
use tokio::net::{TcpStream, UnixStream};

/// The port HaRP's bundled frpc gives the local Docker socket.
pub const LOCAL_ENGINE_PORT: u16 = 24000;

/// A connection to an engine.
pub enum EngineStream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// Where the local engine is, from `DOCKER_HOST`.
pub enum LocalEngine {
    Unix(PathBuf),
    Tcp(String),
}

impl LocalEngine {
    pub fn from_docker_host(docker_host: &str) -> Option<LocalEngine> {
        if let Some(path) = docker_host.strip_prefix("unix://") {
            return Some(LocalEngine::Unix(PathBuf::from(path)));
        }
        docker_host
            .strip_prefix("tcp://")
            .map(|addr| LocalEngine::Tcp(addr.trim_end_matches('/').to_string()))
    }
}

/// Connects to the engine behind `port`, within `timeout`.
pub async fn connect(state: &State, port: u16, timeout: Duration) -> io::Result<EngineStream> {
    let fut = async {
        if port == LOCAL_ENGINE_PORT && !state.tunnels.registry.port_taken(port) {
            match LocalEngine::from_docker_host(&state.config.docker_host) {
                Some(LocalEngine::Unix(path)) if path.exists() => {
                    return UnixStream::connect(path).await.map(EngineStream::Unix);
                }
                Some(LocalEngine::Tcp(addr)) => {
                    return TcpStream::connect(addr).await.map(EngineStream::Tcp);
                }
                _ => {}
            }
        }
        let stream = TcpStream::connect(("127.0.0.1", port)).await?;
        let _ = stream.set_nodelay(true);
        Ok(EngineStream::Tcp(stream))
    };
    tokio::time::timeout(timeout, fut).await.map_err(|_| {
        io::Error::new(
            io::ErrorKind::TimedOut,
            "connecting to the Docker Engine timed out",
        )
    })?
}

impl tokio::io::AsyncRead for EngineStream {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        match self.get_mut() {
            EngineStream::Tcp(s) => std::pin::Pin::new(s).poll_read(cx, buf),
            EngineStream::Unix(s) => std::pin::Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl tokio::io::AsyncWrite for EngineStream {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        match self.get_mut() {
            EngineStream::Tcp(s) => std::pin::Pin::new(s).poll_write(cx, data),
            EngineStream::Unix(s) => std::pin::Pin::new(s).poll_write(cx, data),
        }
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        match self.get_mut() {
            EngineStream::Tcp(s) => std::pin::Pin::new(s).poll_flush(cx),
            EngineStream::Unix(s) => std::pin::Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        match self.get_mut() {
            EngineStream::Tcp(s) => std::pin::Pin::new(s).poll_shutdown(cx),
            EngineStream::Unix(s) => std::pin::Pin::new(s).poll_shutdown(cx),
        }
    }
}
