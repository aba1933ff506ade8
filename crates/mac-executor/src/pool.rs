//! [`Pool`]: one provider pool in this process — the accounts file, claims, the refresh
//! service, the selector's state and session bindings — and [`Pool::execute`], the rotating
//! retry loop (D15, D16).
//!
//! # The state machine of one request
//!
//! Every response, retries included, goes through one classifier (SEED L2):
//!
//! | Outcome of an attempt | What happens |
//! |---|---|
//! | 2xx | success: `record_success` (coalesced), session bound, returned |
//! | 3xx, 4xx other than 401/403/429 | returned as is (the request's fault, not the account's) |
//! | 401, first time on this account | refresh once (or adopt another process's refresh), retry the same account |
//! | 401 after that refresh | transient auth failure recorded (the one disabling rule), rotate |
//! | 403 whose body says `revoked` | revoked recorded (disabled if another usable account remains), rotate |
//! | 403 otherwise | returned as is |
//! | 429, 529, an `overloaded_error` body | `mac_ratelimit::record` (classification, cooldown, ladder), rotate |
//! | 5xx | up to `server_retries` jittered retries on the same account, then rotate |
//! | no response (network, timeout) | rotate; the account is avoided for the rest of this request |
//! | refresh failure before sending | recorded by the refresh service, rotate |
//!
//! The budget is max(`min_attempts`, `attempts_per_account` × eligible accounts). When no
//! account is selectable, the request waits for the soonest reset if that comes within
//! `max_wait` of the request's start, else fails with [`ExecuteError::AllRateLimited`]. When
//! the budget runs out, the last error response is returned (marked `gave_up`) rather than a
//! synthetic error, so a client sees the provider's own answer.
//!
//! Cancellation: dropping the future of `execute` drops the claim guard (released at once) and
//! any refresh in progress (its cross-process lock is released with it); store writes are
//! never interrupted half-way, since they are synchronous calls between awaits.

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use mac_adapters::AdapterClient;
use mac_claims::{ClaimGuard, Claims, ClaimsSnapshot};
use mac_ratelimit::{PoolWait, observe, soonest_usable};
use mac_storage::{
    AccountStore, AccountsDocument, AuthFailure, AuthFailureOutcome, Clock, Credentials, EpochMs,
    Provider, Secret,
};
use snafu::{IntoError, OptionExt};

use crate::config::PoolConfig;
use crate::error::{ExecuteError, ExhaustedSnafu, NoUsableAccountSnafu, SendSnafu};
use crate::events::{EventSink, PoolEvent, RotationCause};
use crate::jitter::Jitter;
use crate::proactive::ProactiveRefresher;
use crate::refresh::{Obtained, RefreshService};
use crate::response::{AttemptResponse, SendError, SendErrorKind};
use crate::selection::{SelectionInput, select};
use crate::session::{SessionBindings, SessionKey};

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
}

/// A request's outcome.
#[derive(Debug)]
pub struct Executed<R> {
    /// The response to hand to the client.
    pub response: R,
    /// The account that answered.
    pub account: String,
    /// Attempts made.
    pub attempts: u32,
    /// `true` when the budget ran out and this is the last error response, not a success.
    pub gave_up: bool,
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
}

impl PoolBuilder {
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
        let refresh = RefreshService::new(
            Arc::clone(&self.store),
            self.client,
            self.config.refresh.clone(),
            Arc::clone(&self.clock),
        );
        let claims = if self.config.cross_process_claims { self.claims } else { None };
        let state = SelectorState {
            cursor: 0,
            sessions: SessionBindings::new(
                self.config.session_binding_ttl,
                self.config.session_binding_cap,
            ),
            // 75 % ± 25 %: a 5xx retry waits 50–100 % of its pause (SEED §2.6).
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
            proactive: tokio::sync::Mutex::new(Some(proactive)),
        };
        Pool { inner: Arc::new(inner) }
    }
}

/// What to do after one attempt.
enum Next<R> {
    /// Hand this response to the caller.
    Done(R),
    /// Try the same account again (after a refresh or a 5xx pause); the response is kept in
    /// case the budget runs out.
    Again(R),
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
    refreshed_after_401: bool,
    server_retries_left: u32,
    retry_pause: Duration,
}

impl OnAccount {
    fn new(credentials: Credentials, config: &PoolConfig) -> Self {
        Self {
            credentials,
            refreshed_after_401: false,
            server_retries_left: config.server_retries,
            retry_pause: config.server_retry_base,
        }
    }
}

/// What one attempt's account was.
struct Chosen {
    uuid: String,
    label: String,
    account_id: Option<String>,
    /// Whether it was the file's active account when chosen (sticky moves the pointer to it
    /// after a success otherwise).
    active: bool,
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

    /// The pool as it is on disk now (one `stat` when unchanged; SEED §2.3's `getAccounts`).
    pub fn accounts(&self) -> Result<Arc<AccountsDocument>, ExecuteError> {
        Ok(self.inner.store.load()?)
    }

    /// How many accounts are enabled and logged in (`getAccountCount`).
    pub fn eligible_count(&self) -> Result<usize, ExecuteError> {
        Ok(self.accounts()?.accounts.iter().filter(|a| a.is_eligible()).count())
    }

    /// When an account is usable: now, at a time, or never without a login
    /// (`hasAnyUsableAccount` / `getMinWaitTime` in one answer).
    pub fn availability(&self) -> Result<PoolWait, ExecuteError> {
        let document = self.accounts()?;
        Ok(soonest_usable(document.accounts.iter(), self.inner.clock.now()))
    }

    /// Stops the proactive refresher (awaiting a refresh in flight), releases this pool's
    /// claims and writes pending bookkeeping.
    pub async fn shutdown(&self) {
        if let Some(refresher) = self.inner.proactive.lock().await.take() {
            refresher.stop().await;
        }
        if let Some(claims) = &self.inner.claims
            && let Err(err) = claims.release_all()
        {
            tracing::warn!(error = %err, "could not release claims at shutdown");
        }
        if let Err(err) = self.inner.store.flush() {
            tracing::warn!(error = %err, "could not write pending bookkeeping at shutdown");
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
        let wait_deadline = inner.clock.now().saturating_add(inner.config.max_wait);
        let budget = self.budget()?;
        let mut avoid: HashSet<String> = HashSet::new();
        let mut last_response: Option<(R, String)> = None;
        let mut last_failure = String::from("no attempt was made");
        let mut attempts = 0_u32;

        'accounts: while attempts < budget {
            let chosen = self.choose(request, &avoid, wait_deadline).await?;
            let _claim = self.claim(&chosen.uuid);
            attempts += 1;
            let credentials = match inner.refresh.fresh_credentials(&chosen.uuid).await {
                Ok(refreshed) => {
                    self.note_refresh(&chosen.uuid, refreshed.how);
                    refreshed.credentials
                }
                Err(err) => {
                    last_failure = format!("{}: {err}", chosen.label);
                    self.after_auth_problem(&chosen.uuid, None);
                    self.rotate(&chosen.uuid, RotationCause::AuthFailed, &mut avoid);
                    continue;
                }
            };
            let mut on_account = OnAccount::new(credentials, &inner.config);
            loop {
                match self.attempt(request, &chosen, &mut on_account, &mut send, attempts).await? {
                    Next::Done(response) => {
                        return Ok(Executed {
                            response,
                            account: chosen.uuid,
                            attempts,
                            gave_up: false,
                        });
                    }
                    Next::Again(response) if attempts >= budget => {
                        last_response = Some((response, chosen.uuid.clone()));
                        break 'accounts;
                    }
                    Next::Again(_) => attempts += 1,
                    Next::Rotate { cause, response, failure } => {
                        last_failure = format!("{}: {failure}", chosen.label);
                        if let Some(response) = response {
                            last_response = Some((response, chosen.uuid.clone()));
                        }
                        self.rotate(&chosen.uuid, cause, &mut avoid);
                        continue 'accounts;
                    }
                }
            }
        }
        match last_response {
            Some((response, account)) => {
                Ok(Executed { response, account, attempts, gave_up: true })
            }
            None => {
                ExhaustedSnafu { provider: inner.provider, attempts, last: last_failure }.fail()
            }
        }
    }

    /// max(`min_attempts`, `attempts_per_account` × eligible accounts).
    fn budget(&self) -> Result<u32, ExecuteError> {
        let config = &self.inner.config;
        let eligible = self.inner.store.load()?.accounts.iter().filter(|a| a.is_eligible()).count();
        let per_account =
            config.attempts_per_account.saturating_mul(u32::try_from(eligible).unwrap_or(u32::MAX));
        Ok(config.min_attempts.max(per_account))
    }

    /// One send on the chosen account and what its outcome means.
    async fn attempt<R, F, Fut>(
        &self,
        request: &RequestInfo,
        chosen: &Chosen,
        on_account: &mut OnAccount,
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
        match send(attempt).await {
            Ok(response) => self.classify(request, chosen, on_account, response).await,
            Err(err) if err.kind() == SendErrorKind::Fatal => Err(SendSnafu.into_error(err)),
            Err(err) => {
                tracing::info!(account = %chosen.label, error = %err, "no response; rotating");
                Ok(Next::rotate(RotationCause::NetworkError, None, err.message()))
            }
        }
    }

    /// The one classifier every response goes through, retries included (SEED L2).
    async fn classify<R: AttemptResponse>(
        &self,
        request: &RequestInfo,
        chosen: &Chosen,
        on_account: &mut OnAccount,
        mut response: R,
    ) -> Result<Next<R>, ExecuteError> {
        let inner = &*self.inner;
        let status = response.status();
        match status {
            200..=299 => {
                self.after_success(request, chosen);
                Ok(Next::Done(response))
            }
            401 if !on_account.refreshed_after_401 => {
                on_account.refreshed_after_401 = true;
                match inner.refresh.refresh_rejected(&chosen.uuid, &on_account.credentials).await {
                    Ok(refreshed) => {
                        self.note_refresh(&chosen.uuid, refreshed.how);
                        on_account.credentials = refreshed.credentials;
                        Ok(Next::Again(response))
                    }
                    Err(err) => {
                        self.after_auth_problem(&chosen.uuid, None);
                        Ok(Next::rotate(
                            RotationCause::AuthFailed,
                            Some(response),
                            &err.to_string(),
                        ))
                    }
                }
            }
            401 => {
                self.record_auth_failure(
                    &chosen.uuid,
                    &on_account.credentials,
                    AuthFailure::Transient,
                )?;
                Ok(Next::rotate(
                    RotationCause::AuthFailed,
                    Some(response),
                    "HTTP 401 after a refresh",
                ))
            }
            403 => {
                let body = response
                    .buffer_body(inner.config.classify_body_limit)
                    .await
                    .unwrap_or_default();
                if !contains_revoked(&body) {
                    return Ok(Next::Done(response));
                }
                self.record_auth_failure(
                    &chosen.uuid,
                    &on_account.credentials,
                    AuthFailure::Revoked,
                )?;
                Ok(Next::rotate(RotationCause::Revoked, Some(response), "OAuth token revoked"))
            }
            429 | 500..=599 => {
                let body = response
                    .buffer_body(inner.config.classify_body_limit)
                    .await
                    .unwrap_or_default();
                if let Some(class) =
                    self.record_rate_limit(&chosen.uuid, status, &response.headers(), &body)?
                {
                    let failure = format!("HTTP {status} ({class:?})");
                    return Ok(Next::rotate(RotationCause::RateLimited, Some(response), &failure));
                }
                if status < 500 {
                    return Ok(Next::Done(response));
                }
                if on_account.server_retries_left == 0 {
                    let failure = format!("HTTP {status}");
                    return Ok(Next::rotate(
                        RotationCause::ServerError(status),
                        Some(response),
                        &failure,
                    ));
                }
                on_account.server_retries_left -= 1;
                tokio::time::sleep(self.jittered(on_account.retry_pause)).await;
                on_account.retry_pause =
                    (on_account.retry_pause * 2).min(inner.config.server_retry_max);
                Ok(Next::Again(response))
            }
            // 1xx, 3xx and 4xx other than 401/403/429: the request's own answer.
            _ => Ok(Next::Done(response)),
        }
    }

    /// Classifies a 429 / 529 / 5xx with mac-ratelimit and records the cooldown; `None` when
    /// the response is not a rate limit.
    fn record_rate_limit(
        &self,
        uuid: &str,
        status: u16,
        headers: &[(String, Vec<u8>)],
        body: &[u8],
    ) -> Result<Option<mac_ratelimit::RateLimitClass>, ExecuteError> {
        let inner = &*self.inner;
        let observation = observe(
            status,
            headers.iter().map(|(name, value)| (name.as_str(), value.as_slice())),
            Some(body),
            inner.clock.now(),
        );
        let decision = mac_ratelimit::record(
            &inner.store,
            uuid,
            &observation,
            &inner.config.cooldown,
            &*inner.clock,
        )?;
        Ok(decision.map(|decision| {
            self.emit(&PoolEvent::CooledDown {
                account: uuid.to_owned(),
                class: decision.class,
                until: decision.until,
            });
            decision.class
        }))
    }

    /// Chooses the account for the next attempt, waiting for the soonest reset while it comes
    /// before `wait_deadline`.
    async fn choose(
        &self,
        request: &RequestInfo,
        avoid: &HashSet<String>,
        wait_deadline: EpochMs,
    ) -> Result<Chosen, ExecuteError> {
        let inner = &*self.inner;
        loop {
            let document = inner.store.load()?;
            let now = inner.clock.now();
            let claims = self.claims_snapshot();
            let claimed_by_other =
                |uuid: &str| claims.as_ref().is_some_and(|c| c.is_claimed_by_other(uuid));
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
                    avoid,
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
                let chosen = Chosen {
                    uuid: selection.uuid.clone(),
                    label: account.display_name(),
                    account_id: account.account_id.clone(),
                    active: document.active_account_uuid.as_deref()
                        == Some(selection.uuid.as_str()),
                };
                self.emit(&PoolEvent::Selected {
                    account: chosen.uuid.clone(),
                    label: chosen.label.clone(),
                    reason: format!("{:?}", selection.reason),
                });
                return Ok(chosen);
            }
            match soonest_usable(document.accounts.iter(), now) {
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

    fn claim(&self, uuid: &str) -> Option<ClaimGuard> {
        let claims = self.inner.claims.as_ref()?;
        match claims.claim(uuid) {
            Ok(guard) => Some(guard),
            Err(err) => {
                // Claims are soft state: a failed claim never fails the request.
                tracing::warn!(error = %err, "could not claim the account");
                None
            }
        }
    }

    fn claims_snapshot(&self) -> Option<ClaimsSnapshot> {
        let claims = self.inner.claims.as_ref()?;
        claims.snapshot().map_err(|err| tracing::warn!(error = %err, "could not read claims")).ok()
    }

    fn after_success(&self, request: &RequestInfo, chosen: &Chosen) {
        let inner = &*self.inner;
        let uuid = chosen.uuid.as_str();
        let now = inner.clock.now();
        if let Some(key) = &request.session_key {
            self.state().sessions.bind(key.as_str(), uuid, now);
        }
        if let Err(err) = inner.store.record_success(uuid, now) {
            tracing::warn!(error = %err, "could not record a success");
        }
        if inner.config.strategy == crate::selection::Strategy::Sticky
            && !chosen.active
            && let Err(err) = inner.store.set_active(Some(uuid))
        {
            tracing::warn!(error = %err, "could not move the active pointer");
        }
    }

    fn record_auth_failure(
        &self,
        uuid: &str,
        observed: &Credentials,
        failure: AuthFailure,
    ) -> Result<(), ExecuteError> {
        let inner = &*self.inner;
        let outcome = inner.store.record_auth_failure(
            uuid,
            observed,
            failure,
            inner.config.refresh.max_auth_failures,
        )?;
        self.after_auth_problem(uuid, Some(outcome));
        Ok(())
    }

    /// Emits `Disabled` when an account was disabled, and drops its session bindings.
    fn after_auth_problem(&self, uuid: &str, outcome: Option<AuthFailureOutcome>) {
        let reason = match outcome {
            Some(AuthFailureOutcome::Disabled { reason }) => Some(reason),
            Some(_) => None,
            None => self.inner.store.load().ok().and_then(|doc| {
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

    fn emit(&self, event: &PoolEvent) {
        tracing::debug!(?event, "pool event");
        if let Some(sink) = &self.inner.events {
            sink(event);
        }
    }

    /// 50–100 % of `pause` (SEED §2.6's server-retry jitter), from the pool's own generator.
    fn jittered(&self, pause: Duration) -> Duration {
        self.state().jitter.vary(pause.mul_f64(0.75))
    }

    fn state(&self) -> MutexGuard<'_, SelectorState> {
        self.inner.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Whether a 403 body says the token was revoked (any case; the seed's check was
/// case-sensitive, SEED §5.20).
fn contains_revoked(body: &[u8]) -> bool {
    body.windows(7).any(|window| window.eq_ignore_ascii_case(b"revoked"))
}
