//! Reading and writing frp messages on a stream (frp-protocol §2.1, §4): a reader that never
//! consumes past the message it returns (the control stream turns encrypted right after Login),
//! that can switch to decrypting the bytes it already holds, and a writer that encrypts once
//! told to (its IV goes first).

use frp_wire::{Decryptor, Encryptor, Key, Message};
use std::io;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Reads frp messages; keeps what follows the last message for the caller.
pub struct FrameReader<R> {
    io: R,
    /// Plain-text bytes received and not yet consumed.
    buf: Vec<u8>,
    decryptor: Option<Decryptor>,
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(io: R) -> Self {
        FrameReader {
            io,
            buf: Vec::with_capacity(512),
            decryptor: None,
        }
    }

    /// A reader that already holds `prefix` (bytes read while sniffing the protocol).
    pub fn with_prefix(io: R, prefix: Vec<u8>) -> Self {
        FrameReader {
            io,
            buf: prefix,
            decryptor: None,
        }
    }

    /// The next message; `Ok(None)` at a clean end of stream between messages.
    pub async fn read(&mut self) -> io::Result<Option<Message>> {
        loop {
            if let Some((msg, used)) = frp_wire::decode(&self.buf).map_err(invalid)? {
                self.buf.drain(..used);
                return Ok(Some(msg));
            }
            let mut chunk = [0u8; 4096];
            let n = self.io.read(&mut chunk).await?;
            if n == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(io::ErrorKind::UnexpectedEof.into())
                };
            }
            let data = &mut chunk[..n];
            match &mut self.decryptor {
                Some(d) => {
                    let plain = d.feed(data);
                    self.buf.extend_from_slice(plain);
                }
                None => self.buf.extend_from_slice(data),
            }
        }
    }

    /// Everything from now on (including bytes already received) is encrypted with `key`,
    /// starting with the peer's 16-byte IV.
    pub fn start_decrypting(&mut self, key: &Key) {
        let mut decryptor = Decryptor::new(key);
        let mut pending = std::mem::take(&mut self.buf);
        let plain = decryptor.feed(&mut pending).to_vec();
        self.buf = plain;
        self.decryptor = Some(decryptor);
    }

    /// The stream and the bytes received after the last message (for work connections, where
    /// raw user bytes follow the frp messages).
    pub fn into_parts(self) -> (R, Vec<u8>) {
        (self.io, self.buf)
    }
}

/// Writes frp messages, encrypted once `encrypt` was called.
pub struct FrameWriter<W> {
    io: W,
    encryptor: Option<Encryptor>,
    out: Vec<u8>,
}

impl<W: AsyncWrite + Unpin> FrameWriter<W> {
    pub fn new(io: W) -> Self {
        FrameWriter {
            io,
            encryptor: None,
            out: Vec::with_capacity(512),
        }
    }

    pub fn encrypt(&mut self, encryptor: Encryptor) {
        self.encryptor = Some(encryptor);
    }

    pub async fn write(&mut self, msg: &Message) -> io::Result<()> {
        let plain = frp_wire::encode(msg).map_err(invalid)?;
        self.out.clear();
        match &mut self.encryptor {
            Some(e) => e.encrypt_to(&plain, &mut self.out),
            None => self.out.extend_from_slice(&plain),
        }
        self.io.write_all(&self.out).await?;
        self.io.flush().await
    }

    pub fn into_inner(self) -> W {
        self.io
    }
}
