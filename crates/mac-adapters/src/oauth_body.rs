//! Reading OAuth JSON bodies, shared by the token endpoint and the device flow: a body as a
//! JSON object (without ever quoting it), the OAuth error in its three shapes, and a number of
//! seconds as providers write it.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::http::MAX_RESPONSE_BYTES;

/// A non-negative number (or numeric string) of seconds, at most `cap`.
pub(crate) fn seconds(value: &Value, cap: Duration) -> Option<Duration> {
    let seconds = match value {
        Value::Number(number) => number.as_f64()?,
        Value::String(text) => text.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    if !seconds.is_finite() || seconds < 0.0 {
        return None;
    }
    Some(Duration::try_from_secs_f64(seconds).map_or(cap, |d| d.min(cap)))
}

/// The body as a JSON object, or what is wrong with it (never quoting it).
pub(crate) fn json_object(body: &[u8]) -> Result<Map<String, Value>, &'static str> {
    if body.len() > MAX_RESPONSE_BYTES {
        return Err("is larger than 1 MiB");
    }
    if std::str::from_utf8(body).is_err() {
        return Err("is not UTF-8");
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(fields)) => Ok(fields),
        Ok(_) => Err("is JSON but not an object"),
        Err(_) => Err("is not JSON"),
    }
}

/// The OAuth error of a non-2xx body: `(code, description)`.
pub(crate) fn oauth_error(fields: &Map<String, Value>) -> (Option<String>, Option<String>) {
    let text = |value: Option<&Value>| value.and_then(Value::as_str).map(str::to_owned);
    match fields.get("error") {
        // RFC 6749 §5.2: {"error": "invalid_grant", "error_description": "..."}
        Some(Value::String(code)) => (
            Some(code.clone()),
            text(fields.get("error_description")).or_else(|| text(fields.get("message"))),
        ),
        // OpenAI {"error": {"code"|"type", "message"}} and Anthropic {"error": {"type", "message"}}
        Some(Value::Object(error)) => (
            text(error.get("code")).or_else(|| text(error.get("type"))),
            text(error.get("message")).or_else(|| text(error.get("error_description"))),
        ),
        _ => (
            text(fields.get("code")),
            text(fields.get("error_description")).or_else(|| text(fields.get("message"))),
        ),
    }
}
