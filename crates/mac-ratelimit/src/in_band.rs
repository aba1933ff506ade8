//! Error frames inside a 200 stream, read as the response they stand for: [`observe_in_band`]
//! turns an SSE error frame's event name and data into the same [`Observation`] a status and
//! an error body would give, so [`classify`](crate::classify) and [`decide`](crate::decide)
//! treat an in-band rate limit exactly like a 429.
//!
//! The frames (both providers answer 200 and report the failure in the stream):
//!
//! | Provider | Event | Data | Where the error is |
//! |---|---|---|---|
//! | Anthropic | `error` | `{"type":"error","error":{"type":"rate_limit_error" \| "overloaded_error",…}}` | `error` |
//! | Codex | `response.failed` | `{"type":"response.failed","response":{"error":{"code":"usage_limit_reached","resets_in_seconds":…},…}}` | `response.error` |
//! | Codex | `error` | `{"type":"error","code":"rate_limit_exceeded","message":…}` (or an `error` object) | the data itself |
//!
//! The error object found is read by the same reader as an HTTP error body, so the kinds
//! (`rate_limit_error`, `rate_limit_exceeded`, `usage_limit_reached`, `overloaded_error`) and
//! the reset fields (`resets_at`, `resets_in_seconds`) have one definition. The observation's
//! status is the one the frame stands for: 529 for an overload, 429 for a rate or usage limit.
//! A Codex `usage_limit_reached` then becomes the 5-hour or 7-day exhaustion its reset points
//! to, not the 10 s throttle that reading the frame's data as a plain error body gives (the
//! error is nested under `response` there, so that reader does not find it).
//!
//! Other error types stand for the status Anthropic documents for them (`invalid_request_error`
//! 400, `authentication_error` 401, `permission_error` 403, `not_found_error` 404,
//! `request_too_large` 413, `api_error` 500); anything else, or data that is not JSON, stands
//! for 500: the stream failed on the provider's side. None of these is a rate limit.
//!
//! A rate limit without a reset field may say when to come back in its message, as OpenAI's
//! do ("Please try again in 1.5s", "in 350ms"); that hint is read as a retry-after.
//!
//! The provider is not an input: the event names do not collide in meaning (`error` is an
//! error in both streams) and the data's shape tells where the error object is.

use http::StatusCode;
use mac_storage::EpochMs;
use serde_json::Value;

use crate::error_body::error_body;
use crate::observation::{ErrorKind, OVERLOADED, Observation};
use crate::value::{after_millis, after_seconds, decimal};

/// The observation an in-band error frame stands for, or `None` when `event` does not name an
/// error frame (`error`, `response.failed`). Pure, like [`observe`](crate::observe).
pub fn observe_in_band(event: &str, data: &[u8], now: EpochMs) -> Option<Observation> {
    if !matches!(event, "error" | "response.failed") {
        return None;
    }
    let value: Value = serde_json::from_slice(data).unwrap_or(Value::Null);
    let nested = |v: &Value| v.get("error").filter(|e| e.is_object()).cloned();
    let error = nested(&value)
        .or_else(|| value.get("response").and_then(nested))
        .unwrap_or_else(|| value.clone());
    // Only the error object is re-encoded: small, whatever else the frame repeats.
    let body = serde_json::to_vec(&serde_json::json!({ "error": error })).unwrap_or_default();
    let parsed = error_body(&body, now);
    let status = match parsed.map(|e| e.kind) {
        Some(ErrorKind::Overloaded) => OVERLOADED,
        Some(ErrorKind::RateLimit | ErrorKind::UsageLimitReached) => StatusCode::TOO_MANY_REQUESTS,
        None => documented_status(&error),
    };
    let retry_after = match parsed {
        Some(e) if e.kind == ErrorKind::RateLimit && e.resets_at.is_none() => {
            error.get("message").and_then(Value::as_str).and_then(|m| retry_hint(m, now))
        }
        _ => None,
    };
    Some(Observation {
        status,
        observed_at: now,
        retry_after,
        error: parsed,
        ..Observation::default()
    })
}

/// The status Anthropic documents for an error type; 500 for anything else.
fn documented_status(error: &Value) -> StatusCode {
    let name = error.get("type").or_else(|| error.get("code")).and_then(Value::as_str);
    match name {
        Some("invalid_request_error") => StatusCode::BAD_REQUEST,
        Some("authentication_error") => StatusCode::UNAUTHORIZED,
        Some("permission_error") => StatusCode::FORBIDDEN,
        Some("not_found_error") => StatusCode::NOT_FOUND,
        Some("request_too_large") => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// "… try again in 1.5s …" / "… in 350ms …" as a deadline.
fn retry_hint(message: &str, now: EpochMs) -> Option<EpochMs> {
    const MARK: &str = "try again in ";
    let lower = message.to_ascii_lowercase();
    let start = lower.find(MARK)? + MARK.len();
    let rest = &lower[start..];
    let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
    let number = decimal(&rest[..digits])?;
    let unit = &rest[digits..];
    if unit.starts_with("ms") {
        after_millis(number, now)
    } else if unit.starts_with('s') {
        after_seconds(number, now)
    } else {
        None
    }
}
