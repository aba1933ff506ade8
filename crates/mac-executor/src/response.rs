//! What the executor needs from one attempt's response — its status, headers, a bounded read
//! of an error body, and for a 2xx stream its commit point ([`PreludeVerdict`]) — and the error
//! of an attempt that got none (D16): the executor never builds or sends a request itself; the
//! caller's closure does, with the credentials the executor hands it.

use std::fmt;
use std::future::Future;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, StatusCode};

/// What a 2xx response's first frames said (the commit point).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PreludeVerdict {
    /// The response bears output (or is not a stream): hand it to the caller.
    Committed,
    /// The stream opened with an in-band error frame before any output: the event name and the
    /// frame's data, classified like the status they stand for
    /// ([`mac_ratelimit::observe_in_band`]).
    Error {
        /// The frame's event name (`error`, `response.failed`).
        event: String,
        /// The frame's data (its `data` lines joined).
        data: Bytes,
    },
}

/// A response to one attempt, as the executor sees it: a status and headers to classify it,
/// and — only for responses it will not hand back as they are (401, 403, 429, 529, 5xx) — a
/// bounded read of the body. A 2xx response is read up to its commit point
/// ([`AttemptResponse::read_prelude`]) and no further. A response the executor returns keeps
/// everything it read replayable, so the caller can stream it from its first byte.
pub trait AttemptResponse: Send {
    /// The HTTP status.
    fn status(&self) -> StatusCode;

    /// The headers (for rate-limit headers), borrowed: the executor reads them in place.
    fn headers(&self) -> &HeaderMap;

    /// Reads up to `limit` bytes of the body and keeps them, so the response can still be
    /// handed to the caller afterwards (implementations replay the buffered bytes). Called at
    /// most once per response.
    fn buffer_body(
        &mut self,
        limit: usize,
    ) -> impl Future<Output = Result<Bytes, SendError>> + Send;

    /// For a 2xx response: reads it up to its commit point, keeping what it read so the
    /// response can still be streamed from its first byte. Called at most once, only for 2xx.
    /// Default: [`PreludeVerdict::Committed`] (a response with no stream prelude). A first-byte
    /// timeout or a connection cut inside the prelude is `Err(SendError::timeout / network)`:
    /// the attempt got no usable response and the request rotates (counted like a network
    /// error, not against the account). A [`SendErrorKind::Fatal`] error ends the execution.
    fn read_prelude(&mut self) -> impl Future<Output = Result<PreludeVerdict, SendError>> + Send {
        std::future::ready(Ok(PreludeVerdict::Committed))
    }
}

/// A complete in-memory response: for tests, and for callers whose responses are small.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BufferedResponse {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl BufferedResponse {
    /// A response with a status and a body, no headers.
    pub fn new(status: StatusCode, body: impl Into<Bytes>) -> Self {
        Self { status, headers: HeaderMap::new(), body: body.into() }
    }
}

impl AttemptResponse for BufferedResponse {
    fn status(&self) -> StatusCode {
        self.status
    }

    fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    async fn buffer_body(&mut self, limit: usize) -> Result<Bytes, SendError> {
        Ok(self.body.slice(..self.body.len().min(limit)))
    }

    /// An event stream (`content-type: text/event-stream`) is read with
    /// [`mac_adapters::Prelude`] up to [`mac_adapters::PRELUDE_LIMIT`]: a caller that buffers a
    /// stream still rotates on an error frame that opens it. Any other body is committed.
    async fn read_prelude(&mut self) -> Result<PreludeVerdict, SendError> {
        if !self.is_event_stream() {
            return Ok(PreludeVerdict::Committed);
        }
        let mut prelude = mac_adapters::Prelude::new(mac_adapters::PRELUDE_LIMIT);
        let end = prelude.feed(&self.body).unwrap_or_else(|| prelude.finish());
        Ok(match end {
            mac_adapters::PreludeEnd::Error(frame) => {
                PreludeVerdict::Error { event: frame.kind_name(), data: Bytes::from(frame.data) }
            }
            _ => PreludeVerdict::Committed,
        })
    }
}

impl BufferedResponse {
    /// Whether the `content-type` header names a server-sent-event stream.
    fn is_event_stream(&self) -> bool {
        self.headers.get_all(CONTENT_TYPE).iter().map(HeaderValue::as_bytes).any(|value| {
            value.len() >= EVENT_STREAM.len()
                && value[..EVENT_STREAM.len()].eq_ignore_ascii_case(EVENT_STREAM)
        })
    }
}

/// The media type of a server-sent-event stream.
const EVENT_STREAM: &[u8] = b"text/event-stream";

/// Why an attempt produced no response.
#[derive(Clone, PartialEq, Eq)]
pub struct SendError {
    kind: SendErrorKind,
    message: String,
}

/// The kind of a [`SendError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendErrorKind {
    /// The connection failed or dropped: another account (another connection) may work.
    Network,
    /// No answer in time.
    Timeout,
    /// The request could not be built or sent for a reason another account will not fix.
    Fatal,
}

impl SendError {
    /// A connection failure. `message` must not contain a token.
    pub fn network(message: impl Into<String>) -> Self {
        Self { kind: SendErrorKind::Network, message: message.into() }
    }

    /// A timeout.
    pub fn timeout(message: impl Into<String>) -> Self {
        Self { kind: SendErrorKind::Timeout, message: message.into() }
    }

    /// A failure no rotation can fix (the request itself is bad): ends the execution.
    pub fn fatal(message: impl Into<String>) -> Self {
        Self { kind: SendErrorKind::Fatal, message: message.into() }
    }

    /// The kind.
    pub fn kind(&self) -> SendErrorKind {
        self.kind
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Debug for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SendError({:?}: {})", self.kind, self.message)
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SendError {}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE_LIMIT: &str =
        r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#;

    fn with_content_type(body: String, content_type: &'static str) -> BufferedResponse {
        let mut response = BufferedResponse::new(StatusCode::OK, body);
        response.headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        response
    }

    fn stream(body: String) -> BufferedResponse {
        with_content_type(body, "text/event-stream; charset=utf-8")
    }

    #[tokio::test]
    async fn a_buffered_event_stream_is_read_to_its_commit_point() {
        let opened_with_error =
            format!("event: message_start\ndata: {{}}\n\nevent: error\ndata: {RATE_LIMIT}\n\n");
        let verdict = stream(opened_with_error).read_prelude().await;
        let expected =
            PreludeVerdict::Error { event: "error".into(), data: Bytes::from(RATE_LIMIT) };
        assert_eq!(verdict, Ok(expected));

        let output_first = format!(
            "event: content_block_start\ndata: {{}}\n\nevent: error\ndata: {RATE_LIMIT}\n\n"
        );
        assert_eq!(stream(output_first).read_prelude().await, Ok(PreludeVerdict::Committed));

        // A frame without an `event` line stands under its JSON `type`.
        let failed = r#"{"type":"response.failed","response":{"error":{"code":"server_error"}}}"#;
        let verdict = stream(format!("data: {failed}\n\n")).read_prelude().await;
        let expected =
            PreludeVerdict::Error { event: "response.failed".into(), data: Bytes::from(failed) };
        assert_eq!(verdict, Ok(expected));
    }

    #[tokio::test]
    async fn a_body_that_is_no_event_stream_is_committed() {
        let body = format!("event: error\ndata: {RATE_LIMIT}\n\n");
        let mut json = with_content_type(body, "application/json");
        assert_eq!(json.read_prelude().await, Ok(PreludeVerdict::Committed));
    }
}
