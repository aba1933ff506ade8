//! Bearer-authenticated endpoints: usage and profile reads, Messages and Responses.

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::OAUTH_BETA;
use super::endpoint::RecordedRequest;
use super::grant::FakeGrant;
use super::script::anthropic_error;
use super::server::Reply;
use super::sse;
use super::state::State;
use super::time::{iso_in, unix_now};

const HOUR: u64 = 3600;

fn invalid_token() -> Reply {
    Reply::json(401, &anthropic_error("authentication_error", "invalid token"))
}

/// The default Anthropic usage: 12 % of the 5-hour window (resets in 2 h), 34 % of the week
/// (resets in 3 days), no Sonnet window.
pub(crate) fn default_anthropic_usage() -> Value {
    json!({
        "five_hour": { "utilization": 12.0, "resets_at": iso_in(Duration::from_secs(2 * HOUR)) },
        "seven_day": { "utilization": 34.0, "resets_at": iso_in(Duration::from_secs(72 * HOUR)) },
        "seven_day_sonnet": null,
    })
}

/// The default Codex usage: the grant's plan (else `plus`), 12 % of the primary window (resets
/// in 2 h), 34 % of the secondary one (resets in 3 days).
pub(crate) fn default_codex_usage(grant: &FakeGrant) -> Value {
    json!({
        "plan_type": grant.codex_plan().unwrap_or("plus"),
        "rate_limit": {
            "primary_window": {
                "used_percent": 12.0, "limit_window_seconds": 5 * HOUR,
                "reset_after_seconds": 2 * HOUR,
            },
            "secondary_window": {
                "used_percent": 34.0, "limit_window_seconds": 168 * HOUR,
                "reset_after_seconds": 72 * HOUR,
            },
        },
        "credits": null,
    })
}

/// The profile derived from a grant: its email and uuid, a Max plan.
fn derived_profile(grant: &FakeGrant) -> Value {
    let mut account = Map::new();
    if let Some(uuid) = &grant.account_uuid {
        account.insert("uuid".into(), json!(uuid));
    }
    if let Some(email) = &grant.email {
        account.insert("email".into(), json!(email));
    }
    account.insert("has_claude_max".into(), json!(true));
    account.insert("has_claude_pro".into(), json!(false));
    json!({ "account": account })
}

fn has_oauth_beta(request: &RecordedRequest) -> bool {
    request
        .headers
        .iter()
        .filter(|(name, _)| name == "anthropic-beta")
        .flat_map(|(_, value)| value.split(','))
        .any(|beta| beta.trim() == OAUTH_BETA)
}

impl State {
    /// The grant of the request's bearer token, or the answer refusing it.
    fn authenticate(&self, request: &RecordedRequest) -> Result<FakeGrant, Reply> {
        self.valid_access(request.bearer()).ok_or_else(invalid_token)
    }

    /// `GET /api/oauth/usage` and `GET /api/oauth/profile`: a valid bearer and the OAuth beta.
    pub(crate) fn anthropic_account(&self, request: &RecordedRequest, profile: bool) -> Reply {
        let grant = match self.authenticate(request) {
            Ok(grant) => grant,
            Err(reply) => return reply,
        };
        if !has_oauth_beta(request) {
            let message = format!("anthropic-beta: {OAUTH_BETA} is required");
            return Reply::json(400, &anthropic_error("invalid_request_error", &message));
        }
        let body = if profile {
            grant
                .profile
                .clone()
                .or_else(|| self.anthropic_profile.clone())
                .unwrap_or_else(|| derived_profile(&grant))
        } else {
            grant
                .usage
                .clone()
                .or_else(|| self.anthropic_usage.clone())
                .unwrap_or_else(default_anthropic_usage)
        };
        Reply::json(200, &body)
    }

    /// `GET /backend-api/wham/usage`: a valid bearer; `ChatGPT-Account-Id` is only recorded.
    pub(crate) fn codex_usage(&self, request: &RecordedRequest) -> Reply {
        match self.authenticate(request) {
            Ok(grant) => {
                let body = grant
                    .usage
                    .clone()
                    .or_else(|| self.codex_usage.clone())
                    .unwrap_or_else(|| default_codex_usage(&grant));
                Reply::json(200, &body)
            }
            Err(reply) => reply,
        }
    }

    /// `POST /v1/messages` and the Responses paths: a valid bearer, a JSON body; streamed when
    /// the body says `"stream": true`.
    pub(crate) fn model_call(&mut self, request: &RecordedRequest, responses: bool) -> Reply {
        if let Err(reply) = self.authenticate(request) {
            return reply;
        }
        let Some(Value::Object(body)) = request.json() else {
            let message = "The request body is not a JSON object";
            return Reply::json(400, &anthropic_error("invalid_request_error", message));
        };
        let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
        let default_model = if responses { "gpt-fake" } else { "claude-fake" };
        let model = body.get("model").and_then(Value::as_str).unwrap_or(default_model);
        let n = self.next_id();
        let text = self.reply_text.clone();
        match (responses, stream) {
            (false, false) => {
                Reply::json(200, &sse::anthropic_message(&format!("msg_fake_{n}"), model, &text))
            }
            (false, true) => Reply::sse(
                sse::anthropic_stream(&format!("msg_fake_{n}"), model, &text),
                self.stream_pause,
            ),
            (true, false) => Reply::json(
                200,
                &sse::openai_response(&format!("resp_fake_{n}"), model, &text, unix_now(), true),
            ),
            (true, true) => Reply::sse(
                sse::openai_stream(&format!("resp_fake_{n}"), model, &text, unix_now()),
                self.stream_pause,
            ),
        }
    }
}
