//! Brute-force protection (contract §3.6–3.7, decisions D11 and D19): failures per client IP
//! in a sliding window; an IP with `HP_BLACKLIST_COUNT` failures inside `HP_BLACKLIST_WINDOW` is
//! banned until enough of them age out. Shared by the HTTP listeners and tunnel logins.
//! Trusted proxies are never banned (banning the reverse proxy locks everyone out), and the
//! table is capped, evicting the IPs whose last failure is oldest.

use crate::metrics::Counter;
use ipnet::IpNet;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Why a failure was recorded: exactly the reasons of contract §3.6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Missing or wrong `harp-shared-key` on `/exapps/app_api/...`.
    ControlKey,
    /// A signed request with the wrong `harp-shared-key`.
    SignedKey,
    /// A `..` segment in the path.
    DotDot,
    /// No `/exapps/<appid>` in the path.
    NoAppId,
    /// Nextcloud does not know the ExApp.
    UnknownApp,
    /// Unsigned `/heartbeat`, `/init` or `/enabled`.
    InternalEndpoint,
    /// The first matching route denies access.
    RouteDenied,
    /// No route matches.
    NoRoute,
    /// The ExApp answered a status listed in the route's `bruteforce_protection`.
    ResponseStatus,
    /// An FRP login with a wrong or missing token.
    TunnelLogin,
}

impl Failure {
    pub const ALL: [Failure; 10] = [
        Failure::ControlKey,
        Failure::SignedKey,
        Failure::DotDot,
        Failure::NoAppId,
        Failure::UnknownApp,
        Failure::InternalEndpoint,
        Failure::RouteDenied,
        Failure::NoRoute,
        Failure::ResponseStatus,
        Failure::TunnelLogin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Failure::ControlKey => "control_key",
            Failure::SignedKey => "signed_key",
            Failure::DotDot => "dot_dot",
            Failure::NoAppId => "no_appid",
            Failure::UnknownApp => "unknown_app",
            Failure::InternalEndpoint => "internal_endpoint",
            Failure::RouteDenied => "route_denied",
            Failure::NoRoute => "no_route",
            Failure::ResponseStatus => "response_status",
            Failure::TunnelLogin => "tunnel_login",
        }
    }
}

/// The ban table.
pub struct Bans {
    count: u32,
    window: Duration,
    trusted: Vec<IpNet>,
    cap: usize,
    failures: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
    /// Failures recorded, by `Failure` discriminant (for metrics).
    recorded: [Counter; Failure::ALL.len()],
    /// Bans issued (for metrics).
    bans: Counter,
}

impl Bans {
    pub fn new(count: u32, window: Duration, trusted: Vec<IpNet>) -> Self {
        Self::with_cap(count, window, trusted, 100_000)
    }

    pub fn with_cap(count: u32, window: Duration, trusted: Vec<IpNet>, cap: usize) -> Self {
        Bans {
            count,
            window,
            trusted,
            cap: cap.max(1),
            failures: Mutex::new(HashMap::new()),
            recorded: Default::default(),
            bans: Counter::default(),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, VecDeque<Instant>>> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn prune(&self, list: &mut VecDeque<Instant>, now: Instant) {
        while list
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            list.pop_front();
        }
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        crate::net::client_ip::is_trusted(ip, &self.trusted)
    }

    /// Whether requests (and tunnel logins) from `ip` are refused.
    pub fn is_banned(&self, ip: IpAddr) -> bool {
        if self.is_trusted(ip) {
            return false;
        }
        if self.count == 0 {
            return true;
        }
        let mut table = self.table();
        let Some(list) = table.get_mut(&ip) else {
            return false;
        };
        self.prune(list, Instant::now());
        if list.is_empty() {
            table.remove(&ip);
            return false;
        }
        list.len() >= self.count as usize
    }

    /// Records one failure for `ip`. Returns `true` if this failure banned it.
    pub fn record_failure(&self, ip: IpAddr, reason: Failure) -> bool {
        if self.is_trusted(ip) {
            tracing::warn!(
                ip = %ip,
                reason = reason.as_str(),
                "failure from a trusted proxy address is not counted: if browsers reach harp through this proxy, \
                 the proxy must send X-Forwarded-For and HP_TRUSTED_PROXY_IPS must list it"
            );
            return false;
        }
        let now = Instant::now();
        let mut table = self.table();
        if !table.contains_key(&ip) && table.len() >= self.cap {
            self.evict(&mut table, now);
        }
        let list = table.entry(ip).or_default();
        self.prune(list, now);
        list.push_back(now);
        // Only the newest `count` failures can matter.
        while list.len() > self.count.max(1) as usize {
            list.pop_front();
        }
        let banned = list.len() >= self.count as usize;
        self.recorded[reason as usize].inc();
        tracing::info!(ip = %ip, reason = reason.as_str(), failures = list.len(), "recorded failure");
        if banned && list.len() == self.count as usize {
            self.bans.inc();
            tracing::warn!(ip = %ip, window_s = self.window.as_secs(), "IP is banned after too many failures");
        }
        banned
    }

    /// Makes room: drop expired lists, then the tenth of the table whose last failure is oldest.
    fn evict(&self, table: &mut HashMap<IpAddr, VecDeque<Instant>>, now: Instant) {
        table.retain(|_, list| {
            list.back()
                .is_some_and(|t| now.duration_since(*t) < self.window)
        });
        if table.len() < self.cap {
            return;
        }
        let mut by_age: Vec<(Instant, IpAddr)> = table
            .iter()
            .filter_map(|(ip, l)| l.back().map(|t| (*t, *ip)))
            .collect();
        let drop = (self.cap / 10).max(1).min(by_age.len());
        // Only the oldest tenth must be found, not sorted: linear, even at a full table.
        if drop < by_age.len() {
            by_age.select_nth_unstable(drop);
        }
        for (_, ip) in by_age.into_iter().take(drop) {
            table.remove(&ip);
        }
    }

    /// IPs currently holding failures (for metrics and tests).
    pub fn tracked(&self) -> usize {
        self.table().len()
    }

    /// Failures recorded for `reason` since start (trusted proxies' are not recorded).
    pub fn failure_count(&self, reason: Failure) -> u64 {
        self.recorded[reason as usize].get()
    }

    /// IPs banned since start (each time one reached the count).
    pub fn bans_issued(&self) -> u64 {
        self.bans.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_list_matches_discriminants() {
        for (i, r) in Failure::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i, "{r:?}");
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn sliding_window() {
        let bans = Bans::new(3, Duration::from_secs(10), vec![]);
        let a = ip("1.2.3.4");
        assert!(!bans.record_failure(a, Failure::NoRoute));
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(!bans.record_failure(a, Failure::NoRoute));
        assert!(!bans.is_banned(a));
        assert!(bans.record_failure(a, Failure::NoRoute));
        assert!(bans.is_banned(a));
        assert_eq!(bans.bans_issued(), 1);
        assert_eq!(bans.failure_count(Failure::NoRoute), 3);
        assert!(!bans.is_banned(ip("1.2.3.5")), "other IPs are not affected");
        // The first failure ages out at t=10: the ban lifts.
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(!bans.is_banned(a));
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(!bans.is_banned(a));
        assert_eq!(bans.tracked(), 0, "empty entries are dropped");
    }

    #[tokio::test(start_paused = true)]
    async fn trusted_proxies_are_never_banned() {
        let bans = Bans::new(
            1,
            Duration::from_secs(10),
            vec!["10.0.0.0/8".parse().unwrap()],
        );
        assert!(!bans.record_failure(ip("10.1.1.1"), Failure::RouteDenied));
        assert!(!bans.is_banned(ip("10.1.1.1")));
        assert_eq!(bans.failure_count(Failure::RouteDenied), 0, "not recorded");
        assert!(bans.record_failure(ip("11.1.1.1"), Failure::RouteDenied));
    }

    #[tokio::test(start_paused = true)]
    async fn zero_count_bans_everyone_but_trusted() {
        let bans = Bans::new(
            0,
            Duration::from_secs(10),
            vec!["10.0.0.0/8".parse().unwrap()],
        );
        assert!(bans.is_banned(ip("1.1.1.1")));
        assert!(!bans.is_banned(ip("10.0.0.1")));
    }

    /// A million distinct addresses (a scan, or clients behind a spoofing-proof proxy walk)
    /// never grow the table past its default cap, and each entry keeps at most `count`
    /// instants: memory stays bounded (measured in SECURITY.md).
    #[tokio::test(start_paused = true)]
    async fn a_million_distinct_addresses_stay_under_the_cap() {
        const CAP: usize = 100_000;
        let bans = Bans::new(10, Duration::from_secs(300), vec![]);
        let mut most = 0;
        for i in 0..1_000_000u32 {
            // Multiplying by an odd number is a bijection on u32: every address is new.
            let n = i.wrapping_mul(2_654_435_761);
            let ip = if i % 2 == 0 {
                IpAddr::from(n.to_be_bytes())
            } else {
                IpAddr::from(std::net::Ipv6Addr::new(
                    0x2001,
                    0xdb8,
                    0,
                    0,
                    0,
                    0,
                    (n >> 16) as u16,
                    n as u16,
                ))
            };
            bans.record_failure(ip, Failure::NoRoute);
            if i % 997 == 0 {
                most = most.max(bans.tracked());
                tokio::time::advance(Duration::from_millis(1)).await;
            }
        }
        most = most.max(bans.tracked());
        assert!(most <= CAP, "{most} entries");
        assert!(
            most >= CAP * 8 / 10,
            "the table is used up to its cap ({most})"
        );
        let table = bans.table();
        // hashbrown keeps room for growth and tombstones: a few times the cap, never more.
        assert!(table.capacity() <= 3 * CAP, "capacity {}", table.capacity());
        assert!(table.values().all(|l| l.len() <= 10 && l.capacity() <= 16));
        let bytes = table.capacity()
            * (std::mem::size_of::<IpAddr>() + std::mem::size_of::<VecDeque<Instant>>())
            + table
                .values()
                .map(|l| l.capacity() * std::mem::size_of::<Instant>())
                .sum::<usize>();
        eprintln!(
            "ban table after 1M addresses: {most} entries at most, capacity {}, about {bytes} bytes",
            table.capacity()
        );
        assert!(bytes < 32 << 20, "about {bytes} bytes");
        assert_eq!(bans.failure_count(Failure::NoRoute), 1_000_000);
    }

    #[tokio::test(start_paused = true)]
    async fn table_is_capped_oldest_first() {
        let bans = Bans::with_cap(2, Duration::from_secs(100), vec![], 10);
        for i in 0..10u8 {
            bans.record_failure(IpAddr::from([1, 1, 1, i]), Failure::NoRoute);
            tokio::time::advance(Duration::from_secs(1)).await;
        }
        bans.record_failure(ip("2.2.2.2"), Failure::NoRoute);
        bans.record_failure(ip("2.2.2.2"), Failure::NoRoute);
        assert!(bans.tracked() <= 10);
        assert!(bans.is_banned(ip("2.2.2.2")));
        assert!(
            !bans.table().contains_key(&ip("1.1.1.0")),
            "the oldest went first"
        );
        assert!(bans.table().contains_key(&ip("1.1.1.9")));
    }
}
