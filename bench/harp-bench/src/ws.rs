//! WebSockets: echo round trips (binary frames) through harp and directly to the sample ExApp,
//! and harp's memory per idle WebSocket.

use crate::setup::{APP, Backends, COOKIE, Error, Harp};
use crate::stats::{Samples, fmt};
use futures_util::{SinkExt, StreamExt};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn connect(url: &str) -> Result<Ws, Error> {
    let mut req = url.into_client_request()?;
    req.headers_mut().insert("cookie", COOKIE.parse()?);
    let (ws, resp) = tokio_tungstenite::connect_async(req).await?;
    if resp.status().as_u16() != 101 {
        return Err(format!("{url}: status {}", resp.status()).into());
    }
    Ok(ws)
}

/// Round trips of a 32-byte binary frame on `conns` connections for `secs` seconds.
async fn echo(url: &str, conns: usize, secs: u64) -> Result<(f64, Samples), Error> {
    let mut sockets = Vec::new();
    for _ in 0..conns {
        sockets.push(connect(url).await?);
    }
    let start = Instant::now();
    let until = start + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for mut ws in sockets {
        tasks.push(tokio::spawn(async move {
            let mut samples = Samples::default();
            let payload = vec![7u8; 32];
            while Instant::now() < until {
                let t = Instant::now();
                ws.send(Message::binary(payload.clone())).await?;
                loop {
                    match ws.next().await {
                        Some(Ok(Message::Binary(b))) if b.len() == payload.len() => break,
                        Some(Ok(Message::Binary(_))) => return Err("echo of a wrong length".into()),
                        Some(Ok(_)) => continue,
                        Some(Err(e)) => return Err(Error::from(e)),
                        None => return Err("WebSocket closed".into()),
                    }
                }
                samples.push(t.elapsed());
            }
            let _ = ws.close(None).await;
            Ok::<_, Error>(samples)
        }));
    }
    let mut all = Samples::default();
    for t in tasks {
        all.extend(t.await??);
    }
    let rate = all.len() as f64 / start.elapsed().as_secs_f64();
    Ok((rate, all))
}

pub async fn run_echo(conns: &[usize], secs: u64, repeats: usize) -> Result<(), Error> {
    let backends = Backends::start().await?;
    let mut harp = Harp::spawn(&backends.nc.url())?;
    harp.wait_ready().await?;
    let direct = format!("ws://{}/ws", backends.exapp.addr);
    let through = format!("ws://{}/exapps/{APP}/ws", harp.http);
    for &n in conns {
        let (mut d_rates, mut h_rates) = (Vec::new(), Vec::new());
        let (mut d_all, mut h_all) = (Samples::default(), Samples::default());
        for _ in 0..repeats.max(1) {
            let (rate, s) = echo(&direct, n, secs).await?;
            d_rates.push(rate);
            d_all.extend(s);
            let (rate, s) = echo(&through, n, secs).await?;
            h_rates.push(rate);
            h_all.extend(s);
        }
        let (d, h) = (median(&mut d_rates), median(&mut h_rates));
        println!(
            "| WebSocket echo, {n} conns | round trips/s | {d:.0} | {h:.0} | {:.2}× |",
            h / d
        );
        let (d99, h99) = (d_all.percentile(99.0), h_all.percentile(99.0));
        println!(
            "| WebSocket echo, {n} conns | latency p50 | {} | {} | {:.2}× |",
            fmt(d_all.percentile(50.0)),
            fmt(h_all.percentile(50.0)),
            h_all.percentile(50.0).as_secs_f64() / d_all.percentile(50.0).as_secs_f64()
        );
        println!(
            "| WebSocket echo, {n} conns | latency p99 | {} | {} | {:.2}× |",
            fmt(d99),
            fmt(h99),
            h99.as_secs_f64() / d99.as_secs_f64()
        );
    }
    harp.child.kill().await?;
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Opens `count` WebSockets through harp (64 handshakes at a time), holds them idle, and
/// reports harp's resident memory per connection; then checks a few still echo.
pub async fn run_idle(count: usize) -> Result<(), Error> {
    let backends = Backends::start().await?;
    // Past HP_MAX_CONNECTIONS (8192 by default, HaRP's maxconn) harp resets new connections.
    let limit = (count + 100).to_string();
    let mut harp = Harp::spawn_with(&backends.nc.url(), &[("HP_MAX_CONNECTIONS", &limit)])?;
    harp.wait_ready().await?;
    let url = format!("ws://{}/exapps/{APP}/ws", harp.http);
    // Warm-up: the record and the session are cached, the runtime's threads are up.
    let mut warm = Vec::new();
    for _ in 0..16 {
        warm.push(connect(&url).await?);
    }
    drop(warm);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (before, _) = harp.rss_kib();
    let started = Instant::now();
    let mut held: Vec<Ws> = Vec::with_capacity(count);
    while held.len() < count {
        let batch = (count - held.len()).min(64);
        let opening: Vec<_> = (0..batch).map(|_| connect(&url)).collect();
        for ws in futures_util::future::join_all(opening).await {
            held.push(ws?);
        }
    }
    let opened_in = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (after, peak) = harp.rss_kib();
    let per_conn = (after.saturating_sub(before)) as f64 / count as f64;
    for ws in held.iter_mut().step_by((count / 8).max(1)) {
        ws.send(Message::binary(vec![1u8; 8])).await?;
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(Message::Binary(_)))) => {}
            other => return Err(format!("an idle WebSocket stopped echoing: {other:?}").into()),
        }
    }
    println!(
        "| {count} idle WebSockets through harp (opened in {:.1} s) | harp RSS before / with them / peak | {:.1} / {:.1} / {:.1} MiB |",
        opened_in.as_secs_f64(),
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    println!(
        "| {count} idle WebSockets through harp | harp RSS per connection | {per_conn:.1} KiB |"
    );
    drop(held);
    harp.child.kill().await?;
    Ok(())
}
