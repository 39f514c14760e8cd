//! `GET /heartbeat` and `GET /info` (contract §5.4.1–5.4.2). `version` is the HaRP protocol
//! version AppAPI checks (it needs a full `x.y.z` of at least `0.3.0`); harp's own version is
//! given beside it.

use crate::http::body::{self, Body};
use crate::state::State;
use http::{Response, StatusCode};
use serde::Serialize;

/// The HaRP release whose behaviour harp reproduces.
pub const HARP_PROTOCOL_VERSION: &str = "0.4.4";

#[derive(Serialize)]
struct Heartbeat {
    status: &'static str,
}

#[derive(Serialize)]
struct Kubernetes {
    enabled: bool,
}

#[derive(Serialize)]
struct Info {
    version: &'static str,
    docker: bool,
    kubernetes: Kubernetes,
    harp: &'static str,
}

pub fn heartbeat() -> Response<Body> {
    body::json(StatusCode::OK, &Heartbeat { status: "ok" })
}

pub fn info(_state: &State) -> Response<Body> {
    body::json(
        StatusCode::OK,
        &Info {
            version: HARP_PROTOCOL_VERSION,
            docker: true,
            kubernetes: Kubernetes { enabled: false },
            harp: env!("CARGO_PKG_VERSION"),
        },
    )
}
