//! TLS to PostgreSQL, against real servers of the tests' own (`PrivateCluster`): one started
//! with `ssl = on`, a certificate signed by a CA made by the test, and a `pg_hba.conf` that
//! admits TCP connections over TLS only — so every connection that works there used TLS —
//! and one without TLS.
//!
//! What must hold: `verify-full` with `sslrootcert` carries the whole storage (store writes
//! and reads, the `LISTEN` connection, a refresh lock, a claims session) and `verify-ca`
//! another storage on the same server; a plain connection is refused by that server; the
//! wrong CA fails with an error naming the URL (never the password), the sslmode and
//! `sslrootcert=`; a host name the certificate does not hold fails `verify-full` with a hint
//! and passes `verify-ca`; a SCRAM password login works over verified TLS (no channel binding); `require` against a server without TLS fails naming the sslmode; `prefer`
//! (the default) falls back to plain on such a server. Skips without server binaries unless
//! `MAC_REQUIRE_POSTGRES=1`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mac_claims::ClaimsOptions;
use mac_postgres::testing::PrivateCluster;
use mac_postgres::{PostgresClaims, PostgresError, PostgresOptions, PostgresStorage};
use mac_storage::{AccountLocks, Credentials, EpochMs, NewAccount, Provider, Secret, StoreOptions};

/// The longest wait for a notification to arrive (a shared, loaded machine).
const DEADLINE: Duration = Duration::from_secs(60);

const PASSWORD: &str = "hunter2-pw";

/// The cluster's URL with a password (which trust auth ignores, and no message may show)
/// and `query`.
fn url(cluster: &PrivateCluster, query: &str) -> Secret {
    Secret::new(format!(
        "postgres://postgres:{PASSWORD}@127.0.0.1:{}/postgres?{query}",
        cluster.port()
    ))
}

fn connect(url: &Secret) -> Result<Arc<PostgresStorage>, PostgresError> {
    let options = PostgresOptions { schema: "tls".to_owned(), ..PostgresOptions::default() };
    PostgresStorage::connect(url, &options)
}

fn new_account(refresh: &str) -> NewAccount {
    NewAccount::from_credentials(Credentials {
        refresh_token: Secret::new(refresh.to_owned()),
        access_token: None,
        expires_at: None,
    })
}

fn ca_query(mode: &str, ca: &std::path::Path) -> String {
    format!("sslmode={mode}&sslrootcert={}", ca.display())
}

#[test]
fn verify_full_carries_the_store_listen_locks_and_claims_over_tls() {
    let Some(cluster) = PrivateCluster::start_with_tls("tls_verify_full") else { return };
    let ca = cluster.certificates().unwrap().ca.clone();
    let storage = connect(&url(&cluster, &ca_query("verify-full", &ca))).unwrap();
    let store = storage.account_store(Provider::Anthropic, StoreOptions::default());
    store.add_account(&new_account("first-refresh"), EpochMs::now()).unwrap();
    assert_eq!(store.load().unwrap().accounts.len(), 1);
    // Starts the change listener (its own connection).
    assert_eq!(store.refresh_cached().unwrap().accounts.len(), 1);

    // Another storage (as another host would), verifying the CA only.
    let other = connect(&url(&cluster, &ca_query("verify-ca", &ca))).unwrap();
    let other_store = other.account_store(Provider::Anthropic, StoreOptions::default());
    other_store.add_account(&new_account("second-refresh"), EpochMs::now()).unwrap();

    // The first storage learns of it by a notification on its TLS listening connection.
    let started = Instant::now();
    while storage.notifications_received() == 0 {
        assert!(started.elapsed() < DEADLINE, "no notification arrived over TLS");
        std::thread::sleep(Duration::from_millis(50));
        let _ = store.refresh_cached().unwrap();
    }
    assert!(storage.is_listening());
    assert_eq!(store.refresh_cached().unwrap().accounts.len(), 2);

    // A refresh lock and a claims session: connections of their own, over TLS too.
    let locks = storage.account_locks(Provider::Anthropic);
    let guard = locks.lock("some-account", Duration::from_secs(10)).unwrap();
    assert!(other.account_locks(Provider::Anthropic).try_lock("some-account").unwrap().is_none());
    drop(guard);
    PostgresClaims::open(&storage, Provider::Anthropic, &ClaimsOptions::default()).unwrap();

    // The server admits TLS only: the same URL without TLS is refused.
    let err = connect(&url(&cluster, "sslmode=disable")).unwrap_err();
    let shown = err.to_string();
    assert!(matches!(err, PostgresError::Connect { .. }), "{shown}");
    assert!(shown.contains("no encryption"), "{shown}");
}

#[test]
fn verify_full_with_a_wrong_ca_fails_naming_the_url_sslmode_and_sslrootcert() {
    let Some(cluster) = PrivateCluster::start_with_tls("tls_wrong_ca") else { return };
    let other_ca = cluster.certificates().unwrap().other_ca.clone();
    for mode in ["verify-full", "verify-ca"] {
        let err = connect(&url(&cluster, &ca_query(mode, &other_ca))).unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(matches!(err, PostgresError::Tls { .. }), "{shown}");
        let server = format!("postgres://postgres@127.0.0.1:{}/postgres", cluster.port());
        assert!(shown.contains(&server), "{shown}");
        assert!(shown.contains(&format!("sslmode={mode}")), "{shown}");
        assert!(shown.contains("sslrootcert="), "{shown}");
        assert!(!shown.contains(PASSWORD), "{shown}");
    }
    // Without `sslrootcert`, verify-full trusts the system's CAs, which never signed the
    // test's certificate.
    let err = connect(&url(&cluster, "sslmode=verify-full")).unwrap_err();
    assert!(err.to_string().contains("sslrootcert="), "{err}");
}

#[test]
fn require_against_a_server_without_tls_fails_naming_the_url_and_sslmode() {
    let Some(cluster) = PrivateCluster::start("tls_require_plain") else { return };
    let err = connect(&url(&cluster, "sslmode=require")).unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(matches!(err, PostgresError::Tls { .. }), "{shown}");
    let server = format!("postgres://postgres@127.0.0.1:{}/postgres", cluster.port());
    assert!(shown.contains(&server), "{shown}");
    assert!(shown.contains("sslmode=require"), "{shown}");
    assert!(shown.contains("does not accept TLS"), "{shown}");
    assert!(!shown.contains(PASSWORD), "{shown}");
}

#[test]
fn prefer_the_default_falls_back_to_plain_on_a_server_without_tls() {
    let Some(cluster) = PrivateCluster::start("tls_prefer_plain") else { return };
    for query in ["", "sslmode=prefer"] {
        let storage = connect(&url(&cluster, query)).unwrap();
        let store = storage.account_store(Provider::Anthropic, StoreOptions::default());
        store.add_account(&new_account(&format!("refresh-{query}")), EpochMs::now()).unwrap();
        assert!(!store.load().unwrap().accounts.is_empty());
    }
}

#[test]
fn verify_ca_skips_the_host_name_that_verify_full_checks() {
    let Some(cluster) = PrivateCluster::start_with_tls("tls_host_name") else { return };
    let ca = cluster.certificates().unwrap().ca.clone();
    // The server reached at 127.0.0.1 under a name its certificate does not hold.
    let named = |mode: &str| {
        Secret::new(format!(
            "postgres://postgres:{PASSWORD}@not-in-the-certificate.test:{}/postgres?hostaddr=127.0.0.1&{}",
            cluster.port(),
            ca_query(mode, &ca)
        ))
    };
    let err = connect(&named("verify-full")).unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(matches!(err, PostgresError::Tls { .. }), "{shown}");
    assert!(shown.contains("does not name the URL's host"), "{shown}");
    assert!(shown.contains("sslmode=verify-ca"), "{shown}");
    assert!(!shown.contains(PASSWORD), "{shown}");
    let storage = connect(&named("verify-ca")).unwrap();
    let store = storage.account_store(Provider::Anthropic, StoreOptions::default());
    store.add_account(&new_account("named-refresh"), EpochMs::now()).unwrap();
    assert_eq!(store.load().unwrap().accounts.len(), 1);
}

#[test]
fn a_scram_password_login_works_over_verified_tls() {
    let Some(cluster) = PrivateCluster::start_with_tls("tls_scram") else { return };
    // The server offers SCRAM-SHA-256-PLUS over TLS; mac logs in with SCRAM-SHA-256 (no
    // channel binding), which must still be accepted.
    cluster
        .execute(
            "CREATE ROLE mac_scram LOGIN PASSWORD 'scram-secret-pw'; \
             GRANT CREATE ON DATABASE postgres TO mac_scram",
        )
        .unwrap();
    let ca = cluster.certificates().unwrap().ca.clone();
    let login = |password: &str| {
        Secret::new(format!(
            "postgres://mac_scram:{password}@127.0.0.1:{}/postgres?{}",
            cluster.port(),
            ca_query("verify-full", &ca)
        ))
    };
    let storage = connect(&login("scram-secret-pw")).unwrap();
    let store = storage.account_store(Provider::Anthropic, StoreOptions::default());
    store.add_account(&new_account("scram-refresh"), EpochMs::now()).unwrap();
    assert_eq!(store.load().unwrap().accounts.len(), 1);
    // A wrong password is refused by the server, and no message shows it.
    let err = connect(&login("wrong-secret-pw")).unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("28P01"), "{shown}");
    assert!(!shown.contains("secret-pw"), "{shown}");
}
