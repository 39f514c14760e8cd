//! Vectors from frp-protocol.md §4, §7.2 and §9, plus chunking and round-trip checks.

use super::*;
use crate::codec;
use crate::msg::{Message, NewProxy, ReqWorkConn};

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn iv(s: &str) -> [u8; IV_LEN] {
    unhex(s).try_into().unwrap()
}

const SERVER_IV: &str = "6eff21ef5ae2a91505d87bdb31d57594";
const CLIENT_IV: &str = "59980566bbbec6050ee07e9d6693c203";

#[test]
fn kdf_vectors() {
    let cases = [
        ("", "cdc9dc4c472c37331281df4c232a8407"),
        ("tok123", "c07bce98304a5168669b759775510ba6"),
    ];
    for (token, want) in cases {
        assert_eq!(
            Key::derive(token).as_bytes().to_vec(),
            unhex(want),
            "{token:?}"
        );
    }
}

#[test]
fn captured_ciphertexts() {
    let new_proxy = NewProxy {
        proxy_name: "test_app".into(),
        proxy_type: "tcp".into(),
        remote_port: 23777,
        ..NewProxy::default()
    };
    let cases = [
        (
            "9/7.2 s→c ReqWorkConn",
            SERVER_IV,
            Message::from(ReqWorkConn {}),
            "e2a58e0b94312e2c",
        ),
        (
            "7.2 c→s NewProxy",
            CLIENT_IV,
            Message::from(new_proxy),
            "ffc8cfa0066499fe",
        ),
    ];
    for (name, iv_hex, msg, want_prefix) in cases {
        let mut data = codec::encode(&msg).unwrap();
        let plain = data.clone();
        Encryptor::new(&Key::derive(""), iv(iv_hex)).apply(&mut data);
        assert_eq!(data[..8], unhex(want_prefix)[..], "{name}");
        Decryptor::with_iv(&Key::derive(""), iv(iv_hex)).feed(&mut data);
        assert_eq!(data, plain, "{name}");
    }
}

#[test]
fn chunked_encryption_equals_one_shot() {
    let key = Key::derive("tok123");
    let plain: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    let mut one_shot = plain.clone();
    Encryptor::new(&key, iv(SERVER_IV)).apply(&mut one_shot);
    let splits: &[&[usize]] = &[
        &[1],
        &[15],
        &[16],
        &[17],
        &[3, 29, 1, 16, 100],
        &[0, 7, 0, 33],
    ];
    for sizes in splits {
        let mut enc = Encryptor::new(&key, iv(SERVER_IV));
        let mut dec = Decryptor::with_iv(&key, iv(SERVER_IV));
        let mut data = plain.clone();
        for chunk in chunks(&mut data, sizes) {
            enc.apply(chunk);
        }
        assert_eq!(data, one_shot, "encrypt sizes {sizes:?}");
        for chunk in chunks(&mut data, sizes) {
            dec.feed(chunk);
        }
        assert_eq!(data, plain, "decrypt sizes {sizes:?}");
    }
}

/// Splits `data` into chunks whose sizes cycle through `sizes` (the last one may be shorter).
fn chunks<'a>(data: &'a mut [u8], sizes: &[usize]) -> Vec<&'a mut [u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    for &size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (head, tail) = rest.split_at_mut(size.min(rest.len()));
        out.push(head);
        rest = tail;
    }
    out
}

#[test]
fn wire_round_trip_with_the_iv_split_anywhere() {
    let key = Key::derive("");
    let mut enc = Encryptor::new(&key, iv(CLIENT_IV));
    let mut wire = Vec::new();
    enc.encrypt_to(b"hello ", &mut wire);
    enc.encrypt_to(b"", &mut wire);
    enc.encrypt_to(b"world, a longer second write", &mut wire);
    assert_eq!(wire[..IV_LEN], iv(CLIENT_IV), "IV first, in clear");
    assert_eq!(wire.len(), IV_LEN + 34, "IV written once");
    for first in [0, 1, 15, 16, 17, wire.len()] {
        let mut dec = Decryptor::new(&key);
        let mut bytes = wire.clone();
        let (a, b) = bytes.split_at_mut(first);
        let mut plain = dec.feed(a).to_vec();
        assert_eq!(dec.has_iv(), first >= IV_LEN);
        plain.extend_from_slice(dec.feed(b));
        assert_eq!(
            plain, b"hello world, a longer second write",
            "split at {first}"
        );
    }
}

#[test]
fn take_iv_then_apply_matches_encrypt_to() {
    let key = Key::derive("x");
    let mut a = Encryptor::new(&key, [7; IV_LEN]);
    let mut b = Encryptor::new(&key, [7; IV_LEN]);
    let mut via_to = Vec::new();
    a.encrypt_to(b"abc", &mut via_to);
    let mut manual = b.take_iv().unwrap().to_vec();
    assert_eq!(b.take_iv(), None);
    let mut data = *b"abc";
    b.apply(&mut data);
    manual.extend_from_slice(&data);
    assert_eq!(via_to, manual);
}

#[test]
fn control_stream_boundary_after_login_resp() {
    // What a client reads: clear LoginResp, then the server's IV and encrypted ReqWorkConn, all
    // in one buffer (§7.2, §8 trap 3).
    let key = Key::derive("");
    let mut wire = codec::encode(&Message::LoginResp(Default::default())).unwrap();
    let mut enc = Encryptor::new(&key, iv(SERVER_IV));
    enc.encrypt_to(&codec::encode(&ReqWorkConn {}.into()).unwrap(), &mut wire);

    let (login_resp, used) = codec::decode(&wire).unwrap().unwrap();
    assert_eq!(login_resp, Message::LoginResp(Default::default()));
    let mut dec = Decryptor::new(&key);
    let plain = dec.feed(&mut wire[used..]);
    let (msg, n) = codec::decode(plain).unwrap().unwrap();
    assert_eq!((msg, n), (ReqWorkConn {}.into(), plain.len()));
}

#[test]
fn randomness_helpers() {
    let id = random_run_id().unwrap();
    assert_eq!(id.len(), 16);
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{id}"
    );
    assert_ne!(random_run_id().unwrap(), id);
    assert_ne!(random_iv().unwrap(), random_iv().unwrap());
    let enc = Encryptor::new_random(&Key::derive("")).unwrap();
    assert_ne!(*enc.iv(), [0; IV_LEN]);
}

#[test]
fn debug_hides_key_material() {
    let key = Key::derive("");
    assert_eq!(format!("{key:?}"), "Key(***)");
    let shown = format!(
        "{:?} {:?}",
        Encryptor::new(&key, [1; IV_LEN]),
        Decryptor::new(&key)
    );
    assert!(!shown.contains("cdc9") && !shown.contains("205"), "{shown}");
}
