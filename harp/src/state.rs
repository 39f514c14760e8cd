//! `State`: what every request handler shares, built once from the checked `Config`.

use crate::auth::exapp_cache::ExAppCache;
use crate::auth::nextcloud::NextcloudClient;
use crate::auth::sessions::SessionCache;
use crate::bans::Bans;
use crate::config::Config;
use crate::k8s::client::K8sClient;
use crate::metrics::Metrics;
use crate::net::gate::ConnGate;
use crate::proxy::forward::Upstream;
use crate::tunnel::Tunnels;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub struct State {
    pub config: Config,
    pub bans: Bans,
    pub nextcloud: NextcloudClient,
    pub exapps: ExAppCache,
    pub sessions: SessionCache,
    pub upstream: Upstream,
    pub tunnels: Tunnels,
    pub metrics: Metrics,
    /// The Kubernetes API (`HP_K8S_*`).
    pub k8s: K8sClient,
    /// TCP peers seen by the data plane (for `harp doctor`).
    pub peers: crate::net::peers::SeenPeers,
    /// `HP_MAX_CONNECTIONS` across the HTTP and HTTPS listeners.
    pub client_gate: Arc<ConnGate>,
    /// The control port's and the tunnel listener's (unlimited) gate.
    pub other_gate: Arc<ConnGate>,
    /// Fires when harp shuts down.
    pub shutdown: CancellationToken,
}

impl State {
    pub fn new(config: Config, shutdown: CancellationToken) -> Self {
        State {
            bans: Bans::new(
                config.blacklist_count,
                config.blacklist_window,
                config.trusted_proxies.clone(),
            ),
            nextcloud: NextcloudClient::new(&config.nextcloud_url, config.shared_key.clone()),
            exapps: ExAppCache::default(),
            sessions: SessionCache::new(config.session_lifetime),
            upstream: Upstream::new(config.timeouts),
            tunnels: Tunnels::new(config.frp_allowed_ports.clone()),
            metrics: Metrics::default(),
            k8s: K8sClient::new(&config.k8s),
            peers: Default::default(),
            client_gate: Arc::new(ConnGate::limited(config.max_connections)),
            other_gate: Arc::new(ConnGate::unlimited()),
            shutdown,
            config,
        }
    }
}
