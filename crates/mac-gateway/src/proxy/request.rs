//! Reading the client's request: the body up to the limit (413 past it), the `model` and the
//! JSON check (400 for a body that is not a JSON object), the headers the provider may see, and
//! what the executor needs ([`RequestInfo`]: session key, model).
//!
//! Headers: hop-by-hop ones (RFC 9110 §7.6.1: `Connection` and the headers it names,
//! `Keep-Alive`, `Proxy-Connection`, `Transfer-Encoding`, `TE`, `Trailer`, `Upgrade`) and
//! `Host`, `Content-Length` and `Proxy-Authorization` are dropped; the client's own
//! credentials (`x-api-key`, `Authorization`) are replaced by the shaping with the account's.
//!
//! `Accept-Encoding`: the client's is dropped and `identity` asked for. The gateway reads a
//! stream's first frames to find its commit point and scans later frames for in-band errors;
//! both need the plain text, and decompressing to scan and recompressing for the client would
//! cost CPU on every chunk. The client sits on loopback, where compression saves nothing, and
//! the provider's compression of a token stream saves little either (SSE deltas are small
//! frames flushed one by one).

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{ACCEPT_ENCODING, CONNECTION, CONTENT_LENGTH};
use axum::http::{HeaderMap, HeaderValue};
use bytes::Bytes;
use http_body_util::LengthLimitError;
use mac_adapters::HttpRequest;
use mac_executor::{BodyFields, RequestInfo, session_key_of};
use url::Url;

/// Hop-by-hop headers (RFC 9110 §7.6.1), dropped both ways (compared lower-case).
pub(super) const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
];

/// Request headers the provider never sees besides the hop-by-hop ones: set by the HTTP client
/// (`Host`, `Content-Length`), meant for a proxy, or replaced (`Accept-Encoding`).
const NOT_FORWARDED: &[&str] =
    &["host", "content-length", "proxy-authorization", "accept-encoding"];

/// A request ready to be shaped per attempt.
#[derive(Debug)]
pub(crate) struct Inbound {
    /// The request as the client sent it (minus the dropped headers), at a placeholder
    /// origin the shaping replaces with the provider's.
    pub(crate) request: HttpRequest,
    /// Session key and model.
    pub(crate) info: RequestInfo,
}

/// Why a request is answered by the gateway itself.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The body is over the limit.
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body could not be read (the client went away, a broken chunked encoding).
    Unreadable,
    /// The body is not a JSON object; why, as the JSON parser says it (line and column, never
    /// the content).
    Malformed(String),
}

/// Reads `request` (its body up to `limit` bytes).
pub(crate) async fn read(request: Request, limit: usize) -> Result<Inbound, Refusal> {
    let (parts, body) = request.into_parts();
    let declared = parts.headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse().ok());
    if declared.is_some_and(|length: usize| length > limit) {
        return Err(Refusal::TooLarge { limit });
    }
    let body = read_body(body, limit).await?;
    // One borrowed pass checks the body is a JSON object and reads the model and the session
    // sources; nothing else of the body is copied.
    let fields = BodyFields::parse(&body).map_err(|err| Refusal::Malformed(json_problem(&err)))?;
    let model = fields.model().map_err(|()| Refusal::Malformed(NOT_A_MODEL.to_owned()))?;
    let model = model.map(str::to_owned);
    let mut headers = forwarded_headers(&parts.headers);
    let session_key = session_key_of(&headers, &fields);
    headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
    let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let url = Url::parse(&format!("http://127.0.0.1{path_and_query}"))
        .map_err(|err| Refusal::Malformed(format!("the request path is not valid: {err}")))?;
    Ok(Inbound {
        request: HttpRequest { method: parts.method, url, headers, body },
        info: RequestInfo { session_key, model, max_wait: None },
    })
}

/// The body is JSON but not an object, or its `model` is not a string.
const NOT_A_MODEL: &str = "the request body must be a JSON object whose `model` is a string";

/// What is wrong with the body, by where, never quoting it (serde's own message may).
fn json_problem(err: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match err.classify() {
        Category::Eof => "the request body is not complete JSON",
        Category::Syntax | Category::Io => "the request body is not valid JSON",
        Category::Data => NOT_A_MODEL,
    };
    format!("{what} (line {}, column {})", err.line(), err.column())
}

async fn read_body(body: Body, limit: usize) -> Result<Bytes, Refusal> {
    axum::body::to_bytes(body, limit).await.map_err(|err| {
        let source = err.into_inner();
        if source.downcast_ref::<LengthLimitError>().is_some() {
            Refusal::TooLarge { limit }
        } else {
            Refusal::Unreadable
        }
    })
}

/// The client's headers the provider may see, as they came (a value need not be UTF-8: the
/// shaping works on the header map).
fn forwarded_headers(headers: &HeaderMap) -> HeaderMap {
    let named_by_connection: Vec<String> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .collect();
    headers
        .iter()
        .filter(|(name, _)| {
            let name = name.as_str();
            !HOP_BY_HOP.contains(&name)
                && !NOT_FORWARDED.contains(&name)
                && !named_by_connection.iter().any(|n| n == name)
        })
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use axum::http::Request as HttpRequestBuilder;

    use super::*;

    fn request(headers: &[(&str, &str)], body: &'static str) -> Request {
        let mut builder = HttpRequestBuilder::post("/v1/messages?beta=true");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Body::from(body)).unwrap()
    }

    #[tokio::test]
    async fn reads_model_session_and_forwardable_headers() {
        let inbound = read(
            request(
                &[
                    ("x-claude-code-session-id", "s-1"),
                    ("connection", "keep-alive, x-hop"),
                    ("x-hop", "1"),
                    ("accept-encoding", "gzip, br"),
                    ("anthropic-version", "2023-06-01"),
                    ("x-api-key", "client-key"),
                ],
                r#"{"model":"claude-sonnet-4-5","messages":[]}"#,
            ),
            1024,
        )
        .await
        .unwrap();
        assert_eq!(inbound.info.model.as_deref(), Some("claude-sonnet-4-5"));
        assert!(inbound.info.session_key.is_some());
        let headers = &inbound.request.headers;
        let get = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
        assert_eq!(get("anthropic-version"), Some("2023-06-01"));
        assert_eq!(get("accept-encoding"), Some("identity"));
        assert!(!headers.contains_key("x-hop") && !headers.contains_key("connection"));
        // Credentials are replaced per attempt by the shaping, which sees them here.
        assert_eq!(get("x-api-key"), Some("client-key"));
        assert_eq!(inbound.request.url.path(), "/v1/messages");
        assert_eq!(inbound.request.url.query(), Some("beta=true"));
    }

    #[tokio::test]
    async fn a_header_value_that_is_not_utf8_is_forwarded_as_it_came() {
        let mut incoming = request(&[], r#"{"model":"m"}"#);
        let opaque = HeaderValue::from_bytes(b"caf\xe9").unwrap();
        incoming.headers_mut().insert("x-opaque", opaque.clone());
        let inbound = read(incoming, 1024).await.unwrap();
        assert_eq!(inbound.request.headers.get("x-opaque"), Some(&opaque));
    }

    #[tokio::test]
    async fn refuses_large_and_malformed_bodies() {
        let big = request(&[], r#"{"model":"x","pad":"0123456789012345678901234567890123"}"#);
        assert_eq!(read(big, 16).await.unwrap_err(), Refusal::TooLarge { limit: 16 });
        let declared = request(&[("content-length", "99999")], "{}");
        assert_eq!(read(declared, 1024).await.unwrap_err(), Refusal::TooLarge { limit: 1024 });
        for bad in ["{\"model\": ", "[1,2]", "", "{\"model\": 3}", "\"secret text\""] {
            let refusal = read(request(&[], bad), 1024).await.unwrap_err();
            let Refusal::Malformed(why) = refusal else { panic!("{bad}: {refusal:?}") };
            assert!(why.starts_with("the request body") && !why.contains("secret"), "{why}");
        }
        let ok = read(request(&[], "{\"stream\":true}"), 1024).await.unwrap();
        assert_eq!(ok.info.model, None);
    }
}
