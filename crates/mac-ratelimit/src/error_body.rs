//! JSON error bodies of rate-limited responses: Anthropic's
//! `{"type": "error", "error": {"type": "overloaded_error" | "rate_limit_error", …}}` and
//! Codex's `{"error": {"type": "usage_limit_reached", "resets_at": …, "resets_in_seconds": …}}`.
//! Any other shape is absent.

use mac_storage::EpochMs;
use serde_json::Value;

use crate::observation::{ErrorBody, ErrorKind};
use crate::value::{after_seconds, epoch_number, reset_time};

/// The largest body looked at; a larger one is treated as absent (error bodies are small).
const MAX_BODY_BYTES: usize = 64 * 1024;

/// The rate-limit meaning of a JSON error body, if it has one.
pub(crate) fn error_body(body: &[u8], now: EpochMs) -> Option<ErrorBody> {
    if body.len() > MAX_BODY_BYTES {
        return None;
    }
    let value: Value = serde_json::from_slice(body).ok()?;
    let error = value.get("error")?;
    let name = |key: &str| error.get(key).and_then(Value::as_str).and_then(error_kind);
    let kind = name("type").or_else(|| name("code"))?;
    let resets_at = match error.get("resets_at") {
        Some(Value::Number(n)) => n.as_f64().and_then(|v| epoch_number(v, now)),
        Some(Value::String(s)) => reset_time(s, now),
        _ => None,
    };
    let resets_in = error
        .get("resets_in_seconds")
        .and_then(Value::as_f64)
        .and_then(|seconds| after_seconds(seconds, now));
    Some(ErrorBody { kind, resets_at: resets_at.or(resets_in) })
}

fn error_kind(name: &str) -> Option<ErrorKind> {
    match name {
        "overloaded_error" => Some(ErrorKind::Overloaded),
        "rate_limit_error" | "rate_limit_exceeded" => Some(ErrorKind::RateLimit),
        "usage_limit_reached" => Some(ErrorKind::UsageLimitReached),
        _ => None,
    }
}
