//! The loopback control port (decision D8, default `127.0.0.1:8200`): `GET /heartbeat`,
//! `GET /info`, `GET /tunnels` (connected tunnel clients, their ports and traffic), `GET /peers`
//! (the addresses the data plane has seen, for `harp doctor`) and
//! `GET /metrics` (Prometheus) without a key, for health checks and monitoring on the host.

use crate::http::body::{self, Body};
use crate::state::State;
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use tokio::net::TcpStream;

pub async fn serve(stream: TcpStream, state: Arc<State>) {
    let service = service_fn(move |req: Request<Incoming>| {
        let state = state.clone();
        async move { Ok::<_, std::convert::Infallible>(route(&state, &req).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

async fn route(state: &State, req: &Request<Incoming>) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return body::control_status(StatusCode::METHOD_NOT_ALLOWED);
    }
    match req.uri().path() {
        "/heartbeat" => crate::control::heartbeat(),
        "/info" => crate::control::info(state).await,
        "/tunnels" => body::json(
            StatusCode::OK,
            &crate::tunnel::report::report(&state.tunnels),
        ),
        "/peers" => body::json(StatusCode::OK, &state.peers.list()),
        "/metrics" => {
            let mut resp = body::control_text(StatusCode::OK, crate::metrics::render(state));
            resp.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            resp
        }
        _ => body::control_status(StatusCode::NOT_FOUND),
    }
}
