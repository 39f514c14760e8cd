//! The tunnel's byte relay, on both ends (the server's user connections and `harp tunnel`'s
//! local connections): bytes both ways until both sides are done, an end of input passed on as a
//! write shutdown. Each direction starts with a 4 KiB buffer and doubles it, up to 64 KiB, each
//! time a read fills it: an idle connection (a WebSocket between messages) holds 8 KiB, a bulk
//! transfer moves 64 KiB per read, fewer and larger yamux frames.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

const FIRST_BUF: usize = 4 * 1024;
const MAX_BUF: usize = 64 * 1024;

/// One direction: read into `buf`, write `buf[start..end]` out, then read again.
struct Direction {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The last read filled the buffer: double it once it is written out.
    filled: bool,
    /// Written since the last flush.
    unflushed: bool,
    read_done: bool,
    finished: bool,
    moved: u64,
}

impl Direction {
    fn new() -> Self {
        Direction {
            buf: vec![0; FIRST_BUF],
            start: 0,
            end: 0,
            filled: false,
            unflushed: false,
            read_done: false,
            finished: false,
            moved: 0,
        }
    }

    /// Ready once the reader has ended and the writer is flushed and shut down.
    fn poll_copy<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        mut reader: Pin<&mut R>,
        mut writer: Pin<&mut W>,
    ) -> Poll<io::Result<()>>
    where
        R: AsyncRead + ?Sized,
        W: AsyncWrite + ?Sized,
    {
        loop {
            if self.start == self.end && !self.read_done {
                let mut read = ReadBuf::new(&mut self.buf);
                match reader.as_mut().poll_read(cx, &mut read) {
                    Poll::Ready(result) => {
                        result?;
                        let n = read.filled().len();
                        self.read_done = n == 0;
                        self.filled = n == self.buf.len();
                        (self.start, self.end) = (0, n);
                    }
                    Poll::Pending => {
                        if self.unflushed {
                            ready!(writer.as_mut().poll_flush(cx))?;
                            self.unflushed = false;
                        }
                        return Poll::Pending;
                    }
                }
            }
            while self.start < self.end {
                let n = ready!(
                    writer
                        .as_mut()
                        .poll_write(cx, &self.buf[self.start..self.end])
                )?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                self.start += n;
                self.moved += n as u64;
                self.unflushed = true;
            }
            if self.filled && self.buf.len() < MAX_BUF {
                self.buf = vec![0; self.buf.len() * 2];
                self.filled = false;
            }
            if self.read_done {
                ready!(writer.as_mut().poll_flush(cx))?;
                ready!(writer.as_mut().poll_shutdown(cx))?;
                self.finished = true;
                return Poll::Ready(Ok(()));
            }
        }
    }
}

/// Relays between `a` and `b` until both directions have ended; returns the bytes moved
/// `a → b` and `b → a`. The first error ends both.
pub async fn relay<A, B>(a: &mut A, b: &mut B) -> io::Result<(u64, u64)>
where
    A: AsyncRead + AsyncWrite + Unpin + ?Sized,
    B: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    let (mut a_to_b, mut b_to_a) = (Direction::new(), Direction::new());
    poll_fn(|cx| {
        if !a_to_b.finished
            && let Poll::Ready(Err(e)) = a_to_b.poll_copy(cx, Pin::new(&mut *a), Pin::new(&mut *b))
        {
            return Poll::Ready(Err(e));
        }
        if !b_to_a.finished
            && let Poll::Ready(Err(e)) = b_to_a.poll_copy(cx, Pin::new(&mut *b), Pin::new(&mut *a))
        {
            return Poll::Ready(Err(e));
        }
        if a_to_b.finished && b_to_a.finished {
            Poll::Ready(Ok((a_to_b.moved, b_to_a.moved)))
        } else {
            Poll::Pending
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};

    #[tokio::test]
    async fn bulk_one_way_then_the_other_after_a_half_close() {
        let (mut user, mut a) = duplex(256 * 1024);
        let (mut b, mut exapp) = duplex(256 * 1024);
        let relayed = tokio::spawn(async move { relay(&mut a, &mut b).await });
        let body: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let sent = body.clone();
        let writer = tokio::spawn(async move {
            user.write_all(&sent).await?;
            user.shutdown().await?;
            let mut answer = Vec::new();
            user.read_to_end(&mut answer).await?;
            io::Result::Ok(answer)
        });
        let mut got = Vec::new();
        exapp
            .read_to_end(&mut got)
            .await
            .expect("the ExApp side reads to the end");
        assert!(
            got == body,
            "3 MB arrive unchanged ({} bytes came)",
            got.len()
        );
        exapp
            .write_all(b"after the half-close")
            .await
            .expect("answer");
        exapp.shutdown().await.expect("shutdown");
        let answer = writer.await.expect("join").expect("user side");
        assert_eq!(answer, b"after the half-close");
        let moved = relayed.await.expect("join").expect("relay ends cleanly");
        assert_eq!(moved, (3_000_000, 20));
    }

    /// Polls one direction once, as far as it gets without waiting.
    fn pump(direction: &mut Direction, reader: &mut DuplexStream, writer: &mut DuplexStream) {
        let mut cx = Context::from_waker(Waker::noop());
        let _ = direction.poll_copy(&mut cx, Pin::new(reader), Pin::new(writer));
    }

    #[tokio::test]
    async fn small_messages_keep_the_first_buffer_and_bulk_grows_it() {
        let (mut src, mut reader) = duplex(1024 * 1024);
        let (mut writer, mut dst) = duplex(1024 * 1024);
        let mut direction = Direction::new();
        let mut sink = vec![0; 1024 * 1024];
        for _ in 0..100 {
            src.write_all(b"a WebSocket frame").await.expect("write");
            pump(&mut direction, &mut reader, &mut writer);
            let n = dst.read(&mut sink).await.expect("read");
            assert_eq!(n, 17);
        }
        assert_eq!(
            direction.buf.len(),
            FIRST_BUF,
            "small messages never grow the buffer"
        );
        src.write_all(&vec![7; 512 * 1024]).await.expect("write");
        pump(&mut direction, &mut reader, &mut writer);
        let mut seen = 0;
        while seen < 512 * 1024 {
            seen += dst.read(&mut sink).await.expect("read");
        }
        assert_eq!(
            direction.buf.len(),
            MAX_BUF,
            "a bulk transfer doubles it up to 64 KiB"
        );
    }

    #[tokio::test]
    async fn a_failing_side_ends_the_relay_with_its_error() {
        struct Broken;
        impl AsyncRead for Broken {
            fn poll_read(
                self: Pin<&mut Self>,
                _: &mut Context<'_>,
                _: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()))
            }
        }
        impl AsyncWrite for Broken {
            fn poll_write(
                self: Pin<&mut Self>,
                _: &mut Context<'_>,
                _: &[u8],
            ) -> Poll<io::Result<usize>> {
                Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()))
            }
            fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }
            fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }
        }
        let (mut other, _keep) = duplex(1024);
        let error = relay(&mut Broken, &mut other).await.expect_err("an error");
        assert_eq!(error.kind(), io::ErrorKind::ConnectionReset);
    }
}
