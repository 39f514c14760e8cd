//! The Kubernetes backend (contract §1.2, §5.6): names and labels, the manifests harp creates,
//! a thin API client with TLS and a rotating bearer token, and where a Kubernetes ExApp is
//! reached. The `/k8s/exapp/*` endpoints themselves live in `control::k8s`.

pub mod client;
pub mod manifests;
pub mod names;
pub mod resolve;
mod tls;

use crate::auth::exapp::ExApp;
use crate::http::body::{self, Body};
use client::{K8sClient, K8sError};
use http::{Response, StatusCode};

/// A control-API failure: the status and HaRP's text.
#[derive(Debug, Clone)]
pub struct Failure {
    pub status: StatusCode,
    pub text: String,
}

impl Failure {
    pub fn new(status: StatusCode, text: impl Into<String>) -> Self {
        Failure {
            status,
            text: text.into(),
        }
    }

    pub fn into_response(self) -> Response<Body> {
        body::control_text(self.status, self.text)
    }
}

/// Configuration and connection problems are all `503` with HaRP's texts.
impl From<K8sError> for Failure {
    fn from(e: K8sError) -> Self {
        Failure::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
    }
}

/// An ExApp record about to enter the cache, with its Kubernetes upstream (if any) in place of
/// the host and port Nextcloud or AppAPI gave.
pub async fn with_upstream(
    client: &K8sClient,
    app_id_lc: &str,
    mut app: ExApp,
) -> Result<ExApp, resolve::ResolveError> {
    if !client.enabled() {
        return Ok(app);
    }
    if let Some((host, port)) = resolve::upstream(client, app_id_lc).await? {
        tracing::info!(app_id = app_id_lc, %host, port, "Kubernetes upstream");
        app.host = host;
        app.port = port;
        app.resolved_host = None;
    }
    Ok(app)
}
