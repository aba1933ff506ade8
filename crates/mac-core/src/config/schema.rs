//! The one table of every `config.toml` key: section, key, kind (type and range), doc, and
//! the field of [`MacConfig`] its value goes to (mostly a field of a lower crate's option
//! struct, `field!(pool.refresh.lock_timeout)`); its default is that field's default and its
//! environment variable follows from section and key. Adding a key is one row here plus the
//! field it sets. `docs/CONFIG.md` is rendered from it ([`docs_table`]). The endpoint keys of each
//! `[providers.<name>]` section are not listed here: they are the rows of mac-adapters'
//! endpoint table ([`ENDPOINTS`]) the provider's built-in descriptor has.

use std::fmt;
use std::net::SocketAddr;
use std::sync::LazyLock;
use std::time::Duration;

use mac_adapters::{ENDPOINTS, EndpointSpec, ProviderDescriptor, REQUEST_TIMEOUT};
use mac_executor::Strategy;
use mac_storage::{Provider, Secret};

use super::MacConfig;
use super::duration::format_duration;
use super::section::Section;
use super::settings::StorageBackend;
use super::value::{Kind, LONGEST_DURATION, Value};

/// How a key reads and writes its field of [`MacConfig`].
#[derive(Clone, Copy)]
enum Access {
    /// A field of its own.
    Field { get: fn(&MacConfig) -> Value, set: fn(&mut MacConfig, Value) },
    /// An endpoint override of a provider (the built-in URL when none is set).
    Endpoint { provider: Provider, spec: &'static EndpointSpec },
}

impl Access {
    fn get(self, config: &MacConfig) -> Value {
        match self {
            Access::Field { get, .. } => get(config),
            Access::Endpoint { provider, spec } => {
                let set = config.providers.get(provider).endpoints.get(spec.key).cloned();
                Value::Text(
                    set.unwrap_or_else(|| builtin_endpoint(provider, spec).unwrap_or_default()),
                )
            }
        }
    }

    fn set(self, config: &mut MacConfig, value: Value) {
        match self {
            Access::Field { set, .. } => set(config, value),
            Access::Endpoint { provider, spec } => {
                if let Value::Text(url) = value {
                    config.providers.get_mut(provider).endpoints.insert(spec.key.to_owned(), url);
                }
            }
        }
    }
}

/// One key of `config.toml`.
#[derive(Clone, Copy)]
pub struct KeySpec {
    /// Its section.
    pub section: Section,
    /// Its name in the section.
    pub key: &'static str,
    /// Its type and accepted values.
    pub kind: Kind,
    /// One line saying what it does.
    pub doc: &'static str,
    access: Access,
}

impl fmt::Debug for KeySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySpec")
            .field("section", &self.section)
            .field("key", &self.key)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl KeySpec {
    /// The key of `section` named `key`.
    pub fn find(section: Section, key: &str) -> Option<&'static KeySpec> {
        lookup(section, key).map(|(_, spec)| spec)
    }

    /// The environment variable overriding it: `MAC_<SECTION>_<KEY>`, upper-case, the dot of
    /// `providers.<name>` an underscore (`MAC_PROVIDERS_CODEX_TOKEN_URL`).
    pub fn env_var(&self) -> String {
        format!("MAC_{}_{}", self.section.name().replace('.', "_"), self.key).to_ascii_uppercase()
    }

    /// Its value in `config`.
    pub fn get(&self, config: &MacConfig) -> Value {
        self.access.get(config)
    }

    /// Sets it in `config`, if `value` is of its kind and in range; else what is accepted.
    pub fn set(&self, config: &mut MacConfig, value: Value) -> Result<(), String> {
        let value = self.kind.check(value)?;
        self.access.set(config, value);
        Ok(())
    }

    /// Its value when nothing sets it.
    pub fn default_value(&self) -> Value {
        self.get(&MacConfig::default())
    }

    /// Reads its value from text, as an environment variable gives it.
    pub fn parse_text(&self, text: &str) -> Result<Value, String> {
        self.kind.parse_text(text)
    }
}

impl fmt::Display for KeySpec {
    /// `[pool] strategy`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.section, self.key)
    }
}

/// The index in [`SCHEMA`] and the spec of `key` in `section`.
pub(crate) fn lookup(section: Section, key: &str) -> Option<(usize, &'static KeySpec)> {
    SCHEMA.iter().enumerate().find(|(_, spec)| spec.section == section && spec.key == key)
}

/// Typed fields to and from [`Value`]s; `from_value` gets only values of the field's kind.
trait Typed: Sized {
    fn to_value(&self) -> Value;
    fn from_value(value: Value) -> Option<Self>;
}

impl Typed for bool {
    fn to_value(&self) -> Value {
        Value::Bool(*self)
    }
    fn from_value(value: Value) -> Option<Self> {
        if let Value::Bool(flag) = value { Some(flag) } else { None }
    }
}

impl Typed for u32 {
    fn to_value(&self) -> Value {
        Value::Integer(u64::from(*self))
    }
    fn from_value(value: Value) -> Option<Self> {
        if let Value::Integer(n) = value { n.try_into().ok() } else { None }
    }
}

impl Typed for usize {
    fn to_value(&self) -> Value {
        Value::Integer(u64::try_from(*self).unwrap_or(u64::MAX))
    }
    fn from_value(value: Value) -> Option<Self> {
        if let Value::Integer(n) = value { n.try_into().ok() } else { None }
    }
}

impl Typed for f64 {
    fn to_value(&self) -> Value {
        Value::Number(*self)
    }
    fn from_value(value: Value) -> Option<Self> {
        if let Value::Number(n) = value { Some(n) } else { None }
    }
}

impl Typed for Duration {
    fn to_value(&self) -> Value {
        Value::Duration(*self)
    }
    fn from_value(value: Value) -> Option<Self> {
        if let Value::Duration(d) = value { Some(d) } else { None }
    }
}

impl Typed for SocketAddr {
    fn to_value(&self) -> Value {
        Value::Address(*self)
    }
    fn from_value(value: Value) -> Option<Self> {
        if let Value::Address(addr) = value { Some(addr) } else { None }
    }
}

impl Typed for Option<Secret> {
    fn to_value(&self) -> Value {
        Value::Secret(self.clone())
    }
    fn from_value(value: Value) -> Option<Self> {
        if let Value::Secret(secret) = value { Some(secret) } else { None }
    }
}

impl Typed for Strategy {
    fn to_value(&self) -> Value {
        Value::Text(self.as_str().to_owned())
    }
    fn from_value(value: Value) -> Option<Self> {
        if let Value::Text(name) = value { name.parse().ok() } else { None }
    }
}

impl Typed for StorageBackend {
    fn to_value(&self) -> Value {
        Value::Text(self.as_str().to_owned())
    }
    fn from_value(value: Value) -> Option<Self> {
        if let Value::Text(name) = value { StorageBackend::from_name(&name) } else { None }
    }
}

/// The [`Access`] of a plain field of [`MacConfig`]: `field!(pool.refresh.lock_timeout)`.
macro_rules! field {
    ($($path:ident).+) => {
        Access::Field {
            get: |config| Typed::to_value(&config.$($path).+),
            set: |config, value| {
                if let Some(value) = Typed::from_value(value) {
                    config.$($path).+ = value;
                }
            },
        }
    };
}

/// The [`Access`] of an optional text override of the descriptor: `text!(Provider::Codex,
/// user_agent)`.
macro_rules! text {
    ($provider:expr, $field:ident, $builtin:expr) => {
        Access::Field {
            get: |config| {
                let builtin: fn(ProviderDescriptor) -> String = $builtin;
                Value::Text(
                    config
                        .providers
                        .get($provider)
                        .$field
                        .clone()
                        .unwrap_or_else(|| builtin(ProviderDescriptor::for_provider($provider))),
                )
            },
            set: |config, value| {
                if let Value::Text(text) = value {
                    config.providers.get_mut($provider).$field = Some(text);
                }
            },
        }
    };
}

/// The built-in URL of endpoint `spec` of `provider`, as text; `None` where it has none.
fn builtin_endpoint(provider: Provider, spec: &EndpointSpec) -> Option<String> {
    spec.get(&ProviderDescriptor::for_provider(provider).endpoints).map(ToString::to_string)
}

const ANTHROPIC: Provider = Provider::Anthropic;
const CODEX: Provider = Provider::Codex;
const STRATEGIES: &[&str] =
    &[Strategy::Sticky.as_str(), Strategy::RoundRobin.as_str(), Strategy::Hybrid.as_str()];
const UNBOUNDED: u64 = u32::MAX as u64;

const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

const fn durations(min: Duration, max: Duration) -> Kind {
    Kind::Duration { min, max }
}

const fn integers(min: u64, max: u64) -> Kind {
    Kind::Integer { min, max }
}

use Section::{Claims, Gateway, Pool, RateLimit, Refresh, Retry, Sessions, Storage};

const ANTHROPIC_SECTION: Section = Section::Provider(ANTHROPIC);
const CODEX_SECTION: Section = Section::Provider(CODEX);

/// Every key of `config.toml`, in the order of the docs: the general sections, then per
/// provider its endpoints (from the endpoint table) and its own keys. Built once, never
/// changed.
pub static SCHEMA: LazyLock<Vec<KeySpec>> = LazyLock::new(|| {
    let mut schema = GENERAL.to_vec();
    for (provider, own) in [(ANTHROPIC, ANTHROPIC_KEYS), (CODEX, CODEX_KEYS)] {
        schema.extend(endpoint_keys(provider));
        schema.extend_from_slice(own);
    }
    schema
});

/// The endpoint keys of `provider`: the rows of the endpoint table its descriptor has.
fn endpoint_keys(provider: Provider) -> impl Iterator<Item = KeySpec> {
    let builtin = ProviderDescriptor::for_provider(provider).endpoints;
    ENDPOINTS.iter().filter(move |spec| spec.get(&builtin).is_some()).map(move |spec| KeySpec {
        section: Section::Provider(provider),
        key: spec.key,
        kind: Kind::Url,
        doc: spec.doc,
        access: Access::Endpoint { provider, spec },
    })
}

/// The keys of the sections other than the providers', in the order of the docs; each goes
/// to its field of [`MacConfig`].
static GENERAL: &[KeySpec] = &[
    KeySpec {
        section: Pool,
        key: "strategy",
        kind: Kind::Choice(STRATEGIES),
        doc: "How the next account is chosen: stay on one (sticky), take turns (round-robin), or score usage, reset pace and health (hybrid).",
        access: field!(pool.strategy),
    },
    KeySpec {
        section: Pool,
        key: "soft_quota_percent",
        kind: Kind::Percent,
        doc: "Accounts whose 5-hour or 7-day usage reaches this percent are used only when no other is usable; 100 is off.",
        access: field!(pool.soft_quota_percent),
    },
    KeySpec {
        section: Pool,
        key: "cross_process_claims",
        kind: Kind::Bool,
        doc: "Avoid accounts other live processes hold, and claim the ones this process uses.",
        access: field!(pool.cross_process_claims),
    },
    KeySpec {
        section: Pool,
        key: "max_wait",
        kind: durations(Duration::ZERO, secs(3600)),
        doc: "How long a request waits for the soonest rate-limit reset before failing with \"all accounts rate-limited\".",
        access: field!(pool.max_wait),
    },
    KeySpec {
        section: Pool,
        key: "max_auth_failures",
        kind: integers(1, UNBOUNDED),
        doc: "Consecutive failed token refreshes after which an account is disabled (unless it is the last usable one).",
        access: field!(pool.refresh.max_auth_failures),
    },
    KeySpec {
        section: Pool,
        key: "pacing_per_minute",
        kind: integers(0, UNBOUNDED),
        doc: "Requests per minute per account inside one process (a burst of that many, then evenly spaced); 0 is off.",
        access: field!(pacing_per_minute),
    },
    KeySpec {
        section: Sessions,
        key: "binding_ttl",
        kind: durations(Duration::ZERO, LONGEST_DURATION),
        doc: "A conversation stays on its account until this long after its last request.",
        access: field!(pool.session_binding_ttl),
    },
    KeySpec {
        section: Sessions,
        key: "binding_cap",
        kind: integers(0, UNBOUNDED),
        doc: "At most this many conversation bindings are kept; the oldest is dropped first.",
        access: field!(pool.session_binding_cap),
    },
    KeySpec {
        section: Refresh,
        key: "expiry_margin",
        kind: durations(Duration::ZERO, secs(3600)),
        doc: "A token expiring within this margin is refreshed before a request uses it.",
        access: field!(pool.refresh.expiry_margin),
    },
    KeySpec {
        section: Refresh,
        key: "proactive",
        kind: Kind::Bool,
        doc: "Refresh tokens in the background before they expire.",
        access: field!(pool.proactive.enabled),
    },
    KeySpec {
        section: Refresh,
        key: "buffer",
        kind: durations(secs(60), LONGEST_DURATION),
        doc: "The background refresh renews tokens expiring within this time.",
        access: field!(pool.proactive.buffer),
    },
    KeySpec {
        section: Refresh,
        key: "interval",
        kind: durations(secs(30), LONGEST_DURATION),
        doc: "The pause between two background refresh checks (varied by up to 10 %).",
        access: field!(pool.proactive.interval),
    },
    KeySpec {
        section: Refresh,
        key: "lock_timeout",
        kind: durations(secs(REQUEST_TIMEOUT.as_secs() + 1), secs(3600)),
        doc: "The longest wait for another process's refresh of the same account; longer than the 30 s request timeout.",
        access: field!(pool.refresh.lock_timeout),
    },
    KeySpec {
        section: Refresh,
        key: "auth_backoff",
        kind: durations(secs(1), secs(3600)),
        doc: "How long an account rests after a refresh failed transiently (network, timeout, 5xx) or its refresh lock stayed busy; the rest ends by itself and never counts toward disabling.",
        access: field!(pool.refresh.auth_backoff),
    },
    KeySpec {
        section: Retry,
        key: "server_retries",
        kind: integers(0, 10),
        doc: "Retries of a 5xx response on the same account before rotating.",
        access: field!(pool.server_retries),
    },
    KeySpec {
        section: Retry,
        key: "min_attempts",
        kind: integers(1, UNBOUNDED),
        doc: "A request is tried at most max(min_attempts, attempts_per_account × eligible accounts) times.",
        access: field!(pool.min_attempts),
    },
    KeySpec {
        section: Retry,
        key: "attempts_per_account",
        kind: integers(1, UNBOUNDED),
        doc: "Attempts per eligible account in a request's budget (see min_attempts).",
        access: field!(pool.attempts_per_account),
    },
    KeySpec {
        section: RateLimit,
        key: "ladder_start",
        kind: durations(Duration::from_millis(1), LONGEST_DURATION),
        doc: "The first rest of an account after a rate limit that names no deadline; each next one doubles.",
        access: field!(ladder.start),
    },
    KeySpec {
        section: RateLimit,
        key: "ladder_max",
        kind: durations(Duration::from_millis(1), LONGEST_DURATION),
        doc: "The longest such rest (at least ladder_start); also the longest overload rest.",
        access: field!(ladder.max),
    },
    KeySpec {
        section: RateLimit,
        key: "billing_block",
        kind: durations(Duration::ZERO, LONGEST_DURATION),
        doc: "How long an account whose provider reports a billing problem rests at least.",
        access: field!(pool.cooldown.billing_block),
    },
    KeySpec {
        section: RateLimit,
        key: "overload_cooldown",
        kind: durations(Duration::ZERO, LONGEST_DURATION),
        doc: "How long an overloaded (529) response rests the account at least (at most ladder_max).",
        access: field!(pool.cooldown.overload_cooldown),
    },
    KeySpec {
        section: Storage,
        key: "lock_timeout",
        kind: durations(Duration::ZERO, secs(3600)),
        doc: "The longest a change of the accounts or claims file waits for another process's change.",
        access: Access::Field {
            get: |config| Typed::to_value(&config.store.lock_timeout),
            // One wait for both files a change may lock.
            set: |config, value| {
                if let Some(timeout) = Typed::from_value(value) {
                    config.store.lock_timeout = timeout;
                    config.claims.lock_timeout = timeout;
                }
            },
        },
    },
    KeySpec {
        section: Storage,
        key: "backend",
        kind: Kind::Choice(StorageBackend::NAMES),
        doc: "Where the accounts live: files in the data directory (file), or a PostgreSQL database that several hosts share (postgres, at url).",
        access: field!(storage.backend),
    },
    KeySpec {
        section: Storage,
        key: "url",
        kind: Kind::Secret,
        doc: "The PostgreSQL database of backend = \"postgres\": postgres://USER:PASSWORD@HOST:PORT/DATABASE, with ?sslmode=verify-full&sslrootcert=CA.pem to verify the server (TLS as psql; default sslmode=prefer); a secret, never shown.",
        access: field!(storage.url),
    },
    KeySpec {
        section: Storage,
        key: "bookkeeping_interval",
        kind: durations(Duration::ZERO, secs(3600)),
        doc: "An account's lastUsed is written at most this often.",
        access: field!(store.bookkeeping_interval),
    },
    KeySpec {
        section: Claims,
        key: "expiry",
        kind: durations(secs(1), secs(3600)),
        doc: "A claim of a process without a heartbeat for this long is void.",
        access: field!(claims.expiry),
    },
    KeySpec {
        section: Claims,
        key: "heartbeat",
        kind: durations(secs(1), secs(3600)),
        doc: "How often a process renews its claims (shorter than expiry).",
        access: Access::Field {
            // Options set in code may renew only on demand (`None`); the file always renews.
            get: |config| {
                let claims = &config.claims;
                Typed::to_value(&claims.heartbeat_interval.unwrap_or(claims.expiry / 3))
            },
            set: |config, value| {
                if let Some(interval) = Typed::from_value(value) {
                    config.claims.heartbeat_interval = Some(interval);
                }
            },
        },
    },
    KeySpec {
        section: Gateway,
        key: "listen",
        kind: Kind::Address,
        doc: "The address `mac serve` listens on without --listen; a non-loopback one needs inbound_key.",
        access: field!(gateway.listen),
    },
    KeySpec {
        section: Gateway,
        key: "inbound_key",
        kind: Kind::Secret,
        doc: "The key clients must send (x-api-key or a bearer token) on every route but /healthz; unset: none asked on loopback, and a non-loopback address is refused.",
        access: field!(gateway.inbound_key),
    },
    KeySpec {
        section: Gateway,
        key: "body_limit",
        kind: integers(1024, 1 << 30),
        doc: "The largest request body accepted, in bytes; a larger one is answered 413.",
        access: field!(gateway.body_limit),
    },
    KeySpec {
        section: Gateway,
        key: "connect_timeout",
        kind: durations(Duration::from_millis(100), secs(300)),
        doc: "The longest wait for a connection to the provider; past it the request moves to another account.",
        access: field!(gateway.connect_timeout),
    },
    KeySpec {
        section: Gateway,
        key: "first_byte_timeout",
        kind: durations(secs(1), secs(3600)),
        doc: "The longest wait for the provider's answer to begin (its headers, then a stream's first output); past it the request moves to another account.",
        access: field!(gateway.first_byte_timeout),
    },
    KeySpec {
        section: Gateway,
        key: "idle_timeout",
        kind: durations(secs(1), secs(3600)),
        doc: "The longest silence between two chunks of a streamed answer before the stream is cut; a stream's total length has no limit.",
        access: field!(gateway.idle_timeout),
    },
    KeySpec {
        section: Gateway,
        key: "shutdown_grace",
        kind: durations(Duration::ZERO, secs(3600)),
        doc: "On SIGINT or SIGTERM, how long answers in flight may still stream before they are cut.",
        access: field!(gateway.shutdown_grace),
    },
];

/// The keys of `[providers.anthropic]` after its endpoints.
static ANTHROPIC_KEYS: &[KeySpec] = &[
    KeySpec {
        section: ANTHROPIC_SECTION,
        key: "user_agent",
        kind: Kind::Text,
        doc: "The User-Agent of token, usage and API requests.",
        access: text!(ANTHROPIC, user_agent, |d| d.user_agent),
    },
    KeySpec {
        section: ANTHROPIC_SECTION,
        key: "client_id",
        kind: Kind::Text,
        doc: "The OAuth client id.",
        access: text!(ANTHROPIC, client_id, |d| d.client_id),
    },
];

/// The keys of `[providers.codex]` after its endpoints.
static CODEX_KEYS: &[KeySpec] = &[
    KeySpec {
        section: CODEX_SECTION,
        key: "user_agent",
        kind: Kind::Text,
        doc: "The User-Agent of token, usage and API requests.",
        access: text!(CODEX, user_agent, |d| d.user_agent),
    },
    KeySpec {
        section: CODEX_SECTION,
        key: "originator",
        kind: Kind::Text,
        doc: "The originator header value.",
        access: text!(CODEX, originator, |d| d.originator.unwrap_or_default()),
    },
    KeySpec {
        section: CODEX_SECTION,
        key: "callback_port",
        kind: integers(0, 65_535),
        doc: "The loopback port of the browser login's callback (0 picks a free port).",
        access: Access::Field {
            get: |config| {
                let builtin = || ProviderDescriptor::codex().callback_port;
                let port = config.providers.codex.callback_port.unwrap_or_else(builtin);
                Value::Integer(u64::from(port))
            },
            set: |config, value| {
                if let Value::Integer(port) = value {
                    config.providers.codex.callback_port = u16::try_from(port).ok();
                }
            },
        },
    },
    KeySpec {
        section: CODEX_SECTION,
        key: "client_id",
        kind: Kind::Text,
        doc: "The OAuth client id.",
        access: text!(CODEX, client_id, |d| d.client_id),
    },
];

/// The Markdown table of every key, as `docs/CONFIG.md` shows it between its markers.
pub fn docs_table() -> String {
    let mut out = String::from(
        "| Section | Key | Type | Default | Accepted | Environment variable | Meaning |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for spec in SCHEMA.iter() {
        let row = [
            format!("`[{}]`", spec.section.name()),
            format!("`{}`", spec.key),
            spec.kind.type_name().to_owned(),
            format!("`{}`", spec.default_value()),
            spec.kind.range(),
            format!("`{}`", spec.env_var()),
            spec.doc.to_owned(),
        ];
        out.push_str("| ");
        out.push_str(&row.join(" | ").replace('\n', " "));
        out.push_str(" |\n");
    }
    out
}

/// A duration as `config.toml` writes it, for messages.
pub(crate) fn duration_text(duration: Duration) -> String {
    format_duration(duration)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn every_default_is_accepted_by_its_own_kind() {
        for spec in SCHEMA.iter() {
            let value = spec.default_value();
            assert_eq!(spec.kind.check(value.clone()), Ok(value), "{spec}");
        }
    }

    #[test]
    fn keys_and_environment_variables_are_unique() {
        let keys: BTreeSet<_> = SCHEMA.iter().map(|spec| (spec.section, spec.key)).collect();
        let vars: BTreeSet<_> = SCHEMA.iter().map(KeySpec::env_var).collect();
        assert_eq!(keys.len(), SCHEMA.len());
        assert_eq!(vars.len(), SCHEMA.len());
        assert_eq!(
            KeySpec::find(Section::Provider(CODEX), "token_url").map(KeySpec::env_var),
            Some("MAC_PROVIDERS_CODEX_TOKEN_URL".to_owned())
        );
    }

    #[test]
    fn each_provider_section_has_exactly_the_endpoints_its_descriptor_has() {
        for provider in Provider::ALL {
            let builtin = ProviderDescriptor::for_provider(provider).endpoints;
            for spec in ENDPOINTS {
                let key = KeySpec::find(Section::Provider(provider), spec.key);
                match (spec.get(&builtin), key) {
                    (Some(url), Some(key)) => {
                        assert_eq!(key.default_value(), Value::Text(url.to_string()), "{key}");
                        assert_eq!((key.kind, key.doc), (Kind::Url, spec.doc), "{key}");
                    }
                    (None, None) => {}
                    (url, key) => panic!("{provider} {}: {url:?} but {key:?}", spec.key),
                }
            }
        }
    }

    #[test]
    fn set_refuses_what_the_file_would_refuse() {
        let mut config = MacConfig::default();
        let token_url = KeySpec::find(Section::Provider(CODEX), "token_url").unwrap();
        assert!(token_url.set(&mut config, Value::Text("not a url".into())).is_err());
        let max_wait = KeySpec::find(Section::Pool, "max_wait").unwrap();
        assert!(max_wait.set(&mut config, Value::Duration(secs(7200))).is_err());
        assert!(max_wait.set(&mut config, Value::Bool(true)).is_err());
        assert_eq!(config, MacConfig::default());
    }

    #[test]
    fn every_key_is_written_and_read_back() {
        for spec in SCHEMA.iter() {
            let mut config = MacConfig::default();
            let other = match spec.kind {
                Kind::Bool => Value::Bool(spec.default_value() != Value::Bool(true)),
                Kind::Integer { min, max } => Value::Integer(max.min(min.max(9))),
                Kind::Percent => Value::Number(42.5),
                Kind::Duration { max, .. } => Value::Duration(max),
                Kind::Choice(names) => Value::Text(names[names.len() - 1].to_owned()),
                Kind::Url => Value::Text("http://127.0.0.1:9/x".to_owned()),
                Kind::Text => Value::Text("something else".to_owned()),
                Kind::Address => Value::Address("0.0.0.0:9".parse().unwrap()),
                Kind::Secret => Value::Secret(Some(Secret::new("something else"))),
            };
            assert_ne!(other, spec.default_value(), "{spec}: pick another test value");
            spec.set(&mut config, other.clone()).unwrap();
            assert_eq!(spec.get(&config), other, "{spec}");
            assert_ne!(config, MacConfig::default(), "{spec}");
        }
    }
}
