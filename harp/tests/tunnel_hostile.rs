//! Hostile tunnel clients against harp's FRP listener (frp-protocol.md §1.2 first byte and TLS,
//! §1.3 yamux, §2.1 framing, §5.2 refusals, §5.5 run ids; contract §7.2 and §10.18).
//!
//! Raw TCP/TLS peers send garbage, truncated, oversized or negative-length frp frames, unknown
//! type bytes, first messages that are neither Login nor NewWorkConn, garbage inside a yamux
//! stream, nothing at all, half a TLS ClientHello, plain frp where TLS is required, NewWorkConn
//! for a run id nobody has, or open a hundred connections and walk away. Real frpc clients ask
//! for what frps refuses (port not allowed, port already used, a duplicate proxy name, a port
//! another process holds, a second port per client) and log in from a banned address.
//!
//! After every case harp still serves: a fresh login exchange gets a run id, and a real frpc
//! (frp 0.65.0, see tunnel_frpc.rs) publishes the ExApp, which answers through
//! `/exapps/<appid>/`.

mod common;
#[path = "common/frpc.rs"]
mod frpc;
use common::*;
use frp_wire::yamux::{FRP_WINDOW_DELTA, Flags, Header};
use frp_wire::{Message, NewWorkConn};
use frpc::*;
use kit::*;
use std::net::IpAddr;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// A refusal that needs no deadline must come well before frps's 10 s first-message deadline.
const AT_ONCE: Duration = Duration::from_secs(3);
/// frps's deadline for the first byte, the TLS handshake and the first message.
const DEADLINE: Duration = Duration::from_secs(10);
/// Slack on top of [`DEADLINE`] for a loaded machine.
const MARGIN: Duration = Duration::from_secs(4);

/// An frp frame with an arbitrary type byte and length field.
fn frame(typ: u8, len: i64, body: &[u8]) -> Vec<u8> {
    let mut out = vec![typ];
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// The first bytes of a real TLS ClientHello (frp-protocol §7.4), cut short.
const HALF_CLIENT_HELLO: &[u8] = &[
    0x16, 0x03, 0x01, 0x05, 0xb8, 0x01, 0x00, 0x05, 0xb4, 0x03, 0x03, 0x5a, 0x11, 0x42,
];

/// Sends `bytes` on a fresh plain connection (optionally ending the write side) and expects
/// harp to close it at once without a byte in reply; then a valid login still works.
async fn refused_at_once(bed: &Bed, what: &str, bytes: &[u8], half_close: bool) {
    let mut s = TcpStream::connect(bed.frp()).await.unwrap();
    let _ = s.write_all(bytes).await;
    if half_close {
        let _ = s.shutdown().await;
    }
    let (reply, took) = closed_within(&mut s, AT_ONCE)
        .await
        .unwrap_or_else(|got| panic!("{what}: still open after {AT_ONCE:?} (got {got:?})"));
    assert!(
        reply.is_empty(),
        "{what}: harp answered {reply:?} instead of closing"
    );
    eprintln!("{what}: closed after {took:?}");
    bed.login().await;
}

#[tokio::test]
async fn garbage_bytes_are_closed_at_once() {
    let bed = Bed::new(Mode::Plain, 1, &[]).await;
    refused_at_once(
        &bed,
        "HTTP request",
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        false,
    )
    .await;
    refused_at_once(
        &bed,
        "binary noise",
        &[0xff, 0xfe, 0x80, 0x01, 0x7f, 0x00, 0x13],
        false,
    )
    .await;
    // A valid Login header with a body that is not JSON.
    refused_at_once(&bed, "non-JSON body", &frame(b'o', 5, b"abcde"), false).await;
    // A Login whose JSON has the wrong types.
    refused_at_once(
        &bed,
        "ill-typed JSON",
        &frame(b'o', 23, br#"{"timestamp":"soon!!!"}"#),
        false,
    )
    .await;
    bed.assert_serves().await;
}

#[tokio::test]
async fn truncated_frames() {
    let bed = Bed::new(Mode::Plain, 1, &[]).await;
    // Type byte and half the length, then the client ends its side: an error, not a wait.
    refused_at_once(&bed, "type + half a length, EOF", &[b'o', 0, 0, 0, 0], true).await;
    let login = login_frame(KEY);
    refused_at_once(
        &bed,
        "Login cut in the body, EOF",
        &login[..login.len() - 7],
        true,
    )
    .await;
    // The same bytes arriving slowly are a valid Login: harp must not mistake a slow client
    // for a truncated one.
    let mut s = TcpStream::connect(bed.frp()).await.unwrap();
    for piece in [&login[..1], &login[1..5], &login[5..20], &login[20..]] {
        s.write_all(piece).await.unwrap();
        s.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let resp = read_login_resp(&mut s, AT_ONCE).await.unwrap();
    assert!(resp.error.is_empty() && !resp.run_id.is_empty(), "{resp:?}");
    bed.assert_serves().await;
}

#[tokio::test]
async fn oversize_length_is_closed_at_once() {
    let bed = Bed::new(Mode::Plain, 1, &[]).await;
    refused_at_once(&bed, "length 10241", &frame(b'o', 10241, b"{}"), false).await;
    refused_at_once(
        &bed,
        "length 1 MiB",
        &frame(b'o', 1 << 20, &[b' '; 64]),
        false,
    )
    .await;
    refused_at_once(
        &bed,
        "length i64::MAX",
        &frame(b'o', i64::MAX, b"{}"),
        false,
    )
    .await;
    // A Login padded with JSON whitespace to exactly 10240 bytes is legal and logs in.
    let login = login_frame(KEY);
    let json = &login[9..login.len() - 1];
    let mut body = json.to_vec();
    body.resize(10239, b' ');
    body.push(b'}');
    let mut s = TcpStream::connect(bed.frp()).await.unwrap();
    s.write_all(&frame(b'o', 10240, &body)).await.unwrap();
    let resp = read_login_resp(&mut s, AT_ONCE).await.unwrap();
    assert!(resp.error.is_empty() && !resp.run_id.is_empty(), "{resp:?}");
    // One byte more is refused.
    body.insert(body.len() - 1, b' ');
    refused_at_once(
        &bed,
        "padded Login of 10241",
        &frame(b'o', 10241, &body),
        false,
    )
    .await;
    bed.assert_serves().await;
}

#[tokio::test]
async fn negative_length_is_closed_at_once() {
    let bed = Bed::new(Mode::Plain, 1, &[]).await;
    refused_at_once(&bed, "length -1", &frame(b'o', -1, b"{}"), false).await;
    refused_at_once(
        &bed,
        "length i64::MIN",
        &frame(b'w', i64::MIN, b"{}"),
        false,
    )
    .await;
    bed.assert_serves().await;
}

#[tokio::test]
async fn unknown_type_byte_is_closed_at_once() {
    let bed = Bed::new(Mode::Plain, 1, &[]).await;
    for typ in [b'z', b'A', b'9', 0x7f, 0xfe] {
        refused_at_once(
            &bed,
            &format!("type byte 0x{typ:02x}"),
            &frame(typ, 2, b"{}"),
            false,
        )
        .await;
    }
    bed.assert_serves().await;
}

#[tokio::test]
async fn first_message_other_than_login_or_new_work_conn_is_closed() {
    let bed = Bed::new(Mode::Plain, 1, &[]).await;
    let proxy = format!(
        r#"{{"proxy_name":"evil","proxy_type":"tcp","remote_port":{}}}"#,
        bed.ports[0]
    );
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "NewProxy",
            frame(b'p', proxy.len() as i64, proxy.as_bytes()),
        ),
        ("Ping", frame(b'h', 2, b"{}")),
        ("LoginResp", frame(b'1', 2, b"{}")),
        ("ReqWorkConn", frame(b'r', 2, b"{}")),
        ("StartWorkConn", frame(b's', 2, b"{}")),
        ("CloseProxy", frame(b'c', 2, b"{}")),
        ("NewVisitorConn", frame(b'v', 2, b"{}")),
        ("UDPPacket", frame(b'u', 2, b"{}")),
    ];
    for (what, bytes) in &cases {
        refused_at_once(&bed, what, bytes, false).await;
    }
    assert!(
        !bed.harp.state().tunnels.registry.port_taken(bed.ports[0]),
        "the NewProxy without a login published nothing"
    );
    bed.assert_serves().await;
}

/// In one yamux session: a stream whose first frame is garbage is closed (FIN or RST) at once,
/// and the same session still logs in on the next stream.
async fn garbage_yamux_stream(bed: &Bed) {
    let mut mux = Mux::new(bed.connect().await);
    mux.open(1).await;
    mux.data(1, b"\xde\xad\xbe\xef garbage \x00\x01\x02").await;
    let closed = mux.wait_stream_end(1, AT_ONCE).await;
    assert!(
        closed.is_ok(),
        "stream 1 not closed: {:?} (frames seen: {:?})",
        closed,
        mux.seen
    );
    mux.open(3).await;
    mux.data(3, &frame(b'z', 2, b"{}")).await;
    assert!(
        mux.wait_stream_end(3, AT_ONCE).await.is_ok(),
        "unknown type"
    );
    mux.open(5).await;
    mux.data(5, &frame(b'o', 99_999, b"{}")).await;
    assert!(mux.wait_stream_end(5, AT_ONCE).await.is_ok(), "oversize");
    mux.open(7).await;
    mux.data(7, &login_frame(KEY)).await;
    let resp = mux.read_login_resp(7, AT_ONCE).await.unwrap_or_else(|e| {
        panic!(
            "the session no longer serves: {e} (frames seen: {:?})",
            mux.seen
        )
    });
    assert!(resp.error.is_empty() && !resp.run_id.is_empty(), "{resp:?}");
}

#[tokio::test]
async fn yamux_stream_whose_first_frame_is_garbage() {
    for mode in [Mode::Plain, Mode::Tls] {
        let bed = Bed::new(mode, 1, &[]).await;
        garbage_yamux_stream(&bed).await;
        // Garbage in the yamux framing itself ends the whole session at once.
        for (what, bytes) in [
            (
                "unknown yamux frame type",
                [0u8, 0x09, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0],
            ),
            (
                "Data frame longer than any window",
                Header::data(1, Flags::SYN, u32::MAX).encode(),
            ),
        ] {
            let mut s = bed.connect().await;
            s.write_all(&bytes).await.unwrap();
            let _ = s.write_all(&[0u8; 64]).await;
            closed_within(&mut s, AT_ONCE)
                .await
                .unwrap_or_else(|got| panic!("{mode:?} {what}: still open (got {got:?})"));
        }
        bed.assert_serves().await;
    }
}

/// Clients that stop talking are closed by frps's deadlines, and nobody else waits for them.
#[tokio::test]
async fn silent_and_stalled_plain_clients_are_closed_after_the_deadline() {
    let bed = Bed::new(Mode::Plain, 1, &[]).await;
    let start = Instant::now();
    let mut silent = TcpStream::connect(bed.frp()).await.unwrap();
    let mut stalled = TcpStream::connect(bed.frp()).await.unwrap();
    stalled.write_all(&[b'o', 0, 0, 0, 0]).await.unwrap();
    let mut stalled_body = TcpStream::connect(bed.frp()).await.unwrap();
    let login = login_frame(KEY);
    stalled_body.write_all(&login[..20]).await.unwrap();
    // A yamux session whose stream 1 never says anything: the stream is reset, the session
    // stays and can still log in.
    let mut mux = Mux::new(Box::new(TcpStream::connect(bed.frp()).await.unwrap()));
    mux.open(1).await;
    // Meanwhile harp serves everyone else.
    bed.login().await;
    assert!(
        start.elapsed() < AT_ONCE,
        "a login waited for stalled clients"
    );
    let bound = DEADLINE + MARGIN;
    let (a, b, c, d) = tokio::join!(
        closed_within(&mut silent, bound),
        closed_within(&mut stalled, bound),
        closed_within(&mut stalled_body, bound),
        mux.wait_stream_end(1, bound),
    );
    let a = a.expect("a silent client is closed").1;
    let b = b
        .expect("a client stalled inside a frame header is closed")
        .1;
    let c = c.expect("a client stalled inside a Login body is closed").1;
    d.expect("a silent yamux stream is closed");
    eprintln!(
        "silent {a:?}, stalled header {b:?}, stalled body {c:?}, silent stream {:?}",
        start.elapsed()
    );
    mux.open(3).await;
    mux.data(3, &login).await;
    let resp = mux.read_login_resp(3, AT_ONCE).await.unwrap();
    assert!(resp.error.is_empty() && !resp.run_id.is_empty(), "{resp:?}");
    bed.assert_serves().await;
}

#[tokio::test]
async fn silent_and_stalled_tls_clients_are_closed_after_the_deadline() {
    let bed = Bed::new(Mode::Tls, 1, &[]).await;
    let start = Instant::now();
    let mut silent = TcpStream::connect(bed.frp()).await.unwrap();
    let mut half_hello = TcpStream::connect(bed.frp()).await.unwrap();
    half_hello.write_all(HALF_CLIENT_HELLO).await.unwrap();
    let mut custom_only = TcpStream::connect(bed.frp()).await.unwrap();
    custom_only.write_all(&[0x17]).await.unwrap();
    let mut custom_half_hello = TcpStream::connect(bed.frp()).await.unwrap();
    custom_half_hello.write_all(&[0x17]).await.unwrap();
    custom_half_hello
        .write_all(HALF_CLIENT_HELLO)
        .await
        .unwrap();
    // TLS completed, then nothing inside it.
    let mut tls_silent = tls_connect(bed.frp(), &bed.certs().unwrap(), false)
        .await
        .unwrap();
    let tls_done = Instant::now();
    bed.login().await;
    assert!(
        start.elapsed() < AT_ONCE,
        "a login waited for stalled clients"
    );
    let bound = DEADLINE + MARGIN;
    let (a, b, c, d, e) = tokio::join!(
        closed_within(&mut silent, bound),
        closed_within(&mut half_hello, bound),
        closed_within(&mut custom_only, bound),
        closed_within(&mut custom_half_hello, bound),
        closed_within(&mut tls_silent, bound),
    );
    let a = a.expect("a silent client is closed").1;
    let b = b.expect("a client stopped mid-ClientHello is closed").1;
    let c = c.expect("a client that sent only 0x17 is closed").1;
    let d = d.expect("0x17 + half a ClientHello is closed").1;
    e.expect("a client silent after the TLS handshake is closed");
    eprintln!(
        "silent {a:?}, half hello {b:?}, 0x17 {c:?}, 0x17 + half hello {d:?}, silent in TLS {:?}",
        tls_done.elapsed()
    );
    bed.assert_serves().await;
}

#[tokio::test]
async fn plain_client_is_refused_when_tls_is_required() {
    let bed = Bed::new(Mode::Tls, 1, &[]).await;
    let login = login_frame(KEY);
    let mut with_mux = Header::window_update(1, Flags::SYN, FRP_WINDOW_DELTA)
        .encode()
        .to_vec();
    with_mux.extend_from_slice(&Header::data(1, Flags::NONE, login.len() as u32).encode());
    with_mux.extend_from_slice(&login);
    for (what, bytes) in [
        ("plain Login (tcpMux off)", login.clone()),
        ("plain yamux + Login (tcpMux on)", with_mux),
        ("HTTP", b"GET / HTTP/1.1\r\n\r\n".to_vec()),
    ] {
        let mut s = TcpStream::connect(bed.frp()).await.unwrap();
        let _ = s.write_all(&bytes).await;
        let (reply, _) = closed_within(&mut s, AT_ONCE)
            .await
            .unwrap_or_else(|got| panic!("{what}: not refused (got {got:?})"));
        assert!(reply.is_empty(), "{what}: harp answered {reply:?}");
    }
    // Garbage where the TLS records should be.
    for (what, bytes) in [
        (
            "0x16 + garbage",
            b"\x16garbage-not-a-tls-record..........".to_vec(),
        ),
        (
            "0x17 + garbage",
            b"\x17garbage-not-a-tls-record..........".to_vec(),
        ),
        ("0x17 0x17", b"\x17\x17\x03\x03\x00\x05hello".to_vec()),
    ] {
        let mut s = TcpStream::connect(bed.frp()).await.unwrap();
        let _ = s.write_all(&bytes).await;
        closed_within(&mut s, AT_ONCE)
            .await
            .unwrap_or_else(|got| panic!("{what}: still open (got {got:?})"));
    }
    // Inside TLS, bad frp is refused as on plain connections.
    for (what, bytes) in [
        ("garbage in TLS", b"GET / HTTP/1.1\r\n\r\n".to_vec()),
        ("oversize in TLS", frame(b'o', 10241, b"{}")),
        ("negative in TLS", frame(b'o', -5, b"{}")),
        ("Ping first in TLS", frame(b'h', 2, b"{}")),
    ] {
        let mut s = tls_connect(bed.frp(), &bed.certs().unwrap(), false)
            .await
            .unwrap();
        let _ = s.write_all(&bytes).await;
        let _ = s.flush().await;
        let (reply, _) = closed_within(&mut s, AT_ONCE)
            .await
            .unwrap_or_else(|got| panic!("{what}: still open (got {got:?})"));
        assert!(reply.is_empty(), "{what}: harp answered {reply:?}");
    }
    // A real frpc with TLS off.
    if let Some(bin) = require_frpc() {
        let config = bed.config(
            "plain.toml",
            &frpc_toml(
                bed.frp().port(),
                None,
                KEY,
                "",
                &unix_proxy(APP, bed.ports[0], &bed.socket),
            ),
        );
        let frpc = Frpc::start(&bin, &config);
        assert!(
            frpc.wait_for("connect to server error", Duration::from_secs(20))
                .await,
            "{}",
            frpc.log_text()
        );
        assert!(!frpc.log_text().contains("login to server success"));
        assert!(!frpc.log_text().contains("start proxy success"));
    }
    bed.assert_serves().await;
}

#[tokio::test]
async fn custom_first_byte_0x17_then_tls_works() {
    let bed = Bed::new(Mode::Tls, 1, &[]).await;
    let mut s = tls_connect(bed.frp(), &bed.certs().unwrap(), true)
        .await
        .expect("0x17 + TLS handshake");
    s.write_all(&login_frame(KEY)).await.unwrap();
    let resp = read_login_resp(&mut s, AT_ONCE).await.unwrap();
    assert!(resp.error.is_empty() && !resp.run_id.is_empty(), "{resp:?}");
    drop(s);
    let Some(bin) = require_frpc() else { return };
    let config = bed.config(
        "custom.toml",
        &frpc_toml(
            bed.frp().port(),
            bed.certs().as_deref(),
            KEY,
            "transport.tls.disableCustomTLSFirstByte = false\n",
            &unix_proxy(APP, bed.ports[0], &bed.socket),
        ),
    );
    let frpc = Frpc::start(&bin, &config);
    assert!(
        frpc.wait_for("start proxy success", Duration::from_secs(20))
            .await,
        "{}",
        frpc.log_text()
    );
    let r = get(bed.harp.addr, &format!("/exapps/{APP}/public"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.seen_header("ex-app-id").as_deref(), Some(APP));
}

#[tokio::test]
async fn new_work_conn_with_an_unknown_run_id_is_closed() {
    let Some(bin) = require_frpc() else { return };
    for mode in [Mode::Tls, Mode::Plain] {
        let bed = Bed::new(mode, 1, &[]).await;
        let frpc = bed.publish(&bin, "app.toml").await;
        let before = frpc.count("login to server success");
        for run_id in ["0123456789abcdef", "", "../../etc", &"x".repeat(5000)] {
            let work = frp_wire::encode(&Message::NewWorkConn(NewWorkConn {
                run_id: run_id.to_string(),
                ..Default::default()
            }))
            .unwrap();
            let mut s = bed.connect().await;
            s.write_all(&work).await.unwrap();
            let _ = s.flush().await;
            let (reply, _) = closed_within(&mut s, AT_ONCE)
                .await
                .unwrap_or_else(|got| panic!("{mode:?}: NewWorkConn not closed (got {got:?})"));
            assert!(reply.is_empty(), "{reply:?}");
            // The same on a yamux stream: the stream ends, the session stays.
            let mut mux = Mux::new(bed.connect().await);
            mux.open(1).await;
            mux.data(1, &work).await;
            mux.wait_stream_end(1, AT_ONCE)
                .await
                .unwrap_or_else(|e| panic!("{mode:?}: {e}"));
        }
        // Nothing else was affected: the real client still serves, without a reconnect.
        for _ in 0..5 {
            let r = get(bed.harp.addr, &format!("/exapps/{APP}/public"), &[]).await;
            assert_eq!(r.status, 200, "{}", r.text());
        }
        assert_eq!(frpc.count("login to server success"), before);
        bed.login().await;
    }
}

/// 100 connections at once, each abandoned in a different state; harp serves throughout,
/// closes every one of them by its deadline, and serves afterwards.
async fn abandon_a_hundred(bed: &Bed) {
    let start = Instant::now();
    let opened = (0..100).map(|i| async move {
        let mut s = TcpStream::connect(bed.frp()).await.unwrap();
        let bytes: &[u8] = match (bed.mode, i % 4) {
            (_, 0) => &[],
            (Mode::Tls, 1) => HALF_CLIENT_HELLO,
            (Mode::Tls, 2) => &[0x17],
            (Mode::Plain, 1) => &[b'o', 0, 0, 0],
            (Mode::Plain, 2) => &[b'o', 0, 0, 0, 0, 0, 0, 0, 40, b'{', b'"'],
            _ => return None, // connect and go away at once
        };
        s.write_all(bytes).await.unwrap();
        Some(s)
    });
    let mut held: Vec<TcpStream> = futures_util::future::join_all(opened)
        .await
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(held.len(), 75);
    // harp serves while they hang.
    let t = Instant::now();
    bed.login().await;
    assert!(t.elapsed() < AT_ONCE, "login took {:?}", t.elapsed());
    // Every abandoned connection is closed by the deadline.
    let bound = DEADLINE + MARGIN;
    let results =
        futures_util::future::join_all(held.iter_mut().map(|s| closed_within(s, bound))).await;
    let open = results.iter().filter(|r| r.is_err()).count();
    assert_eq!(open, 0, "{:?}: {open} connections still open", bed.mode);
    eprintln!(
        "{:?}: 100 abandoned connections closed within {:?}",
        bed.mode,
        start.elapsed()
    );
    drop(held);
    bed.assert_serves().await;
}

#[tokio::test]
async fn a_hundred_abandoned_connections() {
    let (tls, plain) = tokio::join!(Bed::new(Mode::Tls, 1, &[]), Bed::new(Mode::Plain, 1, &[]));
    tokio::join!(abandon_a_hundred(&tls), abandon_a_hundred(&plain));
}

#[tokio::test]
async fn port_outside_the_allowed_ports_is_refused() {
    let Some(bin) = require_frpc() else { return };
    let bed = Bed::new(Mode::Tls, 1, &[]).await;
    let outside = free_port();
    let frpc = Frpc::start(
        &bin,
        &bed.config(
            "out.toml",
            &bed.toml(&unix_proxy("outside", outside, &bed.socket)),
        ),
    );
    assert!(
        frpc.wait_for(
            "[outside] start error: port not allowed",
            Duration::from_secs(20)
        )
        .await,
        "{}",
        frpc.log_text()
    );
    assert!(TcpStream::connect(("127.0.0.1", outside)).await.is_err());
    // A privileged port too.
    drop(frpc);
    let frpc = Frpc::start(
        &bin,
        &bed.config("low.toml", &bed.toml(&unix_proxy("low", 22, &bed.socket))),
    );
    assert!(
        frpc.wait_for(
            "[low] start error: port not allowed",
            Duration::from_secs(20)
        )
        .await,
        "{}",
        frpc.log_text()
    );
    drop(frpc);
    bed.assert_serves().await;
}

#[tokio::test]
async fn same_remote_port_on_two_clients_is_refused() {
    let Some(bin) = require_frpc() else { return };
    let bed = Bed::new(Mode::Tls, 2, &[]).await;
    let port = bed.ports[1];
    let first = Frpc::start(
        &bin,
        &bed.config("a.toml", &bed.toml(&unix_proxy("first", port, &bed.socket))),
    );
    assert!(
        first
            .wait_for("[first] start proxy success", Duration::from_secs(20))
            .await,
        "{}",
        first.log_text()
    );
    let second = Frpc::start(
        &bin,
        &bed.config(
            "b.toml",
            &bed.toml(&unix_proxy("second", port, &bed.socket)),
        ),
    );
    assert!(
        second
            .wait_for(
                "[second] start error: port already used",
                Duration::from_secs(20)
            )
            .await,
        "{}",
        second.log_text()
    );
    assert!(
        TcpStream::connect(("127.0.0.1", port)).await.is_ok(),
        "the first keeps its port"
    );
    assert_eq!(
        bed.harp
            .state()
            .tunnels
            .registry
            .proxies()
            .iter()
            .filter(|(_, p)| p.port == port)
            .count(),
        1
    );
    bed.assert_serves().await;
}

#[tokio::test]
async fn same_proxy_name_on_two_clients_is_refused() {
    let Some(bin) = require_frpc() else { return };
    let bed = Bed::new(Mode::Tls, 3, &[]).await;
    let first = Frpc::start(
        &bin,
        &bed.config(
            "a.toml",
            &bed.toml(&unix_proxy("dup", bed.ports[1], &bed.socket)),
        ),
    );
    assert!(
        first
            .wait_for("[dup] start proxy success", Duration::from_secs(20))
            .await,
        "{}",
        first.log_text()
    );
    let second = Frpc::start(
        &bin,
        &bed.config(
            "b.toml",
            &bed.toml(&unix_proxy("dup", bed.ports[2], &bed.socket)),
        ),
    );
    assert!(
        second
            .wait_for(
                "[dup] start error: proxy [dup] already exists",
                Duration::from_secs(20)
            )
            .await,
        "{}",
        second.log_text()
    );
    assert!(!bed.harp.state().tunnels.registry.port_taken(bed.ports[2]));
    assert!(bed.harp.state().tunnels.registry.port_taken(bed.ports[1]));
    bed.assert_serves().await;
}

#[tokio::test]
async fn port_held_by_another_process_is_unavailable() {
    let Some(bin) = require_frpc() else { return };
    let bed = Bed::new(Mode::Tls, 2, &[]).await;
    let holder = std::net::TcpListener::bind(("127.0.0.1", bed.ports[1])).unwrap();
    let frpc = Frpc::start(
        &bin,
        &bed.config(
            "held.toml",
            &bed.toml(&unix_proxy("held", bed.ports[1], &bed.socket)),
        ),
    );
    assert!(
        frpc.wait_for(
            "[held] start error: port unavailable",
            Duration::from_secs(20)
        )
        .await,
        "{}",
        frpc.log_text()
    );
    assert!(
        bed.harp
            .state()
            .tunnels
            .registry
            .proxies()
            .iter()
            .all(|(n, _)| n != "held"),
        "a refused proxy holds nothing"
    );
    drop(frpc);
    drop(holder);
    bed.assert_serves().await;
}

#[tokio::test]
async fn a_second_proxy_on_one_client_exceeds_max_ports_per_client() {
    let Some(bin) = require_frpc() else { return };
    let bed = Bed::new(Mode::Tls, 3, &[]).await;
    let two = format!(
        "{}\n{}",
        unix_proxy("one", bed.ports[1], &bed.socket),
        unix_proxy("two", bed.ports[2], &bed.socket)
    );
    let frpc = Frpc::start(&bin, &bed.config("two.toml", &bed.toml(&two)));
    assert!(
        frpc.wait_for(
            "start error: exceed the max_ports_per_client",
            Duration::from_secs(20)
        )
        .await,
        "{}",
        frpc.log_text()
    );
    assert!(
        frpc.wait_for("start proxy success", Duration::from_secs(20))
            .await,
        "{}",
        frpc.log_text()
    );
    assert_eq!(frpc.count("start proxy success"), 1, "{}", frpc.log_text());
    let up = [bed.ports[1], bed.ports[2]]
        .iter()
        .filter(|p| std::net::TcpStream::connect(("127.0.0.1", **p)).is_ok())
        .count();
    assert_eq!(up, 1, "exactly one of the two ports is published");
    bed.assert_serves().await;
}

#[tokio::test]
async fn a_banned_address_cannot_log_in() {
    let Some(bin) = require_frpc() else { return };
    let bed = Bed::new(Mode::Tls, 1, &[("HP_BLACKLIST_COUNT", "2")]).await;
    let loopback: IpAddr = "127.0.0.1".parse().unwrap();
    let wrong = Frpc::start(
        &bin,
        &bed.config(
            "wrong.toml",
            &frpc_toml(
                bed.frp().port(),
                bed.certs().as_deref(),
                "wrong-key",
                "",
                &unix_proxy(APP, bed.ports[0], &bed.socket),
            ),
        ),
    );
    // frpc retries after 1 s: two refused logins.
    assert!(
        wrong
            .wait_for_count("connect to server error", 2, Duration::from_secs(20))
            .await,
        "{}",
        wrong.log_text()
    );
    drop(wrong);
    assert!(bed.harp.state().bans.is_banned(loopback));
    let right = Frpc::start(
        &bin,
        &bed.config(
            "right.toml",
            &frpc_toml(
                bed.frp().port(),
                bed.certs().as_deref(),
                KEY,
                "",
                &unix_proxy(APP, bed.ports[0], &bed.socket),
            ),
        ),
    );
    assert!(
        right
            .wait_for_count("connect to server error", 2, Duration::from_secs(20))
            .await,
        "{}",
        right.log_text()
    );
    assert!(
        !right.log_text().contains("login to server success"),
        "{}",
        right.log_text()
    );
    assert!(!right.log_text().contains("start proxy success"));
    assert!(!bed.harp.state().tunnels.registry.port_taken(bed.ports[0]));
    assert!(bed.harp.state().bans.is_banned(loopback));
    // One ban list: HTTP from the same address is dropped too.
    assert_dropped(bed.harp.addr, &format!("/exapps/{APP}/public"), &[]).await;
    drop(right);
    // Another address is not banned and still logs in.
    let other: IpAddr = "127.0.0.2".parse().unwrap();
    let mut s = tls_connect_from(other, bed.frp(), &bed.certs().unwrap(), false)
        .await
        .expect("TLS from 127.0.0.2");
    s.write_all(&login_frame(KEY)).await.unwrap();
    let resp = read_login_resp(&mut s, AT_ONCE).await.unwrap();
    assert!(resp.error.is_empty() && !resp.run_id.is_empty(), "{resp:?}");
    assert!(!bed.harp.state().bans.is_banned(other));
}

#[tokio::test]
async fn hostile_control_stream_after_login() {
    let bed = Bed::new(Mode::Plain, 3, &[]).await;
    // Ports outside u16 and types harp does not serve are refused like frps does.
    let mut c = Control::login(bed.connect().await).await;
    for port in [70000, -1, i64::from(u16::MAX) + 1] {
        let r = c.new_proxy(&format!("p{port}"), port).await;
        assert_eq!(r.error, "port not allowed", "remote_port {port}: {r:?}");
    }
    let r = c.new_proxy("mine", i64::from(bed.ports[1])).await;
    assert!(r.error.is_empty(), "{r:?}");
    assert_eq!(r.remote_addr, format!(":{}", bed.ports[1]));
    assert!(bed.harp.state().tunnels.registry.port_taken(bed.ports[1]));
    // Garbage inside the encrypted control stream ends that client, and releases its port.
    c.send_raw(&frame(b'p', 50_000, b"{}")).await;
    assert!(c.closed(AT_ONCE).await, "control stream not closed");
    let start = Instant::now();
    while bed.harp.state().tunnels.registry.port_taken(bed.ports[1]) {
        assert!(
            start.elapsed() < AT_ONCE,
            "the port of a dead client stays published"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for bytes in [
        b"\xff\xfe\xfdnot frp at all".to_vec(),
        frame(b'z', 2, b"{}"),
        frame(b'p', -1, b"{}"),
        frame(b'p', 6, b"{,,,,}"),
    ] {
        let mut c = Control::login(bed.connect().await).await;
        c.round_trip().await.unwrap();
        c.send_raw(&bytes).await;
        assert!(c.closed(AT_ONCE).await, "{bytes:?}: not closed");
    }
    bed.assert_serves().await;
}

/// frps handles `CloseProxy` only for the sender's own proxies (server/control.go
/// `CloseProxy` looks the name up in that control's own map); any other name is ignored.
/// Every ExApp holds the shared key and the shared client certificate, so without this check
/// one ExApp's frpc can take down another's tunnel (frpc sends CloseProxy when a proxy is
/// removed by a config reload, or when its health check fails).
#[tokio::test]
async fn close_proxy_for_another_clients_proxy_is_ignored() {
    let Some(bin) = require_frpc() else { return };
    let bed = Bed::new(Mode::Tls, 2, &[]).await;
    let _frpc = bed.publish(&bin, "app.toml").await;
    let mut other = Control::login(bed.connect().await).await;
    other
        .send(&Message::CloseProxy(frp_wire::CloseProxy {
            proxy_name: APP.to_string(),
        }))
        .await;
    other.round_trip().await.unwrap();
    assert!(
        bed.harp.state().tunnels.registry.port_taken(bed.ports[0]),
        "another client's CloseProxy closed {APP}'s listener"
    );
    let r = get(bed.harp.addr, &format!("/exapps/{APP}/public"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        bed.harp
            .state()
            .tunnels
            .registry
            .proxies()
            .iter()
            .any(|(n, _)| n == APP)
    );
}

/// frp-protocol §5.1: a login carrying the run id of a live session replaces that session
/// (its proxies are released); the real frpc then logs in again with the same run id, replaces
/// the intruder, publishes again and serves.
#[tokio::test]
async fn a_login_with_a_live_run_id_replaces_that_session() {
    let Some(bin) = require_frpc() else { return };
    let bed = Bed::new(Mode::Tls, 1, &[]).await;
    let frpc = bed.publish(&bin, "app.toml").await;
    let clients = bed.harp.state().tunnels.registry.clients();
    assert_eq!(clients.len(), 1);
    let run_id = clients[0].1.run_id.clone();
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let login = frp_wire::Login {
        version: "0.65.0".into(),
        privilege_key: frp_wire::privilege_key("", ts),
        timestamp: ts,
        run_id: run_id.clone(),
        metas: std::collections::BTreeMap::from([("token".to_string(), KEY.to_string())]),
        pool_count: 1,
        ..Default::default()
    };
    let mut intruder = bed.connect().await;
    intruder
        .write_all(&frp_wire::encode(&Message::Login(login)).unwrap())
        .await
        .unwrap();
    let resp = read_login_resp(&mut intruder, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(resp.run_id, run_id, "the run id is kept");
    // frpc lost its session, comes back with the same run id and publishes again.
    assert!(
        frpc.wait_for_count("start proxy success", 2, Duration::from_secs(30))
            .await,
        "{}",
        frpc.log_text()
    );
    let r = get(bed.harp.addr, &format!("/exapps/{APP}/public"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(bed.harp.state().tunnels.registry.clients().len(), 1);
}

/// Test-local helpers (the frpc runner and config shapes are in `common/frpc.rs`): a raw frp
/// login, a TLS client with HaRP's client certificate, a raw control connection, and a minimal
/// yamux client.
mod kit {
    use super::common::*;
    use super::frpc::*;
    use frp_wire::yamux::{FRP_WINDOW_DELTA, Flags, FrameType, Header};
    use frp_wire::{Login, LoginResp, Message};
    use harp_testkit::exapp::FakeExApp;
    use harp_testkit::nextcloud::FakeNextcloud;
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use std::collections::BTreeMap;
    use std::net::{IpAddr, SocketAddr};
    use std::path::{Path, PathBuf};
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
    use tokio::net::TcpStream;

    /// Any byte stream: plain TCP or TLS.
    pub trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
    impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Mode {
        /// `HP_FRP_DISABLE_TLS=true`.
        Plain,
        /// Mutual TLS with harp-generated certificates (HaRP's default).
        Tls,
    }

    /// harp with `n` allowed tunnel ports; `ports[0]` is where Nextcloud's record says the
    /// ExApp (on a unix socket, reached through frpc) lives.
    pub struct Bed {
        pub harp: TestHarp,
        pub dir: tempfile::TempDir,
        pub socket: PathBuf,
        _exapp: FakeExApp,
        pub ports: Vec<u16>,
        pub mode: Mode,
    }

    impl Bed {
        pub async fn new(mode: Mode, n: usize, extra: &[(&str, &str)]) -> Bed {
            let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
            let dir = tempfile::tempdir().unwrap();
            let socket = dir.path().join("exapp.sock");
            let exapp = FakeExApp::start_unix(&socket).unwrap();
            let nc = FakeNextcloud::start(KEY).await.unwrap();
            nc.add_app(APP, skeleton_record(ports[0]));
            let unused = FakeExApp::start().await.unwrap();
            let allowed = ports
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(",");
            let mut env: Vec<(&str, &str)> = vec![("HP_FRP_ALLOW_PORTS", &allowed)];
            if mode == Mode::Plain {
                env.push(("HP_FRP_DISABLE_TLS", "true"));
            }
            env.extend_from_slice(extra);
            let harp = start_with(nc, unused, &env).await;
            Bed {
                harp,
                dir,
                socket,
                _exapp: exapp,
                ports,
                mode,
            }
        }

        pub fn frp(&self) -> SocketAddr {
            self.harp.running.as_ref().unwrap().frp_addr
        }

        pub fn certs(&self) -> Option<PathBuf> {
            (self.mode == Mode::Tls).then(|| self.harp.certs.path().join("frp"))
        }

        pub fn config(&self, name: &str, toml: &str) -> PathBuf {
            let path = self.dir.path().join(name);
            std::fs::write(&path, toml).unwrap();
            path
        }

        /// An frpc config for this bed (its TLS mode, the right token) with `proxy`.
        pub fn toml(&self, proxy: &str) -> String {
            frpc_toml(self.frp().port(), self.certs().as_deref(), KEY, "", proxy)
        }

        /// A fresh connection, TLS (with HaRP's client certificate) when the bed uses it.
        pub async fn connect(&self) -> Box<dyn Io> {
            match self.certs() {
                Some(certs) => Box::new(tls_connect(self.frp(), &certs, false).await.unwrap()),
                None => Box::new(TcpStream::connect(self.frp()).await.unwrap()),
            }
        }

        /// A valid login exchange on a fresh connection gets a run id at once.
        pub async fn login(&self) {
            let start = Instant::now();
            let mut s = self.connect().await;
            s.write_all(&login_frame(KEY)).await.unwrap();
            s.flush().await.unwrap();
            let resp = read_login_resp(&mut s, Duration::from_secs(5))
                .await
                .unwrap_or_else(|e| panic!("{:?}: login exchange failed: {e}", self.mode));
            assert!(
                resp.error.is_empty() && resp.run_id.len() == 16,
                "{:?}: {resp:?}",
                self.mode
            );
            assert!(start.elapsed() < Duration::from_secs(5));
        }

        /// A real frpc publishes the ExApp on `ports[0]`, and a request through
        /// `/exapps/<appid>/` reaches it.
        pub async fn publish(&self, bin: &Path, name: &str) -> Frpc {
            let config = self.config(
                name,
                &self.toml(&unix_proxy(APP, self.ports[0], &self.socket)),
            );
            let frpc = Frpc::start(bin, &config);
            assert!(
                frpc.wait_for(
                    &format!("[{APP}] start proxy success"),
                    Duration::from_secs(20)
                )
                .await,
                "{:?}: frpc did not publish:\n{}",
                self.mode,
                frpc.log_text()
            );
            let r = get(self.harp.addr, &format!("/exapps/{APP}/public"), &[]).await;
            assert_eq!(r.status, 200, "{}", r.text());
            assert_eq!(r.seen_header("ex-app-id").as_deref(), Some(APP));
            frpc
        }

        /// harp still serves: a login exchange, then (with frpc installed) a real publish and a
        /// request through the tunnel.
        pub async fn assert_serves(&self) {
            self.login().await;
            if let Some(bin) = require_frpc() {
                drop(self.publish(&bin, "serves.toml").await);
            }
        }
    }

    /// A Login as frpc 0.65.0 sends it (no auth.token, HaRP's `metadatas.token`).
    pub fn login_frame(token: &str) -> Vec<u8> {
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let login = Login {
            version: "0.65.0".into(),
            os: "linux".into(),
            arch: "amd64".into(),
            privilege_key: frp_wire::privilege_key("", ts),
            timestamp: ts,
            metas: BTreeMap::from([("token".to_string(), token.to_string())]),
            pool_count: 1,
            ..Default::default()
        };
        frp_wire::encode(&Message::Login(login)).unwrap()
    }

    /// Reads one clear-text frp message that must be a LoginResp.
    pub async fn read_login_resp<S: AsyncRead + Unpin + ?Sized>(
        s: &mut S,
        within: Duration,
    ) -> Result<LoginResp, String> {
        let deadline = tokio::time::Instant::now() + within;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            if let Some((msg, _)) = frp_wire::decode(&buf).map_err(|e| e.to_string())? {
                return match msg {
                    Message::LoginResp(r) => Ok(r),
                    other => Err(format!("expected LoginResp, got {other:?}")),
                };
            }
            match tokio::time::timeout_at(deadline, s.read(&mut chunk)).await {
                Err(_) => return Err(format!("no LoginResp within {within:?}")),
                Ok(Ok(0)) => return Err(format!("closed after {buf:?}")),
                Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
                Ok(Err(e)) => return Err(e.to_string()),
            }
        }
    }

    /// Reads until the peer closes (EOF or reset). `Ok((bytes, elapsed))` when it closed
    /// within `within`, `Err(bytes)` when it was still open.
    pub async fn closed_within<S: AsyncRead + Unpin + ?Sized>(
        s: &mut S,
        within: Duration,
    ) -> Result<(Vec<u8>, Duration), Vec<u8>> {
        let start = Instant::now();
        let deadline = tokio::time::Instant::now() + within;
        let mut out = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            match tokio::time::timeout_at(deadline, s.read(&mut chunk)).await {
                Err(_) => return Err(out),
                Ok(Ok(0)) | Ok(Err(_)) => return Ok((out, start.elapsed())),
                Ok(Ok(n)) => out.extend_from_slice(&chunk[..n]),
            }
        }
    }

    fn tls_connector(certs: &Path) -> tokio_rustls::TlsConnector {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for ca in CertificateDer::pem_file_iter(certs.join("ca.crt")).unwrap() {
            roots.add(ca.unwrap()).unwrap();
        }
        let chain: Vec<_> = CertificateDer::pem_file_iter(certs.join("client.crt"))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(certs.join("client.key")).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .unwrap();
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }

    async fn tls_over(
        mut tcp: TcpStream,
        certs: &Path,
        custom_byte: bool,
    ) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        if custom_byte {
            tcp.write_all(&[0x17]).await?;
        }
        let name = ServerName::try_from("harp.nc").unwrap();
        tokio::time::timeout(
            Duration::from_secs(5),
            tls_connector(certs).connect(name, tcp),
        )
        .await
        .map_err(|_| std::io::Error::other("TLS handshake timed out"))?
    }

    /// A mutual-TLS connection as frpc makes it (optionally with frp's 0x17 first byte).
    pub async fn tls_connect(
        addr: SocketAddr,
        certs: &Path,
        custom_byte: bool,
    ) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        tls_over(TcpStream::connect(addr).await?, certs, custom_byte).await
    }

    /// The same from another loopback source address.
    pub async fn tls_connect_from(
        source: IpAddr,
        addr: SocketAddr,
        certs: &Path,
        custom_byte: bool,
    ) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(source, 0))?;
        tls_over(socket.connect(addr).await?, certs, custom_byte).await
    }

    /// A logged-in control connection without yamux (frpc's `transport.tcpMux = false`):
    /// clear-text Login/LoginResp, then AES-128-CFB both ways (frp-protocol §4).
    pub struct Control {
        io: Box<dyn Io>,
        /// Decrypted bytes not yet consumed.
        plain: Vec<u8>,
        dec: frp_wire::Decryptor,
        enc: frp_wire::Encryptor,
    }

    impl Control {
        pub async fn login(mut io: Box<dyn Io>) -> Control {
            io.write_all(&login_frame(KEY)).await.unwrap();
            io.flush().await.unwrap();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let (resp, used) = loop {
                if let Some((Message::LoginResp(r), used)) = frp_wire::decode(&buf).unwrap() {
                    break (r, used);
                }
                let n = tokio::time::timeout_at(deadline, io.read(&mut chunk))
                    .await
                    .expect("LoginResp in time")
                    .unwrap();
                assert!(n > 0, "closed before LoginResp");
                buf.extend_from_slice(&chunk[..n]);
            };
            assert!(resp.error.is_empty(), "{resp:?}");
            let key = frp_wire::Key::derive("");
            let mut dec = frp_wire::Decryptor::new(&key);
            let mut rest = buf.split_off(used);
            let plain = dec.feed(&mut rest).to_vec();
            Control {
                io,
                plain,
                dec,
                enc: frp_wire::Encryptor::new_random(&key).unwrap(),
            }
        }

        /// Encrypts and sends arbitrary plaintext bytes.
        pub async fn send_raw(&mut self, plaintext: &[u8]) {
            let mut out = Vec::new();
            self.enc.encrypt_to(plaintext, &mut out);
            let _ = self.io.write_all(&out).await;
            let _ = self.io.flush().await;
        }

        pub async fn send(&mut self, msg: &Message) {
            self.send_raw(&frp_wire::encode(msg).unwrap()).await;
        }

        /// The next message; `Ok(None)` when harp closed the connection.
        pub async fn recv(&mut self, within: Duration) -> Result<Option<Message>, String> {
            let deadline = tokio::time::Instant::now() + within;
            let mut chunk = [0u8; 4096];
            loop {
                if let Some((msg, used)) =
                    frp_wire::decode(&self.plain).map_err(|e| e.to_string())?
                {
                    self.plain.drain(..used);
                    return Ok(Some(msg));
                }
                match tokio::time::timeout_at(deadline, self.io.read(&mut chunk)).await {
                    Err(_) => return Err(format!("nothing within {within:?}")),
                    Ok(Ok(0)) | Ok(Err(_)) => return Ok(None),
                    Ok(Ok(n)) => {
                        let plain = self.dec.feed(&mut chunk[..n]).to_vec();
                        self.plain.extend_from_slice(&plain);
                    }
                }
            }
        }

        /// Skips ReqWorkConn (and anything else) until `pick` accepts a message.
        pub async fn recv_until<T>(
            &mut self,
            within: Duration,
            mut pick: impl FnMut(Message) -> Option<T>,
        ) -> Result<T, String> {
            let deadline = Instant::now() + within;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match self.recv(left).await? {
                    Some(msg) => {
                        if let Some(t) = pick(msg) {
                            return Ok(t);
                        }
                    }
                    None => return Err("closed".into()),
                }
            }
        }

        /// Whether harp closes the connection within `within` (messages before are skipped).
        pub async fn closed(&mut self, within: Duration) -> bool {
            let deadline = Instant::now() + within;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match self.recv(left).await {
                    Ok(Some(_)) => {}
                    Ok(None) => return true,
                    Err(_) => return false,
                }
            }
        }

        /// Registers a tcp proxy and returns harp's answer.
        pub async fn new_proxy(&mut self, name: &str, port: i64) -> frp_wire::NewProxyResp {
            self.send(&Message::NewProxy(frp_wire::NewProxy {
                proxy_name: name.to_string(),
                proxy_type: "tcp".to_string(),
                remote_port: port,
                ..Default::default()
            }))
            .await;
            self.recv_until(Duration::from_secs(5), |m| match m {
                Message::NewProxyResp(r) => Some(r),
                _ => None,
            })
            .await
            .unwrap()
        }

        /// A Ping answered by a Pong: everything sent before it was handled.
        pub async fn round_trip(&mut self) -> Result<(), String> {
            self.send(&Message::Ping(frp_wire::Ping::default())).await;
            self.recv_until(Duration::from_secs(5), |m| {
                matches!(m, Message::Pong(_)).then_some(())
            })
            .await
        }
    }

    /// A minimal yamux client (frpc's side): opens streams, sends data, reads frames.
    pub struct Mux {
        io: Box<dyn Io>,
        buf: Vec<u8>,
        /// Every frame header received, for failure messages.
        pub seen: Vec<Header>,
        /// Data received per stream.
        data: BTreeMap<u32, Vec<u8>>,
        /// Streams the server ended (FIN or RST).
        ended: Vec<u32>,
        closed: bool,
    }

    impl Mux {
        pub fn new(io: Box<dyn Io>) -> Mux {
            Mux {
                io,
                buf: Vec::new(),
                seen: Vec::new(),
                data: BTreeMap::new(),
                ended: Vec::new(),
                closed: false,
            }
        }

        /// Opens stream `id` (a WindowUpdate SYN with frp's window grant; frpc sends its first
        /// message with the SYN; the session's version byte is the header's first byte).
        pub async fn open(&mut self, id: u32) {
            let h = Header::window_update(id, Flags::SYN, FRP_WINDOW_DELTA).encode();
            self.io.write_all(&h).await.unwrap();
        }

        pub async fn data(&mut self, id: u32, payload: &[u8]) {
            let mut out = Header::data(id, Flags::NONE, payload.len() as u32)
                .encode()
                .to_vec();
            out.extend_from_slice(payload);
            self.io.write_all(&out).await.unwrap();
            self.io.flush().await.unwrap();
        }

        /// Reads one frame into the state; `false` once the connection is gone.
        async fn pump(&mut self, deadline: tokio::time::Instant) -> Result<bool, String> {
            loop {
                if let Some(h) = Header::parse(&self.buf).map_err(|e| format!("{e:?}"))? {
                    let payload = if h.typ == FrameType::Data {
                        h.length as usize
                    } else {
                        0
                    };
                    if self.buf.len() >= 12 + payload {
                        let body: Vec<u8> = self.buf.drain(..12 + payload).skip(12).collect();
                        self.seen.push(h);
                        match h.typ {
                            FrameType::Ping if h.flags.contains(Flags::SYN) => {
                                let ack = Header::ping(Flags::ACK, h.length).encode();
                                let _ = self.io.write_all(&ack).await;
                            }
                            FrameType::GoAway => self.closed = true,
                            _ => {}
                        }
                        if h.typ == FrameType::Data {
                            self.data.entry(h.stream_id).or_default().extend(body);
                        }
                        if h.flags.contains(Flags::FIN) || h.flags.contains(Flags::RST) {
                            self.ended.push(h.stream_id);
                        }
                        return Ok(true);
                    }
                }
                if self.closed {
                    return Ok(false);
                }
                let mut chunk = [0u8; 8192];
                match tokio::time::timeout_at(deadline, self.io.read(&mut chunk)).await {
                    Err(_) => return Err("timed out".into()),
                    Ok(Ok(0)) | Ok(Err(_)) => {
                        self.closed = true;
                        return Ok(false);
                    }
                    Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
                }
            }
        }

        /// Waits until the server ends stream `id` with FIN or RST while the session lives.
        pub async fn wait_stream_end(&mut self, id: u32, within: Duration) -> Result<(), String> {
            let deadline = tokio::time::Instant::now() + within;
            loop {
                if self.ended.contains(&id) {
                    return Ok(());
                }
                if !self.pump(deadline).await? {
                    return Err(format!(
                        "the whole session was closed instead of stream {id}"
                    ));
                }
            }
        }

        /// Reads the LoginResp that arrives on stream `id`.
        pub async fn read_login_resp(
            &mut self,
            id: u32,
            within: Duration,
        ) -> Result<LoginResp, String> {
            let deadline = tokio::time::Instant::now() + within;
            loop {
                if let Some(bytes) = self.data.get(&id)
                    && let Some((msg, _)) = frp_wire::decode(bytes).map_err(|e| e.to_string())?
                {
                    return match msg {
                        Message::LoginResp(r) => Ok(r),
                        other => Err(format!("expected LoginResp, got {other:?}")),
                    };
                }
                if self.ended.contains(&id) {
                    return Err(format!("stream {id} ended without a LoginResp"));
                }
                if !self.pump(deadline).await? {
                    return Err("session closed".into());
                }
            }
        }
    }
}
