//! The 12-byte hashicorp yamux frame header that frp's stream multiplexer uses, and frp's window
//! constants (frp-protocol.md §1.3).
//!
//! Owns only the header codec. Sessions, streams, flow control and keepalive belong to the
//! tunnel's multiplexer. Unknown flag bits are kept as they are (hashicorp ignores them).

use std::fmt;
use std::ops::BitOr;

/// Header bytes on the wire.
pub const HEADER_LEN: usize = 12;
/// The only protocol version.
pub const VERSION: u8 = 0;
/// Every stream's implicit starting window, each direction.
pub const INITIAL_WINDOW: u32 = 262_144;
/// `MaxStreamWindowSize` that frp configures on both sides.
pub const FRP_MAX_WINDOW: u32 = 6_291_456;
/// Window grant that frp puts in every SYN and ACK: `FRP_MAX_WINDOW - INITIAL_WINDOW`.
pub const FRP_WINDOW_DELTA: u32 = FRP_MAX_WINDOW - INITIAL_WINDOW;
/// GoAway code: normal termination.
pub const GO_AWAY_NORMAL: u32 = 0;
/// GoAway code: protocol error (e.g. window over-run).
pub const GO_AWAY_PROTOCOL_ERROR: u32 = 1;
/// GoAway code: internal error.
pub const GO_AWAY_INTERNAL_ERROR: u32 = 2;

/// Why 12 bytes are not a yamux header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// Version byte other than 0.
    #[error("unsupported yamux version {0}")]
    BadVersion(u8),
    /// Type byte other than 0–3.
    #[error("unknown yamux frame type {0}")]
    UnknownType(u8),
}

/// Frame type, byte 1 of the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FrameType {
    /// `length` payload bytes follow the header.
    Data = 0,
    /// `length` is a receive-window delta; no payload.
    WindowUpdate = 1,
    /// `length` is an opaque ping id to echo back; stream 0; no payload.
    Ping = 2,
    /// `length` is an error code (`GO_AWAY_*`); stream 0; no payload.
    GoAway = 3,
}

impl FrameType {
    /// The type for a byte, if it is one.
    pub const fn from_byte(byte: u8) -> Option<FrameType> {
        match byte {
            0 => Some(FrameType::Data),
            1 => Some(FrameType::WindowUpdate),
            2 => Some(FrameType::Ping),
            3 => Some(FrameType::GoAway),
            _ => None,
        }
    }
}

/// Header flags, bytes 2–3 (big-endian).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(pub u16);

impl Flags {
    /// No flags.
    pub const NONE: Flags = Flags(0);
    /// Opens a stream (or, on Ping, asks for an answer).
    pub const SYN: Flags = Flags(0x0001);
    /// Accepts a stream (or, on Ping, is the answer).
    pub const ACK: Flags = Flags(0x0002);
    /// Half-closes the sender's direction.
    pub const FIN: Flags = Flags(0x0004);
    /// Aborts the stream.
    pub const RST: Flags = Flags(0x0008);

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (Flags::SYN, "SYN"),
            (Flags::ACK, "ACK"),
            (Flags::FIN, "FIN"),
            (Flags::RST, "RST"),
        ];
        let set: Vec<&str> = names
            .iter()
            .filter(|(fl, _)| self.contains(*fl))
            .map(|(_, n)| *n)
            .collect();
        let other = self.0 & !0x000f;
        match (set.is_empty(), other) {
            (true, 0) => f.write_str("0"),
            (_, 0) => f.write_str(&set.join("|")),
            _ => write!(f, "{}|0x{other:04x}", set.join("|")),
        }
    }
}

/// One yamux frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// Always [`VERSION`] once decoded.
    pub version: u8,
    /// Frame type.
    pub typ: FrameType,
    /// SYN/ACK/FIN/RST (other bits kept).
    pub flags: Flags,
    /// 0 for Ping and GoAway; odd ids are opened by the client (frpc).
    pub stream_id: u32,
    /// Payload length, window delta, ping id or GoAway code, depending on `typ`.
    pub length: u32,
}

impl Header {
    /// A version-0 header.
    pub const fn new(typ: FrameType, flags: Flags, stream_id: u32, length: u32) -> Header {
        Header {
            version: VERSION,
            typ,
            flags,
            stream_id,
            length,
        }
    }

    /// A Data header announcing `len` payload bytes.
    pub const fn data(stream_id: u32, flags: Flags, len: u32) -> Header {
        Header::new(FrameType::Data, flags, stream_id, len)
    }

    /// A WindowUpdate header (also carries SYN/ACK/FIN/RST with `delta` 0 or a grant).
    pub const fn window_update(stream_id: u32, flags: Flags, delta: u32) -> Header {
        Header::new(FrameType::WindowUpdate, flags, stream_id, delta)
    }

    /// A Ping (`SYN` to ask, `ACK` to answer with the same `id`).
    pub const fn ping(flags: Flags, id: u32) -> Header {
        Header::new(FrameType::Ping, flags, 0, id)
    }

    /// A GoAway with one of the `GO_AWAY_*` codes.
    pub const fn go_away(code: u32) -> Header {
        Header::new(FrameType::GoAway, Flags::NONE, 0, code)
    }

    /// The 12 wire bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0] = self.version;
        out[1] = self.typ as u8;
        out[2..4].copy_from_slice(&self.flags.0.to_be_bytes());
        out[4..8].copy_from_slice(&self.stream_id.to_be_bytes());
        out[8..12].copy_from_slice(&self.length.to_be_bytes());
        out
    }

    /// Parses 12 wire bytes.
    pub fn decode(bytes: &[u8; HEADER_LEN]) -> Result<Header, HeaderError> {
        let [version, typ, f0, f1, s0, s1, s2, s3, l0, l1, l2, l3] = *bytes;
        if version != VERSION {
            return Err(HeaderError::BadVersion(version));
        }
        let typ = FrameType::from_byte(typ).ok_or(HeaderError::UnknownType(typ))?;
        Ok(Header {
            version,
            typ,
            flags: Flags(u16::from_be_bytes([f0, f1])),
            stream_id: u32::from_be_bytes([s0, s1, s2, s3]),
            length: u32::from_be_bytes([l0, l1, l2, l3]),
        })
    }

    /// Parses the header at the front of `buf`; `Ok(None)` if fewer than 12 bytes are there.
    pub fn parse(buf: &[u8]) -> Result<Option<Header>, HeaderError> {
        buf.first_chunk::<HEADER_LEN>()
            .map(Header::decode)
            .transpose()
    }
}

#[cfg(test)]
mod tests;
