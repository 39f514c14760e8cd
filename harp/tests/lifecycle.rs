//! Lifecycle of the harp process, with real signals: SIGHUP swaps the HTTPS certificate for new
//! handshakes while an open WebSocket over the old TLS connection keeps echoing, and re-reads
//! `HP_SHARED_KEY_FILE`; SIGTERM stops accepting at once, lets a slow download finish within
//! the grace period, closes tunnels, and exits 0. Nextcloud is the testkit's stand-in (a fake
//! built from the contract docs), the ExApp the testkit's echo server.

mod common;
#[path = "common/frpc.rs"]
mod frpc;
#[path = "common/process.rs"]
mod process;

use common::*;
use futures_util::{SinkExt, StreamExt};
use harp_testkit::exapp::FakeExApp;
use harp_testkit::nextcloud::FakeNextcloud;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use process::HarpProcess;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// A self-signed certificate for `harp.test`: (certificate PEM, certificate + key PEM).
fn self_signed() -> (String, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["harp.test".to_string()]).unwrap();
    let pem = cert.cert.pem();
    (
        pem.clone(),
        format!("{pem}{}", cert.signing_key.serialize_pem()),
    )
}

/// A TLS connection to `addr` that trusts only `trusted` (PEM).
async fn tls_connect(
    addr: SocketAddr,
    trusted: &str,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(trusted.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await?;
    tokio::time::timeout(
        Duration::from_secs(10),
        connector.connect(ServerName::try_from("harp.test").unwrap(), tcp),
    )
    .await
    .map_err(|_| std::io::Error::other("TLS handshake timed out"))?
}

fn der(pem: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
}

async fn stand_ins() -> (FakeNextcloud, FakeExApp) {
    let nc = FakeNextcloud::start(KEY).await.unwrap();
    let exapp = FakeExApp::start().await.unwrap();
    nc.add_app(APP, skeleton_record(exapp.port()));
    (nc, exapp)
}

async fn echo(
    ws: &mut tokio_tungstenite::WebSocketStream<
        impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    >,
    text: &str,
) -> String {
    ws.send(Message::text(text)).await.expect("ws send");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("ws reply in time")
            .expect("ws open")
            .expect("ws frame");
        if let Message::Text(t) = msg {
            return t.as_str().to_string();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_swaps_the_certificate_and_keeps_websockets() {
    let (nc, _exapp) = stand_ins().await;
    let certs = tempfile::tempdir().unwrap();
    let (old_cert, old_pem) = self_signed();
    let cert_path = certs.path().join("cert.pem");
    std::fs::write(&cert_path, &old_pem).unwrap();
    let env = test_env(&nc.url(), certs.path(), &[]);
    let mut harp = HarpProcess::spawn(&env).await;
    let https = harp.https.expect("the HTTPS listener is on");

    // A WebSocket over TLS with the old certificate.
    let tls = tls_connect(https, &old_cert).await.expect("old handshake");
    let mut req = format!("wss://harp.test/exapps/{APP}/ws")
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("authorization", basic("usr", "password").parse().unwrap());
    let (mut ws, _) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::client_async(req, tls),
    )
    .await
    .expect("ws handshake in time")
    .expect("ws handshake");
    assert_eq!(echo(&mut ws, "before").await, "Echo: before");

    let (new_cert, new_pem) = self_signed();
    std::fs::write(&cert_path, &new_pem).unwrap();
    harp.signal("HUP");
    harp.wait_for_message("HTTPS certificate reloaded", Duration::from_secs(30))
        .await
        .unwrap_or_else(|| panic!("no reload line:\n{}", harp.log_text()));

    let fresh = tls_connect(https, &new_cert)
        .await
        .expect("a new handshake trusts the new certificate");
    let presented = fresh.get_ref().1.peer_certificates().unwrap()[0].clone();
    assert_eq!(presented, der(&new_cert));
    assert!(
        tls_connect(https, &old_cert).await.is_err(),
        "a new handshake no longer gets the old certificate"
    );
    assert_eq!(
        echo(&mut ws, "after").await,
        "Echo: after",
        "the WebSocket opened before SIGHUP keeps working"
    );

    // A broken file keeps the current certificate, and harp keeps running.
    std::fs::write(&cert_path, "not a certificate").unwrap();
    harp.signal("HUP");
    harp.wait_for_message("HTTPS certificate kept", Duration::from_secs(30))
        .await
        .unwrap_or_else(|| panic!("no 'kept' line:\n{}", harp.log_text()));
    let again = tls_connect(https, &new_cert).await.expect("still serving");
    assert_eq!(
        again.get_ref().1.peer_certificates().unwrap()[0],
        der(&new_cert)
    );
    assert_eq!(echo(&mut ws, "still").await, "Echo: still");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_rereads_the_shared_key_file() {
    let (nc, _exapp) = stand_ins().await;
    let certs = tempfile::tempdir().unwrap();
    let key_file = certs.path().join("shared_key");
    std::fs::write(&key_file, "first-key\n").unwrap();
    let mut env = test_env(&nc.url(), certs.path(), &[]);
    env.remove("HP_SHARED_KEY");
    env.insert(
        "HP_SHARED_KEY_FILE".into(),
        key_file.to_str().unwrap().into(),
    );
    let mut harp = HarpProcess::spawn(&env).await;
    let addr = harp.http;
    let info = |key: &'static str| async move {
        get(addr, "/exapps/app_api/info", &[("harp-shared-key", key)])
            .await
            .status
            .as_u16()
    };
    assert_eq!(info("first-key").await, 200);
    std::fs::write(&key_file, "second-key\n").unwrap();
    harp.signal("HUP");
    harp.wait_for_message("shared key re-read", Duration::from_secs(30))
        .await
        .unwrap_or_else(|| panic!("no reload line:\n{}", harp.log_text()));
    assert_eq!(info("second-key").await, 200, "the new key works");
    assert_eq!(info("first-key").await, 401, "the old key is refused");
    assert!(
        !harp.log_text().contains("second-key") && !harp.log_text().contains("first-key"),
        "a key appeared in the log"
    );
}

/// Streams `path` from harp, reporting the status as soon as the head arrives, then the byte
/// count when the body ends.
async fn download(
    addr: SocketAddr,
    path: String,
    head: tokio::sync::oneshot::Sender<u16>,
) -> Result<u64, String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let req = http::Request::get(path.as_str())
        .header("host", "harp.test")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .map_err(|e| e.to_string())?;
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let _ = head.send(resp.status().as_u16());
    let mut body = resp.into_body();
    let mut count = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("after {count} bytes: {e}"))?;
        count += frame.data_ref().map_or(0, |d| d.len() as u64);
    }
    Ok(count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_a_slow_download_and_closes_tunnels() {
    let (nc, _exapp) = stand_ins().await;
    let certs = tempfile::tempdir().unwrap();
    let env = test_env(&nc.url(), certs.path(), &[("HP_FRP_DISABLE_TLS", "true")]);
    let mut harp = HarpProcess::spawn(&env).await;

    // A tunnel client, so we can see tunnels closed at shutdown (not only at exit).
    let frpc_bin = frpc::require_frpc();
    let dir = tempfile::tempdir().unwrap();
    let frpc = frpc_bin.map(|bin| {
        let toml = frpc::frpc_toml(
            harp.frp.port(),
            None,
            KEY,
            "",
            &frpc::local_port_proxy("lifecycle", 23000 + (std::process::id() % 900) as u16, 1),
        );
        let path = dir.path().join("frpc.toml");
        std::fs::write(&path, toml).unwrap();
        frpc::Frpc::start(&bin, &path)
    });
    if let Some(frpc) = &frpc {
        assert!(
            frpc.wait_for("start proxy success", Duration::from_secs(20))
                .await,
            "frpc logged in:\n{}",
            frpc.log_text()
        );
    }

    // 10 chunks of 64 KiB, 600 ms apart: about 5.4 s, inside the 10 s grace period.
    let total: u64 = 10 * 64 * 1024;
    let path = format!("/exapps/{APP}/download?bytes={total}&interval_ms=600");
    let (head_tx, head_rx) = tokio::sync::oneshot::channel();
    let started = Instant::now();
    let transfer = tokio::spawn(download(harp.http, path, head_tx));
    let status = tokio::time::timeout(Duration::from_secs(20), head_rx)
        .await
        .expect("response head in time")
        .expect("download started");
    assert_eq!(status, 200);

    harp.signal("TERM");
    harp.wait_for_message("shutting down", Duration::from_secs(20))
        .await
        .unwrap_or_else(|| panic!("no shutdown line:\n{}", harp.log_text()));

    // New connections are refused while the download still runs (bounded wait for the
    // accept loop to close its listener).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpStream::connect(harp.http).await {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => break,
            _ => {
                assert!(
                    Instant::now() < deadline,
                    "harp still accepts after SIGTERM"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    assert!(
        !transfer.is_finished(),
        "the download was still running when new connections were already refused"
    );
    if let Some(frpc) = &frpc {
        // frpc notices its session is gone and fails to reconnect to the closed listener,
        // while harp still drains the download.
        assert!(
            frpc.wait_for("connect to server error", Duration::from_secs(20))
                .await,
            "frpc saw its tunnel closed:\n{}",
            frpc.log_text()
        );
        assert!(
            !transfer.is_finished(),
            "the tunnel closed at shutdown, before the download ended"
        );
    }

    let count = tokio::time::timeout(Duration::from_secs(30), transfer)
        .await
        .expect("download ends")
        .expect("download task")
        .expect("the download completes without an error");
    assert_eq!(count, total, "every byte arrived");
    let status = harp
        .wait_exit(Duration::from_secs(20))
        .await
        .expect("harp exits after draining");
    assert!(status.success(), "exit status {status}");
    let took = started.elapsed();
    eprintln!("download of {total} bytes across SIGTERM took {took:?}");
    assert!(
        took < Duration::from_secs(15),
        "drained within the 10 s grace period: {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_cuts_what_outlives_the_grace_period() {
    let (nc, _exapp) = stand_ins().await;
    let certs = tempfile::tempdir().unwrap();
    let env = test_env(&nc.url(), certs.path(), &[]);
    let mut harp = HarpProcess::spawn(&env).await;
    // 40 chunks, 1 s apart: far beyond the grace period.
    let path = format!(
        "/exapps/{APP}/download?bytes={}&interval_ms=1000",
        40 * 64 * 1024
    );
    let (head_tx, head_rx) = tokio::sync::oneshot::channel();
    let transfer = tokio::spawn(download(harp.http, path, head_tx));
    tokio::time::timeout(Duration::from_secs(20), head_rx)
        .await
        .expect("response head in time")
        .expect("download started");
    let stopped = Instant::now();
    harp.signal("TERM");
    let status = harp
        .wait_exit(Duration::from_secs(30))
        .await
        .expect("harp exits");
    assert!(status.success(), "exit status {status}");
    let took = stopped.elapsed();
    assert!(
        took >= Duration::from_secs(9) && took < Duration::from_secs(25),
        "harp waited for the grace period (10 s), then exited: {took:?}"
    );
    let result = tokio::time::timeout(Duration::from_secs(10), transfer)
        .await
        .expect("the client sees the end")
        .expect("download task");
    assert!(
        result.is_err(),
        "the cut download ends with an error: {result:?}"
    );
}
