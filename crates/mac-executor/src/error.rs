//! The error type of `mac-executor` (D19): what a caller of [`crate::Pool::execute`] can get
//! instead of a response. No variant carries a token.

use std::time::Duration;

use mac_storage::{EpochMs, Provider, StoreError};
use snafu::Snafu;

use crate::response::SendError;

/// Why a request got no response.
#[derive(Debug, Snafu)]
#[snafu(visibility(pub(crate)))]
pub enum ExecuteError {
    /// The pool has no account that is enabled and logged in.
    #[snafu(display(
        "no usable {provider} account: every account is disabled or needs a login \
         (run `mac login {provider}`, or enable one in `mac accounts`)"
    ))]
    NoUsableAccount {
        /// The pool's provider.
        provider: Provider,
    },
    /// Every account is cooling down past the request's wait limit (D15): rate limits, or a
    /// short rest after the provider was overloaded or a token refresh failed.
    #[snafu(display(
        "all {provider} accounts are cooling down (rate-limited, overloaded, or resting after a \
         failed token refresh); the first is usable again in {}s",
        retry_after.as_secs()
    ))]
    AllRateLimited {
        /// The pool's provider.
        provider: Provider,
        /// When the first account becomes usable.
        until: EpochMs,
        /// How long from now (for a `retry-after` header).
        retry_after: Duration,
    },
    /// The attempt budget ran out without a response to return (every attempt failed to
    /// connect or to refresh).
    #[snafu(display("gave up after {attempts} attempts across {provider} accounts: {last}"))]
    Exhausted {
        /// The pool's provider.
        provider: Provider,
        /// Attempts made.
        attempts: u32,
        /// The last failure, without secrets.
        last: String,
    },
    /// The request itself could not be sent (the caller's closure said so).
    #[snafu(display("the request could not be sent: {source}"))]
    Send {
        /// The caller's error.
        source: SendError,
    },
    /// The accounts file could not be read or changed.
    #[snafu(display("{source}"), context(false))]
    Store {
        /// The cause.
        source: StoreError,
    },
    /// A blocking task of the executor failed.
    #[snafu(display("an internal task failed: {message}"))]
    Internal {
        /// What failed.
        message: String,
    },
}

impl ExecuteError {
    /// For a gateway: how long a client should wait before retrying, when known.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ExecuteError::AllRateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}
