//! Request shaping without I/O (the seed's request transforms): what a request must look like when
//! it leaves with one account's token. The executor calls it once per attempt, the gateway once per
//! forwarded request; both keep the caller's request and shape a copy (the body is [`Bytes`], so a
//! copy costs no body copy unless the body is rewritten).
//!
//! Common rules: headers are an `http` [`HeaderMap`] (names case-insensitive, values bytes that
//! need not be UTF-8, passed through as they came); the caller's `Authorization` and
//! `x-api-key` are dropped and the account's bearer token set (marked sensitive); `Host` and
//! `Content-Length` are dropped because the URL and possibly the body change (the HTTP client
//! sets both); the origin becomes the descriptor's `api_base_url` (a path prefix in
//! `api_base_url` is kept in front of the request's path), so a request that came to the
//! gateway at `127.0.0.1` leaves for the provider. An account value that HTTP cannot carry
//! (a token or account id with a control character) fails the shaping with
//! [`BadHeaderValue`]: no request could be sent with it.

mod anthropic;
mod branding;
mod codex;

use std::fmt;

pub use anthropic::{AnthropicShaping, shape_anthropic};
use bytes::Bytes;
pub use codex::shape_codex;
use http::header::{AUTHORIZATION, CONTENT_LENGTH, HOST};
use http::{HeaderMap, HeaderName, Method};
use mac_storage::Secret;
use url::Url;

use crate::headers::{self, BadHeaderValue};

/// Header values never shown by `Debug`.
const SENSITIVE: &[&str] =
    &["authorization", "proxy-authorization", "x-api-key", "cookie", "set-cookie"];

/// The header of an API key, which the account's bearer token replaces.
const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// A request as the shaping functions take and return it. `Debug` shows the body's length
/// only (it holds the user's conversation) and no value of `Authorization`,
/// `Proxy-Authorization`, `x-api-key`, `Cookie` or `Set-Cookie`.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// The method, passed through.
    pub method: Method,
    /// Where the request goes.
    pub url: Url,
    /// The headers (names are case-insensitive; a repeated name keeps every value, in order).
    pub headers: HeaderMap,
    /// The body (replayable: clones share the bytes).
    pub body: Bytes,
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url.as_str())
            .field("headers", &Redacted(&self.headers))
            .field("body", &format_args!("[{} bytes]", self.body.len()))
            .finish()
    }
}

/// Headers shown without the values of [`SENSITIVE`] names.
struct Redacted<'a>(&'a HeaderMap);

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(name, value)| {
                let shown: &dyn fmt::Debug =
                    if SENSITIVE.contains(&name.as_str()) { &"[redacted]" } else { value };
                (name.as_str(), shown)
            }))
            .finish()
    }
}

/// Drops what the caller must not decide and sets the bearer token.
fn authorize(headers: &mut HeaderMap, access_token: &Secret) -> Result<(), BadHeaderValue> {
    for name in [AUTHORIZATION, X_API_KEY, HOST, CONTENT_LENGTH] {
        headers.remove(name);
    }
    headers.insert(AUTHORIZATION, headers::bearer(access_token)?);
    Ok(())
}

/// `url`'s path and query on `base`'s origin, behind `base`'s path prefix if it has one.
fn on_base(url: &Url, base: &Url) -> Url {
    let mut moved = base.clone();
    let prefix = base.path().trim_end_matches('/');
    moved.set_path(&format!("{prefix}{}", url.path()));
    moved.set_query(url.query());
    moved.set_fragment(None);
    moved
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn debug_hides_secret_values_and_the_body() {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer tok-123"));
        headers.insert(X_API_KEY, HeaderValue::from_static("sk-1"));
        headers.insert("cookie", HeaderValue::from_static("session=c-9"));
        headers.insert("accept", HeaderValue::from_static("*/*"));
        let request = HttpRequest {
            method: Method::POST,
            url: Url::parse("http://127.0.0.1/v1/messages").unwrap(),
            headers,
            body: Bytes::from_static(b"{\"secret\":\"prompt\"}"),
        };
        let debug = format!("{request:?}");
        assert!(!debug.contains("tok-123") && !debug.contains("sk-1"), "{debug}");
        assert!(!debug.contains("c-9"), "{debug}");
        assert!(!debug.contains("prompt") && debug.contains("accept"), "{debug}");
    }

    #[test]
    fn on_base_keeps_path_and_query_and_a_base_prefix() {
        let url = Url::parse("http://127.0.0.1:8080/v1/models?x=1#frag").unwrap();
        let base = Url::parse("https://api.example.com").unwrap();
        assert_eq!(on_base(&url, &base).as_str(), "https://api.example.com/v1/models?x=1");
        let prefixed = Url::parse("http://127.0.0.1:9/proxy/").unwrap();
        assert_eq!(on_base(&url, &prefixed).as_str(), "http://127.0.0.1:9/proxy/v1/models?x=1");
    }
}
