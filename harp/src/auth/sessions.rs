//! The session cache (contract §3.7): the user behind an `oc_sessionPassphrase` cookie value,
//! kept for `HP_SESSION_LIFETIME` seconds (inclusive). Bounded: past the cap, expired entries are
//! purged, and if that is not enough the cache starts over.

use super::nextcloud::NcUser;
use crate::metrics::Counter;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

const CAP: usize = 100_000;

pub struct SessionCache {
    lifetime: Duration,
    entries: Mutex<HashMap<String, (NcUser, Instant)>>,
    /// Lookups answered from the cache, and not (for metrics).
    pub hits: Counter,
    pub misses: Counter,
}

impl SessionCache {
    pub fn new(lifetime: Duration) -> Self {
        SessionCache {
            lifetime,
            entries: Mutex::new(HashMap::new()),
            hits: Counter::default(),
            misses: Counter::default(),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, (NcUser, Instant)>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached user for this cookie value; an expired entry is removed.
    pub fn get(&self, passphrase: &str) -> Option<NcUser> {
        let mut entries = self.entries();
        if let Some((user, stored)) = entries.get(passphrase) {
            if stored.elapsed() <= self.lifetime {
                self.hits.inc();
                return Some(user.clone());
            }
            entries.remove(passphrase);
        }
        self.misses.inc();
        None
    }

    pub fn put(&self, passphrase: &str, user: NcUser) {
        if self.lifetime.is_zero() {
            return;
        }
        let mut entries = self.entries();
        if entries.len() >= CAP {
            let lifetime = self.lifetime;
            entries.retain(|_, (_, stored)| stored.elapsed() <= lifetime);
            if entries.len() >= CAP {
                entries.clear();
            }
        }
        entries.insert(passphrase.to_string(), (user, Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn expires_after_the_lifetime() {
        let cache = SessionCache::new(Duration::from_secs(3));
        let user = NcUser {
            user_id: "u".into(),
            access_level: 1,
        };
        cache.put("p", user.clone());
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!(cache.get("p"), Some(user), "inclusive bound");
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(cache.get("p"), None);
        assert_eq!((cache.hits.get(), cache.misses.get()), (1, 1));
    }
}
