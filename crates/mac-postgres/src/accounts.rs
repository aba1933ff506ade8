//! [`PostgresBackend`]: one provider's accounts document in PostgreSQL, behind mac-storage's
//! [`AccountsBackend`] contract (the conformance suite passes on it unchanged).
//!
//! **A transaction** is `BEGIN` (with `lock_timeout` set to what is left of the store's lock
//! timeout), `SELECT … FOR UPDATE` of the provider's row — the row lock serializes writers
//! across every process and host, and under `READ COMMITTED` the locked row is the latest
//! committed version, so the closure always sees a fresh document — then the closure on the
//! caller's thread, and, when it changed something, one `UPDATE` and `COMMIT`. A serialization
//! failure, a deadlock or a connection lost before the commit was sent rolls everything back
//! on the server, so the whole transaction runs again (closures are repeatable by contract)
//! until the lock timeout is spent. A lost answer to `COMMIT` itself is resolved, not
//! guessed: each commit writes a random id, the row keeps the last ids, and a fresh
//! connection waits for the row's lock (so the lost commit has finished either way) and looks.
//!
//! **Reads** cost one round trip that returns the body only when its commit id differs from
//! the cached one, so an unchanged document is neither sent nor parsed again (the same `Arc`
//! comes back). `cached` never does I/O; `refresh_cached` does none either while the storage's
//! change listener says nothing changed (`changes.rs`), and is a `load` otherwise.
//!
//! **Refusals**, as for the file: a stored document that does not parse is never overwritten
//! ([`StoreError::Invalid`]; the row itself stays as the copy, so none is made), one of a
//! newer version is read but never written ([`StoreError::NewerVersion`]), and a change whose
//! result would not read back is refused ([`StoreError::Unwritable`]).

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use mac_storage::file::LockError;
use mac_storage::{
    AccountsBackend, AccountsDocument, DocumentProblem, Provider, SUPPORTED_VERSION, StoreError,
    StoreOptions, TxClosure, TxOutcome, decode, encode_checked,
};
use tokio_postgres::Row;

use crate::error::{ClientFailure, PostgresError};
use crate::pool::Pooled;
use crate::redacted_param::Redacted;
use crate::statements::RECENT_COMMITS;
use crate::storage::PostgresStorage;

/// How long past the lock timeout the server may take to answer before the client gives up
/// on the connection (a stalled server or network).
pub(crate) const ANSWER_GRACE: Duration = Duration::from_secs(5);

/// The largest `lock_timeout` PostgreSQL accepts, in milliseconds (`INT_MAX`).
pub(crate) const LOCK_TIMEOUT_MAX_MS: u128 = 2_147_483_647;

/// The shortest wait for a connection, however little is left of the lock timeout.
const MIN_CONNECTION_WAIT: Duration = Duration::from_secs(1);

/// The newest document this handle has read or written.
#[derive(Debug, Clone)]
struct Cached {
    /// The row's generation: it only grows, so an answer that arrives late (a read sent before
    /// another thread's commit) never replaces a newer cached version.
    generation: u64,
    /// `None`: the provider had no document (an empty pool).
    commit_id: Option<String>,
    document: Arc<AccountsDocument>,
}

/// One provider's accounts document in a [`PostgresStorage`]. Many backends in many
/// processes on many hosts may use one document at once.
#[derive(Debug)]
pub struct PostgresBackend {
    storage: Arc<PostgresStorage>,
    provider: Provider,
    location: PathBuf,
    options: StoreOptions,
    cache: Mutex<Option<Cached>>,
    /// The listener session in which the cache was last checked against the server (a
    /// read): while that session lasts, only a notification can make the cache stale.
    checked_in: Mutex<Option<u64>>,
    parses: AtomicU64,
    reads: AtomicU64,
    transactions: AtomicU64,
}

/// What one run of a transaction came to.
enum Attempt {
    Done(TxOutcome),
    /// Nothing was committed and running it again may succeed; the failure is reported if
    /// the time runs out.
    Retry(PostgresError),
}

/// The provider's row as locked or read.
struct Stored {
    generation: u64,
    commit_id: Option<String>,
    /// `None` when the caller's cached version is current (reads) or there is no document.
    body: Option<String>,
}

impl PostgresBackend {
    pub(crate) fn new(
        storage: Arc<PostgresStorage>,
        provider: Provider,
        options: StoreOptions,
    ) -> Self {
        let location = storage.target().accounts_location(provider);
        Self {
            storage,
            provider,
            location,
            options,
            cache: Mutex::new(None),
            checked_in: Mutex::new(None),
            parses: AtomicU64::new(0),
            reads: AtomicU64::new(0),
            transactions: AtomicU64::new(0),
        }
    }

    /// How many reads this handle sent to the server (each one round trip): `load`, and
    /// `refresh_cached` when it could not answer from the cache. A diagnostic for tests and
    /// benchmarks ("no round trip per request").
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// How many transactions this handle ran (each try counted; every one talks to the
    /// server).
    pub fn transactions(&self) -> u64 {
        self.transactions.load(Ordering::Relaxed)
    }

    fn checked_in(&self) -> MutexGuard<'_, Option<u64>> {
        self.checked_in.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn cache(&self) -> MutexGuard<'_, Option<Cached>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Caches `document` (of `generation`, committed as `commit_id`) unless a newer one is
    /// cached already: reads and transactions of several threads finish in any order.
    fn remember(
        &self,
        generation: u64,
        commit_id: Option<String>,
        document: Arc<AccountsDocument>,
    ) {
        let mut cache = self.cache();
        if cache.as_ref().is_some_and(|cached| cached.generation > generation) {
            return;
        }
        *cache = Some(Cached { generation, commit_id, document });
    }

    /// The cached version as it is now: a read names its commit id to the server and, when
    /// the server answers "unchanged", takes the document from this same snapshot — never
    /// from the cache as another thread may have replaced it meanwhile.
    fn snapshot(&self) -> Option<Cached> {
        self.cache().clone()
    }

    fn backend_error(&self, err: PostgresError) -> StoreError {
        StoreError::Backend { path: self.location.clone(), source: Box::new(err) }
    }

    fn query_error(&self, step: &'static str, err: &tokio_postgres::Error) -> PostgresError {
        PostgresError::Query {
            target: self.storage.target().to_string(),
            step,
            failure: ClientFailure::from_client(err),
        }
    }

    fn timeout_error(&self, step: &'static str, waited: Duration) -> PostgresError {
        PostgresError::Timeout { target: self.storage.target().to_string(), step, waited }
    }

    /// The document of `stored`: `known`'s when the commit id is `known`'s (no parse), else
    /// its body parsed. Errors are the store's refusals.
    fn document_of(
        &self,
        stored: &Stored,
        known: Option<&Cached>,
    ) -> Result<Arc<AccountsDocument>, StoreError> {
        let Some(commit_id) = &stored.commit_id else {
            let mut empty = AccountsDocument::empty();
            empty.generation = stored.generation;
            return Ok(Arc::new(empty));
        };
        if let Some(known) = known
            && known.commit_id.as_ref() == Some(commit_id)
        {
            return Ok(Arc::clone(&known.document));
        }
        let Some(body) = &stored.body else {
            return Err(self.backend_error(PostgresError::OutOfRange {
                target: self.storage.target().to_string(),
                what: "a commit without a document",
            }));
        };
        self.parses.fetch_add(1, Ordering::Relaxed);
        match decode(body.as_bytes(), self.options.max_file_bytes) {
            Ok(document) => Ok(Arc::new(document)),
            Err(DocumentProblem::NewerVersion { found }) => {
                Err(StoreError::NewerVersion { path: self.location.clone(), found })
            }
            Err(problem) => {
                Err(StoreError::Invalid { path: self.location.clone(), problem, backup: None })
            }
        }
    }

    fn stored_from(&self, row: &Row) -> Result<Stored, PostgresError> {
        let generation: i64 = row.get(0);
        let generation = u64::try_from(generation).map_err(|_| PostgresError::OutOfRange {
            target: self.storage.target().to_string(),
            what: "a negative generation",
        })?;
        Ok(Stored { generation, commit_id: row.get(1), body: row.get(2) })
    }

    /// One round trip: the row, with the body only when it is not the version `known`.
    async fn read(
        &self,
        wait: Duration,
        known: Option<&Cached>,
    ) -> Result<Option<Stored>, PostgresError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        let mut pooled = self.storage.pool().get(wait.max(MIN_CONNECTION_WAIT)).await?;
        let cached = known.and_then(|known| known.commit_id.clone());
        let provider = self.provider.as_str();
        let connection = pooled.connection();
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&provider, &cached];
        let query = connection.client.query_opt(&connection.statements.read, &params);
        let row = match tokio::time::timeout(wait + ANSWER_GRACE, query).await {
            Ok(Ok(row)) => row,
            Ok(Err(err)) => {
                pooled.discard();
                return Err(self.query_error("reading the accounts", &err));
            }
            Err(_) => {
                pooled.discard();
                return Err(self.timeout_error("reading the accounts", wait + ANSWER_GRACE));
            }
        };
        row.map(|row| self.stored_from(&row)).transpose()
    }

    /// One run of a transaction, with `left` of the lock timeout to spend.
    async fn attempt(
        &self,
        change: &mut TxClosure<'_>,
        left: Duration,
    ) -> Result<Attempt, StoreError> {
        self.transactions.fetch_add(1, Ordering::Relaxed);
        let mut pooled = match self.storage.pool().get(left.max(MIN_CONNECTION_WAIT)).await {
            Ok(pooled) => pooled,
            // A server restarting or unreachable: worth another try while time is left.
            Err(err) => return Ok(Attempt::Retry(err)),
        };
        let answer = left + ANSWER_GRACE;
        let stored = match self.lock_row(&mut pooled, left, answer).await {
            Ok(stored) => stored,
            Err(step) => {
                pooled.discard();
                return step.into_attempt(self, left);
            }
        };
        let known = self.snapshot();
        let current = match self.document_of(&stored, known.as_ref()) {
            Ok(current) => current,
            Err(err) => {
                pooled.discard();
                return Err(err);
            }
        };
        if current.version > SUPPORTED_VERSION {
            pooled.discard();
            return Err(StoreError::NewerVersion {
                path: self.location.clone(),
                found: current.version,
            });
        }
        self.remember(stored.generation, stored.commit_id.clone(), Arc::clone(&current));
        let mut next = AccountsDocument::clone(&current);
        let outcome = if change(&mut next) == ControlFlow::Break(()) {
            Some(TxOutcome::Aborted)
        } else if next == *current {
            Some(TxOutcome::Unchanged)
        } else {
            None
        };
        if let Some(outcome) = outcome {
            self.finish(&mut pooled, "ROLLBACK", answer).await;
            return Ok(Attempt::Done(outcome));
        }
        next.version = SUPPORTED_VERSION;
        next.generation = current.generation.wrapping_add(1);
        let body = match encode_checked(&next, self.options.max_file_bytes) {
            Ok(bytes) => String::from_utf8(bytes).map_err(|_| DocumentProblem::Shape {
                field: String::new(),
                message: "is not UTF-8".to_owned(),
            }),
            Err(problem) => Err(problem),
        };
        let body = match body {
            Ok(body) => body,
            Err(problem) => {
                self.finish(&mut pooled, "ROLLBACK", answer).await;
                return Err(StoreError::Unwritable { path: self.location.clone(), problem });
            }
        };
        let commit_id = uuid::Uuid::new_v4().simple().to_string();
        let generation = i64::try_from(next.generation).map_err(|_| {
            self.backend_error(PostgresError::OutOfRange {
                target: self.storage.target().to_string(),
                what: "a generation past 2^63",
            })
        })?;
        match self.write_and_commit(&mut pooled, generation, &commit_id, &body, answer).await {
            Ok(()) => {}
            Err(Step::Lost) => {
                pooled.discard();
                drop(pooled);
                return match self.resolve_lost_commit(&commit_id, next.generation, answer).await {
                    Ok(true) => {
                        self.remember(next.generation, Some(commit_id), Arc::new(next));
                        Ok(Attempt::Done(TxOutcome::Written))
                    }
                    Ok(false) => Ok(Attempt::Retry(PostgresError::ConnectionLost {
                        target: self.storage.target().to_string(),
                        step: "committing (the commit was not applied)",
                    })),
                    Err(err) => Err(self.backend_error(err)),
                };
            }
            Err(step) => {
                pooled.discard();
                return step.into_attempt(self, left);
            }
        }
        self.remember(next.generation, Some(commit_id), Arc::new(next));
        Ok(Attempt::Done(TxOutcome::Written))
    }

    /// `BEGIN`, then the provider's row locked (created first if missing).
    async fn lock_row(
        &self,
        pooled: &mut Pooled<'_>,
        left: Duration,
        answer: Duration,
    ) -> Result<Stored, Step> {
        let connection = pooled.connection();
        let client = &connection.client;
        let statements = &connection.statements;
        let provider = self.provider.as_str();
        // `SET LOCAL lock_timeout = 0` would mean "wait forever".
        let lock_ms = left.as_millis().clamp(1, LOCK_TIMEOUT_MAX_MS);
        let begin = format!("BEGIN; SET LOCAL lock_timeout = {lock_ms}");
        within(answer, "starting a transaction", client.batch_execute(&begin)).await?;
        let row = within(
            answer,
            "locking the accounts",
            client.query_opt(&statements.lock, &[&provider]),
        )
        .await?;
        let row = if let Some(row) = row {
            row
        } else {
            within(
                answer,
                "creating the accounts row",
                client.execute(&statements.create, &[&provider]),
            )
            .await?;
            within(answer, "locking the accounts", client.query_one(&statements.lock, &[&provider]))
                .await?
        };
        self.stored_from(&row).map_err(Step::Failed)
    }

    async fn write_and_commit(
        &self,
        pooled: &mut Pooled<'_>,
        generation: i64,
        commit_id: &str,
        body: &str,
        answer: Duration,
    ) -> Result<(), Step> {
        let connection = pooled.connection();
        let client = &connection.client;
        let provider = self.provider.as_str();
        let written = within(
            answer,
            "writing the accounts",
            client.execute(
                &connection.statements.write,
                &[&provider, &generation, &commit_id, &Redacted(body)],
            ),
        )
        .await?;
        if written != 1 {
            return Err(Step::Failed(PostgresError::OutOfRange {
                target: self.storage.target().to_string(),
                what: "no accounts row to write",
            }));
        }
        match within(answer, "committing", client.batch_execute("COMMIT")).await {
            Ok(()) => Ok(()),
            // The server answered: it did not commit (a serialization failure at commit).
            Err(Step::Client { failure, .. })
                if failure.code().is_some() && failure.is_retryable() =>
            {
                Err(Step::Retry(PostgresError::Query {
                    target: self.storage.target().to_string(),
                    step: "committing",
                    failure,
                }))
            }
            Err(Step::Client { failure, step }) if failure.code().is_some() => {
                Err(Step::Failed(PostgresError::Query {
                    target: self.storage.target().to_string(),
                    step,
                    failure,
                }))
            }
            // No answer: the commit may or may not have happened.
            Err(_) => Err(Step::Lost),
        }
    }

    /// Whether the commit `commit_id` (of `generation`) whose answer was lost was applied:
    /// waits for the row's lock on a fresh connection (the lost transaction has ended either
    /// way by then), then looks for the id among the recent commits. `Ok(false)`: certainly
    /// not applied.
    async fn resolve_lost_commit(
        &self,
        commit_id: &str,
        generation: u64,
        answer: Duration,
    ) -> Result<bool, PostgresError> {
        let unknown = || PostgresError::CommitUnknown { target: self.storage.target().to_string() };
        let mut pooled = self.storage.pool().get(answer).await.map_err(|_| unknown())?;
        let connection = pooled.connection();
        let row = tokio::time::timeout(
            answer,
            connection.client.query_one(&connection.statements.recent, &[&self.provider.as_str()]),
        )
        .await;
        let Ok(Ok(row)) = row else {
            pooled.discard();
            return Err(unknown());
        };
        let current: i64 = row.get(0);
        let recent: Vec<String> = row.get(1);
        if recent.iter().any(|id| id == commit_id) {
            return Ok(true);
        }
        // Had it been applied, it would still be among the recent ids unless that many
        // commits came after it.
        let later = u64::try_from(current).unwrap_or(0).saturating_sub(generation);
        if later + 1 < RECENT_COMMITS.unsigned_abs() { Ok(false) } else { Err(unknown()) }
    }

    /// Ends the transaction with `command`; a connection that does not answer is closed
    /// (which rolls back).
    async fn finish(&self, pooled: &mut Pooled<'_>, command: &str, answer: Duration) {
        let connection = pooled.connection();
        if within(answer, "ending the transaction", connection.client.batch_execute(command))
            .await
            .is_err()
        {
            pooled.discard();
        }
    }
}

/// How a statement of a transaction failed.
enum Step {
    /// The client or server reported an error.
    Client { step: &'static str, failure: ClientFailure },
    /// No answer in time.
    TimedOut { step: &'static str, waited: Duration },
    /// Nothing was committed, and running the transaction again may succeed.
    Retry(PostgresError),
    /// Nothing was committed, and running it again will not help.
    Failed(PostgresError),
    /// The answer to `COMMIT` was lost.
    Lost,
}

impl Step {
    /// What the transaction comes to when this step failed before its commit (nothing was
    /// committed).
    fn into_attempt(
        self,
        backend: &PostgresBackend,
        left: Duration,
    ) -> Result<Attempt, StoreError> {
        match self {
            Step::Client { failure, .. } if failure.is_lock_timeout() => Err(StoreError::Lock {
                source: LockError::Timeout { path: backend.location.clone(), waited: left },
            }),
            Step::Client { step, failure } => {
                let retryable = failure.is_retryable();
                let err = PostgresError::Query {
                    target: backend.storage.target().to_string(),
                    step,
                    failure,
                };
                if retryable { Ok(Attempt::Retry(err)) } else { Err(backend.backend_error(err)) }
            }
            Step::TimedOut { step, waited } => {
                Err(backend.backend_error(backend.timeout_error(step, waited)))
            }
            Step::Retry(err) => Ok(Attempt::Retry(err)),
            Step::Failed(err) => Err(backend.backend_error(err)),
            Step::Lost => Err(backend.backend_error(PostgresError::CommitUnknown {
                target: backend.storage.target().to_string(),
            })),
        }
    }
}

/// `future`'s result, or [`Step::TimedOut`] after `limit`.
async fn within<T>(
    limit: Duration,
    step: &'static str,
    future: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, Step> {
    match tokio::time::timeout(limit, future).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(Step::Client { step, failure: ClientFailure::from_client(&err) }),
        Err(_) => Err(Step::TimedOut { step, waited: limit }),
    }
}

/// The pause before running a transaction again: 2, 4, 8 … ms, at most 100 ms, with jitter
/// so that writers that collided do not collide again.
fn backoff(retries: u32) -> Duration {
    let base = 2_u64.saturating_pow(retries.min(6)).min(100);
    let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0]) % base.max(1);
    Duration::from_millis(base + jitter)
}

impl AccountsBackend for PostgresBackend {
    fn location(&self) -> &Path {
        &self.location
    }

    /// One round trip; when the document has not changed since this handle last saw it, the
    /// same `Arc` comes back without the body being sent or parsed. A read that fails on a
    /// closed connection is tried once more on a new one.
    #[tracing::instrument(level = "trace", skip_all, fields(location = %self.location.display()))]
    fn load(&self) -> Result<Arc<AccountsDocument>, StoreError> {
        let wait = self.options.lock_timeout;
        let driver = self.storage.driver();
        let known = self.snapshot();
        let stored = match driver.wait(self.read(wait, known.as_ref())) {
            Err(PostgresError::Query { failure, .. }) if failure.is_retryable() => {
                driver.wait(self.read(wait, known.as_ref()))
            }
            other => other,
        }
        .map_err(|err| self.backend_error(err))?;
        let stored = stored.unwrap_or(Stored { generation: 0, commit_id: None, body: None });
        let document = self.document_of(&stored, known.as_ref())?;
        self.remember(stored.generation, stored.commit_id, Arc::clone(&document));
        Ok(document)
    }

    /// No I/O while the change listener has listened since the cache was last read from the
    /// server and announced no newer generation of this provider's document (`changes.rs`);
    /// a `load` otherwise (the first call, the listener down or reconnected, a change
    /// announced). The session is taken before the read, so a notification that arrives
    /// during it makes the next call read again rather than being missed.
    fn refresh_cached(&self) -> Result<Arc<AccountsDocument>, StoreError> {
        let changes = self.storage.changes();
        let session = changes.session();
        if let Some(session) = session
            && *self.checked_in() == Some(session)
            && let Some(cached) = self.snapshot()
            && changes.announced(self.provider.as_str()) <= cached.generation
        {
            return Ok(cached.document);
        }
        let document = self.load()?;
        *self.checked_in() = session;
        Ok(document)
    }

    fn cached(&self) -> Option<Arc<AccountsDocument>> {
        self.cache().as_ref().map(|cached| Arc::clone(&cached.document))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(location = %self.location.display()))]
    fn transact(&self, change: &mut TxClosure<'_>) -> Result<TxOutcome, StoreError> {
        let started = Instant::now();
        let budget = self.options.lock_timeout;
        let mut retries = 0_u32;
        loop {
            let left = budget.saturating_sub(started.elapsed());
            match self.storage.driver().wait(self.attempt(change, left))? {
                Attempt::Done(outcome) => return Ok(outcome),
                Attempt::Retry(err) => {
                    if started.elapsed() >= budget {
                        return Err(self.backend_error(err));
                    }
                    retries += 1;
                    tracing::debug!(retries, error = %err, "running the transaction again");
                    std::thread::sleep(backoff(retries));
                }
            }
        }
    }

    fn parse_count(&self) -> u64 {
        self.parses.load(Ordering::Relaxed)
    }
}
