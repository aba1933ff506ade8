//! Giving an account of the pool the tokens of a new login (`mac accounts relogin` and the
//! menu's "Re-authenticate"): one locked change that replaces the tokens, clears the
//! authentication disable and failure count, fills identity fields the account lacks, and
//! refuses — writing nothing — when the login is plainly another person's (a different email
//! or provider account id than the account already has).

use mac_adapters::LoginOutcome;
use mac_storage::{AccountStore, Provider, StoredAccount};

use crate::error::CliError;

/// Applies `outcome` to the account `uuid` of `store`; the account's display name.
pub(crate) fn apply(
    store: &AccountStore,
    provider: Provider,
    uuid: &str,
    outcome: LoginOutcome,
) -> Result<String, CliError> {
    let new = outcome.into_new_account();
    store.mutate(|document| {
        let account = store.account_mut(document, uuid)?;
        if let Some(got) = other_person(account, &new) {
            return Ok(Err(CliError::WrongAccount {
                got,
                expected: account.display_name(),
                provider,
            }));
        }
        account.refresh_token = new.credentials.refresh_token.clone();
        account.access_token.clone_from(&new.credentials.access_token);
        account.expires_at = new.credentials.expires_at;
        account.is_auth_disabled = false;
        account.auth_disabled_reason = None;
        account.consecutive_auth_failures = 0;
        for (slot, value) in [
            (&mut account.email, &new.email),
            (&mut account.account_id, &new.account_id),
            (&mut account.account_uuid, &new.account_uuid),
        ] {
            if slot.is_none() {
                slot.clone_from(value);
            }
        }
        if let Some(plan) = new.plan_tier.as_ref().filter(|p| !p.is_empty()) {
            account.plan_tier.clone_from(plan);
        }
        Ok(Ok(account.display_name()))
    })?
}

/// Who logged in, when it is not the account's person: an email or provider id that both
/// know and that differ.
fn other_person(account: &StoredAccount, new: &mac_storage::NewAccount) -> Option<String> {
    let differs = |a: Option<&str>, b: Option<&str>| matches!((a, b), (Some(a), Some(b)) if !a.is_empty() && !b.is_empty() && !a.eq_ignore_ascii_case(b));
    let other = differs(new.email.as_deref(), account.email.as_deref())
        || differs(new.account_id.as_deref(), account.account_id.as_deref())
        || differs(new.account_uuid.as_deref(), account.account_uuid.as_deref());
    other.then(|| new.email.clone().unwrap_or_else(|| "another account".into()))
}
