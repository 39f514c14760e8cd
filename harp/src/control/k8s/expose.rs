//! `expose` (contract §5.6.7): make the ExApp reachable and cache its record with that
//! upstream. `manual` takes the given host (and keeps it as Deployment annotations when
//! Kubernetes is configured, best effort); `clusterip`, `nodeport` and `loadbalancer` create a
//! harp-managed Service (an existing one is left as it is) and read the address from it.

use super::unavailable;
use crate::docker::payload::{ExAppName, null_default};
use crate::http::body::{self, Body};
use crate::k8s::manifests::{self, ServiceRequest, ServiceType};
use crate::k8s::resolve::{self, AddressType};
use crate::k8s::{Failure, names};
use crate::state::State;
use http::{Response, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::time::Duration;

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum ExposeType {
    Nodeport,
    #[default]
    Clusterip,
    Loadbalancer,
    Manual,
}

impl ExposeType {
    fn as_str(self) -> &'static str {
        match self {
            ExposeType::Nodeport => "nodeport",
            ExposeType::Clusterip => "clusterip",
            ExposeType::Loadbalancer => "loadbalancer",
            ExposeType::Manual => "manual",
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub enum TrafficPolicy {
    Cluster,
    Local,
}

impl TrafficPolicy {
    fn as_str(self) -> &'static str {
        match self {
            TrafficPolicy::Cluster => "Cluster",
            TrafficPolicy::Local => "Local",
        }
    }
}

/// `ExposeExAppPayload`.
#[derive(Debug, Deserialize)]
pub struct ExposePayload {
    #[serde(flatten)]
    pub name: ExAppName,
    pub port: u16,
    #[serde(default, deserialize_with = "null_default")]
    pub expose_type: ExposeType,
    #[serde(default)]
    pub upstream_host: Option<String>,
    #[serde(default)]
    pub upstream_port: Option<u16>,
    #[serde(default)]
    pub service_port: Option<u16>,
    #[serde(default)]
    pub node_port: Option<u16>,
    #[serde(default)]
    pub external_traffic_policy: Option<TrafficPolicy>,
    #[serde(default)]
    pub load_balancer_ip: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub service_annotations: Map<String, Value>,
    #[serde(default, deserialize_with = "null_default")]
    pub service_labels: Map<String, Value>,
    #[serde(default)]
    pub wait_timeout_seconds: Option<f64>,
    #[serde(default)]
    pub wait_interval_seconds: Option<f64>,
    #[serde(default, deserialize_with = "null_default")]
    pub node_address_type: AddressType,
    #[serde(default)]
    pub node_name: Option<String>,
    #[serde(default)]
    pub node_label_selector: Option<String>,
}

impl ExposePayload {
    /// pydantic's range and cross-field checks.
    fn validate(&self) -> Result<(), String> {
        let port_ok = |p: Option<u16>| p.is_none_or(|p| p >= 1);
        if self.port == 0 || !port_ok(self.upstream_port) || !port_ok(self.service_port) {
            return Err("ports must be between 1 and 65535".into());
        }
        if self
            .node_port
            .is_some_and(|p| !(30000..=32767).contains(&p))
        {
            return Err("node_port must be between 30000 and 32767".into());
        }
        if self
            .wait_timeout_seconds
            .is_some_and(|t| !(0.0..=600.0).contains(&t))
        {
            return Err("wait_timeout_seconds must be between 0 and 600".into());
        }
        if self
            .wait_interval_seconds
            .is_some_and(|t| !(0.1..=10.0).contains(&t))
        {
            return Err("wait_interval_seconds must be between 0.1 and 10".into());
        }
        for (what, map) in [
            ("service_annotations", &self.service_annotations),
            ("service_labels", &self.service_labels),
        ] {
            if map.values().any(|v| !v.is_string()) {
                return Err(format!("{what} values must be strings"));
            }
        }
        if self.expose_type == ExposeType::Manual
            && self.upstream_host.as_deref().is_none_or(str::is_empty)
        {
            return Err("upstream_host is required when expose_type='manual'".into());
        }
        Ok(())
    }

    fn upstream_host(&self) -> Option<String> {
        self.upstream_host.clone().filter(|h| !h.is_empty())
    }
}

pub async fn expose(state: &State, p: ExposePayload) -> Result<Response<Body>, Failure> {
    if let Err(e) = p.validate() {
        return Err(Failure::new(
            StatusCode::BAD_REQUEST,
            format!("Payload validation error: {e}"),
        ));
    }
    let app_id = p.name.name.to_lowercase();
    let service_name = names::deployment(&p.name);
    let (host, port) = match p.expose_type {
        ExposeType::Manual => manual(state, &p, &service_name).await,
        ExposeType::Nodeport => service(state, &p, ServiceType::NodePort).await?,
        ExposeType::Clusterip => service(state, &p, ServiceType::ClusterIp).await?,
        ExposeType::Loadbalancer => service(state, &p, ServiceType::LoadBalancer).await?,
    };
    tracing::info!(app_id, expose_type = p.expose_type.as_str(), %host, port, "ExApp exposed");
    let mut record = match state.nextcloud.exapp_meta(&app_id).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            return Err(Failure::new(
                StatusCode::NOT_FOUND,
                format!("No ExApp metadata for '{app_id}'"),
            ));
        }
        Err(e) => {
            tracing::error!(app_id, error = %e, "exapp-meta failed during expose");
            return Err(unavailable(format!(
                "Failed to fetch metadata for '{app_id}'"
            )));
        }
    };
    record.host = host.clone();
    record.port = port;
    record.resolved_host = None;
    state.exapps.store(&app_id, record);
    Ok(body::json(
        StatusCode::OK,
        &json!({"appId": app_id, "host": host, "port": port,
                "exposeType": p.expose_type.as_str(), "serviceName": service_name,
                "namespace": state.k8s.namespace()}),
    ))
}

/// The given upstream; kept on the Deployment as annotations when Kubernetes is configured.
async fn manual(state: &State, p: &ExposePayload, deployment: &str) -> (String, u16) {
    let host = p.upstream_host().unwrap_or_default();
    let port = p.upstream_port.unwrap_or(p.port);
    let k8s = &state.k8s;
    if k8s.check().is_ok() {
        let patch = manifests::manual_upstream(&host, port);
        match k8s
            .patch(&k8s.path("deployments", Some(deployment)), &patch)
            .await
        {
            Ok(r) if matches!(r.status, 200 | 201) => {}
            Ok(r) => {
                tracing::warn!(
                    deployment,
                    status = r.status,
                    message = r.message(),
                    "cannot annotate the Deployment with the manual upstream"
                )
            }
            Err(e) => {
                tracing::warn!(deployment, error = %e, "cannot annotate the Deployment with the manual upstream")
            }
        }
    }
    (host, port)
}

/// Creates (or keeps) the Service and reads the upstream from it.
async fn service(
    state: &State,
    p: &ExposePayload,
    service_type: ServiceType,
) -> Result<(String, u16), Failure> {
    let k8s = &state.k8s;
    k8s.check()?;
    let manifest = manifests::service(&ServiceRequest {
        name: &p.name,
        service_type,
        port: p.port,
        service_port: p.service_port,
        node_port: p.node_port,
        external_traffic_policy: p.external_traffic_policy.map(|t| t.as_str().to_string()),
        load_balancer_ip: p.load_balancer_ip.clone(),
        labels: &p.service_labels,
        annotations: &p.service_annotations,
    });
    let name = manifest.metadata.name.clone();
    let created = k8s.post(&k8s.path("services", None), &manifest).await?;
    if !matches!(created.status, 200 | 201 | 409) {
        tracing::error!(
            service = name,
            status = created.status,
            message = created.message(),
            "cannot create the Service"
        );
        return Err(unavailable(format!(
            "Failed to create Service '{name}': Status {}",
            created.status
        )));
    }
    let path = k8s.path("services", Some(&name));
    let svc = k8s.get(&path).await?;
    if !svc.ok() || !svc.body.is_object() {
        return Err(unavailable(format!(
            "Failed to read Service '{name}': Status {}",
            svc.status
        )));
    }
    let svc = svc.body;
    match service_type {
        ServiceType::NodePort => {
            let port = resolve::node_port(&svc)?;
            let host = match p.upstream_host() {
                Some(h) => h,
                None => {
                    resolve::node_address(
                        k8s,
                        p.node_address_type,
                        p.node_name.as_deref(),
                        p.node_label_selector.as_deref(),
                    )
                    .await?
                }
            };
            Ok((host, port))
        }
        ServiceType::ClusterIp => {
            let port = resolve::service_port(&svc)?;
            let host = p
                .upstream_host()
                .unwrap_or_else(|| resolve::cluster_host(&svc, &name, k8s.namespace()));
            Ok((host, port))
        }
        ServiceType::LoadBalancer => {
            let port = resolve::service_port(&svc)?;
            if let Some(h) = p
                .upstream_host()
                .or_else(|| resolve::load_balancer_host(&svc))
            {
                return Ok((h, port));
            }
            let host = wait_for_ingress(state, p, &name, &path).await?;
            Ok((host, port))
        }
    }
}

/// Polls a LoadBalancer Service until it has an ingress address or the wait runs out.
async fn wait_for_ingress(
    state: &State,
    p: &ExposePayload,
    name: &str,
    path: &str,
) -> Result<String, Failure> {
    let timeout = Duration::from_secs_f64(p.wait_timeout_seconds.unwrap_or(60.0));
    let interval = Duration::from_secs_f64(p.wait_interval_seconds.unwrap_or(1.0));
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let svc = state.k8s.get(path).await?;
        if !svc.ok() || !svc.body.is_object() {
            return Err(unavailable(format!(
                "Failed to read Service '{name}': Status {}, {}",
                svc.status,
                svc.message()
            )));
        }
        if let Some(h) = resolve::load_balancer_host(&svc.body) {
            return Ok(h);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(unavailable(format!(
                "Timed out waiting for LoadBalancer address for Service '{name}'"
            )));
        }
        tokio::time::sleep(interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::payload::{BodyError, parse};

    fn check(body: Value) -> Result<ExposePayload, String> {
        match parse::<ExposePayload>(body.to_string().as_bytes()) {
            Ok(p) => p.validate().map(|_| p),
            Err(BodyError::Validation(e)) => Err(e),
            Err(BodyError::InvalidJson) => Err("invalid json".into()),
        }
    }

    #[test]
    fn payload_as_appapi_sends_it() {
        let p = check(
            json!({"name": "app", "instance_id": "", "port": 23000, "expose_type": "nodeport",
            "upstream_host": null, "node_port": null, "external_traffic_policy": null,
            "load_balancer_ip": null, "node_address_type": "InternalIP"}),
        )
        .expect("valid");
        assert_eq!(p.expose_type, ExposeType::Nodeport);
        let d = check(json!({"name": "app", "port": 1, "node_address_type": null})).expect("valid");
        assert_eq!(d.expose_type, ExposeType::Clusterip);
        assert_eq!(d.node_address_type, AddressType::InternalIP);
    }

    #[test]
    fn refused_payloads() {
        for bad in [
            json!({"name": "a"}),
            json!({"name": "a", "port": 0}),
            json!({"name": "a", "port": 70000}),
            json!({"name": "a", "port": 1, "expose_type": "ingress"}),
            json!({"name": "a", "port": 1, "node_port": 80}),
            json!({"name": "a", "port": 1, "external_traffic_policy": "local"}),
            json!({"name": "a", "port": 1, "wait_timeout_seconds": 601}),
            json!({"name": "a", "port": 1, "wait_interval_seconds": 0.01}),
            json!({"name": "a", "port": 1, "node_address_type": "Hostname"}),
            json!({"name": "a", "port": 1, "service_labels": {"a": 1}}),
            json!({"name": "a", "port": 1, "expose_type": "manual"}),
            json!({"name": "a", "port": 1, "expose_type": "manual", "upstream_host": ""}),
        ] {
            assert!(check(bad.clone()).is_err(), "{bad}");
        }
    }
}
