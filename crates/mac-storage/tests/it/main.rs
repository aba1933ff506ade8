//! Integration tests of `mac-storage` against real files (one test binary, modules by area).

#![allow(
    clippy::disallowed_methods,
    reason = "tests write fixture files directly and read their harness's environment"
)]
// Test code: a failed unwrap is a failed assertion, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bad_input;
mod calendar;
mod change_detection;
mod coarse_stamps;
mod conformance;
mod faults;
mod model;
mod permissions;
mod secrets;

use std::path::{Path, PathBuf};
use std::time::Duration;

use mac_storage::{AccountStore, Credentials, EpochMs, NewAccount, Secret, StoreOptions};

/// A temp folder with a store on `accounts.json` inside it.
pub(crate) struct Fixture {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) store: AccountStore,
}

impl Fixture {
    pub(crate) fn new() -> Self {
        Self::with_options(StoreOptions::default())
    }

    pub(crate) fn with_options(options: StoreOptions) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = AccountStore::at_path(dir.path().join("accounts.json"), options);
        Self { dir, store }
    }

    pub(crate) fn path(&self) -> &Path {
        self.store.path()
    }

    /// Another store on the same file, as another process would have.
    pub(crate) fn other_store(&self) -> AccountStore {
        AccountStore::at_path(
            self.path(),
            StoreOptions { lock_timeout: Duration::from_secs(5), ..StoreOptions::default() },
        )
    }

    /// Every file name in the folder, sorted.
    pub(crate) fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    pub(crate) fn backups(&self) -> Vec<PathBuf> {
        self.files()
            .into_iter()
            .filter(|n| n.starts_with("accounts.json.corrupt.") && n.ends_with(".bak"))
            .map(|n| self.dir.path().join(n))
            .collect()
    }
}

pub(crate) fn creds(refresh: &str) -> Credentials {
    Credentials {
        refresh_token: Secret::new(refresh),
        access_token: Some(Secret::new(format!("access-of-{refresh}"))),
        expires_at: Some(EpochMs::from_millis(1_900_000_000_000)),
    }
}

pub(crate) fn new_account(refresh: &str) -> NewAccount {
    NewAccount::from_credentials(creds(refresh))
}

pub(crate) fn at(ms: i64) -> EpochMs {
    EpochMs::from_millis(ms)
}

/// Adds an account and returns its uuid.
pub(crate) fn add(store: &AccountStore, new: &NewAccount) -> String {
    match store.add_account(new, at(1_000)).unwrap() {
        mac_storage::AddOutcome::Added { uuid } | mac_storage::AddOutcome::Updated { uuid, .. } => {
            uuid
        }
    }
}

/// The store and its backends can be shared with blocking tasks of an async runtime: `Send`,
/// `Sync` and `'static` behind an `Arc`.
#[test]
fn stores_are_shareable_across_threads() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<AccountStore>();
    shareable::<std::sync::Arc<dyn mac_storage::AccountsBackend>>();
    shareable::<mac_storage::file::FileBackend>();
}
