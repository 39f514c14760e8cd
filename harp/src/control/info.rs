//! `GET /heartbeat` and `GET /info` (contract §5.4.1–5.4.2). `version` is the HaRP protocol
//! version AppAPI checks (it needs a full `x.y.z` of at least `0.3.0`); harp's own version is
//! given beside it. With the Kubernetes backend on, `/info` also says whether the API server
//! answers `GET /api` (AppAPI's preflight before every Kubernetes deploy).

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
    #[serde(skip_serializing_if = "Option::is_none")]
    api_server: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reachable: Option<bool>,
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

pub async fn info(state: &State) -> Response<Body> {
    let k8s = &state.k8s;
    let kubernetes = if k8s.enabled() {
        let reachable = match k8s.get("/api").await {
            Ok(r) => r.status == 200,
            Err(e) => {
                tracing::warn!(error = %e, "Kubernetes API not reachable for /info");
                false
            }
        };
        Kubernetes {
            enabled: true,
            api_server: Some(k8s.config().api_server.clone().unwrap_or_default()),
            reachable: Some(reachable),
        }
    } else {
        Kubernetes {
            enabled: false,
            api_server: None,
            reachable: None,
        }
    };
    body::json(
        StatusCode::OK,
        &Info {
            version: HARP_PROTOCOL_VERSION,
            docker: true,
            kubernetes,
            harp: env!("CARGO_PKG_VERSION"),
        },
    )
}
