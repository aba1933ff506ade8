//! The conformance suite of the accounts-backend contract ([`crate::AccountsBackend`]): what
//! every backend (the file today, a database later) must pass. Enabled by the cargo feature
//! `conformance`; a backend's tests call [`run_all`] with a way to make fresh, empty storage.
//!
//! Each check takes `open`, which returns a new [`AccountStore`] handle on one storage — as
//! another process would have — and reports a [`Failure`] describing what went wrong instead of
//! panicking, so a backend's test decides how to fail.

pub mod account_locks;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

use crate::{
    AccountStore, CasOutcome, CredentialPatch, Credentials, EpochMs, NewAccount, Secret,
    StoreError, UsageLimits, UsageWindow,
};

/// Opens a new store handle on one storage.
pub type Open<'a> = &'a (dyn Fn() -> AccountStore + Sync);

/// Makes fresh, empty storage and returns how to open handles on it.
pub type NewStorage<'a> = &'a dyn Fn() -> Box<dyn Fn() -> AccountStore + Sync>;

/// A check that did not hold.
#[derive(Debug)]
pub struct Failure {
    check: &'static str,
    message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conformance check `{}` failed: {}", self.check, self.message)
    }
}

impl std::error::Error for Failure {}

fn ensure(
    check: &'static str,
    holds: bool,
    message: impl FnOnce() -> String,
) -> Result<(), Failure> {
    if holds { Ok(()) } else { Err(Failure { check, message: message() }) }
}

fn store_failed(check: &'static str, err: &StoreError) -> Failure {
    Failure { check, message: format!("unexpected store error: {err}") }
}

/// Runs every check, each on fresh storage.
pub fn run_all(new_storage: NewStorage<'_>) -> Result<(), Failure> {
    let checks: [fn(Open<'_>) -> Result<(), Failure>; 7] = [
        no_lost_updates,
        credentials_compare_and_swap,
        unreadable_documents_are_refused,
        closure_errors_are_the_callers,
        unchanged_documents_are_not_written,
        readers_see_whole_committed_versions,
        unknown_fields_survive,
    ];
    for check in checks {
        let open = new_storage();
        check(&*open)?;
    }
    Ok(())
}

const COUNTER: &str = "conformanceCounter";

fn counter(store: &AccountStore, uuid: &str) -> Result<u64, StoreError> {
    let document = store.load()?;
    Ok(document
        .account(uuid)
        .and_then(|account| account.extra.get(COUNTER))
        .and_then(Value::as_u64)
        .unwrap_or(0))
}

fn add_one(open: Open<'_>, check: &'static str, refresh: &str) -> Result<String, Failure> {
    let credentials = Credentials {
        refresh_token: Secret::new(refresh),
        access_token: Some(Secret::new(format!("{refresh}-access"))),
        expires_at: Some(EpochMs::from_millis(1_900_000_000_000)),
    };
    let outcome = open()
        .add_account(&NewAccount::from_credentials(credentials), EpochMs::from_millis(1_000))
        .map_err(|err| store_failed(check, &err))?;
    let (crate::AddOutcome::Added { uuid } | crate::AddOutcome::Updated { uuid, .. }) = outcome;
    Ok(uuid)
}

fn increment(store: &AccountStore, uuid: &str) -> Result<u64, StoreError> {
    store.mutate(|document| {
        let account = store.account_mut(document, uuid)?;
        let next = account.extra.get(COUNTER).and_then(Value::as_u64).unwrap_or(0) + 1;
        account.extra.insert(COUNTER.to_owned(), Value::from(next));
        Ok(next)
    })
}

/// Eight handles incrementing one counter concurrently keep every increment, and each commit
/// bumps the generation by one.
pub fn no_lost_updates(open: Open<'_>) -> Result<(), Failure> {
    const CHECK: &str = "no_lost_updates";
    const HANDLES: u64 = 8;
    const EACH: u64 = 25;
    let uuid = add_one(open, CHECK, "lost-updates")?;
    let generation_before = open().load().map_err(|e| store_failed(CHECK, &e))?.generation;
    let failures = AtomicU64::new(0);
    std::thread::scope(|scope| {
        for _ in 0..HANDLES {
            scope.spawn(|| {
                let store = open();
                for _ in 0..EACH {
                    if increment(&store, &uuid).is_err() {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let failures = failures.load(Ordering::Relaxed);
    ensure(CHECK, failures == 0, || format!("{failures} increments failed"))?;
    let kept = counter(&open(), &uuid).map_err(|e| store_failed(CHECK, &e))?;
    ensure(CHECK, kept == HANDLES * EACH, || format!("kept {kept} of {}", HANDLES * EACH))?;
    let generation = open().load().map_err(|e| store_failed(CHECK, &e))?.generation;
    ensure(CHECK, generation == generation_before + HANDLES * EACH, || {
        format!(
            "generation went from {generation_before} to {generation} for {} commits",
            HANDLES * EACH
        )
    })
}

/// Of two refreshes that start from the same credentials, exactly one applies; the other sees
/// the winner's credentials — also when they race.
pub fn credentials_compare_and_swap(open: Open<'_>) -> Result<(), Failure> {
    const CHECK: &str = "credentials_compare_and_swap";
    let uuid = add_one(open, CHECK, "cas")?;
    let store = open();
    let expected = store
        .load()
        .map_err(|e| store_failed(CHECK, &e))?
        .account(&uuid)
        .map(crate::StoredAccount::credentials)
        .ok_or_else(|| Failure { check: CHECK, message: "the added account is missing".into() })?;
    let patch = |n: u32| CredentialPatch {
        access_token: Secret::new(format!("access-{n}")),
        expires_at: EpochMs::from_millis(2_000_000_000_000),
        refresh_token: Some(Secret::new(format!("refresh-{n}"))),
        account_uuid: None,
        account_id: None,
        email: None,
    };
    let outcomes: Vec<Result<CasOutcome, StoreError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|n| {
                let (expected, patch) = (expected.clone(), patch(n));
                let uuid = &uuid;
                scope.spawn(move || open().patch_credentials(uuid, &expected, patch))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(StoreError::Backend {
                        path: std::path::PathBuf::new(),
                        source: "a racing refresh panicked".into(),
                    })
                })
            })
            .collect()
    });
    let mut applied = Vec::new();
    for outcome in outcomes {
        match outcome.map_err(|e| store_failed(CHECK, &e))? {
            CasOutcome::Applied(credentials) => applied.push(credentials),
            CasOutcome::Conflict(_) => {}
        }
    }
    ensure(CHECK, applied.len() == 1, || {
        format!("{} of 4 racing refreshes applied", applied.len())
    })?;
    let stored = open()
        .load()
        .map_err(|e| store_failed(CHECK, &e))?
        .account(&uuid)
        .map(crate::StoredAccount::credentials);
    ensure(CHECK, stored.as_ref() == applied.first(), || {
        "the stored credentials are not the winner's".into()
    })
}

/// A change that would store a document readers refuse (a `NaN` utilization, a time past
/// 2^53 ms) fails with [`StoreError::Unwritable`] and leaves the stored document as it was.
pub fn unreadable_documents_are_refused(open: Open<'_>) -> Result<(), Failure> {
    const CHECK: &str = "unreadable_documents_are_refused";
    let uuid = add_one(open, CHECK, "bad-input")?;
    let store = open();
    let before = store.load().map_err(|e| store_failed(CHECK, &e))?;
    let nan = UsageLimits::new(Some(UsageWindow::new(f64::NAN, None)), None);
    let attempts = [
        store.record_usage(&uuid, nan, EpochMs::from_millis(5)),
        store.record_rate_limit(&uuid, EpochMs::from_millis(i64::MAX)),
        store.mutate(|document| {
            document.accounts[0].last_used = EpochMs::from_millis(i64::MIN);
            Ok(())
        }),
    ];
    for (index, attempt) in attempts.into_iter().enumerate() {
        ensure(CHECK, matches!(attempt, Err(StoreError::Unwritable { .. })), || {
            format!("attempt {index}: expected Unwritable, got {attempt:?}")
        })?;
    }
    let after = open().load().map_err(|e| store_failed(CHECK, &e))?;
    ensure(CHECK, *after == *before, || "the stored document changed".into())
}

/// A closure's own error comes back unchanged, and nothing is written.
pub fn closure_errors_are_the_callers(open: Open<'_>) -> Result<(), Failure> {
    const CHECK: &str = "closure_errors_are_the_callers";
    #[derive(Debug, PartialEq)]
    enum Mine {
        Refused,
        Store(String),
    }
    impl From<StoreError> for Mine {
        fn from(err: StoreError) -> Self {
            Mine::Store(err.to_string())
        }
    }
    let uuid = add_one(open, CHECK, "closure-error")?;
    let store = open();
    let before = store.load().map_err(|e| store_failed(CHECK, &e))?;
    let result: Result<(), Mine> = store.transact(|document| {
        if let Some(account) = document.account_mut(&uuid) {
            account.enabled = false;
        }
        Err(Mine::Refused)
    });
    ensure(CHECK, result == Err(Mine::Refused), || format!("got {result:?}"))?;
    let unknown: Result<(), Mine> = store.transact(|document| {
        store.account_mut(document, "no-such-account")?;
        Ok(())
    });
    ensure(CHECK, matches!(unknown, Err(Mine::Store(_))), || format!("got {unknown:?}"))?;
    let after = open().load().map_err(|e| store_failed(CHECK, &e))?;
    ensure(CHECK, *after == *before, || "a failed transaction wrote".into())
}

/// A transaction that changes nothing commits nothing (the generation stays).
pub fn unchanged_documents_are_not_written(open: Open<'_>) -> Result<(), Failure> {
    const CHECK: &str = "unchanged_documents_are_not_written";
    add_one(open, CHECK, "unchanged")?;
    let store = open();
    let before = store.load().map_err(|e| store_failed(CHECK, &e))?.generation;
    store.mutate(|_| Ok(())).map_err(|e| store_failed(CHECK, &e))?;
    let after = open().load().map_err(|e| store_failed(CHECK, &e))?.generation;
    ensure(CHECK, before == after, || format!("generation {before} became {after}"))
}

/// While writers commit, every reader sees whole committed versions: generations never go
/// backwards for one reader, and the counter a version holds matches its generation.
pub fn readers_see_whole_committed_versions(open: Open<'_>) -> Result<(), Failure> {
    const CHECK: &str = "readers_see_whole_committed_versions";
    const WRITES: u64 = 100;
    let uuid = add_one(open, CHECK, "readers")?;
    let base = open().load().map_err(|e| store_failed(CHECK, &e))?.generation;
    let done = std::sync::atomic::AtomicBool::new(false);
    let result = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let store = open();
            let outcome = (0..WRITES).try_for_each(|_| increment(&store, &uuid).map(|_| ()));
            done.store(true, Ordering::SeqCst);
            outcome
        });
        let readers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| -> Result<(), Failure> {
                    let store = open();
                    let mut last = 0;
                    while !done.load(Ordering::SeqCst) {
                        let document = store.load().map_err(|e| store_failed(CHECK, &e))?;
                        let count = document
                            .account(&uuid)
                            .and_then(|a| a.extra.get(COUNTER))
                            .and_then(Value::as_u64)
                            .unwrap_or(0);
                        ensure(CHECK, document.generation >= last, || {
                            format!("generation went back from {last} to {}", document.generation)
                        })?;
                        ensure(CHECK, document.generation == base + count, || {
                            format!("generation {} holds counter {count}", document.generation)
                        })?;
                        last = document.generation;
                    }
                    Ok(())
                })
            })
            .collect();
        let written = writer.join();
        let read: Vec<_> = readers.into_iter().map(std::thread::ScopedJoinHandle::join).collect();
        (written, read)
    });
    let (written, read) = result;
    match written {
        Ok(Ok(())) => {}
        Ok(Err(err)) => return Err(store_failed(CHECK, &err)),
        Err(_) => return Err(Failure { check: CHECK, message: "the writer panicked".into() }),
    }
    for reader in read {
        reader.map_err(|_| Failure { check: CHECK, message: "a reader panicked".into() })??;
    }
    Ok(())
}

/// Fields this build does not know survive a write with their values and order.
pub fn unknown_fields_survive(open: Open<'_>) -> Result<(), Failure> {
    const CHECK: &str = "unknown_fields_survive";
    let uuid = add_one(open, CHECK, "unknown")?;
    let store = open();
    store
        .mutate(|document| {
            document.extra.insert("zNewer".into(), serde_json::json!({"b": 1, "a": [1, 2]}));
            document.extra.insert("aNewer".into(), Value::from("x"));
            Ok(())
        })
        .map_err(|e| store_failed(CHECK, &e))?;
    store
        .record_rate_limit(&uuid, EpochMs::from_millis(9_000))
        .map_err(|e| store_failed(CHECK, &e))?;
    let document = open().load().map_err(|e| store_failed(CHECK, &e))?;
    let keys: Vec<&String> = document.extra.keys().collect();
    ensure(CHECK, keys == ["zNewer", "aNewer"], || format!("keys now {keys:?}"))?;
    ensure(CHECK, document.extra["zNewer"] == serde_json::json!({"b": 1, "a": [1, 2]}), || {
        "the value of zNewer changed".into()
    })
}
