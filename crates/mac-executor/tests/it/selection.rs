//! Selection (D14): the TypeScript library's cases, the tiers of each strategy,
//! the hybrid score and its reset-pace term, soft quota, the avoid set, session bindings, and
//! properties over arbitrary pools.

// Scores are compared exactly: every expected value is a sum the code computes in the same
// order, with operands exact in binary.
#![allow(clippy::float_cmp)]

use std::collections::HashSet;

use mac_executor::{
    HybridScore, Selection, SelectionInput, SelectionReason, Strategy, hybrid_score, reset_pace,
    select,
};
use mac_ratelimit::{is_rate_limited, is_usable};
use mac_storage::{EpochMs, StoredAccount, UsageLimits, UsageWindow, format_iso};
use mac_test_support::fixtures::{NOW, account_created, at_secs as secs};
use proptest::prelude::*;
use proptest::strategy::Strategy as _;
use serde_json::json;

use SelectionReason::{
    Active, FirstUsable, FirstUsableUnclaimed, HybridBest, HybridKeptActive, NotRateLimited,
    RoundRobin, RoundRobinUnclaimed, SessionBinding,
};
use Strategy::{Hybrid, RoundRobin as Rr, Sticky};

const HOUR: i64 = 3_600;
const DAY: i64 = 24 * HOUR;

/// An eligible account without usage, last used an hour ago (so its freshness is full).
fn account(uuid: &str) -> StoredAccount {
    account_created(uuid, secs(-HOUR))
}

fn window(utilization: f64, resets_in: Option<i64>) -> UsageWindow {
    UsageWindow::new(utilization, resets_in.map(|s| format_iso(secs(s))))
}

/// An account whose 7-day window is at `utilization` % (no reset known).
fn used(uuid: &str, utilization: f64) -> StoredAccount {
    with_usage(account(uuid), None, Some(window(utilization, None)))
}

fn with_usage(
    mut account: StoredAccount,
    five_hour: Option<UsageWindow>,
    seven_day: Option<UsageWindow>,
) -> StoredAccount {
    account.cached_usage = Some(UsageLimits {
        five_hour,
        seven_day,
        seven_day_sonnet: None,
        extra: mac_storage::UnknownFields::new(),
    });
    account
}

/// The account, rate-limited for another minute by a 429.
fn limited(mut account: StoredAccount) -> StoredAccount {
    account.rate_limit_reset_at = Some(secs(60));
    account
}

/// One selection's input, by value.
struct Pool {
    accounts: Vec<StoredAccount>,
    active: Option<&'static str>,
    claimed: Vec<&'static str>,
    avoid: Vec<&'static str>,
    session: Option<&'static str>,
    soft_quota: f64,
    cursor: usize,
    /// Accounts the caller holds (in memory) until this time.
    held: Vec<(&'static str, EpochMs)>,
}

fn pool(accounts: Vec<StoredAccount>) -> Pool {
    Pool {
        accounts,
        active: None,
        claimed: Vec::new(),
        avoid: Vec::new(),
        session: None,
        soft_quota: 100.0,
        cursor: 0,
        held: Vec::new(),
    }
}

impl Pool {
    fn active(mut self, uuid: &'static str) -> Self {
        self.active = Some(uuid);
        self
    }
    fn claimed(mut self, uuids: &[&'static str]) -> Self {
        self.claimed = uuids.to_vec();
        self
    }
    fn avoid(mut self, uuids: &[&'static str]) -> Self {
        self.avoid = uuids.to_vec();
        self
    }
    fn session(mut self, uuid: &'static str) -> Self {
        self.session = Some(uuid);
        self
    }
    fn soft_quota(mut self, percent: f64) -> Self {
        self.soft_quota = percent;
        self
    }
    fn cursor(mut self, cursor: usize) -> Self {
        self.cursor = cursor;
        self
    }
    fn held(mut self, uuid: &'static str, until: EpochMs) -> Self {
        self.held.push((uuid, until));
        self
    }

    fn select(&self, strategy: Strategy) -> Option<Selection> {
        let avoid: HashSet<String> = self.avoid.iter().map(|uuid| (*uuid).to_owned()).collect();
        let claimed = |uuid: &str| self.claimed.contains(&uuid);
        let held = |account: &StoredAccount| {
            let uuid = account.uuid.as_deref()?;
            self.held.iter().find(|(held, _)| *held == uuid).map(|(_, until)| *until)
        };
        let input = SelectionInput {
            accounts: &self.accounts,
            active_uuid: self.active,
            now: NOW,
            claimed_by_other: &claimed,
            held_until: &held,
            avoid: &avoid,
            session_account: self.session,
            soft_quota_percent: self.soft_quota,
            max_auth_failures: 3,
            round_robin_cursor: self.cursor,
        };
        select(strategy, &input)
    }
}

/// The expected selection of the account `uuid` at `index`, with the cursor left at `cursor`.
#[allow(clippy::unnecessary_wraps)] // what `select` returns
fn pick(uuid: &str, index: usize, reason: SelectionReason, cursor: usize) -> Option<Selection> {
    Some(Selection { uuid: uuid.to_owned(), index, reason, next_round_robin_cursor: cursor })
}

fn abc() -> Vec<StoredAccount> {
    vec![account("a"), account("b"), account("c")]
}

// ---------------------------------------------------------------------------------------------
// The TypeScript library's selection cases.

#[test]
fn sticky_items_of_seed_3_9() {
    // Stored accounts are loaded and the stored active uuid is honored (3 accounts, active #2).
    assert_eq!(pool(abc()).active("b").select(Sticky), pick("b", 1, Active, 0));
    // With claims off, selection returns the stored active account.
    assert_eq!(pool(abc()).active("a").select(Sticky), pick("a", 0, Active, 0));
    // Active rate-limited → the next account.
    let accounts = vec![limited(account("a")), account("b"), account("c")];
    assert_eq!(pool(accounts).active("a").select(Sticky), pick("b", 1, FirstUsableUnclaimed, 0));
    // Active rate-limited and #2 claimed by another live process → #3.
    let accounts = vec![limited(account("a")), account("b"), account("c")];
    assert_eq!(
        pool(accounts).active("a").claimed(&["b"]).select(Sticky),
        pick("c", 2, FirstUsableUnclaimed, 0)
    );
}

#[test]
fn round_robin_items_of_seed_3_9() {
    // 3 accounts: first pick #1, second #2; after rate-limiting #3, the third wraps to #1.
    let first = pool(abc()).select(Rr);
    assert_eq!(first, pick("a", 0, RoundRobinUnclaimed, 1));
    let second = pool(abc()).cursor(1).select(Rr);
    assert_eq!(second, pick("b", 1, RoundRobinUnclaimed, 2));
    let accounts = vec![account("a"), account("b"), limited(account("c"))];
    assert_eq!(pool(accounts).cursor(2).select(Rr), pick("a", 0, RoundRobinUnclaimed, 1));
}

#[test]
fn hybrid_items_of_seed_3_9() {
    // Usage 95 % vs 10 % (same health and age) → the 10 % account, even against stickiness.
    let accounts = vec![used("high", 95.0), used("low", 10.0)];
    assert_eq!(
        pool(accounts).active("high").select(Hybrid),
        pick("low", 1, HybridBest { score: 405.0 + 310.0 }, 0)
    );
    // Active at 60 % vs other at 40 % → active kept (stickiness makes it the best).
    let accounts = vec![used("other", 40.0), used("active", 60.0)];
    assert_eq!(
        pool(accounts).active("active").select(Hybrid),
        pick("active", 1, HybridBest { score: 180.0 + 120.0 + 310.0 }, 0)
    );
    // No active uuid; 40 % unclaimed vs 20 % claimed by another live process → 40 %. (The
    // claimed one comes first: without an active uuid nobody gets the stickiness bonus.)
    let accounts = vec![used("claimed", 20.0), used("free", 40.0)];
    assert_eq!(
        pool(accounts).claimed(&["claimed"]).select(Hybrid),
        pick("free", 1, HybridBest { score: 270.0 + 310.0 }, 0)
    );
}

// ---------------------------------------------------------------------------------------------
// Each strategy's tiers

#[test]
fn sticky_tiers() {
    let cases: Vec<(Pool, Option<Selection>)> = vec![
        // No active pointer: the first account of the file is the active one.
        (pool(abc()), pick("a", 0, Active, 0)),
        // …unless it is not eligible; then the first usable one.
        (pool(vec![disabled(account("a")), account("b")]), pick("b", 1, FirstUsableUnclaimed, 0)),
        // A pointer to an unknown account: the first usable unclaimed one.
        (pool(abc()).active("gone").claimed(&["a"]), pick("b", 1, FirstUsableUnclaimed, 0)),
        // The active account is kept even when another process holds it.
        (pool(abc()).active("c").claimed(&["c"]), pick("c", 2, Active, 0)),
        // Every usable account is claimed: the first usable one.
        (
            pool(vec![limited(account("a")), account("b"), account("c")])
                .active("a")
                .claimed(&["b", "c"]),
            pick("b", 1, FirstUsable, 0),
        ),
        // Nothing usable: the first account that is not rate-limited (over the soft quota).
        (
            pool(vec![limited(used("a", 10.0)), used("b", 90.0), used("c", 95.0)])
                .active("a")
                .soft_quota(80.0),
            pick("b", 1, NotRateLimited, 0),
        ),
        // Everything rate-limited or not eligible: nothing.
        (pool(vec![limited(account("a")), disabled(account("b")), no_uuid()]).active("a"), None),
        (pool(Vec::new()), None),
    ];
    for (index, (case, expected)) in cases.into_iter().enumerate() {
        assert_eq!(case.select(Sticky), expected, "case {index}");
    }
}

#[test]
fn round_robin_tiers() {
    let cases: Vec<(Pool, Option<Selection>)> = vec![
        // The cursor is taken modulo the number of eligible accounts.
        (pool(abc()).cursor(7), pick("b", 1, RoundRobinUnclaimed, 2)),
        // Claimed accounts are passed over while an unclaimed one is usable.
        (pool(abc()).claimed(&["a", "b"]), pick("c", 2, RoundRobinUnclaimed, 0)),
        // Every usable account claimed: the next usable one from the cursor.
        (pool(abc()).claimed(&["a", "b", "c"]).cursor(1), pick("b", 1, RoundRobin, 2)),
        // The cursor counts eligible accounts only: position 1 of [a, c] is c (file index 2).
        (
            pool(vec![account("a"), disabled(account("b")), account("c")]).cursor(1),
            pick("c", 2, RoundRobinUnclaimed, 0),
        ),
        // Nothing usable: the first not rate-limited account in file order; cursor unchanged.
        (
            pool(vec![used("a", 90.0), limited(account("b")), used("c", 95.0)])
                .soft_quota(80.0)
                .cursor(2),
            pick("a", 0, NotRateLimited, 2),
        ),
        (pool(vec![limited(account("a"))]).cursor(5), None),
        (pool(Vec::new()).cursor(3), None),
    ];
    for (index, (case, expected)) in cases.into_iter().enumerate() {
        assert_eq!(case.select(Rr), expected, "case {index}");
    }
}

#[test]
fn round_robin_takes_turns_over_calls() {
    let mut cursor = 0;
    let mut picks = Vec::new();
    for _ in 0..5 {
        let selection = pool(abc()).cursor(cursor).select(Rr).unwrap();
        cursor = selection.next_round_robin_cursor;
        picks.push(selection.uuid);
    }
    assert_eq!(picks, ["a", "b", "c", "a", "b"]);
}

#[test]
fn hybrid_keeps_the_active_account_within_the_switch_margin() {
    // Active 60 %: 180 + 120 + 310 = 610. Other 25 %: 337.5 + 310 = 647.5, which is at most
    // 610 + 40 → the active account is kept.
    let accounts = vec![used("other", 25.0), used("active", 60.0)];
    assert_eq!(
        pool(accounts).active("active").select(Hybrid),
        pick("active", 1, HybridKeptActive { score: 610.0, best_score: 647.5 }, 0)
    );
    // Other 20 %: 360 + 310 = 670 > 650 → switch.
    let accounts = vec![used("other", 20.0), used("active", 60.0)];
    assert_eq!(
        pool(accounts).active("active").select(Hybrid),
        pick("other", 0, HybridBest { score: 670.0 }, 0)
    );
}

#[test]
fn hybrid_tiers() {
    let cases: Vec<(Pool, Option<Selection>)> = vec![
        // A tie goes to the first in file order.
        (pool(abc()), pick("a", 0, HybridBest { score: 157.5 + 310.0 }, 0)),
        // A claimed account loses 200.
        (pool(abc()).claimed(&["a"]), pick("b", 1, HybridBest { score: 467.5 }, 0)),
        // Rate-limited accounts are out of the pool, however good.
        (
            pool(vec![limited(used("a", 0.0)), used("b", 50.0)]),
            pick("b", 1, HybridBest { score: 225.0 + 310.0 }, 0),
        ),
        // Nothing usable: the accounts that are not rate-limited are scored.
        (
            pool(vec![used("a", 95.0), used("b", 85.0), limited(account("c"))]).soft_quota(80.0),
            pick("b", 1, HybridBest { score: 67.5 + 310.0 }, 0),
        ),
        (pool(vec![limited(account("a"))]), None),
    ];
    for (index, (case, expected)) in cases.into_iter().enumerate() {
        assert_eq!(case.select(Hybrid), expected, "case {index}");
    }
}

// ---------------------------------------------------------------------------------------------
// The hybrid score and its reset-pace term

#[test]
fn hybrid_score_terms() {
    let mut failing = used("a", 40.0);
    failing.consecutive_auth_failures = 1;
    failing.last_used = secs(-450);
    assert_eq!(
        hybrid_score(&failing, NOW, 3, true, true),
        HybridScore {
            usage: 270.0,
            reset_pace: 0.0,
            health: 2.0 * 250.0 / 3.0,
            freshness: 30.0,
            stickiness: 120.0,
            claim_penalty: -200.0,
        }
    );
    // No usage: 65 % assumed. Failures past the limit: health 0, never negative. A future
    // lastUsed: freshness 0. A limit of 0 counts as 1.
    let mut odd = account("b");
    odd.consecutive_auth_failures = 5;
    odd.last_used = secs(60);
    assert_eq!(
        hybrid_score(&odd, NOW, 0, false, false),
        HybridScore {
            usage: 157.5,
            reset_pace: 0.0,
            health: 0.0,
            freshness: 0.0,
            stickiness: 0.0,
            claim_penalty: 0.0,
        }
    );
    // The highest of 5-hour and 7-day counts, clamped to [0, 100]; NaN is ignored.
    let usage = |five: f64, seven: f64| {
        let a = with_usage(account("c"), Some(window(five, None)), Some(window(seven, None)));
        hybrid_score(&a, NOW, 3, false, false).usage
    };
    assert_eq!(
        [usage(10.0, 30.0), usage(130.0, 0.0), usage(-5.0, -10.0), usage(f64::NAN, 20.0)],
        [315.0, 0.0, 450.0, 360.0]
    );
}

/// `reset_pace` of an account whose windows are given as JSON (the accounts file's shape).
#[track_caller]
fn check_pace(usage: serde_json::Value, expected: f64) {
    let mut a = account("a");
    a.cached_usage = Some(serde_json::from_value(usage).unwrap());
    assert_eq!(reset_pace(&a, NOW), expected);
}

fn at(s: i64) -> String {
    format_iso(secs(s))
}

#[test]
fn reset_pace_term() {
    // Half of the 5-hour window elapsed: the target is 45 %. 30 % used → slack 15 → 45.
    check_pace(json!({"five_hour": {"utilization": 30, "resets_at": at(5 * HOUR / 2)}}), 45.0);
    // 50 % used → slack −5 → −20.
    check_pace(json!({"five_hour": {"utilization": 50, "resets_at": at(5 * HOUR / 2)}}), -20.0);
    // Half of a week elapsed, unused: 3 × 45 = 135, capped at 120.
    check_pace(json!({"seven_day": {"utilization": 0, "resets_at": at(7 * DAY / 2)}}), 120.0);
    // Far ahead of pace: at most −160.
    check_pace(json!({"seven_day": {"utilization": 100, "resets_at": at(7 * DAY)}}), -160.0);
    // A reset in the past counts as fully elapsed: 90 − 100 → −40.
    check_pace(json!({"five_hour": {"utilization": 100, "resets_at": at(-60)}}), -40.0);
    // Utilization above 100 counts as 100.
    check_pace(json!({"five_hour": {"utilization": 150, "resets_at": at(-60)}}), -40.0);
    // The minimum over the windows.
    check_pace(
        json!({
            "five_hour": {"utilization": 30, "resets_at": at(5 * HOUR / 2)},
            "seven_day": {"utilization": 50, "resets_at": at(7 * DAY / 2)},
        }),
        -20.0,
    );
    // seven_day_sonnet and any other seven_day_* window count (7 days long).
    check_pace(
        json!({
            "five_hour": {"utilization": 30, "resets_at": at(5 * HOUR / 2)},
            "seven_day_sonnet": {"utilization": 50, "resets_at": at(7 * DAY / 2)},
        }),
        -20.0,
    );
    check_pace(
        json!({
            "five_hour": {"utilization": 30, "resets_at": at(5 * HOUR / 2)},
            "seven_day_opus": {"utilization": 55, "resets_at": at(7 * DAY / 2)},
            "seven_day_oauth_apps": null,
            "extra_usage": {"utilization": 100, "resets_at": at(7 * DAY)},
        }),
        -40.0,
    );
    // Windows without a utilization or a parseable reset do not count; none → 0.
    check_pace(
        json!({
            "five_hour": {"utilization": 30, "resets_at": null},
            "seven_day": {"utilization": 90, "resets_at": "next tuesday"},
            "seven_day_opus": {"resets_at": at(60)},
        }),
        0.0,
    );
    check_pace(json!({}), 0.0);
    assert_eq!(reset_pace(&account("a"), NOW), 0.0);
}

#[test]
fn reset_pace_prefers_the_window_that_resets_soon() {
    // 80 % with 6 days left scores below 60 % resetting in 12 h…
    let slow = with_usage(account("slow"), None, Some(window(80.0, Some(6 * DAY))));
    let soon = with_usage(account("soon"), None, Some(window(60.0, Some(12 * HOUR))));
    let slow_score = hybrid_score(&slow, NOW, 3, false, false);
    let soon_score = hybrid_score(&soon, NOW, 3, false, false);
    assert_eq!(slow_score.reset_pace, -160.0);
    assert!(soon_score.reset_pace > 70.0 && soon_score.reset_pace < 71.0, "{soon_score:?}");
    assert!(slow_score.total() < soon_score.total());
    let accounts = vec![slow.clone(), soon.clone()];
    assert_eq!(pool(accounts).select(Hybrid).unwrap().uuid, "soon");
    // …and the pace term decides even where raw utilization says otherwise: 50 % with 6 days
    // left (usage 225) loses to 60 % resetting in 12 h (usage 180).
    let slow = with_usage(account("slow"), None, Some(window(50.0, Some(6 * DAY))));
    assert_eq!(hybrid_score(&slow, NOW, 3, false, false).usage, 225.0);
    assert_eq!(pool(vec![slow, soon]).select(Hybrid).unwrap().uuid, "soon");
}

// ---------------------------------------------------------------------------------------------
// Soft quota, the avoid set, session bindings

#[test]
fn soft_quota_steers_every_strategy() {
    let accounts = || vec![used("a", 85.0), used("b", 50.0)];
    let expected = [
        (Sticky, pick("b", 1, FirstUsableUnclaimed, 0)),
        (Rr, pick("b", 1, RoundRobinUnclaimed, 0)),
        (Hybrid, pick("b", 1, HybridBest { score: 225.0 + 310.0 }, 0)),
    ];
    for (strategy, expected) in expected {
        assert_eq!(pool(accounts()).active("a").soft_quota(80.0).select(strategy), expected);
    }
    // 100 turns it off; the threshold itself counts as over.
    assert_eq!(
        pool(accounts()).active("a").soft_quota(100.0).select(Sticky),
        pick("a", 0, Active, 0)
    );
    assert_eq!(
        pool(accounts()).active("a").soft_quota(85.0).select(Sticky),
        pick("b", 1, FirstUsableUnclaimed, 0)
    );
}

#[test]
fn avoided_accounts_come_last_within_their_tier() {
    let cases: Vec<(Strategy, Pool, Option<Selection>)> = vec![
        // The active account failed in this request: the next one.
        (Sticky, pool(abc()).active("a").avoid(&["a"]), pick("b", 1, FirstUsableUnclaimed, 0)),
        // An unclaimed but avoided account loses to a claimed one that is not avoided.
        (
            Sticky,
            pool(abc()).active("a").avoid(&["a", "b"]).claimed(&["c"]),
            pick("c", 2, FirstUsable, 0),
        ),
        // Everything usable was avoided: the active one again.
        (Sticky, pool(abc()).active("b").avoid(&["a", "b", "c"]), pick("b", 1, Active, 0)),
        // A usable avoided account beats one over the soft quota.
        (
            Sticky,
            pool(vec![used("a", 90.0), used("b", 10.0)]).active("a").soft_quota(80.0).avoid(&["b"]),
            pick("b", 1, FirstUsableUnclaimed, 0),
        ),
        // Over the quota too, not avoided accounts first.
        (
            Sticky,
            pool(vec![used("a", 90.0), used("b", 95.0)]).soft_quota(80.0).avoid(&["a"]),
            pick("b", 1, NotRateLimited, 0),
        ),
        (Rr, pool(abc()).avoid(&["a"]), pick("b", 1, RoundRobinUnclaimed, 2)),
        (Rr, pool(abc()).avoid(&["a", "b", "c"]).cursor(2), pick("c", 2, RoundRobinUnclaimed, 0)),
        // Hybrid: the best avoided → the best of the rest, no stickiness margin for it.
        (
            Hybrid,
            pool(vec![used("a", 10.0), used("b", 30.0), used("c", 50.0)]).active("a").avoid(&["a"]),
            pick("b", 1, HybridBest { score: 315.0 + 310.0 }, 0),
        ),
        (
            Hybrid,
            pool(vec![used("a", 10.0), used("b", 30.0)]).avoid(&["a", "b"]),
            pick("a", 0, HybridBest { score: 405.0 + 310.0 }, 0),
        ),
    ];
    for (index, (strategy, case, expected)) in cases.into_iter().enumerate() {
        assert_eq!(case.select(strategy), expected, "case {index}");
    }
}

#[test]
fn a_session_stays_on_its_account_while_usable() {
    // The bound account wins over the active pointer, the cursor, a better score and claims.
    for strategy in Strategy::ALL {
        let accounts = vec![used("a", 10.0), used("b", 60.0), account("c")];
        assert_eq!(
            pool(accounts).active("a").session("b").claimed(&["b"]).cursor(2).select(strategy),
            pick("b", 1, SessionBinding, 2),
            "{strategy}"
        );
    }
}

#[test]
fn a_session_leaves_its_account_at_once_when_it_is_not_usable() {
    let cases: Vec<Pool> = vec![
        // Rate-limited.
        pool(vec![account("a"), limited(account("b"))]).active("a").session("b"),
        // Over the soft quota.
        pool(vec![account("a"), used("b", 90.0)]).active("a").session("b").soft_quota(80.0),
        // Failed in this request.
        pool(vec![account("a"), account("b")]).active("a").session("b").avoid(&["b"]),
        // Disabled, or gone from the pool.
        pool(vec![account("a"), disabled(account("b"))]).active("a").session("b"),
        pool(vec![account("a")]).active("a").session("b"),
    ];
    for (index, case) in cases.into_iter().enumerate() {
        assert_eq!(case.select(Sticky), pick("a", 0, Active, 0), "case {index}");
    }
}

#[test]
fn strategy_names() {
    for (name, strategy) in [("sticky", Sticky), ("round-robin", Rr), ("hybrid", Hybrid)] {
        assert_eq!(name.parse::<Strategy>(), Ok(strategy));
        assert_eq!(strategy.to_string(), name);
    }
    assert_eq!(Strategy::default(), Sticky);
    let err = "round_robin".parse::<Strategy>().unwrap_err();
    assert_eq!(err.value(), "round_robin");
    assert_eq!(
        err.to_string(),
        "unknown selection strategy `round_robin` (expected `sticky`, `round-robin` or `hybrid`)"
    );
    assert!("Sticky".parse::<Strategy>().is_err());
}

fn disabled(mut account: StoredAccount) -> StoredAccount {
    account.is_auth_disabled = true;
    account
}

fn no_uuid() -> StoredAccount {
    let mut account = account("x");
    account.uuid = None;
    account
}

// ---------------------------------------------------------------------------------------------
// Properties

/// One arbitrary account: eligibility, a 429 deadline, usage windows, failures, idleness.
fn arb_account(index: usize) -> impl proptest::strategy::Strategy<Value = StoredAccount> {
    let utilization =
        proptest::sample::select(vec![0.0, 30.0, 65.0, 79.9, 80.0, 99.0, 100.0, 120.0]);
    let resets = proptest::option::of(-10 * HOUR..8 * DAY);
    let arb_window = proptest::option::of((utilization, resets))
        .prop_map(|w| w.map(|(utilization, resets)| window(utilization, resets)));
    (
        prop::bool::weighted(0.95),
        prop::bool::weighted(0.9),
        prop::bool::weighted(0.1),
        proptest::option::of(-120_i64..120),
        proptest::option::weighted(0.7, (arb_window.clone(), arb_window)),
        0_u32..4,
        -100_i64..2_000,
    )
        .prop_map(move |(has_uuid, enabled, auth_disabled, reset, usage, failures, idle)| {
            let mut a = account(&format!("u{index}"));
            if !has_uuid {
                a.uuid = None;
            }
            a.enabled = enabled;
            a.is_auth_disabled = auth_disabled;
            a.rate_limit_reset_at = reset.map(secs);
            if let Some((five, seven)) = usage {
                a = with_usage(a, five, seven);
            }
            a.consecutive_auth_failures = failures;
            a.last_used = secs(-idle);
            a
        })
}

/// Everything [`select`] takes, by value.
#[derive(Clone, Debug)]
struct Scenario {
    strategy: Strategy,
    accounts: Vec<StoredAccount>,
    active: Option<String>,
    claimed: Vec<String>,
    avoid: Vec<String>,
    session: Option<String>,
    soft_quota: f64,
    cursor: usize,
}

fn arb_scenario() -> impl proptest::strategy::Strategy<Value = Scenario> {
    let uuid = || proptest::option::of((0_usize..7).prop_map(|i| format!("u{i}")));
    let uuids = || proptest::collection::vec((0_usize..7).prop_map(|i| format!("u{i}")), 0..4);
    (
        proptest::sample::select(Strategy::ALL.to_vec()),
        (0_usize..6).prop_flat_map(|n| (0..n).map(arb_account).collect::<Vec<_>>()),
        uuid(),
        uuids(),
        uuids(),
        uuid(),
        proptest::sample::select(vec![100.0, 80.0, 50.0]),
        0_usize..10,
    )
        .prop_map(
            |(strategy, accounts, active, claimed, avoid, session, soft_quota, cursor)| Scenario {
                strategy,
                accounts,
                active,
                claimed,
                avoid,
                session,
                soft_quota,
                cursor,
            },
        )
}

impl Scenario {
    fn select_with(&self, avoid: &HashSet<String>) -> Option<Selection> {
        let claimed = |uuid: &str| self.claimed.iter().any(|c| c == uuid);
        let input = SelectionInput {
            accounts: &self.accounts,
            active_uuid: self.active.as_deref(),
            now: NOW,
            claimed_by_other: &claimed,
            held_until: &|_| None,
            avoid,
            session_account: self.session.as_deref(),
            soft_quota_percent: self.soft_quota,
            max_auth_failures: 3,
            round_robin_cursor: self.cursor,
        };
        select(self.strategy, &input)
    }

    fn avoid_set(&self) -> HashSet<String> {
        self.avoid.iter().cloned().collect()
    }

    fn eligible(&self) -> impl Iterator<Item = &StoredAccount> {
        self.accounts.iter().filter(|a| a.is_eligible())
    }

    fn usable(&self, account: &StoredAccount) -> bool {
        is_usable(account, NOW, self.soft_quota)
    }

    fn avoided(&self, account: &StoredAccount) -> bool {
        account.uuid.as_ref().is_some_and(|uuid| self.avoid.contains(uuid))
    }
}

proptest! {
    /// (a) Never an ineligible or rate-limited account; never one that is not usable, or one
    /// that is avoided, while a usable account that is not avoided exists; nothing only when
    /// every eligible account is rate-limited.
    #[test]
    fn selection_respects_the_tiers(s in arb_scenario()) {
        let selection = s.select_with(&s.avoid_set());
        let any_fresh = s.eligible().any(|a| s.usable(a) && !s.avoided(a));
        let any_usable = s.eligible().any(|a| s.usable(a));
        let all_limited = s.eligible().all(|a| is_rate_limited(a, NOW));
        match selection {
            None => prop_assert!(all_limited),
            Some(selection) => {
                let chosen = &s.accounts[selection.index];
                prop_assert_eq!(chosen.uuid.as_deref(), Some(selection.uuid.as_str()));
                prop_assert!(chosen.is_eligible());
                prop_assert!(!is_rate_limited(chosen, NOW));
                if any_fresh {
                    prop_assert!(s.usable(chosen) && !s.avoided(chosen), "{:?}", selection);
                }
                if any_usable {
                    prop_assert!(s.usable(chosen), "{:?}", selection);
                }
                let n = s.eligible().count();
                prop_assert!(
                    selection.next_round_robin_cursor == s.cursor
                        || selection.next_round_robin_cursor < n
                );
            }
        }
    }

    /// (b) A session bound to an eligible, usable account that is not avoided stays on it.
    #[test]
    fn a_bound_session_stays_while_usable(mut s in arb_scenario(), pick in any::<prop::sample::Index>()) {
        let bound: Vec<String> = s
            .eligible()
            .filter(|a| s.usable(a) && !s.avoided(a))
            .filter_map(|a| a.uuid.clone())
            .collect();
        prop_assume!(!bound.is_empty());
        let uuid = pick.get(&bound).clone();
        s.session = Some(uuid.clone());
        let selection = s.select_with(&s.avoid_set()).unwrap();
        prop_assert_eq!(selection.uuid, uuid);
        prop_assert_eq!(selection.reason, SessionBinding);
        prop_assert_eq!(selection.next_round_robin_cursor, s.cursor);
    }

    /// (d) Hybrid's choice is the one scoring every account of the chosen tier makes: the
    /// first highest total (or the active account within the switch margin of the best),
    /// whatever accounts the pruning of the reset-pace term left unscored.
    #[test]
    fn hybrid_chooses_as_if_every_account_were_scored(mut s in arb_scenario()) {
        s.strategy = Hybrid;
        s.session = None;
        let Some(selection) = s.select_with(&s.avoid_set()) else { return Ok(()) };
        let chosen = &s.accounts[selection.index];
        let score = |a: &StoredAccount| {
            let uuid = a.uuid.as_deref();
            let claimed = s.claimed.iter().any(|c| Some(c.as_str()) == uuid);
            hybrid_score(a, NOW, 3, uuid.is_some() && uuid == s.active.as_deref(), claimed)
        };
        let tier: Vec<&StoredAccount> = s
            .eligible()
            .filter(|a| a.uuid.is_some() && !is_rate_limited(a, NOW))
            .filter(|a| s.usable(a) == s.usable(chosen) && s.avoided(a) == s.avoided(chosen))
            .collect();
        let best = tier.iter().map(|a| score(a).total()).fold(f64::NEG_INFINITY, f64::max);
        let first_best = tier.iter().position(|a| score(a).total() == best).unwrap();
        match selection.reason {
            HybridBest { score: total } => {
                prop_assert_eq!(total, best);
                prop_assert_eq!(tier[first_best].uuid.as_deref(), chosen.uuid.as_deref());
            }
            HybridKeptActive { score: total, best_score } => {
                prop_assert_eq!(total, score(chosen).total());
                prop_assert_eq!(best_score, score(tier[first_best]).without_stickiness());
            }
            other => prop_assert!(false, "hybrid chose by {:?}", other),
        }
    }

    /// (c) The same input gives the same output, however the avoid set was built.
    #[test]
    fn selection_is_deterministic(s in arb_scenario()) {
        let first = s.select_with(&s.avoid_set());
        let mut reversed: HashSet<String> = HashSet::with_capacity(64);
        reversed.extend(s.avoid.iter().rev().cloned());
        prop_assert_eq!(s.select_with(&reversed), first.clone());
        prop_assert_eq!(s.select_with(&s.avoid_set()), first);
    }
}

/// The caller's in-memory holds (a model family's limit, an overload's rest, an auth backoff)
/// count as rate limits: a held account is never chosen, not even as an avoided fallback or for
/// its session; a hold that has passed counts for nothing.
#[test]
fn held_accounts_are_skipped_like_rate_limited_ones() {
    let later = NOW.saturating_add(std::time::Duration::from_secs(60));
    let earlier = EpochMs::from_millis(NOW.as_millis() - 1);
    for strategy in Strategy::ALL {
        let held = pool(abc()).active("a").held("a", later);
        assert_eq!(held.select(strategy).map(|s| s.uuid), Some("b".to_owned()), "{strategy}");
        let bound = pool(abc()).session("a").held("a", later).held("b", later);
        assert_eq!(bound.select(strategy).map(|s| s.uuid), Some("c".to_owned()), "{strategy}");
        let all = pool(abc()).held("a", later).held("b", later).held("c", later).avoid(&["a"]);
        assert_eq!(all.select(strategy), None, "{strategy}");
        let passed = pool(abc()).active("a").held("a", earlier);
        assert_eq!(passed.select(strategy).map(|s| s.uuid), Some("a".to_owned()), "{strategy}");
    }
}
