//! Serving one client connection: HTTP/1.1 (with upgrades) or HTTP/2 (chosen by ALPN on the
//! HTTPS listener), each request handed to the data plane, counted in the metrics and logged
//! (one `info` line on target `harp::access`), the silent drop carried out, and a graceful
//! close on shutdown.

use super::body::Body;
use super::streaming::OnDone;
use crate::net::conn::{ClientIo, ConnCtl, Linger};
use crate::net::gate::Admitted;
use crate::proxy::{self, ConnInfo, Decision, Outcome, Seen};
use crate::state::State;
use http::{Method, Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;

/// Request heads larger than this get `431` (decision D10).
pub const MAX_HEAD: usize = 16 * 1024;

/// The request was dropped on purpose; hyper only needs an error to stop.
#[derive(Debug, thiserror::Error)]
#[error("request dropped without a response")]
struct SilentDrop;

/// Serves `io` until the client leaves, the connection is dropped, or shutdown completes.
pub async fn serve_connection<T>(
    io: T,
    peer: SocketAddr,
    http2: bool,
    state: Arc<State>,
    shutdown: CancellationToken,
    place: Admitted,
) where
    T: AsyncRead + AsyncWrite + Linger + Unpin + Send + 'static,
{
    let ctl = ConnCtl::new(http2, place);
    let io = TokioIo::new(ClientIo::new(io, ctl.clone(), state.config.timeouts.client));
    let info = Arc::new(ConnInfo {
        peer,
        ctl: ctl.clone(),
    });
    let service = service_fn(move |req: Request<Incoming>| {
        let (state, info) = (state.clone(), info.clone());
        async move {
            info.ctl.request_started();
            let start = Instant::now();
            let line = AccessLine::capture(&req);
            let mut seen = Seen::default();
            let (outcome, decision) = proxy::handle(&state, req, &info, &mut seen).await;
            let status = match &outcome {
                Outcome::Respond(resp) => Some(resp.status().as_u16()),
                Outcome::Drop => None,
            };
            let elapsed = start.elapsed();
            state
                .metrics
                .record(seen.app.as_deref(), decision, status, elapsed);
            if let Some(line) = line {
                let ip = seen.client_ip.unwrap_or(info.peer.ip());
                line.log(ip, decision, status, elapsed);
            }
            let done_ctl = info.ctl.clone();
            match outcome {
                Outcome::Respond(resp) => {
                    let (parts, body) = resp.into_parts();
                    let body = OnDone::new(body, move || done_ctl.request_finished());
                    Ok::<Response<Body>, SilentDrop>(Response::from_parts(
                        parts,
                        body.boxed_unsync(),
                    ))
                }
                Outcome::Drop => {
                    info.ctl.request_finished();
                    info.ctl.silent_drop();
                    Err(SilentDrop)
                }
            }
        }
    });
    if http2 {
        let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        builder
            .timer(TokioTimer::new())
            .max_header_list_size(MAX_HEAD as u32);
        let conn = builder.serve_connection(io, service);
        tokio::pin!(conn);
        tokio::select! {
            res = conn.as_mut() => log_end(res, peer),
            _ = ctl.dropped() => {}
            _ = shutdown.cancelled() => {
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
            }
        }
    } else {
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(None)
            .max_header_size(MAX_HEAD)
            // The 16 KiB limit decides, not a header count.
            .max_headers(1000)
            .max_buf_size(MAX_HEAD.max(8192) * 4);
        let conn = builder.serve_connection(io, service).with_upgrades();
        tokio::pin!(conn);
        tokio::select! {
            res = conn.as_mut() => log_end(res, peer),
            _ = ctl.dropped() => {}
            _ = shutdown.cancelled() => {
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
            }
        }
    }
}

/// What the per-request log line needs from the request, taken only when the line is
/// enabled (so requests cost no allocation for it otherwise).
struct AccessLine {
    method: Method,
    /// Without the query string, which may carry anything.
    path: String,
}

impl AccessLine {
    fn capture<B>(req: &Request<B>) -> Option<Self> {
        tracing::enabled!(target: "harp::access", tracing::Level::INFO).then(|| AccessLine {
            method: req.method().clone(),
            path: req.uri().path().to_owned(),
        })
    }

    fn log(self, ip: std::net::IpAddr, decision: Decision, status: Option<u16>, elapsed: Duration) {
        let appid = proxy::path::split_appid(&self.path).map_or("", |(a, _)| a);
        tracing::info!(
            target: "harp::access",
            method = %self.method,
            path = self.path,
            appid,
            client_ip = %ip,
            status = %StatusField(status),
            decision = decision.as_str(),
            outcome = decision.outcome().as_str(),
            duration_ms = elapsed.as_micros() as f64 / 1000.0,
            "request"
        );
    }
}

/// The status code, or `dropped` for the silent drop.
struct StatusField(Option<u16>);

impl std::fmt::Display for StatusField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(code) => write!(f, "{code}"),
            None => f.write_str("dropped"),
        }
    }
}

fn log_end(res: Result<(), hyper::Error>, peer: SocketAddr) {
    if let Err(e) = res {
        tracing::debug!(%peer, error = %e, "client connection ended with an error");
    }
}
