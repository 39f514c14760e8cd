//! AppAPI's Kubernetes deployment replayed end to end through harp (appapi-contract §1.3
//! "Kubernetes variants", contract §5.6): `/info` preflight → exists → create → start →
//! install_certificates → wait_for_start → expose → routing through `/exapps/<appid>/` →
//! `exapp_storage` push → stop → remove. No Kubernetes API server can run on this machine: the
//! API is the testkit's faithful fake (schema validation per kind, real Status objects,
//! simulated pods and addresses), and the ExApp's Service is the testkit's ExApp on 127.0.0.1,
//! which the fake reports as the ClusterIP / node address. Also the other expose types.

mod common;
#[path = "common/k8s.rs"]
mod k8s;

use common::*;
use k8s::*;
use serde_json::json;
use std::time::Duration;

fn assert_clean(h: &K8sHarp) {
    assert!(
        h.k8s.rejected().is_empty(),
        "422s and RBAC refusals: {:?}",
        h.k8s.rejected()
    );
    assert!(
        h.k8s.warnings().is_empty(),
        "unknown fields: {:?}",
        h.k8s.warnings()
    );
}

#[tokio::test]
async fn appapi_kubernetes_deploy_end_to_end() {
    let h = start_k8s(&[]).await;
    // Exactly the rights the README's RBAC grants.
    h.k8s.enforce_rbac(Some(readme_rbac()));
    let port = h.harp.exapp.port();

    // Preflight.
    let info = get(
        h.harp.addr,
        "/exapps/app_api/info",
        &[("harp-shared-key", KEY)],
    )
    .await;
    assert_eq!(info.status, 200);
    assert_eq!(
        info.json()["kubernetes"],
        json!({"enabled": true, "api_server": h.k8s.url(), "reachable": true})
    );

    let r = h.op("exists", name()).await;
    assert_eq!(
        (r.status.as_u16(), r.json()),
        (200, json!({"exists": false}))
    );

    let r = h.op("create", create_body()).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json(), json!({"name": DEPLOYMENT}));
    assert_clean(&h);
    let d = h
        .k8s
        .object(NS, "deployments", DEPLOYMENT)
        .expect("deployment stored");
    assert_eq!(d["spec"]["replicas"], 0);
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["image"], "ghcr.io/nextcloud/app-skeleton-python:latest");
    assert_eq!(c["env"][1], json!({"name": "APP_PORT", "value": "23000"}));
    assert_eq!(
        c["volumeMounts"][0]["mountPath"],
        "/nc_app_app-skeleton-python_data"
    );
    assert!(c.get("resources").is_none(), "null limits set nothing");
    let pvc = h
        .k8s
        .object(NS, "persistentvolumeclaims", PVC)
        .expect("pvc stored");
    assert_eq!(pvc["spec"]["resources"]["requests"]["storage"], "10Gi");

    let r = h.op("exists", name()).await;
    assert_eq!(r.json(), json!({"exists": true}));

    let r = h.op("start", name()).await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(r.body.is_empty());

    let certs = json!({"name": APP, "instance_id": "", "system_certs_bundle": null, "install_frp_certs": false});
    assert_eq!(h.op("install_certificates", certs).await.status, 204);

    let r = h.op("wait_for_start", name()).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({"started": true, "status": "running", "health": "ready", "reason": null, "message": null})
    );
    let pods = h.k8s.pods(NS);
    assert_eq!(pods.len(), 1);
    assert_eq!(
        pods[0]["status"]["phase"], "Running",
        "started only once the pod runs"
    );

    let r = h.op("expose", expose_body(port, "clusterip")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"appId": APP, "host": "127.0.0.1", "port": port, "exposeType": "clusterip",
               "serviceName": DEPLOYMENT, "namespace": NS})
    );
    assert_clean(&h);
    let svc = h
        .k8s
        .object(NS, "services", DEPLOYMENT)
        .expect("service stored");
    assert_eq!(
        svc["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "harp"
    );
    assert_eq!(svc["spec"]["selector"], json!({"app": DEPLOYMENT}));

    // AppAPI's heartbeat (signed, with the logical host) reaches the pod through the Service.
    let signed = signed_headers(KEY, port);
    let mut signed: Vec<(&str, String)> = signed;
    signed.retain(|(k, _)| *k != "ex-app-host");
    signed.push(("ex-app-host", APP.to_string()));
    let r = get(
        h.harp.addr,
        &format!("/exapps/{APP}/heartbeat"),
        &hdrs(&signed),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["path"], "/heartbeat");

    // Enabling ends with AppAPI pushing the record with host = app id (HaRP #101).
    let pushed = k8s_record(23000).to_string();
    let r = send(
        h.harp.addr,
        "POST",
        &format!("/exapps/app_api/exapp_storage/{APP}"),
        &[("harp-shared-key", KEY)],
        &pushed,
    )
    .await
    .expect("exapp_storage");
    assert_eq!(r.status, 204);
    let r = get(h.harp.addr, &format!("/exapps/{APP}/public"), &[]).await;
    assert_eq!(r.status, 200, "routing survives the push: {}", r.text());
    assert_eq!(r.json()["path"], "/public");

    // After a cache loss (a harp restart), the upstream is found again from the Service.
    let r = send(
        h.harp.addr,
        "DELETE",
        &format!("/exapps/app_api/exapp_storage/{APP}"),
        &[("harp-shared-key", KEY)],
        "",
    )
    .await
    .expect("delete");
    assert_eq!(r.status, 204);
    let r = get(h.harp.addr, &format!("/exapps/{APP}/public"), &[]).await;
    assert_eq!(r.status, 200, "resolved on a cache miss: {}", r.text());

    let r = h.op("stop", name()).await;
    assert_eq!(r.status, 204);
    let d = h
        .k8s
        .object(NS, "deployments", DEPLOYMENT)
        .expect("deployment kept");
    assert_eq!(d["spec"]["replicas"], 0);
    assert!(h.k8s.pods(NS).is_empty(), "scaled to zero");

    let r = h
        .op(
            "remove",
            json!({"name": APP, "instance_id": "", "remove_data": true}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(h.k8s.objects(NS, "deployments").is_empty());
    assert!(h.k8s.objects(NS, "persistentvolumeclaims").is_empty());
    assert!(
        h.k8s.objects(NS, "services").is_empty(),
        "harp's Service is removed"
    );

    assert_clean(&h);
    // Every call carried the token; patches were strategic merges.
    for call in h.k8s.calls() {
        assert_eq!(
            call.headers
                .get("authorization")
                .and_then(|v| v.to_str().ok()),
            Some(format!("Bearer {TOKEN}").as_str()),
            "{} {}",
            call.method,
            call.path
        );
        if call.method == "PATCH" {
            assert_eq!(
                call.headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok()),
                Some("application/strategic-merge-patch+json")
            );
        }
    }
}

#[tokio::test]
async fn nodeport_expose_uses_the_node_address_and_node_port() {
    let h = start_k8s(&[]).await;
    h.k8s.enforce_rbac(Some(readme_rbac()));
    let port = h.harp.exapp.port();
    assert_eq!(h.op("create", create_body()).await.status, 201);
    // The node port the fake allocates next is where the stand-in ExApp listens.
    h.k8s.set_next_node_port(port);
    h.k8s
        .add_node("not-ready", false, &[("InternalIP", "192.0.2.1")]);
    let r = h.op("expose", expose_body(8080, "nodeport")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["host"], "127.0.0.1", "a Ready node is preferred");
    assert_eq!(r.json()["port"], port);
    assert_clean(&h);
    let svc = h.k8s.object(NS, "services", DEPLOYMENT).expect("service");
    assert_eq!(svc["spec"]["type"], "NodePort");
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], 8080);
    let r = get(h.harp.addr, &format!("/exapps/{APP}/public"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());

    // ExternalIP preferred, by node name; a node without one falls back to its InternalIP.
    h.k8s.add_node(
        "edge",
        true,
        &[("InternalIP", "10.0.0.7"), ("ExternalIP", "203.0.113.7")],
    );
    let mut body = expose_body(8080, "nodeport");
    body["node_address_type"] = json!("ExternalIP");
    body["node_name"] = json!("edge");
    let r = h.op("expose", body.clone()).await;
    assert_eq!(r.json()["host"], "203.0.113.7");
    body["node_name"] = json!("fake-node-1");
    assert_eq!(
        h.op("expose", body.clone()).await.json()["host"],
        "127.0.0.1"
    );
    body["node_name"] = json!("missing");
    let r = h.op("expose", body).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.text(), "No Kubernetes nodes found (after filtering).");
}

#[tokio::test]
async fn loadbalancer_expose_waits_for_the_ingress() {
    let h = start_k8s(&[]).await;
    h.k8s.enforce_rbac(Some(readme_rbac()));
    let port = h.harp.exapp.port();
    assert_eq!(h.op("create", create_body()).await.status, 201);
    let mut body = expose_body(port, "loadbalancer");
    body["wait_timeout_seconds"] = json!(1);
    body["wait_interval_seconds"] = json!(0.2);
    let r = h.op("expose", body.clone()).await;
    assert_eq!(r.status, 503);
    assert_eq!(
        r.text(),
        format!("Timed out waiting for LoadBalancer address for Service '{DEPLOYMENT}'")
    );
    // The Service stays; once the load balancer has an address, a new expose finds it.
    assert!(h.k8s.object(NS, "services", DEPLOYMENT).is_some());
    h.k8s
        .set_load_balancer(Some(("127.0.0.1", Duration::from_millis(300))));
    let r = h
        .op("remove", json!({"name": APP, "remove_data": false}))
        .await;
    assert_eq!(r.status, 204);
    assert!(h.k8s.object(NS, "services", DEPLOYMENT).is_none());
    assert_eq!(h.op("create", create_body()).await.status, 201);
    body["wait_timeout_seconds"] = json!(30);
    let r = h.op("expose", body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["host"], "127.0.0.1");
    assert_eq!(r.json()["port"], port);
    assert_clean(&h);
    let r = get(h.harp.addr, &format!("/exapps/{APP}/public"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn manual_expose_is_kept_on_the_deployment_and_survives_a_cache_loss() {
    let h = start_k8s(&[]).await;
    h.k8s.enforce_rbac(Some(readme_rbac()));
    let port = h.harp.exapp.port();
    assert_eq!(h.op("create", create_body()).await.status, 201);
    let mut body = expose_body(9999, "manual");
    body["upstream_host"] = json!("127.0.0.1");
    body["upstream_port"] = json!(port);
    let r = h.op("expose", body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["host"], "127.0.0.1");
    assert_eq!(r.json()["port"], port);
    assert!(
        h.k8s.objects(NS, "services").is_empty(),
        "manual: no Service"
    );
    let d = h
        .k8s
        .object(NS, "deployments", DEPLOYMENT)
        .expect("deployment");
    assert_eq!(
        d["metadata"]["annotations"],
        json!({"appapi.nextcloud.com/expose-type": "manual",
               "appapi.nextcloud.com/upstream-host": "127.0.0.1",
               "appapi.nextcloud.com/upstream-port": port.to_string()})
    );
    // A push with the logical host and a cache loss: the annotations still win.
    let r = send(
        h.harp.addr,
        "POST",
        &format!("/exapps/app_api/exapp_storage/{APP}"),
        &[("harp-shared-key", KEY)],
        &k8s_record(23000).to_string(),
    )
    .await
    .expect("push");
    assert_eq!(r.status, 204);
    assert_eq!(
        get(h.harp.addr, &format!("/exapps/{APP}/public"), &[])
            .await
            .status,
        200
    );

    // An operator-managed Service (no managed-by label) is kept by remove.
    h.k8s.put(NS, "services", json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": DEPLOYMENT, "labels": {"app": DEPLOYMENT}},
        "spec": {"clusterIP": "10.43.200.200", "selector": {"app": DEPLOYMENT}, "ports": [{"port": 23000}]}}));
    let r = h
        .op("remove", json!({"name": APP, "remove_data": true}))
        .await;
    assert_eq!(r.status, 204);
    assert!(
        h.k8s.object(NS, "services", DEPLOYMENT).is_some(),
        "operator's Service kept"
    );
    assert_clean(&h);
    assert!(h.k8s.object(NS, "deployments", DEPLOYMENT).is_none());
}

#[tokio::test]
async fn a_role_is_found_through_the_group_label() {
    let h = start_k8s(&[]).await;
    h.k8s.enforce_rbac(Some(readme_rbac()));
    let port = h.harp.exapp.port();
    let mut create = create_body();
    create["role_suffix"] = json!("rp");
    let r = h.op("create", create).await;
    assert_eq!(r.json(), json!({"name": "nc-app-app-skeleton-python-rp"}));
    assert_clean(&h);
    let mut body = expose_body(port, "clusterip");
    body["role_suffix"] = json!("rp");
    let r = h.op("expose", body).await;
    assert_eq!(r.json()["serviceName"], "nc-app-app-skeleton-python-rp");
    // Cache loss: the Service is not named after the app, but carries its part-of label.
    send(
        h.harp.addr,
        "DELETE",
        &format!("/exapps/app_api/exapp_storage/{APP}"),
        &[("harp-shared-key", KEY)],
        "",
    )
    .await
    .expect("delete");
    let r = get(h.harp.addr, &format!("/exapps/{APP}/public"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(h.k8s.calls().iter().any(|c| c.path.ends_with("/services")
        && c.query == "labelSelector=app.kubernetes.io%2Fpart-of%3Dnc-app-app-skeleton-python"));
}

#[tokio::test]
async fn every_create_option_passes_the_api_schema() {
    let h = start_k8s(&[
        ("HP_K8S_NAMESPACE", "exapps-test"),
        ("HP_K8S_STORAGE_CLASS", "fast-ssd"),
        ("HP_K8S_DEFAULT_STORAGE_SIZE", "2Gi"),
        (
            "HP_K8S_HOST_ALIASES",
            "nextcloud.local:10.0.0.5,office.local:10.0.0.5,db:10.0.0.6",
        ),
    ])
    .await;
    let mut body = create_body();
    body["instance_id"] = json!("inst1");
    body["role_suffix"] = json!("worker");
    body["compute_device"] = json!("cuda");
    body["resource_limits"] = json!({"memory": 536870912u64, "nanoCPUs": 500000000u64});
    body["mount_points"] = json!([{"source": "/srv", "target": "/srv", "mode": "ro"}]);
    let r = h.op("create", body).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_clean(&h);
    let d = h
        .k8s
        .object(
            "exapps-test",
            "deployments",
            "nc-app-inst1-app-skeleton-python-worker",
        )
        .expect("deployment");
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(
        pod["hostAliases"],
        json!([{"ip": "10.0.0.5", "hostnames": ["nextcloud.local", "office.local"]},
               {"ip": "10.0.0.6", "hostnames": ["db"]}])
    );
    assert_eq!(
        pod["containers"][0]["resources"],
        json!({"limits": {"memory": "512Mi", "cpu": "500m", "nvidia.com/gpu": "1"},
               "requests": {"memory": "512Mi", "cpu": "500m"}})
    );
    assert_eq!(
        pod["volumes"][0]["persistentVolumeClaim"]["claimName"],
        "nc-app-inst1-app-skeleton-python-data"
    );
    let pvc = h
        .k8s
        .object(
            "exapps-test",
            "persistentvolumeclaims",
            "nc-app-inst1-app-skeleton-python-data",
        )
        .expect("pvc");
    assert_eq!(pvc["spec"]["storageClassName"], "fast-ssd");
    assert_eq!(pvc["spec"]["resources"]["requests"]["storage"], "2Gi");
    let mut expose = expose_body(8080, "nodeport");
    expose["instance_id"] = json!("inst1");
    expose["role_suffix"] = json!("worker");
    expose["node_port"] = json!(30555);
    expose["external_traffic_policy"] = json!("Local");
    expose["service_labels"] = json!({"team": "ai"});
    expose["service_annotations"] = json!({"example.com/note": "x"});
    let r = h.op("expose", expose).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["port"], 30555);
    assert_eq!(r.json()["namespace"], "exapps-test");
    assert_clean(&h);
}
