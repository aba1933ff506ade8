//! In-band error frames of a 200 stream, classified like the status they stand for.

use http::HeaderMap;
use mac_ratelimit::{
    Basis, CooldownPolicy, Decision, ErrorBody, ErrorKind, RateLimitClass, decide, observe,
    observe_in_band,
};

use crate::{NOW, epoch_s, hours, ms, secs, status};

/// The decision for an error frame, through the in-band reader.
fn decide_frame(event: &str, data: &str) -> Option<Decision> {
    let observation = observe_in_band(event, data.as_bytes(), NOW)?;
    decide(&observation, 0, &CooldownPolicy::default(), NOW)
}

const CODEX_FAILED: &str = r#"{"type":"response.failed","sequence_number":2,"response":{"id":"resp_1","status":"failed","error":{"code":"usage_limit_reached","message":"The usage limit has been reached","resets_in_seconds":7200}}}"#;

#[test]
fn the_plain_body_reader_misses_the_nested_codex_error() {
    // Why a separate reader: as a 429 body, the frame's data is a header-less throttle (10 s,
    // the ladder's first rung) although it reports a window resetting in 2 hours.
    let observation = observe(status(429), &HeaderMap::new(), Some(CODEX_FAILED.as_bytes()), NOW);
    let decision = decide(&observation, 0, &CooldownPolicy::default(), NOW).unwrap();
    assert_eq!(decision.class, RateLimitClass::Throttle);
    assert_eq!(decision.until, secs(10));
}

#[test]
fn codex_response_failed_reports_its_window() {
    assert_eq!(
        decide_frame("response.failed", CODEX_FAILED),
        Some(Decision {
            class: RateLimitClass::FiveHourExhausted,
            until: secs(7200),
            basis: Basis::BodyReset
        })
    );
    let reset = epoch_s(3 * 24 * 3600);
    let data = format!(
        r#"{{"type":"response.failed","response":{{"error":{{"type":"usage_limit_reached","resets_at":{reset}}}}}}}"#
    );
    assert_eq!(
        decide_frame("response.failed", &data).map(|d| (d.class, d.until, d.basis)),
        Some((RateLimitClass::SevenDayExhausted, hours(72), Basis::BodyReset))
    );
    // rate_limit_exceeded with a reset is a rate limit resting until it.
    let data = r#"{"type":"response.failed","response":{"error":{"code":"rate_limit_exceeded","resets_in_seconds":90}}}"#;
    let observation = observe_in_band("response.failed", data.as_bytes(), NOW).unwrap();
    assert_eq!(observation.status, 429);
    assert_eq!(
        observation.error,
        Some(ErrorBody { kind: ErrorKind::RateLimit, resets_at: Some(secs(90)) })
    );
}

#[test]
fn codex_error_event_and_its_retry_hint() {
    let data = r#"{"type":"error","code":"rate_limit_exceeded","message":"Rate limit reached for requests. Please try again in 1.5s.","param":null}"#;
    assert_eq!(
        decide_frame("error", data),
        Some(Decision {
            class: RateLimitClass::Throttle,
            until: ms(1500),
            basis: Basis::RetryAfter
        })
    );
    let data =
        r#"{"type":"error","error":{"code":"rate_limit_exceeded","message":"Try again in 350ms"}}"#;
    assert_eq!(decide_frame("error", data).map(|d| d.until), Some(ms(350)));
    // Without a hint: the ladder, as a header-less 429.
    let data = r#"{"type":"error","code":"rate_limit_exceeded","message":"slow down"}"#;
    assert_eq!(
        decide_frame("error", data),
        Some(Decision {
            class: RateLimitClass::Throttle,
            until: secs(10),
            basis: Basis::Ladder { rung: 0 }
        })
    );
}

#[test]
fn anthropic_error_frames() {
    let data = r#"{"type":"error","error":{"type":"rate_limit_error","message":"Number of requests has exceeded your rate limit"}}"#;
    let observation = observe_in_band("error", data.as_bytes(), NOW).unwrap();
    assert_eq!(observation.status, 429);
    assert_eq!(decide_frame("error", data).map(|d| d.class), Some(RateLimitClass::Throttle));
    let data = r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
    assert_eq!(observe_in_band("error", data.as_bytes(), NOW).unwrap().status, 529);
    assert_eq!(
        decide_frame("error", data),
        Some(Decision { class: RateLimitClass::Overload, until: secs(15), basis: Basis::Floor })
    );
}

#[test]
fn other_errors_stand_for_their_status_and_are_no_rate_limit() {
    for (kind, status) in [
        ("invalid_request_error", 400),
        ("authentication_error", 401),
        ("permission_error", 403),
        ("not_found_error", 404),
        ("request_too_large", 413),
        ("api_error", 500),
        ("something_new", 500),
    ] {
        let data = format!(r#"{{"type":"error","error":{{"type":"{kind}","message":"x"}}}}"#);
        let observation = observe_in_band("error", data.as_bytes(), NOW).unwrap();
        assert_eq!(observation.status, status, "{kind}");
        assert_eq!(decide_frame("error", &data), None, "{kind}");
    }
    // Garbage data in an error frame is still a failed stream.
    assert_eq!(observe_in_band("response.failed", b"not json", NOW).unwrap().status, 500);
    assert_eq!(observe_in_band("error", b"", NOW).unwrap().status, 500);
    // Frames that are not errors are not observations.
    for event in ["message_start", "ping", "response.created", "response.completed", "message"] {
        assert_eq!(observe_in_band(event, br#"{"error":{"type":"rate_limit_error"}}"#, NOW), None);
    }
}

proptest::proptest! {
    #[test]
    fn any_frame_data_is_read_without_panic(
        event in proptest::sample::select(vec!["error", "response.failed"]),
        data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256),
    ) {
        let observation = observe_in_band(event, &data, NOW).unwrap();
        proptest::prop_assert!([400, 401, 403, 404, 413, 429, 500, 529].contains(&observation.status.as_u16()));
    }

    #[test]
    fn an_unnested_error_reads_as_its_http_body_would(
        kind in proptest::sample::select(vec![
            "rate_limit_error", "overloaded_error", "usage_limit_reached", "rate_limit_exceeded",
            "api_error",
        ]),
        resets_in in proptest::option::of(1u32..100_000),
    ) {
        let resets = resets_in.map_or(String::new(), |s| format!(r#","resets_in_seconds":{s}"#));
        let data = format!(r#"{{"type":"error","error":{{"type":"{kind}"{resets}}}}}"#);
        let in_band = observe_in_band("error", data.as_bytes(), NOW).unwrap();
        let body = observe(in_band.status, &HeaderMap::new(), Some(data.as_bytes()), NOW);
        proptest::prop_assert_eq!(in_band.error, body.error);
    }
}
