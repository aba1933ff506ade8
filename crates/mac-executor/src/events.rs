//! Typed events of the executor for UIs and logs (D15): what was selected, why it rotated,
//! which account cooled down until when, what was refreshed or disabled, how a response handed
//! to the caller ended. They carry account ids and labels, never a token or a body.

use std::sync::Arc;
use std::time::Duration;

use mac_ratelimit::{RateLimitClass, Scope};
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
        /// What it blocks: the whole account, or only requests of one model family on it
        /// (the account stays usable for the others).
        scope: Scope,
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
    /// A response handed to the caller ended and its account was released
    /// ([`Lease::finish`](crate::Lease::finish), or the lease was dropped).
    StreamEnded {
        /// The account that served it.
        account: String,
        /// How it ended.
        end: StreamEndKind,
        /// From the hand-over to the caller to the end.
        elapsed: Duration,
    },
}

/// How a response handed to the caller ended ([`StreamEnd`](crate::StreamEnd) without its
/// data).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamEndKind {
    /// Read to its end.
    Completed,
    /// An in-band error frame after the commit point.
    InBandError,
    /// The upstream cut the stream or went silent.
    UpstreamCut,
    /// The client went away (or the lease was dropped unfinished).
    ClientGone,
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

impl StreamEndKind {
    /// Every kind, in the order metrics list them.
    pub const ALL: [StreamEndKind; 4] =
        [Self::Completed, Self::InBandError, Self::UpstreamCut, Self::ClientGone];

    /// Its name in metrics, event streams and pages: `completed`, `in_band_error`,
    /// `upstream_cut`, `client_gone`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::InBandError => "in_band_error",
            Self::UpstreamCut => "upstream_cut",
            Self::ClientGone => "client_gone",
        }
    }
}

impl RotationCause {
    /// The names of the causes, in the order metrics list them (the index of a cause is
    /// [`RotationCause::index`]).
    pub const NAMES: [&'static str; 5] =
        ["rate_limited", "auth_failed", "revoked", "server_error", "network_error"];

    /// Its position in [`RotationCause::NAMES`] (every server error shares one).
    pub const fn index(&self) -> usize {
        match self {
            Self::RateLimited => 0,
            Self::AuthFailed => 1,
            Self::Revoked => 2,
            Self::ServerError(_) => 3,
            Self::NetworkError => 4,
        }
    }

    /// Its name in metrics, event streams and pages: `rate_limited`, `auth_failed`, `revoked`,
    /// `server_error`, `network_error`.
    pub const fn as_str(&self) -> &'static str {
        Self::NAMES[self.index()]
    }
}

/// Where events go.
pub type EventSink = Arc<dyn Fn(&PoolEvent) + Send + Sync>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cause_and_end_has_its_own_name() {
        let causes = [
            RotationCause::RateLimited,
            RotationCause::AuthFailed,
            RotationCause::Revoked,
            RotationCause::ServerError(502),
            RotationCause::NetworkError,
        ];
        let names: Vec<&str> = causes.iter().map(RotationCause::as_str).collect();
        assert_eq!(names, RotationCause::NAMES);
        assert_eq!(RotationCause::ServerError(503).as_str(), "server_error");
        let ends = [
            StreamEndKind::Completed,
            StreamEndKind::InBandError,
            StreamEndKind::UpstreamCut,
            StreamEndKind::ClientGone,
        ];
        let names: std::collections::BTreeSet<&str> = ends.iter().map(|e| e.as_str()).collect();
        assert_eq!(names.len(), ends.len());
    }
}
