//! A stand-in Docker Engine for fault tests: the few Engine API calls of an image pull
//! (`/_ping`, `/version`, `POST /images/create?fromImage=`), with the pull progress streamed as
//! NDJSON the way the Engine API sends it. A pull can be told to hang after its first progress
//! lines (a layer still downloading), and the engine can die (listener closed, every
//! connection cut) and come back on the same port. A real engine cannot be killed at a chosen
//! point of a pull, which is why the fault tests use this.

use crate::channel_body::ChannelBody;
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

type Body = BoxBody<Bytes, Infallible>;

/// Progress lines a pull sends before it hangs (when told to).
pub const LINES_BEFORE_HANG: usize = 3;

#[derive(Default)]
struct Switches {
    hang_pulls: AtomicBool,
    pulls: AtomicUsize,
}

/// A running stand-in engine. Dropping it stops the server.
pub struct FakeEngine {
    pub addr: SocketAddr,
    switches: Arc<Switches>,
    server: Arc<crate::Server>,
}

impl FakeEngine {
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let switches = Arc::new(Switches::default());
        let sw = switches.clone();
        let server = crate::Server::new(listener, move |listener| {
            let sw = sw.clone();
            crate::accept_forever(listener, move |stream| {
                let sw = sw.clone();
                async move {
                    let service = service_fn(move |req| {
                        let sw = sw.clone();
                        async move { Ok::<_, Infallible>(handle(&sw, req)) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                }
            })
        });
        Ok(FakeEngine {
            addr: server.addr(),
            switches,
            server,
        })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Pulls send [`LINES_BEFORE_HANG`] progress lines and then nothing (the stream stays
    /// open), or complete normally again.
    pub fn hang_pulls(&self, on: bool) {
        self.switches.hang_pulls.store(on, Ordering::SeqCst);
    }

    /// Pulls started so far.
    pub fn pulls(&self) -> usize {
        self.switches.pulls.load(Ordering::SeqCst)
    }

    /// The engine dies: connections refused, every open one (a pull in progress) cut.
    pub async fn go_down(&self) {
        self.server.go_down().await
    }

    /// The engine is back on the same port.
    pub async fn come_back(&self) -> std::io::Result<()> {
        self.server.come_back().await
    }
}

fn json(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())).boxed());
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn handle(sw: &Switches, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path();
    let path = path
        .strip_prefix("/v1.44")
        .or_else(|| path.strip_prefix("/v1.41"))
        .unwrap_or(path);
    match (req.method().as_str(), path) {
        ("GET" | "HEAD", "/_ping") => json(StatusCode::OK, "\"OK\""),
        ("GET", "/version") => json(
            StatusCode::OK,
            r#"{"Version":"fake","ApiVersion":"1.44","MinAPIVersion":"1.24"}"#,
        ),
        ("POST", "/images/create") => {
            sw.pulls.fetch_add(1, Ordering::SeqCst);
            pull(sw.hang_pulls.load(Ordering::SeqCst))
        }
        _ => json(StatusCode::NOT_FOUND, r#"{"message":"page not found"}"#),
    }
}

/// The NDJSON progress of a pull: a few lines, then the final status (or a hang).
fn pull(hang: bool) -> Response<Body> {
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        for i in 0..LINES_BEFORE_HANG {
            let line = format!(
                "{{\"status\":\"Downloading\",\"progressDetail\":{{\"current\":{},\"total\":3145728}},\"id\":\"a1b2c3\"}}\r\n",
                (i + 1) * 1_048_576
            );
            if tx.send(Bytes::from(line)).await.is_err() {
                return;
            }
        }
        if hang {
            tx.closed().await;
            return;
        }
        let _ = tx
            .send(Bytes::from_static(
                b"{\"status\":\"Status: Downloaded newer image for example/app:1\"}\r\n",
            ))
            .await;
    });
    let mut r = Response::new(ChannelBody(rx).boxed());
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}
