//! Provider facts for `anthropic` and `codex`: OAuth login flows, token exchange and refresh,
//! usage and profile reads, and request shaping (D4, D11–D13, D17–D18).
//!
//! Must not depend on: any `mac-*` crate but `mac-storage`, terminal crates, HTTP servers other
//! than hyper's HTTP/1.1 connection server under the loopback login callback it owns.
//!
//! # Endpoints
//!
//! Every URL lives in a [`ProviderDescriptor`] value, never a global (D17). Override one with
//! [`ProviderDescriptor::set_endpoint`] by the key below (the `config.toml` key under
//! `[providers.<name>]`; [`ENDPOINTS`], the one endpoint table, lists them), or move all of
//! them to another origin at once with [`ProviderDescriptor::with_origin`] (tests: the
//! loopback fake provider).
//!
//! | Key | Anthropic | Codex |
//! |---|---|---|
//! | `authorize_url` | `https://claude.com/cai/oauth/authorize` | `https://auth.openai.com/oauth/authorize` |
//! | `token_url` | `https://platform.claude.com/v1/oauth/token` | `https://auth.openai.com/oauth/token` |
//! | `redirect_uri` | `https://platform.claude.com/oauth/code/callback` | `http://localhost:1455/auth/callback` (kept by `with_origin`) |
//! | `usage_url` | `https://api.anthropic.com/api/oauth/usage` | `https://chatgpt.com/backend-api/wham/usage` |
//! | `profile_url` | `https://api.anthropic.com/api/oauth/profile` | none (claims of the access token) |
//! | `api_base_url` | `https://api.anthropic.com` | `https://chatgpt.com` |
//! | `responses_url` | none | `https://chatgpt.com/backend-api/codex/responses` |
//! | `device_code_url` | none | `https://auth.openai.com/api/accounts/deviceauth/usercode` |
//! | `device_token_url` | none | `https://auth.openai.com/api/accounts/deviceauth/token` |
//! | `device_verification_url` | none | `https://auth.openai.com/codex/device` |
//! | `device_redirect_uri` | none | `https://auth.openai.com/deviceauth/callback` |
//!
//! # What is pure here
//!
//! - PKCE and `state` ([`Pkce`], [`generate_state`]): rejection-sampled verifier, independent state
//!   (the seed's `byte % 66` was biased, and one login reused the verifier as `state`).
//! - JWT claims ([`jwt`]): the ChatGPT account id, email and plan, unverified.
//! - Token requests and responses ([`refresh_request`], [`code_exchange_request`],
//!   [`parse_token_response`] → [`TokenGrant`] or [`RefreshFailure`]).
//! - Profiles ([`parse_anthropic_profile`], [`codex_profile`]) and usage bodies
//!   ([`parse_anthropic_usage`], [`parse_codex_usage`]; moved here from `mac-ratelimit`
//!   because they are provider HTTP facts the adapters fetch, and layer-2 crates cannot
//!   depend on each other).
//! - Request shaping ([`shape_anthropic`], [`shape_codex`]) and the streamed response's
//!   tool-prefix strip ([`ToolPrefixStripper`]).
//! - Server-sent events ([`SseScanner`] → [`SseFrame`]) and a streamed response's prelude up
//!   to the gateway's commit point ([`Prelude`], [`FrameKind`]): which frames bear output,
//!   which are in-band errors, and why, are in the `sse` module's docs.
//!
//! # HTTP ([`AdapterClient`])
//!
//! One client per provider pool: a `reqwest::Client` built once (30 s per request,
//! [`REQUEST_TIMEOUT`], settable with [`AdapterClientBuilder::timeout`]; redirects are not
//! followed), the pool's [`ProviderDescriptor`] and an injected `mac_storage::Clock`. No
//! process-global state. At most [`MAX_RESPONSE_BYTES`] (1 MiB) of any body is read.
//!
//! | Method | Request | Result |
//! |---|---|---|
//! | [`AdapterClient::refresh`] | POST `token_url`, the refresh grant as JSON (Anthropic adds `scope`), `User-Agent`, Codex `originator` | [`TokenGrant`] or a classified [`RefreshFailure`]; an empty token fails permanently without a request; network errors and timeouts are transient (`network error: <host>: …`) |
//! | [`AdapterClient::exchange_code`] | POST `token_url`, the authorization-code grant (JSON for Anthropic, a form for Codex) | as `refresh` |
//! | [`AdapterClient::fetch_usage`] | GET `usage_url` with the bearer, `User-Agent`; Anthropic adds `anthropic-beta`, Codex `ChatGPT-Account-Id` when given | [`UsageReport`] or [`FetchError`] (`is_unauthorized()` for 401/403) |
//! | [`AdapterClient::fetch_profile`] | Anthropic: GET `profile_url` (same headers); Codex: no request, the access token's claims | [`Profile`] or [`FetchError`] |
//!
//! Spans (`token_request`, `fetch_usage`, `fetch_profile`) carry the provider, the status and
//! the outcome; no message, span or `Debug` output carries a token or a raw body.
//!
//! # Login flows
//!
//! Each flow makes a fresh PKCE pair and an independent random `state` (never the verifier, which
//! the seed's Anthropic login leaked into the URL as `state`) and ends in a [`LoginOutcome`]
//! (credentials + [`Identity`]; see [`LoginOutcome::into_new_account`]) or a [`LoginError`].
//!
//! - Anthropic: [`AnthropicLogin::start`] gives the authorize URL; the user approves and pastes
//!   the `code#state` Anthropic's page shows; [`AnthropicLogin::finish`] checks the state,
//!   exchanges the code, and reads the plan from the profile (best effort).
//! - Codex in a browser: [`CodexBrowserLogin::start`] binds the loopback [`CallbackServer`]
//!   (port 1455) and gives the authorize URL; [`CodexBrowserLogin::wait`] receives the
//!   redirect and exchanges the code. Identity from the JWT claims.
//! - Codex without a reachable loopback: [`CodexManualLogin`] — the user pastes the
//!   `http://localhost:1455/auth/callback?code=…` URL the browser ended on.
//! - Codex device flow, in Codex CLI's protocol: [`DeviceAuthorization::start`] gives the
//!   user code and the page to enter it on; [`DeviceAuthorization::poll`] polls with
//!   `{device_auth_id, user_code}` (403/404: not yet; 429: slower) per [`DevicePolling`] for
//!   15 minutes at most, then exchanges the authorization code the service hands over with
//!   the service's PKCE verifier and `device_redirect_uri`.
//!
//! # Refresh classification (D12)
//!
//! [`parse_token_response`] classifies every answer of the token endpoint. "Permanent" disables
//! the account until the user logs in again (never deletes it); it needs evidence in the body.
//! The OAuth error code is read from `{"error": "<code>", "error_description": …}` (RFC 6749),
//! `{"error": {"code" or "type": "<code>", "message": …}}` (OpenAI, Anthropic) or a top-level
//! `code`; codes compare case-insensitively.
//!
//! | Response | Kind |
//! |---|---|
//! | 2xx with a non-empty `access_token` | success: [`TokenGrant`]; a missing `expires_in` is, for Codex, the access token's JWT `exp` (else 3600 s), and a missing or unreadable one otherwise [`UNKNOWN_EXPIRY_FALLBACK`] (5 min) — the grant may hold a rotated refresh token, so it is never thrown away |
//! | 2xx that is not JSON, not an object, or lacks `access_token` | transient |
//! | 4xx (not 408/429) with code `invalid_grant` / `invalid_refresh_token` | permanent `InvalidGrant` |
//! | 4xx with `invalid_client` / `unauthorized_client` | permanent `InvalidClient` / `UnauthorizedClient` (concerns the client, so every account: [`PermanentReason::concerns_account`] is `false`) |
//! | 4xx with `refresh_token_reused` / `refresh_token_expired` | permanent `RefreshTokenReused` / `RefreshTokenExpired` |
//! | 4xx with `refresh_token_invalidated` / `refresh_token_revoked` / `token_revoked` | permanent `Revoked` |
//! | 4xx with `invalid_scope` / `access_denied` | permanent `InvalidScope` / `AccessDenied` |
//! | 4xx whose description / message mentions the refresh token and says `already used`/`reused`, `revoked`/`invalidated`, `expired`, `no longer valid` or `invalid` (the seed's later patterns) | permanent `RefreshTokenReused`, `Revoked`, `RefreshTokenExpired`, `InvalidGrant` |
//! | any other 4xx, e.g. a bare 400/401/403, `invalid_request`, an HTML page | transient |
//! | 408, 429, 5xx, 1xx, 3xx — whatever the body says | transient |
//! | a body that is not UTF-8, not JSON (truncated, HTML) or over 1 MiB | transient |
//! | no refresh token stored ([`RefreshFailure::missing_refresh_token`], no request) | permanent `MissingRefreshToken` |
//! | network error, timeout ([`RefreshFailure::transient`], by the HTTP layer) | transient |
//!
//! The seed's broader "auth … invalid" pattern is not used: a proxy's "authorization header
//! invalid" would disable a good account. A failure's message holds the status, the code and
//! the `error_description` cut to 200 characters with token-like words replaced by
//! `[redacted]` — never a raw body.

mod callback;
mod descriptor;
mod endpoints;
mod headers;
mod http;
mod login;
mod oauth_body;

pub mod jwt;
mod pkce;
mod profile;
mod shaping;
mod sse;
mod stream_transform;
mod tls;
mod token;
mod usage;

pub use callback::{
    CALLBACK_PATH, CallbackCode, CallbackError, CallbackServer, code_from_redirect_url,
};
pub use descriptor::{BadEndpoint, EndpointKeyError, ProviderDescriptor};
pub use endpoints::{ENDPOINTS, EndpointSpec, Endpoints};
pub use headers::BadHeaderValue;
pub use http::{
    AdapterClient, AdapterClientBuilder, BodyError, ClientBuildError, FetchError,
    MAX_RESPONSE_BYTES, REQUEST_TIMEOUT, UsageReport,
};
pub use login::{
    AnthropicLogin, CALLBACK_TIMEOUT, CodexBrowserLogin, CodexManualLogin, DEVICE_LOGIN_MAX_WAIT,
    DeviceAuthorization, DevicePolling, Identity, LoginError, LoginOutcome,
};
pub use pkce::{PKCE_VERIFIER_LEN, Pkce, RandomnessError, generate_state, pkce_challenge};
pub use profile::{Profile, ProfileError, codex_profile, parse_anthropic_profile};
pub use shaping::{AnthropicShaping, HttpRequest, shape_anthropic, shape_codex};
pub use sse::{
    FrameKind, MAX_FRAME_BYTES, PRELUDE_LIMIT, Prelude, PreludeEnd, SseError, SseFrame, SseScanner,
    frame_json_type,
};
pub use stream_transform::ToolPrefixStripper;
pub use tls::{TlsConfig, TlsError};
pub use token::{
    CODEX_DEFAULT_EXPIRES_IN, CONTENT_TYPE_FORM, CONTENT_TYPE_JSON, CodeExchange, FailureKind,
    PermanentReason, RefreshFailure, TokenGrant, TokenRequestBody, UNKNOWN_EXPIRY_FALLBACK,
    code_exchange_request, parse_token_response, refresh_request,
};
pub use usage::{CodexUsage, UsageError, parse_anthropic_usage, parse_codex_usage};
