//! Body wrappers for streaming without buffering: an inactivity deadline per body (so
//! `HP_TIMEOUT_CLIENT` covers a stalled upload and `HP_TIMEOUT_SERVER` a stalled download, as
//! HAProxy's timeouts do) and a hook that runs when a response body is finished or dropped.

use super::body::BoxError;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// A body that fails if no data arrives for `idle`.
pub struct IdleTimeout<B> {
    inner: B,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
    armed: bool,
    what: &'static str,
}

impl<B> IdleTimeout<B> {
    /// `what` names the stalled side in the error, e.g. "ExApp response".
    pub fn new(inner: B, idle: Duration, what: &'static str) -> Self {
        IdleTimeout {
            inner,
            idle,
            timer: Box::pin(tokio::time::sleep(idle)),
            armed: false,
            what,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0} idle for longer than the timeout")]
pub struct BodyIdle(&'static str);

impl<B> HttpBody for IdleTimeout<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.armed = false;
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                if !this.armed {
                    let deadline = Instant::now() + this.idle;
                    this.timer.as_mut().reset(deadline);
                    this.armed = true;
                }
                match this.timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyIdle(this.what))))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A body that calls `on_done` once when it ends or is dropped.
pub struct OnDone<B, F: FnOnce()> {
    inner: B,
    on_done: Option<F>,
}

impl<B, F: FnOnce()> OnDone<B, F> {
    pub fn new(inner: B, on_done: F) -> Self {
        OnDone {
            inner,
            on_done: Some(on_done),
        }
    }

    fn fire(&mut self) {
        if let Some(f) = self.on_done.take() {
            f()
        }
    }
}

impl<B, F: FnOnce()> Drop for OnDone<B, F> {
    fn drop(&mut self) {
        self.fire()
    }
}

impl<B, F> HttpBody for OnDone<B, F>
where
    B: HttpBody + Unpin,
    F: FnOnce() + Unpin,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
            self.fire();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
