//! `POST` and `DELETE /exapp_storage/<app_id>` (contract §5.4.3): AppAPI pushes an ExApp
//! record when it enables an app and deletes it when it disables one. With Kubernetes on, a
//! pushed record takes the app's Kubernetes upstream instead of AppAPI's logical host (#101).

use crate::auth::exapp::ExApp;
use crate::http::body::{self, Body};
use crate::state::State;
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

/// An ExApp record is small; anything larger is not one.
const MAX_RECORD: usize = 1 << 20;

pub async fn store(state: &State, app_id: &str, incoming: Incoming) -> Response<Body> {
    let bytes = match Limited::new(incoming, MAX_RECORD).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return body::control_text(
                StatusCode::BAD_REQUEST,
                "Request body unreadable or larger than 1 MiB",
            );
        }
    };
    let value: serde_json::Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(_) => return body::control_text(StatusCode::BAD_REQUEST, "Invalid JSON body"),
    };
    match ExApp::from_json(&value) {
        Ok(app) => {
            let app_id_lc = app_id.to_ascii_lowercase();
            let app = match crate::k8s::with_upstream(&state.k8s, &app_id_lc, app).await {
                Ok(app) => app,
                Err(e) => {
                    tracing::warn!(app_id, error = %e, "ExApp record not stored");
                    return body::control_text(StatusCode::SERVICE_UNAVAILABLE, e.to_string());
                }
            };
            tracing::info!(
                app_id,
                host = app.host,
                port = app.port,
                routes = app.routes.len(),
                "ExApp record stored"
            );
            state.exapps.store(&app_id_lc, app);
            body::no_content()
        }
        Err(e) => {
            tracing::warn!(app_id, error = e, "invalid ExApp record pushed");
            body::control_text(
                StatusCode::BAD_REQUEST,
                format!("Payload validation error: {e}"),
            )
        }
    }
}

pub fn delete(state: &State, app_id: &str) -> Response<Body> {
    if state.exapps.remove(&app_id.to_ascii_lowercase()) {
        tracing::info!(app_id, "ExApp record removed");
        body::no_content()
    } else {
        body::control_status(StatusCode::NOT_FOUND)
    }
}
