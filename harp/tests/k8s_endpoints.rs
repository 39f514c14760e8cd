//! The Kubernetes endpoints' error answers (contract §5.6): the 503s of a disabled or
//! unconfigured backend, an unreachable API server, bearer-token rotation through the token
//! file, every operation's error statuses, `wait_for_start` on a bad image, `exapp_storage`
//! with a failing API, and manual expose without Kubernetes. The API server is the testkit's
//! fake (no Kubernetes can run here), built from the API conventions; see `common/k8s.rs`.

mod common;
#[path = "common/k8s.rs"]
mod k8s;

use common::*;
use harp_testkit::exapp::FakeExApp;
use harp_testkit::nextcloud::FakeNextcloud;
use k8s::*;
use serde_json::json;

async fn info(h: &TestHarp) -> serde_json::Value {
    let r = get(h.addr, "/exapps/app_api/info", &[("harp-shared-key", KEY)]).await;
    assert_eq!(r.status, 200);
    r.json()["kubernetes"].clone()
}

async fn plain_harp(extra: &[(&str, &str)]) -> TestHarp {
    let nc = FakeNextcloud::start(KEY).await.expect("nc");
    let exapp = FakeExApp::start().await.expect("exapp");
    nc.add_app(APP, k8s_record(exapp.port()));
    start_with(nc, exapp, extra).await
}

fn assert_text(r: &Reply, status: u16, text: &str) {
    assert_eq!((r.status.as_u16(), r.text().as_str()), (status, text));
    assert_eq!(
        r.headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("text/plain; charset=utf-8")
    );
}

#[tokio::test]
async fn disabled_and_unconfigured_backends_answer_503() {
    let off = plain_harp(&[]).await;
    assert_eq!(info(&off).await, json!({"enabled": false}));
    let r = k8s_op(&off, "exists", name()).await;
    assert_text(&r, 503, "Kubernetes backend is disabled in HaRP.");
    // The body is checked first.
    let r = k8s_op(&off, "exists", json!({})).await;
    assert_eq!(r.status, 400);
    assert!(
        r.text().starts_with("Payload validation error"),
        "{}",
        r.text()
    );
    let r = send(
        off.addr,
        "POST",
        "/exapps/app_api/k8s/exapp/create",
        &[("harp-shared-key", KEY)],
        "{nope",
    )
    .await
    .expect("reply");
    assert_text(&r, 400, "Invalid JSON body");
    let r = send(
        off.addr,
        "GET",
        "/exapps/app_api/k8s/exapp/exists",
        &[("harp-shared-key", KEY)],
        "",
    )
    .await
    .expect("reply");
    assert_eq!(r.status, 405);
    let r = k8s_op(&off, "frobnicate", name()).await;
    assert_text(&r, 404, "404: Not Found");
    let r = send(
        off.addr,
        "POST",
        "/exapps/app_api/k8s/exapp/exists",
        &[],
        "{}",
    )
    .await
    .expect("reply");
    assert_eq!(r.status, 401, "the key is needed");

    let no_api = plain_harp(&[("HP_K8S_ENABLED", "true")]).await;
    assert_eq!(
        info(&no_api).await,
        json!({"enabled": true, "api_server": "", "reachable": false})
    );
    assert_text(
        &k8s_op(&no_api, "start", name()).await,
        503,
        "Kubernetes API server is not configured.",
    );

    let no_token = plain_harp(&[
        ("HP_K8S_ENABLED", "true"),
        ("HP_K8S_API_SERVER", "http://127.0.0.1:9"),
        ("HP_K8S_BEARER_TOKEN_FILE", "/nonexistent/token"),
    ])
    .await;
    assert_eq!(
        info(&no_token).await,
        json!({"enabled": true, "api_server": "http://127.0.0.1:9", "reachable": false})
    );
    assert_text(
        &k8s_op(&no_token, "wait_for_start", name()).await,
        503,
        "Kubernetes token is not configured.",
    );
    assert_text(
        &k8s_op(&no_token, "expose", expose_body(1, "clusterip")).await,
        503,
        "Kubernetes token is not configured.",
    );
    // Without a token, routing keeps Nextcloud's host (no resolution is attempted).
    let r = get(no_token.addr, &format!("/exapps/{APP}/public"), &[]).await;
    assert_eq!(
        r.status,
        404,
        "host = app id does not resolve: {}",
        r.text()
    );
}

#[tokio::test]
async fn manual_expose_works_without_kubernetes() {
    let h = plain_harp(&[]).await;
    let port = h.exapp.port();
    let mut body = expose_body(port, "manual");
    let r = k8s_op(&h, "expose", body.clone()).await;
    assert_eq!(r.status, 400, "manual needs upstream_host: {}", r.text());
    body["upstream_host"] = json!("127.0.0.1");
    let r = k8s_op(&h, "expose", body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"appId": APP, "host": "127.0.0.1", "port": port, "exposeType": "manual",
               "serviceName": DEPLOYMENT, "namespace": NS})
    );
    let r = get(h.addr, &format!("/exapps/{APP}/public"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    // An app Nextcloud does not know.
    let mut unknown = expose_body(port, "manual");
    unknown["name"] = json!("nope");
    unknown["upstream_host"] = json!("127.0.0.1");
    assert_text(
        &k8s_op(&h, "expose", unknown).await,
        404,
        "No ExApp metadata for 'nope'",
    );
}

#[tokio::test]
async fn unreachable_api_server() {
    // A port held by a socket that is bound but not listening: connections are refused, and
    // no other process can take the port while the test runs.
    let held =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    held.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .expect("bind");
    let port = held
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .expect("bound address")
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().expect("tempdir");
    let token = dir.path().join("token");
    std::fs::write(&token, "t").expect("token");
    let h = plain_harp(&[
        ("HP_K8S_ENABLED", "true"),
        ("HP_K8S_API_SERVER", url.as_str()),
        ("HP_K8S_BEARER_TOKEN_FILE", token.to_str().expect("utf-8")),
    ])
    .await;
    assert_eq!(
        info(&h).await,
        json!({"enabled": true, "api_server": url, "reachable": false})
    );
    for op in [
        "exists",
        "create",
        "start",
        "stop",
        "wait_for_start",
        "remove",
    ] {
        let body = if op == "create" {
            create_body()
        } else {
            name()
        };
        assert_text(
            &k8s_op(&h, op, body).await,
            503,
            "Error communicating with Kubernetes API",
        );
    }
    assert_text(
        &k8s_op(&h, "expose", expose_body(1, "nodeport")).await,
        503,
        "Error communicating with Kubernetes API",
    );
    assert_eq!(
        k8s_op(&h, "install_certificates", name()).await.status,
        204,
        "a no-op"
    );
    let r = send(
        h.addr,
        "POST",
        &format!("/exapps/app_api/exapp_storage/{APP}"),
        &[("harp-shared-key", KEY)],
        &k8s_record(1).to_string(),
    )
    .await
    .expect("reply");
    assert_text(&r, 503, "Error communicating with Kubernetes API");
    // The data plane: the fetch fails (not cached), HaRP's 404.
    let r = get(h.addr, &format!("/exapps/{APP}/public"), &[]).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn the_token_file_is_read_again_on_every_call() {
    let h = start_k8s(&[]).await;
    assert_eq!(
        h.op("exists", name()).await.json(),
        json!({"exists": false})
    );
    // The API server now wants the next token; harp still sends the old one.
    h.k8s.require_token(Some("token-two"));
    assert_text(
        &h.op("exists", name()).await,
        503,
        &format!("Error checking deployment '{DEPLOYMENT}': Status 401"),
    );
    assert_eq!(info(&h.harp).await["reachable"], false);
    // The kubelet rotates the file: the next call uses it, no restart.
    h.rotate_token("token-two");
    assert_eq!(
        h.op("exists", name()).await.json(),
        json!({"exists": false})
    );
    assert_eq!(info(&h.harp).await["reachable"], true);
    let last = h.k8s.calls().pop().expect("a call");
    assert_eq!(
        last.headers
            .get("authorization")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer token-two")
    );
    // An emptied file means no token at all.
    h.rotate_token("");
    assert_text(
        &h.op("exists", name()).await,
        503,
        "Kubernetes token is not configured.",
    );
}

#[tokio::test]
async fn a_static_token_wins_over_the_file() {
    let h = start_k8s(&[("HP_K8S_BEARER_TOKEN", " static-token ")]).await;
    h.k8s.require_token(Some("static-token"));
    assert_eq!(h.op("exists", name()).await.status, 200);
}

#[tokio::test]
async fn operation_error_statuses() {
    let h = start_k8s(&[]).await;
    // Missing objects.
    assert_text(
        &h.op("start", name()).await,
        404,
        &format!("Deployment '{DEPLOYMENT}' not found."),
    );
    assert_text(
        &h.op("stop", name()).await,
        404,
        &format!("Deployment '{DEPLOYMENT}' not found."),
    );
    assert_eq!(
        h.op("remove", json!({"name": APP, "remove_data": true}))
            .await
            .status,
        204,
        "nothing to remove is fine"
    );
    // Create twice: the PVC conflict is fine, the Deployment's is a 409.
    assert_eq!(h.op("create", create_body()).await.status, 201);
    assert_text(
        &h.op("create", create_body()).await,
        409,
        &format!("Deployment '{DEPLOYMENT}' already exists."),
    );
    // An image is required.
    let r = h.op("create", json!({"name": "other"})).await;
    assert_eq!(r.status, 400, "{}", r.text());

    h.k8s.fail("GET", "/deployments/", 500);
    assert_text(
        &h.op("exists", name()).await,
        503,
        &format!("Error checking deployment '{DEPLOYMENT}': Status 500"),
    );
    h.k8s.fail("PATCH", "/deployments/", 403);
    assert_text(
        &h.op("start", name()).await,
        503,
        &format!("Error starting deployment '{DEPLOYMENT}': Status 403"),
    );
    assert_text(
        &h.op("stop", name()).await,
        503,
        &format!("Error stopping deployment '{DEPLOYMENT}': Status 403"),
    );
    h.k8s.fail("GET", "/pods", 500);
    assert_text(
        &h.op("wait_for_start", name()).await,
        503,
        &format!("Error listing pods for deployment '{DEPLOYMENT}': Status 500"),
    );
    h.k8s.fail("POST", "/services", 403);
    assert_text(
        &h.op("expose", expose_body(1, "clusterip")).await,
        503,
        &format!("Failed to create Service '{DEPLOYMENT}': Status 403"),
    );
    h.k8s.fail("DELETE", "/persistentvolumeclaims/", 500);
    assert_text(
        &h.op("remove", json!({"name": APP, "remove_data": true}))
            .await,
        503,
        &format!("Error removing PVC '{PVC}': Status 500"),
    );
    h.k8s.fail("DELETE", "/deployments/", 500);
    assert_text(
        &h.op("remove", name()).await,
        503,
        &format!("Error removing deployment '{DEPLOYMENT}': Status 500"),
    );
    h.k8s.clear_failures();
    h.k8s.fail("POST", "/persistentvolumeclaims", 403);
    let mut other = create_body();
    other["name"] = json!("other");
    assert_text(
        &h.op("create", other).await,
        503,
        "Failed to create PVC 'nc-app-other-data': Status 403",
    );
    h.k8s.clear_failures();

    // A Deployment the API server refuses (an instance id that is not a label value): 422 → 503.
    let mut bad = create_body();
    bad["instance_id"] = json!("not a label!");
    assert_text(
        &h.op("create", bad).await,
        503,
        "Error creating deployment 'nc-app-not-a-label-app-skeleton-python': Status 422",
    );
    assert_eq!(h.k8s.rejected().len(), 1, "{:?}", h.k8s.rejected());
    // Expose payload limits.
    let mut body = expose_body(1, "nodeport");
    body["node_port"] = json!(80);
    assert_eq!(h.op("expose", body).await.status, 400);
}

#[tokio::test]
async fn wait_for_start_reports_a_bad_image_at_once() {
    let h = start_k8s(&[]).await;
    let mut create = create_body();
    create["image"] = json!("registry.invalid/nope:1");
    h.k8s.mark_bad_image("registry.invalid/nope:1");
    assert_eq!(h.op("create", create).await.status, 201);
    assert_eq!(h.op("start", name()).await.status, 204);
    let r = h.op("wait_for_start", name()).await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["started"], false);
    assert_eq!(v["health"], "image_error");
    assert!(
        matches!(
            v["status"].as_str(),
            Some("ErrImagePull" | "ImagePullBackOff")
        ),
        "{v}"
    );
    assert_eq!(
        v["message"],
        "Back-off pulling image \"registry.invalid/nope:1\""
    );
}

#[tokio::test]
async fn exapp_storage_with_a_failing_api_stores_nothing() {
    let h = start_k8s(&[]).await;
    h.k8s.fail("GET", "/services", 403);
    let r = send(
        h.harp.addr,
        "POST",
        &format!("/exapps/app_api/exapp_storage/{APP}"),
        &[("harp-shared-key", KEY)],
        &k8s_record(1).to_string(),
    )
    .await
    .expect("reply");
    assert_text(
        &r,
        503,
        &format!("K8s API error during Service lookup for '{APP}'"),
    );
    assert_eq!(h.harp.state().exapps.known_count(), 0, "nothing stored");
    h.k8s.clear_failures();
    // A Docker app (no Service, no Deployment) keeps the pushed host.
    let r = send(
        h.harp.addr,
        "POST",
        "/exapps/app_api/exapp_storage/docker-app",
        &[("harp-shared-key", KEY)],
        &skeleton_record(h.harp.exapp.port()).to_string(),
    )
    .await
    .expect("reply");
    assert_eq!(r.status, 204);
    assert_eq!(h.harp.state().exapps.known_count(), 1);
}

/// harp against the fake API server over HTTPS, with the token in a file.
async fn tls_harp(
    k8s: &harp_testkit::kubernetes::FakeKubernetes,
    dir: &std::path::Path,
    extra: &[(&str, &str)],
) -> TestHarp {
    let token = dir.join("token");
    std::fs::write(&token, TOKEN).expect("token");
    let url = k8s.url();
    let token = token.to_str().expect("utf-8").to_string();
    let mut env = vec![
        ("HP_K8S_ENABLED", "true"),
        ("HP_K8S_API_SERVER", url.as_str()),
        ("HP_K8S_BEARER_TOKEN_FILE", token.as_str()),
    ];
    env.extend_from_slice(extra);
    plain_harp(&env).await
}

#[tokio::test]
async fn https_api_server_with_the_ca_file_the_verify_switch_and_neither() {
    let (k8s, ca_pem) = harp_testkit::kubernetes::FakeKubernetes::start_tls()
        .await
        .expect("fake kubernetes over TLS");
    assert!(k8s.url().starts_with("https://127.0.0.1:"));
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca.crt");
    std::fs::write(&ca, &ca_pem).expect("ca");
    let ca = ca.to_str().expect("utf-8");

    let with_ca = tls_harp(&k8s, dir.path(), &[("HP_K8S_CA_FILE", ca)]).await;
    assert_eq!(info(&with_ca).await["reachable"], true);
    assert_eq!(
        k8s_op(&with_ca, "exists", name()).await.json(),
        json!({"exists": false})
    );

    // The cluster's CA is not among the system roots: verification fails.
    let without = tls_harp(
        &k8s,
        dir.path(),
        &[("HP_K8S_CA_FILE", "/nonexistent/ca.crt")],
    )
    .await;
    assert_eq!(info(&without).await["reachable"], false);
    assert_text(
        &k8s_op(&without, "exists", name()).await,
        503,
        "Error communicating with Kubernetes API",
    );

    let unverified = tls_harp(
        &k8s,
        dir.path(),
        &[
            ("HP_K8S_CA_FILE", "/nonexistent/ca.crt"),
            ("HP_K8S_VERIFY_SSL", "false"),
        ],
    )
    .await;
    assert_eq!(info(&unverified).await["reachable"], true);
    assert_eq!(k8s_op(&unverified, "exists", name()).await.status, 200);
}

#[tokio::test]
async fn a_long_wait_for_start_is_not_cut_by_the_client_timeout() {
    // Decision D15: control calls have their own limits, not HP_TIMEOUT_CLIENT/SERVER.
    let h = start_k8s(&[("HP_TIMEOUT_CLIENT", "1s"), ("HP_TIMEOUT_SERVER", "1s")]).await;
    h.k8s.set_ready_delay(std::time::Duration::from_secs(3));
    assert_eq!(h.op("create", create_body()).await.status, 201);
    assert_eq!(h.op("start", name()).await.status, 204);
    let r = h.op("wait_for_start", name()).await;
    assert_eq!(r.json()["started"], true, "{}", r.text());
}

#[test]
fn check_config_reports_bad_kubernetes_settings_and_masks_the_token() {
    let harp = || {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_harp"));
        cmd.env_clear()
            .arg("--check-config")
            .env("HP_SHARED_KEY", KEY)
            .env("NC_INSTANCE_URL", "http://nextcloud")
            .env("HP_K8S_ENABLED", "true");
        cmd
    };
    let out = harp()
        .env("HP_K8S_API_SERVER", "kubernetes.default.svc")
        .env("HP_K8S_NAMESPACE", "Next_Cloud")
        .env("HP_K8S_DEFAULT_STORAGE_SIZE", "10 GB")
        .env("HP_K8S_HOST_ALIASES", "nextcloud.local:300.1.1.1")
        .output()
        .expect("harp runs");
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "HP_K8S_API_SERVER",
        "HP_K8S_NAMESPACE",
        "HP_K8S_DEFAULT_STORAGE_SIZE",
        "HP_K8S_HOST_ALIASES",
    ] {
        assert!(err.contains(needle), "{needle} missing from:\n{err}");
    }
    let certs = tempfile::tempdir().expect("tempdir");
    let out = harp()
        .env("HP_CERTS_DIR", certs.path())
        .env("KUBERNETES_SERVICE_HOST", "10.96.0.1")
        .env("HP_K8S_BEARER_TOKEN", "very-secret-token")
        .output()
        .expect("harp runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("https://10.96.0.1:443"), "{text}");
    assert!(
        !text.contains("very-secret-token"),
        "the token is masked:\n{text}"
    );
}

#[tokio::test]
async fn hostile_names_become_valid_kubernetes_names() {
    let h = start_k8s(&[]).await;
    let long = "A".repeat(300);
    for (name, deployment) in [
        ("../../etc/passwd", "nc-app-etc-passwd"),
        ("Ünïcode_App", "nc-app-n-code-app"),
        (
            long.as_str(),
            "nc-app-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ),
        ("%2e%2e/x?y=1#z", "nc-app-2e-2e-x-y-1-z"),
    ] {
        let r = h
            .op("create", json!({"name": name, "image": "img:1"}))
            .await;
        assert_eq!(r.status, 201, "{name}: {}", r.text());
        assert_eq!(r.json(), json!({"name": deployment}), "{name}");
        assert!(deployment.len() <= 63);
        let r = h.op("exists", json!({"name": name})).await;
        assert_eq!(r.json(), json!({"exists": true}), "{name}");
        assert_eq!(
            h.op("remove", json!({"name": name, "remove_data": true}))
                .await
                .status,
            204
        );
    }
    assert!(h.k8s.rejected().is_empty(), "{:?}", h.k8s.rejected());
    for body in [
        "[]",
        "null",
        "\"x\"",
        "{\"name\": 5}",
        "{\"name\": \"a\", \"remove_data\": \"maybe\"}",
    ] {
        let r = send(
            h.harp.addr,
            "POST",
            "/exapps/app_api/k8s/exapp/remove",
            &[("harp-shared-key", KEY)],
            body,
        )
        .await
        .expect("reply");
        assert_eq!(r.status, 400, "{body}: {}", r.text());
    }
}
