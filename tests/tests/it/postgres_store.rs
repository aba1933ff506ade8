//! The PostgreSQL accounts backend on a real server: the conformance suite unchanged, schema
//! migrations and their refusal of a newer schema, documents it must not overwrite, lock
//! timeouts, and the password kept out of every message. Each test has a database of its own;
//! without a server they skip (fail with `MAC_REQUIRE_POSTGRES=1`).

use std::sync::Arc;
use std::time::Duration;

use mac_postgres::testing::TestDatabase;
use mac_postgres::{PostgresError, PostgresOptions, PostgresStorage, SCHEMA_VERSION};
use mac_storage::{AccountStore, Provider, Secret, StoreError, StoreOptions};
use mac_tests::storage_work::{add_accounts, counter_sum, increment};

fn store(database: &TestDatabase, schema: &str, options: StoreOptions) -> AccountStore {
    database.storage(schema).unwrap().account_store(Provider::Anthropic, options)
}

#[test]
fn the_postgres_backend_passes_the_conformance_suite() {
    let Some(database) = TestDatabase::create("conformance") else { return };
    let database = Arc::new(database);
    let schemas = std::sync::atomic::AtomicU32::new(0);
    mac_storage::conformance::run_all(&|| {
        let schema =
            format!("check_{}", schemas.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let database = Arc::clone(&database);
        // Every handle has a storage of its own (its own connections and runtime), as another
        // process would.
        Box::new(move || store(&database, &schema, StoreOptions::default()))
    })
    .unwrap();
}

#[test]
fn processes_starting_together_migrate_once() {
    let Some(database) = TestDatabase::create("migrate_once") else { return };
    let versions: Vec<i32> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..6)
            .map(|_| scope.spawn(|| database.storage("mac").unwrap().schema_version()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(versions, vec![SCHEMA_VERSION; 6]);
    // One row per migration: a second run would have failed on its primary key.
    database
        .execute(&format!(
            "DO $$ BEGIN IF (SELECT count(*) FROM mac.schema_version) <> {SCHEMA_VERSION} \
             THEN RAISE EXCEPTION 'migrated more than once'; END IF; END $$"
        ))
        .unwrap();
}

#[test]
fn a_schema_newer_than_this_build_is_refused_clearly() {
    let Some(database) = TestDatabase::create("newer_schema") else { return };
    database.storage("mac").unwrap();
    database.execute("INSERT INTO mac.schema_version (version) VALUES (999)").unwrap();
    let err = database.storage("mac").unwrap_err();
    assert!(matches!(err, PostgresError::SchemaNewer { found: 999, .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("version 999, newer than this build's"), "{message}");
    assert!(message.contains("upgrade mac"), "{message}");
}

#[test]
fn unusable_and_newer_documents_are_never_overwritten() {
    let Some(database) = TestDatabase::create("refusals") else { return };
    let store = store(&database, "mac", StoreOptions::default());
    add_accounts(&store, "seed", 1).unwrap();

    database
        .execute(r#"UPDATE mac.accounts_documents SET body = '{"version": 1, "accounts": 5}'"#)
        .unwrap();
    let fresh = || super::postgres_store::store(&database, "mac", StoreOptions::default());
    assert!(matches!(fresh().load(), Err(StoreError::Invalid { .. })));
    let err = fresh().mutate(|_| Ok(())).unwrap_err();
    assert!(matches!(err, StoreError::Invalid { .. }), "{err:?}");
    assert!(err.to_string().contains("accounts"), "{err}");
    database
        .execute(
            "DO $$ BEGIN IF (SELECT body::text FROM mac.accounts_documents) \
             <> '{\"version\": 1, \"accounts\": 5}' THEN RAISE EXCEPTION 'overwritten'; \
             END IF; END $$",
        )
        .unwrap();

    database
        .execute(
            r#"UPDATE mac.accounts_documents SET body = '{"version": 99, "accounts": [], "later": true}'"#,
        )
        .unwrap();
    let newer = fresh();
    assert_eq!(newer.load().unwrap().version, 99, "a newer document is read");
    let err = newer.mutate(|document| {
        document.extra.insert("x".into(), 1.into());
        Ok(())
    });
    assert!(matches!(err, Err(StoreError::NewerVersion { found: 99, .. })), "{err:?}");
    assert_eq!(fresh().load().unwrap().extra.get("x"), None);
}

#[test]
fn an_unchanged_document_is_neither_sent_nor_parsed_again() {
    let Some(database) = TestDatabase::create("cheap_reads") else { return };
    let store = store(&database, "mac", StoreOptions::default());
    let uuids = add_accounts(&store, "seed", 3).unwrap();
    let reader = super::postgres_store::store(&database, "mac", StoreOptions::default());
    let first = reader.load().unwrap();
    let second = reader.load().unwrap();
    assert!(Arc::ptr_eq(&first, &second));
    assert_eq!(reader.parse_count(), 1);
    increment(&store, &uuids[0]).unwrap();
    let third = reader.load().unwrap();
    assert_eq!(third.generation, first.generation + 1);
    assert_eq!(reader.parse_count(), 2);
}

/// One handle shared by readers and writers on several threads (as the pool shares it): a
/// read that names the cached version while another thread commits a newer one must still get
/// a document. Before the fix it failed with "a commit without a document" (the reader took
/// the document from the cache after the writer had replaced it), and a late answer could
/// put an older version back in the cache.
#[test]
fn reads_racing_commits_on_one_handle_always_get_a_document() {
    let Some(database) = TestDatabase::create("read_commit_race") else { return };
    let store = Arc::new(store(&database, "mac", StoreOptions::default()));
    let uuids = add_accounts(&store, "seed", 2).unwrap();
    let total: u64 = 300;
    let writer = {
        let (store, uuid) = (Arc::clone(&store), uuids[0].clone());
        std::thread::spawn(move || {
            for _ in 0..total {
                increment(&store, &uuid).unwrap();
            }
        })
    };
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                let mut reads = 0_u64;
                let mut last = 0;
                loop {
                    let document = store.load().unwrap();
                    reads += 1;
                    assert!(document.generation >= last, "a read went back in time");
                    last = document.generation;
                    assert!(
                        store.cached().is_none_or(|cached| cached.generation >= last),
                        "the cache holds an older version than a read returned"
                    );
                    if counter_sum(&document) == total {
                        return reads;
                    }
                }
            })
        })
        .collect();
    writer.join().unwrap();
    for reader in readers {
        assert!(reader.join().unwrap() > 0);
    }
}

#[test]
fn a_change_waiting_longer_than_the_lock_timeout_fails_as_a_lock_timeout() {
    let Some(database) = TestDatabase::create("lock_timeout") else { return };
    let holder = store(&database, "mac", StoreOptions::default());
    let uuids = add_accounts(&holder, "seed", 1).unwrap();
    let short =
        StoreOptions { lock_timeout: Duration::from_millis(300), ..StoreOptions::default() };
    let waiter = super::postgres_store::store(&database, "mac", short);
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            holder
                .mutate(|_| {
                    let _ = locked_tx.send(());
                    std::thread::sleep(Duration::from_millis(1500));
                    Ok(())
                })
                .unwrap();
        });
        locked_rx.recv().unwrap();
        let err = increment(&waiter, &uuids[0]).unwrap_err();
        assert!(err.is_lock_timeout(), "{err:?}");
        assert!(err.to_string().contains("anthropic accounts"), "{err}");
    });
    increment(&waiter, &uuids[0]).unwrap();
}

#[test]
fn the_password_appears_in_no_message() {
    const PASSWORD: &str = "hunter2-pg-password";
    let Some(database) = TestDatabase::create("password") else { return };
    // Trust authentication accepts any password: the storage works with one in its URL.
    let url =
        database.url().expose().replacen("://postgres@", &format!("://postgres:{PASSWORD}@"), 1);
    assert!(url.contains(PASSWORD), "the test URL has the form postgres://postgres@…");
    let storage =
        PostgresStorage::connect(&Secret::new(&url), &PostgresOptions::default()).unwrap();
    let store = storage.account_store(Provider::Codex, StoreOptions::default());
    add_accounts(&store, "seed", 1).unwrap();
    let unknown = increment(&store, "no-such-account").unwrap_err();
    database.execute("INSERT INTO mac.schema_version (version) VALUES (999)").unwrap();
    let newer =
        PostgresStorage::connect(&Secret::new(&url), &PostgresOptions::default()).unwrap_err();
    let unreachable = PostgresStorage::connect(
        &Secret::new(format!("postgres://postgres:{PASSWORD}@127.0.0.1:9/test")),
        &PostgresOptions { connect_timeout: Duration::from_secs(2), ..PostgresOptions::default() },
    )
    .unwrap_err();
    assert!(matches!(unreachable, PostgresError::Connect { .. }), "{unreachable:?}");
    let shown = [
        format!("{storage:?}"),
        format!("{store:?}"),
        format!("{} {:?}", store.path().display(), store.backend()),
        format!("{unknown} {unknown:?}"),
        format!("{newer} {newer:?}"),
        format!("{unreachable} {unreachable:?}"),
    ];
    for text in shown {
        assert!(!text.contains(PASSWORD), "the password leaked: {text}");
        assert!(!text.contains("hunter2"), "part of the password leaked: {text}");
    }
}

/// The connection of a transaction is killed by the server while the closure runs (as when
/// the server restarts or an administrator ends the session): nothing was committed, so the
/// store runs the transaction again on a new connection, and the change lands exactly once.
#[test]
fn a_transaction_whose_connection_dies_before_the_commit_runs_again_once() {
    let Some(database) = TestDatabase::create("killed_connection") else { return };
    let store = store(&database, "mac", StoreOptions::default());
    let uuids = add_accounts(&store, "seed", 1).unwrap();
    let mut runs = 0;
    store
        .mutate(|document| {
            runs += 1;
            if runs == 1 {
                database
                    .execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                         WHERE application_name = 'mac' AND state = 'idle in transaction'",
                    )
                    .unwrap();
            }
            let account = store.account_mut(document, &uuids[0])?;
            let next =
                account.extra.get("runs").and_then(serde_json::Value::as_u64).unwrap_or(0) + 1;
            account.extra.insert("runs".into(), next.into());
            Ok(())
        })
        .unwrap();
    assert_eq!(runs, 2, "the closure ran again after the connection died");
    let document =
        super::postgres_store::store(&database, "mac", StoreOptions::default()).load().unwrap();
    assert_eq!(document.account(&uuids[0]).unwrap().extra["runs"], 1, "applied exactly once");
}

/// The answer to `COMMIT` does not come in time (a server slow to flush, a network stall), but
/// the server goes on and commits. Finding out whether it was applied must wait for that
/// commit to finish. Before the fix the lost-commit check read the row without waiting for its
/// lock, saw the old version, and reported "the commit was not applied" for a change that then
/// landed (a caller retrying by hand would apply it twice). The commit is made slow once by a
/// deferred trigger.
#[test]
fn a_commit_whose_answer_is_late_is_applied_exactly_once() {
    let Some(database) = TestDatabase::create("late_commit") else { return };
    // A one-second lock timeout: the client stops waiting for the answer to COMMIT after
    // about six seconds (the lock timeout plus the store's answer grace).
    let options = StoreOptions { lock_timeout: Duration::from_secs(1), ..StoreOptions::default() };
    let store = store(&database, "mac", options);
    let uuids = add_accounts(&store, "seed", 1).unwrap();
    database
        .execute(
            "CREATE SEQUENCE public.commits_seen; \
             CREATE FUNCTION public.slow_first_commit() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN IF nextval('public.commits_seen') = 1 THEN PERFORM pg_sleep(9); END IF; \
             RETURN NULL; END $$; \
             CREATE CONSTRAINT TRIGGER slow_first_commit AFTER UPDATE ON mac.accounts_documents \
             DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION public.slow_first_commit()",
        )
        .unwrap();
    let outcome = increment(&store, &uuids[0]);
    let document = store.load().unwrap();
    assert_eq!(
        counter_sum(&document),
        1,
        "the change was applied {} times",
        counter_sum(&document)
    );
    outcome.unwrap();
}
