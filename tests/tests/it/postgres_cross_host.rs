//! Refresh exactly once across hosts (issue 15): `mac serve` processes, each with a data
//! directory of its own — nothing shared but the PostgreSQL database (`MAC_STORAGE_BACKEND`,
//! `MAC_STORAGE_URL`) — in front of one loopback fake provider whose token endpoint accepts
//! each refresh token once, slowly. Concurrent clients through all of them when the access
//! token has expired: exactly one token request per race, in every race, no account disabled,
//! every request served. And a gateway killed (`SIGKILL`) while it holds the refresh lock (its refresh
//! hanging at the fake): its database session ends, the lock goes with it, another gateway
//! waiting for it refreshes, and the grant lives on. Skips without a server unless
//! `MAC_REQUIRE_POSTGRES=1`.
//!
//! With host-local lock files instead of the database's lock, the three data directories share
//! no lock and a race sends up to three refreshes (the rotated token spent twice: a logout).

use std::time::Duration;

use mac_postgres::testing::TestDatabase;
use mac_storage::{AccountStore, EpochMs, Provider, StoreOptions};
use mac_test_support::{Endpoint, FakeProvider, TempDataDir};
use rustix::process::Signal;

use crate::gateway_process::{Served, serve_on_postgres};
use crate::gateway_support::{Seeded, messages_body};

/// How many races the first test runs; every one must see exactly one refresh.
const RACES: usize = 20;

/// Clients per gateway per race.
const CLIENTS_PER_GATEWAY: usize = 4;

/// The fake token endpoint's answer time: long enough that every client of a race asks while
/// the first refresh is in flight.
const TOKEN_DELAY: Duration = Duration::from_millis(200);

/// The database's Anthropic accounts store, as the tests seed and inspect it.
fn store(database: &TestDatabase) -> AccountStore {
    database.storage("mac").unwrap().account_store(Provider::Anthropic, StoreOptions::default())
}

/// Sends `messages` through `url`; the status.
async fn ask(http: reqwest::Client, url: String) -> Result<u16, String> {
    let answer = http
        .post(format!("{url}/v1/messages"))
        .body(messages_body(false))
        .send()
        .await
        .map_err(|err| err.to_string())?;
    let status = answer.status().as_u16();
    let body = answer.bytes().await.map_err(|err| err.to_string())?;
    if status == 200 {
        Ok(status)
    } else {
        Err(format!("{status}: {}", String::from_utf8_lossy(&body)))
    }
}

/// Expires the stored access token and makes every issued one invalid at the fake, so the next
/// request of every gateway must refresh (or adopt another's refresh), however stale its view.
fn expire(store: &AccountStore, fake: &FakeProvider, uuid: &str) {
    for token in fake.issued_access_tokens() {
        fake.revoke_access_token(&token);
    }
    store
        .mutate(|document| {
            let account = document.account_mut(uuid).unwrap();
            account.expires_at = Some(EpochMs::from_millis(EpochMs::now().as_millis() - 1_000));
            Ok(())
        })
        .unwrap();
}

/// The account is enabled and stores the refresh token the fake accepts now.
fn grant_alive(store: &AccountStore, fake: &FakeProvider, seeded: &Seeded) {
    let document = store.load().unwrap();
    let account = document.account(&seeded.uuid).unwrap();
    assert!(account.enabled, "the account was disabled");
    let current = fake.current_refresh_token(&seeded.refresh);
    assert_eq!(
        Some(account.refresh_token.expose()),
        current.as_deref(),
        "the stored refresh token is not the live one: a rotated token was lost"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_gateways_on_one_database_refresh_an_expired_token_once_per_race() {
    let Some(database) = TestDatabase::create("cross_host_race") else { return };
    let fake = FakeProvider::start().await.unwrap();
    let store = store(&database);
    let seeded = fake.seed_account(&store, Provider::Anthropic, "raced", Duration::ZERO).unwrap();
    fake.set_delay(Endpoint::AnthropicToken, TOKEN_DELAY);
    let gateways: Vec<(TempDataDir, Served)> = ["first", "second", "third"]
        .iter()
        .map(|name| serve_on_postgres(&database, &fake, name))
        .collect();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();

    let mut refreshes_per_race = Vec::with_capacity(RACES);
    for race in 0..RACES {
        if race > 0 {
            expire(&store, &fake, &seeded.uuid);
        }
        let before = fake.count(Endpoint::AnthropicToken);
        let mut clients = Vec::new();
        for _ in 0..CLIENTS_PER_GATEWAY {
            for (_, served) in &gateways {
                clients.push(tokio::spawn(ask(http.clone(), served.url.clone())));
            }
        }
        for client in clients {
            let served = client.await.unwrap();
            assert_eq!(served, Ok(200), "race {race}: a client request was not served");
        }
        refreshes_per_race.push(fake.count(Endpoint::AnthropicToken) - before);
        grant_alive(&store, &fake, &seeded);
    }
    assert_eq!(
        refreshes_per_race,
        vec![1; RACES],
        "token requests per race across three gateways (one each, in every race)"
    );
    for (_, served) in gateways {
        let (code, log) = served.stop_keeping_log(Signal::TERM);
        assert_eq!(code, Some(0), "{log}");
        assert!(!log.contains("disabled"), "{log}");
    }
}

/// Whether a session of `database` waits for an advisory lock (a refresh lock) right now.
fn someone_waits_for_a_refresh_lock(database: &TestDatabase) -> bool {
    database
        .execute(
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' \
             AND NOT granted AND database = (SELECT oid FROM pg_database \
             WHERE datname = current_database())) THEN RAISE EXCEPTION 'no waiter'; END IF; END $$",
        )
        .is_ok()
}

/// Polls `condition` every 20 ms for up to 60 s (a bound for slow machines, not a timing
/// assertion).
async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_killed_while_holding_the_refresh_lock_frees_it_for_another() {
    let Some(database) = TestDatabase::create("cross_host_killed") else { return };
    let fake = FakeProvider::start().await.unwrap();
    let store = store(&database);
    let seeded = fake.seed_account(&store, Provider::Anthropic, "held", Duration::ZERO).unwrap();
    let (_first_dir, mut first) = serve_on_postgres(&database, &fake, "first");
    let (_second_dir, second) = serve_on_postgres(&database, &fake, "second");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();

    // The first gateway's refresh hangs at the fake, inside the refresh lock.
    fake.set_delay(Endpoint::AnthropicToken, Duration::from_secs(600));
    let hung = tokio::spawn(ask(http.clone(), first.url.clone()));
    eventually("the first gateway's refresh reached the fake", || {
        fake.count(Endpoint::AnthropicToken) == 1
    })
    .await;
    fake.set_delay(Endpoint::AnthropicToken, Duration::ZERO);

    // The second gateway's request waits for that lock in the database.
    let waiting = tokio::spawn(ask(http.clone(), second.url.clone()));
    let db = &database;
    eventually("the second gateway waits for the refresh lock", || {
        someone_waits_for_a_refresh_lock(db)
    })
    .await;
    assert!(!waiting.is_finished(), "the second gateway did not wait for the lock");

    // SIGKILL: no clean-up; its database session ends, and the lock with it.
    first.signal(Signal::KILL);
    assert!(hung.await.unwrap().is_err(), "the killed gateway's client got no answer");
    assert_eq!(waiting.await.unwrap(), Ok(200), "the waiting gateway refreshed after the kill");
    assert_eq!(
        fake.count(Endpoint::AnthropicToken),
        2,
        "the killed holder's request, then one refresh by the gateway that waited"
    );
    grant_alive(&store, &fake, &seeded);
    let (code, log) = second.stop_keeping_log(Signal::TERM);
    assert_eq!(code, Some(0), "{log}");
}
