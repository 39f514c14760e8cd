//! frp message catalogue: the JSON bodies (frp-protocol.md §2.3) and their type bytes (§2.2).
//!
//! Owns the structs, the [`MsgType`] table and the [`Message`] enum that ties them together. It
//! does not own framing (that is `codec`, §2.1). Struct fields follow the Go structs of
//! fatedier/frp `pkg/msg/msg.go` (v0.61.1 … v0.65.0) in order, so encoded JSON has Go's key order.
//!
//! JSON rules, as Go applies them to frp's structs:
//! * decode: every field is optional and `null` means "zero value"; unknown keys are ignored;
//!   `metas`-style maps drop non-string values instead of failing.
//! * encode: zero values ("", 0, false, empty map/list) are omitted (`omitempty`), except
//!   `Login.client_spec`, which is always written (`{}`); strings are escaped like Go's
//!   `json.Marshal` (`<` → `\u003c` …), so frp's own messages re-encode byte for byte.
//!
//! `Debug` output of messages hides credentials (`privilege_key`, `metas` values, `sk`, …).

mod control;
mod proxy;
mod work;

use std::collections::BTreeMap;
use std::fmt;

pub use control::{ClientSpec, Login, LoginResp, Ping, Pong};
pub use proxy::{CloseProxy, NewProxy, NewProxyResp};
pub use work::{NewVisitorConn, NewVisitorConnResp, NewWorkConn, ReqWorkConn, StartWorkConn};

/// Type bytes that frp defines but this crate does not decode: UDPPacket (`u`) and the xtcp
/// NatHole* messages (`i`, `n`, `m`, `5`, `6`). HaRP never uses them (§2.2).
pub const UNSUPPORTED_TYPE_BYTES: [u8; 6] = *b"uinm56";

/// Declares, from one table, the [`MsgType`] enum, the [`Message`] enum and their conversions.
macro_rules! messages {
    ($($(#[$doc:meta])* $name:ident = $byte:literal,)+) => {
        /// The type byte in front of every frp message (frp-protocol.md §2.2).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum MsgType {
            $($(#[$doc])* $name = $byte,)+
        }

        impl MsgType {
            /// Every supported type, in the order of §2.2.
            pub const ALL: &'static [MsgType] = &[$(MsgType::$name,)+];

            /// The type for a type byte, or `None` if this crate does not decode that byte.
            pub const fn from_byte(byte: u8) -> Option<MsgType> {
                match byte {
                    $($byte => Some(MsgType::$name),)+
                    _ => None,
                }
            }

            /// The Go struct name, e.g. `"NewProxy"`.
            pub const fn name(self) -> &'static str {
                match self {
                    $(MsgType::$name => stringify!($name),)+
                }
            }
        }

        /// One decoded frp message.
        #[derive(Clone, PartialEq, Eq)]
        #[expect(
            clippy::large_enum_variant,
            reason = "a few messages per session, not a hot path; unboxed variants match simply"
        )]
        pub enum Message {
            $($(#[$doc])* $name($name),)+
        }

        impl Message {
            /// The message's type.
            pub const fn msg_type(&self) -> MsgType {
                match self {
                    $(Message::$name(_) => MsgType::$name,)+
                }
            }

            /// Parses a JSON body as the given type (no framing, no length limit).
            pub fn from_json(typ: MsgType, body: &[u8]) -> Result<Message, serde_json::Error> {
                Ok(match typ {
                    $(MsgType::$name => Message::$name(serde_json::from_slice(body)?),)+
                })
            }

            /// The JSON body exactly as Go's `json.Marshal` would write it (no framing).
            pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
                let json = match self {
                    $(Message::$name(m) => serde_json::to_vec(m)?,)+
                };
                Ok(crate::json::go_escape(json))
            }
        }

        impl fmt::Debug for Message {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $(Message::$name(m) => fmt::Debug::fmt(m, f),)+
                }
            }
        }

        $(impl From<$name> for Message {
            fn from(m: $name) -> Message {
                Message::$name(m)
            }
        })+
    };
}

messages! {
    /// `o`, c→s: first message of the control stream.
    Login = b'o',
    /// `1`, s→c: answer to Login, still clear text.
    LoginResp = b'1',
    /// `p`, c→s: register a proxy (encrypted control stream).
    NewProxy = b'p',
    /// `2`, s→c: answer to NewProxy.
    NewProxyResp = b'2',
    /// `c`, c→s: unregister a proxy; no answer.
    CloseProxy = b'c',
    /// `w`, c→s: first message of a work stream.
    NewWorkConn = b'w',
    /// `r`, s→c: ask the client to open one more work stream.
    ReqWorkConn = b'r',
    /// `s`, s→c: hands a user connection to a work stream; raw bytes follow.
    StartWorkConn = b's',
    /// `v`, c→s: first message of a visitor stream (stcp/sudp/xtcp).
    NewVisitorConn = b'v',
    /// `3`, s→c: answer to NewVisitorConn.
    NewVisitorConnResp = b'3',
    /// `h`, c→s: frp-level heartbeat.
    Ping = b'h',
    /// `4`, s→c: answer to Ping.
    Pong = b'4',
}

impl MsgType {
    /// The byte written on the wire.
    pub const fn byte(self) -> u8 {
        self as u8
    }
}

impl Message {
    /// The byte written on the wire in front of this message.
    pub const fn type_byte(&self) -> u8 {
        self.msg_type().byte()
    }
}

/// `Debug` for a credential: shows only whether it is set.
pub(crate) struct Redacted<'a>(pub(crate) &'a str);

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

/// `Debug` for a metadata map whose values may be credentials (HaRP's `metas.token`): keys only.
pub(crate) struct RedactedMap<'a>(pub(crate) &'a BTreeMap<String, String>);

impl fmt::Debug for RedactedMap<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| (k, Redacted(v))))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_bytes_match_the_frp_table() {
        let table: &[(MsgType, u8)] = &[
            (MsgType::Login, b'o'),
            (MsgType::LoginResp, b'1'),
            (MsgType::NewProxy, b'p'),
            (MsgType::NewProxyResp, b'2'),
            (MsgType::CloseProxy, b'c'),
            (MsgType::NewWorkConn, b'w'),
            (MsgType::ReqWorkConn, b'r'),
            (MsgType::StartWorkConn, b's'),
            (MsgType::NewVisitorConn, b'v'),
            (MsgType::NewVisitorConnResp, b'3'),
            (MsgType::Ping, b'h'),
            (MsgType::Pong, b'4'),
        ];
        assert_eq!(table.len(), MsgType::ALL.len());
        for &(typ, byte) in table {
            assert_eq!(typ.byte(), byte);
            assert_eq!(MsgType::from_byte(byte), Some(typ));
        }
        for byte in UNSUPPORTED_TYPE_BYTES {
            assert_eq!(MsgType::from_byte(byte), None);
        }
    }

    #[test]
    fn every_type_decodes_an_empty_object_and_encodes_it_back() {
        for &typ in MsgType::ALL {
            let msg = Message::from_json(typ, b"{}").unwrap();
            assert_eq!(msg.msg_type(), typ);
            let want: &[u8] = if typ == MsgType::Login {
                br#"{"client_spec":{}}"#
            } else {
                b"{}"
            };
            assert_eq!(msg.to_json().unwrap(), want, "{}", typ.name());
        }
    }

    #[test]
    fn null_and_unknown_fields_are_tolerated() {
        let body = br#"{"version":null,"metas":null,"pool_count":null,"future":[1,{"x":2}]}"#;
        assert_eq!(
            Message::from_json(MsgType::Login, body).unwrap(),
            Message::Login(Login::default())
        );
        let body = br#"{"metas":{"token":"k","n":1,"z":null,"o":{}},"client_spec":null}"#;
        let Message::Login(login) = Message::from_json(MsgType::Login, body).unwrap() else {
            panic!("not a Login");
        };
        assert_eq!(login.metas.len(), 1);
        assert_eq!(login.metas["token"], "k");
    }

    #[test]
    fn wrong_json_types_are_errors() {
        let cases: &[(MsgType, &[u8])] = &[
            (MsgType::Login, br#"{"timestamp":"1"}"#),
            (MsgType::Login, br#"{"metas":[1]}"#),
            (MsgType::NewProxy, br#"{"remote_port":1.5}"#),
            (MsgType::StartWorkConn, br#"{"src_port":70000}"#),
            (MsgType::NewProxy, br#"{"custom_domains":[1]}"#),
            (MsgType::Pong, b"42"),
            (MsgType::Pong, b""),
            (MsgType::Pong, b"{"),
        ];
        for (typ, body) in cases {
            assert!(
                Message::from_json(*typ, body).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn debug_hides_credentials() {
        let login = Login {
            privilege_key: "7d6eebab90dfe14892c986e9d2799ed7".into(),
            metas: [("token".to_string(), "sharedkey".to_string())].into(),
            ..Login::default()
        };
        let shown = format!("{:?}", Message::Login(login));
        assert!(
            !shown.contains("sharedkey") && !shown.contains("7d6eeb"),
            "{shown}"
        );
        assert!(shown.contains("token"), "{shown}");
        let proxy = NewProxy {
            sk: "s3cret".into(),
            http_pwd: "pw".into(),
            ..NewProxy::default()
        };
        let shown = format!("{proxy:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("\"pw\""),
            "{shown}"
        );
    }
}
