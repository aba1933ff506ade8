//! The error of [`crate::RefreshService`] (D19): every variant names the account by its local
//! uuid; none carries a token or a response body (D18).

use std::path::PathBuf;
use std::time::Duration;

use mac_adapters::{PermanentReason, RefreshFailure};
use mac_storage::{AuthFailureOutcome, EpochMs, LockError, StoreError};
use snafu::Snafu;

/// Why fresh credentials could not be obtained.
#[derive(Debug, Snafu)]
#[snafu(visibility(pub(crate)))]
pub enum RefreshError {
    /// The token endpoint refused the refresh or could not be reached. The message is the
    /// adapter's (status, OAuth error code, a cleaned description), never a token or a body.
    #[snafu(display("refreshing the tokens of account {uuid} failed: {source}"))]
    Provider {
        /// The account's local uuid.
        uuid: String,
        /// The classified failure (D12).
        source: RefreshFailure,
        /// What recording the failure did to the account: `None` when nothing was recorded
        /// (a transient failure, which only backs off; a failure shared by a concurrent refresh
        /// or cached from an earlier one; or one that concerns the OAuth client rather than the
        /// account).
        recorded: Option<AuthFailureOutcome>,
    },
    /// The pool has no account with this uuid (removed meanwhile, say).
    #[snafu(display("no account with id {uuid} in {}", path.display()))]
    UnknownAccount {
        /// The uuid asked for.
        uuid: String,
        /// The accounts file.
        path: PathBuf,
    },
    /// Reading or changing the accounts file failed.
    #[snafu(display("cannot refresh account {uuid}: {source}"))]
    Store {
        /// The account's local uuid.
        uuid: String,
        /// The cause.
        source: StoreError,
    },
    /// Another process held the account's refresh lock for longer than the lock timeout.
    #[snafu(display(
        "timed out after {:.1}s waiting for the refresh lock {} of account {uuid} (another mac \
         process is refreshing it and has not finished; the wait is the refresh `lock_timeout`)",
        waited.as_secs_f64(),
        path.display()
    ))]
    LockTimeout {
        /// The account's local uuid.
        uuid: String,
        /// The lock: its file, or a database lock's description (`AccountLocks::describe`).
        path: PathBuf,
        /// How long this process waited.
        waited: Duration,
    },
    /// A refresh of the account failed transiently (or its lock stayed busy) moments ago; it
    /// rests until `until` instead of asking the token endpoint again.
    #[snafu(display(
        "the token refresh of account {uuid} failed moments ago (token endpoint unreachable or \
         its refresh lock busy); it is retried after {}",
        mac_storage::format_iso(*until)
    ))]
    BackingOff {
        /// The account's local uuid.
        uuid: String,
        /// When the next refresh may be tried.
        until: EpochMs,
    },
    /// A refresh was not sent because its grant could not be kept: the accounts file is
    /// read-only here (a newer version) or the pending-grant journal cannot be written beside
    /// it. Sending it would spend the refresh token for nothing.
    #[snafu(display(
        "not refreshing account {uuid}: its new tokens could not be saved ({reason}; {})",
        path.display()
    ))]
    Unwritable {
        /// The account's local uuid.
        uuid: String,
        /// The file concerned.
        path: PathBuf,
        /// Why it cannot be written.
        reason: String,
    },
    /// The account's refresh lock could not be opened or taken.
    #[snafu(display("cannot take the refresh lock of account {uuid}: {source}"))]
    Lock {
        /// The account's local uuid.
        uuid: String,
        /// The cause.
        source: LockError,
    },
    /// Another writer replaced the credentials while the refresh ran, and the ones it stored
    /// are not fresh either. Nothing was written; asking again refreshes those.
    #[snafu(display(
        "the credentials of account {uuid} were replaced while they were being refreshed, and \
         the stored ones are not fresh; try again"
    ))]
    Conflict {
        /// The account's local uuid.
        uuid: String,
    },
    /// A task of the refresh (a blocking file operation or the refresh itself) panicked or was
    /// cancelled by the runtime shutting down.
    #[snafu(display("the refresh of account {uuid} did not finish: {source}"))]
    Task {
        /// The account's local uuid.
        uuid: String,
        /// The cause.
        source: tokio::task::JoinError,
    },
}

impl RefreshError {
    /// The local uuid of the account concerned.
    pub fn uuid(&self) -> &str {
        match self {
            Self::Provider { uuid, .. }
            | Self::UnknownAccount { uuid, .. }
            | Self::Store { uuid, .. }
            | Self::LockTimeout { uuid, .. }
            | Self::Lock { uuid, .. }
            | Self::Conflict { uuid }
            | Self::BackingOff { uuid, .. }
            | Self::Unwritable { uuid, .. }
            | Self::Task { uuid, .. } => uuid,
        }
    }

    /// The token endpoint's classified failure, if that is what went wrong.
    pub fn failure(&self) -> Option<&RefreshFailure> {
        match self {
            Self::Provider { source, .. } => Some(source),
            _ => None,
        }
    }

    /// Whether the provider proved the grant dead (D12): the account needs a new login (or,
    /// when [`RefreshError::concerns_account`] is `false`, the OAuth client is misconfigured).
    /// Everything else is worth trying again later.
    pub fn is_permanent(&self) -> bool {
        self.failure().is_some_and(RefreshFailure::is_permanent)
    }

    /// The evidence of a permanent failure.
    pub fn permanent_reason(&self) -> Option<PermanentReason> {
        self.failure().and_then(RefreshFailure::permanent_reason)
    }

    /// Whether the failure is about this account (`false` for `invalid_client` /
    /// `unauthorized_client`, which fail every account alike, and for errors that are not the
    /// provider's answer).
    pub fn concerns_account(&self) -> bool {
        match self {
            Self::Provider { source, .. } => {
                source.permanent_reason().is_none_or(PermanentReason::concerns_account)
            }
            _ => false,
        }
    }

    /// Whether another process held the refresh lock too long.
    pub fn is_lock_timeout(&self) -> bool {
        matches!(self, Self::LockTimeout { .. })
    }

    /// Whether the account rests after a recent transient failure.
    pub fn is_backing_off(&self) -> bool {
        matches!(self, Self::BackingOff { .. })
    }

    /// Whether the account is not in the pool.
    pub fn is_unknown_account(&self) -> bool {
        matches!(self, Self::UnknownAccount { .. })
    }
}
