//! The upstream side of the data plane (contract §3.4): pooled HTTP/1.1 connections to ExApps,
//! `HP_TIMEOUT_CONNECT` with HAProxy's `retries 3` (about 1 s apart), `HP_TIMEOUT_SERVER` for
//! the response head and for gaps in a streamed response, and HAProxy's 502/503/504 pages.

use super::counted::Counted;
use super::pool::{Driven, Pool, PooledBody};
use super::resolve::Resolver;
use crate::config::Timeouts;
use crate::http::body::{self, Body, BoxError};
use crate::http::streaming::IdleTimeout;
use crate::metrics::{Counter, Gauge};
use bytes::Bytes;
use http::{HeaderValue, Request, Response, Uri, header};
use http_body::Body as HttpBody;
use http_body_util::BodyExt;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpStream;
use tower_service::Service;

/// HAProxy's `retries 3`: the first attempt plus three more.
const CONNECT_RETRIES: u32 = 3;
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// A TCP connector that retries failed connects like HAProxy and counts open connections.
#[derive(Clone)]
pub struct RetryConnector {
    inner: HttpConnector,
    open: Arc<Gauge>,
}

impl Service<Uri> for RetryConnector {
    type Response = Counted<TokioIo<TcpStream>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let mut inner = self.inner.clone();
        let open = self.open.clone();
        Box::pin(async move {
            let mut attempt = 0;
            loop {
                match inner.call(uri.clone()).await {
                    Ok(conn) => return Ok(Counted::new(conn, open.hold())),
                    Err(e) if attempt >= CONNECT_RETRIES => return Err(e.into()),
                    Err(e) => {
                        tracing::debug!(%uri, attempt, error = %e, "connect to ExApp failed; retrying");
                        attempt += 1;
                        tokio::time::sleep(RETRY_PAUSE).await;
                    }
                }
            }
        })
    }
}

/// Whether a failed exchange failed because the client's request body stalled.
fn caused_by_client_body(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err
            .downcast_ref::<crate::http::streaming::BodyIdle>()
            .is_some()
        {
            return true;
        }
        source = err.source();
    }
    false
}

/// Whether an exchange on a reused connection failed because the peer had already closed
/// it: nothing of the response arrived.
fn stale_connection(e: &hyper::Error) -> bool {
    e.is_incomplete_message() || e.is_closed() || e.is_canceled()
}

/// Why an exchange with the ExApp failed.
enum Failure {
    /// No TCP connection (after HAProxy's retries).
    Connect(BoxError),
    /// The connection failed or the ExApp's answer was not HTTP.
    Exchange(hyper::Error),
}

/// What the ExApp side produced.
pub enum Forwarded {
    /// The ExApp answered (its status may trigger brute-force accounting).
    Upstream(Response<PooledBody>),
    /// harp answered on the ExApp's behalf (DNS failure, unreachable, timeout), and why.
    Local(ForwardError, Response<Body>),
}

/// Why a request was not forwarded or got no usable answer. The first four are the ExApp's
/// side (counted as upstream errors); the others are the client's or harp's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardError {
    Unresolved,
    Unreachable,
    Timeout,
    Invalid,
    ClientBody,
    BadUri,
}

impl ForwardError {
    /// The upstream errors, in the order of their counters.
    pub const UPSTREAM: [ForwardError; 4] = [
        ForwardError::Unresolved,
        ForwardError::Unreachable,
        ForwardError::Timeout,
        ForwardError::Invalid,
    ];

    /// The `kind` label of `harp_upstream_errors_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            ForwardError::Unresolved => "resolve",
            ForwardError::Unreachable => "connect",
            ForwardError::Timeout => "timeout",
            ForwardError::Invalid => "invalid",
            ForwardError::ClientBody => "client_body",
            ForwardError::BadUri => "bad_uri",
        }
    }
}

pub struct Upstream {
    connector: RetryConnector,
    pool: Arc<Pool>,
    pub resolver: Resolver,
    timeouts: Timeouts,
    /// Counters of `ForwardError::UPSTREAM`, by discriminant.
    errors: [Counter; ForwardError::UPSTREAM.len()],
    /// Connections to ExApps open now.
    open: Arc<Gauge>,
}

impl Upstream {
    pub fn new(timeouts: Timeouts) -> Self {
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(timeouts.connect));
        http.set_nodelay(true);
        let open = Arc::new(Gauge::default());
        Upstream {
            connector: RetryConnector {
                inner: http,
                open: open.clone(),
            },
            pool: Arc::default(),
            resolver: Resolver::default(),
            timeouts,
            errors: Default::default(),
            open,
        }
    }

    /// Connections to ExApps open now (pooled or busy).
    pub fn open_connections(&self) -> u64 {
        self.open.get()
    }

    /// How many requests failed with `kind` (0 for the non-upstream kinds).
    pub fn error_count(&self, kind: ForwardError) -> u64 {
        self.errors.get(kind as usize).map_or(0, Counter::get)
    }

    fn local(&self, kind: ForwardError, resp: Response<Body>) -> Forwarded {
        if let Some(c) = self.errors.get(kind as usize) {
            c.inc();
        }
        Forwarded::Local(kind, resp)
    }

    /// Sends `req` (whose URI holds only the path and query) to `host:port`.
    pub async fn send(
        &self,
        mut req: Request<Body>,
        host: &str,
        resolved: Option<IpAddr>,
        port: u16,
    ) -> Forwarded {
        let ip = match resolved {
            Some(ip) => ip,
            None => match self.resolver.resolve(host).await {
                Ok(ip) => ip,
                Err(e) => {
                    // HaRP answers 404 when the ExApp's host cannot be resolved (§3.1 step 11).
                    tracing::warn!(host, error = %e, "ExApp host cannot be resolved");
                    return self.local(ForwardError::Unresolved, body::not_found());
                }
            },
        };
        let addr = SocketAddr::new(ip, port);
        if !req.headers().contains_key(header::HOST)
            && let Ok(host) = HeaderValue::from_str(&addr.to_string())
        {
            req.headers_mut().insert(header::HOST, host);
        }
        *req.version_mut() = http::Version::HTTP_11;
        let upgrade = req.headers().contains_key(header::UPGRADE);
        // A request without a body can be sent again if a pooled connection turns out to have
        // been closed by the other side (e.g. its tunnel was replaced) before any answer came.
        let replay = req.body().is_end_stream().then(|| {
            let mut copy = Request::new(body::empty());
            *copy.method_mut() = req.method().clone();
            *copy.uri_mut() = req.uri().clone();
            *copy.version_mut() = req.version();
            *copy.headers_mut() = req.headers().clone();
            copy
        });
        let attempt = async {
            if upgrade {
                return self.exchange_upgrade(addr, req).await;
            }
            let pooled = self.pool.take(addr);
            let reused = pooled.is_some();
            let mut conn = match pooled {
                Some(conn) => conn,
                None => self.connect(addr).await?,
            };
            match (conn.send(req).await, replay) {
                (Ok(resp), _) => Ok((resp, Some(conn))),
                (Err(e), Some(again)) if reused && stale_connection(&e) => {
                    tracing::debug!(
                        host,
                        port,
                        "pooled ExApp connection was closed; sending again"
                    );
                    let mut fresh = self.connect(addr).await?;
                    let resp = fresh.send(again).await.map_err(Failure::Exchange)?;
                    Ok((resp, Some(fresh)))
                }
                (Err(e), _) => Err(Failure::Exchange(e)),
            }
        };
        match tokio::time::timeout(self.timeouts.server, attempt).await {
            Err(_) => {
                tracing::warn!(
                    host,
                    port,
                    "ExApp sent no response head within HP_TIMEOUT_SERVER"
                );
                self.local(ForwardError::Timeout, body::gateway_timeout())
            }
            Ok(Err(Failure::Connect(e))) => {
                self.resolver.forget(host);
                tracing::warn!(host, port, error = %crate::auth::nextcloud::error_chain(&*e), "ExApp unreachable");
                self.local(ForwardError::Unreachable, body::no_server())
            }
            Ok(Err(Failure::Exchange(e))) if caused_by_client_body(&e) => {
                tracing::info!(host, port, "client stopped sending its request body");
                self.local(ForwardError::ClientBody, body::request_timeout())
            }
            Ok(Err(Failure::Exchange(e))) => {
                tracing::warn!(host, port, error = %crate::auth::nextcloud::error_chain(&e), "ExApp response invalid");
                self.local(ForwardError::Invalid, body::bad_gateway())
            }
            Ok(Ok((resp, conn))) => {
                let (parts, incoming) = resp.into_parts();
                let body = PooledBody::new(incoming, conn, self.pool.clone(), addr);
                Forwarded::Upstream(Response::from_parts(parts, body))
            }
        }
    }

    /// A new connection to `addr` (HAProxy's retries), ready to send on.
    async fn connect(&self, addr: SocketAddr) -> Result<Driven, Failure> {
        Driven::handshake(self.open(addr).await?)
            .await
            .map_err(Failure::Exchange)
    }

    /// A TCP connection to `addr`, counted in the upstream gauge.
    async fn open(&self, addr: SocketAddr) -> Result<super::pool::Io, Failure> {
        let uri: Uri = format!("http://{addr}")
            .parse()
            .map_err(|e: http::uri::InvalidUri| Failure::Connect(e.into()))?;
        self.connector
            .clone()
            .call(uri)
            .await
            .map_err(Failure::Connect)
    }

    /// An upgrade (WebSocket) request: a connection of its own, driven by a task of its own so
    /// the upgrade completes after the `101` (the connection is never pooled).
    async fn exchange_upgrade(
        &self,
        addr: SocketAddr,
        req: Request<Body>,
    ) -> Result<(Response<hyper::body::Incoming>, Option<Driven>), Failure> {
        let io = self.open(addr).await?;
        let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
            .handshake::<_, Body>(io)
            .await
            .map_err(Failure::Exchange)?;
        tokio::spawn(async move {
            if let Err(e) = conn.with_upgrades().await {
                tracing::debug!(error = %e, "ExApp upgrade connection ended");
            }
        });
        let resp = sender.send_request(req).await.map_err(Failure::Exchange)?;
        Ok((resp, None))
    }

    /// Turns the ExApp's response into ours: body streamed with the server idle timeout,
    /// connection-level headers removed.
    pub fn relay<B>(&self, resp: Response<B>) -> Response<Body>
    where
        B: HttpBody<Data = Bytes> + Unpin + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let (mut parts, incoming) = resp.into_parts();
        super::headers::strip_hop_by_hop(&mut parts.headers, false);
        let body =
            IdleTimeout::new(incoming, self.timeouts.server, "ExApp response").boxed_unsync();
        Response::from_parts(parts, body)
    }
}
