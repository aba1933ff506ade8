//! [`PostgresAccountLocks`]: the refresh lock of every account of a provider, shared by every
//! process on every host that uses one database and schema — mac-storage's
//! [`AccountLocks`] seam, so the executor refreshes an account once in the whole pool.
//!
//! **The lock** is a session-level advisory lock, `pg_advisory_lock(key)`, on a connection
//! of its own per held lock, with `lock_timeout` bounding the wait on the server (the caller's
//! thread waits for one answer; no thread or poll per waiter). `try_lock` is
//! `pg_try_advisory_lock(key)`. The key is the first 64 bits of SHA-256 over a namespace of
//! its own (`mac-postgres refresh lock`), the schema, the provider and the account uuid: stable
//! across processes, builds and hosts, distinct per schema (several pools share a database)
//! and from the migration lock's namespace.
//!
//! **Why a connection of its own, opened fresh** rather than one of the storage's pool: the
//! holder keeps it for the whole provider call (up to the client's 30 s timeout), and while it
//! holds the lock the refresh stores its grant through the same storage's pool. Lent from a
//! pool of four, four accounts refreshing at once would hold every connection and their grant
//! writes would wait for a connection until the store's lock timeout. A refresh happens about
//! once an hour per account, so opening a connection (a few milliseconds on a local network)
//! costs nothing that matters; after a clean unlock it is kept idle for the next lock
//! ([`IDLE_CAP`] at most), so a burst of refreshes does not open one per account each time.
//!
//! **Release**: dropping the guard never blocks (it may happen on an async worker): it sends
//! `pg_advisory_unlock(key)` from a task on the storage's private runtime and keeps the
//! connection for reuse when that answers `true`; when the unlock fails or the connection is
//! broken, the connection is closed, and ending the session frees every lock it held. A holder
//! that dies — the process killed, its connection lost — frees the lock the same way: the
//! server ends the session when the socket closes. For a host that vanishes without closing
//! its sockets, the lock connection asks the server for TCP keepalives (`tcp_keepalives_idle`
//! 10 s, interval 5 s, 3 probes), so the server ends that session within about 25 s.
//!
//! **What a session lock does not give**: a lock connection lost while its holder lives (the
//! holder cut off from the database mid-refresh) frees the lock on the server while the holder
//! still refreshes. The refresh's compare-and-swap write still never overwrites another
//! host's grant, but the provider may see the same refresh token twice.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use mac_storage::{AccountLockGuard, AccountLocks, LockError, Provider};
use tokio_postgres::{Client, SimpleQueryMessage};

use crate::accounts::{ANSWER_GRACE, LOCK_TIMEOUT_MAX_MS};
use crate::error::{ClientFailure, PostgresError};
use crate::schema::advisory_key;
use crate::storage::PostgresStorage;

/// The most unlocked lock connections kept open for reuse per provider and process.
const IDLE_CAP: usize = 2;

/// Sent on every lock connection before its lock statement: server-side TCP keepalives, so a
/// vanished host's session (and its locks) ends within about 25 s.
const KEEPALIVES: &str =
    "SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3";

/// The refresh locks of one provider's accounts in a [`PostgresStorage`] (see the module
/// docs). Made by [`PostgresStorage::account_locks`].
#[derive(Debug)]
pub struct PostgresAccountLocks {
    storage: Arc<PostgresStorage>,
    provider: Provider,
    /// Unlocked lock connections kept for the next lock.
    idle: Arc<Mutex<Vec<Client>>>,
}

impl PostgresAccountLocks {
    pub(crate) fn new(storage: Arc<PostgresStorage>, provider: Provider) -> Self {
        Self { storage, provider, idle: Arc::new(Mutex::new(Vec::new())) }
    }

    /// The advisory lock key of `account`'s refresh lock.
    pub fn key(&self, account: &str) -> i64 {
        refresh_lock_key(self.storage.schema(), self.provider, account)
    }

    /// An idle lock connection, or a new one.
    async fn connection(&self, lock: &Path) -> Result<Client, LockError> {
        loop {
            let Some(client) = idle(&self.idle).pop() else { break };
            if !client.is_closed() {
                return Ok(client);
            }
        }
        let pool = self.storage.pool();
        let wait = pool.connect_wait();
        match tokio::time::timeout(wait, pool.connect_client()).await {
            Ok(connected) => connected.map_err(|err| unavailable(lock, err)),
            Err(_) => Err(unavailable(
                lock,
                PostgresError::Timeout {
                    target: self.storage.target().to_string(),
                    step: "connecting for a refresh lock",
                    waited: wait,
                },
            )),
        }
    }

    /// Runs `SET lock_timeout; <lock statement>` on a lock connection and returns the
    /// connection with the statement's single value (`None` for a `void` function).
    async fn run(
        &self,
        lock: &Path,
        lock_timeout_ms: u128,
        statement: String,
        answer: Duration,
    ) -> Result<(Client, Option<String>), Result<LockError, ClientFailure>> {
        let client = self.connection(lock).await.map_err(Ok)?;
        let batch = format!("{KEEPALIVES}; SET lock_timeout = {lock_timeout_ms}; {statement}");
        let messages = match tokio::time::timeout(answer, client.simple_query(&batch)).await {
            // No answer in time: the connection is dropped (closing the session, which frees
            // the lock if the server granted it meanwhile).
            Err(_) => return Err(Ok(LockError::Timeout { path: lock.to_owned(), waited: answer })),
            Ok(Err(err)) => return Err(Err(ClientFailure::from_client(&err))),
            Ok(Ok(messages)) => messages,
        };
        let value = messages.iter().find_map(|message| match message {
            SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        });
        Ok((client, value))
    }

    fn guard(&self, client: Client, account: &str) -> AccountLockGuard {
        AccountLockGuard::new(HeldLock {
            client: Some(client),
            key: self.key(account),
            lock: self.describe(account),
            idle: Arc::clone(&self.idle),
            runtime: self.storage.driver().handle().clone(),
            _storage: Arc::clone(&self.storage),
        })
    }
}

impl AccountLocks for PostgresAccountLocks {
    fn try_lock(&self, account: &str) -> Result<Option<AccountLockGuard>, LockError> {
        let lock = self.describe(account);
        let _span = tracing::debug_span!("try_lock", lock = %lock.display()).entered();
        let statement = format!("SELECT pg_try_advisory_lock({})", self.key(account));
        let run = self.run(&lock, 1, statement, ANSWER_GRACE);
        match self.storage.driver().wait(run) {
            Ok((client, Some(taken))) if taken == "t" => Ok(Some(self.guard(client, account))),
            Ok((client, _)) => {
                idle_return(&self.idle, client);
                Ok(None)
            }
            Err(Ok(err)) => Err(err),
            Err(Err(failure)) => Err(unavailable(&lock, self.query_error(failure))),
        }
    }

    fn lock(&self, account: &str, timeout: Duration) -> Result<AccountLockGuard, LockError> {
        let lock = self.describe(account);
        let _span = tracing::debug_span!("lock", lock = %lock.display()).entered();
        let started = Instant::now();
        if timeout.is_zero() {
            // `lock_timeout = 0` would mean "wait forever": no wait is one attempt.
            return self
                .try_lock(account)?
                .ok_or(LockError::Timeout { path: lock, waited: timeout });
        }
        let statement = format!("SELECT pg_advisory_lock({})", self.key(account));
        let lock_ms = timeout.as_millis().clamp(1, LOCK_TIMEOUT_MAX_MS);
        let answer = timeout + ANSWER_GRACE;
        match self.storage.driver().wait(self.run(&lock, lock_ms, statement, answer)) {
            Ok((client, _)) => Ok(self.guard(client, account)),
            Err(Ok(err)) => Err(err),
            Err(Err(failure)) if failure.is_lock_timeout() => {
                Err(LockError::Timeout { path: lock, waited: started.elapsed() })
            }
            Err(Err(failure)) => Err(unavailable(&lock, self.query_error(failure))),
        }
    }

    fn describe(&self, account: &str) -> PathBuf {
        let target = self.storage.target();
        PathBuf::from(format!(
            "{} (schema {}) {} refresh lock {account}",
            target.server(),
            self.storage.schema(),
            self.provider
        ))
    }
}

impl PostgresAccountLocks {
    fn query_error(&self, failure: ClientFailure) -> PostgresError {
        PostgresError::Query {
            target: self.storage.target().to_string(),
            step: "taking a refresh lock",
            failure,
        }
    }
}

/// The advisory lock key of the refresh lock of `account` of `provider` in `schema`.
pub(crate) fn refresh_lock_key(schema: &str, provider: Provider, account: &str) -> i64 {
    advisory_key(&["mac-postgres refresh lock", schema, provider.as_str(), account])
}

/// A held refresh lock: its connection, unlocked when dropped.
struct HeldLock {
    /// `Some` until dropped.
    client: Option<Client>,
    key: i64,
    lock: PathBuf,
    idle: Arc<Mutex<Vec<Client>>>,
    runtime: tokio::runtime::Handle,
    /// Keeps the runtime that drives the connection alive while the lock is held.
    _storage: Arc<PostgresStorage>,
}

impl std::fmt::Debug for HeldLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeldLock").field("lock", &self.lock).finish_non_exhaustive()
    }
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else { return };
        let (key, idle, lock) = (self.key, Arc::clone(&self.idle), self.lock.clone());
        // Never blocks the dropping thread (maybe an async worker): the unlock is a task of the
        // storage's runtime. Should the runtime be gone, the task and the client are dropped,
        // which closes the session and so frees the lock all the same.
        self.runtime.spawn(async move {
            let unlock = tokio::time::timeout(
                ANSWER_GRACE,
                client.query_one("SELECT pg_advisory_unlock($1)", &[&key]),
            )
            .await;
            match unlock {
                Ok(Ok(row)) if row.try_get::<_, bool>(0).unwrap_or(false) => {
                    idle_return(&idle, client);
                }
                Ok(Ok(_)) => {
                    tracing::warn!(lock = %lock.display(), "the refresh lock was no longer held (its session was lost); closing the connection");
                }
                Ok(Err(err)) => {
                    let failure = ClientFailure::from_client(&err);
                    tracing::warn!(lock = %lock.display(), error = %failure, "unlocking failed; closing the connection frees the lock");
                }
                Err(_) => {
                    tracing::warn!(lock = %lock.display(), "unlocking did not answer; closing the connection frees the lock");
                }
            }
        });
    }
}

fn idle(idle: &Mutex<Vec<Client>>) -> MutexGuard<'_, Vec<Client>> {
    idle.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Keeps `client` for the next lock, unless enough are kept (then it is closed).
fn idle_return(pool: &Mutex<Vec<Client>>, client: Client) {
    let mut idle = idle(pool);
    if idle.len() < IDLE_CAP && !client.is_closed() {
        idle.push(client);
    }
}

fn unavailable(lock: &Path, source: PostgresError) -> LockError {
    LockError::Unavailable { path: lock.to_owned(), source: Box::new(source) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_and_differ_per_schema_provider_and_account() {
        let key = refresh_lock_key("mac", Provider::Anthropic, "a");
        assert_eq!(key, refresh_lock_key("mac", Provider::Anthropic, "a"));
        for other in [
            refresh_lock_key("mac2", Provider::Anthropic, "a"),
            refresh_lock_key("mac", Provider::Codex, "a"),
            refresh_lock_key("mac", Provider::Anthropic, "b"),
            refresh_lock_key("ma", Provider::Anthropic, "ca"),
        ] {
            assert_ne!(key, other);
        }
    }
}
