//! The endpoints the fake serves, each at its real path, and the recorded form of a request.

use std::time::Instant;

use serde_json::Value;

/// One endpoint of the fake. Both providers share one origin, so each is told apart by its real
/// path (`mac-adapters`' `ProviderDescriptor`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST /v1/oauth/token`: Anthropic's token endpoint (JSON body).
    AnthropicToken,
    /// `POST /oauth/token`: OpenAI's token endpoint (form body; JSON also accepted).
    OpenAiToken,
    /// `GET /oauth/authorize` or `GET /cai/oauth/authorize`: both providers' authorize page
    /// (Anthropic's is `claude.com/cai/oauth/authorize`).
    Authorize,
    /// `GET /oauth/code/callback`: Anthropic's redirect page, which shows `code#state`.
    CodeCallback,
    /// `POST /api/accounts/deviceauth/usercode`: Codex device flow, start.
    DeviceCode,
    /// `POST /api/accounts/deviceauth/token`: Codex device flow, poll.
    DeviceToken,
    /// `GET /api/oauth/usage`: Anthropic quota.
    AnthropicUsage,
    /// `GET /api/oauth/profile`: Anthropic profile.
    AnthropicProfile,
    /// `GET /backend-api/wham/usage`: Codex quota.
    CodexUsage,
    /// `POST /v1/messages` (any query, e.g. `?beta=true`): Anthropic Messages.
    Messages,
    /// `POST /v1/responses` or `POST /backend-api/codex/responses`: OpenAI Responses.
    Responses,
    /// Any other path: answered `404` (`HEAD`/`GET /` answer `200`), recorded for diagnosis.
    Unknown,
}

impl Endpoint {
    /// Every endpoint, for iteration in tests.
    pub const ALL: [Endpoint; 12] = [
        Endpoint::AnthropicToken,
        Endpoint::OpenAiToken,
        Endpoint::Authorize,
        Endpoint::CodeCallback,
        Endpoint::DeviceCode,
        Endpoint::DeviceToken,
        Endpoint::AnthropicUsage,
        Endpoint::AnthropicProfile,
        Endpoint::CodexUsage,
        Endpoint::Messages,
        Endpoint::Responses,
        Endpoint::Unknown,
    ];

    /// The endpoint serving `path` (without the query).
    pub fn from_path(path: &str) -> Self {
        match path {
            "/v1/oauth/token" => Self::AnthropicToken,
            "/oauth/token" => Self::OpenAiToken,
            "/oauth/authorize" | "/cai/oauth/authorize" => Self::Authorize,
            "/oauth/code/callback" => Self::CodeCallback,
            "/api/accounts/deviceauth/usercode" => Self::DeviceCode,
            "/api/accounts/deviceauth/token" => Self::DeviceToken,
            "/api/oauth/usage" => Self::AnthropicUsage,
            "/api/oauth/profile" => Self::AnthropicProfile,
            "/backend-api/wham/usage" => Self::CodexUsage,
            "/v1/messages" => Self::Messages,
            "/v1/responses" | "/backend-api/codex/responses" => Self::Responses,
            _ => Self::Unknown,
        }
    }

    /// The HTTP method the endpoint expects; `None` for [`Endpoint::Unknown`].
    pub fn method(self) -> Option<&'static str> {
        match self {
            Self::Authorize
            | Self::CodeCallback
            | Self::AnthropicUsage
            | Self::AnthropicProfile
            | Self::CodexUsage => Some("GET"),
            Self::AnthropicToken
            | Self::OpenAiToken
            | Self::DeviceCode
            | Self::DeviceToken
            | Self::Messages
            | Self::Responses => Some("POST"),
            Self::Unknown => None,
        }
    }
}

/// A request as the fake received it, before any answer (scripted ones included).
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// The endpoint its path maps to.
    pub endpoint: Endpoint,
    /// The HTTP method (`GET`, `POST`, …).
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The raw query string, without the `?`.
    pub query: Option<String>,
    /// Every header in arrival order, names lower-cased, values lossily decoded.
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Vec<u8>,
    /// When the request's body had been read.
    pub at: Instant,
}

impl RecordedRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The token of an `Authorization: Bearer <token>` header.
    pub fn bearer(&self) -> Option<&str> {
        bearer_token(self.header("authorization"))
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The body decoded as `application/x-www-form-urlencoded` pairs.
    pub fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&self.body).into_owned().collect()
    }

    /// The query decoded into pairs, in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.query
            .as_deref()
            .map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default()
    }

    /// The first value of query parameter `name`.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query_pairs().into_iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

/// The token of a `Bearer` authorization value (scheme case-insensitive).
pub(crate) fn bearer_token(value: Option<&str>) -> Option<&str> {
    let value = value?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}
