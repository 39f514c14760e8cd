//! The filtered Docker Engine pass-through (contract §6) and the local engine on port 24000
//! reached through `DOCKER_HOST` without a bundled frpc. The engine here is the testkit's echo
//! server standing in for the Engine API (the real-engine tests with podman come with the
//! deployment endpoints).

mod common;
use common::*;
use harp_testkit::exapp::FakeExApp;
use harp_testkit::nextcloud::FakeNextcloud;

#[tokio::test]
async fn allowed_calls_reach_the_engine_and_others_never_do() {
    let h = start(&[]).await;
    let engine = FakeExApp::start().await.unwrap();
    let port = engine.port().to_string();
    let hdr = [
        ("harp-shared-key", KEY),
        ("docker-engine-port", port.as_str()),
    ];
    for path in [
        "/exapps/app_api/v1.44/_ping",
        "/exapps/app_api/v1.44/containers/nc_app_x/json",
        "/exapps/app_api/v1.44/containers/nc_app_x/logs?stdout=true&stderr=true&tail=all",
        "/exapps/app_api/v1.44/images/ghcr.io/a/b:1/json",
        "/exapps/app_api/v1.44/images/ghcr.io%2Fa%2Fb%3A1/json",
    ] {
        let r = get(h.addr, path, &hdr).await;
        assert_eq!(r.status, 200, "{path}");
        let seen = r.json();
        assert_eq!(
            seen["path"].as_str().unwrap(),
            path.trim_start_matches("/exapps/app_api")
                .split('?')
                .next()
                .unwrap()
        );
        assert!(
            seen["headers"]["harp-shared-key"].is_null(),
            "the key stays with harp"
        );
    }
    let r = send(
        h.addr,
        "POST",
        "/exapps/app_api/v1.44/images/create?fromImage=ghcr.io%2Fa%2Fb%3A1",
        &hdr,
        "",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["query"], "fromImage=ghcr.io%2Fa%2Fb%3A1");
    let before = engine.request_count();
    for (method, path) in [
        ("GET", "/exapps/app_api/v1.44/containers/json"),
        ("GET", "/exapps/app_api/v1.44/containers/other/json"),
        ("DELETE", "/exapps/app_api/v1.44/containers/nc_app_x"),
        ("POST", "/exapps/app_api/v1.44/containers/nc_app_x/exec"),
        ("POST", "/exapps/app_api/v1.44/containers/create"),
    ] {
        let r = send(h.addr, method, path, &hdr, "").await.unwrap();
        assert_eq!(r.status, 403, "{method} {path}");
        assert_eq!(
            r.text(),
            "<html><body><h1>403 Forbidden</h1>\nRequest forbidden by administrative rules.\n</body></html>\n"
        );
    }
    assert_eq!(
        engine.request_count(),
        before,
        "refused calls never reach the engine"
    );
    // Without the header, the same path is a control-API path (404), and a wrong key is 401.
    assert_eq!(
        get(
            h.addr,
            "/exapps/app_api/v1.44/_ping",
            &[("harp-shared-key", KEY)]
        )
        .await
        .status,
        404
    );
    assert_eq!(
        get(
            h.addr,
            "/exapps/app_api/v1.44/_ping",
            &[("docker-engine-port", port.as_str())]
        )
        .await
        .status,
        401
    );
    // A bad port value, and an engine that is not there.
    let bad = [("harp-shared-key", KEY), ("docker-engine-port", "abc")];
    assert_eq!(
        get(h.addr, "/exapps/app_api/v1.44/_ping", &bad)
            .await
            .text(),
        "503 Service Unavailable (HaRP)"
    );
    drop(engine);
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let gone = [
        ("harp-shared-key", KEY),
        ("docker-engine-port", closed.as_str()),
    ];
    assert_eq!(
        get(h.addr, "/exapps/app_api/v1.44/_ping", &gone)
            .await
            .status,
        503
    );
}

#[tokio::test]
async fn port_24000_is_the_local_engine_from_docker_host() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("docker.sock");
    let engine = FakeExApp::start_unix(&socket).unwrap();
    let docker_host = format!("unix://{}", socket.display());
    let nc = FakeNextcloud::start(KEY).await.unwrap();
    let h = start_with(
        nc,
        FakeExApp::start().await.unwrap(),
        &[("DOCKER_HOST", &docker_host)],
    )
    .await;
    let hdr = [("harp-shared-key", KEY), ("docker-engine-port", "24000")];
    let r = get(h.addr, "/exapps/app_api/v1.41/_ping", &hdr).await;
    assert_eq!(r.status, 200);
    assert_eq!(engine.request_count(), 1);
}
