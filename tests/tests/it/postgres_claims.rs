//! Claims across hosts on PostgreSQL, with real processes: two `mac serve` gateways, each with
//! its own data directory (nothing shared but the database), serve one pool under concurrent
//! clients; the claims each gateway makes are seen by another process (this test, through a
//! holder of its own); one gateway is killed (`SIGKILL`) while it holds claims, and its claims are gone
//! for everyone at once — its database session ended — not when their heartbeat lease (60 s)
//! runs out; the other gateway carries on serving and no account or grant is lost. And a
//! holder whose database session is cut loses its claims for others at once, and takes them
//! again on a new session at its next heartbeat.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mac_claims::{Claims, ClaimsOptions, ClaimsSnapshot};
use mac_postgres::testing::TestDatabase;
use mac_postgres::{PostgresClaims, PostgresStorage};
use mac_storage::{AccountStore, EpochMs, Provider, StoreOptions, SystemClock};
use mac_test_support::FakeProvider;
use rustix::process::Signal;

use crate::gateway_process::serve_on_postgres;
use crate::gateway_support::{Seeded as SeededAccount, messages_body};

/// How long a check waits for something another process does (never reached when it works).
const PATIENCE: Duration = Duration::from_secs(30);

/// A holder of this test process on the database's claims, without a keeper thread.
fn observer(storage: &Arc<PostgresStorage>) -> Claims {
    let options = ClaimsOptions { heartbeat_interval: None, ..ClaimsOptions::default() };
    let store = PostgresClaims::open(storage, Provider::Anthropic, &options).unwrap();
    Claims::builder_with_store(Arc::new(store), options, Arc::new(SystemClock)).build()
}

/// The accounts `pid` holds in `snapshot`.
fn held_by(snapshot: &ClaimsSnapshot, pid: u32) -> Vec<String> {
    let mut held: Vec<String> =
        snapshot.live().filter(|claim| claim.pid == pid).map(|c| c.account.clone()).collect();
    held.sort();
    held
}

/// Waits until `pid`'s claims, as `observer` sees them now, satisfy `done`; returns them.
fn wait_for_claims(observer: &Claims, pid: u32, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let held = held_by(&observer.snapshot().unwrap(), pid);
        if done(&held) {
            return held;
        }
        assert!(
            Instant::now() < deadline,
            "process {pid}'s claims never became as expected: {:?}",
            observer.snapshot()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Clients sending requests to `url` until it stops answering or `stop` is set; each answer's
/// status is reported on `done`.
fn load(
    http: &reqwest::Client,
    url: &str,
    clients: usize,
    done: &tokio::sync::mpsc::UnboundedSender<(String, u16)>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..clients)
        .map(|_| {
            let (http, url, done) = (http.clone(), url.to_owned(), done.clone());
            tokio::spawn(async move {
                loop {
                    let Ok(answer) = http
                        .post(format!("{url}/v1/messages"))
                        .body(messages_body(false))
                        .send()
                        .await
                    else {
                        return;
                    };
                    let status = answer.status().as_u16();
                    if answer.bytes().await.is_err() || done.send((url.clone(), status)).is_err() {
                        return;
                    }
                }
            })
        })
        .collect()
}

/// Every `seeded` account is in `store`, enabled, with the refresh token `fake` knows now.
fn assert_nothing_lost(store: &AccountStore, fake: &FakeProvider, seeded: &[SeededAccount]) {
    let document = store.load().unwrap();
    assert_eq!(document.accounts.len(), seeded.len());
    for account in seeded {
        let stored = document
            .accounts
            .iter()
            .find(|stored| stored.uuid.as_deref() == Some(account.uuid.as_str()))
            .unwrap_or_else(|| panic!("{}: account lost", account.label));
        assert!(stored.enabled, "{}: disabled", account.label);
        assert_eq!(
            Some(stored.refresh_token.expose().to_owned()),
            fake.current_refresh_token(&account.refresh),
            "{}: the stored refresh token is not the provider's current one",
            account.label
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_gateways_claims_go_at_once_and_the_other_gateway_carries_on() {
    let Some(database) = TestDatabase::create("claims_sigkill") else { return };
    let fake = FakeProvider::start().await.unwrap();
    let storage = {
        let url = database.url().clone();
        tokio::task::spawn_blocking(move || {
            PostgresStorage::connect(&url, &mac_postgres::PostgresOptions::default())
        })
        .await
        .unwrap()
        .unwrap()
    };
    let store = storage.account_store(Provider::Anthropic, StoreOptions::default());
    let seeded: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|label| {
            fake.seed_account(&store, Provider::Anthropic, label, Duration::from_secs(3600))
                .unwrap()
        })
        .collect();

    // Both start before any load, each with a data directory of its own.
    let (_killed_dir, mut killed) = serve_on_postgres(&database, &fake, "killed");
    let (_survivor_dir, mut survivor) = serve_on_postgres(&database, &fake, "survivor");
    let (killed_pid, survivor_pid) = (killed.pid(), survivor.pid());

    // Load on the first gateway alone until another process sees its claims: two gateways
    // serving at once may both pick one account, and a claim names one holder (the last to
    // take it over), so which of them shows is a race until the first holds its accounts.
    let http = reqwest::Client::new();
    let (done, mut answers) = tokio::sync::mpsc::unbounded_channel();
    let mut killed_load = load(&http, &killed.url, 4, &done);
    for _ in 0..20 {
        let (_, status) = answers.recv().await.unwrap();
        assert_eq!(status, 200);
    }

    // Another process (this one, with no data directory at all) sees the first gateway's
    // claims, made under the load.
    let observing = {
        let storage = Arc::clone(&storage);
        tokio::task::spawn_blocking(move || {
            let watch = observer(&storage);
            let held = wait_for_claims(&watch, killed_pid, |held| !held.is_empty());
            let claim = watch.snapshot().unwrap().get(&held[0]).unwrap().clone();
            assert_eq!(claim.host, mac_claims::host_name(), "the holder names its host");
            assert!(!claim.mine);
            (watch, held, claim.heartbeat_at)
        })
    };
    let (watch, held, last_heartbeat) = observing.await.unwrap();

    // Now both serve.
    let survivor_load = load(&http, &survivor.url, 4, &done);
    let mut served = 0;
    while served < 20 {
        let (url, status) = answers.recv().await.unwrap();
        assert_eq!(status, 200);
        if url == survivor.url {
            served += 1;
        }
    }

    // SIGKILL the first gateway while it holds claims and serves.
    killed.signal(Signal::KILL);
    for task in killed_load.drain(..) {
        task.await.unwrap();
    }
    drop(killed);

    // Its claims go at once — while their heartbeat lease still runs (its last heartbeat was
    // at `last_heartbeat` or later): the observer found its session gone. The survivor holds
    // claims, its own or taken over.
    let watch = tokio::task::spawn_blocking(move || {
        wait_for_claims(&watch, killed_pid, <[String]>::is_empty);
        let lease_end = last_heartbeat.saturating_add(ClaimsOptions::default().expiry);
        assert!(
            EpochMs::now() < lease_end,
            "the killed gateway's claims {held:?} went only when their lease ran out"
        );
        wait_for_claims(&watch, survivor_pid, |held| !held.is_empty());
        watch
    })
    .await
    .unwrap();

    // The survivor carries on serving, every answer a success.
    let mut after = 0;
    while after < 40 {
        let (url, status) = answers.recv().await.unwrap();
        if url == survivor.url {
            assert_eq!(status, 200, "the survivor failed a request after the kill");
            after += 1;
        }
    }
    drop(done);
    drop(survivor);
    for task in survivor_load {
        task.await.unwrap();
    }

    // Nothing lost: every account is there, enabled, with a refresh token the provider knows.
    let store = tokio::task::spawn_blocking(move || {
        assert_nothing_lost(&store, &fake, &seeded);
        store
    })
    .await
    .unwrap();
    tokio::task::spawn_blocking(move || {
        drop(watch);
        drop(store);
        drop(storage);
    })
    .await
    .unwrap();
}

/// Polls `watcher`'s fresh snapshot (a failed one — a session being reopened — counts as not
/// yet) until `done` holds.
fn wait_until(watcher: &Claims, what: &str, done: impl Fn(&ClaimsSnapshot) -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !watcher.snapshot().is_ok_and(|snapshot| done(&snapshot)) {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_holder_whose_session_is_cut_loses_its_claims_at_once_and_retakes_them() {
    let Some(database) = TestDatabase::create("claims_session_cut") else { return };
    let storage =
        PostgresStorage::connect(database.url(), &mac_postgres::PostgresOptions::default())
            .unwrap();
    let (holder, watcher) = (observer(&storage), observer(&storage));
    let _guard = holder.claim("acct").unwrap();
    assert!(watcher.snapshot().unwrap().is_claimed_by_other("acct"));

    // Every session of the database ends, as when connections are cut or the server restarts
    // them; the holder does nothing until its next heartbeat.
    database
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .unwrap();
    wait_until(&watcher, "the cut holder's claim went", |seen| !seen.is_claimed_by_other("acct"));

    // Its next heartbeat opens a new session and takes the claim again.
    let deadline = Instant::now() + PATIENCE;
    while holder.renew_held().is_err() {
        assert!(Instant::now() < deadline, "the holder never renewed on a new session");
        std::thread::sleep(Duration::from_millis(20));
    }
    wait_until(&watcher, "the holder's claim came back", |seen| seen.is_claimed_by_other("acct"));
}
