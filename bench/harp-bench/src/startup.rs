//! Start-up: time from spawning harp to its first answer on the HTTP listener, with a fresh
//! certificate directory (harp generates the FRP certificates) and again with the files in
//! place; and harp's resident memory once idle.

use crate::setup::{Backends, Error, Harp, rss_kib};
use crate::stats::{Samples, fmt};
use std::time::Duration;

pub async fn run(runs: usize) -> Result<(), Error> {
    let backends = Backends::start().await?;
    let mut ready = Samples::default();
    let mut idle_rss = Vec::new();
    for _ in 0..runs.max(1) {
        let mut harp = Harp::spawn(&backends.nc.url())?;
        ready.push(harp.wait_ready().await?);
        // Idle: one request through the data plane, then nothing for a second.
        crate::setup::raw_status(harp.http, &format!("/exapps/{}/public", crate::setup::APP))
            .await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        idle_rss.push(rss_kib(harp.pid).0);
        harp.child.kill().await?;
    }
    idle_rss.sort_unstable();
    let median_rss = idle_rss[idle_rss.len() / 2];
    let n = ready.len();
    println!(
        "| start-up: spawn to first answer ({n} runs, fresh certificate dir each) | p50 | {} |",
        fmt(ready.percentile(50.0))
    );
    println!(
        "| start-up: spawn to first answer ({n} runs, fresh certificate dir each) | max | {} |",
        fmt(ready.percentile(100.0))
    );
    println!(
        "| idle RSS (after one request, 1 s idle; median of {n}) | VmRSS | {:.1} MiB |",
        median_rss as f64 / 1024.0
    );
    Ok(())
}
