//! Scripted answers: queued per endpoint, each consumed by one request before the default
//! behaviour resumes.

use std::time::Duration;

use serde_json::{Value, json};

/// The body of a [`Scripted`] answer.
#[derive(Clone, Debug, PartialEq)]
pub enum ScriptedBody {
    /// A JSON body (`content-type: application/json` unless a header overrides it).
    Json(Value),
    /// A text body (`content-type: text/plain; charset=utf-8` unless overridden).
    Text(String),
    /// A server-sent-event stream: each string is sent as its own chunk, with the fake's stream
    /// pause between chunks (`content-type: text/event-stream` unless overridden).
    Sse(Vec<String>),
    /// Raw bytes (`content-type: application/octet-stream` unless overridden).
    Bytes(Vec<u8>),
    /// The answer the endpoint would give without a script (status and headers of the script
    /// are ignored); with [`Scripted::delay`] this is a slow but otherwise normal answer.
    Default,
}

/// One scripted answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Scripted {
    /// The HTTP status.
    pub status: u16,
    /// Extra response headers (a `content-type` here replaces the body's default).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: ScriptedBody,
    /// Waited before answering (after the endpoint's delay, if any).
    pub delay: Option<Duration>,
    /// Close the connection instead of answering, a network error for the client. With an
    /// [`ScriptedBody::Sse`] body the chunks are sent first and the stream is cut before its end.
    pub drop_connection: bool,
}

impl Scripted {
    /// `status` with a JSON body.
    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: ScriptedBody::Json(body),
            delay: None,
            drop_connection: false,
        }
    }

    /// `200` with a JSON body.
    pub fn ok_json(body: Value) -> Self {
        Self::json(200, body)
    }

    /// `status` with an empty body.
    pub fn status(status: u16) -> Self {
        Self { body: ScriptedBody::Text(String::new()), ..Self::json(status, Value::Null) }
    }

    /// `429` with `headers` (e.g. `retry-after`, `anthropic-ratelimit-unified-*`) and an
    /// Anthropic `rate_limit_error` body.
    pub fn rate_limited(headers: Vec<(String, String)>) -> Self {
        Self {
            headers,
            ..Self::json(
                429,
                anthropic_error("rate_limit_error", "This request would exceed your rate limit."),
            )
        }
    }

    /// `403` `permission_error` "OAuth token has been revoked".
    pub fn revoked() -> Self {
        Self::json(403, anthropic_error("permission_error", "OAuth token has been revoked"))
    }

    /// `401` `authentication_error` "invalid token".
    pub fn unauthorized() -> Self {
        Self::json(401, anthropic_error("authentication_error", "invalid token"))
    }

    /// `status` (a 5xx) with an Anthropic `api_error` body.
    pub fn server_error(status: u16) -> Self {
        Self::json(status, anthropic_error("api_error", "Internal server error"))
    }

    /// `529` `overloaded_error`.
    pub fn overloaded() -> Self {
        Self::json(529, anthropic_error("overloaded_error", "Overloaded"))
    }

    /// The endpoint's normal answer, after `delay`.
    pub fn slow(delay: Duration) -> Self {
        Self { body: ScriptedBody::Default, delay: Some(delay), ..Self::status(200) }
    }

    /// `status` with an HTML page, as a proxy or a login wall answers.
    pub fn html_error_page(status: u16) -> Self {
        Self {
            headers: vec![("content-type".into(), "text/html; charset=utf-8".into())],
            body: ScriptedBody::Text(format!(
                "<!DOCTYPE html><html><head><title>{status}</title></head>\
                 <body><h1>Error {status}</h1><p>Something went wrong.</p></body></html>"
            )),
            ..Self::status(status)
        }
    }

    /// `200` whose JSON body is cut in the middle (complete HTTP message, invalid JSON).
    pub fn truncated_json() -> Self {
        Self {
            headers: vec![("content-type".into(), "application/json".into())],
            body: ScriptedBody::Text(r#"{"access_token":"fake-trunc","expires_in":36"#.into()),
            ..Self::status(200)
        }
    }

    /// `200` with a body that is not UTF-8, labelled JSON.
    pub fn non_utf8() -> Self {
        Self {
            headers: vec![("content-type".into(), "application/json".into())],
            body: ScriptedBody::Bytes(vec![0x7b, 0x22, 0xff, 0xfe, 0xc3, 0x28, 0x22, 0x7d]),
            ..Self::status(200)
        }
    }

    /// `200` with an SSE stream of `chunks`.
    pub fn sse(chunks: Vec<String>) -> Self {
        Self { body: ScriptedBody::Sse(chunks), ..Self::status(200) }
    }

    /// The connection is closed without an answer.
    pub fn dropped() -> Self {
        Self { drop_connection: true, ..Self::status(200) }
    }

    /// This answer with `delay` before it.
    #[must_use]
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// This answer with one more header.
    #[must_use]
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// This answer, but the connection is cut (see [`Scripted::drop_connection`]).
    #[must_use]
    pub fn with_drop(mut self) -> Self {
        self.drop_connection = true;
        self
    }
}

/// An Anthropic error body: `{"type":"error","error":{"type":..,"message":..}}`.
pub(crate) fn anthropic_error(kind: &str, message: &str) -> Value {
    json!({ "type": "error", "error": { "type": kind, "message": message } })
}
