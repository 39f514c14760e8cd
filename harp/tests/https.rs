//! The HTTPS listener (contract §8.2, decision D9): on when `$HP_CERTS_DIR/cert.pem` exists
//! (certificate and key in one PEM, or the key in `cert.pem.key`), routing identical to HTTP,
//! ALPN offering `h2` and `http/1.1`.

mod common;
use bytes::Bytes;
use common::*;
use harp::config::Config;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

fn self_signed() -> (String, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["harp.test".to_string()]).unwrap();
    (cert.cert.pem(), cert.signing_key.serialize_pem())
}

async fn tls_connect(
    addr: std::net::SocketAddr,
    cert_pem: &str,
    alpn: &[u8],
) -> tokio_rustls::client::TlsStream<TcpStream> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(cert_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await.unwrap();
    connector
        .connect(ServerName::try_from("harp.test").unwrap(), tcp)
        .await
        .unwrap()
}

async fn start_https(write: impl FnOnce(&std::path::Path)) -> (TestHarp, std::net::SocketAddr) {
    let nc = harp_testkit::nextcloud::FakeNextcloud::start(KEY)
        .await
        .unwrap();
    let exapp = harp_testkit::exapp::FakeExApp::start().await.unwrap();
    nc.add_app(APP, skeleton_record(exapp.port()));
    let certs = tempfile::tempdir().unwrap();
    write(certs.path());
    let env = test_env(&nc.url(), certs.path(), &[]);
    let config = Config::from_env(&env).result.unwrap();
    let shutdown = CancellationToken::new();
    let running = harp::app::start(config, shutdown.clone()).await.unwrap();
    let https = running.https_addr.expect("HTTPS listener is on");
    (
        TestHarp {
            addr: running.http_addr,
            running: Some(running),
            shutdown,
            nc,
            exapp,
            certs,
        },
        https,
    )
}

#[tokio::test]
async fn https_with_http1_and_h2() {
    let (cert, key) = self_signed();
    let pem = format!("{cert}{key}");
    let (h, https) = start_https(|dir| std::fs::write(dir.join("cert.pem"), &pem).unwrap()).await;

    let tls = tls_connect(https, &cert, b"http/1.1").await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = Request::get(format!("/exapps/{APP}/public"))
        .header("host", "harp.test")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);

    let tls = tls_connect(https, &cert, b"h2").await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = Request::get(format!("https://harp.test/exapps/{APP}/user"))
        .header("authorization", basic("usr", "password"))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let echo: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        echo["headers"]["host"], "harp.test",
        "the :authority reaches the ExApp as Host"
    );
    assert_eq!(echo["path"], "/user");
    let req = Request::get(format!("https://harp.test/exapps/{APP}/admin"))
        .body(Empty::<Bytes>::new())
        .unwrap();
    assert_eq!(sender.send_request(req).await.unwrap().status(), 403);
    drop(h);
}

#[tokio::test]
async fn key_beside_the_certificate() {
    let (cert, key) = self_signed();
    let (_h, https) = start_https(|dir| {
        std::fs::write(dir.join("cert.pem"), &cert).unwrap();
        std::fs::write(dir.join("cert.pem.key"), &key).unwrap();
    })
    .await;
    let tls = tls_connect(https, &cert, b"http/1.1").await;
    assert!(tls.get_ref().1.peer_certificates().is_some());
}

#[tokio::test]
async fn no_certificate_no_https_and_a_broken_one_is_an_error() {
    let h = start(&[]).await;
    assert!(h.running.as_ref().unwrap().https_addr.is_none());
    let certs = tempfile::tempdir().unwrap();
    std::fs::write(certs.path().join("cert.pem"), "not a pem").unwrap();
    let env = test_env("http://127.0.0.1:9", certs.path(), &[]);
    let config = Config::from_env(&env).result.unwrap();
    let err = harp::app::start(config, CancellationToken::new())
        .await
        .err()
        .expect("refuses to start");
    assert!(err.to_string().contains("cert.pem"), "{err}");
}
