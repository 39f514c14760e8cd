//! The client against the real Go frps 0.65.0 with HaRP's frps shape and mutual TLS:
//! publishing a local port, a restart of frps (same run id, proxy back), no yamux with
//! heartbeats, and an idle session kept alive by yamux keepalive.

use crate::common::*;
use crate::support::*;
use harp_testkit::exapp::FakeExApp;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// HaRP's frps shape (frp-protocol.md §6) with mutual TLS, without the login plugin.
fn start_frps(bin: &Path, dir: &Path, bind: u16, remote: u16, extra: &str) -> Peer {
    let certs = dir.join("frp");
    let file = dir.join("frps.toml");
    let toml = format!(
        "bindAddr = \"127.0.0.1\"\nbindPort = {bind}\nproxyBindAddr = \"127.0.0.1\"\n{extra}transport.tls.force = true\ntransport.tls.certFile = \"{0}/server.crt\"\ntransport.tls.keyFile = \"{0}/server.key\"\ntransport.tls.trustedCaFile = \"{0}/ca.crt\"\nlog.to = \"console\"\nlog.level = \"info\"\nlog.disablePrintColor = true\nmaxPortsPerClient = 1\nallowPorts = [ {{ single = {remote} }} ]\n",
        certs.display()
    );
    std::fs::write(&file, toml).unwrap();
    Peer::start(bin, &["-c", file.to_str().unwrap()])
}

struct FrpsBed {
    bin: PathBuf,
    dir: tempfile::TempDir,
    frps: Peer,
    bind: u16,
    remote: u16,
    exapp: FakeExApp,
}

async fn frps_bed(frps_extra: &str) -> Option<FrpsBed> {
    let bin = require_frps()?;
    let dir = tempfile::tempdir().unwrap();
    harp::certs::generate(&harp::certs::FrpCertPaths::new(dir.path()), 30).unwrap();
    let (bind, remote) = (free_port(), free_port());
    let frps = start_frps(&bin, dir.path(), bind, remote, frps_extra);
    assert!(
        frps.wait_for("frps started successfully").await,
        "{}",
        frps.text()
    );
    let exapp = FakeExApp::start().await.unwrap();
    Some(FrpsBed {
        bin,
        dir,
        frps,
        bind,
        remote,
        exapp,
    })
}

impl FrpsBed {
    fn client_toml(&self, extra: &str) -> String {
        let proxy = port_proxy(self.remote, self.exapp.port());
        client_toml(
            self.bind,
            Some(&self.dir.path().join("frp")),
            KEY,
            extra,
            &proxy,
        )
    }

    async fn get(&self) -> Reply {
        get(([127, 0, 0, 1], self.remote).into(), "/public", &[]).await
    }
}

#[tokio::test]
async fn against_real_frps_publishes_a_local_port() {
    let Some(bed) = frps_bed("").await else {
        return;
    };
    let (client, _stop) = start_client(&bed.client_toml(""));
    assert!(
        client.wait_until(WAIT, published).await,
        "{}",
        bed.frps.text()
    );
    assert!(
        bed.frps
            .wait_for(&format!("new proxy [{APP}] type [tcp] success"))
            .await
    );
    assert!(
        bed.frps.text().contains("version [0.65.0]"),
        "{}",
        bed.frps.text()
    );
    assert_eq!(bed.get().await.status, 200);
    assert_eq!(bed.exapp.request_count(), 1);
}

#[tokio::test]
async fn real_frps_restart_same_run_id_and_proxy_back() {
    let Some(mut bed) = frps_bed("").await else {
        return;
    };
    let (client, _stop) = start_client(&bed.client_toml("loginFailExit = false\n"));
    assert!(
        client.wait_until(WAIT, published).await,
        "{}",
        bed.frps.text()
    );
    assert_eq!(bed.get().await.status, 200);
    let run_id = client.status().borrow().run_id.clone().unwrap();
    bed.frps.stop();
    assert!(client.wait_until(WAIT, |s| !s.connected).await);
    let restarted = Instant::now();
    bed.frps = start_frps(&bed.bin, bed.dir.path(), bed.bind, bed.remote, "");
    assert!(
        bed.frps.wait_for("frps started successfully").await,
        "{}",
        bed.frps.text()
    );
    // Reconnects back off 1 s, 2 s, 4 s ... up to 20 s (+10 % jitter) while frps is away, as
    // frpc's do; on a loaded machine the restart may land late in that schedule.
    let back = Duration::from_secs(45);
    assert!(
        client
            .wait_until(back, |s| s.logins == 2 && published(s))
            .await,
        "client: {:?}\nfrps: {}",
        *client.status().borrow(),
        bed.frps.text()
    );
    assert_eq!(
        client.status().borrow().run_id.as_deref(),
        Some(run_id.as_str())
    );
    assert!(
        bed.frps
            .text()
            .contains(&format!("[{run_id}] client login info")),
        "{}",
        bed.frps.text()
    );
    assert_eq!(bed.get().await.status, 200);
    let took = restarted.elapsed();
    eprintln!("proxy back {took:?} after frps was started again");
    assert!(took < back, "{took:?}");
}

#[tokio::test]
async fn real_frps_without_mux_with_heartbeats() {
    let Some(bed) = frps_bed("transport.tcpMux = false\n").await else {
        return;
    };
    let extra = "transport.tcpMux = false\ntransport.heartbeatInterval = 1\n";
    let (client, _stop) = start_client(&bed.client_toml(extra));
    assert!(
        client
            .wait_until(WAIT, |s| published(s) && s.pongs >= 2)
            .await,
        "{}",
        bed.frps.text()
    );
    for _ in 0..3 {
        assert_eq!(bed.get().await.status, 200);
    }
}

#[tokio::test]
async fn real_frps_idle_session_survives_mux_keepalive() {
    // Both sides ping every second; frps closes a session whose pings go unanswered for 10 s.
    let keepalive = "transport.tcpMuxKeepaliveInterval = 1\n";
    let Some(bed) = frps_bed(keepalive).await else {
        return;
    };
    let (client, _stop) = start_client(&bed.client_toml(keepalive));
    assert!(
        client.wait_until(WAIT, published).await,
        "{}",
        bed.frps.text()
    );
    let dropped = client.wait_until(Duration::from_secs(12), |s| !s.connected || s.logins != 1);
    assert!(
        !dropped.await,
        "{:?}\n{}",
        client.status().borrow(),
        bed.frps.text()
    );
    assert!(
        !bed.frps.text().contains("client exit success"),
        "{}",
        bed.frps.text()
    );
    assert_eq!(bed.get().await.status, 200);
}
