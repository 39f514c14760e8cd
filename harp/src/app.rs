//! Start-up and the running instance: builds the shared `State`, binds every listener (so a
//! port in use is an error before anything runs), spawns the accept loops on one tracker,
//! and stops them all on shutdown.

use crate::config::Config;
use crate::net::{listener, tls};
use crate::state::State;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Why harp could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("HTTPS listener: {0}")]
    Tls(String),
    #[error("FRP certificates: {0}")]
    Certs(String),
}

/// A started harp: where it listens, and how to wait for it to stop.
pub struct Running {
    pub http_addr: SocketAddr,
    pub https_addr: Option<SocketAddr>,
    pub control_addr: SocketAddr,
    pub frp_addr: SocketAddr,
    pub state: Arc<State>,
    /// The HTTPS certificate, swapped by [`Running::reload`].
    https_cert: Option<Arc<tls::CertCell>>,
    tracker: TaskTracker,
}

/// How long in-flight connections may finish after shutdown starts.
pub const GRACE: Duration = Duration::from_secs(10);

impl Running {
    /// SIGHUP: re-reads the HTTPS certificate and the shared key file ([`crate::reload`]).
    pub fn reload(&self, env: &impl crate::config::Env) -> crate::reload::Report {
        crate::reload::reload(&self.state, self.https_cert.as_deref(), env)
    }

    /// Waits until every task has stopped (after `shutdown` fired), at most the grace period.
    pub async fn stopped(self) {
        self.tracker.close();
        let _ = tokio::time::timeout(GRACE, self.tracker.wait()).await;
    }
}

fn bind(what: &'static str, addr: SocketAddr) -> Result<tokio::net::TcpListener, StartError> {
    listener::bind(addr).map_err(|source| StartError::Bind { what, addr, source })
}

/// Starts every listener. Returns once they are bound and accepting.
pub async fn start(config: Config, shutdown: CancellationToken) -> Result<Running, StartError> {
    let cert_path = config.https_cert_path();
    let (tls, https_cert) = if cert_path.exists() {
        let (config, cell) = tls::https_server_config(&cert_path).map_err(StartError::Tls)?;
        (Some(config), Some(cell))
    } else {
        tracing::info!(path = %cert_path.display(), "no certificate; the HTTPS listener stays off");
        (None, None)
    };
    let http = bind("HP_EXAPPS_ADDRESS", config.exapps_address)?;
    let https = match &tls {
        Some(_) => Some(bind(
            "HP_EXAPPS_HTTPS_ADDRESS",
            config.exapps_https_address,
        )?),
        None => None,
    };
    let control = bind("HP_CONTROL_ADDRESS", config.control_address)?;
    crate::certs::ensure(
        &config.certs_dir,
        config.frp_disable_tls,
        config.frp_cert_validity_days,
    )
    .map_err(StartError::Certs)?;
    crate::certs::inventory::warn_expiring(&config.certs_dir);
    let frp_tls = if config.frp_disable_tls {
        let config = crate::tunnel::accept::throwaway_tls().map_err(StartError::Certs)?;
        crate::tunnel::accept::TlsMode::Optional(TlsAcceptor::from(config))
    } else {
        let paths = crate::certs::FrpCertPaths::new(&config.certs_dir);
        let config = crate::tunnel::accept::server_tls(&paths).map_err(StartError::Certs)?;
        crate::tunnel::accept::TlsMode::Required(TlsAcceptor::from(config))
    };
    let frp = bind("HP_FRP_ADDRESS", config.frp_address)?;
    let local = |l: &tokio::net::TcpListener, fallback| l.local_addr().unwrap_or(fallback);
    let http_addr = local(&http, config.exapps_address);
    let https_addr = https
        .as_ref()
        .map(|l| local(l, config.exapps_https_address));
    let control_addr = local(&control, config.control_address);
    let frp_addr = local(&frp, config.frp_address);

    let state = Arc::new(State::new(config, shutdown.clone()));
    let tracker = TaskTracker::new();

    {
        let (state, shutdown_c, conns) = (state.clone(), shutdown.clone(), tracker.clone());
        tracker.spawn(listener::accept_loop(
            http,
            shutdown.clone(),
            conns,
            state.client_gate.clone(),
            move |stream, peer, place| {
                crate::http::server::serve_connection(
                    stream,
                    peer,
                    false,
                    state.clone(),
                    shutdown_c.clone(),
                    place,
                )
            },
        ));
    }
    if let (Some(listener), Some(tls)) = (https, tls) {
        let acceptor = TlsAcceptor::from(tls);
        let (state, shutdown_c, conns) = (state.clone(), shutdown.clone(), tracker.clone());
        let handshake_timeout = state.config.timeouts.client;
        tracker.spawn(listener::accept_loop(
            listener,
            shutdown.clone(),
            conns,
            state.client_gate.clone(),
            move |stream, peer, place| {
                let (acceptor, state, shutdown) =
                    (acceptor.clone(), state.clone(), shutdown_c.clone());
                async move {
                    let tls = match tokio::time::timeout(handshake_timeout, acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(tls)) => tls,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    };
                    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                    crate::http::server::serve_connection(tls, peer, h2, state, shutdown, place)
                        .await
                }
            },
        ));
    }
    {
        let (state, conns) = (state.clone(), tracker.clone());
        tracker.spawn(listener::accept_loop(
            control,
            shutdown.clone(),
            conns,
            state.other_gate.clone(),
            move |stream, _peer, _place| crate::control_port::serve(stream, state.clone()),
        ));
    }
    {
        let (state, conns) = (state.clone(), tracker.clone());
        tracker.spawn(listener::accept_loop(
            frp,
            shutdown.clone(),
            conns,
            state.other_gate.clone(),
            move |stream, peer, _place| {
                crate::tunnel::serve_connection(state.clone(), stream, peer, frp_tls.clone())
            },
        ));
    }
    tracing::info!(frp = %frp_addr, tls = !state.config.frp_disable_tls, "tunnel server listening");
    let https_text = https_addr.map_or_else(|| "off".to_string(), |a| a.to_string());
    tracing::info!(http = %http_addr, https = %https_text, control = %control_addr, frp = %frp_addr, "harp is listening");
    Ok(Running {
        http_addr,
        https_addr,
        control_addr,
        frp_addr,
        state,
        https_cert,
        tracker,
    })
}
