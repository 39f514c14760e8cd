//! A stand-in for Nextcloud, built from the contract docs (appapi-contract §3, harp-contract
//! §4), since no real Nextcloud runs here. It serves exactly:
//! - `GET /index.php/apps/app_api/harp/exapp-meta?appId=` and `.../user-info?appId=`, with
//!   Nextcloud's key check (a wrong key or an unknown app both answer 401
//!   `{"message": "Harp shared key is not valid"}`);
//! - the OCS calls an ExApp makes back (`capabilities`, `log`, `ex-app/status`).
//!
//! Users: `admin:admin` (admin), `usr:password` (user), `off:password` (disabled); the session
//! cookie `oc_sessionPassphrase=sess-usr` belongs to `usr`. Every call is recorded. Faults on
//! demand: error statuses, delays, non-JSON answers, and the whole server down and back.

use crate::history::History;
use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

/// One request the stand-in received.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

struct Inner {
    key: String,
    apps: HashMap<String, Value>,
    users: HashMap<String, (String, u8)>,
    sessions: HashMap<String, String>,
    meta_status: Option<u16>,
    user_info_status: Option<u16>,
    delay: Duration,
    /// Answer `200` with a body that is not JSON.
    garbage: bool,
    calls: History<Call>,
}

/// A running stand-in. Dropping it stops the server.
pub struct FakeNextcloud {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    server: Arc<crate::Server>,
}

type Resp = Response<Full<Bytes>>;

fn reply(status: StatusCode, body: Value) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        "application/json; charset=utf-8".parse().expect("static"),
    );
    r
}

fn ocs(data: Value) -> Resp {
    reply(
        StatusCode::OK,
        json!({"ocs": {"meta": {"status": "ok", "statuscode": 100, "message": "OK"}, "data": data}}),
    )
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl FakeNextcloud {
    /// Starts on 127.0.0.1 with a free port, accepting `key` as the shared key.
    pub async fn start(key: &str) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        Ok(Self::serve(listener, key))
    }

    /// Serves on an already bound listener.
    pub fn serve(listener: TcpListener, key: &str) -> Self {
        let mut users = HashMap::new();
        users.insert("admin".to_string(), ("admin".to_string(), 2));
        users.insert("usr".to_string(), ("password".to_string(), 1));
        users.insert("off".to_string(), ("password".to_string(), 0));
        let mut sessions = HashMap::new();
        sessions.insert("sess-usr".to_string(), "usr".to_string());
        let inner = Arc::new(Mutex::new(Inner {
            key: key.to_string(),
            apps: HashMap::new(),
            users,
            sessions,
            meta_status: None,
            user_info_status: None,
            delay: Duration::ZERO,
            garbage: false,
            calls: History::new(),
        }));
        let shared = inner.clone();
        let server = crate::Server::new(listener, move |listener| {
            let shared = shared.clone();
            crate::accept_forever(listener, move |stream| {
                let inner = shared.clone();
                async move {
                    let service = service_fn(move |req| {
                        let inner = inner.clone();
                        async move { Ok::<_, std::convert::Infallible>(handle(inner, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                }
            })
        });
        FakeNextcloud {
            addr: server.addr(),
            inner,
            server,
        }
    }

    /// Nextcloud is down: connections are refused and open ones cut, until [`Self::come_back`].
    pub async fn go_down(&self) {
        self.server.go_down().await
    }

    /// Nextcloud is up again on the same address.
    pub async fn come_back(&self) -> std::io::Result<()> {
        self.server.come_back().await
    }

    /// Makes `exapp-meta` and `user-info` answer `200` with a body that is not JSON (a proxy
    /// error page, a PHP warning), or behave again.
    pub fn answer_garbage(&self, on: bool) {
        self.lock().garbage = on;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `NC_INSTANCE_URL` for harp.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Registers (or replaces) an ExApp; `record` is the `exapp-meta` answer.
    pub fn add_app(&self, appid: &str, record: Value) {
        self.lock().apps.insert(appid.to_string(), record);
    }

    pub fn remove_app(&self, appid: &str) {
        self.lock().apps.remove(appid);
    }

    /// Adds a user; level 0 = disabled, 1 = user, 2 = admin.
    pub fn add_user(&self, name: &str, password: &str, level: u8) {
        self.lock()
            .users
            .insert(name.to_string(), (password.to_string(), level));
    }

    pub fn add_session(&self, passphrase: &str, user: &str) {
        self.lock()
            .sessions
            .insert(passphrase.to_string(), user.to_string());
    }

    /// Makes `exapp-meta` answer this status (with an error body), or behave again.
    pub fn fail_meta_with(&self, status: Option<u16>) {
        self.lock().meta_status = status;
    }

    /// Makes `user-info` answer this status, or behave again.
    pub fn fail_user_info_with(&self, status: Option<u16>) {
        self.lock().user_info_status = status;
    }

    /// Delays every HaRP endpoint answer.
    pub fn set_delay(&self, delay: Duration) {
        self.lock().delay = delay;
    }

    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.items()
    }

    /// How many calls had a path ending in `endpoint` (e.g. "exapp-meta", "user-info").
    pub fn count(&self, endpoint: &str) -> usize {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.path.ends_with(endpoint))
            .count()
    }

    pub fn clear_calls(&self) {
        self.lock().calls.clear();
    }
}

fn basic_user(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

fn session_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| *k == "oc_sessionPassphrase")
        .map(|(_, v)| v.to_string())
}

async fn handle(inner: Arc<Mutex<Inner>>, req: Request<Incoming>) -> Resp {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let delay = {
        let mut st = inner.lock().unwrap_or_else(|p| p.into_inner());
        st.calls.push(Call {
            method: parts.method.to_string(),
            path: path.clone(),
            query: query.clone(),
            headers: parts.headers.clone(),
            body: body.clone(),
        });
        st.delay
    };
    if path.starts_with("/ocs/") {
        return match path.as_str() {
            "/ocs/v1.php/cloud/capabilities" => ocs(json!({
                "version": {"major": 32, "minor": 0, "micro": 0, "string": "32.0.0"},
                "capabilities": {"app_api": {"loglevel": 0, "version": "35.0.0"}}
            })),
            _ => ocs(json!([])),
        };
    }
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let st = inner.lock().unwrap_or_else(|p| p.into_inner());
    let invalid = || {
        reply(
            StatusCode::UNAUTHORIZED,
            json!({"message": "Harp shared key is not valid"}),
        )
    };
    if st.garbage && path.starts_with("/index.php/apps/app_api/harp/") {
        let mut r = Response::new(Full::new(Bytes::from_static(
            b"<br />\n<b>Warning</b>: session_start(): not JSON {\"user_id\": ",
        )));
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        return r;
    }
    let key_ok = parts
        .headers
        .get("harp-shared-key")
        .is_some_and(|k| k.as_bytes() == st.key.as_bytes());
    let appid = query_param(&query, "appId").unwrap_or_default();
    match path.as_str() {
        "/index.php/apps/app_api/harp/exapp-meta" => {
            if let Some(status) = st.meta_status {
                let status =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                return reply(status, json!({"message": "forced failure"}));
            }
            match st.apps.get(&appid) {
                Some(record) if key_ok => reply(StatusCode::OK, record.clone()),
                _ => invalid(),
            }
        }
        "/index.php/apps/app_api/harp/user-info" => {
            if !key_ok || !st.apps.contains_key(&appid) {
                return invalid();
            }
            if let Some(status) = st.user_info_status {
                let status =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                return reply(status, json!({"message": "forced failure"}));
            }
            let user = session_of(&parts.headers)
                .and_then(|s| st.sessions.get(&s).cloned())
                .or_else(|| {
                    basic_user(&parts.headers)
                        .filter(|(u, p)| st.users.get(u).is_some_and(|(pw, _)| pw == p))
                        .map(|(u, _)| u)
                });
            match user {
                Some(u) => {
                    let level = st.users.get(&u).map_or(0, |(_, l)| *l);
                    reply(StatusCode::OK, json!({"user_id": u, "access_level": level}))
                }
                None => reply(StatusCode::OK, json!({"user_id": "", "access_level": 0})),
            }
        }
        _ => reply(StatusCode::NOT_FOUND, json!({"message": "not found"})),
    }
}
