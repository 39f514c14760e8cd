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

/// Echo round trips on each target URL (`name=ws://...`), interleaved, `repeats` times per
/// connection count; prints one table row per metric. Without targets it starts its own
/// stand-ins and harp (then the client shares a process with the ExApp, which flatters the
/// direct path: `bench/run.sh` passes `serve`'s URLs so the client is a process of its own).
pub async fn run_echo(
    targets: &[(String, String)],
    conns: &[usize],
    secs: u64,
    repeats: usize,
) -> Result<(), Error> {
    let mut own = None;
    let targets: Vec<(String, String)> = if targets.is_empty() {
        let backends = Backends::start().await?;
        let mut harp = Harp::spawn(&backends.nc.url())?;
        harp.wait_ready().await?;
        let list = vec![
            (
                "direct".to_string(),
                format!("ws://{}/ws", backends.exapp.addr),
            ),
            (
                "harp".to_string(),
                format!("ws://{}/exapps/{APP}/ws", harp.http),
            ),
        ];
        own = Some((backends, harp));
        list
    } else {
        targets.to_vec()
    };
    let column = |name: &str| targets.iter().position(|(n, _)| n == name);
    let (direct, harp) = (column("direct"), column("harp"));
    for &n in conns {
        let mut rates: Vec<Vec<f64>> = vec![Vec::new(); targets.len()];
        let mut samples: Vec<Samples> = targets.iter().map(|_| Samples::default()).collect();
        for _ in 0..repeats.max(1) {
            for (i, (_, url)) in targets.iter().enumerate() {
                let (rate, s) = echo(url, n, secs).await?;
                rates[i].push(rate);
                samples[i].extend(s);
            }
        }
        let medians: Vec<f64> = rates.iter_mut().map(|r| median(r)).collect();
        // harp ÷ direct first, then every other path ÷ direct, in table order.
        let others = (0..targets.len()).filter(|&i| Some(i) != harp && Some(i) != direct);
        let order: Vec<usize> = harp.into_iter().chain(others).collect();
        let ratio = |v: &[f64]| {
            let cell = |i: usize| match direct {
                Some(d) if v[d] > 0.0 => format!("{:.2}×", v[i] / v[d]),
                _ => "–".to_string(),
            };
            order
                .iter()
                .map(|&i| cell(i))
                .collect::<Vec<_>>()
                .join(" | ")
        };
        let cells = |v: &[String]| v.join(" | ");
        let rate_cells: Vec<String> = medians.iter().map(|r| format!("{r:.0}")).collect();
        println!(
            "| WebSocket echo, {n} conns | round trips/s | {} | {} |",
            cells(&rate_cells),
            ratio(&medians)
        );
        for p in [50.0, 99.0] {
            let values: Vec<f64> = samples
                .iter_mut()
                .map(|s| s.percentile(p).as_secs_f64())
                .collect();
            let shown: Vec<String> = samples.iter_mut().map(|s| fmt(s.percentile(p))).collect();
            println!(
                "| WebSocket echo, {n} conns | latency p{p:.0} | {} | {} |",
                cells(&shown),
                ratio(&values)
            );
        }
    }
    if let Some((_backends, mut harp)) = own {
        harp.child.kill().await?;
    }
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
