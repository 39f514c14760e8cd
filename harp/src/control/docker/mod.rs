//! AppAPI's Docker deployment endpoints, `POST /docker/exapp/<op>` (contract §5.5): the
//! `docker-engine-port` header and JSON body checks every operation shares, the error texts and
//! statuses AppAPI accepts, and the dispatch to each operation.

mod certificates;
mod containers;
mod images;
mod wait;

use crate::docker::client::{Engine, EngineError};
use crate::docker::payload::{self, BodyError};
use crate::http::body::{self, Body};
use crate::http::headers::DOCKER_ENGINE_PORT;
use crate::state::State;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde::Deserialize;
use std::time::Duration;

/// AppAPI's bodies are small; anything larger is refused.
const MAX_BODY: usize = 4 << 20;

pub async fn handle(state: &State, req: Request<Incoming>, op: &str) -> Response<Body> {
    const OPS: [&str; 8] = [
        "exists",
        "create",
        "start",
        "stop",
        "wait_for_start",
        "remove",
        "image_remove",
        "install_certificates",
    ];
    if !OPS.contains(&op) {
        return body::control_status(StatusCode::NOT_FOUND);
    }
    if req.method() != Method::POST {
        return crate::control::method_not_allowed("POST");
    }
    let port = match req
        .headers()
        .get(DOCKER_ENGINE_PORT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    {
        None => {
            return text(
                StatusCode::BAD_REQUEST,
                "Missing 'docker-engine-port' header.",
            );
        }
        Some(v) if v.trim().is_empty() => {
            return text(
                StatusCode::BAD_REQUEST,
                "Missing 'docker-engine-port' header.",
            );
        }
        Some(v) => match v.trim().parse::<u16>() {
            Ok(p) if p >= 1 => p,
            _ => {
                return text(
                    StatusCode::BAD_REQUEST,
                    format!("Invalid 'docker-engine-port' header value: {v}"),
                );
            }
        },
    };
    let bytes = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return text(StatusCode::BAD_REQUEST, "Invalid JSON body"),
    };
    let ctx = Ctx { state, port };
    let resp = match op {
        "exists" => with_body(&bytes, |p| containers::exists(&ctx, p)).await,
        "create" => with_body(&bytes, |p| containers::create(&ctx, p)).await,
        "start" => with_body(&bytes, |p| containers::start_stop(&ctx, p, true)).await,
        "stop" => with_body(&bytes, |p| containers::start_stop(&ctx, p, false)).await,
        "remove" => with_body(&bytes, |p| containers::remove(&ctx, p)).await,
        "wait_for_start" => with_body(&bytes, |p| wait::wait_for_start(&ctx, p)).await,
        "image_remove" => with_body(&bytes, |p| images::image_remove(&ctx, p)).await,
        _ => with_body(&bytes, |p| certificates::install(&ctx, p)).await,
    };
    tracing::info!(op, port, status = resp.status().as_u16(), "docker endpoint");
    resp
}

/// What every operation needs.
pub struct Ctx<'a> {
    pub state: &'a State,
    pub port: u16,
}

impl Ctx<'_> {
    pub async fn engine(&self, timeout: Duration) -> Result<Engine<'_>, Response<Body>> {
        Engine::connect(self.state, self.port, timeout)
            .await
            .map_err(|e| self.engine_error(e))
    }

    /// HaRP's generic mapping: unreachable → 503, timeout → 504.
    pub fn engine_error(&self, e: EngineError) -> Response<Body> {
        let port = self.port;
        match e {
            EngineError::Connect(_) => text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("Could not connect to Docker Engine on port {port}"),
            ),
            EngineError::Timeout => text(
                StatusCode::GATEWAY_TIMEOUT,
                format!("Timeout communicating with Docker Engine on port {port}"),
            ),
            EngineError::Protocol(detail) => text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("Error communicating with Docker Engine on port {port}: {detail}"),
            ),
        }
    }
}

pub fn text(status: StatusCode, message: impl Into<String>) -> Response<Body> {
    body::control_text(status, message.into())
}

pub(super) async fn with_body<T, F, Fut>(bytes: &[u8], op: F) -> Response<Body>
where
    T: for<'de> Deserialize<'de>,
    F: FnOnce(T) -> Fut,
    Fut: std::future::Future<Output = Response<Body>>,
{
    match payload::parse::<T>(bytes) {
        Ok(p) => op(p).await,
        Err(BodyError::InvalidJson) => text(StatusCode::BAD_REQUEST, "Invalid JSON body"),
        Err(BodyError::Validation(e)) => text(
            StatusCode::BAD_REQUEST,
            format!("Payload validation error: {e}"),
        ),
    }
}
