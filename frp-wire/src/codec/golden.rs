//! Golden frames captured from frp 0.65.0 (frp-protocol.md §2.3, §7): decode each one, and
//! re-encode the decoded message byte for byte.

use super::*;
use crate::msg::*;

/// `type byte ‖ i64 BE length ‖ body`, built by hand so the test does not trust `encode`.
fn frame(typ: u8, body: &str) -> Vec<u8> {
    let mut f = vec![typ];
    f.extend_from_slice(&(body.len() as i64).to_be_bytes());
    f.extend_from_slice(body.as_bytes());
    f
}

const LOGIN_71: &str = r#"{"version":"0.65.0","os":"linux","arch":"amd64","privilege_key":"7d6eebab90dfe14892c986e9d2799ed7","timestamp":1795874208,"metas":{"token":"sharedkey"},"client_spec":{},"pool_count":1}"#;

fn golden() -> Vec<(&'static str, u8, &'static str, Message)> {
    let s = String::from;
    vec![
        (
            "7.1 Login, HaRP style (no auth.token, metas.token)",
            b'o',
            LOGIN_71,
            Message::Login(Login {
                version: s("0.65.0"),
                os: s("linux"),
                arch: s("amd64"),
                privilege_key: s("7d6eebab90dfe14892c986e9d2799ed7"),
                timestamp: 1795874208,
                metas: [(s("token"), s("sharedkey"))].into(),
                pool_count: 1,
                ..Login::default()
            }),
        ),
        (
            "7.5 Login with auth.token tok123",
            b'o',
            r#"{"version":"0.65.0","os":"linux","arch":"amd64","privilege_key":"ebf832799f3d8b3a87659e555bd8fcb8","timestamp":1795874308,"client_spec":{},"pool_count":1}"#,
            Message::Login(Login {
                version: s("0.65.0"),
                os: s("linux"),
                arch: s("amd64"),
                privilege_key: s("ebf832799f3d8b3a87659e555bd8fcb8"),
                timestamp: 1795874308,
                pool_count: 1,
                ..Login::default()
            }),
        ),
        (
            "7.2 LoginResp success",
            b'1',
            r#"{"version":"0.65.0","run_id":"bd730ca1f9f6bfe9"}"#,
            Message::LoginResp(LoginResp {
                version: s("0.65.0"),
                run_id: s("bd730ca1f9f6bfe9"),
                error: s(""),
            }),
        ),
        (
            "3.3 LoginResp failure, no run_id",
            b'1',
            r#"{"version":"0.65.0","error":"bad shared key"}"#,
            Message::LoginResp(LoginResp {
                version: s("0.65.0"),
                error: s("bad shared key"),
                ..LoginResp::default()
            }),
        ),
        (
            "7.2 ReqWorkConn",
            b'r',
            "{}",
            Message::ReqWorkConn(ReqWorkConn {}),
        ),
        (
            "7.2 NewProxy tcp",
            b'p',
            r#"{"proxy_name":"test_app","proxy_type":"tcp","remote_port":23777}"#,
            Message::NewProxy(NewProxy {
                proxy_name: s("test_app"),
                proxy_type: s("tcp"),
                remote_port: 23777,
                ..NewProxy::default()
            }),
        ),
        (
            "2.3 NewProxy with use_encryption",
            b'p',
            r#"{"proxy_name":"test_app","proxy_type":"tcp","use_encryption":true,"remote_port":23777}"#,
            Message::NewProxy(NewProxy {
                proxy_name: s("test_app"),
                proxy_type: s("tcp"),
                use_encryption: true,
                remote_port: 23777,
                ..NewProxy::default()
            }),
        ),
        (
            "5.2 NewProxyResp",
            b'2',
            r#"{"proxy_name":"test_app","remote_addr":":23777"}"#,
            Message::NewProxyResp(NewProxyResp {
                proxy_name: s("test_app"),
                remote_addr: s(":23777"),
                ..NewProxyResp::default()
            }),
        ),
        (
            "7.3 NewWorkConn",
            b'w',
            r#"{"run_id":"bd730ca1f9f6bfe9"}"#,
            Message::NewWorkConn(NewWorkConn {
                run_id: s("bd730ca1f9f6bfe9"),
                ..NewWorkConn::default()
            }),
        ),
        (
            "7.5 NewWorkConn with the NewWorkConns scope",
            b'w',
            r#"{"run_id":"506deea943459d0e","privilege_key":"395cb091cd12042bf4c4046e43a37ec0","timestamp":1795874313}"#,
            Message::NewWorkConn(NewWorkConn {
                run_id: s("506deea943459d0e"),
                privilege_key: s("395cb091cd12042bf4c4046e43a37ec0"),
                timestamp: 1795874313,
            }),
        ),
        (
            "7.3 StartWorkConn",
            b's',
            r#"{"proxy_name":"test_app","src_addr":"127.0.0.1","dst_addr":"127.0.0.1","src_port":34618,"dst_port":23777}"#,
            Message::StartWorkConn(StartWorkConn {
                proxy_name: s("test_app"),
                src_addr: s("127.0.0.1"),
                dst_addr: s("127.0.0.1"),
                src_port: 34618,
                dst_port: 23777,
                ..StartWorkConn::default()
            }),
        ),
        (
            "5.6 CloseProxy",
            b'c',
            r#"{"proxy_name":"test_app"}"#,
            Message::CloseProxy(CloseProxy {
                proxy_name: s("test_app"),
            }),
        ),
        (
            "5.4 Ping without scope",
            b'h',
            "{}",
            Message::Ping(Ping::default()),
        ),
        ("5.4 Pong", b'4', "{}", Message::Pong(Pong::default())),
        (
            "3.4 Pong with error",
            b'4',
            r#"{"error":"token in heartbeat doesn't match token from configuration"}"#,
            Message::Pong(Pong {
                error: s("token in heartbeat doesn't match token from configuration"),
            }),
        ),
    ]
}

#[test]
fn golden_frames_decode_and_reencode_byte_identically() {
    for (name, typ, body, want) in golden() {
        let wire = frame(typ, body);
        let (got, used) = decode(&wire)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .expect(name);
        assert_eq!(got, want, "{name}");
        assert_eq!(used, wire.len(), "{name}");
        assert_eq!(encode(&want).unwrap(), wire, "{name}");
    }
}

#[test]
fn login_frame_of_7_1_has_the_captured_size() {
    let wire = encode(&decode(&frame(b'o', LOGIN_71)).unwrap().unwrap().0).unwrap();
    assert_eq!(wire.len(), 193);
    assert_eq!(wire[..9], [0x6f, 0, 0, 0, 0, 0, 0, 0, 0xb8]);
    assert_eq!(wire[9..], *LOGIN_71.as_bytes());
}

#[test]
fn captured_headers_are_exact() {
    let resp = encode(
        &LoginResp {
            version: "0.65.0".into(),
            run_id: "bd730ca1f9f6bfe9".into(),
            ..Default::default()
        }
        .into(),
    )
    .unwrap();
    assert_eq!(resp[..9], [0x31, 0, 0, 0, 0, 0, 0, 0, 0x30]);
    let req = encode(&ReqWorkConn {}.into()).unwrap();
    assert_eq!(req, [0x72, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x7b, 0x7d]);
    let work = encode(
        &NewWorkConn {
            run_id: "bd730ca1f9f6bfe9".into(),
            ..Default::default()
        }
        .into(),
    )
    .unwrap();
    assert_eq!(work[..9], [0x77, 0, 0, 0, 0, 0, 0, 0, 0x1d]);
    assert_eq!(work.len(), 0x26, "yamux Data length in 7.3");
}

#[test]
fn decode_stops_exactly_at_the_end_of_each_message() {
    // LoginResp, then the server's IV and ciphertext in the same read (§8 trap 3).
    let mut wire = frame(b'1', r#"{"version":"0.65.0","run_id":"bd730ca1f9f6bfe9"}"#);
    let end = wire.len();
    wire.extend_from_slice(&[0x6e, 0xff, 0x21, 0xef, 0x5a, 0xe2, 0xa9, 0x15, 0x05]);
    let (msg, used) = decode(&wire).unwrap().unwrap();
    assert_eq!(used, end);
    assert_eq!(msg.msg_type(), MsgType::LoginResp);
    assert_eq!(frame_len(&wire).unwrap(), Some(end));
}

#[test]
fn every_strict_prefix_needs_more_bytes() {
    for (name, typ, body, _) in golden() {
        let wire = frame(typ, body);
        for cut in 0..wire.len() {
            assert!(
                decode(&wire[..cut]).unwrap().is_none(),
                "{name} cut at {cut}"
            );
        }
    }
}

#[test]
fn go_html_escaping_is_reproduced() {
    let msg = Message::NewProxyResp(NewProxyResp {
        proxy_name: "a<b>&c".into(),
        error: "x".into(),
        ..Default::default()
    });
    let wire = encode(&msg).unwrap();
    assert_eq!(
        wire[9..],
        *br#"{"proxy_name":"a\u003cb\u003e\u0026c","error":"x"}"#
    );
    assert_eq!(decode(&wire).unwrap().unwrap().0, msg);
}

#[test]
fn maps_encode_in_sorted_key_order_like_go() {
    let login = Login {
        metas: [("z".into(), "1".into()), ("a".into(), "2".into())].into(),
        ..Login::default()
    };
    let json = Message::Login(login).to_json().unwrap();
    assert_eq!(json, br#"{"metas":{"a":"2","z":"1"},"client_spec":{}}"#);
}
