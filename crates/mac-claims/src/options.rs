//! [`ClaimsOptions`]: how claims are kept — expiry, heartbeat, idle release, how fresh the
//! cached view is, and how writes wait and persist.

use std::time::Duration;

use mac_storage::Durability;

/// How claims are kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimsOptions {
    /// A claim without a heartbeat for this long is expired. Default 60 s, the seed's expiry.
    pub expiry: Duration,
    /// How often held claims are renewed by the background keeper thread; `None` starts no
    /// thread: the caller then drives [`crate::Claims::maintain`] itself (observers such as
    /// `mac status`, tests). Default 20 s, a third of the expiry.
    pub heartbeat_interval: Option<Duration>,
    /// An account no guard has held for this long is released (its entry removed from the
    /// file), so a process that stopped using an account frees it for others without writing
    /// per request. Default 40 s, twice the heartbeat.
    pub idle_release: Duration,
    /// How often the keeper rebuilds the view [`crate::Claims::cached_snapshot`] serves (one
    /// `stat`, a parse only when the file changed). Default 1 s.
    pub view_refresh: Duration,
    /// How long the keeper trusts a liveness check of another holder before asking the OS
    /// again. [`crate::Claims::snapshot`] always asks. Default 5 s.
    pub liveness_ttl: Duration,
    /// The longest a write waits for another process's write. Default 10 s.
    pub lock_timeout: Duration,
    /// Whether writes fsync. Claims are soft state, but a torn file would still cost every
    /// process its claims, so the default is [`Durability::Fsync`].
    pub durability: Durability,
}

impl Default for ClaimsOptions {
    fn default() -> Self {
        Self {
            expiry: Duration::from_secs(60),
            heartbeat_interval: Some(Duration::from_secs(20)),
            idle_release: Duration::from_secs(40),
            view_refresh: Duration::from_secs(1),
            liveness_ttl: Duration::from_secs(5),
            lock_timeout: Duration::from_secs(10),
            durability: Durability::Fsync,
        }
    }
}
