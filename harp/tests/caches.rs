//! The caches in front of Nextcloud (contract §3.7–3.8): one `exapp-meta` fetch however many
//! requests wait for it, the 15 s negative cache, the session cache and its lifetime (one
//! `user-info` call per session however many first requests wait for it), and the
//! records AppAPI pushes with `exapp_storage`.

mod common;
use common::*;
use std::time::Duration;

#[tokio::test]
async fn one_fetch_for_a_hundred_concurrent_first_requests() {
    let h = start(&[]).await;
    h.nc.set_delay(Duration::from_millis(300));
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let addr = h.addr;
        tasks.push(tokio::spawn(async move {
            get(addr, &format!("/exapps/{APP}/public"), &[])
                .await
                .status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(h.nc.count("exapp-meta"), 1);
}

#[tokio::test]
async fn one_user_info_for_a_hundred_concurrent_first_requests_of_a_session() {
    let h = start(&[]).await;
    // Warm the app record so only user-info is slow.
    assert_eq!(
        get(h.addr, &format!("/exapps/{APP}/public"), &[])
            .await
            .status,
        200
    );
    h.nc.set_delay(Duration::from_millis(300));
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let addr = h.addr;
        tasks.push(tokio::spawn(async move {
            let cookie = [("cookie", "oc_sessionPassphrase=sess-usr")];
            get(addr, &format!("/exapps/{APP}/user"), &cookie)
                .await
                .status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(h.nc.count("user-info"), 1);
}

#[tokio::test]
async fn unknown_apps_are_remembered_for_a_while() {
    let h = start(&[]).await;
    assert_eq!(get(h.addr, "/exapps/nope/x", &[]).await.status, 404);
    assert_eq!(get(h.addr, "/exapps/nope/x", &[]).await.status, 404);
    assert_eq!(
        h.nc.count("exapp-meta"),
        1,
        "the second answer comes from the negative cache"
    );
    // A push through exapp_storage clears the negative entry.
    let record = skeleton_record(h.exapp.port()).to_string();
    let r = send(
        h.addr,
        "POST",
        "/exapps/app_api/exapp_storage/nope",
        &[("harp-shared-key", KEY)],
        &record,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 204);
    assert_eq!(get(h.addr, "/exapps/nope/public", &[]).await.status, 200);
}

#[tokio::test]
async fn session_cookie_is_cached_for_the_session_lifetime() {
    let h = start(&[("HP_SESSION_LIFETIME", "1")]).await;
    let cookie = [("cookie", "oc_sessionPassphrase=sess-usr")];
    let r = get(h.addr, &format!("/exapps/{APP}/user"), &cookie).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.seen_header("authorization-app-api"),
        Some(b64(&format!("usr:{SECRET}")))
    );
    assert_eq!(
        get(h.addr, &format!("/exapps/{APP}/user"), &cookie)
            .await
            .status,
        200
    );
    assert_eq!(
        h.nc.count("user-info"),
        1,
        "the second request hit the session cache"
    );
    // The lifetime is what is under test here: let it pass.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        get(h.addr, &format!("/exapps/{APP}/user"), &cookie)
            .await
            .status,
        200
    );
    assert_eq!(h.nc.count("user-info"), 2, "expired entries ask again");
}

#[tokio::test]
async fn authorization_alone_is_never_cached() {
    let h = start(&[]).await;
    let auth = basic("usr", "password");
    for _ in 0..3 {
        assert_eq!(
            get(
                h.addr,
                &format!("/exapps/{APP}/user"),
                &[("authorization", &auth)]
            )
            .await
            .status,
            200
        );
    }
    assert_eq!(h.nc.count("user-info"), 3);
}

#[tokio::test]
async fn exapp_storage_replaces_and_forgets_records() {
    let h = start(&[]).await;
    let key = [("harp-shared-key", KEY)];
    let path = format!("/exapps/app_api/exapp_storage/{APP}");
    let mut record = skeleton_record(h.exapp.port());
    record["exapp_version"] = "4.0.0".into();
    let r = send(h.addr, "POST", &path, &key, &record.to_string())
        .await
        .unwrap();
    assert_eq!(r.status, 204);
    let r = get(h.addr, &format!("/exapps/{APP}/public"), &[]).await;
    assert_eq!(r.seen_header("ex-app-version").as_deref(), Some("4.0.0"));
    assert_eq!(h.nc.count("exapp-meta"), 0, "the pushed record is used");
    assert_eq!(
        send(h.addr, "DELETE", &path, &key, "")
            .await
            .unwrap()
            .status,
        204
    );
    let r = send(h.addr, "DELETE", &path, &key, "").await.unwrap();
    assert_eq!(
        (r.status.as_u16(), r.text().as_str()),
        (404, "404: Not Found")
    );
    let r = get(h.addr, &format!("/exapps/{APP}/public"), &[]).await;
    assert_eq!(r.seen_header("ex-app-version").as_deref(), Some("3.0.3"));
    assert_eq!(
        h.nc.count("exapp-meta"),
        1,
        "after DELETE, Nextcloud is asked again"
    );
    assert_eq!(
        send(h.addr, "POST", &path, &key, "{}")
            .await
            .unwrap()
            .status,
        400
    );
    assert_eq!(
        send(h.addr, "POST", &path, &key, "{not json")
            .await
            .unwrap()
            .status,
        400
    );
    assert_eq!(
        send(h.addr, "PUT", &path, &key, "{}").await.unwrap().status,
        405
    );
    assert_eq!(
        send(h.addr, "POST", &path, &[], "{}").await.unwrap().status,
        401
    );
}
