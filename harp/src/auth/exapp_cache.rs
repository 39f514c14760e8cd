//! The ExApp record cache (contract §3.8): known apps kept with no expiry (replaced only through
//! `exapp_storage`), "no such app" remembered for 15 s, and one in-flight `exapp-meta` fetch per
//! app however many requests wait for it. Errors are shared with the waiters but not cached.

use super::exapp::ExApp;
use super::nextcloud::NcError;
use crate::metrics::Counter;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::OnceCell;
use tokio::time::Instant;

/// How long "Nextcloud does not know this app" is believed.
pub const NEGATIVE_TTL: Duration = Duration::from_secs(15);
/// Above this many entries, expired negative entries are purged on insert.
const PURGE_ABOVE: usize = 10_000;

/// The outcome of a lookup: the record, `None` for "no such app", or why Nextcloud failed.
pub type Lookup = Result<Option<Arc<ExApp>>, NcError>;

enum Slot {
    Known(Arc<ExApp>),
    Missing { until: Instant },
    Loading(Arc<OnceCell<Lookup>>),
}

/// Lookup results, for metrics.
#[derive(Default)]
pub struct CacheStats {
    pub hits: Counter,
    /// "No such app" answered from the negative entry.
    pub negative_hits: Counter,
    /// Lookups that fetched from Nextcloud or waited for a fetch in flight.
    pub misses: Counter,
}

/// Records by lower-cased app id.
#[derive(Default)]
pub struct ExAppCache {
    slots: Mutex<HashMap<String, Slot>>,
    pub stats: CacheStats,
}

impl ExAppCache {
    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        // A panic elsewhere cannot leave the map half-written: every update is one insert.
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached record, or the result of `fetch`, run once for all concurrent callers.
    pub async fn get_or_fetch<F, Fut>(&self, appid_lc: &str, fetch: F) -> Lookup
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Lookup>,
    {
        let cell = {
            let mut slots = self.slots();
            match slots.get(appid_lc) {
                Some(Slot::Known(app)) => {
                    self.stats.hits.inc();
                    return Ok(Some(app.clone()));
                }
                Some(Slot::Missing { until }) if Instant::now() < *until => {
                    self.stats.negative_hits.inc();
                    return Ok(None);
                }
                Some(Slot::Loading(cell)) => {
                    self.stats.misses.inc();
                    cell.clone()
                }
                _ => {
                    self.stats.misses.inc();
                    let cell = Arc::new(OnceCell::new());
                    slots.insert(appid_lc.to_string(), Slot::Loading(cell.clone()));
                    cell
                }
            }
        };
        // If the caller running the fetch goes away, the next waiter runs its own.
        let result = cell.get_or_init(fetch).await.clone();
        let mut slots = self.slots();
        if let Some(Slot::Loading(current)) = slots.get(appid_lc) {
            // Only settle our own fetch: `store` may have replaced it meanwhile.
            if Arc::ptr_eq(current, &cell) {
                match &result {
                    Ok(Some(app)) => {
                        slots.insert(appid_lc.to_string(), Slot::Known(app.clone()));
                    }
                    Ok(None) => {
                        if slots.len() > PURGE_ABOVE {
                            let now = Instant::now();
                            slots.retain(
                                |_, s| !matches!(s, Slot::Missing { until } if *until <= now),
                            );
                        }
                        slots.insert(
                            appid_lc.to_string(),
                            Slot::Missing {
                                until: Instant::now() + NEGATIVE_TTL,
                            },
                        );
                    }
                    Err(_) => {
                        slots.remove(appid_lc);
                    }
                }
            }
        }
        result
    }

    /// `POST exapp_storage`: the record AppAPI pushes replaces whatever was known, including
    /// a negative entry.
    pub fn store(&self, appid_lc: &str, app: ExApp) {
        self.slots()
            .insert(appid_lc.to_string(), Slot::Known(Arc::new(app)));
    }

    /// `DELETE exapp_storage`: forgets a known record; `false` if there was none. A negative
    /// entry is left alone, as in HaRP.
    pub fn remove(&self, appid_lc: &str) -> bool {
        let mut slots = self.slots();
        if matches!(slots.get(appid_lc), Some(Slot::Known(_))) {
            slots.remove(appid_lc);
            true
        } else {
            false
        }
    }

    /// How many apps are known (for `/info` and metrics).
    pub fn known_count(&self) -> usize {
        self.slots()
            .values()
            .filter(|s| matches!(s, Slot::Known(_)))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn app(version: &str) -> ExApp {
        ExApp {
            exapp_token: "t".into(),
            exapp_version: version.into(),
            host: "127.0.0.1".into(),
            port: 1,
            routes: vec![],
            resolved_host: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn one_fetch_for_many_waiters_and_negative_ttl() {
        let cache = Arc::new(ExAppCache::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (cache, calls) = (cache.clone(), calls.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_fetch("a", || async {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        Ok(None)
                    })
                    .await
            }));
        }
        for t in tasks {
            assert!(t.await.unwrap().unwrap().is_none());
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(cache.stats.misses.get(), 50, "waiters count as misses");
        let again = || async { Ok(Some(Arc::new(app("2")))) };
        assert!(
            cache.get_or_fetch("a", again).await.unwrap().is_none(),
            "negative entry holds"
        );
        assert_eq!(cache.stats.negative_hits.get(), 1);
        tokio::time::advance(NEGATIVE_TTL + Duration::from_millis(1)).await;
        assert!(
            cache.get_or_fetch("a", again).await.unwrap().is_some(),
            "negative entry expired"
        );
    }

    #[tokio::test]
    async fn errors_are_not_cached_and_store_wins() {
        let cache = ExAppCache::default();
        let r = cache
            .get_or_fetch("a", || async { Err(NcError::Timeout) })
            .await;
        assert!(r.is_err());
        let r = cache
            .get_or_fetch("a", || async { Ok(Some(Arc::new(app("1")))) })
            .await;
        assert_eq!(r.unwrap().unwrap().exapp_version, "1");
        cache.store("a", app("2"));
        let r = cache.get_or_fetch("a", || async { Ok(None) }).await;
        assert_eq!(r.unwrap().unwrap().exapp_version, "2");
        assert_eq!(cache.stats.hits.get(), 1);
        assert!(cache.remove("a"));
        assert!(!cache.remove("a"));
    }
}
