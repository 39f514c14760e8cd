//! The encrypted control stream after login (frp-protocol.md §4, §5.2–5.4): one `NewProxy` per
//! proxy, re-sent 30 s after a refusal and 20 s after no answer (as frpc); a work connection for
//! each `ReqWorkConn`; frp-level Ping when heartbeats are on. Runs until the session is lost.

use super::session::{Reader, Writer};
use super::work::{self, Opener};
use super::{ProxyStatus, Shared};
use frp_wire::{Message, NewProxy, Ping};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// frpc re-sends a refused `NewProxy` after this (`startErrTimeout`)…
const RETRY_REFUSED: Duration = Duration::from_secs(30);
/// …and one that got no answer after this (`waitResponseTimeout`).
const RETRY_UNANSWERED: Duration = Duration::from_secs(20);

/// Where each proxy stands with this session.
enum Sent {
    /// NewProxy sent at this time, no answer yet.
    Waiting(Instant),
    Published,
    Refused(Instant),
}

pub(super) struct Control<'a> {
    pub(super) shared: &'a Arc<Shared>,
    pub(super) opener: Opener,
    pub(super) run_id: String,
    pub(super) done: CancellationToken,
    pub(super) reader: Reader,
    pub(super) writer: Writer,
}

impl Control<'_> {
    /// The encrypted control stream, until the session is lost; returns why.
    pub(super) async fn run(mut self) -> String {
        let config = &self.shared.config;
        let mut sent: Vec<Sent> = Vec::new();
        for i in 0..config.proxies.len() {
            if let Err(e) = self.new_proxy(i).await {
                return e;
            }
            sent.push(Sent::Waiting(Instant::now()));
        }
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let (mut last_ping, mut last_pong) = (Instant::now(), Instant::now());
        loop {
            let msg = tokio::select! {
                _ = self.done.cancelled() => return "the connection to the server was lost".into(),
                msg = self.reader.read() => msg,
                _ = tick.tick() => {
                    let now = Instant::now();
                    for (i, s) in sent.iter_mut().enumerate() {
                        let due = match s {
                            Sent::Waiting(at) => now - *at >= RETRY_UNANSWERED,
                            Sent::Refused(at) => now - *at >= RETRY_REFUSED,
                            Sent::Published => false,
                        };
                        if due {
                            if let Err(e) = self.new_proxy(i).await {
                                return e;
                            }
                            *s = Sent::Waiting(now);
                        }
                    }
                    if let Some(timeout) = config.heartbeat_timeout
                        && now - last_pong > timeout
                    {
                        return "no Pong from the server within transport.heartbeatTimeout".into();
                    }
                    if let Some(interval) = config.heartbeat_interval
                        && now - last_ping >= interval
                    {
                        last_ping = now;
                        if let Err(e) = self.ping().await {
                            return e;
                        }
                    }
                    continue;
                }
            };
            let msg = match msg {
                Ok(Some(msg)) => msg,
                Ok(None) => return "the server closed the control stream".into(),
                Err(e) => return format!("control stream error: {e}"),
            };
            match msg {
                Message::ReqWorkConn(_) => {
                    tokio::spawn(work::serve(
                        self.shared.clone(),
                        self.opener.clone(),
                        self.run_id.clone(),
                        self.done.clone(),
                    ));
                }
                Message::NewProxyResp(resp) => {
                    let Some(i) = config
                        .proxies
                        .iter()
                        .position(|p| config.wire_name(p) == resp.proxy_name)
                    else {
                        continue;
                    };
                    let name = config.proxies[i].name.clone();
                    let status = if resp.error.is_empty() {
                        tracing::info!(
                            proxy = name,
                            remote_addr = resp.remote_addr,
                            "proxy published"
                        );
                        sent[i] = Sent::Published;
                        ProxyStatus::Published {
                            remote_addr: resp.remote_addr,
                        }
                    } else {
                        tracing::warn!(
                            proxy = name,
                            error = resp.error,
                            "proxy refused by the server; retrying in 30 s"
                        );
                        sent[i] = Sent::Refused(Instant::now());
                        ProxyStatus::Refused { error: resp.error }
                    };
                    self.shared.status.send_modify(|s| {
                        s.proxies.insert(name, status);
                    });
                }
                Message::Pong(pong) => {
                    if !pong.error.is_empty() {
                        return format!("the server answered Ping with an error: {}", pong.error);
                    }
                    last_pong = Instant::now();
                    self.shared.status.send_modify(|s| s.pongs += 1);
                }
                other => {
                    tracing::debug!(
                        kind = other.msg_type().name(),
                        "unexpected message on the control stream; ignored"
                    );
                }
            }
        }
    }

    async fn new_proxy(&mut self, i: usize) -> Result<(), String> {
        let config = &self.shared.config;
        let p = &config.proxies[i];
        let msg = NewProxy {
            proxy_name: config.wire_name(p),
            proxy_type: "tcp".into(),
            remote_port: i64::from(p.remote_port),
            metas: p.metadatas.clone(),
            annotations: p.annotations.clone(),
            ..Default::default()
        };
        self.writer
            .write(&Message::NewProxy(msg))
            .await
            .map_err(|e| format!("cannot send NewProxy: {e}"))
    }

    async fn ping(&mut self) -> Result<(), String> {
        let config = &self.shared.config;
        let mut ping = Ping::default();
        if config.auth_heartbeats {
            ping.timestamp = super::unix_now();
            ping.privilege_key = frp_wire::privilege_key(&config.auth_token, ping.timestamp);
        }
        self.writer
            .write(&Message::Ping(ping))
            .await
            .map_err(|e| format!("cannot send Ping: {e}"))
    }
}
