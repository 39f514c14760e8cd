//! Go `encoding/json` compatibility helpers for the message structs (frp-protocol.md §2.1, §2.3).
//!
//! Owns the three places where serde's defaults differ from what Go does with frp's structs:
//! `omitempty` on encode ([`is_default`]), `null` read as the zero value on decode
//! ([`nullable`], [`string_map`]), and Go's HTML-safe string escaping ([`go_escape`]).
//! Private to the crate; the message structs in `msg` use it through serde attributes.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

/// Go's `omitempty`: a field equal to its zero value is left out.
pub(crate) fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// Go leaves a field at its zero value when the JSON says `null`; serde would fail.
pub(crate) fn nullable<'de, D, T>(de: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(de)?.unwrap_or_default())
}

/// A `map[string]string` decoded tolerantly: `null` is an empty map, and entries whose value is
/// not a string (numbers, `null`, objects …) are dropped instead of failing the whole message.
/// Duplicate keys: the last one wins, as in Go.
pub(crate) fn string_map<'de, D>(de: D) -> Result<BTreeMap<String, String>, D::Error>
where
    D: Deserializer<'de>,
{
    let raw: Option<BTreeMap<String, serde_json::Value>> = Option::deserialize(de)?;
    Ok(raw
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| match v {
            serde_json::Value::String(s) => Some((k, s)),
            _ => None,
        })
        .collect())
}

/// Rewrites serde_json's compact output the way Go's `json.Marshal` escapes strings:
/// `<`, `>`, `&`, U+2028 and U+2029 become `\u003c`, `\u003e`, `\u0026`, `\u2028`, `\u2029`.
///
/// Everything else already matches Go byte for byte (both write `\b \f \n \r \t`, `\u00XX` in
/// lowercase hex for other control bytes, and leave DEL and non-ASCII alone). The rewrite is a
/// plain byte substitution because none of these characters can occur in compact JSON outside a
/// string literal.
pub(crate) fn go_escape(json: Vec<u8>) -> Vec<u8> {
    if !json.iter().any(|&b| matches!(b, b'<' | b'>' | b'&' | 0xe2)) {
        return json;
    }
    let mut out = Vec::with_capacity(json.len() + 16);
    let mut rest = json.as_slice();
    while let [first, tail @ ..] = rest {
        let (piece, next): (&[u8], &[u8]) = match rest {
            [b'<', t @ ..] => (b"\\u003c", t),
            [b'>', t @ ..] => (b"\\u003e", t),
            [b'&', t @ ..] => (b"\\u0026", t),
            [0xe2, 0x80, 0xa8, t @ ..] => (b"\\u2028", t),
            [0xe2, 0x80, 0xa9, t @ ..] => (b"\\u2029", t),
            _ => (std::slice::from_ref(first), tail),
        };
        out.extend_from_slice(piece);
        rest = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_escape_matches_go_marshal() {
        let cases: &[(&str, &str)] = &[
            (r#"{"a":"b"}"#, r#"{"a":"b"}"#),
            (r#"{"e":"<a&b>"}"#, r#"{"e":"\u003ca\u0026b\u003e"}"#),
            (
                "{\"e\":\"x\u{2028}y\u{2029}\"}",
                r#"{"e":"x\u2028y\u2029"}"#,
            ),
            ("{\"e\":\"\u{e9}\u{2027}\"}", "{\"e\":\"\u{e9}\u{2027}\"}"),
        ];
        for (input, want) in cases {
            let got = go_escape(input.as_bytes().to_vec());
            assert_eq!(String::from_utf8(got).unwrap(), *want, "input {input}");
        }
    }

    #[test]
    fn escaped_output_still_parses_to_the_same_value() {
        let s = "<tag> & \u{2028} \u{2029} \"q\" \\ \n";
        let json = serde_json::to_vec(&s).unwrap();
        let back: String = serde_json::from_slice(&go_escape(json)).unwrap();
        assert_eq!(back, s);
    }
}
