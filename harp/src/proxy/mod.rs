//! The data plane: every request on the ExApps listeners goes through `handle`, whose steps
//! follow contract §3.1 (numbered the same way) and end in a response, a silent drop, or a
//! request forwarded to the ExApp, with the [`Decision`] that settled it.

pub mod counted;
pub mod decision;
pub mod forward;
pub mod headers;
pub mod path;
pub mod pool;
pub mod resolve;
pub mod upgrade;

use crate::auth::exapp::ExApp;
use crate::auth::exapp_cache::Lookup;
use crate::auth::nextcloud::{NcError, NcUser};
use crate::bans::Failure;
use crate::http::body::{self, Body};
use crate::http::headers::*;
use crate::http::streaming::IdleTimeout;
use crate::metrics::AppSeries;
use crate::net::client_ip::true_client_ip;
use crate::net::conn::ConnCtl;
use crate::state::State;
use base64::Engine;
pub use decision::Decision;
use forward::Forwarded;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// What becomes of a request.
pub enum Outcome {
    Respond(Response<Body>),
    /// No response at all; the connection is reset (decision D2).
    Drop,
}

/// The connection a request came in on.
pub struct ConnInfo {
    pub peer: SocketAddr,
    pub ctl: Arc<ConnCtl>,
}

/// What a request's decision needs to know about the caller.
pub struct Caller {
    /// The true client IP (§3.2, D11), charged with failures.
    pub ip: IpAddr,
    /// The request carries the right `harp-shared-key`.
    pub key_ok: bool,
}

impl Caller {
    /// Records a failure, except for callers holding the key (D19).
    pub fn fail(&self, state: &State, reason: Failure) {
        if !self.key_ok {
            state.bans.record_failure(self.ip, reason);
        }
    }
}

/// What `handle` learned about a request on the way, for its log line and metrics.
#[derive(Default)]
pub struct Seen {
    /// The true client IP (step 1).
    pub client_ip: Option<IpAddr>,
    /// The app's metrics series, once its record is known (or the control plane's).
    pub app: Option<Arc<AppSeries>>,
}

/// Paths that only AppAPI may call (signed): contract §3.1 step 8.
const INTERNAL_ENDPOINTS: [&str; 3] = ["/heartbeat", "/init", "/enabled"];

/// Decides and carries out one request; says which step settled it, and fills `seen` as it
/// learns who is asking and for which app.
pub async fn handle(
    state: &Arc<State>,
    mut req: Request<Incoming>,
    conn: &ConnInfo,
    seen: &mut Seen,
) -> (Outcome, Decision) {
    let headers = req.headers();
    // 1. The true client IP.
    let (xff, real_ip) = (last(headers, &X_FORWARDED_FOR), last(headers, &X_REAL_IP));
    let peer = conn.peer.ip().to_canonical();
    state.peers.record(
        peer,
        crate::net::client_ip::is_trusted(peer, &state.config.trusted_proxies),
        xff.is_some() || real_ip.is_some(),
    );
    let ip = true_client_ip(peer, &state.config.trusted_proxies, xff, real_ip);
    seen.client_ip = Some(ip);
    // 2. Banned clients get nothing, whatever they send.
    if state.bans.is_banned(ip) {
        tracing::debug!(%ip, "banned client; dropping");
        return (Outcome::Drop, Decision::Banned);
    }
    let key_ok = last(headers, &HARP_SHARED_KEY)
        .is_some_and(|k| state.config.shared_key.matches(k.trim().as_bytes()));
    let caller = Caller { ip, key_ok };
    let path = req.uri().path().to_string();
    // 3. `..` in any spelling.
    if path::has_dot_dot(&path) {
        tracing::info!(%ip, path, "rejecting path with a parent-directory segment");
        caller.fail(state, Failure::DotDot);
        return (Outcome::Drop, Decision::DotDot);
    }
    // 4. The app id.
    let Some((appid, target)) = path::split_appid(&path) else {
        caller.fail(state, Failure::NoAppId);
        return (Outcome::Respond(body::not_found()), Decision::NoAppId);
    };
    // 5. AppAPI's control plane.
    if appid == "app_api" {
        let target = target.to_string();
        seen.app = Some(state.metrics.control());
        // The control plane's first step refuses callers without the key.
        let decision = if caller.key_ok {
            Decision::Control
        } else {
            Decision::ControlKey
        };
        return (
            crate::control::handle(state, req, &target, &caller).await,
            decision,
        );
    }
    let appid_lc = appid.to_ascii_lowercase();
    // 6. AppAPI-signed requests.
    let signed = [
        &EX_APP_VERSION,
        &EX_APP_ID,
        &EX_APP_HOST,
        &EX_APP_PORT,
        &AUTHORIZATION_APP_API,
        &HARP_SHARED_KEY,
    ]
    .iter()
    .all(|h| headers.contains_key(*h));
    let mut auth: Option<HeaderValue> = None;
    let mut record: Option<Arc<ExApp>> = None;
    if signed {
        if !key_ok {
            // HaRP charged the TCP peer; harp charges the true client (see README).
            state.bans.record_failure(ip, Failure::SignedKey);
            tracing::warn!(%ip, appid, "signed request with a wrong harp-shared-key; dropping");
            return (Outcome::Drop, Decision::SignedKey);
        }
        auth = headers
            .get_all(&AUTHORIZATION_APP_API)
            .iter()
            .next_back()
            .cloned();
        record = match lookup(state, &appid_lc).await {
            Ok(Some(app)) => Some(app),
            _ => {
                let field = |h| last(headers, h).unwrap_or("");
                match ExApp::from_signed_headers(
                    field(&EX_APP_VERSION),
                    field(&EX_APP_HOST),
                    field(&EX_APP_PORT),
                ) {
                    Some(app) => Some(Arc::new(app)),
                    None => {
                        return (
                            Outcome::Respond(body::harp_unavailable()),
                            Decision::SignedHeaders,
                        );
                    }
                }
            }
        };
    }
    // 7. The ExApp record, for unsigned requests.
    let record = match record {
        Some(r) => r,
        None => match lookup(state, &appid_lc).await {
            Ok(Some(app)) => app,
            Ok(None) => {
                tracing::info!(%ip, appid, "unknown ExApp");
                caller.fail(state, Failure::UnknownApp);
                return (Outcome::Respond(body::not_found()), Decision::UnknownApp);
            }
            Err(e) => {
                tracing::warn!(appid, error = %e, "cannot get the ExApp record from Nextcloud");
                return (
                    Outcome::Respond(body::not_found()),
                    Decision::NextcloudError,
                );
            }
        },
    };
    seen.app = Some(state.metrics.app(&appid_lc));
    // 8. Access: signed requests skip the routes; others need a matching route.
    let mut bruteforce: &[u16] = &[];
    let auth = match auth.filter(|a| !a.is_empty()) {
        Some(a) => a,
        None => {
            if INTERNAL_ENDPOINTS.contains(&target) {
                tracing::info!(%ip, appid, target, "unsigned call to an AppAPI-only endpoint; dropping");
                caller.fail(state, Failure::InternalEndpoint);
                return (Outcome::Drop, Decision::InternalEndpoint);
            }
            let user = match find_user(state, &appid_lc, req.headers()).await {
                Ok(u) => u,
                Err(()) => {
                    return (
                        Outcome::Respond(body::unauthorized()),
                        Decision::UserUnknown,
                    );
                }
            };
            let Some(route) = record.routes.iter().find(|r| r.matches(target)) else {
                caller.fail(state, Failure::NoRoute);
                return (Outcome::Respond(body::not_found()), Decision::NoRoute);
            };
            let allowed = route.access_level == 0
                || user
                    .as_ref()
                    .is_some_and(|u| route.access_level <= u.access_level);
            if !allowed {
                caller.fail(state, Failure::RouteDenied);
                return (Outcome::Respond(body::forbidden()), Decision::RouteDenied);
            }
            bruteforce = &route.bruteforce_protection;
            // 9. Who is asking, signed with the ExApp's secret.
            let user_id = user.as_ref().map_or("", |u| u.user_id.as_str());
            let token = base64::engine::general_purpose::STANDARD
                .encode(format!("{user_id}:{}", record.exapp_token));
            match HeaderValue::from_str(&token) {
                Ok(v) => v,
                Err(_) => {
                    return (
                        Outcome::Respond(body::harp_unavailable()),
                        Decision::BadHeader,
                    );
                }
            }
        }
    };
    // 10–12. Forward.
    let (Ok(appid_value), Ok(version)) = (
        HeaderValue::from_str(appid),
        HeaderValue::from_str(&record.exapp_version),
    ) else {
        return (
            Outcome::Respond(body::harp_unavailable()),
            Decision::BadHeader,
        );
    };
    let upgrade = headers::wants_upgrade(req.headers()) && req.version() == http::Version::HTTP_11;
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let (mut parts, incoming) = req.into_parts();
    if parts.version == http::Version::HTTP_2 && !parts.headers.contains_key(header::HOST) {
        // HTTP/2 carries the host in `:authority`; the ExApp gets it as `Host`, unchanged.
        if let Some(host) = parts
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        {
            parts.headers.insert(header::HOST, host);
        }
    }
    headers::strip_hop_by_hop(&mut parts.headers, upgrade);
    headers::set_appapi_headers(&mut parts.headers, appid_value, version, auth);
    let target = if target.is_empty() { "/" } else { target };
    let path_and_query = match parts.uri.query() {
        Some(q) => format!("{target}?{q}"),
        None => target.to_string(),
    };
    parts.uri = match path_and_query.parse() {
        Ok(u) => u,
        Err(_) => {
            return (
                Outcome::Respond(body::harp_unavailable()),
                Decision::BadHeader,
            );
        }
    };
    let upload = IdleTimeout::new(
        incoming,
        state.config.timeouts.client,
        "client request body",
    )
    .boxed_unsync();
    let forwarded = state
        .upstream
        .send(
            Request::from_parts(parts, upload),
            &record.host,
            record.resolved_host,
            record.port,
        )
        .await;
    let mut resp = match forwarded {
        Forwarded::Local(failure, resp) => return (Outcome::Respond(resp), failure.into()),
        Forwarded::Upstream(resp) => resp,
    };
    if bruteforce.contains(&resp.status().as_u16()) {
        caller.fail(state, Failure::ResponseStatus);
    }
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS
        && let Some(client_upgrade) = client_upgrade
    {
        let upstream_upgrade = hyper::upgrade::on(&mut resp);
        upgrade::spawn_tunnel(
            client_upgrade,
            upstream_upgrade,
            conn.ctl.clone(),
            state.config.timeouts.tunnel,
        );
        let (parts, _) = resp.into_parts();
        return (
            Outcome::Respond(Response::from_parts(parts, body::empty())),
            Decision::Forwarded,
        );
    }
    (
        Outcome::Respond(state.upstream.relay(resp)),
        Decision::Forwarded,
    )
}

/// The ExApp record: cache, negative cache, or one shared `exapp-meta` fetch.
async fn lookup(state: &Arc<State>, appid_lc: &str) -> Lookup {
    state
        .exapps
        .get_or_fetch(appid_lc, || async {
            let Some(app) = state.nextcloud.exapp_meta(appid_lc).await? else {
                return Ok(None);
            };
            crate::k8s::with_upstream(&state.k8s, appid_lc, app)
                .await
                .map(|app| Some(Arc::new(app)))
                .map_err(|e| NcError::Kubernetes(e.to_string()))
        })
        .await
}

/// The user behind a browser request (§3.1 step 8.1): asked only when the request carries a
/// session cookie or an `Authorization` header. `Err` means Nextcloud could not say (→ 401).
async fn find_user(
    state: &Arc<State>,
    appid_lc: &str,
    headers: &http::HeaderMap,
) -> Result<Option<NcUser>, ()> {
    let cookie = session_cookie(headers).filter(|c| !c.is_empty());
    if cookie.is_none() && !headers.contains_key(header::AUTHORIZATION) {
        return Ok(None);
    }
    let asked = match cookie {
        Some(c) => {
            state
                .sessions
                .get_or_fetch(c, || state.nextcloud.user_info(appid_lc, headers))
                .await
        }
        None => state.nextcloud.user_info(appid_lc, headers).await,
    };
    asked.map_err(|e| {
        tracing::warn!(appid = appid_lc, error = %e, "user-info failed; answering 401");
    })
}
