//! Hostile input for the frame decoder: bad lengths, bad types, bad JSON, random bytes.

use super::*;
use crate::msg::{NewProxyResp, Pong};

fn header(typ: u8, len: i64) -> Vec<u8> {
    let mut h = vec![typ];
    h.extend_from_slice(&len.to_be_bytes());
    h
}

#[test]
fn bad_lengths_are_errors_as_soon_as_the_header_is_complete() {
    let cases: &[(i64, &str)] = &[
        (10241, "one over the limit"),
        (i64::MAX, "i64::MAX"),
        (1 << 32, "2^32"),
        (-1, "minus one"),
        (i64::MIN, "i64::MIN"),
    ];
    for &(len, name) in cases {
        let err = decode(&header(b'p', len)).unwrap_err();
        match err {
            WireError::TooLarge(n) => assert!(len > 0 && n == len as u64, "{name}"),
            WireError::NegativeLength(n) => assert!(len < 0 && n == len, "{name}"),
            other => panic!("{name}: {other}"),
        }
        assert!(frame_len(&header(b'p', len)).is_err(), "{name}");
    }
}

#[test]
fn bad_type_bytes_are_errors_from_the_first_byte() {
    let cases: &[(u8, bool)] = &[
        (0x00, false), // a yamux header fed to the frp decoder
        (0x16, false), // a TLS record
        (0x17, false), // frp's custom TLS byte
        (b'G', false), // "GET /~!frp"
        (0xff, false),
        (b'u', true), // UDPPacket
        (b'5', true), // NatHoleSid
    ];
    for &(byte, known) in cases {
        match (decode(&[byte]).unwrap_err(), known) {
            (WireError::UnknownType(b), false) | (WireError::UnsupportedType(b), true) => {
                assert_eq!(b, byte)
            }
            (other, _) => panic!("0x{byte:02x}: {other}"),
        }
    }
}

#[test]
fn bad_json_bodies_are_errors() {
    let bodies: &[&[u8]] = &[
        b"",
        b"{",
        b"{}}",
        b"null",
        b"\"str\"",
        b"{\"proxy_name\":\"\xff\"}",
        br#"{"proxy_name":1}"#,
        br#"{"proxy_name":"a","proxy_name":"b"}"#,
        &[b'['; 200],
    ];
    for body in bodies {
        let mut wire = header(b'2', body.len() as i64);
        wire.extend_from_slice(body);
        match decode(&wire) {
            Err(WireError::Json {
                typ: "NewProxyResp",
                ..
            }) => {}
            other => panic!("{}: {other:?}", String::from_utf8_lossy(body)),
        }
    }
}

#[test]
fn body_of_exactly_the_limit_is_accepted() {
    let mut body = b"{}".to_vec();
    body.resize(MAX_BODY_LEN, b' ');
    let mut wire = header(b'4', MAX_BODY_LEN as i64);
    wire.extend_from_slice(&body);
    assert_eq!(
        decode(&wire).unwrap(),
        Some((Pong::default().into(), MAX_FRAME_LEN))
    );
    assert!(decode_body(crate::msg::MsgType::Pong, &[b' '; MAX_BODY_LEN + 1]).is_err());
}

#[test]
fn encoding_a_body_over_the_limit_fails() {
    let big = NewProxyResp {
        error: "x".repeat(MAX_BODY_LEN),
        ..Default::default()
    };
    let mut out = vec![1, 2, 3];
    assert!(matches!(encode_into(&big.into(), &mut out), Err(WireError::TooLarge(n)) if n > 10240));
    assert_eq!(out, [1, 2, 3], "output untouched on error");
}

#[test]
fn a_body_at_the_limit_can_grow_past_it_when_re_encoded() {
    // Go escapes `<` as `\u003c`, so a peer's 10240-byte body full of `<` decodes fine but
    // cannot be echoed back in one frame.
    let mut body = br#"{"error":""#.to_vec();
    body.resize(MAX_BODY_LEN - 2, b'<');
    body.extend_from_slice(br#""}"#);
    let mut wire = header(b'4', body.len() as i64);
    wire.extend_from_slice(&body);
    let (msg, _) = decode(&wire).unwrap().unwrap();
    assert!(matches!(encode(&msg), Err(WireError::TooLarge(n)) if n > 50_000));
}

/// xorshift64*: a seeded, dependency-free generator so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Whatever decodes must re-encode to a frame that decodes to the same message. Returns
/// whether `input` decoded, so the tests can show they reach the JSON layer.
fn check(input: &[u8]) -> bool {
    let Ok(Some((msg, used))) = decode(input) else {
        return false;
    };
    assert!(used <= input.len() && used <= MAX_FRAME_LEN);
    match encode(&msg) {
        Ok(again) => assert_eq!(decode(&again).unwrap(), Some((msg, again.len()))),
        Err(e) => assert!(matches!(e, WireError::TooLarge(_)), "{e}"),
    }
    true
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let typs = b"o1p2cwrsv3h4uinm56\x00\xff";
    for _ in 0..20_000 {
        let len = rng.below(64);
        let mut buf: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if let Some(first) = buf.first_mut() {
            *first = typs[rng.below(typs.len())];
        }
        let _ = check(&buf);
    }
}

#[test]
fn mutated_valid_frames_never_panic() {
    let seeds: &[(u8, &str)] = &[
        (
            b'o',
            r#"{"version":"0.65.0","os":"linux","privilege_key":"7d6e","timestamp":1795874208,"metas":{"token":"k"},"client_spec":{},"pool_count":1}"#,
        ),
        (
            b'p',
            r#"{"proxy_name":"a","proxy_type":"tcp","remote_port":23777,"custom_domains":["x"],"headers":{"a":"b"}}"#,
        ),
        (
            b's',
            r#"{"proxy_name":"a","src_addr":"::1","dst_addr":"127.0.0.1","src_port":1,"dst_port":2}"#,
        ),
    ];
    let mut rng = Rng(42);
    let mut decoded = 0;
    for round in 0..30_000 {
        let (typ, body) = seeds[round % seeds.len()];
        let mut body = body.as_bytes().to_vec();
        for _ in 0..=rng.below(3) {
            let i = rng.below(body.len() + 1);
            match rng.below(4) {
                0 if i < body.len() => body[i] = rng.next() as u8,
                1 if i < body.len() => drop(body.remove(i)),
                2 => body.truncate(i),
                _ => body.insert(i, b"{}[]\":,0-en\\"[rng.below(12)]),
            }
        }
        // Mostly a correct length (to reach the JSON parser), sometimes a wrong one.
        let len = match rng.below(8) {
            0 => rng.next() as i64,
            1 => body.len() as i64 + 1 - rng.below(3) as i64,
            _ => body.len() as i64,
        };
        let mut wire = header(typ, len);
        wire.extend_from_slice(&body);
        decoded += usize::from(check(&wire));
    }
    assert!(decoded > 1_000, "only {decoded} mutants decoded");
}
