//! Work connections waiting for users (frp-protocol §5.3): each logged-in client keeps a pool
//! of idle work streams; taking one asks the client for another (`ReqWorkConn`), and a user that
//! finds the pool empty waits up to 10 s for the client to open one.

use frp_wire::{Message, ReqWorkConn};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};

/// frps's `userConnTimeout`.
pub const USER_CONN_TIMEOUT: Duration = Duration::from_secs(10);

/// Any byte stream: a yamux stream or a whole TCP/TLS connection.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// A work connection: its stream and any bytes the client sent after `NewWorkConn`.
pub struct WorkConn {
    pub io: Box<dyn Io>,
    pub leftover: Vec<u8>,
}

struct ClientPool {
    /// The control session that owns it; a newer session of the same run id wins.
    session: u64,
    idle: VecDeque<WorkConn>,
    waiters: VecDeque<oneshot::Sender<WorkConn>>,
    /// The client's control stream, for `ReqWorkConn`.
    control: mpsc::Sender<Message>,
    cap: usize,
}

#[derive(Default)]
pub struct Pools {
    clients: Mutex<HashMap<String, ClientPool>>,
}

impl Pools {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ClientPool>> {
        self.clients.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Control session `session` of a client logged in: its pool holds at most
    /// `pool_count + 10` idle streams (as frps). A session that lost a race to a newer login
    /// with the same run id does not replace the newer one's pool.
    pub fn open(
        &self,
        run_id: &str,
        session: u64,
        control: mpsc::Sender<Message>,
        pool_count: usize,
    ) {
        let mut clients = self.lock();
        if clients.get(run_id).is_some_and(|p| p.session > session) {
            return;
        }
        clients.insert(
            run_id.to_string(),
            ClientPool {
                session,
                idle: VecDeque::new(),
                waiters: VecDeque::new(),
                control,
                cap: pool_count + 10,
            },
        );
    }

    /// Control session `session` is gone: its idle streams are dropped (closed).
    pub fn close(&self, run_id: &str, session: u64) {
        let mut clients = self.lock();
        if clients.get(run_id).is_some_and(|p| p.session == session) {
            clients.remove(run_id);
        }
    }

    /// A client opened a work connection. `false` when no client has that run id.
    pub fn offer(&self, run_id: &str, mut conn: WorkConn) -> bool {
        let mut clients = self.lock();
        let Some(pool) = clients.get_mut(run_id) else {
            return false;
        };
        while let Some(waiter) = pool.waiters.pop_front() {
            match waiter.send(conn) {
                Ok(()) => return true,
                Err(back) => conn = back,
            }
        }
        if pool.idle.len() < pool.cap {
            pool.idle.push_back(conn);
        }
        true
    }

    /// A work connection for a new user: an idle one, or the next one the client opens.
    pub async fn take(&self, run_id: &str) -> Option<WorkConn> {
        let (ready, waiter, control) = {
            let mut clients = self.lock();
            let pool = clients.get_mut(run_id)?;
            match pool.idle.pop_front() {
                Some(conn) => (Some(conn), None, pool.control.clone()),
                None => {
                    let (tx, rx) = oneshot::channel();
                    pool.waiters.push_back(tx);
                    (None, Some(rx), pool.control.clone())
                }
            }
        };
        // Either way, ask for one more: to refill the pool, or for this user.
        let _ = control.try_send(Message::ReqWorkConn(ReqWorkConn::default()));
        if let Some(conn) = ready {
            return Some(conn);
        }
        let waiter = waiter?;
        tokio::time::timeout(USER_CONN_TIMEOUT, waiter)
            .await
            .ok()?
            .ok()
    }

    pub fn idle_count(&self, run_id: &str) -> usize {
        self.lock().get(run_id).map_or(0, |p| p.idle.len())
    }
}
