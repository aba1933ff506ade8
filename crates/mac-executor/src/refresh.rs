//! Refresh of an account's tokens exactly once across threads and processes (D11–D13):
//! a rotated refresh token spent twice logs the user out, the pain this exists to end.
//!
//! Refresh tokens rotate: the provider accepts each one once. When two processes refresh the
//! same account with the same token, the loser gets `invalid_grant` — and if it records that
//! as a failure, a healthy account is disabled. [`RefreshService`] is the one path by which this
//! process refreshes, and it refreshes an account at most once however many callers, threads
//! and processes ask at the same moment.
//!
//! [`RefreshService`] documents the guards, cancellation and blocking work.

mod error;
mod journal;

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use mac_adapters::{AdapterClient, FailureKind, RefreshFailure, TokenGrant};
use mac_storage::file::pending_grant_path;
use mac_storage::{
    AccountLockGuard, AccountLocks, AccountStore, AuthFailure, AuthFailureOutcome, CasOutcome,
    Clock, CredentialPatch, Credentials, EpochMs, FileAccountLocks, LockError, Secret, StoreError,
    StoredAccount,
};
use tokio::sync::OwnedMutexGuard;
use tracing::Instrument as _;

pub use error::RefreshError;

/// How [`RefreshService`] decides and waits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshConfig {
    /// Credentials are refreshed on demand when the access token expires within this margin
    /// (D13: one margin for every path). Default 60 s.
    pub expiry_margin: Duration,
    /// The longest wait for another process's refresh of the same account. Default 45 s: longer
    /// than the provider's 30 s request timeout.
    pub lock_timeout: Duration,
    /// Consecutive transient failures after which an account is disabled, unless it is the
    /// last usable one (D12). Default 3.
    pub max_auth_failures: u32,
    /// How long an account rests in this process after a refresh failed transiently (network,
    /// timeout, 5xx, a bare 4xx) or its refresh lock stayed busy for the whole lock timeout: a
    /// deadline that passes by itself (D10) and never counts toward disabling. Default 30 s.
    pub auth_backoff: Duration,
}

impl Default for RefreshConfig {
    fn default() -> Self {
        Self {
            expiry_margin: Duration::from_secs(60),
            lock_timeout: Duration::from_secs(45),
            max_auth_failures: 3,
            auth_backoff: Duration::from_secs(30),
        }
    }
}

/// Where the returned credentials came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Obtained {
    /// The stored credentials were fresh; nothing was done.
    Fresh,
    /// Another caller, thread or process had already stored fresh credentials; this call sent
    /// no request.
    Adopted,
    /// This call refreshed them and stored the result.
    Refreshed,
}

/// Usable credentials of an account. `Debug` shows no token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refreshed {
    /// The credentials, as stored now.
    pub credentials: Credentials,
    /// How they were obtained.
    pub how: Obtained,
}

/// The one refresh path of a provider pool: refreshes an account at most once however many
/// callers, threads and processes ask at the same moment. Refresh tokens rotate — the provider
/// accepts each once — so a second refresh with the same token gets `invalid_grant`, and
/// recording that would disable a healthy account.
///
/// Cheap to clone: clones share the in-process single flight. Two services on one accounts
/// storage (two pools, two processes, two hosts) coordinate through the account locks; there
/// is no process-global state.
///
/// # The guards (D11)
///
/// 1. **Fresh is free.** Credentials whose access token expires later than now + the margin
///    (60 s, D13) are returned as stored: one `stat` of the accounts file, no lock, no request.
/// 2. **In-process single flight.** Each account has a turn: a `tokio::sync::Mutex` held by
///    the one refresh in progress. Other callers for the account wait for the turn and then
///    re-read the store (one `stat` and a parse of the new version): the tokens the first
///    refresh stored are fresh, so they adopt them without a lock or a request. A failure is
///    shared too: a caller that waited while a refresh failed gets the same failure (as long as
///    the store still holds the credentials that failed) instead of sending the request again.
///    A mutex plus re-read was chosen over a shared future because every waiter keeps its own
///    cancellation: dropping a waiter cancels only its wait.
/// 3. **Cross-process lock.** Inside its turn, a caller takes the account's lock in the
///    pool's [`AccountLocks`] ([`RefreshService::lock_path`] names it): by default an OS lock
///    on a sidecar file next to the accounts file, `<accounts file>.refresh.<uuid>.lock`
///    ([`FileAccountLocks`], one host); with a database store, the database's lock, which
///    every host shares ([`RefreshService::with_account_locks`]). It waits at most
///    [`RefreshConfig::lock_timeout`] (45 s: longer than the provider's 30 s request timeout,
///    so a waiter outlasts a holder's slowest refresh). A hung holder costs that wait once:
///    the timeout settles the flight for every caller queued behind it (they get the same
///    error at once) and the account backs off ([`RefreshConfig::auth_backoff`]), so later
///    callers do not wait again. An on-demand caller whose access token is still valid (only
///    inside the expiry margin) never waits for a busy turn or lock: it uses that token.
/// 4. **Double check.** Inside the lock the store is read again: if another process refreshed
///    meanwhile, its tokens are adopted and no request is sent.
/// 5. **Refresh with the current token, write with compare-and-swap.** Otherwise the refresh
///    sends the refresh token stored *now*, and the grant is written with
///    [`AccountStore::patch_credentials`] only if the stored credentials are still the ones the
///    refresh started from. A conflict means another writer (a re-login) won: its credentials
///    are adopted if fresh, otherwise the caller gets [`RefreshError::Conflict`].
/// 6. **Failures count only against what failed, and only with evidence (D12).** A transient
///    failure (network, timeout, 5xx, a bare 4xx without an OAuth error code) is no evidence
///    against the account: nothing is recorded, and the account backs off for
///    [`RefreshConfig::auth_backoff`] in this service (callers get
///    [`RefreshError::BackingOff`] without a request until it passes by itself). A permanent
///    failure goes through [`AccountStore::record_auth_failure`], which applies the one
///    disabling rule (`auth_failure_verdict`) only if the stored credentials still equal the
///    ones that failed: a failure observed on tokens another process has replaced says nothing
///    about the account. A permanent failure (`invalid_grant`, …) disables the account, never
///    deletes it, and is remembered for that refresh token, so this process never sends the
///    dead token again; a new login brings a new token, which is not remembered. A permanent
///    failure about the OAuth client (`invalid_client`) is not held against the account:
///    every account would fail alike.
///
/// # Cancellation
///
/// Dropping a caller's future at any point before the request is sent releases everything it
/// held at once: its wait for the turn, the turn itself, the cross-process lock (the guard
/// lives in the future's own scope; a lock wait handed to a blocking thread delivers its guard
/// into a join handle nobody holds, so the guard is dropped the instant it arrives).
///
/// Once the request is sent, the refresh is finished even if the caller is gone: the request,
/// the write of the grant and the release of turn and lock run in a spawned task that owns the
/// guards. This is deliberate. The provider spends the old refresh token when it receives the
/// request; abandoning the answer would lose the rotated token and so the account — the very
/// failure this service exists to prevent. The task ends within the client's request timeout
/// (30 s) plus one store write, which is shorter than the lock timeout, so a process waiting
/// for the lock gets it and adopts the stored result; nothing waits for a lock timeout.
///
/// # Blocking work
///
/// Store writes (`patch_credentials`, `record_auth_failure`: file lock, fsync) and the refresh
/// lock (an attempt or a wait: a file open, or a database round trip) run on `spawn_blocking`;
/// dropping a lock guard never blocks. Reads ([`AccountStore::load`]) run inline: for a file,
/// a read is one `stat` when the file has not changed, and a parse of a ~10 KiB file when it
/// has; it waits for no other process.
#[derive(Clone)]
pub struct RefreshService {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<AccountStore>,
    /// The path this host's refresh files are named after (pending-grant journals, and the
    /// default lock files): the accounts file, or where it would be for a store that is not a
    /// local file.
    local_files: PathBuf,
    /// The per-account refresh locks every process of the pool shares.
    locks: Arc<dyn AccountLocks>,
    client: AdapterClient,
    config: RefreshConfig,
    clock: Arc<dyn Clock>,
    /// One turn per account uuid that has needed a refresh; as many as the pool has accounts.
    flights: Mutex<HashMap<String, Arc<Flight>>>,
    /// Refresh tokens the provider declared dead, by account and SHA-256 of the token (the
    /// token itself is not kept), with the failure to answer instead of a request.
    dead: Mutex<HashMap<(String, String), RefreshFailure>>,
    /// Auth backoff deadlines by account uuid: set by a transient refresh failure or a refresh
    /// lock that stayed busy for the whole timeout; they pass by themselves.
    backoff: Mutex<HashMap<String, EpochMs>>,
    /// Each commit task (a refresh sent, its grant being stored) holds a read guard;
    /// [`RefreshService::settle`] takes the write side to wait for all of them.
    commits: Arc<tokio::sync::RwLock<()>>,
}

/// The single flight of one account.
#[derive(Debug, Default)]
struct Flight {
    /// Held by the one refresh in progress; holds the failure of the last one to settle, if
    /// it failed.
    turn: Arc<tokio::sync::Mutex<Option<Settled>>>,
    /// Bumped, while the turn is held, each time a refresh settles: a waiter that sees it
    /// change while it waited knows a refresh ran meanwhile.
    settled: AtomicU64,
}

/// A failed refresh, shared with the callers that waited for it.
#[derive(Debug)]
struct Settled {
    used: Credentials,
    failure: SharedFailure,
}

/// What a settled flight failed with.
#[derive(Clone, Debug)]
enum SharedFailure {
    /// The token endpoint's answer (or its absence).
    Provider(RefreshFailure),
    /// The account's refresh lock stayed busy for the whole lock timeout.
    LockTimeout {
        /// The lock ([`AccountLocks::describe`]).
        path: PathBuf,
        /// How long the flight waited.
        waited: Duration,
    },
}

impl SharedFailure {
    fn into_error(self, uuid: &str) -> RefreshError {
        let uuid = uuid.to_owned();
        match self {
            SharedFailure::Provider(source) => {
                RefreshError::Provider { uuid, source, recorded: None }
            }
            SharedFailure::LockTimeout { path, waited } => {
                RefreshError::LockTimeout { uuid, path, waited }
            }
        }
    }
}

/// What a call wants.
#[derive(Clone, Debug)]
enum Mode {
    /// Credentials that stay valid beyond the margin.
    OnDemand,
    /// Credentials other than these, which the API refused (401).
    Rejected(Credentials),
    /// Proactive: a refresh if the access token expires within this time.
    Expiring(Duration),
}

impl fmt::Debug for RefreshService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshService")
            .field("accounts_file", &self.inner.store.path())
            .field("provider", &self.inner.client.descriptor().provider)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl RefreshService {
    /// The refresh path of the pool in `store`, refreshing through `client`, with time from
    /// `clock` (the client's clock should be the same one: it stamps the grants' expiry).
    pub fn new(
        store: Arc<AccountStore>,
        client: AdapterClient,
        config: RefreshConfig,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let local_files = store.path().to_owned();
        Self::with_local_files(store, client, config, clock, local_files)
    }

    /// [`RefreshService::new`] with this host's refresh files (per-account lock files,
    /// pending-grant journals) named after `local_files` instead of the store's path: for a
    /// store whose accounts are not in a local file (a database), the accounts file's place in
    /// the data directory. The lock then serializes the refreshes of this host's processes
    /// only; [`RefreshService::with_account_locks`] takes locks every host shares.
    pub fn with_local_files(
        store: Arc<AccountStore>,
        client: AdapterClient,
        config: RefreshConfig,
        clock: Arc<dyn Clock>,
        local_files: PathBuf,
    ) -> Self {
        let locks = Arc::new(FileAccountLocks::beside(local_files.clone()));
        Self::with_account_locks(store, client, config, clock, local_files, locks)
    }

    /// [`RefreshService::with_local_files`] with the refresh lock taken from `locks` instead
    /// of lock files beside `local_files` (which still names the host-local pending-grant
    /// journals): for a store shared by several hosts, its backend's locks (a database's), so
    /// an account is refreshed once in the whole pool.
    pub fn with_account_locks(
        store: Arc<AccountStore>,
        client: AdapterClient,
        config: RefreshConfig,
        clock: Arc<dyn Clock>,
        local_files: PathBuf,
        locks: Arc<dyn AccountLocks>,
    ) -> Self {
        if config.lock_timeout <= client.timeout() {
            tracing::warn!(
                lock_timeout_ms = config.lock_timeout.as_millis(),
                request_timeout_ms = client.timeout().as_millis(),
                "the refresh lock timeout is not longer than the request timeout: a process may \
                 give up waiting while another is still refreshing"
            );
        }
        let inner = Inner {
            store,
            local_files,
            locks,
            client,
            config,
            clock,
            flights: Mutex::new(HashMap::new()),
            dead: Mutex::new(HashMap::new()),
            backoff: Mutex::new(HashMap::new()),
            commits: Arc::new(tokio::sync::RwLock::new(())),
        };
        Self { inner: Arc::new(inner) }
    }

    /// Waits until every refresh this service has sent is finished and its grant stored (or
    /// journaled): what shutdown awaits so that no token spent at the provider is lost when the
    /// process exits. Waits for nothing else (no lock wait, no new refresh).
    pub async fn settle(&self) {
        drop(self.inner.commits.write().await);
    }

    /// The settings.
    pub fn config(&self) -> &RefreshConfig {
        &self.inner.config
    }

    /// The pool's store.
    pub fn store(&self) -> &Arc<AccountStore> {
        &self.inner.store
    }

    /// The clock deciding what is fresh.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// The cross-process refresh lock of account `uuid`, as [`AccountLocks::describe`] names
    /// it: by default the lock file `<accounts file>.refresh.<uuid>.lock` (see
    /// [`RefreshService::with_local_files`] and [`mac_storage::file::refresh_lock_path`]).
    pub fn lock_path(&self, uuid: &str) -> PathBuf {
        self.inner.locks.describe(uuid)
    }

    /// Whether `credentials` must be refreshed before use at `now`: no access token, no
    /// expiry, or an expiry within the margin.
    pub fn needs_refresh(&self, credentials: &Credentials, now: EpochMs) -> bool {
        self.inner.needs_refresh(credentials, now)
    }

    /// Whether the proactive refresher should refresh `credentials` at `now`: they have an
    /// access token and an expiry, which lies within `within` but not within the on-demand
    /// margin (those are left to the on-demand path).
    pub fn is_expiring_within(
        &self,
        credentials: &Credentials,
        now: EpochMs,
        within: Duration,
    ) -> bool {
        self.inner.is_expiring_within(credentials, now, within)
    }

    /// Until when `account` rests after a transient refresh failure or a refresh lock that
    /// stayed busy ([`RefreshConfig::auth_backoff`]), if that is after `now` and the account
    /// has no access token still valid at `now` (a token inside the expiry margin is still
    /// used while the refresh waits).
    pub fn auth_backoff_until(&self, account: &StoredAccount, now: EpochMs) -> Option<EpochMs> {
        let uuid = account.uuid.as_deref()?;
        let until = self.inner.backoff_until(uuid, now)?;
        let valid = account.access_token.as_ref().is_some_and(|token| !token.is_empty())
            && account.expires_at.is_some_and(|at| at > now);
        (!valid).then_some(until)
    }

    /// Usable credentials of account `uuid`: the stored ones if fresh, else refreshed exactly
    /// once across callers, threads and processes (see the type docs).
    pub async fn fresh_credentials(&self, uuid: &str) -> Result<Refreshed, RefreshError> {
        let span = tracing::debug_span!("fresh_credentials", account = %uuid);
        self.inner.obtain(uuid, Mode::OnDemand).instrument(span).await.and_then(|refreshed| {
            // `OnDemand` always answers credentials (or an error).
            refreshed.ok_or_else(|| RefreshError::Conflict { uuid: uuid.to_owned() })
        })
    }

    /// New credentials after the API refused `rejected` (401): the stored ones if they already
    /// differ and are fresh (another caller refreshed), else a refresh with the same guards as
    /// [`RefreshService::fresh_credentials`], even if the expiry says `rejected` is fresh.
    pub async fn refresh_rejected(
        &self,
        uuid: &str,
        rejected: &Credentials,
    ) -> Result<Refreshed, RefreshError> {
        let span = tracing::debug_span!("refresh_rejected", account = %uuid);
        let mode = Mode::Rejected(rejected.clone());
        self.inner.obtain(uuid, mode).instrument(span).await.and_then(|refreshed| {
            refreshed.ok_or_else(|| RefreshError::Conflict { uuid: uuid.to_owned() })
        })
    }

    /// The proactive refresh of one account: refreshes it (with the same guards) if its access
    /// token expires within `within` but not within the on-demand margin. `Ok(None)`: nothing
    /// to do (no tokens, not expiring yet, or already so close to expiry that the on-demand
    /// path will refresh it).
    pub async fn refresh_if_expiring(
        &self,
        uuid: &str,
        within: Duration,
    ) -> Result<Option<Refreshed>, RefreshError> {
        let span = tracing::debug_span!("refresh_if_expiring", account = %uuid);
        self.inner.obtain(uuid, Mode::Expiring(within)).instrument(span).await
    }

    /// Applies every pending-grant journal this host holds (grants an earlier refresh here
    /// obtained but could not store), whatever state the account is in now, each under the
    /// account's refresh lock; returns how many journals were settled (their grant stored, or
    /// found stored already or replaced by a login).
    ///
    /// Why not only when the account is next refreshed here: on a storage shared by several
    /// hosts, another host may refresh meanwhile with the refresh token this grant spent, get
    /// `invalid_grant` and disable the account — which this host then never selects, so its
    /// grant would wait forever. The compare-and-swap on the spent token still matches (the
    /// other host stored no new one), and storing the grant clears the disabling, whose only
    /// evidence was that spent token. The proactive refresher calls this at every check.
    pub async fn apply_pending_grants(&self) -> usize {
        self.inner.apply_pending_grants().instrument(tracing::debug_span!("pending_grants")).await
    }
}

impl Inner {
    fn backoff_until(&self, uuid: &str, now: EpochMs) -> Option<EpochMs> {
        lock_ignoring_poison(&self.backoff).get(uuid).copied().filter(|at| *at > now)
    }

    /// Rests the account for [`RefreshConfig::auth_backoff`] from now.
    fn back_off(&self, uuid: &str) {
        let until = self.clock.now().saturating_add(self.config.auth_backoff);
        tracing::info!(until_ms = until.as_millis(), "refresh backs off until then");
        lock_ignoring_poison(&self.backoff).insert(uuid.to_owned(), until);
    }

    /// Whether `credentials` carry an access token that the provider still accepts at `now`
    /// (possibly inside the expiry margin).
    fn valid_at(credentials: &Credentials, now: EpochMs) -> bool {
        credentials.access_token.as_ref().is_some_and(|token| !token.is_empty())
            && credentials.expires_at.is_some_and(|at| at > now)
    }

    fn needs_refresh(&self, credentials: &Credentials, now: EpochMs) -> bool {
        match (&credentials.access_token, credentials.expires_at) {
            (Some(access), Some(expires_at)) if !access.is_empty() => {
                expires_at <= now.saturating_add(self.config.expiry_margin)
            }
            _ => true,
        }
    }

    fn is_expiring_within(
        &self,
        credentials: &Credentials,
        now: EpochMs,
        within: Duration,
    ) -> bool {
        !self.needs_refresh(credentials, now)
            && credentials.expires_at.is_some_and(|at| at <= now.saturating_add(within))
    }

    /// Whether `credentials` already give the caller what it asked for.
    fn satisfies(&self, mode: &Mode, credentials: &Credentials, now: EpochMs) -> bool {
        match mode {
            Mode::OnDemand => !self.needs_refresh(credentials, now),
            Mode::Rejected(rejected) => {
                credentials != rejected && !self.needs_refresh(credentials, now)
            }
            // Inside the turn, credentials within the margin are refreshed too: the caller
            // already holds what the on-demand path would take.
            Mode::Expiring(within) => {
                !self.needs_refresh(credentials, now)
                    && credentials.expires_at.is_some_and(|at| at > now.saturating_add(*within))
            }
        }
    }

    /// The answer when `current` satisfies the caller: fresh if unchanged since the caller
    /// looked, adopted otherwise; a proactive call that finds nothing changed did nothing.
    fn satisfied(mode: &Mode, observed: &Credentials, current: Credentials) -> Option<Refreshed> {
        match (mode, &current == observed) {
            (Mode::Expiring(_), true) => None,
            (Mode::Rejected(_), _) | (_, false) => {
                Some(Refreshed { credentials: current, how: Obtained::Adopted })
            }
            (Mode::OnDemand, true) => {
                Some(Refreshed { credentials: current, how: Obtained::Fresh })
            }
        }
    }

    async fn obtain(
        self: &Arc<Self>,
        uuid: &str,
        mode: Mode,
    ) -> Result<Option<Refreshed>, RefreshError> {
        // 1. Fresh is free: first from the store's last view (no I/O), else from the file.
        let now = self.clock.now();
        if let Mode::OnDemand = mode
            && let Some(cached) = self.store.cached()
            && let Some(account) = cached.account(uuid)
        {
            let credentials = account.credentials();
            if self.satisfies(&mode, &credentials, now) {
                return Ok(Some(Refreshed { credentials, how: Obtained::Fresh }));
            }
        }
        let stored = self.stored(uuid)?;
        if self.satisfies(&mode, &stored, now) {
            return Ok(Self::satisfied(&mode, &stored, stored.clone()));
        }
        if let Mode::Expiring(_) = mode
            && self.needs_refresh(&stored, now)
        {
            tracing::debug!(
                "left to the on-demand refresh: no tokens, or expiring within the margin"
            );
            return Ok(None);
        }
        if let Some(failure) = self.known_dead(uuid, &stored) {
            return Err(RefreshError::Provider {
                uuid: uuid.to_owned(),
                source: failure,
                recorded: None,
            });
        }
        if let Some(until) = self.backoff_until(uuid, now) {
            return match mode {
                Mode::OnDemand if Self::valid_at(&stored, now) => {
                    Ok(Some(Refreshed { credentials: stored, how: Obtained::Fresh }))
                }
                Mode::Expiring(_) => Ok(None),
                Mode::OnDemand | Mode::Rejected(_) => {
                    Err(RefreshError::BackingOff { uuid: uuid.to_owned(), until })
                }
            };
        }
        // What the caller found unsatisfying: for a 401, the credentials the API refused.
        let observed = match &mode {
            Mode::Rejected(rejected) => rejected.clone(),
            Mode::OnDemand | Mode::Expiring(_) => stored,
        };
        self.guarded(uuid, mode, observed).await
    }

    /// Guards 2–6 for a caller that found `observed` unsatisfying.
    async fn guarded(
        self: &Arc<Self>,
        uuid: &str,
        mode: Mode,
        observed: Credentials,
    ) -> Result<Option<Refreshed>, RefreshError> {
        // An on-demand caller whose access token is still valid (only inside the margin) does
        // not wait for a refresh in progress, here or in another process: it uses the token.
        let patient =
            !matches!(mode, Mode::OnDemand) || !Self::valid_at(&observed, self.clock.now());
        let still_valid =
            || Ok(Some(Refreshed { credentials: observed.clone(), how: Obtained::Fresh }));

        // 2. In-process single flight.
        let flight = self.flight(uuid);
        let seen = flight.settled.load(Ordering::Acquire);
        let mut turn = if patient {
            Arc::clone(&flight.turn).lock_owned().await
        } else {
            match Arc::clone(&flight.turn).try_lock_owned() {
                Ok(turn) => turn,
                Err(_) => return still_valid(),
            }
        };
        let current = self.stored(uuid)?;
        if flight.settled.load(Ordering::Acquire) != seen
            && let Some(settled) = turn.as_ref()
            && settled.used == current
        {
            tracing::debug!("sharing the failure of the refresh this call waited for");
            return Err(settled.failure.clone().into_error(uuid));
        }
        if self.satisfies(&mode, &current, self.clock.now()) {
            return Ok(Self::satisfied(&mode, &observed, current));
        }

        // 3. Cross-process lock; 4. double check inside it.
        let lock = if patient {
            match self.lock(uuid).await {
                Ok(lock) => lock,
                Err(RefreshError::LockTimeout { uuid: _, path, waited }) => {
                    // Settle the flight for every caller waiting for this turn, and rest the
                    // account: nobody here waits for the hung holder a second time.
                    tracing::warn!(lock = %path.display(), "the refresh lock stayed busy; the account rests");
                    let failure = SharedFailure::LockTimeout { path, waited };
                    *turn = Some(Settled { used: current, failure: failure.clone() });
                    flight.settled.fetch_add(1, Ordering::AcqRel);
                    self.back_off(uuid);
                    return Err(failure.into_error(uuid));
                }
                Err(err) => return Err(err),
            }
        } else {
            match self.try_lock(uuid).await? {
                Some(lock) => lock,
                None => return still_valid(),
            }
        };
        if let Some(pending) = self.apply_journal(uuid).await? {
            return Ok(Some(pending));
        }
        let current = self.stored(uuid)?;
        if self.satisfies(&mode, &current, self.clock.now()) {
            tracing::debug!("adopting credentials another process stored");
            return Ok(Self::satisfied(&mode, &observed, current));
        }
        if let Some(failure) = self.known_dead(uuid, &current) {
            return Err(RefreshError::Provider {
                uuid: uuid.to_owned(),
                source: failure,
                recorded: None,
            });
        }

        // 5–6. The request: from here on it is finished even if the caller goes away.
        let in_flight = Arc::clone(&self.commits).read_owned().await;
        let commit = Arc::clone(self).commit(flight, turn, lock, uuid.to_owned(), current);
        let task = tokio::spawn(
            async move {
                let outcome = commit.await;
                drop(in_flight);
                outcome
            }
            .instrument(tracing::Span::current()),
        );
        match task.await {
            Ok(result) => result.map(Some),
            Err(source) => Err(RefreshError::Task { uuid: uuid.to_owned(), source }),
        }
    }

    /// Refreshes with `used`, stores or records the outcome, settles the flight, and releases
    /// the turn and the lock (by dropping them, on every path).
    async fn commit(
        self: Arc<Self>,
        flight: Arc<Flight>,
        mut turn: OwnedMutexGuard<Option<Settled>>,
        lock: AccountLockGuard,
        uuid: String,
        used: Credentials,
    ) -> Result<Refreshed, RefreshError> {
        let outcome = if let Err(err) = self.ready_to_refresh(&uuid).await {
            Err(err)
        } else {
            tracing::debug!("refreshing");
            match self.client.refresh(&used.refresh_token).await {
                Ok(grant) => self.persist(&uuid, &used, grant).await,
                Err(failure) => self.fail(&uuid, &used, failure).await,
            }
        };
        *turn = match &outcome {
            Err(RefreshError::Provider { source, .. }) => {
                Some(Settled { used, failure: SharedFailure::Provider(source.clone()) })
            }
            _ => None,
        };
        flight.settled.fetch_add(1, Ordering::AcqRel);
        drop(lock);
        drop(turn);
        outcome
    }

    /// Whether a refresh may be sent: the store is not of a newer version (read-only here) and
    /// a pending-grant journal can be written beside it. A refresh whose grant could not be
    /// kept is refused rather than spending the refresh token.
    async fn ready_to_refresh(&self, uuid: &str) -> Result<(), RefreshError> {
        let document =
            self.store.load().map_err(|source| store_error(uuid, &self.store, source))?;
        if document.version > mac_storage::SUPPORTED_VERSION {
            return Err(RefreshError::Unwritable {
                uuid: uuid.to_owned(),
                path: self.store.path().to_owned(),
                reason: format!("the file is of a newer version ({})", document.version),
            });
        }
        let path = self.journal_path(uuid);
        let probe_path = path.clone();
        blocking(uuid, move || journal::probe(&probe_path)).await?.map_err(|err| {
            RefreshError::Unwritable {
                uuid: uuid.to_owned(),
                path,
                reason: format!("the pending-grant journal cannot be written: {err}"),
            }
        })
    }

    fn journal_path(&self, uuid: &str) -> PathBuf {
        pending_grant_path(&self.local_files, uuid)
    }

    /// See [`RefreshService::apply_pending_grants`].
    async fn apply_pending_grants(&self) -> usize {
        let store = Arc::clone(&self.store);
        // The cheapest up-to-date list of accounts: a journal of an account this view misses
        // waits for the next check.
        let document = match blocking("", move || store.refresh_cached()).await {
            Ok(Ok(document)) => document,
            Ok(Err(err)) => {
                tracing::debug!(error = %err, "cannot list the accounts for pending grants");
                return 0;
            }
            Err(err) => {
                tracing::debug!(error = %err, "cannot list the accounts for pending grants");
                return 0;
            }
        };
        let uuids: Vec<String> =
            document.accounts.iter().filter_map(|account| account.uuid.clone()).collect();
        let paths: Vec<PathBuf> = uuids.iter().map(|uuid| self.journal_path(uuid)).collect();
        let Ok(pending) =
            blocking("", move || paths.iter().map(|path| path.exists()).collect::<Vec<bool>>())
                .await
        else {
            return 0;
        };
        let mut applied = 0;
        for (uuid, _) in uuids.iter().zip(pending).filter(|(_, pending)| *pending) {
            let span = tracing::info_span!("pending_grant", account = %uuid);
            let outcome = async {
                let _lock = self.lock(uuid).await?;
                self.apply_journal(uuid).await
            }
            .instrument(span)
            .await;
            match outcome {
                Ok(None) => applied += 1,
                Ok(Some(_)) => {}
                Err(err) => tracing::warn!(account = %uuid, error = %err, "a pending grant waits"),
            }
        }
        applied
    }

    /// Applies a pending grant left by an earlier refresh whose store write failed (this
    /// process or another, maybe killed since): compare-and-swap on the refresh token it was
    /// obtained with. Called with the account's refresh lock held. `Some`: the grant's
    /// credentials, when they could not be stored either (they are used, and the journal stays
    /// for the next writer); `None`: nothing pending (any journal was applied or stale).
    async fn apply_journal(&self, uuid: &str) -> Result<Option<Refreshed>, RefreshError> {
        let path = self.journal_path(uuid);
        let read_path = path.clone();
        let pending = match blocking(uuid, move || journal::read(&read_path)).await? {
            Ok(Some(pending)) => pending,
            Ok(None) => return Ok(None),
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the pending-grant journal");
                return Ok(None);
            }
        };
        let stored = self.stored(uuid)?;
        if stored.refresh_token != pending.used_refresh_token {
            tracing::info!(
                "a pending grant was already applied or replaced by a login; removing it"
            );
            self.remove_journal(uuid, path).await;
            return Ok(None);
        }
        tracing::warn!("applying a pending grant an earlier refresh could not store");
        let store = Arc::clone(&self.store);
        let (account, expected, grant) = (uuid.to_owned(), stored, pending.patch.clone());
        let written =
            blocking(uuid, move || store.patch_credentials(&account, &expected, grant)).await?;
        match written {
            Ok(_) => {
                self.remove_journal(uuid, path).await;
                Ok(None)
            }
            Err(err) => {
                tracing::error!(error = %err, "the pending grant still cannot be stored; using it");
                let credentials = pending_credentials(&pending.used_refresh_token, &pending.patch);
                Ok(Some(Refreshed { credentials, how: Obtained::Adopted }))
            }
        }
    }

    async fn remove_journal(&self, uuid: &str, path: PathBuf) {
        match blocking(uuid, move || journal::remove(&path)).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!(error = %err, "cannot remove the pending-grant journal"),
            Err(err) => tracing::warn!(error = %err, "cannot remove the pending-grant journal"),
        }
    }

    /// Stores a grant obtained with `used`: first in the pending-grant journal (so the rotated
    /// refresh token survives any failure after this point), then in the accounts file by
    /// compare-and-swap, retried a few times; the journal is removed once the grant is stored.
    /// When the store cannot be written, the grant's credentials are still returned (the
    /// provider issued them; they work) and the journal stays for the next writer.
    async fn persist(
        &self,
        uuid: &str,
        used: &Credentials,
        grant: TokenGrant,
    ) -> Result<Refreshed, RefreshError> {
        let pending = journal::PendingGrant {
            used_refresh_token: used.refresh_token.clone(),
            patch: grant.into_patch(),
        };
        let path = self.journal_path(uuid);
        let (write_path, to_write) = (path.clone(), pending.clone());
        let journaled = match blocking(uuid, move || journal::write(&write_path, &to_write)).await?
        {
            Ok(()) => true,
            Err(err) => {
                tracing::error!(error = %err, "cannot write the pending-grant journal");
                false
            }
        };
        let mut failures = 0_u32;
        loop {
            match self.store_grant(uuid, used, &pending.patch).await {
                Ok(refreshed) => {
                    if journaled {
                        self.remove_journal(uuid, path).await;
                    }
                    return Ok(refreshed);
                }
                Err(RefreshError::Store { source, .. }) if failures < STORE_RETRIES => {
                    failures += 1;
                    tracing::warn!(error = %source, failures, "storing the grant failed; retrying");
                    tokio::time::sleep(STORE_RETRY_PAUSE * failures).await;
                }
                Err(RefreshError::Store { source, .. }) if journaled => {
                    tracing::error!(
                        error = %source,
                        journal = %path.display(),
                        "the grant cannot be stored; it is kept in the pending-grant journal and applied by the next writer"
                    );
                    let credentials = pending_credentials(&used.refresh_token, &pending.patch);
                    return Ok(Refreshed { credentials, how: Obtained::Refreshed });
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// The compare-and-swap write of a grant.
    async fn store_grant(
        &self,
        uuid: &str,
        used: &Credentials,
        patch: &CredentialPatch,
    ) -> Result<Refreshed, RefreshError> {
        let mut expected = used.clone();
        // At most two rounds: the second only when the first met the same refresh token with
        // other access fields (a revoked 403 cleared the access token meanwhile, say). The grant
        // belongs to that refresh token, and the token it rotated to must not be lost.
        for round in 0..2 {
            let store = Arc::clone(&self.store);
            let (account, exp, patch) = (uuid.to_owned(), expected.clone(), patch.clone());
            let outcome = blocking(uuid, move || store.patch_credentials(&account, &exp, patch))
                .await?
                .map_err(|source| store_error(uuid, &self.store, source))?;
            match outcome {
                CasOutcome::Applied(credentials) => {
                    tracing::info!("refreshed and stored");
                    return Ok(Refreshed { credentials, how: Obtained::Refreshed });
                }
                CasOutcome::Conflict(stored)
                    if round == 0 && stored.refresh_token == used.refresh_token =>
                {
                    expected = stored;
                }
                CasOutcome::Conflict(stored) => {
                    return if self.needs_refresh(&stored, self.clock.now()) {
                        tracing::warn!(
                            "another writer replaced the credentials during the refresh; the stored ones are not fresh"
                        );
                        Err(RefreshError::Conflict { uuid: uuid.to_owned() })
                    } else {
                        tracing::info!(
                            "another writer stored fresh credentials during the refresh; adopting them"
                        );
                        Ok(Refreshed { credentials: stored, how: Obtained::Adopted })
                    };
                }
            }
        }
        Err(RefreshError::Conflict { uuid: uuid.to_owned() })
    }

    /// Records a failed refresh with `used` against the account (if it concerns the account)
    /// and remembers a dead token.
    async fn fail(
        &self,
        uuid: &str,
        used: &Credentials,
        failure: RefreshFailure,
    ) -> Result<Refreshed, RefreshError> {
        let kind = match failure.kind {
            FailureKind::Transient => {
                // An outage is not evidence against the account (D12): no count toward
                // disabling, only a backoff that passes by itself.
                self.back_off(uuid);
                None
            }
            FailureKind::Permanent(reason) if reason.concerns_account() => {
                self.remember_dead(uuid, used, &failure);
                Some(AuthFailure::Permanent)
            }
            FailureKind::Permanent(reason) => {
                tracing::error!(%reason, "the provider refused the OAuth client itself; the account is not held responsible");
                None
            }
        };
        let recorded = match kind {
            None => None,
            Some(kind) => {
                let store = Arc::clone(&self.store);
                let max = self.config.max_auth_failures;
                let (account, observed) = (uuid.to_owned(), used.clone());
                let result = blocking(uuid, move || {
                    store.record_auth_failure(&account, &observed, kind, max)
                })
                .await?;
                match result {
                    Ok(outcome) => Some(outcome),
                    Err(err) => {
                        tracing::warn!(error = %err, "could not record the refresh failure");
                        None
                    }
                }
            }
        };
        match &recorded {
            Some(AuthFailureOutcome::Stale) => {
                // Another writer replaced the credentials while this refresh failed.
                let current = self.stored(uuid)?;
                if !self.needs_refresh(&current, self.clock.now()) {
                    tracing::info!(
                        "the refresh failed on replaced credentials; adopting the stored ones"
                    );
                    return Ok(Refreshed { credentials: current, how: Obtained::Adopted });
                }
            }
            Some(AuthFailureOutcome::Disabled { reason }) => {
                tracing::warn!(%reason, "account disabled");
            }
            Some(AuthFailureOutcome::Counted { failures }) => {
                tracing::debug!(failures, "refresh failure counted");
            }
            None => {}
        }
        Err(RefreshError::Provider { uuid: uuid.to_owned(), source: failure, recorded })
    }

    /// The stored credentials of `uuid`.
    fn stored(&self, uuid: &str) -> Result<Credentials, RefreshError> {
        let document =
            self.store.load().map_err(|source| store_error(uuid, &self.store, source))?;
        match document.account(uuid) {
            Some(account) => Ok(account.credentials()),
            None => Err(RefreshError::UnknownAccount {
                uuid: uuid.to_owned(),
                path: self.store.path().to_owned(),
            }),
        }
    }

    fn flight(&self, uuid: &str) -> Arc<Flight> {
        let mut flights = lock_ignoring_poison(&self.flights);
        Arc::clone(flights.entry(uuid.to_owned()).or_default())
    }

    /// Takes the account's cross-process lock, waiting at most the lock timeout, on a
    /// blocking thread (a lock file's open or a database round trip, then maybe a wait).
    async fn lock(&self, uuid: &str) -> Result<AccountLockGuard, RefreshError> {
        tracing::debug!(lock = %self.locks.describe(uuid).display(), "taking the refresh lock");
        let (locks, account) = (Arc::clone(&self.locks), uuid.to_owned());
        let timeout = self.config.lock_timeout;
        // If this future is dropped during the wait, the guard lands in a join handle nobody
        // holds and is dropped at once, releasing the lock.
        blocking(uuid, move || locks.lock(&account, timeout))
            .await?
            .map_err(|source| lock_error(uuid, source))
    }

    /// Takes the account's cross-process lock only if it is free now (on a blocking thread:
    /// the attempt itself may be a database round trip).
    async fn try_lock(&self, uuid: &str) -> Result<Option<AccountLockGuard>, RefreshError> {
        let (locks, account) = (Arc::clone(&self.locks), uuid.to_owned());
        blocking(uuid, move || locks.try_lock(&account))
            .await?
            .map_err(|source| lock_error(uuid, source))
    }

    fn known_dead(&self, uuid: &str, credentials: &Credentials) -> Option<RefreshFailure> {
        let key = (uuid.to_owned(), credentials.refresh_token.fingerprint());
        let failure = lock_ignoring_poison(&self.dead).get(&key).cloned();
        if failure.is_some() {
            tracing::debug!("the refresh token was declared dead earlier; not sending it again");
        }
        failure
    }

    fn remember_dead(&self, uuid: &str, credentials: &Credentials, failure: &RefreshFailure) {
        let key = (uuid.to_owned(), credentials.refresh_token.fingerprint());
        lock_ignoring_poison(&self.dead).insert(key, failure.clone());
    }
}

/// How many times a failed store write of a grant is retried, and the first pause (growing
/// linearly): a lock held briefly by another writer is waited out, a broken store is not.
const STORE_RETRIES: u32 = 2;
const STORE_RETRY_PAUSE: Duration = Duration::from_millis(100);

/// The credentials a grant obtained with `used_refresh_token` gives.
fn pending_credentials(used_refresh_token: &Secret, patch: &CredentialPatch) -> Credentials {
    Credentials {
        refresh_token: patch.refresh_token.clone().unwrap_or_else(|| used_refresh_token.clone()),
        access_token: Some(patch.access_token.clone()),
        expires_at: Some(patch.expires_at),
    }
}

/// Runs blocking `work` on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    uuid: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, RefreshError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|source| RefreshError::Task { uuid: uuid.to_owned(), source })
}

fn store_error(uuid: &str, store: &AccountStore, source: StoreError) -> RefreshError {
    if source.is_unknown_account() {
        RefreshError::UnknownAccount { uuid: uuid.to_owned(), path: store.path().to_owned() }
    } else {
        RefreshError::Store { uuid: uuid.to_owned(), source }
    }
}

fn lock_error(uuid: &str, source: LockError) -> RefreshError {
    match source {
        LockError::Timeout { path, waited } => {
            RefreshError::LockTimeout { uuid: uuid.to_owned(), path, waited }
        }
        source => RefreshError::Lock { uuid: uuid.to_owned(), source },
    }
}

fn lock_ignoring_poison<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
