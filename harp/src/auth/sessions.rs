//! The session cache (contract §3.7): the user behind an `oc_sessionPassphrase` cookie value,
//! kept for `HP_SESSION_LIFETIME` seconds (inclusive), and one in-flight `user-info` call per
//! session however many of its first requests arrive at once. Bounded: past the cap, expired
//! entries are purged, and if that is not enough the cache starts over.

use super::nextcloud::{NcError, NcUser};
use crate::metrics::Counter;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::OnceCell;
use tokio::time::Instant;

/// What Nextcloud said about a session: its user, nobody, or why it could not say.
pub type UserLookup = Result<Option<NcUser>, NcError>;

type Pending = HashMap<String, Arc<OnceCell<UserLookup>>>;

const CAP: usize = 100_000;

pub struct SessionCache {
    lifetime: Duration,
    entries: Mutex<HashMap<String, (NcUser, Instant)>>,
    /// `user-info` calls in flight, by session.
    pending: Mutex<Pending>,
    /// Lookups answered from the cache, and not (for metrics).
    pub hits: Counter,
    pub misses: Counter,
}

impl SessionCache {
    pub fn new(lifetime: Duration) -> Self {
        SessionCache {
            lifetime,
            entries: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            hits: Counter::default(),
            misses: Counter::default(),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, (NcUser, Instant)>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The user of this session: from the cache, or from `fetch`, which runs once for all
    /// the session's requests that arrive while it is in flight. A user found is cached;
    /// "nobody" and errors are shared with those waiting but not kept. With a zero lifetime
    /// nothing is cached or shared: every request asks.
    pub async fn get_or_fetch<F, Fut>(&self, passphrase: &str, fetch: F) -> UserLookup
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = UserLookup>,
    {
        if self.lifetime.is_zero() {
            self.misses.inc();
            return fetch().await;
        }
        if let Some(user) = self.get(passphrase) {
            return Ok(Some(user));
        }
        let (cell, _leader) = {
            let mut pending = self.pending();
            match pending.get(passphrase) {
                Some(cell) => (cell.clone(), None),
                None => {
                    let cell = Arc::new(OnceCell::new());
                    pending.insert(passphrase.to_string(), cell.clone());
                    let guard = PendingGuard {
                        cache: self,
                        passphrase,
                        cell: cell.clone(),
                    };
                    (cell, Some(guard))
                }
            }
        };
        cell.get_or_init(|| async {
            let result = fetch().await;
            if let Ok(Some(user)) = &result {
                self.put(passphrase, user.clone());
            }
            result
        })
        .await
        .clone()
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

/// Held by the request that opened a pending entry: removes it when that request is done or
/// abandoned (those still waiting keep their handle on the call).
struct PendingGuard<'a> {
    cache: &'a SessionCache,
    passphrase: &'a str,
    cell: Arc<OnceCell<UserLookup>>,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        let mut pending = self.cache.pending();
        if pending
            .get(self.passphrase)
            .is_some_and(|c| Arc::ptr_eq(c, &self.cell))
        {
            pending.remove(self.passphrase);
        }
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

    fn user(name: &str) -> NcUser {
        NcUser {
            user_id: name.into(),
            access_level: 1,
        }
    }

    #[tokio::test]
    async fn concurrent_first_requests_share_one_call() {
        let cache = Arc::new(SessionCache::new(Duration::from_secs(60)));
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let gate = Arc::new(tokio::sync::Notify::new());
        let mut tasks = Vec::new();
        for _ in 0..100 {
            let (cache, calls, gate) = (cache.clone(), calls.clone(), gate.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_fetch("s", || async move {
                        calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        gate.notified().await;
                        Ok(Some(user("u")))
                    })
                    .await
            }));
        }
        // Every task is waiting on the one call before it may finish.
        for _ in 0..1000 {
            if cache.pending().len() == 1 && calls.load(std::sync::atomic::Ordering::SeqCst) == 1 {
                break;
            }
            tokio::task::yield_now().await;
        }
        gate.notify_one();
        for t in tasks {
            assert_eq!(t.await.expect("task").expect("lookup"), Some(user("u")));
        }
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(cache.pending().is_empty(), "the pending entry is gone");
        assert_eq!(cache.get("s"), Some(user("u")), "the user is cached");
    }

    #[tokio::test]
    async fn an_abandoned_call_leaves_nothing_behind_and_errors_are_not_kept() {
        let cache = SessionCache::new(Duration::from_secs(60));
        let never = cache.get_or_fetch("s", std::future::pending::<UserLookup>);
        assert!(
            tokio::time::timeout(Duration::from_millis(20), never)
                .await
                .is_err()
        );
        assert!(cache.pending().is_empty(), "an abandoned call is forgotten");
        let failed = cache
            .get_or_fetch("s", || async { Err(NcError::Timeout) })
            .await;
        assert!(failed.is_err());
        let found = cache
            .get_or_fetch("s", || async { Ok(Some(user("u"))) })
            .await;
        assert_eq!(
            found.expect("lookup"),
            Some(user("u")),
            "asked again after an error"
        );
    }
}
