//! A scripted [`AttemptResponse`] for the commit-point and lease tests: each attempt takes the
//! next scripted response (a plain 200 when the script is empty), whose prelude verdict is
//! scripted too, and records which account it was sent on.

use std::collections::VecDeque;
use std::future::Ready;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use mac_executor::{Attempt, AttemptResponse, PreludeVerdict, SendError};
use mac_test_support::fixtures::header_map;

/// Anthropic's in-band rate limit.
pub(crate) const ANTHROPIC_RATE_LIMIT: &str = r#"{"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed your rate limit."}}"#;

/// Anthropic's in-band overload.
pub(crate) const ANTHROPIC_OVERLOADED: &str =
    r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;

/// Codex's usage limit, reset in 2.5 hours: the 5-hour window, not a 10 s throttle.
pub(crate) const CODEX_USAGE_LIMIT: &str = r#"{"type":"response.failed","sequence_number":2,"response":{"id":"resp_1","status":"failed","error":{"code":"usage_limit_reached","message":"The usage limit has been reached","resets_in_seconds":9000}}}"#;

/// One scripted response.
#[derive(Clone, Debug)]
pub(crate) struct ScriptedResponse {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    /// What `read_prelude` answers.
    pub(crate) prelude: Result<PreludeVerdict, SendError>,
    /// Whether `read_prelude` was called.
    pub(crate) prelude_read: bool,
}

impl ScriptedResponse {
    /// A 200 that bears output.
    pub(crate) fn ok() -> Self {
        Self {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: Bytes::from_static(b"event: content_block_delta\ndata: {}\n\n"),
            prelude: Ok(PreludeVerdict::Committed),
            prelude_read: false,
        }
    }

    /// A 200 whose stream opens with the error frame `event` / `data`.
    pub(crate) fn error_frame(event: &str, data: &str) -> Self {
        let verdict =
            PreludeVerdict::Error { event: event.to_owned(), data: Bytes::from(data.to_owned()) };
        Self { prelude: Ok(verdict), ..Self::ok() }
    }

    /// A 200 whose prelude could not be read.
    pub(crate) fn prelude_failed(error: SendError) -> Self {
        Self { prelude: Err(error), ..Self::ok() }
    }

    /// `status` with a body and headers.
    pub(crate) fn status(status: u16, body: &str, headers: &[(&str, &str)]) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap(),
            headers: header_map(headers).unwrap(),
            body: Bytes::from(body.to_owned()),
            ..Self::ok()
        }
    }
}

impl AttemptResponse for ScriptedResponse {
    fn status(&self) -> StatusCode {
        self.status
    }

    fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    async fn buffer_body(&mut self, limit: usize) -> Result<Bytes, SendError> {
        Ok(self.body.slice(..self.body.len().min(limit)))
    }

    async fn read_prelude(&mut self) -> Result<PreludeVerdict, SendError> {
        assert!(!self.prelude_read, "the prelude is read at most once");
        assert!(self.status.is_success(), "the prelude is read only for a 2xx");
        self.prelude_read = true;
        self.prelude.clone()
    }
}

/// The script and what was sent.
#[derive(Clone, Default)]
pub(crate) struct Script {
    queue: Arc<Mutex<VecDeque<ScriptedResponse>>>,
    sent: Arc<Mutex<Vec<String>>>,
}

impl Script {
    pub(crate) fn new(responses: Vec<ScriptedResponse>) -> Self {
        Self { queue: Arc::new(Mutex::new(responses.into())), ..Self::default() }
    }

    /// A send closure answering from the script.
    pub(crate) fn sender(
        &self,
    ) -> impl FnMut(Attempt) -> Ready<Result<ScriptedResponse, SendError>> + use<> {
        let script = self.clone();
        move |attempt: Attempt| {
            script.sent.lock().unwrap().push(attempt.account);
            let next = script.queue.lock().unwrap().pop_front();
            std::future::ready(Ok(next.unwrap_or_else(ScriptedResponse::ok)))
        }
    }

    /// The accounts the attempts went to, as indexes into `uuids`.
    pub(crate) fn sequence(&self, uuids: &[String]) -> Vec<usize> {
        let sent = self.sent.lock().unwrap();
        sent.iter().map(|account| uuids.iter().position(|u| u == account).unwrap()).collect()
    }
}
