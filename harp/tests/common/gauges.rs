//! Reading harp's leak gauges from `GET /metrics` on its control port: open client and
//! upstream connections, live tasks, tunnel connections, refused connections and failed
//! accepts; and waiting (bounded) until they are back where a test expects them.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// One reading of the gauges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Gauges {
    pub client_open: u64,
    pub upstream_open: u64,
    pub tasks: u64,
    pub tunnel_open: u64,
    pub refused: u64,
    pub accept_errors: u64,
}

/// The value of an unlabelled sample `name` in a Prometheus exposition.
pub fn sample(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(name)?.strip_prefix(' ')?;
        rest.trim().parse().ok()
    })
}

impl Gauges {
    pub fn parse(text: &str) -> Option<Gauges> {
        Some(Gauges {
            client_open: sample(text, "harp_client_connections_open")?,
            upstream_open: sample(text, "harp_upstream_connections_open")?,
            tasks: sample(text, "harp_tasks_alive")?,
            tunnel_open: sample(text, "harp_tunnel_connections_open")?,
            refused: sample(text, "harp_client_connections_refused_total")?,
            accept_errors: sample(text, "harp_accept_errors_total")?,
        })
    }

    /// Reads `/metrics` from harp's control port; panics when it cannot.
    pub async fn read(control: SocketAddr) -> Gauges {
        let r = crate::common::send(control, "GET", "/metrics", &[], "")
            .await
            .unwrap_or_else(|e| panic!("GET /metrics on {control}: {e}"));
        Gauges::parse(&r.text()).unwrap_or_else(|| panic!("gauges missing:\n{}", r.text()))
    }

    /// Polls until `ok` holds (at most `within`), returning the last reading, or panics
    /// saying what `what` expected and what was seen.
    pub async fn wait_until(
        control: SocketAddr,
        within: Duration,
        what: &str,
        ok: impl Fn(&Gauges) -> bool,
    ) -> Gauges {
        let start = Instant::now();
        loop {
            let g = Gauges::read(control).await;
            if ok(&g) {
                return g;
            }
            assert!(
                start.elapsed() < within,
                "{what}: not reached within {within:?}; last reading {g:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until no client connection is open, no more upstream or tunnel connections than
    /// `baseline` (pooled ones), and at most `slack` tasks more than `baseline`.
    pub async fn back_to(control: SocketAddr, baseline: Gauges, slack: u64) -> Gauges {
        Gauges::wait_until(
            control,
            Duration::from_secs(30),
            &format!("back to the baseline {baseline:?} (+{slack} tasks)"),
            |g| {
                g.client_open == 0
                    && g.upstream_open <= baseline.upstream_open
                    && g.tunnel_open <= baseline.tunnel_open
                    && g.tasks <= baseline.tasks + slack
            },
        )
        .await
    }
}
