//! `wait_for_start` (contract §5.5.4): poll the container until it runs (and is healthy, if it
//! has a health check), fails for good, or the poll budget runs out (180 polls, 0.5 s apart).
//! podman reports "no health check" as an empty string (D23), treated like Docker's absent field.

use super::{Ctx, text};
use crate::docker::names;
use crate::docker::payload::ExAppName;
use crate::http::body::{self, Body};
use http::{Method, Response, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

const MAX_POLLS: u32 = 180;
const POLL_PAUSE: Duration = Duration::from_millis(500);
const INSPECT_TIMEOUT: Duration = Duration::from_secs(105);

pub async fn wait_for_start(ctx: &Ctx<'_>, name: ExAppName) -> Response<Body> {
    let container = names::container(&name);
    let engine = match ctx.engine(INSPECT_TIMEOUT).await {
        Ok(e) => e,
        Err(resp) => return resp,
    };
    let mut last_status = "unknown".to_string();
    let mut last_health = Value::Null;
    for poll in 0..MAX_POLLS {
        if poll > 0 {
            tokio::time::sleep(POLL_PAUSE).await;
        }
        let inspect = match engine
            .call(
                Method::GET,
                &format!("/containers/{container}/json"),
                None,
                INSPECT_TIMEOUT,
            )
            .await
        {
            Ok((200, bytes)) => serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null),
            Ok((404, _)) => {
                return body::json(
                    StatusCode::OK,
                    &json!({"started": false, "status": "not_found", "reason": "container not found"}),
                );
            }
            Ok((status, _)) => {
                return text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("Error inspecting container '{container}': Status {status}"),
                );
            }
            Err(crate::docker::client::EngineError::Timeout) => {
                return body::json(
                    StatusCode::OK,
                    &json!({"started": false, "status": last_status, "health": last_health, "reason": "overall timeout"}),
                );
            }
            Err(e) => return ctx.engine_error(e),
        };
        let state = &inspect["State"];
        let status = state["Status"].as_str().unwrap_or("unknown").to_string();
        let health = match state["Health"]["Status"].as_str() {
            Some(h) if !h.is_empty() => Value::String(h.to_string()),
            _ => Value::Null,
        };
        last_status = status.clone();
        last_health = health.clone();
        match (status.as_str(), health.as_str()) {
            ("running", None | Some("healthy")) => {
                return body::json(
                    StatusCode::OK,
                    &json!({"started": true, "status": "running", "health": health}),
                );
            }
            ("running", Some("unhealthy")) => {
                return body::json(
                    StatusCode::OK,
                    &json!({"started": true, "status": "running", "health": "unhealthy", "reason": "unhealthy"}),
                );
            }
            ("paused" | "exited" | "dead", _) => {
                return body::json(
                    StatusCode::OK,
                    &json!({"started": false, "status": status, "health": health, "reason": format!("non-recoverable state: {status}")}),
                );
            }
            _ => {}
        }
    }
    body::json(
        StatusCode::OK,
        &json!({"started": false, "status": last_status, "health": last_health, "reason": "timeout after max tries"}),
    )
}
