//! `harp tunnel -c frpc.toml`: an frpc-compatible tunnel client, so ExApp images can drop the Go
//! binary. It reads HaRP's `frpc.toml` shapes, logs in to harp's tunnel server or to a real frps,
//! publishes `tcp` proxies to a local port or a unix socket, and keeps the session up,
//! reconnecting with backoff and its old run id, as frpc does (frp-protocol.md §5.5).
//!
//! - [`config`]: `frpc.toml` parsing and checks;
//! - `fields`: the TOML table walker behind it;
//! - `dial`: TCP and TLS to the server;
//! - `session`: connecting and logging in;
//! - `control`: the encrypted control stream: proxies, work requests, heartbeats;
//! - `work`: work connections and the relay to the local target;
//! - this file: the public API, [`Status`], and the reconnect loop.

pub mod config;
mod control;
mod dial;
mod fields;
mod session;
mod work;

pub use config::{ClientConfig, ConfigError, Loaded, ProxyConfig, Target, load, parse};
pub use session::FRP_VERSION;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Why the client stopped with an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The TLS files could not be used (exit 64, like a bad configuration file).
    #[error("configuration: {0}")]
    Config(String),
    /// The first login failed and `loginFailExit` is on (frp's default).
    #[error(
        "login to the server failed: {0}. With loginFailExit enabled, no additional retries will be attempted"
    )]
    LoginFailed(String),
}

/// What the client is doing, for callers that wait on it (tests, health checks).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// Logged in right now.
    pub connected: bool,
    /// The run id the server gave (kept across reconnects, sent in every later Login).
    pub run_id: Option<String>,
    /// Successful logins so far.
    pub logins: u64,
    /// Attempts that failed before logging in (connect, TLS or a refused Login).
    pub failures: u64,
    /// frp-level Pongs received (heartbeats are off with tcpMux, frp's default).
    pub pongs: u64,
    /// Why the last attempt or session failed.
    pub last_error: Option<String>,
    /// Each configured proxy by name.
    pub proxies: BTreeMap<String, ProxyStatus>,
}

/// One proxy, as the server last answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyStatus {
    /// Not logged in, or NewProxy sent and not answered yet.
    Pending,
    /// Listening on the server (`remote_addr` as the server put it, e.g. `":23000"`).
    Published { remote_addr: String },
    /// Refused; re-sent every 30 s.
    Refused { error: String },
}

/// What the session tasks share.
struct Shared {
    config: ClientConfig,
    dialer: dial::Dialer,
    status: watch::Sender<Status>,
}

/// A running client.
pub struct TunnelClient {
    status: watch::Receiver<Status>,
    task: JoinHandle<Result<(), ClientError>>,
}

impl TunnelClient {
    /// Starts the client; it runs until `shutdown` fires or, with `loginFailExit`, the first
    /// login fails. Fails at once if the TLS files cannot be used.
    pub fn start(config: ClientConfig, shutdown: CancellationToken) -> Result<Self, ClientError> {
        let dialer = dial::Dialer::new(&config).map_err(ClientError::Config)?;
        let proxies = config
            .proxies
            .iter()
            .map(|p| (p.name.clone(), ProxyStatus::Pending))
            .collect();
        let (tx, status) = watch::channel(Status {
            proxies,
            ..Status::default()
        });
        let shared = Arc::new(Shared {
            config,
            dialer,
            status: tx,
        });
        let task = tokio::spawn(supervise(shared, shutdown));
        Ok(TunnelClient { status, task })
    }

    /// The live status.
    pub fn status(&self) -> watch::Receiver<Status> {
        self.status.clone()
    }

    /// Waits (at most `timeout`) until `ready` holds for the status; returns whether it did.
    pub async fn wait_until(&self, timeout: Duration, ready: impl FnMut(&Status) -> bool) -> bool {
        let mut status = self.status.clone();
        tokio::time::timeout(timeout, status.wait_for(ready))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Waits until the client stops.
    pub async fn finished(self) -> Result<(), ClientError> {
        self.task
            .await
            .unwrap_or_else(|e| Err(ClientError::LoginFailed(format!("client task failed: {e}"))))
    }
}

/// Runs a client until `shutdown` fires (or the first login fails with `loginFailExit`).
pub async fn run(config: ClientConfig, shutdown: CancellationToken) -> Result<(), ClientError> {
    TunnelClient::start(config, shutdown)?.finished().await
}

/// Seconds since the Unix epoch, for `timestamp` fields.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Exponential backoff from 1 s, doubling up to a cap, with up to 10 % jitter (frpc's).
struct Backoff {
    next: Duration,
    cap: Duration,
}

impl Backoff {
    fn new(cap: Duration) -> Self {
        Backoff {
            next: Duration::from_secs(1),
            cap,
        }
    }

    fn step(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(self.cap);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        base + base.mul_f64(f64::from(nanos % 1000) / 10_000.0)
    }
}

/// Logs in, keeps the session up, logs in again after a loss (frp-protocol.md §5.5): before the
/// first success, failures back off 1 s ×2 up to 10 s (or stop the client with
/// `loginFailExit`); after a loss it reconnects at once, then backs off 1 s ×2 up to 20 s. Sessions
/// that keep dying right after login are spaced out the same way after the third in a minute.
async fn supervise(shared: Arc<Shared>, shutdown: CancellationToken) -> Result<(), ClientError> {
    let config = &shared.config;
    let target = format!("{}:{}", config.server_addr, config.server_port);
    let mut backoff = Backoff::new(Duration::from_secs(10));
    let mut logged_in_once = false;
    let mut losses: VecDeque<Instant> = VecDeque::new();
    loop {
        tracing::info!(server = target, "connecting to the tunnel server");
        let attempt = tokio::select! {
            _ = shutdown.cancelled() => break,
            attempt = session::run(&shared) => attempt,
        };
        let delay = match attempt {
            Err(reason) => {
                tracing::warn!(
                    server = target,
                    error = reason,
                    "login to the tunnel server failed"
                );
                shared.status.send_modify(|s| {
                    s.failures += 1;
                    s.last_error = Some(reason.clone());
                });
                if !logged_in_once && config.login_fail_exit {
                    return Err(ClientError::LoginFailed(reason));
                }
                backoff.step()
            }
            Ok(reason) => {
                tracing::warn!(server = target, reason, "tunnel session lost; reconnecting");
                shared
                    .status
                    .send_modify(|s| s.last_error = Some(reason.clone()));
                if !logged_in_once {
                    logged_in_once = true;
                    backoff = Backoff::new(Duration::from_secs(20));
                }
                let now = Instant::now();
                losses.retain(|&t| now - t < Duration::from_secs(60));
                losses.push_back(now);
                if losses.len() > 3 {
                    backoff.step()
                } else {
                    backoff = Backoff::new(Duration::from_secs(20));
                    Duration::ZERO
                }
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(delay) => {}
        }
    }
    tracing::info!("tunnel client stopped");
    Ok(())
}
