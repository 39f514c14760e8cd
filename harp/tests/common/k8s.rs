//! harp with its Kubernetes backend pointed at the testkit's fake API server (no Kubernetes
//! API server can run here: the fake validates manifests against the schema of each kind,
//! keeps objects, answers with real Status objects and simulates pods, node and Service
//! addresses). The token comes from a file the test can rewrite (rotation). The fake hands out
//! 127.0.0.1 as ClusterIP and node address, so the testkit's ExApp stands for the Service.
#![allow(dead_code)]

use crate::common::*;
use harp_testkit::exapp::FakeExApp;
use harp_testkit::kubernetes::FakeKubernetes;
use harp_testkit::nextcloud::FakeNextcloud;
use serde_json::{Value, json};
use std::time::Duration;

pub const TOKEN: &str = "token-one";
pub const NS: &str = "nextcloud-exapps";
pub const DEPLOYMENT: &str = "nc-app-app-skeleton-python";
pub const PVC: &str = "nc-app-app-skeleton-python-data";

pub struct K8sHarp {
    pub harp: TestHarp,
    pub k8s: FakeKubernetes,
    pub token_dir: tempfile::TempDir,
}

impl K8sHarp {
    pub fn token_file(&self) -> std::path::PathBuf {
        self.token_dir.path().join("token")
    }

    /// Rotates the token as the kubelet does: a new file moved into place.
    pub fn rotate_token(&self, token: &str) {
        let tmp = self.token_dir.path().join("token.new");
        std::fs::write(&tmp, format!("{token}\n")).expect("write token");
        std::fs::rename(&tmp, self.token_file()).expect("rename token");
    }

    pub async fn op(&self, name: &str, body: Value) -> Reply {
        k8s_op(&self.harp, name, body).await
    }
}

pub async fn k8s_op(h: &TestHarp, name: &str, body: Value) -> Reply {
    send(
        h.addr,
        "POST",
        &format!("/exapps/app_api/k8s/exapp/{name}"),
        &[("harp-shared-key", KEY)],
        &body.to_string(),
    )
    .await
    .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The ExApp record Nextcloud holds for a Kubernetes app: AppAPI's logical host is the app id.
pub fn k8s_record(port: u16) -> Value {
    let mut r = skeleton_record(port);
    r["host"] = json!(APP);
    r
}

/// Fake API server (token required), harp with `HP_K8S_*` pointing at it, the app known to
/// Nextcloud with host = app id and the stand-in ExApp's port.
pub async fn start_k8s(extra: &[(&str, &str)]) -> K8sHarp {
    let k8s = FakeKubernetes::start().await.expect("fake kubernetes");
    k8s.require_token(Some(TOKEN));
    k8s.set_cluster_ip(Some("127.0.0.1"));
    k8s.set_ready_delay(Duration::from_millis(1500));
    let token_dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(token_dir.path().join("token"), format!("{TOKEN}\n")).expect("token");
    let token_file = token_dir.path().join("token");
    let token_file = token_file.to_str().expect("utf-8 path").to_string();
    let url = k8s.url();
    let mut env = vec![
        ("HP_K8S_ENABLED", "true"),
        ("HP_K8S_API_SERVER", url.as_str()),
        ("HP_K8S_BEARER_TOKEN_FILE", token_file.as_str()),
        ("HP_K8S_CA_FILE", "/nonexistent/ca.crt"),
    ];
    env.extend_from_slice(extra);
    let nc = FakeNextcloud::start(KEY).await.expect("fake nextcloud");
    let exapp = FakeExApp::start().await.expect("fake exapp");
    nc.add_app(APP, k8s_record(exapp.port()));
    let harp = start_with(nc, exapp, &env).await;
    K8sHarp {
        harp,
        k8s,
        token_dir,
    }
}

pub fn name() -> Value {
    json!({"name": APP, "instance_id": ""})
}

/// What AppAPI sends to `create` for app-skeleton-python.
pub fn create_body() -> Value {
    json!({"name": APP, "instance_id": "", "image": "ghcr.io/nextcloud/app-skeleton-python:latest",
           "environment_variables": [format!("APP_ID={APP}"), "APP_PORT=23000", "APP_HOST=0.0.0.0",
               "APP_PERSISTENT_STORAGE=/nc_app_app-skeleton-python_data", "NEXTCLOUD_URL=http://nextcloud.local"],
           "compute_device": "cpu", "resource_limits": {"memory": null, "nanoCPUs": null}})
}

/// What AppAPI sends to `expose` (the daemon's `kubernetes` deploy config).
pub fn expose_body(port: u16, expose_type: &str) -> Value {
    json!({"name": APP, "instance_id": "", "port": port, "expose_type": expose_type,
           "upstream_host": null, "node_port": null, "external_traffic_policy": null,
           "load_balancer_ip": null, "node_address_type": "InternalIP"})
}

/// The RBAC rules of the README's Role and ClusterRole (between the `k8s-rbac` markers), so the
/// fake can enforce exactly what the README tells operators to grant.
pub fn readme_rbac() -> Vec<harp_testkit::kubernetes::Rule> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
    let text = std::fs::read_to_string(path).expect("README.md");
    let start = text
        .find("<!-- k8s-rbac:begin -->")
        .expect("k8s-rbac:begin marker");
    let end = text
        .find("<!-- k8s-rbac:end -->")
        .expect("k8s-rbac:end marker");
    let list = |line: &str| -> Vec<String> {
        let (_, array) = line.split_once(':').expect("key: [..]");
        serde_json::from_str(array.trim()).expect("an inline JSON-style list")
    };
    let mut rules: Vec<harp_testkit::kubernetes::Rule> = Vec::new();
    for line in text[start..end].lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("- apiGroups:") {
            rules.push(harp_testkit::kubernetes::Rule {
                api_groups: list(&format!("x:{rest}")),
                resources: vec![],
                verbs: vec![],
            });
        } else if line.starts_with("resources:") {
            rules.last_mut().expect("a rule").resources = list(line);
        } else if line.starts_with("verbs:") {
            rules.last_mut().expect("a rule").verbs = list(line);
        }
    }
    assert!(rules.len() >= 5, "README RBAC rules: {rules:?}");
    rules
}
