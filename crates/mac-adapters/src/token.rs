//! Token endpoint facts without I/O (SEED §2.8, §2.12; DECISIONS.md D12): the bodies of the
//! refresh and code-exchange requests, the parsed grant, and the classification of a failed
//! request as permanent (the grant is dead: log in again) or transient (try again later).
//!
//! "Permanent" needs evidence in the body: an OAuth error code such as `invalid_grant`, or a
//! message saying the refresh token is invalid, expired, revoked or no longer valid (SEED L3,
//! L9, §5.14). A bare 400/401/403, a 5xx, an HTML page, a truncated or non-UTF-8 body are
//! transient. See the crate docs for the whole table.
//!
//! Nothing here ever puts a token or a raw body into a message: a failure carries the status,
//! the OAuth error code and a cleaned, shortened `error_description` only.

use crate::oauth_body::{json_object, oauth_error, seconds};
use std::fmt;
use std::time::Duration;

use mac_storage::{CredentialPatch, EpochMs, Provider, Secret};
use serde_json::{Map, Value, json};
use snafu::Snafu;
use url::Url;
use url::form_urlencoded;

use crate::ProviderDescriptor;
use crate::jwt;

/// `Content-Type` of a JSON body (every refresh, Anthropic's code exchange).
pub const CONTENT_TYPE_JSON: &str = "application/json";

/// `Content-Type` of a form body (Codex's code exchange).
pub const CONTENT_TYPE_FORM: &str = "application/x-www-form-urlencoded";

/// Codex's access-token lifetime when the response names none (SEED §2.12).
pub const CODEX_DEFAULT_EXPIRES_IN: Duration = Duration::from_secs(3600);

/// The lifetime assumed for an access token whose `expires_in` is missing or unreadable in an
/// otherwise good grant. Short, so the token is refreshed soon; but the grant is kept, since
/// it may carry a rotated refresh token — discarding that would lose the account when the
/// provider has already retired the old one.
pub const UNKNOWN_EXPIRY_FALLBACK: Duration = Duration::from_secs(300);

/// The longest access-token lifetime believed: a year. Real ones are hours to days; a longer
/// one is cut here, which only means refreshing early, and keeps `expires_at` far inside the
/// range the accounts file accepts (2^53 ms).
const MAX_EXPIRES_IN: Duration = Duration::from_secs(366 * 24 * 3600);

/// The longest `error_description` kept in a message, in characters.
const MAX_DESCRIPTION_CHARS: usize = 200;

/// The body of a request to the token endpoint. `Debug` shows the length, never the bytes
/// (they hold a refresh token, a code or a verifier).
#[derive(Clone, PartialEq, Eq)]
pub struct TokenRequestBody {
    /// [`CONTENT_TYPE_JSON`] or [`CONTENT_TYPE_FORM`]: send it as `Content-Type`.
    pub content_type: &'static str,
    /// The encoded body.
    pub body: Vec<u8>,
}

impl TokenRequestBody {
    /// `(content_type, body)`.
    pub fn into_parts(self) -> (&'static str, Vec<u8>) {
        (self.content_type, self.body)
    }
}

impl fmt::Debug for TokenRequestBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRequestBody")
            .field("content_type", &self.content_type)
            .field("body", &format_args!("[{} bytes redacted]", self.body.len()))
            .finish()
    }
}

/// The body of a refresh, JSON for both providers as their own clients send it:
/// `grant_type=refresh_token`, `refresh_token`, `client_id`, and for Anthropic the
/// descriptor's `refresh_scopes` as `scope` (Claude Code asks for its scopes on every
/// refresh). Codex CLI refreshes with JSON although its code exchange is a form.
pub fn refresh_request(
    descriptor: &ProviderDescriptor,
    refresh_token: &Secret,
) -> TokenRequestBody {
    let mut fields = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.expose()),
        ("client_id", descriptor.client_id.as_str()),
    ];
    if let Some(scope) = descriptor.refresh_scopes.as_deref() {
        fields.push(("scope", scope));
    }
    json_body(&fields)
}

/// What the browser login hands back for the code exchange.
#[derive(Clone, Copy, Debug)]
pub struct CodeExchange<'a> {
    /// The authorization code.
    pub code: &'a Secret,
    /// The `state` returned with the code (sent by Anthropic's exchange only).
    pub state: &'a str,
    /// The PKCE verifier whose challenge was in the authorize URL.
    pub verifier: &'a Secret,
    /// The redirect URI of the authorize request (Codex: the callback server's, whose port
    /// may differ from the descriptor's).
    pub redirect_uri: &'a Url,
}

/// The body of an authorization-code exchange. Anthropic: JSON with `code`, `state`,
/// `grant_type=authorization_code`, `client_id`, `redirect_uri`, `code_verifier`. Codex: a
/// form with the same fields but `state`, which Codex's token endpoint does not take (the
/// callback checked it; SEED §2.12 and Codex CLI send none).
pub fn code_exchange_request(
    descriptor: &ProviderDescriptor,
    exchange: &CodeExchange<'_>,
) -> TokenRequestBody {
    let mut fields = vec![
        ("grant_type", "authorization_code"),
        ("code", exchange.code.expose()),
        ("redirect_uri", exchange.redirect_uri.as_str()),
        ("client_id", descriptor.client_id.as_str()),
        ("code_verifier", exchange.verifier.expose()),
    ];
    match descriptor.provider {
        Provider::Anthropic => {
            fields.insert(2, ("state", exchange.state));
            json_body(&fields)
        }
        Provider::Codex => {
            let mut form = form_urlencoded::Serializer::new(String::new());
            for (key, value) in &fields {
                form.append_pair(key, value);
            }
            TokenRequestBody { content_type: CONTENT_TYPE_FORM, body: form.finish().into_bytes() }
        }
    }
}

fn json_body(fields: &[(&str, &str)]) -> TokenRequestBody {
    let object: Map<String, Value> =
        fields.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect();
    TokenRequestBody {
        content_type: CONTENT_TYPE_JSON,
        body: Value::Object(object).to_string().into_bytes(),
    }
}

/// Tokens granted by a refresh or a code exchange. `Debug` shows no token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenGrant {
    /// The new access token.
    pub access_token: Secret,
    /// The new refresh token; `None` when the provider kept the old one.
    pub refresh_token: Option<Secret>,
    /// When the access token expires: the request's start plus `expires_in`.
    pub expires_at: EpochMs,
    /// Codex: the `id_token` (OIDC), if sent.
    pub id_token: Option<Secret>,
    /// Anthropic: the server's account uuid (`account.uuid`).
    pub account_uuid: Option<String>,
    /// Anthropic: `account.email_address`; Codex: the email claim of the id token (else of
    /// the access token).
    pub email: Option<String>,
    /// Codex: the ChatGPT account id from the id token, else the access token.
    pub account_id: Option<String>,
}

impl TokenGrant {
    /// The credentials patch for `AccountStore::compare_and_swap_credentials`: a missing
    /// refresh token keeps the stored one.
    pub fn into_patch(self) -> CredentialPatch {
        CredentialPatch {
            access_token: self.access_token,
            expires_at: self.expires_at,
            refresh_token: self.refresh_token,
            account_uuid: self.account_uuid,
            account_id: self.account_id,
            email: self.email,
        }
    }
}

/// Why a refresh token is dead (D12): what the body said.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PermanentReason {
    /// `invalid_grant`, or a message saying the refresh token is invalid / no longer valid.
    InvalidGrant,
    /// `invalid_client`: the client id is not accepted (every account of the pool is affected).
    InvalidClient,
    /// `unauthorized_client`: the client may not use this grant (every account is affected).
    UnauthorizedClient,
    /// `refresh_token_reused`, or a message saying it was already used: another holder of the
    /// same token refreshed first.
    RefreshTokenReused,
    /// `refresh_token_expired`, or a message saying it expired.
    RefreshTokenExpired,
    /// `refresh_token_invalidated` / `refresh_token_revoked` / `token_revoked`, or a message
    /// saying it was revoked.
    Revoked,
    /// `invalid_scope`.
    InvalidScope,
    /// `access_denied`.
    AccessDenied,
    /// The account has no refresh token at all; no request was made.
    MissingRefreshToken,
}

impl PermanentReason {
    /// The short name (the OAuth code it stands for).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidGrant => "invalid_grant",
            Self::InvalidClient => "invalid_client",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::RefreshTokenReused => "refresh_token_reused",
            Self::RefreshTokenExpired => "refresh_token_expired",
            Self::Revoked => "revoked",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::MissingRefreshToken => "missing_refresh_token",
        }
    }

    /// Whether the reason is about this account's grant (`true`) or about the OAuth client,
    /// which fails the same way for every account (`invalid_client`, `unauthorized_client`:
    /// a wrong `client_id` in the config, say). Logging in again does not help the latter.
    pub fn concerns_account(self) -> bool {
        !matches!(self, Self::InvalidClient | Self::UnauthorizedClient)
    }

    fn from_code(code: &str) -> Option<Self> {
        Some(match code.to_ascii_lowercase().as_str() {
            "invalid_grant" | "invalid_refresh_token" => Self::InvalidGrant,
            "invalid_client" => Self::InvalidClient,
            "unauthorized_client" => Self::UnauthorizedClient,
            "refresh_token_reused" => Self::RefreshTokenReused,
            "refresh_token_expired" => Self::RefreshTokenExpired,
            "refresh_token_invalidated" | "refresh_token_revoked" | "token_revoked" => {
                Self::Revoked
            }
            "invalid_scope" => Self::InvalidScope,
            "access_denied" => Self::AccessDenied,
            _ => return None,
        })
    }

    /// SEED L3's message patterns: the text mentions the refresh token and says it is used,
    /// revoked, expired, invalid or no longer valid.
    fn from_message(message: &str) -> Option<Self> {
        let text = message.to_lowercase().replace(['_', '-'], " ");
        if !text.contains("refresh token") {
            return None;
        }
        let says = |words: &[&str]| words.iter().any(|w| text.contains(w));
        if says(&["already used", "reused"]) {
            Some(Self::RefreshTokenReused)
        } else if says(&["revoked", "invalidated"]) {
            Some(Self::Revoked)
        } else if says(&["expired"]) {
            Some(Self::RefreshTokenExpired)
        } else if says(&["no longer valid", "invalid"]) {
            Some(Self::InvalidGrant)
        } else {
            None
        }
    }
}

impl fmt::Display for PermanentReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a failure means the grant is dead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// The body proves the refresh token (or the client) is no longer accepted: disable the
    /// account until the user logs in again (never delete it, D12).
    Permanent(PermanentReason),
    /// Anything else: try again later; never disables the last usable account.
    Transient,
}

/// A failed token request, classified (D12). `Display` is `message`, which never holds a
/// token or a raw body.
#[derive(Clone, Debug, PartialEq, Eq, Snafu)]
#[snafu(display("{message}"))]
pub struct RefreshFailure {
    /// Permanent (with the evidence) or transient.
    pub kind: FailureKind,
    /// The HTTP status, when a response arrived.
    pub status: Option<u16>,
    /// The OAuth error code from the body (`invalid_grant`, `refresh_token_expired`, …).
    pub error_code: Option<String>,
    /// What happened, for logs and `mac status`.
    pub message: String,
}

impl RefreshFailure {
    /// A transient failure without a usable response (network error, timeout): `message`
    /// must not contain a token.
    pub fn transient(status: Option<u16>, message: impl Into<String>) -> Self {
        Self { kind: FailureKind::Transient, status, error_code: None, message: message.into() }
    }

    /// The account has no refresh token: permanent, and no request is made (SEED §2.8).
    pub fn missing_refresh_token() -> Self {
        Self {
            kind: FailureKind::Permanent(PermanentReason::MissingRefreshToken),
            status: None,
            error_code: None,
            message: "the account has no refresh token; log in again".to_owned(),
        }
    }

    /// Whether the grant is dead.
    pub fn is_permanent(&self) -> bool {
        matches!(self.kind, FailureKind::Permanent(_))
    }

    /// The evidence, when permanent.
    pub fn permanent_reason(&self) -> Option<PermanentReason> {
        match self.kind {
            FailureKind::Permanent(reason) => Some(reason),
            FailureKind::Transient => None,
        }
    }
}

/// Reads the token endpoint's answer to a request started at `started` (SEED §2.8): a 2xx
/// with an `access_token` is a [`TokenGrant`]; anything else is a classified
/// [`RefreshFailure`] (the crate docs' table). A missing `expires_in` is, for Codex, the
/// access token's JWT `exp`, else 3600 s (SEED §2.12); a missing or unreadable one otherwise is taken as
/// [`UNKNOWN_EXPIRY_FALLBACK`] rather than refusing a grant that may hold a rotated refresh
/// token. A 2xx without an access token is transient.
pub fn parse_token_response(
    descriptor: &ProviderDescriptor,
    status: u16,
    body: &[u8],
    started: EpochMs,
) -> Result<TokenGrant, RefreshFailure> {
    let result = if (200..300).contains(&status) {
        parse_grant(descriptor.provider, status, body, started)
    } else {
        Err(classify_error(status, body))
    };
    if let Err(failure) = &result {
        tracing::debug!(
            provider = %descriptor.provider,
            status,
            error_code = failure.error_code.as_deref(),
            permanent = failure.is_permanent(),
            "token request failed"
        );
    }
    result
}

fn parse_grant(
    provider: Provider,
    status: u16,
    body: &[u8],
    started: EpochMs,
) -> Result<TokenGrant, RefreshFailure> {
    let malformed = |what: &str| {
        RefreshFailure::transient(
            Some(status),
            format!("the token response (HTTP {status}) {what}; will retry"),
        )
    };
    let mut fields = match json_object(body) {
        Ok(fields) => fields,
        Err(problem) => return Err(malformed(problem)),
    };
    let Some(access_token) = take_string(&mut fields, "access_token") else {
        return Err(malformed("has no access_token"));
    };
    let expires_in = match fields.remove("expires_in").filter(|value| !value.is_null()) {
        None if provider == Provider::Codex => {
            jwt_lifetime(&access_token, started).unwrap_or(CODEX_DEFAULT_EXPIRES_IN)
        }
        value => {
            value.as_ref().and_then(|value| seconds(value, MAX_EXPIRES_IN)).unwrap_or_else(|| {
                tracing::warn!(
                    %provider,
                    "token response without a readable expires_in; assuming {}s",
                    UNKNOWN_EXPIRY_FALLBACK.as_secs()
                );
                UNKNOWN_EXPIRY_FALLBACK
            })
        }
    };
    let refresh_token = take_string(&mut fields, "refresh_token").map(Secret::new);
    let id_token = take_string(&mut fields, "id_token");
    let (account_uuid, email, account_id) = match provider {
        Provider::Anthropic => {
            let account = fields.get("account");
            let field = |key: &str| {
                let text = account?.get(key)?.as_str()?;
                (!text.is_empty()).then(|| text.to_owned())
            };
            (field("uuid"), field("email_address"), None)
        }
        Provider::Codex => {
            let claims = [id_token.as_deref(), Some(access_token.as_str())]
                .into_iter()
                .flatten()
                .filter_map(jwt::decode_payload)
                .collect::<Vec<_>>();
            let email = claims.iter().find_map(jwt::email_from_claims);
            let account_id = claims.iter().find_map(jwt::account_id_from_claims);
            (None, email, account_id)
        }
    };
    Ok(TokenGrant {
        access_token: Secret::new(access_token),
        refresh_token,
        expires_at: started.saturating_add(expires_in),
        id_token: id_token.map(Secret::new),
        account_uuid,
        email,
        account_id,
    })
}

/// How long a JWT access token lives from `started` by its `exp` claim, at most a year;
/// `None` if it is not a JWT, has no `exp`, or expired already. Codex's refresh answer may
/// lack `expires_in` (Codex CLI does not read it; it judges a token by this claim).
fn jwt_lifetime(access_token: &str, started: EpochMs) -> Option<Duration> {
    let exp = jwt::expiry(access_token)?;
    let millis = u64::try_from(exp.as_millis().checked_sub(started.as_millis())?).ok()?;
    (millis > 0).then(|| Duration::from_millis(millis).min(MAX_EXPIRES_IN))
}

fn take_string(fields: &mut Map<String, Value>, key: &str) -> Option<String> {
    match fields.remove(key) {
        Some(Value::String(text)) if !text.is_empty() => Some(text),
        _ => None,
    }
}

fn classify_error(status: u16, body: &[u8]) -> RefreshFailure {
    let (code, description) = match json_object(body) {
        Ok(fields) => oauth_error(&fields),
        Err(problem) => {
            return RefreshFailure::transient(
                Some(status),
                format!(
                    "the token endpoint answered HTTP {status} and its body {problem}; will retry"
                ),
            );
        }
    };
    let code = code.and_then(|code| clean_code(&code));
    let description = description.map(|text| clean_description(&text)).filter(|t| !t.is_empty());
    // Evidence counts only on a client error: a 5xx, 408 or 429 is the server's trouble
    // whatever its body says.
    let client_error = (400..500).contains(&status) && status != 408 && status != 429;
    let reason = client_error
        .then(|| {
            code.as_deref()
                .and_then(PermanentReason::from_code)
                .or_else(|| description.as_deref().and_then(PermanentReason::from_message))
        })
        .flatten();
    let detail = match (&code, &description) {
        (Some(code), Some(text)) => format!("{code}: {text}"),
        (Some(code), None) => code.clone(),
        (None, Some(text)) => text.clone(),
        (None, None) => "no OAuth error in the body".to_owned(),
    };
    let (kind, message) = match reason {
        Some(reason) => (
            FailureKind::Permanent(reason),
            format!(
                "the token endpoint rejected the grant (HTTP {status}, {detail}); log in again"
            ),
        ),
        None => (
            FailureKind::Transient,
            format!("the token endpoint answered HTTP {status} ({detail}); will retry"),
        ),
    };
    RefreshFailure { kind, status: Some(status), error_code: code, message }
}

/// An OAuth error code as it may appear in a message: short, `[A-Za-z0-9_.:-]`. Anything else
/// is dropped (it is not a code, and could be anything).
fn clean_code(code: &str) -> Option<String> {
    let code = code.trim();
    let plain = code.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b));
    (plain && !code.is_empty() && code.len() <= 64).then(|| code.to_owned())
}

/// An `error_description` made safe for a message: control characters become spaces, words
/// that look like tokens become `[redacted]`, and the text is cut at 200 characters.
fn clean_description(text: &str) -> String {
    let words: Vec<String> = text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|word| !word.is_empty())
        .map(|word| if looks_like_token(word) { "[redacted]".to_owned() } else { word.to_owned() })
        .collect();
    let joined = words.join(" ");
    if joined.chars().count() <= MAX_DESCRIPTION_CHARS {
        return joined;
    }
    let mut cut: String = joined.chars().take(MAX_DESCRIPTION_CHARS).collect();
    cut.push('…');
    cut
}

/// A word that could be a token or a key: at least 20 characters of the token alphabets
/// (base64url, JWT, `sk-ant-…`) with a digit among them, or at least 32 such characters.
fn looks_like_token(word: &str) -> bool {
    let core = word.trim_matches(|c: char| "'\"`()[]{}<>,;:!?".contains(c));
    let tokenish = |c: char| c.is_ascii_alphanumeric() || "-_.~+/=".contains(c);
    let len = core.chars().count();
    core.chars().all(tokenish)
        && (len >= 32 || (len >= 20 && core.chars().any(|c| c.is_ascii_digit())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_are_cleaned() {
        assert_eq!(
            clean_description("Invalid 'refresh_token' in\nrequest."),
            "Invalid 'refresh_token' in request."
        );
        assert_eq!(
            clean_description("token 'sk-ant-ort01-abcdefghijkl0123' was bad"),
            "token [redacted] was bad"
        );
        assert_eq!(clean_description(&"eyJhbGciOiJIUzI1NiJ9".repeat(3)), "[redacted]");
        assert_eq!(clean_description("internationalization"), "internationalization");
        let long = clean_description(&"word ".repeat(100));
        assert_eq!(long.chars().count(), MAX_DESCRIPTION_CHARS + 1);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn codes_are_plain_or_dropped() {
        assert_eq!(clean_code(" invalid_grant ").as_deref(), Some("invalid_grant"));
        assert_eq!(clean_code("has spaces"), None);
        assert_eq!(clean_code(&"a".repeat(65)), None);
        assert_eq!(clean_code(""), None);
    }

    #[test]
    fn message_patterns() {
        for (text, reason) in [
            ("Refresh token is invalid", Some(PermanentReason::InvalidGrant)),
            ("Invalid refresh token", Some(PermanentReason::InvalidGrant)),
            ("refresh_token expired", Some(PermanentReason::RefreshTokenExpired)),
            ("The refresh token has been revoked", Some(PermanentReason::Revoked)),
            ("This refresh token is no longer valid", Some(PermanentReason::InvalidGrant)),
            ("Your refresh token was already used", Some(PermanentReason::RefreshTokenReused)),
            ("refresh token required", None),
            ("invalid request", None),
            ("auth header invalid", None),
        ] {
            assert_eq!(PermanentReason::from_message(text), reason, "{text}");
        }
    }
}
