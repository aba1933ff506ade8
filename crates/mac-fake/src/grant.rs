//! What a token exchange grants ([`FakeGrant`]) and the unsigned JWTs the fake issues.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// What a successful token exchange issues: the shape of the access token, its lifetime, the
/// account facts the provider reports and whether refresh tokens rotate.
#[derive(Clone, Debug, PartialEq)]
pub struct FakeGrant {
    /// Opaque access tokens are `<prefix><n>` with a fake-wide counter `n`; with
    /// [`FakeGrant::id_token_claims`] the prefix is the JWT's `jti` prefix instead.
    pub access_token_prefix: String,
    /// The `expires_in` answered, in seconds; the access token stops being valid after it.
    pub expires_in: u64,
    /// Anthropic: `account.uuid` of the token response (and of the default profile).
    pub account_uuid: Option<String>,
    /// Anthropic: `account.email_address` of the token response (and of the default profile).
    pub email: Option<String>,
    /// OpenAI: the claims of the `id_token`. When set, the access token is an unsigned JWT of
    /// the same claims plus `jti`, `iat` and `exp`, so account id, email and plan can be read
    /// from either token (see [`codex_claims`]).
    pub id_token_claims: Option<Value>,
    /// `true`: each refresh issues a new refresh token and spends the old one. `false`: the
    /// refresh token stays valid and the response carries no `refresh_token`.
    pub rotate: bool,
    /// This account's usage body (Anthropic `/api/oauth/usage` or Codex `/backend-api/wham/usage`);
    /// `None` uses the fake-wide body.
    pub usage: Option<Value>,
    /// This account's Anthropic profile body; `None` uses the fake-wide body or one derived from
    /// `email` and `account_uuid`.
    pub profile: Option<Value>,
}

impl Default for FakeGrant {
    /// Opaque `fake-access-<n>` tokens valid one hour, rotating refresh tokens, no account facts.
    fn default() -> Self {
        Self {
            access_token_prefix: "fake-access-".into(),
            expires_in: 3600,
            account_uuid: None,
            email: None,
            id_token_claims: None,
            rotate: true,
            usage: None,
            profile: None,
        }
    }
}

impl FakeGrant {
    /// An Anthropic account: the token response carries `account.uuid` and `email_address`.
    pub fn anthropic(account_uuid: &str, email: &str) -> Self {
        Self {
            account_uuid: Some(account_uuid.into()),
            email: Some(email.into()),
            ..Self::default()
        }
    }

    /// A ChatGPT account: `id_token` and access token carry [`codex_claims`].
    pub fn codex(account_id: &str, email: &str, plan: &str) -> Self {
        Self {
            email: Some(email.into()),
            id_token_claims: Some(codex_claims(account_id, email, plan)),
            ..Self::default()
        }
    }

    /// The plan claim (`chatgpt_plan_type`) of the id-token claims, if any.
    pub(crate) fn codex_plan(&self) -> Option<&str> {
        self.id_token_claims.as_ref()?.get(AUTH_CLAIM)?.get("chatgpt_plan_type")?.as_str()
    }
}

const AUTH_CLAIM: &str = "https://api.openai.com/auth";
const PROFILE_CLAIM: &str = "https://api.openai.com/profile";

/// An unsigned JWT: `base64url(header).base64url(claims).sig`, header `{"alg":"none"}`. Parsers
/// that skip the signature check (D21) read the claims.
pub fn jwt(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.sig")
}

/// The claims ChatGPT puts in its tokens: account id and plan under
/// `https://api.openai.com/auth`, email under `https://api.openai.com/profile` and at the top.
pub fn codex_claims(account_id: &str, email: &str, plan: &str) -> Value {
    json!({
        AUTH_CLAIM: { "chatgpt_account_id": account_id, "chatgpt_plan_type": plan },
        PROFILE_CLAIM: { "email": email },
        "email": email,
    })
}

/// The PKCE S256 challenge of `verifier`: base64url (no padding) of its SHA-256.
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// `claims` (an object, else an empty one) with `extra` fields set.
pub(crate) fn with_fields(claims: &Value, extra: &[(&str, Value)]) -> Value {
    let mut object = claims.as_object().cloned().unwrap_or_default();
    for (name, value) in extra {
        object.insert((*name).to_owned(), value.clone());
    }
    Value::Object(object)
}
