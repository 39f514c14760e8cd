//! The upstream side of the data plane (contract §3.4): pooled HTTP/1.1 connections to ExApps,
//! `HP_TIMEOUT_CONNECT` with HAProxy's `retries 3` (about 1 s apart), `HP_TIMEOUT_SERVER` for
//! the response head and for gaps in a streamed response, and HAProxy's 502/503/504 pages.

use super::counted::Counted;
use super::resolve::Resolver;
use crate::config::Timeouts;
use crate::http::body::{self, Body, BoxError};
use crate::http::streaming::IdleTimeout;
use crate::metrics::{Counter, Gauge};
use http::{Request, Response, Uri};
use http_body::Body as _;
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
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

/// Whether an exchange failed because a reused connection was already closed by the peer:
/// nothing of the response arrived.
fn stale_connection(e: &hyper_util::client::legacy::Error) -> bool {
    if e.is_connect() {
        return false;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(err) = source {
        if let Some(h) = err.downcast_ref::<hyper::Error>() {
            return h.is_incomplete_message() || h.is_closed() || h.is_canceled();
        }
        source = err.source();
    }
    false
}

/// What the ExApp side produced.
pub enum Forwarded {
    /// The ExApp answered (its status may trigger brute-force accounting).
    Upstream(Response<hyper::body::Incoming>),
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
    client: Client<RetryConnector, Body>,
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
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(512)
            .build(RetryConnector {
                inner: http,
                open: open.clone(),
            });
        Upstream {
            client,
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
        let authority = SocketAddr::new(ip, port).to_string();
        let path = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let uri = match format!("http://{authority}{path}").parse::<Uri>() {
            Ok(u) => u,
            Err(_) => return self.local(ForwardError::BadUri, body::harp_unavailable()),
        };
        *req.uri_mut() = uri;
        *req.version_mut() = http::Version::HTTP_11;
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
            match (self.client.request(req).await, replay) {
                (Err(e), Some(again)) if stale_connection(&e) => {
                    tracing::debug!(
                        host,
                        port,
                        "pooled ExApp connection was closed; sending again"
                    );
                    self.client.request(again).await
                }
                (result, _) => result,
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
            Ok(Err(e)) if e.is_connect() => {
                self.resolver.forget(host);
                tracing::warn!(host, port, error = %crate::auth::nextcloud::error_chain(&e), "ExApp unreachable");
                self.local(ForwardError::Unreachable, body::no_server())
            }
            Ok(Err(e)) if caused_by_client_body(&e) => {
                tracing::info!(host, port, "client stopped sending its request body");
                self.local(ForwardError::ClientBody, body::request_timeout())
            }
            Ok(Err(e)) => {
                tracing::warn!(host, port, error = %crate::auth::nextcloud::error_chain(&e), "ExApp response invalid");
                self.local(ForwardError::Invalid, body::bad_gateway())
            }
            Ok(Ok(resp)) => Forwarded::Upstream(resp),
        }
    }

    /// Turns the ExApp's response into ours: body streamed with the server idle timeout,
    /// connection-level headers removed.
    pub fn relay(&self, resp: Response<hyper::body::Incoming>) -> Response<Body> {
        let (mut parts, incoming) = resp.into_parts();
        super::headers::strip_hop_by_hop(&mut parts.headers, false);
        let body =
            IdleTimeout::new(incoming, self.timeouts.server, "ExApp response").boxed_unsync();
        Response::from_parts(parts, body)
    }
}
