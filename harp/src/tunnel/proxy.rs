//! A published `tcp` proxy (frp-protocol §5.2–5.3): a listener on `127.0.0.1:<remotePort>`
//! (never another interface: HaRP #81); each user connection gets its own work connection,
//! announced with `StartWorkConn`, then bytes flow both ways until either side closes.

use super::pool::{Pools, WorkConn};
use super::stats::{Counted, ProxyStats};
use frp_wire::{Message, StartWorkConn};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// Serves the proxy's listener until `stop` fires.
pub async fn serve(
    listener: TcpListener,
    name: String,
    run_id: String,
    pools: Arc<Pools>,
    stats: Arc<ProxyStats>,
    stop: CancellationToken,
) {
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    loop {
        let (user, peer) = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(proxy = name, error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = user.set_nodelay(true);
        let (name, run_id, pools, stats, stop) = (
            name.clone(),
            run_id.clone(),
            pools.clone(),
            stats.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = relay(user, peer, port, &name, &run_id, &pools, &stats) => {}
            }
        });
    }
}

/// Hands one user connection to a work connection.
async fn relay(
    user: TcpStream,
    peer: SocketAddr,
    port: u16,
    name: &str,
    run_id: &str,
    pools: &Pools,
    stats: &Arc<ProxyStats>,
) {
    let mut user = Counted {
        io: user,
        stats: stats.clone(),
    };
    let start = Message::StartWorkConn(StartWorkConn {
        proxy_name: name.to_string(),
        src_addr: peer.ip().to_string(),
        src_port: peer.port(),
        dst_addr: "127.0.0.1".to_string(),
        dst_port: port,
        ..Default::default()
    });
    let Ok(frame) = frp_wire::encode(&start) else {
        return;
    };
    // A pooled stream may have died; try a few, as frps does.
    for _ in 0..3 {
        let Some(WorkConn { mut io, leftover }) = pools.take(run_id).await else {
            tracing::warn!(
                proxy = name,
                "no work connection from the client within 10 s; closing the user connection"
            );
            return;
        };
        if io.write_all(&frame).await.is_err() || io.flush().await.is_err() {
            continue;
        }
        if !leftover.is_empty() && user.write_all(&leftover).await.is_err() {
            return;
        }
        stats.connection_opened();
        if let Err(e) = super::relay::relay(&mut user, &mut io).await {
            tracing::debug!(proxy = name, error = %e, "tunnelled connection ended with an error");
        }
        stats.connection_closed();
        return;
    }
}
