//! Usage bodies into `UsageLimits`.

use mac_adapters::{CodexUsage, UsageError, parse_anthropic_usage, parse_codex_usage};
use mac_storage::UsageLimits;
use serde_json::json;

use crate::{NOW, epoch_s, iso, secs, usage, window};

#[test]
fn anthropic_usage_keeps_the_shape_and_unknown_keys() {
    let body = json!({
        "five_hour": {"utilization": 42, "resets_at": "2026-03-11T05:00:00Z", "newKey": 1},
        "seven_day": {"utilization": 10.5, "resets_at": null},
        "seven_day_sonnet": null,
        "seven_day_opus": {"utilization": 3, "resets_at": null},
        "extra_usage": {"is_enabled": false}
    });
    let parsed = parse_anthropic_usage(body.to_string().as_bytes()).unwrap();
    let mut five = window(42.0, Some("2026-03-11T05:00:00Z"));
    five.extra.insert("newKey".into(), json!(1));
    let mut expected = usage(Some(five), Some(window(10.5, None)));
    expected.extra.insert("seven_day_opus".into(), json!({"utilization": 3, "resets_at": null}));
    expected.extra.insert("extra_usage".into(), json!({"is_enabled": false}));
    assert_eq!(parsed, expected);
    // Written back, it is the same JSON (unknown keys survive).
    let again: serde_json::Value = serde_json::to_value(&parsed).unwrap();
    assert_eq!(again, body);
}

#[test]
fn anthropic_missing_and_null_windows_are_absent() {
    assert_eq!(parse_anthropic_usage(b"{}").unwrap(), UsageLimits::default());
    let body = br#"{"five_hour": {"utilization": null, "resets_at": null}, "seven_day": null}"#;
    assert_eq!(parse_anthropic_usage(body).unwrap(), UsageLimits::default());
}

#[allow(clippy::needless_pass_by_value)] // table rows build the expected value in place
#[track_caller]
fn check_error(result: Result<impl std::fmt::Debug, UsageError>, expected: UsageError, text: &str) {
    let err = result.unwrap_err();
    assert_eq!(err, expected);
    assert_eq!(err.to_string(), text);
}

fn shape(provider: &'static str, field: &str, problem: &'static str) -> UsageError {
    UsageError::Shape { provider, field: field.to_owned(), problem }
}

#[test]
fn anthropic_malformed_bodies_are_typed_errors() {
    check_error(
        parse_anthropic_usage(b"not json"),
        UsageError::NotJson { provider: "anthropic", line: 1, column: 2 },
        "the anthropic usage response is not JSON (error at line 1 column 2)",
    );
    check_error(
        parse_anthropic_usage(b"[1]"),
        shape("anthropic", ".", "is not a JSON object"),
        "the anthropic usage response's `.` is not a JSON object",
    );
    check_error(
        parse_anthropic_usage(br#"{"five_hour": "sk-ant-secret"}"#),
        shape("anthropic", "five_hour", "is neither an object nor null"),
        "the anthropic usage response's `five_hour` is neither an object nor null",
    );
    check_error(
        parse_anthropic_usage(br#"{"seven_day": {"utilization": "sk-ant-secret"}}"#),
        shape("anthropic", "seven_day.utilization", "is not a number"),
        "the anthropic usage response's `seven_day.utilization` is not a number",
    );
    check_error(
        parse_anthropic_usage(br#"{"seven_day": {"utilization": -1}}"#),
        shape("anthropic", "seven_day.utilization", "is negative"),
        "the anthropic usage response's `seven_day.utilization` is negative",
    );
    check_error(
        parse_anthropic_usage(br#"{"five_hour": {"utilization": 1, "resets_at": 17}}"#),
        shape("anthropic", "five_hour.resets_at", "is not a string"),
        "the anthropic usage response's `five_hour.resets_at` is not a string",
    );
    let big = vec![b' '; 2 * 1024 * 1024];
    check_error(
        parse_anthropic_usage(&big),
        UsageError::TooLarge { provider: "anthropic", size: big.len() },
        "the anthropic usage response is 2097152 bytes, more than the 1 MiB accepted",
    );
}

#[test]
fn codex_usage_maps_primary_and_secondary() {
    let body = json!({
        "plan_type": "plus",
        "rate_limit": {
            "allowed": true,
            "primary_window": {"used_percent": 42.5, "reset_after_seconds": 1800, "limit_window_seconds": 18000},
            "secondary_window": {"used_percent": 100, "reset_after_seconds": 86400}
        },
        "credits": {"balance": "0", "unlimited": false}
    });
    let parsed = parse_codex_usage(body.to_string().as_bytes(), NOW).unwrap();
    let mut primary = window(42.5, Some(&iso(secs(1800))));
    primary.extra.insert("limit_window_seconds".into(), json!(18000));
    let expected = CodexUsage {
        limits: usage(Some(primary), Some(window(100.0, Some(&iso(secs(86_400)))))),
        plan_type: Some("plus".into()),
    };
    assert_eq!(parsed, expected);
    assert_eq!(iso(secs(1800)), "2026-03-11T04:03:20.000Z");
}

#[test]
fn codex_reset_falls_back_to_reset_at_and_bad_values_are_null() {
    let at = epoch_s(3600);
    let body = format!(
        r#"{{"rate_limit": {{
            "primary_window": {{"used_percent": 5, "reset_at": {at}}},
            "secondary_window": {{"used_percent": 6, "reset_after_seconds": -5, "reset_at": 1}}
        }}}}"#
    );
    let parsed = parse_codex_usage(body.as_bytes(), NOW).unwrap();
    assert_eq!(
        parsed,
        CodexUsage {
            limits: usage(Some(window(5.0, Some(&iso(secs(3600))))), Some(window(6.0, None))),
            plan_type: None,
        }
    );
    // reset_after_seconds wins over reset_at; 0 means "resets now".
    let body = br#"{"rate_limit": {"primary_window": {"used_percent": 0, "reset_after_seconds": 0, "reset_at": 1}}}"#;
    let parsed = parse_codex_usage(body, NOW).unwrap();
    assert_eq!(parsed.limits, usage(Some(window(0.0, Some(&iso(NOW)))), None));
}

#[test]
fn codex_missing_parts_are_null() {
    for body in [
        "{}",
        r#"{"plan_type": null, "rate_limit": null}"#,
        r#"{"rate_limit": {}}"#,
        r#"{"rate_limit": {"primary_window": null, "secondary_window": {"used_percent": null}}}"#,
    ] {
        assert_eq!(
            parse_codex_usage(body.as_bytes(), NOW).unwrap(),
            CodexUsage::default(),
            "{body}"
        );
    }
}

#[test]
fn codex_malformed_bodies_are_typed_errors() {
    let cases: &[(&str, &str, &'static str)] = &[
        (r#"{"plan_type": 5}"#, "plan_type", "is not a string"),
        (r#"{"rate_limit": []}"#, "rate_limit", "is neither an object nor null"),
        (
            r#"{"rate_limit": {"primary_window": 1}}"#,
            "rate_limit.primary_window",
            "is neither an object nor null",
        ),
        (
            r#"{"rate_limit": {"secondary_window": {"used_percent": "x"}}}"#,
            "rate_limit.secondary_window.used_percent",
            "is not a number",
        ),
        (
            r#"{"rate_limit": {"primary_window": {"used_percent": -3}}}"#,
            "rate_limit.primary_window.used_percent",
            "is negative",
        ),
        (
            r#"{"rate_limit": {"primary_window": {"used_percent": 3, "reset_after_seconds": "soon"}}}"#,
            "rate_limit.primary_window.reset_after_seconds",
            "is not a number",
        ),
        (
            r#"{"rate_limit": {"primary_window": {"used_percent": 3, "reset_at": {}}}}"#,
            "rate_limit.primary_window.reset_at",
            "is not a number",
        ),
    ];
    for (body, field, problem) in cases {
        assert_eq!(
            parse_codex_usage(body.as_bytes(), NOW).unwrap_err(),
            shape("codex", field, problem),
            "{body}"
        );
    }
    assert_eq!(
        parse_codex_usage(b"{", NOW).unwrap_err(),
        UsageError::NotJson { provider: "codex", line: 1, column: 1 }
    );
}
