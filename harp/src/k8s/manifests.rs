//! The objects harp sends to the Kubernetes API (contract §5.6.2, §5.6.3, §5.6.7) as typed
//! values: the PVC, the Deployment, the Service and the two strategic-merge patches (replicas,
//! manual-upstream annotations). Field order and content are HaRP's; the JSON is pinned by
//! snapshot tests.

use super::names;
use crate::config::k8s::K8sConfig;
use crate::docker::payload::{ComputeDevice, CreatePayload, ExAppName};
use serde::Serialize;
use serde_json::{Map, Value};

/// Annotations that persist a manual upstream on the Deployment (survive a harp restart).
pub const ANNOTATION_EXPOSE_TYPE: &str = "appapi.nextcloud.com/expose-type";
pub const ANNOTATION_UPSTREAM_HOST: &str = "appapi.nextcloud.com/upstream-host";
pub const ANNOTATION_UPSTREAM_PORT: &str = "appapi.nextcloud.com/upstream-port";

/// Labels and annotations: string to string, in insertion order.
pub type StringMap = Map<String, Value>;

fn string_map(pairs: impl IntoIterator<Item = (String, String)>) -> StringMap {
    pairs
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect()
}

#[derive(Debug, Serialize)]
pub struct ObjectMeta {
    pub name: String,
    pub labels: StringMap,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<StringMap>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PersistentVolumeClaim {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: ObjectMeta,
    pub spec: PvcSpec,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PvcSpec {
    pub access_modes: Vec<&'static str>,
    pub resources: PvcResources,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct PvcResources {
    pub requests: StorageRequest,
}

#[derive(Debug, Serialize)]
pub struct StorageRequest {
    pub storage: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: ObjectMeta,
    pub spec: DeploymentSpec,
}

#[derive(Debug, Serialize)]
pub struct DeploymentSpec {
    pub replicas: u32,
    pub selector: Selector,
    pub template: PodTemplate,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Selector {
    pub match_labels: StringMap,
}

#[derive(Debug, Serialize)]
pub struct PodTemplate {
    pub metadata: TemplateMeta,
    pub spec: PodSpec,
}

#[derive(Debug, Serialize)]
pub struct TemplateMeta {
    pub labels: StringMap,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    pub containers: Vec<Container>,
    pub volumes: Vec<Volume>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub host_aliases: Vec<HostAlias>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    pub name: &'static str,
    pub image: String,
    pub image_pull_policy: &'static str,
    pub env: Vec<EnvVar>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    pub volume_mounts: Vec<VolumeMount>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct EnvVar {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Serialize, Default, PartialEq)]
pub struct Resources {
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub limits: StringMap,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub requests: StringMap,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeMount {
    pub name: &'static str,
    pub mount_path: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    pub name: &'static str,
    pub persistent_volume_claim: ClaimRef,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimRef {
    pub claim_name: String,
}

#[derive(Debug, Serialize)]
pub struct HostAlias {
    pub ip: String,
    pub hostnames: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: ObjectMeta,
    pub spec: ServiceSpec,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    #[serde(rename = "type")]
    pub type_: &'static str,
    pub selector: StringMap,
    pub ports: Vec<ServicePort>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_traffic_policy: Option<String>,
    #[serde(rename = "loadBalancerIP", skip_serializing_if = "Option::is_none")]
    pub load_balancer_ip: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePort {
    pub name: &'static str,
    pub port: u16,
    pub target_port: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_port: Option<u16>,
}

/// `{"spec": {"replicas": n}}`: start (1) and stop (0).
#[derive(Debug, Serialize)]
pub struct ScalePatch {
    pub spec: ScaleSpec,
}

#[derive(Debug, Serialize)]
pub struct ScaleSpec {
    pub replicas: u32,
}

/// `{"metadata": {"annotations": {...}}}`: the manual upstream kept on the Deployment.
#[derive(Debug, Serialize)]
pub struct AnnotationPatch {
    pub metadata: AnnotationsOnly,
}

#[derive(Debug, Serialize)]
pub struct AnnotationsOnly {
    pub annotations: StringMap,
}

/// The data volume of an ExApp: one per app (all roles share it).
pub fn pvc(name: &ExAppName, config: &K8sConfig) -> PersistentVolumeClaim {
    let group = names::group(name);
    PersistentVolumeClaim {
        api_version: "v1",
        kind: "PersistentVolumeClaim",
        metadata: ObjectMeta {
            name: names::pvc(name),
            labels: string_map([
                (names::LABEL_NAME.to_string(), group.clone()),
                (names::LABEL_PART_OF.to_string(), group),
                (names::LABEL_COMPONENT.to_string(), "exapp-data".to_string()),
            ]),
            annotations: None,
        },
        spec: PvcSpec {
            access_modes: vec!["ReadWriteOnce"],
            resources: PvcResources {
                requests: StorageRequest {
                    storage: config.storage_size.clone(),
                },
            },
            storage_class_name: Some(config.storage_class.clone()).filter(|c| !c.is_empty()),
        },
    }
}

/// `KEY=VALUE` → `{name, value}`, split at the first `=`; no `=` → empty value; empty skipped.
pub fn env_vars(raw: &[String]) -> Vec<EnvVar> {
    raw.iter()
        .filter(|e| !e.is_empty())
        .map(|e| {
            let (name, value) = e.split_once('=').unwrap_or((e, ""));
            EnvVar {
                name: name.to_string(),
                value: value.to_string(),
            }
        })
        .collect()
}

/// `resource_limits` and the compute device as container resources (HaRP's rules: memory in
/// bytes → MiB rounded up, `nanoCPUs` → millicores rounded up, strings verbatim, requests =
/// limits; a GPU limit for `cuda`/`rocm`). `None` when there is nothing to set.
pub fn resources(limits_in: &Map<String, Value>, device: ComputeDevice) -> Option<Resources> {
    let mut r = Resources::default();
    let memory = match limits_in.get("memory") {
        Some(Value::Number(n)) => n
            .as_u64()
            .filter(|m| *m > 0)
            .map(|m| format!("{}Mi", m.div_ceil(1 << 20))),
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    if let Some(m) = memory {
        r.limits.insert("memory".into(), Value::String(m.clone()));
        r.requests.insert("memory".into(), Value::String(m));
    }
    let nano = limits_in
        .get("nanoCPUs")
        .and_then(Value::as_u64)
        .filter(|n| *n > 0);
    let cpu = match nano {
        Some(n) => Some(format!("{}m", n.div_ceil(1_000_000).max(1))),
        None => match limits_in.get("cpu") {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        },
    };
    if let Some(c) = cpu {
        r.limits.insert("cpu".into(), Value::String(c.clone()));
        r.requests.insert("cpu".into(), Value::String(c));
    }
    match device {
        ComputeDevice::Cuda => {
            r.limits.insert("nvidia.com/gpu".into(), "1".into());
        }
        ComputeDevice::Rocm => {
            r.limits.insert("amd.com/gpu".into(), "1".into());
        }
        ComputeDevice::Cpu => {}
    }
    (!r.limits.is_empty() || !r.requests.is_empty()).then_some(r)
}

/// The ExApp's Deployment, created with `replicas: 0` (AppAPI starts it later).
pub fn deployment(p: &CreatePayload, image: &str, config: &K8sConfig) -> Deployment {
    let name = names::deployment(&p.name);
    let labels = string_map(names::workload_labels(&p.name));
    Deployment {
        api_version: "apps/v1",
        kind: "Deployment",
        metadata: ObjectMeta {
            name: name.clone(),
            labels: labels.clone(),
            annotations: None,
        },
        spec: DeploymentSpec {
            replicas: 0,
            selector: Selector {
                match_labels: string_map([(names::LABEL_APP.to_string(), name)]),
            },
            template: PodTemplate {
                metadata: TemplateMeta { labels },
                spec: PodSpec {
                    containers: vec![Container {
                        name: "app",
                        image: image.to_string(),
                        image_pull_policy: "IfNotPresent",
                        env: env_vars(&p.environment_variables),
                        resources: resources(&p.resource_limits, p.compute_device),
                        volume_mounts: vec![VolumeMount {
                            name: "data",
                            mount_path: names::mount_path(&p.name),
                        }],
                    }],
                    volumes: vec![Volume {
                        name: "data",
                        persistent_volume_claim: ClaimRef {
                            claim_name: names::pvc(&p.name),
                        },
                    }],
                    host_aliases: config
                        .host_aliases
                        .iter()
                        .map(|a| HostAlias {
                            ip: a.ip.clone(),
                            hostnames: a.hostnames.clone(),
                        })
                        .collect(),
                },
            },
        },
    }
}

/// The Kubernetes Service type of an expose type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceType {
    NodePort,
    ClusterIp,
    LoadBalancer,
}

impl ServiceType {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::NodePort => "NodePort",
            ServiceType::ClusterIp => "ClusterIP",
            ServiceType::LoadBalancer => "LoadBalancer",
        }
    }
}

/// What a Service is built from (the `expose` payload's Service fields).
pub struct ServiceRequest<'a> {
    pub name: &'a ExAppName,
    pub service_type: ServiceType,
    pub port: u16,
    pub service_port: Option<u16>,
    pub node_port: Option<u16>,
    pub external_traffic_policy: Option<String>,
    pub load_balancer_ip: Option<String>,
    pub labels: &'a Map<String, Value>,
    pub annotations: &'a Map<String, Value>,
}

/// The Service in front of the ExApp's pods, labelled `managed-by: harp` so `remove` may
/// delete it.
pub fn service(r: &ServiceRequest<'_>) -> Service {
    let name = names::deployment(r.name);
    let mut labels = string_map([
        (names::LABEL_APP.to_string(), name.clone()),
        (names::LABEL_NAME.to_string(), name.clone()),
        (names::LABEL_PART_OF.to_string(), names::group(r.name)),
        (names::LABEL_COMPONENT.to_string(), "exapp".to_string()),
        (names::LABEL_MANAGED_BY.to_string(), "harp".to_string()),
    ]);
    for (k, v) in r.labels {
        labels.insert(k.clone(), v.clone());
    }
    if !r.name.instance_id.is_empty() && !labels.contains_key(names::LABEL_INSTANCE) {
        labels.insert(
            names::LABEL_INSTANCE.to_string(),
            Value::String(r.name.instance_id.clone()),
        );
    }
    if !r.name.role_suffix.is_empty() {
        labels.insert(
            names::LABEL_ROLE.to_string(),
            Value::String(names::sanitize(&r.name.role_suffix)),
        );
    }
    let balancing = matches!(
        r.service_type,
        ServiceType::NodePort | ServiceType::LoadBalancer
    );
    Service {
        api_version: "v1",
        kind: "Service",
        metadata: ObjectMeta {
            name: name.clone(),
            labels,
            annotations: Some(r.annotations.clone()).filter(|a| !a.is_empty()),
        },
        spec: ServiceSpec {
            type_: r.service_type.as_str(),
            selector: string_map([(names::LABEL_APP.to_string(), name)]),
            ports: vec![ServicePort {
                name: "http",
                port: r.service_port.unwrap_or(r.port),
                target_port: r.port,
                node_port: r
                    .node_port
                    .filter(|_| r.service_type == ServiceType::NodePort),
            }],
            external_traffic_policy: r.external_traffic_policy.clone().filter(|_| balancing),
            load_balancer_ip: r
                .load_balancer_ip
                .clone()
                .filter(|ip| !ip.is_empty() && r.service_type == ServiceType::LoadBalancer),
        },
    }
}

pub fn scale(replicas: u32) -> ScalePatch {
    ScalePatch {
        spec: ScaleSpec { replicas },
    }
}

pub fn manual_upstream(host: &str, port: u16) -> AnnotationPatch {
    AnnotationPatch {
        metadata: AnnotationsOnly {
            annotations: string_map([
                (ANNOTATION_EXPOSE_TYPE.to_string(), "manual".to_string()),
                (ANNOTATION_UPSTREAM_HOST.to_string(), host.to_string()),
                (ANNOTATION_UPSTREAM_PORT.to_string(), port.to_string()),
            ]),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::k8s::HostAlias as ConfigAlias;
    use crate::docker::payload::parse;
    use serde_json::json;

    fn config() -> K8sConfig {
        K8sConfig {
            enabled: true,
            storage_class: "fast".into(),
            storage_size: "5Gi".into(),
            host_aliases: vec![ConfigAlias {
                ip: "10.0.0.5".into(),
                hostnames: vec!["nc.local".into(), "office.local".into()],
            }],
            ..K8sConfig::default()
        }
    }

    fn create(body: Value) -> CreatePayload {
        parse(body.to_string().as_bytes()).expect("valid payload")
    }

    #[test]
    fn pvc_snapshot() {
        let n = create(json!({"name": "app-skeleton-python", "image": "x"})).name;
        insta::assert_json_snapshot!("pvc", pvc(&n, &config()));
        let plain = K8sConfig::default();
        let v = serde_json::to_value(pvc(&n, &plain)).expect("json");
        assert!(v["spec"].get("storageClassName").is_none());
        assert_eq!(v["spec"]["resources"]["requests"]["storage"], "10Gi");
    }

    #[test]
    fn deployment_snapshot_as_appapi_sends_it() {
        let p = create(json!({
            "name": "app-skeleton-python", "instance_id": "", "role_suffix": "",
            "image": "ghcr.io/nextcloud/app-skeleton-python:latest",
            "environment_variables": ["APP_ID=app-skeleton-python", "APP_PORT=23000", "NO_VALUE", "", "EQ=a=b"],
            "compute_device": "cuda",
            "resource_limits": {"memory": 536870913u64, "nanoCPUs": 1500000000u64},
            "mount_points": [{"source": "/x", "target": "/y"}],
            "network_mode": "host",
        }));
        let image = p.image().unwrap_or_default().to_string();
        insta::assert_json_snapshot!("deployment", deployment(&p, &image, &config()));
    }

    #[test]
    fn deployment_of_a_role_without_limits() {
        let p = create(
            json!({"name": "myapp", "instance_id": "i1", "role_suffix": "worker", "image": "img"}),
        );
        let v = serde_json::to_value(deployment(&p, "img", &K8sConfig::default())).expect("json");
        let c = &v["spec"]["template"]["spec"]["containers"][0];
        assert!(c.get("resources").is_none(), "cpu without limits: nothing");
        assert!(v["spec"]["template"]["spec"].get("hostAliases").is_none());
        assert_eq!(v["metadata"]["name"], "nc-app-i1-myapp-worker");
        assert_eq!(v["metadata"]["labels"]["app.kubernetes.io/role"], "worker");
        assert_eq!(v["metadata"]["labels"]["app.kubernetes.io/instance"], "i1");
        assert_eq!(
            v["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"],
            "nc-app-i1-myapp-data"
        );
    }

    #[test]
    fn resource_rules() {
        let r = |v: Value, d| resources(v.as_object().expect("object"), d);
        assert_eq!(r(json!({}), ComputeDevice::Cpu), None);
        assert_eq!(
            r(
                json!({"memory": null, "nanoCPUs": null}),
                ComputeDevice::Cpu
            ),
            None
        );
        let small = r(json!({"memory": 1, "nanoCPUs": 1}), ComputeDevice::Cpu).expect("some");
        assert_eq!(small.limits["memory"], "1Mi");
        assert_eq!(small.limits["cpu"], "1m");
        let strings = r(
            json!({"memory": "512Mi", "cpu": "250m"}),
            ComputeDevice::Rocm,
        )
        .expect("some");
        assert_eq!(
            serde_json::to_value(&strings).expect("json"),
            json!({"limits": {"memory": "512Mi", "cpu": "250m", "amd.com/gpu": "1"},
                   "requests": {"memory": "512Mi", "cpu": "250m"}})
        );
        let gpu_only = r(json!({}), ComputeDevice::Cuda).expect("some");
        assert_eq!(
            serde_json::to_value(&gpu_only).expect("json"),
            json!({"limits": {"nvidia.com/gpu": "1"}})
        );
        assert_eq!(
            r(json!({"memory": -5, "nanoCPUs": 2.5}), ComputeDevice::Cpu),
            None
        );
    }

    #[test]
    fn service_snapshots() {
        let n = ExAppName {
            name: "app-skeleton-python".into(),
            instance_id: String::new(),
            role_suffix: String::new(),
        };
        let empty = Map::new();
        let base = |t| ServiceRequest {
            name: &n,
            service_type: t,
            port: 23000,
            service_port: None,
            node_port: Some(30080),
            external_traffic_policy: Some("Local".into()),
            load_balancer_ip: Some("192.0.2.10".into()),
            labels: &empty,
            annotations: &empty,
        };
        insta::assert_json_snapshot!("service_clusterip", service(&base(ServiceType::ClusterIp)));
        insta::assert_json_snapshot!("service_nodeport", service(&base(ServiceType::NodePort)));
        let extra_labels = json!({"app": "override", "team": "x"});
        let annotations = json!({"metallb.universe.tf/address-pool": "pool"});
        let role = ExAppName {
            instance_id: "i1".into(),
            role_suffix: "rp".into(),
            ..n.clone()
        };
        let lb = ServiceRequest {
            name: &role,
            service_port: Some(80),
            labels: extra_labels.as_object().expect("object"),
            annotations: annotations.as_object().expect("object"),
            ..base(ServiceType::LoadBalancer)
        };
        insta::assert_json_snapshot!("service_loadbalancer", service(&lb));
    }

    #[test]
    fn patches() {
        assert_eq!(
            serde_json::to_value(scale(1)).expect("json"),
            json!({"spec": {"replicas": 1}})
        );
        assert_eq!(
            serde_json::to_string(&manual_upstream("10.43.200.200", 23000)).expect("json"),
            r#"{"metadata":{"annotations":{"appapi.nextcloud.com/expose-type":"manual","appapi.nextcloud.com/upstream-host":"10.43.200.200","appapi.nextcloud.com/upstream-port":"23000"}}}"#
        );
    }

    #[test]
    fn env_rules() {
        let e = env_vars(&["A=1".into(), "".into(), "B".into(), "C==x".into()]);
        assert_eq!(
            e,
            vec![
                EnvVar {
                    name: "A".into(),
                    value: "1".into()
                },
                EnvVar {
                    name: "B".into(),
                    value: "".into()
                },
                EnvVar {
                    name: "C".into(),
                    value: "=x".into()
                },
            ]
        );
    }
}
