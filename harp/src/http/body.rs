//! The body type every handler returns, and the canned responses with HaRP's exact status
//! lines and bodies (decision D18, contract §2, §3.4, §5.2).

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use serde::Serialize;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type Body = UnsyncBoxBody<Bytes, BoxError>;

pub fn full(data: impl Into<Bytes>) -> Body {
    Full::new(data.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

fn with_type(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut resp = Response::new(full(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// HaRP's own answers: `text/plain`, fixed body.
fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    with_type(status, "text/plain", text)
}

pub fn unauthorized() -> Response<Body> {
    plain(StatusCode::UNAUTHORIZED, "401 Unauthorized")
}

pub fn forbidden() -> Response<Body> {
    plain(StatusCode::FORBIDDEN, "403 Forbidden")
}

pub fn not_found() -> Response<Body> {
    plain(StatusCode::NOT_FOUND, "404 Not Found")
}

/// An internal error of harp's decision (HaRP: the agent failed or timed out).
pub fn harp_unavailable() -> Response<Body> {
    plain(
        StatusCode::SERVICE_UNAVAILABLE,
        "503 Service Unavailable (HaRP)",
    )
}

/// HAProxy's error pages for forwarding failures (contract §3.4).
fn haproxy_page(status: StatusCode, page: &'static str) -> Response<Body> {
    let mut resp = with_type(status, "text/html", page);
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

pub fn no_server() -> Response<Body> {
    haproxy_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n",
    )
}

pub fn gateway_timeout() -> Response<Body> {
    haproxy_page(
        StatusCode::GATEWAY_TIMEOUT,
        "<html><body><h1>504 Gateway Time-out</h1>\nThe server didn't respond in time.\n</body></html>\n",
    )
}

pub fn bad_gateway() -> Response<Body> {
    haproxy_page(
        StatusCode::BAD_GATEWAY,
        "<html><body><h1>502 Bad Gateway</h1>\nThe server returned an invalid or incomplete response.\n</body></html>\n",
    )
}

pub fn request_timeout() -> Response<Body> {
    let mut resp = haproxy_page(
        StatusCode::REQUEST_TIMEOUT,
        "<html><body><h1>408 Request Time-out</h1>\nYour browser didn't send a complete request in time.\n</body></html>\n",
    );
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

pub fn forbidden_by_rules() -> Response<Body> {
    haproxy_page(
        StatusCode::FORBIDDEN,
        "<html><body><h1>403 Forbidden</h1>\nRequest forbidden by administrative rules.\n</body></html>\n",
    )
}

/// The control API's plain-text errors (aiohttp style): `text/plain; charset=utf-8`.
pub fn control_text(status: StatusCode, text: impl Into<Bytes>) -> Response<Body> {
    with_type(status, "text/plain; charset=utf-8", text)
}

/// An error without its own text: `"<code>: <reason>"`, e.g. `404: Not Found`.
pub fn control_status(status: StatusCode) -> Response<Body> {
    let text = format!(
        "{}: {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    control_text(status, text)
}

/// A JSON answer formatted as Python's `json.dumps` does (`{"a": 1, "b": [1, 2]}`), with the
/// struct's field order.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    let mut out = Vec::with_capacity(128);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PythonFormatter);
    if value.serialize(&mut ser).is_err() {
        return control_status(StatusCode::INTERNAL_SERVER_ERROR);
    }
    with_type(status, "application/json; charset=utf-8", out)
}

pub fn no_content() -> Response<Body> {
    let mut resp = Response::new(empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    resp
}

/// `json.dumps` separators: `", "` between items, `": "` after keys.
struct PythonFormatter;

impl serde_json::ser::Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn text(resp: Response<Body>) -> String {
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn exact_texts() {
        assert_eq!(text(unauthorized()).await.len(), 16);
        assert_eq!(text(harp_unavailable()).await.len(), 30);
        assert_eq!(
            text(control_status(StatusCode::NOT_FOUND)).await,
            "404: Not Found"
        );
        #[derive(Serialize)]
        struct S {
            version: &'static str,
            docker: bool,
            list: Vec<u8>,
        }
        let body = text(json(
            StatusCode::OK,
            &S {
                version: "0.4.4",
                docker: true,
                list: vec![1, 2],
            },
        ))
        .await;
        assert_eq!(
            body,
            r#"{"version": "0.4.4", "docker": true, "list": [1, 2]}"#
        );
    }
}
