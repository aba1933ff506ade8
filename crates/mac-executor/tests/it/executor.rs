//! `Pool::execute` against the loopback fake provider (D15, D16):
//! every outcome of an attempt, the account sequence and the final state asserted exactly.

use std::sync::Arc;
use std::time::Duration;

use mac_adapters::{AdapterClient, ProviderDescriptor};
use mac_claims::{Claims, ClaimsOptions};
use mac_executor::{
    ExecuteError, Pool, PoolConfig, PoolEvent, RequestInfo, RotationCause, SessionKey, Strategy,
};
use mac_storage::{EpochMs, Provider, SystemClock};
use mac_test_support::{Endpoint, Scripted};

use crate::harness::{Harness, add_account, retry_after_ms, sender};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_success_is_returned_and_recorded() {
    let h = Harness::new(3).await;
    let pool = h.pool(Harness::config());
    let done = pool.execute(&RequestInfo::default(), sender(&h.fake)).await.unwrap();
    assert_eq!((done.response.status.as_u16(), done.attempts, done.gave_up), (200, 1, false));
    assert_eq!(done.account, h.uuids[0]);
    assert_eq!(h.sequence(), [0]);
    assert_eq!(h.fake.count(Endpoint::AnthropicToken), 0, "a fresh token is not refreshed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_cools_the_account_down_and_the_next_one_answers() {
    let h = Harness::new(3).await;
    h.fake.script(Endpoint::Messages, vec![retry_after_ms(60_000)]);
    let pool = h.pool(Harness::config());
    let done = pool.execute(&RequestInfo::default(), sender(&h.fake)).await.unwrap();
    pool.settle().await; // the bookkeeping is written behind the request
    assert_eq!((done.response.status.as_u16(), done.account.clone()), (200, h.uuids[1].clone()));
    assert_eq!(h.sequence(), [0, 1]);
    let until = h.account(0).rate_limit_reset_at.unwrap();
    assert!(until > EpochMs::now().saturating_add(Duration::from_secs(50)), "retry-after honoured");
    assert_eq!(h.rotations(), [RotationCause::RateLimited]);
    // The next request goes straight to the account that worked (sticky moved the pointer).
    pool.execute(&RequestInfo::default(), sender(&h.fake)).await.unwrap();
    assert_eq!(h.sequence(), [0, 1, 1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_refreshes_once_and_retries_the_same_account() {
    let h = Harness::new(3).await;
    h.fake.script(Endpoint::Messages, vec![Scripted::unauthorized()]);
    let pool = h.pool(Harness::config());
    let done = pool.execute(&RequestInfo::default(), sender(&h.fake)).await.unwrap();
    assert_eq!((done.response.status.as_u16(), done.account.clone()), (200, h.uuids[0].clone()));
    assert_eq!(h.sequence(), [0, 0]);
    assert_eq!(h.fake.count(Endpoint::AnthropicToken), 1);
    let bearers: Vec<String> = h
        .fake
        .requests(Endpoint::Messages)
        .iter()
        .map(|r| r.bearer().unwrap().to_owned())
        .collect();
    assert_eq!(bearers[0], "a0-initial");
    assert!(bearers[1].starts_with("a0-access-"), "the retry carries the new token: {bearers:?}");
    assert_eq!(
        h.account(0).refresh_token.expose(),
        h.fake.current_refresh_token("a0-refresh").unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_401_rests_the_account_and_rotates() {
    let h = Harness::new(3).await;
    h.fake.script(Endpoint::Messages, vec![Scripted::unauthorized(), Scripted::unauthorized()]);
    let pool = h.pool(Harness::config());
    let done = pool.execute(&RequestInfo::default(), sender(&h.fake)).await.unwrap();
    assert_eq!(done.account, h.uuids[1]);
    assert_eq!(h.sequence(), [0, 0, 1]);
    let first = h.account(0);
    assert_eq!((first.consecutive_auth_failures, first.is_auth_disabled), (0, false));
    assert_eq!(h.rotations(), [RotationCause::AuthFailed]);
}

/// The retry after a 401 goes through the same classifier.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l2_a_429_after_the_401_retry_is_a_rate_limit_not_a_success() {
    let h = Harness::new(3).await;
    h.fake.script(Endpoint::Messages, vec![Scripted::unauthorized(), retry_after_ms(60_000)]);
    let pool = h.pool(Harness::config());
    let done = pool.execute(&RequestInfo::default(), sender(&h.fake)).await.unwrap();
    pool.settle().await; // the bookkeeping is written behind the request
    assert_eq!((done.response.status.as_u16(), done.account.clone()), (200, h.uuids[1].clone()));
    assert_eq!(h.sequence(), [0, 0, 1]);
    let first = h.account(0);
    assert!(first.rate_limit_reset_at.is_some());
    assert_eq!(first.last_used, h.account(0).added_at, "no success recorded on the 429");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l2_a_revoked_403_after_the_401_retry_disables_the_account() {
    let h = Harness::new(3).await;
    h.fake.script(Endpoint::Messages, vec![Scripted::unauthorized(), Scripted::revoked()]);
    let pool = h.pool(Harness::config());
    let done = pool.execute(&RequestInfo::default(), sender(&h.fake)).await.unwrap();
    pool.settle().await; // the bookkeeping is written behind the request
    assert_eq!(done.account, h.uuids[1]);
    let first = h.account(0);
    assert!(first.is_auth_disabled, "revoked, another usable account remains");
    assert_eq!(h.store.load().unwrap().accounts.len(), 3, "disabled, never deleted");
    assert!(h.events.lock().unwrap().iter().any(|e| matches!(e, PoolEvent::Disabled { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l2_5xx_after_the_401_retry_takes_the_server_retry_path() {
    let h = Harness::new(3).await;
    h.fake.script(
        Endpoint::Messages,
        vec![
            Scripted::unauthorized(),
            Scripted::server_error(500),
            Scripted::server_error(502),
            Scripted::server_error(503),
        ],
    );
    let pool = h.pool(Harness::config());
    let done = pool.execute(&RequestInfo::default(), sender(&h.fake)).await.unwrap();
    assert_eq!(done.account, h.uuids[1]);
    assert_eq!(h.sequence(), [0, 0, 0, 0, 1], "401, refresh, three 5xx (two retries), rotate");
    assert_eq!(h.rotations(), [RotationCause::ServerError(503)]);
    assert_eq!(h.account(0).consecutive_auth_failures, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_403_that_is_not_revoked_is_returned_as_is() {
    let h = Harness::new(3).await;
    h.fake.script(Endpoint::Messages, vec![Scripted::json(403, serde_json::json!({"error": {"type": "permission_error", "message": "model not allowed"}}))]);
    let pool = h.pool(Harness::config());
    let done = pool.execute(&RequestInfo::default(), sender(&h.fake)).await.unwrap();
    assert_eq!((done.response.status.as_u16(), done.gave_up), (403, false));
    assert!(
        String::from_utf8_lossy(&done.response.body).contains("model not allowed"),
        "body kept"
    );
    assert!(!h.account(0).is_auth_disabled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried_twice_on_the_same_account_then_rotate() {
    let h = Harness::new(3).await;
    h.fake
        .script(Endpoint::Messages, vec![Scripted::server_error(500), Scripted::server_error(500)]);
    let pool = h.pool(Harness::config());
    let done = pool.execute(&RequestInfo::default(), sender(&h.fake)).await.unwrap();
    assert_eq!(h.sequence(), [0, 0, 0], "500, 500, then 200 on the same account");
    assert_eq!(done.account, h.uuids[0]);

    h.fake.reset_counts();
    h.fake.script(
        Endpoint::Messages,
        vec![Scripted::server_error(500), Scripted::server_error(500), Scripted::server_error(500)],
    );
    let done = pool.execute(&RequestInfo::default(), sender(&h.fake)).await.unwrap();
    assert_eq!(done.account, h.uuids[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_rotates() {
    let h = Harness::new(3).await;
    h.fake.script(Endpoint::Messages, vec![Scripted::dropped()]);
    let pool = h.pool(Harness::config());
    let done = pool.execute(&RequestInfo::default(), sender(&h.fake)).await.unwrap();
    assert_eq!(done.account, h.uuids[1]);
    assert_eq!(h.rotations(), [RotationCause::NetworkError]);
    assert!(
        h.account(0).rate_limit_reset_at.is_none(),
        "a network error is not the account's fault"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_header_form_of_a_429_rotates_and_cools_down() {
    let h = Harness::new(3).await;
    let soon = (EpochMs::now().as_millis() / 1000 + 3_600).to_string();
    h.fake.script(
        Endpoint::Messages,
        vec![
            Scripted::rate_limited(vec![("retry-after".into(), "30".into())]),
            Scripted::rate_limited(vec![
                ("anthropic-ratelimit-unified-status".into(), "rejected".into()),
                ("anthropic-ratelimit-unified-5h-status".into(), "rejected".into()),
                ("anthropic-ratelimit-unified-5h-reset".into(), soon.clone()),
            ]),
            Scripted::overloaded(),
        ],
    );
    let pool = h.pool(PoolConfig { max_wait: Duration::from_millis(0), ..Harness::config() });
    let err = pool.execute(&RequestInfo::default(), sender(&h.fake)).await.unwrap_err();
    pool.settle().await; // the bookkeeping is written behind the request
    assert!(matches!(err, ExecuteError::AllRateLimited { .. }), "{err}");
    assert_eq!(h.sequence(), [0, 1, 2]);
    let classes: Vec<String> = h
        .events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            PoolEvent::CooledDown { class, .. } => Some(format!("{class:?}")),
            _ => None,
        })
        .collect();
    assert_eq!(classes, ["Throttle", "FiveHourExhausted", "Overload"]);
    assert_eq!(
        h.account(1).rate_limit_reset_at,
        Some(EpochMs::from_millis(soon.parse::<i64>().unwrap() * 1000))
    );
    let retry_after = err.retry_after().unwrap();
    assert!(
        retry_after <= Duration::from_secs(16),
        "the soonest is the 15 s overload rest: {retry_after:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_account_is_blocked_briefly_the_request_waits_within_max_wait() {
    let h = Harness::new(2).await;
    h.fake.script(Endpoint::Messages, vec![retry_after_ms(300), retry_after_ms(400)]);
    let pool = h.pool(PoolConfig { max_wait: Duration::from_secs(5), ..Harness::config() });
    let done = pool.execute(&RequestInfo::default(), sender(&h.fake)).await.unwrap();
    assert_eq!(done.response.status.as_u16(), 200);
    assert_eq!(h.sequence(), [0, 1, 0], "waited for account 0's reset");
    assert!(h.events.lock().unwrap().iter().any(|e| matches!(e, PoolEvent::Waiting { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_refreshed_before_sending() {
    let h = Harness::new(0).await;
    let uuid = add_account(&h.fake, &h.store, 0, None);
    let pool = h.pool(Harness::config());
    let done = pool.execute(&RequestInfo::default(), sender(&h.fake)).await.unwrap();
    assert_eq!((done.response.status.as_u16(), done.account), (200, uuid));
    assert_eq!(h.fake.count(Endpoint::AnthropicToken), 1);
    assert_eq!(h.fake.count(Endpoint::Messages), 1, "no 401 round trip");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_usable_account_is_never_disabled_by_transient_failures() {
    let h = Harness::new(1).await;
    h.fake.script(Endpoint::Messages, (0..12).map(|_| Scripted::unauthorized()).collect());
    let pool = h.pool(Harness::config());
    let done = pool.execute(&RequestInfo::default(), sender(&h.fake)).await.unwrap();
    assert!(done.gave_up, "the budget ran out; the last 401 is handed back");
    assert_eq!(done.response.status.as_u16(), 401);
    let only = h.account(0);
    assert!(!only.is_auth_disabled, "never disabled by transient failures");
    assert_eq!(only.consecutive_auth_failures, 0);
    assert_eq!(h.fake.count(Endpoint::AnthropicToken), 1, "one refresh per account per request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_refresh_failure_disables_but_never_deletes() {
    let h = Harness::new(0).await;
    let dead = add_account(&h.fake, &h.store, 0, None);
    h.fake.revoke_refresh_token("a0-refresh");
    let alive = add_account(&h.fake, &h.store, 1, Some(3_600));
    let pool = h.pool(Harness::config());
    let done = pool.execute(&RequestInfo::default(), sender(&h.fake)).await.unwrap();
    assert_eq!(done.account, alive);
    let document = h.store.load().unwrap();
    let account = document.account(&dead).unwrap();
    assert!(account.is_auth_disabled);
    assert!(account.auth_disabled_reason.as_deref().unwrap().contains("needs login"));
    assert_eq!(document.accounts.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_answers_the_seed_queries() {
    let h = Harness::new(2).await;
    let pool = h.pool(Harness::config());
    assert_eq!(pool.eligible_count().unwrap(), 2);
    assert_eq!(pool.availability().unwrap(), mac_ratelimit::PoolWait::UsableNow);
    let until = EpochMs::now().saturating_add(Duration::from_secs(60));
    for uuid in &h.uuids {
        h.store.record_rate_limit(uuid, until).unwrap();
    }
    assert_eq!(pool.availability().unwrap(), mac_ratelimit::PoolWait::At(until));
    h.store.set_enabled(&h.uuids[0], false).unwrap();
    assert_eq!(pool.eligible_count().unwrap(), 1);
    assert_eq!(pool.accounts().unwrap().accounts.len(), 2, "disabled accounts are still listed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_usable_account_is_a_typed_error() {
    let h = Harness::new(1).await;
    h.store.set_enabled(&h.uuids[0], false).unwrap();
    let pool = h.pool(Harness::config());
    let err = pool.execute(&RequestInfo::default(), sender(&h.fake)).await.unwrap_err();
    assert!(matches!(err, ExecuteError::NoUsableAccount { .. }), "{err}");
    assert!(err.to_string().contains("mac login anthropic"), "{err}");
    assert_eq!(h.fake.count(Endpoint::Messages), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_stays_on_its_account_and_moves_when_it_is_blocked() {
    let h = Harness::new(3).await;
    let pool = h.pool(PoolConfig { strategy: Strategy::RoundRobin, ..Harness::config() });
    let session = RequestInfo {
        session_key: SessionKey::explicit("conversation-1"),
        ..RequestInfo::default()
    };
    for _ in 0..3 {
        pool.execute(&session, sender(&h.fake)).await.unwrap();
    }
    assert_eq!(h.sequence(), [0, 0, 0], "round-robin would spread; the binding keeps one account");
    pool.execute(&RequestInfo::default(), sender(&h.fake)).await.unwrap();
    h.fake.script(Endpoint::Messages, vec![retry_after_ms(60_000)]);
    pool.execute(&session, sender(&h.fake)).await.unwrap();
    pool.execute(&session, sender(&h.fake)).await.unwrap();
    let sequence = h.sequence();
    assert_eq!(
        &sequence[4..],
        [0, sequence[5], sequence[5]],
        "rebound at once and kept: {sequence:?}"
    );
    assert_ne!(sequence[5], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_request_releases_its_claim() {
    let h = Harness::new(2).await;
    let claims = Claims::open(
        h.dir.data_dir(),
        Provider::Anthropic,
        ClaimsOptions::default(),
        Arc::new(SystemClock),
    )
    .unwrap();
    let descriptor = ProviderDescriptor::anthropic().with_origin(&h.fake.origin()).unwrap();
    let client = AdapterClient::builder(descriptor).no_proxy().build().unwrap();
    let pool = Pool::builder(Arc::clone(&h.store), client)
        .config(Harness::config())
        .claims(claims.clone())
        .build();
    let observer = Claims::open(
        h.dir.data_dir(),
        Provider::Anthropic,
        ClaimsOptions { heartbeat_interval: None, ..ClaimsOptions::default() },
        Arc::new(SystemClock),
    )
    .unwrap();
    h.fake.script(Endpoint::Messages, vec![Scripted::slow(Duration::from_secs(30))]);
    let info = RequestInfo::default();
    let request = pool.execute(&info, sender(&h.fake));
    let cancelled = tokio::time::timeout(Duration::from_millis(300), request).await;
    assert!(cancelled.is_err(), "the slow request was cancelled");
    // The claim itself stays (in memory and on file) until the account has been idle; what the
    // cancelled request must not leave behind is its guard.
    let held: Vec<String> =
        observer.snapshot().unwrap().live().map(|claim| claim.account.clone()).collect();
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(claims.guards(&held[0]), 0, "no guard left behind");
    // The account is usable again at once by another request.
    let done = pool.execute(&RequestInfo::default(), sender(&h.fake)).await.unwrap();
    assert_eq!(done.response.status.as_u16(), 200);
}
