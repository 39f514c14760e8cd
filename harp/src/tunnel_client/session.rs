//! One login session with the server (frp-protocol.md §3, §4, §5.1): connect, a yamux client
//! session (frp's 6 MiB window, keepalive), the control stream with `Login` and `LoginResp` in
//! clear text (read exactly: the server's IV may follow in the same frame), then the switch to
//! the encrypted control stream, which `control` runs until the connection is lost.

use super::control::Control;
use super::work::Opener;
use super::{ProxyStatus, Shared};
use crate::tunnel::framed::{FrameReader, FrameWriter};
use crate::tunnel::pool::Io;
use frp_wire::{Encryptor, Key, Login, Message};
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{ReadHalf, WriteHalf};
use tokio_util::sync::CancellationToken;

/// The frp version this client reports (frps only logs it).
pub const FRP_VERSION: &str = "0.65.0";
/// frpc's deadline for `LoginResp`.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) type Reader = FrameReader<ReadHalf<Box<dyn Io>>>;
pub(super) type Writer = FrameWriter<WriteHalf<Box<dyn Io>>>;

/// Go's `GOARCH` for this machine, as frpc reports it.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64",
        other => other,
    }
}

/// Runs one session. `Err` when it never logged in (the reason); `Ok` once a logged-in
/// session is over (the reason it ended).
pub(super) async fn run(shared: &Arc<Shared>) -> Result<String, String> {
    let config = &shared.config;
    let conn = shared.dialer.connect().await.map_err(|e| {
        format!(
            "cannot connect to {}:{}: {e}",
            config.server_addr, config.server_port
        )
    })?;
    let done = CancellationToken::new();
    let _end_session = done.clone().drop_guard();
    let (opener, control): (Opener, Box<dyn Io>) = if config.tcp_mux {
        let mux = tokio_yamux::Config {
            max_stream_window_size: frp_wire::yamux::FRP_MAX_WINDOW,
            keepalive_interval: config.tcp_mux_keepalive,
            enable_keepalive: true,
            ..Default::default()
        };
        let session = tokio_yamux::Session::new_client(conn, mux);
        let mut control = session.control();
        tokio::spawn(drive(session, done.clone()));
        let stream = control
            .open_stream()
            .await
            .map_err(|e| format!("cannot open the control stream: {e}"))?;
        (Opener::Mux(control), Box::new(stream))
    } else {
        (Opener::Direct(shared.clone()), conn)
    };
    let (read, write) = tokio::io::split(control);
    let (mut reader, mut writer) = (FrameReader::new(read), FrameWriter::new(write));
    let run_id = tokio::select! {
        _ = done.cancelled() => return Err("the connection closed during login".into()),
        r = login(shared, &mut reader, &mut writer) => r?,
    };
    let key = Key::derive(&config.auth_token);
    reader.start_decrypting(&key);
    writer.encrypt(Encryptor::new_random(&key).map_err(|e| e.to_string())?);
    shared.status.send_modify(|s| {
        s.connected = true;
        s.logins += 1;
        s.run_id = Some(run_id.clone());
        s.last_error = None;
    });
    let ended = Control {
        shared,
        opener,
        run_id,
        done: done.clone(),
        reader,
        writer,
    }
    .run()
    .await;
    shared.status.send_modify(|s| {
        s.connected = false;
        for p in s.proxies.values_mut() {
            *p = ProxyStatus::Pending;
        }
    });
    Ok(ended)
}

/// Polls the yamux session (pings, window updates, frames) until it ends or `done` fires.
async fn drive(mut session: tokio_yamux::Session<Box<dyn Io>>, done: CancellationToken) {
    loop {
        tokio::select! {
            _ = done.cancelled() => break,
            next = session.next() => match next {
                // frps never opens streams; refuse any by dropping it.
                Some(Ok(_stream)) => {}
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "tunnel session error");
                    break;
                }
                None => break,
            },
        }
    }
    done.cancel();
}

async fn login(
    shared: &Shared,
    reader: &mut Reader,
    writer: &mut Writer,
) -> Result<String, String> {
    let config = &shared.config;
    let previous = shared.status.borrow().run_id.clone();
    let timestamp = super::unix_now();
    let login = Login {
        version: FRP_VERSION.into(),
        os: std::env::consts::OS.into(),
        arch: go_arch().into(),
        user: config.user.clone(),
        privilege_key: frp_wire::privilege_key(&config.auth_token, timestamp),
        timestamp,
        run_id: previous.unwrap_or_default(),
        metas: config.metadatas.clone(),
        pool_count: config.pool_count,
        ..Default::default()
    };
    writer
        .write(&Message::Login(login))
        .await
        .map_err(|e| format!("cannot send Login: {e}"))?;
    let resp = match tokio::time::timeout(LOGIN_TIMEOUT, reader.read()).await {
        Err(_) => return Err("no answer to Login within 10 s".into()),
        Ok(Err(e)) => return Err(format!("reading LoginResp: {e}")),
        Ok(Ok(None)) => return Err("the server closed the connection during login".into()),
        Ok(Ok(Some(Message::LoginResp(resp)))) => resp,
        Ok(Ok(Some(other))) => {
            return Err(format!("{} instead of LoginResp", other.msg_type().name()));
        }
    };
    if !resp.error.is_empty() {
        return Err(resp.error);
    }
    if resp.run_id.is_empty() {
        return Err("LoginResp without a run id".into());
    }
    tracing::info!(
        run_id = resp.run_id,
        server_version = resp.version,
        "logged in to the tunnel server"
    );
    Ok(resp.run_id)
}
