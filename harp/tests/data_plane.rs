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
