//! The storage work that child processes do in multi-process tests and benchmarks, and the
//! checks run on its results. Workers and checkers share these functions so both sides agree on
//! what a document written by the workload looks like.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use mac_postgres::{PostgresAccountLocks, PostgresOptions, PostgresStorage};
use mac_storage::file::{FileBackend, FileStamp, StampSource};
use mac_storage::{
    AccountStore, AccountsDocument, Credentials, EpochMs, NewAccount, Secret, StoreError,
    StoreOptions,
};
use serde_json::Value;

/// A simulated file system with whole-second modification times that reuses one inode for
/// every version: two versions of one size written within a second get identical stamps, as
/// on ext2/3, HFS+ or FAT when the kernel reuses a freed inode.
#[derive(Clone, Copy, Debug, Default)]
pub struct CoarseStamps;

impl StampSource for CoarseStamps {
    fn observe(&self, stamp: FileStamp) -> FileStamp {
        let whole_seconds = stamp.modified().map(|time| {
            let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
            UNIX_EPOCH + Duration::from_secs(since.as_secs())
        });
        FileStamp::from_parts(stamp.dev(), 1, stamp.len(), whole_seconds)
    }
}

/// A store on `file` that sees stamps through `CoarseStamps` when `coarse` is set.
pub fn store_at(file: &Path, options: StoreOptions, coarse: bool) -> AccountStore {
    if !coarse {
        return AccountStore::at_path(file, options);
    }
    let backend = FileBackend::new(file, options.clone()).with_stamp_source(Arc::new(CoarseStamps));
    AccountStore::with_backend(Arc::new(backend), options)
}

/// The anthropic accounts store in `schema` of the PostgreSQL database at `url` (a storage of
/// its own: its own connections, as another process's).
pub fn postgres_store(
    url: &Secret,
    schema: &str,
    options: StoreOptions,
) -> Result<AccountStore, String> {
    let postgres = PostgresOptions { schema: schema.to_owned(), ..PostgresOptions::default() };
    let storage = PostgresStorage::connect(url, &postgres).map_err(|err| err.to_string())?;
    Ok(storage.account_store(mac_storage::Provider::Anthropic, options))
}

/// The refresh locks of the Anthropic accounts in `schema` of the database at `url`.
pub fn postgres_account_locks(url: &Secret, schema: &str) -> Result<PostgresAccountLocks, String> {
    let postgres = PostgresOptions { schema: schema.to_owned(), ..PostgresOptions::default() };
    let storage = PostgresStorage::connect(url, &postgres).map_err(|err| err.to_string())?;
    Ok(storage.account_locks(mac_storage::Provider::Anthropic))
}

/// The per-account counter that increments store (an unknown field, so every increment also
/// checks that unknown fields survive writes).
pub const COUNTER_KEY: &str = "testCounter";

/// The document-level counter of the churn workload.
pub const CHURN_KEY: &str = "churnCounter";

/// Adds `count` accounts with refresh tokens `<prefix>-<i>` and returns their local uuids.
pub fn add_accounts(
    store: &AccountStore,
    prefix: &str,
    count: usize,
) -> Result<Vec<String>, StoreError> {
    let mut uuids = Vec::with_capacity(count);
    for i in 0..count {
        let credentials = Credentials {
            refresh_token: Secret::new(format!("{prefix}-{i}")),
            access_token: Some(Secret::new(format!("access-{prefix}-{i}"))),
            expires_at: Some(EpochMs::from_millis(1_800_000_000_000)),
        };
        let mut new = NewAccount::from_credentials(credentials);
        new.email = Some(format!("{prefix}-{i}@example.com"));
        let outcome = store.add_account(&new, EpochMs::now())?;
        let (mac_storage::AddOutcome::Added { uuid }
        | mac_storage::AddOutcome::Updated { uuid, .. }) = outcome;
        uuids.push(uuid);
    }
    Ok(uuids)
}

/// One read-modify-write: the counter of account `uuid` goes up by one.
pub fn increment(store: &AccountStore, uuid: &str) -> Result<(), StoreError> {
    store.mutate(|doc| {
        let account = store.account_mut(doc, uuid)?;
        let current = account.extra.get(COUNTER_KEY).and_then(Value::as_u64).unwrap_or(0);
        account.extra.insert(COUNTER_KEY.to_owned(), Value::from(current + 1));
        Ok(())
    })
}

/// The sum of every account's counter.
pub fn counter_sum(document: &AccountsDocument) -> u64 {
    document
        .accounts
        .iter()
        .filter_map(|account| account.extra.get(COUNTER_KEY).and_then(Value::as_u64))
        .sum()
}

/// One step of the churn workload: the document counter goes up by one and the first account
/// is rewritten to a shape determined by that counter (its size varies from step to step).
pub fn churn_step(store: &AccountStore) -> Result<u64, StoreError> {
    store.mutate(|doc| {
        let next = churn_counter(doc) + 1;
        doc.extra.insert(CHURN_KEY.to_owned(), Value::from(next));
        if let Some(account) = doc.accounts.first_mut() {
            account.plan_tier = churn_plan(next);
            account.last_used = EpochMs::from_millis(i64::try_from(next).unwrap_or(i64::MAX));
        }
        Ok(next)
    })
}

/// The document counter of the churn workload (0 before the first step).
pub fn churn_counter(document: &AccountsDocument) -> u64 {
    document.extra.get(CHURN_KEY).and_then(Value::as_u64).unwrap_or(0)
}

/// Whether `document` is exactly a version the churn workload wrote: its first account has the
/// shape the counter determines.
pub fn is_churn_version(document: &AccountsDocument) -> bool {
    let counter = churn_counter(document);
    match document.accounts.first() {
        None => false,
        Some(_) if counter == 0 => true,
        Some(account) => {
            account.plan_tier == churn_plan(counter)
                && account.last_used.as_millis() == i64::try_from(counter).unwrap_or(i64::MAX)
        }
    }
}

fn churn_plan(counter: u64) -> String {
    let len = usize::try_from(counter % 97).unwrap_or(0);
    format!("plan-{counter}-{}", "x".repeat(len))
}
