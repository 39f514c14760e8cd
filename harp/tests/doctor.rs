//! `harp doctor` (the binary) against a working setup and against one broken hop at a time:
//! a wrong shared key, a reverse proxy that strips `/exapps/`, a dead Docker Engine, an expired
//! certificate, an untrusted proxy, a Docker Engine port published by a tunnel client (real
//! frpc) with nothing behind it; each time the failing check is named in plain words.
//!
//! Stand-ins: the testkit's Nextcloud (a fake built from the contract docs: 401 for a wrong
//! key), a tiny reverse proxy written here (forwards to harp, optionally stripping `/exapps`,
//! adds `X-Forwarded-For`), and a fake Docker Engine that answers `GET /_ping` like Docker
//! (`200`, `OK`) — no real engine is needed for a ping.

mod common;
#[path = "common/frpc.rs"]
mod frpc;
use common::*;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Command;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A fake Docker Engine: every connection gets Docker's `/_ping` answer.
async fn fake_engine() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.0 200 OK\r\nApi-Version: 1.41\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\n\r\nOK")
                    .await;
            });
        }
    });
    addr
}

/// A reverse proxy to `upstream` that adds `X-Forwarded-For` and, with `strip`, removes the
/// `/exapps` prefix (the classic `proxy_pass http://harp:8780/;` mistake).
async fn tiny_proxy(upstream: SocketAddr, strip: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, peer)) = listener.accept().await {
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |req: Request<Incoming>| async move {
                        let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
                        let path = if strip {
                            path.strip_prefix("/exapps").unwrap_or(path).to_string()
                        } else {
                            path.to_string()
                        };
                        let mut out = Request::builder().method(req.method()).uri(path);
                        for (k, v) in req.headers() {
                            out = out.header(k, v);
                        }
                        let out = out
                            .header("x-forwarded-for", peer.ip().to_string())
                            .body(Full::new(Bytes::new()))
                            .unwrap();
                        let up = TcpStream::connect(upstream).await;
                        let resp = match up {
                            Ok(up) => {
                                let (mut sender, conn) =
                                    hyper::client::conn::http1::handshake(TokioIo::new(up))
                                        .await
                                        .unwrap();
                                tokio::spawn(conn);
                                match sender.send_request(out).await {
                                    Ok(r) => {
                                        let (parts, body) = r.into_parts();
                                        let body = body.collect().await.map(|b| b.to_bytes());
                                        Response::from_parts(
                                            parts,
                                            Full::new(body.unwrap_or_default()),
                                        )
                                    }
                                    Err(_) => bad_gateway(),
                                }
                            }
                            Err(_) => bad_gateway(),
                        };
                        Ok::<_, std::convert::Infallible>(resp)
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

fn bad_gateway() -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(b"bad gateway")));
    *r.status_mut() = http::StatusCode::BAD_GATEWAY;
    r
}

/// The environment of the running `h`, as an operator would give it to doctor.
fn doctor_env(h: &TestHarp, extra: &[(&str, &str)]) -> HashMap<String, String> {
    let running = h.running.as_ref().unwrap();
    let mut env = test_env(&h.nc.url(), h.certs.path(), &[]);
    env.insert("HP_EXAPPS_ADDRESS".into(), running.http_addr.to_string());
    env.insert(
        "HP_CONTROL_ADDRESS".into(),
        running.control_addr.to_string(),
    );
    env.insert("HP_FRP_ADDRESS".into(), running.frp_addr.to_string());
    for (k, v) in [
        ("DOCKER_HOST", h_docker_host(h)),
        ("HP_TRUSTED_PROXY_IPS", "127.0.0.1".to_string()),
    ] {
        env.insert(k.into(), v);
    }
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    env
}

fn h_docker_host(h: &TestHarp) -> String {
    h.state().config.docker_host.clone()
}

/// Runs `harp doctor args` with `env`; returns the exit code and stdout.
async fn doctor(env: HashMap<String, String>, args: Vec<String>) -> (i32, String) {
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_harp"))
            .env_clear()
            .envs(env)
            .arg("doctor")
            .args(args)
            .output()
            .expect("harp doctor runs")
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!(
        "harp doctor said:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

fn line<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with '{prefix}' in:\n{text}"))
}

async fn setup() -> TestHarp {
    let engine = fake_engine().await;
    let nc = harp_testkit::nextcloud::FakeNextcloud::start(KEY)
        .await
        .unwrap();
    let exapp = harp_testkit::exapp::FakeExApp::start().await.unwrap();
    nc.add_app(APP, skeleton_record(exapp.port()));
    start_with(
        nc,
        exapp,
        &[
            ("DOCKER_HOST", &format!("tcp://{engine}")),
            ("HP_TRUSTED_PROXY_IPS", "127.0.0.1"),
        ],
    )
    .await
}

fn args(public: SocketAddr) -> Vec<String> {
    vec![
        "--app".into(),
        APP.into(),
        "--public-url".into(),
        format!("http://{public}/"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_ok() {
    let h = setup().await;
    let proxy = tiny_proxy(h.addr, false).await;
    let (code, out) = doctor(doctor_env(&h, &[]), args(proxy)).await;
    for check in [
        "ok config:",
        "ok harp:",
        "ok nextcloud:",
        "ok proxy:",
        "ok engines: port 24000",
        "ok certificates:",
        "ok trusted_proxies: requests came through trusted proxies 127.0.0.1",
    ] {
        line(&out, check);
    }
    line(&out, "warn tunnels: no tunnel client");
    assert!(!out.contains("FAIL"), "{out}");
    assert_eq!(code, 0);
    assert!(!out.contains(KEY), "the key is never printed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_shared_key() {
    let h = setup().await;
    let proxy = tiny_proxy(h.addr, false).await;
    let env = doctor_env(&h, &[("HP_SHARED_KEY", "not-the-key")]);
    let (code, out) = doctor(env, args(proxy)).await;
    assert_eq!(code, 1);
    assert!(
        line(&out, "FAIL nextcloud:").contains("rejected the shared key"),
        "{out}"
    );
    assert!(
        line(&out, "FAIL proxy:").contains("refused this shared key"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefix_stripping_proxy() {
    let h = setup().await;
    let proxy = tiny_proxy(h.addr, true).await;
    let (code, out) = doctor(doctor_env(&h, &[]), args(proxy)).await;
    assert_eq!(code, 1);
    let l = line(&out, "FAIL proxy:");
    assert!(l.contains("strips the /exapps/ prefix"), "{l}");
    line(&out, "ok nextcloud:");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefix_stripping_proxy_seen_by_a_temporary_listener() {
    // No harp runs: doctor listens on HP_EXAPPS_ADDRESS itself and sees the stripped path.
    let h = setup().await;
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let exapps = free.local_addr().unwrap();
    drop(free);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let control = closed.local_addr().unwrap();
    drop(closed);
    let proxy = tiny_proxy(exapps, true).await;
    let env = doctor_env(
        &h,
        &[
            ("HP_EXAPPS_ADDRESS", &exapps.to_string()),
            ("HP_CONTROL_ADDRESS", &control.to_string()),
        ],
    );
    let (code, out) = doctor(env, args(proxy)).await;
    assert_eq!(code, 1);
    line(&out, "warn harp: no harp answers");
    let l = line(&out, "FAIL proxy:");
    assert!(l.contains("arrived as /harp-doctor-probe-"), "{l}");

    let proxy = tiny_proxy(exapps, false).await;
    let env = doctor_env(
        &h,
        &[
            ("HP_EXAPPS_ADDRESS", &exapps.to_string()),
            ("HP_CONTROL_ADDRESS", &control.to_string()),
        ],
    );
    let (_, out) = doctor(env, args(proxy)).await;
    line(&out, "ok proxy:");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_engine() {
    let h = setup().await;
    let proxy = tiny_proxy(h.addr, false).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = closed.local_addr().unwrap();
    drop(closed);
    let env = doctor_env(&h, &[("DOCKER_HOST", &format!("tcp://{dead}"))]);
    let (code, out) = doctor(env, args(proxy)).await;
    assert_eq!(code, 1);
    let l = line(&out, "FAIL engines:");
    assert!(
        l.contains("port 24000") && l.contains("does not answer"),
        "{l}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_certificate() {
    let h = setup().await;
    let proxy = tiny_proxy(h.addr, false).await;
    let mut params = rcgen::CertificateParams::new(vec!["cloud.example".to_string()]).unwrap();
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(100);
    params.not_after = now - time::Duration::days(3);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("cert.pem"),
        format!("{}{}", cert.pem(), key.serialize_pem()),
    )
    .unwrap();
    let env = doctor_env(&h, &[("HP_CERTS_DIR", dir.path().to_str().unwrap())]);
    let (code, out) = doctor(env, args(proxy)).await;
    assert_eq!(code, 1);
    let l = line(&out, "FAIL certificates:");
    assert!(
        l.contains("https certificate") && l.contains("EXPIRED"),
        "{l}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_proxy_and_bad_config() {
    // A harp that trusts no proxy, behind a proxy that sends X-Forwarded-For; the fake
    // engine of `setup` keeps the engine check quiet.
    let h = setup().await;
    let env = doctor_env(&h, &[]);
    let h2 = start_with(
        harp_testkit::nextcloud::FakeNextcloud::start(KEY)
            .await
            .unwrap(),
        harp_testkit::exapp::FakeExApp::start().await.unwrap(),
        &[],
    )
    .await;
    let proxy2 = tiny_proxy(h2.addr, false).await;
    let mut env2 = doctor_env(&h2, &[("HP_TRUSTED_PROXY_IPS", "")]);
    env2.insert("DOCKER_HOST".into(), env["DOCKER_HOST"].clone());
    let (_, out) = doctor(env2, args(proxy2)).await;
    let l = line(&out, "warn trusted_proxies:");
    assert!(
        l.contains("127.0.0.1") && l.contains("not in HP_TRUSTED_PROXY_IPS"),
        "{l}"
    );

    let (code, out) = doctor(
        HashMap::from([("HP_SHARED_KEY".to_string(), "k".to_string())]),
        vec![],
    )
    .await;
    assert_eq!(code, 1);
    assert!(
        line(&out, "FAIL config:").contains("NC_INSTANCE_URL"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engines_behind_tunnels() {
    // A real frpc publishes two Docker Engine ports: one to the fake engine, one to nothing.
    let Some(bin) = frpc::require_frpc() else {
        return;
    };
    let engine = fake_engine().await;
    let nc = harp_testkit::nextcloud::FakeNextcloud::start(KEY)
        .await
        .unwrap();
    let exapp = harp_testkit::exapp::FakeExApp::start().await.unwrap();
    nc.add_app(APP, skeleton_record(exapp.port()));
    let h = start_with(
        nc,
        exapp,
        &[
            ("DOCKER_HOST", &format!("tcp://{engine}")),
            ("HP_FRP_DISABLE_TLS", "true"),
        ],
    )
    .await;
    let base = 24001 + (std::process::id() % 49) as u16 * 2;
    let (alive, dead) = (base, base + 1);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nothing = closed.local_addr().unwrap().port();
    drop(closed);
    // HaRP allows one proxy per client: two clients.
    let dir = tempfile::tempdir().unwrap();
    let frp_port = h.running.as_ref().unwrap().frp_addr.port();
    let mut clients = Vec::new();
    for (name, port, local) in [
        ("engine-alive", alive, engine.port()),
        ("engine-dead", dead, nothing),
    ] {
        let toml = frpc::frpc_toml(
            frp_port,
            None,
            KEY,
            "",
            &frpc::local_port_proxy(name, port, local),
        );
        let path = dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, toml).unwrap();
        let client = frpc::Frpc::start(&bin, &path);
        assert!(
            client
                .wait_for("start proxy success", std::time::Duration::from_secs(20))
                .await,
            "frpc published {port}:\n{}",
            client.log_text()
        );
        clients.push(client);
    }
    let (code, out) = doctor(doctor_env(&h, &[]), vec!["--app".into(), APP.into()]).await;
    assert_eq!(code, 1);
    line(&out, "ok engines: port 24000");
    line(
        &out,
        &format!("ok engines: port {alive}: the Docker Engine behind tunnel client"),
    );
    let l = line(&out, &format!("FAIL engines: port {dead}:"));
    assert!(l.contains("no Docker Engine answers"), "{l}");
    let l = line(&out, "ok tunnels: 2 connected");
    assert!(l.contains(&format!("engine-dead on {dead}")), "{l}");
}
