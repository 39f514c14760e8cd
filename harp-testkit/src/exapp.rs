//! A stand-in ExApp backend: it answers every path with a JSON echo of what it received
//! (method, path, query, headers), so tests can see exactly what harp forwarded, plus:
//! - `?status=N` on any echo path: answer with that status;
//! - `/sse?n=N&interval_ms=M`: N server-sent events, M ms apart;
//! - `/download?bytes=N[&interval_ms=M]`: N bytes generated on the fly, in 64 KiB chunks (M ms
//!   apart: a slow download);
//! - `/upload` (any method with a body): reads the body as it streams, answers `{"bytes": n}`;
//! - `/slow?ms=N`: waits N ms before answering;
//! - `/ws`: a WebSocket that echoes text as `Echo: <text>` and binary frames unchanged.
//!
//! Faults on demand ([`FakeExApp::set_fault`]): no response head, a body that stops, a body
//! cut short; and [`FakeExApp::go_down`] / [`FakeExApp::come_back`] (connections refused).

use crate::channel_body::ChannelBody;
use crate::history::History;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value, json};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;

type Body = BoxBody<Bytes, Infallible>;

/// How every request is (mis)answered while a fault is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExAppFault {
    /// The request is read and never answered.
    StallHead,
    /// `200` with `content-length: 1048576`, 64 KiB of it, then nothing more (the connection
    /// stays open).
    StallBody,
    /// `200` with `content-length: 1048576`, 64 KiB of it, then the connection is reset
    /// (an RST). Open connections are cut when this fault is set, so every request meets it.
    ResetMidBody,
}

/// What one fault response announces and what it sends before stalling or cutting.
pub const FAULT_ANNOUNCED: u64 = 1 << 20;
pub const FAULT_SENT: usize = 64 * 1024;

type FaultSwitch = Arc<Mutex<Option<ExAppFault>>>;

/// A running stand-in ExApp. Dropping it stops the server.
pub struct FakeExApp {
    pub addr: SocketAddr,
    seen: Arc<Mutex<History<Value>>>,
    fault: FaultSwitch,
    server: Option<Arc<crate::Server>>,
    unix_task: Option<JoinHandle<()>>,
}

impl Drop for FakeExApp {
    fn drop(&mut self) {
        if let Some(task) = &self.unix_task {
            task.abort();
        }
    }
}

impl FakeExApp {
    pub async fn start() -> std::io::Result<Self> {
        Ok(Self::serve(TcpListener::bind("127.0.0.1:0").await?))
    }

    pub fn serve(listener: TcpListener) -> Self {
        let seen = Arc::new(Mutex::new(History::new()));
        let fault = FaultSwitch::default();
        let (s, f) = (seen.clone(), fault.clone());
        let server = crate::Server::new(listener, move |listener| {
            let (s, f) = (s.clone(), f.clone());
            crate::accept_forever(listener, move |stream| {
                serve_one(s.clone(), f.clone(), stream, |s: &TcpStream| {
                    let _ = s.set_zero_linger();
                })
            })
        });
        FakeExApp {
            addr: server.addr(),
            seen,
            fault,
            server: Some(server),
            unix_task: None,
        }
    }

    /// Answers every request with `fault` from now on, or normally again (`None`).
    pub async fn set_fault(&self, fault: Option<ExAppFault>) -> std::io::Result<()> {
        *self.fault.lock().unwrap_or_else(|p| p.into_inner()) = fault;
        if fault == Some(ExAppFault::ResetMidBody)
            && let Some(server) = &self.server
        {
            // The reset is done below HTTP, per connection: cut the ones already open.
            server.go_down().await;
            server.come_back().await?;
        }
        Ok(())
    }

    /// The ExApp is down: connections are refused and open ones cut (TCP only).
    pub async fn go_down(&self) {
        if let Some(server) = &self.server {
            server.go_down().await
        }
    }

    /// The ExApp listens again on the same port.
    pub async fn come_back(&self) -> std::io::Result<()> {
        match &self.server {
            Some(server) => server.come_back().await,
            None => Ok(()),
        }
    }

    /// Serves on a unix socket at `path`, as ExApps behind frpc's `unix_domain_socket` plugin do
    /// (`addr` is then meaningless).
    pub fn start_unix(path: &std::path::Path) -> std::io::Result<Self> {
        let listener = tokio::net::UnixListener::bind(path)?;
        let seen = Arc::new(Mutex::new(History::new()));
        let fault = FaultSwitch::default();
        let (s, f) = (seen.clone(), fault.clone());
        let task = crate::accept_forever_unix(listener, move |stream| {
            serve_one(
                s.clone(),
                f.clone(),
                stream,
                |_: &tokio::net::UnixStream| {},
            )
        });
        Ok(FakeExApp {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            seen,
            fault,
            server: None,
            unix_task: Some(task),
        })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The echo of every request received so far (the same JSON the client got).
    pub fn seen(&self) -> Vec<Value> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).items()
    }

    pub fn request_count(&self) -> usize {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).total()
    }
}

async fn serve_one<S>(
    seen: Arc<Mutex<History<Value>>>,
    fault: FaultSwitch,
    stream: S,
    reset: fn(&S),
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    if *fault.lock().unwrap_or_else(|p| p.into_inner()) == Some(ExAppFault::ResetMidBody) {
        return reset_mid_body(stream, reset).await;
    }
    let service = service_fn(move |req| {
        let (seen, fault) = (seen.clone(), fault.clone());
        async move {
            let fault = *fault.lock().unwrap_or_else(|p| p.into_inner());
            match fault {
                Some(f) => Ok::<_, Infallible>(faulty(f).await),
                None => Ok(handle(seen, req).await),
            }
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades()
        .await;
}

fn full(status: StatusCode, content_type: &'static str, data: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(data.into()).boxed());
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn param(query: &str, name: &str) -> Option<u64> {
    query
        .split('&')
        .find_map(|p| {
            p.split_once('=')
                .filter(|(k, _)| *k == name)
                .map(|(_, v)| v)
        })
        .and_then(|v| v.parse().ok())
}

fn streamed(content_type: &'static str, rx: mpsc::Receiver<Bytes>) -> Response<Body> {
    let mut r = Response::new(ChannelBody(rx).boxed());
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

async fn handle(seen: Arc<Mutex<History<Value>>>, mut req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let mut headers = Map::new();
    for (name, value) in req.headers() {
        headers.insert(
            name.to_string(),
            Value::String(String::from_utf8_lossy(value.as_bytes()).into_owned()),
        );
    }
    let echo =
        json!({"method": req.method().as_str(), "path": path, "query": query, "headers": headers});
    seen.lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(echo.clone());
    match path.as_str() {
        "/ws" => websocket(&mut req),
        "/sse" => {
            let n = param(&query, "n").unwrap_or(3);
            let interval = Duration::from_millis(param(&query, "interval_ms").unwrap_or(100));
            let (tx, rx) = mpsc::channel(4);
            tokio::spawn(async move {
                for i in 0..n {
                    if i > 0 {
                        tokio::time::sleep(interval).await;
                    }
                    if tx
                        .send(Bytes::from(format!("data: event {i}\n\n")))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            });
            let mut r = streamed("text/event-stream", rx);
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            r
        }
        "/download" => {
            let total = param(&query, "bytes").unwrap_or(1 << 20);
            // `interval_ms`: a pause before each 64 KiB chunk after the first (a slow download).
            let interval = param(&query, "interval_ms").map(Duration::from_millis);
            let (tx, rx) = mpsc::channel(8);
            tokio::spawn(async move {
                let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
                let mut left = total;
                while left > 0 {
                    if let Some(pause) = interval.filter(|_| left < total) {
                        tokio::time::sleep(pause).await;
                    }
                    let n = left.min(chunk.len() as u64) as usize;
                    if tx.send(chunk.slice(..n)).await.is_err() {
                        return;
                    }
                    left -= n as u64;
                }
            });
            let mut r = streamed("application/octet-stream", rx);
            r.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(total));
            r
        }
        "/upload" => {
            let mut body = req.into_body();
            let mut bytes: u64 = 0;
            while let Some(frame) = body.frame().await {
                match frame {
                    Ok(f) => bytes += f.data_ref().map_or(0, |d| d.len() as u64),
                    Err(_) => return full(StatusCode::BAD_REQUEST, "text/plain", "body broken"),
                }
            }
            full(
                StatusCode::OK,
                "application/json",
                json!({"bytes": bytes}).to_string(),
            )
        }
        _ => {
            if path == "/slow" {
                tokio::time::sleep(Duration::from_millis(param(&query, "ms").unwrap_or(1000)))
                    .await;
            }
            let status = param(&query, "status")
                .and_then(|s| StatusCode::from_u16(s as u16).ok())
                .unwrap_or(StatusCode::OK);
            full(status, "application/json", echo.to_string())
        }
    }
}

/// Reads one request head, sends a `200` head and part of the body, then resets.
async fn reset_mid_body<S>(mut stream: S, reset: fn(&S))
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let mut out = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: {FAULT_ANNOUNCED}\r\n\r\n"
    )
    .into_bytes();
    out.resize(out.len() + FAULT_SENT, b'f');
    if stream.write_all(&out).await.is_ok() && stream.flush().await.is_ok() {
        reset(&stream);
    }
}

/// The answer while `fault` is set.
async fn faulty(fault: ExAppFault) -> Response<Body> {
    if fault == ExAppFault::StallHead {
        return std::future::pending().await;
    }
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        if tx.send(Bytes::from(vec![b'f'; FAULT_SENT])).await.is_err() {
            return;
        }
        if fault == ExAppFault::StallBody {
            // Keep the body open (and silent) until the reader goes away.
            tx.closed().await;
        }
    });
    let mut r = streamed("application/octet-stream", rx);
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(FAULT_ANNOUNCED));
    r
}

fn websocket(req: &mut Request<Incoming>) -> Response<Body> {
    let Some(key) = req.headers().get("sec-websocket-key").cloned() else {
        return full(
            StatusCode::BAD_REQUEST,
            "text/plain",
            "not a websocket request",
        );
    };
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let on_upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let mut ws =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        while let Some(Ok(msg)) = ws.next().await {
            let reply = match msg {
                Message::Text(t) => Message::text(format!("Echo: {}", t.as_str())),
                Message::Binary(b) => Message::Binary(b),
                Message::Close(_) => break,
                _ => continue,
            };
            if ws.send(reply).await.is_err() {
                return;
            }
        }
        let _ = ws.close(None).await;
    });
    let mut r = Response::new(Full::new(Bytes::new()).boxed());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert("sec-websocket-accept", v);
    }
    r
}
