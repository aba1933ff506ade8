//! An account's limit state (D9), `apply`, and the seed's status items that still hold.

use mac_ratelimit::{
    Basis, CooldownPolicy, Decision, RateLimitClass, apply, blocked_until, decide,
    exceeds_soft_quota, header_blocked_until, is_rate_limited, is_usable, usage_exhausted_until,
};
use mac_storage::StoredAccount;

use crate::{NOW, account, hours, iso, obs, secs, usage, window};

/// Blocked-until of an account with `reset_at` (seconds from now) and usage.
#[track_caller]
fn check_blocked(
    reset_at: Option<i64>,
    usage: Option<mac_storage::UsageLimits>,
    expected: Option<i64>,
) {
    let mut a = account("a");
    a.rate_limit_reset_at = reset_at.map(secs);
    a.cached_usage = usage;
    assert_eq!(blocked_until(&a, NOW), expected.map(secs));
    assert_eq!(is_rate_limited(&a, NOW), expected.is_some());
}

fn at(s: i64) -> String {
    iso(secs(s))
}

#[test]
fn status_items_of_seed_3_15() {
    // Future rateLimitResetAt and no usage → rate-limited.
    check_blocked(Some(60), None, Some(60));
    // 5h at 100 % with a future reset → rate-limited.
    check_blocked(None, Some(usage(Some(window(100.0, Some(&at(600)))), None)), Some(600));
    // No usage, no reset → active.
    check_blocked(None, None, None);
    // 99 % / 50 % → active.
    check_blocked(
        None,
        Some(usage(Some(window(99.0, Some(&at(600)))), Some(window(50.0, Some(&at(9000)))))),
        None,
    );
    // The seed's status badge rule "fresh usage below 100 % wins over a future
    // rateLimitResetAt → active" does NOT hold under D9: the header-derived deadline and the
    // usage stay apart, and the account is blocked until the later active one. A usage
    // snapshot cannot lift a 429.
    check_blocked(
        Some(60),
        Some(usage(Some(window(20.0, Some(&at(600)))), Some(window(5.0, None)))),
        Some(60),
    );
}

#[test]
fn the_later_active_source_wins_and_deadlines_pass_by_themselves() {
    let exhausted = || Some(usage(Some(window(100.0, Some(&at(600)))), None));
    check_blocked(Some(60), exhausted(), Some(600));
    check_blocked(Some(6000), exhausted(), Some(6000));
    // A passed header deadline is ignored without being cleared (D10).
    check_blocked(Some(-1), None, None);
    check_blocked(Some(0), None, None);
    check_blocked(Some(-1), exhausted(), Some(600));
    // Both windows full: the later reset.
    check_blocked(
        None,
        Some(usage(Some(window(100.0, Some(&at(600)))), Some(window(130.0, Some(&at(90_000)))))),
        Some(90_000),
    );
    // A full window whose reset passed, is missing or unreadable does not block.
    for reset in [Some(at(-5)), None, Some("soon".to_owned()), Some(String::new())] {
        check_blocked(None, Some(usage(Some(window(100.0, reset.as_deref())), None)), None);
    }
    // seven_day_sonnet is ignored.
    let mut sonnet = usage(None, None);
    sonnet.seven_day_sonnet = Some(window(100.0, Some(&at(600))));
    check_blocked(None, Some(sonnet), None);
}

#[test]
fn a_twenty_percent_tier_never_parks_the_account() {
    // The seed parked this account for hours: 20 % used, resets in 4 h. Here a 429 with
    // retry-after 5 s blocks for 5 s only.
    let mut a = account("a");
    a.cached_usage = Some(usage(Some(window(20.0, Some(&iso(hours(4))))), None));
    assert_eq!(usage_exhausted_until(&a, NOW), None);
    assert!(is_usable(&a, NOW, 100.0));
    let decision =
        decide(&obs(429, &[("retry-after", "5")]), 0, &CooldownPolicy::default(), NOW).unwrap();
    apply(&mut a, &decision, NOW);
    assert_eq!(blocked_until(&a, NOW), Some(secs(5)));
    assert!(!is_rate_limited(&a, secs(5)));
}

#[test]
fn header_and_usage_deadlines_are_separate() {
    let mut a = account("a");
    a.rate_limit_reset_at = Some(secs(30));
    a.cached_usage = Some(usage(None, Some(window(100.0, Some(&at(7200))))));
    assert_eq!(header_blocked_until(&a, NOW), Some(secs(30)));
    assert_eq!(usage_exhausted_until(&a, NOW), Some(secs(7200)));
    assert_eq!(header_blocked_until(&a, secs(30)), None);
    assert_eq!(blocked_until(&a, secs(30)), Some(secs(7200)));
    assert_eq!(blocked_until(&a, secs(7200)), None);
}

fn with_usage(five: f64, seven: f64) -> StoredAccount {
    let mut a = account("a");
    a.cached_usage = Some(usage(Some(window(five, None)), Some(window(seven, None))));
    a
}

#[test]
fn soft_quota_as_seed_2_3() {
    let table: &[(StoredAccount, f64, bool)] = &[
        (with_usage(80.0, 10.0), 80.0, true),
        (with_usage(79.9, 10.0), 80.0, false),
        (with_usage(10.0, 95.0), 80.0, true),
        (with_usage(100.0, 100.0), 100.0, false),
        (with_usage(100.0, 100.0), 150.0, false),
        (with_usage(100.0, 100.0), f64::NAN, false),
        (account("a"), 0.0, false),
        (with_usage(0.0, 0.0), 0.0, true),
    ];
    for (a, threshold, expected) in table {
        assert_eq!(exceeds_soft_quota(a, *threshold), *expected, "{threshold}");
    }
    // sonnet does not count.
    let mut a = account("a");
    let mut u = usage(None, None);
    u.seven_day_sonnet = Some(window(100.0, None));
    a.cached_usage = Some(u);
    assert!(!exceeds_soft_quota(&a, 50.0));
}

#[test]
fn usable_means_not_limited_and_under_the_soft_quota() {
    let mut a = with_usage(85.0, 10.0);
    assert!(is_usable(&a, NOW, 100.0));
    assert!(!is_usable(&a, NOW, 80.0));
    a.rate_limit_reset_at = Some(secs(1));
    assert!(!is_usable(&a, NOW, 100.0));
    assert!(is_usable(&a, secs(1), 100.0));
}

fn ladder(until: i64, rung: u32) -> Decision {
    Decision { class: RateLimitClass::Throttle, until: secs(until), basis: Basis::Ladder { rung } }
}

#[test]
fn apply_keeps_the_longer_block_and_climbs_only_on_the_ladder() {
    // A short throttle never shortens a known longer block.
    let mut a = account("a");
    a.rate_limit_reset_at = Some(hours(24));
    let short =
        Decision { class: RateLimitClass::Throttle, until: secs(5), basis: Basis::RetryAfter };
    apply(&mut a, &short, NOW);
    assert_eq!((a.rate_limit_reset_at, a.rate_limit_streak), (Some(hours(24)), 0));
    // A passed deadline is replaced, even by a shorter one.
    a.rate_limit_reset_at = Some(secs(-1));
    apply(&mut a, &short, NOW);
    assert_eq!((a.rate_limit_reset_at, a.rate_limit_streak), (Some(secs(5)), 0));
    // Ladder decisions climb one rung past the rung used.
    apply(&mut a, &ladder(10, 0), NOW);
    assert_eq!((a.rate_limit_reset_at, a.rate_limit_streak), (Some(secs(10)), 1));
    apply(&mut a, &ladder(20, 1), NOW);
    assert_eq!((a.rate_limit_reset_at, a.rate_limit_streak), (Some(secs(20)), 2));
    // A decision made from a stale (lower) rung still climbs from the stored one.
    apply(&mut a, &ladder(10, 0), NOW);
    assert_eq!((a.rate_limit_reset_at, a.rate_limit_streak), (Some(secs(20)), 3));
    // Other decisions leave the streak alone.
    let billing =
        Decision { class: RateLimitClass::BillingClaim, until: hours(24), basis: Basis::Floor };
    apply(&mut a, &billing, NOW);
    assert_eq!((a.rate_limit_reset_at, a.rate_limit_streak), (Some(hours(24)), 3));
    // Nothing else changes.
    let mut expected = account("a");
    expected.rate_limit_reset_at = Some(hours(24));
    expected.rate_limit_streak = 3;
    assert_eq!(a, expected);
}

#[test]
fn seed_3_11_usage_items_under_d9() {
    // The seed's tests took the 429's deadline from any cached window's reset (15 s / 30 s → 15 s;
    // 10 s / 25 s with header 5 000 → 10 000). Under D9 the deadline comes from the response
    // alone, and only windows at 100 % block, through the usage-derived deadline.
    let policy = CooldownPolicy::default();
    let mut a = account("a");
    a.cached_usage =
        Some(usage(Some(window(20.0, Some(&at(10)))), Some(window(30.0, Some(&at(25))))));
    let decision = decide(&obs(429, &[("retry-after-ms", "5000")]), 0, &policy, NOW).unwrap();
    assert_eq!(
        decision,
        Decision { class: RateLimitClass::Throttle, until: secs(5), basis: Basis::RetryAfter }
    );
    apply(&mut a, &decision, NOW);
    assert_eq!(blocked_until(&a, NOW), Some(secs(5)));
    // A 5-hour window at 100 % resetting in 45 s blocks until then, past the header's 5 s.
    a.cached_usage = Some(usage(Some(window(100.0, Some(&at(45)))), None));
    assert_eq!(header_blocked_until(&a, NOW), Some(secs(5)));
    assert_eq!(blocked_until(&a, NOW), Some(secs(45)));
    // The seed fetched usage after such a 429; the class says whether that helps.
    assert!(decision.class.wants_usage_refresh());
}
