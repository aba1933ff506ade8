//! `config.toml`: every key from the file and from the environment, every error kind (message
//! snapshots), durations, overrides, and the conversions to the lower crates' settings.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use mac_claims::ClaimsOptions;
use mac_core::config::{
    Checked, ConfigErrors, GatewaySettings, LadderBounds, MacConfig, Origin, Position,
    ProviderSettings, ProvidersSettings, SCHEMA, Section, Source, StorageBackend, StorageSettings,
    no_env,
};
use mac_executor::{PoolConfig, ProactiveConfig, RefreshConfig, Strategy};
use mac_ratelimit::{CooldownPolicy, Ladder};
use mac_storage::{DataDir, Provider, Secret, StoreOptions};

const FILE: &str = "config.toml";

/// An environment of exactly `vars`.
fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: HashMap<String, String> =
        vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    move |name| vars.get(name).cloned()
}

/// The configuration of `text`, or the test fails with the messages.
fn parse(text: &str) -> MacConfig {
    MacConfig::parse(text, FILE, no_env).unwrap_or_else(|errors| panic!("{errors}"))
}

/// The error messages of `text` with `vars`, one per line.
fn errors_with(text: &str, vars: &[(&str, &str)]) -> String {
    match MacConfig::parse(text, FILE, env(vars)) {
        Ok(config) => panic!("expected errors, got {config:#?}"),
        Err(errors) => errors.to_string(),
    }
}

fn errors(text: &str) -> String {
    errors_with(text, &[])
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn endpoints(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

/// A value different from the default for every key, as the file and the environment set them.
const EVERY_KEY: &str = r#"
[pool]
strategy = "hybrid"
soft_quota_percent = 85.5
cross_process_claims = false
max_wait = "2m"
max_auth_failures = 5
pacing_per_minute = 30

[sessions]
binding_ttl = "1h30m"
binding_cap = 50

[refresh]
expiry_margin = "2m"
proactive = false
buffer = "45m"
interval = 600
lock_timeout = "50s"
auth_backoff = "45s"

[retry]
server_retries = 0
min_attempts = 4
attempts_per_account = 2

[ratelimit]
ladder_start = "500ms"
ladder_max = "10m"
billing_block = "2d"
overload_cooldown = "30s"

[storage]
lock_timeout = "20s"
backend = "postgres"
url = "postgres://mac:pg-pass-1@db.example/pools"
bookkeeping_interval = "1s"

[claims]
expiry = "90s"
heartbeat = "30s"

[gateway]
listen = "0.0.0.0:9100"
inbound_key = "gw-key-1"
body_limit = 65536
connect_timeout = "2s"
first_byte_timeout = "1m"
idle_timeout = "45s"
shutdown_grace = "5s"

[providers.anthropic]
authorize_url = "http://127.0.0.1:9001/oauth/authorize"
token_url = "http://127.0.0.1:9001/v1/oauth/token"
redirect_uri = "http://127.0.0.1:9001/oauth/code/callback"
usage_url = "http://127.0.0.1:9001/api/oauth/usage"
profile_url = "http://127.0.0.1:9001/api/oauth/profile"
api_base_url = "http://127.0.0.1:9001"
user_agent = "my-agent/1.0"
client_id = "anthropic-client"

[providers.codex]
authorize_url = "http://127.0.0.1:9002/oauth/authorize"
token_url = "http://127.0.0.1:9002/oauth/token"
redirect_uri = "http://localhost:1456/auth/callback"
usage_url = "http://127.0.0.1:9002/backend-api/wham/usage"
api_base_url = "http://127.0.0.1:9002"
responses_url = "http://127.0.0.1:9002/backend-api/codex/responses"
device_code_url = "http://127.0.0.1:9002/api/accounts/deviceauth/usercode"
device_token_url = "http://127.0.0.1:9002/api/accounts/deviceauth/token"
device_verification_url = "http://127.0.0.1:9002/codex/device"
device_redirect_uri = "http://127.0.0.1:9002/deviceauth/callback"
user_agent = "my-codex/2.0"
originator = "my-tool"
callback_port = 0
client_id = "codex-client"
"#;

/// The same values as environment variables (durations in other spellings).
const EVERY_VAR: &[(&str, &str)] = &[
    ("MAC_POOL_STRATEGY", "hybrid"),
    ("MAC_POOL_SOFT_QUOTA_PERCENT", "85.5"),
    ("MAC_POOL_CROSS_PROCESS_CLAIMS", "false"),
    ("MAC_POOL_MAX_WAIT", "120"),
    ("MAC_POOL_MAX_AUTH_FAILURES", "5"),
    ("MAC_POOL_PACING_PER_MINUTE", "30"),
    ("MAC_SESSIONS_BINDING_TTL", "90m"),
    ("MAC_SESSIONS_BINDING_CAP", "50"),
    ("MAC_REFRESH_EXPIRY_MARGIN", "2m"),
    ("MAC_REFRESH_PROACTIVE", "false"),
    ("MAC_REFRESH_BUFFER", "45m"),
    ("MAC_REFRESH_INTERVAL", "10m"),
    ("MAC_REFRESH_LOCK_TIMEOUT", "50s"),
    ("MAC_REFRESH_AUTH_BACKOFF", "45s"),
    ("MAC_RETRY_SERVER_RETRIES", "0"),
    ("MAC_RETRY_MIN_ATTEMPTS", "4"),
    ("MAC_RETRY_ATTEMPTS_PER_ACCOUNT", "2"),
    ("MAC_RATELIMIT_LADDER_START", "500ms"),
    ("MAC_RATELIMIT_LADDER_MAX", "10m"),
    ("MAC_RATELIMIT_BILLING_BLOCK", "48h"),
    ("MAC_RATELIMIT_OVERLOAD_COOLDOWN", "30s"),
    ("MAC_STORAGE_LOCK_TIMEOUT", "20s"),
    ("MAC_STORAGE_BACKEND", "postgres"),
    ("MAC_STORAGE_URL", "postgres://mac:pg-pass-1@db.example/pools"),
    ("MAC_STORAGE_BOOKKEEPING_INTERVAL", "1s"),
    ("MAC_CLAIMS_EXPIRY", "1m30s"),
    ("MAC_CLAIMS_HEARTBEAT", "30s"),
    ("MAC_GATEWAY_LISTEN", "0.0.0.0:9100"),
    ("MAC_GATEWAY_INBOUND_KEY", "gw-key-1"),
    ("MAC_GATEWAY_BODY_LIMIT", "65536"),
    ("MAC_GATEWAY_CONNECT_TIMEOUT", "2000ms"),
    ("MAC_GATEWAY_FIRST_BYTE_TIMEOUT", "60"),
    ("MAC_GATEWAY_IDLE_TIMEOUT", "45s"),
    ("MAC_GATEWAY_SHUTDOWN_GRACE", "5s"),
    ("MAC_PROVIDERS_ANTHROPIC_AUTHORIZE_URL", "http://127.0.0.1:9001/oauth/authorize"),
    ("MAC_PROVIDERS_ANTHROPIC_TOKEN_URL", "http://127.0.0.1:9001/v1/oauth/token"),
    ("MAC_PROVIDERS_ANTHROPIC_REDIRECT_URI", "http://127.0.0.1:9001/oauth/code/callback"),
    ("MAC_PROVIDERS_ANTHROPIC_USAGE_URL", "http://127.0.0.1:9001/api/oauth/usage"),
    ("MAC_PROVIDERS_ANTHROPIC_PROFILE_URL", "http://127.0.0.1:9001/api/oauth/profile"),
    ("MAC_PROVIDERS_ANTHROPIC_API_BASE_URL", "http://127.0.0.1:9001"),
    ("MAC_PROVIDERS_ANTHROPIC_USER_AGENT", "my-agent/1.0"),
    ("MAC_PROVIDERS_ANTHROPIC_CLIENT_ID", "anthropic-client"),
    ("MAC_PROVIDERS_CODEX_AUTHORIZE_URL", "http://127.0.0.1:9002/oauth/authorize"),
    ("MAC_PROVIDERS_CODEX_TOKEN_URL", "http://127.0.0.1:9002/oauth/token"),
    ("MAC_PROVIDERS_CODEX_REDIRECT_URI", "http://localhost:1456/auth/callback"),
    ("MAC_PROVIDERS_CODEX_USAGE_URL", "http://127.0.0.1:9002/backend-api/wham/usage"),
    ("MAC_PROVIDERS_CODEX_API_BASE_URL", "http://127.0.0.1:9002"),
    ("MAC_PROVIDERS_CODEX_RESPONSES_URL", "http://127.0.0.1:9002/backend-api/codex/responses"),
    (
        "MAC_PROVIDERS_CODEX_DEVICE_CODE_URL",
        "http://127.0.0.1:9002/api/accounts/deviceauth/usercode",
    ),
    ("MAC_PROVIDERS_CODEX_DEVICE_TOKEN_URL", "http://127.0.0.1:9002/api/accounts/deviceauth/token"),
    ("MAC_PROVIDERS_CODEX_DEVICE_VERIFICATION_URL", "http://127.0.0.1:9002/codex/device"),
    ("MAC_PROVIDERS_CODEX_DEVICE_REDIRECT_URI", "http://127.0.0.1:9002/deviceauth/callback"),
    ("MAC_PROVIDERS_CODEX_USER_AGENT", "my-codex/2.0"),
    ("MAC_PROVIDERS_CODEX_ORIGINATOR", "my-tool"),
    ("MAC_PROVIDERS_CODEX_CALLBACK_PORT", "0"),
    ("MAC_PROVIDERS_CODEX_CLIENT_ID", "codex-client"),
];

/// What [`EVERY_KEY`] and [`EVERY_VAR`] configure.
fn every_key_expected() -> MacConfig {
    MacConfig {
        pool: PoolConfig {
            strategy: Strategy::Hybrid,
            soft_quota_percent: 85.5,
            cross_process_claims: false,
            max_wait: secs(120),
            session_binding_ttl: secs(5400),
            session_binding_cap: 50,
            server_retries: 0,
            min_attempts: 4,
            attempts_per_account: 2,
            cooldown: CooldownPolicy {
                billing_block: secs(172_800),
                overload_cooldown: secs(30),
                ..CooldownPolicy::default()
            },
            refresh: RefreshConfig {
                expiry_margin: secs(120),
                lock_timeout: secs(50),
                max_auth_failures: 5,
                auth_backoff: secs(45),
            },
            proactive: ProactiveConfig {
                enabled: false,
                interval: secs(600),
                buffer: secs(2700),
                ..ProactiveConfig::default()
            },
            ..PoolConfig::default()
        },
        ladder: LadderBounds { start: Duration::from_millis(500), max: secs(600) },
        pacing_per_minute: 30,
        store: StoreOptions {
            lock_timeout: secs(20),
            bookkeeping_interval: secs(1),
            ..StoreOptions::default()
        },
        storage: StorageSettings {
            backend: StorageBackend::Postgres,
            url: Some(Secret::new("postgres://mac:pg-pass-1@db.example/pools")),
        },
        claims: ClaimsOptions {
            expiry: secs(90),
            heartbeat_interval: Some(secs(30)),
            lock_timeout: secs(20),
            ..ClaimsOptions::default()
        },
        providers: ProvidersSettings {
            anthropic: ProviderSettings {
                endpoints: endpoints(&[
                    ("authorize_url", "http://127.0.0.1:9001/oauth/authorize"),
                    ("token_url", "http://127.0.0.1:9001/v1/oauth/token"),
                    ("redirect_uri", "http://127.0.0.1:9001/oauth/code/callback"),
                    ("usage_url", "http://127.0.0.1:9001/api/oauth/usage"),
                    ("profile_url", "http://127.0.0.1:9001/api/oauth/profile"),
                    ("api_base_url", "http://127.0.0.1:9001"),
                ]),
                user_agent: Some("my-agent/1.0".into()),
                originator: None,
                callback_port: None,
                client_id: Some("anthropic-client".into()),
            },
            codex: ProviderSettings {
                endpoints: endpoints(&[
                    ("authorize_url", "http://127.0.0.1:9002/oauth/authorize"),
                    ("token_url", "http://127.0.0.1:9002/oauth/token"),
                    ("redirect_uri", "http://localhost:1456/auth/callback"),
                    ("usage_url", "http://127.0.0.1:9002/backend-api/wham/usage"),
                    ("api_base_url", "http://127.0.0.1:9002"),
                    ("responses_url", "http://127.0.0.1:9002/backend-api/codex/responses"),
                    ("device_code_url", "http://127.0.0.1:9002/api/accounts/deviceauth/usercode"),
                    ("device_token_url", "http://127.0.0.1:9002/api/accounts/deviceauth/token"),
                    ("device_verification_url", "http://127.0.0.1:9002/codex/device"),
                    ("device_redirect_uri", "http://127.0.0.1:9002/deviceauth/callback"),
                ]),
                user_agent: Some("my-codex/2.0".into()),
                originator: Some("my-tool".into()),
                callback_port: Some(0),
                client_id: Some("codex-client".into()),
            },
        },
        gateway: GatewaySettings {
            listen: "0.0.0.0:9100".parse().unwrap(),
            inbound_key: Some(Secret::new("gw-key-1")),
            body_limit: 65_536,
            connect_timeout: secs(2),
            first_byte_timeout: secs(60),
            idle_timeout: secs(45),
            shutdown_grace: secs(5),
        },
    }
}

// ---- Defaults -------------------------------------------------------------------------------

#[test]
fn a_missing_file_an_empty_file_and_a_comment_are_all_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("config.toml");
    assert_eq!(MacConfig::load(&missing, no_env).unwrap(), MacConfig::default());
    let data_dir = DataDir::at(dir.path());
    assert_eq!(MacConfig::load_from(&data_dir, no_env).unwrap(), MacConfig::default());
    assert_eq!(parse(""), MacConfig::default());
    assert_eq!(parse("# nothing here\n\n"), MacConfig::default());
    assert_eq!(parse("[pool]\n[providers.codex]\n"), MacConfig::default());
}

#[test]
fn defaults_are_the_lower_crates_defaults() {
    let config = MacConfig::default();
    for provider in Provider::ALL {
        assert_eq!(config.pool_config(provider), PoolConfig::default());
        assert_eq!(
            config.descriptor(provider).unwrap(),
            mac_adapters::ProviderDescriptor::for_provider(provider)
        );
    }
    assert_eq!(config.store_options(), StoreOptions::default());
    assert_eq!(config.claims_options(), ClaimsOptions::default());
    assert_eq!(config.pacing_per_minute(), None);
}

// ---- Every key ------------------------------------------------------------------------------

#[test]
fn every_key_is_read_from_the_file() {
    let checked = MacConfig::check_text(EVERY_KEY, FILE, no_env).unwrap();
    assert_eq!(checked.config, every_key_expected());
    for (spec, _, source) in checked.entries() {
        assert!(matches!(source, Source::File { file, .. } if file == FILE), "{spec}: {source}");
    }
    assert_eq!(
        checked.source(Section::Pool, "strategy"),
        Some(&Source::File { file: FILE.into(), position: Position { line: 3, column: 1 } })
    );
}

#[test]
fn every_key_is_read_from_the_environment() {
    let vars: Vec<&str> = EVERY_VAR.iter().map(|(name, _)| *name).collect();
    let schema_vars: Vec<String> = SCHEMA.iter().map(mac_core::config::KeySpec::env_var).collect();
    assert_eq!(vars, schema_vars, "EVERY_VAR lists every key in schema order");

    let checked = MacConfig::check_text("", FILE, env(EVERY_VAR)).unwrap();
    assert_eq!(checked.config, every_key_expected());
    for (spec, _, source) in checked.entries() {
        assert_eq!(source, &Source::Env { var: spec.env_var() });
    }
}

#[test]
fn the_inbound_key_never_shows_in_output_or_errors() {
    let checked =
        MacConfig::check_text("[gateway]\ninbound_key = \"gw-secret-42\"\n", FILE, no_env).unwrap();
    let shown = checked.to_toml();
    assert!(shown.contains("inbound_key = \"[redacted]\""), "{shown}");
    assert!(!shown.contains("gw-secret-42") && !format!("{checked:?}").contains("gw-secret-42"));
    let errors = errors_with(
        "[gateway]\ninbound_key = \"   \"\nlisten = \"nowhere\"\n",
        &[("MAC_GATEWAY_INBOUND_KEY", " \t ")],
    );
    assert!(errors.contains("[gateway] inbound_key") && !errors.contains("\" \\t \""), "{errors}");
    assert!(
        errors.contains("[gateway] listen = \"nowhere\": expected an IP address and port"),
        "{errors}"
    );
}

#[test]
fn the_storage_url_never_shows_in_output_or_errors() {
    let text =
        "[storage]\nbackend = \"postgres\"\nurl = \"postgres://mac:pg-secret-42@db/pools\"\n";
    let checked = MacConfig::check_text(text, FILE, no_env).unwrap();
    assert_eq!(checked.config.storage.backend, StorageBackend::Postgres);
    let shown = checked.to_toml();
    assert!(shown.contains("url = \"[redacted]\""), "{shown}");
    assert!(!shown.contains("pg-secret-42") && !format!("{checked:?}").contains("pg-secret-42"));
    let errors =
        errors_with("[storage]\nbackend = \"mysql\"\nurl = \"  \"\n", &[("MAC_STORAGE_URL", " ")]);
    assert!(
        errors.contains("[storage] backend = \"mysql\": expected one of \"file\", \"postgres\""),
        "{errors}"
    );
    assert!(errors.contains("[storage] url") && errors.contains("MAC_STORAGE_URL"), "{errors}");
}

#[test]
fn the_environment_wins_over_the_file() {
    let text = "[pool]\nstrategy = \"hybrid\"\nmax_wait = \"5m\"\n";
    let vars = [("MAC_POOL_STRATEGY", "round-robin"), ("MAC_HOME", "/elsewhere")];
    let checked = MacConfig::check_text(text, FILE, env(&vars)).unwrap();
    assert_eq!(checked.config.pool.strategy, Strategy::RoundRobin);
    assert_eq!(checked.config.pool.max_wait, secs(300));
    assert_eq!(
        checked.source(Section::Pool, "strategy"),
        Some(&Source::Env { var: "MAC_POOL_STRATEGY".into() })
    );
    assert_eq!(checked.source(Section::Pool, "cross_process_claims"), Some(&Source::Default));
    assert_eq!(checked.source(Section::Pool, "nope"), None);
}

#[test]
fn load_reads_the_file_and_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, "[retry]\nmin_attempts = 9\n").unwrap();
    let config = MacConfig::load(&path, env(&[("MAC_RETRY_SERVER_RETRIES", "1")])).unwrap();
    assert_eq!(
        (config.pool.server_retries, config.pool.min_attempts, config.pool.attempts_per_account),
        (1, 9, PoolConfig::default().attempts_per_account)
    );
}

#[test]
fn effective_configuration_names_each_source_and_reads_back() {
    let text = "[pool]\nstrategy = \"hybrid\"\n\n[providers.codex]\ntoken_url = \"http://127.0.0.1:1/t\"\n";
    let vars =
        [("MAC_CLAIMS_HEARTBEAT", "10s"), ("MAC_PROVIDERS_CODEX_USER_AGENT", "a \"quoted\" agent")];
    let checked = MacConfig::check_text(text, FILE, env(&vars)).unwrap();
    let rendered = checked.to_toml();
    insta::assert_snapshot!("effective_configuration", rendered);
    // Read back, every key has the same effective value (now set explicitly).
    let again: Checked = MacConfig::check_text(&rendered, "rendered.toml", no_env).unwrap();
    let values = |c: &Checked| c.entries().map(|(_, value, _)| value).collect::<Vec<_>>();
    assert_eq!(values(&again), values(&checked));
    for provider in Provider::ALL {
        assert_eq!(
            again.config.descriptor(provider).unwrap(),
            checked.config.descriptor(provider).unwrap()
        );
    }
    assert_eq!(
        again.config.pool_config(Provider::Codex),
        checked.config.pool_config(Provider::Codex)
    );
}

// ---- Durations ------------------------------------------------------------------------------

#[test]
fn durations_in_every_form() {
    let ok = [
        (r#""90s""#, secs(90)),
        (r#""5m""#, secs(300)),
        (r#""1h30m""#, secs(5400)),
        (r#""1h 30m""#, secs(5400)),
        (r#""500ms""#, Duration::from_millis(500)),
        (r#""0s""#, secs(0)),
        (r#""45""#, secs(45)),
        ("45", secs(45)),
        ("0", secs(0)),
        (r#""2d""#, secs(2 * 86_400)),
        (r#""30d""#, secs(30 * 86_400)),
        (r#""1d12h""#, secs(36 * 3600)),
    ];
    for (written, expected) in ok {
        let config = parse(&format!("[sessions]\nbinding_ttl = {written}\n"));
        assert_eq!(config.pool.session_binding_ttl, expected, "binding_ttl = {written}");
    }

    let bad = [
        r#""1.5h""#,
        r#""5 minutes""#,
        r#""1m30""#,
        r#""""#,
        r#""-5s""#,
        "-5",
        "1.5",
        r#""31d""#,
        r#""1m30s10""#,
    ];
    let lines: Vec<String> = bad
        .iter()
        .map(|written| errors(&format!("[sessions]\nbinding_ttl = {written}\n")))
        .collect();
    insta::assert_snapshot!("duration_errors", lines.join("\n"));
}

#[test]
fn toml_number_forms_are_accepted() {
    let config = parse(
        "[sessions]\nbinding_cap = 1_000\n\n[providers.codex]\ncallback_port = 0x5B4\n\n\
         [pool]\nmax_auth_failures = +4\nsoft_quota_percent = 9.5e1\n",
    );
    assert_eq!(config.pool.session_binding_cap, 1000);
    assert_eq!(config.providers.codex.callback_port, Some(1460));
    assert_eq!(config.pool.refresh.max_auth_failures, 4);
    assert!((config.pool.soft_quota_percent - 95.0).abs() < f64::EPSILON);
}

// ---- Errors ---------------------------------------------------------------------------------

#[test]
fn an_unknown_section_is_an_error() {
    insta::assert_snapshot!("unknown_section", errors("[pools]\nstrategy = \"hybrid\"\n"));
}

#[test]
fn an_unknown_key_is_an_error_with_a_suggestion() {
    let text = "[pool]\nstrategi = \"hybrid\"\nexpiry_margin = \"1m\"\nfoo = 1\n";
    insta::assert_snapshot!("unknown_key", errors(text));
}

#[test]
fn an_unknown_provider_and_a_key_of_the_other_provider_are_errors() {
    let text = "[providers.openai]\ntoken_url = \"http://x\"\n\n[providers.anthropic]\nresponses_url = \"http://127.0.0.1/r\"\ncallback_port = 1455\n";
    insta::assert_snapshot!("unknown_provider", errors(text));
}

#[test]
fn a_section_that_is_not_a_table_is_an_error() {
    insta::assert_snapshot!("section_not_a_table", errors("pool = \"hybrid\"\nproviders = 3\n"));
}

#[test]
fn a_wrong_type_is_an_error() {
    let text = r#"[pool]
cross_process_claims = "yes"
max_wait = true
max_auth_failures = "3"
strategy = ["sticky"]
soft_quota_percent = "50"

[sessions]
binding_ttl = 1979-05-27T07:32:00Z
binding_cap = 3.0

[providers.codex]
token_url = 5
callback_port = { port = 1 }
"#;
    insta::assert_snapshot!("wrong_type", errors(text));
}

#[test]
fn an_out_of_range_value_is_an_error() {
    let text = r#"[pool]
strategy = "fastest"
soft_quota_percent = 100.5
max_auth_failures = 0
max_wait = "2h"

[refresh]
buffer = "30s"
interval = "10s"
lock_timeout = "30s"
auth_backoff = "2h"

[retry]
server_retries = 11
min_attempts = -1

[providers.codex]
callback_port = 70000
token_url = "auth.openai.com/oauth/token"
api_base_url = "ftp://example.com"
user_agent = ""
"#;
    insta::assert_snapshot!("out_of_range", errors(text));
}

#[test]
fn cross_checked_values_are_errors_at_the_key_that_was_set() {
    insta::assert_snapshot!(
        "cross_checks_in_the_file",
        errors(
            "[claims]\nheartbeat = \"1m\"\n\n[ratelimit]\nladder_start = \"10m\"\noverload_cooldown = \"6m\"\n"
        )
    );
    insta::assert_snapshot!(
        "cross_checks_in_the_environment",
        errors_with("", &[("MAC_CLAIMS_EXPIRY", "20s"), ("MAC_RATELIMIT_LADDER_MAX", "5s")])
    );
    // Both set, consistently: fine.
    let config = parse("[claims]\nexpiry = \"2m\"\nheartbeat = \"1m\"\n");
    assert_eq!(
        (config.claims.expiry, config.claims.heartbeat_interval),
        (secs(120), Some(secs(60)))
    );
}

#[test]
fn a_value_with_an_error_is_not_cross_checked() {
    // `expiry` is refused, so `heartbeat` is not also blamed against the default.
    assert_eq!(
        errors("[claims]\nexpiry = \"0s\"\nheartbeat = \"2m\"\n"),
        "config.toml:2:1: [claims] expiry = \"0s\": expected a duration from 1s to 1h"
    );
}

#[test]
fn environment_errors_name_the_variable() {
    let vars = [
        ("MAC_POOL_STRATEGY", "fastest"),
        ("MAC_POOL_MAX_WAIT", "forever"),
        ("MAC_REFRESH_PROACTIVE", "yes"),
        ("MAC_RETRY_MIN_ATTEMPTS", "many"),
        ("MAC_POOL_SOFT_QUOTA_PERCENT", "150"),
        ("MAC_PROVIDERS_CODEX_TOKEN_URL", "not a url"),
        ("MAC_PROVIDERS_ANTHROPIC_USER_AGENT", ""),
    ];
    insta::assert_snapshot!("environment_errors", errors_with("", &vars));
}

#[test]
fn a_syntax_error_names_line_and_column() {
    let text = "[pool]\nstrategy = \"hybrid\"\nmax_wait = \"5m\n";
    insta::assert_snapshot!("syntax_error", errors(text));
    let error = MacConfig::parse(text, FILE, no_env).unwrap_err();
    let first = &error.errors()[0];
    assert_eq!((first.file(), first.line(), first.key.as_deref()), (Some(FILE), Some(3), None));
    // Every syntax error is reported; the keys of a file that is not TOML are not checked.
    insta::assert_snapshot!(
        "two_syntax_errors",
        errors("[pool]\nstrategy = hybrid\nunknown_key = 1\n\n[claims\nexpiry = \"1m\"\n")
    );
    insta::assert_snapshot!(
        "duplicate_key",
        errors("[pool]\nstrategy = \"hybrid\"\nstrategy = \"sticky\"\n")
    );
}

#[test]
fn every_error_of_the_file_and_the_environment_is_reported_at_once() {
    let text = r#"# A file with one problem of each kind.
[pool]
strategy = "fastest"
max_wait = "soon"
cross_process_claims = 1
stratgy = "hybrid"

[claims]
heartbeat = "2m"

[telemetry]
enabled = true
"#;
    let result = MacConfig::parse(text, FILE, env(&[("MAC_RETRY_SERVER_RETRIES", "99")]));
    let errors: ConfigErrors = result.unwrap_err();
    assert_eq!(errors.len(), 7);
    let origins: Vec<String> = errors.iter().map(|e| e.origin.to_string()).collect();
    assert_eq!(
        origins,
        [
            "config.toml:3:1",
            "config.toml:4:1",
            "config.toml:5:1",
            "config.toml:6:1",
            "config.toml:9:1",
            "config.toml:11:2",
            "env MAC_RETRY_SERVER_RETRIES",
        ]
    );
    assert_eq!(errors.errors()[6].env_var(), Some("MAC_RETRY_SERVER_RETRIES"));
    assert_eq!(errors.errors()[0].line(), Some(3));
    assert_eq!(errors.errors()[0].column(), Some(1));
    insta::assert_snapshot!("several_errors", errors.to_string());
}

#[test]
fn an_unreadable_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where the file should be: it exists but cannot be read as text.
    let path = dir.path().join("config.toml");
    std::fs::create_dir(&path).unwrap();
    let errors = MacConfig::load(&path, no_env).unwrap_err();
    let error = &errors.errors()[0];
    assert_eq!(error.origin, Origin::File { file: path.display().to_string(), position: None });
    assert!(error.problem.starts_with("cannot read the file: "), "{error}");
    assert!(error.to_string().starts_with(&format!("{}: cannot read", path.display())));

    std::fs::remove_dir(&path).unwrap();
    std::fs::write(&path, b"[pool]\nstrategy = \"\xff\"\n").unwrap();
    let errors = MacConfig::load(&path, no_env).unwrap_err();
    assert!(errors.to_string().contains("cannot read the file"), "{errors}");
}

// ---- Conversions ----------------------------------------------------------------------------

#[test]
fn every_setting_reaches_the_lower_crates() {
    let config = every_key_expected();
    let expected_pool = PoolConfig {
        strategy: Strategy::Hybrid,
        soft_quota_percent: 85.5,
        cross_process_claims: false,
        max_wait: secs(120),
        session_binding_ttl: secs(5400),
        session_binding_cap: 50,
        server_retries: 0,
        min_attempts: 4,
        attempts_per_account: 2,
        cooldown: CooldownPolicy {
            ladder: Ladder::new(Duration::from_millis(500), 2.0, secs(600)),
            billing_block: secs(172_800),
            overload_cooldown: secs(30),
        },
        refresh: RefreshConfig {
            expiry_margin: secs(120),
            lock_timeout: secs(50),
            max_auth_failures: 5,
            auth_backoff: secs(45),
        },
        proactive: ProactiveConfig {
            enabled: false,
            interval: secs(600),
            buffer: secs(2700),
            ..ProactiveConfig::default()
        },
        ..PoolConfig::default()
    };
    assert_eq!(config.pool_config(Provider::Codex), expected_pool);
    assert_eq!(
        config.store_options(),
        StoreOptions {
            lock_timeout: secs(20),
            bookkeeping_interval: secs(1),
            ..StoreOptions::default()
        }
    );
    assert_eq!(
        config.claims_options(),
        ClaimsOptions {
            expiry: secs(90),
            heartbeat_interval: Some(secs(30)),
            lock_timeout: secs(20),
            ..ClaimsOptions::default()
        }
    );
    assert_eq!(config.pacing_per_minute().map(u32::from), Some(30));
}

#[test]
fn endpoint_overrides_reach_the_descriptor() {
    let text = r#"
[providers.anthropic]
token_url = "http://127.0.0.1:7001/v1/oauth/token"
user_agent = "tester/1"

[providers.codex]
usage_url = "http://127.0.0.1:7002/backend-api/wham/usage"
originator = "mac-tests"
callback_port = 0
client_id = "app_test"
"#;
    let vars = [("MAC_PROVIDERS_CODEX_API_BASE_URL", "http://127.0.0.1:7003")];
    let config = MacConfig::parse(text, FILE, env(&vars)).unwrap();

    let anthropic = config.descriptor(Provider::Anthropic).unwrap();
    let mut expected = mac_adapters::ProviderDescriptor::anthropic();
    expected.set_endpoint("token_url", "http://127.0.0.1:7001/v1/oauth/token").unwrap();
    expected.user_agent = "tester/1".into();
    assert_eq!(anthropic, expected);

    let codex = config.descriptor(Provider::Codex).unwrap();
    assert_eq!(codex.endpoints.usage_url.as_str(), "http://127.0.0.1:7002/backend-api/wham/usage");
    assert_eq!(codex.endpoints.api_base_url.as_str(), "http://127.0.0.1:7003/");
    assert_eq!(codex.endpoints.token_url.as_str(), "https://auth.openai.com/oauth/token");
    assert_eq!(codex.originator.as_deref(), Some("mac-tests"));
    assert_eq!(codex.callback_port, 0);
    assert_eq!(codex.client_id, "app_test");

    // With every endpoint overridden, no built-in URL is left in either descriptor.
    let config = every_key_expected();
    for provider in Provider::ALL {
        let e = config.descriptor(provider).unwrap().endpoints;
        let urls: Vec<_> = mac_adapters::ENDPOINTS.iter().map(|spec| spec.get(&e)).collect();
        let count = config.providers.get(provider).endpoints.len();
        assert_eq!(urls.iter().flatten().count(), count, "{provider}");
        for url in urls.iter().flatten() {
            let host = url.host_str().unwrap();
            assert!(host == "127.0.0.1" || host == "localhost", "{provider}: {url}");
        }
    }
}

#[test]
fn a_bad_endpoint_set_in_code_fails_the_descriptor() {
    let mut config = MacConfig::default();
    config.providers.codex.endpoints.insert("token_url".into(), "not a url".into());
    let error = config.descriptor(Provider::Codex).unwrap_err();
    assert!(error.to_string().contains("`token_url`"), "{error}");
}

#[test]
fn pacing_zero_is_off() {
    assert_eq!(parse("[pool]\npacing_per_minute = 0\n").pacing_per_minute(), None);
    let paced = parse("[pool]\npacing_per_minute = 12\n").pacing_per_minute();
    assert_eq!(paced.map(u32::from), Some(12));
}
