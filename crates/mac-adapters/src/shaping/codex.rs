//! Codex (ChatGPT backend) requests with an OAuth token, shaped as the seed's Codex plugin shaped
//! them.

use http::header::USER_AGENT;
use mac_storage::Secret;

use super::{HttpRequest, authorize, on_base};
use crate::ProviderDescriptor;
use crate::headers::{self, BadHeaderValue, CHATGPT_ACCOUNT_ID, ORIGINATOR};

/// Shapes a request for the ChatGPT Codex backend with `access_token`:
///
/// - `authorization: Bearer <token>` (the caller's `Authorization` and `x-api-key` dropped);
/// - `originator` and `User-Agent`: the descriptor's (a caller's `originator` stays only if
///   the descriptor names none; one that cannot be sent as a header is left out, a
///   `User-Agent` that cannot becomes `mac`);
/// - `ChatGPT-Account-Id: <account_id>` when `account_id` is non-empty, else no such header
///   (a caller's is removed too: it would name another account);
/// - the URL: a path containing `/v1/responses` or `/chat/completions` becomes the
///   descriptor's `responses_url` with the request's query (as the seed; a longer path such
///   as `/v1/responses/<id>` is rewritten too). Every other path keeps its path and query on
///   `api_base_url` (the seed left such URLs unchanged, but a request reaching the gateway
///   has a loopback origin and must go to the provider).
///
/// Other headers and the body pass through. Fails only when the token or the account id
/// cannot be sent as a header.
pub fn shape_codex(
    request: &HttpRequest,
    descriptor: &ProviderDescriptor,
    access_token: &Secret,
    account_id: Option<&str>,
) -> Result<HttpRequest, BadHeaderValue> {
    let mut headers = request.headers.clone();
    authorize(&mut headers, access_token)?;
    if descriptor.originator.is_some() {
        match descriptor.originator_value() {
            Some(originator) => headers.insert(ORIGINATOR, originator),
            None => headers.remove(ORIGINATOR),
        };
    }
    headers.insert(USER_AGENT, descriptor.user_agent_value());
    match account_id.filter(|id| !id.is_empty()) {
        Some(id) => headers.insert(CHATGPT_ACCOUNT_ID, headers::chatgpt_account_id(id)?),
        None => headers.remove(CHATGPT_ACCOUNT_ID),
    };

    let path = request.url.path();
    let responses = path.contains("/v1/responses") || path.contains("/chat/completions");
    let url = match &descriptor.endpoints.responses_url {
        Some(responses_url) if responses => {
            let mut url = responses_url.clone();
            url.set_query(request.url.query());
            url
        }
        _ => on_base(&request.url, &descriptor.endpoints.api_base_url),
    };
    Ok(HttpRequest { method: request.method.clone(), url, headers, body: request.body.clone() })
}
