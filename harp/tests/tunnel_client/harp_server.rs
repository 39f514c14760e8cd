//! The client against harp's own tunnel server: HaRP's ExApp shape with mutual TLS (HTTP,
//! WebSocket, a large download), plain TCP without yamux and with heartbeats, TLS variants, and
//! a refused login with and without `loginFailExit` (in process and as the `harp` binary).

use crate::common::*;
use crate::support::*;
use harp::tunnel_client::ClientError;
use harp_testkit::exapp::FakeExApp;
use harp_testkit::nextcloud::FakeNextcloud;
use std::path::Path;
use std::process::Command;

/// harp allowing one tunnel port, its ExApp behind a unix socket, reached through the tunnel.
async fn harp_bed(extra: &[(&str, &str)]) -> (TestHarp, FakeExApp, tempfile::TempDir, u16) {
    let remote = free_port();
    let dir = tempfile::tempdir().unwrap();
    let exapp = FakeExApp::start_unix(&dir.path().join("exapp.sock")).unwrap();
    let nc = FakeNextcloud::start(KEY).await.unwrap();
    nc.add_app(APP, skeleton_record(remote));
    let ports = remote.to_string();
    let mut env = vec![("HP_FRP_ALLOW_PORTS", ports.as_str())];
    env.extend_from_slice(extra);
    let harp = start_with(nc, FakeExApp::start().await.unwrap(), &env).await;
    (harp, exapp, dir, remote)
}

fn frp_port(harp: &TestHarp) -> u16 {
    harp.running.as_ref().unwrap().frp_addr.port()
}

async fn websocket_echo(addr: std::net::SocketAddr) -> String {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};
    let mut req = format!("ws://{addr}/exapps/{APP}/ws")
        .into_client_request()
        .unwrap();
    let auth = basic("usr", "password").parse().unwrap();
    req.headers_mut().insert("authorization", auth);
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(req, tcp).await.unwrap();
    ws.send(Message::text("hi")).await.unwrap();
    let echo = tokio::time::timeout(WAIT, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    echo.into_text().unwrap().to_string()
}

#[tokio::test]
async fn against_harp_with_mutual_tls_serves_http_and_websocket() {
    let (harp, _exapp, dir, remote) = harp_bed(&[]).await;
    let certs = harp.certs.path().join("frp");
    let socket = dir.path().join("exapp.sock");
    let toml = client_toml(
        frp_port(&harp),
        Some(&certs),
        KEY,
        "loginFailExit = false\n",
        &unix_proxy(remote, &socket),
    );
    let (client, _stop) = start_client(&toml);
    assert!(
        client.wait_until(WAIT, published).await,
        "{:?}",
        client.status().borrow()
    );
    let r = get(harp.addr, &format!("/exapps/{APP}/public"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(websocket_echo(harp.addr).await, "Echo: hi");
    let big = get(
        harp.addr,
        &format!("/exapps/{APP}/download?bytes={}", 8 << 20),
        &[],
    )
    .await;
    assert_eq!(big.body.len(), 8 << 20, "beyond the yamux windows");
}

#[tokio::test]
async fn against_harp_in_plain_tcp_without_mux() {
    let (harp, _exapp, dir, remote) = harp_bed(&[("HP_FRP_DISABLE_TLS", "true")]).await;
    let socket = dir.path().join("exapp.sock");
    let extra = "transport.tcpMux = false\ntransport.heartbeatInterval = 1\n";
    let toml = client_toml(
        frp_port(&harp),
        None,
        KEY,
        extra,
        &unix_proxy(remote, &socket),
    );
    let (client, _stop) = start_client(&toml);
    assert!(
        client
            .wait_until(WAIT, |s| published(s) && s.pongs >= 1)
            .await
    );
    assert_eq!(
        get(harp.addr, &format!("/exapps/{APP}/public"), &[])
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn wrong_token_with_login_fail_exit_stops_the_client() {
    let (harp, _exapp, dir, remote) = harp_bed(&[]).await;
    let certs = harp.certs.path().join("frp");
    let proxy = unix_proxy(remote, &dir.path().join("exapp.sock"));
    let toml = client_toml(frp_port(&harp), Some(&certs), "wrong", "", &proxy);
    let (client, _stop) = start_client(&toml);
    match tokio::time::timeout(WAIT, client.finished())
        .await
        .expect("stops")
    {
        Err(ClientError::LoginFailed(e)) => assert!(e.contains("metadatas.token"), "{e}"),
        other => panic!("{other:?}"),
    }
    // With loginFailExit = false it keeps trying (the second failure comes after 1 s).
    let toml = client_toml(
        frp_port(&harp),
        Some(&certs),
        "wrong",
        "loginFailExit = false\n",
        &proxy,
    );
    let (client, stop) = start_client(&toml);
    assert!(client.wait_until(WAIT, |s| s.failures >= 2).await);
    stop.cancel();
    assert_eq!(client.finished().await, Ok(()));
    // The binary: exit 1 for the refused first login, 64 for a bad file.
    let bin = Path::new(env!("CARGO_BIN_EXE_harp"));
    let file = dir.path().join("frpc.toml");
    std::fs::write(
        &file,
        client_toml(frp_port(&harp), Some(&certs), "wrong", "", &proxy),
    )
    .unwrap();
    let mut run = Peer::start(bin, &["tunnel", "-c", file.to_str().unwrap()]);
    assert_eq!(run.exit_code().await, Some(1), "{}", run.text());
    assert!(
        run.text().contains("login to the server failed"),
        "{}",
        run.text()
    );
    std::fs::write(&file, "serverPort = \"x\"").unwrap();
    let mut run = Peer::start(bin, &["tunnel", "-c", file.to_str().unwrap()]);
    assert_eq!(run.exit_code().await, Some(64), "{}", run.text());
    assert!(
        run.text().contains("serverPort: expected an integer"),
        "{}",
        run.text()
    );
}

#[tokio::test]
async fn tls_variants_against_harp() {
    let (harp, _exapp, dir, remote) = harp_bed(&[]).await;
    let d = harp.certs.path().join("frp");
    let proxy = unix_proxy(remote, &dir.path().join("exapp.sock"));
    // frp's 0x17 first byte, and no trustedCaFile: any server certificate is accepted.
    let tls = format!(
        "transport.tls.disableCustomTLSFirstByte = false\ntransport.tls.certFile = \"{0}/client.crt\"\ntransport.tls.keyFile = \"{0}/client.key\"\n",
        d.display()
    );
    let toml = client_toml(frp_port(&harp), None, KEY, "", &proxy)
        .replace("transport.tls.enable = false\n", &tls);
    let (client, stop) = start_client(&toml);
    assert!(
        client.wait_until(WAIT, published).await,
        "{:?}",
        client.status().borrow()
    );
    assert_eq!(
        get(harp.addr, &format!("/exapps/{APP}/public"), &[])
            .await
            .status,
        200
    );
    stop.cancel();
    assert_eq!(client.finished().await, Ok(()));
    // Unreadable TLS files stop the client before it connects (exit 64 in the binary).
    let missing = client_toml(
        frp_port(&harp),
        Some(Path::new("/nonexistent")),
        KEY,
        "",
        &proxy,
    );
    let config = harp::tunnel_client::parse(&missing).unwrap().config;
    match harp::tunnel_client::TunnelClient::start(config, Default::default()) {
        Err(ClientError::Config(e)) => assert!(
            e.starts_with("transport.tls.trustedCaFile: cannot read"),
            "{e}"
        ),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("started without its TLS files"),
    }
    // A server certificate from another CA is refused.
    let other = tempfile::tempdir().unwrap();
    harp::certs::generate(&harp::certs::FrpCertPaths::new(other.path()), 30).unwrap();
    let toml = client_toml(frp_port(&harp), Some(&d), KEY, "", &proxy).replace(
        &format!("{}/ca.crt", d.display()),
        &format!("{}/frp/ca.crt", other.path().display()),
    );
    let (client, _stop) = start_client(&toml);
    match tokio::time::timeout(WAIT, client.finished())
        .await
        .expect("stops")
    {
        Err(ClientError::LoginFailed(e)) => assert!(e.contains("certificate"), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn binary_publishes_and_stops_on_sigterm() {
    let (harp, _exapp, dir, remote) = harp_bed(&[]).await;
    let certs = harp.certs.path().join("frp");
    let proxy = unix_proxy(remote, &dir.path().join("exapp.sock"));
    let file = dir.path().join("frpc.toml");
    let toml = client_toml(frp_port(&harp), Some(&certs), KEY, "", &proxy);
    std::fs::write(&file, toml).unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_harp"));
    let mut run = Peer::start(bin, &["tunnel", "-c", file.to_str().unwrap()]);
    assert!(run.wait_for("proxy published").await, "{}", run.text());
    assert_eq!(
        get(harp.addr, &format!("/exapps/{APP}/public"), &[])
            .await
            .status,
        200
    );
    let pid = run.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    assert_eq!(run.exit_code().await, Some(0), "{}", run.text());
}
