//! A bounded soak (issue 7): harp as a child process under mixed traffic for `HARP_SOAK_SECS`
//! (default 600): plain requests (public, signed, with a user lookup), server-sent events, WebSocket
//! sessions and downloads through a real frpc tunnel, each from its own client loop. harp's
//! RSS and its task and connection gauges (`/metrics`) are sampled every few seconds; after
//! the warm-up their least-squares trend over the rest of the run must stay within
//! [`MAX_RSS_GROWTH_KIB`] and [`MAX_TASK_GROWTH`], every request must succeed, and once the
//! traffic stops the client connections and tasks must come back down.
//!
//! Ignored by default (it takes minutes):
//! `HARP_SOAK_SECS=600 cargo test --release -p harp --test soak -- --ignored --nocapture`.
//! CI runs it for 60 s (`scripts/test.sh`). Nextcloud and the ExApps are the testkit's
//! stand-ins (no real Nextcloud runs here); frpc is the real one.

mod common;
#[path = "common/frpc.rs"]
mod frpc;
#[path = "common/gauges.rs"]
mod gauges;
#[path = "common/limited.rs"]
mod limited;
use common::*;
use gauges::Gauges;
use limited::LimitedHarp;

use futures_util::{SinkExt, StreamExt};
use harp_testkit::exapp::FakeExApp;
use harp_testkit::nextcloud::FakeNextcloud;
use http::StatusCode;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, client_async};

/// RSS growth allowed over the measured part of the run (least-squares trend).
const MAX_RSS_GROWTH_KIB: f64 = 16.0 * 1024.0;
/// Task-count growth allowed over the measured part of the run (least-squares trend).
const MAX_TASK_GROWTH: f64 = 20.0;
const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// The app published through the tunnel.
const TUNNELED: &str = "tunneled";

fn soak_duration() -> Duration {
    let secs = std::env::var("HARP_SOAK_SECS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(600);
    Duration::from_secs(secs.max(20))
}

/// Requests done and failed, by kind.
#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    failed: AtomicU64,
}

impl Tally {
    fn count(&self, r: Result<(), String>, what: &str) {
        match r {
            Ok(()) => {
                self.ok.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                if self.failed.fetch_add(1, Ordering::Relaxed) < 5 {
                    eprintln!("{what} failed: {e}");
                }
            }
        }
    }
}

fn expect_status(r: Result<Reply, String>, status: u16) -> Result<(), String> {
    match r {
        Ok(r) if r.status == status => Ok(()),
        Ok(r) => Err(format!(
            "status {} (wanted {status}): {}",
            r.status,
            r.text()
        )),
        Err(e) => Err(e),
    }
}

/// Plain requests: a public page, a signed call, a user page (a Nextcloud user lookup each
/// time: `Authorization` is never cached). Nothing that counts as a failure: 127.0.0.1 would
/// be banned.
async fn http_round(addr: SocketAddr, exapp_port: u16) -> Result<(), String> {
    expect_status(
        send(addr, "GET", &format!("/exapps/{APP}/public"), &[], "").await,
        200,
    )?;
    let signed = signed_headers(KEY, exapp_port);
    expect_status(
        send(
            addr,
            "GET",
            &format!("/exapps/{APP}/heartbeat"),
            &hdrs(&signed),
            "",
        )
        .await,
        200,
    )?;
    let user = basic("usr", "password");
    expect_status(
        send(
            addr,
            "GET",
            &format!("/exapps/{APP}/user"),
            &[("authorization", &user)],
            "",
        )
        .await,
        200,
    )
}

/// Twenty server-sent events, 20 ms apart.
async fn sse_round(addr: SocketAddr) -> Result<(), String> {
    let r = send(
        addr,
        "GET",
        &format!("/exapps/{APP}/sse?n=20&interval_ms=20"),
        &[],
        "",
    )
    .await?;
    let events = r.text().matches("data: event").count();
    if r.status != 200 || events != 20 {
        return Err(format!("status {}, {events} events", r.status));
    }
    Ok(())
}

/// A WebSocket session as `usr`: twenty echoes, then a close.
async fn ws_round(addr: SocketAddr) -> Result<(), String> {
    let mut req = format!("ws://{addr}/exapps/{APP}/ws")
        .into_client_request()
        .map_err(|e| e.to_string())?;
    let auth = basic("usr", "password")
        .parse()
        .map_err(|_| "header value")?;
    req.headers_mut().insert("authorization", auth);
    let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let (mut ws, resp) = tokio::time::timeout(
        Duration::from_secs(30),
        client_async(req, MaybeTlsStream::Plain(stream)),
    )
    .await
    .map_err(|_| "handshake timed out")?
    .map_err(|e| e.to_string())?;
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        return Err(format!("status {}", resp.status()));
    }
    for i in 0..20 {
        ws.send(Message::text(format!("m{i}")))
            .await
            .map_err(|e| e.to_string())?;
        let reply = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .map_err(|_| "no echo within 30 s")?
            .ok_or("closed")?
            .map_err(|e| e.to_string())?;
        if reply.to_text().ok() != Some(format!("Echo: m{i}").as_str()) {
            return Err(format!("unexpected {reply:?}"));
        }
    }
    ws.close(None).await.map_err(|e| e.to_string())
}

/// One MiB downloaded through the tunnel.
async fn tunnel_round(addr: SocketAddr) -> Result<(), String> {
    let r = send(
        addr,
        "GET",
        &format!("/exapps/{TUNNELED}/download?bytes=1048576"),
        &[],
        "",
    )
    .await?;
    if r.status != 200 || r.body.len() != 1 << 20 {
        return Err(format!("status {}, {} bytes", r.status, r.body.len()));
    }
    Ok(())
}

/// The least-squares slope of `ys` over `xs` (per unit of x).
fn slope(xs: &[f64], ys: &[f64]) -> f64 {
    let n = xs.len() as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let cov: f64 = xs.iter().zip(ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let var: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
    if var == 0.0 { 0.0 } else { cov / var }
}

struct Sample {
    at: f64,
    rss_kib: u64,
    gauges: Gauges,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "takes minutes; run with --ignored (HARP_SOAK_SECS sets the duration)"]
async fn mixed_traffic_keeps_memory_and_tasks_flat() {
    let duration = soak_duration();
    let frpc_bin = frpc::require_frpc();
    let nc = FakeNextcloud::start(KEY).await.expect("fake nextcloud");
    let exapp = FakeExApp::start().await.expect("fake exapp");
    let tunneled = FakeExApp::start().await.expect("tunneled exapp");
    let remote_port = frpc::free_port();
    nc.add_app(APP, skeleton_record(exapp.port()));
    nc.add_app(TUNNELED, skeleton_record(remote_port));
    let ports = remote_port.to_string();
    let mut harp =
        LimitedHarp::spawn(&nc.url(), 4096, &[("HP_FRP_ALLOW_PORTS", ports.as_str())]).await;
    let addr = harp.exapps;
    let _frpc = match &frpc_bin {
        Some(bin) => {
            let config = harp.certs.path().join("frpc.toml");
            std::fs::write(
                &config,
                frpc::frpc_toml(
                    harp.frp.port(),
                    Some(&harp.certs.path().join("frp")),
                    KEY,
                    "",
                    &frpc::local_port_proxy(TUNNELED, remote_port, tunneled.port()),
                ),
            )
            .expect("write frpc.toml");
            let f = frpc::Frpc::start(bin, &config);
            assert!(
                f.wait_for("start proxy success", Duration::from_secs(30))
                    .await,
                "{}",
                f.log_text()
            );
            Some(f)
        }
        None => None,
    };
    let base = Gauges::read(harp.control).await;

    let kinds = ["http", "sse", "websocket", "tunnel"];
    let tallies: Arc<[Tally; 4]> = Arc::new(Default::default());
    let deadline = Instant::now() + duration;
    let mut loops = Vec::new();
    for (kind, workers) in [(0usize, 4), (1, 2), (2, 2), (3, 2)] {
        if kind == 3 && frpc_bin.is_none() {
            continue;
        }
        for _ in 0..workers {
            let tallies = tallies.clone();
            let exapp_port = exapp.port();
            loops.push(tokio::spawn(async move {
                while Instant::now() < deadline {
                    let r = match kind {
                        0 => http_round(addr, exapp_port).await,
                        1 => sse_round(addr).await,
                        2 => ws_round(addr).await,
                        _ => tunnel_round(addr).await,
                    };
                    tallies[kind].count(r, kinds[kind]);
                }
            }));
        }
    }

    let started = Instant::now();
    let mut samples = Vec::new();
    while Instant::now() < deadline {
        tokio::time::sleep(SAMPLE_EVERY.min(deadline.saturating_duration_since(Instant::now())))
            .await;
        harp.assert_alive();
        let s = Sample {
            at: started.elapsed().as_secs_f64(),
            rss_kib: harp.rss_kib().expect("harp's RSS from /proc"),
            gauges: Gauges::read(harp.control).await,
        };
        println!(
            "t={:>5.0}s rss={} KiB tasks={} client={} upstream={} tunnel={}",
            s.at,
            s.rss_kib,
            s.gauges.tasks,
            s.gauges.client_open,
            s.gauges.upstream_open,
            s.gauges.tunnel_open
        );
        samples.push(s);
    }
    for l in loops {
        l.await.expect("traffic loop");
    }

    let counts: Vec<String> = kinds
        .iter()
        .zip(tallies.iter())
        .map(|(k, t)| {
            format!(
                "{k} {} ok / {} failed",
                t.ok.load(Ordering::Relaxed),
                t.failed.load(Ordering::Relaxed)
            )
        })
        .collect();
    println!("traffic over {duration:?}: {}", counts.join(", "));
    for (k, t) in kinds.iter().zip(tallies.iter()) {
        assert_eq!(t.failed.load(Ordering::Relaxed), 0, "{k} requests failed");
    }
    for (i, (k, t)) in kinds.iter().zip(tallies.iter()).enumerate() {
        let skipped = i == 3 && frpc_bin.is_none();
        assert!(
            skipped || t.ok.load(Ordering::Relaxed) > 0,
            "no {k} traffic ran"
        );
    }

    // The first fifth of the run (at least 10 s) is warm-up: pools and caches fill.
    let warm_up = (duration.as_secs_f64() / 5.0).max(10.0);
    let measured: Vec<&Sample> = samples.iter().filter(|s| s.at >= warm_up).collect();
    assert!(measured.len() >= 3, "too few samples after the warm-up");
    let xs: Vec<f64> = measured.iter().map(|s| s.at).collect();
    let window = xs.last().unwrap_or(&0.0) - xs.first().unwrap_or(&0.0);
    let rss: Vec<f64> = measured.iter().map(|s| s.rss_kib as f64).collect();
    let tasks: Vec<f64> = measured.iter().map(|s| s.gauges.tasks as f64).collect();
    let rss_growth = slope(&xs, &rss) * window;
    let task_growth = slope(&xs, &tasks) * window;
    let rss_max = samples.iter().map(|s| s.rss_kib).max().unwrap_or(0);
    let tasks_max = samples.iter().map(|s| s.gauges.tasks).max().unwrap_or(0);
    println!(
        "RSS first {} / last {} / max {rss_max} KiB, trend {rss_growth:+.0} KiB over {window:.0} s; \
         tasks first {} / last {} / max {tasks_max}, trend {task_growth:+.1}",
        samples.first().map_or(0, |s| s.rss_kib),
        samples.last().map_or(0, |s| s.rss_kib),
        samples.first().map_or(0, |s| s.gauges.tasks),
        samples.last().map_or(0, |s| s.gauges.tasks),
    );
    assert!(
        rss_growth <= MAX_RSS_GROWTH_KIB,
        "RSS grows: {rss_growth:.0} KiB over {window:.0} s"
    );
    assert!(
        task_growth <= MAX_TASK_GROWTH,
        "tasks grow: {task_growth:.1} over {window:.0} s"
    );
    // Traffic over: client connections close; what is left is pooled upstream and tunnel
    // connections, one task each.
    let after = Gauges::wait_until(
        harp.control,
        Duration::from_secs(60),
        "client connections closed and tasks back down",
        |g| {
            g.client_open == 0
                && g.tasks <= base.tasks + g.upstream_open + g.tunnel_open + 8
                && g.upstream_open <= 32
        },
    )
    .await;
    println!("baseline {base:?}; after the traffic {after:?}");
}
