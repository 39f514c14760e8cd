//! A thin Kubernetes API client (contract §5.6 "Common"): JSON over one pooled HTTP(S) client,
//! `Authorization: Bearer` with the token re-read from its file on every call (projected
//! service-account tokens rotate), the CA file when it exists (else the system roots), an
//! optional switch that turns verification off, plain `http://` without TLS, and a 60 s budget
//! per call. Every call first checks the configuration, with HaRP's 503 texts.

use super::tls;
use crate::config::k8s::K8sConfig;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;

/// HaRP's total timeout for one API call.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Lists of pods or nodes can be large, but not this large.
const MAX_BODY: usize = 32 << 20;
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

pub const STRATEGIC_MERGE: &str = "application/strategic-merge-patch+json";

/// Why no API answer is available. The `Display` texts are HaRP's response bodies.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum K8sError {
    #[error("Kubernetes backend is disabled in HaRP.")]
    Disabled,
    #[error("Kubernetes API server is not configured.")]
    NoApiServer,
    #[error("Kubernetes token is not configured.")]
    NoToken,
    /// Connection refused, TLS failure, timeout, a broken answer. The detail is for logs.
    #[error("Error communicating with Kubernetes API")]
    Unreachable(String),
}

/// An API answer: the status and the JSON body (`Null` when there was none).
#[derive(Debug, Clone)]
pub struct ApiResponse {
    pub status: u16,
    pub body: Value,
}

impl ApiResponse {
    pub fn ok(&self) -> bool {
        self.status == 200
    }

    /// The `message` of a Status object, for logs.
    pub fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or("")
    }
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

pub struct K8sClient {
    config: K8sConfig,
    /// Built only when the backend is on and an API server is known.
    http: Option<HttpsClient>,
}

impl K8sClient {
    pub fn new(config: &K8sConfig) -> Self {
        let http = (config.enabled && config.api_server.is_some()).then(|| {
            let mut connector = HttpConnector::new();
            connector.enforce_http(false);
            connector.set_nodelay(true);
            connector.set_connect_timeout(Some(CALL_TIMEOUT));
            let https = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls::client_config(config))
                .https_or_http()
                .enable_http1()
                .wrap_connector(connector);
            Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(60))
                .build(https)
        });
        K8sClient {
            config: config.clone(),
            http,
        }
    }

    pub fn config(&self) -> &K8sConfig {
        &self.config
    }

    pub fn enabled(&self) -> bool {
        self.config.enabled
    }

    pub fn namespace(&self) -> &str {
        &self.config.namespace
    }

    /// The bearer token: the static one, else the file's content (re-read now), trimmed.
    pub fn token(&self) -> Option<String> {
        if let Some(t) = &self.config.bearer_token {
            return Some(t.expose().to_string());
        }
        match std::fs::read_to_string(&self.config.bearer_token_file) {
            Ok(t) if !t.trim().is_empty() => Some(t.trim().to_string()),
            Ok(_) => None,
            Err(e) => {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::error!(file = %self.config.bearer_token_file.display(), error = %e, "cannot read the Kubernetes token file");
                }
                None
            }
        }
    }

    /// HaRP's configuration check before every call: enabled, an API server, a token.
    pub fn check(&self) -> Result<(), K8sError> {
        self.ready().map(|_| ())
    }

    fn ready(&self) -> Result<(&str, &HttpsClient, String), K8sError> {
        if !self.config.enabled {
            return Err(K8sError::Disabled);
        }
        let (Some(api), Some(http)) = (self.config.api_server.as_deref(), self.http.as_ref())
        else {
            return Err(K8sError::NoApiServer);
        };
        let token = self.token().ok_or(K8sError::NoToken)?;
        Ok((api, http, token))
    }

    /// `/api/v1/namespaces/<ns>/<kind>[/<name>]` or `/apis/apps/v1/...` for `apps` kinds.
    pub fn path(&self, kind: &str, name: Option<&str>) -> String {
        let group = if kind == "deployments" {
            "/apis/apps/v1"
        } else {
            "/api/v1"
        };
        let ns = &self.config.namespace;
        match name {
            Some(n) => format!("{group}/namespaces/{ns}/{kind}/{n}"),
            None => format!("{group}/namespaces/{ns}/{kind}"),
        }
    }

    pub async fn get(&self, path: &str) -> Result<ApiResponse, K8sError> {
        self.call(Method::GET, path, None).await
    }

    /// A list call with an optional label selector.
    pub async fn list(&self, path: &str, selector: Option<&str>) -> Result<ApiResponse, K8sError> {
        let path = match selector {
            Some(s) => format!(
                "{path}?labelSelector={}",
                utf8_percent_encode(s, QUERY_VALUE)
            ),
            None => path.to_string(),
        };
        self.get(&path).await
    }

    pub async fn post(&self, path: &str, body: &impl Serialize) -> Result<ApiResponse, K8sError> {
        let bytes = serde_json::to_vec(body).map_err(|e| K8sError::Unreachable(e.to_string()))?;
        self.call(Method::POST, path, Some(("application/json", bytes)))
            .await
    }

    /// A strategic-merge PATCH.
    pub async fn patch(&self, path: &str, body: &impl Serialize) -> Result<ApiResponse, K8sError> {
        let bytes = serde_json::to_vec(body).map_err(|e| K8sError::Unreachable(e.to_string()))?;
        self.call(Method::PATCH, path, Some((STRATEGIC_MERGE, bytes)))
            .await
    }

    pub async fn delete(&self, path: &str) -> Result<ApiResponse, K8sError> {
        self.call(Method::DELETE, path, None).await
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<(&'static str, Vec<u8>)>,
    ) -> Result<ApiResponse, K8sError> {
        let (api, http, token) = self.ready()?;
        let url = format!("{api}{path}");
        let mut req = Request::builder()
            .method(method.clone())
            .uri(&url)
            .header(header::ACCEPT, "application/json")
            .header(
                header::USER_AGENT,
                concat!("harp/", env!("CARGO_PKG_VERSION")),
            );
        let auth = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| K8sError::Unreachable("the token is not a valid header value".into()))?;
        req = req.header(header::AUTHORIZATION, auth);
        let payload = match body {
            Some((content_type, bytes)) => {
                req = req.header(header::CONTENT_TYPE, content_type);
                Bytes::from(bytes)
            }
            None => Bytes::new(),
        };
        let req = req
            .body(Full::new(payload))
            .map_err(|e| K8sError::Unreachable(format!("bad request {url}: {e}")))?;
        let exchange = async {
            let resp = http
                .request(req)
                .await
                .map_err(|e| K8sError::Unreachable(crate::auth::nextcloud::error_chain(&e)))?;
            let status = resp.status().as_u16();
            let is_json = resp
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("application/json"));
            let bytes = Limited::new(resp.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| K8sError::Unreachable(format!("reading the answer: {e}")))?
                .to_bytes();
            let body = if is_json && !bytes.is_empty() {
                serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                    tracing::warn!(%url, error = %e, "the Kubernetes API answered invalid JSON");
                    Value::Null
                })
            } else {
                Value::Null
            };
            Ok(ApiResponse { status, body })
        };
        let result = tokio::time::timeout(CALL_TIMEOUT, exchange)
            .await
            .unwrap_or_else(|_| Err(K8sError::Unreachable("timed out after 60 s".into())));
        match &result {
            Ok(r) => tracing::debug!(%method, %url, status = r.status, "Kubernetes API"),
            Err(e) => {
                let detail = match e {
                    K8sError::Unreachable(d) => d.as_str(),
                    _ => "",
                };
                tracing::error!(%method, %url, error = detail, "Error communicating with Kubernetes API");
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enabled(api: Option<&str>) -> K8sConfig {
        K8sConfig {
            enabled: true,
            api_server: api.map(str::to_string),
            bearer_token_file: "/nonexistent/token".into(),
            ..K8sConfig::default()
        }
    }

    #[tokio::test]
    async fn configuration_errors_come_first() {
        let off = K8sClient::new(&K8sConfig::default());
        assert_eq!(off.get("/api").await.unwrap_err(), K8sError::Disabled);
        let no_api = K8sClient::new(&enabled(None));
        assert_eq!(no_api.check().unwrap_err(), K8sError::NoApiServer);
        let no_token = K8sClient::new(&enabled(Some("http://127.0.0.1:1")));
        assert_eq!(no_token.check().unwrap_err(), K8sError::NoToken);
        assert_eq!(
            K8sError::NoToken.to_string(),
            "Kubernetes token is not configured."
        );
    }

    #[test]
    fn token_file_is_read_on_every_call() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("token");
        let mut c = enabled(Some("http://127.0.0.1:1"));
        c.bearer_token_file = file.clone();
        let client = K8sClient::new(&c);
        assert_eq!(client.token(), None);
        std::fs::write(&file, "first\n").expect("write");
        assert_eq!(client.token().as_deref(), Some("first"));
        std::fs::write(&file, "  second ").expect("write");
        assert_eq!(client.token().as_deref(), Some("second"));
        std::fs::write(&file, "\n").expect("write");
        assert_eq!(client.token(), None);
        c.bearer_token = Some(crate::config::Secret::new("static"));
        assert_eq!(K8sClient::new(&c).token().as_deref(), Some("static"));
    }

    #[test]
    fn paths() {
        let client = K8sClient::new(&enabled(Some("http://127.0.0.1:1")));
        assert_eq!(
            client.path("deployments", Some("d")),
            "/apis/apps/v1/namespaces/nextcloud-exapps/deployments/d"
        );
        assert_eq!(
            client.path("services", None),
            "/api/v1/namespaces/nextcloud-exapps/services"
        );
    }
}
