//! `record` against a real `AccountStore` on a temp file: the ladder is shared through the
//! file, a usage fetch never erases a 429's backoff, and HTTP-date and fractional `retry-after`
//! values are honoured (the seed got all three wrong).

use std::time::Duration;

use mac_ratelimit::{Basis, CooldownPolicy, Decision, RateLimitClass, blocked_until, record};
use mac_storage::{
    AccountStore, AddOutcome, Credentials, Durability, EpochMs, ManualClock, NewAccount, Provider,
    Secret, StoreOptions,
};
use mac_test_support::TempDataDir;

use crate::{NOW, hours, iso, ms, obs, secs, usage, window};

struct Pool {
    path: std::path::PathBuf,
    store: AccountStore,
    uuid: String,
    clock: ManualClock,
    // Last: dropped after the store, which may still flush bookkeeping into it.
    _dir: TempDataDir,
}

fn open(path: &std::path::Path) -> AccountStore {
    let options = StoreOptions { durability: Durability::NoFsync, ..StoreOptions::default() };
    AccountStore::at_path(path, options)
}

impl Pool {
    fn new() -> Self {
        let dir = TempDataDir::new().unwrap();
        let path = dir.accounts_file(Provider::Anthropic);
        let store = open(&path);
        let credentials = Credentials {
            refresh_token: Secret::new("rt-1"),
            access_token: None,
            expires_at: None,
        };
        let AddOutcome::Added { uuid } =
            store.add_account(&NewAccount::from_credentials(credentials), NOW).unwrap()
        else {
            panic!("expected a new account");
        };
        Self { path, store, uuid, clock: ManualClock::new(NOW), _dir: dir }
    }

    fn record(&self, headers: &[(&str, &str)]) -> Option<Decision> {
        let observation = obs(429, headers);
        record(&self.store, &self.uuid, &observation, &CooldownPolicy::default(), &self.clock)
            .unwrap()
    }

    /// (rateLimitResetAt, rateLimitStreak) as another store reads them from the file.
    fn on_disk(&self) -> (Option<EpochMs>, u32) {
        let document = open(&self.path).load().unwrap();
        let account = document.account(&self.uuid).unwrap();
        (account.rate_limit_reset_at, account.rate_limit_streak)
    }
}

#[allow(clippy::unnecessary_wraps)] // the expected value of a call returning an Option
fn throttle(until: EpochMs, basis: Basis) -> Option<Decision> {
    Some(Decision { class: RateLimitClass::Throttle, until, basis })
}

#[test]
fn two_stores_climb_one_ladder() {
    let pool = Pool::new();
    let other = open(&pool.path);
    assert_eq!(pool.record(&[]), throttle(secs(10), Basis::Ladder { rung: 0 }));
    pool.clock.advance(Duration::from_secs(1));
    assert_eq!(pool.record(&[]), throttle(secs(21), Basis::Ladder { rung: 1 }));
    // The other store (as another process would) sees streak 2 and the second rung's deadline.
    let seen = other.load().unwrap();
    let account = seen.account(&pool.uuid).unwrap();
    assert_eq!((account.rate_limit_reset_at, account.rate_limit_streak), (Some(secs(21)), 2));
    // And its own header-less 429 climbs on from there, read fresh under the lock.
    let observation = obs(429, &[]);
    let clock = ManualClock::new(secs(2));
    let decision =
        record(&other, &pool.uuid, &observation, &CooldownPolicy::default(), &clock).unwrap();
    assert_eq!(decision, throttle(secs(42), Basis::Ladder { rung: 2 }));
    assert_eq!(pool.on_disk(), (Some(secs(42)), 3));
}

#[test]
fn a_success_resets_the_ladder() {
    let pool = Pool::new();
    pool.record(&[]);
    pool.record(&[]);
    assert_eq!(pool.on_disk(), (Some(secs(20)), 2));
    pool.store.record_success(&pool.uuid, secs(30)).unwrap();
    assert_eq!(pool.on_disk(), (None, 0));
    pool.clock.set(secs(30));
    assert_eq!(pool.record(&[]), throttle(secs(40), Basis::Ladder { rung: 0 }));
}

#[test]
fn a_usage_fetch_after_a_429_keeps_the_backoff() {
    // The seed's applyUsageCache recomputed rateLimitResetAt from the fresh usage
    // and erased the 429's backoff for every other process.
    let pool = Pool::new();
    pool.record(&[("retry-after", "30")]);
    let fresh = usage(Some(window(20.0, Some(&iso(hours(4))))), Some(window(3.0, None)));
    pool.store.record_usage(&pool.uuid, fresh.clone(), NOW).unwrap();
    let document = open(&pool.path).load().unwrap();
    let account = document.account(&pool.uuid).unwrap();
    assert_eq!(account.cached_usage.as_ref(), Some(&fresh));
    assert_eq!(account.rate_limit_reset_at, Some(secs(30)));
    assert_eq!(blocked_until(account, NOW), Some(secs(30)));
    // ...and the 20 % tier resetting in 4 h does not park the account past the 429.
    assert_eq!(blocked_until(account, secs(30)), None);
}

#[test]
fn http_date_and_fractional_retry_after_are_honoured() {
    // The seed ignored HTTP-dates and truncated fractions.
    let pool = Pool::new();
    assert_eq!(
        pool.record(&[("retry-after", "Wed, 11 Mar 2026 03:35:20 GMT")]),
        throttle(secs(120), Basis::RetryAfter)
    );
    let pool = Pool::new();
    assert_eq!(pool.record(&[("retry-after", "1.5")]), throttle(ms(1500), Basis::RetryAfter));
    assert_eq!(pool.on_disk(), (Some(ms(1500)), 0));
}

#[test]
fn a_short_throttle_keeps_a_longer_block_and_billing_keeps_the_streak() {
    let pool = Pool::new();
    let billing = pool.record(&[("anthropic-ratelimit-unified-representative-claim", "api")]);
    assert_eq!(
        billing,
        Some(Decision {
            class: RateLimitClass::BillingClaim,
            until: hours(24),
            basis: Basis::Floor
        })
    );
    assert_eq!(pool.record(&[("retry-after", "5")]), throttle(secs(5), Basis::RetryAfter));
    assert_eq!(pool.on_disk(), (Some(hours(24)), 0));
}

#[test]
fn not_a_rate_limit_writes_nothing() {
    let pool = Pool::new();
    let before = std::fs::read(&pool.path).unwrap();
    for status in [200, 400, 500] {
        let observation = obs(status, &[("retry-after", "5")]);
        let decision =
            record(&pool.store, &pool.uuid, &observation, &CooldownPolicy::default(), &pool.clock)
                .unwrap();
        assert_eq!(decision, None);
    }
    assert_eq!(std::fs::read(&pool.path).unwrap(), before);
}

#[test]
fn an_unknown_account_is_an_error_and_writes_nothing() {
    // The seed's "account without uuid → nothing marked": here an account is named by its id.
    let pool = Pool::new();
    let before = std::fs::read(&pool.path).unwrap();
    let observation = obs(429, &[("retry-after", "5")]);
    let err =
        record(&pool.store, "no-such-id", &observation, &CooldownPolicy::default(), &pool.clock)
            .unwrap_err();
    assert!(err.is_unknown_account(), "{err}");
    assert_eq!(std::fs::read(&pool.path).unwrap(), before);
}
