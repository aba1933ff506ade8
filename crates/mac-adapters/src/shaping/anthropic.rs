//! Anthropic Messages requests with an OAuth token, shaped as the seed's Claude plugin shaped them.

use http::HeaderValue;
use http::header::USER_AGENT;
use mac_storage::Secret;

use super::{HttpRequest, authorize, branding, on_base};
use crate::ProviderDescriptor;
use crate::headers::{ANTHROPIC_BETA, BadHeaderValue};

/// Options of [`shape_anthropic`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AnthropicShaping {
    /// The seed's OpenCode body transforms (off by default): in `system` text, `OpenCode`
    /// becomes `Claude Code` and other spellings of `opencode` become `Claude` (not after a
    /// `/`, so paths survive); the descriptor's tool prefix (`mcp_`) is put in front of every
    /// `tools[].name` and every `tool_use` name in `messages` (never twice). Strip it from
    /// responses with [`crate::ToolPrefixStripper`]. A body that is not a JSON object is
    /// left alone, and so is one that needs no change.
    pub branding_transforms: bool,
}

/// Shapes a request for Anthropic's API with `access_token`:
///
/// - `authorization: Bearer <token>` (the caller's `Authorization` and `x-api-key` dropped);
/// - `anthropic-beta`: the descriptor's `request_betas`, then the caller's betas (all
///   `anthropic-beta` headers, comma-split, trimmed), without duplicates, order kept, as one
///   value (a descriptor beta that cannot be sent as a header is left out);
/// - `user-agent`: the descriptor's (`mac` if it cannot be sent as a header);
/// - the URL on `api_base_url`, and a path of exactly `/v1/messages` without a `beta` query
///   parameter gains `beta=true`;
/// - the body: untouched unless [`AnthropicShaping::branding_transforms`].
///
/// Other headers pass through. Fails only when the token cannot be sent as a header.
pub fn shape_anthropic(
    request: &HttpRequest,
    descriptor: &ProviderDescriptor,
    access_token: &Secret,
    options: AnthropicShaping,
) -> Result<HttpRequest, BadHeaderValue> {
    let mut headers = request.headers.clone();
    authorize(&mut headers, access_token)?;
    // Betas are compared as bytes: a caller's value need not be UTF-8, and every piece of a
    // valid value (split at commas, trimmed) joins into a valid value again.
    let required = descriptor
        .request_betas
        .iter()
        .map(String::as_bytes)
        .filter(|beta| HeaderValue::from_bytes(beta).is_ok());
    let incoming = request
        .headers
        .get_all(ANTHROPIC_BETA)
        .into_iter()
        .flat_map(|value| value.as_bytes().split(|&b| b == b','));
    let mut betas: Vec<&[u8]> = Vec::new();
    for beta in required.chain(incoming) {
        let beta = beta.trim_ascii();
        if !beta.is_empty() && !betas.contains(&beta) {
            betas.push(beta);
        }
    }
    match HeaderValue::from_bytes(&betas.join(&b","[..])) {
        Ok(joined) if !betas.is_empty() => {
            headers.insert(ANTHROPIC_BETA, joined);
        }
        _ => {
            headers.remove(ANTHROPIC_BETA);
        }
    }
    headers.insert(USER_AGENT, descriptor.user_agent_value());

    let mut url = on_base(&request.url, &descriptor.endpoints.api_base_url);
    if request.url.path() == "/v1/messages" && !request.url.query_pairs().any(|(k, _)| k == "beta")
    {
        url.query_pairs_mut().append_pair("beta", "true");
    }

    let body = if options.branding_transforms {
        branding::transform(&request.body, &descriptor.tool_prefix)
    } else {
        request.body.clone()
    };
    Ok(HttpRequest { method: request.method.clone(), url, headers, body })
}
