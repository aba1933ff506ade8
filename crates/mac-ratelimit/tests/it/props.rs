//! Properties over arbitrary input: nothing panics, no deadline leaves the horizon.

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use mac_ratelimit::{CooldownPolicy, HEADER_NAMES, MAX_HORIZON, observe};
use mac_storage::{EpochMs, format_iso};
use proptest::prelude::*;

/// Names in other cases than the list's lowercase (names match in any case).
const OTHER_CASES: &[&str] = &["Retry-After", "X-CODEX-SECONDARY-RESET-AFTER-SECONDS"];

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(HEADER_NAMES).prop_map(str::to_owned),
        1 => proptest::sample::select(OTHER_CASES).prop_map(str::to_owned),
        1 => ".{0,40}",
    ]
}

fn value(now: i64) -> impl Strategy<Value = Vec<u8>> {
    let now_s = now / 1000;
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..40),
        any::<i64>().prop_map(|n| n.to_string().into_bytes()),
        any::<f64>().prop_map(|n| n.to_string().into_bytes()),
        (-5_000_000_i64..5_000_000).prop_map(move |d| (now_s + d).to_string().into_bytes()),
        (-5_000_000_000_i64..5_000_000_000).prop_map(move |d| (now + d).to_string().into_bytes()),
        (0_u32..5_000_000, 0_u32..1000).prop_map(|(s, f)| format!("{s}.{f}").into_bytes()),
        (-5_000_000_i64..5_000_000)
            .prop_map(move |d| format_iso(EpochMs::from_millis(now + d * 1000)).into_bytes()),
        proptest::sample::select(vec![
            "rejected",
            "allowed",
            "allowed_warning",
            "api",
            "five_hour",
            "seven_day_opus",
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Wed, 11 Mar 2026 03:35:20 GMT",
            "NaN",
            "-0",
            "1e999",
            "७",
            "0.5",
            "100",
            "10080",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
    ]
}

fn body() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        Just(None),
        proptest::collection::vec(any::<u8>(), 0..200).prop_map(Some),
        (
            proptest::sample::select(vec![
                "overloaded_error",
                "rate_limit_error",
                "usage_limit_reached",
                "x"
            ]),
            any::<f64>(),
            any::<i64>(),
        )
            .prop_map(|(kind, a, b)| Some(
                format!(
                    r#"{{"error":{{"type":"{kind}","resets_at":{a},"resets_in_seconds":{b}}}}}"#
                )
                .into_bytes()
            )),
    ]
}

/// Status, now, headers, body, streak.
type Response = (u16, i64, Vec<(String, Vec<u8>)>, Option<Vec<u8>>, u32);

fn response() -> impl Strategy<Value = Response> {
    (0_i64..4_000_000_000_000).prop_flat_map(|now| {
        (
            // Every status HTTP can carry (`StatusCode` holds 100 to 999).
            prop_oneof![Just(429_u16), Just(529), Just(200), 100_u16..1000],
            Just(now),
            proptest::collection::vec((name(), value(now)), 0..12),
            body(),
            any::<u32>(),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn observations_stay_inside_the_horizon((status, now, headers, body, streak) in response()) {
        let now = EpochMs::from_millis(now);
        let horizon = now.saturating_add(MAX_HORIZON);
        // A name or value HTTP cannot carry never reaches `observe`: it is not in any map.
        let mut map = HeaderMap::new();
        for (name, value) in &headers {
            if let (Ok(name), Ok(value)) =
                (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_bytes(value))
            {
                map.append(name, value);
            }
        }
        let status = StatusCode::from_u16(status).unwrap();
        let observation = observe(status, &map, body.as_deref(), now);
        for deadline in observation.deadlines() {
            prop_assert!(deadline > now && deadline <= horizon, "{deadline:?} {observation:?}");
        }
        for percent in [
            observation.unified.five_hour.utilization,
            observation.unified.seven_day.utilization,
            observation.codex.primary.used_percent,
            observation.codex.secondary.used_percent,
        ]
        .into_iter()
        .flatten()
        {
            prop_assert!(percent.is_finite() && (0.0..=1000.0).contains(&percent));
        }
        if let Some(decision) = mac_ratelimit::decide(&observation, streak, &CooldownPolicy::default(), now) {
            prop_assert!(decision.until > now && decision.until <= horizon, "{decision:?}");
        }
    }
}
