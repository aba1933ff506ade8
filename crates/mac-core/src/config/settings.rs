//! The settings `MacConfig` keeps itself, where no lower crate has an options struct that
//! could hold them as written: the rate-limit ladder's bounds (as written, before
//! `mac_ratelimit::Ladder` clamps them), the providers' overrides of their built-in facts, the
//! storage backend's choice, and the gateway's settings (its crate is above this one).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use mac_ratelimit::{CooldownPolicy, Ladder};
use mac_storage::{Provider, Secret};

/// `[ratelimit] ladder_start` and `ladder_max` as written. `Ladder::new` raises a maximum
/// below the start to the start, which would hide the mistake the cross-check of the two
/// keys reports; the ladder is built from these in `MacConfig::pool_config`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LadderBounds {
    /// `ladder_start`: the first rest of a rate limit that names no deadline.
    pub start: Duration,
    /// `ladder_max`: the longest such rest (the ladder doubles up to it).
    pub max: Duration,
}

impl LadderBounds {
    /// The ladder of these bounds, growing by `factor`.
    pub fn ladder(self, factor: f32) -> Ladder {
        Ladder::new(self.start, factor, self.max)
    }
}

impl Default for LadderBounds {
    fn default() -> Self {
        let ladder = CooldownPolicy::default().ladder;
        Self { start: ladder.first(), max: ladder.cap() }
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

/// `[storage] backend`: where the accounts live.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StorageBackend {
    /// `file`: one JSON file per provider in the data directory (one host).
    #[default]
    File,
    /// `postgres`: a PostgreSQL database named by `[storage] url`, shared by several hosts.
    Postgres,
}

impl StorageBackend {
    /// Every backend's name, as `config.toml` writes it.
    pub const NAMES: &'static [&'static str] = &["file", "postgres"];

    /// The name in `config.toml`.
    pub const fn as_str(self) -> &'static str {
        match self {
            StorageBackend::File => "file",
            StorageBackend::Postgres => "postgres",
        }
    }

    /// The backend named `name`, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "file" => Some(StorageBackend::File),
            "postgres" => Some(StorageBackend::Postgres),
            _ => None,
        }
    }
}

/// `[storage] backend` and `url`: which storage holds the accounts (the other `[storage]` keys
/// are the store's own options).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StorageSettings {
    /// `backend`: files (default) or PostgreSQL.
    pub backend: StorageBackend,
    /// `url`: the PostgreSQL URL, a secret (its password is never shown).
    pub url: Option<Secret>,
}

/// `[gateway]`: the settings of `mac serve` (the `mac-gateway` crate reads them; it sits above
/// this crate, so they are kept here, where `config.toml` is read).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewaySettings {
    /// `listen`: the address `mac serve` binds when `--listen` is not given.
    pub listen: SocketAddr,
    /// `inbound_key`: the key clients must send (`x-api-key` or a bearer) on every route but
    /// `/healthz`; required to listen on a non-loopback address.
    pub inbound_key: Option<Secret>,
    /// `body_limit`: the largest request body accepted, in bytes (larger: 413).
    pub body_limit: usize,
    /// `connect_timeout`: the longest wait for a connection to the provider.
    pub connect_timeout: Duration,
    /// `first_byte_timeout`: the longest wait for the response's headers, and then for a
    /// stream's commit point.
    pub first_byte_timeout: Duration,
    /// `idle_timeout`: the longest gap between two chunks of a streamed response.
    pub idle_timeout: Duration,
    /// `shutdown_grace`: how long streams in flight may run on after SIGINT/SIGTERM.
    pub shutdown_grace: Duration,
}

/// The address `mac serve` binds by default: loopback only.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8765);

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN,
            inbound_key: None,
            // The Messages API's own request limit; real agents send 40–80 KB.
            body_limit: 32 * 1024 * 1024,
            connect_timeout: Duration::from_secs(10),
            // A non-streamed answer sends its headers only when it is complete.
            first_byte_timeout: Duration::from_secs(300),
            // Both providers send keep-alive frames well inside this while a model thinks.
            idle_timeout: Duration::from_secs(120),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}
