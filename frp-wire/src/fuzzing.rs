//! Properties of the decoders over arbitrary bytes, shared by the cargo-fuzz targets in `fuzz/`
//! and by `tests/fuzz_replay.rs`, which replays the committed corpora and crash reproducers with
//! a plain `cargo test`.
//!
//! Each function takes the fuzzer's bytes and panics only when a property breaks; a decoder that
//! refuses the input with an error is a pass. "No panic" is the least they check: each also
//! checks what the decoder promises (exact lengths, canonical re-encoding, redacted `Debug`).

use crate::codec::{self, HEADER_LEN, MAX_BODY_LEN, MAX_FRAME_LEN, WireError};
use crate::msg::{Message, MsgType};
use crate::yamux::{self, Header};

/// frp framing and JSON together (frp-protocol.md §2.1): `decode` never claims more bytes than it
/// was given or than one frame can hold, agrees with `frame_len`, and whatever decodes re-encodes
/// to a canonical frame that decodes to the same message.
pub fn frame(data: &[u8]) {
    let header = codec::frame_len(data);
    match codec::decode(data) {
        Ok(Some((msg, used))) => {
            assert!(used <= data.len() && used <= MAX_FRAME_LEN);
            assert_eq!(header.ok().flatten(), Some(used));
            assert_eq!(
                msg.type_byte(),
                data[0],
                "the type byte decides the message"
            );
            canonical(&msg);
        }
        Ok(None) => assert!(data.len() < MAX_FRAME_LEN),
        Err(_) => assert!(header.is_err() || data.len() >= HEADER_LEN),
    }
}

/// One message body (frp-protocol.md §2.3): the first byte picks the type among the supported
/// ones, the rest is the JSON body. A body over the limit is refused; a body that decodes
/// re-encodes canonically (Go's `json.Marshal` output, stable on a second round) and its `Debug`
/// shows no credential.
pub fn message(data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let typ = MsgType::ALL[usize::from(pick) % MsgType::ALL.len()];
    match codec::decode_body(typ, body) {
        Ok(msg) => {
            assert!(body.len() <= MAX_BODY_LEN);
            assert_eq!(msg.msg_type(), typ);
            assert_debug_redacted(&msg);
            canonical(&msg);
        }
        Err(WireError::TooLarge(n)) => assert!(n as usize > MAX_BODY_LEN),
        Err(WireError::Json { typ: name, .. }) => assert_eq!(name, typ.name()),
        Err(e) => panic!("decode_body can only fail on size or JSON, got {e}"),
    }
}

/// The yamux frame header (frp-protocol.md §1.3): a header that parses encodes back to the same
/// 12 bytes; fewer bytes are "incomplete", never an error.
pub fn yamux_header(data: &[u8]) {
    match Header::parse(data) {
        Ok(Some(header)) => assert_eq!(header.encode()[..], data[..yamux::HEADER_LEN]),
        Ok(None) => assert!(data.len() < yamux::HEADER_LEN),
        Err(_) => assert!(data.len() >= yamux::HEADER_LEN),
    }
}

/// Encoding a decoded message gives a frame that decodes to the same message and encodes to the
/// same bytes again.
fn canonical(msg: &Message) {
    match codec::encode(msg) {
        Ok(wire) => {
            let (again, n) = codec::decode(&wire)
                .expect("a re-encoded frame decodes")
                .expect("a re-encoded frame is complete");
            assert_eq!(n, wire.len());
            assert_eq!(&again, msg);
            assert_eq!(codec::encode(&again).expect("encodes twice"), wire);
        }
        // Go-style escaping (`<` → `\u003c`) or the always-present `client_spec` can push a
        // body that was just under the limit over it.
        Err(WireError::TooLarge(_)) => {}
        Err(e) => panic!("a decoded message failed to encode: {e}"),
    }
}

/// `Debug` of a message does not depend on the values of its credentials, only on whether they
/// are set: the same message with other non-empty credentials prints the same.
fn assert_debug_redacted(msg: &Message) {
    let mut other = msg.clone();
    match &mut other {
        Message::Login(m) => {
            substitute(&mut m.privilege_key);
            m.metas.values_mut().for_each(substitute);
        }
        Message::Ping(m) => substitute(&mut m.privilege_key),
        _ => return,
    }
    assert_eq!(
        format!("{msg:?}"),
        format!("{other:?}"),
        "a credential shows in Debug"
    );
}

fn substitute(value: &mut String) {
    if !value.is_empty() {
        *value = format!("{value}-other");
    }
}
