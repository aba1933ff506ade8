//! Accounts the fake knows, seeded into a real pool: [`FakeProvider::seed_account`] registers a
//! grant behind a fresh refresh token (and a live access token), and adds the account with
//! those tokens to an accounts store — what a login would have done, without the browser. Used by
//! the gateway tests and by `mac demo`, so both build their pools the same way.

use std::time::Duration;

use mac_storage::{
    AccountStore, AddOutcome, Credentials, EpochMs, NewAccount, Provider, Secret, StoreError,
};

use crate::{FakeGrant, FakeProvider};

/// An account [`FakeProvider::seed_account`] added. Its tokens are test values the fake
/// issued, never real ones.
#[derive(Clone, Debug)]
pub struct SeededAccount {
    /// The account's local uuid in the store.
    pub uuid: String,
    /// Its label.
    pub label: String,
    /// Its email, `<label>@example.com` (what [`FakeProvider::revoke_account`] takes).
    pub email: String,
    /// The access token stored with it.
    pub access: String,
    /// The refresh token stored with it.
    pub refresh: String,
}

impl FakeProvider {
    /// Adds an account labelled `label` to `store` (a pool of `provider`) whose refresh token
    /// the fake accepts, and whose stored access token is valid for `valid_for` (zero: stored
    /// already expired and unknown to the fake, so the first request refreshes it).
    pub fn seed_account(
        &self,
        store: &AccountStore,
        provider: Provider,
        label: &str,
        valid_for: Duration,
    ) -> Result<SeededAccount, StoreError> {
        let access = format!("test-access-{provider}-{label}");
        let refresh = format!("test-refresh-{provider}-{label}");
        let email = format!("{label}@example.com");
        let grant = match provider {
            Provider::Anthropic => FakeGrant::anthropic(&format!("acct-{label}"), &email),
            Provider::Codex => FakeGrant::codex(&format!("chatgpt-{label}"), &email, "plus"),
        };
        self.add_refresh_token(&refresh, grant.clone());
        let now = EpochMs::now();
        let expires_at = if valid_for.is_zero() {
            EpochMs::from_millis(now.as_millis() - 1_000)
        } else {
            self.add_access_token(&access, grant);
            now.saturating_add(valid_for)
        };
        let new = NewAccount {
            credentials: Credentials {
                refresh_token: Secret::new(refresh.clone()),
                access_token: Some(Secret::new(access.clone())),
                expires_at: Some(expires_at),
            },
            email: Some(email.clone()),
            plan_tier: None,
            account_uuid: None,
            account_id: (provider == Provider::Codex).then(|| format!("chatgpt-{label}")),
            label: Some(label.to_owned()),
        };
        let (AddOutcome::Added { uuid } | AddOutcome::Updated { uuid, .. }) =
            store.add_account(&new, now)?;
        Ok(SeededAccount { uuid, label: label.to_owned(), email, access, refresh })
    }
}
