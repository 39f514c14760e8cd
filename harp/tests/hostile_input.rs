//! Hostile and broken clients against harp's data plane: malformed request lines, oversized
//! heads (D10), odd percent-encoding, every spelling of `..` (contract §3.1 step 3, silent drop
//! D2, bans §3.6–3.7), slow, idle and non-reading clients (`HP_TIMEOUT_CLIENT` as contract §8.4
//! describes it, HAProxy's 408 page), stalled uploads, floods of abandoned connections, and
//! AppAPI-only endpoints called without (or with a wrong) signature. Every case checks the documented answer and that harp still serves a
//! normal request afterwards on a new connection.
//!
//! Requests that must reach harp byte for byte (`..`, `%zz`, NUL bytes) are written raw, since
//! HTTP clients normalise or refuse them.

mod common;
use common::*;

use serde_json::{Value, json};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, timeout};

/// HAProxy's 408 page (contract §3.4).
const PAGE_408: &str = "<html><body><h1>408 Request Time-out</h1>\nYour browser didn't send a complete request in time.\n</body></html>\n";

/// How a raw exchange ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The peer closed the connection normally (FIN).
    Closed,
    /// The peer reset the connection (RST).
    Reset,
    /// Nothing more came before the deadline and the connection was still open.
    StillOpen,
}

#[derive(Debug)]
struct Exchange {
    bytes: Vec<u8>,
    end: End,
    elapsed: Duration,
}

impl Exchange {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// The status code of the first response in the bytes, if any.
    fn status(&self) -> Option<u16> {
        parse_response(&self.bytes).map(|r| r.status)
    }
}

/// Reads from `stream` until the peer closes or resets it, or `wait` passes.
async fn read_to_end(stream: &mut TcpStream, started: Instant, wait: Duration) -> Exchange {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = started + wait;
    let end = loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => break End::StillOpen,
            Ok(Ok(0)) => break End::Closed,
            Ok(Ok(n)) => bytes.extend_from_slice(&buf[..n]),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => break End::Reset,
            Ok(Err(e)) => panic!("unexpected read error: {e}"),
        }
    };
    Exchange {
        bytes,
        end,
        elapsed: started.elapsed(),
    }
}

/// Writes `request` on a new connection, then reads until close, reset, or `wait`.
async fn exchange(addr: SocketAddr, request: &[u8], wait: Duration) -> Exchange {
    let mut stream = TcpStream::connect(addr).await.expect("connect to harp");
    let started = Instant::now();
    // harp may answer (431, 400) and close before it has read everything: keep reading.
    let _ = stream.write_all(request).await;
    read_to_end(&mut stream, started, wait).await
}

/// A `GET` with `Connection: close`, as raw bytes.
fn raw_get(path: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: harp.test\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.into_bytes()
}

#[derive(Debug)]
struct RawResponse {
    status: u16,
    head: String,
    body: Vec<u8>,
    /// Bytes of the whole response (head and body) as framed.
    len: usize,
    /// The whole body, as framed, is there.
    complete: bool,
}

/// Parses one HTTP/1.1 response (content-length or chunked framing, or up to the end).
fn parse_response(bytes: &[u8]) -> Option<RawResponse> {
    let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&bytes[..head_end]).into_owned();
    let status = head
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| head.strip_prefix("HTTP/1.0 "))?
        .get(..3)?
        .parse()
        .ok()?;
    let header = |name: &str| {
        head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    let rest = &bytes[head_end..];
    let response = |body: Vec<u8>, len: usize, complete: bool| RawResponse {
        status,
        head: head.clone(),
        body,
        len,
        complete,
    };
    if let Some(n) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        let have = n.min(rest.len());
        return Some(response(rest[..have].to_vec(), head_end + have, have == n));
    }
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        let mut body = Vec::new();
        let mut i = 0;
        loop {
            let Some(line_end) = rest[i..].windows(2).position(|w| w == b"\r\n") else {
                return Some(response(body, bytes.len(), false));
            };
            let line_end = line_end + i;
            let size =
                usize::from_str_radix(std::str::from_utf8(&rest[i..line_end]).ok()?.trim(), 16)
                    .ok()?;
            i = line_end + 2;
            if size == 0 {
                let complete = rest.len() >= i + 2;
                return Some(response(body, head_end + (i + 2).min(rest.len()), complete));
            }
            let Some(chunk) = rest.get(i..i + size) else {
                return Some(response(body, bytes.len(), false));
            };
            body.extend_from_slice(chunk);
            i += size + 2;
        }
    }
    Some(response(rest.to_vec(), bytes.len(), false))
}

/// After every hostile case: a normal request on a new connection is still served, quickly.
async fn assert_still_serving(addr: SocketAddr, after: &str) {
    let r = timeout(
        Duration::from_secs(10),
        send(addr, "GET", &format!("/exapps/{APP}/public"), &[], ""),
    )
    .await
    .unwrap_or_else(|_| panic!("after {after}: /public did not answer within 10 s"))
    .unwrap_or_else(|e| panic!("after {after}: /public got no response: {e}"));
    assert_eq!(r.status, 200, "after {after}: {}", r.text());
    assert_eq!(r.json()["path"], "/public", "after {after}");
}

/// The request got no response bytes and the connection was reset (D2's silent drop).
fn assert_silent_drop(x: &Exchange, what: &str) {
    assert!(
        x.bytes.is_empty(),
        "{what}: expected a silent drop, got {:?}",
        x.text()
    );
    assert_eq!(x.end, End::Reset, "{what}: expected an RST");
}

/// A request line or head harp cannot parse gets `400` or a closed connection, at once.
#[tokio::test]
async fn malformed_requests_get_400_or_a_close_never_a_hang() {
    let h = start(&[]).await;
    let mut noise = Vec::with_capacity(4096);
    let mut x: u32 = 0x2545_f491;
    for _ in 0..4096 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        noise.push((x >> 24) as u8);
    }
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "TLS ClientHello bytes",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n".to_vec(),
        ),
        ("4 KiB of pseudo-random bytes", noise),
        ("text garbage", b"hello there, harp\r\n\r\n".to_vec()),
        ("method only", b"GET\r\n\r\n".to_vec()),
        ("no request target", b"GET  HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        (
            "bad HTTP version",
            format!("GET /exapps/{APP}/public HTTP/9.9\r\nHost: x\r\n\r\n").into_bytes(),
        ),
        (
            "non-HTTP protocol name",
            format!("GET /exapps/{APP}/public FOO/1.1\r\nHost: x\r\n\r\n").into_bytes(),
        ),
        (
            "NUL in the path",
            format!("GET /exapps/{APP}/pub\0lic HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes(),
        ),
        (
            "NUL in a header value",
            format!("GET /exapps/{APP}/public HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n")
                .into_bytes(),
        ),
        (
            "NUL in a header name",
            format!("GET /exapps/{APP}/public HTTP/1.1\r\nHost: x\r\nX\0A: b\r\n\r\n")
                .into_bytes(),
        ),
        (
            "header line without a colon",
            format!("GET /exapps/{APP}/public HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n")
                .into_bytes(),
        ),
        (
            "space before the colon",
            format!("GET /exapps/{APP}/public HTTP/1.1\r\nHost : x\r\n\r\n").into_bytes(),
        ),
        (
            "invalid Content-Length",
            format!("POST /exapps/{APP}/upload HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")
                .into_bytes(),
        ),
        (
            "two different Content-Length values",
            format!(
                "POST /exapps/{APP}/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"
            )
            .into_bytes(),
        ),
    ];
    for (what, bytes) in &cases {
        let x = exchange(h.addr, bytes, Duration::from_secs(5)).await;
        assert_ne!(
            x.end,
            End::StillOpen,
            "{what}: harp neither answered nor closed within 5 s: {:?}",
            x.text()
        );
        if !x.bytes.is_empty() {
            assert_eq!(
                x.status(),
                Some(400),
                "{what}: expected 400 or a close, got {:?}",
                x.text()
            );
        }
        assert!(
            x.elapsed < Duration::from_secs(3),
            "{what}: took {:?}",
            x.elapsed
        );
        assert_still_serving(h.addr, what).await;
    }
    assert_eq!(
        h.exapp.request_count(),
        cases.len(),
        "no malformed request reached the ExApp (only the /public checks did)"
    );
}

/// D10: more than 16 KiB of request head gets `431`; a 12 KiB head is served.
#[tokio::test]
async fn oversized_heads_get_431_and_large_ones_under_the_limit_work() {
    let h = start(&[]).await;
    let path = format!("/exapps/{APP}/public");
    let big = "a".repeat(20 * 1024);
    let many: Vec<(String, String)> = (0..400)
        .map(|i| (format!("x-small-{i:03}"), "v".repeat(40)))
        .collect();
    let many_ref: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let long_path = format!("/exapps/{APP}/public?q={}", "b".repeat(20 * 1024));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("one 20 KiB header", raw_get(&path, &[("x-big", &big)])),
        (
            "400 small headers (about 20 KiB)",
            raw_get(&path, &many_ref),
        ),
        ("a 20 KiB request line", raw_get(&long_path, &[])),
    ];
    for (what, bytes) in &cases {
        assert!(bytes.len() > 16 * 1024);
        let x = exchange(h.addr, bytes, Duration::from_secs(5)).await;
        assert_eq!(
            x.status(),
            Some(431),
            "{what}: expected 431, got {:?} (end {:?})",
            x.text(),
            x.end
        );
        assert_ne!(x.end, End::StillOpen, "{what}: connection left open");
        assert_still_serving(h.addr, what).await;
    }
    // Just under the limit: one 12 KiB header, and 12 KiB spread over 60 headers.
    let twelve = "c".repeat(12 * 1024);
    let r = get(h.addr, &path, &[("x-twelve", &twelve)]).await;
    assert_eq!(r.status, 200, "12 KiB header: {}", r.text());
    assert_eq!(
        r.seen_header("x-twelve").map(|v| v.len()),
        Some(12 * 1024),
        "the 12 KiB header reached the ExApp whole"
    );
    let spread: Vec<(String, String)> = (0..60)
        .map(|i| (format!("x-part-{i:02}"), "d".repeat(200)))
        .collect();
    let spread_ref: Vec<(&str, &str)> = spread
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = get(h.addr, &path, &spread_ref).await;
    assert_eq!(r.status, 200, "60 headers of 200 bytes: {}", r.text());
    assert_eq!(r.seen_header("x-part-59").map(|v| v.len()), Some(200));
}

/// harp does not decode paths: broken percent-encoding is matched against the routes as
/// written and forwarded unchanged.
#[tokio::test]
async fn invalid_percent_encoding_is_routed_as_written() {
    let h = start(&[("HP_BLACKLIST_COUNT", "100")]).await;
    for suffix in ["/%zz", "/%", "/%2", "/public%zz", "/%E0%A4%A", "/%00"] {
        let path = format!("/exapps/{APP}{suffix}");
        let x = exchange(h.addr, &raw_get(&path, &[]), Duration::from_secs(5)).await;
        let r = parse_response(&x.bytes).unwrap_or_else(|| panic!("{path}: no response"));
        assert_eq!(r.status, 404, "{path}: {}", x.text());
        assert_eq!(r.body, b"404 Not Found", "{path}");
        assert_still_serving(h.addr, &path).await;
    }
    // A route that matches a prefix (`^/upload`): the ExApp gets the path byte for byte.
    let path = format!("/exapps/{APP}/upload%zz%2");
    let x = exchange(h.addr, &raw_get(&path, &[]), Duration::from_secs(5)).await;
    let r = parse_response(&x.bytes).unwrap_or_else(|| panic!("{path}: no response"));
    assert_eq!(r.status, 200, "{path}: {}", x.text());
    let echo: Value = serde_json::from_slice(&r.body).expect("echo JSON");
    assert_eq!(echo["path"], "/upload%zz%2");
    assert_still_serving(h.addr, &path).await;
}

/// Paths with a `..` segment in any spelling are dropped silently (no bytes, RST).
const DOT_DOT: [&str; 8] = [
    "/exapps/app-skeleton-python/../x",
    "/exapps/app-skeleton-python/%2e%2e/x",
    "/exapps/app-skeleton-python/%2E%2e/x",
    "/exapps/app-skeleton-python/a%2F..%2Fb",
    "/exapps/app-skeleton-python/.%2e/x",
    "/exapps/app-skeleton-python/..",
    "/exapps/app_api/../x",
    "/exapps/app_api/%2e%2e/info",
];

#[tokio::test]
async fn dot_dot_in_every_spelling_is_dropped_silently() {
    let h = start(&[("HP_BLACKLIST_COUNT", "100")]).await;
    for path in DOT_DOT {
        let x = exchange(h.addr, &raw_get(path, &[]), Duration::from_secs(5)).await;
        assert_silent_drop(&x, path);
        assert_still_serving(h.addr, path).await;
    }
    // Lookalikes are not `..` segments: they are routed (and match no route here).
    for path in [
        "/exapps/app-skeleton-python/...",
        "/exapps/app-skeleton-python/..x",
        "/exapps/app-skeleton-python/x..",
        "/exapps/app-skeleton-python/%252e%252e/x",
        "/exapps/app-skeleton-python/%2e",
    ] {
        let x = exchange(h.addr, &raw_get(path, &[]), Duration::from_secs(5)).await;
        let r =
            parse_response(&x.bytes).unwrap_or_else(|| panic!("{path}: no response ({:?})", x.end));
        assert_eq!(r.status, 404, "{path}: {}", x.text());
        assert_eq!(r.body, b"404 Not Found", "{path}");
    }
    assert_eq!(
        h.exapp.request_count(),
        DOT_DOT.len(),
        "only the /public checks reached the ExApp"
    );
}

/// Each `..` request counts as a failure: with `HP_BLACKLIST_COUNT=3` the third one bans the
/// client, whose next request, even to a public route, is dropped too.
#[tokio::test]
async fn dot_dot_requests_ban_the_client() {
    let h = start(&[("HP_BLACKLIST_COUNT", "3")]).await;
    let me: IpAddr = "127.0.0.1".parse().unwrap();
    for (i, path) in DOT_DOT[..3].iter().enumerate() {
        assert!(!h.state().bans.is_banned(me), "banned before failure {i}");
        let x = exchange(h.addr, &raw_get(path, &[]), Duration::from_secs(5)).await;
        assert_silent_drop(&x, path);
    }
    assert!(h.state().bans.is_banned(me));
    let public = format!("/exapps/{APP}/public");
    let x = exchange(h.addr, &raw_get(&public, &[]), Duration::from_secs(5)).await;
    assert_silent_drop(&x, "a banned client's /public");
    assert_eq!(h.exapp.request_count(), 0);
}

/// Every spelling counts on its own: with `HP_BLACKLIST_COUNT=1`, any one of them bans.
#[tokio::test]
async fn each_dot_dot_spelling_counts_as_a_failure() {
    let me: IpAddr = "127.0.0.1".parse().unwrap();
    for path in DOT_DOT {
        let h = start(&[("HP_BLACKLIST_COUNT", "1")]).await;
        let x = exchange(h.addr, &raw_get(path, &[]), Duration::from_secs(5)).await;
        assert_silent_drop(&x, path);
        assert!(h.state().bans.is_banned(me), "{path} was not counted");
    }
}

/// A request head that stalls gets HAProxy's 408 page after `HP_TIMEOUT_CLIENT`, while other
/// clients are served meanwhile.
#[tokio::test]
async fn slow_head_gets_408_and_others_are_served_meanwhile() {
    let h = start(&[("HP_TIMEOUT_CLIENT", "1s")]).await;
    let partial = format!("GET /exapps/{APP}/public HTTP/1.1\r\nHost: x\r\n");
    let addr = h.addr;
    let slow =
        tokio::spawn(
            async move { exchange(addr, partial.as_bytes(), Duration::from_secs(8)).await },
        );
    // Served while the slow client is still waiting for its answer.
    assert_still_serving(h.addr, "a stalled head on another connection").await;
    assert!(
        !slow.is_finished(),
        "the normal request was not served meanwhile"
    );
    let x = slow.await.expect("slow client task");
    assert_ne!(x.end, End::StillOpen, "no 408 and no close within 8 s");
    assert!(
        x.elapsed >= Duration::from_millis(900) && x.elapsed < Duration::from_secs(4),
        "408 after {:?}",
        x.elapsed
    );
    let r = parse_response(&x.bytes).unwrap_or_else(|| panic!("no 408: {:?}", x.text()));
    assert_eq!(r.status, 408, "{}", x.text());
    assert!(
        r.head.starts_with("HTTP/1.1 408 Request Time-out\r\n"),
        "{}",
        r.head
    );
    assert_eq!(String::from_utf8_lossy(&r.body), PAGE_408);
    assert_eq!(r.len, x.bytes.len(), "nothing after the 408 page");
    assert_still_serving(h.addr, "the 408").await;
    assert_eq!(
        h.exapp.request_count(),
        2,
        "the stalled request never reached the ExApp"
    );
}

/// A connection that sends nothing, or nothing more after a complete exchange, is closed
/// quietly (no 408 bytes).
#[tokio::test]
async fn idle_connections_are_closed_quietly() {
    let h = start(&[("HP_TIMEOUT_CLIENT", "1s")]).await;
    // No bytes at all: closed after HP_TIMEOUT_CLIENT.
    let x = exchange(h.addr, b"", Duration::from_secs(8)).await;
    assert_ne!(x.end, End::StillOpen, "idle connection kept open for 8 s");
    assert!(x.bytes.is_empty(), "idle connection got {:?}", x.text());
    assert!(
        x.elapsed >= Duration::from_millis(900) && x.elapsed < Duration::from_millis(2500),
        "closed after {:?}",
        x.elapsed
    );
    assert_still_serving(h.addr, "an idle connection").await;
    // One keep-alive request, then silence: closed without another byte.
    let req = format!("GET /exapps/{APP}/public HTTP/1.1\r\nHost: x\r\n\r\n");
    let x = exchange(h.addr, req.as_bytes(), Duration::from_secs(8)).await;
    assert_ne!(
        x.end,
        End::StillOpen,
        "idle keep-alive connection kept open for 8 s"
    );
    let r = parse_response(&x.bytes).expect("the keep-alive response");
    assert_eq!(r.status, 200);
    assert!(r.complete);
    assert_eq!(
        r.len,
        x.bytes.len(),
        "bytes after the response on an idle keep-alive connection: {:?}",
        String::from_utf8_lossy(&x.bytes[r.len..])
    );
    assert_still_serving(h.addr, "an idle keep-alive connection").await;
}

/// Sends `request` on a new keep-alive connection, reads its response, then waits for harp to
/// close the idle connection. Returns the response and how long after it the close came.
async fn idle_after_response(
    addr: SocketAddr,
    request: &str,
    wait: Duration,
) -> (RawResponse, Exchange) {
    let mut stream = TcpStream::connect(addr).await.expect("connect to harp");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut bytes = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = Instant::now() + Duration::from_secs(10);
    let response = loop {
        if let Some(r) = parse_response(&bytes).filter(|r| r.complete) {
            break r;
        }
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => bytes.extend_from_slice(&buf[..n]),
            other => panic!(
                "{request:?}: no complete response ({other:?}): {:?}",
                String::from_utf8_lossy(&bytes)
            ),
        }
    };
    assert_eq!(
        response.len,
        bytes.len(),
        "{request:?}: bytes after the response"
    );
    let idle = read_to_end(&mut stream, Instant::now(), wait).await;
    (response, idle)
}

/// Contract §8.4: `HP_TIMEOUT_CLIENT` is also the keep-alive idle limit between requests,
/// counted from the end of the last response, however long that response took.
#[tokio::test]
async fn idle_keep_alive_is_closed_after_hp_timeout_client() {
    let h = start(&[("HP_TIMEOUT_CLIENT", "1s")]).await;
    let cases = [
        ("a fast response", format!("/exapps/{APP}/public")),
        (
            "a response slower than the timeout",
            format!("/exapps/{APP}/slow?ms=1500"),
        ),
        (
            "a stream longer than the timeout",
            format!("/exapps/{APP}/sse?n=3&interval_ms=700"),
        ),
    ];
    // The cases run side by side; every one that misbehaves is reported.
    let outcomes = futures_util::future::join_all(cases.iter().map(|(what, path)| async move {
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        let (r, idle) = idle_after_response(h.addr, &request, Duration::from_secs(6)).await;
        assert_eq!(r.status, 200, "{what}");
        assert!(idle.bytes.is_empty(), "{what}: {:?}", idle.text());
        match idle.end {
            End::StillOpen => Some(format!("{what}: still open 6 s after the response")),
            _ if idle.elapsed < Duration::from_millis(900)
                || idle.elapsed >= Duration::from_millis(1600) =>
            {
                Some(format!(
                    "{what}: closed {:?} after the response",
                    idle.elapsed
                ))
            }
            _ => None,
        }
    }))
    .await;
    let problems: Vec<String> = outcomes.into_iter().flatten().collect();
    assert!(
        problems.is_empty(),
        "idle keep-alive connections must close about HP_TIMEOUT_CLIENT=1s after the last \
         response:\n{}",
        problems.join("\n")
    );
    assert_still_serving(h.addr, "idle keep-alive connections").await;
}

/// A client that stops reading a large response is cut off after `HP_TIMEOUT_CLIENT`.
#[tokio::test]
async fn client_that_stops_reading_is_cut_off() {
    let h = start(&[("HP_TIMEOUT_CLIENT", "1s")]).await;
    const TOTAL: usize = 256 << 20;
    let mut stream = TcpStream::connect(h.addr).await.expect("connect");
    stream
        .write_all(
            format!(
                "GET /exapps/{APP}/download?bytes={TOTAL} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .expect("write");
    // The hostile part: read nothing for three times the timeout.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let started = Instant::now();
    let mut received = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    let deadline = started + Duration::from_secs(20);
    let end = loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => break End::StillOpen,
            Ok(Ok(0)) => break End::Closed,
            Ok(Ok(n)) => received += n,
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => break End::Reset,
            Ok(Err(e)) => panic!("read error: {e}"),
        }
    };
    assert_ne!(end, End::StillOpen, "still streaming after 20 s");
    assert!(
        received < TOTAL,
        "the whole {TOTAL}-byte body arrived although the client stopped reading for 3 s"
    );
    assert_still_serving(h.addr, "a client that stopped reading").await;
}

/// An upload that stalls for longer than `HP_TIMEOUT_CLIENT`: harp gives up in bounded time,
/// aborts the request to the ExApp and keeps serving.
#[tokio::test]
async fn stalled_request_body_is_abandoned_and_the_exapp_request_aborted() {
    // A raw ExApp that records what arrives and never answers.
    let sink = TcpListener::bind("127.0.0.1:0").await.expect("bind sink");
    let sink_port = sink.local_addr().expect("sink addr").port();
    let sink_task = tokio::spawn(async move {
        let (mut conn, _) = sink.accept().await.expect("harp connects to the ExApp");
        let started = Instant::now();
        read_to_end(&mut conn, started, Duration::from_secs(15)).await
    });
    let h = start(&[("HP_TIMEOUT_CLIENT", "1s")]).await;
    h.nc.add_app(
        "sink-app",
        json!({
            "exapp_token": SECRET,
            "exapp_version": "1.0.0",
            "host": "127.0.0.1",
            "port": sink_port,
            "routes": [{"url": "^/", "access_level": 0, "bruteforce_protection": []}],
        }),
    );
    let mut client = TcpStream::connect(h.addr).await.expect("connect");
    let started = Instant::now();
    client
        .write_all(
            b"POST /exapps/sink-app/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789",
        )
        .await
        .expect("write");
    let x = read_to_end(&mut client, started, Duration::from_secs(10)).await;
    assert!(
        x.end != End::StillOpen || x.status().is_some_and(|s| s >= 400),
        "harp still waiting after {:?}: {:?}",
        x.elapsed,
        x.text()
    );
    if let Some(status) = x.status() {
        assert_eq!(status, 408, "a stalled upload gets HAProxy's 408");
    }
    assert!(
        x.elapsed >= Duration::from_millis(900),
        "gave up after {:?}",
        x.elapsed
    );
    let upstream = sink_task.await.expect("sink task");
    assert_ne!(
        upstream.end,
        End::StillOpen,
        "the request to the ExApp was not aborted within 15 s"
    );
    let seen = upstream.text();
    assert!(seen.starts_with("POST /upload HTTP/1.1\r\n"), "{seen}");
    assert!(seen.ends_with("\r\n\r\n0123456789"), "{seen:?}");
    assert!(
        upstream.elapsed < Duration::from_secs(6),
        "ExApp request aborted after {:?}",
        upstream.elapsed
    );
    assert_still_serving(h.addr, "a stalled upload").await;
}

/// Many connections opened and abandoned half-way do not stop harp from serving.
#[tokio::test]
async fn abandoned_connections_do_not_starve_harp() {
    let h = start(&[]).await;
    let head = format!("GET /exapps/{APP}/public HTTP/1.1\r\nHost: x\r\nX-Padding: ");
    let post =
        format!("POST /exapps/{APP}/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc");
    let pieces: [&[u8]; 5] = [
        b"",
        b"GE",
        head.as_bytes(),
        post.as_bytes(),
        b"GET /exapps/",
    ];
    let mut open = Vec::with_capacity(200);
    let opened = timeout(Duration::from_secs(20), async {
        for i in 0..200 {
            let mut s = TcpStream::connect(h.addr).await.expect("connect");
            s.write_all(pieces[i % pieces.len()]).await.expect("write");
            open.push(s);
        }
    })
    .await;
    assert!(
        opened.is_ok(),
        "opening 200 connections took more than 20 s"
    );
    assert_still_serving(h.addr, "200 half-open connections (still open)").await;
    drop(open);
    assert_still_serving(h.addr, "200 abandoned connections").await;
    // And once more with connections that are reset instead of closed.
    for i in 0..200 {
        let mut s = TcpStream::connect(h.addr).await.expect("connect");
        s.write_all(pieces[i % pieces.len()]).await.expect("write");
        s.set_zero_linger().expect("SO_LINGER 0");
        drop(s);
    }
    assert_still_serving(h.addr, "200 reset connections").await;
}

/// AppAPI-only endpoints called unsigned, and signed calls with a wrong key, are dropped
/// silently, each counting as a failure; a signed call with the right key passes.
#[tokio::test]
async fn appapi_only_endpoints_and_wrong_signatures_are_dropped() {
    let h = start(&[("HP_BLACKLIST_COUNT", "4")]).await;
    let me: IpAddr = "127.0.0.1".parse().unwrap();
    for suffix in ["/heartbeat", "/init", "/enabled?enabled=1"] {
        let path = format!("/exapps/{APP}{suffix}");
        let x = exchange(h.addr, &raw_get(&path, &[]), Duration::from_secs(5)).await;
        assert_silent_drop(&x, &path);
        assert!(!h.state().bans.is_banned(me));
        assert_still_serving(h.addr, &path).await;
    }
    // The right key: forwarded, and never a failure (D19).
    let good = signed_headers(KEY, h.exapp.port());
    let x = exchange(
        h.addr,
        &raw_get(&format!("/exapps/{APP}/heartbeat"), &hdrs(&good)),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(x.status(), Some(200), "signed /heartbeat: {}", x.text());
    let bad = signed_headers("not-the-key", h.exapp.port());
    let x = exchange(
        h.addr,
        &raw_get(&format!("/exapps/{APP}/heartbeat"), &hdrs(&bad)),
        Duration::from_secs(5),
    )
    .await;
    assert_silent_drop(&x, "signed /heartbeat with a wrong key");
    // Four failures: the client is banned now.
    assert!(h.state().bans.is_banned(me));
    let x = exchange(
        h.addr,
        &raw_get(&format!("/exapps/{APP}/public"), &[]),
        Duration::from_secs(5),
    )
    .await;
    assert_silent_drop(&x, "a banned client's /public");
    let paths: Vec<String> = h
        .exapp
        .seen()
        .iter()
        .map(|e| e["path"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        paths,
        ["/public", "/public", "/public", "/heartbeat"],
        "what reached the ExApp"
    );
}
