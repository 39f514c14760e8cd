//! WebSocket (and any HTTP/1.1 upgrade) relaying: after the ExApp answers `101`, both upgraded
//! connections are joined and bytes flow both ways until one side closes or nothing moves for
//! `HP_TIMEOUT_TUNNEL` (contract §8.8; an idle WebSocket must outlive 30 s, HaRP #115).

use crate::net::conn::ConnCtl;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// Each direction's relay buffer, held for the life of the tunnel: WebSocket messages are
/// small and most tunnels sit idle, so 4 KiB (not tokio's 8 KiB default) keeps an idle
/// WebSocket's cost low (BENCHMARKS.md, "idle WebSockets").
const RELAY_BUF: usize = 4096;

/// Joins the client's and the ExApp's upgraded connections once both are ready.
pub fn spawn_tunnel(client: OnUpgrade, upstream: OnUpgrade, ctl: Arc<ConnCtl>, idle: Duration) {
    ctl.enter_tunnel();
    tokio::spawn(async move {
        // The client connection's place under HP_MAX_CONNECTIONS lasts as long as the relay.
        let _ctl = ctl;
        let (client, upstream) = match tokio::try_join!(client, upstream) {
            Ok(pair) => pair,
            Err(e) => {
                tracing::debug!(error = %e, "upgrade did not complete");
                return;
            }
        };
        let clock = Arc::new(Activity::new());
        let mut client = Tracked {
            io: TokioIo::new(client),
            clock: clock.clone(),
        };
        let mut upstream = Tracked {
            io: TokioIo::new(upstream),
            clock: clock.clone(),
        };
        tokio::select! {
            res = tokio::io::copy_bidirectional_with_sizes(&mut client, &mut upstream, RELAY_BUF, RELAY_BUF) => {
                if let Err(e) = res {
                    tracing::debug!(error = %e, "tunnel closed with an error");
                }
            }
            _ = clock.idle_for(idle) => {
                tracing::info!(idle_s = idle.as_secs(), "tunnel idle for HP_TIMEOUT_TUNNEL; closing");
            }
        }
    });
}

/// The time of the last byte moved in either direction.
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Activity {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// Resolves once nothing has moved for `idle`.
    async fn idle_for(&self, idle: Duration) {
        loop {
            let last = self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            let deadline = last + idle;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// An I/O object that records activity on the shared clock.
struct Tracked<T> {
    io: T,
    clock: Arc<Activity>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.clock.touch();
        }
        res
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
