//! The client for Nextcloud's two HaRP endpoints (contract §4): `exapp-meta` and `user-info`.
//! One pooled HTTP(S) client, 5 s connect and 25 s total timeouts, no cookie jar (one user's
//! `Set-Cookie` must never reach another: HaRP #111), proxy variables ignored, redirects
//! followed (at most 10), and the shared key on every call.

use super::exapp::ExApp;
use crate::config::Secret;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;
use std::time::Duration;

/// Query values keep RFC 3986's unreserved characters, as every HTTP client does.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
const TOTAL_TIMEOUT: Duration = Duration::from_secs(25);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_REDIRECTS: usize = 10;
/// Answers larger than this are not an ExApp record or a user; refuse them.
const MAX_BODY: usize = 1 << 20;

pub const HARP_SHARED_KEY: HeaderName = HeaderName::from_static("harp-shared-key");

/// The user behind a browser request, as Nextcloud sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NcUser {
    pub user_id: String,
    /// 0 = anonymous or disabled, 1 = user, 2 = admin.
    pub access_level: u8,
}

/// Why a Nextcloud call gave no usable answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NcError {
    #[error("Nextcloud is unreachable: {0}")]
    Unreachable(String),
    #[error("Nextcloud did not answer within 25 s")]
    Timeout,
    #[error("Nextcloud answered HTTP {0}")]
    Status(u16),
    #[error("Nextcloud's answer is not valid: {0}")]
    Invalid(String),
    /// The record was fetched, but its Kubernetes upstream could not be settled (§5.6.8).
    #[error("{0}")]
    Kubernetes(String),
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// Talks to `NC_INSTANCE_URL`.
pub struct NextcloudClient {
    client: HttpsClient,
    base: String,
    key: Secret,
}

/// Headers never passed on to `user-info` (decision D4): `Host`, `Content-Length` and the
/// hop-by-hop ones.
fn is_excluded_for_user_info(name: &HeaderName, connection_named: &[String]) -> bool {
    let n = name.as_str();
    matches!(
        n,
        "host"
            | "content-length"
            | "connection"
            | "keep-alive"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "expect"
            | "harp-shared-key"
    ) || n.starts_with("proxy-")
        || n.starts_with("sec-websocket-")
        || connection_named.iter().any(|c| c == n)
}

impl NextcloudClient {
    pub fn new(nextcloud_url: &str, key: Secret) -> Self {
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        http.set_nodelay(true);
        http.enforce_http(false);
        let builder =
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(system_tls_config());
        let connector = builder.https_or_http().enable_http1().wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(100)
            .build(connector);
        NextcloudClient {
            client,
            base: nextcloud_url.to_string(),
            key,
        }
    }

    fn url(&self, endpoint: &str, appid_lc: &str) -> String {
        format!(
            "{}/index.php/apps/app_api/harp/{endpoint}?appId={}",
            self.base,
            utf8_percent_encode(appid_lc, QUERY_VALUE)
        )
    }

    /// A GET of `path_and_query` under the base URL, with the shared key, answered as is
    /// (status, and the body when it is JSON). For `harp doctor`.
    pub async fn probe(
        &self,
        path_and_query: &str,
    ) -> Result<(StatusCode, Option<Value>), NcError> {
        let url = format!("{}{path_and_query}", self.base);
        self.get(&url, HeaderMap::new()).await
    }

    /// The path and query of `exapp-meta` for `appid_lc`, for [`NextcloudClient::probe`].
    pub fn exapp_meta_path(appid_lc: &str) -> String {
        format!(
            "/index.php/apps/app_api/harp/exapp-meta?appId={}",
            utf8_percent_encode(appid_lc, QUERY_VALUE)
        )
    }

    /// `exapp-meta`: `Ok(None)` when Nextcloud does not know the app (401 or 404).
    pub async fn exapp_meta(&self, appid_lc: &str) -> Result<Option<ExApp>, NcError> {
        let url = self.url("exapp-meta", appid_lc);
        let (status, body) = self.get(&url, HeaderMap::new()).await?;
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() && !status.is_redirection() && !status.is_informational() {
            return Err(NcError::Status(status.as_u16()));
        }
        let value =
            body.ok_or_else(|| NcError::Invalid("exapp-meta did not answer JSON".into()))?;
        ExApp::from_json(&value)
            .map(Some)
            .map_err(|e| NcError::Invalid(format!("exapp-meta for '{appid_lc}': {e}")))
    }

    /// `user-info` with the client's headers: `Ok(None)` = anonymous (any 4xx).
    pub async fn user_info(
        &self,
        appid_lc: &str,
        client_headers: &HeaderMap,
    ) -> Result<Option<NcUser>, NcError> {
        let connection_named: Vec<String> = client_headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().to_ascii_lowercase())
            .collect();
        let mut headers = HeaderMap::with_capacity(client_headers.len());
        let mut cookies: Vec<&[u8]> = Vec::new();
        for (name, value) in client_headers {
            if name == header::COOKIE {
                cookies.push(value.as_bytes());
            } else if !is_excluded_for_user_info(name, &connection_named) {
                headers.append(name.clone(), value.clone());
            }
        }
        if !cookies.is_empty() {
            // HTTP/2 clients split cookies into several fields; one line for Nextcloud.
            if let Ok(v) = HeaderValue::from_bytes(&cookies.join(&b"; "[..])) {
                headers.insert(header::COOKIE, v);
            }
        }
        let url = self.url("user-info", appid_lc);
        let (status, body) = self.get(&url, headers).await?;
        if status.is_client_error() {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(NcError::Status(status.as_u16()));
        }
        let value = body.ok_or_else(|| NcError::Invalid("user-info did not answer JSON".into()))?;
        parse_user(&value).map(Some).map_err(NcError::Invalid)
    }

    /// A GET with redirects, the key, and the total timeout. The body is parsed as JSON when
    /// the answer says it is JSON.
    async fn get(
        &self,
        url: &str,
        headers: HeaderMap,
    ) -> Result<(StatusCode, Option<Value>), NcError> {
        tokio::time::timeout(TOTAL_TIMEOUT, self.get_following(url, headers))
            .await
            .map_err(|_| NcError::Timeout)?
    }

    async fn get_following(
        &self,
        url: &str,
        headers: HeaderMap,
    ) -> Result<(StatusCode, Option<Value>), NcError> {
        let mut uri: Uri = url
            .parse()
            .map_err(|e| NcError::Unreachable(format!("bad URL {url}: {e}")))?;
        for _ in 0..=MAX_REDIRECTS {
            let mut req = Request::get(uri.clone())
                .body(Empty::<Bytes>::new())
                .map_err(|e| NcError::Unreachable(e.to_string()))?;
            *req.headers_mut() = headers.clone();
            if let Ok(key) = HeaderValue::from_str(&self.key.expose()) {
                req.headers_mut().insert(HARP_SHARED_KEY, key);
            }
            req.headers_mut().insert(
                header::USER_AGENT,
                HeaderValue::from_static(concat!("harp/", env!("CARGO_PKG_VERSION"))),
            );
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| NcError::Unreachable(error_chain(&e)))?;
            let status = resp.status();
            if status.is_redirection()
                && let Some(next) = resp
                    .headers()
                    .get(header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .and_then(|l| redirect_target(&uri, l))
            {
                uri = next;
                continue;
            }
            let is_json = resp
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| {
                    v.trim()
                        .to_ascii_lowercase()
                        .starts_with("application/json")
                });
            let body = Limited::new(resp.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| NcError::Invalid(format!("reading the answer failed: {e}")))?
                .to_bytes();
            let value = if is_json {
                serde_json::from_slice(&body).ok()
            } else {
                None
            };
            return Ok((status, value));
        }
        Err(NcError::Invalid("more than 10 redirects".into()))
    }
}

/// TLS to Nextcloud, verified against the system CA store (no option to disable, as HaRP).
fn system_tls_config() -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        tracing::warn!(
            "no system CA certificates found; https:// Nextcloud URLs will fail verification"
        );
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    match rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
    {
        Ok(b) => b.with_root_certificates(roots).with_no_client_auth(),
        // ring supports the default versions; this arm only keeps the type checker honest.
        Err(_) => rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    }
}

/// Where a redirect points, relative to the current URL.
fn redirect_target(current: &Uri, location: &str) -> Option<Uri> {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.parse().ok();
    }
    if location.starts_with('/') {
        let mut parts = current.clone().into_parts();
        parts.path_and_query = Some(location.parse().ok()?);
        return Uri::from_parts(parts).ok();
    }
    None
}

fn parse_user(v: &Value) -> Result<NcUser, String> {
    let obj = v.as_object().ok_or("user-info must answer a JSON object")?;
    let user_id = match obj.get("user_id") {
        None => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err("'user_id' must be a string".into()),
    };
    let level = match obj.get("access_level") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    match level {
        Some(l @ 0..=2) => Ok(NcUser {
            user_id,
            access_level: l as u8,
        }),
        _ => Err("'access_level' must be 0, 1 or 2".into()),
    }
}

/// An error and its causes on one line, for logs.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn users() {
        assert_eq!(
            parse_user(&json!({"user_id": "a", "access_level": 2}))
                .unwrap()
                .access_level,
            2
        );
        assert_eq!(parse_user(&json!({"access_level": 0})).unwrap().user_id, "");
        assert!(parse_user(&json!({"user_id": "a", "access_level": 5})).is_err());
        assert!(parse_user(&json!({"user_id": 1, "access_level": 1})).is_err());
        assert!(parse_user(&json!([])).is_err());
    }

    #[test]
    fn user_info_header_filter() {
        let named = vec!["x-hop".to_string()];
        for h in [
            "host",
            "content-length",
            "connection",
            "upgrade",
            "sec-websocket-key",
            "proxy-authorization",
            "x-hop",
            "expect",
            "te",
        ] {
            assert!(
                is_excluded_for_user_info(&HeaderName::from_static(h), &named),
                "{h}"
            );
        }
        for h in ["cookie", "authorization", "user-agent", "x-forwarded-for"] {
            assert!(
                !is_excluded_for_user_info(&HeaderName::from_static(h), &named),
                "{h}"
            );
        }
    }

    #[test]
    fn redirects() {
        let cur: Uri = "http://nc/index.php/x?appId=a".parse().unwrap();
        assert_eq!(
            redirect_target(&cur, "/other").unwrap().to_string(),
            "http://nc/other"
        );
        assert_eq!(
            redirect_target(&cur, "https://b/c").unwrap().to_string(),
            "https://b/c"
        );
        assert!(redirect_target(&cur, "relative").is_none());
    }
}
