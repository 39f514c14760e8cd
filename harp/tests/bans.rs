//! Brute-force protection end to end (contract §3.6–3.7, decisions D11 and D19): which events
//! count, that a banned client gets nothing at all (even signed calls), that the window slides,
//! that the forwarded client is banned rather than the trusted proxy, and that key holders
//! never count.

mod common;
use common::*;
use std::time::Duration;

async fn is_dropped(addr: std::net::SocketAddr, path: &str, headers: &[(&str, &str)]) -> bool {
    send(addr, "GET", path, headers, "").await.is_err()
}

#[tokio::test]
async fn denied_routes_ban_and_a_ban_drops_everything() {
    let h = start(&[("HP_BLACKLIST_COUNT", "3")]).await;
    for _ in 0..3 {
        assert_eq!(
            get(h.addr, &format!("/exapps/{APP}/user"), &[])
                .await
                .status,
            403
        );
    }
    assert!(is_dropped(h.addr, &format!("/exapps/{APP}/public"), &[]).await);
    let signed = signed_headers(KEY, h.exapp.port());
    assert!(
        is_dropped(h.addr, &format!("/exapps/{APP}/heartbeat"), &hdrs(&signed)).await,
        "signed calls too"
    );
    assert!(
        is_dropped(h.addr, "/exapps/app_api/info", &[("harp-shared-key", KEY)]).await,
        "control calls too"
    );
}

#[tokio::test]
async fn every_counted_reason() {
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("/exapps/app-skeleton-python/imaginary", vec![]), // no route
        ("/favicon.ico", vec![]),                          // no app id
        ("/exapps/nope/x", vec![]),                        // unknown app
        ("/exapps/app_api/info", vec![]),                  // control call without key
        ("/exapps/app-skeleton-python/init", vec![]),      // unsigned internal endpoint
        ("/exapps/app-skeleton-python/%2e%2e/x", vec![]),  // dot-dot
    ];
    for (path, headers) in cases {
        let h = start(&[("HP_BLACKLIST_COUNT", "2")]).await;
        let _ = send(h.addr, "GET", path, &headers, "").await;
        let _ = send(h.addr, "GET", path, &headers, "").await;
        assert!(
            is_dropped(h.addr, &format!("/exapps/{APP}/public"), &[]).await,
            "{path} should count"
        );
    }
}

#[tokio::test]
async fn response_status_in_the_route_list_counts() {
    let h = start(&[("HP_BLACKLIST_COUNT", "3")]).await;
    let auth = basic("usr", "password");
    for _ in 0..3 {
        let r = get(
            h.addr,
            &format!("/exapps/{APP}/user?status=418"),
            &[("authorization", &auth)],
        )
        .await;
        assert_eq!(r.status, 418, "the response is passed on unchanged");
    }
    assert!(is_dropped(h.addr, &format!("/exapps/{APP}/public"), &[]).await);
}

#[tokio::test]
async fn statuses_outside_the_list_and_nextcloud_errors_do_not_count() {
    let h = start(&[("HP_BLACKLIST_COUNT", "2")]).await;
    let auth = basic("usr", "password");
    for _ in 0..3 {
        get(
            h.addr,
            &format!("/exapps/{APP}/user?status=500"),
            &[("authorization", &auth)],
        )
        .await;
        get(h.addr, &format!("/exapps/{APP}/public?status=418"), &[]).await;
    }
    h.nc.fail_user_info_with(Some(503));
    for _ in 0..3 {
        assert_eq!(
            get(
                h.addr,
                &format!("/exapps/{APP}/user"),
                &[("authorization", &auth)]
            )
            .await
            .status,
            401
        );
    }
    assert_eq!(
        get(h.addr, &format!("/exapps/{APP}/public"), &[])
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn key_holders_never_count() {
    let h = start(&[("HP_BLACKLIST_COUNT", "2")]).await;
    let key = [("harp-shared-key", KEY)];
    for path in [
        "/favicon.ico",
        "/exapps/nope/x",
        "/exapps/app-skeleton-python/%2e%2e/x",
        "/exapps/app-skeleton-python/imaginary",
    ] {
        for _ in 0..3 {
            let _ = send(h.addr, "GET", path, &key, "").await;
        }
    }
    assert_eq!(
        get(h.addr, &format!("/exapps/{APP}/public"), &[])
            .await
            .status,
        200
    );
    assert_eq!(h.state().bans.tracked(), 0);
}

#[tokio::test]
async fn the_window_slides() {
    let h = start(&[("HP_BLACKLIST_COUNT", "2"), ("HP_BLACKLIST_WINDOW", "1")]).await;
    for _ in 0..2 {
        get(h.addr, &format!("/exapps/{APP}/imaginary"), &[]).await;
    }
    assert!(is_dropped(h.addr, &format!("/exapps/{APP}/public"), &[]).await);
    // The window is what is under test: let it pass.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        get(h.addr, &format!("/exapps/{APP}/public"), &[])
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn forwarded_clients_are_banned_not_the_trusted_proxy() {
    let h = start(&[
        ("HP_BLACKLIST_COUNT", "2"),
        ("HP_TRUSTED_PROXY_IPS", "127.0.0.0/8"),
    ])
    .await;
    let attacker = [("x-forwarded-for", "203.0.113.7")];
    for _ in 0..2 {
        get(h.addr, &format!("/exapps/{APP}/imaginary"), &attacker).await;
    }
    assert!(is_dropped(h.addr, &format!("/exapps/{APP}/public"), &attacker).await);
    // A client that prepends a fake address is still itself (D11: walked from the right).
    let spoofing = [("x-forwarded-for", "198.51.100.1, 203.0.113.7")];
    assert!(is_dropped(h.addr, &format!("/exapps/{APP}/public"), &spoofing).await);
    let other = [("x-forwarded-for", "198.51.100.9")];
    assert_eq!(
        get(h.addr, &format!("/exapps/{APP}/public"), &other)
            .await
            .status,
        200
    );
    assert_eq!(
        get(h.addr, &format!("/exapps/{APP}/public"), &[])
            .await
            .status,
        200,
        "the proxy itself"
    );
    let real_ip = [("x-real-ip", "203.0.113.7")];
    assert!(is_dropped(h.addr, &format!("/exapps/{APP}/public"), &real_ip).await);
}

#[tokio::test]
async fn untrusted_peers_cannot_choose_their_ip() {
    let h = start(&[("HP_BLACKLIST_COUNT", "2")]).await;
    get(
        h.addr,
        &format!("/exapps/{APP}/imaginary"),
        &[("x-forwarded-for", "1.1.1.1")],
    )
    .await;
    get(
        h.addr,
        &format!("/exapps/{APP}/imaginary"),
        &[("x-forwarded-for", "2.2.2.2")],
    )
    .await;
    assert!(
        is_dropped(
            h.addr,
            &format!("/exapps/{APP}/public"),
            &[("x-forwarded-for", "3.3.3.3")]
        )
        .await
    );
}
