//! Work connections (frp-protocol.md §5.3): for each `ReqWorkConn` a new stream (a yamux stream,
//! or a new connection without `tcpMux`) announced with `NewWorkConn{run_id}`; it waits, with no
//! time limit, for the server's `StartWorkConn`, then connects to the proxy's local target
//! (`localIP:localPort` or the unix socket), writes nothing of its own, and relays bytes both
//! ways until both sides are done. Everything ends with the session.

use super::Shared;
use super::config::Target;
use crate::tunnel::framed::{FrameReader, FrameWriter};
use crate::tunnel::pool::Io;
use frp_wire::{Message, NewWorkConn};
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

/// How long connecting to a local target may take.
const LOCAL_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens new streams to the server.
#[derive(Clone)]
pub(super) enum Opener {
    /// A yamux stream on the session.
    Mux(tokio_yamux::Control),
    /// A new TCP (+TLS) connection (`transport.tcpMux = false`).
    Direct(Arc<Shared>),
}

impl Opener {
    pub(super) async fn open(&self) -> io::Result<Box<dyn Io>> {
        match self {
            Opener::Mux(control) => {
                let stream = control
                    .clone()
                    .open_stream()
                    .await
                    .map_err(io::Error::other)?;
                Ok(Box::new(stream))
            }
            Opener::Direct(shared) => shared.dialer.connect().await,
        }
    }
}

/// Serves one work connection until it is done or the session ends (`done`).
pub(super) async fn serve(
    shared: Arc<Shared>,
    opener: Opener,
    run_id: String,
    done: CancellationToken,
) {
    tokio::select! {
        _ = done.cancelled() => {}
        ended = work(&shared, &opener, run_id) => {
            if let Err(e) = ended {
                tracing::debug!(error = %e, "tunnel work connection ended with an error");
            }
        }
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

async fn work(shared: &Shared, opener: &Opener, run_id: String) -> io::Result<()> {
    let io = opener.open().await?;
    let (read, write) = tokio::io::split(io);
    let mut writer = FrameWriter::new(write);
    let mut hello = NewWorkConn {
        run_id,
        ..Default::default()
    };
    if shared.config.auth_work_conns {
        hello.timestamp = super::unix_now();
        hello.privilege_key = frp_wire::privilege_key(&shared.config.auth_token, hello.timestamp);
    }
    writer.write(&Message::NewWorkConn(hello)).await?;
    let mut reader = FrameReader::new(read);
    let start = match reader.read().await? {
        Some(Message::StartWorkConn(start)) => start,
        Some(other) => {
            return Err(invalid(format!(
                "{} instead of StartWorkConn",
                other.msg_type().name()
            )));
        }
        None => return Ok(()),
    };
    if !start.error.is_empty() {
        tracing::warn!(
            proxy = start.proxy_name,
            error = start.error,
            "the server refused a work connection"
        );
        return Ok(());
    }
    let config = &shared.config;
    let Some(proxy) = config
        .proxies
        .iter()
        .find(|p| config.wire_name(p) == start.proxy_name)
    else {
        tracing::warn!(
            proxy = start.proxy_name,
            "StartWorkConn for a proxy this client does not have"
        );
        return Ok(());
    };
    let mut local = match tokio::time::timeout(LOCAL_CONNECT_TIMEOUT, connect(&proxy.target)).await
    {
        Ok(Ok(local)) => local,
        Ok(Err(e)) => {
            tracing::warn!(proxy = proxy.name, target = ?proxy.target, error = %e, "cannot connect to the local service");
            return Ok(());
        }
        Err(_) => {
            tracing::warn!(proxy = proxy.name, target = ?proxy.target, "connecting to the local service timed out");
            return Ok(());
        }
    };
    tracing::debug!(proxy = proxy.name, user = %format!("{}:{}", start.src_addr, start.src_port), "tunnelled connection");
    let (read, leftover) = reader.into_parts();
    let mut remote = read.unsplit(writer.into_inner());
    if !leftover.is_empty() {
        local.write_all(&leftover).await?;
    }
    crate::tunnel::relay::relay(&mut remote, &mut local).await?;
    Ok(())
}

async fn connect(target: &Target) -> io::Result<Box<dyn Io>> {
    match target {
        Target::Tcp { ip, port } => {
            let stream = tokio::net::TcpStream::connect((ip.as_str(), *port)).await?;
            let _ = stream.set_nodelay(true);
            Ok(Box::new(stream))
        }
        Target::Unix(path) => Ok(Box::new(tokio::net::UnixStream::connect(path).await?)),
    }
}
