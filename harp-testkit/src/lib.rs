//! Stand-ins for the programs harp talks to, for tests and for `harp demo`:
//! - [`nextcloud`]: Nextcloud's two HaRP endpoints (`exapp-meta`, `user-info`) and the OCS calls
//!   an ExApp makes back, built from the contract docs; it records every call and can be told
//!   to fail.
//! - [`exapp`]: an ExApp backend that echoes what it received, streams SSE and large bodies,
//!   and echoes WebSocket messages; it can be told to stall or cut its answers.
//! - [`kubernetes`]: a Kubernetes API server that validates, keeps and simulates the objects
//!   harp's Kubernetes backend creates.
//! - [`engine`]: the few Docker Engine API calls of an image pull, with a switch that makes
//!   the engine die in the middle of one.
//!
//! The Nextcloud stand-in, the ExApp and the engine can be taken down (connections refused,
//! open ones cut) and brought back on the same port.
//!
//! Everything listens on 127.0.0.1 only and stops when its handle is dropped.
#![forbid(unsafe_code)]

pub mod channel_body;
pub mod engine;
pub mod exapp;
mod history;
pub mod kubernetes;
pub mod nextcloud;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// Serves every connection of `listener` with `serve` until the returned task is aborted;
/// aborting it also ends every connection it accepted (the peer is gone, as a killed process).
pub(crate) fn accept_forever<F, Fut>(listener: TcpListener, serve: F) -> JoinHandle<()>
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        let mut conns = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let _ = stream.set_nodelay(true);
                        conns.spawn(serve(stream));
                    }
                    Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
                },
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
    })
}

type Spawner = Box<dyn Fn(TcpListener) -> JoinHandle<()> + Send + Sync>;

/// A stand-in's TCP server that a test can take down (listener closed, every connection cut:
/// connects are refused, as with a dead process) and bring back on the same address.
pub(crate) struct Server {
    addr: SocketAddr,
    spawn: Spawner,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Server {
    pub(crate) fn new(
        listener: TcpListener,
        spawn: impl Fn(TcpListener) -> JoinHandle<()> + Send + Sync + 'static,
    ) -> Arc<Self> {
        let addr = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
        let task = spawn(listener);
        Arc::new(Server {
            addr,
            spawn: Box::new(spawn),
            task: Mutex::new(Some(task)),
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn take(&self) -> Option<JoinHandle<()>> {
        self.task.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Stops listening and cuts every open connection; returns once the listener is closed.
    pub(crate) async fn go_down(&self) {
        if let Some(task) = self.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Listens again on the same address (a no-op when it is up).
    pub(crate) async fn come_back(&self) -> std::io::Result<()> {
        if self
            .task
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
        {
            return Ok(());
        }
        let listener = TcpListener::bind(self.addr).await?;
        let task = (self.spawn)(listener);
        *self.task.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(task) = self.take() {
            task.abort();
        }
    }
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
        let mut conns = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        conns.spawn(serve(stream));
                    }
                    Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
                },
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
    })
}
