//! `ClientIo`: the wrapper around every client connection (plain or TLS). It owns what hyper
//! does not do the way HaRP does:
//! - `HP_TIMEOUT_CLIENT` while a request head is arriving: answer `408` and close (HAProxy's
//!   `timeout http-request`), and for an idle keep-alive connection: close quietly;
//! - `HP_TIMEOUT_CLIENT` while the client does not read what we write: close;
//! - the silent drop (decision D2): no response, the socket closed with an RST (`SO_LINGER` 0);
//! - the connection's place under `HP_MAX_CONNECTIONS`, kept while anything still uses it.
//!
//! The request handler talks to it through the shared `ConnCtl`.

use super::gate::Admitted;
use futures_util::task::AtomicWaker;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

/// HAProxy's 408 page (contract §3.4), sent when a request head does not arrive in time.
const REQUEST_TIMEOUT_REPLY: &[u8] = b"HTTP/1.1 408 Request Time-out\r\ncontent-length: 110\r\ncache-control: no-cache\r\nconnection: close\r\ncontent-type: text/html\r\n\r\n<html><body><h1>408 Request Time-out</h1>\nYour browser didn't send a complete request in time.\n</body></html>\n";

/// State shared between a connection's `ClientIo` and the requests it carries.
pub struct ConnCtl {
    /// The connection's place under `HP_MAX_CONNECTIONS`, held until the last user of this
    /// connection (a WebSocket relay may outlive the HTTP connection task) is gone.
    _place: Admitted,
    /// Requests whose head has arrived and whose response has not finished.
    active: AtomicUsize,
    /// Bumped each time the connection becomes idle again, so timers restart.
    idle_epoch: AtomicU32,
    /// Set once the connection was upgraded (WebSocket): the tunnel timeout rules from then on.
    tunnel: AtomicBool,
    /// HTTP/2: per-request head timing does not apply.
    multiplexed: AtomicBool,
    drop_requested: AtomicBool,
    drop_notify: Notify,
    /// The reader waiting while a request runs: woken when the connection turns idle, so the
    /// keep-alive timer starts from the end of the response.
    reader: AtomicWaker,
}

impl ConnCtl {
    pub fn new(multiplexed: bool, place: Admitted) -> Arc<Self> {
        Arc::new(ConnCtl {
            _place: place,
            active: AtomicUsize::new(0),
            idle_epoch: AtomicU32::new(0),
            tunnel: AtomicBool::new(false),
            multiplexed: AtomicBool::new(multiplexed),
            drop_requested: AtomicBool::new(false),
            drop_notify: Notify::new(),
            reader: AtomicWaker::new(),
        })
    }

    /// A request head has been parsed: its own timeouts apply from now on.
    pub fn request_started(&self) {
        self.active.fetch_add(1, Ordering::AcqRel);
    }

    /// A response has been fully sent (or abandoned).
    pub fn request_finished(&self) {
        if self.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle_epoch.fetch_add(1, Ordering::AcqRel);
            self.reader.wake();
        }
    }

    /// The connection now carries an upgraded protocol.
    pub fn enter_tunnel(&self) {
        self.tunnel.store(true, Ordering::Release);
    }

    /// Drop the connection without a response: an RST, as HAProxy's `silent-drop`.
    pub fn silent_drop(&self) {
        self.drop_requested.store(true, Ordering::Release);
        self.drop_notify.notify_one();
    }

    pub fn drop_requested(&self) -> bool {
        self.drop_requested.load(Ordering::Acquire)
    }

    /// Resolves when a silent drop was requested.
    pub async fn dropped(&self) {
        self.drop_notify.notified().await
    }

    fn head_timers_apply(&self) -> bool {
        self.active.load(Ordering::Acquire) == 0
            && !self.tunnel.load(Ordering::Acquire)
            && !self.multiplexed.load(Ordering::Relaxed)
    }
}

/// Transports whose close can be turned into an RST.
pub trait Linger {
    fn zero_linger(&self);
}

impl Linger for TcpStream {
    fn zero_linger(&self) {
        let _ = self.set_zero_linger();
    }
}

impl Linger for tokio_rustls::server::TlsStream<TcpStream> {
    fn zero_linger(&self) {
        self.get_ref().0.zero_linger()
    }
}

/// A client connection with HaRP's client-side timeouts and silent drop.
pub struct ClientIo<T: Linger> {
    inner: T,
    ctl: Arc<ConnCtl>,
    client_timeout: Duration,
    read_timer: Pin<Box<Sleep>>,
    read_armed: bool,
    reading_head: bool,
    seen_epoch: u32,
    write_timer: Pin<Box<Sleep>>,
    write_armed: bool,
    /// Bytes of the 408 reply already written, once a head timed out.
    timeout_reply: Option<usize>,
}

impl<T: Linger> ClientIo<T> {
    pub fn new(inner: T, ctl: Arc<ConnCtl>, client_timeout: Duration) -> Self {
        let now = Instant::now();
        ClientIo {
            inner,
            ctl,
            client_timeout,
            read_timer: Box::pin(tokio::time::sleep_until(now + client_timeout)),
            read_armed: false,
            reading_head: false,
            seen_epoch: 0,
            write_timer: Box::pin(tokio::time::sleep_until(now + client_timeout)),
            write_armed: false,
            timeout_reply: None,
        }
    }

    fn arm_read(&mut self) {
        let deadline = Instant::now() + self.client_timeout;
        self.read_timer.as_mut().reset(deadline);
        self.read_armed = true;
    }
}

impl<T: AsyncRead + AsyncWrite + Linger + Unpin> ClientIo<T> {
    /// Writes the 408 page after a head timeout, then fails the read so the connection closes.
    fn poll_timeout_reply(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut written = self.timeout_reply.unwrap_or(0);
        while written < REQUEST_TIMEOUT_REPLY.len() {
            match Pin::new(&mut self.inner).poll_write(cx, &REQUEST_TIMEOUT_REPLY[written..]) {
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => break,
                Poll::Ready(Ok(n)) => {
                    written += n;
                    self.timeout_reply = Some(written);
                }
                Poll::Pending => return Poll::Pending,
            }
        }
        let _ = ready!(Pin::new(&mut self.inner).poll_flush(cx));
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "request head not received within HP_TIMEOUT_CLIENT",
        )))
    }

    fn poll_write_stall(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        if self.ctl.tunnel.load(Ordering::Acquire) {
            return Poll::Pending;
        }
        if !self.write_armed {
            let deadline = Instant::now() + self.client_timeout;
            self.write_timer.as_mut().reset(deadline);
            self.write_armed = true;
        }
        ready!(self.write_timer.as_mut().poll(cx));
        Poll::Ready(io::Error::new(
            io::ErrorKind::TimedOut,
            "client did not read the response within HP_TIMEOUT_CLIENT",
        ))
    }
}

impl<T: AsyncRead + AsyncWrite + Linger + Unpin> AsyncRead for ClientIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.timeout_reply.is_some() {
            return this.poll_timeout_reply(cx);
        }
        let epoch = this.ctl.idle_epoch.load(Ordering::Acquire);
        if epoch != this.seen_epoch {
            this.seen_epoch = epoch;
            this.reading_head = false;
            this.read_armed = false;
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before && this.ctl.head_timers_apply() && !this.reading_head
                {
                    // The first bytes of a new request: it has HP_TIMEOUT_CLIENT to complete.
                    this.reading_head = true;
                    this.arm_read();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                if !this.ctl.head_timers_apply() {
                    this.ctl.reader.register(cx.waker());
                    return Poll::Pending;
                }
                if !this.read_armed {
                    this.arm_read();
                }
                ready!(this.read_timer.as_mut().poll(cx));
                if this.reading_head {
                    this.timeout_reply = Some(0);
                    this.poll_timeout_reply(cx)
                } else {
                    // Idle keep-alive connection: end it quietly, as HAProxy does.
                    Poll::Ready(Ok(()))
                }
            }
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Linger + Unpin> AsyncWrite for ClientIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.ctl.drop_requested() {
            return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
        }
        match Pin::new(&mut this.inner).poll_write(cx, data) {
            Poll::Pending => this.poll_write_stall(cx).map(Err),
            ready => {
                this.write_armed = false;
                ready
            }
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.ctl.drop_requested() {
            return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
        }
        match Pin::new(&mut this.inner).poll_write_vectored(cx, bufs) {
            Poll::Pending => this.poll_write_stall(cx).map(Err),
            ready => {
                this.write_armed = false;
                ready
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Pending => this.poll_write_stall(cx).map(Err),
            ready => {
                this.write_armed = false;
                ready
            }
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.ctl.drop_requested() {
            // No FIN before the RST.
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

impl<T: Linger> Drop for ClientIo<T> {
    fn drop(&mut self) {
        if self.ctl.drop_requested() {
            self.inner.zero_linger();
        }
    }
}
