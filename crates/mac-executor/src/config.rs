//! The settings of one pool, with the TypeScript library's defaults and the decisions' additions
//! (D13–D15). `mac-core` fills this from `config.toml`.

use std::time::Duration;

use mac_ratelimit::CooldownPolicy;

use crate::proactive::ProactiveConfig;
use crate::refresh::RefreshConfig;
use crate::selection::Strategy;

/// How a pool chooses, retries, waits and refreshes.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolConfig {
    /// The selection strategy. Default sticky.
    pub strategy: Strategy,
    /// Accounts whose 5-hour or 7-day usage reaches this percent are used only when nothing
    /// else is usable. 100 or more turns it off (the default).
    pub soft_quota_percent: f64,
    /// Whether claims of other processes steer selection (and this pool claims what it uses).
    pub cross_process_claims: bool,
    /// How long a request may wait for the soonest rate-limit reset before it fails with
    /// "all accounts rate-limited until T" (D15). Default 60 s.
    pub max_wait: Duration,
    /// A session binding expires this long after its last use. Default 6 h (D14).
    pub session_binding_ttl: Duration,
    /// At most this many session bindings are kept (oldest dropped). Default 2 000 (D14).
    pub session_binding_cap: usize,
    /// Same-account retries of a 5xx before rotating. Default 2.
    pub server_retries: u32,
    /// The first 5xx retry waits 50–100 % of this, doubling up to `server_retry_max`. 1 s.
    pub server_retry_base: Duration,
    /// The longest 5xx retry pause. Default 4 s.
    pub server_retry_max: Duration,
    /// The attempt budget is max(`min_attempts`, `attempts_per_account` × eligible accounts).
    pub min_attempts: u32,
    /// See `min_attempts`. Default 3.
    pub attempts_per_account: u32,
    /// How much of a 403 / 429 / 529 / 5xx body is read to classify it. Default 64 KiB.
    pub classify_body_limit: usize,
    /// Cooldowns per rate-limit class (mac-ratelimit's table).
    pub cooldown: CooldownPolicy,
    /// Token refresh: expiry margin, lock timeout, failure limit.
    pub refresh: RefreshConfig,
    /// Proactive refresh in the background.
    pub proactive: ProactiveConfig,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            strategy: Strategy::default(),
            soft_quota_percent: 100.0,
            cross_process_claims: true,
            max_wait: Duration::from_secs(60),
            session_binding_ttl: Duration::from_secs(6 * 60 * 60),
            session_binding_cap: 2_000,
            server_retries: 2,
            server_retry_base: Duration::from_secs(1),
            server_retry_max: Duration::from_secs(4),
            min_attempts: 6,
            attempts_per_account: 3,
            classify_body_limit: 64 * 1024,
            cooldown: CooldownPolicy::default(),
            refresh: RefreshConfig::default(),
            proactive: ProactiveConfig::default(),
        }
    }
}
