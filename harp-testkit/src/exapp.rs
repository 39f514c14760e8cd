//! A stand-in ExApp backend: it answers every path with a JSON echo of what it received
//! (method, path, query, headers), so tests can see exactly what harp forwarded, plus:
//! - `?status=N` on any echo path: answer with that status;
//! - `/sse?n=N&interval_ms=M`: N server-sent events, M ms apart;
//! - `/download?bytes=N[&interval_ms=M]`: N bytes generated on the fly, in 64 KiB chunks (M ms
//!   apart: a slow download);
//! - `/upload` (any method with a body): reads the body as it streams, answers `{"bytes": n}`;
//! - `/slow?ms=N`: waits N ms before answering;
//! - `/ws`: a WebSocket that echoes text as `Echo: <text>` and binary frames unchanged.

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
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;

type Body = BoxBody<Bytes, Infallible>;

/// A running stand-in ExApp. Dropping it stops the server.
pub struct FakeExApp {
    pub addr: SocketAddr,
    seen: Arc<Mutex<History<Value>>>,
    task: JoinHandle<()>,
}

impl Drop for FakeExApp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeExApp {
    pub async fn start() -> std::io::Result<Self> {
        Ok(Self::serve(TcpListener::bind("127.0.0.1:0").await?))
    }

    pub fn serve(listener: TcpListener) -> Self {
        let addr = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
        let seen = Arc::new(Mutex::new(History::new()));
        let shared = seen.clone();
        let task = crate::accept_forever(listener, move |stream| serve_one(shared.clone(), stream));
        FakeExApp { addr, seen, task }
    }

    /// Serves on a unix socket at `path`, as ExApps behind frpc's `unix_domain_socket` plugin do
    /// (`addr` is then meaningless).
    pub fn start_unix(path: &std::path::Path) -> std::io::Result<Self> {
        let listener = tokio::net::UnixListener::bind(path)?;
        let seen = Arc::new(Mutex::new(History::new()));
        let shared = seen.clone();
        let task =
            crate::accept_forever_unix(listener, move |stream| serve_one(shared.clone(), stream));
        Ok(FakeExApp {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            seen,
            task,
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

async fn serve_one<S>(seen: Arc<Mutex<History<Value>>>, stream: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let seen = seen.clone();
        async move { Ok::<_, Infallible>(handle(seen, req).await) }
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
