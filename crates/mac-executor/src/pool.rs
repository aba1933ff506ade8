//! [`Pool`]: one provider pool in this process — the accounts file, claims, the refresh
//! service, the selector's state and session bindings — and [`Pool::execute`], the rotating
//! retry loop (D15, D16).
//!
//! # The state machine of one request
//!
//! Every response, retries included, goes through one classifier (so a retry is judged like a first answer): the effects layer
//! reads the response's facts, the pure `step::next_step` decides (its unit test walks this
//! table row by row), and the effects layer carries the step out. The loop does the waiting.
//! "Refreshed" means this request already refreshed the account (before sending or after a
//! 401): at most one refresh per account per request.
//!
//! | Outcome of an attempt | What happens |
//! |---|---|
//! | 2xx (its prelude, read up to the commit point, bears output or it is no stream) | success: `record_success` (coalesced), session bound, returned with a [`Lease`] holding the account |
//! | 2xx whose prelude is an error frame (`error`, `response.failed`) | classified as the status the frame stands for (`mac_ratelimit::observe_in_band`: 429 rate/usage limit, 529 overload, 401, 403, 4xx, else 500) with the frame's data as its body: the row of that status below, the same events; a row that returns hands the 200 back as is |
//! | 2xx whose prelude could not be read (first-byte timeout, cut) | like no response: rotate, the account is not marked |
//! | 3xx, 4xx other than 401/403/429 | returned as is (the request's fault, not the account's) |
//! | 401, not refreshed | refresh once (or adopt another process's refresh), retry the same account; when the refresh fails on mac's own storage (unreadable, a database down), rotate without keeping the 401, so a request left without accounts fails naming the storage rather than telling the client its login is bad |
//! | 401, refreshed | the account rests in memory for the auth backoff (counts nothing), rotate |
//! | 403 whose body says `revoked`, not refreshed | refresh once, retry the same account: a permanent refresh failure is the evidence that disables |
//! | 403 revoked, refreshed (the new token is revoked too) | revoked recorded (disabled if another usable account remains), rotate |
//! | 403 otherwise | returned as is |
//! | 529, an `overloaded_error` body | the provider's state: the account rests in memory only (jittered, doubling from `server_retry_base`), rotate; a one-account pool waits that rest |
//! | 429 of account scope | `mac_ratelimit::record` in the shared file (class, ladder), rotate |
//! | 429 of a model family (`seven_day_opus`, `seven_day_sonnet`) | held in memory for that family only, rotate |
//! | 5xx | up to `server_retries` jittered retries on the same account (the loop sleeps), then rotate |
//! | no response (network, timeout) | rotate; the account is avoided for the rest of this request |
//! | refresh failure before sending | rotate; the account is not offered again to this request. Transient (network, 5xx, bare 4xx, lock busy): an auth backoff in memory that passes by itself, never counted toward disabling; permanent (`invalid_grant`, …): disabled |
//! | after the commit point: [`Lease::finish`] with an in-band error | the account is marked as the same frame before the commit point would (rate limit: cooldown; overload: rest; 401 after this request's refresh: auth backoff; revoked after it: recorded); nothing rotates or is sent again, so the rows whose step is a send (refresh and retry, 5xx retry) and the request's own 4xx mark nothing; the claim is released |
//! | after the commit point: completed, upstream cut, client gone (or the lease dropped) | nothing marked; the claim is released |
//!
//! A cooldown or revoked mark whose file write fails never fails the request: it is logged and
//! held in memory. Selection skips held accounts like rate-limited ones ([`SelectionInput`]'s
//! `held_until`).
//!
//! The budget is max(`min_attempts`, `attempts_per_account` × eligible accounts). When no
//! account is selectable, the request waits for the soonest reset (stored or held) if that comes
//! within `max_wait` of the request's start, else it ends: with [`ExecuteError::AllRateLimited`]
//! when nothing was tried or the last rotation was a rate limit, otherwise with the last error
//! response (marked `gave_up`) or, when no response came at all, [`ExecuteError::Exhausted`]
//! naming the last failure. A client sees the provider's own answer where there is one.
//!
//! The claim taken for an attempt is kept in the returned [`Lease`] while the caller streams the
//! response (selection in other processes steers away from the account meanwhile), and released
//! by [`Lease::finish`] or the lease's drop, which reports the end as
//! [`PoolEvent::StreamEnded`]. A request's own [`RequestInfo::max_wait`] shortens its wait.
//!
//! Cancellation: dropping the future of `execute` drops the claim guard (released at once) and
//! any refresh in progress (its cross-process lock is released with it); store writes are
//! never interrupted half-way, since they are synchronous calls between awaits.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use mac_adapters::AdapterClient;
use mac_claims::{ClaimGuard, Claims, ClaimsSnapshot};
use mac_ratelimit::{
    ModelFamily, Observation, PoolWait, Scope, classify, decide, observe, observe_in_band, scope,
    soonest_usable_with,
};
use mac_storage::{
    AccountLocks, AccountStore, AccountsDocument, AuthFailure, AuthFailureOutcome, Clock,
    Credentials, EpochMs, FileAccountLocks, Provider, Secret, StoredAccount,
};
use snafu::{IntoError, OptionExt};

use crate::config::PoolConfig;
use crate::error::{ExecuteError, ExhaustedSnafu, NoUsableAccountSnafu, SendSnafu};
use crate::events::{EventSink, PoolEvent, RotationCause};
use crate::holds::Holds;
use crate::jitter::Jitter;
use crate::lease::{Lease, Served};
use crate::proactive::ProactiveRefresher;
use crate::refresh::{Obtained, RefreshError, RefreshService};
use crate::response::{AttemptResponse, PreludeVerdict, SendError, SendErrorKind};
use crate::selection::{SelectionInput, SelectionReason, select};
use crate::session::{SessionBindings, SessionKey};
use crate::step::{Facts, Step, needs_body, next_step};
use crate::write_behind::WriteBehind;

/// What the caller's closure gets for one attempt.
#[derive(Clone, Debug)]
pub struct Attempt {
    /// The account's local uuid.
    pub account: String,
    /// Its label, for logs.
    pub label: String,
    /// The ChatGPT account id (Codex), for `ChatGPT-Account-Id`.
    pub account_id: Option<String>,
    /// The access token to send.
    pub access_token: Secret,
    /// 1 for the first attempt of the request, counting every send.
    pub number: u32,
}

/// What the caller knows about the request.
#[derive(Clone, Debug, Default)]
pub struct RequestInfo {
    /// The session this request belongs to, for session affinity (D14).
    pub session_key: Option<SessionKey>,
    /// The model the request asks for (`claude-opus-4-1`, `gpt-5-codex`, …): a limit of one
    /// model family (`seven_day_opus`) blocks the account only for requests of that family.
    pub model: Option<String>,
    /// A shorter wait for a cooling account than the pool's [`PoolConfig::max_wait`], for this
    /// request (the smaller of the two applies).
    pub max_wait: Option<Duration>,
}

impl RequestInfo {
    /// A request for `model`, without a session.
    pub fn for_model(model: impl Into<String>) -> Self {
        Self { model: Some(model.into()), ..Self::default() }
    }
}

/// A request's outcome.
#[derive(Debug)]
pub struct Executed<R> {
    /// The response to hand to the client.
    pub response: R,
    /// The account that answered (its uuid).
    pub account: String,
    /// Attempts made.
    pub attempts: u32,
    /// `true` when the budget ran out and this is the last error response, not a success.
    pub gave_up: bool,
    /// Holds the account (its claim) until the caller reports how the response ended
    /// ([`Lease::finish`]) or drops it.
    pub lease: Lease,
}

/// One provider pool in this process. Cheap to clone.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    provider: Provider,
    store: Arc<AccountStore>,
    claims: Option<Claims>,
    refresh: RefreshService,
    config: PoolConfig,
    clock: Arc<dyn Clock>,
    events: Option<EventSink>,
    state: Mutex<SelectorState>,
    /// Deadlines kept in this process only (see [`Holds`]).
    holds: Holds,
    /// Bookkeeping writes in flight (see [`WriteBehind`]).
    writes: WriteBehind,
    /// When this pool last handed each account's `lastUsed` to the store's coalescing
    /// bookkeeping: a success sooner than the bookkeeping interval after that starts no task.
    noted: Mutex<HashMap<String, EpochMs>>,
    /// When the view of the accounts was last refreshed behind a request, and whether that
    /// read is still running.
    view_read: Mutex<ViewRead>,
    proactive: tokio::sync::Mutex<Option<ProactiveRefresher>>,
}

struct SelectorState {
    cursor: usize,
    sessions: SessionBindings,
    jitter: Jitter,
}

/// Builds a [`Pool`].
pub struct PoolBuilder {
    store: Arc<AccountStore>,
    client: AdapterClient,
    config: PoolConfig,
    claims: Option<Claims>,
    clock: Arc<dyn Clock>,
    events: Option<EventSink>,
    local_files: Option<PathBuf>,
    account_locks: Option<Arc<dyn AccountLocks>>,
}

impl PoolBuilder {
    /// The per-account refresh locks (default: lock files beside the accounts file, or beside
    /// [`PoolBuilder::local_files`]; [`mac_storage::FileAccountLocks`]): for a store shared by
    /// several hosts, locks they all share (mac-postgres' advisory locks), so an account is
    /// refreshed once in the whole pool ([`RefreshService::with_account_locks`]).
    #[must_use]
    pub fn account_locks(mut self, locks: Arc<dyn AccountLocks>) -> Self {
        self.account_locks = Some(locks);
        self
    }

    /// Names the refresh path's host-local files (lock files, pending-grant journals) after
    /// `accounts_file` instead of the store's path ([`RefreshService::with_local_files`]): for
    /// a store whose accounts are not in a local file (a database).
    #[must_use]
    pub fn local_files(mut self, accounts_file: PathBuf) -> Self {
        self.local_files = Some(accounts_file);
        self
    }

    /// The pool's settings (default: [`PoolConfig::default`]).
    #[must_use]
    pub fn config(mut self, config: PoolConfig) -> Self {
        self.config = config;
        self
    }

    /// The pool's claims table (without one, claims are neither read nor written).
    #[must_use]
    pub fn claims(mut self, claims: Claims) -> Self {
        self.claims = Some(claims);
        self
    }

    /// The clock (default: the client's).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Where events go.
    #[must_use]
    pub fn on_event(mut self, sink: EventSink) -> Self {
        self.events = Some(sink);
        self
    }

    /// Builds the pool and starts its proactive refresher (when enabled). Must be called inside
    /// a tokio runtime when proactive refresh is on.
    pub fn build(self) -> Pool {
        let provider = self.client.descriptor().provider;
        let local_files = self.local_files.unwrap_or_else(|| self.store.path().to_owned());
        let locks = self
            .account_locks
            .unwrap_or_else(|| Arc::new(FileAccountLocks::beside(local_files.clone())));
        let refresh = RefreshService::with_account_locks(
            Arc::clone(&self.store),
            self.client,
            self.config.refresh.clone(),
            Arc::clone(&self.clock),
            local_files,
            locks,
        );
        let claims = if self.config.cross_process_claims { self.claims } else { None };
        let state = SelectorState {
            cursor: 0,
            sessions: SessionBindings::new(
                self.config.session_binding_ttl,
                self.config.session_binding_cap,
            ),
            // 75 % ± 25 %: a 5xx retry waits 50–100 % of its pause, so that
            // retries of many processes do not arrive in step.
            jitter: Jitter::new(0.25, crate::jitter::default_seed()),
        };
        let proactive = ProactiveRefresher::start(refresh.clone(), self.config.proactive.clone());
        let inner = Inner {
            provider,
            store: self.store,
            claims,
            refresh,
            config: self.config,
            clock: self.clock,
            events: self.events,
            state: Mutex::new(state),
            holds: Holds::default(),
            writes: WriteBehind::default(),
            noted: Mutex::new(HashMap::new()),
            view_read: Mutex::new(ViewRead::default()),
            proactive: tokio::sync::Mutex::new(Some(proactive)),
        };
        Pool { inner: Arc::new(inner) }
    }
}

/// What to do after one attempt.
enum Next<R> {
    /// Hand this response to the caller.
    Done(R),
    /// Try the same account again (after a refresh) now; the response is kept in case the
    /// budget runs out.
    Again(R),
    /// Try the same account again after this pause (a 5xx retry): the loop sleeps.
    AgainAfter(R, Duration),
    /// Leave the account.
    Rotate {
        /// Why.
        cause: RotationCause,
        /// The error response, if there was one.
        response: Option<R>,
        /// What went wrong, without secrets.
        failure: String,
    },
}

impl<R> Next<R> {
    fn rotate(cause: RotationCause, response: Option<R>, failure: &str) -> Self {
        Next::Rotate { cause, response, failure: failure.to_owned() }
    }
}

/// The state of the attempts on one account within a request.
struct OnAccount {
    credentials: Credentials,
    server_retries_left: u32,
    retry_pause: Duration,
}

impl OnAccount {
    fn new(credentials: Credentials, config: &PoolConfig) -> Self {
        Self {
            credentials,
            server_retries_left: config.server_retries,
            retry_pause: config.server_retry_base,
        }
    }
}

/// What one request remembers across its attempts.
struct PerRequest {
    /// The model family the request asks for (scoped holds apply to it).
    family: Option<ModelFamily>,
    /// Accounts that already failed in this request (selection prefers others).
    avoid: HashSet<String>,
    /// Accounts this request refreshed, or tried to: at most one refresh per account per
    /// request, so a 401 storm or a token endpoint outage costs each account one refresh.
    refreshed: HashSet<String>,
    /// Accounts whose refresh failed in this request: not offered again to it.
    refresh_failed: HashSet<String>,
    /// Overloads met so far: each rest is longer (jittered, doubling, capped).
    overloads: u32,
    /// The end of the request's wait for a cooling account (`max_wait` after its start).
    wait_deadline: EpochMs,
}

/// How often the request path's view of the accounts is refreshed behind it at most (with
/// `AccountStore::refresh_cached`: a `stat` for a file, nothing on PostgreSQL while unchanged).
const VIEW_REFRESH: Duration = Duration::from_millis(20);

/// How far ahead an account excluded from a request (its refresh failed in it) is held for that
/// request: beyond any wait, so it never makes the request wait.
const REQUEST_EXCLUSION: Duration = Duration::from_secs(24 * 60 * 60);

/// The state of the request path's view refresh (see `Pool::refresh_view_behind`).
#[derive(Debug, Default)]
struct ViewRead {
    /// When the last read started.
    last: Option<std::time::Instant>,
    /// Whether it is still running.
    in_flight: bool,
}

/// Marks the view read finished when dropped.
struct ViewReadDone<'a>(&'a Mutex<ViewRead>);

impl Drop for ViewReadDone<'_> {
    fn drop(&mut self) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).in_flight = false;
    }
}

/// What one attempt's account was.
struct Chosen {
    uuid: String,
    label: String,
    account_id: Option<String>,
    /// Whether sticky should move the shared active pointer to it after a success: it was not
    /// the active account, and it was not chosen for a session binding (a session's choice is
    /// its own and does not move the pointer every other request follows).
    moves_pointer: bool,
}

impl Pool {
    /// A builder over an accounts store and the provider's client.
    pub fn builder(store: Arc<AccountStore>, client: AdapterClient) -> PoolBuilder {
        let clock = Arc::clone(client.clock());
        PoolBuilder {
            store,
            client,
            config: PoolConfig::default(),
            claims: None,
            clock,
            events: None,
            local_files: None,
            account_locks: None,
        }
    }

    /// The accounts store.
    pub fn store(&self) -> &Arc<AccountStore> {
        &self.inner.store
    }

    /// The refresh service (shared with the proactive refresher).
    pub fn refresh_service(&self) -> &RefreshService {
        &self.inner.refresh
    }

    /// The provider.
    pub fn provider(&self) -> Provider {
        self.inner.provider
    }

    /// The pool as it is on disk now (one `stat` when unchanged).
    pub fn accounts(&self) -> Result<Arc<AccountsDocument>, ExecuteError> {
        Ok(self.inner.store.load()?)
    }

    /// How many accounts are enabled and logged in (`getAccountCount`).
    pub fn eligible_count(&self) -> Result<usize, ExecuteError> {
        Ok(self.accounts()?.accounts.iter().filter(|a| a.is_eligible()).count())
    }

    /// When an account is usable: now, at a time, or never without a login
    /// (`hasAnyUsableAccount` / `getMinWaitTime` in one answer). Counts this process's
    /// account-wide holds (an overload's rest, an auth backoff) besides the stored deadlines.
    pub fn availability(&self) -> Result<PoolWait, ExecuteError> {
        let document = self.accounts()?;
        let now = self.inner.clock.now();
        Ok(soonest_usable_with(document.accounts.iter(), now, |account| {
            self.held_until(account, None, now)
        }))
    }

    /// The model-family limits this process holds in memory (a `seven_day_opus` 429 blocks
    /// only Opus requests on its account; the accounts file has no place for it), still ahead
    /// of now: (account uuid, family, until). For status views: such an account is usable for
    /// the other families.
    pub fn family_limits(&self) -> Vec<(String, ModelFamily, EpochMs)> {
        self.inner.holds.families(self.inner.clock.now())
    }

    /// Stops the proactive refresher (cancelling a lock wait at once), waits for every refresh
    /// already sent to be stored (a token spent at the provider is never dropped) and for the
    /// bookkeeping writes in flight, then releases this pool's claims and writes pending
    /// bookkeeping — the file work on the blocking pool, never on a runtime worker. With
    /// nothing in flight it takes no longer than those last writes.
    pub async fn shutdown(&self) {
        if let Some(refresher) = self.inner.proactive.lock().await.take() {
            refresher.stop().await;
        }
        self.inner.refresh.settle().await;
        self.settle().await;
        let (claims, store) = (self.inner.claims.clone(), Arc::clone(&self.inner.store));
        let finished = tokio::task::spawn_blocking(move || {
            if let Some(claims) = claims
                && let Err(err) = claims.release_all()
            {
                tracing::warn!(error = %err, "could not release claims at shutdown");
            }
            if let Err(err) = store.flush() {
                tracing::warn!(error = %err, "could not write pending bookkeeping at shutdown");
            }
        })
        .await;
        if let Err(err) = finished {
            tracing::warn!(error = %err, "the shutdown writes did not finish");
        }
    }

    /// Sends a request through the pool: `send` is called once per attempt with the chosen
    /// account's credentials and must send the (replayable) request with them. See the module
    /// docs for the state machine.
    #[tracing::instrument(level = "debug", skip_all, fields(provider = %self.inner.provider))]
    pub async fn execute<R, F, Fut>(
        &self,
        request: &RequestInfo,
        mut send: F,
    ) -> Result<Executed<R>, ExecuteError>
    where
        R: AttemptResponse,
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<R, SendError>>,
    {
        let inner = &*self.inner;
        let budget = self.budget(&*self.view().await?);
        let mut per = PerRequest {
            family: request.model.as_deref().and_then(ModelFamily::of_model),
            avoid: HashSet::new(),
            refreshed: HashSet::new(),
            refresh_failed: HashSet::new(),
            overloads: 0,
            wait_deadline: inner.clock.now().saturating_add(max_wait(&inner.config, request)),
        };
        let mut last_response: Option<(R, Served)> = None;
        let mut last_failure = String::from("no attempt was made");
        let mut attempts = 0_u32;
        let mut last_cause: Option<RotationCause> = None;

        'accounts: while attempts < budget {
            let chosen = match self.choose(request, &per).await {
                Ok(chosen) => chosen,
                // Every account cooling down after a rate limit: the typed error tells when to
                // come back. After other failures, the last response or failure says more.
                Err(err @ ExecuteError::AllRateLimited { .. })
                    if last_cause.is_none() || last_cause == Some(RotationCause::RateLimited) =>
                {
                    return Err(err);
                }
                Err(ExecuteError::AllRateLimited { .. } | ExecuteError::NoUsableAccount { .. })
                    if attempts > 0 =>
                {
                    break;
                }
                Err(err) => return Err(err),
            };
            let claim = self.claim(&chosen.uuid);
            attempts += 1;
            let credentials = match inner.refresh.fresh_credentials(&chosen.uuid).await {
                Ok(refreshed) => {
                    if refreshed.how == Obtained::Refreshed {
                        per.refreshed.insert(chosen.uuid.clone());
                    }
                    self.note_refresh(&chosen.uuid, refreshed.how);
                    refreshed.credentials
                }
                Err(err) => {
                    tracing::warn!(account = %chosen.uuid, error = %err, "no usable credentials");
                    last_failure = format!("{}: {err}", chosen.label);
                    per.refreshed.insert(chosen.uuid.clone());
                    per.refresh_failed.insert(chosen.uuid.clone());
                    self.after_auth_problem(&chosen.uuid, None);
                    self.rotate(&chosen.uuid, RotationCause::AuthFailed, &mut per.avoid);
                    last_cause = Some(RotationCause::AuthFailed);
                    continue;
                }
            };
            let mut on_account = OnAccount::new(credentials, &inner.config);
            loop {
                let next =
                    self.attempt(request, &chosen, &mut on_account, &mut per, &mut send, attempts);
                match next.await? {
                    Next::Done(response) => {
                        let served = served(&chosen, &on_account, &per);
                        let account = chosen.uuid;
                        let lease = Lease::new(self.clone(), served, claim);
                        return Ok(Executed { response, account, attempts, gave_up: false, lease });
                    }
                    Next::Again(response) | Next::AgainAfter(response, _) if attempts >= budget => {
                        last_response = Some((response, served(&chosen, &on_account, &per)));
                        break 'accounts;
                    }
                    Next::Again(_) => attempts += 1,
                    Next::AgainAfter(_, pause) => {
                        tokio::time::sleep(pause).await;
                        attempts += 1;
                    }
                    Next::Rotate { cause, response, failure } => {
                        last_failure = format!("{}: {failure}", chosen.label);
                        if let Some(response) = response {
                            last_response = Some((response, served(&chosen, &on_account, &per)));
                        }
                        self.rotate(&chosen.uuid, cause.clone(), &mut per.avoid);
                        last_cause = Some(cause);
                        continue 'accounts;
                    }
                }
            }
        }
        match last_response {
            Some((response, served)) => {
                // The account is held again while its error response is read, like any other.
                let account = served.account.clone();
                let lease = Lease::new(self.clone(), served, self.claim(&account));
                Ok(Executed { response, account, attempts, gave_up: true, lease })
            }
            None => {
                ExhaustedSnafu { provider: inner.provider, attempts, last: last_failure }.fail()
            }
        }
    }

    /// The pool as this process last read or wrote it — no I/O on the request path. The view is
    /// refreshed behind the request on the blocking pool (at most one read in flight, at most one
    /// start per [`VIEW_REFRESH`]), so another process's change is seen within about that long; before
    /// the first read the request reads it on the blocking pool.
    async fn view(&self) -> Result<Arc<AccountsDocument>, ExecuteError> {
        let inner = &*self.inner;
        if let Some(document) = inner.store.cached() {
            self.refresh_view_behind();
            return Ok(document);
        }
        let store = Arc::clone(&inner.store);
        let loaded = tokio::task::spawn_blocking(move || store.load()).await.map_err(|err| {
            ExecuteError::Internal { message: format!("reading the accounts file: {err}") }
        })?;
        Ok(loaded?)
    }

    fn refresh_view_behind(&self) {
        let inner = &*self.inner;
        {
            let mut read = inner.view_read.lock().unwrap_or_else(PoisonError::into_inner);
            // One read in flight at most: a storage that hangs (a database unreachable
            // without a reset) must not block one more blocking-pool thread per period.
            if read.in_flight || read.last.is_some_and(|at| at.elapsed() < VIEW_REFRESH) {
                return;
            }
            *read = ViewRead { last: Some(std::time::Instant::now()), in_flight: true };
        }
        let pool = self.clone();
        // `refresh_cached`, not `load`: a view may lag another process's commit by a moment,
        // and on PostgreSQL it then costs no round trip while no notification said the
        // document changed (one per `VIEW_REFRESH` per busy process otherwise).
        drop(tokio::task::spawn_blocking(move || {
            let inner = &*pool.inner;
            // Cleared however the read ends (a panic included), so the view never freezes.
            let _done = ViewReadDone(&inner.view_read);
            if let Err(err) = inner.store.refresh_cached() {
                tracing::debug!(error = %err, "could not refresh the view of the accounts");
            }
        }));
    }

    /// max(`min_attempts`, `attempts_per_account` × eligible accounts).
    fn budget(&self, document: &AccountsDocument) -> u32 {
        let config = &self.inner.config;
        let eligible = document.accounts.iter().filter(|a| a.is_eligible()).count();
        let per_account =
            config.attempts_per_account.saturating_mul(u32::try_from(eligible).unwrap_or(u32::MAX));
        config.min_attempts.max(per_account)
    }

    /// One send on the chosen account and what its outcome means.
    async fn attempt<R, F, Fut>(
        &self,
        request: &RequestInfo,
        chosen: &Chosen,
        on_account: &mut OnAccount,
        per: &mut PerRequest,
        send: &mut F,
        number: u32,
    ) -> Result<Next<R>, ExecuteError>
    where
        R: AttemptResponse,
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<R, SendError>>,
    {
        let Some(access_token) = on_account.credentials.access_token.clone() else {
            return Ok(Next::rotate(
                RotationCause::AuthFailed,
                None,
                "no access token after refresh",
            ));
        };
        let attempt = Attempt {
            account: chosen.uuid.clone(),
            label: chosen.label.clone(),
            account_id: chosen.account_id.clone(),
            access_token,
            number,
        };
        let mut response = match send(attempt).await {
            Ok(response) => response,
            Err(err) if err.kind() == SendErrorKind::Fatal => return Err(SendSnafu.into_error(err)),
            Err(err) => {
                tracing::info!(account = %chosen.label, error = %err, "no response; rotating");
                return Ok(Next::rotate(RotationCause::NetworkError, None, err.message()));
            }
        };
        // The commit point: a 2xx stream is read up to its first output-bearing frame before
        // anything goes to the client, so an error frame that opens it still rotates.
        let verdict = if response.status().is_success() {
            match response.read_prelude().await {
                Ok(verdict) => verdict,
                Err(err) if err.kind() == SendErrorKind::Fatal => {
                    return Err(SendSnafu.into_error(err));
                }
                Err(err) => {
                    tracing::info!(
                        account = %chosen.label,
                        error = %err,
                        "the stream failed before its first output; rotating"
                    );
                    return Ok(Next::rotate(RotationCause::NetworkError, None, err.message()));
                }
            }
        } else {
            PreludeVerdict::Committed
        };
        Ok(self.classify(request, chosen, on_account, per, response, verdict).await)
    }

    /// The one classifier every response goes through, retries included: reads the
    /// facts, asks the pure [`next_step`], and carries the step out. A 2xx whose prelude is an
    /// error frame is classified as the status the frame stands for, with the frame's data as
    /// its body. Bookkeeping that cannot be written never fails the request: it is logged and
    /// held in memory.
    async fn classify<R: AttemptResponse>(
        &self,
        request: &RequestInfo,
        chosen: &Chosen,
        on_account: &mut OnAccount,
        per: &mut PerRequest,
        mut response: R,
        verdict: PreludeVerdict,
    ) -> Next<R> {
        let inner = &*self.inner;
        let uuid = chosen.uuid.as_str();
        let (status, body, observation, what) = match verdict {
            PreludeVerdict::Error { event, data } => {
                let observation = in_band_observation(&event, &data, inner.clock.now());
                let status = observation.status;
                tracing::info!(
                    account = %chosen.label,
                    event,
                    stands_for = status.as_u16(),
                    "the stream opened with an error frame"
                );
                let what = format!("an in-band `{event}` frame (as HTTP {})", status.as_u16());
                (status, data, Some(observation), what)
            }
            PreludeVerdict::Committed => {
                let status = response.status();
                let what = format!("HTTP {}", status.as_u16());
                if needs_body(status.as_u16()) {
                    let limit = inner.config.classify_body_limit;
                    let body = response.buffer_body(limit).await.unwrap_or_default();
                    let now = inner.clock.now();
                    let observation = observe(status, response.headers(), Some(&body), now);
                    (status, body, Some(observation), what)
                } else {
                    (status, Bytes::new(), None, what)
                }
            }
        };
        let facts = facts(
            status,
            &body,
            observation.as_ref(),
            per.refreshed.contains(uuid),
            on_account.server_retries_left,
        );
        let step = next_step(&facts);
        tracing::debug!(status = status.as_u16(), ?step, "classified");
        match step {
            Step::Success => {
                self.after_success(request, chosen);
                Next::Done(response)
            }
            Step::Return => Next::Done(response),
            Step::Refresh => {
                per.refreshed.insert(uuid.to_owned());
                match inner.refresh.refresh_rejected(uuid, &on_account.credentials).await {
                    Ok(refreshed) => {
                        self.note_refresh(uuid, refreshed.how);
                        on_account.credentials = refreshed.credentials;
                        Next::Again(response)
                    }
                    Err(err) => {
                        per.refresh_failed.insert(uuid.to_owned());
                        self.after_auth_problem(uuid, None);
                        // A refresh that failed on mac's own storage (a database restarting,
                        // say) says nothing about the account: handing back the provider's 401
                        // would tell the client that its login is bad. Without the response, a
                        // request that runs out of accounts ends with this failure instead,
                        // which names the storage.
                        let response =
                            (!matches!(err, RefreshError::Store { .. })).then_some(response);
                        Next::rotate(RotationCause::AuthFailed, response, &err.to_string())
                    }
                }
            }
            Step::AuthBackoff => {
                self.auth_backoff(uuid, &chosen.label);
                let failure = format!("{what} after a refresh");
                Next::rotate(RotationCause::AuthFailed, Some(response), &failure)
            }
            Step::Revoked => {
                self.record_revoked(uuid, &on_account.credentials);
                Next::rotate(RotationCause::Revoked, Some(response), "OAuth token revoked")
            }
            Step::RateLimited(class, scope) => {
                if let Some(observation) = &observation {
                    self.cool_down(uuid, scope, observation);
                }
                let failure = format!("{what} ({class:?})");
                Next::rotate(RotationCause::RateLimited, Some(response), &failure)
            }
            Step::Overloaded => {
                self.rest_overloaded(uuid, &mut per.overloads, observation.as_ref());
                let failure = format!("{what} (provider overloaded)");
                Next::rotate(RotationCause::RateLimited, Some(response), &failure)
            }
            Step::ServerRetry => {
                on_account.server_retries_left -= 1;
                let pause = self.jittered(on_account.retry_pause);
                on_account.retry_pause =
                    (on_account.retry_pause * 2).min(inner.config.server_retry_max);
                Next::AgainAfter(response, pause)
            }
            Step::ServerRotate => {
                Next::rotate(RotationCause::ServerError(status.as_u16()), Some(response), &what)
            }
        }
    }

    /// Marks the account a handed-over response was served by after an in-band error frame
    /// past the commit point, as the same frame before it would (the classifier's step), minus
    /// what only a request still running can do: nothing rotates, nothing is sent again. So a
    /// rate limit cools the account down, an overload rests it, a 401 after this request's
    /// refresh backs it off, a revoked token confirmed after one is recorded; a 401 or revoked
    /// 403 not yet refreshed, a 5xx and the request's own 4xx mark nothing (their steps are
    /// sends on this request: the next request on the account refreshes or retries by itself).
    pub(crate) fn mark_after_commit(&self, served: &Served, event: &str, data: &[u8]) {
        let observation = in_band_observation(event, data, self.inner.clock.now());
        let facts = facts(observation.status, data, Some(&observation), served.refreshed, 0);
        let step = next_step(&facts);
        tracing::info!(
            account = %served.label,
            event,
            stands_for = observation.status.as_u16(),
            ?step,
            "an error frame after the commit point"
        );
        let uuid = served.account.as_str();
        match step {
            Step::RateLimited(_, scope) => self.cool_down(uuid, scope, &observation),
            // The first overload of this account's stream: the shortest rest.
            Step::Overloaded => self.rest_overloaded(uuid, &mut 0, Some(&observation)),
            Step::AuthBackoff => self.auth_backoff(uuid, &served.label),
            Step::Revoked => self.record_revoked(uuid, &served.credentials),
            Step::Success
            | Step::Return
            | Step::Refresh
            | Step::ServerRetry
            | Step::ServerRotate => {}
        }
    }

    /// A 401 after a refresh: the account rests in memory for the auth backoff (counts
    /// nothing, passes by itself).
    fn auth_backoff(&self, uuid: &str, label: &str) {
        let inner = &*self.inner;
        let until = inner.clock.now().saturating_add(inner.config.refresh.auth_backoff);
        inner.holds.hold(uuid, Scope::Account, until);
        tracing::info!(account = %label, "HTTP 401 after a refresh; the account rests");
    }

    /// Cools the account down after a rate limit: held in this process at once (no I/O; the
    /// request's next choice sees it), and an account-wide limit is also written to the shared
    /// file behind the request (mac-ratelimit's `record`: class, ladder rung read under the
    /// lock, never shortening a block) so other processes skip the account too. A model
    /// family's limit stays in memory (the file has one account-wide deadline).
    fn cool_down(&self, uuid: &str, scope: Scope, observation: &Observation) {
        let inner = &*self.inner;
        let decision = self.hold_decision(uuid, scope, observation);
        if scope == Scope::Account {
            let (store, clock) = (Arc::clone(&inner.store), Arc::clone(&inner.clock));
            let (account, observation, policy) =
                (uuid.to_owned(), observation.clone(), inner.config.cooldown);
            inner.writes.spawn("a cooldown", uuid, move || {
                mac_ratelimit::record(&store, &account, &observation, &policy, &*clock).map(drop)
            });
        }
        if let Some(decision) = decision {
            self.emit(&PoolEvent::CooledDown {
                account: uuid.to_owned(),
                class: decision.class,
                until: decision.until,
                scope,
            });
        }
    }

    /// Decides a cooldown at the account's ladder rung as last read (no I/O) and holds it in
    /// memory.
    fn hold_decision(
        &self,
        uuid: &str,
        scope: Scope,
        observation: &Observation,
    ) -> Option<mac_ratelimit::Decision> {
        let inner = &*self.inner;
        let streak = inner
            .store
            .cached()
            .and_then(|document| document.account(uuid).map(|account| account.rate_limit_streak))
            .unwrap_or(0);
        let decision = decide(observation, streak, &inner.config.cooldown, inner.clock.now())?;
        inner.holds.hold(uuid, scope, decision.until);
        tracing::debug!(
            account = uuid,
            ?scope,
            until_ms = decision.until.as_millis(),
            "limit held"
        );
        Some(decision)
    }

    /// An overload rests the account in this process only: a jittered pause that doubles with
    /// each overload of the request (`overloads` so far; from `server_retry_base` up to
    /// `server_retry_max`), or the provider's `retry-after` when longer (at most the overload
    /// cooldown).
    fn rest_overloaded(&self, uuid: &str, overloads: &mut u32, observation: Option<&Observation>) {
        let inner = &*self.inner;
        let config = &inner.config;
        let base = config
            .server_retry_base
            .saturating_mul(1_u32 << (*overloads).min(16))
            .min(config.server_retry_max);
        *overloads = overloads.saturating_add(1);
        let now = inner.clock.now();
        let mut until = now.saturating_add(self.jittered(base));
        let cap = now.saturating_add(config.cooldown.overload_cooldown);
        if let Some(asked) = observation.and_then(Observation::retry_after).filter(|at| *at > now) {
            until = until.max(asked.min(cap));
        }
        inner.holds.hold(uuid, Scope::Account, until);
        self.emit(&PoolEvent::CooledDown {
            account: uuid.to_owned(),
            class: mac_ratelimit::RateLimitClass::Overload,
            until,
            scope: Scope::Account,
        });
    }

    /// Until when `account` is held in this process for a request of `family`: the pool's
    /// holds and the refresh service's auth backoff.
    fn held_until(
        &self,
        account: &StoredAccount,
        family: Option<ModelFamily>,
        now: EpochMs,
    ) -> Option<EpochMs> {
        let uuid = account.uuid.as_deref()?;
        let held = self.inner.holds.until(uuid, family, now);
        held.max(self.inner.refresh.auth_backoff_until(account, now))
    }

    /// Chooses the account for the next attempt, waiting for the soonest reset while it comes
    /// before `wait_deadline`.
    async fn choose(
        &self,
        request: &RequestInfo,
        per: &PerRequest,
    ) -> Result<Chosen, ExecuteError> {
        let inner = &*self.inner;
        let wait_deadline = per.wait_deadline;
        loop {
            let document = self.view().await?;
            let now = inner.clock.now();
            // Past anything this request would wait for.
            let excluded_until = wait_deadline.max(now).saturating_add(REQUEST_EXCLUSION);
            let claims = self.claims_snapshot();
            let claimed_by_other =
                |uuid: &str| claims.as_ref().is_some_and(|c| c.is_claimed_by_other(uuid));
            let held_until = |account: &StoredAccount| {
                let uuid = account.uuid.as_deref()?;
                if per.refresh_failed.contains(uuid) {
                    return Some(excluded_until);
                }
                self.held_until(account, per.family, now)
            };
            let selection = {
                let mut state = self.state();
                let session_account = request
                    .session_key
                    .as_ref()
                    .and_then(|key| state.sessions.get(key.as_str(), now).map(str::to_owned));
                let input = SelectionInput {
                    accounts: &document.accounts,
                    active_uuid: document.active_account_uuid.as_deref(),
                    now,
                    claimed_by_other: &claimed_by_other,
                    held_until: &held_until,
                    avoid: &per.avoid,
                    session_account: session_account.as_deref(),
                    soft_quota_percent: inner.config.soft_quota_percent,
                    max_auth_failures: inner.config.refresh.max_auth_failures,
                    round_robin_cursor: state.cursor,
                };
                let selection = select(inner.config.strategy, &input);
                if let Some(selection) = &selection {
                    state.cursor = selection.next_round_robin_cursor;
                }
                selection
            };
            if let Some(selection) = selection {
                let account = document.accounts.get(selection.index).context(
                    crate::error::InternalSnafu {
                        message: "selection pointed past the account list",
                    },
                )?;
                let active =
                    document.active_account_uuid.as_deref() == Some(selection.uuid.as_str());
                let chosen = Chosen {
                    uuid: selection.uuid.clone(),
                    label: account.display_name(),
                    account_id: account.account_id.clone(),
                    moves_pointer: !active && selection.reason != SelectionReason::SessionBinding,
                };
                self.emit(&PoolEvent::Selected {
                    account: chosen.uuid.clone(),
                    label: chosen.label.clone(),
                    reason: format!("{:?}", selection.reason),
                });
                return Ok(chosen);
            }
            match soonest_usable_with(document.accounts.iter(), now, held_until) {
                PoolWait::At(until) if until <= wait_deadline => {
                    let wait = until.duration_since(now).max(Duration::from_millis(1));
                    self.emit(&PoolEvent::Waiting { until, wait });
                    tracing::info!(
                        wait_ms = wait.as_millis(),
                        "every account is rate-limited; waiting for the soonest reset"
                    );
                    tokio::time::sleep(wait).await;
                }
                PoolWait::At(until) => {
                    return Err(ExecuteError::AllRateLimited {
                        provider: inner.provider,
                        until,
                        retry_after: until.duration_since(now),
                    });
                }
                PoolWait::UsableNow | PoolWait::NoEligibleAccount => {
                    return NoUsableAccountSnafu { provider: inner.provider }.fail();
                }
            }
        }
    }

    /// Holds the account in the claims table: in memory, no I/O (the claims keeper writes a
    /// first claim in the background and releases it after the account has been idle).
    fn claim(&self, uuid: &str) -> Option<ClaimGuard> {
        Some(self.inner.claims.as_ref()?.hold(uuid))
    }

    /// The claims of the pool's accounts as of the claims keeper's last look (every holder's,
    /// this process's marked as its own): no I/O. `None` without cross-process claims.
    pub fn claims_snapshot(&self) -> Option<Arc<ClaimsSnapshot>> {
        Some(self.inner.claims.as_ref()?.cached_snapshot())
    }

    /// Waits until the bookkeeping writes this pool has started (successes, cooldowns, revoked
    /// marks, the sticky pointer) are in the accounts file, or have failed and been logged.
    /// Requests never wait for them; shutdown does.
    pub async fn settle(&self) {
        self.inner.writes.settle().await;
    }

    fn after_success(&self, request: &RequestInfo, chosen: &Chosen) {
        let inner = &*self.inner;
        let uuid = chosen.uuid.as_str();
        let now = inner.clock.now();
        if let Some(key) = &request.session_key {
            self.state().sessions.bind(key.as_str(), uuid, now);
        }
        let moves_pointer =
            inner.config.strategy == crate::selection::Strategy::Sticky && chosen.moves_pointer;
        if moves_pointer || self.success_changes_state(uuid, now) {
            let store = Arc::clone(&inner.store);
            let account = uuid.to_owned();
            inner.writes.spawn("a success", uuid, move || {
                store.record_success(&account, now)?;
                if moves_pointer {
                    store.set_active(Some(&account))?;
                }
                Ok(())
            });
        }
    }

    /// Whether recording a success would write: the cached document shows state to clear (a
    /// failure count, a rate limit, a ladder rung) or `lastUsed` bookkeeping is due. In steady
    /// state neither holds and a success costs no task and no I/O.
    fn success_changes_state(&self, uuid: &str, now: EpochMs) -> bool {
        let store = &self.inner.store;
        let due = {
            let mut noted = self.inner.noted.lock().unwrap_or_else(PoisonError::into_inner);
            let last = noted.get(uuid).copied();
            let due = last.is_none_or(|at| {
                now.duration_since(at) >= store.options().bookkeeping_interval || at > now
            });
            if due {
                noted.insert(uuid.to_owned(), now);
            }
            due
        };
        let Some(document) = store.cached() else { return true };
        let Some(account) = document.account(uuid) else { return true };
        due || account.consecutive_auth_failures != 0
            || account.rate_limit_reset_at.is_some()
            || account.rate_limit_streak != 0
    }

    /// Records a revoked token confirmed after a refresh (the one disabling rule, D12). A write
    /// that fails is logged and the account is held in memory for the auth backoff instead.
    fn record_revoked(&self, uuid: &str, observed: &Credentials) {
        let inner = &*self.inner;
        // Not offered again while the mark is being written (or if it cannot be).
        let until = inner.clock.now().saturating_add(inner.config.refresh.auth_backoff);
        inner.holds.hold(uuid, Scope::Account, until);
        let pool = self.clone();
        let (account, observed) = (uuid.to_owned(), observed.clone());
        let max = inner.config.refresh.max_auth_failures;
        inner.writes.spawn("a revoked token", uuid, move || {
            let store = &pool.inner.store;
            let outcome =
                store.record_auth_failure(&account, &observed, AuthFailure::Revoked, max)?;
            pool.after_auth_problem(&account, Some(outcome));
            Ok(())
        });
    }

    /// Emits `Disabled` when an account was disabled, and drops its session bindings.
    fn after_auth_problem(&self, uuid: &str, outcome: Option<AuthFailureOutcome>) {
        let reason = match outcome {
            Some(AuthFailureOutcome::Disabled { reason }) => Some(reason),
            Some(_) => None,
            // The cached view, not a read: this runs on an async worker, and the refresh
            // that disabled an account left its commit in the cache.
            None => self.inner.store.cached().and_then(|doc| {
                doc.account(uuid)
                    .filter(|a| a.is_auth_disabled)
                    .and_then(|a| a.auth_disabled_reason.clone())
            }),
        };
        if let Some(reason) = reason {
            self.state().sessions.forget_account(uuid);
            self.emit(&PoolEvent::Disabled { account: uuid.to_owned(), reason });
        }
    }

    fn note_refresh(&self, uuid: &str, how: Obtained) {
        match how {
            Obtained::Fresh => {}
            Obtained::Adopted => {
                self.emit(&PoolEvent::Refreshed { account: uuid.to_owned(), adopted: true });
            }
            Obtained::Refreshed => {
                self.emit(&PoolEvent::Refreshed { account: uuid.to_owned(), adopted: false });
            }
        }
    }

    fn rotate(&self, uuid: &str, why: RotationCause, avoid: &mut HashSet<String>) {
        avoid.insert(uuid.to_owned());
        self.emit(&PoolEvent::Rotated { from: uuid.to_owned(), why });
    }

    pub(crate) fn emit(&self, event: &PoolEvent) {
        tracing::debug!(?event, "pool event");
        if let Some(sink) = &self.inner.events {
            sink(event);
        }
    }

    /// 50–100 % of `pause` (the server-retry jitter), from the pool's own generator.
    fn jittered(&self, pause: Duration) -> Duration {
        self.state().jitter.vary(pause.mul_f64(0.75))
    }

    fn state(&self) -> MutexGuard<'_, SelectorState> {
        self.inner.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The wait for a cooling account `request` may have: the pool's, or the request's own when
/// shorter.
fn max_wait(config: &PoolConfig, request: &RequestInfo) -> Duration {
    request.max_wait.map_or(config.max_wait, |wait| wait.min(config.max_wait))
}

/// What the request knew of the account that served its response, for the [`Lease`].
fn served(chosen: &Chosen, on_account: &OnAccount, per: &PerRequest) -> Served {
    Served {
        account: chosen.uuid.clone(),
        label: chosen.label.clone(),
        credentials: on_account.credentials.clone(),
        refreshed: per.refreshed.contains(&chosen.uuid),
    }
}

/// The observation an in-band error frame stands for (mac-ratelimit's `observe_in_band`). A
/// frame without an `event` line reaches here as `message` (`SseFrame::event_name`); it is
/// named by its JSON `type`, as the prelude reader named it. A frame the caller reported as an
/// error that is no error frame by either name stands for a failure on the provider's side,
/// 500, as an error frame of unknown shape does.
fn in_band_observation(event: &str, data: &[u8], now: EpochMs) -> Observation {
    observe_in_band(event, data, now)
        .or_else(|| observe_in_band(&mac_adapters::frame_json_type(data)?, data, now))
        .unwrap_or_else(|| Observation {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            observed_at: now,
            ..Observation::default()
        })
}

/// The facts of a response of `status` with `body` (or of an error frame standing for it). The
/// pure step matches the status as a number (its table is written in ranges).
fn facts(
    status: StatusCode,
    body: &[u8],
    observation: Option<&Observation>,
    refreshed: bool,
    server_retries_left: u32,
) -> Facts {
    let limit =
        observation.and_then(|observation| Some((classify(observation)?, scope(observation))));
    Facts {
        status: status.as_u16(),
        revoked: status == StatusCode::FORBIDDEN && contains_revoked(body),
        limit,
        refreshed,
        server_retries_left,
    }
}

/// Whether a 403 body says the token was revoked (any case: the TypeScript library's
/// case-sensitive check missed `Revoked`).
fn contains_revoked(body: &[u8]) -> bool {
    body.windows(7).any(|window| window.eq_ignore_ascii_case(b"revoked"))
}
