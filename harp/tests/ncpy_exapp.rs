//! harp in front of a real ExApp: `harp/tests/peers/exapp_ncpy.py`, built on nc_py_api as
//! installed from PyPI by `scripts/install-peers.sh` (FastAPI + uvicorn, nc_py_api's own
//! `AppAPIAuthMiddleware`). Nextcloud is the contract-built stand-in of `harp-testkit` (no real
//! Nextcloud runs here).
//!
//! What it proves: the headers harp sets (`EX-APP-ID`, `EX-APP-VERSION`,
//! `AUTHORIZATION-APP-API`) pass nc_py_api's checks, so the ExApp itself, not harp, decides
//! 401 against 200 once harp lets a request through; browser requests get harp's route and
//! access-level decisions (appapi-contract §5.4: 23–25, 27, 39, 42); AppAPI-signed calls skip
//! them and reach `set_handlers`' `/heartbeat` and `/enabled` (§5.3: 15, 17, 18, 20);
//! WebSockets are tunnelled both ways; a mixed-case app id is rejected by nc_py_api (D16).
//!
//! Each test starts its own peer, Nextcloud stand-in and harp. Without `.peers/venv` the tests
//! skip loudly, or fail when `HARP_REQUIRE_PEERS=1` (as in CI).

mod common;

use common::{
    APP, KEY, Reply, SECRET, TestHarp, assert_dropped, b64, basic, get, hdrs, send, signed_headers,
    skeleton_record, start_with,
};
use futures_util::{SinkExt, StreamExt};
use harp_testkit::exapp::FakeExApp;
use harp_testkit::nextcloud::FakeNextcloud;
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// How long the peer may take to print its readiness line.
const PEER_READY: Duration = Duration::from_secs(60);
/// Bound on every WebSocket step.
const WS_STEP: Duration = Duration::from_secs(10);

fn workspace_root() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).to_path_buf()
}

/// The venv's interpreter, or `None` (after a loud skip message) when the peers are not
/// installed. Panics instead when `HARP_REQUIRE_PEERS=1`.
fn peer_python() -> Option<PathBuf> {
    let python = workspace_root().join(".peers/venv/bin/python");
    if python.exists() {
        return Some(python);
    }
    if std::env::var("HARP_REQUIRE_PEERS").as_deref() == Ok("1") {
        panic!(
            "HARP_REQUIRE_PEERS=1 but the nc_py_api peer is missing ({} not found): \
             run scripts/install-peers.sh",
            python.display()
        );
    }
    eprintln!(
        "\n!!!!!!!! SKIPPED: the real nc_py_api ExApp is not installed ({} not found). \
         Run scripts/install-peers.sh to run this test. !!!!!!!!\n",
        python.display()
    );
    None
}

/// The running Python ExApp; killed (and reaped) on drop. Its stderr, with uvicorn's access
/// log and nc_py_api's auth failures, goes to `log`.
struct Peer {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Peer {
    /// Everything the peer wrote to stderr so far.
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_peer(python: &Path, nextcloud_url: &str) -> Peer {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("peer-stderr.log");
    let stderr = std::fs::File::create(&log).expect("peer log file");
    let root = workspace_root();
    let mut cmd = Command::new(python);
    cmd.arg(root.join("harp/tests/peers/exapp_ncpy.py"))
        .current_dir(&root)
        .env("APP_ID", APP)
        .env("APP_SECRET", SECRET)
        .env("APP_VERSION", "3.0.3")
        .env("APP_HOST", "127.0.0.1")
        .env("APP_PORT", "0")
        .env("NEXTCLOUD_URL", nextcloud_url)
        .env("AA_VERSION", "35.0.0")
        // Access log on, so the test can see which requests reached the ExApp; unbuffered, so
        // nc_py_api's `print` of an auth failure is in the log before the 401 is sent.
        .env("PEER_LOG_LEVEL", "info")
        .env("PEER_ACCESS_LOG", "1")
        .env("PYTHONUNBUFFERED", "1")
        .env("NO_PROXY", "*")
        .env_remove("HP_SHARED_KEY")
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .env_remove("ALL_PROXY")
        .env_remove("all_proxy")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr));
    let mut child = cmd.spawn().expect("spawn the nc_py_api peer");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut peer = Peer {
        child,
        port: 0,
        log,
        _dir: dir,
    };
    // The readiness line is read on a plain thread: it ends at the line or at EOF (the peer
    // closes stdout after the line, or exits).
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = match tokio::time::timeout(PEER_READY, rx).await {
        Ok(Ok(line)) => line,
        Ok(Err(_)) => String::new(),
        Err(_) => panic!(
            "the nc_py_api peer printed no LISTENING line within {PEER_READY:?}; its stderr:\n{}",
            peer.log()
        ),
    };
    let port = line
        .trim()
        .strip_prefix("LISTENING 127.0.0.1:")
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or_else(|| {
            panic!(
                "the nc_py_api peer did not start (stdout: {line:?}); its stderr:\n{}",
                peer.log()
            )
        });
    peer.port = port;
    peer
}

/// A Nextcloud stand-in, the Python peer registered in it as app-skeleton-python, and harp.
/// `None` when the peer is not installed (and not required).
async fn setup() -> Option<(TestHarp, Peer)> {
    let python = peer_python()?;
    let nc = FakeNextcloud::start(KEY).await.expect("fake nextcloud");
    let peer = start_peer(&python, &nc.url()).await;
    nc.add_app(APP, skeleton_record(peer.port));
    // start_with wants a stand-in ExApp too; nothing is routed to it.
    let unused = FakeExApp::start().await.expect("fake exapp");
    let h = start_with(nc, unused, &[]).await;
    Some((h, peer))
}

fn path(rest: &str) -> String {
    format!("/exapps/{APP}{rest}")
}

#[track_caller]
fn assert_reply(r: &Reply, status: u16, body: &str, what: &str) {
    assert_eq!(
        (r.status.as_u16(), r.text().as_str()),
        (status, body),
        "{what}"
    );
}

/// The user nc_py_api resolved for the request (the `_describe` routes).
#[track_caller]
fn exapp_user(r: &Reply) -> String {
    assert_eq!(r.status, 200, "expected the ExApp's JSON, got {}", r.text());
    r.json()["user"]
        .as_str()
        .unwrap_or_else(|| panic!("no user in {}", r.text()))
        .to_string()
}

#[tokio::test]
async fn browser_requests_pass_nc_py_api_checks() {
    let Some((h, peer)) = setup().await else {
        return;
    };

    // 1. Public page, anonymous: harp's EX-APP-ID / EX-APP-VERSION / AUTHORIZATION-APP-API
    // satisfied nc_py_api's middleware (it would answer 401 "Unauthorized" otherwise).
    let r = get(h.addr, &path("/public"), &[]).await;
    assert_reply(&r, 200, "Public page!", "anonymous /public");

    // 2. /user: harp's 403 without credentials, the ExApp's user with Basic or the session.
    let r = get(h.addr, &path("/user"), &[]).await;
    assert_reply(&r, 403, "403 Forbidden", "anonymous /user is harp's 403");
    let usr = basic("usr", "password");
    let r = get(h.addr, &path("/user"), &[("authorization", &usr)]).await;
    assert_eq!(exapp_user(&r), "usr", "Basic usr:password on /user");
    let headers = &r.json()["headers"];
    assert_eq!(headers["ex-app-id"], APP);
    assert_eq!(headers["ex-app-version"], "3.0.3");
    assert_eq!(
        headers["authorization-app-api"],
        b64(&format!("usr:{SECRET}"))
    );
    let r = get(
        h.addr,
        &path("/user"),
        &[("cookie", "oc_sessionPassphrase=sess-usr")],
    )
    .await;
    assert_eq!(exapp_user(&r), "usr", "session cookie on /user");

    // 3. /admin: a user is refused by harp, an admin reaches the ExApp as "admin".
    let r = get(h.addr, &path("/admin"), &[("authorization", &usr)]).await;
    assert_reply(&r, 403, "403 Forbidden", "usr on /admin");
    let admin = basic("admin", "admin");
    let r = get(h.addr, &path("/admin"), &[("authorization", &admin)]).await;
    assert_eq!(exapp_user(&r), "admin", "admin:admin on /admin");

    assert!(
        !peer.log().contains("Invalid "),
        "nc_py_api rejected a header harp set:\n{}",
        peer.log()
    );
}

#[tokio::test]
async fn signed_appapi_calls_reach_set_handlers() {
    let Some((h, peer)) = setup().await else {
        return;
    };
    let signed = signed_headers(KEY, peer.port);

    // GET /heartbeat, as AppAPI's heartbeat does.
    let mut with_accept = hdrs(&signed);
    with_accept.push(("accept", "application/json"));
    let r = get(h.addr, &path("/heartbeat"), &with_accept).await;
    assert_eq!(r.status, 200, "signed /heartbeat: {}", r.text());
    assert_eq!(r.json(), json!({"status": "ok"}));

    // A signed call on behalf of a user skips harp's route checks (there is no Basic auth
    // here, /user would be 403 for a browser) and the ExApp takes the user from the header.
    let as_admin = b64(&format!("admin:{SECRET}"));
    let mut headers = hdrs(&signed);
    for (name, value) in headers.iter_mut() {
        if *name == "authorization-app-api" {
            *value = &as_admin;
        }
    }
    let r = get(h.addr, &path("/user"), &headers).await;
    assert_eq!(exapp_user(&r), "admin", "signed /user as admin");

    // A path in no route: forwarded anyway, so the 404 is FastAPI's, not harp's text.
    let r = get(h.addr, &path("/no-such-path"), &hdrs(&signed)).await;
    assert_eq!(
        r.status,
        404,
        "signed call to a path in no route: {}",
        r.text()
    );
    assert_eq!(r.json(), json!({"detail": "Not Found"}));

    // PUT /enabled?enabled=1: nc_py_api's handler runs the peer's enabled_handler, which logs
    // "Hello from app-skeleton-python :)" to Nextcloud before answering.
    let r = send(
        h.addr,
        "PUT",
        &path("/enabled?enabled=1"),
        &hdrs(&signed),
        "",
    )
    .await
    .unwrap_or_else(|e| panic!("signed PUT /enabled: no response: {e}"));
    assert_eq!(r.status, 200, "signed PUT /enabled: {}", r.text());
    assert_eq!(r.json(), json!({"error": ""}));
    let calls = h.nc.calls();
    let log_call = calls
        .iter()
        .find(|c| c.method == "POST" && c.path.ends_with("/api/v1/log"))
        .unwrap_or_else(|| {
            let seen: Vec<_> = calls.iter().map(|c| (&c.method, &c.path)).collect();
            panic!("the ExApp never POSTed its log to Nextcloud; calls: {seen:?}")
        });
    let body = String::from_utf8_lossy(&log_call.body);
    assert!(
        body.contains(&format!("Hello from {APP} :)")),
        "log body: {body}"
    );
    assert_eq!(
        log_call.headers.get("ex-app-id").map(|v| v.as_bytes()),
        Some(APP.as_bytes()),
        "the ExApp's own call to Nextcloud is signed as the app"
    );
}

#[tokio::test]
async fn signed_call_with_wrong_key_is_dropped_before_the_exapp() {
    let Some((h, peer)) = setup().await else {
        return;
    };
    let wrong = signed_headers("not-the-key", peer.port);
    assert_dropped(h.addr, &path("/user?probe=wrong-key"), &hdrs(&wrong)).await;

    // A good signed call afterwards, on a fresh connection: once its answer is back, uvicorn
    // has written its access-log line, so the log is complete up to that point.
    let good = signed_headers(KEY, peer.port);
    let r = get(h.addr, &path("/heartbeat?probe=after-drop"), &hdrs(&good)).await;
    assert_eq!(
        r.status,
        200,
        "signed heartbeat after the drop: {}",
        r.text()
    );
    let log = peer.log();
    assert!(
        log.contains("/heartbeat?probe=after-drop"),
        "the peer's access log is not working, cannot judge the drop:\n{log}"
    );
    assert!(
        !log.contains("probe=wrong-key"),
        "the wrongly signed request reached the ExApp:\n{log}"
    );
    assert!(
        !h.nc
            .calls()
            .iter()
            .any(|c| c.headers.get("harp-shared-key").map(|v| v.as_bytes())
                == Some(b"not-the-key".as_slice())),
        "the wrong key was passed on to Nextcloud"
    );
}

#[tokio::test]
async fn websocket_through_harp_to_nc_py_api() {
    let Some((h, peer)) = setup().await else {
        return;
    };
    let url = format!("ws://{}{}", h.addr, path("/ws"));

    // Anonymous: harp's 403 before any upgrade; the ExApp never sees it.
    let stream = TcpStream::connect(h.addr).await.expect("connect");
    let request = url.as_str().into_client_request().expect("ws request");
    let anonymous = tokio::time::timeout(WS_STEP, tokio_tungstenite::client_async(request, stream))
        .await
        .expect("anonymous upgrade timed out");
    match anonymous {
        Err(WsError::Http(resp)) => {
            assert_eq!(resp.status(), 403, "anonymous WebSocket");
            if let Some(body) = resp.body() {
                assert_eq!(String::from_utf8_lossy(body), "403 Forbidden");
            }
        }
        Err(e) => panic!("anonymous WebSocket: expected HTTP 403, got error {e}"),
        Ok((_, resp)) => panic!("anonymous WebSocket was upgraded: {}", resp.status()),
    }

    // Basic usr:password: upgraded by the ExApp (nc_py_api checked the websocket scope).
    let stream = TcpStream::connect(h.addr).await.expect("connect");
    let mut request = url.as_str().into_client_request().expect("ws request");
    request.headers_mut().insert(
        "authorization",
        basic("usr", "password").parse().expect("header value"),
    );
    let (mut ws, resp) =
        tokio::time::timeout(WS_STEP, tokio_tungstenite::client_async(request, stream))
            .await
            .expect("upgrade timed out")
            .unwrap_or_else(|e| panic!("WebSocket upgrade as usr failed: {e}\n{}", peer.log()));
    assert_eq!(resp.status(), 101);

    ws.send(Message::text("hi")).await.expect("send text");
    let msg = tokio::time::timeout(WS_STEP, ws.next())
        .await
        .expect("no echo in time")
        .expect("stream ended")
        .expect("read text echo");
    assert_eq!(msg, Message::text("Echo: hi"));

    let payload: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
    ws.send(Message::binary(payload.clone()))
        .await
        .expect("send binary");
    let msg = tokio::time::timeout(WS_STEP, ws.next())
        .await
        .expect("no binary echo in time")
        .expect("stream ended")
        .expect("read binary echo");
    match msg {
        Message::Binary(data) => {
            assert_eq!(data.len(), payload.len(), "binary echo length");
            assert!(data[..] == payload[..], "binary echo differs");
        }
        other => panic!("expected the binary echo, got {other:?}"),
    }

    // Clean close: our Close is answered with a Close, then the stream ends without error.
    ws.close(None).await.expect("send close");
    let mut got_close = false;
    for _ in 0..16 {
        match tokio::time::timeout(WS_STEP, ws.next())
            .await
            .expect("close handshake timed out")
        {
            Some(Ok(Message::Close(_))) => got_close = true,
            Some(Ok(other)) => panic!("unexpected message while closing: {other:?}"),
            Some(Err(WsError::ConnectionClosed)) | None => break,
            Some(Err(e)) => panic!("unclean close: {e}"),
        }
    }
    assert!(got_close, "the ExApp's Close frame never came back");
    assert!(
        !peer.log().contains("Invalid "),
        "nc_py_api rejected a header harp set:\n{}",
        peer.log()
    );
}

#[tokio::test]
async fn mixed_case_app_id_is_rejected_by_nc_py_api() {
    let Some((h, peer)) = setup().await else {
        return;
    };
    // D16, parity with HaRP: Nextcloud is asked for the lower-case id, the ExApp gets the
    // URL's spelling in EX-APP-ID, and nc_py_api (exact match with APP_ID) answers 401.
    let r = get(h.addr, "/exapps/App-Skeleton-Python/public", &[]).await;
    assert_reply(
        &r,
        401,
        "Unauthorized",
        "mixed-case app id: nc_py_api's plain 401, not harp's \"401 Unauthorized\"",
    );
    let metas: Vec<String> =
        h.nc.calls()
            .into_iter()
            .filter(|c| c.path.ends_with("exapp-meta"))
            .map(|c| c.query)
            .collect();
    assert_eq!(
        metas,
        vec![format!("appId={APP}")],
        "Nextcloud is asked for the lower-case id"
    );
    let log = peer.log();
    assert!(
        log.contains(&format!("Invalid EX-APP-ID:App-Skeleton-Python != {APP}")),
        "the ExApp should have rejected EX-APP-ID spelled as in the URL; its stderr:\n{log}"
    );
}
