//! `image_remove` (contract §5.5.6): remove an ExApp's image, reporting the bytes freed only
//! when layers were really deleted (an untag frees nothing, HaRP #102).

use super::{Ctx, text};
use crate::docker::payload::ImageRemovePayload;
use crate::http::body::{self, Body};
use http::{Method, Response, StatusCode};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(30);
/// Python's `quote(ref, safe="")`: everything but unreserved characters is encoded.
const NO_SAFE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

pub async fn image_remove(ctx: &Ctx<'_>, p: ImageRemovePayload) -> Response<Body> {
    if p.image_ref.is_empty() {
        return text(
            StatusCode::BAD_REQUEST,
            "Payload validation error: 'image_ref' must not be empty",
        );
    }
    let encoded = utf8_percent_encode(&p.image_ref, NO_SAFE).to_string();
    let not_found = || {
        body::json(
            StatusCode::OK,
            &json!({"deleted": true, "bytes_freed": 0, "reason": "not_found"}),
        )
    };
    let engine = match ctx.engine(TIMEOUT).await {
        Ok(e) => e,
        Err(resp) => return resp,
    };
    let size = match engine
        .call(
            Method::GET,
            &format!("/images/{encoded}/json"),
            None,
            TIMEOUT,
        )
        .await
    {
        Ok((200, bytes)) => serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v["Size"].as_u64())
            .unwrap_or(0),
        Ok((404, _)) => return not_found(),
        Ok(_) => 0,
        Err(e) => return ctx.engine_error(e),
    };
    match engine
        .call(Method::DELETE, &format!("/images/{encoded}"), None, TIMEOUT)
        .await
    {
        Err(e) => ctx.engine_error(e),
        Ok((200, bytes)) => {
            let deleted_layers = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| {
                    v.as_array()
                        .map(|items| items.iter().any(|i| i.get("Deleted").is_some()))
                })
                .unwrap_or(false);
            let freed = if deleted_layers { size } else { 0 };
            body::json(
                StatusCode::OK,
                &json!({"deleted": true, "bytes_freed": freed}),
            )
        }
        Ok((404, _)) => not_found(),
        Ok((409, _)) => body::json(
            StatusCode::OK,
            &json!({"deleted": false, "reason": "in_use"}),
        ),
        Ok((status, _)) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "Error removing image '{}' via Docker Engine: Status {status}",
                p.image_ref
            ),
        ),
    }
}
