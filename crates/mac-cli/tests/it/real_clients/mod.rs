//! The real coding agents — Claude Code, Codex CLI and OpenCode from the npm registry, at the
//! versions `cargo xtask clients` installs — each complete a one-shot prompt offline, against
//! the loopback fake provider, both straight at the fake (which proves the fake serves what the
//! client needs) and through `mac serve` (the client's own key is replaced by a pool account's
//! token and never reaches the upstream). `docs/CLIENT_SETUP.md` shows users the same settings.
//!
//! Each client runs in a sandbox of its own with its documented offline switches, so it needs
//! nothing but the loopback address it is given (OpenCode still tries to install its plugin
//! package into its config directory; with npm offline that fails at once and is only logged).
//! Missing clients fail the test with the command that installs them; CI runs that command
//! first, so these tests never skip.

mod harness;

use mac_adapters::jwt;
use mac_test_support::fake_provider::OAUTH_BETA;
use mac_test_support::{Endpoint, RecordedRequest};
use serde_json::{Value, json};

use harness::{Gateway, Pool, Run, Sandbox, installed};

/// The client's own key: the gateway must strip or replace it, so the fake must never see it.
const CLIENT_KEY: &str = "sk-client-OWN-KEY-must-not-reach-upstream";
/// The one-shot prompt.
const PROMPT: &str = "say hi";

/// What a client authenticates with.
#[derive(Clone, Copy)]
enum Key<'a> {
    /// Its own key, which `mac serve` must replace with a pool account's token.
    Own(&'a str),
    /// A pool account's access token sent as a bearer, for the fake directly.
    Pool(&'a str),
}

/// Claude Code's switches for running without any network but the base URL: no telemetry,
/// update checks, error reports or other traffic; two retries keep a failure quick.
const CLAUDE_OFFLINE: [(&str, &str); 6] = [
    ("DISABLE_TELEMETRY", "1"),
    ("DISABLE_AUTOUPDATER", "1"),
    ("DISABLE_ERROR_REPORTING", "1"),
    ("DISABLE_BUG_COMMAND", "1"),
    ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"),
    ("CLAUDE_CODE_MAX_RETRIES", "2"),
];

/// `claude -p PROMPT --output-format json` against `base_url`.
fn run_claude(base_url: &str, key: Key<'_>) -> Run {
    let sandbox = Sandbox::new("claude");
    let mut command = sandbox.command(&installed("claude"));
    command
        .args(["-p", PROMPT, "--output-format", "json"])
        .env("ANTHROPIC_BASE_URL", base_url)
        .envs(CLAUDE_OFFLINE);
    match key {
        Key::Own(key) => command.env("ANTHROPIC_API_KEY", key),
        Key::Pool(token) => command.env("ANTHROPIC_AUTH_TOKEN", token),
    };
    sandbox.run(&mut command)
}

/// Claude Code's answer: the `result` of its JSON output, after checking it is no error.
fn claude_result(run: &Run) -> String {
    let json: Value = serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|error| panic!("claude printed no JSON ({error}):\n{}", run.stdout));
    assert_eq!(json["is_error"], false, "{json}");
    json["result"].as_str().unwrap_or_default().to_owned()
}

/// The environment variable Codex CLI reads its key from (`env_key` of the provider).
const CODEX_KEY_VAR: &str = "MAC_CLIENT_KEY";

/// `$CODEX_HOME/config.toml`: a Responses provider at `base_url`, no update check, analytics
/// or plugins (each would contact a remote host at start-up).
fn codex_config(base_url: &str) -> String {
    format!(
        "model_provider = \"mac\"\n\
         model = \"gpt-5.5\"\n\
         check_for_update_on_startup = false\n\
         \n\
         [model_providers.mac]\n\
         name = \"mac\"\n\
         base_url = \"{base_url}/v1\"\n\
         wire_api = \"responses\"\n\
         env_key = \"{CODEX_KEY_VAR}\"\n\
         \n\
         [analytics]\n\
         enabled = false\n\
         \n\
         [features]\n\
         plugins = false\n"
    )
}

/// `codex exec --skip-git-repo-check --ephemeral PROMPT` against `base_url`. Codex sends its
/// key as a bearer either way.
fn run_codex(base_url: &str, key: Key<'_>) -> Run {
    let sandbox = Sandbox::new("codex");
    let codex_home = sandbox.path("codex");
    std::fs::create_dir(&codex_home).unwrap();
    std::fs::write(codex_home.join("config.toml"), codex_config(base_url)).unwrap();
    let (Key::Own(key) | Key::Pool(key)) = key;
    let mut command = sandbox.command(&installed("codex"));
    command
        .args(["exec", "--skip-git-repo-check", "--ephemeral", PROMPT])
        .env("CODEX_HOME", &codex_home)
        .env(CODEX_KEY_VAR, key);
    sandbox.run(&mut command)
}

/// OpenCode's switches for running offline: no models list, updates, default plugins, sharing,
/// LSP downloads, Claude Code or external skills, and npm answering from its cache only.
const OPENCODE_OFFLINE: [(&str, &str); 8] = [
    ("OPENCODE_DISABLE_MODELS_FETCH", "1"),
    ("OPENCODE_DISABLE_AUTOUPDATE", "1"),
    ("OPENCODE_DISABLE_DEFAULT_PLUGINS", "1"),
    ("OPENCODE_DISABLE_SHARE", "1"),
    ("OPENCODE_DISABLE_LSP_DOWNLOAD", "1"),
    ("OPENCODE_DISABLE_CLAUDE_CODE", "1"),
    ("OPENCODE_DISABLE_EXTERNAL_SKILLS", "1"),
    ("npm_config_offline", "true"),
];

/// `$XDG_CONFIG_HOME/opencode/opencode.json`: an Anthropic-protocol provider (`@ai-sdk/anthropic`,
/// bundled in OpenCode) at `base_url`, used for the answer and for the session title.
fn opencode_config(base_url: &str, key: Key<'_>) -> Value {
    let mut options = json!({ "baseURL": format!("{base_url}/v1") });
    match key {
        Key::Own(key) => options["apiKey"] = json!(key),
        Key::Pool(token) => {
            // The provider always sends `x-api-key`; the fake authenticates the bearer.
            options["apiKey"] = json!("unused");
            options["headers"] = json!({ "Authorization": format!("Bearer {token}") });
        }
    }
    json!({
        "$schema": "https://opencode.ai/config.json",
        "autoupdate": false,
        "share": "disabled",
        "model": "mac/claude-sonnet-4-5",
        "small_model": "mac/claude-sonnet-4-5",
        "provider": {
            "mac": {
                "npm": "@ai-sdk/anthropic",
                "name": "mac",
                "options": options,
                "models": { "claude-sonnet-4-5": { "name": "Claude Sonnet 4.5 (mac)" } },
            },
        },
    })
}

/// `opencode run --pure PROMPT` against `base_url`.
fn run_opencode(base_url: &str, key: Key<'_>) -> Run {
    let sandbox = Sandbox::new("opencode");
    let config_dir = sandbox.path("config").join("opencode");
    std::fs::create_dir(&config_dir).unwrap();
    let config = opencode_config(base_url, key);
    std::fs::write(config_dir.join("opencode.json"), config.to_string()).unwrap();
    let mut command = sandbox.command(&installed("opencode"));
    command.args(["run", "--pure", PROMPT]).envs(OPENCODE_OFFLINE);
    sandbox.run(&mut command)
}

/// A pool account's access token for the model endpoint `endpoint`.
fn pool_token(pool: &Pool, endpoint: Endpoint) -> &str {
    if endpoint == Endpoint::Messages { &pool.anthropic_token } else { &pool.codex_token }
}

/// Runs `client` straight at the fake with a pool token and checks it printed `reply`.
fn direct(
    client: &str,
    endpoint: Endpoint,
    run: fn(&str, Key<'_>) -> Run,
    answer: fn(&Run) -> String,
) {
    let reply = format!("Hello from the fake, {client}.");
    let pool = Pool::start(&reply);
    let run = run(&pool.fake.origin(), Key::Pool(pool_token(&pool, endpoint)));
    run.assert_success(client, "straight at the fake");
    assert!(answer(&run).contains(&reply), "{client} did not print the reply:\n{}", run.stdout);
    pool.served_by_the_pool(endpoint);
}

/// Runs `client` through `mac serve` with its own key and checks it printed `reply`, the fake
/// served it with pool tokens in the provider's shape, its own key reached no upstream request,
/// and no token shows in the gateway's log.
fn through_the_gateway(
    client: &str,
    endpoint: Endpoint,
    run: fn(&str, Key<'_>) -> Run,
    answer: fn(&Run) -> String,
) {
    let reply = format!("Hello from the mac pool, {client}.");
    let pool = Pool::start(&reply);
    let gateway = Gateway::start(&pool.dir);
    let run = run(&gateway.origin, Key::Own(CLIENT_KEY));
    run.assert_success(client, &format!("mac serve's log:\n{}", gateway.log()));
    assert!(answer(&run).contains(&reply), "{client} did not print the reply:\n{}", run.stdout);
    let requests = pool.served_by_the_pool(endpoint);
    assert_shaped_for_the_provider(endpoint, &requests);
    pool.assert_never_saw(CLIENT_KEY);
    let log = gateway.log();
    for token in pool.fake.issued_access_tokens().iter().map(String::as_str).chain([CLIENT_KEY]) {
        assert!(!log.contains(token), "mac serve's log shows a token:\n{log}");
    }
}

/// Checks that each upstream request carries what the real provider demands with an OAuth
/// token and a client's own request lacks: Anthropic's OAuth beta, and the ChatGPT account id
/// of the very account whose token it carries.
fn assert_shaped_for_the_provider(endpoint: Endpoint, requests: &[RecordedRequest]) {
    for request in requests {
        if endpoint == Endpoint::Messages {
            let betas = request.header("anthropic-beta").unwrap_or_default();
            assert!(
                betas.split(',').any(|beta| beta.trim() == OAUTH_BETA),
                "a Messages request reached the fake without the OAuth beta: {betas}"
            );
        } else {
            let claims = request.bearer().and_then(jwt::decode_payload).unwrap_or_default();
            let account = jwt::account_id_from_claims(&claims);
            assert!(account.is_some(), "a Responses request's bearer names no ChatGPT account");
            assert_eq!(
                request.header("chatgpt-account-id"),
                account.as_deref(),
                "a Responses request names another account than its token's"
            );
        }
    }
}

/// A client's whole standard output (Codex CLI and OpenCode print the answer as text).
fn stdout(run: &Run) -> String {
    run.stdout.clone()
}

#[test]
fn claude_code_answers_from_the_fake_directly() {
    direct("Claude Code", Endpoint::Messages, run_claude, claude_result);
}

#[test]
fn codex_cli_answers_from_the_fake_directly() {
    direct("Codex CLI", Endpoint::Responses, run_codex, stdout);
}

#[test]
fn opencode_answers_from_the_fake_directly() {
    direct("OpenCode", Endpoint::Messages, run_opencode, stdout);
}

#[test]
fn claude_code_answers_through_mac_serve() {
    through_the_gateway("Claude Code", Endpoint::Messages, run_claude, claude_result);
}

#[test]
fn codex_cli_answers_through_mac_serve() {
    through_the_gateway("Codex CLI", Endpoint::Responses, run_codex, stdout);
}

#[test]
fn opencode_answers_through_mac_serve() {
    through_the_gateway("OpenCode", Endpoint::Messages, run_opencode, stdout);
}
