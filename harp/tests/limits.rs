//! Connection limits and load (issue 7): HaRP's `maxconn` 8192 as `HP_MAX_CONNECTIONS`.
//! - Past the limit, new connections are reset at once (counted in
//!   `harp_client_connections_refused_total`) instead of waiting or exhausting descriptors,
//!   and a freed place is used again.
//! - With too few file descriptors (`ulimit -n 64`, harp as a child process), the accept loop
//!   logs EMFILE, keeps running, and serves again once clients leave.
//! - 8,192 concurrent client connections, each with a request answered, held for
//!   [`HOLD`], each answering a second request afterwards, then all closed: harp's gauges
//!   return to their baseline. The 8,193rd is reset at once.
//!
//! Nextcloud and the ExApp are the testkit's stand-ins (no real Nextcloud runs here).

mod common;
#[path = "common/gauges.rs"]
mod gauges;
#[path = "common/limited.rs"]
mod limited;
use common::*;
use gauges::Gauges;
use limited::LimitedHarp;

use bytes::Bytes;
use futures_util::StreamExt;
use harp_testkit::exapp::FakeExApp;
use harp_testkit::nextcloud::FakeNextcloud;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// HaRP's `maxconn`, harp's default `HP_MAX_CONNECTIONS`.
const MAXCONN: usize = 8192;
/// How long the 8,192 connections are held open.
const HOLD: Duration = Duration::from_secs(10);
/// Connections opened (and requests sent) at once while filling up.
const PARALLEL: usize = 256;

fn path() -> String {
    format!("/exapps/{APP}/public")
}

/// A kept-alive client connection that has had one request answered.
struct Held {
    sender: SendRequest<Empty<Bytes>>,
}

async fn request(sender: &mut SendRequest<Empty<Bytes>>) -> Result<(), String> {
    let req = Request::builder()
        .uri(path())
        .header("host", "harp.test")
        .body(Empty::new())
        .map_err(|e| e.to_string())?;
    let resp = tokio::time::timeout(Duration::from_secs(60), sender.send_request(req))
        .await
        .map_err(|_| "no answer within 60 s".to_string())?
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    resp.into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("status {status}"));
    }
    Ok(())
}

async fn open_one(addr: SocketAddr) -> Result<Held, String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    request(&mut sender).await?;
    Ok(Held { sender })
}

/// Whether a new connection is closed by harp without an answer within `within`.
async fn reset_at_once(addr: SocketAddr, within: Duration) -> bool {
    let Ok(mut s) = TcpStream::connect(addr).await else {
        return true;
    };
    let _ = s
        .write_all(format!("GET {} HTTP/1.1\r\nhost: harp.test\r\n\r\n", path()).as_bytes())
        .await;
    let mut buf = [0u8; 256];
    matches!(
        tokio::time::timeout(within, s.read(&mut buf)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

#[tokio::test]
async fn connections_past_the_limit_are_reset_at_once() {
    const LIMIT: usize = 20;
    let h = start(&[("HP_MAX_CONNECTIONS", "20")]).await;
    let control = h.running.as_ref().expect("running").control_addr;
    let mut held = Vec::new();
    for _ in 0..LIMIT {
        held.push(open_one(h.addr).await.expect("within the limit"));
    }
    let g = Gauges::read(control).await;
    assert_eq!(g.client_open, LIMIT as u64);
    let started = Instant::now();
    for i in 0..50 {
        assert!(
            reset_at_once(h.addr, Duration::from_secs(5)).await,
            "connection {i} past the limit was not closed at once"
        );
    }
    println!(
        "50 connections past the limit reset in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    let g = Gauges::read(control).await;
    assert_eq!((g.client_open, g.refused), (LIMIT as u64, 50));
    // The held connections still work, and a freed place is used again.
    request(&mut held[0].sender).await.expect("held connection");
    held.pop();
    Gauges::wait_until(control, Duration::from_secs(30), "a place freed", |g| {
        g.client_open < LIMIT as u64
    })
    .await;
    open_one(h.addr).await.expect("a freed place");
    drop(held);
    Gauges::wait_until(control, Duration::from_secs(30), "all closed", |g| {
        g.client_open == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_loop_survives_running_out_of_file_descriptors() {
    let nc = FakeNextcloud::start(KEY).await.expect("fake nextcloud");
    let exapp = FakeExApp::start().await.expect("fake exapp");
    nc.add_app(APP, skeleton_record(exapp.port()));
    let mut harp = LimitedHarp::spawn(&nc.url(), 64, &[]).await;
    let addr = harp.exapps;
    assert_eq!(get(addr, &path(), &[]).await.status, 200);
    // More connections than harp has descriptors: the rest wait in the backlog while its
    // accepts fail with EMFILE.
    let mut clients = Vec::new();
    for _ in 0..100 {
        let mut s = TcpStream::connect(addr).await.expect("the kernel accepts");
        let _ = s
            .write_all(format!("GET {} HTTP/1.1\r\nhost: harp.test\r\n\r\n", path()).as_bytes())
            .await;
        clients.push(s);
    }
    assert!(
        harp.wait_for_log("accept failed", Duration::from_secs(30))
            .await,
        "harp never ran out of descriptors:\n{}",
        harp.log_text()
    );
    println!(
        "out of descriptors with {} open; {}",
        harp.open_fds().unwrap_or(0),
        harp.log_text()
            .lines()
            .find(|l| l.contains("accept failed"))
            .unwrap_or("")
    );
    harp.assert_alive();
    drop(clients);
    // Once the clients are gone, harp serves again without a restart (bounded wait while it
    // drains the backlog of closed connections).
    let start = Instant::now();
    loop {
        harp.assert_alive();
        if let Ok(r) = send(addr, "GET", &path(), &[], "").await
            && r.status == 200
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "harp did not serve again after the clients left:\n{}",
            harp.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let g = Gauges::read(harp.control).await;
    assert!(g.accept_errors > 0, "{g:?}");
    println!(
        "served again after {:.1} s; {g:?}",
        start.elapsed().as_secs_f64()
    );
}

/// The soft limit on this process's descriptors, raised to the hard limit; `None` when the
/// hard limit is too low for `needed`.
fn raise_nofile(needed: u64) -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return None;
        }
        if lim.rlim_max < needed {
            return None;
        }
        if lim.rlim_cur < needed {
            lim.rlim_cur = lim.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return None;
            }
        }
    }
    Some(lim.rlim_cur)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_thousand_connections_held_then_closed() {
    // The client ends here, plus the stand-ins' side of harp's upstream connections.
    let needed = MAXCONN as u64 + 2048;
    let Some(limit) = raise_nofile(needed) else {
        let msg = format!("the hard descriptor limit is below {needed}");
        if std::env::var("HARP_REQUIRE_PEERS").as_deref() == Ok("1") {
            panic!("{msg}");
        }
        eprintln!("SKIPPED: {msg}");
        return;
    };
    let nc = FakeNextcloud::start(KEY).await.expect("fake nextcloud");
    let exapp = FakeExApp::start().await.expect("fake exapp");
    nc.add_app(APP, skeleton_record(exapp.port()));
    let harp = LimitedHarp::spawn(&nc.url(), needed + 1024, &[]).await;
    let addr = harp.exapps;
    assert_eq!(get(addr, &path(), &[]).await.status, 200);
    let base = Gauges::wait_until(harp.control, Duration::from_secs(30), "warm-up", |g| {
        g.client_open == 0
    })
    .await;
    let rss_before = harp.rss_kib().unwrap_or(0);

    let started = Instant::now();
    let results: Vec<Result<Held, String>> = futures_util::stream::iter(0..MAXCONN)
        .map(|_| open_one(addr))
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    let opened = started.elapsed();
    let errors: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        errors.is_empty(),
        "{} of {MAXCONN} failed, first: {:?}",
        errors.len(),
        errors.first()
    );
    let mut held: Vec<Held> = results.into_iter().filter_map(Result::ok).collect();
    let full = Gauges::read(harp.control).await;
    assert_eq!(full.client_open, MAXCONN as u64, "{full:?}");
    let rss_full = harp.rss_kib().unwrap_or(0);
    let fds_full = harp.open_fds().unwrap_or(0);
    // The 8,193rd connection is reset at once.
    assert!(reset_at_once(addr, Duration::from_secs(5)).await);

    tokio::time::sleep(HOLD).await; // the hold itself, not a synchronisation
    let started_again = Instant::now();
    let second: Vec<Result<(), String>> = futures_util::stream::iter(held.iter_mut())
        .map(|c| request(&mut c.sender))
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    let again = started_again.elapsed();
    let failed = second.iter().filter(|r| r.is_err()).count();
    assert_eq!(
        failed,
        0,
        "held connections failed their second request: {:?}",
        second.iter().find(|r| r.is_err())
    );
    drop(held);
    // Every client connection closed; the ExApp connections left are the pool's idle ones, each
    // with its task, which it drops after 60 s. They are bounded by the requests in flight, not
    // by the 16,384 requests made: the pool may connect anew while another connection is on its
    // way back, so up to twice PARALLEL (seen: 266 with PARALLEL = 256), never thousands.
    let after = Gauges::wait_until(
        harp.control,
        Duration::from_secs(30),
        "client connections closed, tasks back to the baseline plus pooled connections",
        |g| {
            g.client_open == 0
                && g.upstream_open <= 2 * PARALLEL as u64 + 8
                && g.tasks <= base.tasks + g.upstream_open + 4
        },
    )
    .await;
    let refused = Gauges::read(harp.control).await.refused;
    assert_eq!(refused, 1);
    println!(
        "{MAXCONN} connections (soft fd limit {limit}): opened with a request each in {:.1} s, \
         held {HOLD:?}, second request on each in {:.1} s; harp RSS {} -> {} KiB, {} fds when \
         full; gauges full {full:?}, after {after:?}",
        opened.as_secs_f64(),
        again.as_secs_f64(),
        rss_before,
        rss_full,
        fds_full
    );
}

#[tokio::test]
async fn websockets_keep_their_place_under_the_limit() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let h = start(&[("HP_MAX_CONNECTIONS", "2")]).await;
    let control = h.running.as_ref().expect("running").control_addr;
    let open_ws = || async {
        let mut req = format!("ws://{}/exapps/{APP}/ws", h.addr)
            .into_client_request()
            .expect("ws request");
        req.headers_mut().insert(
            "authorization",
            basic("usr", "password").parse().expect("header value"),
        );
        let stream = TcpStream::connect(h.addr).await.expect("connect");
        let (mut ws, _) = tokio_tungstenite::client_async(req, stream)
            .await
            .expect("ws handshake");
        ws.send(Message::text("hi")).await.expect("send");
        let echo = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("echo in time")
            .expect("open")
            .expect("frame");
        assert_eq!(echo.to_text().ok(), Some("Echo: hi"));
        ws
    };
    let first = open_ws().await;
    let _second = open_ws().await;
    let g = Gauges::read(control).await;
    assert_eq!(g.client_open, 2, "upgraded connections count: {g:?}");
    assert!(
        reset_at_once(h.addr, Duration::from_secs(5)).await,
        "a third connection past the limit"
    );
    drop(first);
    Gauges::wait_until(
        control,
        Duration::from_secs(30),
        "a WebSocket closed",
        |g| g.client_open < 2,
    )
    .await;
    assert_eq!(get(h.addr, &path(), &[]).await.status, 200);
}
