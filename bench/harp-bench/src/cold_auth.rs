//! Cold authentication: many distinct sessions each making its first request (every one asks
//! Nextcloud's `user-info`), and many concurrent first requests of one session (which should
//! ask once). The stand-in answers at once, so this is harp's own cost per `user-info`.

use crate::client::Conn;
use crate::setup::{APP, Backends, Error, Harp};
use crate::stats::{Samples, fmt};
use std::sync::Arc;
use std::time::Instant;

pub async fn run(sessions: usize, concurrency: usize, burst: usize) -> Result<(), Error> {
    let backends = Backends::start().await?;
    for i in 0..sessions {
        backends.nc.add_session(&format!("cold-{i}"), "usr");
    }
    backends.nc.add_session("burst", "usr");
    let mut harp = Harp::spawn(&backends.nc.url())?;
    harp.wait_ready().await?;
    // The app record is fetched once; from here on only user-info is asked.
    let mut warm = Conn::open(harp.http).await?;
    if warm.get(&format!("/exapps/{APP}/public"), &[]).await? != 200 {
        return Err("the public route does not answer 200".into());
    }
    backends.nc.clear_calls();

    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (next, addr) = (next.clone(), harp.http);
        workers.push(tokio::spawn(async move {
            let mut conn = Conn::open(addr).await?;
            let mut samples = Samples::default();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= sessions {
                    return Ok::<_, Error>(samples);
                }
                let cookie = format!("oc_sessionPassphrase=cold-{i}");
                let t = Instant::now();
                let status = conn
                    .get(&format!("/exapps/{APP}/user"), &[("cookie", &cookie)])
                    .await?;
                samples.push(t.elapsed());
                if status != 200 {
                    return Err(format!("session cold-{i}: status {status}").into());
                }
            }
        }));
    }
    let mut all = Samples::default();
    for w in workers {
        all.extend(w.await??);
    }
    let elapsed = started.elapsed();
    let calls = backends.nc.count("user-info");
    let n = all.len();
    println!(
        "| cold auth: {n} distinct sessions, first request each, {concurrency} conns | requests/s | {:.0} |",
        n as f64 / elapsed.as_secs_f64()
    );
    println!(
        "| cold auth: {n} distinct sessions, first request each, {concurrency} conns | latency p50 / p99 | {} / {} |",
        fmt(all.percentile(50.0)),
        fmt(all.percentile(99.0))
    );
    println!(
        "| cold auth: {n} distinct sessions, first request each, {concurrency} conns | user-info calls | {calls} |"
    );

    backends.nc.clear_calls();
    // Nextcloud answering slowly is what makes requests pile up behind one session.
    backends.nc.set_delay(std::time::Duration::from_millis(50));
    let mut conns = Vec::new();
    for _ in 0..burst {
        conns.push(Conn::open(harp.http).await?);
    }
    let gate = Arc::new(tokio::sync::Barrier::new(burst));
    let mut tasks = Vec::new();
    for mut conn in conns {
        let gate = gate.clone();
        tasks.push(tokio::spawn(async move {
            gate.wait().await;
            conn.get(
                &format!("/exapps/{APP}/user"),
                &[("cookie", "oc_sessionPassphrase=burst")],
            )
            .await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        if t.await?? == 200 {
            ok += 1;
        }
    }
    let calls = backends.nc.count("user-info");
    println!(
        "| cold auth: {burst} concurrent first requests of one session (Nextcloud answers in 50 ms) | answered 200 / user-info calls | {ok} / {calls} |"
    );
    harp.child.kill().await?;
    Ok(())
}
