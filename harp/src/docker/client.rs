//! A minimal Docker Engine API client (contract §5.5, decision D20): one HTTP/1.1 connection
//! per call to the engine behind a `docker-engine-port` (a tunnel, or the local socket), JSON
//! in and out, with the API version negotiated once per engine handle (`GET /version`, the lower
//! of the engine's and harp's).

use crate::engine;
use crate::state::State;
use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::time::Duration;

/// The newest Engine API version harp speaks.
pub const HARP_API_VERSION: (u32, u32) = (1, 44);

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("could not connect: {0}")]
    Connect(String),
    #[error("timed out")]
    Timeout,
    #[error("protocol error: {0}")]
    Protocol(String),
}

/// An engine reached by port, with its negotiated path prefix (e.g. `/v1.41`).
pub struct Engine<'a> {
    state: &'a State,
    pub port: u16,
    prefix: String,
}

fn parse_version(v: &str) -> Option<(u32, u32)> {
    let (major, minor) = v.trim().split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

impl<'a> Engine<'a> {
    /// Negotiates the API version with the engine on `port`.
    pub async fn connect(
        state: &'a State,
        port: u16,
        timeout: Duration,
    ) -> Result<Engine<'a>, EngineError> {
        let mut engine = Engine {
            state,
            port,
            prefix: String::new(),
        };
        let (status, body) = engine
            .request(Method::GET, "/version", None, timeout)
            .await?;
        if status == 200 {
            let version = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v["ApiVersion"].as_str().and_then(parse_version));
            if let Some(v) = version {
                let (major, minor) = v.min(HARP_API_VERSION);
                engine.prefix = format!("/v{major}.{minor}");
            }
        }
        Ok(engine)
    }

    /// A JSON call; returns the status and the whole body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        timeout: Duration,
    ) -> Result<(u16, Bytes), EngineError> {
        let path = format!("{}{path}", self.prefix);
        let body = body.map(|b| ("application/json", Bytes::from(b.to_string())));
        self.request(method, &path, body, timeout).await
    }

    /// A call with a raw body (e.g. a tar archive).
    pub async fn call_raw(
        &self,
        method: Method,
        path: &str,
        content_type: &'static str,
        body: Bytes,
        timeout: Duration,
    ) -> Result<(u16, Bytes), EngineError> {
        let path = format!("{}{path}", self.prefix);
        self.request(method, &path, Some((content_type, body)), timeout)
            .await
    }

    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<(&'static str, Bytes)>,
        timeout: Duration,
    ) -> Result<(u16, Bytes), EngineError> {
        let exchange = async {
            let stream = engine::connect(self.state, self.port, timeout)
                .await
                .map_err(|e| match e.kind() {
                    std::io::ErrorKind::TimedOut => EngineError::Timeout,
                    _ => EngineError::Connect(e.to_string()),
                })?;
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| EngineError::Protocol(e.to_string()))?;
            tokio::spawn(conn);
            let mut req = Request::builder()
                .method(method)
                .uri(path)
                .header(header::HOST, "docker");
            let payload = match body {
                Some((content_type, bytes)) => {
                    req = req.header(header::CONTENT_TYPE, content_type);
                    bytes
                }
                None => Bytes::new(),
            };
            let req = req
                .body(Full::new(payload))
                .map_err(|e| EngineError::Protocol(e.to_string()))?;
            let resp = sender
                .send_request(req)
                .await
                .map_err(|e| EngineError::Protocol(e.to_string()))?;
            let status = resp.status().as_u16();
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| EngineError::Protocol(e.to_string()))?
                .to_bytes();
            Ok((status, bytes))
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| EngineError::Timeout)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(parse_version("1.41"), Some((1, 41)));
        assert_eq!(parse_version("1.52"), Some((1, 52)));
        assert_eq!(parse_version("x"), None);
        assert_eq!((1, 52).min(HARP_API_VERSION), (1, 44));
        assert_eq!((1, 41).min(HARP_API_VERSION), (1, 41));
    }
}
