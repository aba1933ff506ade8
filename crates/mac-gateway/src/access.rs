//! The inbound key: when one is configured (`[gateway] inbound_key`), every route but
//! `/healthz` requires it, as `x-api-key` or as a bearer token, compared in constant time
//! (both sides hashed first, so neither the length nor a prefix leaks through timing). Without
//! one (only allowed on loopback) nothing is asked; the client's own `x-api-key` /
//! `Authorization` are replaced by the account's credentials either way.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use mac_storage::Secret;
use sha2::{Digest, Sha256};

use crate::events::{Outcome, Route};
use crate::proxy::Finish;
use crate::reply::{self, Problem, provider_of_path};
use crate::state::AppState;

/// Lets the request through if it carries the inbound key (or none is configured).
pub(crate) async fn require_key(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(key) = state.inbound_key() else { return next.run(request).await };
    let (method, path, headers) = (request.method(), request.uri().path(), request.headers());
    // The status page's sign-in cookie opens the read-only `GET /v1/pool` (see status).
    if presents(headers, key) || crate::status::cookie_opens(method, path, headers, key) {
        return next.run(request).await;
    }
    let started = Instant::now();
    let provider = provider_of_path(request.uri().path());
    let response = reply::error(
        provider,
        Problem::Unauthenticated,
        "this gateway requires its inbound key ([gateway] inbound_key), sent as x-api-key or \
         as a bearer token",
    );
    Finish {
        id: state.next_request_id(),
        state,
        route: Route::of_path(request.uri().path()),
        account: None,
        status: response.status().as_u16(),
        attempts: 0,
        started,
    }
    .record(Outcome::Refused);
    response
}

/// Whether `headers` carry `key` as `x-api-key` or `Authorization: Bearer`.
pub(crate) fn presents(headers: &HeaderMap, key: &Secret) -> bool {
    let bearer =
        headers.get_all("authorization").iter().filter_map(|value| value.to_str().ok()).filter_map(
            |value| {
                let (scheme, token) = value.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            },
        );
    let api_key = headers.get_all("x-api-key").iter().filter_map(|value| value.to_str().ok());
    // Every candidate is compared (no early exit on the first match).
    api_key.chain(bearer).fold(false, |found, candidate| found | same(candidate, key.expose()))
}

/// Constant-time equality of two strings, through their SHA-256 digests.
pub(crate) fn same(a: &str, b: &str) -> bool {
    let (a, b) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    a.iter().zip(b.iter()).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        mac_test_support::fixtures::header_map(pairs).unwrap()
    }

    #[test]
    fn the_key_is_accepted_as_api_key_or_bearer_only() {
        let key = Secret::new("gw-key");
        assert!(presents(&headers(&[("x-api-key", "gw-key")]), &key));
        assert!(presents(&headers(&[("authorization", "Bearer gw-key")]), &key));
        assert!(presents(&headers(&[("authorization", "bearer  gw-key ")]), &key));
        assert!(presents(
            &headers(&[("x-api-key", "other"), ("authorization", "Bearer gw-key")]),
            &key
        ));
        assert!(!presents(&headers(&[("x-api-key", "gw-ke")]), &key));
        assert!(!presents(&headers(&[("authorization", "Basic gw-key")]), &key));
        assert!(!presents(&headers(&[("authorization", "gw-key")]), &key));
        assert!(!presents(&HeaderMap::new(), &key));
    }
}
