//! `ProactiveRefresher` (D13) against the loopback fake, on a
//! runtime with paused time: the test moves tokio's clock with `advance`, and waits for the
//! refresher's I/O by spinning (`yield_now`), which never lets the paused clock jump by itself.
//! The wall clock deciding expiry is the pool's `ManualClock`, standing at `NOW`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mac_executor::{OnRefreshed, ProactiveConfig, ProactiveRefresher, RefreshConfig};
use mac_storage::Provider;
use mac_test_support::{Endpoint, FakeGrant, FakeProvider, Scripted};

use crate::refresh::{Pool, at};

/// No jitter, so intervals are exact.
fn config() -> ProactiveConfig {
    ProactiveConfig { jitter: 0.0, seed: Some(7), ..ProactiveConfig::default() }
}

/// The default on-demand margin.
const MARGIN: Duration = Duration::from_secs(60);

/// A pool whose requests never time out in virtual time (a paused clock jumps to the next
/// timer whenever the runtime is idle, which a short client timeout would be).
fn pool(fake: &FakeProvider, expiry_margin: Duration) -> Pool {
    let day = Duration::from_secs(86_400);
    let refresh =
        RefreshConfig { expiry_margin, lock_timeout: 2 * day, ..RefreshConfig::default() };
    Pool::build(fake, Provider::Anthropic, refresh, day)
}

/// Registers `rt-<name>` at the fake and adds an account holding it, its access token
/// expiring at `NOW + expires_in_s` seconds.
fn account(fake: &FakeProvider, pool: &Pool, name: &str, expires_in_s: i64) -> String {
    let refresh = format!("rt-{name}");
    fake.add_refresh_token(
        &refresh,
        FakeGrant::anthropic(&format!("server-{name}"), &format!("{name}@example.com")),
    );
    pool.add(&refresh, Some(&format!("access-{name}")), Some(at(expires_in_s)))
}

/// The refresh tokens the token endpoint received, in order.
fn refreshed_tokens(fake: &FakeProvider) -> Vec<String> {
    fake.requests(Endpoint::AnthropicToken)
        .iter()
        .map(|r| r.json().unwrap()["refresh_token"].as_str().unwrap().to_owned())
        .collect()
}

/// Runs other tasks until `condition` holds (at most 5 s of real time), without letting the
/// paused clock move.
async fn spin_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::task::yield_now().await;
    }
}

/// Starts a refresher and lets its task arm its first timer (a spawned task runs only when
/// the test yields; `advance` before that would move the timer along with the clock).
async fn started(
    pool: &Pool,
    config: ProactiveConfig,
    on_refreshed: Option<OnRefreshed>,
) -> ProactiveRefresher {
    let refresher =
        ProactiveRefresher::start_with_callback(pool.service.clone(), config, on_refreshed);
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    refresher
}

/// Lets the runtime run a while (real time) without moving the paused clock, so that anything
/// due would have happened.
async fn run_a_while() {
    let until = Instant::now() + Duration::from_millis(50);
    while Instant::now() < until {
        tokio::task::yield_now().await;
    }
}

/// A callback recording the uuids it is called with.
fn recorder() -> (OnRefreshed, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let callback: OnRefreshed =
        Arc::new(move |uuid: &str| sink.lock().unwrap().push(uuid.to_owned()));
    (callback, seen)
}

#[tokio::test(start_paused = true)]
async fn a_disabled_or_stopped_refresher_never_refreshes() {
    let fake = FakeProvider::start().await.unwrap();
    let pool = pool(&fake, MARGIN);
    account(&fake, &pool, "a", 900);

    let off = ProactiveConfig { enabled: false, ..config() };
    let disabled = ProactiveRefresher::start(pool.service.clone(), off);
    assert!(!disabled.is_running());

    // Stopped before its first check: the pending timer does nothing.
    let stopped = started(&pool, config(), None).await;
    assert!(stopped.is_running());
    stopped.stop().await;
    // Dropped without `stop`: the task ends by itself.
    drop(started(&pool, config(), None).await);

    tokio::time::advance(Duration::from_secs(3600)).await;
    run_a_while().await;
    assert_eq!(fake.count(Endpoint::AnthropicToken), 0);
    assert_eq!(disabled.checks(), 0);
    disabled.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_first_check_after_the_initial_delay_refreshes_an_expiring_account() {
    let fake = FakeProvider::start().await.unwrap();
    let pool = pool(&fake, MARGIN);
    let uuid = account(&fake, &pool, "a", 900);
    let (callback, seen) = recorder();
    let refresher = started(&pool, config(), Some(callback)).await;

    tokio::time::advance(Duration::from_millis(4_900)).await;
    run_a_while().await;
    assert_eq!(refresher.checks(), 0);
    assert_eq!(fake.count(Endpoint::AnthropicToken), 0);

    tokio::time::advance(Duration::from_millis(100)).await;
    spin_until("the first check finished", || refresher.checks() == 1).await;
    assert_eq!(refreshed_tokens(&fake), ["rt-a"]);
    // Stored like any refresh.
    let account = pool.account(&uuid);
    let current = fake.current_refresh_token("rt-a").unwrap();
    assert_eq!(account.refresh_token.expose(), current);
    assert!(fake.is_access_token_valid(account.access_token.as_ref().unwrap().expose()));
    assert_eq!(account.expires_at, Some(at(3600)));
    assert_eq!(account.email.as_deref(), Some("a@example.com"));
    assert!(!account.is_auth_disabled);
    assert_eq!(*seen.lock().unwrap(), [uuid]);
    refresher.stop().await;
}

#[tokio::test(start_paused = true)]
async fn only_eligible_accounts_expiring_within_the_buffer_but_not_the_margin_are_refreshed() {
    let fake = FakeProvider::start().await.unwrap();
    // The "expiring in 15 s" case, with an on-demand margin below 15 s.
    let pool = pool(&fake, Duration::from_secs(10));
    let due = account(&fake, &pool, "due", 15);
    account(&fake, &pool, "margin", 5); // left to on-demand refresh
    account(&fake, &pool, "later", 7200); // not within the 1 800 s buffer
    let no_access = pool.add("rt-no-access", None, Some(at(900)));
    let no_expiry = pool.add("rt-no-expiry", Some("access"), None);
    let off = account(&fake, &pool, "off", 15);
    pool.store.set_enabled(&off, false).unwrap();
    let needs_login = account(&fake, &pool, "needs-login", 15);
    pool.store
        .mutate(|doc| {
            doc.account_mut(&needs_login).unwrap().is_auth_disabled = true;
            Ok(())
        })
        .unwrap();

    let refresher = started(&pool, config(), None).await;
    tokio::time::advance(Duration::from_secs(5)).await;
    spin_until("the first check finished", || refresher.checks() == 1).await;
    refresher.stop().await;
    assert_eq!(refreshed_tokens(&fake), ["rt-due"]);
    assert_eq!(pool.account(&due).expires_at, Some(at(3600)));
    for uuid in [no_access, no_expiry] {
        assert_eq!(pool.account(&uuid).consecutive_auth_failures, 0);
    }
}

#[tokio::test(start_paused = true)]
async fn the_buffer_decides_what_is_expiring() {
    let fake = FakeProvider::start().await.unwrap();
    let pool = pool(&fake, MARGIN);
    account(&fake, &pool, "a", 120);
    account(&fake, &pool, "b", 300);
    let check =
        |buffer_s: u64| ProactiveConfig { buffer: Duration::from_secs(buffer_s), ..config() };

    // Buffer 60 s: neither (120 s and 300 s are further away).
    let narrow = started(&pool, check(60), None).await;
    tokio::time::advance(Duration::from_secs(5)).await;
    spin_until("the check finished", || narrow.checks() == 1).await;
    narrow.stop().await;
    assert_eq!(fake.count(Endpoint::AnthropicToken), 0);

    // Buffer 300 s: both (300 s is within it, inclusive).
    let wide = started(&pool, check(300), None).await;
    tokio::time::advance(Duration::from_secs(5)).await;
    spin_until("the check finished", || wide.checks() == 1).await;
    wide.stop().await;
    assert_eq!(refreshed_tokens(&fake), ["rt-a", "rt-b"]);
}

#[tokio::test(start_paused = true)]
async fn the_next_check_starts_one_interval_after_the_previous_one_finished() {
    let fake = FakeProvider::start().await.unwrap();
    let pool = pool(&fake, MARGIN);
    account(&fake, &pool, "a", 900);
    let every_42_s = ProactiveConfig { interval: Duration::from_secs(42), ..config() };
    let refresher = started(&pool, every_42_s, None).await;
    tokio::time::advance(Duration::from_secs(5)).await;
    spin_until("the first check finished", || refresher.checks() == 1).await;
    assert_eq!(fake.count(Endpoint::AnthropicToken), 1);

    // The new token expires at NOW + 3 600 s; move the wall clock so it is due again.
    pool.clock.set(at(3600 - 900));
    tokio::time::advance(Duration::from_millis(41_900)).await;
    run_a_while().await;
    assert_eq!(refresher.checks(), 1);
    tokio::time::advance(Duration::from_millis(100)).await;
    spin_until("the second check finished", || refresher.checks() == 2).await;
    assert_eq!(fake.count(Endpoint::AnthropicToken), 2);
    refresher.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_refresh_in_flight_at_stop_is_stored_and_no_next_one_starts() {
    let fake = FakeProvider::start().await.unwrap();
    let pool = pool(&fake, MARGIN);
    let first = account(&fake, &pool, "first", 900);
    let second = account(&fake, &pool, "second", 900);
    fake.set_delay(Endpoint::AnthropicToken, Duration::from_secs(2));
    let refresher = started(&pool, config(), None).await;
    tokio::time::advance(Duration::from_secs(5)).await;
    spin_until("the first refresh is in flight", || fake.count(Endpoint::AnthropicToken) == 1)
        .await;

    refresher.stop().await;
    pool.service.settle().await;
    // The refresh in flight was finished and stored once the service settled...
    let stored = pool.account(&first);
    assert_eq!(stored.refresh_token.expose(), fake.current_refresh_token("rt-first").unwrap());
    assert_ne!(stored.refresh_token.expose(), "rt-first");
    // ...and the second account was not refreshed.
    assert_eq!(refreshed_tokens(&fake), ["rt-first"]);
    assert_eq!(pool.account(&second).refresh_token.expose(), "rt-second");
    tokio::time::advance(Duration::from_secs(3600)).await;
    run_a_while().await;
    assert_eq!(fake.count(Endpoint::AnthropicToken), 1);
}

#[tokio::test(start_paused = true)]
async fn failures_follow_the_one_rule_transient_backs_off_permanent_disables() {
    let fake = FakeProvider::start().await.unwrap();
    let pool = pool(&fake, MARGIN);
    let flaky = account(&fake, &pool, "flaky", 900);
    pool.store
        .mutate(|doc| {
            doc.account_mut(&flaky).unwrap().consecutive_auth_failures = 1;
            Ok(())
        })
        .unwrap();
    let dead = account(&fake, &pool, "dead", 900);
    fake.revoke_refresh_token("rt-dead");
    fake.script(Endpoint::AnthropicToken, vec![Scripted::server_error(500)]);
    let (callback, seen) = recorder();
    let refresher = started(&pool, config(), Some(callback)).await;
    tokio::time::advance(Duration::from_secs(5)).await;
    spin_until("the first check finished", || refresher.checks() == 1).await;
    refresher.stop().await;

    assert_eq!(refreshed_tokens(&fake), ["rt-flaky", "rt-dead"]);
    let flaky = pool.account(&flaky);
    assert_eq!(flaky.consecutive_auth_failures, 1, "a transient failure counts nothing");
    assert!(!flaky.is_auth_disabled);
    let dead = pool.account(&dead);
    assert!(dead.is_auth_disabled, "permanent: needs login");
    assert!(dead.auth_disabled_reason.as_deref().unwrap().contains("needs login"));
    assert_eq!(pool.store.load().unwrap().accounts.len(), 2, "never deleted");
    assert!(seen.lock().unwrap().is_empty());
}
