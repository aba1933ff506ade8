//! `config.toml`: every setting of a pool, validated per key (D17).
//!
//! The file lives in the data directory (`DataDir::config_file()`); a missing or empty file
//! means every default. Every key is defined once, in [`SCHEMA`]: its section, name, kind
//! (type and accepted range), one-line doc and the field of [`MacConfig`] its value goes to;
//! its default is that field's default (the lower crate's own) and its environment variable
//! follows from its name. `docs/CONFIG.md` shows the same table (a test keeps them equal).
//! Adding a key is one row in `schema.rs` plus the field it sets, in the crate that uses it.
//!
//! Reading is strict, unlike the TypeScript library (which dropped the whole file for one bad
//! value, so a typo reset every setting silently): the whole file is read, and an unknown
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
use mac_executor::PoolConfig;
use mac_storage::{DataDir, Provider, StoreOptions};

pub use checked::{Checked, Source};
pub use error::{ConfigError, ConfigErrors, Origin, Position};
pub use schema::{KeySpec, SCHEMA, docs_table};
pub use section::Section;
pub use settings::{
    DEFAULT_LISTEN, GatewaySettings, LadderBounds, ProviderSettings, ProvidersSettings,
    StorageBackend, StorageSettings,
};
pub use value::{Kind, LONGEST_DURATION, Value};

/// Every setting of `config.toml`, typed, held in the lower crates' own option structs so a
/// key's value goes straight where it is used. `Default` is what a missing file means: exactly
/// those crates' defaults.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MacConfig {
    /// `[pool]`, `[sessions]`, `[refresh]`, `[retry]` and `[ratelimit]` (but the ladder's
    /// bounds, in [`ladder`](Self::ladder)): the executor's settings.
    pub pool: PoolConfig,
    /// `[ratelimit] ladder_start` and `ladder_max` as written.
    pub ladder: LadderBounds,
    /// `[pool] pacing_per_minute`: requests per minute per account in one process; 0 is off.
    pub pacing_per_minute: u32,
    /// `[storage]`: the account store's settings.
    pub store: StoreOptions,
    /// `[storage] backend` and `url`: where the accounts live.
    pub storage: StorageSettings,
    /// `[claims]`, and `[storage] lock_timeout` (the claims file's too).
    pub claims: ClaimsOptions,
    /// `[providers.anthropic]`, `[providers.codex]`
    pub providers: ProvidersSettings,
    /// `[gateway]`: `mac serve`.
    pub gateway: GatewaySettings,
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
        let mut pool = self.pool.clone();
        pool.cooldown.ladder = self.ladder.ladder(pool.cooldown.ladder.factor());
        pool
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
            descriptor.set_callback_port(port);
        }
        if let Some(client_id) = &settings.client_id {
            descriptor.client_id.clone_from(client_id);
        }
        Ok(descriptor)
    }

    /// The account store's settings.
    pub fn store_options(&self) -> StoreOptions {
        self.store.clone()
    }

    /// The claims' settings.
    pub fn claims_options(&self) -> ClaimsOptions {
        self.claims.clone()
    }

    /// Requests per minute per account for `mac_ratelimit::Pacer::per_minute`; `None` is off.
    pub fn pacing_per_minute(&self) -> Option<NonZeroU32> {
        NonZeroU32::new(self.pacing_per_minute)
    }
}
