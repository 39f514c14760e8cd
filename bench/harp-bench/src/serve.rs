//! `serve`: the stand-ins and a harp process for an outside load generator (wrk). Prints one
//! line `READY <direct-base> <harp-base> <harp-pid>` and runs until stdin closes; then prints
//! harp's peak RSS.

use crate::setup::{APP, Backends, Error, Harp};
use tokio::io::AsyncReadExt;

pub async fn run() -> Result<(), Error> {
    let backends = Backends::start().await?;
    let mut harp = Harp::spawn(&backends.nc.url())?;
    harp.wait_ready().await?;
    println!(
        "READY http://{} http://{}/exapps/{APP} {}",
        backends.exapp.addr, harp.http, harp.pid
    );
    let mut sink = Vec::new();
    tokio::io::stdin().read_to_end(&mut sink).await?;
    let (rss, peak) = harp.rss_kib();
    println!("RSS {rss} {peak}");
    harp.child.kill().await?;
    Ok(())
}
