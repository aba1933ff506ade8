//! Classification of rate-limit responses and the cooldown table.

use std::time::Duration;

use mac_ratelimit::{
    Basis, CooldownPolicy, Decision, Ladder, RateLimitClass, classify, decide, is_billing_claim,
};
use mac_storage::EpochMs;

use crate::{NOW, epoch_s, hours, ms_of, obs, obs_body, secs};

use RateLimitClass::{BillingClaim, FiveHourExhausted, Overload, SevenDayExhausted, Throttle};

const CLAIM: &str = "anthropic-ratelimit-unified-representative-claim";
const STATUS: &str = "anthropic-ratelimit-unified-status";
const RESET: &str = "anthropic-ratelimit-unified-reset";

#[track_caller]
fn check_class(
    status: u16,
    headers: &[(&str, &str)],
    body: Option<&str>,
    expected: Option<RateLimitClass>,
) {
    let observation = match body {
        Some(body) => obs_body(status, headers, body),
        None => obs(status, headers),
    };
    assert_eq!(classify(&observation), expected, "{status} {headers:?} {body:?}");
}

#[test]
fn only_429_529_and_overload_bodies_are_rate_limits() {
    for status in [200, 400, 401, 403, 404, 500, 502, 503] {
        check_class(status, &[("retry-after", "5"), (STATUS, "rejected")], None, None);
        check_class(status, &[], Some(r#"{"error":{"type":"rate_limit_error"}}"#), None);
        check_class(status, &[], Some(r#"{"error":{"type":"overloaded_error"}}"#), Some(Overload));
    }
    check_class(529, &[], None, Some(Overload));
    check_class(429, &[], None, Some(Throttle));
    check_class(
        429,
        &[],
        Some(r#"{"type":"error","error":{"type":"overloaded_error"}}"#),
        Some(Overload),
    );
}

#[test]
fn billing_claims() {
    let table = [
        ("api", true),
        ("api_tier_1", true),
        ("overage", true),
        ("overage_monthly", true),
        ("prepaid_credits", true),
        ("credit", true),
        ("sdk", true),
        ("sdk_usage", true),
        ("API", true),
        ("unknown", false),
        ("five_hour", false),
        ("seven_day", false),
        ("seven_day_opus", false),
        ("apis", false),
        ("overages", false),
        ("", false),
    ];
    for (claim, billing) in table {
        assert_eq!(is_billing_claim(claim), billing, "{claim}");
        let expected = if billing { BillingClaim } else { Throttle };
        // Without a rejected status, a window claim alone does not mark exhaustion.
        check_class(429, &[(CLAIM, claim)], None, Some(expected));
    }
}

#[test]
fn window_exhaustion_signals() {
    let table: &[(&[(&str, &str)], RateLimitClass)] = &[
        (&[(STATUS, "rejected"), (CLAIM, "five_hour")], FiveHourExhausted),
        (&[(STATUS, "rejected"), (CLAIM, "seven_day")], SevenDayExhausted),
        (&[(STATUS, "rejected"), (CLAIM, "seven_day_opus")], SevenDayExhausted),
        (&[(STATUS, "allowed"), (CLAIM, "five_hour")], Throttle),
        (&[(STATUS, "rejected")], Throttle),
        (&[("anthropic-ratelimit-unified-5h-status", "rejected")], FiveHourExhausted),
        (&[("anthropic-ratelimit-unified-7d-status", "rejected")], SevenDayExhausted),
        (&[("anthropic-ratelimit-unified-5h-utilization", "1.0")], FiveHourExhausted),
        (&[("anthropic-ratelimit-unified-5h-utilization", "0.99")], Throttle),
        (&[("anthropic-ratelimit-unified-7d-utilization", "1.02")], SevenDayExhausted),
        // Both exhausted: the longer one names the class.
        (
            &[
                ("anthropic-ratelimit-unified-5h-status", "rejected"),
                ("anthropic-ratelimit-unified-7d-status", "rejected"),
            ],
            SevenDayExhausted,
        ),
        (&[("x-codex-primary-used-percent", "100")], FiveHourExhausted),
        (&[("x-codex-primary-used-percent", "99.9")], Throttle),
        (&[("x-codex-secondary-used-percent", "100")], SevenDayExhausted),
        // window-minutes decides which window a Codex window is.
        (
            &[("x-codex-primary-used-percent", "100"), ("x-codex-primary-window-minutes", "10080")],
            SevenDayExhausted,
        ),
        (
            &[
                ("x-codex-secondary-used-percent", "100"),
                ("x-codex-secondary-window-minutes", "300"),
            ],
            FiveHourExhausted,
        ),
        // A billing claim wins over exhaustion.
        (
            &[
                (STATUS, "rejected"),
                (CLAIM, "overage"),
                ("anthropic-ratelimit-unified-7d-status", "rejected"),
            ],
            BillingClaim,
        ),
        // Warnings are not exhaustion.
        (&[("anthropic-ratelimit-unified-5h-status", "allowed_warning")], Throttle),
    ];
    for (headers, expected) in table {
        check_class(429, headers, None, Some(*expected));
    }
}

#[test]
fn codex_usage_limit_body_without_headers() {
    let body = |reset: i64| {
        format!(r#"{{"error":{{"type":"usage_limit_reached","resets_at":{}}}}}"#, epoch_s(reset))
    };
    check_class(429, &[], Some(&body(3600)), Some(FiveHourExhausted));
    check_class(429, &[], Some(&body(5 * 3600)), Some(FiveHourExhausted));
    check_class(429, &[], Some(&body(5 * 3600 + 1)), Some(SevenDayExhausted));
    check_class(
        429,
        &[],
        Some(r#"{"error":{"type":"usage_limit_reached"}}"#),
        Some(FiveHourExhausted),
    );
    // Headers say which window when they can.
    check_class(
        429,
        &[("x-codex-secondary-used-percent", "100")],
        Some(&body(60)),
        Some(SevenDayExhausted),
    );
}

/// Decides for a 429 (or `status`) with `headers`, at streak `streak`, with the default policy.
#[track_caller]
fn check_decision(
    status: u16,
    headers: &[(&str, &str)],
    body: Option<&str>,
    streak: u32,
    expected: Option<Decision>,
) {
    let observation = match body {
        Some(body) => obs_body(status, headers, body),
        None => obs(status, headers),
    };
    let decision = decide(&observation, streak, &CooldownPolicy::default(), NOW);
    assert_eq!(decision, expected, "{status} {headers:?} {body:?} streak {streak}");
}

#[allow(clippy::unnecessary_wraps)] // the expected value of a call returning an Option
fn decision(class: RateLimitClass, until: EpochMs, basis: Basis) -> Option<Decision> {
    Some(Decision { class, until, basis })
}

#[test]
fn throttle_cooldowns() {
    // As the seed's tests: retry-after-ms wins (2345 / 1234); retry-after 7 → 7 000 ms.
    check_decision(
        429,
        &[("retry-after-ms", "2345"), ("retry-after", "1234")],
        None,
        0,
        decision(Throttle, crate::ms(2345), Basis::RetryAfter),
    );
    check_decision(
        429,
        &[("retry-after", "7")],
        None,
        3,
        decision(Throttle, secs(7), Basis::RetryAfter),
    );
    // The seed's "no headers → 60 000 ms" becomes the ladder under D10.
    check_decision(429, &[], None, 0, decision(Throttle, secs(10), Basis::Ladder { rung: 0 }));
    check_decision(429, &[], None, 2, decision(Throttle, secs(40), Basis::Ladder { rung: 2 }));
    // A throttle never uses a window's reset: a transient 429 at 9 % must not park the
    // account until the 5-hour reset (a peer pool, claude-relay-service, locked an account
    // for 293 min at 9 % utilization).
    check_decision(
        429,
        &[
            (STATUS, "rejected"),
            (RESET, &epoch_s(5 * 3600)),
            ("anthropic-ratelimit-unified-5h-utilization", "0.09"),
            ("anthropic-ratelimit-unified-5h-reset", &epoch_s(5 * 3600)),
        ],
        None,
        0,
        decision(Throttle, secs(10), Basis::Ladder { rung: 0 }),
    );
    // Not a rate limit: no decision.
    check_decision(200, &[("retry-after", "7")], None, 0, None);
}

#[test]
fn exhausted_cooldowns() {
    let five_reset = epoch_s(4000);
    let seven_reset = epoch_s(3 * 86_400);
    // The window's own reset first.
    check_decision(
        429,
        &[
            ("anthropic-ratelimit-unified-5h-status", "rejected"),
            ("anthropic-ratelimit-unified-5h-reset", &five_reset),
            (RESET, &epoch_s(9000)),
            ("retry-after", "60"),
        ],
        None,
        4,
        decision(FiveHourExhausted, secs(4000), Basis::WindowReset),
    );
    // Both windows exhausted: the later reset.
    check_decision(
        429,
        &[
            ("anthropic-ratelimit-unified-5h-status", "rejected"),
            ("anthropic-ratelimit-unified-5h-reset", &five_reset),
            ("anthropic-ratelimit-unified-7d-status", "rejected"),
            ("anthropic-ratelimit-unified-7d-reset", &seven_reset),
        ],
        None,
        0,
        decision(SevenDayExhausted, secs(3 * 86_400), Basis::WindowReset),
    );
    // An exhausted window's reset only: a non-exhausted window's reset is not used.
    check_decision(
        429,
        &[
            (STATUS, "rejected"),
            (CLAIM, "five_hour"),
            ("anthropic-ratelimit-unified-7d-reset", &seven_reset),
            (RESET, &five_reset),
        ],
        None,
        0,
        decision(FiveHourExhausted, secs(4000), Basis::UnifiedReset),
    );
    // Codex: reset-at, else reset-after-seconds.
    check_decision(
        429,
        &[("x-codex-primary-used-percent", "100"), ("x-codex-primary-reset-after-seconds", "1234")],
        None,
        0,
        decision(FiveHourExhausted, secs(1234), Basis::WindowReset),
    );
    check_decision(
        429,
        &[
            ("x-codex-secondary-used-percent", "100"),
            ("x-codex-secondary-reset-at", &seven_reset),
            ("x-codex-secondary-reset-after-seconds", "60"),
        ],
        None,
        0,
        decision(SevenDayExhausted, secs(3 * 86_400), Basis::WindowReset),
    );
    // The body's reset, then retry-after, then the ladder.
    check_decision(
        429,
        &[("retry-after", "30")],
        Some(r#"{"error":{"type":"usage_limit_reached","resets_in_seconds":1800}}"#),
        0,
        decision(FiveHourExhausted, secs(1800), Basis::BodyReset),
    );
    check_decision(
        429,
        &[("anthropic-ratelimit-unified-7d-status", "rejected"), ("retry-after", "30")],
        None,
        0,
        decision(SevenDayExhausted, secs(30), Basis::RetryAfter),
    );
    check_decision(
        429,
        &[("anthropic-ratelimit-unified-7d-status", "rejected")],
        None,
        1,
        decision(SevenDayExhausted, secs(20), Basis::Ladder { rung: 1 }),
    );
}

#[test]
fn billing_claim_rests_a_day_at_least() {
    check_decision(
        429,
        &[(CLAIM, "api")],
        None,
        0,
        decision(BillingClaim, hours(24), Basis::Floor),
    );
    check_decision(
        429,
        &[(CLAIM, "overage"), ("retry-after", "60")],
        None,
        5,
        decision(BillingClaim, hours(24), Basis::Floor),
    );
    check_decision(
        429,
        &[(CLAIM, "credits"), ("retry-after", &(48 * 3600).to_string())],
        None,
        0,
        decision(BillingClaim, hours(48), Basis::RetryAfter),
    );
}

#[test]
fn overload_rests_briefly() {
    check_decision(529, &[], None, 7, decision(Overload, secs(15), Basis::Floor));
    check_decision(
        529,
        &[("retry-after", "5")],
        None,
        0,
        decision(Overload, secs(15), Basis::Floor),
    );
    check_decision(
        529,
        &[("retry-after", "60")],
        None,
        0,
        decision(Overload, secs(60), Basis::RetryAfter),
    );
    // Never past the ladder's cap, whatever retry-after says.
    check_decision(
        529,
        &[("retry-after", "86400")],
        None,
        0,
        decision(Overload, secs(300), Basis::RetryAfter),
    );
    check_decision(
        500,
        &[],
        Some(r#"{"type":"error","error":{"type":"overloaded_error"}}"#),
        0,
        decision(Overload, secs(15), Basis::Floor),
    );
}

#[test]
fn ladder_grows_then_caps() {
    let rungs: Vec<i64> = (0..9).map(|rung| ms_of(Ladder::DEFAULT.delay(rung)) / 1000).collect();
    assert_eq!(rungs, [10, 20, 40, 80, 160, 300, 300, 300, 300]);
    assert_eq!(Ladder::DEFAULT.delay(u32::MAX), Duration::from_secs(300));
    let custom = Ladder::new(Duration::from_secs(1), 3.0, Duration::from_secs(60));
    let rungs: Vec<i64> = (0..6).map(|rung| ms_of(custom.delay(rung)) / 1000).collect();
    assert_eq!(rungs, [1, 3, 9, 27, 60, 60]);
    // decide() uses the policy's ladder.
    let policy = CooldownPolicy { ladder: custom, ..CooldownPolicy::default() };
    let d = decide(&obs(429, &[]), 3, &policy, NOW).unwrap();
    assert_eq!(d, Decision { class: Throttle, until: secs(27), basis: Basis::Ladder { rung: 3 } });
    assert!(d.uses_ladder());
}

#[test]
fn usage_refresh_is_wanted_only_for_quota_classes() {
    let wants: Vec<bool> = [Throttle, FiveHourExhausted, SevenDayExhausted, BillingClaim, Overload]
        .into_iter()
        .map(RateLimitClass::wants_usage_refresh)
        .collect();
    assert_eq!(wants, [true, true, true, false, false]);
}

#[test]
fn a_model_family_claim_scopes_the_limit_to_the_family() {
    use mac_ratelimit::{ModelFamily, Scope, scope};
    type Case<'a> = (&'a [(&'a str, &'a str)], u16, Scope);
    let cases: [Case<'_>; 7] = [
        (&[(STATUS, "rejected"), (CLAIM, "seven_day_opus")], 429, Scope::Family(ModelFamily::Opus)),
        (
            &[(STATUS, "rejected"), (CLAIM, "Seven_Day_Sonnet")],
            429,
            Scope::Family(ModelFamily::Sonnet),
        ),
        // The account's own week or 5 hours are used up too: the whole account rests.
        (
            &[
                (STATUS, "rejected"),
                (CLAIM, "seven_day_opus"),
                ("anthropic-ratelimit-unified-7d-status", "rejected"),
            ],
            429,
            Scope::Account,
        ),
        (
            &[
                (STATUS, "rejected"),
                (CLAIM, "seven_day_opus"),
                ("anthropic-ratelimit-unified-5h-utilization", "1.0"),
            ],
            429,
            Scope::Account,
        ),
        (&[(STATUS, "rejected"), (CLAIM, "seven_day")], 429, Scope::Account),
        (&[(STATUS, "rejected"), (CLAIM, "seven_day_haiku")], 429, Scope::Account),
        (&[(STATUS, "rejected"), (CLAIM, "seven_day_opus")], 529, Scope::Account),
    ];
    for (headers, status, expected) in cases {
        assert_eq!(scope(&obs(status, headers)), expected, "{status} {headers:?}");
    }
    assert_eq!(ModelFamily::of_model("claude-opus-4-1"), Some(ModelFamily::Opus));
    assert_eq!(ModelFamily::of_model("CLAUDE-SONNET-4-5"), Some(ModelFamily::Sonnet));
    assert_eq!(ModelFamily::of_model("claude-haiku-4-5"), None);
    assert_eq!(ModelFamily::of_model("gpt-5-codex"), None);
}
