//! frp message framing (frp-protocol.md §2.1): `type byte ‖ i64 big-endian body length ‖ JSON`.
//!
//! Owns the frame layout, the 10240-byte body limit and the incremental decoder. Message contents
//! live in `msg`. The decoder never looks past the end of the message it returns: the control
//! stream switches to AES-CFB on the very next byte after Login/LoginResp (§8 trap 3), so the
//! caller must know exactly where a message ended. Checks happen as early as Go's reader does
//! them: the type byte as soon as it is there, the length as soon as its 8 bytes are.

use crate::msg::{Message, MsgType, UNSUPPORTED_TYPE_BYTES};

/// Type byte plus the 8-byte length.
pub const HEADER_LEN: usize = 9;

/// Largest body frp accepts (golib `maxMsgLength`; frp never changes it).
pub const MAX_BODY_LEN: usize = 10240;

/// Largest whole frame: header plus the largest body.
pub const MAX_FRAME_LEN: usize = HEADER_LEN + MAX_BODY_LEN;

/// Why bytes are not an acceptable frp message. Every variant ends the stream, as in Go.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The type byte is not in frp's table (Go: "message type error").
    #[error("unknown frp message type byte 0x{0:02x}")]
    UnknownType(u8),
    /// A real frp type this crate does not decode (UDPPacket, NatHole*).
    #[error("unsupported frp message type {:?}", char::from(*.0))]
    UnsupportedType(u8),
    /// Length field below zero (Go: "message length error").
    #[error("negative frp message length {0}")]
    NegativeLength(i64),
    /// Body longer than [`MAX_BODY_LEN`] (Go: "message length exceed the limit"), on decode or
    /// when encoding a message that a Go peer would refuse.
    #[error("frp message body of {0} bytes exceeds the limit of {MAX_BODY_LEN}")]
    TooLarge(u64),
    /// The body is not valid JSON for the message type.
    #[error("bad JSON in frp {typ} message: {source}")]
    Json {
        /// Go struct name of the message type, e.g. `"Login"`.
        typ: &'static str,
        /// What serde_json found.
        #[source]
        source: serde_json::Error,
    },
}

/// Length of the whole frame starting at `buf[0]`, once the header is complete.
///
/// `Ok(None)`: fewer than [`HEADER_LEN`] bytes (but the type byte, if present, is valid).
/// The returned length is at most [`MAX_FRAME_LEN`]. Use it to read exactly one message.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, WireError> {
    let Some(&typ) = buf.first() else {
        return Ok(None);
    };
    check_type(typ)?;
    let Some(len) = buf.get(1..).and_then(<[u8]>::first_chunk::<8>) else {
        return Ok(None);
    };
    let len = i64::from_be_bytes(*len);
    if len < 0 {
        return Err(WireError::NegativeLength(len));
    }
    match usize::try_from(len) {
        Ok(body) if body <= MAX_BODY_LEN => Ok(Some(HEADER_LEN + body)),
        _ => Err(WireError::TooLarge(len.unsigned_abs())),
    }
}

/// Decodes one message from the front of `buf`.
///
/// * `Ok(Some((msg, consumed)))`: `buf[..consumed]` was the message; nothing after it was read.
/// * `Ok(None)`: the frame is incomplete; call again with more bytes (the same prefix).
/// * `Err(_)`: the stream is unusable; close it.
pub fn decode(buf: &[u8]) -> Result<Option<(Message, usize)>, WireError> {
    let Some(total) = frame_len(buf)? else {
        return Ok(None);
    };
    let (Some(body), Some(typ)) = (buf.get(HEADER_LEN..total), buf.first()) else {
        return Ok(None);
    };
    let typ = MsgType::from_byte(*typ).ok_or(WireError::UnknownType(*typ))?;
    let msg = decode_body(typ, body)?;
    Ok(Some((msg, total)))
}

/// Parses a body whose type and length were already read (e.g. after an exact-length read).
pub fn decode_body(typ: MsgType, body: &[u8]) -> Result<Message, WireError> {
    if body.len() > MAX_BODY_LEN {
        return Err(WireError::TooLarge(body.len() as u64));
    }
    Message::from_json(typ, body).map_err(|source| WireError::Json {
        typ: typ.name(),
        source,
    })
}

/// Encodes one message as a frame.
///
/// Fails only with [`WireError::TooLarge`], when the body would exceed [`MAX_BODY_LEN`] (e.g. an
/// error text that echoes a long peer-chosen name): Go's reader would drop the connection.
pub fn encode(msg: &Message) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::new();
    encode_into(msg, &mut out)?;
    Ok(out)
}

/// Appends one frame to `out`; on error `out` is unchanged.
pub fn encode_into(msg: &Message, out: &mut Vec<u8>) -> Result<(), WireError> {
    let typ = msg.msg_type();
    let body = msg.to_json().map_err(|source| WireError::Json {
        typ: typ.name(),
        source,
    })?;
    if body.len() > MAX_BODY_LEN {
        return Err(WireError::TooLarge(body.len() as u64));
    }
    out.reserve(HEADER_LEN + body.len());
    out.push(typ.byte());
    out.extend_from_slice(&(body.len() as i64).to_be_bytes());
    out.extend_from_slice(&body);
    Ok(())
}

fn check_type(byte: u8) -> Result<(), WireError> {
    if MsgType::from_byte(byte).is_some() {
        Ok(())
    } else if UNSUPPORTED_TYPE_BYTES.contains(&byte) {
        Err(WireError::UnsupportedType(byte))
    } else {
        Err(WireError::UnknownType(byte))
    }
}

#[cfg(test)]
mod golden;
#[cfg(test)]
mod hostile;
