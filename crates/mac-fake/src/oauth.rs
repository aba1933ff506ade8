//! The OAuth endpoints: token exchange (refresh and authorization code with PKCE), the
//! authorize page and Anthropic's code page.

use std::collections::HashMap;

use serde_json::{Value, json};
use url::Url;

use super::endpoint::RecordedRequest;
use super::grant::{FakeGrant, pkce_challenge};
use super::server::Reply;
use super::state::{Flavor, RefreshStatus, State, oauth_error};
use super::{ANTHROPIC_CLIENT_ID, OPENAI_CLIENT_ID};

/// What `GET /oauth/authorize` does with the next login.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AuthorizeOutcome {
    /// Redirect to `redirect_uri?code=<fresh code>&state=<state>`.
    #[default]
    Approve,
    /// Redirect to `redirect_uri?error=access_denied&error_description=…&state=<state>`.
    Deny,
    /// Approve, but redirect with a state other than the one received.
    WrongState,
}

/// An authorization code the token endpoint accepts once.
#[derive(Clone, Debug)]
pub(crate) struct CodeEntry {
    pub(crate) grant: FakeGrant,
    /// When set, the exchange must send exactly this `redirect_uri`.
    pub(crate) redirect_uri: Option<String>,
    /// `(method, challenge)` seen at authorize; when set, the exchange must send a matching
    /// `code_verifier`.
    pub(crate) challenge: Option<(String, String)>,
    /// The state of the authorize request; an Anthropic exchange sending another is refused.
    pub(crate) state: Option<String>,
    pub(crate) used: bool,
}

const INVALID_REFRESH: &str = "Refresh token is invalid, expired or already used";
const REUSED_MESSAGE: &str = "Your refresh token has already been used to generate a new access \
                              token. Please try signing in again.";
const REVOKED_MESSAGE: &str =
    "Your refresh token has been invalidated. Please try signing in again.";

impl State {
    /// `POST /v1/oauth/token` (Anthropic, JSON) and `POST /oauth/token` (OpenAI, form or JSON).
    pub(crate) fn token(&mut self, request: &RecordedRequest, flavor: Flavor) -> Reply {
        let params = match token_params(request, flavor) {
            Ok(params) => params,
            Err(reply) => return reply,
        };
        let client_id = match flavor {
            Flavor::Anthropic => ANTHROPIC_CLIENT_ID,
            Flavor::OpenAi => OPENAI_CLIENT_ID,
        };
        if params.get("client_id").map(String::as_str) != Some(client_id) {
            return oauth_error(flavor, 401, "invalid_client", "Client authentication failed");
        }
        match params.get("grant_type").map(String::as_str) {
            Some("refresh_token") => self.refresh_grant(&params, flavor),
            Some("authorization_code") => self.code_grant(&params, flavor),
            _ => oauth_error(flavor, 400, "unsupported_grant_type", "Unsupported grant_type"),
        }
    }

    fn refresh_grant(&mut self, params: &HashMap<String, String>, flavor: Flavor) -> Reply {
        let Some(token) = params.get("refresh_token") else {
            return oauth_error(flavor, 400, "invalid_request", "refresh_token is required");
        };
        let Some(entry) = self.refresh.get(token).cloned() else {
            return oauth_error(flavor, 400, "invalid_grant", INVALID_REFRESH);
        };
        match (entry.status, flavor) {
            (RefreshStatus::Live, _) => {
                let issued = self.issue(&entry.grant, Some(token));
                Reply::json(200, &State::token_body(&issued, flavor))
            }
            (_, Flavor::Anthropic) => oauth_error(flavor, 400, "invalid_grant", INVALID_REFRESH),
            (RefreshStatus::Spent, Flavor::OpenAi) => {
                oauth_error(flavor, 401, "refresh_token_reused", REUSED_MESSAGE)
            }
            (RefreshStatus::Revoked, Flavor::OpenAi) => {
                oauth_error(flavor, 401, "refresh_token_invalidated", REVOKED_MESSAGE)
            }
        }
    }

    fn code_grant(&mut self, params: &HashMap<String, String>, flavor: Flavor) -> Reply {
        let invalid = |message: &str| oauth_error(flavor, 400, "invalid_grant", message);
        let Some(code) = params.get("code") else {
            return oauth_error(flavor, 400, "invalid_request", "code is required");
        };
        let Some(entry) = self.codes.get(code) else {
            return invalid("Invalid authorization code");
        };
        if entry.used {
            return invalid("Authorization code already used");
        }
        if let Some(expected) = &entry.redirect_uri
            && params.get("redirect_uri") != Some(expected)
        {
            return invalid("redirect_uri does not match the authorization request");
        }
        if let Some((method, challenge)) = &entry.challenge {
            let Some(verifier) = params.get("code_verifier") else {
                return invalid("code_verifier is required");
            };
            let computed = if method.eq_ignore_ascii_case("plain") {
                verifier.clone()
            } else {
                pkce_challenge(verifier)
            };
            if &computed != challenge {
                return invalid("PKCE verification failed");
            }
        }
        if flavor == Flavor::Anthropic
            && let (Some(sent), Some(expected)) = (params.get("state"), &entry.state)
            && sent != expected
        {
            return invalid("state does not match the authorization request");
        }
        let grant = entry.grant.clone();
        if let Some(entry) = self.codes.get_mut(code) {
            entry.used = true;
        }
        let issued = self.issue(&grant, None);
        Reply::json(200, &State::token_body(&issued, flavor))
    }

    /// `GET /oauth/authorize`: records nothing beyond the request log and redirects.
    pub(crate) fn authorize(&mut self, request: &RecordedRequest) -> Reply {
        let query: HashMap<String, String> = request.query_pairs().into_iter().collect();
        let flat = |status: u16, code: &str, message: &str| {
            Reply::json(status, &json!({ "error": code, "error_description": message }))
        };
        let client_id = query.get("client_id").map(String::as_str);
        if client_id != Some(ANTHROPIC_CLIENT_ID) && client_id != Some(OPENAI_CLIENT_ID) {
            return flat(400, "invalid_client", "Unknown client_id");
        }
        if query.get("response_type").map(String::as_str) != Some("code") {
            return flat(400, "unsupported_response_type", "response_type must be code");
        }
        let Some(redirect_uri) = query.get("redirect_uri") else {
            return flat(400, "invalid_request", "redirect_uri is required");
        };
        let Ok(mut location) = Url::parse(redirect_uri) else {
            return flat(400, "invalid_request", "redirect_uri is not a URL");
        };
        let state = query.get("state").cloned();
        let mut pairs: Vec<(&str, String)> = Vec::new();
        match self.authorize_outcome {
            AuthorizeOutcome::Deny => {
                pairs.push(("error", "access_denied".into()));
                pairs.push(("error_description", "The user denied the request".into()));
                pairs.extend(state.clone().map(|s| ("state", s)));
            }
            outcome @ (AuthorizeOutcome::Approve | AuthorizeOutcome::WrongState) => {
                let code = format!("fake-code-{}", self.next_id());
                let challenge = query.get("code_challenge").map(|challenge| {
                    let method = query.get("code_challenge_method").cloned();
                    (method.unwrap_or_else(|| "plain".into()), challenge.clone())
                });
                self.codes.insert(
                    code.clone(),
                    CodeEntry {
                        grant: self.authorize_grant.clone(),
                        redirect_uri: Some(redirect_uri.clone()),
                        challenge,
                        state: state.clone(),
                        used: false,
                    },
                );
                pairs.push(("code", code));
                let state = if outcome == AuthorizeOutcome::WrongState {
                    Some(format!("{}-wrong", state.as_deref().unwrap_or("state")))
                } else {
                    state
                };
                pairs.extend(state.map(|s| ("state", s)));
            }
        }
        location.query_pairs_mut().extend_pairs(pairs);
        Reply::Full {
            status: 302,
            headers: vec![("location".into(), location.into())],
            body: Vec::new(),
        }
    }

    /// `GET /oauth/code/callback`: Anthropic's page showing `code#state` for the user to paste.
    pub(crate) fn code_page(request: &RecordedRequest) -> Reply {
        if let Some(error) = request.query_param("error") {
            return Reply::text(400, &format!("Authorization failed: {error}"));
        }
        match (request.query_param("code"), request.query_param("state")) {
            (Some(code), Some(state)) => Reply::text(200, &format!("{code}#{state}")),
            (Some(code), None) => Reply::text(200, &code),
            (None, _) => Reply::text(400, "Missing authorization code"),
        }
    }
}

/// The token request's parameters: a JSON object for Anthropic; a form (or, as OpenAI also
/// accepts, a JSON object) for OpenAI. Non-string JSON values are kept in their JSON text.
fn token_params(
    request: &RecordedRequest,
    flavor: Flavor,
) -> Result<HashMap<String, String>, Reply> {
    let is_json = request.header("content-type").is_some_and(|ct| ct.contains("json"));
    if flavor == Flavor::OpenAi && !is_json {
        return Ok(request.form().into_iter().collect());
    }
    match request.json() {
        Some(Value::Object(object)) => Ok(object
            .into_iter()
            .filter_map(|(name, value)| match value {
                Value::Null => None,
                Value::String(s) => Some((name, s)),
                other => Some((name, other.to_string())),
            })
            .collect()),
        _ => Err(oauth_error(flavor, 400, "invalid_request", "The body must be a JSON object")),
    }
}
