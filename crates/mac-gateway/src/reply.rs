//! Answers the gateway gives itself, in the error shape of the provider the client speaks to,
//! so its SDK shows the message: Anthropic's `{"type":"error","error":{"type","message"}}`,
//! OpenAI's `{"error":{"type","message","code"}}`.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mac_storage::Provider;
use serde_json::json;

/// What went wrong, as each provider names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Problem {
    /// 400: the request is not valid (malformed JSON).
    InvalidRequest,
    /// 401: the inbound key is missing or wrong.
    Unauthenticated,
    /// 404: no such route.
    NotFound,
    /// 413: the body is over the limit.
    TooLarge,
    /// 429: every account is cooling down.
    RateLimited,
    /// 500: the gateway itself failed (the accounts file cannot be read…).
    Internal,
    /// 502: no attempt reached the provider.
    BadGateway,
    /// 503: no account can serve.
    Unavailable,
    /// 504: the provider did not answer in time.
    Timeout,
}

impl Problem {
    fn status(self) -> StatusCode {
        match self {
            Problem::InvalidRequest => StatusCode::BAD_REQUEST,
            Problem::Unauthenticated => StatusCode::UNAUTHORIZED,
            Problem::NotFound => StatusCode::NOT_FOUND,
            Problem::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Problem::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Problem::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Problem::BadGateway => StatusCode::BAD_GATEWAY,
            Problem::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Problem::Timeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// Anthropic's error `type` (the ones its API documents).
    fn anthropic_type(self) -> &'static str {
        match self {
            Problem::InvalidRequest => "invalid_request_error",
            Problem::Unauthenticated => "authentication_error",
            Problem::NotFound => "not_found_error",
            Problem::TooLarge => "request_too_large",
            Problem::RateLimited => "rate_limit_error",
            // Not `overloaded_error`: no account is usable, the provider is not overloaded.
            Problem::Internal | Problem::BadGateway | Problem::Timeout | Problem::Unavailable => {
                "api_error"
            }
        }
    }

    /// OpenAI's error `type` and `code`.
    fn openai_type_and_code(self) -> (&'static str, &'static str) {
        match self {
            Problem::InvalidRequest => ("invalid_request_error", "invalid_json"),
            Problem::Unauthenticated => ("invalid_request_error", "invalid_api_key"),
            Problem::NotFound => ("invalid_request_error", "not_found"),
            Problem::TooLarge => ("invalid_request_error", "request_too_large"),
            Problem::RateLimited => ("rate_limit_error", "rate_limit_exceeded"),
            Problem::Internal => ("server_error", "internal_error"),
            Problem::BadGateway => ("server_error", "bad_gateway"),
            Problem::Unavailable => ("server_error", "no_usable_account"),
            Problem::Timeout => ("server_error", "upstream_timeout"),
        }
    }
}

/// The answer for `problem`, worded by `message`, in `provider`'s shape.
pub(crate) fn error(provider: Provider, problem: Problem, message: &str) -> Response {
    let body = match provider {
        Provider::Anthropic => json!({
            "type": "error",
            "error": { "type": problem.anthropic_type(), "message": message },
        }),
        Provider::Codex => {
            let (kind, code) = problem.openai_type_and_code();
            json!({ "error": { "type": kind, "message": message, "code": code } })
        }
    };
    (problem.status(), axum::Json(body)).into_response()
}

/// A 429 with `retry-after` (whole seconds, rounded up).
pub(crate) fn rate_limited(provider: Provider, message: &str, retry_after: Duration) -> Response {
    let mut response = error(provider, Problem::RateLimited, message);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs(retry_after)));
    response
}

/// A `retry-after` in whole seconds: rounded up, at least 1.
pub(crate) fn retry_after_secs(retry_after: Duration) -> u64 {
    (retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0)).max(1)
}

/// The provider whose clients use `path`: OpenAI's for the Responses, Chat Completions and
/// ChatGPT backend paths, Anthropic's for everything else (Claude Code probes other paths).
pub(crate) fn provider_of_path(path: &str) -> Provider {
    if path.contains("/responses") || path.contains("/chat/") || path.starts_with("/backend-api/") {
        Provider::Codex
    } else {
        Provider::Anthropic
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(response: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn errors_take_the_shape_of_the_clients_provider() {
        let response = error(Provider::Anthropic, Problem::NotFound, "no route /x");
        assert_eq!(response.status(), 404);
        assert_eq!(
            body(response).await,
            json!({"type":"error","error":{"type":"not_found_error","message":"no route /x"}})
        );
        let response = error(Provider::Codex, Problem::TooLarge, "too big");
        assert_eq!(response.status(), 413);
        assert_eq!(
            body(response).await,
            json!({"error":{"type":"invalid_request_error","message":"too big","code":"request_too_large"}})
        );
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let response = rate_limited(Provider::Codex, "wait", Duration::from_millis(2_100));
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()[header::RETRY_AFTER], "3");
        let response = rate_limited(Provider::Codex, "wait", Duration::ZERO);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    }

    #[test]
    fn paths_tell_the_provider() {
        assert_eq!(provider_of_path("/v1/responses/compact"), Provider::Codex);
        assert_eq!(provider_of_path("/backend-api/codex/models"), Provider::Codex);
        assert_eq!(provider_of_path("/v1/chat/completions"), Provider::Codex);
        assert_eq!(provider_of_path("/v1/models"), Provider::Anthropic);
        assert_eq!(provider_of_path("/v1/messages/batches"), Provider::Anthropic);
    }
}
