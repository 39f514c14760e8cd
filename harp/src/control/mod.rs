//! AppAPI's control plane, `/exapps/app_api/...` (contract §5.1–5.4): the shared-key guard,
//! the split between the Docker pass-through and the control API, and the endpoints routing
//! needs: `/heartbeat`, `/info` and `exapp_storage`, and the deployment endpoints for Docker
//! (`docker/exapp/*`) and Kubernetes (`k8s/exapp/*`).

mod docker;
mod info;
mod k8s;
pub mod passthrough;
mod storage;

pub use info::{heartbeat, info};

use crate::bans::Failure;
use crate::http::body;
use crate::http::headers::DOCKER_ENGINE_PORT;
use crate::proxy::{Caller, Outcome};
use crate::state::State;
use http::{Method, Request, StatusCode};
use hyper::body::Incoming;
use std::sync::Arc;

pub async fn handle(
    state: &Arc<State>,
    req: Request<Incoming>,
    target: &str,
    caller: &Caller,
) -> Outcome {
    // 1. Every control call needs the key.
    if !caller.key_ok {
        state.bans.record_failure(caller.ip, Failure::ControlKey);
        tracing::info!(ip = %caller.ip, "control call without a valid harp-shared-key");
        return Outcome::Respond(body::unauthorized());
    }
    // 2. The Docker Engine pass-through.
    let engine_port = req
        .headers()
        .get(DOCKER_ENGINE_PORT)
        .filter(|v| !v.is_empty())
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    if let Some(port) = engine_port.filter(|_| !target.starts_with("/docker/")) {
        return Outcome::Respond(passthrough::forward(state, req, target, &port).await);
    }
    // 3. The control API.
    Outcome::Respond(route(state, req, target).await)
}

async fn route(
    state: &Arc<State>,
    req: Request<Incoming>,
    target: &str,
) -> http::Response<body::Body> {
    let method = req.method().clone();
    let segments: Vec<&str> = target.split('/').skip(1).collect();
    match segments.as_slice() {
        ["heartbeat"] => only(&method, Method::GET, heartbeat),
        ["info"] if method == Method::GET || method == Method::HEAD => info(state).await,
        ["info"] => method_not_allowed("GET"),
        ["docker", "exapp", op] => docker::handle(state, req, op).await,
        ["k8s", "exapp", op] => k8s::handle(state, req, op).await,
        ["exapp_storage", app_id] if !app_id.is_empty() => {
            let app_id = percent_encoding::percent_decode_str(app_id)
                .decode_utf8_lossy()
                .to_string();
            match method {
                Method::POST => storage::store(state, &app_id, req.into_body()).await,
                Method::DELETE => storage::delete(state, &app_id),
                _ => method_not_allowed("DELETE, POST"),
            }
        }
        _ => body::control_status(StatusCode::NOT_FOUND),
    }
}

fn only(
    method: &Method,
    allowed: Method,
    handler: impl FnOnce() -> http::Response<body::Body>,
) -> http::Response<body::Body> {
    if *method == allowed || (allowed == Method::GET && *method == Method::HEAD) {
        handler()
    } else {
        method_not_allowed(if allowed == Method::GET {
            "GET"
        } else {
            "POST"
        })
    }
}

/// `405` with an `Allow` header naming what the endpoint takes.
pub(crate) fn method_not_allowed(allow: &'static str) -> http::Response<body::Body> {
    let mut resp = body::control_status(StatusCode::METHOD_NOT_ALLOWED);
    resp.headers_mut()
        .insert(http::header::ALLOW, http::HeaderValue::from_static(allow));
    resp
}
