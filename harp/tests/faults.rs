//! Faults of harp's peers (issue 7), each with the status the contract documents, then the
//! peer comes back and the same request succeeds without restarting harp, and harp's open
//! connections and live tasks (read from `/metrics`) return to their baseline:
//! - Nextcloud down, slower than harp's 25 s timeout, answering 500s or non-JSON (§3.1 steps
//!   6–8, §4: an unknown app is `404`, a user lookup `401`, a signed call still goes through);
//! - the ExApp refusing connections (`503` after HAProxy's retries), resetting mid-body (the
//!   response is cut), stalling before its head (`504` after `HP_TIMEOUT_SERVER`) or in its
//!   body (cut after `HP_TIMEOUT_SERVER`) (§3.4);
//! - a real frpc killed in the middle of a download through its tunnel (the client sees the
//!   cut at once, not a hang), then started again;
//! - the Docker engine dying in the middle of an image pull through the pass-through (the
//!   stream is cut, then `503` while it is down).
//!
//! Nextcloud, the ExApp and the engine are the testkit's stand-ins (no real Nextcloud runs
//! here; the engine is a stand-in because a real one cannot be killed at a chosen point of a
//! pull). Each fault is repeated so that one leaked connection or task per fault would exceed
//! the small slack the leak check allows.

mod common;
#[path = "common/frpc.rs"]
mod frpc;
#[path = "common/gauges.rs"]
mod gauges;
use common::*;
use gauges::Gauges;

use bytes::Bytes;
use harp_testkit::engine::FakeEngine;
use harp_testkit::exapp::{ExAppFault, FAULT_ANNOUNCED, FAULT_SENT};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// How many times each fault is repeated.
const ROUNDS: usize = 10;
/// Tasks harp's runtime may hold above the baseline once a fault is over (pooled
/// connections to the stand-ins come and go).
const TASK_SLACK: u64 = 4;

const PAGE_503: &str = "<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n";
const PAGE_504: &str = "<html><body><h1>504 Gateway Time-out</h1>\nThe server didn't respond in time.\n</body></html>\n";

fn control(h: &TestHarp) -> SocketAddr {
    h.running.as_ref().expect("running").control_addr
}

/// The gauges once the warm-up request's connections have settled.
async fn baseline(h: &TestHarp) -> Gauges {
    let r = get(h.addr, &format!("/exapps/{APP}/public"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    Gauges::wait_until(
        control(h),
        Duration::from_secs(30),
        "warm-up connection closed",
        |g| g.client_open == 0,
    )
    .await
}

/// A request whose response is read as it arrives.
struct Streamed {
    status: StatusCode,
    body: Incoming,
}

async fn open(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Streamed {
    let stream = TcpStream::connect(addr).await.expect("connect to harp");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "harp.test");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(Bytes::new())).expect("request");
    let resp = tokio::time::timeout(Duration::from_secs(60), sender.send_request(req))
        .await
        .unwrap_or_else(|_| panic!("{path}: no response head within 60 s"))
        .unwrap_or_else(|e| panic!("{path}: no response: {e}"));
    let (parts, body) = resp.into_parts();
    Streamed {
        status: parts.status,
        body,
    }
}

impl Streamed {
    /// Reads until at least `n` bytes came (bounded), returning them.
    async fn read_at_least(&mut self, n: usize) -> Vec<u8> {
        let mut got = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while got.len() < n {
            match tokio::time::timeout_at(deadline, self.body.frame()).await {
                Err(_) => panic!("only {} of {n} bytes within 30 s", got.len()),
                Ok(None) => panic!("body ended after {} of {n} bytes", got.len()),
                Ok(Some(Err(e))) => panic!("body failed after {} of {n} bytes: {e}", got.len()),
                Ok(Some(Ok(f))) => got.extend_from_slice(f.data_ref().map_or(&[][..], |d| d)),
            }
        }
        got
    }

    /// Reads the rest: the byte count and whether the body ended cleanly. Panics if it
    /// neither ends nor fails within `within` (a hang).
    async fn finish(mut self, within: Duration) -> (u64, bool) {
        let mut n = 0u64;
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.body.frame()).await {
                Err(_) => panic!("body neither ended nor failed within {within:?} ({n} bytes)"),
                Ok(None) => return (n, true),
                Ok(Some(Err(_))) => return (n, false),
                Ok(Some(Ok(f))) => n += f.data_ref().map_or(0, |d| d.len() as u64),
            }
        }
    }
}

fn assert_page(r: &Reply, status: u16, page: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.text(), page);
}

// ---------------------------------------------------------------------------------------------
// Nextcloud
// ---------------------------------------------------------------------------------------------

/// The requests that need Nextcloud, and what they must get while it fails: a lookup of an
/// app harp has not cached is `404` (no failure charged), a user lookup is `401`, and a signed
/// call for a cached app still reaches the ExApp.
async fn assert_nextcloud_failing(h: &TestHarp, user: &str, signed: &[(&'static str, String)]) {
    let r = get(h.addr, "/exapps/late/public", &[]).await;
    assert_eq!(
        (r.status.as_u16(), r.text().as_str()),
        (404, "404 Not Found")
    );
    let r = get(
        h.addr,
        &format!("/exapps/{APP}/user"),
        &[("authorization", user)],
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.text().as_str()),
        (401, "401 Unauthorized")
    );
    let r = get(h.addr, &format!("/exapps/{APP}/heartbeat"), &hdrs(signed)).await;
    assert_eq!(
        r.status,
        200,
        "signed calls need no Nextcloud: {}",
        r.text()
    );
}

async fn assert_nextcloud_working(h: &TestHarp, user: &str) {
    let r = get(h.addr, "/exapps/late/public", &[]).await;
    assert_eq!(r.status, 200, "the app registered meanwhile: {}", r.text());
    let r = get(
        h.addr,
        &format!("/exapps/{APP}/user"),
        &[("authorization", user)],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
}

/// harp with the skeleton app cached, and a second app `late` that Nextcloud knows but harp
/// has never looked up.
async fn nextcloud_bed() -> (TestHarp, Gauges) {
    let h = start(&[]).await;
    let base = baseline(&h).await;
    h.nc.add_app("late", skeleton_record(h.exapp.port()));
    (h, base)
}

#[tokio::test]
async fn nextcloud_down_then_back() {
    let (h, base) = nextcloud_bed().await;
    let user = basic("usr", "password");
    let signed = signed_headers(KEY, h.exapp.port());
    for round in 0..3 {
        h.nc.go_down().await;
        let started = Instant::now();
        for _ in 0..ROUNDS {
            assert_nextcloud_failing(&h, &user, &signed).await;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "a refused Nextcloud answers at once, not after a timeout ({:?})",
            started.elapsed()
        );
        h.nc.come_back().await.expect("Nextcloud back on its port");
        assert_nextcloud_working(&h, &user).await;
        // Let the next round ask again for an app harp has not cached.
        h.state().exapps.remove("late");
        println!("round {round}: down and back");
    }
    assert_eq!(h.state().bans.tracked(), 0, "Nextcloud errors never ban");
    Gauges::back_to(control(&h), base, TASK_SLACK).await;
}

#[tokio::test]
async fn nextcloud_slower_than_its_timeout() {
    let (h, base) = nextcloud_bed().await;
    let user = basic("usr", "password");
    h.nc.set_delay(Duration::from_secs(40));
    let started = Instant::now();
    let user_path = format!("/exapps/{APP}/user");
    let auth = [("authorization", user.as_str())];
    let (meta, info) = tokio::join!(
        get(h.addr, "/exapps/late/public", &[]),
        get(h.addr, &user_path, &auth),
    );
    let took = started.elapsed();
    println!("answers after {:.1} s", took.as_secs_f64());
    assert_eq!(
        (meta.status.as_u16(), meta.text().as_str()),
        (404, "404 Not Found")
    );
    assert_eq!(
        (info.status.as_u16(), info.text().as_str()),
        (401, "401 Unauthorized")
    );
    assert!(
        took >= Duration::from_secs(20) && took < Duration::from_secs(60),
        "expected the 25 s Nextcloud timeout, took {took:?}"
    );
    h.nc.set_delay(Duration::ZERO);
    assert_nextcloud_working(&h, &user).await;
    Gauges::back_to(control(&h), base, TASK_SLACK).await;
}

#[tokio::test]
async fn nextcloud_answering_500_or_not_json() {
    let (h, base) = nextcloud_bed().await;
    let user = basic("usr", "password");
    let signed = signed_headers(KEY, h.exapp.port());
    for _ in 0..ROUNDS {
        h.nc.fail_meta_with(Some(500));
        h.nc.fail_user_info_with(Some(500));
        assert_nextcloud_failing(&h, &user, &signed).await;
        h.nc.fail_meta_with(None);
        h.nc.fail_user_info_with(None);
        h.nc.answer_garbage(true);
        assert_nextcloud_failing(&h, &user, &signed).await;
        h.nc.answer_garbage(false);
    }
    assert_nextcloud_working(&h, &user).await;
    assert_eq!(h.state().bans.tracked(), 0, "Nextcloud errors never ban");
    Gauges::back_to(control(&h), base, TASK_SLACK).await;
}

// ---------------------------------------------------------------------------------------------
// The ExApp
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn exapp_refusing_connections_then_back() {
    let h = start(&[]).await;
    let base = baseline(&h).await;
    let path = format!("/exapps/{APP}/public");
    h.exapp.go_down().await;
    let started = Instant::now();
    let replies =
        futures_util::future::join_all((0..ROUNDS).map(|_| get(h.addr, &path, &[]))).await;
    println!(
        "{ROUNDS} concurrent 503s after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for r in &replies {
        assert_page(r, 503, PAGE_503);
    }
    h.exapp.come_back().await.expect("ExApp back on its port");
    let started = Instant::now();
    assert_eq!(get(h.addr, &path, &[]).await.status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the ExApp is used again at once"
    );
    Gauges::back_to(control(&h), base, TASK_SLACK).await;
}

#[tokio::test]
async fn exapp_resetting_mid_body_cuts_the_response() {
    let h = start(&[]).await;
    let base = baseline(&h).await;
    let path = format!("/exapps/{APP}/public");
    h.exapp
        .set_fault(Some(ExAppFault::ResetMidBody))
        .await
        .expect("fault set");
    for _ in 0..ROUNDS {
        let mut s = open(h.addr, "GET", &path, &[]).await;
        assert_eq!(s.status, 200, "the head had already been relayed");
        s.read_at_least(1).await;
        let (n, clean) = s.finish(Duration::from_secs(20)).await;
        assert!(!clean, "a cut body must not end cleanly");
        assert!(n < FAULT_ANNOUNCED, "{n} bytes");
    }
    h.exapp.set_fault(None).await.expect("fault cleared");
    let r = get(h.addr, &path, &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["path"], "/public");
    Gauges::back_to(control(&h), base, TASK_SLACK).await;
}

#[tokio::test]
async fn exapp_stalling_before_its_head_gets_504() {
    let h = start(&[("HP_TIMEOUT_SERVER", "1s")]).await;
    let base = baseline(&h).await;
    let path = format!("/exapps/{APP}/public");
    h.exapp
        .set_fault(Some(ExAppFault::StallHead))
        .await
        .expect("fault set");
    let started = Instant::now();
    let requests = futures_util::future::join_all((0..ROUNDS).map(|_| get(h.addr, &path, &[])));
    let stalled = async {
        // The gauges see the stalled exchanges (so their return to the baseline means
        // something).
        Gauges::wait_until(
            control(&h),
            Duration::from_secs(30),
            "stalled exchanges",
            |g| g.client_open >= ROUNDS as u64 && g.upstream_open >= ROUNDS as u64,
        )
        .await
    };
    let (replies, during) = tokio::join!(requests, stalled);
    println!(
        "{ROUNDS} concurrent 504s after {:.1} s; during the stall: {during:?}",
        started.elapsed().as_secs_f64()
    );
    for r in &replies {
        assert_page(r, 504, PAGE_504);
    }
    h.exapp.set_fault(None).await.expect("fault cleared");
    assert_eq!(get(h.addr, &path, &[]).await.status, 200);
    // The stalled exchanges' connections must be closed, not kept waiting for an answer.
    Gauges::back_to(control(&h), base, TASK_SLACK).await;
}

#[tokio::test]
async fn exapp_stalling_mid_body_is_cut_after_the_server_timeout() {
    let h = start(&[("HP_TIMEOUT_SERVER", "1s")]).await;
    let base = baseline(&h).await;
    let path = format!("/exapps/{APP}/public");
    h.exapp
        .set_fault(Some(ExAppFault::StallBody))
        .await
        .expect("fault set");
    for _ in 0..ROUNDS {
        let mut s = open(h.addr, "GET", &path, &[]).await;
        assert_eq!(s.status, 200);
        s.read_at_least(FAULT_SENT).await;
        let started = Instant::now();
        let (n, clean) = s.finish(Duration::from_secs(20)).await;
        assert!(!clean && n == 0, "cut, not ended ({n} more bytes)");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "cut after about HP_TIMEOUT_SERVER (1 s), took {:?}",
            started.elapsed()
        );
    }
    h.exapp.set_fault(None).await.expect("fault cleared");
    assert_eq!(get(h.addr, &path, &[]).await.status, 200);
    Gauges::back_to(control(&h), base, TASK_SLACK).await;
}

// ---------------------------------------------------------------------------------------------
// A tunnel client vanishing
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn tunnel_client_killed_mid_download_then_back() {
    let Some(bin) = frpc::require_frpc() else {
        return;
    };
    let remote_port = frpc::free_port();
    let nc = harp_testkit::nextcloud::FakeNextcloud::start(KEY)
        .await
        .expect("fake nextcloud");
    let exapp = harp_testkit::exapp::FakeExApp::start()
        .await
        .expect("fake exapp");
    nc.add_app(APP, skeleton_record(remote_port));
    let local = exapp.port();
    let ports = remote_port.to_string();
    let h = start_with(nc, exapp, &[("HP_FRP_ALLOW_PORTS", &ports)]).await;
    let frp_port = h.running.as_ref().expect("running").frp_addr.port();
    let config = h.certs.path().join("frpc.toml");
    std::fs::write(
        &config,
        frpc::frpc_toml(
            frp_port,
            Some(&h.certs.path().join("frp")),
            KEY,
            "",
            &frpc::local_port_proxy(APP, remote_port, local),
        ),
    )
    .expect("write frpc.toml");
    let publish = || async {
        let f = frpc::Frpc::start(&bin, &config);
        assert!(
            f.wait_for("start proxy success", Duration::from_secs(30))
                .await,
            "{}",
            f.log_text()
        );
        f
    };
    let mut client = publish().await;
    let base = baseline(&h).await;
    let download = format!("/exapps/{APP}/download?bytes={}", 1u64 << 32);
    for round in 0..3 {
        let mut s = open(h.addr, "GET", &download, &[]).await;
        assert_eq!(s.status, 200);
        s.read_at_least(1 << 20).await;
        drop(client); // kills frpc (SIGKILL) and waits for it
        let killed = Instant::now();
        let (n, clean) = s.finish(Duration::from_secs(30)).await;
        println!(
            "round {round}: cut {:.2} s after the kill, {n} more bytes",
            killed.elapsed().as_secs_f64()
        );
        assert!(!clean, "a 4 GiB download cannot have ended");
        assert!(
            killed.elapsed() < Duration::from_secs(15),
            "the client must see the cut quickly"
        );
        // harp notices the client is gone and releases its port (bounded wait).
        let start = Instant::now();
        while h.state().tunnels.registry.port_taken(remote_port) {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the proxy port was not released"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let r = get(h.addr, &format!("/exapps/{APP}/public"), &[]).await;
        assert_page(&r, 503, PAGE_503);
        client = publish().await;
        let r = get(h.addr, &format!("/exapps/{APP}/public"), &[]).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    Gauges::back_to(control(&h), base, TASK_SLACK).await;
    drop(client);
}

// ---------------------------------------------------------------------------------------------
// The Docker engine dying mid-pull
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn docker_engine_dying_mid_pull_then_back() {
    let h = start(&[]).await;
    let base = baseline(&h).await;
    let engine = FakeEngine::start().await.expect("fake engine");
    let port = engine.port().to_string();
    let hdr = [
        ("harp-shared-key", KEY),
        ("docker-engine-port", port.as_str()),
    ];
    let pull = "/exapps/app_api/v1.44/images/create?fromImage=example%2Fapp&tag=1";
    for round in 0..3 {
        engine.hang_pulls(true);
        let mut s = open(h.addr, "POST", pull, &hdr).await;
        assert_eq!(s.status, 200);
        let first = s.read_at_least(1).await;
        assert!(
            String::from_utf8_lossy(&first).contains("Downloading"),
            "pull progress arrives as it comes"
        );
        engine.go_down().await;
        let died = Instant::now();
        let (_, clean) = s.finish(Duration::from_secs(30)).await;
        assert!(!clean, "a pull cut by the engine must not look finished");
        assert!(died.elapsed() < Duration::from_secs(10));
        // While it is down: the pass-through and §5.5 say so.
        let r = send(h.addr, "POST", pull, &hdr, "").await.expect("answer");
        assert_page(&r, 503, PAGE_503);
        let exists = send(
            h.addr,
            "POST",
            "/exapps/app_api/docker/exapp/exists",
            &hdr,
            r#"{"name": "app"}"#,
        )
        .await
        .expect("answer");
        assert_eq!(exists.status, 503, "{}", exists.text());
        assert!(exists.text().contains("Could not connect to Docker Engine"));
        engine.come_back().await.expect("engine back on its port");
        engine.hang_pulls(false);
        let r = send(h.addr, "POST", pull, &hdr, "").await.expect("answer");
        assert_eq!(r.status, 200);
        assert!(r.text().contains("Downloaded newer image"), "{}", r.text());
        let exists = send(
            h.addr,
            "POST",
            "/exapps/app_api/docker/exapp/exists",
            &hdr,
            r#"{"name": "app"}"#,
        )
        .await
        .expect("answer");
        assert_eq!(
            (exists.status.as_u16(), exists.json()),
            (200, serde_json::json!({"exists": false}))
        );
        println!("round {round}: died mid-pull and came back");
    }
    assert_eq!(engine.pulls(), 6);
    Gauges::back_to(control(&h), base, TASK_SLACK).await;
}
