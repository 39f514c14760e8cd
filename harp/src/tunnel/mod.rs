//! The FRP-compatible tunnel server on `HP_FRP_ADDRESS` (decision D1, contract §7,
//! frp-protocol.md): unmodified `frpc` clients log in over mutual TLS, publish `tcp` proxies on
//! `127.0.0.1:<remotePort>`, and harp reaches ExApps and Docker engines through them.
//!
//! - [`accept`]: first-byte sniffing and mutual TLS;
//! - [`framed`]: frp messages on a stream, with the control-stream cipher;
//! - [`control`]: login and the control session;
//! - [`pool`]: idle work connections per client;
//! - [`proxy`]: published ports and the user ⇄ work connection relay;
//! - [`relay`]: the byte relay of both tunnel ends, with buffers that grow with the traffic;
//! - [`registry`]: who holds which name, port and run id;
//! - [`report`]: clients, proxies and traffic for operators.

pub mod accept;
pub mod control;
pub mod framed;
pub mod pool;
pub mod proxy;
pub mod registry;
pub mod relay;
pub mod report;
pub mod stats;

use crate::state::State;
use framed::{FrameReader, FrameWriter};
use frp_wire::Message;
use futures_util::StreamExt;
use pool::{Io, Pools, WorkConn};
use registry::Registry;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// frps's deadline for the first message of a new connection or stream.
const FIRST_MESSAGE_TIMEOUT: Duration = Duration::from_secs(10);
/// The yamux version byte that starts a multiplexed session (`transport.tcpMux`, the default).
const YAMUX_VERSION: u8 = 0;

/// The tunnel server's shared state.
pub struct Tunnels {
    pub registry: Registry,
    pub pools: Arc<Pools>,
    pub next_session: AtomicU64,
}

impl Tunnels {
    pub fn new(allowed: Vec<RangeInclusive<u16>>) -> Self {
        Tunnels {
            registry: Registry::new(allowed),
            pools: Arc::new(Pools::default()),
            next_session: AtomicU64::new(1),
        }
    }

    /// Waits (at most 5 s) until an older session of `run_id` has released its proxies.
    pub async fn wait_released(&self, run_id: &str, session: u64) {
        for _ in 0..50 {
            if !self.registry.held_by_other_session(run_id, session) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Serves one accepted tunnel connection.
pub async fn serve_connection(
    state: Arc<State>,
    stream: TcpStream,
    peer: SocketAddr,
    tls: accept::TlsMode,
) {
    let ip = peer.ip().to_canonical();
    if state.bans.is_banned(ip) {
        tracing::info!(%peer, "banned address; tunnel connection refused");
        return;
    }
    let io = match tokio::time::timeout(accept::HANDSHAKE_TIMEOUT, accept::handshake(stream, &tls))
        .await
    {
        Ok(Ok(io)) => io,
        Ok(Err(e)) => {
            tracing::warn!(%peer, error = %e, "tunnel handshake failed");
            return;
        }
        Err(_) => {
            tracing::warn!(%peer, "tunnel handshake timed out");
            return;
        }
    };
    let mut io: Box<dyn Io> = Box::new(io);
    let mut first = [0u8; 1];
    match tokio::time::timeout(FIRST_MESSAGE_TIMEOUT, io.read_exact(&mut first)).await {
        Ok(Ok(_)) => {}
        _ => return,
    }
    if first[0] == YAMUX_VERSION {
        serve_session(
            state,
            Box::new(Prefixed {
                prefix: Some(first[0]),
                io,
            }),
            peer,
        )
        .await;
    } else {
        dispatch(state, io, vec![first[0]], peer, None).await;
    }
}

/// A yamux session: every stream the client opens is dispatched on its first message. The
/// session ends with its control stream.
async fn serve_session(state: Arc<State>, io: Box<dyn Io>, peer: SocketAddr) {
    let config = tokio_yamux::Config {
        max_stream_window_size: frp_wire::yamux::FRP_MAX_WINDOW,
        keepalive_interval: Duration::from_secs(30),
        enable_keepalive: true,
        ..Default::default()
    };
    let mut session = tokio_yamux::Session::new_server(io, config);
    let done = state.shutdown.child_token();
    loop {
        tokio::select! {
            _ = done.cancelled() => break,
            next = session.next() => match next {
                Some(Ok(stream)) => {
                    tokio::spawn(dispatch(state.clone(), Box::new(stream), Vec::new(), peer, Some(done.clone())));
                }
                Some(Err(e)) => {
                    tracing::info!(%peer, error = %e, "tunnel session ended");
                    break;
                }
                None => break,
            },
        }
    }
    done.cancel();
}

/// Routes a new stream (or a whole connection without multiplexing) by its first message:
/// `Login` starts a control session, `NewWorkConn` joins the client's pool.
async fn dispatch(
    state: Arc<State>,
    io: Box<dyn Io>,
    prefix: Vec<u8>,
    peer: SocketAddr,
    session: Option<CancellationToken>,
) {
    let (read, write) = tokio::io::split(io);
    let mut reader = FrameReader::with_prefix(read, prefix);
    let first = match tokio::time::timeout(FIRST_MESSAGE_TIMEOUT, reader.read()).await {
        Ok(Ok(Some(msg))) => msg,
        Ok(Ok(None)) => return,
        Ok(Err(e)) => {
            tracing::warn!(%peer, error = %e, "invalid first message on a tunnel stream");
            return;
        }
        Err(_) => {
            tracing::warn!(%peer, "no first message within 10 s on a tunnel stream");
            return;
        }
    };
    match first {
        Message::Login(login) => {
            let ended = control::run(state, login, reader, FrameWriter::new(write), peer).await;
            if let Some(session) = session {
                if matches!(ended, control::Ended::Refused) {
                    // Let the refusal reach the client, which then closes the connection.
                    let _ = tokio::time::timeout(Duration::from_secs(5), session.cancelled()).await;
                }
                session.cancel();
            }
        }
        Message::NewWorkConn(work) => {
            let (read, leftover) = reader.into_parts();
            let conn = WorkConn {
                io: Box::new(read.unsplit(write)),
                leftover,
            };
            if !state.tunnels.pools.offer(&work.run_id, conn) {
                tracing::debug!(%peer, run_id = work.run_id, "work connection for an unknown client; closed");
            }
        }
        other => {
            tracing::warn!(%peer, kind = other.msg_type().name(), "unexpected first message on a tunnel stream");
        }
    }
}

/// A stream with one byte put back in front (read while sniffing the protocol).
struct Prefixed {
    prefix: Option<u8>,
    io: Box<dyn Io>,
}

impl AsyncRead for Prefixed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if let Some(b) = self.prefix.take() {
            buf.put_slice(&[b]);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, data)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
