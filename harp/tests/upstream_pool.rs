//! harp's pool of connections to ExApps (`proxy/pool.rs`): one connection carries request
//! after request whatever the answer was (JSON, bodiless `HEAD` and `204`, a streamed
//! download, an upload), parallel requests open parallel connections that are reused
//! afterwards, and a pooled connection the ExApp has closed is never handed a request.
//! Counted with harp's own upstream-connections gauge (`harp_upstream_connections_open`).

mod common;
use common::*;
use std::time::Duration;

fn open(h: &TestHarp) -> u64 {
    h.state().upstream.open_connections()
}

#[tokio::test]
async fn one_connection_carries_every_kind_of_answer() {
    let h = start(&[]).await;
    let path = |p: &str| format!("/exapps/{APP}{p}");
    for i in 0..10 {
        let r = get(h.addr, &path("/public"), &[]).await;
        assert_eq!(r.status, 200, "request {i}: {}", r.text());
        assert_eq!(open(&h), 1, "request {i} opened another ExApp connection");
    }
    let head = send(h.addr, "HEAD", &path("/public"), &[], "").await;
    assert_eq!(head.map(|r| r.status.as_u16()), Ok(200));
    let empty = get(h.addr, &path("/public?status=204"), &[]).await;
    assert_eq!(empty.status, 204);
    let download = get(h.addr, &path("/download?bytes=1048576"), &[]).await;
    assert_eq!(download.body.len(), 1 << 20);
    let upload = send(h.addr, "POST", &path("/upload"), &[], &"u".repeat(300_000))
        .await
        .expect("upload answered");
    assert_eq!(upload.json()["bytes"], 300_000);
    for i in 0..10 {
        let r = get(h.addr, &path("/public"), &[]).await;
        assert_eq!(r.status, 200, "request {i} after the others: {}", r.text());
    }
    assert_eq!(
        open(&h),
        1,
        "HEAD, 204, download and upload answers must leave the connection reusable"
    );
}

#[tokio::test]
async fn parallel_requests_open_connections_that_are_reused() {
    let h = start(&[]).await;
    let slow = format!("/exapps/{APP}/slow?ms=300");
    let parallel: Vec<_> = (0..4).map(|_| get(h.addr, &slow, &[])).collect();
    for r in futures_util::future::join_all(parallel).await {
        assert_eq!(r.status, 200);
    }
    let after_parallel = open(&h);
    assert_eq!(
        after_parallel, 4,
        "four requests at once use four connections"
    );
    for _ in 0..20 {
        assert_eq!(
            get(h.addr, &format!("/exapps/{APP}/public"), &[])
                .await
                .status,
            200
        );
    }
    assert_eq!(open(&h), 4, "later requests reuse the pooled connections");
}

#[tokio::test]
async fn a_connection_the_exapp_closed_is_not_used_again() {
    let h = start(&[]).await;
    let public = format!("/exapps/{APP}/public");
    assert_eq!(get(h.addr, &public, &[]).await.status, 200);
    assert_eq!(open(&h), 1);
    // The ExApp restarts: its open connections are cut, and it listens again.
    h.exapp.go_down().await;
    h.exapp.come_back().await.expect("ExApp listens again");
    for i in 0..5 {
        let r = get(h.addr, &public, &[]).await;
        assert_eq!(r.status, 200, "request {i} after the ExApp restarted");
    }
    // The cut connection is gone from the pool; one new one carries the requests.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while open(&h) != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "expected 1 open ExApp connection, have {}",
            open(&h)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
