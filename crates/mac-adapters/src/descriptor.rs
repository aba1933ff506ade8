//! What mac knows about each provider: every URL, client id, scope, header value and plan label,
//! as a value — never a global — with every URL overridable (by config key or all at once with
//! [`ProviderDescriptor::with_origin`]), so tests point a descriptor at the loopback fake.
//!
//! # Where each fact comes from
//!
//! mac logs in and refreshes as the providers' own command-line clients do, so every OAuth
//! fact below was read from those clients' public code; when a provider changes one, this is
//! the list to check again. Anthropic: the npm package `@anthropic-ai/claude-code` 2.1.197
//! (a native binary; its embedded JavaScript was read), compared with 2.1.2 (`cli.js`).
//! Codex: the repository `openai/codex`, crate `codex-rs/login` — `src/device_code_auth.rs`
//! and `src/server.rs` at commit `0483fd17ab67`, `src/auth/manager.rs` at `0126a9dd8ce3`,
//! `src/auth/default_client.rs` at `0157182cc759`.
//!
//! | Fact | Value | Source |
//! |---|---|---|
//! | Anthropic client id | `9d1c250a-e61b-44d9-88ed-5944d1962f5e` | Claude Code `CLIENT_ID` (same in 2.1.2) |
//! | Anthropic authorize URL | `https://claude.com/cai/oauth/authorize` (2.1.2: `https://claude.ai/oauth/authorize`) | `CLAUDE_AI_AUTHORIZE_URL`, the subscription login |
//! | Anthropic token URL | `https://platform.claude.com/v1/oauth/token` (2.1.2: `console.anthropic.com`) | `TOKEN_URL` |
//! | Anthropic redirect URI | `https://platform.claude.com/oauth/code/callback` | `MANUAL_REDIRECT_URL` (the paste-the-code login) |
//! | Anthropic authorize query | `code=true`, `client_id`, `response_type=code`, `redirect_uri`, `scope`, `code_challenge`, `code_challenge_method=S256`, `state` | the authorize-URL builder |
//! | Anthropic scopes | `org:create_api_key user:profile user:inference user:sessions:claude_code user:mcp_servers user:file_upload` | the union of its console and Claude.ai scope lists |
//! | Anthropic code exchange | JSON `{grant_type=authorization_code, code, redirect_uri, client_id, code_verifier, state}`, `Content-Type: application/json` | the code-exchange function |
//! | Anthropic refresh | JSON `{grant_type=refresh_token, refresh_token, client_id, scope}`, `scope` = the Claude.ai list (`user:profile … user:file_upload`) | the refresh function |
//! | Anthropic OAuth beta | `anthropic-beta: oauth-2025-04-20` on usage and profile | the OAuth header helper |
//! | Anthropic usage / profile | `GET https://api.anthropic.com/api/oauth/usage`, `…/api/oauth/profile` | the usage and profile fetches |
//! | Anthropic User-Agent | `claude-cli/2.1.197 (external, cli)` | the user-agent function (`claude-cli/<version> (external, <entrypoint>)`) |
//! | Codex client id | `app_EMoamEEZ73f0CkXaXp7hrann` | `manager.rs` `CLIENT_ID` |
//! | Codex authorize URL and query | `<issuer>/oauth/authorize`: `response_type`, `client_id`, `redirect_uri`, `scope`, `code_challenge`, `code_challenge_method=S256`, `id_token_add_organizations=true`, `codex_cli_simplified_flow=true`, `state`, `originator` | `server.rs` `build_authorize_url` |
//! | Codex scopes | `openid profile email offline_access api.connectors.read api.connectors.invoke` | `server.rs` `build_authorize_url` |
//! | Codex browser redirect URI | `http://localhost:<port>/auth/callback`, port 1455, else 1457 (also registered) when 1455 is taken | `server.rs` `bind_server` |
//! | Codex code exchange | form `grant_type=authorization_code&code&redirect_uri&client_id&code_verifier`, no `state` | `server.rs` `exchange_code_for_tokens` |
//! | Codex refresh | JSON `{client_id, grant_type=refresh_token, refresh_token}`, `Content-Type: application/json`, to `https://auth.openai.com/oauth/token`; the answer's tokens are all optional | `manager.rs` `request_chatgpt_token_refresh` |
//! | Codex headers | refresh: `originator` and `User-Agent` of the default client; code exchange and device endpoints: none | `default_client.rs` `default_headers` |
//! | Codex device login | see the login module: `usercode` → `{device_auth_id, user_code, interval: "<s>"}`; polls `{device_auth_id, user_code}`, 403/404 pending; `{authorization_code, code_challenge, code_verifier}`; exchange with `redirect_uri = <issuer>/deviceauth/callback`; page `<issuer>/codex/device`; 15 minutes | `device_code_auth.rs` |
//!
//! Two values are mac's choice, not the real client's. Codex's `originator` and `User-Agent`
//! stay OpenCode's (`opencode`, `opencode/1.1.53`), the identity of the plugin mac replaces;
//! Codex CLI sends `codex_cli_rs` and `codex_cli_rs/<version> (<os>; <arch>) <terminal>`. Both
//! are `config.toml` keys. Anthropic's API betas (`oauth-2025-04-20`,
//! `interleaved-thinking-2025-05-14`) are the minimum the seed sent; Claude Code adds
//! `claude-code-20250219` and more per model, which request shaping leaves to the caller.

use mac_storage::Provider;
use snafu::{ResultExt, Snafu};
use url::{Host, Url};

use crate::endpoints::{ENDPOINTS, EndpointSpec, Endpoints};

/// A URL in a descriptor that does not parse.
#[derive(Debug, Snafu)]
#[snafu(display("endpoint `{field}` is not a valid URL ({value:?}): {source}"))]
pub struct BadEndpoint {
    /// The descriptor field (also the config key under `[providers.<name>]`).
    pub field: &'static str,
    /// The value given.
    pub value: String,
    /// The parser's reason.
    source: url::ParseError,
}

/// One provider's facts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderDescriptor {
    /// Which provider.
    pub provider: Provider,
    /// The OAuth client id.
    pub client_id: String,
    /// The OAuth scopes of the authorize URL, space-separated.
    pub scopes: String,
    /// Anthropic: the scopes every refresh asks for again (`scope` of the refresh body);
    /// `None` sends none.
    pub refresh_scopes: Option<String>,
    /// Every endpoint.
    pub endpoints: Endpoints,
    /// Anthropic: the `anthropic-beta` value OAuth endpoints need.
    pub oauth_beta: Option<String>,
    /// Anthropic: the betas every API request must carry, in order.
    pub request_betas: Vec<String>,
    /// The `User-Agent` of token, usage and API requests.
    pub user_agent: String,
    /// Codex: the `originator` header value.
    pub originator: Option<String>,
    /// Codex: the port of the loopback callback server of the browser login (1455).
    pub callback_port: u16,
    /// Codex: the port the browser login listens on when `callback_port` is taken (1457, the
    /// other port registered for Codex's redirect URI); `None`: no fallback.
    pub callback_fallback_port: Option<u16>,
    /// Display labels by plan tier (`max` → `Claude Max`).
    pub plan_labels: Vec<(String, String)>,
    /// The tool-name prefix of the optional Anthropic branding transform.
    pub tool_prefix: String,
}

fn url(field: &'static str, value: &str) -> Result<Url, BadEndpoint> {
    Url::parse(value).context(BadEndpointSnafu { field, value })
}

/// Built-in URLs are constants: they parse, or the unit test below fails.
fn known(value: &'static str) -> Url {
    Url::parse(value).unwrap_or_else(|err| unreachable!("built-in URL {value}: {err}"))
}

impl ProviderDescriptor {
    /// The descriptor of `provider` with its real endpoints.
    pub fn for_provider(provider: Provider) -> Self {
        match provider {
            Provider::Anthropic => Self::anthropic(),
            Provider::Codex => Self::codex(),
        }
    }

    /// Claude Pro/Max through Claude Code's OAuth client.
    pub fn anthropic() -> Self {
        Self {
            provider: Provider::Anthropic,
            client_id: "9d1c250a-e61b-44d9-88ed-5944d1962f5e".into(),
            scopes: "org:create_api_key user:profile user:inference user:sessions:claude_code \
                     user:mcp_servers user:file_upload"
                .into(),
            refresh_scopes: Some(
                "user:profile user:inference user:sessions:claude_code user:mcp_servers \
                 user:file_upload"
                    .into(),
            ),
            endpoints: Endpoints {
                authorize_url: known("https://claude.com/cai/oauth/authorize"),
                token_url: known("https://platform.claude.com/v1/oauth/token"),
                redirect_uri: known("https://platform.claude.com/oauth/code/callback"),
                usage_url: known("https://api.anthropic.com/api/oauth/usage"),
                profile_url: Some(known("https://api.anthropic.com/api/oauth/profile")),
                api_base_url: known("https://api.anthropic.com"),
                responses_url: None,
                device_code_url: None,
                device_token_url: None,
                device_verification_url: None,
                device_redirect_uri: None,
            },
            oauth_beta: Some("oauth-2025-04-20".into()),
            request_betas: vec![
                "oauth-2025-04-20".into(),
                "interleaved-thinking-2025-05-14".into(),
            ],
            user_agent: "claude-cli/2.1.197 (external, cli)".into(),
            originator: None,
            callback_port: 0,
            callback_fallback_port: None,
            plan_labels: labels(&[("max", "Claude Max"), ("pro", "Claude Pro"), ("free", "Free")]),
            tool_prefix: "mcp_".into(),
        }
    }

    /// ChatGPT Plus/Pro through Codex's OAuth client.
    pub fn codex() -> Self {
        Self {
            provider: Provider::Codex,
            client_id: "app_EMoamEEZ73f0CkXaXp7hrann".into(),
            scopes: "openid profile email offline_access api.connectors.read api.connectors.invoke"
                .into(),
            refresh_scopes: None,
            endpoints: Endpoints {
                authorize_url: known("https://auth.openai.com/oauth/authorize"),
                token_url: known("https://auth.openai.com/oauth/token"),
                redirect_uri: known("http://localhost:1455/auth/callback"),
                usage_url: known("https://chatgpt.com/backend-api/wham/usage"),
                profile_url: None,
                api_base_url: known("https://chatgpt.com"),
                responses_url: Some(known("https://chatgpt.com/backend-api/codex/responses")),
                device_code_url: Some(known(
                    "https://auth.openai.com/api/accounts/deviceauth/usercode",
                )),
                device_token_url: Some(known(
                    "https://auth.openai.com/api/accounts/deviceauth/token",
                )),
                device_verification_url: Some(known("https://auth.openai.com/codex/device")),
                device_redirect_uri: Some(known("https://auth.openai.com/deviceauth/callback")),
            },
            oauth_beta: None,
            request_betas: Vec::new(),
            user_agent: "opencode/1.1.53".into(),
            originator: Some("opencode".into()),
            callback_port: 1455,
            callback_fallback_port: Some(1457),
            plan_labels: labels(&[
                ("pro", "ChatGPT Pro"),
                ("plus", "ChatGPT Plus"),
                ("go", "ChatGPT Go"),
                ("free", "Free"),
            ]),
            tool_prefix: "mcp_".into(),
        }
    }

    /// Points every endpoint at `origin` (scheme, host and port), keeping each path and query:
    /// the loopback fake provider serves the real paths. An endpoint on a loopback host stays
    /// where it is: Codex's browser-login redirect URI (`http://localhost:1455/…`) names this
    /// machine, not the provider; Anthropic's (a provider page) moves.
    pub fn with_origin(mut self, origin: &str) -> Result<Self, BadEndpoint> {
        let origin = url("origin", origin)?;
        for spec in ENDPOINTS {
            let Some(endpoint) = spec.get_mut(&mut self.endpoints) else { continue };
            if is_loopback(endpoint) {
                continue;
            }
            let mut moved = origin.clone();
            moved.set_path(endpoint.path());
            moved.set_query(endpoint.query());
            *endpoint = moved;
        }
        Ok(self)
    }

    /// Sets one endpoint by its config key (`token_url`, `api_base_url`, …; the endpoint
    /// table lists them).
    pub fn set_endpoint(&mut self, key: &str, value: &str) -> Result<(), EndpointKeyError> {
        let Some(spec) = EndpointSpec::find(key) else {
            return Err(EndpointKeyError::UnknownKey { key: key.to_owned() });
        };
        let parsed = url(spec.key, value).map_err(|source| EndpointKeyError::BadUrl { source })?;
        spec.set(&mut self.endpoints, parsed);
        Ok(())
    }

    /// Moves the browser login's callback server to `port`. A port other than the registered
    /// one is the user's choice, so the fallback to the provider's second registered port (which
    /// only stands in for the registered one) is dropped.
    pub fn set_callback_port(&mut self, port: u16) {
        if port != self.callback_port {
            self.callback_fallback_port = None;
        }
        self.callback_port = port;
    }

    /// The endpoint of config key `key`; `None` for an unknown key or one this provider has
    /// no endpoint for.
    pub fn endpoint(&self, key: &str) -> Option<&Url> {
        EndpointSpec::find(key)?.get(&self.endpoints)
    }

    /// The display label of a plan tier, as the seed labelled them: empty or `free` → `""`; a known
    /// tier → its label; else the tier with its first letter upper-cased.
    pub fn plan_label(&self, tier: &str) -> String {
        let tier = tier.trim();
        if tier.is_empty() || tier.eq_ignore_ascii_case("free") {
            return String::new();
        }
        if let Some((_, label)) =
            self.plan_labels.iter().find(|(t, _)| t.eq_ignore_ascii_case(tier))
        {
            return label.clone();
        }
        let mut chars = tier.chars();
        chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
    }
}

/// Why an endpoint override was refused.
#[derive(Debug, Snafu)]
pub enum EndpointKeyError {
    /// The key names no endpoint.
    #[snafu(display("unknown endpoint key `{key}`; known keys: {}", known_keys()))]
    UnknownKey {
        /// The key given.
        key: String,
    },
    /// The value is not a URL.
    #[snafu(display("{source}"))]
    BadUrl {
        /// The cause.
        source: BadEndpoint,
    },
}

/// Every endpoint key, comma-separated.
fn known_keys() -> String {
    ENDPOINTS.iter().map(|spec| spec.key).collect::<Vec<_>>().join(", ")
}

/// Whether `url` names this machine (`localhost`, `127.0.0.0/8`, `::1`).
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(tier, label)| ((*tier).to_owned(), (*label).to_owned())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_callback_port_of_the_users_choice_has_no_fallback() {
        let mut codex = ProviderDescriptor::codex();
        codex.set_callback_port(1455);
        assert_eq!((codex.callback_port, codex.callback_fallback_port), (1455, Some(1457)));
        codex.set_callback_port(4000);
        assert_eq!((codex.callback_port, codex.callback_fallback_port), (4000, None));
    }

    #[test]
    fn built_in_descriptors_have_every_fact() {
        for descriptor in [ProviderDescriptor::anthropic(), ProviderDescriptor::codex()] {
            assert!(!descriptor.client_id.is_empty());
            assert!(!descriptor.scopes.is_empty());
            assert!(!descriptor.user_agent.is_empty());
            assert_eq!(descriptor.endpoints.token_url.scheme(), "https");
        }
        let codex = ProviderDescriptor::codex();
        assert_eq!(codex.endpoints.token_url.as_str(), "https://auth.openai.com/oauth/token");
        assert_eq!(codex.endpoints.redirect_uri.as_str(), "http://localhost:1455/auth/callback");
        assert_eq!(
            ProviderDescriptor::anthropic().endpoints.token_url.as_str(),
            "https://platform.claude.com/v1/oauth/token"
        );
    }

    #[test]
    fn with_origin_moves_every_endpoint_but_the_codex_redirect() {
        let codex = ProviderDescriptor::codex().with_origin("http://127.0.0.1:9999").unwrap();
        assert_eq!(codex.endpoints.token_url.as_str(), "http://127.0.0.1:9999/oauth/token");
        assert_eq!(
            codex.endpoints.usage_url.as_str(),
            "http://127.0.0.1:9999/backend-api/wham/usage"
        );
        assert_eq!(codex.endpoints.redirect_uri.as_str(), "http://localhost:1455/auth/callback");
        let anthropic =
            ProviderDescriptor::anthropic().with_origin("http://127.0.0.1:9999").unwrap();
        assert_eq!(
            anthropic.endpoints.profile_url.unwrap().as_str(),
            "http://127.0.0.1:9999/api/oauth/profile"
        );
        assert!(ProviderDescriptor::codex().with_origin("not a url").is_err());
    }

    #[test]
    fn endpoints_are_set_by_config_key_with_clear_errors() {
        let mut d = ProviderDescriptor::anthropic();
        d.set_endpoint("token_url", "http://127.0.0.1:1/t").unwrap();
        assert_eq!(d.endpoints.token_url.as_str(), "http://127.0.0.1:1/t");
        d.set_endpoint("device_code_url", "http://127.0.0.1:1/d").unwrap();
        let unknown = d.set_endpoint("tokne_url", "x").unwrap_err().to_string();
        assert!(
            unknown.contains("unknown endpoint key `tokne_url`") && unknown.contains("token_url"),
            "{unknown}"
        );
        let bad = d.set_endpoint("usage_url", "::nope").unwrap_err().to_string();
        assert!(bad.contains("`usage_url`"), "{bad}");
    }

    #[test]
    fn plan_labels_follow_the_seed_rule() {
        let codex = ProviderDescriptor::codex();
        assert_eq!(codex.plan_label("pro"), "ChatGPT Pro");
        assert_eq!(codex.plan_label("PLUS"), "ChatGPT Plus");
        assert_eq!(codex.plan_label(""), "");
        assert_eq!(codex.plan_label("free"), "");
        assert_eq!(codex.plan_label("team"), "Team");
        assert_eq!(ProviderDescriptor::anthropic().plan_label("max"), "Claude Max");
    }
}
