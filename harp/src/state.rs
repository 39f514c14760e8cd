//! `State`: what every request handler shares, built once from the checked `Config`.

use crate::auth::exapp_cache::ExAppCache;
use crate::auth::nextcloud::NextcloudClient;
use crate::auth::sessions::SessionCache;
use crate::bans::Bans;
use crate::config::Config;
use crate::proxy::forward::Upstream;

pub struct State {
    pub config: Config,
    pub bans: Bans,
    pub nextcloud: NextcloudClient,
    pub exapps: ExAppCache,
    pub sessions: SessionCache,
    pub upstream: Upstream,
}

impl State {
    pub fn new(config: Config) -> Self {
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
            config,
        }
    }
}
