//! A reqwest response as an attempt's response: the executor reads its status and headers, and
//! only for the statuses it classifies (401, 403, 429, 529, 5xx) a bounded prefix of its body —
//! which is kept, so a response handed back to the caller still yields its whole body, in
//! order, streamed.

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, StatusCode};
use mac_executor::{AttemptResponse, SendError};

/// A response received for one attempt.
#[derive(Debug)]
pub struct HttpResponse {
    status: StatusCode,
    /// reqwest's own map, moved out of the response (the body reader does not need it).
    headers: HeaderMap,
    /// Bytes already read from the body (by `buffer_body`), to be replayed first.
    prefix: Bytes,
    rest: Option<reqwest::Response>,
}

/// Sends a request built with reqwest, mapping failures to the executor's kinds: a timeout, a
/// connection failure (rotate to another account), or a request that cannot be built (fatal).
pub async fn send(request: reqwest::RequestBuilder) -> Result<HttpResponse, SendError> {
    let response = request.send().await.map_err(|err| classify(&err))?;
    Ok(HttpResponse::new(response))
}

fn classify(err: &reqwest::Error) -> SendError {
    // reqwest's messages name the URL, never a header value: no token can leak here.
    if err.is_timeout() {
        SendError::timeout(err.to_string())
    } else if err.is_builder() {
        SendError::fatal(err.to_string())
    } else {
        SendError::network(err.to_string())
    }
}

impl HttpResponse {
    /// Wraps a response whose body has not been read.
    pub fn new(mut response: reqwest::Response) -> Self {
        let headers = std::mem::take(response.headers_mut());
        Self { status: response.status(), headers, prefix: Bytes::new(), rest: Some(response) }
    }

    /// The next chunk of the body (the buffered prefix first); `None` at the end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, SendError> {
        if !self.prefix.is_empty() {
            return Ok(Some(std::mem::take(&mut self.prefix)));
        }
        match self.rest.as_mut() {
            Some(response) => response.chunk().await.map_err(|err| classify(&err)),
            None => Ok(None),
        }
    }

    /// The whole body.
    pub async fn bytes(mut self) -> Result<Bytes, SendError> {
        let mut body = BytesMut::new();
        while let Some(chunk) = self.chunk().await? {
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }
}

impl AttemptResponse for HttpResponse {
    fn status(&self) -> StatusCode {
        self.status
    }

    fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    async fn buffer_body(&mut self, limit: usize) -> Result<Bytes, SendError> {
        let mut buffered = BytesMut::from(&self.prefix[..]);
        while buffered.len() < limit {
            let Some(response) = self.rest.as_mut() else { break };
            if let Some(chunk) = response.chunk().await.map_err(|err| classify(&err))? {
                buffered.extend_from_slice(&chunk);
            } else {
                self.rest = None;
                break;
            }
        }
        self.prefix = buffered.freeze();
        Ok(self.prefix.slice(..self.prefix.len().min(limit)))
    }
}
