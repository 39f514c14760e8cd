//! `exists`, `create`, `start`, `stop` and `remove` (contract §5.5.1–5.5.3, 5.5.5), with the
//! statuses AppAPI accepts. Two engine differences are smoothed over (D23): podman answers a
//! duplicate container name with 500, reported here as 409 like Docker.

use super::{Ctx, text};
use crate::docker::names;
use crate::docker::payload::{CreatePayload, ExAppName, RemovePayload};
use crate::docker::spec;
use crate::http::body::{self, Body};
use http::{Method, Response, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

const EXISTS_TIMEOUT: Duration = Duration::from_secs(15);
const CREATE_TIMEOUT: Duration = Duration::from_secs(60);
const LIFECYCLE_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn exists(ctx: &Ctx<'_>, name: ExAppName) -> Response<Body> {
    let container = names::container(&name);
    let engine = match ctx.engine(EXISTS_TIMEOUT).await {
        Ok(e) => e,
        Err(resp) => return resp,
    };
    match engine
        .call(
            Method::GET,
            &format!("/containers/{container}/json"),
            None,
            EXISTS_TIMEOUT,
        )
        .await
    {
        Err(e) => ctx.engine_error(e),
        Ok((200, bytes)) => {
            let inspect: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let image = inspect["Config"]["Image"]
                .as_str()
                .or_else(|| inspect["Image"].as_str())
                .unwrap_or("");
            body::json(StatusCode::OK, &json!({"exists": true, "image_ref": image}))
        }
        Ok((404, _)) => body::json(StatusCode::OK, &json!({"exists": false})),
        Ok((status, _)) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("Error communicating with Docker Engine: Status {status}"),
        ),
    }
}

pub async fn create(ctx: &Ctx<'_>, p: CreatePayload) -> Response<Body> {
    let Some(image) = p.image().map(str::to_string) else {
        return text(
            StatusCode::BAD_REQUEST,
            "Payload validation error: 'image_id' is required",
        );
    };
    let container = names::container(&p.name);
    let volume = names::volume(&p.name);
    let engine = match ctx.engine(CREATE_TIMEOUT).await {
        Ok(e) => e,
        Err(resp) => return resp,
    };
    match engine
        .call(
            Method::GET,
            &format!("/volumes/{volume}"),
            None,
            CREATE_TIMEOUT,
        )
        .await
    {
        Err(e) => return ctx.engine_error(e),
        Ok((200, _)) => {}
        Ok((404, _)) => {
            let body = json!({"Name": volume});
            match engine
                .call(Method::POST, "/volumes/create", Some(&body), CREATE_TIMEOUT)
                .await
            {
                Err(e) => return ctx.engine_error(e),
                Ok((201, _)) => {}
                Ok((status, _)) => {
                    return text(
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!("Failed to create volume '{volume}': Status {status}"),
                    );
                }
            }
        }
        Ok((status, _)) => {
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("Error inspecting volume '{volume}': Status {status}"),
            );
        }
    }
    let spec = spec::container_create(&p, &image);
    let conflict = || {
        text(
            StatusCode::CONFLICT,
            format!("Container with name '{container}' already exists."),
        )
    };
    match engine
        .call(
            Method::POST,
            &format!("/containers/create?name={container}"),
            Some(&spec),
            CREATE_TIMEOUT,
        )
        .await
    {
        Err(e) => ctx.engine_error(e),
        Ok((201, bytes)) => {
            let id = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| v["Id"].as_str().map(str::to_string))
                .unwrap_or_default();
            body::json(StatusCode::CREATED, &json!({"id": id, "name": container}))
        }
        Ok((409, _)) => conflict(),
        Ok((status, _)) => {
            // podman says 500 for a name in use (D23): check before blaming the engine.
            let taken = status == 500
                && matches!(
                    engine
                        .call(
                            Method::GET,
                            &format!("/containers/{container}/json"),
                            None,
                            CREATE_TIMEOUT
                        )
                        .await,
                    Ok((200, _))
                );
            if taken {
                conflict()
            } else {
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("Error creating container '{container}': Status {status}"),
                )
            }
        }
    }
}

pub async fn start_stop(ctx: &Ctx<'_>, name: ExAppName, start: bool) -> Response<Body> {
    let container = names::container(&name);
    let (verb, done, failing) = if start {
        ("start", "Container already started", "starting")
    } else {
        ("stop", "Container already stopped", "stopping")
    };
    let engine = match ctx.engine(LIFECYCLE_TIMEOUT).await {
        Ok(e) => e,
        Err(resp) => return resp,
    };
    match engine
        .call(
            Method::POST,
            &format!("/containers/{container}/{verb}"),
            None,
            LIFECYCLE_TIMEOUT,
        )
        .await
    {
        Err(e) => ctx.engine_error(e),
        Ok((204, _)) => body::no_content(),
        Ok((304, _)) => text(StatusCode::OK, done),
        Ok((404, _)) => text(
            StatusCode::NOT_FOUND,
            format!("Container '{container}' not found."),
        ),
        Ok((status, _)) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("Error {failing} container '{container}' via Docker Engine: Status {status}"),
        ),
    }
}

pub async fn remove(ctx: &Ctx<'_>, p: RemovePayload) -> Response<Body> {
    let container = names::container(&p.name);
    let engine = match ctx.engine(LIFECYCLE_TIMEOUT).await {
        Ok(e) => e,
        Err(resp) => return resp,
    };
    match engine
        .call(
            Method::DELETE,
            &format!("/containers/{container}?force=true"),
            None,
            LIFECYCLE_TIMEOUT,
        )
        .await
    {
        Err(e) => return ctx.engine_error(e),
        Ok((204 | 404 | 409, _)) => {}
        Ok((status, _)) => {
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "Error removing container '{container}' via Docker Engine: Status {status}"
                ),
            );
        }
    }
    if p.remove_data {
        let volume = names::volume(&p.name);
        match engine
            .call(
                Method::DELETE,
                &format!("/volumes/{volume}"),
                None,
                LIFECYCLE_TIMEOUT,
            )
            .await
        {
            Err(e) => return ctx.engine_error(e),
            Ok((204 | 404, _)) => {}
            Ok((409, _)) => {
                return text(
                    StatusCode::CONFLICT,
                    format!("Volume '{volume}' is in use and could not be removed."),
                );
            }
            Ok((status, _)) => {
                return text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("Error removing volume '{volume}' via Docker Engine: Status {status}"),
                );
            }
        }
    }
    body::no_content()
}
