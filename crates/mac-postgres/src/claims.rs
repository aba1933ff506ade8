//! [`PostgresClaims`]: a pool's claims in the `claims` table, shared by every host — the
//! [`ClaimsStore`] behind `mac_claims::Claims` when `[storage] backend = "postgres"`.
//!
//! **Rows.** One row per claim, keyed by (provider, account, holder), where a holder is
//! (host name, pid, start time, random instance id); `claimed_at` and `heartbeat_at` are the
//! holders' wall clocks in epoch milliseconds, as in the claims file (hosts keep their clocks
//! in step, as NTP does; a heartbeat more than 5 s ahead of the reader counts as expired).
//!
//! **Writes** are the claims logic's read-modify-write, serialized across hosts by a
//! transaction-level advisory lock per (schema, provider): `BEGIN; SET LOCAL lock_timeout;
//! pg_advisory_xact_lock`, one `SELECT` of the provider's rows, the change, then **one
//! statement** that deletes the rows no longer wanted and upserts the changed ones (a keeper
//! tick renews every held account in that one statement), `COMMIT`. Nothing is written per
//! request: `Claims::hold` and `cached_snapshot` never reach this store.
//!
//! **Liveness.** Each holder keeps one connection of its own (the *session*) holding a
//! session-level advisory lock keyed by a hash of (schema, holder). A holder is alive while
//! that lock is granted, which any host reads from `pg_locks` in one query for all holders
//! asked about. Why `pg_locks` rather than probing with `pg_try_advisory_lock`: reading has no
//! side effect — a probe takes the lock for a moment, and a holder (re)connecting at that
//! moment would find its own key taken. A process that crashes, is killed (`SIGKILL`) or loses its
//! connection ends its session, so the server frees the lock at once and every other holder
//! stops counting its claims at the next check; a host that vanishes without its session
//! closing (power loss, a cut network) keeps the lock until the server notices, but its
//! claims expire when their heartbeat lease (60 s) runs out. A holder whose session dropped
//! opens a new one at its next use of the store, and its next heartbeat re-takes its claims.
//!
//! All statements of a holder run on its session, one at a time, from the claims keeper
//! thread or a blocking caller, each bounded by the lock timeout plus a grace for the answer;
//! after a failure the session is rolled back, or closed when it does not answer (and
//! reopened at the next use).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use mac_claims::{
    ClaimEntry, ClaimMap, ClaimsChange, ClaimsError, ClaimsOptions, ClaimsStore, Holder, host_name,
};
use mac_storage::{EpochMs, Provider};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Row, Statement};

use crate::error::{ClientFailure, PostgresError};
use crate::schema::advisory_key;
use crate::storage::PostgresStorage;

/// How long past the lock timeout the server may take to answer before the session is given
/// up (a stalled server or network).
const ANSWER_GRACE: Duration = Duration::from_secs(5);

/// The largest `lock_timeout` PostgreSQL accepts, in milliseconds (`INT_MAX`).
const LOCK_TIMEOUT_MAX_MS: u128 = 2_147_483_647;

/// A pool's claims in PostgreSQL, as one holder uses them: one per `mac_claims::Claims`
/// instance (it carries that instance's identity and session).
pub struct PostgresClaims {
    storage: Arc<PostgresStorage>,
    provider: Provider,
    holder: Holder,
    /// The advisory lock the session holds while this holder lives.
    presence_key: i64,
    /// The advisory lock that serializes writers of this provider's claims.
    writers_key: i64,
    location: PathBuf,
    lock_timeout: Duration,
    session: Mutex<Option<Session>>,
    writes: AtomicU64,
}

impl std::fmt::Debug for PostgresClaims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresClaims")
            .field("location", &self.location)
            .field("holder", &self.holder)
            .finish_non_exhaustive()
    }
}

/// The holder's own connection: it holds the presence lock, and runs the claims statements.
struct Session {
    client: Client,
    read: Statement,
    write: Statement,
    alive: Statement,
}

/// The advisory lock key that marks `holder` alive in `schema`.
fn presence_key(schema: &str, holder: &Holder) -> i64 {
    advisory_key(&["mac-claims holder", schema, &holder.key()])
}

impl PostgresClaims {
    /// The claims of `provider` in `storage`, for a new holder in this process on this host:
    /// opens the holder's session and takes its presence lock. Blocks (run it off an async
    /// worker).
    pub fn open(
        storage: &Arc<PostgresStorage>,
        provider: Provider,
        options: &ClaimsOptions,
    ) -> Result<Self, PostgresError> {
        let schema = storage.schema();
        let holder = Holder::current(host_name());
        let claims = Self {
            presence_key: presence_key(schema, &holder),
            writers_key: advisory_key(&["mac-claims writers", schema, provider.as_str()]),
            location: PathBuf::from(format!(
                "{} (schema {schema}, {provider} claims)",
                storage.target().server()
            )),
            storage: Arc::clone(storage),
            provider,
            holder,
            lock_timeout: options.lock_timeout,
            session: Mutex::new(None),
            writes: AtomicU64::new(0),
        };
        drop(claims.session()?);
        Ok(claims)
    }

    /// The server, database and schema, for messages.
    fn target(&self) -> String {
        self.storage.target().to_string()
    }

    fn failed(&self, step: &'static str) -> impl Fn(Failure) -> PostgresError + '_ {
        move |failure| match failure {
            Failure::Client(err) => PostgresError::Query {
                target: self.target(),
                step,
                failure: ClientFailure::from_client(&err),
            },
            Failure::TimedOut(waited) => {
                PostgresError::Timeout { target: self.target(), step, waited }
            }
        }
    }

    /// The session, opened (with the presence lock taken) if there is none or it closed.
    fn session(&self) -> Result<MutexGuard<'_, Option<Session>>, PostgresError> {
        let mut guard = self.session.lock().unwrap_or_else(PoisonError::into_inner);
        if guard.as_ref().is_some_and(|session| !session.client.is_closed()) {
            return Ok(guard);
        }
        *guard = None;
        let session = self.storage.driver().wait(self.connect())?;
        tracing::debug!(location = %self.location.display(), holder = %self.holder.key(), "claims session opened");
        *guard = Some(session);
        Ok(guard)
    }

    async fn connect(&self) -> Result<Session, PostgresError> {
        let client = self.storage.pool().connect_client().await?;
        let limit = self.lock_timeout + ANSWER_GRACE;
        let taken: bool = within(
            limit,
            client.query_one("SELECT pg_try_advisory_lock($1)", &[&self.presence_key]),
        )
        .await
        .map_err(self.failed("taking the claims holder's lock"))?
        .get(0);
        if !taken {
            // Another session holds this holder's key: a hash collision of two holders, or
            // this holder's old session not yet gone. Either way this one must not count it.
            return Err(PostgresError::OutOfRange {
                target: self.target(),
                what: "a claims holder lock another session holds",
            });
        }
        let table = format!("\"{}\".claims", self.storage.schema());
        let prepare = |sql: String, types: &'static [Type]| {
            let client = &client;
            async move {
                within(limit, client.prepare_typed(&sql, types))
                    .await
                    .map_err(self.failed("preparing the claims statements"))
            }
        };
        let read = prepare(
            format!(
                "SELECT account, host, pid, start_time, instance, claimed_at, heartbeat_at \
                 FROM {table} WHERE provider = $1"
            ),
            &[Type::TEXT],
        )
        .await?;
        // Rows not kept are deleted and the changed ones upserted, in one statement: the two
        // sets are disjoint, so no row is both deleted and inserted.
        let write = prepare(
            format!(
                "WITH gone AS (\
                   DELETE FROM {table} WHERE provider = $1 AND (account, holder) NOT IN \
                   (SELECT * FROM unnest($2::text[], $3::text[]))\
                 ) \
                 INSERT INTO {table} AS c \
                 (provider, account, holder, host, pid, start_time, instance, claimed_at, \
                  heartbeat_at) \
                 SELECT $1, * FROM unnest($4::text[], $5::text[], $6::text[], $7::int8[], \
                  $8::int8[], $9::text[], $10::int8[], $11::int8[]) \
                 ON CONFLICT (provider, account, holder) DO UPDATE SET \
                 claimed_at = excluded.claimed_at, heartbeat_at = excluded.heartbeat_at"
            ),
            &[
                Type::TEXT,
                Type::TEXT_ARRAY,
                Type::TEXT_ARRAY,
                Type::TEXT_ARRAY,
                Type::TEXT_ARRAY,
                Type::TEXT_ARRAY,
                Type::INT8_ARRAY,
                Type::INT8_ARRAY,
                Type::TEXT_ARRAY,
                Type::INT8_ARRAY,
                Type::INT8_ARRAY,
            ],
        )
        .await?;
        // A bigint advisory key shows in `pg_locks` as its high half (classid) and low half
        // (objid) with objsubid 1.
        let alive = prepare(
            "SELECT DISTINCT (l.classid::int8 << 32) | l.objid::int8 FROM pg_locks l \
             WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 \
             AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
             AND (l.classid::int8 << 32) | l.objid::int8 = ANY($1)"
                .to_owned(),
            &[Type::INT8_ARRAY],
        )
        .await?;
        Ok(Session { client, read, write, alive })
    }

    /// Runs `work` on the session. After a failure the session is kept only if it answers a
    /// `ROLLBACK` (ending a transaction the failure left open): closing it would also drop
    /// the presence lock, making this holder look dead to the others until it reconnects.
    /// One that does not answer is closed, to be reopened at the next use.
    fn with_session<T>(
        &self,
        work: impl AsyncFnOnce(&Session) -> Result<T, ClaimsError>,
    ) -> Result<T, ClaimsError> {
        let mut guard = self.session().map_err(store_error)?;
        let Some(session) = guard.as_ref() else {
            return Err(store_error(PostgresError::Stopped { target: self.target() }));
        };
        let driver = self.storage.driver();
        let result = driver.wait(work(session));
        if result.is_err()
            && driver.wait(within(ANSWER_GRACE, session.client.batch_execute("ROLLBACK"))).is_err()
        {
            *guard = None;
        }
        result
    }

    fn entries_of(&self, rows: &[Row]) -> Result<ClaimMap, PostgresError> {
        let mut map = ClaimMap::new();
        for row in rows {
            let pid: i64 = row.get(2);
            let start: Option<i64> = row.get(3);
            let out_of_range = |what| PostgresError::OutOfRange { target: self.target(), what };
            let entry = ClaimEntry {
                holder: Holder {
                    host: row.get(1),
                    pid: u32::try_from(pid).map_err(|_| out_of_range("a claim's pid"))?,
                    start: start
                        .map(u64::try_from)
                        .transpose()
                        .map_err(|_| out_of_range("a claim's start time"))?,
                    instance: row.get(4),
                },
                claimed_at: EpochMs::from_millis(row.get(5)),
                at: EpochMs::from_millis(row.get(6)),
            };
            let account: String = row.get(0);
            // One row per account is what writers keep; should two exist, the later claim
            // wins, as a take-over does.
            if map.get(&account).is_none_or(|kept| kept.claimed_at <= entry.claimed_at) {
                map.insert(account, entry);
            }
        }
        Ok(map)
    }

    async fn alive_on(
        &self,
        session: &Session,
        holders: &[Holder],
    ) -> Result<Vec<bool>, ClaimsError> {
        let schema = self.storage.schema();
        let keys: Vec<i64> = holders.iter().map(|holder| presence_key(schema, holder)).collect();
        let rows = within(
            self.lock_timeout + ANSWER_GRACE,
            session.client.query(&session.alive, &[&keys]),
        )
        .await
        .map_err(self.failed("asking which claims holders are alive"))
        .map_err(store_error)?;
        let live: HashSet<i64> = rows.iter().map(|row| row.get(0)).collect();
        Ok(keys.iter().map(|key| live.contains(key)).collect())
    }

    async fn update_on(
        &self,
        session: &Session,
        change: &mut ClaimsChange<'_>,
    ) -> Result<ClaimMap, ClaimsError> {
        let client = &session.client;
        let answer = self.lock_timeout + ANSWER_GRACE;
        // `lock_timeout = 0` would mean "wait forever".
        let lock_ms = self.lock_timeout.as_millis().clamp(1, LOCK_TIMEOUT_MAX_MS);
        let begin = format!(
            "BEGIN; SET LOCAL lock_timeout = {lock_ms}; SELECT pg_advisory_xact_lock({})",
            self.writers_key
        );
        within(answer, client.batch_execute(&begin))
            .await
            .map_err(self.failed("waiting for the other holders' claims writes"))
            .map_err(store_error)?;
        let provider = self.provider.as_str();
        let rows = within(answer, client.query(&session.read, &[&provider]))
            .await
            .map_err(self.failed("reading the claims"))
            .map_err(store_error)?;
        let before = self.entries_of(&rows).map_err(store_error)?;
        // Every other holder of a stored row is asked about in one query; the change (run
        // on this thread, between two statements of the transaction) gets the answers.
        let mut others: Vec<Holder> = Vec::new();
        for entry in before.values() {
            if entry.holder != self.holder && !others.contains(&entry.holder) {
                others.push(entry.holder.clone());
            }
        }
        let answers: HashMap<Holder, bool> = if others.is_empty() {
            HashMap::new()
        } else {
            let alive = self.alive_on(session, &others).await?;
            others.into_iter().zip(alive).collect()
        };
        let after = change(&before, &mut |holders: &[Holder]| {
            Ok(holders.iter().map(|holder| answers.get(holder).copied().unwrap_or(true)).collect())
        })?;
        if after == before {
            within(answer, client.batch_execute("COMMIT"))
                .await
                .map_err(self.failed("ending the claims transaction"))
                .map_err(store_error)?;
            return Ok(after);
        }
        self.write_diff(session, &before, &after).await?;
        within(answer, client.batch_execute("COMMIT"))
            .await
            .map_err(self.failed("committing the claims"))
            .map_err(store_error)?;
        self.writes.fetch_add(1, Ordering::Relaxed);
        Ok(after)
    }

    /// The one statement that stores `after` over `before`.
    async fn write_diff(
        &self,
        session: &Session,
        before: &ClaimMap,
        after: &ClaimMap,
    ) -> Result<(), ClaimsError> {
        let kept: BTreeSet<(&String, String)> =
            after.iter().map(|(account, entry)| (account, entry.holder.key())).collect();
        let (kept_accounts, kept_holders): (Vec<&str>, Vec<&str>) =
            kept.iter().map(|(account, holder)| (account.as_str(), holder.as_str())).unzip();
        let changed: Vec<(&String, &ClaimEntry)> =
            after.iter().filter(|(account, entry)| before.get(*account) != Some(entry)).collect();
        let accounts: Vec<&str> = changed.iter().map(|(account, _)| account.as_str()).collect();
        let holders: Vec<String> = changed.iter().map(|(_, e)| e.holder.key()).collect();
        let hosts: Vec<Option<&str>> =
            changed.iter().map(|(_, e)| e.holder.host.as_deref()).collect();
        let pids: Vec<i64> = changed.iter().map(|(_, e)| i64::from(e.holder.pid)).collect();
        let starts: Vec<Option<i64>> = changed
            .iter()
            .map(|(_, e)| e.holder.start.and_then(|start| i64::try_from(start).ok()))
            .collect();
        let instances: Vec<Option<&str>> =
            changed.iter().map(|(_, e)| e.holder.instance.as_deref()).collect();
        let claimed: Vec<i64> = changed.iter().map(|(_, e)| e.claimed_at.as_millis()).collect();
        let beats: Vec<i64> = changed.iter().map(|(_, e)| e.at.as_millis()).collect();
        let provider = self.provider.as_str();
        let params: [&(dyn ToSql + Sync); 11] = [
            &provider,
            &kept_accounts,
            &kept_holders,
            &accounts,
            &holders,
            &hosts,
            &pids,
            &starts,
            &instances,
            &claimed,
            &beats,
        ];
        within(self.lock_timeout + ANSWER_GRACE, session.client.execute(&session.write, &params))
            .await
            .map_err(self.failed("writing the claims"))
            .map_err(store_error)?;
        Ok(())
    }
}

impl ClaimsStore for PostgresClaims {
    fn holder(&self) -> &Holder {
        &self.holder
    }

    fn location(&self) -> &Path {
        &self.location
    }

    /// One query: the provider's rows.
    #[tracing::instrument(level = "trace", skip_all, fields(location = %self.location.display()))]
    fn read(&self) -> Result<Arc<ClaimMap>, ClaimsError> {
        self.with_session(async |session| {
            let provider = self.provider.as_str();
            let rows = within(
                self.lock_timeout + ANSWER_GRACE,
                session.client.query(&session.read, &[&provider]),
            )
            .await
            .map_err(self.failed("reading the claims"))
            .map_err(store_error)?;
            Ok(Arc::new(self.entries_of(&rows).map_err(store_error)?))
        })
    }

    #[tracing::instrument(level = "trace", skip_all, fields(location = %self.location.display()))]
    fn update(&self, change: &mut ClaimsChange<'_>) -> Result<ClaimMap, ClaimsError> {
        // A failed statement leaves the transaction open: `with_session` rolls it back (or
        // closes the session, which rolls it back too).
        self.with_session(async |session| self.update_on(session, change).await)
    }

    /// One query of `pg_locks`: which of the holders' presence locks are granted now.
    #[tracing::instrument(level = "trace", skip_all, fields(location = %self.location.display()))]
    fn alive(&self, holders: &[Holder]) -> Result<Vec<bool>, ClaimsError> {
        self.with_session(async |session| self.alive_on(session, holders).await)
    }

    fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }
}

/// Why a statement gave no answer.
enum Failure {
    Client(tokio_postgres::Error),
    TimedOut(Duration),
}

async fn within<T>(
    limit: Duration,
    future: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, Failure> {
    match tokio::time::timeout(limit, future).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(Failure::Client(err)),
        Err(_) => Err(Failure::TimedOut(limit)),
    }
}

fn store_error(err: PostgresError) -> ClaimsError {
    ClaimsError::Store { source: Box::new(err) }
}
