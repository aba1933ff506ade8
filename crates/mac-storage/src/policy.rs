//! The one rule for disabling an account after an authentication failure (D12). Every path —
//! a request's 401, a refresh on demand, the proactive refresher, a revoked 403 — records its
//! failure through [`crate::AccountStore::record_auth_failure`], which applies this rule to
//! the document as it is inside the lock.

use crate::document::AccountsDocument;

/// What went wrong with an account's authentication.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthFailure {
    /// Might work later (network, 5xx, a bare 4xx without an OAuth error code).
    Transient,
    /// The provider said the grant is dead (`invalid_grant`, `invalid_client`, …): needs login.
    Permanent,
    /// The API answered 403 with a revoked token.
    Revoked,
}

/// The rule's verdict for one failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthVerdict {
    /// Count it; the account stays in use.
    Count,
    /// Disable the account (never delete it) with this reason for `mac status`.
    Disable(String),
}

/// Decides what one failure of the account at `index` does.
///
/// - Permanent: disable ("needs login"), even the last account — its token is dead.
/// - Revoked: disable if another usable account remains; otherwise count.
/// - Transient: count; disable when the count reaches `max_failures` and another usable account
///   remains. Transient failures never disable the last usable account.
///
/// "Usable" here means enabled and not auth-disabled; rate limits do not matter, since a
/// rate-limited account becomes usable again by itself.
pub fn auth_failure_verdict(
    document: &AccountsDocument,
    index: usize,
    failure: AuthFailure,
    failures_after: u32,
    max_failures: u32,
) -> AuthVerdict {
    let others_usable = document.accounts.iter().enumerate().any(|(i, account)| {
        i != index && account.enabled && !account.is_auth_disabled && account.uuid.is_some()
    });
    match failure {
        AuthFailure::Permanent => {
            AuthVerdict::Disable("refresh failed permanently: needs login".to_owned())
        }
        AuthFailure::Revoked if others_usable => {
            AuthVerdict::Disable("OAuth token revoked (403): needs login".to_owned())
        }
        AuthFailure::Transient if others_usable && failures_after >= max_failures.max(1) => {
            AuthVerdict::Disable(format!("{failures_after} consecutive auth failures"))
        }
        AuthFailure::Revoked | AuthFailure::Transient => AuthVerdict::Count,
    }
}
