//! `exists`, `create`, `start`, `stop`, `remove` and `install_certificates` (contract
//! §5.6.1–5.6.3, 5.6.5, 5.6.6): a PVC and a Deployment with zero replicas, scaled to one and
//! back, removed with or without its data; only Services harp created are deleted.

use super::unavailable;
use crate::docker::payload::{CertificatesPayload, CreatePayload, ExAppName, RemovePayload};
use crate::http::body::{self, Body};
use crate::k8s::{Failure, manifests, names};
use crate::state::State;
use http::{Response, StatusCode};
use serde_json::json;

pub async fn exists(state: &State, name: ExAppName) -> Result<Response<Body>, Failure> {
    let k8s = &state.k8s;
    let d = names::deployment(&name);
    let resp = k8s.get(&k8s.path("deployments", Some(&d))).await?;
    match resp.status {
        200 => Ok(body::json(StatusCode::OK, &json!({"exists": true}))),
        404 => Ok(body::json(StatusCode::OK, &json!({"exists": false}))),
        s => {
            tracing::error!(
                deployment = d,
                status = s,
                message = resp.message(),
                "error checking the Deployment"
            );
            Err(unavailable(format!(
                "Error checking deployment '{d}': Status {s}"
            )))
        }
    }
}

pub async fn create(state: &State, p: CreatePayload) -> Result<Response<Body>, Failure> {
    let Some(image) = p.image().map(str::to_string) else {
        return Err(Failure::new(
            StatusCode::BAD_REQUEST,
            "Payload validation error: 'image_id' is required",
        ));
    };
    let k8s = &state.k8s;
    k8s.check()?;
    let d = names::deployment(&p.name);
    if !p.mount_points.is_empty() {
        tracing::warn!(
            deployment = d,
            "the Kubernetes backend ignores mount_points"
        );
    }
    let pvc = manifests::pvc(&p.name, k8s.config());
    let pvc_name = pvc.metadata.name.clone();
    let resp = k8s
        .post(&k8s.path("persistentvolumeclaims", None), &pvc)
        .await?;
    match resp.status {
        200 | 201 => tracing::info!(pvc = pvc_name, "PVC created"),
        409 => tracing::info!(pvc = pvc_name, "PVC already exists"),
        s => {
            tracing::error!(
                pvc = pvc_name,
                status = s,
                message = resp.message(),
                "cannot create the PVC"
            );
            return Err(unavailable(format!(
                "Failed to create PVC '{pvc_name}': Status {s}"
            )));
        }
    }
    let manifest = manifests::deployment(&p, &image, k8s.config());
    let resp = k8s.post(&k8s.path("deployments", None), &manifest).await?;
    match resp.status {
        200 | 201 => Ok(body::json(StatusCode::CREATED, &json!({"name": d}))),
        409 => Err(Failure::new(
            StatusCode::CONFLICT,
            format!("Deployment '{d}' already exists."),
        )),
        s => {
            tracing::error!(
                deployment = d,
                status = s,
                message = resp.message(),
                "cannot create the Deployment"
            );
            Err(unavailable(format!(
                "Error creating deployment '{d}': Status {s}"
            )))
        }
    }
}

/// `start` (one replica) and `stop` (none). Always 204 on success, never "already started".
pub async fn scale(state: &State, name: ExAppName, start: bool) -> Result<Response<Body>, Failure> {
    let k8s = &state.k8s;
    let d = names::deployment(&name);
    let replicas = u32::from(start);
    let resp = k8s
        .patch(
            &k8s.path("deployments", Some(&d)),
            &manifests::scale(replicas),
        )
        .await?;
    match resp.status {
        200 | 201 => {
            tracing::info!(deployment = d, replicas, "Deployment scaled");
            Ok(body::no_content())
        }
        404 => Err(Failure::new(
            StatusCode::NOT_FOUND,
            format!("Deployment '{d}' not found."),
        )),
        s => {
            let verb = if start { "starting" } else { "stopping" };
            tracing::error!(
                deployment = d,
                status = s,
                message = resp.message(),
                "cannot scale the Deployment"
            );
            Err(unavailable(format!(
                "Error {verb} deployment '{d}': Status {s}"
            )))
        }
    }
}

pub async fn remove(state: &State, p: RemovePayload) -> Result<Response<Body>, Failure> {
    let k8s = &state.k8s;
    let d = names::deployment(&p.name);
    let resp = k8s.delete(&k8s.path("deployments", Some(&d))).await?;
    if !matches!(resp.status, 200 | 202 | 404) {
        return Err(unavailable(format!(
            "Error removing deployment '{d}': Status {}",
            resp.status
        )));
    }
    if p.remove_data {
        let pvc = names::pvc(&p.name);
        let resp = k8s
            .delete(&k8s.path("persistentvolumeclaims", Some(&pvc)))
            .await?;
        if !matches!(resp.status, 200 | 202 | 404) {
            return Err(unavailable(format!(
                "Error removing PVC '{pvc}': Status {}",
                resp.status
            )));
        }
    }
    let svc_path = k8s.path("services", Some(&d));
    let svc = k8s.get(&svc_path).await?;
    match svc.status {
        200 => {
            if svc.body["metadata"]["labels"][names::LABEL_MANAGED_BY] == "harp" {
                let resp = k8s.delete(&svc_path).await?;
                if !matches!(resp.status, 200 | 202 | 404) {
                    return Err(unavailable(format!(
                        "Error removing Service '{d}': Status {}",
                        resp.status
                    )));
                }
            } else {
                tracing::info!(service = d, "keeping a Service harp did not create");
            }
        }
        404 => {}
        s => tracing::warn!(
            service = d,
            status = s,
            "cannot check the Service; not deleting it"
        ),
    }
    Ok(body::no_content())
}

/// Certificates come from Secrets and volumes in Kubernetes: the body is checked, nothing done.
pub async fn install_certificates(_p: CertificatesPayload) -> Result<Response<Body>, Failure> {
    Ok(body::no_content())
}
