//! The pools as `mac status --json` shows them and the gateway's `GET /v1/pool` serves them:
//! one definition of each account's view (state, reason, usage windows, token expiry, holder),
//! built from the accounts (on the configured storage backend) and the live claims, and which
//! storage that is. No view has a field that could hold a token (nor the storage URL's
//! password). Reading only: a missing data directory or file is an empty pool, nothing is
//! created in the data directory.
//! The reads are blocking (files, and the claims' holders asked by the OS); async callers run
//! [`pool_status`] on the blocking pool.

use std::fmt;

use mac_claims::ClaimsSnapshot;
use mac_ratelimit::ModelFamily;
use mac_storage::{DataDir, EpochMs, Provider, StoredAccount, UsageWindow, parse_rfc3339};
use serde::Serialize;

use crate::accounts_backend::{AccountsStorage, StorageView};
use crate::config::MacConfig;

/// An account's state, as `mac status` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AccountState {
    /// Usable now.
    Ready,
    /// Blocked by a rate-limit answer until a time.
    RateLimited,
    /// A usage window (5 h or 7 d) is used up until it resets.
    Exhausted,
    /// The refresh token no longer works: a new login is needed.
    NeedsLogin,
    /// Switched off by the user.
    Disabled,
}

impl AccountState {
    /// Every state, in the order of the list above.
    pub const ALL: [AccountState; 5] = [
        AccountState::Ready,
        AccountState::RateLimited,
        AccountState::Exhausted,
        AccountState::NeedsLogin,
        AccountState::Disabled,
    ];

    /// `ready`, `rate-limited`, `exhausted`, `needs-login` or `disabled`.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountState::Ready => "ready",
            AccountState::RateLimited => "rate-limited",
            AccountState::Exhausted => "exhausted",
            AccountState::NeedsLogin => "needs-login",
            AccountState::Disabled => "disabled",
        }
    }
}

impl fmt::Display for AccountState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for AccountState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Why a rate-limited account waits.
pub const RATE_LIMITED: &str = "the provider answered with a rate limit";
/// Why an exhausted account waits.
pub const EXHAUSTED: &str = "a usage window is used up";

/// An account's state and why: disabled, then needs login, then a rate-limit answer's
/// deadline, then a used-up window, else ready. The third value is until when it is blocked.
pub fn state_of(
    account: &StoredAccount,
    now: EpochMs,
) -> (AccountState, Option<String>, Option<EpochMs>) {
    if !account.enabled {
        return (AccountState::Disabled, Some("switched off".to_owned()), None);
    }
    if account.is_auth_disabled {
        let reason = account.auth_disabled_reason.clone().unwrap_or_else(|| "login failed".into());
        return (AccountState::NeedsLogin, Some(reason), None);
    }
    let header = mac_ratelimit::header_blocked_until(account, now);
    let usage = mac_ratelimit::usage_exhausted_until(account, now);
    match (header, usage) {
        (Some(h), u) if u.is_none_or(|u| h >= u) => {
            (AccountState::RateLimited, Some(RATE_LIMITED.to_owned()), Some(h))
        }
        (_, Some(u)) => (AccountState::Exhausted, Some(EXHAUSTED.to_owned()), Some(u)),
        _ => (AccountState::Ready, None, None),
    }
}

/// One account.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountView {
    /// The `#` an `<ID>` accepts (1-based, in the listing's order).
    pub index: usize,
    /// The pool.
    #[serde(serialize_with = "provider_name")]
    pub provider: Provider,
    /// The local uuid (empty for an old account without one).
    pub id: String,
    /// Label, else email, else a short id.
    pub name: String,
    /// The label, if set.
    pub label: Option<String>,
    /// The email, if known.
    pub email: Option<String>,
    /// The plan (`max`, `pro`, `plus`, …); empty when unknown.
    pub plan: String,
    /// The user's on/off switch.
    pub enabled: bool,
    /// Whether it is the pool's active (last selected) account.
    pub active: bool,
    /// Its state.
    pub state: AccountState,
    /// Why, for every state but `ready`.
    pub reason: Option<String>,
    /// Until when it is blocked (rate-limited or exhausted), epoch ms.
    pub blocked_until: Option<EpochMs>,
    /// Model families blocked on it while it serves the others (a `seven_day_opus` 429). A
    /// running gateway holds these in memory (the accounts file has one account-wide deadline,
    /// and writing a family's limit there would block every family), so only its
    /// `GET /v1/pool` fills them in ([`StatusView::add_family_limit`]); left out when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub family_limits: Vec<FamilyLimitView>,
    /// The 5-hour window.
    pub five_hour: Option<WindowView>,
    /// The 7-day window.
    pub seven_day: Option<WindowView>,
    /// When the usage was fetched, epoch ms.
    pub usage_fetched_at: Option<EpochMs>,
    /// When the access token expires, epoch ms.
    pub token_expires_at: Option<EpochMs>,
    /// The process holding the account now, if any.
    pub held_by_pid: Option<u32>,
    /// The last successful use, epoch ms.
    pub last_used: EpochMs,
    /// When it was added, epoch ms.
    pub added_at: EpochMs,
}

/// A provider as its name (`anthropic`, `codex`), for `serialize_with`.
#[allow(clippy::trivially_copy_pass_by_ref)] // serde's serialize_with passes a reference
pub fn provider_name<S: serde::Serializer>(provider: &Provider, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(provider.as_str())
}

/// A limit on one model family of an account.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FamilyLimitView {
    /// The family: `opus`, `sonnet`.
    #[serde(serialize_with = "family_name")]
    pub family: ModelFamily,
    /// Until when its requests skip the account, epoch ms.
    pub until: EpochMs,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's serialize_with passes a reference
fn family_name<S: serde::Serializer>(family: &ModelFamily, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(family.as_str())
}

/// One usage window.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WindowView {
    /// Percent used (may exceed 100).
    pub utilization: f64,
    /// When it resets, epoch ms, if known.
    pub resets_at: Option<EpochMs>,
}

impl WindowView {
    fn of(window: &UsageWindow) -> Self {
        Self {
            utilization: window.utilization,
            resets_at: window.resets_at.as_deref().and_then(parse_rfc3339),
        }
    }
}

impl AccountView {
    /// The view of `account`, the `index`-th of its listing.
    pub fn of(
        index: usize,
        provider: Provider,
        account: &StoredAccount,
        active: Option<&str>,
        claims: &ClaimsSnapshot,
        now: EpochMs,
    ) -> Self {
        let id = account.uuid.clone().unwrap_or_default();
        let (state, reason, blocked_until) = state_of(account, now);
        let usage = account.cached_usage.as_ref();
        Self {
            index,
            provider,
            name: account.display_name(),
            label: account.label.clone(),
            email: account.email.clone(),
            plan: account.plan_tier.clone(),
            enabled: account.enabled,
            active: !id.is_empty() && active == Some(id.as_str()),
            state,
            reason,
            blocked_until,
            family_limits: Vec::new(),
            five_hour: usage.and_then(|u| u.five_hour.as_ref()).map(WindowView::of),
            seven_day: usage.and_then(|u| u.seven_day.as_ref()).map(WindowView::of),
            usage_fetched_at: account.cached_usage_at,
            token_expires_at: account.expires_at,
            held_by_pid: claims.get(&id).map(|claim| claim.pid),
            last_used: account.last_used,
            added_at: account.added_at,
            id,
        }
    }

    /// The first 8 characters of the uuid.
    pub fn short_id(&self) -> &str {
        self.id.get(..8).unwrap_or(&self.id)
    }
}

/// The JSON document of `mac status` and `GET /v1/pool`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusView {
    /// The data directory.
    pub data_dir: String,
    /// Where the accounts are: the files of the data directory, or a PostgreSQL database.
    pub storage: StorageView,
    /// One entry per pool.
    pub pools: Vec<PoolView>,
}

impl StatusView {
    /// Adds the limit of `family` until `until` to `provider`'s account `id` (nothing when no
    /// such account is listed); a later limit of the same family is kept.
    pub fn add_family_limit(
        &mut self,
        provider: Provider,
        id: &str,
        family: ModelFamily,
        until: EpochMs,
    ) {
        let account = self
            .pools
            .iter_mut()
            .filter(|pool| pool.provider == provider)
            .flat_map(|pool| pool.accounts.iter_mut())
            .find(|account| !id.is_empty() && account.id == id);
        let Some(account) = account else { return };
        match account.family_limits.iter_mut().find(|limit| limit.family == family) {
            Some(limit) => limit.until = limit.until.max(until),
            None => account.family_limits.push(FamilyLimitView { family, until }),
        }
    }
}

/// One pool.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolView {
    /// The provider.
    #[serde(serialize_with = "provider_name")]
    pub provider: Provider,
    /// The accounts file (or, on PostgreSQL, the server, schema and provider).
    pub file: String,
    /// Why the file could not be read, if it could not.
    pub error: Option<String>,
    /// Its accounts, numbered on from the previous pool's.
    pub accounts: Vec<AccountView>,
}

/// The live claims of `provider`'s claims file in `data_dir`; an unreadable claims file shows
/// as no holder (claims are soft state). Blocking. (The claims of the configured storage:
/// [`AccountsStorage::claims`].)
pub fn claims_of(data_dir: &DataDir, provider: Provider) -> ClaimsSnapshot {
    AccountsStorage::File(data_dir.clone()).claims(data_dir, provider)
}

/// Every pool of `data_dir` (or only `provider`'s), as of `now`, read from the storage
/// `config` names. Blocking: reads the accounts (files, or one connection to the database)
/// and the claims; creates nothing in the data directory. A storage that cannot be opened
/// shows as every pool's error.
pub fn pool_status(
    data_dir: &DataDir,
    config: &MacConfig,
    provider: Option<Provider>,
    now: EpochMs,
) -> StatusView {
    match AccountsStorage::open(config, data_dir) {
        Ok(storage) => {
            let claims = |pool| storage.claims(data_dir, pool);
            pool_status_on(&storage, &claims, data_dir, config, provider, now)
        }
        Err(err) => {
            let pools = Provider::ALL
                .into_iter()
                .filter(|p| provider.is_none_or(|want| want == *p))
                .map(|pool| PoolView {
                    provider: pool,
                    file: String::new(),
                    error: Some(err.to_string()),
                    accounts: Vec::new(),
                })
                .collect();
            StatusView {
                data_dir: data_dir.path().display().to_string(),
                storage: StorageView::configured(config, data_dir),
                pools,
            }
        }
    }
}

/// [`pool_status`] on a storage already open, with the claims `claims` gives per provider (a
/// running pool passes the claims it keeps in memory): a gateway answers its status route
/// without connecting again. Blocking (reads the accounts).
pub fn pool_status_on(
    storage: &AccountsStorage,
    claims: &dyn Fn(Provider) -> ClaimsSnapshot,
    data_dir: &DataDir,
    config: &MacConfig,
    provider: Option<Provider>,
    now: EpochMs,
) -> StatusView {
    let wanted: Vec<Provider> =
        Provider::ALL.into_iter().filter(|p| provider.is_none_or(|want| want == *p)).collect();
    let mut pools = Vec::new();
    let mut index = 0;
    for pool in wanted {
        let store = storage.store(pool, config.store_options());
        let claims = claims(pool);
        let file = store.path().display().to_string();
        match store.load() {
            Ok(document) => {
                let active = document.active_account_uuid.as_deref();
                let accounts = document
                    .accounts
                    .iter()
                    .map(|account| {
                        index += 1;
                        AccountView::of(index, pool, account, active, &claims, now)
                    })
                    .collect();
                pools.push(PoolView { provider: pool, file, error: None, accounts });
            }
            Err(err) => pools.push(PoolView {
                provider: pool,
                file,
                error: Some(err.to_string()),
                accounts: Vec::new(),
            }),
        }
    }
    StatusView { data_dir: data_dir.path().display().to_string(), storage: storage.view(), pools }
}

#[cfg(test)]
mod tests {
    use mac_storage::{Credentials, Secret};

    use super::*;

    fn view_of(account: &StoredAccount) -> StatusView {
        let now = EpochMs::from_millis(1_000);
        let view =
            AccountView::of(1, Provider::Anthropic, account, None, &ClaimsSnapshot::default(), now);
        StatusView {
            data_dir: String::new(),
            storage: StorageView::configured(&MacConfig::default(), &DataDir::at("/nowhere")),
            pools: vec![PoolView {
                provider: Provider::Anthropic,
                file: String::new(),
                error: None,
                accounts: vec![view],
            }],
        }
    }

    #[test]
    fn family_limits_join_their_account_and_show_only_when_there_are_some() {
        let credentials =
            Credentials { refresh_token: Secret::new("r"), access_token: None, expires_at: None };
        let account = StoredAccount::new(credentials, EpochMs::from_millis(0));
        let id = account.uuid.clone().unwrap();
        let mut view = view_of(&account);
        let json = serde_json::to_value(&view).unwrap();
        assert!(json["pools"][0]["accounts"][0].get("familyLimits").is_none());

        let at = EpochMs::from_millis;
        view.add_family_limit(Provider::Anthropic, &id, ModelFamily::Opus, at(5_000));
        view.add_family_limit(Provider::Anthropic, &id, ModelFamily::Opus, at(4_000));
        view.add_family_limit(Provider::Codex, &id, ModelFamily::Sonnet, at(5_000));
        view.add_family_limit(Provider::Anthropic, "someone-else", ModelFamily::Sonnet, at(5_000));
        let json = serde_json::to_value(&view).unwrap();
        let account = &json["pools"][0]["accounts"][0];
        assert_eq!(
            account["familyLimits"],
            serde_json::json!([{"family": "opus", "until": 5_000}])
        );
        assert_eq!(account["state"], "ready", "the account itself is not blocked");
    }
}
