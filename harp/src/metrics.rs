//! Prometheus metrics for the loopback control port (`GET /metrics`, decision D8): requests by
//! app, outcome and status class, their latency, and the counters other modules keep (bans,
//! caches, upstream errors, tunnels, open connections and live tasks), written in the text
//! exposition format (0.0.4) by hand.
//!
//! Counting is a few relaxed atomic adds per request. Labels are bounded: outcomes, decisions
//! and status classes are fixed sets, and apps are the ids Nextcloud knows, at most
//! [`MAX_APP_LABELS`] of them, so random app ids in URLs cannot grow memory. Request latency is
//! measured until the response head is ready (a stream or WebSocket would skew it otherwise).
//! Certificate expiry comes from [`crate::certs::inventory`], read at scrape time.

use crate::proxy::decision::{Decision, RequestOutcome};
use crate::state::State;
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Distinct app labels; later apps are counted as `other`.
pub const MAX_APP_LABELS: usize = 200;
/// The app label of requests that reached no app Nextcloud knows (bad paths, unknown ids,
/// bans).
pub const NO_APP: &str = "none";
/// The app label of apps past the cap.
pub const OTHER_APP: &str = "other";
/// The app label of AppAPI's control plane, `/exapps/app_api/...`.
pub const CONTROL_APP: &str = "app_api";

/// A monotonic counter.
#[derive(Default, Debug)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down (open connections).
#[derive(Default, Debug)]
pub struct Gauge(AtomicU64);

impl Gauge {
    /// Counts one more until the returned guard is dropped.
    pub fn hold(self: &Arc<Self>) -> GaugeGuard {
        self.0.fetch_add(1, Ordering::Relaxed);
        GaugeGuard(self.clone())
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// One unit of a [`Gauge`], given back on drop.
#[derive(Debug)]
pub struct GaugeGuard(Arc<Gauge>);

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Histogram bucket bounds in microseconds, and as Prometheus writes them (seconds).
const BOUNDS_US: [u64; 17] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000, 30_000_000,
];
const BOUNDS: [&str; 17] = [
    "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
    "0.25", "0.5", "1", "2.5", "5", "10", "30",
];

/// Durations by bucket (not cumulative; the last bucket is `+Inf`), summed at scrape time so
/// `_count` always equals the `+Inf` bucket.
#[derive(Default)]
struct Histogram {
    buckets: [Counter; BOUNDS_US.len() + 1],
    sum_us: Counter,
}

impl Histogram {
    fn observe(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let i = BOUNDS_US.partition_point(|b| *b < us);
        self.buckets[i].inc();
        self.sum_us.0.fetch_add(us, Ordering::Relaxed);
    }
}

/// Status classes: `none` (no response: the silent drop), `1xx` to `5xx`, and `other`.
const CLASSES: [&str; 7] = ["none", "1xx", "2xx", "3xx", "4xx", "5xx", "other"];

fn class_index(status: Option<u16>) -> usize {
    match status {
        None => 0,
        Some(s @ 100..=599) => usize::from(s / 100),
        Some(_) => 6,
    }
}

/// The counters of one app label.
#[derive(Default)]
pub struct AppSeries {
    requests: [[Counter; CLASSES.len()]; RequestOutcome::ALL.len()],
    duration: [Histogram; RequestOutcome::ALL.len()],
}

/// Requests and their latency, owned by `State`; the rest is read from the modules at scrape
/// time.
pub struct Metrics {
    apps: RwLock<HashMap<Box<str>, Arc<AppSeries>>>,
    app_cap: usize,
    no_app: Arc<AppSeries>,
    control: Arc<AppSeries>,
    other: Arc<AppSeries>,
    decisions: [Counter; Decision::ALL.len()],
}

impl Default for Metrics {
    fn default() -> Self {
        Self::with_app_cap(MAX_APP_LABELS)
    }
}

impl Metrics {
    pub fn with_app_cap(app_cap: usize) -> Self {
        Metrics {
            apps: RwLock::new(HashMap::new()),
            app_cap,
            no_app: Arc::default(),
            control: Arc::default(),
            other: Arc::default(),
            decisions: Default::default(),
        }
    }

    /// The series of a known app (lower-cased id), `other` once the cap is reached.
    pub fn app(&self, appid_lc: &str) -> Arc<AppSeries> {
        if let Some(s) = self
            .apps
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(appid_lc)
        {
            return s.clone();
        }
        if appid_lc == NO_APP || appid_lc == OTHER_APP || appid_lc == CONTROL_APP {
            // Never a second series with a reserved label.
            return self.other.clone();
        }
        let mut apps = self.apps.write().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = apps.get(appid_lc) {
            return s.clone();
        }
        if apps.len() >= self.app_cap {
            return self.other.clone();
        }
        let series = Arc::new(AppSeries::default());
        apps.insert(appid_lc.into(), series.clone());
        series
    }

    /// The series of AppAPI's control plane.
    pub fn control(&self) -> Arc<AppSeries> {
        self.control.clone()
    }

    /// Counts one finished request: `app` is `None` when no known app was reached, `status`
    /// `None` when it was dropped.
    pub fn record(
        &self,
        app: Option<&AppSeries>,
        decision: Decision,
        status: Option<u16>,
        elapsed: Duration,
    ) {
        let series = app.unwrap_or(&self.no_app);
        let outcome = decision.outcome() as usize;
        series.requests[outcome][class_index(status)].inc();
        series.duration[outcome].observe(elapsed);
        self.decisions[decision as usize].inc();
    }

    /// How many distinct app labels exist besides the fixed ones.
    pub fn app_labels(&self) -> usize {
        self.apps.read().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(value: &str) -> std::borrow::Cow<'_, str> {
    if !value.contains(['\\', '"', '\n']) {
        return value.into();
    }
    value
        .replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
        .into()
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// The whole exposition.
pub fn render(state: &State) -> String {
    let mut out = String::with_capacity(8 * 1024);
    let m = &state.metrics;
    header(&mut out, "harp_build_info", "gauge", "harp's version.");
    let _ = writeln!(
        out,
        "harp_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    render_requests(&mut out, m);

    header(
        &mut out,
        "harp_request_decisions_total",
        "counter",
        "Requests by the data plane's decision.",
    );
    for d in Decision::ALL {
        let n = m.decisions[d as usize].get();
        let _ = writeln!(
            out,
            "harp_request_decisions_total{{decision=\"{}\"}} {n}",
            d.as_str()
        );
    }

    header(
        &mut out,
        "harp_upstream_errors_total",
        "counter",
        "ExApp requests that failed, by kind.",
    );
    for kind in crate::proxy::forward::ForwardError::UPSTREAM {
        let n = state.upstream.error_count(kind);
        let _ = writeln!(
            out,
            "harp_upstream_errors_total{{kind=\"{}\"}} {n}",
            kind.as_str()
        );
    }

    render_connections(&mut out, state);
    render_bans(&mut out, state);
    render_caches(&mut out, state);
    render_tunnels(&mut out, state);
    crate::certs::inventory::render_metrics(&mut out, &state.config.certs_dir);
    out
}

fn render_requests(out: &mut String, m: &Metrics) {
    let apps = m.apps.read().unwrap_or_else(|p| p.into_inner());
    let mut series: Vec<(&str, &AppSeries)> = apps.iter().map(|(k, v)| (&**k, &**v)).collect();
    series.sort_unstable_by_key(|(k, _)| *k);
    series.push((NO_APP, &m.no_app));
    series.push((CONTROL_APP, &m.control));
    series.push((OTHER_APP, &m.other));

    header(
        out,
        "harp_requests_total",
        "counter",
        "Requests by ExApp, outcome and status class.",
    );
    for (app, s) in &series {
        let app = escape(app);
        for o in RequestOutcome::ALL {
            for (c, class) in CLASSES.iter().enumerate() {
                let n = s.requests[o as usize][c].get();
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "harp_requests_total{{app=\"{app}\",outcome=\"{}\",status_class=\"{class}\"}} {n}",
                        o.as_str()
                    );
                }
            }
        }
    }

    let name = "harp_request_duration_seconds";
    header(
        out,
        name,
        "histogram",
        "Time until the response head was ready (or the request dropped), by ExApp and outcome.",
    );
    for (app, s) in &series {
        let app = escape(app);
        for o in RequestOutcome::ALL {
            let h = &s.duration[o as usize];
            let counts: Vec<u64> = h.buckets.iter().map(Counter::get).collect();
            let total: u64 = counts.iter().sum();
            if total == 0 {
                continue;
            }
            let labels = format!("app=\"{app}\",outcome=\"{}\"", o.as_str());
            let mut cumulative = 0;
            for (i, n) in counts.iter().enumerate() {
                cumulative += n;
                let le = BOUNDS.get(i).copied().unwrap_or("+Inf");
                let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
            }
            let sum = h.sum_us.get() as f64 / 1e6;
            let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
            let _ = writeln!(out, "{name}_count{{{labels}}} {total}");
        }
    }
}

/// Open connections and live tasks: what must come back down after faults and load.
fn render_connections(out: &mut String, state: &State) {
    let gate = &state.client_gate;
    let tasks = tokio::runtime::Handle::try_current()
        .map(|h| h.metrics().num_alive_tasks() as u64)
        .unwrap_or(0);
    for (name, kind, help, value) in [
        (
            "harp_client_connections_open",
            "gauge",
            "Client connections open on the HTTP and HTTPS listeners.",
            gate.open() as u64,
        ),
        (
            "harp_client_connections_max",
            "gauge",
            "HP_MAX_CONNECTIONS: client connections served at once.",
            gate.max() as u64,
        ),
        (
            "harp_client_connections_refused_total",
            "counter",
            "Client connections reset at once because HP_MAX_CONNECTIONS were open.",
            gate.refused(),
        ),
        (
            "harp_accept_errors_total",
            "counter",
            "Failed accepts on any listener (e.g. EMFILE: out of file descriptors).",
            gate.accept_errors() + state.other_gate.accept_errors(),
        ),
        (
            "harp_upstream_connections_open",
            "gauge",
            "Connections to ExApps open now (pooled or busy).",
            state.upstream.open_connections(),
        ),
        (
            "harp_tasks_alive",
            "gauge",
            "Tasks alive in harp's runtime.",
            tasks,
        ),
    ] {
        header(out, name, kind, help);
        let _ = writeln!(out, "{name} {value}");
    }
}

fn render_bans(out: &mut String, state: &State) {
    use crate::bans::Failure;
    header(
        out,
        "harp_ban_failures_total",
        "counter",
        "Failures charged to client IPs, by reason.",
    );
    for reason in Failure::ALL {
        let n = state.bans.failure_count(reason);
        let _ = writeln!(
            out,
            "harp_ban_failures_total{{reason=\"{}\"}} {n}",
            reason.as_str()
        );
    }
    header(
        out,
        "harp_bans_total",
        "counter",
        "Client IPs banned after too many failures.",
    );
    let _ = writeln!(out, "harp_bans_total {}", state.bans.bans_issued());
    header(
        out,
        "harp_ban_tracked_ips",
        "gauge",
        "Client IPs holding failures.",
    );
    let _ = writeln!(out, "harp_ban_tracked_ips {}", state.bans.tracked());
}

fn render_caches(out: &mut String, state: &State) {
    let name = "harp_exapp_cache_lookups_total";
    header(
        out,
        name,
        "counter",
        "ExApp record lookups: hit, negative_hit (a remembered unknown app), miss (asked Nextcloud).",
    );
    let c = &state.exapps.stats;
    for (result, n) in [
        ("hit", c.hits.get()),
        ("negative_hit", c.negative_hits.get()),
        ("miss", c.misses.get()),
    ] {
        let _ = writeln!(out, "{name}{{result=\"{result}\"}} {n}");
    }
    header(
        out,
        "harp_exapps_known",
        "gauge",
        "ExApp records held in the cache.",
    );
    let _ = writeln!(out, "harp_exapps_known {}", state.exapps.known_count());

    let name = "harp_session_cache_lookups_total";
    header(
        out,
        name,
        "counter",
        "Session cookie lookups in the user cache.",
    );
    let s = &state.sessions;
    for (result, n) in [("hit", s.hits.get()), ("miss", s.misses.get())] {
        let _ = writeln!(out, "{name}{{result=\"{result}\"}} {n}");
    }
}

fn render_tunnels(out: &mut String, state: &State) {
    let registry = &state.tunnels.registry;
    let proxies = registry.proxies();
    // Released proxies' totals are kept, so these counters never go down; their
    // connections were closed with them.
    let (mut conns, mut bytes_in, mut bytes_out) = registry.retired_totals();
    let mut open = 0;
    for (_, p) in &proxies {
        conns += p.stats.connections_total.load(Ordering::Relaxed);
        open += p.stats.connections_open.load(Ordering::Relaxed);
        bytes_in += p.stats.bytes_in.load(Ordering::Relaxed);
        bytes_out += p.stats.bytes_out.load(Ordering::Relaxed);
    }
    for (name, kind, help, value) in [
        (
            "harp_tunnel_clients",
            "gauge",
            "Connected tunnel clients.",
            registry.client_count() as u64,
        ),
        (
            "harp_tunnel_proxies",
            "gauge",
            "Published tunnel proxies.",
            proxies.len() as u64,
        ),
        (
            "harp_tunnel_connections_open",
            "gauge",
            "User connections through tunnels now.",
            open,
        ),
        (
            "harp_tunnel_connections_total",
            "counter",
            "User connections through tunnels.",
            conns,
        ),
    ] {
        header(out, name, kind, help);
        let _ = writeln!(out, "{name} {value}");
    }
    let name = "harp_tunnel_bytes_total";
    header(
        out,
        name,
        "counter",
        "Bytes through tunnel proxies: in = from users to ExApps, out = back.",
    );
    let _ = writeln!(out, "{name}{{direction=\"in\"}} {bytes_in}");
    let _ = writeln!(out, "{name}{{direction=\"out\"}} {bytes_out}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_labels_are_capped() {
        let m = Metrics::with_app_cap(3);
        let a = m.app("a");
        assert!(Arc::ptr_eq(&a, &m.app("a")), "one series per app");
        m.app("b");
        m.app("c");
        let d = m.app("d");
        assert!(Arc::ptr_eq(&d, &m.other), "past the cap: other");
        for i in 0..1000 {
            m.app(&format!("random-{i}"));
        }
        assert_eq!(m.app_labels(), 3);
        assert!(
            Arc::ptr_eq(&a, &m.app("a")),
            "earlier apps keep their series"
        );
        let fresh = Metrics::default();
        for reserved in [NO_APP, OTHER_APP, CONTROL_APP] {
            assert!(Arc::ptr_eq(&fresh.app(reserved), &fresh.other));
        }
        assert_eq!(fresh.app_labels(), 0, "reserved labels never name an app");
    }

    #[test]
    fn default_cap() {
        let m = Metrics::default();
        for i in 0..(MAX_APP_LABELS + 50) {
            m.app(&format!("app{i}"));
        }
        assert_eq!(m.app_labels(), MAX_APP_LABELS);
    }

    #[test]
    fn histogram_buckets() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(100));
        h.observe(Duration::from_micros(101));
        h.observe(Duration::from_secs(3600));
        assert_eq!(h.buckets[0].get(), 1, "bounds are inclusive (le)");
        assert_eq!(h.buckets[1].get(), 1);
        assert_eq!(h.buckets[BOUNDS_US.len()].get(), 1, "+Inf");
    }

    #[test]
    fn status_classes_and_escaping() {
        assert_eq!(CLASSES[class_index(None)], "none");
        assert_eq!(CLASSES[class_index(Some(101))], "1xx");
        assert_eq!(CLASSES[class_index(Some(404))], "4xx");
        assert_eq!(CLASSES[class_index(Some(599))], "5xx");
        assert_eq!(CLASSES[class_index(Some(999))], "other");
        assert_eq!(escape("a\"b\\c\nd"), r#"a\"b\\c\nd"#);
    }
}
