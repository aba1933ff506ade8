//! The provider side of a request: [`Upstream`] sends one attempt with reqwest (a connect
//! timeout on the client, a first-byte deadline per attempt) and [`UpstreamResponse`] is what
//! the executor classifies — its status and headers, a bounded read of an error body, and for
//! a 2xx event stream its prelude up to the commit point ([`mac_adapters::Prelude`]). Whatever
//! was read is kept, so the client still gets the response from its first byte.
//!
//! No total timeout: a stream may last as long as the model writes. The first-byte deadline
//! covers the response's headers and then a stream's prelude; past it the attempt is a
//! timeout and the request moves to another account (not the account's fault).

use std::collections::VecDeque;
use std::pin::Pin;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body::Body as _;
use mac_adapters::{HttpRequest, Prelude, PreludeEnd, TlsConfig};
use mac_core::config::GatewaySettings;
use mac_executor::{AttemptResponse, PreludeVerdict, SendError};
use mac_storage::Provider;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use tokio::time::Instant;

use crate::metrics::Metrics;

/// The HTTP client to the providers: one per gateway, its connections kept alive and shared by
/// every request.
#[derive(Clone, Debug)]
pub(crate) struct Upstream {
    client: reqwest::Client,
    first_byte: Duration,
}

impl Upstream {
    /// A client with the settings' connect timeout; redirects are not followed (a provider
    /// that redirects an API call is answered as it answered).
    pub(crate) fn new(settings: &GatewaySettings, tls: &TlsConfig) -> Result<Self, reqwest::Error> {
        let client = tls
            .apply(reqwest::Client::builder())
            .connect_timeout(settings.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            // No retries inside reqwest: the executor decides every further attempt (on another
            // account). reqwest's default policy retries only HTTP/2 and HTTP/3 refusals, which
            // this build cannot speak, yet it copied every request's headers to be ready for one
            // (one header map and an allocation per header value, each request); with zero
            // retries allowed it copies nothing.
            .retry(reqwest::retry::never().max_retries_per_request(0))
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(90))
            .build()?;
        Ok(Self { client, first_byte: settings.first_byte_timeout })
    }

    /// Sends one attempt and waits for the response's headers (at most the first-byte
    /// timeout). The latency to the headers goes to `metrics`.
    pub(crate) async fn send(
        &self,
        request: HttpRequest,
        provider: Provider,
        metrics: &Metrics,
    ) -> Result<UpstreamResponse, SendError> {
        let started = Instant::now();
        let deadline = started + self.first_byte;
        let sent = self
            .client
            .request(request.method, request.url)
            .headers(request.headers)
            .body(request.body)
            .send();
        let response = match tokio::time::timeout_at(deadline, sent).await {
            Ok(Ok(response)) => response,
            Ok(Err(err)) => return Err(classify(&err)),
            Err(_) => {
                return Err(SendError::timeout(format!(
                    "no answer from the provider within {}s",
                    self.first_byte.as_secs()
                )));
            }
        };
        metrics.upstream_latency(provider, started.elapsed());
        Ok(UpstreamResponse::new(response, deadline, self.first_byte))
    }
}

/// A reqwest failure as the executor's kind. reqwest's messages name the URL, never a header
/// value: no token can leak here.
fn classify(err: &reqwest::Error) -> SendError {
    if err.is_timeout() {
        SendError::timeout(err.to_string())
    } else if err.is_builder() {
        SendError::fatal(err.to_string())
    } else {
        SendError::network(err.to_string())
    }
}

/// One attempt's response: status and headers, the chunks already read, and the rest of the
/// body unread.
pub(crate) struct UpstreamResponse {
    status: StatusCode,
    headers: HeaderMap,
    /// Chunks read by `buffer_body` or `read_prelude`, to be sent first.
    kept: VecDeque<Bytes>,
    /// The rest of the body; `None` once it ended.
    body: Option<reqwest::Body>,
    /// The first-byte deadline of the attempt (headers, then a stream's commit point).
    deadline: Instant,
    first_byte: Duration,
}

impl std::fmt::Debug for UpstreamResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamResponse").field("status", &self.status).finish_non_exhaustive()
    }
}

/// The parts of a response the client body streams.
pub(crate) struct Parts {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) kept: VecDeque<Bytes>,
    pub(crate) body: Option<reqwest::Body>,
}

impl UpstreamResponse {
    fn new(response: reqwest::Response, deadline: Instant, first_byte: Duration) -> Self {
        let response: axum::http::Response<reqwest::Body> = response.into();
        let (parts, body) = response.into_parts();
        Self {
            status: parts.status,
            headers: parts.headers,
            kept: VecDeque::new(),
            body: Some(body),
            deadline,
            first_byte,
        }
    }

    /// Whether the response is a server-sent-event stream.
    pub(crate) fn is_event_stream(&self) -> bool {
        is_event_stream(&self.headers)
    }

    /// Its parts, for the client body.
    pub(crate) fn into_parts(self) -> Parts {
        Parts { status: self.status, headers: self.headers, kept: self.kept, body: self.body }
    }

    /// The next chunk of the body before the first-byte deadline, kept for the client; `None`
    /// at its end.
    async fn read_chunk(&mut self) -> Result<Option<Bytes>, SendError> {
        let Some(body) = self.body.as_mut() else { return Ok(None) };
        loop {
            let frame = std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx));
            match tokio::time::timeout_at(self.deadline, frame).await {
                Err(_) => {
                    return Err(SendError::timeout(format!(
                        "no output from the provider within {}s",
                        self.first_byte.as_secs()
                    )));
                }
                Ok(None) => {
                    self.body = None;
                    return Ok(None);
                }
                Ok(Some(Err(err))) => return Err(classify(&err)),
                Ok(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        self.kept.push_back(data.clone());
                        return Ok(Some(data));
                    }
                    // Trailers before the end: nothing to keep.
                }
            }
        }
    }
}

/// Whether `headers` name a server-sent-event stream.
pub(crate) fn is_event_stream(headers: &HeaderMap) -> bool {
    headers.get(CONTENT_TYPE).is_some_and(|value| {
        let value = value.as_bytes();
        value.len() >= EVENT_STREAM.len()
            && value[..EVENT_STREAM.len()].eq_ignore_ascii_case(EVENT_STREAM)
    })
}

const EVENT_STREAM: &[u8] = b"text/event-stream";

impl AttemptResponse for UpstreamResponse {
    fn status(&self) -> StatusCode {
        self.status
    }

    fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    async fn buffer_body(&mut self, limit: usize) -> Result<Bytes, SendError> {
        let mut read: usize = self.kept.iter().map(Bytes::len).sum();
        while read < limit {
            match self.read_chunk().await? {
                Some(chunk) => read += chunk.len(),
                None => break,
            }
        }
        let mut body = BytesMut::with_capacity(read.min(limit));
        for chunk in &self.kept {
            let room = limit - body.len();
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if body.len() == limit {
                break;
            }
        }
        Ok(body.freeze())
    }

    /// An event stream is read with [`Prelude`] until its first output-bearing frame, an error
    /// frame, its bound or its end; any other 2xx body is committed unread. A first-byte
    /// timeout or a cut connection inside the prelude is the attempt's `SendError`.
    async fn read_prelude(&mut self) -> Result<PreludeVerdict, SendError> {
        if !self.is_event_stream() {
            return Ok(PreludeVerdict::Committed);
        }
        let mut prelude = Prelude::default();
        let end = loop {
            match self.read_chunk().await? {
                Some(chunk) => {
                    if let Some(end) = prelude.feed(&chunk) {
                        break end;
                    }
                }
                None => break prelude.finish(),
            }
        };
        Ok(match end {
            PreludeEnd::Error(frame) => {
                PreludeVerdict::Error { event: frame.kind_name(), data: Bytes::from(frame.data) }
            }
            PreludeEnd::Output { .. } | PreludeEnd::LimitReached | PreludeEnd::Ended => {
                PreludeVerdict::Committed
            }
        })
    }
}
