//! Every header form `observe` reads, malformed values, and repeated headers.

use http::{HeaderMap, HeaderName, HeaderValue};
use mac_ratelimit::{
    Codex, CodexWindow, Observation, Unified, UnifiedStatus, UnifiedWindow, observe,
};
use mac_storage::EpochMs;

use crate::{NOW, empty, epoch_s, ms, obs, secs, status};

/// Observes `headers` on a 429 and compares the whole observation.
#[allow(clippy::needless_pass_by_value)] // table rows build the expected value in place
#[track_caller]
fn check(headers: &[(&str, &str)], expected: Observation) {
    assert_eq!(obs(429, headers), expected, "{headers:?}");
}

/// A 429 observation with only `retry_after_ms` / `retry_after` set.
fn retry(ms_header: Option<EpochMs>, seconds_header: Option<EpochMs>) -> Observation {
    Observation { retry_after_ms: ms_header, retry_after: seconds_header, ..empty(429) }
}

fn unified(unified: Unified) -> Observation {
    Observation { unified, ..empty(429) }
}

fn codex(codex: Codex) -> Observation {
    Observation { codex, ..empty(429) }
}

#[test]
fn retry_after_ms() {
    let table: &[(&str, Option<EpochMs>)] = &[
        ("2345", Some(ms(2345))),
        ("1.5", Some(ms(2))),
        ("0.2", Some(ms(1))),
        (" 2345 ", Some(ms(2345))),
        ("2678400000", Some(secs(2_678_400))),
        // Absent: zero, negative, garbage, huge, beyond the 31-day horizon.
        ("0", None),
        ("-5", None),
        ("+5", None),
        ("abc", None),
        ("5ms", None),
        ("1e3", None),
        ("NaN", None),
        ("inf", None),
        ("2678400001", None),
        ("99999999999999999999999999", None),
        ("", None),
    ];
    for (value, expected) in table {
        check(&[("retry-after-ms", value)], retry(*expected, None));
    }
}

#[test]
fn retry_after_seconds_and_dates() {
    let table: &[(&str, Option<EpochMs>)] = &[
        ("7", Some(secs(7))),
        ("1.5", Some(ms(1500))),
        ("0.0001", Some(ms(1))),
        ("2678400", Some(secs(2_678_400))),
        ("Wed, 11 Mar 2026 03:35:20 GMT", Some(secs(120))),
        ("Wednesday, 11-Mar-26 03:35:20 GMT", Some(secs(120))),
        ("Wed Mar 11 03:35:20 2026", Some(secs(120))),
        // Absent: zero, negative, garbage, past dates, beyond the horizon.
        ("0", None),
        ("-1", None),
        ("7 seconds", None),
        ("5, 10", None),
        ("Wed, 11 Mar 2026 03:32:20 GMT", None),
        ("Mon, 20 Apr 2026 03:33:20 GMT", None),
        ("2678401", None),
        ("18446744073709551616", None),
    ];
    for (value, expected) in table {
        check(&[("retry-after", value)], retry(None, *expected));
    }
}

#[test]
fn retry_after_ms_wins_over_retry_after() {
    // As the seed's tests: 2345 ms and 1234 s → 2345 ms.
    let observation = obs(429, &[("retry-after", "1234"), ("retry-after-ms", "2345")]);
    assert_eq!(observation, retry(Some(ms(2345)), Some(secs(1234))));
    assert_eq!(observation.retry_after(), Some(ms(2345)));
    // A garbage retry-after-ms leaves retry-after in charge.
    let observation = obs(429, &[("retry-after-ms", "soon"), ("retry-after", "7")]);
    assert_eq!(observation.retry_after(), Some(secs(7)));
}

#[test]
fn unified_status_values() {
    let table: &[(&str, Option<UnifiedStatus>)] = &[
        ("allowed", Some(UnifiedStatus::Allowed)),
        ("allowed_warning", Some(UnifiedStatus::AllowedWarning)),
        ("rejected", Some(UnifiedStatus::Rejected)),
        ("REJECTED", Some(UnifiedStatus::Rejected)),
        ("throttled", None),
        ("rejected!", None),
        ("", None),
    ];
    for (value, expected) in table {
        let status = Unified { status: *expected, ..Unified::default() };
        check(&[("anthropic-ratelimit-unified-status", value)], unified(status));
        let overage = Unified { overage_status: *expected, ..Unified::default() };
        check(&[("anthropic-ratelimit-unified-overage-status", value)], unified(overage));
        let window = Unified {
            five_hour: UnifiedWindow { status: *expected, ..UnifiedWindow::default() },
            ..Unified::default()
        };
        check(&[("anthropic-ratelimit-unified-5h-status", value)], unified(window));
    }
}

#[test]
fn reset_values() {
    let now_s = NOW.as_millis() / 1000;
    let table: &[(String, Option<EpochMs>)] = &[
        (epoch_s(3600), Some(secs(3600))),
        (format!("{}.5", now_s + 10), Some(ms(10_500))),
        // Clearly milliseconds (at least 10^11).
        ((NOW.as_millis() + 3_600_000).to_string(), Some(secs(3600))),
        // RFC 3339.
        ("2026-03-11T05:00:00Z".to_owned(), Some(secs(5200))),
        ("2026-03-11T07:00:00+02:00".to_owned(), Some(secs(5200))),
        // Absent: past, now, beyond the horizon, garbage, negative.
        (epoch_s(-10), None),
        (epoch_s(0), None),
        (epoch_s(32 * 86_400), None),
        ("tomorrow".to_owned(), None),
        ("-1773203600".to_owned(), None),
        ("0".to_owned(), None),
        ("1e10".to_owned(), None),
    ];
    for (value, expected) in table {
        let value = value.as_str();
        let reset = Unified { reset: *expected, ..Unified::default() };
        check(&[("anthropic-ratelimit-unified-reset", value)], unified(reset));
        let overage = Unified { overage_reset: *expected, ..Unified::default() };
        check(&[("anthropic-ratelimit-unified-overage-reset", value)], unified(overage));
        let seven = Unified {
            seven_day: UnifiedWindow { reset: *expected, ..UnifiedWindow::default() },
            ..Unified::default()
        };
        check(&[("anthropic-ratelimit-unified-7d-reset", value)], unified(seven));
        let primary = Codex {
            primary: CodexWindow { reset_at: *expected, ..CodexWindow::default() },
            ..Codex::default()
        };
        check(&[("x-codex-primary-reset-at", value)], codex(primary));
    }
}

#[test]
fn unified_utilization_is_a_fraction_stored_as_percent() {
    let table: &[(&str, Option<f64>)] = &[
        ("0.42", Some(0.42 * 100.0)),
        ("0", Some(0.0)),
        ("1", Some(100.0)),
        ("1.05", Some(1.05 * 100.0)),
        ("10", Some(1000.0)),
        ("10.5", None),
        ("-0.1", None),
        ("42%", None),
        ("NaN", None),
    ];
    for (value, expected) in table {
        let five = Unified {
            five_hour: UnifiedWindow { utilization: *expected, ..UnifiedWindow::default() },
            ..Unified::default()
        };
        check(&[("anthropic-ratelimit-unified-5h-utilization", value)], unified(five));
        let seven = Unified {
            seven_day: UnifiedWindow { utilization: *expected, ..UnifiedWindow::default() },
            ..Unified::default()
        };
        check(&[("anthropic-ratelimit-unified-7d-utilization", value)], unified(seven));
    }
}

#[test]
fn representative_claim_and_fallback() {
    let table: &[(&str, Option<&str>)] = &[
        ("five_hour", Some("five_hour")),
        ("seven_day", Some("seven_day")),
        ("Seven_Day_Opus", Some("seven_day_opus")),
        ("api", Some("api")),
        ("overage", Some("overage")),
        ("api key", None),
        ("five_hour;x", None),
        ("", None),
    ];
    for (value, expected) in table {
        let claim =
            Unified { representative_claim: expected.map(str::to_owned), ..Unified::default() };
        check(&[("anthropic-ratelimit-unified-representative-claim", value)], unified(claim));
    }
    let long = "a".repeat(65);
    check(
        &[("anthropic-ratelimit-unified-representative-claim", long.as_str())],
        unified(Unified::default()),
    );
    for (value, expected) in [("0.5", Some(0.5)), ("1", Some(1.0)), ("1.5", None), ("x", None)] {
        let fallback = Unified { fallback_fraction: expected, ..Unified::default() };
        check(&[("anthropic-ratelimit-unified-fallback-percentage", value)], unified(fallback));
    }
}

#[test]
fn codex_windows() {
    let headers = [
        ("x-codex-primary-used-percent", "42.5"),
        ("x-codex-primary-window-minutes", "300"),
        ("x-codex-primary-reset-after-seconds", "1800"),
        ("x-codex-secondary-used-percent", "100"),
        ("x-codex-secondary-window-minutes", "10080"),
        ("x-codex-secondary-reset-at", &epoch_s(86_400)),
        ("x-codex-secondary-reset-after-seconds", "90000"),
    ];
    let expected = Codex {
        primary: CodexWindow {
            used_percent: Some(42.5),
            window_minutes: Some(300),
            reset_at: None,
            reset_after: Some(secs(1800)),
        },
        secondary: CodexWindow {
            used_percent: Some(100.0),
            window_minutes: Some(10_080),
            reset_at: Some(secs(86_400)),
            reset_after: Some(secs(90_000)),
        },
    };
    check(&headers, codex(expected.clone()));
    // reset-at (absolute) is the window's reset when both are given.
    assert_eq!(expected.secondary.reset(), Some(secs(86_400)));
    assert_eq!(expected.primary.reset(), Some(secs(1800)));
}

#[test]
fn codex_malformed_values_are_absent() {
    let names = [
        "x-codex-primary-used-percent",
        "x-codex-primary-window-minutes",
        "x-codex-primary-reset-at",
        "x-codex-primary-reset-after-seconds",
        "x-codex-secondary-used-percent",
        "x-codex-secondary-window-minutes",
        "x-codex-secondary-reset-at",
        "x-codex-secondary-reset-after-seconds",
    ];
    for name in names {
        for value in ["-1", "abc", "1e9", "NaN", "99999999999999999999", "0x10", "", "  "] {
            check(&[(name, value)], empty(429));
        }
    }
    // Per field: used-percent above 1000, window-minutes 0 or fractional.
    check(&[("x-codex-primary-used-percent", "1000.5")], empty(429));
    check(&[("x-codex-primary-window-minutes", "0")], empty(429));
    check(&[("x-codex-primary-window-minutes", "1.5")], empty(429));
}

#[test]
fn names_match_regardless_of_case() {
    let observation = obs(
        429,
        &[
            ("Retry-After", "7"),
            ("RETRY-AFTER-MS", "7000"),
            ("Anthropic-RateLimit-Unified-5H-Utilization", "0.5"),
            ("X-Codex-Primary-Used-Percent", "12"),
        ],
    );
    assert_eq!(
        observation,
        Observation {
            retry_after_ms: Some(secs(7)),
            retry_after: Some(secs(7)),
            unified: Unified {
                five_hour: UnifiedWindow { utilization: Some(50.0), ..UnifiedWindow::default() },
                ..Unified::default()
            },
            codex: Codex {
                primary: CodexWindow { used_percent: Some(12.0), ..CodexWindow::default() },
                ..Codex::default()
            },
            ..empty(429)
        }
    );
}

#[test]
fn non_ascii_and_non_utf8_values_are_ignored() {
    let values: &[&[u8]] = &[b"\xff\xfe", "７".as_bytes(), "7\u{a0}".as_bytes(), b"7\x00", b"7\n8"];
    for value in values {
        // A NUL or a line break cannot even be a header value: no response can carry one.
        let Ok(value) = HeaderValue::from_bytes(value) else {
            assert!(value.iter().any(|&b| b == 0 || b == b'\n'), "{value:?}");
            continue;
        };
        for name in ["retry-after", "retry-after-ms", "anthropic-ratelimit-unified-reset"] {
            let mut headers = HeaderMap::new();
            headers.insert(HeaderName::from_static(name), value.clone());
            let observation = observe(status(429), &headers, None, NOW);
            assert_eq!(observation, empty(429), "{name}: {value:?}");
        }
    }
    // A non-ASCII header name is not a header name at all (so never one of ours).
    assert!(HeaderName::from_bytes("retry-äfter".as_bytes()).is_err());
}

#[test]
fn unknown_headers_are_ignored() {
    check(
        &[
            ("x-ratelimit-remaining-requests", "0"),
            ("anthropic-ratelimit-unified-9h-utilization", "1"),
            ("anthropic-ratelimit-unified-5h-bogus", "1"),
            ("anthropic-ratelimit-unified-", "1"),
            ("x-codex-tertiary-used-percent", "100"),
            ("retry-after-seconds", "5"),
        ],
        empty(429),
    );
}

#[test]
fn repeated_headers_most_restrictive_valid_value_wins() {
    // Deadlines: the latest; invalid occurrences are skipped.
    check(
        &[("retry-after", "5"), ("retry-after", "10"), ("retry-after", "3")],
        retry(None, Some(secs(10))),
    );
    check(&[("retry-after", "garbage"), ("retry-after", "5")], retry(None, Some(secs(5))));
    check(&[("retry-after", "5"), ("retry-after", "-100")], retry(None, Some(secs(5))));
    check(&[("retry-after-ms", "900"), ("retry-after-ms", "1200")], retry(Some(ms(1200)), None));
    check(
        &[("x-codex-primary-reset-at", &epoch_s(60)), ("x-codex-primary-reset-at", &epoch_s(30))],
        codex(Codex {
            primary: CodexWindow { reset_at: Some(secs(60)), ..CodexWindow::default() },
            ..Codex::default()
        }),
    );
    // Percentages and window lengths: the highest.
    check(
        &[
            ("anthropic-ratelimit-unified-5h-utilization", "0.9"),
            ("anthropic-ratelimit-unified-5h-utilization", "0.3"),
            ("x-codex-secondary-used-percent", "10"),
            ("x-codex-secondary-used-percent", "99"),
            ("x-codex-secondary-window-minutes", "300"),
            ("x-codex-secondary-window-minutes", "10080"),
        ],
        Observation {
            unified: Unified {
                five_hour: UnifiedWindow { utilization: Some(90.0), ..UnifiedWindow::default() },
                ..Unified::default()
            },
            codex: Codex {
                secondary: CodexWindow {
                    used_percent: Some(99.0),
                    window_minutes: Some(10_080),
                    ..CodexWindow::default()
                },
                ..Codex::default()
            },
            ..empty(429)
        },
    );
    // Statuses: the most severe.
    for order in [["rejected", "allowed"], ["allowed", "rejected"]] {
        let headers: Vec<_> =
            order.iter().map(|v| ("anthropic-ratelimit-unified-status", *v)).collect();
        check(
            &headers,
            unified(Unified { status: Some(UnifiedStatus::Rejected), ..Unified::default() }),
        );
    }
    // Claims: a billing claim over any other, else the first.
    let claim = |values: &[&str], expected: &str| {
        let headers: Vec<_> = values
            .iter()
            .map(|v| ("anthropic-ratelimit-unified-representative-claim", *v))
            .collect();
        check(
            &headers,
            unified(Unified {
                representative_claim: Some(expected.to_owned()),
                ..Unified::default()
            }),
        );
    };
    claim(&["five_hour", "api"], "api");
    claim(&["api", "five_hour"], "api");
    claim(&["five_hour", "seven_day"], "five_hour");
    claim(&["bad value", "seven_day"], "seven_day");
    claim(&["overage", "api"], "overage");
}
