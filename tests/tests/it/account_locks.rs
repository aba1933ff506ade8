//! The account-locks conformance suite (`mac_storage::conformance::account_locks`) with real
//! holder processes (`storage-worker hold-lock`): the lock files of one host, and PostgreSQL's
//! advisory locks (a database of the test's own; skipped without a server unless
//! `MAC_REQUIRE_POSTGRES=1`). Plus what only the database lock must show: two storages (two
//! hosts' worth of connections) exclude each other, and its name never holds the password.

use std::process::{Child, Stdio};
use std::time::Duration;

use mac_postgres::testing::TestDatabase;
use mac_postgres::{PostgresOptions, PostgresStorage};
use mac_storage::conformance::account_locks::run_all;
use mac_storage::{AccountLocks, FileAccountLocks, Provider, Secret};
use mac_test_support::TempDataDir;

use crate::storage_worker;

fn spawn_holder(args: &[&str], url: Option<&str>) -> std::io::Result<Child> {
    let mut command = storage_worker();
    command.arg("hold-lock").args(args).stdin(Stdio::null()).stdout(Stdio::piped());
    if let Some(url) = url {
        command.arg("--postgres").env("MAC_STORAGE_URL", url);
    }
    command.spawn()
}

#[test]
fn file_account_locks_pass_the_conformance_suite() {
    let dir = TempDataDir::new().unwrap();
    let file = dir.accounts_file(Provider::Anthropic);
    let locks = FileAccountLocks::beside(&file);
    let shown = file.display().to_string();
    run_all(&locks, &|account| spawn_holder(&[&shown, account], None)).unwrap();
}

#[test]
fn postgres_account_locks_pass_the_conformance_suite() {
    let Some(database) = TestDatabase::create("account_locks") else { return };
    let locks = database.storage("mac").unwrap().account_locks(Provider::Anthropic);
    let url = database.url().expose().to_owned();
    run_all(&locks, &|account| spawn_holder(&["mac", account], Some(&url))).unwrap();
}

#[test]
fn postgres_locks_of_two_storages_exclude_each_other_per_schema_and_provider() {
    let Some(database) = TestDatabase::create("account_locks_hosts") else { return };
    let first = database.storage("mac").unwrap().account_locks(Provider::Anthropic);
    let second = database.storage("mac").unwrap().account_locks(Provider::Anthropic);
    let held = first.try_lock("a").unwrap().unwrap();
    assert!(second.try_lock("a").unwrap().is_none(), "another storage must not take it");
    let codex = database.storage("mac").unwrap().account_locks(Provider::Codex);
    assert!(codex.try_lock("a").unwrap().is_some(), "providers do not share locks");
    let other_schema = database.storage("mac2").unwrap().account_locks(Provider::Anthropic);
    assert!(other_schema.try_lock("a").unwrap().is_some(), "schemas do not share locks");
    drop(held);
    second.lock("a", Duration::from_secs(30)).unwrap();
}

#[test]
fn a_postgres_lock_is_named_by_server_schema_and_account_never_the_password() {
    let Some(database) = TestDatabase::create("account_locks_name") else { return };
    // The test server trusts its clients, so a password in the URL is accepted and ignored.
    let url = database.url().expose().replacen("://postgres@", "://postgres:lock-pw-42@", 1);
    assert!(url.contains("lock-pw-42"), "{url}");
    let storage = PostgresStorage::connect(&Secret::new(url), &PostgresOptions::default()).unwrap();
    let locks = storage.account_locks(Provider::Codex);
    let name = locks.describe("3f1c").display().to_string();
    let server = storage.target().server().to_owned();
    assert_eq!(name, format!("{server} (schema mac) codex refresh lock 3f1c"));
    let held = locks.try_lock("3f1c").unwrap().unwrap();
    let err = locks.lock("3f1c", Duration::from_millis(100)).unwrap_err();
    let shown = format!("{err} {err:?} {held:?} {locks:?}");
    assert!(err.to_string().contains(&name), "{err}");
    assert!(!shown.contains("lock-pw-42"), "{shown}");
}
