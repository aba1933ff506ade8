//! The soonest time any eligible account of a pool is usable (D15's bounded wait).

use std::time::Duration;

use mac_ratelimit::{PoolWait, soonest_usable};
use mac_storage::StoredAccount;

use crate::{NOW, account, iso, secs, usage, window};

fn limited(uuid: &str, until: i64) -> StoredAccount {
    let mut a = account(uuid);
    a.rate_limit_reset_at = Some(secs(until));
    a
}

fn exhausted(uuid: &str, until: i64) -> StoredAccount {
    let mut a = account(uuid);
    a.cached_usage = Some(usage(None, Some(window(100.0, Some(&iso(secs(until)))))));
    a
}

#[track_caller]
fn check(accounts: &[StoredAccount], expected: PoolWait) {
    assert_eq!(soonest_usable(accounts, NOW), expected);
}

#[test]
fn waiting_over_a_pool() {
    check(&[], PoolWait::NoEligibleAccount);
    check(&[account("a")], PoolWait::UsableNow);
    check(&[limited("a", 60), account("b")], PoolWait::UsableNow);
    check(&[limited("a", 60), limited("b", 30)], PoolWait::At(secs(30)));
    check(&[limited("a", 60), exhausted("b", 45)], PoolWait::At(secs(45)));
    // The later source of one account counts for it.
    let mut both = exhausted("a", 90);
    both.rate_limit_reset_at = Some(secs(10));
    check(&[both, limited("b", 60)], PoolWait::At(secs(60)));
    // A passed deadline: usable now.
    check(&[limited("a", -5)], PoolWait::UsableNow);
}

#[test]
fn only_eligible_accounts_count() {
    let mut disabled = account("d");
    disabled.enabled = false;
    let mut needs_login = account("n");
    needs_login.is_auth_disabled = true;
    let mut no_id = account("x");
    no_id.uuid = None;
    check(&[disabled.clone(), needs_login.clone(), no_id.clone()], PoolWait::NoEligibleAccount);
    check(&[disabled, needs_login, no_id, limited("a", 20)], PoolWait::At(secs(20)));
}

#[test]
fn soft_quota_does_not_make_anyone_wait() {
    let mut busy = account("a");
    busy.cached_usage = Some(usage(Some(window(99.0, None)), None));
    check(&[busy], PoolWait::UsableNow);
}

#[test]
fn wait_durations() {
    assert_eq!(PoolWait::UsableNow.wait_from(NOW), Some(Duration::ZERO));
    assert_eq!(PoolWait::At(secs(30)).wait_from(NOW), Some(Duration::from_secs(30)));
    assert_eq!(PoolWait::At(secs(-30)).wait_from(NOW), Some(Duration::ZERO));
    assert_eq!(PoolWait::NoEligibleAccount.wait_from(NOW), None);
}
