//! `RefreshService` against the loopback fake (D11–D13): one refresh across callers, services and "processes", adoption, compare-and-swap,
//! failures recorded only against what failed, cancellation.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mac_adapters::{AdapterClient, PermanentReason, ProviderDescriptor};
use mac_executor::{
    Obtained, ProactiveConfig, ProactiveRefresher, RefreshConfig, RefreshError, RefreshService,
    Refreshed,
};
use mac_storage::{
    AccountStore, AuthFailure, AuthFailureOutcome, Credentials, Durability, EpochMs, FileLock,
    ManualClock, NewAccount, Provider, Secret, StoreOptions, StoredAccount,
};
use mac_test_support::{Endpoint, FakeGrant, FakeProvider, Scripted, TempDataDir};
use serde_json::json;

// The shared fixed "now", and `at(s)`: `NOW` plus `s` seconds.
pub(crate) use mac_test_support::fixtures::{NOW, at_secs as at};

/// A pool in a temporary data directory, refreshing against the fake.
pub(crate) struct Pool {
    pub(crate) dir: TempDataDir,
    pub(crate) provider: Provider,
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) store: Arc<AccountStore>,
    pub(crate) service: RefreshService,
    client_timeout: Duration,
}

impl Pool {
    pub(crate) fn new(fake: &FakeProvider, provider: Provider) -> Self {
        Self::with_config(fake, provider, RefreshConfig::default())
    }

    pub(crate) fn with_config(
        fake: &FakeProvider,
        provider: Provider,
        config: RefreshConfig,
    ) -> Self {
        Self::build(fake, provider, config, Duration::from_secs(5))
    }

    /// A pool whose client gives up a request after `client_timeout`.
    pub(crate) fn build(
        fake: &FakeProvider,
        provider: Provider,
        config: RefreshConfig,
        client_timeout: Duration,
    ) -> Self {
        let dir = TempDataDir::new().unwrap();
        let clock = Arc::new(ManualClock::new(NOW));
        let (store, service) = open(&dir, provider, fake, &clock, config, client_timeout);
        Self { dir, provider, clock, store, service, client_timeout }
    }

    /// Another "process" on the same accounts file: its own store, client and service.
    pub(crate) fn other_process(
        &self,
        fake: &FakeProvider,
        config: RefreshConfig,
    ) -> (Arc<AccountStore>, RefreshService) {
        open(&self.dir, self.provider, fake, &self.clock, config, self.client_timeout)
    }

    /// Adds an account holding `refresh` (and `access` expiring at `expires_at`).
    pub(crate) fn add(
        &self,
        refresh: &str,
        access: Option<&str>,
        expires_at: Option<EpochMs>,
    ) -> String {
        self.add_as(refresh, access, expires_at, None)
    }

    pub(crate) fn add_as(
        &self,
        refresh: &str,
        access: Option<&str>,
        expires_at: Option<EpochMs>,
        email: Option<&str>,
    ) -> String {
        let mut new = NewAccount::from_credentials(creds(refresh, access, expires_at));
        new.email = email.map(str::to_owned);
        match self.store.add_account(&new, NOW).unwrap() {
            mac_storage::AddOutcome::Added { uuid } => uuid,
            other @ mac_storage::AddOutcome::Updated { .. } => {
                panic!("expected a new account, got {other:?}")
            }
        }
    }

    pub(crate) fn account(&self, uuid: &str) -> StoredAccount {
        self.store.load().unwrap().account(uuid).cloned().unwrap()
    }
}

fn open(
    dir: &TempDataDir,
    provider: Provider,
    fake: &FakeProvider,
    clock: &Arc<ManualClock>,
    config: RefreshConfig,
    client_timeout: Duration,
) -> (Arc<AccountStore>, RefreshService) {
    let options = StoreOptions { durability: Durability::NoFsync, ..StoreOptions::default() };
    open_with(dir, provider, fake, clock, config, client_timeout, options)
}

fn open_with(
    dir: &TempDataDir,
    provider: Provider,
    fake: &FakeProvider,
    clock: &Arc<ManualClock>,
    config: RefreshConfig,
    client_timeout: Duration,
    options: StoreOptions,
) -> (Arc<AccountStore>, RefreshService) {
    let store = Arc::new(AccountStore::open(dir.data_dir(), provider, options).unwrap());
    let descriptor =
        ProviderDescriptor::for_provider(provider).with_origin(&fake.origin()).unwrap();
    let client = AdapterClient::builder(descriptor)
        .clock(clock.clone())
        .timeout(client_timeout)
        .no_proxy()
        .build()
        .unwrap();
    let service = RefreshService::new(Arc::clone(&store), client, config, clock.clone());
    (store, service)
}

pub(crate) fn creds(
    refresh: &str,
    access: Option<&str>,
    expires_at: Option<EpochMs>,
) -> Credentials {
    Credentials {
        refresh_token: Secret::new(refresh),
        access_token: access.map(Secret::new),
        expires_at,
    }
}

/// Fails when the error's message or `Debug` holds a token.
#[track_caller]
pub(crate) fn assert_no_token(err: &RefreshError) {
    for text in [err.to_string(), format!("{err:?}")] {
        for secret in ["rt-", "fake-refresh", "fake-access", "old-access"] {
            assert!(!text.contains(secret), "{secret:?} leaked into {text:?}");
        }
    }
}

fn anthropic_grant() -> FakeGrant {
    FakeGrant::anthropic("server-uuid-1", "a@example.com")
}

/// A fake with refresh token `rt-1`, and a pool whose one account holds it with an expired
/// access token.
async fn expired_account() -> (FakeProvider, Pool, String) {
    let fake = FakeProvider::start().await.unwrap();
    fake.add_refresh_token("rt-1", anthropic_grant());
    let pool = Pool::new(&fake, Provider::Anthropic);
    let uuid = pool.add_as("rt-1", Some("old-access"), Some(at(-1)), Some("a@example.com"));
    (fake, pool, uuid)
}

/// Asserts `refreshed` holds the fake's current tokens of the chain that began with `rt-1`.
#[track_caller]
fn assert_current(fake: &FakeProvider, refreshed: &Refreshed) {
    let current = fake.current_refresh_token("rt-1").unwrap();
    assert_ne!(current, "rt-1", "the token rotated");
    assert_eq!(refreshed.credentials.refresh_token.expose(), current);
    let access = refreshed.credentials.access_token.as_ref().unwrap();
    assert!(fake.is_access_token_valid(access.expose()));
    assert_eq!(refreshed.credentials.expires_at, Some(at(3600)));
}

/// Waits (real time, at most 5 s) until `condition` holds.
pub(crate) async fn until(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn needs_refresh_uses_the_one_margin() {
    let defaults = RefreshConfig::default();
    assert_eq!(defaults.expiry_margin, Duration::from_secs(60));
    assert_eq!(defaults.lock_timeout, Duration::from_secs(45));
    assert_eq!(defaults.max_auth_failures, 3);
    let fake = FakeProvider::start().await.unwrap();
    let pool = Pool::new(&fake, Provider::Anthropic);
    let check = |credentials: Credentials, expected: bool| {
        assert_eq!(pool.service.needs_refresh(&credentials, NOW), expected, "{credentials:?}");
    };
    check(creds("rt", None, Some(at(3600))), true);
    check(creds("rt", Some("a"), None), true);
    check(creds("rt", Some(""), Some(at(3600))), true);
    check(creds("rt", Some("a"), Some(at(-5))), true);
    check(creds("rt", Some("a"), Some(at(60))), true);
    check(creds("rt", Some("a"), Some(at(61))), false);
    check(creds("rt", Some("a"), Some(at(3600))), false);
    let within = Duration::from_secs(1800);
    let expiring = |c: Credentials| pool.service.is_expiring_within(&c, NOW, within);
    assert!(expiring(creds("rt", Some("a"), Some(at(900)))));
    assert!(!expiring(creds("rt", Some("a"), Some(at(30))))); // left to on-demand
    assert!(!expiring(creds("rt", Some("a"), Some(at(1801)))));
    assert!(!expiring(creds("rt", None, Some(at(900)))));
    let lock = pool.service.lock_path("3f1c-ab");
    assert_eq!(lock.file_name().unwrap(), "anthropic-accounts.json.refresh.3f1c-ab.lock");
}

#[tokio::test]
async fn fresh_credentials_are_returned_without_a_request() {
    let fake = FakeProvider::start().await.unwrap();
    let pool = Pool::new(&fake, Provider::Anthropic);
    let uuid = pool.add("rt-1", Some("access-1"), Some(at(3600)));
    let got = pool.service.fresh_credentials(&uuid).await.unwrap();
    assert_eq!(got.how, Obtained::Fresh);
    assert_eq!(got.credentials, creds("rt-1", Some("access-1"), Some(at(3600))));
    assert_eq!(fake.count(Endpoint::AnthropicToken), 0);
    assert!(!pool.service.lock_path(&uuid).exists(), "no lock was taken");
}

#[tokio::test]
async fn expired_credentials_are_refreshed_once_and_stored() {
    let (fake, pool, uuid) = expired_account().await;
    let got = pool.service.fresh_credentials(&uuid).await.unwrap();
    assert_eq!(got.how, Obtained::Refreshed);
    assert_current(&fake, &got);
    let debug = format!("{got:?} {:?}", pool.service);
    assert!(!debug.contains("rt-1") && !debug.contains("fake-"), "{debug}");
    assert_eq!(fake.count(Endpoint::AnthropicToken), 1);
    let body = fake.last_request(Endpoint::AnthropicToken).unwrap().json().unwrap();
    assert_eq!(body["refresh_token"], "rt-1");

    // Stored, under the same local uuid; the server's account uuid goes to its own field (D4).
    let account = pool.account(&uuid);
    assert_eq!(account.credentials(), got.credentials);
    assert_eq!(account.uuid.as_deref(), Some(uuid.as_str()));
    assert_eq!(account.account_uuid.as_deref(), Some("server-uuid-1"));
    assert_eq!(account.email.as_deref(), Some("a@example.com"));
    assert_eq!(pool.store.load().unwrap().accounts.len(), 1);

    // Now fresh: no second request.
    let again = pool.service.fresh_credentials(&uuid).await.unwrap();
    assert_eq!(again, Refreshed { credentials: got.credentials, how: Obtained::Fresh });
    assert_eq!(fake.count(Endpoint::AnthropicToken), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_callers_share_one_refresh() {
    let (fake, pool, uuid) = expired_account().await;
    fake.set_delay(Endpoint::AnthropicToken, Duration::from_millis(300));
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let (service, uuid) = (pool.service.clone(), uuid.clone());
            tokio::spawn(async move { service.fresh_credentials(&uuid).await })
        })
        .collect();
    let mut refreshed = 0;
    for call in calls {
        let got = call.await.unwrap().unwrap();
        assert_current(&fake, &got);
        refreshed += usize::from(got.how == Obtained::Refreshed);
    }
    assert_eq!(fake.count(Endpoint::AnthropicToken), 1);
    assert_eq!(refreshed, 1, "one caller refreshed, the others adopted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_race_and_one_adopts_the_others_tokens() {
    let (fake, pool, uuid) = expired_account().await;
    fake.set_delay(Endpoint::AnthropicToken, Duration::from_millis(300));
    let (other_store, other) = pool.other_process(&fake, RefreshConfig::default());
    let (a, b) =
        tokio::join!(pool.service.fresh_credentials(&uuid), other.fresh_credentials(&uuid));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(fake.count(Endpoint::AnthropicToken), 1);
    assert!(
        matches!(
            (a.how, b.how),
            (Obtained::Adopted, Obtained::Refreshed) | (Obtained::Refreshed, Obtained::Adopted)
        ),
        "{a:?} {b:?}"
    );
    assert_eq!(a.credentials, b.credentials);
    assert_current(&fake, &a);
    let stored = other_store.load().unwrap().account(&uuid).unwrap().credentials();
    assert_eq!(stored, a.credentials);
}

#[tokio::test]
async fn a_process_with_an_old_snapshot_adopts_instead_of_spending_the_token() {
    // Process B read the credentials before process A refreshed them, then B's
    // request got a 401 with the old access token.
    let (fake, pool, uuid) = expired_account().await;
    let (_other_store, other) = pool.other_process(&fake, RefreshConfig::default());
    let old = pool.account(&uuid).credentials();
    let a = pool.service.fresh_credentials(&uuid).await.unwrap();
    let b = other.refresh_rejected(&uuid, &old).await.unwrap();
    assert_eq!(b, Refreshed { credentials: a.credentials, how: Obtained::Adopted });
    assert_eq!(fake.count(Endpoint::AnthropicToken), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_on_credentials_replaced_meanwhile_is_not_recorded() {
    let (fake, pool, uuid) = expired_account().await;
    let dead = Scripted::json(
        400,
        json!({"error": "invalid_grant", "error_description": "Invalid refresh token"}),
    );
    fake.script(Endpoint::AnthropicToken, vec![dead.with_delay(Duration::from_millis(300))]);
    let refresh = {
        let (service, uuid) = (pool.service.clone(), uuid.clone());
        tokio::spawn(async move { service.fresh_credentials(&uuid).await })
    };
    until("the refresh request arrived", || fake.count(Endpoint::AnthropicToken) == 1).await;
    // Meanwhile the user logs in again (another process): new tokens for the same account.
    let mut relogin =
        NewAccount::from_credentials(creds("rt-new", Some("new-access"), Some(at(7200))));
    relogin.email = Some("a@example.com".into());
    pool.store.add_account(&relogin, NOW).unwrap();

    let got = refresh.await.unwrap().unwrap();
    assert_eq!(got, Refreshed { credentials: relogin.credentials.clone(), how: Obtained::Adopted });
    let account = pool.account(&uuid);
    assert!(!account.is_auth_disabled, "the failure concerned replaced tokens");
    assert_eq!(account.consecutive_auth_failures, 0);
    assert_eq!(account.credentials(), relogin.credentials);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rotated_token_survives_a_concurrent_change_of_the_access_fields() {
    // A 403 "revoked" recorded meanwhile clears the access token but keeps the refresh token:
    // the grant still belongs to the stored refresh token and must be stored, or the account is
    // lost (the old refresh token is spent).
    let (fake, pool, uuid) = expired_account().await;
    fake.set_delay(Endpoint::AnthropicToken, Duration::from_millis(300));
    let old = pool.account(&uuid).credentials();
    let refresh = {
        let (service, uuid) = (pool.service.clone(), uuid.clone());
        tokio::spawn(async move { service.fresh_credentials(&uuid).await })
    };
    until("the refresh request arrived", || fake.count(Endpoint::AnthropicToken) == 1).await;
    pool.store.record_auth_failure(&uuid, &old, AuthFailure::Revoked, 3).unwrap();
    assert_eq!(pool.account(&uuid).access_token, None);

    let got = refresh.await.unwrap().unwrap();
    assert_eq!(got.how, Obtained::Refreshed);
    assert_current(&fake, &got);
    assert_eq!(pool.account(&uuid).credentials(), got.credentials);
}

#[tokio::test]
async fn a_permanent_failure_disables_never_deletes_and_is_not_sent_again() {
    let (fake, pool, uuid) = expired_account().await;
    fake.revoke_refresh_token("rt-1");
    let err = pool.service.fresh_credentials(&uuid).await.unwrap_err();
    assert!(err.is_permanent(), "{err}");
    assert!(err.concerns_account());
    assert_eq!(err.permanent_reason(), Some(PermanentReason::InvalidGrant));
    assert_eq!(err.uuid(), uuid);
    assert!(
        matches!(
            &err,
            RefreshError::Provider { recorded: Some(AuthFailureOutcome::Disabled { .. }), .. }
        ),
        "{err:?}"
    );
    assert_no_token(&err);
    assert!(err.to_string().contains(&uuid), "{err}");
    let account = pool.account(&uuid);
    assert!(account.is_auth_disabled, "disabled even as the last account: the grant is dead");
    assert!(account.auth_disabled_reason.unwrap().contains("needs login"));
    assert_eq!(pool.store.load().unwrap().accounts.len(), 1, "never deleted");

    // The dead token is not sent again by this process.
    let again = pool.service.fresh_credentials(&uuid).await.unwrap_err();
    assert!(again.is_permanent());
    assert!(matches!(&again, RefreshError::Provider { recorded: None, .. }));
    assert_eq!(fake.count(Endpoint::AnthropicToken), 1);

    // A new login brings a new token, which is refreshed normally.
    fake.add_refresh_token("rt-2", anthropic_grant());
    let mut relogin = NewAccount::from_credentials(creds("rt-2", None, None));
    relogin.email = Some("a@example.com".into());
    pool.store.add_account(&relogin, NOW).unwrap();
    let got = pool.service.fresh_credentials(&uuid).await.unwrap();
    assert_eq!(got.how, Obtained::Refreshed);
    assert_eq!(fake.count(Endpoint::AnthropicToken), 2);
    assert!(!pool.account(&uuid).is_auth_disabled);
}

/// Issue 10 item 1: an outage is no evidence against an account. A transient failure counts
/// nothing toward disabling (even with other usable accounts), and the account backs off: no
/// second request to the token endpoint until the backoff has passed by itself.
#[tokio::test]
async fn transient_failures_never_count_and_back_off() {
    let (fake, pool, uuid) = expired_account().await;
    pool.add("rt-other", Some("other-access"), Some(at(3600)));
    fake.script(Endpoint::AnthropicToken, vec![Scripted::server_error(500); 4]);
    let err = pool.service.fresh_credentials(&uuid).await.unwrap_err();
    assert!(!err.is_permanent(), "{err}");
    assert_no_token(&err);
    assert!(matches!(&err, RefreshError::Provider { recorded: None, .. }), "{err:?}");
    for _ in 0..3 {
        let err = pool.service.fresh_credentials(&uuid).await.unwrap_err();
        assert!(err.is_backing_off(), "{err}");
        assert_no_token(&err);
    }
    let account = pool.account(&uuid);
    assert!(!account.is_auth_disabled, "never disabled by an outage");
    assert_eq!(account.consecutive_auth_failures, 0);
    assert_eq!(fake.count(Endpoint::AnthropicToken), 1, "the backoff holds");
    let now = pool.service.clock().now();
    let until = pool.service.auth_backoff_until(&account, now).unwrap();
    assert!(until > now && until <= now.saturating_add(RefreshConfig::default().auth_backoff));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_waiting_for_a_failed_refresh_share_its_failure() {
    let (fake, pool, uuid) = expired_account().await;
    let slow_error = Scripted::server_error(503).with_delay(Duration::from_millis(300));
    fake.script(Endpoint::AnthropicToken, vec![slow_error]);
    let calls: Vec<_> = (0..5)
        .map(|_| {
            let (service, uuid) = (pool.service.clone(), uuid.clone());
            tokio::spawn(async move { service.fresh_credentials(&uuid).await })
        })
        .collect();
    for call in calls {
        let err = call.await.unwrap().unwrap_err();
        // Waiters share the flight's failure, or (arriving after it settled) its backoff.
        let shared = err.failure().and_then(|f| f.status) == Some(503);
        assert!(shared || err.is_backing_off(), "{err}");
    }
    assert_eq!(fake.count(Endpoint::AnthropicToken), 1);
    assert_eq!(pool.account(&uuid).consecutive_auth_failures, 0, "an outage counts nothing");
}

#[tokio::test]
async fn a_refused_client_is_not_held_against_the_account() {
    let (fake, pool, uuid) = expired_account().await;
    let refused = Scripted::json(
        401,
        json!({"error": "invalid_client", "error_description": "Client authentication failed"}),
    );
    fake.script(Endpoint::AnthropicToken, vec![refused]);
    let err = pool.service.fresh_credentials(&uuid).await.unwrap_err();
    assert!(err.is_permanent());
    assert!(!err.concerns_account());
    assert!(matches!(&err, RefreshError::Provider { recorded: None, .. }), "{err:?}");
    let account = pool.account(&uuid);
    assert!(!account.is_auth_disabled);
    assert_eq!(account.consecutive_auth_failures, 0);
    // Not remembered either: once the client is fixed, the token works.
    let got = pool.service.fresh_credentials(&uuid).await.unwrap();
    assert_eq!(got.how, Obtained::Refreshed);
}

#[tokio::test]
async fn refresh_rejected_adopts_changed_credentials_and_forces_a_refresh_otherwise() {
    let fake = FakeProvider::start().await.unwrap();
    fake.add_refresh_token("rt-1", anthropic_grant());
    let pool = Pool::new(&fake, Provider::Anthropic);
    let uuid = pool.add("rt-1", Some("access-1"), Some(at(3600)));
    let stored = pool.account(&uuid).credentials();

    // The 401 came with credentials the store no longer holds: adopt, no request.
    let older = creds("rt-0", Some("access-0"), Some(at(100)));
    let got = pool.service.refresh_rejected(&uuid, &older).await.unwrap();
    assert_eq!(got, Refreshed { credentials: stored.clone(), how: Obtained::Adopted });
    assert_eq!(fake.count(Endpoint::AnthropicToken), 0);

    // The stored credentials themselves were refused: refresh although the expiry says fresh.
    let got = pool.service.refresh_rejected(&uuid, &stored).await.unwrap();
    assert_eq!(got.how, Obtained::Refreshed);
    assert_current(&fake, &got);
    assert_eq!(fake.count(Endpoint::AnthropicToken), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_dropped_mid_refresh_still_stores_the_rotated_token_and_releases_the_lock() {
    let (fake, pool, uuid) = expired_account().await;
    fake.set_delay(Endpoint::AnthropicToken, Duration::from_millis(400));
    let caller = {
        let (service, uuid) = (pool.service.clone(), uuid.clone());
        tokio::spawn(async move { service.fresh_credentials(&uuid).await })
    };
    until("the refresh request arrived", || fake.count(Endpoint::AnthropicToken) == 1).await;
    caller.abort();
    assert!(caller.await.unwrap_err().is_cancelled());

    // Another process does not wait for the lock timeout (2 s here): the request in flight
    // finishes, its rotated token is stored, the lock is released, and the other adopts.
    let config = RefreshConfig { lock_timeout: Duration::from_secs(2), ..RefreshConfig::default() };
    let (_other_store, other) = pool.other_process(&fake, config);
    let got = other.fresh_credentials(&uuid).await.unwrap();
    assert_eq!(got.how, Obtained::Adopted);
    assert_current(&fake, &got);
    assert_eq!(pool.account(&uuid).credentials(), got.credentials);
    assert_eq!(fake.count(Endpoint::AnthropicToken), 1);
    let lock = FileLock::try_acquire(&pool.service.lock_path(&uuid)).unwrap();
    assert!(lock.is_some(), "the refresh lock is free");
    // The turn in this process is free too.
    drop(lock);
    let again = pool.service.fresh_credentials(&uuid).await.unwrap();
    assert_eq!(again.how, Obtained::Fresh);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_dropped_while_waiting_for_the_lock_leaves_nothing_behind() {
    let (fake, pool, uuid) = expired_account().await;
    let path = pool.service.lock_path(&uuid);
    let holder = FileLock::acquire(&path, Duration::from_secs(1)).unwrap();
    let caller = {
        let (service, uuid) = (pool.service.clone(), uuid.clone());
        tokio::spawn(async move { service.fresh_credentials(&uuid).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!caller.is_finished(), "waiting for the lock");
    caller.abort();
    assert!(caller.await.unwrap_err().is_cancelled());
    drop(holder);

    // The abandoned wait hands the lock back the moment it gets it.
    let taken =
        tokio::task::spawn_blocking(move || FileLock::acquire(&path, Duration::from_secs(2)));
    drop(taken.await.unwrap().unwrap());
    let got = pool.service.fresh_credentials(&uuid).await.unwrap();
    assert_eq!(got.how, Obtained::Refreshed);
    assert_eq!(fake.count(Endpoint::AnthropicToken), 1, "the dropped caller sent nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_held_too_long_is_a_lock_timeout_without_a_request() {
    let (fake, pool, uuid) = expired_account().await;
    let _holder =
        FileLock::acquire(&pool.service.lock_path(&uuid), Duration::from_secs(1)).unwrap();
    let config =
        RefreshConfig { lock_timeout: Duration::from_millis(200), ..RefreshConfig::default() };
    let (_store, impatient) = pool.other_process(&fake, config);
    let err = impatient.fresh_credentials(&uuid).await.unwrap_err();
    assert!(err.is_lock_timeout(), "{err:?}");
    assert!(!err.is_permanent());
    assert!(err.to_string().contains(".refresh."), "{err}");
    assert_no_token(&err);
    assert_eq!(fake.count(Endpoint::AnthropicToken), 0);
    assert_eq!(pool.account(&uuid).consecutive_auth_failures, 0);
}

#[tokio::test]
async fn an_unknown_account_is_an_error() {
    let fake = FakeProvider::start().await.unwrap();
    let pool = Pool::new(&fake, Provider::Anthropic);
    let err = pool.service.fresh_credentials("no-such-uuid").await.unwrap_err();
    assert!(err.is_unknown_account(), "{err:?}");
    assert_eq!(err.uuid(), "no-such-uuid");
}

#[tokio::test]
async fn codex_refreshes_with_json_and_stores_the_account_id() {
    let fake = FakeProvider::start().await.unwrap();
    fake.add_refresh_token("rt-c", FakeGrant::codex("acct-42", "c@example.com", "plus"));
    let pool = Pool::new(&fake, Provider::Codex);
    let uuid = pool.add("rt-c", None, None);
    let got = pool.service.fresh_credentials(&uuid).await.unwrap();
    assert_eq!(got.how, Obtained::Refreshed);
    assert_eq!(fake.count(Endpoint::OpenAiToken), 1);
    let request = fake.last_request(Endpoint::OpenAiToken).unwrap();
    // Codex CLI's refresh is JSON (its code exchange is a form).
    assert_eq!(request.header("content-type"), Some("application/json"));
    let body = request.json().unwrap();
    assert_eq!(
        (body["grant_type"].as_str(), body["refresh_token"].as_str()),
        (Some("refresh_token"), Some("rt-c")),
        "{body}"
    );
    let account = pool.account(&uuid);
    assert_eq!(account.account_id.as_deref(), Some("acct-42"));
    assert_eq!(account.email.as_deref(), Some("c@example.com"));
    assert_eq!(account.credentials(), got.credentials);
    assert_eq!(
        fake.current_refresh_token("rt-c").as_deref(),
        Some(got.credentials.refresh_token.expose())
    );
}

/// Issue 10 item 2: the provider rotates the refresh token, the write of the grant fails (the
/// accounts file's lock is held by another writer past this process's lock timeout), and the
/// process is gone before anything else happens. The next process finds the grant in the
/// pending-grant journal and uses it: no second refresh, no `invalid_grant`, nothing disabled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_token_survives_a_failed_store_write_and_the_end_of_the_process() {
    let (fake, pool, uuid) = expired_account().await;
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder_store =
        AccountStore::open(pool.dir.data_dir(), pool.provider, StoreOptions::default()).unwrap();
    let holder = std::thread::spawn(move || {
        holder_store
            .mutate(|_| {
                held_tx.send(()).unwrap();
                Ok(release_rx.recv_timeout(Duration::from_secs(30)).is_ok())
            })
            .unwrap()
    });
    held_rx.recv().unwrap();

    let impatient = StoreOptions {
        lock_timeout: Duration::from_millis(100),
        durability: Durability::NoFsync,
        ..StoreOptions::default()
    };
    let (store_a, service_a) = open_with(
        &pool.dir,
        pool.provider,
        &fake,
        &pool.clock,
        RefreshConfig::default(),
        pool.client_timeout,
        impatient,
    );
    let journal =
        std::path::PathBuf::from(format!("{}.grant.{uuid}.pending", store_a.path().display()));
    let got = service_a.fresh_credentials(&uuid).await.unwrap();
    assert_eq!(got.how, Obtained::Refreshed, "the new tokens are used although not stored");
    assert_eq!(fake.count(Endpoint::AnthropicToken), 1);
    assert!(journal.exists(), "the grant waits in the journal");
    // The process ends here: nothing of it runs any more.
    drop((service_a, store_a));
    release_tx.send(()).unwrap();
    assert!(holder.join().unwrap());
    assert_eq!(pool.account(&uuid).refresh_token.expose(), "rt-1", "not stored yet");

    let (_store_b, service_b) = pool.other_process(&fake, RefreshConfig::default());
    let got = service_b.fresh_credentials(&uuid).await.unwrap();
    assert_eq!(got.how, Obtained::Adopted, "the journal's grant, no second refresh");
    assert_eq!(fake.count(Endpoint::AnthropicToken), 1);
    let account = pool.account(&uuid);
    assert_eq!(account.refresh_token.expose(), fake.current_refresh_token("rt-1").unwrap());
    assert!(!account.is_auth_disabled);
    assert!(!journal.exists(), "applied and removed");
}

/// Issue 15 (a storage shared by hosts): host A gets a rotated grant but cannot store it (the
/// storage unreachable), so it waits in A's own journal. Host B, which cannot see that journal,
/// refreshes with the spent token, gets `invalid_grant` and disables the account. When A's
/// pool runs again, its proactive refresher stores the journal's grant — the compare-and-swap on
/// the spent token still matches — and the account is usable again. Before the fix A's grant
/// was applied only when A refreshed that account, which it never selects once disabled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_kept_on_one_host_revives_an_account_another_host_disabled_with_the_spent_token() {
    let (fake, pool, uuid) = expired_account().await;
    // Host A: the grant is obtained, its store write fails (the lock is held past A's timeout).
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder_store =
        AccountStore::open(pool.dir.data_dir(), pool.provider, StoreOptions::default()).unwrap();
    let holder = std::thread::spawn(move || {
        holder_store
            .mutate(|_| {
                held_tx.send(()).unwrap();
                Ok(release_rx.recv_timeout(Duration::from_secs(30)).is_ok())
            })
            .unwrap()
    });
    held_rx.recv().unwrap();
    let impatient = StoreOptions {
        lock_timeout: Duration::from_millis(100),
        durability: Durability::NoFsync,
        ..StoreOptions::default()
    };
    let (store_a, service_a) = open_with(
        &pool.dir,
        pool.provider,
        &fake,
        &pool.clock,
        RefreshConfig::default(),
        pool.client_timeout,
        impatient,
    );
    let journal =
        std::path::PathBuf::from(format!("{}.grant.{uuid}.pending", store_a.path().display()));
    service_a.fresh_credentials(&uuid).await.unwrap();
    assert!(journal.exists(), "the grant waits in host A's journal");
    drop((service_a, store_a));
    release_tx.send(()).unwrap();
    assert!(holder.join().unwrap());

    // Host B: the same accounts, its own host-local files (no journal there).
    let elsewhere = TempDataDir::new().unwrap();
    let descriptor =
        ProviderDescriptor::for_provider(pool.provider).with_origin(&fake.origin()).unwrap();
    let client =
        AdapterClient::builder(descriptor).clock(pool.clock.clone()).no_proxy().build().unwrap();
    let strict = RefreshConfig { max_auth_failures: 1, ..RefreshConfig::default() };
    let service_b = RefreshService::with_local_files(
        Arc::clone(&pool.store),
        client,
        strict,
        pool.clock.clone(),
        elsewhere.accounts_file(pool.provider),
    );
    let err = service_b.fresh_credentials(&uuid).await.unwrap_err();
    assert!(err.is_permanent(), "{err}");
    assert!(pool.account(&uuid).is_auth_disabled, "host B disabled it with the spent token");

    // Host A's pool again: its proactive refresher settles the journal at its first check.
    let (_store_a, service_a) = pool.other_process(&fake, RefreshConfig::default());
    let config = ProactiveConfig {
        initial_delay: Duration::ZERO,
        jitter: 0.0,
        seed: Some(1),
        ..ProactiveConfig::default()
    };
    let refresher = ProactiveRefresher::start(service_a, config);
    let deadline = Instant::now() + Duration::from_secs(30);
    while refresher.checks() == 0 {
        assert!(Instant::now() < deadline, "the proactive refresher never checked");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    refresher.stop().await;
    let account = pool.account(&uuid);
    assert!(!account.is_auth_disabled, "the stored grant revives the account");
    assert_eq!(account.refresh_token.expose(), fake.current_refresh_token("rt-1").unwrap());
    assert!(!journal.exists(), "applied and removed");
    assert_eq!(fake.count(Endpoint::AnthropicToken), 2, "A's refresh and B's refused one only");
}

/// A refresh whose grant could not be kept is not sent: a newer-version accounts file is
/// read-only here.
#[tokio::test]
async fn no_refresh_is_sent_on_a_store_that_cannot_be_written() {
    let (fake, pool, uuid) = expired_account().await;
    let path = pool.store.path().to_owned();
    let text = std::fs::read_to_string(&path).unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value["version"] = serde_json::json!(2);
    std::fs::write(&path, value.to_string()).unwrap();
    let err = pool.service.fresh_credentials(&uuid).await.unwrap_err();
    assert!(err.to_string().contains("newer version"), "{err}");
    assert_eq!(fake.count(Endpoint::AnthropicToken), 0, "the refresh token was not spent");
}
