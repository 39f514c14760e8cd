//! frp's `token` authentication (frp-protocol.md §3.1, §3.4): the `privilege_key` carried by
//! Login, and by NewWorkConn and Ping when the matching `additionalScopes` are on.
//!
//! Owns the key formula and its constant-time check. It does not own HaRP's real login check
//! (`metas.token` against the shared key), which is the server's job.

use md5::{Digest, Md5};
use subtle::ConstantTimeEq;

/// `lowercase_hex(md5(token ‖ decimal(timestamp)))`, as frp's `GetAuthKey`.
///
/// HaRP sets no `auth.token`, so the key is usually `md5` of the timestamp alone.
pub fn privilege_key(token: &str, timestamp: i64) -> String {
    let mut md5 = Md5::new();
    md5.update(token.as_bytes());
    md5.update(timestamp.to_string().as_bytes());
    to_hex(&md5.finalize())
}

/// Checks a received `privilege_key` against `token` and the message's own `timestamp`, in
/// constant time, byte for byte like frps (so uppercase hex is refused). No freshness check on
/// the timestamp: frps does none either.
pub fn verify_privilege_key(token: &str, timestamp: i64, received: &str) -> bool {
    let expected = privilege_key(token, timestamp);
    expected.as_bytes().ct_eq(received.as_bytes()).into()
}

/// Lowercase hex, as Go's `hex.EncodeToString`.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vectors captured from frpc 0.65.0 (§3.1, §7.5).
    const VECTORS: &[(&str, i64, &str)] = &[
        ("tok123", 1795874308, "ebf832799f3d8b3a87659e555bd8fcb8"),
        ("", 1795874208, "7d6eebab90dfe14892c986e9d2799ed7"),
        ("tok123", 1795874313, "395cb091cd12042bf4c4046e43a37ec0"),
    ];

    #[test]
    fn captured_privilege_keys() {
        for &(token, ts, want) in VECTORS {
            assert_eq!(privilege_key(token, ts), want, "token {token:?} ts {ts}");
            assert!(verify_privilege_key(token, ts, want));
        }
    }

    #[test]
    fn verify_refuses_near_misses() {
        let (token, ts, key) = VECTORS[0];
        let upper = key.to_uppercase();
        let cases: &[(&str, i64, &str)] = &[
            ("tok124", ts, key),
            (token, ts + 1, key),
            (token, ts, &key[..31]),
            (token, ts, &upper),
            (token, ts, ""),
            ("", ts, key),
        ];
        for &(t, s, k) in cases {
            assert!(!verify_privilege_key(t, s, k), "{t:?} {s} {k:?}");
        }
    }

    #[test]
    fn negative_and_zero_timestamps_use_go_decimal_form() {
        // Go's strconv.FormatInt: "-5" and "0". The token and the digits are simply joined.
        assert_eq!(privilege_key("", -5), privilege_key("-", 5));
        assert_eq!(privilege_key("", 0), "cfcd208495d565ef66e7dff9f98764da");
    }

    #[test]
    fn hex_is_lowercase_and_padded() {
        assert_eq!(to_hex(&[0x00, 0x0f, 0xa0, 0xff]), "000fa0ff");
        assert_eq!(to_hex(&[]), "");
    }
}
