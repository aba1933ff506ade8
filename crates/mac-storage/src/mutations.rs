//! The typed changes of a pool (the seed's `AccountStore` and `AccountManager` mutations,
//! revised by D4, D9, D11, D12), each one [`AccountStore::mutate`] call.

use crate::document::{AccountsDocument, Credentials, StoredAccount, UsageLimits};
use crate::epoch::EpochMs;
use crate::error::{EmptyRefreshTokenSnafu, StoreError, UnknownAccountSnafu};
use crate::policy::{AuthFailure, AuthVerdict, auth_failure_verdict};
use crate::secret::Secret;
use crate::store::AccountStore;

/// An account to add (after a login or an import).
#[derive(Clone, Debug, PartialEq)]
pub struct NewAccount {
    /// Its tokens; the refresh token must not be empty.
    pub credentials: Credentials,
    /// Its email, if known.
    pub email: Option<String>,
    /// Its plan, if known.
    pub plan_tier: Option<String>,
    /// Anthropic's account uuid, if known.
    pub account_uuid: Option<String>,
    /// The ChatGPT account id, if known.
    pub account_id: Option<String>,
    /// A label chosen by the user.
    pub label: Option<String>,
}

impl NewAccount {
    /// An account known only by its tokens.
    pub fn from_credentials(credentials: Credentials) -> Self {
        Self {
            credentials,
            email: None,
            plan_tier: None,
            account_uuid: None,
            account_id: None,
            label: None,
        }
    }
}

/// Why [`AccountStore::add_account`] found an existing account to update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchedBy {
    /// The same refresh token.
    RefreshToken,
    /// The same provider account id (`accountUuid` / `accountId`), with no conflicting email.
    ProviderId,
    /// The same email, with no conflicting provider id.
    Email,
}

/// What [`AccountStore::add_account`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddOutcome {
    /// A new account with this local uuid.
    Added {
        /// The new account's local uuid.
        uuid: String,
    },
    /// An existing account was the same one; its tokens and identity were updated.
    Updated {
        /// The existing account's local uuid (unchanged, D4).
        uuid: String,
        /// How it was recognized.
        matched_by: MatchedBy,
    },
}

/// New tokens from a refresh.
#[derive(Clone, Debug, PartialEq)]
pub struct CredentialPatch {
    /// The new access token.
    pub access_token: Secret,
    /// When it expires.
    pub expires_at: EpochMs,
    /// The new refresh token; `None` keeps the old one (the provider did not rotate it).
    pub refresh_token: Option<Secret>,
    /// Anthropic's account uuid, if the response carried it.
    pub account_uuid: Option<String>,
    /// The ChatGPT account id, if the response carried it.
    pub account_id: Option<String>,
    /// The email, if the response carried it.
    pub email: Option<String>,
}

/// What a compare-and-swap of credentials did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CasOutcome {
    /// The stored credentials were the expected ones and now are these.
    Applied(Credentials),
    /// Someone changed the credentials first; nothing was written. These are the stored ones.
    Conflict(Credentials),
}

/// What [`AccountStore::record_auth_failure`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthFailureOutcome {
    /// The stored credentials are no longer the ones that failed (another process refreshed
    /// them): the failure says nothing about the account and was not recorded (D11).
    Stale,
    /// Counted; the account stays in use.
    Counted {
        /// Consecutive failures now.
        failures: u32,
    },
    /// The account was disabled (never deleted).
    Disabled {
        /// The reason shown by `mac status`.
        reason: String,
    },
}

/// What [`AccountStore::record_success`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SuccessOutcome {
    /// The file was written (state changed, or `lastUsed` was due).
    Written,
    /// Nothing to write but `lastUsed`, which waits for the next write (D7).
    Coalesced,
}

impl AccountStore {
    /// Adds an account, or updates the existing one that is the same account (D4): same refresh
    /// token; else the same `accountUuid` or `accountId`, unless the other provider id or the
    /// email differs; else the same email, unless a provider id differs (so two ChatGPT
    /// workspaces of one email, or two people in one workspace, stay two accounts). Emails and
    /// provider ids compare ignoring ASCII case; an empty value counts as unknown. An update
    /// replaces the tokens, fills in identity fields, and re-enables the account; it keeps the
    /// local uuid, usage and rate limits. When the pool was empty, the new account becomes the
    /// active one; otherwise the active pointer is left alone.
    pub fn add_account(&self, new: &NewAccount, now: EpochMs) -> Result<AddOutcome, StoreError> {
        if new.credentials.refresh_token.is_empty() {
            return EmptyRefreshTokenSnafu { path: self.path() }.fail();
        }
        self.mutate(|doc| {
            let was_empty = doc.accounts.is_empty();
            let outcome = if let Some((index, matched_by)) = find_same_account(doc, new) {
                let account = &mut doc.accounts[index];
                update_identity(account, new);
                account.refresh_token.clone_from(&new.credentials.refresh_token);
                account.access_token.clone_from(&new.credentials.access_token);
                account.expires_at = new.credentials.expires_at;
                account.enabled = true;
                clear_auth_state(account);
                AddOutcome::Updated { uuid: account.uuid.clone().unwrap_or_default(), matched_by }
            } else {
                let mut account = StoredAccount::new(new.credentials.clone(), now);
                update_identity(&mut account, new);
                let uuid = account.uuid.clone().unwrap_or_default();
                doc.accounts.push(account);
                AddOutcome::Added { uuid }
            };
            if was_empty {
                let (AddOutcome::Added { uuid } | AddOutcome::Updated { uuid, .. }) = &outcome;
                doc.active_account_uuid = Some(uuid.clone());
            }
            Ok(outcome)
        })
    }

    /// Removes every account with this local uuid; `false` (and no write) if there was none.
    /// If it was the active account, the first remaining account becomes active.
    pub fn remove_account(&self, uuid: &str) -> Result<bool, StoreError> {
        self.mutate(|doc| {
            let before = doc.accounts.len();
            doc.accounts.retain(|account| account.uuid.as_deref() != Some(uuid));
            if doc.accounts.len() == before {
                return Ok(false);
            }
            if doc.active_account_uuid.as_deref() == Some(uuid) {
                doc.active_account_uuid = doc.accounts.first().and_then(|a| a.uuid.clone());
            }
            Ok(true)
        })
    }

    /// Turns an account on or off. Turning it on also clears an authentication disable and the
    /// failure count (the user vouches for it, as after a re-login).
    pub fn set_enabled(&self, uuid: &str, enabled: bool) -> Result<(), StoreError> {
        self.mutate(|doc| {
            let account = self.account_mut(doc, uuid)?;
            account.enabled = enabled;
            if enabled {
                clear_auth_state(account);
            }
            Ok(())
        })
    }

    /// Sets (or with `None` clears) the active account.
    pub fn set_active(&self, uuid: Option<&str>) -> Result<(), StoreError> {
        self.mutate(|doc| {
            if let Some(uuid) = uuid
                && doc.account(uuid).is_none()
            {
                return UnknownAccountSnafu { path: self.path(), uuid }.fail();
            }
            doc.active_account_uuid = uuid.map(str::to_owned);
            Ok(())
        })
    }

    /// Stores refreshed tokens if, and only if, the stored credentials still equal `expected`,
    /// the ones the refresh started from (D11). On success the failure count and any
    /// authentication disable are cleared (the grant works); the user's on/off switch is kept.
    // Owned, as before transactions became repeatable: callers move it in (from a blocking
    // task, say); the closure clones from it because a backend may run it more than once.
    #[allow(clippy::needless_pass_by_value)]
    pub fn patch_credentials(
        &self,
        uuid: &str,
        expected: &Credentials,
        patch: CredentialPatch,
    ) -> Result<CasOutcome, StoreError> {
        self.mutate(|doc| {
            let account = self.account_mut(doc, uuid)?;
            if !account.has_credentials(expected) {
                return Ok(CasOutcome::Conflict(account.credentials()));
            }
            account.access_token = Some(patch.access_token.clone());
            account.expires_at = Some(patch.expires_at);
            if let Some(refresh) = &patch.refresh_token {
                account.refresh_token.clone_from(refresh);
            }
            set_if_some(&mut account.account_uuid, patch.account_uuid.clone());
            set_if_some(&mut account.account_id, patch.account_id.clone());
            set_if_some(&mut account.email, patch.email.clone());
            clear_auth_state(account);
            Ok(CasOutcome::Applied(account.credentials()))
        })
    }

    /// Sets the header-derived "blocked until" deadline to exactly `until` (D9), written at once.
    /// This is the raw setter: the rate-limit policy (classification, the backoff ladder, never
    /// shortening a longer block) is `mac_ratelimit::record`, which changes the account inside
    /// one [`AccountStore::mutate`]. Usage data is kept apart and never erases this deadline
    /// (see [`AccountStore::record_usage`]).
    pub fn record_rate_limit(&self, uuid: &str, until: EpochMs) -> Result<(), StoreError> {
        self.mutate(|doc| {
            self.account_mut(doc, uuid)?.rate_limit_reset_at = Some(until);
            Ok(())
        })
    }

    /// Stores a usage snapshot fetched at `at`. Unlike the seed, this leaves
    /// `rateLimitResetAt` alone (the seed recomputed it from the fresh usage and so erased a
    /// 429's backoff): exhaustion is derived from the snapshot itself.
    #[allow(clippy::needless_pass_by_value)] // owned, like `patch_credentials`
    pub fn record_usage(
        &self,
        uuid: &str,
        usage: UsageLimits,
        at: EpochMs,
    ) -> Result<(), StoreError> {
        self.mutate(|doc| {
            let account = self.account_mut(doc, uuid)?;
            account.cached_usage = Some(usage.clone());
            account.cached_usage_at = Some(at);
            Ok(())
        })
    }

    /// Records an authentication failure observed with `observed_on`, applying the disabling
    /// rule of [`auth_failure_verdict`]. If the stored credentials differ from `observed_on`,
    /// another process has refreshed them and nothing is recorded (D11). A revoked account also
    /// loses its access token, so it is refreshed before any further use.
    pub fn record_auth_failure(
        &self,
        uuid: &str,
        observed_on: &Credentials,
        failure: AuthFailure,
        max_failures: u32,
    ) -> Result<AuthFailureOutcome, StoreError> {
        self.mutate(|doc| {
            let Some(index) = doc.accounts.iter().position(|a| a.uuid.as_deref() == Some(uuid))
            else {
                return UnknownAccountSnafu { path: self.path(), uuid }.fail();
            };
            if !doc.accounts[index].has_credentials(observed_on) {
                return Ok(AuthFailureOutcome::Stale);
            }
            let failures = doc.accounts[index].consecutive_auth_failures.saturating_add(1);
            let verdict = auth_failure_verdict(doc, index, failure, failures, max_failures);
            let account = &mut doc.accounts[index];
            account.consecutive_auth_failures = failures;
            if failure == AuthFailure::Revoked {
                account.access_token = None;
                account.expires_at = None;
            }
            Ok(match verdict {
                AuthVerdict::Count => AuthFailureOutcome::Counted { failures },
                AuthVerdict::Disable(reason) => {
                    account.is_auth_disabled = true;
                    account.auth_disabled_reason = Some(reason.clone());
                    AuthFailureOutcome::Disabled { reason }
                }
            })
        })
    }

    /// Records a successful request at `now`: clears the failure count, a rate-limit deadline
    /// and the backoff ladder (written at once when there is one of them), and bumps `lastUsed`, which is coalesced
    /// with every other account's to at most one write per [`crate::StoreOptions::bookkeeping_interval`]
    /// (D7). A healthy account's success therefore usually costs one `stat` and no write.
    pub fn record_success(&self, uuid: &str, now: EpochMs) -> Result<SuccessOutcome, StoreError> {
        let current = self.load()?;
        let Some(account) = current.account(uuid) else {
            return UnknownAccountSnafu { path: self.path(), uuid }.fail();
        };
        let state_changes = account.consecutive_auth_failures != 0
            || account.rate_limit_reset_at.is_some()
            || account.rate_limit_streak != 0;
        let due = self.bookkeeping().note_use(uuid, now);
        if !state_changes && !due {
            return Ok(SuccessOutcome::Coalesced);
        }
        self.mutate(|doc| {
            let account = self.account_mut(doc, uuid)?;
            account.consecutive_auth_failures = 0;
            account.rate_limit_reset_at = None;
            account.rate_limit_streak = 0;
            account.last_used = account.last_used.max(now);
            Ok(SuccessOutcome::Written)
        })
    }

    /// Removes every account (and the active pointer); the file stays, as an empty pool.
    pub fn clear(&self) -> Result<(), StoreError> {
        self.mutate(|doc| {
            doc.accounts.clear();
            doc.active_account_uuid = None;
            Ok(())
        })
    }
}

impl AccountsDocument {
    /// The account of this document that is the same account as `new`, and how it was
    /// recognized — the identity rules of [`AccountStore::add_account`] (D4): same refresh
    /// token; else the same provider id without a conflicting email or other provider id; else
    /// the same email without a conflicting provider id.
    pub fn find_same_account(&self, new: &NewAccount) -> Option<(usize, MatchedBy)> {
        find_same_account(self, new)
    }
}

fn find_same_account(doc: &AccountsDocument, new: &NewAccount) -> Option<(usize, MatchedBy)> {
    let accounts = &doc.accounts;
    if let Some(i) = accounts.iter().position(|a| a.refresh_token == new.credentials.refresh_token)
    {
        return Some((i, MatchedBy::RefreshToken));
    }
    let same_provider_id = |a: &StoredAccount| {
        equal_present(a.account_uuid.as_ref(), new.account_uuid.as_ref())
            || equal_present(a.account_id.as_ref(), new.account_id.as_ref())
    };
    let conflicting_provider_id = |a: &StoredAccount| {
        differ_present(a.account_uuid.as_ref(), new.account_uuid.as_ref())
            || differ_present(a.account_id.as_ref(), new.account_id.as_ref())
    };
    let same_email = |a: &StoredAccount| equal_present(a.email.as_ref(), new.email.as_ref());
    let conflicting_email =
        |a: &StoredAccount| differ_present(a.email.as_ref(), new.email.as_ref());
    if let Some(i) = accounts
        .iter()
        .position(|a| same_provider_id(a) && !conflicting_provider_id(a) && !conflicting_email(a))
    {
        return Some((i, MatchedBy::ProviderId));
    }
    accounts
        .iter()
        .position(|a| same_email(a) && !conflicting_provider_id(a))
        .map(|i| (i, MatchedBy::Email))
}

fn equal_present(a: Option<&String>, b: Option<&String>) -> bool {
    matches!((a, b), (Some(x), Some(y)) if !x.is_empty() && x.eq_ignore_ascii_case(y))
}

fn differ_present(a: Option<&String>, b: Option<&String>) -> bool {
    matches!((a, b), (Some(x), Some(y)) if !x.is_empty() && !y.is_empty() && !x.eq_ignore_ascii_case(y))
}

fn update_identity(account: &mut StoredAccount, new: &NewAccount) {
    set_if_some(&mut account.email, new.email.clone());
    set_if_some(&mut account.account_uuid, new.account_uuid.clone());
    set_if_some(&mut account.account_id, new.account_id.clone());
    set_if_some(&mut account.label, new.label.clone());
    if let Some(plan) = new.plan_tier.as_ref().filter(|p| !p.is_empty()) {
        account.plan_tier.clone_from(plan);
    }
}

fn set_if_some(field: &mut Option<String>, value: Option<String>) {
    if let Some(value) = value.filter(|v| !v.is_empty()) {
        *field = Some(value);
    }
}

fn clear_auth_state(account: &mut StoredAccount) {
    account.is_auth_disabled = false;
    account.auth_disabled_reason = None;
    account.consecutive_auth_failures = 0;
}
