//! The database restarted under load: a pool on a PostgreSQL server of the test's own
//! (`PrivateCluster`, never the shared server other tests use) serves two request loops
//! through the loopback fake while the server is restarted (`pg_ctl restart -m fast`) and
//! then stopped for a few seconds and started again. Tokens are revoked at the fake in each
//! phase, so the pool must rotate them (refresh, compare-and-swap write) on a server that just
//! came back, and try to while it is down.
//!
//! What must hold: during the outage a request succeeds (from the cached view and
//! credentials), waits, or fails with an error naming PostgreSQL; once the server is back,
//! every request succeeds again without a new pool; no account is lost or disabled and the
//! stored refresh tokens are the ones the provider considers current (no rotated token lost).
//! No timing is asserted: phases are ordered by the test, and recovery is polled with a
//! generous deadline. Skips without server binaries unless `MAC_REQUIRE_POSTGRES=1`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mac_adapters::{AdapterClient, ProviderDescriptor};
use mac_core::http_response;
use mac_executor::{AttemptResponse, Pool, PoolConfig, RequestInfo, Strategy};
use mac_postgres::testing::PrivateCluster;
use mac_postgres::{PostgresOptions, PostgresStorage};
use mac_storage::AccountsDocument;
use mac_storage::{Credentials, EpochMs, NewAccount, Provider, Secret, StoreOptions};
use mac_test_support::{FakeGrant, FakeProvider, TempDataDir};

const BODY: &str =
    r#"{"model":"claude","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}"#;

/// The longest wait for the pool to serve again after the server is back.
const DEADLINE: Duration = Duration::from_secs(90);

/// Where the test is; each request's outcome is recorded under the phase it started in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Up,
    Restarted,
    Down,
    Recovering,
    After,
}

const PHASES: [Phase; 5] =
    [Phase::Up, Phase::Restarted, Phase::Down, Phase::Recovering, Phase::After];

struct Outcome {
    phase: Phase,
    /// `None`: served; `Some`: the error's message.
    error: Option<String>,
}

/// Revokes every access token the fake has issued, so the next request of each account
/// answers 401 and the pool refreshes it.
fn revoke_issued(fake: &FakeProvider) {
    for token in fake.issued_access_tokens() {
        fake.revoke_access_token(&token);
    }
}

fn storage_on(cluster: &PrivateCluster) -> Arc<PostgresStorage> {
    let options = PostgresOptions { schema: "restart".to_owned(), ..PostgresOptions::default() };
    PostgresStorage::connect(&cluster.url(), &options).unwrap()
}

/// Adds `originals.len()` accounts (refresh tokens only) to the fake and the store.
async fn seed(fake: &FakeProvider, store: &Arc<mac_storage::AccountStore>, originals: &[String]) {
    for (n, original) in originals.iter().enumerate() {
        let grant = FakeGrant {
            access_token_prefix: format!("r{n}-"),
            ..FakeGrant::anthropic(&format!("remote-{n}"), &format!("r{n}@x.io"))
        };
        fake.add_refresh_token(original, grant);
        let credentials = Credentials {
            refresh_token: Secret::new(original.clone()),
            access_token: None,
            expires_at: None,
        };
        let store = Arc::clone(store);
        tokio::task::spawn_blocking(move || {
            store.add_account(&NewAccount::from_credentials(credentials), EpochMs::now())
        })
        .await
        .unwrap()
        .unwrap();
    }
}

/// Request loops recording every outcome under the phase it started in.
struct Load {
    phase: Arc<Mutex<Phase>>,
    stop: Arc<AtomicBool>,
    outcomes: Arc<Mutex<Vec<Outcome>>>,
    served_in_a_row: Arc<AtomicUsize>,
    loops: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(pool: &Pool, url: &str, loops: usize) -> Self {
        let load = Self {
            phase: Arc::new(Mutex::new(Phase::Up)),
            stop: Arc::new(AtomicBool::new(false)),
            outcomes: Arc::new(Mutex::new(Vec::new())),
            served_in_a_row: Arc::new(AtomicUsize::new(0)),
            loops: Vec::new(),
        };
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let loops = (0..loops)
            .map(|_| {
                let (pool, phase, stop, outcomes, in_a_row, http, url) = (
                    pool.clone(),
                    Arc::clone(&load.phase),
                    Arc::clone(&load.stop),
                    Arc::clone(&load.outcomes),
                    Arc::clone(&load.served_in_a_row),
                    http.clone(),
                    url.to_owned(),
                );
                tokio::spawn(async move {
                    while !stop.load(Ordering::SeqCst) {
                        let started_in = *phase.lock().unwrap();
                        let result = pool
                            .execute(&RequestInfo::default(), |attempt| {
                                http_response::send(
                                    http.post(&url)
                                        .bearer_auth(attempt.access_token.expose())
                                        .body(BODY),
                                )
                            })
                            .await;
                        let error = match result {
                            Ok(done) if done.response.status() == 200 => None,
                            Ok(done) => Some(format!("answered {}", done.response.status())),
                            Err(err) => Some(err.to_string()),
                        };
                        if error.is_some() {
                            in_a_row.store(0, Ordering::SeqCst);
                            // A failed request is not retried at once in a tight loop.
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        } else {
                            in_a_row.fetch_add(1, Ordering::SeqCst);
                        }
                        outcomes.lock().unwrap().push(Outcome { phase: started_in, error });
                    }
                })
            })
            .collect();
        Self { loops, ..load }
    }

    fn enter(&self, phase: Phase) {
        *self.phase.lock().unwrap() = phase;
    }

    /// Waits until `count` requests in a row were served.
    async fn served_again(&self, count: usize) {
        self.served_in_a_row.store(0, Ordering::SeqCst);
        let back = Instant::now();
        while self.served_in_a_row.load(Ordering::SeqCst) < count {
            assert!(back.elapsed() < DEADLINE, "the pool did not serve again after the restart");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn stop(self) -> Vec<Outcome> {
        self.stop.store(true, Ordering::SeqCst);
        for task in self.loops {
            task.await.unwrap();
        }
        std::mem::take(&mut *self.outcomes.lock().unwrap())
    }
}

/// Requests and failures per phase, and the distinct failures.
fn summary(outcomes: &[Outcome]) -> String {
    let mut report = String::new();
    for phase in PHASES {
        let of: Vec<&Outcome> = outcomes.iter().filter(|o| o.phase == phase).collect();
        let failed = of.iter().filter(|o| o.error.is_some()).count();
        let _ = write!(report, "{phase:?}: {} requests, {failed} failed; ", of.len());
    }
    let mut kinds: Vec<&str> = outcomes.iter().filter_map(|o| o.error.as_deref()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let _ = write!(report, "failures: {kinds:#?}");
    report
}

/// Runs `work` on the cluster off the runtime's workers.
async fn control(cluster: &Arc<PrivateCluster>, work: fn(&PrivateCluster) -> Result<(), String>) {
    let cluster = Arc::clone(cluster);
    tokio::task::spawn_blocking(move || work(&cluster)).await.unwrap().unwrap();
}

/// The document as a new storage reads it (as another process would).
async fn read_back(cluster: &Arc<PrivateCluster>) -> Arc<AccountsDocument> {
    let cluster = Arc::clone(cluster);
    tokio::task::spawn_blocking(move || {
        storage_on(&cluster)
            .account_store(Provider::Anthropic, StoreOptions::default())
            .load()
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restarted_under_load_fails_clearly_and_recovers_without_a_restart_of_mac() {
    let Some(cluster) = PrivateCluster::start("restart") else { return };
    let cluster = Arc::new(cluster);
    let fake = FakeProvider::start().await.unwrap();
    let options = StoreOptions { lock_timeout: Duration::from_secs(3), ..StoreOptions::default() };
    let storage = {
        let cluster = Arc::clone(&cluster);
        tokio::task::spawn_blocking(move || storage_on(&cluster)).await.unwrap()
    };
    let store = Arc::new(storage.account_store(Provider::Anthropic, options));
    let originals: Vec<String> = (0..2).map(|n| format!("r{n}-refresh")).collect();
    seed(&fake, &store, &originals).await;
    let dir = TempDataDir::new().unwrap();
    let descriptor = ProviderDescriptor::anthropic().with_origin(&fake.origin()).unwrap();
    let client = AdapterClient::builder(descriptor).no_proxy().build().unwrap();
    // Round-robin: both accounts serve, so both are rotated in every phase.
    let config = PoolConfig { strategy: Strategy::RoundRobin, ..PoolConfig::default() };
    let pool = Pool::builder(Arc::clone(&store), client)
        .config(config)
        .local_files(dir.accounts_file(Provider::Anthropic))
        .build();
    let load = Load::start(&pool, &fake.url("/v1/messages"), 2);

    // Up: served, and a rotation of every token while the server runs.
    tokio::time::sleep(Duration::from_millis(500)).await;
    revoke_issued(&fake);
    tokio::time::sleep(Duration::from_millis(700)).await;

    // A fast restart ends every session (the pool's connections and the listener's); the
    // tokens are revoked again so that rotations are written right after it.
    control(&cluster, PrivateCluster::restart_fast).await;
    load.enter(Phase::Restarted);
    revoke_issued(&fake);
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Down for some seconds, with the tokens revoked in the middle of it.
    control(&cluster, PrivateCluster::stop_fast).await;
    load.enter(Phase::Down);
    tokio::time::sleep(Duration::from_secs(1)).await;
    revoke_issued(&fake);
    tokio::time::sleep(Duration::from_secs(3)).await;
    control(&cluster, PrivateCluster::start_server).await;
    load.enter(Phase::Recovering);

    // Back: the same pool on the same storage serves again by itself.
    load.served_again(50).await;
    // The change listener is back too (requests are cheap again, not a read each).
    let back = Instant::now();
    while !storage.is_listening() {
        assert!(back.elapsed() < DEADLINE, "the change listener did not reconnect");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    load.enter(Phase::After);
    revoke_issued(&fake);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let outcomes = load.stop().await;
    pool.settle().await;
    pool.shutdown().await;

    let report = summary(&outcomes);
    eprintln!("{report}");
    for outcome in &outcomes {
        if let Some(error) = &outcome.error {
            assert!(
                error.contains("PostgreSQL"),
                "a failure in phase {:?} does not name PostgreSQL: {error}",
                outcome.phase
            );
        }
    }
    let after: Vec<&Outcome> = outcomes.iter().filter(|o| o.phase == Phase::After).collect();
    assert!(!after.is_empty(), "{report}");
    assert!(after.iter().all(|o| o.error.is_none()), "every request succeeds again: {report}");
    assert!(outcomes.iter().any(|o| o.phase == Phase::Down), "requests ran in the outage");

    // Nothing lost: every account, enabled, holding the provider's current refresh token.
    let document = read_back(&cluster).await;
    assert_eq!(document.accounts.len(), originals.len(), "no account lost");
    for (account, original) in document.accounts.iter().zip(&originals) {
        assert!(!account.is_auth_disabled, "no account disabled: {report}");
        let current = fake.current_refresh_token(original).unwrap();
        assert_ne!(&current, original, "the account's token was rotated");
        assert_eq!(
            account.refresh_token.expose(),
            current,
            "the stored refresh token is the provider's current one"
        );
    }
    drop(storage);
}
