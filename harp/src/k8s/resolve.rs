//! Where a Kubernetes ExApp is reached (contract §5.6.7, §5.6.8): a Service's ClusterIP and
//! port, a node address and the node port, a load balancer's ingress, or the manual upstream
//! kept in the Deployment's annotations. Used by `expose` and whenever an ExApp record enters
//! the cache (an `exapp-meta` fetch or an `exapp_storage` push), so AppAPI's logical host (the
//! app id) never replaces a working Kubernetes upstream (HaRP #101).

use super::client::{K8sClient, K8sError};
use super::manifests::{
    ANNOTATION_EXPOSE_TYPE, ANNOTATION_UPSTREAM_HOST, ANNOTATION_UPSTREAM_PORT,
};
use super::{Failure, names};
use http::StatusCode;
use serde_json::Value;

/// Why the upstream of an app could not be settled.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ResolveError {
    /// The API could not be reached.
    #[error("{0}")]
    Api(K8sError),
    /// The API answered an error status while looking for the Service.
    #[error("K8s API error during Service lookup for '{0}'")]
    Status(String),
}

/// The node address types `expose` may prefer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Default)]
pub enum AddressType {
    #[default]
    InternalIP,
    ExternalIP,
}

impl AddressType {
    fn as_str(self) -> &'static str {
        match self {
            AddressType::InternalIP => "InternalIP",
            AddressType::ExternalIP => "ExternalIP",
        }
    }

    fn other(self) -> AddressType {
        match self {
            AddressType::InternalIP => AddressType::ExternalIP,
            AddressType::ExternalIP => AddressType::InternalIP,
        }
    }
}

fn unavailable(text: impl Into<String>) -> Failure {
    Failure::new(StatusCode::SERVICE_UNAVAILABLE, text)
}

/// `spec.ports[0].nodePort`.
pub fn node_port(svc: &Value) -> Result<u16, Failure> {
    svc["spec"]["ports"][0]["nodePort"]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .ok_or_else(|| unavailable("Service has no nodePort assigned."))
}

/// `spec.ports[0].port`.
pub fn service_port(svc: &Value) -> Result<u16, Failure> {
    svc["spec"]["ports"][0]["port"]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .ok_or_else(|| unavailable("Service has no port defined."))
}

/// The first load-balancer ingress: its IP, else its host name.
pub fn load_balancer_host(svc: &Value) -> Option<String> {
    let first = &svc["status"]["loadBalancer"]["ingress"][0];
    first["ip"]
        .as_str()
        .filter(|s| !s.is_empty())
        .or_else(|| first["hostname"].as_str().filter(|s| !s.is_empty()))
        .map(str::to_string)
}

/// The ClusterIP (routable from outside the cluster through kube-proxy), or the Service's DNS
/// name when it is headless.
pub fn cluster_host(svc: &Value, name: &str, namespace: &str) -> String {
    match svc["spec"]["clusterIP"].as_str() {
        Some(ip) if !ip.is_empty() && ip != "None" => ip.to_string(),
        _ => format!("{name}.{namespace}.svc"),
    }
}

/// A node address: nodes filtered by name, Ready ones preferred, the first with an address of
/// the preferred type, then the other IP type, then `Hostname`.
pub async fn node_address(
    client: &K8sClient,
    preferred: AddressType,
    node_name: Option<&str>,
    selector: Option<&str>,
) -> Result<String, Failure> {
    let resp = client
        .list("/api/v1/nodes", selector.filter(|s| !s.is_empty()))
        .await?;
    if !resp.ok() || !resp.body.is_object() {
        return Err(unavailable(format!(
            "Failed to list K8s nodes: Status {}, {}",
            resp.status,
            resp.message()
        )));
    }
    let items: Vec<&Value> = resp.body["items"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let items: Vec<&Value> = match node_name.filter(|n| !n.is_empty()) {
        Some(n) => items
            .into_iter()
            .filter(|node| node["metadata"]["name"].as_str() == Some(n))
            .collect(),
        None => items,
    };
    if items.is_empty() {
        return Err(unavailable("No Kubernetes nodes found (after filtering)."));
    }
    let ready = |node: &&Value| {
        node["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
    };
    let ready_nodes: Vec<&Value> = items.iter().copied().filter(ready).collect();
    let nodes = if ready_nodes.is_empty() {
        items
    } else {
        ready_nodes
    };
    let order = [preferred.as_str(), preferred.other().as_str(), "Hostname"];
    for node in nodes {
        for wanted in order {
            let found = node["status"]["addresses"].as_array().and_then(|addrs| {
                addrs.iter().find_map(|a| {
                    (a["type"] == wanted)
                        .then(|| a["address"].as_str())
                        .flatten()
                        .filter(|s| !s.is_empty())
                })
            });
            if let Some(addr) = found {
                return Ok(addr.to_string());
            }
        }
    }
    Err(unavailable(
        "Could not determine a node address (no InternalIP/ExternalIP/Hostname).",
    ))
}

/// The manual upstream persisted on a Deployment.
fn manual_annotations(deployment: &Value) -> Option<(String, u16)> {
    let a = &deployment["metadata"]["annotations"];
    if a[ANNOTATION_EXPOSE_TYPE].as_str() != Some("manual") {
        return None;
    }
    let host = a[ANNOTATION_UPSTREAM_HOST]
        .as_str()
        .filter(|h| !h.is_empty());
    let port = a[ANNOTATION_UPSTREAM_PORT]
        .as_str()
        .and_then(|p| p.trim().parse::<u16>().ok());
    match (host, port) {
        (Some(h), Some(p)) => Some((h.to_string(), p)),
        _ => {
            tracing::warn!(
                deployment = deployment["metadata"]["name"].as_str().unwrap_or(""),
                "manual expose annotation without a usable upstream-host/port"
            );
            None
        }
    }
}

/// The manual upstream of an app, from its Deployment or any Deployment of its group.
async fn manual_upstream(
    client: &K8sClient,
    name: &str,
) -> Result<Option<(String, u16)>, K8sError> {
    let resp = client.get(&client.path("deployments", Some(name))).await?;
    if resp.ok() {
        if let Some(up) = manual_annotations(&resp.body) {
            return Ok(Some(up));
        }
    } else if resp.status != 404 {
        tracing::warn!(
            deployment = name,
            status = resp.status,
            "cannot read the Deployment for a manual upstream"
        );
        return Ok(None);
    }
    let list = client
        .list(
            &client.path("deployments", None),
            Some(&format!("{}={name}", names::LABEL_PART_OF)),
        )
        .await?;
    if list.ok() {
        for item in list.body["items"].as_array().into_iter().flatten() {
            if let Some(up) = manual_annotations(item) {
                return Ok(Some(up));
            }
        }
    }
    Ok(None)
}

/// Contract §5.6.8: the upstream of `app_id` if Kubernetes knows one. `Ok(None)` when the
/// backend is off or unconfigured, or the app has no Service and no manual annotations (a
/// Docker ExApp): the caller keeps Nextcloud's host and port.
pub async fn upstream(
    client: &K8sClient,
    app_id: &str,
) -> Result<Option<(String, u16)>, ResolveError> {
    if client.check().is_err() {
        return Ok(None);
    }
    let name = names::group_of_app(app_id);
    let mut service_name = name.clone();
    let mut api_error = false;
    let resp = client
        .get(&client.path("services", Some(&name)))
        .await
        .map_err(ResolveError::Api)?;
    let mut svc = match resp.status {
        200 => Some(resp.body),
        404 => None,
        _ => {
            api_error = true;
            None
        }
    };
    if svc.is_none() {
        let list = client
            .list(
                &client.path("services", None),
                Some(&format!("{}={name}", names::LABEL_PART_OF)),
            )
            .await
            .map_err(ResolveError::Api)?;
        if list.ok() {
            if let Some(first) = list.body["items"].get(0) {
                if let Some(n) = first["metadata"]["name"].as_str() {
                    service_name = n.to_string();
                }
                svc = Some(first.clone());
            }
        } else {
            api_error = true;
        }
    }
    let Some(svc) = svc else {
        if api_error {
            tracing::warn!(
                app_id,
                "the Kubernetes API answered an error while looking for the Service"
            );
            return Err(ResolveError::Status(app_id.to_string()));
        }
        return manual_upstream(client, &name)
            .await
            .map_err(ResolveError::Api);
    };
    let found = match svc["spec"]["type"].as_str().unwrap_or("ClusterIP") {
        "NodePort" => match node_port(&svc) {
            Ok(port) => node_address(client, AddressType::InternalIP, None, None)
                .await
                .map(|host| Some((host, port))),
            Err(e) => Err(e),
        },
        "ClusterIP" => service_port(&svc)
            .map(|port| Some((cluster_host(&svc, &service_name, client.namespace()), port))),
        "LoadBalancer" => {
            service_port(&svc).map(|port| load_balancer_host(&svc).map(|h| (h, port)))
        }
        _ => Ok(None),
    };
    match found {
        Ok(up) => Ok(up),
        Err(e) => {
            tracing::warn!(
                app_id,
                error = e.text,
                "cannot resolve the Kubernetes upstream; keeping Nextcloud's host and port"
            );
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn extraction() {
        let svc = json!({"spec": {"clusterIP": "10.43.0.7", "ports": [{"port": 23000, "nodePort": 30080}]},
                         "status": {"loadBalancer": {"ingress": [{"hostname": "lb.example"}]}}});
        assert_eq!(node_port(&svc).ok(), Some(30080));
        assert_eq!(service_port(&svc).ok(), Some(23000));
        assert_eq!(load_balancer_host(&svc).as_deref(), Some("lb.example"));
        assert_eq!(cluster_host(&svc, "d", "ns"), "10.43.0.7");
        let headless = json!({"spec": {"clusterIP": "None", "ports": []}});
        assert_eq!(cluster_host(&headless, "d", "ns"), "d.ns.svc");
        assert!(node_port(&headless).is_err());
        assert!(service_port(&headless).is_err());
        assert_eq!(load_balancer_host(&headless), None);
    }

    #[test]
    fn manual_annotations_need_host_and_port() {
        let d = |a: Value| json!({"metadata": {"name": "d", "annotations": a}});
        assert_eq!(
            manual_annotations(&d(
                json!({ANNOTATION_EXPOSE_TYPE: "manual", ANNOTATION_UPSTREAM_HOST: "10.0.0.9", ANNOTATION_UPSTREAM_PORT: "23000"})
            )),
            Some(("10.0.0.9".into(), 23000))
        );
        assert_eq!(
            manual_annotations(&d(
                json!({ANNOTATION_EXPOSE_TYPE: "manual", ANNOTATION_UPSTREAM_HOST: "h", ANNOTATION_UPSTREAM_PORT: "x"})
            )),
            None
        );
        assert_eq!(manual_annotations(&d(json!({}))), None);
    }
}
