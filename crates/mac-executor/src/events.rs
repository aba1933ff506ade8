//! Typed events of the executor for UIs and logs (D15): what was selected, why it rotated,
//! which account cooled down until when, what was refreshed or disabled. They carry account
//! ids and labels, never a token.

use std::sync::Arc;
use std::time::Duration;

use mac_ratelimit::RateLimitClass;
use mac_storage::EpochMs;

/// Something the executor did.
#[derive(Clone, Debug, PartialEq)]
pub enum PoolEvent {
    /// An account was chosen for an attempt.
    Selected {
        /// The account's local uuid.
        account: String,
        /// Its label (label, email or short id).
        label: String,
        /// Why (the selection rule that chose it).
        reason: String,
    },
    /// The request moves on from an account.
    Rotated {
        /// The account left.
        from: String,
        /// Why.
        why: RotationCause,
    },
    /// An account is blocked by a rate limit.
    CooledDown {
        /// The account.
        account: String,
        /// The kind of limit.
        class: RateLimitClass,
        /// Until when.
        until: EpochMs,
    },
    /// An account's token was renewed (or another process's renewal adopted).
    Refreshed {
        /// The account.
        account: String,
        /// `true`: another process had refreshed it; no request was made.
        adopted: bool,
    },
    /// An account was disabled (never deleted): it needs a new login.
    Disabled {
        /// The account.
        account: String,
        /// The reason stored for `mac status`.
        reason: String,
    },
    /// Every account is blocked; the request waits for the soonest reset.
    Waiting {
        /// The soonest time an account becomes usable.
        until: EpochMs,
        /// How long the wait is.
        wait: Duration,
    },
}

/// Why a request left an account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RotationCause {
    /// 429 / 529.
    RateLimited,
    /// 401 after a refresh, or a failed refresh.
    AuthFailed,
    /// 403 with a revoked token.
    Revoked,
    /// 5xx after the same-account retries.
    ServerError(u16),
    /// No response (connection failed, timeout).
    NetworkError,
}

/// Where events go.
pub type EventSink = Arc<dyn Fn(&PoolEvent) + Send + Sync>;
