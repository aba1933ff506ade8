//! The faults real users meet, injected through the fake provider: a token endpoint that is
//! down or hangs, a revoked 403, a storm of 401s, a refresh lock held by a hung process, a
//! model family's weekly limit and an overloaded provider. Each test failed before the fix it
//! names (issue 10 of the project), and asserts what a user would expect instead: no account
//! disabled without evidence, one refresh per account per request, one lock timeout at most,
//! limits kept to their scope.

use std::sync::Arc;
use std::time::Duration;

use mac_claims::{Claims, ClaimsOptions};
use mac_executor::{ExecuteError, PoolConfig, PoolEvent, RefreshConfig, RequestInfo, SessionKey};
use mac_ratelimit::{ModelFamily, Scope};
use mac_storage::{AccountStore, EpochMs, FileLock, Provider, StoreOptions, SystemClock};
use mac_test_support::{Endpoint, Scripted};

use crate::harness::{Harness, add_account, sender};

fn no_account_disabled(h: &Harness) {
    for n in 0..h.uuids.len() {
        let account = h.account(n);
        assert!(
            !account.is_auth_disabled,
            "account {n} disabled: {:?}",
            account.auth_disabled_reason
        );
        assert_eq!(
            account.consecutive_auth_failures, 0,
            "account {n}: transient failures count nothing"
        );
    }
}

/// Three accounts whose access tokens expired, for a token endpoint that misbehaves.
async fn expired_pool(accounts: usize) -> Harness {
    let mut h = Harness::new(0).await;
    for n in 0..accounts {
        let uuid = add_account(&h.fake, &h.store, n, None);
        h.uuids.push(uuid);
    }
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_endpoint_outage_disables_no_account() {
    let h = expired_pool(3).await;
    h.fake.script(Endpoint::AnthropicToken, (0..40).map(|_| Scripted::server_error(503)).collect());
    let pool = h.pool(Harness::config());
    let err = pool.execute(&RequestInfo::default(), sender(&h.fake)).await.unwrap_err();
    assert!(err.to_string().contains("503"), "the error says what failed: {err}");
    assert_eq!(h.fake.count(Endpoint::AnthropicToken), 3, "one refresh per account per request");
    no_account_disabled(&h);
    // Later requests within the backoff do not hammer the endpoint, and still disable nothing.
    for _ in 0..5 {
        let err = pool.execute(&RequestInfo::default(), sender(&h.fake)).await.unwrap_err();
        assert!(matches!(err, ExecuteError::AllRateLimited { .. }), "{err}");
    }
    assert_eq!(h.fake.count(Endpoint::AnthropicToken), 3, "the auth backoff holds");
    assert_eq!(h.fake.count(Endpoint::Messages), 0);
    no_account_disabled(&h);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_auth_backoff_passes_by_itself() {
    let h = expired_pool(1).await;
    h.fake.script(Endpoint::AnthropicToken, vec![Scripted::server_error(503)]);
    let backoff = Duration::from_millis(200);
    let config = PoolConfig {
        refresh: RefreshConfig { auth_backoff: backoff, ..RefreshConfig::default() },
        ..Harness::config()
    };
    let pool = h.pool(config);
    pool.execute(&RequestInfo::default(), sender(&h.fake)).await.unwrap_err();
    tokio::time::sleep(backoff + Duration::from_millis(50)).await;
    let done = pool.execute(&RequestInfo::default(), sender(&h.fake)).await.unwrap();
    assert_eq!(done.response.status.as_u16(), 200, "the backoff passed: refreshed and answered");
    assert_eq!(h.fake.count(Endpoint::AnthropicToken), 2);
    no_account_disabled(&h);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_token_endpoint_costs_one_timeout_per_account() {
    let h = expired_pool(2).await;
    h.fake.set_delay(Endpoint::AnthropicToken, Duration::from_secs(10));
    let config = PoolConfig {
        refresh: RefreshConfig { lock_timeout: Duration::from_secs(2), ..RefreshConfig::default() },
        ..Harness::config()
    };
    let pool = h.pool_with_client(config, h.client(Duration::from_millis(300)));
    let err = pool.execute(&RequestInfo::default(), sender(&h.fake)).await.unwrap_err();
    assert!(matches!(err, ExecuteError::Exhausted { .. }), "{err}");
    assert_eq!(h.fake.count(Endpoint::AnthropicToken), 2, "one timeout per account, not six");
    no_account_disabled(&h);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_403_is_confirmed_by_a_refresh_before_anything_is_disabled() {
    let h = Harness::new(2).await;
    h.fake.script(Endpoint::Messages, vec![Scripted::revoked()]);
    let pool = h.pool(Harness::config());
    let done = pool.execute(&RequestInfo::default(), sender(&h.fake)).await.unwrap();
    assert_eq!((done.response.status.as_u16(), done.account.clone()), (200, h.uuids[0].clone()));
    assert_eq!(h.sequence(), [0, 0], "refreshed and retried on the same account");
    assert_eq!(h.fake.count(Endpoint::AnthropicToken), 1);
    no_account_disabled(&h);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_403_with_a_dead_grant_disables() {
    let h = Harness::new(2).await;
    h.fake.script(Endpoint::Messages, vec![Scripted::revoked()]);
    h.fake.revoke_refresh_token("a0-refresh");
    let pool = h.pool(Harness::config());
    let done = pool.execute(&RequestInfo::default(), sender(&h.fake)).await.unwrap();
    assert_eq!(done.account, h.uuids[1]);
    assert!(h.account(0).is_auth_disabled, "the refresh proved the grant dead");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_storm_costs_each_account_one_refresh_per_request() {
    let h = Harness::new(3).await;
    h.fake.script(Endpoint::Messages, (0..40).map(|_| Scripted::unauthorized()).collect());
    let pool = h.pool(Harness::config());
    let done = pool.execute(&RequestInfo::default(), sender(&h.fake)).await.unwrap();
    assert!(done.gave_up, "every account answered 401");
    assert_eq!(done.response.status.as_u16(), 401);
    assert_eq!(h.fake.count(Endpoint::AnthropicToken), 3, "one refresh per account");
    assert_eq!(h.sequence(), [0, 0, 1, 1, 2, 2]);
    no_account_disabled(&h);
}

/// Holds the refresh lock of `uuid` as a hung process would (flock locks are per open file, so
/// a second lock in this process conflicts like another process's).
fn hold_refresh_lock(pool: &mac_executor::Pool, uuid: &str) -> FileLock {
    FileLock::try_acquire(&pool.refresh_service().lock_path(uuid)).unwrap().unwrap()
}

fn lock_config(lock_timeout: Duration) -> PoolConfig {
    PoolConfig {
        refresh: RefreshConfig { lock_timeout, ..RefreshConfig::default() },
        ..Harness::config()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_lock_holder_costs_concurrent_requests_one_lock_timeout() {
    let mut h = expired_pool(1).await;
    h.uuids.push(add_account(&h.fake, &h.store, 1, Some(3_600)));
    let lock_timeout = Duration::from_secs(1);
    let pool = h.pool_with_client(lock_config(lock_timeout), h.client(Duration::from_millis(500)));
    let _held = hold_refresh_lock(&pool, &h.uuids[0]);
    let requests: Vec<_> = (0..4)
        .map(|_| {
            let (pool, send) = (pool.clone(), sender(&h.fake));
            tokio::spawn(async move { pool.execute(&RequestInfo::default(), send).await })
        })
        .collect();
    // Queued behind each other, the fourth would have waited four lock timeouts.
    let all = tokio::time::timeout(lock_timeout.mul_f64(1.8), futures_join(requests)).await;
    let done = all.expect("every request paid at most one lock timeout");
    for result in done {
        let done = result.unwrap().unwrap();
        assert_eq!(
            (done.response.status.as_u16(), done.account.clone()),
            (200, h.uuids[1].clone())
        );
    }
    // The account is skipped for a while: the next request does not wait for the lock again.
    let info = RequestInfo::default();
    let next = pool.execute(&info, sender(&h.fake));
    let next = tokio::time::timeout(lock_timeout / 2, next).await.expect("no second lock wait");
    assert_eq!(next.unwrap().account, h.uuids[1]);
    assert_eq!(h.fake.count(Endpoint::AnthropicToken), 0);
    no_account_disabled(&h);
}

async fn futures_join<T>(
    handles: Vec<tokio::task::JoinHandle<T>>,
) -> Vec<Result<T, tokio::task::JoinError>> {
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_still_valid_inside_the_margin_is_used_while_the_lock_is_busy() {
    let mut h = Harness::new(0).await;
    h.uuids.push(add_account(&h.fake, &h.store, 0, Some(30)));
    let pool =
        h.pool_with_client(lock_config(Duration::from_secs(2)), h.client(Duration::from_secs(1)));
    let _held = hold_refresh_lock(&pool, &h.uuids[0]);
    let done = pool.execute(&RequestInfo::default(), sender(&h.fake)).await.unwrap();
    assert_eq!(done.response.status.as_u16(), 200);
    let bearer = h.fake.last_request(Endpoint::Messages).unwrap().bearer().unwrap().to_owned();
    assert_eq!(bearer, "a0-initial", "the stored token, 30 s before its expiry");
    assert_eq!(h.fake.count(Endpoint::AnthropicToken), 0);
}

fn weekly_family_limit(claim: &str) -> Scripted {
    let reset = (EpochMs::now().as_millis() / 1000 + 3 * 86_400).to_string();
    Scripted::rate_limited(vec![
        ("anthropic-ratelimit-unified-status".into(), "rejected".into()),
        ("anthropic-ratelimit-unified-representative-claim".into(), claim.into()),
        ("anthropic-ratelimit-unified-reset".into(), reset),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_family_limit_leaves_the_account_to_other_families() {
    let h = Harness::new(1).await;
    h.fake.script(Endpoint::Messages, vec![weekly_family_limit("seven_day_opus")]);
    let pool = h.pool(Harness::config());
    let opus = RequestInfo::for_model("claude-opus-4-1");
    let sonnet = RequestInfo::for_model("claude-sonnet-4-5");
    let err = pool.execute(&opus, sender(&h.fake)).await.unwrap_err();
    assert!(matches!(err, ExecuteError::AllRateLimited { .. }), "{err}");
    assert_eq!(h.account(0).rate_limit_reset_at, None, "the account itself is not blocked");
    let limits = pool.family_limits();
    assert!(
        matches!(limits.as_slice(), [(uuid, ModelFamily::Opus, _)] if *uuid == h.uuids[0]),
        "{limits:?}"
    );
    let scoped = h.events.lock().unwrap().iter().any(|e| {
        matches!(e, PoolEvent::CooledDown { scope: Scope::Family(ModelFamily::Opus), .. })
    });
    assert!(scoped, "the event says the limit is Opus's only");
    let done = pool.execute(&sonnet, sender(&h.fake)).await.unwrap();
    assert_eq!(done.response.status.as_u16(), 200, "another family still uses the account");
    let err = pool.execute(&opus, sender(&h.fake)).await.unwrap_err();
    let retry_after = err.retry_after().expect("opus waits for its own reset");
    assert!(retry_after > Duration::from_secs(2 * 86_400), "{retry_after:?}");
    assert_eq!(h.sequence(), [0, 0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overload_rotates_and_never_parks_the_account_in_the_file() {
    let h = Harness::new(2).await;
    h.fake.script(Endpoint::Messages, vec![Scripted::overloaded()]);
    let pool = h.pool(Harness::config());
    let done = pool.execute(&RequestInfo::default(), sender(&h.fake)).await.unwrap();
    assert_eq!(done.account, h.uuids[1]);
    assert_eq!(h.account(0).rate_limit_reset_at, None, "the provider's state, not the account's");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overload_on_a_one_account_pool_retries_after_a_short_backoff() {
    let h = Harness::new(1).await;
    h.fake.script(Endpoint::Messages, vec![Scripted::overloaded(), Scripted::overloaded()]);
    let pool = h.pool(PoolConfig { max_wait: Duration::from_secs(10), ..Harness::config() });
    let done = pool.execute(&RequestInfo::default(), sender(&h.fake)).await.unwrap();
    assert_eq!((done.response.status.as_u16(), done.attempts), (200, 3));
    assert_eq!(h.account(0).rate_limit_reset_at, None);
}

/// Issue 10 item 4: with the accounts file's lock held by another writer, two 429s on a
/// 2-worker runtime used to freeze both workers in the lock wait and then fail both requests
/// with the lock error. Now the cooldowns hold in memory, the requests rotate and succeed while
/// the lock is still held, and the file catches up once it is free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_accounts_lock_neither_stalls_nor_fails_requests() {
    let h = Harness::new(3).await;
    h.fake.script(Endpoint::Messages, vec![retry_after(60_000), retry_after(60_000)]);
    let pool = h.pool(Harness::config());
    pool.accounts().unwrap();
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let other =
        AccountStore::open(h.dir.data_dir(), Provider::Anthropic, StoreOptions::default()).unwrap();
    let holder = std::thread::spawn(move || {
        // Another writer inside its transaction: the lock stays held until the test says so
        // (or a fail-safe passes, which the assertion below tells apart).
        other
            .mutate(|_| {
                held_tx.send(()).unwrap();
                Ok(release_rx.recv_timeout(Duration::from_secs(30)).is_ok())
            })
            .unwrap()
    });
    held_rx.recv().unwrap();
    let requests: Vec<_> = (0..2)
        .map(|_| {
            let (pool, send) = (pool.clone(), sender(&h.fake));
            tokio::spawn(async move { pool.execute(&RequestInfo::default(), send).await })
        })
        .collect();
    for request in requests {
        let done = request.await.unwrap().unwrap();
        assert_eq!(done.response.status.as_u16(), 200);
    }
    release_tx.send(()).unwrap();
    assert!(holder.join().unwrap(), "the requests finished while the lock was held");
    pool.settle().await;
    assert!(h.account(0).rate_limit_reset_at.is_some(), "the cooldown reached the file after");
}

fn retry_after(ms: u64) -> Scripted {
    crate::harness::retry_after_ms(ms)
}

/// Issue 10 item 5: in steady state a request writes nothing — with claims on (the facade's
/// default) and with sticky selection serving two sessions bound to different accounts (whose
/// choices used to move the shared pointer back and forth: a write per request).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steady_state_requests_write_no_file() {
    // `lastUsed` is written at most once per bookkeeping interval (D7); a slow machine must not
    // reach it within the measured requests.
    let options = StoreOptions {
        bookkeeping_interval: Duration::from_secs(3_600),
        ..StoreOptions::default()
    };
    let h = Harness::with_store_options(3, options).await;
    let claims = Claims::open(
        h.dir.data_dir(),
        Provider::Anthropic,
        ClaimsOptions::default(),
        Arc::new(SystemClock),
    )
    .unwrap();
    let pool = h.pool_builder(Harness::config()).claims(claims.clone()).build();
    let one =
        RequestInfo { session_key: SessionKey::explicit("session-one"), ..RequestInfo::default() };
    let two =
        RequestInfo { session_key: SessionKey::explicit("session-two"), ..RequestInfo::default() };
    // Session one binds to account 0; a short limit moves session two to account 1.
    pool.execute(&one, sender(&h.fake)).await.unwrap();
    h.fake.script(Endpoint::Messages, vec![retry_after(150)]);
    let moved = pool.execute(&two, sender(&h.fake)).await.unwrap();
    assert_eq!(moved.account, h.uuids[1]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Warm-up: the first success after the limit clears it (one write), claims are written.
    for _ in 0..2 {
        pool.execute(&one, sender(&h.fake)).await.unwrap();
        pool.execute(&two, sender(&h.fake)).await.unwrap();
    }
    pool.settle().await;
    let generation = h.store.load().unwrap().generation;
    let claim_writes = claims.file_writes();
    for _ in 0..20 {
        let a = pool.execute(&one, sender(&h.fake)).await.unwrap();
        let b = pool.execute(&two, sender(&h.fake)).await.unwrap();
        assert_eq!(
            (a.account.as_str(), b.account.as_str()),
            (h.uuids[0].as_str(), h.uuids[1].as_str())
        );
    }
    pool.settle().await;
    assert_eq!(
        h.store.load().unwrap().generation,
        generation,
        "no accounts-file write in 40 requests"
    );
    assert_eq!(claims.file_writes(), claim_writes, "no claims-file write in 40 requests");
}

/// Issue 10 item 6: `shutdown` used to return while a refresh's store write was still running
/// (the rotated token would be lost if the process exited then). It now awaits every refresh
/// already sent, even one whose request was cancelled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_keeps_a_refresh_in_flight() {
    let h = expired_pool(1).await;
    h.fake.set_delay(Endpoint::AnthropicToken, Duration::from_millis(500));
    let pool = h.pool(Harness::config());
    let request = {
        let (pool, send) = (pool.clone(), sender(&h.fake));
        tokio::spawn(async move { pool.execute(&RequestInfo::default(), send).await })
    };
    while h.fake.count(Endpoint::AnthropicToken) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    request.abort();
    pool.shutdown().await;
    let current = h.fake.current_refresh_token("a0-refresh").unwrap();
    assert_ne!(current, "a0-refresh", "the provider rotated the token");
    assert_eq!(h.account(0).refresh_token.expose(), current, "stored before shutdown returned");
}

/// Issue 10 item 6: shutdown used to wait up to the lock timeout while the proactive refresher
/// waited for another process's refresh lock. A stop cancels that wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_cancels_a_proactive_lock_wait() {
    let mut h = Harness::new(0).await;
    h.uuids.push(add_account(&h.fake, &h.store, 0, Some(600)));
    let lock_timeout = Duration::from_secs(20);
    let config = PoolConfig {
        proactive: mac_executor::ProactiveConfig {
            initial_delay: Duration::from_millis(200),
            ..mac_executor::ProactiveConfig::default()
        },
        ..lock_config(lock_timeout)
    };
    let pool = h.pool_with_client(config, h.client(Duration::from_secs(5)));
    let _held = hold_refresh_lock(&pool, &h.uuids[0]);
    // Let the refresher's first check reach the lock.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let shutdown = tokio::time::timeout(lock_timeout / 4, pool.shutdown()).await;
    assert!(shutdown.is_ok(), "shutdown did not wait for the lock timeout");
    assert_eq!(h.fake.count(Endpoint::AnthropicToken), 0);
}
