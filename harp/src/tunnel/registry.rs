//! Who holds what in the tunnel server (contract §7.2): proxy names (unique across clients),
//! remote ports (inside the allowed ranges, one per client as HaRP's `maxPortsPerClient = 1`),
//! and the live control session of each run id, so a reconnect with the same run id replaces
//! the old session.

use super::stats::ProxyStats;
use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// HaRP's `allowPorts`: ExApps, then Docker engines.
pub const DEFAULT_ALLOWED_PORTS: [RangeInclusive<u16>; 2] = [23000..=23999, 24000..=24099];
/// HaRP's `maxPortsPerClient`.
pub const MAX_PORTS_PER_CLIENT: usize = 1;

/// Why a proxy cannot be registered; the texts are frps's, which frpc logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyRefused {
    #[error("port not allowed")]
    PortNotAllowed,
    #[error("port already used")]
    PortUsed,
    #[error("no available port")]
    NoPort,
    #[error("proxy [{0}] already exists")]
    NameTaken(String),
    #[error("exceed the max_ports_per_client")]
    TooManyPorts,
}

/// A proxy as the registry knows it.
#[derive(Debug, Clone)]
pub struct ProxyEntry {
    pub run_id: String,
    /// The control session that registered it.
    pub session: u64,
    pub port: u16,
    /// Stops the proxy's listener.
    pub stop: CancellationToken,
    pub stats: Arc<ProxyStats>,
}

/// What a logged-in client told us about itself.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub run_id: String,
    pub address: std::net::SocketAddr,
    pub version: String,
    pub os: String,
    pub arch: String,
    pub since: std::time::SystemTime,
}

#[derive(Default)]
struct Inner {
    clients: HashMap<u64, ClientInfo>,
    proxies: HashMap<String, ProxyEntry>,
    ports: HashMap<u16, String>,
    /// Live control sessions: run id → (session number, its cancellation token).
    controls: HashMap<String, (u64, CancellationToken)>,
    /// Connections and bytes in and out of released proxies, so totals never go down.
    retired: (u64, u64, u64),
}

pub struct Registry {
    allowed: Vec<RangeInclusive<u16>>,
    inner: Mutex<Inner>,
}

impl Registry {
    pub fn new(allowed: Vec<RangeInclusive<u16>>) -> Self {
        Registry {
            allowed,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn is_allowed(&self, port: u16) -> bool {
        self.allowed.iter().any(|r| r.contains(&port))
    }

    /// Registers control session number `session` for `run_id`; returns the token of the
    /// session it replaces, if any.
    pub fn add_control(
        &self,
        info: ClientInfo,
        session: u64,
        token: CancellationToken,
    ) -> Option<CancellationToken> {
        let mut inner = self.lock();
        let run_id = info.run_id.clone();
        if inner
            .controls
            .get(&run_id)
            .is_some_and(|(newer, _)| *newer > session)
        {
            // A newer login with the same run id got here first: it wins, this one ends.
            token.cancel();
            return None;
        }
        inner.clients.insert(session, info);
        inner
            .controls
            .insert(run_id, (session, token))
            .map(|(_, old)| old)
    }

    /// Forgets control session `session` of `run_id`, unless a newer one replaced it.
    pub fn remove_control(&self, run_id: &str, session: u64) {
        let mut inner = self.lock();
        inner.clients.remove(&session);
        if inner
            .controls
            .get(run_id)
            .is_some_and(|(s, _)| *s == session)
        {
            inner.controls.remove(run_id);
        }
    }

    pub fn has_control(&self, run_id: &str) -> bool {
        self.lock().controls.contains_key(run_id)
    }

    /// Reserves `name` on `port` (0 = pick a free allowed port) for `run_id`.
    pub fn reserve(
        &self,
        run_id: &str,
        session: u64,
        name: &str,
        port: u16,
        stop: CancellationToken,
        stats: Arc<ProxyStats>,
    ) -> Result<u16, ProxyRefused> {
        let mut inner = self.lock();
        if inner.proxies.contains_key(name) {
            return Err(ProxyRefused::NameTaken(name.to_string()));
        }
        let held = inner
            .proxies
            .values()
            .filter(|p| p.run_id == run_id)
            .count();
        if held >= MAX_PORTS_PER_CLIENT {
            return Err(ProxyRefused::TooManyPorts);
        }
        let port = if port == 0 {
            self.allowed
                .iter()
                .flat_map(|r| r.clone())
                .find(|p| !inner.ports.contains_key(p))
                .ok_or(ProxyRefused::NoPort)?
        } else if !self.is_allowed(port) {
            return Err(ProxyRefused::PortNotAllowed);
        } else if inner.ports.contains_key(&port) {
            return Err(ProxyRefused::PortUsed);
        } else {
            port
        };
        inner.ports.insert(port, name.to_string());
        inner.proxies.insert(
            name.to_string(),
            ProxyEntry {
                run_id: run_id.to_string(),
                session,
                port,
                stop,
                stats,
            },
        );
        Ok(port)
    }

    /// Releases a proxy (its listener is told to stop).
    pub fn release(&self, name: &str) {
        let mut inner = self.lock();
        if let Some(entry) = inner.proxies.remove(name) {
            inner.ports.remove(&entry.port);
            entry.stop.cancel();
            let s = &entry.stats;
            let r = &mut inner.retired;
            r.0 += s.connections_total.load(Ordering::Relaxed);
            r.1 += s.bytes_in.load(Ordering::Relaxed);
            r.2 += s.bytes_out.load(Ordering::Relaxed);
        }
    }

    /// Releases `name` if control session `session` owns it (a client may only close its own
    /// proxies, as in frps). Returns whether it did.
    pub fn release_own(&self, name: &str, session: u64) -> bool {
        let owned = self
            .lock()
            .proxies
            .get(name)
            .is_some_and(|p| p.session == session);
        if owned {
            self.release(name);
        }
        owned
    }

    /// Releases every proxy of a control session.
    pub fn release_session(&self, session: u64) {
        let names: Vec<String> = self
            .lock()
            .proxies
            .iter()
            .filter(|(_, p)| p.session == session)
            .map(|(n, _)| n.clone())
            .collect();
        for name in names {
            self.release(&name);
        }
    }

    /// Whether a tunnel client has published `port`.
    pub fn port_taken(&self, port: u16) -> bool {
        self.lock().ports.contains_key(&port)
    }

    /// Proxies by name, for observability.
    pub fn proxies(&self) -> Vec<(String, ProxyEntry)> {
        let mut list: Vec<_> = self
            .lock()
            .proxies
            .iter()
            .map(|(n, p)| (n.clone(), p.clone()))
            .collect();
        list.sort_by(|a, b| a.0.cmp(&b.0));
        list
    }

    /// Whether proxies of `run_id` registered by another session than `session` remain.
    pub fn held_by_other_session(&self, run_id: &str, session: u64) -> bool {
        self.lock()
            .proxies
            .values()
            .any(|p| p.run_id == run_id && p.session != session)
    }

    /// Connections, bytes in and bytes out of the proxies released so far (for metrics).
    pub fn retired_totals(&self) -> (u64, u64, u64) {
        self.lock().retired
    }

    pub fn client_count(&self) -> usize {
        self.lock().controls.len()
    }

    /// Connected clients with their session numbers, oldest first.
    pub fn clients(&self) -> Vec<(u64, ClientInfo)> {
        let mut list: Vec<_> = self
            .lock()
            .clients
            .iter()
            .map(|(s, c)| (*s, c.clone()))
            .collect();
        list.sort_by_key(|(s, _)| *s);
        list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(run_id: &str) -> ClientInfo {
        ClientInfo {
            run_id: run_id.into(),
            address: "127.0.0.1:1".parse().unwrap(),
            version: "0.65.0".into(),
            os: "linux".into(),
            arch: "amd64".into(),
            since: std::time::SystemTime::now(),
        }
    }

    #[test]
    fn newer_session_wins_whatever_the_order() {
        let r = Registry::new(vec![23000..=23001]);
        let (old, new) = (CancellationToken::new(), CancellationToken::new());
        assert!(r.add_control(info("a"), 3, new.clone()).is_none());
        assert!(
            r.add_control(info("a"), 2, old.clone()).is_none(),
            "a late older login replaces nothing"
        );
        assert!(old.is_cancelled() && !new.is_cancelled());
        let newest = CancellationToken::new();
        let replaced = r
            .add_control(info("a"), 4, newest)
            .expect("the newer login replaces");
        replaced.cancel();
        assert!(new.is_cancelled());
    }

    #[test]
    fn ports_names_and_limits() {
        let r = Registry::new(vec![23000..=23001]);
        let stop = CancellationToken::new;
        let stats = || Arc::new(ProxyStats::default());
        assert_eq!(r.reserve("a", 1, "x", 23000, stop(), stats()), Ok(23000));
        assert_eq!(
            r.reserve("b", 2, "x", 23001, stop(), stats()),
            Err(ProxyRefused::NameTaken("x".into()))
        );
        assert_eq!(
            r.reserve("b", 2, "y", 23000, stop(), stats()),
            Err(ProxyRefused::PortUsed)
        );
        assert_eq!(
            r.reserve("b", 2, "y", 24000, stop(), stats()),
            Err(ProxyRefused::PortNotAllowed)
        );
        assert_eq!(
            r.reserve("a", 1, "z", 23001, stop(), stats()),
            Err(ProxyRefused::TooManyPorts)
        );
        assert_eq!(
            r.reserve("b", 2, "y", 0, stop(), stats()),
            Ok(23001),
            "0 picks a free port"
        );
        assert!(!r.release_own("x", 2), "only the owner closes a proxy");
        assert!(r.release_own("x", 1));
        r.release_session(2);
        assert!(r.proxies().is_empty());
    }
}
