//! ExApp host resolution (decision D7): IP literals as they are; names resolved at connect
//! time with a 10 s cap, IPv4 preferred, and the answer kept for 30 s, forgotten early when a
//! connect fails. (HaRP kept the first answer forever, so a re-created container broke routing.)

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

const TTL: Duration = Duration::from_secs(30);
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Default)]
pub struct Resolver {
    cache: Mutex<HashMap<String, (IpAddr, Instant)>>,
}

impl Resolver {
    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, (IpAddr, Instant)>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub async fn resolve(&self, host: &str) -> Result<IpAddr, String> {
        let literal = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if let Ok(ip) = literal.parse::<IpAddr>() {
            return Ok(ip);
        }
        if let Some((ip, at)) = self.cache().get(host)
            && at.elapsed() < TTL
        {
            return Ok(*ip);
        }
        let lookup = tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host((host, 0)))
            .await
            .map_err(|_| format!("resolving '{host}' took longer than 10 s"))?
            .map_err(|e| format!("cannot resolve '{host}': {e}"))?;
        let addrs: Vec<IpAddr> = lookup.map(|a| a.ip()).collect();
        let ip = addrs
            .iter()
            .find(|a| a.is_ipv4())
            .or_else(|| addrs.first())
            .copied()
            .ok_or_else(|| format!("'{host}' has no address"))?;
        let mut cache = self.cache();
        if cache.len() > 10_000 {
            cache.retain(|_, (_, at)| at.elapsed() < TTL);
        }
        cache.insert(host.to_string(), (ip, Instant::now()));
        Ok(ip)
    }

    /// Forget a name after a connect failure, so the next request asks DNS again.
    pub fn forget(&self, host: &str) {
        self.cache().remove(host);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn literals_and_localhost() {
        let r = Resolver::default();
        assert_eq!(
            r.resolve("127.0.0.1").await.unwrap(),
            "127.0.0.1".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            r.resolve("[::1]").await.unwrap(),
            "::1".parse::<IpAddr>().unwrap()
        );
        assert!(r.resolve("localhost").await.unwrap().is_loopback());
        assert!(r.resolve("no-such-host.invalid").await.is_err());
    }
}
