//! AppAPI's Kubernetes endpoints, `POST /k8s/exapp/<op>` (contract §5.6): the body checks every
//! operation shares (the same texts as the Docker endpoints), and the dispatch. Configuration
//! problems answer 503 with HaRP's texts after the body was found valid; `expose` with
//! `expose_type=manual` works without Kubernetes.

mod deploy;
mod expose;
mod wait;

use super::docker::with_body;
use crate::http::body::{self, Body};
use crate::k8s::Failure;
use crate::state::State;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

/// AppAPI's bodies are small; anything larger is refused.
const MAX_BODY: usize = 4 << 20;

const OPS: [&str; 8] = [
    "exists",
    "create",
    "start",
    "stop",
    "wait_for_start",
    "remove",
    "install_certificates",
    "expose",
];

pub async fn handle(state: &State, req: Request<Incoming>, op: &str) -> Response<Body> {
    if !OPS.contains(&op) {
        return body::control_status(StatusCode::NOT_FOUND);
    }
    if req.method() != Method::POST {
        return crate::control::method_not_allowed("POST");
    }
    let bytes = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return body::control_text(StatusCode::BAD_REQUEST, "Invalid JSON body"),
    };
    let resp = match op {
        "exists" => with_body(&bytes, |p| done(deploy::exists(state, p))).await,
        "create" => with_body(&bytes, |p| done(deploy::create(state, p))).await,
        "start" => with_body(&bytes, |p| done(deploy::scale(state, p, true))).await,
        "stop" => with_body(&bytes, |p| done(deploy::scale(state, p, false))).await,
        "remove" => with_body(&bytes, |p| done(deploy::remove(state, p))).await,
        "install_certificates" => {
            with_body(&bytes, |p| done(deploy::install_certificates(p))).await
        }
        "wait_for_start" => with_body(&bytes, |p| done(wait::wait_for_start(state, p))).await,
        _ => with_body(&bytes, |p| done(expose::expose(state, p))).await,
    };
    tracing::info!(op, status = resp.status().as_u16(), "k8s endpoint");
    resp
}

/// An operation's result as the response AppAPI gets.
async fn done(
    op: impl std::future::Future<Output = Result<Response<Body>, Failure>>,
) -> Response<Body> {
    op.await.unwrap_or_else(Failure::into_response)
}

fn unavailable(text: String) -> Failure {
    Failure::new(StatusCode::SERVICE_UNAVAILABLE, text)
}
