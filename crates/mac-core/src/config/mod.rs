//! `config.toml`: every setting of a pool, validated per key (DECISIONS.md D17).
//!
//! The file lives in the data directory (`DataDir::config_file()`); a missing or empty file
//! means every default. Every key is listed once, in [`SCHEMA`], with its section, kind (type
//! and accepted range), default, one-line doc and environment variable; `docs/CONFIG.md`
//! shows the same table (a test keeps them equal).
//!
//! Reading is strict, unlike the seed (SEED §5.22): the whole file is read, and an unknown
//! section or key, a wrong type, an out-of-range value or a TOML syntax error is a
//! [`ConfigError`] naming the file, line, column and key with what is accepted; every error of
//! the file (and of the environment) is reported at once in [`ConfigErrors`], and nothing falls
//! back to a default silently.
//!
//! ```text
//! config.toml:7:1: [pool] strategy = "fastest": expected one of "sticky", "round-robin", "hybrid"
//! env MAC_POOL_MAX_WAIT: [pool] max_wait = "2h": expected a duration from 0s to 1h
//! ```
//!
//! After the file, environment variables `MAC_<SECTION>_<KEY>` override single keys
//! (`MAC_POOL_STRATEGY=hybrid`, `MAC_PROVIDERS_CODEX_TOKEN_URL=…`), validated the same way.
//! The environment is passed in as a lookup function ([`process_env`] reads the real one), so
//! tests never touch the process environment.
//!
//! Durations are written `"90s"`, `"5m"`, `"1h30m"`, `"500ms"`, `"2d"`, or as a whole number
//! of seconds.

mod checked;
mod duration;
mod error;
mod resolve;
mod schema;
mod section;
mod settings;
mod value;

use std::io;
use std::num::NonZeroU32;
use std::path::Path;

use mac_adapters::{EndpointKeyError, ProviderDescriptor};
use mac_claims::ClaimsOptions;
use mac_executor::{PoolConfig, ProactiveConfig, RefreshConfig};
use mac_ratelimit::{CooldownPolicy, Ladder};
use mac_storage::{DataDir, Provider, StoreOptions};

pub use checked::{Checked, Source};
pub use error::{ConfigError, ConfigErrors, Origin, Position};
pub use schema::{KeySpec, SCHEMA, docs_table};
pub use section::Section;
pub use settings::{
    ClaimsSettings, PoolSettings, ProviderSettings, ProvidersSettings, RateLimitSettings,
    RefreshSettings, RetrySettings, SessionSettings, StorageSettings,
};
pub use value::{Kind, LONGEST_DURATION, Value};

/// Every setting of `config.toml`, typed. `Default` is what a missing file means.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MacConfig {
    /// `[pool]`
    pub pool: PoolSettings,
    /// `[sessions]`
    pub sessions: SessionSettings,
    /// `[refresh]`
    pub refresh: RefreshSettings,
    /// `[retry]`
    pub retry: RetrySettings,
    /// `[ratelimit]`
    pub ratelimit: RateLimitSettings,
    /// `[storage]`
    pub storage: StorageSettings,
    /// `[claims]`
    pub claims: ClaimsSettings,
    /// `[providers.anthropic]`, `[providers.codex]`
    pub providers: ProvidersSettings,
}

/// Reads an environment variable of this process, for [`MacConfig::load`]'s `env`. A value
/// that is not Unicode is passed on with replacement characters, so it fails validation
/// rather than being ignored.
#[allow(
    clippy::disallowed_methods,
    reason = "the injection point of the process environment into config loading"
)]
pub fn process_env(name: &str) -> Option<String> {
    std::env::var_os(name).map(|value| value.to_string_lossy().into_owned())
}

/// No environment variables, for [`MacConfig::load`]'s `env`.
pub fn no_env(_name: &str) -> Option<String> {
    None
}

impl MacConfig {
    /// Reads `path` (missing: every default) and applies `env` (a lookup of environment
    /// variables, such as [`process_env`]). Errors name the file as `path` shows.
    pub fn load(path: &Path, env: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigErrors> {
        Self::check(path, env).map(|checked| checked.config)
    }

    /// [`load`](Self::load)s the `config.toml` of `data_dir`.
    pub fn load_from(
        data_dir: &DataDir,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigErrors> {
        Self::load(&data_dir.config_file(), env)
    }

    /// Reads `text` as `config.toml`, named `file` in errors, then applies `env`.
    pub fn parse(
        text: &str,
        file: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigErrors> {
        Self::check_text(text, file, env).map(|checked| checked.config)
    }

    /// As [`load`](Self::load), keeping where each value came from: what `mac config check`
    /// shows ([`Checked::to_toml`]), or every error.
    pub fn check(
        path: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Checked, ConfigErrors> {
        let file = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => resolve::resolve(Some(&text), &file, &env),
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                resolve::resolve(None, &file, &env)
            }
            Err(err) => Err(ConfigErrors::one(ConfigError {
                origin: Origin::File { file, position: None },
                key: None,
                value: None,
                problem: format!("cannot read the file: {err}"),
            })),
        }
    }

    /// As [`parse`](Self::parse), keeping where each value came from.
    pub fn check_text(
        text: &str,
        file: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Checked, ConfigErrors> {
        resolve::resolve(Some(text), file, &env)
    }

    /// The executor's settings for a pool of `provider` (the same for both providers today).
    pub fn pool_config(&self, provider: Provider) -> PoolConfig {
        let _ = provider;
        let base = PoolConfig::default();
        PoolConfig {
            strategy: self.pool.strategy,
            soft_quota_percent: self.pool.soft_quota_percent,
            cross_process_claims: self.pool.cross_process_claims,
            max_wait: self.pool.max_wait,
            session_binding_ttl: self.sessions.binding_ttl,
            session_binding_cap: self.sessions.binding_cap,
            server_retries: self.retry.server_retries,
            min_attempts: self.retry.min_attempts,
            attempts_per_account: self.retry.attempts_per_account,
            cooldown: CooldownPolicy {
                ladder: Ladder::new(
                    self.ratelimit.ladder_start,
                    Ladder::DEFAULT.factor(),
                    self.ratelimit.ladder_max,
                ),
                billing_block: self.ratelimit.billing_block,
                overload_cooldown: self.ratelimit.overload_cooldown,
            },
            refresh: RefreshConfig {
                expiry_margin: self.refresh.expiry_margin,
                lock_timeout: self.refresh.lock_timeout,
                max_auth_failures: self.pool.max_auth_failures,
            },
            proactive: ProactiveConfig {
                enabled: self.refresh.proactive,
                interval: self.refresh.interval,
                buffer: self.refresh.buffer,
                ..base.proactive
            },
            ..base
        }
    }

    /// The descriptor of `provider`: the built-in one with this configuration's overrides.
    /// Fails only for an endpoint override set in code that is not a URL or not an endpoint
    /// key (a loaded configuration has been validated).
    pub fn descriptor(&self, provider: Provider) -> Result<ProviderDescriptor, EndpointKeyError> {
        let settings = self.providers.get(provider);
        let mut descriptor = ProviderDescriptor::for_provider(provider);
        for (key, url) in &settings.endpoints {
            descriptor.set_endpoint(key, url)?;
        }
        if let Some(user_agent) = &settings.user_agent {
            descriptor.user_agent.clone_from(user_agent);
        }
        if let Some(originator) = &settings.originator {
            descriptor.originator = Some(originator.clone());
        }
        if let Some(port) = settings.callback_port {
            descriptor.callback_port = port;
        }
        if let Some(client_id) = &settings.client_id {
            descriptor.client_id.clone_from(client_id);
        }
        Ok(descriptor)
    }

    /// The account store's settings.
    pub fn store_options(&self) -> StoreOptions {
        StoreOptions {
            lock_timeout: self.storage.lock_timeout,
            bookkeeping_interval: self.storage.bookkeeping_interval,
            ..StoreOptions::default()
        }
    }

    /// The claims' settings (`[storage] lock_timeout` is also the claims file's).
    pub fn claims_options(&self) -> ClaimsOptions {
        ClaimsOptions {
            expiry: self.claims.expiry,
            heartbeat_interval: Some(self.claims.heartbeat),
            lock_timeout: self.storage.lock_timeout,
            ..ClaimsOptions::default()
        }
    }

    /// Requests per minute per account for `mac_ratelimit::Pacer::per_minute`; `None` is off.
    pub fn pacing_per_minute(&self) -> Option<NonZeroU32> {
        NonZeroU32::new(self.pool.pacing_per_minute)
    }
}
