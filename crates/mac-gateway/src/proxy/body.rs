//! The body the client receives: the chunks the executor already read (a stream's prelude, a
//! buffered error body), then the rest of the upstream body chunk by chunk as it arrives — never
//! buffered whole, with the client's backpressure (the upstream is polled only when the client
//! takes more). Between two chunks the upstream may be silent for the idle timeout at most; the
//! stream as a whole has no time limit.
//!
//! A stream's frames are scanned after the commit point ([`mac_adapters::SseScanner`]) to
//! notice an in-band error frame, which passes to the client unchanged. The end is reported to
//! the pool through the [`Lease`]: read to its end (`Completed`, or `InBandError` when an
//! error frame came), cut by the upstream or silent too long (`UpstreamCut`), or dropped
//! before its end because the client went away (`ClientGone`: dropping the body drops the
//! upstream response, which cancels the upstream request, and the lease, which releases the
//! account). Then the request's one log line is written and its record published.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use mac_adapters::{FrameKind, PRELUDE_LIMIT, SseFrame, SseScanner};
use mac_executor::{Lease, StreamEnd};
use tokio::time::{Instant, Sleep};

use super::finish::Finish;

/// Why the client body stopped early (hyper then aborts the response).
#[derive(Debug)]
pub(crate) struct BodyError(String);

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BodyError {}

/// Watches a stream's frames for an in-band error after the commit point.
struct InBandWatch {
    scanner: SseScanner,
    frames: Vec<SseFrame>,
    /// An output frame has passed (or the prelude's bound): error frames from here on are
    /// after the commit point.
    committed: bool,
    bytes: usize,
    /// The first in-band error after the commit point.
    error: Option<StreamEnd>,
}

impl InBandWatch {
    fn new() -> Self {
        Self {
            scanner: SseScanner::default(),
            frames: Vec::new(),
            committed: false,
            bytes: 0,
            error: None,
        }
    }

    fn feed(&mut self, chunk: &[u8]) {
        if self.error.is_some() {
            return;
        }
        self.bytes = self.bytes.saturating_add(chunk.len());
        self.frames.clear();
        // A frame over the scanner's bound stops the watch: the bytes still pass unchanged.
        let _ = self.scanner.feed_into(chunk, &mut self.frames);
        for frame in self.frames.drain(..) {
            match FrameKind::of(&frame) {
                FrameKind::Output => self.committed = true,
                FrameKind::Error if self.committed || self.bytes > PRELUDE_LIMIT => {
                    self.error = Some(StreamEnd::InBandError {
                        event: frame.kind_name(),
                        data: Bytes::from(frame.data),
                    });
                    return;
                }
                FrameKind::Error | FrameKind::Preamble => {}
            }
        }
    }
}

/// The client's body of a response served by an account.
pub(crate) struct ClientBody {
    kept: VecDeque<Bytes>,
    upstream: Option<reqwest::Body>,
    idle: Duration,
    /// The idle deadline, reset at every chunk.
    silence: Pin<Box<Sleep>>,
    watch: Option<InBandWatch>,
    lease: Option<Lease>,
    finish: Option<Finish>,
}

impl ClientBody {
    /// A body replaying `kept`, then `upstream`; `event_stream` turns the in-band watch on.
    pub(crate) fn new(
        kept: VecDeque<Bytes>,
        upstream: Option<reqwest::Body>,
        event_stream: bool,
        idle: Duration,
        lease: Lease,
        finish: Finish,
    ) -> Self {
        let mut body = Self {
            kept,
            upstream,
            idle,
            silence: Box::pin(tokio::time::sleep(idle)),
            watch: event_stream.then(InBandWatch::new),
            lease: Some(lease),
            finish: Some(finish),
        };
        if body.upstream.is_none() && body.kept.is_empty() {
            body.end(StreamEnd::Completed);
        }
        body
    }

    /// Reports how the response ended (once): to the pool through the lease, then the log
    /// line and the record.
    fn end(&mut self, end: StreamEnd) {
        // An error frame that passed is evidence about the account, whatever stopped the
        // stream after it.
        let end = self.watch.as_mut().and_then(|w| w.error.take()).unwrap_or(end);
        self.upstream = None;
        if let Some(finish) = self.finish.take() {
            finish.done(&end);
        }
        if let Some(lease) = self.lease.take() {
            lease.finish(end);
        }
    }

    fn pass(&mut self, chunk: &Bytes) {
        if let Some(watch) = self.watch.as_mut() {
            watch.feed(chunk);
        }
    }
}

impl Body for ClientBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        if let Some(chunk) = this.kept.pop_front() {
            this.pass(&chunk);
            if this.kept.is_empty() && this.upstream.is_none() {
                this.end(StreamEnd::Completed);
            }
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        let Some(upstream) = this.upstream.as_mut() else { return Poll::Ready(None) };
        match Pin::new(&mut *upstream).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let deadline = Instant::now() + this.idle;
                this.silence.as_mut().reset(deadline);
                let ended = upstream.is_end_stream();
                if let Some(chunk) = frame.data_ref() {
                    let chunk = chunk.clone();
                    this.pass(&chunk);
                }
                if ended {
                    this.end(StreamEnd::Completed);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) => {
                this.end(StreamEnd::Completed);
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(err))) => {
                let reason = format!("the provider's stream broke: {err}");
                this.end(StreamEnd::UpstreamCut { reason: reason.clone() });
                Poll::Ready(Some(Err(BodyError(reason))))
            }
            Poll::Pending => {
                if this.silence.as_mut().poll(cx).is_ready() {
                    let reason = format!("the provider was silent for {}s", this.idle.as_secs());
                    this.end(StreamEnd::UpstreamCut { reason: reason.clone() });
                    return Poll::Ready(Some(Err(BodyError(reason))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.kept.is_empty() && self.upstream.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        let kept: u64 = self.kept.iter().map(|chunk| chunk.len() as u64).sum();
        let rest = self.upstream.as_ref().map_or_else(|| SizeHint::with_exact(0), Body::size_hint);
        let mut hint = SizeHint::new();
        hint.set_lower(rest.lower().saturating_add(kept));
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper.saturating_add(kept));
        }
        hint
    }
}

impl Drop for ClientBody {
    /// Dropped before its end: the client went away. The upstream body drops with it (the
    /// upstream request is cancelled) and the lease reports `ClientGone`.
    fn drop(&mut self) {
        if self.finish.is_some() || self.lease.is_some() {
            self.end(StreamEnd::ClientGone);
        }
    }
}
