//! No database round trip per request in steady state: a pool on PostgreSQL serves 1,000
//! `Pool::execute` calls through the loopback fake with zero reads and zero transactions
//! while nothing changes (its view is refreshed from the cache; the change listener —
//! `LISTEN`/`NOTIFY` — says nothing changed), and an account added by another OS process
//! (its own storage, connections and data, nothing shared but the database) reaches the
//! pool's view soon after, through a notification. No timing is asserted: the test polls
//! with a generous deadline. And while the listener is down, a cheap refresh reads from the
//! server like `load`, so nothing is missed. Skips without a server unless
//! `MAC_REQUIRE_POSTGRES=1`.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mac_adapters::{AdapterClient, ProviderDescriptor};
use mac_core::http_response;
use mac_executor::{AttemptResponse, Pool, RequestInfo};
use mac_postgres::testing::TestDatabase;
use mac_storage::{AccountStore, Credentials, EpochMs, NewAccount, Provider, Secret, StoreOptions};
use mac_test_support::{FakeGrant, FakeProvider, TempDataDir, spawn_guarded};

use mac_tests::storage_work::add_accounts;

use crate::storage_multi_process::wait_ok;

const BODY: &str =
    r#"{"model":"claude","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}"#;

/// The longest wait for something that should happen "soon" (a shared, loaded machine).
const DEADLINE: Duration = Duration::from_secs(60);

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(work).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_on_postgres_makes_no_round_trip_per_request_and_sees_other_processes() {
    const REQUESTS: usize = 1_000;
    let Some(database) = TestDatabase::create("notify_pool") else { return };
    let schema = "notify";
    let storage = database.storage(schema).unwrap();
    // Bookkeeping (`lastUsed`) at most once an hour per account: the steady state writes
    // nothing, so every read left is a read of the request path.
    let options = StoreOptions {
        bookkeeping_interval: Duration::from_secs(3_600),
        ..StoreOptions::default()
    };
    let backend = Arc::new(storage.accounts(Provider::Anthropic, options.clone()));
    let store = Arc::new(AccountStore::with_backend(backend.clone(), options));

    let fake = FakeProvider::start().await.unwrap();
    for n in 0..2 {
        let grant = FakeGrant {
            access_token_prefix: format!("a{n}-"),
            ..FakeGrant::anthropic(&format!("remote-{n}"), &format!("a{n}@x.io"))
        };
        fake.add_refresh_token(&format!("a{n}-refresh"), grant);
        let credentials = Credentials {
            refresh_token: Secret::new(format!("a{n}-refresh")),
            access_token: None,
            expires_at: None,
        };
        let store = Arc::clone(&store);
        blocking(move || {
            store.add_account(&NewAccount::from_credentials(credentials), EpochMs::now())
        })
        .await
        .unwrap();
    }
    let dir = TempDataDir::new().unwrap();
    let descriptor = ProviderDescriptor::anthropic().with_origin(&fake.origin()).unwrap();
    let client = AdapterClient::builder(descriptor).no_proxy().build().unwrap();
    let pool = Pool::builder(Arc::clone(&store), client)
        .local_files(dir.accounts_file(Provider::Anthropic))
        .build();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = fake.url("/v1/messages");
    let request = RequestInfo::default();
    let execute = || async {
        let done = pool
            .execute(&request, |attempt| {
                http_response::send(
                    http.post(&url).bearer_auth(attempt.access_token.expose()).body(BODY),
                )
            })
            .await
            .unwrap();
        assert_eq!(done.response.status(), 200);
    };

    // Warm-up: both accounts refreshed and used once (their first bookkeeping written), the
    // listener up, and a cheap refresh answered from the cache.
    for _ in 0..20 {
        execute().await;
    }
    pool.settle().await;
    let started = Instant::now();
    while !storage.is_listening() {
        assert!(started.elapsed() < DEADLINE, "the change listener never started");
        let store = Arc::clone(&store);
        blocking(move || store.refresh_cached()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The first cheap refresh in the listener's session reads once (the cache was checked
    // before the session began); the ones after it are free while nothing changes.
    let store_now = Arc::clone(&store);
    blocking(move || store_now.refresh_cached()).await.unwrap();

    let (reads, transactions) = (backend.reads(), backend.transactions());
    for _ in 0..REQUESTS {
        execute().await;
    }
    pool.settle().await;
    // Let any view refresh spawned by the last requests finish before counting.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(backend.reads() - reads, 0, "reads during {REQUESTS} requests, nothing changed");
    assert_eq!(backend.transactions() - transactions, 0, "transactions during the requests");
    assert_eq!(store.cached().unwrap().accounts.len(), 2);

    // Another process adds an account: the pool's view has it soon after, for a read or so.
    let notifications = storage.notifications_received();
    let mut command = crate::storage_worker();
    command
        .args(["add", schema, "elsewhere", "1", "--postgres"])
        .env("MAC_STORAGE_URL", database.url().expose())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let added = wait_ok(spawn_guarded(&mut command).unwrap());
    let added = added.trim().to_owned();
    let started = Instant::now();
    while store.cached().unwrap().accounts.len() != 3 {
        assert!(started.elapsed() < DEADLINE, "the other process's account never arrived");
        execute().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    pool.settle().await;
    assert!(store.cached().unwrap().account(&added).is_some(), "the added account is seen");
    assert!(storage.notifications_received() > notifications, "learned by a notification");
    assert!(backend.reads() > reads, "the change was read from the server");
    pool.shutdown().await;
}

#[test]
fn while_the_listener_is_down_a_cheap_refresh_reads_from_the_server() {
    let Some(database) = TestDatabase::create("notify_down") else { return };
    let schema = "down";
    let (ours, theirs) = (database.storage(schema).unwrap(), database.storage(schema).unwrap());
    let backend = Arc::new(ours.accounts(Provider::Anthropic, StoreOptions::default()));
    let store = AccountStore::with_backend(backend.clone(), StoreOptions::default());
    let writer = theirs.account_store(Provider::Anthropic, StoreOptions::default());
    add_accounts(&writer, "first", 1).unwrap();
    let started = Instant::now();
    while !ours.is_listening() {
        assert!(started.elapsed() < DEADLINE, "the change listener never started");
        store.refresh_cached().unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    store.refresh_cached().unwrap();
    let reads = backend.reads();
    assert_eq!(store.refresh_cached().unwrap().accounts.len(), 1);
    assert_eq!(backend.reads(), reads, "free while listening and nothing changed");

    // The listener's connection ends and no new connection is accepted: it stays down. (The
    // stores' pooled connections stay open, so reads and writes still work.)
    let name = database.name().to_owned();
    database
        .execute_in_server_database(&format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false"))
        .unwrap();
    database
        .execute_in_server_database(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{name}' AND query LIKE 'LISTEN %'"
        ))
        .unwrap();
    let started = Instant::now();
    while ours.is_listening() {
        assert!(started.elapsed() < DEADLINE, "the listener did not notice its end");
        std::thread::sleep(Duration::from_millis(20));
    }
    // A commit nobody listens for is still seen: the cheap refresh reads.
    add_accounts(&writer, "unheard", 1).unwrap();
    assert_eq!(store.refresh_cached().unwrap().accounts.len(), 2, "read from the server");
    assert!(backend.reads() > reads);

    // Connections are accepted again: the listener comes back by itself.
    database
        .execute_in_server_database(&format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true"))
        .unwrap();
    let started = Instant::now();
    while !ours.is_listening() {
        assert!(started.elapsed() < DEADLINE, "the listener did not reconnect");
        std::thread::sleep(Duration::from_millis(20));
    }
    add_accounts(&writer, "heard", 1).unwrap();
    let started = Instant::now();
    while store.refresh_cached().unwrap().accounts.len() != 3 {
        assert!(started.elapsed() < DEADLINE, "a change after the reconnect was never seen");
        std::thread::sleep(Duration::from_millis(20));
    }
}
