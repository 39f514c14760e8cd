//! One client's control session (frp-protocol §3, §5.1–5.6): the login (ban check, frp's
//! `privilege_key`, and HaRP's real check: `metas.token` must be `HP_SHARED_KEY`), the switch to
//! the encrypted control stream, the initial work-connection requests, and then `NewProxy`,
//! `CloseProxy` and `Ping` until the client leaves. Everything the client held is released when
//! the session ends.

use super::framed::{FrameReader, FrameWriter};
use super::pool::Io;
use super::registry::ClientInfo;
use super::stats::ProxyStats;
use crate::bans::Failure;
use crate::net::client_ip::is_trusted;
use crate::state::State;
use frp_wire::{
    Encryptor, Key, Login, LoginResp, Message, NewProxy, NewProxyResp, Pong, ReqWorkConn,
};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::io::{ReadHalf, WriteHalf};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The frp version harp reports in `LoginResp` (frpc only logs it).
pub const FRP_VERSION: &str = "0.65.0";
/// frps's `transport.maxPoolCount`.
const MAX_POOL_COUNT: i64 = 5;
/// harp sets no frp `auth.token`, like HaRP: `privilege_key` is md5 of the timestamp alone.
const AUTH_TOKEN: &str = "";

/// Why a login is refused; the text reaches frpc's log.
fn check_login(state: &State, login: &Login, peer: SocketAddr) -> Result<(), String> {
    let ip = peer.ip().to_canonical();
    if state.bans.is_banned(ip) {
        return Err("banned".to_string());
    }
    if !frp_wire::verify_privilege_key(AUTH_TOKEN, login.timestamp, &login.privilege_key) {
        return Err("token in login doesn't match token from configuration".to_string());
    }
    let token = login
        .metas
        .get("token")
        .map(String::as_bytes)
        .unwrap_or_default();
    if !state.config.shared_key.matches(token) {
        if !is_trusted(ip, &state.config.trusted_proxies) {
            state.bans.record_failure(ip, Failure::TunnelLogin);
        }
        return Err(
            "invalid metadatas.token: it must be HaRP's shared key (HP_SHARED_KEY)".to_string(),
        );
    }
    Ok(())
}

/// How a control session ended.
pub enum Ended {
    /// The login was refused; the client has been told why and should close the connection.
    Refused,
    /// The session ran and is over.
    Closed,
}

/// Runs a control session that began with `login`. Returns when the client is gone or a newer
/// session with the same run id replaced this one.
pub async fn run(
    state: Arc<State>,
    login: Login,
    mut reader: FrameReader<ReadHalf<Box<dyn Io>>>,
    mut writer: FrameWriter<WriteHalf<Box<dyn Io>>>,
    peer: SocketAddr,
) -> Ended {
    let tunnels = &state.tunnels;
    if let Err(reason) = check_login(&state, &login, peer) {
        tracing::warn!(%peer, reason, "tunnel login refused");
        let resp = LoginResp {
            version: FRP_VERSION.into(),
            error: reason,
            ..Default::default()
        };
        let _ = writer.write(&Message::LoginResp(resp)).await;
        let _ = tokio::io::AsyncWriteExt::shutdown(&mut writer.into_inner()).await;
        return Ended::Refused;
    }
    let run_id = if login.run_id.is_empty() {
        match frp_wire::random_run_id() {
            Ok(id) => id,
            Err(_) => return Ended::Closed,
        }
    } else {
        login.run_id.clone()
    };
    let session = tunnels.next_session.fetch_add(1, Ordering::Relaxed);
    let info = ClientInfo {
        run_id: run_id.clone(),
        address: peer,
        version: login.version.clone(),
        os: login.os.clone(),
        arch: login.arch.clone(),
        since: std::time::SystemTime::now(),
    };
    let cancel = CancellationToken::new();
    if let Some(old) = tunnels.registry.add_control(info, session, cancel.clone()) {
        tracing::info!(run_id, "client reconnected; replacing its previous session");
        old.cancel();
        // Wait until the old session has released its ports.
        tunnels.wait_released(&run_id, session).await;
    }
    let resp = LoginResp {
        version: FRP_VERSION.into(),
        run_id: run_id.clone(),
        ..Default::default()
    };
    if writer.write(&Message::LoginResp(resp)).await.is_err() {
        tunnels.registry.remove_control(&run_id, session);
        return Ended::Closed;
    }
    tracing::info!(%peer, run_id, version = login.version, os = login.os, arch = login.arch, "tunnel client logged in");
    let key = Key::derive(AUTH_TOKEN);
    reader.start_decrypting(&key);
    match Encryptor::new_random(&key) {
        Ok(e) => writer.encrypt(e),
        Err(_) => return Ended::Closed,
    }
    let (control_tx, mut control_rx) = mpsc::channel::<Message>(64);
    let pool_count = login.pool_count.clamp(1, MAX_POOL_COUNT) as usize;
    tunnels
        .pools
        .open(&run_id, session, control_tx.clone(), pool_count);
    let writer_task = tokio::spawn(async move {
        while let Some(msg) = control_rx.recv().await {
            if writer.write(&msg).await.is_err() {
                break;
            }
        }
    });
    for _ in 0..pool_count {
        let _ = control_tx
            .send(Message::ReqWorkConn(ReqWorkConn::default()))
            .await;
    }
    tokio::select! {
        _ = cancel.cancelled() => {}
        _ = state.shutdown.cancelled() => {}
        _ = control_loop(&state, &run_id, session, &mut reader, &control_tx) => {}
    }
    tunnels.pools.close(&run_id, session);
    tunnels.registry.release_session(session);
    tunnels.registry.remove_control(&run_id, session);
    writer_task.abort();
    tracing::info!(%peer, run_id, "tunnel client left");
    Ended::Closed
}

async fn control_loop(
    state: &Arc<State>,
    run_id: &str,
    session: u64,
    reader: &mut FrameReader<ReadHalf<Box<dyn Io>>>,
    control: &mpsc::Sender<Message>,
) {
    loop {
        let msg = match reader.read().await {
            Ok(Some(msg)) => msg,
            Ok(None) => return,
            Err(e) => {
                tracing::info!(run_id, error = %e, "tunnel control stream ended");
                return;
            }
        };
        let reply = match msg {
            Message::NewProxy(p) => Some(Message::NewProxyResp(
                new_proxy(state, run_id, session, p).await,
            )),
            Message::CloseProxy(c) => {
                // Only the client's own proxies: one ExApp must not close another's tunnel.
                if state.tunnels.registry.release_own(&c.proxy_name, session) {
                    tracing::info!(
                        run_id,
                        proxy = c.proxy_name,
                        "tunnel proxy closed by the client"
                    );
                } else {
                    tracing::warn!(
                        run_id,
                        proxy = c.proxy_name,
                        "CloseProxy for a proxy this client does not own; ignored"
                    );
                }
                None
            }
            Message::Ping(_) => Some(Message::Pong(Pong::default())),
            other => {
                tracing::debug!(
                    run_id,
                    kind = other.msg_type().name(),
                    "unexpected message on a control stream"
                );
                None
            }
        };
        if let Some(reply) = reply
            && control.send(reply).await.is_err()
        {
            return;
        }
    }
}

/// Registers a proxy and starts its listener.
async fn new_proxy(state: &Arc<State>, run_id: &str, session: u64, p: NewProxy) -> NewProxyResp {
    let name = p.proxy_name.clone();
    let refuse = |error: String| {
        tracing::warn!(run_id, proxy = name, error, "tunnel proxy refused");
        NewProxyResp {
            proxy_name: name.clone(),
            error,
            ..Default::default()
        }
    };
    if p.proxy_type != "tcp" {
        return refuse(format!(
            "proxy type [{}] is not supported by harp (only tcp)",
            p.proxy_type
        ));
    }
    if p.use_encryption || p.use_compression {
        return refuse(
            "transport.useEncryption and useCompression are not supported by harp".to_string(),
        );
    }
    let Ok(port) = u16::try_from(p.remote_port) else {
        return refuse("port not allowed".to_string());
    };
    let tunnels = &state.tunnels;
    let stop = state.shutdown.child_token();
    let stats = Arc::new(ProxyStats::default());
    let port =
        match tunnels
            .registry
            .reserve(run_id, session, &name, port, stop.clone(), stats.clone())
        {
            Ok(port) => port,
            Err(e) => return refuse(e.to_string()),
        };
    let listener = match crate::net::listener::bind(SocketAddr::from(([127, 0, 0, 1], port))) {
        Ok(l) => l,
        Err(e) => {
            tunnels.registry.release(&name);
            tracing::warn!(port, error = %e, "cannot listen for a tunnel proxy");
            return refuse("port unavailable".to_string());
        }
    };
    tokio::spawn(super::proxy::serve(
        listener,
        name.clone(),
        run_id.to_string(),
        tunnels.pools.clone(),
        stats,
        stop,
    ));
    tracing::info!(
        run_id,
        proxy = name,
        port,
        "tunnel proxy published on 127.0.0.1"
    );
    NewProxyResp {
        proxy_name: name,
        remote_addr: format!(":{port}"),
        ..Default::default()
    }
}
