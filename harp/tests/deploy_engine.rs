//! AppAPI's Docker deployment against a real Docker-compatible engine (podman's Docker API
//! service with a loopback registry, started by `scripts/engine.sh`): the full sequence of
//! appapi-contract §1.4 / §5.2 through harp's `/exapps/app_api/...`, the ExApp in the container
//! connecting back through harp's tunnel (`harp tunnel` inside the image), and the error cases.
//! Nextcloud is the contract-built stand-in. Containers use host networking: all on 127.0.0.1.

mod common;
#[path = "common/engine.rs"]
mod engine;

use common::*;
use engine::{Cleanup, Engine};
use harp_testkit::exapp::FakeExApp;
use harp_testkit::nextcloud::FakeNextcloud;
use serde_json::json;
use std::time::{Duration, Instant};

/// harp whose local engine (port 24000) is the test engine, with one allowed tunnel port.
async fn harp_for(engine: &Engine, app_port: u16) -> TestHarp {
    let nc = FakeNextcloud::start(KEY).await.unwrap();
    let ports = app_port.to_string();
    start_with(
        nc,
        FakeExApp::start().await.unwrap(),
        &[
            ("DOCKER_HOST", engine.docker_host.as_str()),
            ("HP_FRP_ALLOW_PORTS", ports.as_str()),
        ],
    )
    .await
}

const ENGINE: (&str, &str) = ("docker-engine-port", "24000");

async fn op(h: &TestHarp, name: &str, body: serde_json::Value) -> Reply {
    send(
        h.addr,
        "POST",
        &format!("/exapps/app_api/docker/exapp/{name}"),
        &[("harp-shared-key", KEY), ENGINE],
        &body.to_string(),
    )
    .await
    .unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[tokio::test]
async fn full_deploy_through_harp_with_the_tunnel() {
    let Some(engine) = Engine::require() else {
        return;
    };
    let app = engine::unique_name("harp-e2e");
    let container = format!("nc_app_{app}");
    let volume = format!("nc_app_{app}_data");
    let mut cleanup = Cleanup::new(&engine);
    cleanup.container(&container).volume(&volume);
    let app_port = engine::free_port();
    let internal_port = engine::free_port();
    let h = harp_for(&engine, app_port).await;
    let frp_port = h.running.as_ref().unwrap().frp_addr.port();
    let key = [("harp-shared-key", KEY), ENGINE];

    // 1. _ping and the image pull, through the pass-through.
    let r = get(h.addr, "/exapps/app_api/v1.41/_ping", &key).await;
    assert_eq!((r.status.as_u16(), r.text().as_str()), (200, "OK"));
    let pull = format!(
        "/exapps/app_api/v1.41/images/create?fromImage={}&tag=1",
        engine.image_repo()
    );
    let r = send(h.addr, "POST", &pull, &key, "").await.unwrap();
    assert_eq!(r.status, 200);
    assert!(!r.text().contains("\"error\""), "{}", r.text());
    // 2. exists → create → exists.
    assert_eq!(
        op(&h, "exists", json!({"name": app})).await.json(),
        json!({"exists": false})
    );
    let env = vec![
        format!("APP_ID={app}"),
        format!("APP_PORT={app_port}"),
        format!("APP_INTERNAL_PORT={internal_port}"),
        "APP_SECRET=12345".to_string(),
        "HP_FRP_ADDRESS=127.0.0.1".to_string(),
        format!("HP_FRP_PORT={frp_port}"),
        format!("HP_SHARED_KEY={KEY}"),
    ];
    let create = json!({"name": app, "image_id": engine.image(), "network_mode": "host",
        "environment_variables": env, "restart_policy": "no", "compute_device": "cpu",
        "mount_points": [], "resource_limits": {"memory": null, "nanoCPUs": null}});
    let r = op(&h, "create", create.clone()).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["name"], container);
    assert!(!r.json()["id"].as_str().unwrap().is_empty());
    let r = op(&h, "create", create).await;
    assert_eq!(r.status, 409, "a second create is a conflict: {}", r.text());
    let r = op(&h, "exists", json!({"name": app})).await.json();
    assert_eq!(r["exists"], true);
    assert_eq!(r["image_ref"], engine.image());
    // 3. install_certificates on the stopped container: it is stopped again afterwards.
    let ca = std::fs::read_to_string(h.certs.path().join("frp/ca.crt")).unwrap();
    let r = op(
        &h,
        "install_certificates",
        json!({"name": app, "system_certs_bundle": ca, "install_frp_certs": true}),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(
        engine.inspect(&container).await.unwrap()["State"]["Running"],
        false
    );
    // 4. start (204, because install_certificates stopped it again) → wait_for_start.
    assert_eq!(op(&h, "start", json!({"name": app})).await.status, 204);
    assert_eq!(
        op(&h, "start", json!({"name": app})).await.text(),
        "Container already started"
    );
    let r = op(&h, "wait_for_start", json!({"name": app})).await.json();
    assert_eq!(r["started"], true, "{r}");
    let (code, out, _) = engine
        .exec(
            &container,
            &["ls", "/certs/frp", "/usr/local/share/ca-certificates"],
        )
        .await;
    let listing = String::from_utf8_lossy(&out);
    assert_eq!(code, 0);
    assert!(
        listing.contains("client.key") && listing.contains("custom_ca_cert_0.crt"),
        "{listing}"
    );
    // 5. The ExApp's `harp tunnel` logs in and publishes APP_PORT; then browse to it.
    h.nc.add_app(&app, skeleton_record(app_port));
    let control = h.running.as_ref().unwrap().control_addr;
    let started = Instant::now();
    loop {
        let report = get(control, "/tunnels", &[]).await.json();
        if report["clients"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["proxies"][0]["port"] == app_port))
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the ExApp's tunnel never came up: {report}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let r = get(h.addr, &format!("/exapps/{app}/public"), &[]).await;
    assert_eq!((r.status.as_u16(), r.text().trim()), (200, "Public page!"));
    // 6. The pass-through reads logs and inspects the container; other calls are refused.
    let r = get(
        h.addr,
        &format!("/exapps/app_api/v1.41/containers/{container}/json"),
        &key,
    )
    .await;
    assert_eq!(r.status, 200);
    let r = send(
        h.addr,
        "POST",
        &format!("/exapps/app_api/v1.41/containers/{container}/stop"),
        &key,
        "",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 403);
    // 7. stop, remove keeping the data, remove with the data, image_remove.
    assert_eq!(op(&h, "stop", json!({"name": app})).await.status, 204);
    assert_eq!(
        op(&h, "stop", json!({"name": app})).await.text(),
        "Container already stopped"
    );
    assert_eq!(
        op(&h, "remove", json!({"name": app, "remove_data": false}))
            .await
            .status,
        204
    );
    assert_eq!(
        op(&h, "exists", json!({"name": app})).await.json(),
        json!({"exists": false})
    );
    assert_eq!(
        engine
            .api("GET", &format!("/v1.41/volumes/{volume}"), None)
            .await
            .0,
        200,
        "data kept"
    );
    assert_eq!(
        op(&h, "remove", json!({"name": app, "remove_data": true}))
            .await
            .status,
        204
    );
    assert_eq!(
        engine
            .api("GET", &format!("/v1.41/volumes/{volume}"), None)
            .await
            .0,
        404,
        "data removed"
    );
    let r = op(&h, "image_remove", json!({"image_ref": engine.image()})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["deleted"], true);
    drop(cleanup);
}

#[tokio::test]
async fn errors_against_the_real_engine() {
    let Some(engine) = Engine::require() else {
        return;
    };
    let app = engine::unique_name("harp-err");
    let mut cleanup = Cleanup::new(&engine);
    cleanup
        .container(&format!("nc_app_{app}"))
        .container(&format!("nc_app_{app}_worker"))
        .volume(&format!("nc_app_{app}_data"));
    let h = harp_for(&engine, engine::free_port()).await;
    // Unknown container.
    let r = op(&h, "start", json!({"name": "no-such-app-xyz"})).await;
    assert_eq!(
        (r.status.as_u16(), r.text().as_str()),
        (404, "Container 'nc_app_no-such-app-xyz' not found.")
    );
    let r = op(&h, "wait_for_start", json!({"name": "no-such-app-xyz"}))
        .await
        .json();
    assert_eq!(
        r,
        json!({"started": false, "status": "not_found", "reason": "container not found"})
    );
    // An image that is not there.
    let r = op(&h, "create", json!({"name": app, "image_id": format!("{}/no-such-image:1", engine.registry), "network_mode": "host"})).await;
    assert_eq!(r.status, 503, "{}", r.text());
    // A volume in use by another role's container cannot be removed.
    engine.pull_test_image().await;
    let base = json!({"image_id": engine.image(), "network_mode": "host", "environment_variables": [format!("APP_PORT={}", engine::free_port())]});
    let mut main = base.clone();
    main["name"] = json!(app);
    let mut worker = base;
    worker["name"] = json!(app);
    worker["role_suffix"] = json!("worker");
    assert_eq!(op(&h, "create", main).await.status, 201);
    assert_eq!(op(&h, "create", worker).await.status, 201);
    let r = op(&h, "remove", json!({"name": app, "remove_data": true})).await;
    assert_eq!(
        (r.status.as_u16(), r.text()),
        (
            409,
            format!("Volume 'nc_app_{app}_data' is in use and could not be removed.")
        )
    );
    // Bad requests.
    let r = send(
        h.addr,
        "POST",
        "/exapps/app_api/docker/exapp/exists",
        &[("harp-shared-key", KEY)],
        "{}",
    )
    .await
    .unwrap();
    assert_eq!(
        (r.status.as_u16(), r.text().as_str()),
        (400, "Missing 'docker-engine-port' header.")
    );
    let r = send(
        h.addr,
        "POST",
        "/exapps/app_api/docker/exapp/exists",
        &[("harp-shared-key", KEY), ("docker-engine-port", "x")],
        "{}",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(op(&h, "exists", json!({})).await.status, 400);
    let r = send(
        h.addr,
        "POST",
        "/exapps/app_api/docker/exapp/exists",
        &[("harp-shared-key", KEY), ENGINE],
        "{nope",
    )
    .await
    .unwrap();
    assert_eq!(
        (r.status.as_u16(), r.text().as_str()),
        (400, "Invalid JSON body")
    );
    // An engine that is not there (a tunnel port nobody holds).
    let gone = engine::free_port().to_string();
    let r = send(
        h.addr,
        "POST",
        "/exapps/app_api/docker/exapp/exists",
        &[
            ("harp-shared-key", KEY),
            ("docker-engine-port", gone.as_str()),
        ],
        &json!({"name": app}).to_string(),
    )
    .await
    .unwrap();
    assert_eq!(
        (r.status.as_u16(), r.text()),
        (
            503,
            format!("Could not connect to Docker Engine on port {gone}")
        )
    );
    // A wrong key is 401 and counts towards a ban.
    let r = send(
        h.addr,
        "POST",
        "/exapps/app_api/docker/exapp/exists",
        &[("harp-shared-key", "wrong"), ENGINE],
        "{}",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(h.state().bans.tracked(), 1);
    drop(cleanup);
}

/// A TCP relay to the engine's socket that the test can pull the plug on, standing in for an
/// engine (or its tunnel) that dies in the middle of a deployment.
struct Relay {
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn start(engine: &Engine) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let socket = engine.socket_path();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((mut tcp, _)) = listener.accept().await {
                let socket = socket.clone();
                conns.spawn(async move {
                    if let Ok(mut unix) = tokio::net::UnixStream::connect(socket).await {
                        let _ = tokio::io::copy_bidirectional(&mut tcp, &mut unix).await;
                    }
                });
            }
        });
        Relay { port, task }
    }

    /// Stops accepting and drops every relayed connection.
    fn kill(&self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn engine_gone_in_the_middle_of_wait_for_start() {
    let Some(engine) = Engine::require() else {
        return;
    };
    let app = engine::unique_name("harp-gone");
    let mut cleanup = Cleanup::new(&engine);
    cleanup
        .container(&format!("nc_app_{app}"))
        .volume(&format!("nc_app_{app}_data"));
    engine.pull_test_image().await;
    let h = harp_for(&engine, engine::free_port()).await;
    let relay = Relay::start(&engine).await;
    let port = relay.port.to_string();
    let hdr = [
        ("harp-shared-key", KEY),
        ("docker-engine-port", port.as_str()),
    ];
    let path = "/exapps/app_api/docker/exapp/";
    // Created but never started: wait_for_start keeps polling ("created" is not final).
    let create = json!({"name": app, "image_id": engine.image(), "network_mode": "host", "environment_variables": [format!("APP_PORT={}", engine::free_port())]});
    let r = send(
        h.addr,
        "POST",
        &format!("{path}create"),
        &hdr,
        &create.to_string(),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let addr = h.addr;
    let body = json!({"name": app}).to_string();
    let port2 = port.clone();
    let waiting = tokio::spawn(async move {
        let hdr = [
            ("harp-shared-key", KEY),
            ("docker-engine-port", port2.as_str()),
        ];
        send(
            addr,
            "POST",
            "/exapps/app_api/docker/exapp/wait_for_start",
            &hdr,
            &body,
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(1500)).await; // let a few polls happen
    relay.kill();
    let r = tokio::time::timeout(Duration::from_secs(30), waiting)
        .await
        .expect("answers promptly")
        .unwrap()
        .unwrap();
    assert_eq!(
        (r.status.as_u16(), r.text()),
        (
            503,
            format!("Could not connect to Docker Engine on port {port}")
        )
    );
    drop(cleanup);
}
