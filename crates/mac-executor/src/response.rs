//! What the executor needs from one attempt's response, and the error of an attempt that got
//! none (D16): the executor never builds or sends a request itself; the caller's closure does,
//! with the credentials the executor hands it.

use std::fmt;
use std::future::Future;

use bytes::Bytes;

/// A response to one attempt, as the executor sees it: a status and headers to classify it,
/// and — only for responses it will not hand back as they are (401, 403, 429, 529, 5xx) — a
/// bounded read of the body. A response the executor returns keeps its body unread, so the
/// caller can stream it.
pub trait AttemptResponse: Send {
    /// The HTTP status.
    fn status(&self) -> u16;

    /// The headers, names in any case, values as bytes (for rate-limit headers).
    fn headers(&self) -> Vec<(String, Vec<u8>)>;

    /// Reads up to `limit` bytes of the body and keeps them, so the response can still be
    /// handed to the caller afterwards (implementations replay the buffered bytes). Called at
    /// most once per response.
    fn buffer_body(
        &mut self,
        limit: usize,
    ) -> impl Future<Output = Result<Bytes, SendError>> + Send;
}

/// A complete in-memory response: for tests, and for callers whose responses are small.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BufferedResponse {
    /// The status.
    pub status: u16,
    /// The headers.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body.
    pub body: Bytes,
}

impl BufferedResponse {
    /// A response with a status and a body, no headers.
    pub fn new(status: u16, body: impl Into<Bytes>) -> Self {
        Self { status, headers: Vec::new(), body: body.into() }
    }

    /// Adds a header.
    #[must_use]
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.as_bytes().to_vec()));
        self
    }
}

impl AttemptResponse for BufferedResponse {
    fn status(&self) -> u16 {
        self.status
    }

    fn headers(&self) -> Vec<(String, Vec<u8>)> {
        self.headers.clone()
    }

    async fn buffer_body(&mut self, limit: usize) -> Result<Bytes, SendError> {
        Ok(self.body.slice(..self.body.len().min(limit)))
    }
}

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
