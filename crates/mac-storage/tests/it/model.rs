//! A model-based property test of [`AccountStore`]: random sequences of every typed change are
//! applied to a real store on a real file and to a deliberately plain in-memory model of the
//! documented rules; after every step the two must agree on what the call returned and on the
//! whole document `load` shows.
//!
//! The model re-states the rules of the doc comments (`add_account`'s dedup, the disabling rule
//! of `auth_failure_verdict`, compare-and-swap of credentials, …) in its own words and never
//! calls the store's functions to compute an expectation. Two processes are played by two
//! stores on the same file: each step goes through one of them, and a `Reopen` step replaces the
//! second by a fresh one, as a process starting later would open it.
//!
//! `lastUsed` is coalesced by the store (D7), so it is checked two ways: with a zero
//! bookkeeping interval every success writes, and `lastUsed` is compared exactly after every
//! step; with the default interval it is only bounded after every step (between `addedAt` and
//! the model's value), compared exactly once both stores have flushed, and the coalescing
//! itself is checked against what the doc promises (a state change is written at once; through
//! one store, at most one `lastUsed`-only write per interval, whatever the accounts).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use mac_storage::{
    AccountStore, AccountsDocument, AddOutcome, AuthFailure, AuthFailureOutcome, CasOutcome,
    CredentialPatch, Credentials, Durability, EpochMs, MatchedBy, NewAccount, Secret, StoreError,
    StoreOptions, StoredAccount, SuccessOutcome, UsageLimits, UsageWindow,
};
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::TestCaseError;

// Small pools, so that the same token, email or provider id comes back and every dedup rule
// fires. `""` stands for a value the login did not return: it is never an identity.

/// Refresh tokens; `R0` differs from `r0` (tokens are opaque, compared exactly).
const REFRESH_TOKENS: &[&str] = &["r0", "r1", "r2", "r3", "r4", "r5", "R0"];
/// Emails; two differ only by case and count as the same email.
const EMAILS: &[&str] = &["ann@x.io", "ANN@x.io", "bob@x.io", ""];
/// Anthropic account uuids; two differ only by case and count as the same id.
const ACCOUNT_UUIDS: &[&str] = &["au-1", "AU-1", "au-2", ""];
/// ChatGPT account (workspace) ids.
const ACCOUNT_IDS: &[&str] = &["ws-1", "ws-2", ""];
const ACCESS_TOKENS: &[&str] = &["a0", "a1", "a2"];
const LABELS: &[&str] = &["work", "home", ""];
const PLANS: &[&str] = &["max", "pro", ""];
/// Exact in binary, so equality after a JSON round trip is meaningful.
const UTILIZATIONS: &[f64] = &[0.0, 42.0, 99.5, 150.0];
/// How far `now` moves before a step; 4 999 and 5 000 straddle the default interval of 5 s.
const ADVANCES_MS: &[i64] = &[0, 1, 7, 1_000, 4_999, 5_000, 60_000];
/// The first `now` of every case.
const START_MS: i64 = 1_773_200_000_000;
/// Access tokens expire a little after this.
const EXPIRY_BASE_MS: i64 = 1_900_000_000_000;
/// The id used for "no such account" when no removed account can play it.
const NEVER_AN_ACCOUNT: &str = "00000000-0000-4000-8000-000000000000";

// ---------------------------------------------------------------------------------------------
// Operations, as the strategy draws them.

/// Which account an operation is about.
#[derive(Clone, Debug)]
enum Target {
    /// The account at this index of the model's pool (or an unknown id if the pool is empty).
    Pool(Index),
    /// An id that is not in the pool: a removed account's, or one that never existed.
    Unknown(Index),
}

/// The credentials an operation says it started from, relative to the stored ones.
#[derive(Clone, Copy, Debug)]
enum Tokens {
    Current,
    /// Another refresh token (a refresh by another process rotated it since).
    OtherRefresh,
    /// Another access token (present vs absent).
    OtherAccess,
    /// Another expiry.
    OtherExpiry,
}

/// A login's result.
#[derive(Clone, Debug)]
struct NewSpec {
    refresh: &'static str,
    access: Option<&'static str>,
    /// Offset from [`EXPIRY_BASE_MS`].
    expires: Option<i64>,
    email: Option<&'static str>,
    account_uuid: Option<&'static str>,
    account_id: Option<&'static str>,
    label: Option<&'static str>,
    plan: Option<&'static str>,
}

/// A refresh's result.
#[derive(Clone, Debug)]
struct PatchSpec {
    access: &'static str,
    /// Offset from [`EXPIRY_BASE_MS`].
    expires: i64,
    refresh: Option<&'static str>,
    account_uuid: Option<&'static str>,
    account_id: Option<&'static str>,
    email: Option<&'static str>,
}

#[derive(Clone, Debug)]
enum Op {
    Add(NewSpec),
    Remove(Target),
    SetEnabled(Target, bool),
    SetActive(Option<Target>),
    Patch {
        target: Target,
        expected: Tokens,
        patch: PatchSpec,
    },
    RateLimit {
        target: Target,
        for_ms: i64,
    },
    Usage {
        target: Target,
        utilization: f64,
    },
    AuthFailure {
        target: Target,
        observed: Tokens,
        failure: AuthFailure,
        max_failures: u32,
    },
    Success(Target),
    Flush,
    Clear,
    /// Flushes the first store, drops the second (which flushes) and opens a fresh one in its
    /// place: "another process" that starts now must read the same pool.
    Reopen,
}

#[derive(Clone, Debug)]
struct Step {
    /// How far `now` moves first (never backwards).
    advance_ms: i64,
    /// Whether the step goes through the second store ("the other process").
    via_other: bool,
    op: Op,
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        9 => any::<Index>().prop_map(Target::Pool),
        1 => any::<Index>().prop_map(Target::Unknown),
    ]
}

fn tokens() -> impl Strategy<Value = Tokens> {
    prop_oneof![
        4 => Just(Tokens::Current),
        1 => Just(Tokens::OtherRefresh),
        1 => Just(Tokens::OtherAccess),
        1 => Just(Tokens::OtherExpiry),
    ]
}

fn new_spec() -> impl Strategy<Value = NewSpec> {
    (
        prop_oneof![29 => select(REFRESH_TOKENS), 1 => Just("")],
        proptest::option::of(select(ACCESS_TOKENS)),
        proptest::option::of(0..3_i64),
        proptest::option::of(select(EMAILS)),
        proptest::option::of(select(ACCOUNT_UUIDS)),
        proptest::option::of(select(ACCOUNT_IDS)),
        proptest::option::of(select(LABELS)),
        proptest::option::of(select(PLANS)),
    )
        .prop_map(
            |(refresh, access, expires, email, account_uuid, account_id, label, plan)| NewSpec {
                refresh,
                access,
                expires,
                email,
                account_uuid,
                account_id,
                label,
                plan,
            },
        )
}

fn patch_spec() -> impl Strategy<Value = PatchSpec> {
    (
        select(ACCESS_TOKENS),
        0..3_i64,
        proptest::option::of(select(REFRESH_TOKENS)),
        proptest::option::weighted(0.2, select(ACCOUNT_UUIDS)),
        proptest::option::weighted(0.2, select(ACCOUNT_IDS)),
        proptest::option::weighted(0.2, select(EMAILS)),
    )
        .prop_map(|(access, expires, refresh, account_uuid, account_id, email)| PatchSpec {
            access,
            expires,
            refresh,
            account_uuid,
            account_id,
            email,
        })
}

fn auth_failure() -> impl Strategy<Value = AuthFailure> {
    prop_oneof![
        3 => Just(AuthFailure::Transient),
        1 => Just(AuthFailure::Permanent),
        1 => Just(AuthFailure::Revoked),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => new_spec().prop_map(Op::Add),
        2 => target().prop_map(Op::Remove),
        2 => (target(), any::<bool>()).prop_map(|(target, on)| Op::SetEnabled(target, on)),
        2 => proptest::option::weighted(0.8, target()).prop_map(Op::SetActive),
        3 => (target(), tokens(), patch_spec())
            .prop_map(|(target, expected, patch)| Op::Patch { target, expected, patch }),
        2 => (target(), 1..120_000_i64).prop_map(|(target, for_ms)| Op::RateLimit { target, for_ms }),
        1 => (target(), select(UTILIZATIONS))
            .prop_map(|(target, utilization)| Op::Usage { target, utilization }),
        4 => (target(), tokens(), auth_failure(), 1..=3_u32).prop_map(
            |(target, observed, failure, max_failures)| Op::AuthFailure {
                target,
                observed,
                failure,
                max_failures,
            }
        ),
        4 => target().prop_map(Op::Success),
        1 => Just(Op::Flush),
        1 => Just(Op::Clear),
        1 => Just(Op::Reopen),
    ]
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    proptest::collection::vec(
        (select(ADVANCES_MS), proptest::bool::weighted(0.3), op())
            .prop_map(|(advance_ms, via_other, op)| Step { advance_ms, via_other, op }),
        1..96,
    )
}

// ---------------------------------------------------------------------------------------------
// The model: the pool as plain values, and the documented rules re-stated over them.

/// One account as the model sees it: every field of a stored account, reduced to plain values
/// (`auth_disabled_reason` only by presence; its text is checked against the call's outcome).
#[derive(Clone, Debug, PartialEq)]
struct ModelAccount {
    uuid: String,
    refresh: String,
    access: Option<String>,
    expires_at: Option<i64>,
    email: Option<String>,
    account_uuid: Option<String>,
    account_id: Option<String>,
    label: Option<String>,
    plan_tier: String,
    added_at: i64,
    last_used: i64,
    enabled: bool,
    auth_disabled: bool,
    has_disabled_reason: bool,
    failures: u32,
    rate_limit_reset_at: Option<i64>,
    usage: Option<UsageLimits>,
    usage_at: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq)]
struct Model {
    /// The pool, in order.
    accounts: Vec<ModelAccount>,
    /// `activeAccountUuid` as stored.
    active: Option<String>,
}

/// A value that identifies something: present and not empty.
fn known(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.is_empty())
}

/// Both known and the same, ignoring ASCII case (emails and provider ids are not
/// case-sensitive identities).
fn same(a: Option<&str>, b: Option<&str>) -> bool {
    match (known(a), known(b)) {
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        _ => false,
    }
}

/// Both known and different, ignoring ASCII case. An unknown value never conflicts.
fn conflict(a: Option<&str>, b: Option<&str>) -> bool {
    match (known(a), known(b)) {
        (Some(a), Some(b)) => !a.eq_ignore_ascii_case(b),
        _ => false,
    }
}

/// A known value replaces the field; an unknown one leaves it.
fn fill_in(field: &mut Option<String>, value: Option<&str>) {
    if let Some(value) = known(value) {
        *field = Some(value.to_owned());
    }
}

fn expiry(offset: Option<i64>) -> Option<i64> {
    offset.map(|offset| EXPIRY_BASE_MS + offset)
}

impl ModelAccount {
    fn new(uuid: String, new: &NewSpec, now: i64) -> Self {
        let mut account = ModelAccount {
            uuid,
            refresh: new.refresh.to_owned(),
            access: new.access.map(str::to_owned),
            expires_at: expiry(new.expires),
            email: None,
            account_uuid: None,
            account_id: None,
            label: None,
            plan_tier: String::new(),
            added_at: now,
            last_used: now,
            enabled: true,
            auth_disabled: false,
            has_disabled_reason: false,
            failures: 0,
            rate_limit_reset_at: None,
            usage: None,
            usage_at: None,
        };
        account.take_identity(new);
        account
    }

    /// "Fills in identity fields": every known one replaces the stored one.
    fn take_identity(&mut self, new: &NewSpec) {
        fill_in(&mut self.email, new.email);
        fill_in(&mut self.account_uuid, new.account_uuid);
        fill_in(&mut self.account_id, new.account_id);
        fill_in(&mut self.label, new.label);
        if let Some(plan) = known(new.plan) {
            plan.clone_into(&mut self.plan_tier);
        }
    }

    /// The failure count and the authentication disable go; the user's switch stays.
    fn clear_auth_problems(&mut self) {
        self.auth_disabled = false;
        self.has_disabled_reason = false;
        self.failures = 0;
    }

    fn credentials(&self) -> Credentials {
        Credentials {
            refresh_token: Secret::new(self.refresh.as_str()),
            access_token: self.access.as_deref().map(Secret::new),
            expires_at: self.expires_at.map(EpochMs::from_millis),
        }
    }

    fn has_credentials(&self, credentials: &Credentials) -> bool {
        credentials.refresh_token.expose() == self.refresh
            && credentials.access_token.as_ref().map(Secret::expose) == self.access.as_deref()
            && credentials.expires_at.map(EpochMs::as_millis) == self.expires_at
    }

    /// The same provider account: an Anthropic account uuid or a ChatGPT account id in common,
    /// and none of the two different. (The doc's "same provider id" is read as the pair, like
    /// its "unless the provider ids differ": same `accountUuid` but another `accountId` is
    /// another account.)
    fn same_provider_id(&self, new: &NewSpec) -> bool {
        (same(self.account_uuid.as_deref(), new.account_uuid)
            || same(self.account_id.as_deref(), new.account_id))
            && !self.provider_id_conflicts(new)
    }

    fn provider_id_conflicts(&self, new: &NewSpec) -> bool {
        conflict(self.account_uuid.as_deref(), new.account_uuid)
            || conflict(self.account_id.as_deref(), new.account_id)
    }

    /// What the file shows of a stored account, in the model's terms.
    fn observed(stored: &StoredAccount) -> Result<Self, TestCaseError> {
        prop_assert!(stored.extra.is_empty(), "unexpected extra fields: {:?}", stored.extra);
        let Some(uuid) = stored.uuid.clone() else {
            return Err(TestCaseError::fail("a stored account has no local uuid"));
        };
        Ok(ModelAccount {
            uuid,
            refresh: stored.refresh_token.expose().to_owned(),
            access: stored.access_token.as_ref().map(|t| t.expose().to_owned()),
            expires_at: stored.expires_at.map(EpochMs::as_millis),
            email: stored.email.clone(),
            account_uuid: stored.account_uuid.clone(),
            account_id: stored.account_id.clone(),
            label: stored.label.clone(),
            plan_tier: stored.plan_tier.clone(),
            added_at: stored.added_at.as_millis(),
            last_used: stored.last_used.as_millis(),
            enabled: stored.enabled,
            auth_disabled: stored.is_auth_disabled,
            has_disabled_reason: stored.auth_disabled_reason.is_some(),
            failures: stored.consecutive_auth_failures,
            rate_limit_reset_at: stored.rate_limit_reset_at.map(EpochMs::as_millis),
            usage: stored.cached_usage.clone(),
            usage_at: stored.cached_usage_at.map(EpochMs::as_millis),
        })
    }
}

impl Model {
    fn index_of(&self, uuid: &str) -> Option<usize> {
        self.accounts.iter().position(|a| a.uuid == uuid)
    }

    /// The account `add_account` must update, and why (its doc comment): the first one with the
    /// same refresh token; else the first with the same provider id whose email does not
    /// differ; else the first with the same email whose provider ids do not differ.
    fn same_account(&self, new: &NewSpec) -> Option<(usize, MatchedBy)> {
        if let Some(i) = self.accounts.iter().position(|a| a.refresh == new.refresh) {
            return Some((i, MatchedBy::RefreshToken));
        }
        let by_provider_id = self
            .accounts
            .iter()
            .position(|a| a.same_provider_id(new) && !conflict(a.email.as_deref(), new.email));
        if let Some(i) = by_provider_id {
            return Some((i, MatchedBy::ProviderId));
        }
        let by_email = self
            .accounts
            .iter()
            .position(|a| same(a.email.as_deref(), new.email) && !a.provider_id_conflicts(new));
        by_email.map(|i| (i, MatchedBy::Email))
    }

    /// The active account by the document's rule: the one named, else the first.
    fn effective_active(&self) -> Option<&str> {
        match &self.active {
            Some(uuid) => self.index_of(uuid).map(|i| self.accounts[i].uuid.as_str()),
            None => self.accounts.first().map(|a| a.uuid.as_str()),
        }
    }

    /// Whether an account other than the one at `index` is usable: enabled and not disabled
    /// for authentication (rate limits do not matter).
    fn others_usable(&self, index: usize) -> bool {
        self.accounts.iter().enumerate().any(|(i, a)| i != index && a.enabled && !a.auth_disabled)
    }

    /// The model without `lastUsed`, for comparisons where `lastUsed` is coalesced.
    fn without_last_used(&self) -> Model {
        let mut model = self.clone();
        for account in &mut model.accounts {
            account.last_used = 0;
        }
        model
    }
}

/// What the model expects of `record_auth_failure`.
#[derive(Debug, PartialEq)]
enum AuthExpectation {
    Stale,
    Counted(u32),
    Disabled,
}

/// Applies an authentication failure to the account at `index`, as the doc comments of
/// `record_auth_failure` and `auth_failure_verdict` state it.
fn model_auth_failure(
    model: &mut Model,
    index: usize,
    observed: &Credentials,
    failure: AuthFailure,
    max_failures: u32,
) -> AuthExpectation {
    if !model.accounts[index].has_credentials(observed) {
        return AuthExpectation::Stale; // Another process refreshed: nothing is recorded.
    }
    let others_usable = model.others_usable(index);
    let account = &mut model.accounts[index];
    account.failures = account.failures.saturating_add(1);
    if failure == AuthFailure::Revoked {
        account.access = None; // "refreshed before any further use"
        account.expires_at = None;
    }
    let disable = match failure {
        AuthFailure::Permanent => true, // its token is dead, even if it is the last account
        AuthFailure::Revoked => others_usable,
        AuthFailure::Transient => others_usable && account.failures >= max_failures.max(1),
    };
    if disable {
        account.auth_disabled = true;
        account.has_disabled_reason = true;
        AuthExpectation::Disabled
    } else {
        AuthExpectation::Counted(account.failures)
    }
}

// ---------------------------------------------------------------------------------------------
// Running a sequence against both.

/// How `lastUsed` is written, and so how exactly it can be compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LastUsed {
    /// `bookkeeping_interval` zero: every success writes `lastUsed`, compared exactly.
    EveryUseWritten,
    /// The default interval: `lastUsed` waits for the next write (D7).
    Coalesced,
}

/// Why a call was refused, when the model expects a refusal.
#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    UnknownAccount,
    EmptyRefreshToken,
}

/// The result of a store call, with the errors the model predicts made comparable; any other
/// error fails the case.
fn observed<T>(result: Result<T, StoreError>) -> Result<Result<T, Refusal>, TestCaseError> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(err) if err.is_unknown_account() => Ok(Err(Refusal::UnknownAccount)),
        Err(StoreError::EmptyRefreshToken { .. }) => Ok(Err(Refusal::EmptyRefreshToken)),
        Err(err) => Err(TestCaseError::fail(format!("unexpected store error: {err}"))),
    }
}

fn ok<T>(result: Result<T, StoreError>) -> Result<T, TestCaseError> {
    result.map_err(|err| TestCaseError::fail(format!("unexpected store error: {err}")))
}

fn options(mode: LastUsed) -> StoreOptions {
    let interval = match mode {
        LastUsed::EveryUseWritten => Duration::ZERO,
        LastUsed::Coalesced => StoreOptions::default().bookkeeping_interval,
    };
    StoreOptions {
        durability: Durability::NoFsync,
        bookkeeping_interval: interval,
        ..StoreOptions::default()
    }
}

struct Harness {
    mode: LastUsed,
    path: PathBuf,
    /// The first store, and the second ("another process").
    stores: [AccountStore; 2],
    /// An id per store instance, so a reopened store's bookkeeping starts afresh.
    store_ids: [u32; 2],
    next_store_id: u32,
    model: Model,
    /// Local uuids removed from the pool: good unknown ids.
    removed: Vec<String>,
    now: i64,
    /// The file's generation at the last check.
    generation: u64,
    /// Coalesced mode: per store instance, the last success through that store, and
    /// the last success whose call wrote the file.
    last_success: HashMap<u32, i64>,
    last_success_write: HashMap<u32, i64>,
    // Last, so the stores flush before the folder goes.
    _dir: tempfile::TempDir,
}

impl Harness {
    fn new(mode: LastUsed) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("anthropic-accounts.json");
        let stores = [
            AccountStore::at_path(&path, options(mode)),
            AccountStore::at_path(&path, options(mode)),
        ];
        Harness {
            mode,
            path,
            stores,
            store_ids: [0, 1],
            next_store_id: 2,
            model: Model::default(),
            removed: Vec::new(),
            now: START_MS,
            generation: 0,
            last_success: HashMap::new(),
            last_success_write: HashMap::new(),
            _dir: dir,
        }
    }

    fn uuid_of(&self, target: &Target) -> String {
        match target {
            Target::Pool(index) if !self.model.accounts.is_empty() => {
                self.model.accounts[index.index(self.model.accounts.len())].uuid.clone()
            }
            Target::Pool(_) => NEVER_AN_ACCOUNT.to_owned(),
            Target::Unknown(index) => {
                let choices = self.removed.len() + 1;
                self.removed
                    .get(index.index(choices))
                    .cloned()
                    .unwrap_or_else(|| NEVER_AN_ACCOUNT.to_owned())
            }
        }
    }

    /// The credentials an operation on `uuid` says it started from.
    fn tokens_for(&self, uuid: &str, choice: Tokens) -> Credentials {
        let current = match self.model.index_of(uuid) {
            Some(i) => self.model.accounts[i].credentials(),
            None => Credentials {
                refresh_token: Secret::new("r0"),
                access_token: None,
                expires_at: None,
            },
        };
        match choice {
            Tokens::Current => current,
            Tokens::OtherRefresh => Credentials {
                refresh_token: Secret::new(format!("{}-before", current.refresh_token.expose())),
                ..current
            },
            Tokens::OtherAccess => Credentials {
                access_token: match current.access_token {
                    Some(_) => None,
                    None => Some(Secret::new("a-before")),
                },
                ..current
            },
            Tokens::OtherExpiry => Credentials {
                expires_at: Some(match current.expires_at {
                    Some(at) => EpochMs::from_millis(at.as_millis() - 1),
                    None => EpochMs::from_millis(EXPIRY_BASE_MS),
                }),
                ..current
            },
        }
    }

    fn run(&mut self, steps: &[Step]) -> Result<(), TestCaseError> {
        for (number, step) in steps.iter().enumerate() {
            self.now += step.advance_ms;
            let who = usize::from(step.via_other);
            let before = self.model.clone();
            self.apply(who, &step.op).map_err(|err| in_step(number, step, err))?;
            if !matches!(step.op, Op::Reopen) {
                self.check_after(who, &before).map_err(|err| in_step(number, step, err))?;
            }
        }
        self.reopen().map_err(|err| match err {
            TestCaseError::Fail(reason) => {
                TestCaseError::fail(format!("after the last step, reopened: {reason}"))
            }
            other @ TestCaseError::Reject(_) => other,
        })
    }

    fn apply(&mut self, who: usize, op: &Op) -> Result<(), TestCaseError> {
        match op {
            Op::Add(new) => self.add(who, new),
            Op::Remove(target) => self.remove(who, target),
            Op::SetEnabled(target, on) => self.set_enabled(who, target, *on),
            Op::SetActive(target) => self.set_active(who, target.as_ref()),
            Op::Patch { target, expected, patch } => self.patch(who, target, *expected, patch),
            Op::RateLimit { target, for_ms } => self.rate_limit(who, target, *for_ms),
            Op::Usage { target, utilization } => self.usage(who, target, *utilization),
            Op::AuthFailure { target, observed, failure, max_failures } => {
                self.auth_failure(who, target, *observed, *failure, *max_failures)
            }
            Op::Success(target) => self.success(who, target),
            Op::Flush => ok(self.stores[who].flush()),
            Op::Clear => {
                ok(self.stores[who].clear())?;
                self.removed.extend(self.model.accounts.drain(..).map(|a| a.uuid));
                self.model.active = None;
                Ok(())
            }
            Op::Reopen => self.reopen(),
        }
    }

    fn add(&mut self, who: usize, new: &NewSpec) -> Result<(), TestCaseError> {
        let request = NewAccount {
            credentials: Credentials {
                refresh_token: Secret::new(new.refresh),
                access_token: new.access.map(Secret::new),
                expires_at: expiry(new.expires).map(EpochMs::from_millis),
            },
            email: new.email.map(str::to_owned),
            plan_tier: new.plan.map(str::to_owned),
            account_uuid: new.account_uuid.map(str::to_owned),
            account_id: new.account_id.map(str::to_owned),
            label: new.label.map(str::to_owned),
        };
        let result =
            observed(self.stores[who].add_account(&request, EpochMs::from_millis(self.now)))?;
        if new.refresh.is_empty() {
            prop_assert_eq!(result, Err(Refusal::EmptyRefreshToken));
            return Ok(());
        }
        let pool_was_empty = self.model.accounts.is_empty();
        let uuid = if let Some((index, matched_by)) = self.model.same_account(new) {
            // An update: new tokens, identity filled in, re-enabled (as after a re-login: the
            // authentication disable and the failure count go too); uuid, usage, rate limit,
            // addedAt and lastUsed stay.
            let account = &mut self.model.accounts[index];
            let uuid = account.uuid.clone();
            prop_assert_eq!(result, Ok(AddOutcome::Updated { uuid: uuid.clone(), matched_by }));
            account.take_identity(new);
            new.refresh.clone_into(&mut account.refresh);
            account.access = new.access.map(str::to_owned);
            account.expires_at = expiry(new.expires);
            account.enabled = true;
            account.clear_auth_problems();
            uuid
        } else {
            let Ok(AddOutcome::Added { uuid }) = result else {
                return Err(TestCaseError::fail(format!("expected Added, got {result:?}")));
            };
            prop_assert!(!uuid.is_empty(), "an added account has an empty uuid");
            prop_assert!(
                self.model.index_of(&uuid).is_none() && !self.removed.contains(&uuid),
                "the new uuid {} was used before",
                uuid
            );
            self.model.accounts.push(ModelAccount::new(uuid.clone(), new, self.now));
            uuid
        };
        // "When the pool was empty, the new account becomes the active one; otherwise the active
        // pointer is left alone." (A pool with accounts always has an active account through
        // `active_account`'s fallback to the first, also after `set_active(None)`.)
        if pool_was_empty {
            self.model.active = Some(uuid);
        }
        Ok(())
    }

    fn remove(&mut self, who: usize, target: &Target) -> Result<(), TestCaseError> {
        let uuid = self.uuid_of(target);
        let result = observed(self.stores[who].remove_account(&uuid))?;
        let Some(index) = self.model.index_of(&uuid) else {
            prop_assert_eq!(result, Ok(false)); // an unknown id is no error, and no write
            return Ok(());
        };
        prop_assert_eq!(result, Ok(true));
        self.model.accounts.remove(index);
        self.removed.push(uuid.clone());
        // "If it was the active account, the first remaining account becomes active."
        if self.model.active.as_deref() == Some(uuid.as_str()) {
            self.model.active = self.model.accounts.first().map(|a| a.uuid.clone());
        }
        Ok(())
    }

    fn set_enabled(&mut self, who: usize, target: &Target, on: bool) -> Result<(), TestCaseError> {
        let uuid = self.uuid_of(target);
        let result = observed(self.stores[who].set_enabled(&uuid, on))?;
        let Some(index) = self.model.index_of(&uuid) else {
            prop_assert_eq!(result, Err(Refusal::UnknownAccount));
            return Ok(());
        };
        prop_assert_eq!(result, Ok(()));
        let account = &mut self.model.accounts[index];
        account.enabled = on;
        if on {
            account.clear_auth_problems(); // the user vouches for it
        }
        Ok(())
    }

    fn set_active(&mut self, who: usize, target: Option<&Target>) -> Result<(), TestCaseError> {
        let uuid = target.map(|t| self.uuid_of(t));
        let result = observed(self.stores[who].set_active(uuid.as_deref()))?;
        if let Some(uuid) = &uuid
            && self.model.index_of(uuid).is_none()
        {
            prop_assert_eq!(result, Err(Refusal::UnknownAccount));
            return Ok(());
        }
        prop_assert_eq!(result, Ok(()));
        self.model.active = uuid;
        Ok(())
    }

    fn patch(
        &mut self,
        who: usize,
        target: &Target,
        expected: Tokens,
        spec: &PatchSpec,
    ) -> Result<(), TestCaseError> {
        let uuid = self.uuid_of(target);
        let expected = self.tokens_for(&uuid, expected);
        let patch = CredentialPatch {
            access_token: Secret::new(spec.access),
            expires_at: EpochMs::from_millis(EXPIRY_BASE_MS + spec.expires),
            refresh_token: spec.refresh.map(Secret::new),
            account_uuid: spec.account_uuid.map(str::to_owned),
            account_id: spec.account_id.map(str::to_owned),
            email: spec.email.map(str::to_owned),
        };
        let result = observed(self.stores[who].patch_credentials(&uuid, &expected, patch))?;
        let Some(index) = self.model.index_of(&uuid) else {
            prop_assert_eq!(result, Err(Refusal::UnknownAccount));
            return Ok(());
        };
        let account = &mut self.model.accounts[index];
        if !account.has_credentials(&expected) {
            // Someone changed them first: nothing is written, the stored ones are returned.
            prop_assert_eq!(result, Ok(CasOutcome::Conflict(account.credentials())));
            return Ok(());
        }
        account.access = Some(spec.access.to_owned());
        account.expires_at = Some(EXPIRY_BASE_MS + spec.expires);
        if let Some(refresh) = spec.refresh {
            refresh.clone_into(&mut account.refresh); // `None`: the provider did not rotate it
        }
        fill_in(&mut account.account_uuid, spec.account_uuid);
        fill_in(&mut account.account_id, spec.account_id);
        fill_in(&mut account.email, spec.email);
        account.clear_auth_problems(); // the grant works; the on/off switch is kept
        prop_assert_eq!(result, Ok(CasOutcome::Applied(account.credentials())));
        Ok(())
    }

    fn rate_limit(
        &mut self,
        who: usize,
        target: &Target,
        for_ms: i64,
    ) -> Result<(), TestCaseError> {
        let uuid = self.uuid_of(target);
        let until = self.now + for_ms;
        let result =
            observed(self.stores[who].record_rate_limit(&uuid, EpochMs::from_millis(until)))?;
        let Some(index) = self.model.index_of(&uuid) else {
            prop_assert_eq!(result, Err(Refusal::UnknownAccount));
            return Ok(());
        };
        prop_assert_eq!(result, Ok(()));
        self.model.accounts[index].rate_limit_reset_at = Some(until);
        Ok(())
    }

    fn usage(
        &mut self,
        who: usize,
        target: &Target,
        utilization: f64,
    ) -> Result<(), TestCaseError> {
        let uuid = self.uuid_of(target);
        let usage = UsageLimits {
            five_hour: Some(UsageWindow {
                utilization,
                resets_at: Some("2026-03-11T05:00:00Z".to_owned()),
                extra: mac_storage::UnknownFields::new(),
            }),
            ..UsageLimits::default()
        };
        let at = EpochMs::from_millis(self.now);
        let result = observed(self.stores[who].record_usage(&uuid, usage.clone(), at))?;
        let Some(index) = self.model.index_of(&uuid) else {
            prop_assert_eq!(result, Err(Refusal::UnknownAccount));
            return Ok(());
        };
        prop_assert_eq!(result, Ok(()));
        // The snapshot and its time; the rate-limit deadline is left alone.
        let account = &mut self.model.accounts[index];
        account.usage = Some(usage);
        account.usage_at = Some(self.now);
        Ok(())
    }

    fn auth_failure(
        &mut self,
        who: usize,
        target: &Target,
        observed_on: Tokens,
        failure: AuthFailure,
        max_failures: u32,
    ) -> Result<(), TestCaseError> {
        let uuid = self.uuid_of(target);
        let observed_on = self.tokens_for(&uuid, observed_on);
        let result = observed(self.stores[who].record_auth_failure(
            &uuid,
            &observed_on,
            failure,
            max_failures,
        ))?;
        let Some(index) = self.model.index_of(&uuid) else {
            prop_assert_eq!(result, Err(Refusal::UnknownAccount));
            return Ok(());
        };
        let expected =
            model_auth_failure(&mut self.model, index, &observed_on, failure, max_failures);
        let Ok(outcome) = result else {
            return Err(TestCaseError::fail(format!("expected {expected:?}, got {result:?}")));
        };
        let seen = match &outcome {
            AuthFailureOutcome::Stale => AuthExpectation::Stale,
            AuthFailureOutcome::Counted { failures } => AuthExpectation::Counted(*failures),
            AuthFailureOutcome::Disabled { reason } => {
                // The reason returned is the one `mac status` will show.
                let doc = ok(self.stores[who].load())?;
                let stored = doc.account(&uuid).and_then(|a| a.auth_disabled_reason.as_deref());
                prop_assert!(!reason.is_empty(), "a disable without a reason");
                prop_assert_eq!(stored, Some(reason.as_str()));
                AuthExpectation::Disabled
            }
        };
        prop_assert_eq!(seen, expected);
        Ok(())
    }

    fn success(&mut self, who: usize, target: &Target) -> Result<(), TestCaseError> {
        let uuid = self.uuid_of(target);
        let result =
            observed(self.stores[who].record_success(&uuid, EpochMs::from_millis(self.now)))?;
        let Some(index) = self.model.index_of(&uuid) else {
            prop_assert_eq!(result, Err(Refusal::UnknownAccount));
            return Ok(());
        };
        let account = &mut self.model.accounts[index];
        let state_changes = account.failures != 0 || account.rate_limit_reset_at.is_some();
        account.failures = 0;
        account.rate_limit_reset_at = None;
        account.last_used = account.last_used.max(self.now);
        let Ok(outcome) = result else {
            return Err(TestCaseError::fail(format!("expected a success, got {result:?}")));
        };
        match self.mode {
            // Every use is due: every success writes (or finds `lastUsed` already there).
            LastUsed::EveryUseWritten => prop_assert_eq!(outcome, SuccessOutcome::Written),
            LastUsed::Coalesced => self.check_coalescing(who, state_changes, outcome)?,
        }
        Ok(())
    }

    /// What D7 and `record_success`'s doc promise of coalescing, for one success at `now`:
    /// a state change is written at once; only a use within the interval after another use
    /// through the same store is coalesced; and `lastUsed`-only writes through one store are at
    /// least an interval apart, whatever the accounts.
    fn check_coalescing(
        &mut self,
        who: usize,
        state_changes: bool,
        outcome: SuccessOutcome,
    ) -> Result<(), TestCaseError> {
        let interval = self.stores[who].options().bookkeeping_interval;
        let within_interval = |earlier: i64| {
            u64::try_from(self.now - earlier).is_ok_and(|ms| Duration::from_millis(ms) < interval)
        };
        // Coalescing is per store, shared by all its accounts (a batch of `lastUsed` values).
        let key = self.store_ids[who];
        let wrote = ok(self.stores[who].load())?.generation != self.generation;
        if state_changes {
            prop_assert_eq!(outcome, SuccessOutcome::Written, "a state change must be written");
            prop_assert!(wrote, "a state change must be written");
        } else if outcome == SuccessOutcome::Coalesced {
            prop_assert!(!wrote, "a coalesced success wrote the file");
            prop_assert!(
                self.last_success.get(&key).is_some_and(|t| within_interval(*t)),
                "the first use in an interval was coalesced"
            );
        } else if wrote && let Some(earlier) = self.last_success_write.get(&key) {
            prop_assert!(
                !within_interval(*earlier),
                "two lastUsed-only writes within an interval: at {} and {}",
                earlier,
                self.now
            );
        }
        if wrote {
            self.last_success_write.insert(key, self.now);
        }
        self.last_success.insert(key, self.now);
        Ok(())
    }

    /// Flushes the first store, replaces the second by a fresh store on the same file (the old
    /// one flushes as it goes), and checks that both, and a third fresh reader, see the model
    /// exactly, `lastUsed` included: nothing pending is lost.
    fn reopen(&mut self) -> Result<(), TestCaseError> {
        ok(self.stores[0].flush())?;
        self.stores[1] = AccountStore::at_path(&self.path, options(self.mode));
        self.store_ids[1] = self.next_store_id;
        self.next_store_id += 1;
        let fresh = AccountStore::at_path(&self.path, options(self.mode));
        let documents = [ok(fresh.load())?, ok(self.stores[1].load())?, ok(self.stores[0].load())?];
        for doc in &documents {
            self.compare(doc, true)?;
        }
        let generation = documents[0].generation;
        prop_assert!(generation >= self.generation, "the generation went back");
        match self.mode {
            // Nothing was pending: flushing wrote nothing.
            LastUsed::EveryUseWritten => prop_assert_eq!(generation, self.generation),
            LastUsed::Coalesced => prop_assert!(generation <= self.generation + 2),
        }
        self.generation = generation;
        Ok(())
    }

    /// After a step through store `who`: that store's `load` shows the model, and the file was
    /// written once if the model changed, and not at all otherwise (`lastUsed` bookkeeping
    /// aside when it is coalesced: it may ride along with any write).
    fn check_after(&mut self, who: usize, before: &Model) -> Result<(), TestCaseError> {
        let doc = ok(self.stores[who].load())?;
        self.compare(&doc, self.mode == LastUsed::EveryUseWritten)?;
        let writes = doc.generation.checked_sub(self.generation);
        let (changed, allowed) = match self.mode {
            LastUsed::EveryUseWritten => (*before != self.model, 0),
            LastUsed::Coalesced => {
                (before.without_last_used() != self.model.without_last_used(), 1)
            }
        };
        if changed {
            prop_assert_eq!(writes, Some(1), "a change must be one write");
        } else {
            prop_assert!(
                writes.is_some_and(|w| w <= allowed),
                "{:?} writes for no change (generation {} then {})",
                writes,
                self.generation,
                doc.generation
            );
        }
        self.generation = doc.generation;
        Ok(())
    }

    /// The whole document against the model. Without `exact_last_used`, `lastUsed` must lie
    /// between `addedAt` and the model's value (a later use may still be pending).
    fn compare(&self, doc: &AccountsDocument, exact_last_used: bool) -> Result<(), TestCaseError> {
        prop_assert_eq!(doc.version, 1);
        prop_assert!(doc.extra.is_empty(), "unexpected extra keys: {:?}", doc.extra);
        let mut seen =
            doc.accounts.iter().map(ModelAccount::observed).collect::<Result<Vec<_>, _>>()?;
        if !exact_last_used {
            for (seen, model) in seen.iter_mut().zip(&self.model.accounts) {
                if seen.uuid == model.uuid {
                    prop_assert!(
                        seen.added_at <= seen.last_used && seen.last_used <= model.last_used,
                        "lastUsed {} of {} is outside [addedAt {}, last use {}]",
                        seen.last_used,
                        seen.uuid,
                        seen.added_at,
                        model.last_used
                    );
                    seen.last_used = model.last_used;
                }
            }
        }
        prop_assert_eq!(&seen, &self.model.accounts);
        prop_assert_eq!(&doc.active_account_uuid, &self.model.active);
        let active = doc.active_account().and_then(|a| a.uuid.as_deref());
        prop_assert_eq!(active, self.model.effective_active());
        Ok(())
    }
}

fn in_step(number: usize, step: &Step, err: TestCaseError) -> TestCaseError {
    match err {
        TestCaseError::Fail(reason) => {
            TestCaseError::fail(format!("step {number} ({step:?}): {reason}"))
        }
        other @ TestCaseError::Reject(_) => other,
    }
}

proptest! {
    // 64 cases of up to 95 steps each. No regression file: the shrunk sequence is in the
    // failure message, and this suite keeps no files next to its sources.
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn store_matches_model_when_every_use_writes_last_used(steps in steps()) {
        Harness::new(LastUsed::EveryUseWritten).run(&steps)?;
    }

    #[test]
    fn store_matches_model_and_coalesces_last_used_as_documented(steps in steps()) {
        Harness::new(LastUsed::Coalesced).run(&steps)?;
    }
}
