//! Binding listeners and running accept loops that survive resource exhaustion (EMFILE) and
//! stop on shutdown. Each accepted connection passes its listener's [`ConnGate`] (or is reset
//! at once) and runs in its own tracked task.

use super::gate::{Admitted, ConnGate};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The pause after a failed accept: with no file descriptor left, retrying at once would spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// At most one warning per this interval while accepts keep failing.
const ACCEPT_WARN_EVERY: Duration = Duration::from_secs(1);

/// Binds a TCP listener with `SO_REUSEADDR` and a large backlog.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let domain = socket2::Domain::for_address(addr);
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// Accepts connections until `shutdown` fires, spawning `handle` on `tracker` for each one
/// `gate` admits (with its place, to keep as long as the connection lives); the others are
/// reset at once.
pub async fn accept_loop<F, Fut>(
    listener: TcpListener,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    gate: Arc<ConnGate>,
    handle: F,
) where
    F: Fn(TcpStream, SocketAddr, Admitted) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut last_warning: Option<Instant> = None;
    let mut suppressed = 0u64;
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => match gate.admit() {
                Some(place) => {
                    let _ = stream.set_nodelay(true);
                    tracker.spawn(handle(stream, peer, place));
                }
                None => {
                    tracing::debug!(%peer, "connection limit reached; connection reset");
                    let _ = stream.set_zero_linger();
                }
            },
            Err(e) => {
                // Out of file descriptors or similar: keep serving the connections we have,
                // back off instead of spinning, and try again.
                gate.accept_failed();
                if last_warning.is_none_or(|t| t.elapsed() >= ACCEPT_WARN_EVERY) {
                    tracing::warn!(error = %e, suppressed, "accept failed; retrying");
                    last_warning = Some(Instant::now());
                    suppressed = 0;
                } else {
                    suppressed += 1;
                }
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}
