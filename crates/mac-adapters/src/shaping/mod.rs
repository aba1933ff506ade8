//! Request shaping without I/O (the seed's request transforms): what a request must look like when
//! it leaves with one account's token. The executor calls it once per attempt, the gateway once per
//! forwarded request; both keep the caller's request and shape a copy (the body is [`Bytes`], so a
//! copy costs no body copy unless the body is rewritten).
//!
//! Common rules: header names are compared case-insensitively; the caller's `Authorization`
//! and `x-api-key` are dropped and the account's bearer token set; `Host` and
//! `Content-Length` are dropped because the URL and possibly the body change (the HTTP client
//! sets both); the origin becomes the descriptor's `api_base_url` (a path prefix in
//! `api_base_url` is kept in front of the request's path), so a request that came to the
//! gateway at `127.0.0.1` leaves for the provider.

mod anthropic;
mod branding;
mod codex;

use std::fmt;

pub use anthropic::{AnthropicShaping, shape_anthropic};
use bytes::Bytes;
pub use codex::shape_codex;
use mac_storage::Secret;
pub use reqwest::Method;
use url::Url;

/// Header values never shown by `Debug`.
const SENSITIVE: &[&str] =
    &["authorization", "proxy-authorization", "x-api-key", "cookie", "set-cookie"];

/// An ordered list of headers with case-insensitive names. `Debug` hides the values of
/// `Authorization`, `Proxy-Authorization`, `x-api-key`, `Cookie` and `Set-Cookie`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Whether `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Removes every value of `name`.
    pub fn remove(&mut self, name: &str) {
        self.0.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    /// Sets `name` to `value` alone: the first existing entry is replaced in place (with this
    /// spelling of the name), later ones are removed; a new name is appended.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self.0.iter().position(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some(first) => {
                self.0[first] = (name.to_owned(), value);
                let mut index = 0;
                self.0.retain(|(n, _)| {
                    let keep = index <= first || !n.eq_ignore_ascii_case(name);
                    index += 1;
                    keep
                });
            }
            None => self.0.push((name.to_owned(), value)),
        }
    }

    /// Adds a value, keeping existing ones.
    pub fn append(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.push((name.into(), value.into()));
    }

    /// Every `(name, value)`, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The entries.
    pub fn into_vec(self) -> Vec<(String, String)> {
        self.0
    }
}

impl From<Vec<(String, String)>> for Headers {
    fn from(entries: Vec<(String, String)>) -> Self {
        Self(entries)
    }
}

impl<N: Into<String>, V: Into<String>> FromIterator<(N, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        Self(iter.into_iter().map(|(n, v)| (n.into(), v.into())).collect())
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(name, value)| {
                let sensitive = SENSITIVE.iter().any(|s| name.eq_ignore_ascii_case(s));
                (name, if sensitive { "[redacted]" } else { value.as_str() })
            }))
            .finish()
    }
}

/// A request as the shaping functions take and return it. `Debug` shows the body's length
/// only (it holds the user's conversation) and no secret header value.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// The method, passed through.
    pub method: Method,
    /// Where the request goes.
    pub url: Url,
    /// The headers.
    pub headers: Headers,
    /// The body (replayable: clones share the bytes).
    pub body: Bytes,
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url.as_str())
            .field("headers", &self.headers)
            .field("body", &format_args!("[{} bytes]", self.body.len()))
            .finish()
    }
}

/// Drops what the caller must not decide and sets the bearer token: the one place the access
/// token is exposed.
fn authorize(headers: &mut Headers, access_token: &Secret) {
    for name in ["authorization", "x-api-key", "host", "content-length"] {
        headers.remove(name);
    }
    headers.set("authorization", format!("Bearer {}", access_token.expose()));
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
    use super::*;

    #[test]
    fn headers_are_case_insensitive_and_set_replaces_in_place() {
        let mut h: Headers =
            [("A", "1"), ("X-Api-Key", "k"), ("a", "2"), ("b", "3")].into_iter().collect();
        assert_eq!(h.get("a"), Some("1"));
        assert_eq!(h.get_all("A").collect::<Vec<_>>(), ["1", "2"]);
        h.set("a", "9");
        assert_eq!(h.iter().collect::<Vec<_>>(), [("a", "9"), ("X-Api-Key", "k"), ("b", "3")]);
        h.remove("x-api-key");
        h.set("c", "4");
        h.append("c", "5");
        assert_eq!(h.clone().into_vec().len(), 4);
        assert!(h.contains("C") && !h.contains("x-api-key"));
    }

    #[test]
    fn debug_hides_secret_values_and_the_body() {
        let headers: Headers =
            [("Authorization", "Bearer tok-123"), ("x-api-key", "sk-1"), ("accept", "*/*")]
                .into_iter()
                .collect();
        let request = HttpRequest {
            method: Method::POST,
            url: Url::parse("http://127.0.0.1/v1/messages").unwrap(),
            headers,
            body: Bytes::from_static(b"{\"secret\":\"prompt\"}"),
        };
        let debug = format!("{request:?}");
        assert!(!debug.contains("tok-123") && !debug.contains("sk-1"), "{debug}");
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
