//! JSON error bodies of 429/529 responses.

use http::HeaderMap;
use mac_ratelimit::{ErrorBody, ErrorKind, Observation, observe};

use crate::{NOW, empty, epoch_s, obs_body, secs, status};

#[track_caller]
fn check(body: &str, expected: Option<ErrorBody>) {
    assert_eq!(obs_body(429, &[], body), Observation { error: expected, ..empty(429) }, "{body}");
}

#[allow(clippy::unnecessary_wraps)] // the expected value of a call returning an Option
fn kind(kind: ErrorKind) -> Option<ErrorBody> {
    Some(ErrorBody { kind, resets_at: None })
}

#[test]
fn anthropic_error_bodies() {
    check(
        r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        kind(ErrorKind::Overloaded),
    );
    check(
        r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#,
        kind(ErrorKind::RateLimit),
    );
    check(r#"{"error":{"type":"invalid_request_error"}}"#, None);
}

#[test]
fn codex_error_bodies() {
    let reset = epoch_s(7200);
    check(
        &format!(
            r#"{{"error":{{"type":"usage_limit_reached","plan_type":"plus","resets_at":{reset}}}}}"#
        ),
        Some(ErrorBody { kind: ErrorKind::UsageLimitReached, resets_at: Some(secs(7200)) }),
    );
    check(
        r#"{"error":{"type":"usage_limit_reached","resets_in_seconds":1800}}"#,
        Some(ErrorBody { kind: ErrorKind::UsageLimitReached, resets_at: Some(secs(1800)) }),
    );
    // resets_at wins over resets_in_seconds.
    check(
        &format!(
            r#"{{"error":{{"type":"usage_limit_reached","resets_at":{reset},"resets_in_seconds":60}}}}"#
        ),
        Some(ErrorBody { kind: ErrorKind::UsageLimitReached, resets_at: Some(secs(7200)) }),
    );
    // As a string, RFC 3339 or digits.
    check(
        r#"{"error":{"type":"usage_limit_reached","resets_at":"2026-03-11T05:00:00Z"}}"#,
        Some(ErrorBody { kind: ErrorKind::UsageLimitReached, resets_at: Some(secs(5200)) }),
    );
    // OpenAI-style `code` when `type` is not one of ours.
    check(
        r#"{"error":{"type":"requests","code":"rate_limit_exceeded"}}"#,
        kind(ErrorKind::RateLimit),
    );
    // Bad reset values are absent; the kind stays.
    for bad in
        ["-5", "1e300", "\"soon\"", "null", "true", "[1]", &epoch_s(-60), &epoch_s(40 * 86_400)]
    {
        check(
            &format!(
                r#"{{"error":{{"type":"usage_limit_reached","resets_at":{bad},"resets_in_seconds":{bad}}}}}"#
            ),
            kind(ErrorKind::UsageLimitReached),
        );
    }
}

#[test]
fn unknown_shapes_are_absent() {
    for body in [
        "",
        "not json",
        "null",
        "[]",
        "42",
        r#"{"error":"rate_limit_error"}"#,
        r#"{"error":{"message":"no type"}}"#,
        r#"{"error":{"type":42}}"#,
        r#"{"type":"overloaded_error"}"#,
        r#"{"error":{"type":"OVERLOADED_ERROR"}}"#,
        r#"{"error":{"type":"overloaded_error"}"#,
    ] {
        check(body, None);
    }
    // Non-UTF-8 bytes and oversized bodies.
    let observation = observe(status(429), &HeaderMap::new(), Some(b"\xff\xfe{}".as_slice()), NOW);
    assert_eq!(observation, empty(429));
    let mut big = br#"{"error":{"type":"overloaded_error","pad":""#.to_vec();
    big.extend(std::iter::repeat_n(b'x', 70_000));
    big.extend(br#""}}"#);
    assert_eq!(observe(status(429), &HeaderMap::new(), Some(big.as_slice()), NOW), empty(429));
}
