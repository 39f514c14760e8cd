//! harp's pool of HTTP/1.1 connections to ExApps, driven by the request that uses them: the
//! connection's I/O is polled by the task that serves the client (while it waits for the
//! ExApp's response head, then while it streams the ExApp's body), so a request stays in one
//! task instead of crossing to a connection task and back, which cost a thread wake-up per
//! hop (BENCHMARKS.md, "What the profile showed"). An idle connection waits in the pool for up
//! to [`IDLE_TIMEOUT`] and is reused only if it is idle and still open when taken.

use super::counted::Counted;
use crate::http::body::Body;
use bytes::Bytes;
use http::Response;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, Connection, SendRequest};
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// How long an unused connection is kept.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Idle connections kept per ExApp address.
pub const MAX_IDLE_PER_HOST: usize = 512;
/// How often the whole pool is swept for expired connections (on a check-in).
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// A TCP connection to an ExApp, counted in the upstream-connections gauge.
pub type Io = Counted<TokioIo<TcpStream>>;

/// A connection and the handle that sends requests on it.
pub struct Driven {
    sender: SendRequest<Body>,
    conn: Pin<Box<Connection<Io, Body>>>,
}

impl Driven {
    pub async fn handshake(io: Io) -> hyper::Result<Self> {
        let (sender, conn) = http1::Builder::new().handshake(io).await?;
        Ok(Driven {
            sender,
            conn: Box::pin(conn),
        })
    }

    /// Moves the connection's I/O on; false once the connection has ended (closed by either
    /// side or failed), after which it cannot carry another request.
    fn drive(&mut self, cx: &mut Context<'_>) -> bool {
        self.conn.as_mut().poll(cx).is_pending()
    }

    /// Whether a request can go out on it now (pending I/O is moved on first, with no waker).
    fn ready_now(&mut self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        self.drive(&mut cx) && self.sender.is_ready()
    }

    /// Sends `req` and drives the connection until the response head arrives.
    pub async fn send(&mut self, req: http::Request<Body>) -> hyper::Result<Response<Incoming>> {
        let mut response = std::pin::pin!(self.sender.send_request(req));
        let conn = &mut self.conn;
        let mut open = true;
        std::future::poll_fn(|cx| {
            if open && conn.as_mut().poll(cx).is_ready() {
                // Ended before the head: the response future fails with the reason.
                open = false;
            }
            response.as_mut().poll(cx)
        })
        .await
    }
}

/// Idle connections by ExApp address.
#[derive(Default)]
pub struct Pool {
    idle: Mutex<HashMap<SocketAddr, Vec<(Driven, Instant)>>>,
    last_sweep: Mutex<Option<Instant>>,
}

impl Pool {
    /// The most recently used idle connection to `addr` that is still open, if any.
    pub fn take(&self, addr: SocketAddr) -> Option<Driven> {
        let mut unusable = Vec::new();
        let found = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            let list = idle.get_mut(&addr)?;
            let mut found = None;
            while let Some((mut conn, since)) = list.pop() {
                if since.elapsed() < IDLE_TIMEOUT && conn.ready_now() {
                    found = Some(conn);
                    break;
                }
                unusable.push(conn);
            }
            found
        };
        drop(unusable); // closed outside the lock
        found
    }

    /// Keeps `conn` for the next request to `addr` (dropped, i.e. closed, past the cap).
    fn put(&self, addr: SocketAddr, conn: Driven) {
        let mut expired = Vec::new();
        {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            let list = idle.entry(addr).or_default();
            if list.len() < MAX_IDLE_PER_HOST {
                list.push((conn, Instant::now()));
            } else {
                expired.push(conn);
            }
            if self.sweep_due() {
                for list in idle.values_mut() {
                    let (old, keep): (Vec<_>, Vec<_>) = std::mem::take(list)
                        .into_iter()
                        .partition(|(_, since)| since.elapsed() >= IDLE_TIMEOUT);
                    *list = keep;
                    expired.extend(old.into_iter().map(|(c, _)| c));
                }
                idle.retain(|_, list| !list.is_empty());
            }
        }
        drop(expired);
    }

    fn sweep_due(&self) -> bool {
        let mut last = self.last_sweep.lock().unwrap_or_else(|p| p.into_inner());
        let due = last.is_none_or(|t| t.elapsed() >= SWEEP_EVERY);
        if due {
            *last = Some(Instant::now());
        }
        due
    }
}

/// The ExApp's response body, which drives its connection while it is read and returns the
/// connection to the pool once the whole response has arrived (also when the body is dropped
/// after its end, e.g. for a bodiless answer hyper never polls).
pub struct PooledBody {
    inner: Incoming,
    conn: Option<Driven>,
    home: Option<(Arc<Pool>, SocketAddr)>,
}

impl PooledBody {
    /// A body whose connection goes back to `pool` (as `addr`) when it ends, or, without a
    /// connection, a plain body (the connection is driven elsewhere).
    pub fn new(inner: Incoming, conn: Option<Driven>, pool: Arc<Pool>, addr: SocketAddr) -> Self {
        PooledBody {
            inner,
            conn,
            home: Some((pool, addr)),
        }
    }

    fn check_in(&mut self) {
        if let (Some(conn), Some((pool, addr))) = (self.conn.take(), self.home.take()) {
            pool.put(addr, conn);
        }
    }

    fn settle(
        &mut self,
        frame: Poll<Option<Result<Frame<Bytes>, hyper::Error>>>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match &frame {
            Poll::Ready(None) => self.check_in(),
            Poll::Ready(Some(Ok(_))) if self.inner.is_end_stream() => self.check_in(),
            Poll::Ready(Some(Err(_))) => self.conn = None,
            _ => {}
        }
        frame
    }
}

impl HttpBody for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        let first = Pin::new(&mut this.inner).poll_frame(cx);
        if first.is_ready() {
            return this.settle(first);
        }
        let Some(conn) = this.conn.as_mut() else {
            return Poll::Pending;
        };
        if !conn.drive(cx) {
            this.conn = None;
        }
        let second = Pin::new(&mut this.inner).poll_frame(cx);
        this.settle(second)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for PooledBody {
    fn drop(&mut self) {
        if self.inner.is_end_stream() {
            self.check_in();
        }
    }
}
