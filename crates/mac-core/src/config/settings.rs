//! The typed settings, one struct per `config.toml` section. Defaults come from the lower
//! crates' own defaults, so a missing file configures exactly what those crates do alone.

use std::collections::BTreeMap;
use std::time::Duration;

use mac_claims::ClaimsOptions;
use mac_executor::{PoolConfig, Strategy};
use mac_storage::{Provider, StoreOptions};

/// `[pool]`: how a pool chooses accounts, waits and gives up on them.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolSettings {
    /// `strategy`: how the next account is chosen.
    pub strategy: Strategy,
    /// `soft_quota_percent`: accounts at or above this usage are used last; 100 is off.
    pub soft_quota_percent: f64,
    /// `cross_process_claims`: whether accounts other processes hold are avoided.
    pub cross_process_claims: bool,
    /// `max_wait`: the longest a request waits for a rate limit to pass.
    pub max_wait: Duration,
    /// `max_auth_failures`: consecutive refresh failures that disable an account.
    pub max_auth_failures: u32,
    /// `pacing_per_minute`: requests per minute per account in one process; 0 is off.
    pub pacing_per_minute: u32,
}

impl Default for PoolSettings {
    fn default() -> Self {
        let base = PoolConfig::default();
        Self {
            strategy: base.strategy,
            soft_quota_percent: base.soft_quota_percent,
            cross_process_claims: base.cross_process_claims,
            max_wait: base.max_wait,
            max_auth_failures: base.refresh.max_auth_failures,
            pacing_per_minute: 0,
        }
    }
}

/// `[sessions]`: how long a conversation stays on its account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionSettings {
    /// `binding_ttl`: a session binding expires this long after its last use.
    pub binding_ttl: Duration,
    /// `binding_cap`: at most this many bindings are kept.
    pub binding_cap: usize,
}

impl Default for SessionSettings {
    fn default() -> Self {
        let base = PoolConfig::default();
        Self { binding_ttl: base.session_binding_ttl, binding_cap: base.session_binding_cap }
    }
}

/// `[refresh]`: when and how tokens are refreshed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshSettings {
    /// `expiry_margin`: tokens expiring within this margin are refreshed before use.
    pub expiry_margin: Duration,
    /// `proactive`: whether a background task refreshes tokens before they expire.
    pub proactive: bool,
    /// `buffer`: the background task refreshes tokens expiring within this time.
    pub buffer: Duration,
    /// `interval`: the pause between two background checks.
    pub interval: Duration,
    /// `lock_timeout`: the longest wait for another process's refresh of the same account.
    pub lock_timeout: Duration,
}

impl Default for RefreshSettings {
    fn default() -> Self {
        let base = PoolConfig::default();
        Self {
            expiry_margin: base.refresh.expiry_margin,
            proactive: base.proactive.enabled,
            buffer: base.proactive.buffer,
            interval: base.proactive.interval,
            lock_timeout: base.refresh.lock_timeout,
        }
    }
}

/// `[retry]`: how often a request is tried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetrySettings {
    /// `server_retries`: same-account retries of a 5xx before rotating.
    pub server_retries: u32,
    /// `min_attempts`: the attempt budget is at least this.
    pub min_attempts: u32,
    /// `attempts_per_account`: the budget is at least this times the eligible accounts.
    pub attempts_per_account: u32,
}

impl Default for RetrySettings {
    fn default() -> Self {
        let base = PoolConfig::default();
        Self {
            server_retries: base.server_retries,
            min_attempts: base.min_attempts,
            attempts_per_account: base.attempts_per_account,
        }
    }
}

/// `[ratelimit]`: how long a rate-limited account rests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// `ladder_start`: the first rest of a rate limit that names no deadline.
    pub ladder_start: Duration,
    /// `ladder_max`: the longest such rest (the ladder doubles up to it).
    pub ladder_max: Duration,
    /// `billing_block`: how long a billing claim keeps the account away at least.
    pub billing_block: Duration,
    /// `overload_cooldown`: how long an overload (529) rests the account at least.
    pub overload_cooldown: Duration,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        let base = PoolConfig::default().cooldown;
        Self {
            ladder_start: base.ladder.first(),
            ladder_max: base.ladder.cap(),
            billing_block: base.billing_block,
            overload_cooldown: base.overload_cooldown,
        }
    }
}

/// `[storage]`: the accounts file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageSettings {
    /// `lock_timeout`: the longest a change waits for another process's change (accounts and
    /// claims files).
    pub lock_timeout: Duration,
    /// `bookkeeping_interval`: `lastUsed` of one account is written at most this often.
    pub bookkeeping_interval: Duration,
}

impl Default for StorageSettings {
    fn default() -> Self {
        let base = StoreOptions::default();
        Self { lock_timeout: base.lock_timeout, bookkeeping_interval: base.bookkeeping_interval }
    }
}

/// `[claims]`: which live process holds which account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimsSettings {
    /// `expiry`: a claim without a heartbeat for this long is expired.
    pub expiry: Duration,
    /// `heartbeat`: how often held claims are renewed.
    pub heartbeat: Duration,
}

impl Default for ClaimsSettings {
    fn default() -> Self {
        let base = ClaimsOptions::default();
        // The default options always renew; 20 s is their documented interval.
        Self { expiry: base.expiry, heartbeat: base.heartbeat_interval.unwrap_or(base.expiry / 3) }
    }
}

/// `[providers.<name>]`: overrides of a provider's built-in facts. `None` (or a missing
/// endpoint key) keeps the built-in value of `mac_adapters::ProviderDescriptor`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProviderSettings {
    /// Endpoint URLs by their key in `mac_adapters::ENDPOINTS` (`token_url`, …).
    pub endpoints: BTreeMap<String, String>,
    /// `user_agent`: the `User-Agent` of token, usage and API requests.
    pub user_agent: Option<String>,
    /// `originator` (Codex): the `originator` header value.
    pub originator: Option<String>,
    /// `callback_port` (Codex): the loopback port of the browser login.
    pub callback_port: Option<u16>,
    /// `client_id`: the OAuth client id.
    pub client_id: Option<String>,
}

/// `[providers.anthropic]` and `[providers.codex]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProvidersSettings {
    /// Claude Pro/Max.
    pub anthropic: ProviderSettings,
    /// ChatGPT Plus/Pro.
    pub codex: ProviderSettings,
}

impl ProvidersSettings {
    /// The settings of `provider`.
    pub fn get(&self, provider: Provider) -> &ProviderSettings {
        match provider {
            Provider::Anthropic => &self.anthropic,
            Provider::Codex => &self.codex,
        }
    }

    /// The settings of `provider`, to change them.
    pub fn get_mut(&mut self, provider: Provider) -> &mut ProviderSettings {
        match provider {
            Provider::Anthropic => &mut self.anthropic,
            Provider::Codex => &mut self.codex,
        }
    }
}
