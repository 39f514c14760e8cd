//! What the fake makes of stored objects: server-side defaults and allocations on create
//! (ClusterIPs, node ports, load-balancer timing), the pods of scaled-up Deployments with their
//! phases, and objects as they read now (load-balancer ingress, ready replicas).

use super::{Inner, Key};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::time::Instant;

/// Server-side defaults and allocations for a new object.
pub(super) fn complete(st: &mut Inner, key: &Key, obj: &mut Value) {
    let (kind, ns, _) = key;
    st.uid += 1;
    let meta = &mut obj["metadata"];
    meta["namespace"] = json!(ns);
    meta["uid"] = json!(format!("00000000-0000-0000-0000-{:012}", st.uid));
    meta["resourceVersion"] = json!(st.uid.to_string());
    meta["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
    match kind.as_str() {
        "deployments" => {
            meta["generation"] = json!(1);
            if obj["spec"]["replicas"].is_null() {
                obj["spec"]["replicas"] = json!(1);
            }
            if obj["spec"]["replicas"].as_u64().unwrap_or(0) > 0 {
                st.scaled_up.insert(key.clone(), Instant::now());
            }
            obj["status"] = json!({});
        }
        "persistentvolumeclaims" => {
            obj["status"] = json!({"phase": "Bound", "accessModes": obj["spec"]["accessModes"]});
        }
        "services" => {
            let spec = &mut obj["spec"];
            let ty = spec["type"].as_str().unwrap_or("ClusterIP").to_string();
            spec["type"] = json!(ty);
            if spec["clusterIP"].is_null() {
                let ip = st.cluster_ip.clone().unwrap_or_else(|| {
                    st.next_ip += 1;
                    format!("10.43.0.{}", st.next_ip)
                });
                spec["clusterIP"] = json!(ip);
            }
            spec["clusterIPs"] = json!([spec["clusterIP"]]);
            spec["sessionAffinity"] = json!("None");
            for p in spec["ports"].as_array_mut().into_iter().flatten() {
                if p["protocol"].is_null() {
                    p["protocol"] = json!("TCP");
                }
                if p["targetPort"].is_null() {
                    p["targetPort"] = p["port"].clone();
                }
                if matches!(ty.as_str(), "NodePort" | "LoadBalancer") && p["nodePort"].is_null() {
                    p["nodePort"] = json!(st.next_node_port);
                    st.next_node_port = st.next_node_port.saturating_add(1);
                }
            }
            if matches!(ty.as_str(), "NodePort" | "LoadBalancer")
                && spec["externalTrafficPolicy"].is_null()
            {
                spec["externalTrafficPolicy"] = json!("Cluster");
            }
            if ty == "LoadBalancer" {
                st.lb_created.insert(key.clone(), Instant::now());
            }
            obj["status"] = json!({"loadBalancer": {}});
        }
        _ => {}
    }
}

/// The simulated pods of every Deployment in `ns` with replicas ≥ 1.
pub(super) fn pods(st: &Inner, ns: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for ((kind, n, name), d) in &st.objects {
        if kind != "deployments" || n != ns {
            continue;
        }
        let replicas = d["spec"]["replicas"].as_u64().unwrap_or(0);
        let since = st
            .scaled_up
            .get(&(kind.clone(), n.clone(), name.clone()))
            .map(|t| t.elapsed())
            .unwrap_or_default();
        let image = d["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap_or("");
        for i in 0..replicas {
            let (phase, ready, state) = if st.bad_images.contains(image) {
                let reason = if since < Duration::from_millis(500) {
                    "ErrImagePull"
                } else {
                    "ImagePullBackOff"
                };
                (
                    "Pending",
                    false,
                    json!({"waiting": {"reason": reason,
                    "message": format!("Back-off pulling image \"{image}\"")}}),
                )
            } else if since < st.ready_delay {
                (
                    "Pending",
                    false,
                    json!({"waiting": {"reason": "ContainerCreating"}}),
                )
            } else {
                (
                    "Running",
                    true,
                    json!({"running": {"startedAt": "2026-01-01T00:00:01Z"}}),
                )
            };
            let ready_s = if ready { "True" } else { "False" };
            out.push(json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": format!("{name}-5d8f7c6b9-{i:05}"), "namespace": ns,
                             "labels": d["spec"]["template"]["metadata"]["labels"]},
                "spec": d["spec"]["template"]["spec"],
                "status": {"phase": phase,
                    "conditions": [{"type": "PodScheduled", "status": "True"},
                                   {"type": "Ready", "status": ready_s}],
                    "containerStatuses": [{"name": "app", "image": image, "ready": ready,
                                           "restartCount": 0, "state": state}]}
            }));
        }
    }
    out
}

/// A stored object as it reads now (LoadBalancer ingress, Deployment status).
pub(super) fn observed(st: &Inner, key: &Key, obj: &Value) -> Value {
    let mut obj = obj.clone();
    if key.0 == "services"
        && let (Some(created), Some((ip, after))) = (st.lb_created.get(key), &st.lb_ingress)
        && created.elapsed() >= *after
    {
        obj["status"]["loadBalancer"] = json!({"ingress": [{"ip": ip, "ipMode": "VIP"}]});
    }
    if key.0 == "deployments" {
        let ready = pods(st, &key.1)
            .iter()
            .filter(|p| {
                p["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with(&format!("{}-", key.2)))
                    && p["status"]["containerStatuses"][0]["ready"] == true
            })
            .count();
        obj["status"] = json!({"replicas": obj["spec"]["replicas"], "readyReplicas": ready});
    }
    obj
}
