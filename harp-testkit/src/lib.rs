//! Stand-ins for the programs harp talks to, for tests and for `harp demo`:
//! - [`nextcloud`]: Nextcloud's two HaRP endpoints (`exapp-meta`, `user-info`) and the OCS calls
//!   an ExApp makes back, built from the contract docs; it records every call and can be told
//!   to fail.
//! - [`exapp`]: an ExApp backend that echoes what it received, streams SSE and large bodies,
//!   and echoes WebSocket messages.
//! - [`kubernetes`]: a Kubernetes API server that validates, keeps and simulates the objects
//!   harp's Kubernetes backend creates.
//!
//! Everything listens on 127.0.0.1 only and stops when its handle is dropped.
#![forbid(unsafe_code)]

pub mod channel_body;
pub mod exapp;
mod history;
pub mod kubernetes;
pub mod nextcloud;

use std::future::Future;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Serves every connection of `listener` with `serve` until the returned task is aborted.
pub(crate) fn accept_forever<F, Fut>(listener: TcpListener, serve: F) -> JoinHandle<()>
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(serve(stream));
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            }
        }
    })
}

/// The same for a unix socket listener.
pub(crate) fn accept_forever_unix<F, Fut>(
    listener: tokio::net::UnixListener,
    serve: F,
) -> JoinHandle<()>
where
    F: Fn(tokio::net::UnixStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(serve(stream));
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            }
        }
    })
}
