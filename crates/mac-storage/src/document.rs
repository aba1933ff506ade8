//! The accounts document: the JSON shape of `<provider>-accounts.json` (D3, D4).
//!
//! The shape is the seed's, so a file of the TypeScript plugins reads as is: camelCase keys,
//! epoch-millisecond times, `version: 1`. Two additions, both optional on read: `accountUuid`
//! (Anthropic's own account id, D4) and `generation` (a counter bumped by every write, D7).
//! Keys this build does not know are kept in `extra` maps and written back unchanged, so a newer
//! build's fields survive an older build's write.

use serde::{Deserialize, Serialize};

use crate::epoch::EpochMs;
use crate::secret::Secret;
use crate::unknown_fields::UnknownFields;

/// The document version this build reads and writes.
pub const SUPPORTED_VERSION: u64 = 1;

/// A whole accounts file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountsDocument {
    /// The format version; `1` for every file this build writes.
    pub version: u64,
    /// The pool, in order (order matters for fallbacks and round-robin).
    #[serde(default)]
    pub accounts: Vec<StoredAccount>,
    /// The local uuid of the account the last selection picked (a default for sticky selection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_account_uuid: Option<String>,
    /// Bumped by every write; tells readers apart two versions of the file.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub generation: u64,
    /// Top-level keys this build does not know, preserved on write.
    #[serde(flatten)]
    pub extra: UnknownFields,
}

/// One account of a pool.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredAccount {
    /// The local id: random at creation and never changed afterwards (D4). Seed files may hold
    /// accounts without one; those are never selected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// Anthropic's account uuid, as returned by the token endpoint (D4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_uuid: Option<String>,
    /// The ChatGPT account (workspace) id, sent as `ChatGPT-Account-Id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// A display label chosen by the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The account's email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The plan (`max`, `pro`, `plus`, …); empty when unknown.
    #[serde(default)]
    pub plan_tier: String,
    /// The OAuth refresh token.
    pub refresh_token: Secret,
    /// The OAuth access token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<Secret>,
    /// When the access token expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<EpochMs>,
    /// When the account was added.
    pub added_at: EpochMs,
    /// The last successful use.
    pub last_used: EpochMs,
    /// The user's on/off switch.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Blocked by a rate-limit response until this time (header-derived; D9).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_reset_at: Option<EpochMs>,
    /// Consecutive rate-limit responses without a usable reset time since the last success: the
    /// rung of the backoff ladder (D10). Kept in the file so every process climbs one ladder.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub rate_limit_streak: u32,
    /// The last usage snapshot fetched from the provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_usage: Option<UsageLimits>,
    /// When `cached_usage` was fetched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_usage_at: Option<EpochMs>,
    /// Transient authentication failures since the last success.
    #[serde(default)]
    pub consecutive_auth_failures: u32,
    /// Disabled because of authentication problems (needs login); never deleted for it (D12).
    #[serde(default)]
    pub is_auth_disabled: bool,
    /// Why the account was disabled, for `mac status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_disabled_reason: Option<String>,
    /// Keys this build does not know, preserved on write.
    #[serde(flatten)]
    pub extra: UnknownFields,
}

/// A quota snapshot (the same shape for both providers, as in the seed).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageLimits {
    /// The 5-hour window.
    #[serde(default)]
    pub five_hour: Option<UsageWindow>,
    /// The 7-day window.
    #[serde(default)]
    pub seven_day: Option<UsageWindow>,
    /// The 7-day window for Sonnet models (Anthropic only).
    #[serde(default)]
    pub seven_day_sonnet: Option<UsageWindow>,
    /// Keys this build does not know, preserved on write.
    #[serde(flatten)]
    pub extra: UnknownFields,
}

/// One quota window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UsageWindow {
    /// Percent used; may exceed 100. Whole numbers are written without a fraction (`42`, as
    /// the providers and the seed write them, not `42.0`).
    #[serde(serialize_with = "serialize_js_number")]
    pub utilization: f64,
    /// When the window resets, as an ISO-8601 timestamp.
    #[serde(default)]
    pub resets_at: Option<String>,
    /// Keys this build does not know, preserved on write.
    #[serde(flatten)]
    pub extra: UnknownFields,
}

impl UsageLimits {
    /// A snapshot with a 5-hour and a 7-day window (no Sonnet window, no other keys).
    pub fn new(five_hour: Option<UsageWindow>, seven_day: Option<UsageWindow>) -> Self {
        Self { five_hour, seven_day, seven_day_sonnet: None, extra: UnknownFields::new() }
    }
}

impl UsageWindow {
    /// A window `utilization` percent used, resetting at `resets_at` (ISO-8601 text).
    pub fn new(utilization: f64, resets_at: Option<String>) -> Self {
        Self { utilization, resets_at, extra: UnknownFields::new() }
    }
}

/// The token part of an account: what a refresh replaces and what compare-and-swap compares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// The refresh token.
    pub refresh_token: Secret,
    /// The access token, if one was issued.
    pub access_token: Option<Secret>,
    /// When the access token expires.
    pub expires_at: Option<EpochMs>,
}

/// Writes a number the way JavaScript's `JSON.stringify` does: whole numbers without `.0`.
#[allow(clippy::trivially_copy_pass_by_ref)] // serde's serialize_with passes a reference
#[allow(clippy::cast_possible_truncation, clippy::float_cmp)] // exact whole numbers below 2^53
fn serialize_js_number<S: serde::Serializer>(
    value: &f64,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    if value.fract() == 0.0 && value.abs() < 9_007_199_254_740_992.0 {
        serializer.serialize_i64(*value as i64)
    } else {
        serializer.serialize_f64(*value)
    }
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_zero_u32(value: &u32) -> bool {
    *value == 0
}

fn yes() -> bool {
    true
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_zero(value: &u64) -> bool {
    *value == 0
}

impl Default for AccountsDocument {
    fn default() -> Self {
        Self::empty()
    }
}

impl AccountsDocument {
    /// An empty pool: what a missing file means.
    pub fn empty() -> Self {
        Self {
            version: SUPPORTED_VERSION,
            accounts: Vec::new(),
            active_account_uuid: None,
            generation: 0,
            extra: UnknownFields::new(),
        }
    }

    /// The first account with this local uuid.
    pub fn account(&self, uuid: &str) -> Option<&StoredAccount> {
        self.accounts.iter().find(|account| account.uuid.as_deref() == Some(uuid))
    }

    /// The first account with this local uuid, for changing it.
    pub fn account_mut(&mut self, uuid: &str) -> Option<&mut StoredAccount> {
        self.accounts.iter_mut().find(|account| account.uuid.as_deref() == Some(uuid))
    }

    /// The active account: the one named by `activeAccountUuid`, else the first account.
    pub fn active_account(&self) -> Option<&StoredAccount> {
        match &self.active_account_uuid {
            Some(uuid) => self.account(uuid),
            None => self.accounts.first(),
        }
    }

    /// Removes accounts that repeat an earlier account's uuid, keeping per uuid the entry with
    /// the greatest `lastUsed` (the later entry on a tie) at the first entry's position, as the
    /// seed's `deduplicateAccounts` does. Accounts without a uuid are all kept.
    ///
    /// Returns the removed entries so the caller can report them: the store never calls this
    /// on its own, since a dropped duplicate may hold the newer refresh token (the seed's
    /// silent dedup lost refresh tokens that way).
    pub fn dedup_by_uuid(&mut self) -> Vec<StoredAccount> {
        let mut kept: Vec<StoredAccount> = Vec::with_capacity(self.accounts.len());
        let mut removed = Vec::new();
        for account in std::mem::take(&mut self.accounts) {
            let existing = account
                .uuid
                .as_ref()
                .and_then(|uuid| kept.iter().position(|k| k.uuid.as_ref() == Some(uuid)));
            match existing {
                Some(index) if account.last_used >= kept[index].last_used => {
                    removed.push(std::mem::replace(&mut kept[index], account));
                }
                Some(_) => removed.push(account),
                None => kept.push(account),
            }
        }
        self.accounts = kept;
        removed
    }
}

impl StoredAccount {
    /// A new account with a fresh random local uuid.
    pub fn new(credentials: Credentials, now: EpochMs) -> Self {
        Self {
            uuid: Some(uuid::Uuid::new_v4().to_string()),
            account_uuid: None,
            account_id: None,
            label: None,
            email: None,
            plan_tier: String::new(),
            refresh_token: credentials.refresh_token,
            access_token: credentials.access_token,
            expires_at: credentials.expires_at,
            added_at: now,
            last_used: now,
            enabled: true,
            rate_limit_reset_at: None,
            rate_limit_streak: 0,
            cached_usage: None,
            cached_usage_at: None,
            consecutive_auth_failures: 0,
            is_auth_disabled: false,
            auth_disabled_reason: None,
            extra: UnknownFields::new(),
        }
    }

    /// The account's tokens.
    pub fn credentials(&self) -> Credentials {
        Credentials {
            refresh_token: self.refresh_token.clone(),
            access_token: self.access_token.clone(),
            expires_at: self.expires_at,
        }
    }

    /// Whether the stored tokens are exactly `credentials`.
    pub fn has_credentials(&self, credentials: &Credentials) -> bool {
        self.refresh_token == credentials.refresh_token
            && self.access_token == credentials.access_token
            && self.expires_at == credentials.expires_at
    }

    /// Enabled by the user and not disabled for authentication problems (the seed's "eligible",
    /// rate limits aside). Accounts without a local uuid are never eligible.
    pub fn is_eligible(&self) -> bool {
        self.uuid.is_some() && self.enabled && !self.is_auth_disabled
    }

    /// A name for logs and menus that never contains a token: label, else email, else a short
    /// uuid prefix.
    pub fn display_name(&self) -> String {
        if let Some(label) = self.label.as_deref().filter(|l| !l.is_empty()) {
            return label.to_owned();
        }
        if let Some(email) = self.email.as_deref().filter(|e| !e.is_empty()) {
            return email.to_owned();
        }
        match &self.uuid {
            Some(uuid) => format!("Account ({})", uuid.chars().take(8).collect::<String>()),
            None => "Account (no id)".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(uuid: Option<&str>, refresh: &str, last_used: i64) -> StoredAccount {
        let mut account = StoredAccount::new(
            Credentials {
                refresh_token: Secret::new(refresh),
                access_token: None,
                expires_at: None,
            },
            EpochMs::from_millis(last_used),
        );
        account.uuid = uuid.map(str::to_owned);
        account
    }

    fn refresh_tokens(doc: &AccountsDocument) -> Vec<&str> {
        doc.accounts.iter().map(|a| a.refresh_token.expose()).collect()
    }

    #[test]
    fn dedup_keeps_latest_last_used_at_first_position() {
        let mut doc = AccountsDocument::empty();
        doc.accounts = vec![
            account(Some("a"), "old", 100),
            account(Some("b"), "b", 1),
            account(Some("a"), "new", 200),
        ];
        let removed = doc.dedup_by_uuid();
        assert_eq!(refresh_tokens(&doc), ["new", "b"]);
        assert_eq!(removed.len(), 1);
        assert_eq!(removed[0].refresh_token.expose(), "old");
    }

    #[test]
    fn dedup_tie_goes_to_the_later_entry_and_keeps_uuidless_accounts() {
        let mut doc = AccountsDocument::empty();
        doc.accounts = vec![
            account(None, "x", 1),
            account(Some("a"), "first", 5),
            account(None, "y", 1),
            account(Some("a"), "second", 5),
        ];
        doc.dedup_by_uuid();
        assert_eq!(refresh_tokens(&doc), ["x", "second", "y"]);
        let mut empty = AccountsDocument::empty();
        assert!(empty.dedup_by_uuid().is_empty());
        assert!(empty.accounts.is_empty());
    }

    #[test]
    fn active_account_falls_back_to_the_first() {
        let mut doc = AccountsDocument::empty();
        doc.accounts = vec![account(Some("a"), "a", 1), account(Some("b"), "b", 1)];
        assert_eq!(doc.active_account().unwrap().uuid.as_deref(), Some("a"));
        doc.active_account_uuid = Some("b".into());
        assert_eq!(doc.active_account().unwrap().uuid.as_deref(), Some("b"));
        doc.active_account_uuid = Some("gone".into());
        assert!(doc.active_account().is_none());
    }

    #[test]
    fn display_name_precedence() {
        let mut a = account(Some("1234567890abcd"), "r", 1);
        assert_eq!(a.display_name(), "Account (12345678)");
        a.email = Some("me@example.com".into());
        assert_eq!(a.display_name(), "me@example.com");
        a.label = Some("work".into());
        assert_eq!(a.display_name(), "work");
    }
}
