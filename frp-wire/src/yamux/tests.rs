//! Headers captured in frp-protocol.md §7.1–7.3, and hostile headers.

use super::*;

#[test]
fn constants() {
    assert_eq!(FRP_WINDOW_DELTA, 6_029_312);
    assert_eq!(FRP_WINDOW_DELTA, 0x005c_0000);
}

#[test]
fn captured_headers() {
    let syn_ack = Flags::SYN | Flags::ACK;
    let cases: &[(&str, [u8; 12], Header)] = &[
        (
            "7.1 SYN stream 1",
            [0, 1, 0, 1, 0, 0, 0, 1, 0, 0x5c, 0, 0],
            Header::window_update(1, Flags::SYN, FRP_WINDOW_DELTA),
        ),
        (
            "7.1 Data stream 1, Login",
            [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0xc1],
            Header::data(1, Flags::NONE, 193),
        ),
        (
            "7.2 ACK stream 1",
            [0, 1, 0, 2, 0, 0, 0, 1, 0, 0x5c, 0, 0],
            Header::window_update(1, Flags::ACK, FRP_WINDOW_DELTA),
        ),
        (
            "7.2 Data LoginResp",
            [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0x39],
            Header::data(1, Flags::NONE, 57),
        ),
        (
            "7.2 Data IV",
            [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0x10],
            Header::data(1, Flags::NONE, 16),
        ),
        (
            "7.3 SYN stream 3",
            [0, 1, 0, 1, 0, 0, 0, 3, 0, 0x5c, 0, 0],
            Header::window_update(3, Flags::SYN, FRP_WINDOW_DELTA),
        ),
        (
            "7.3 FIN stream 3",
            [0, 1, 0, 4, 0, 0, 0, 3, 0, 0, 0, 0],
            Header::window_update(3, Flags::FIN, 0),
        ),
        (
            "1.3 ping ask",
            [0, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7],
            Header::ping(Flags::SYN, 7),
        ),
        (
            "1.3 ping answer",
            [0, 2, 0, 2, 0, 0, 0, 0, 0, 0, 0, 7],
            Header::ping(Flags::ACK, 7),
        ),
        (
            "1.3 GoAway protocol error",
            [0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            Header::go_away(GO_AWAY_PROTOCOL_ERROR),
        ),
        (
            "SYN|ACK|RST and an unknown bit are kept",
            [
                0, 1, 0x80, 0x0b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            ],
            Header::window_update(u32::MAX, Flags(syn_ack.0 | Flags::RST.0 | 0x8000), u32::MAX),
        ),
    ];
    for (name, bytes, header) in cases {
        assert_eq!(Header::decode(bytes), Ok(*header), "{name}");
        assert_eq!(header.encode(), *bytes, "{name}");
        assert_eq!(Header::parse(bytes), Ok(Some(*header)), "{name}");
    }
}

#[test]
fn flags() {
    let f = Flags::SYN | Flags::FIN;
    assert!(f.contains(Flags::SYN) && f.contains(Flags::FIN) && !f.contains(Flags::ACK));
    assert!(f.contains(Flags::NONE));
    assert_eq!(format!("{f:?}"), "SYN|FIN");
    assert_eq!(format!("{:?}", Flags::NONE), "0");
    assert_eq!(format!("{:?}", Flags(0x8002)), "ACK|0x8000");
}

#[test]
fn hostile_headers_are_errors() {
    let cases: &[([u8; 12], HeaderError)] = &[
        (
            [1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0],
            HeaderError::BadVersion(1),
        ),
        (
            [0x16, 3, 1, 5, 0xb8, 1, 0, 5, 0xb4, 3, 3, 0],
            HeaderError::BadVersion(0x16),
        ),
        (
            [b'o', 0, 0, 0, 0, 0, 0, 0, 0xb8, b'{', b'"', b'v'],
            HeaderError::BadVersion(b'o'),
        ),
        (
            [0, 4, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0],
            HeaderError::UnknownType(4),
        ),
        (
            [0, 0xff, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0],
            HeaderError::UnknownType(0xff),
        ),
    ];
    for (bytes, want) in cases {
        assert_eq!(Header::decode(bytes).as_ref(), Err(want));
        assert_eq!(Header::parse(bytes).as_ref(), Err(want));
    }
}

#[test]
fn short_input_needs_more_bytes() {
    let full = Header::data(5, Flags::NONE, 3).encode();
    for cut in 0..HEADER_LEN {
        assert_eq!(Header::parse(&full[..cut]), Ok(None), "cut at {cut}");
    }
}

#[test]
fn every_valid_prefix_round_trips() {
    // All version/type/flag byte combinations with varying ids: decode never panics, and what
    // decodes encodes back to the same bytes.
    let mut seed = 0x1234_5678_9abc_def0_u64;
    for v in [0u8, 1, 0xff] {
        for t in 0..=255u8 {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let mut bytes = [0u8; HEADER_LEN];
            bytes[2..].copy_from_slice(&seed.to_be_bytes()[..2].repeat(5));
            bytes[0] = v;
            bytes[1] = t;
            match Header::decode(&bytes) {
                Ok(h) => assert_eq!(h.encode(), bytes),
                Err(HeaderError::BadVersion(b)) => assert!(v != 0 && b == v),
                Err(HeaderError::UnknownType(b)) => assert!(v == 0 && t > 3 && b == t),
            }
        }
    }
}
