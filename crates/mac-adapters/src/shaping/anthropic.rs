//! Anthropic Messages requests with an OAuth token, shaped as the seed's Claude plugin shaped them.

use mac_storage::Secret;

use super::{HttpRequest, authorize, branding, on_base};
use crate::ProviderDescriptor;

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
///   `anthropic-beta` headers, comma-split, trimmed), without duplicates, order kept;
/// - `user-agent`: the descriptor's;
/// - the URL on `api_base_url`, and a path of exactly `/v1/messages` without a `beta` query
///   parameter gains `beta=true`;
/// - the body: untouched unless [`AnthropicShaping::branding_transforms`].
///
/// Other headers pass through.
pub fn shape_anthropic(
    request: &HttpRequest,
    descriptor: &ProviderDescriptor,
    access_token: &Secret,
    options: AnthropicShaping,
) -> HttpRequest {
    let mut headers = request.headers.clone();
    authorize(&mut headers, access_token);
    let mut betas: Vec<&str> = Vec::new();
    let incoming = request.headers.get_all("anthropic-beta").flat_map(|value| value.split(','));
    for beta in descriptor.request_betas.iter().map(String::as_str).chain(incoming) {
        let beta = beta.trim();
        if !beta.is_empty() && !betas.contains(&beta) {
            betas.push(beta);
        }
    }
    if betas.is_empty() {
        headers.remove("anthropic-beta");
    } else {
        headers.set("anthropic-beta", betas.join(","));
    }
    headers.set("user-agent", descriptor.user_agent.as_str());

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
    HttpRequest { method: request.method.clone(), url, headers, body }
}
