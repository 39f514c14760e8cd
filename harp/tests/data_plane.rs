//! The decision pipeline of contract §3.1, branch by branch, with HaRP's exact statuses and
//! bodies, against the Nextcloud stand-in and the stand-in ExApp (appapi-contract §5.3–5.4).

mod common;
use common::*;

#[tokio::test]
async fn public_route_anonymous_gets_harps_headers() {
    let h = start(&[]).await;
    let r = get(h.addr, &format!("/exapps/{APP}/public?x=1"), &[]).await;
    assert_eq!(r.status, 200);
    let echo = r.json();
    assert_eq!(echo["path"], "/public");
    assert_eq!(echo["query"], "x=1");
    assert_eq!(r.seen_header("ex-app-id").as_deref(), Some(APP));
    assert_eq!(r.seen_header("ex-app-version").as_deref(), Some("3.0.3"));
    assert_eq!(
        r.seen_header("authorization-app-api"),
        Some(b64(&format!(":{SECRET}")))
    );
    assert_eq!(r.seen_header("aa-version").as_deref(), Some("32"));
    assert_eq!(
        r.seen_header("host").as_deref(),
        Some("harp.test"),
        "Host is not rewritten"
    );
    assert_eq!(
        h.nc.count("user-info"),
        0,
        "no credentials, no user-info call"
    );
    assert_eq!(h.nc.count("exapp-meta"), 1);
}

#[tokio::test]
async fn user_and_admin_routes() {
    let h = start(&[]).await;
    let user = basic("usr", "password");
    let admin = basic("admin", "admin");
    let off = basic("off", "password");
    assert_eq!(
        get(h.addr, &format!("/exapps/{APP}/user"), &[])
            .await
            .text(),
        "403 Forbidden"
    );
    let r = get(
        h.addr,
        &format!("/exapps/{APP}/user"),
        &[("authorization", &user)],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.seen_header("authorization-app-api"),
        Some(b64(&format!("usr:{SECRET}")))
    );
    assert_eq!(
        get(
            h.addr,
            &format!("/exapps/{APP}/admin"),
            &[("authorization", &user)]
        )
        .await
        .status,
        403
    );
    let r = get(
        h.addr,
        &format!("/exapps/{APP}/admin"),
        &[("authorization", &admin)],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.seen_header("authorization-app-api"),
        Some(b64(&format!("admin:{SECRET}")))
    );
    assert_eq!(
        get(
            h.addr,
            &format!("/exapps/{APP}/user"),
            &[("authorization", &off)]
        )
        .await
        .status,
        403
    );
    // user-info got the client's Authorization and the key, not the client's Host.
    let call =
        h.nc.calls()
            .into_iter()
            .find(|c| c.path.ends_with("user-info"))
            .unwrap();
    assert_eq!(call.headers.get("authorization").unwrap(), user.as_str());
    assert_eq!(call.headers.get("harp-shared-key").unwrap(), KEY);
    assert_ne!(call.headers.get("host").unwrap(), "harp.test");
    assert_eq!(call.query, format!("appId={APP}"));
}

#[tokio::test]
async fn not_found_texts() {
    let h = start(&[]).await;
    let r = get(h.addr, &format!("/exapps/{APP}/imaginary"), &[]).await;
    assert_eq!(
        (r.status.as_u16(), r.text().as_str()),
        (404, "404 Not Found")
    );
    assert_eq!(r.headers.get("content-type").unwrap(), "text/plain");
    let r = get(h.addr, "/exapps/nope/x", &[]).await;
    assert_eq!(
        (r.status.as_u16(), r.text().as_str()),
        (404, "404 Not Found")
    );
    let r = get(h.addr, "/favicon.ico", &[]).await;
    assert_eq!(
        (r.status.as_u16(), r.text().as_str()),
        (404, "404 Not Found")
    );
}

#[tokio::test]
async fn signed_calls_skip_routes_and_keep_appapi_auth() {
    let h = start(&[]).await;
    let port = h.exapp.port();
    let mut signed = signed_headers(KEY, port);
    signed[0].1 = "9.9.9".to_string(); // ex-app-version differs from Nextcloud's record
    let r = get(h.addr, &format!("/exapps/{APP}/heartbeat"), &hdrs(&signed)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["path"], "/heartbeat");
    assert_eq!(
        r.seen_header("authorization-app-api"),
        Some(b64(&format!(":{SECRET}")))
    );
    assert_eq!(
        r.seen_header("ex-app-version").as_deref(),
        Some("3.0.3"),
        "version from Nextcloud's record"
    );
    assert_eq!(
        r.seen_header("harp-shared-key"),
        None,
        "the key is not passed to ExApps"
    );
    assert_eq!(h.nc.count("exapp-meta"), 1);
    let r = get(
        h.addr,
        &format!("/exapps/{APP}/no-such-path"),
        &hdrs(&signed),
    )
    .await;
    assert_eq!(r.status, 200, "no route check for signed calls");
    let r = get(
        h.addr,
        &format!("/exapps/{APP}/enabled?enabled=1"),
        &hdrs(&signed),
    )
    .await;
    assert_eq!(r.json()["query"], "enabled=1");
    assert_eq!(h.nc.count("exapp-meta"), 1, "the record is cached");
    assert_eq!(
        h.nc.count("user-info"),
        0,
        "signed calls never ask for the user"
    );
}

#[tokio::test]
async fn signed_call_for_an_app_nextcloud_does_not_know_uses_the_headers() {
    let h = start(&[]).await;
    h.nc.remove_app(APP);
    let signed = signed_headers(KEY, h.exapp.port());
    let r = get(h.addr, &format!("/exapps/{APP}/init"), &hdrs(&signed)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.seen_header("ex-app-version").as_deref(), Some("3.0.3"));
    // Not cached: the next signed call asks again (15 s negative cache holds the "not found").
    let mut bad_port = signed_headers(KEY, h.exapp.port());
    bad_port[3].1 = "not-a-port".to_string();
    let r = get(h.addr, &format!("/exapps/{APP}/init"), &hdrs(&bad_port)).await;
    assert_eq!(
        (r.status.as_u16(), r.text().as_str()),
        (503, "503 Service Unavailable (HaRP)")
    );
}

#[tokio::test]
async fn signed_call_with_a_wrong_key_is_dropped_and_counted() {
    let h = start(&[]).await;
    let signed = signed_headers("wrong", h.exapp.port());
    assert_dropped(h.addr, &format!("/exapps/{APP}/heartbeat"), &hdrs(&signed)).await;
    assert_eq!(h.exapp.request_count(), 0);
    assert_eq!(h.nc.calls().len(), 0);
    assert_eq!(h.state().bans.tracked(), 1);
}

#[tokio::test]
async fn internal_endpoints_need_a_signature() {
    let h = start(&[]).await;
    for path in ["/heartbeat", "/init", "/enabled?enabled=1", "/enabled"] {
        assert_dropped(h.addr, &format!("/exapps/{APP}{path}"), &[]).await;
    }
    // Five of the six headers (no key): a browser request.
    let mut five = signed_headers(KEY, h.exapp.port());
    five.pop();
    assert_dropped(h.addr, &format!("/exapps/{APP}/heartbeat"), &hdrs(&five)).await;
    assert_eq!(h.exapp.request_count(), 0);
    // `/heartbeat/` is not the internal endpoint: it just matches no route.
    assert_eq!(
        get(h.addr, &format!("/exapps/{APP}/heartbeat/"), &[])
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn client_cannot_forge_appapi_headers() {
    let h = start(&[]).await;
    let forged = b64(&format!("admin:{SECRET}"));
    let r = get(
        h.addr,
        &format!("/exapps/{APP}/public"),
        &[
            ("authorization-app-api", &forged),
            ("ex-app-id", "other"),
            ("ex-app-version", "0"),
            ("aa-version", "1"),
        ],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.seen_header("authorization-app-api"),
        Some(b64(&format!(":{SECRET}")))
    );
    assert_eq!(r.seen_header("ex-app-id").as_deref(), Some(APP));
    assert_eq!(r.seen_header("ex-app-version").as_deref(), Some("3.0.3"));
    assert_eq!(r.seen_header("aa-version").as_deref(), Some("32"));
}

#[tokio::test]
async fn query_string_reaches_the_exapp() {
    let h = start(&[]).await;
    let r = get(
        h.addr,
        &format!("/exapps/{APP}/user?status=418"),
        &[("authorization", &basic("usr", "password"))],
    )
    .await;
    assert_eq!(r.status, 418);
}

#[tokio::test]
async fn first_matching_route_decides() {
    let h = start(&[]).await;
    let mut record = skeleton_record(h.exapp.port());
    record["routes"] = serde_json::json!([
        {"url": "^/a", "access_level": 1, "bruteforce_protection": []},
        {"url": "^/a/pub", "access_level": 0, "bruteforce_protection": []},
    ]);
    h.nc.add_app("first-match", record);
    assert_eq!(
        get(h.addr, "/exapps/first-match/a/pub", &[]).await.text(),
        "403 Forbidden"
    );
}

#[tokio::test]
async fn user_info_failures() {
    let h = start(&[]).await;
    let user = basic("usr", "password");
    h.nc.fail_user_info_with(Some(500));
    let r = get(
        h.addr,
        &format!("/exapps/{APP}/user"),
        &[("authorization", &user)],
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.text().as_str()),
        (401, "401 Unauthorized")
    );
    let r = get(
        h.addr,
        &format!("/exapps/{APP}/public"),
        &[("authorization", &user)],
    )
    .await;
    assert_eq!(r.status, 401, "HaRP asks whenever credentials are present");
    assert_eq!(
        get(h.addr, &format!("/exapps/{APP}/public"), &[])
            .await
            .status,
        200
    );
    h.nc.fail_user_info_with(Some(401));
    assert_eq!(
        get(
            h.addr,
            &format!("/exapps/{APP}/public"),
            &[("authorization", &user)]
        )
        .await
        .status,
        200
    );
    assert_eq!(
        get(
            h.addr,
            &format!("/exapps/{APP}/user"),
            &[("authorization", &user)]
        )
        .await
        .status,
        403
    );
}

#[tokio::test]
async fn exapp_meta_errors_are_404_without_failure_and_not_cached() {
    let h = start(&[]).await;
    h.nc.fail_meta_with(Some(500));
    assert_eq!(
        get(h.addr, &format!("/exapps/{APP}/public"), &[])
            .await
            .text(),
        "404 Not Found"
    );
    h.nc.fail_meta_with(None);
    assert_eq!(
        get(h.addr, &format!("/exapps/{APP}/public"), &[])
            .await
            .status,
        200
    );
    assert_eq!(h.nc.count("exapp-meta"), 2);
    h.nc.add_app("broken", serde_json::json!({"exapp_token": 1}));
    assert_eq!(get(h.addr, "/exapps/broken/public", &[]).await.status, 404);
    assert_eq!(
        h.state().bans.tracked(),
        0,
        "Nextcloud errors never count as failures"
    );
}

#[tokio::test]
async fn empty_target_path_and_mixed_case_ids() {
    let h = start(&[]).await;
    // Routes see the empty path (no match), a signed call is forwarded as `/` (D3).
    assert_eq!(
        get(h.addr, &format!("/exapps/{APP}"), &[]).await.status,
        404
    );
    let signed = signed_headers(KEY, h.exapp.port());
    assert_eq!(
        get(h.addr, &format!("/exapps/{APP}?a=b"), &hdrs(&signed))
            .await
            .json()["path"],
        "/"
    );
    // D16: Nextcloud is asked with the lower-cased id; EX-APP-ID keeps the URL's spelling.
    let r = get(h.addr, "/exapps/App-Skeleton-Python/public", &[]).await;
    assert_eq!(
        r.seen_header("ex-app-id").as_deref(),
        Some("App-Skeleton-Python")
    );
    assert!(
        h.nc.calls()
            .iter()
            .all(|c| c.query == format!("appId={APP}"))
    );
}

#[tokio::test]
async fn control_plane_needs_the_key() {
    let h = start(&[]).await;
    let r = get(h.addr, "/exapps/app_api/info", &[]).await;
    assert_eq!(
        (r.status.as_u16(), r.text().as_str()),
        (401, "401 Unauthorized")
    );
    let r = get(
        h.addr,
        "/exapps/app_api/info",
        &[("harp-shared-key", "wrong")],
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(h.state().bans.tracked(), 1);
    let r = get(h.addr, "/exapps/app_api/info", &[("harp-shared-key", KEY)]).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.headers.get("content-type").unwrap(),
        "application/json; charset=utf-8"
    );
    let info = r.json();
    assert_eq!(info["version"], "0.4.4");
    assert_eq!(info["kubernetes"]["enabled"], false);
    let r = get(
        h.addr,
        "/exapps/app_api/heartbeat",
        &[("harp-shared-key", KEY)],
    )
    .await;
    assert_eq!(r.text(), r#"{"status": "ok"}"#);
    let r = get(h.addr, "/exapps/app_api/nope", &[("harp-shared-key", KEY)]).await;
    assert_eq!(
        (r.status.as_u16(), r.text().as_str()),
        (404, "404: Not Found")
    );
    let r = send(
        h.addr,
        "POST",
        "/exapps/app_api/info",
        &[("harp-shared-key", KEY)],
        "",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 405);
}
