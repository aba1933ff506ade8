//! Anthropic's login: the browser opens the authorize URL, the user approves, Anthropic's code page
//! shows `code#state`, the user pastes it, and the code is exchanged with the PKCE verifier. Unlike
//! Claude Code's plugin, `state` is random and independent of the verifier (the plugin's reuse put
//! the verifier in the URL and gave no CSRF check), and a pasted state that differs from ours is
//! refused before any request.

use mac_storage::{Provider, Secret};
use snafu::ResultExt;
use url::Url;

use super::{
    Identity, LoginError, LoginOutcome, MalformedSnafu, RandomnessSnafu, TokenExchangeSnafu,
    credentials, expect_provider,
};
use crate::{AdapterClient, CodeExchange, Pkce, ProviderDescriptor, generate_state};

/// A started Anthropic login: the verifier and state wait here for the pasted code. `Debug`
/// shows no verifier.
#[derive(Debug)]
pub struct AnthropicLogin {
    pkce: Pkce,
    state: String,
    redirect_uri: Url,
}

impl AnthropicLogin {
    /// Starts a login: a fresh PKCE pair and `state`, and the URL to open in a browser —
    /// `authorize_url` with `code=true`, `client_id`, `response_type=code`, `redirect_uri`,
    /// `scope`, `code_challenge`, `code_challenge_method=S256` and `state`, in that order.
    pub fn start(descriptor: &ProviderDescriptor) -> Result<(Self, Url), LoginError> {
        expect_provider(Provider::Anthropic, descriptor.provider)?;
        let pkce = Pkce::generate().context(RandomnessSnafu)?;
        let state = generate_state().context(RandomnessSnafu)?;
        let redirect_uri = descriptor.endpoints.redirect_uri.clone();
        let mut url = descriptor.endpoints.authorize_url.clone();
        url.query_pairs_mut()
            .append_pair("code", "true")
            .append_pair("client_id", &descriptor.client_id)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", redirect_uri.as_str())
            .append_pair("scope", &descriptor.scopes)
            .append_pair("code_challenge", &pkce.challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("state", &state);
        Ok((Self { pkce, state, redirect_uri }, url))
    }

    /// Finishes the login with what the user pasted: `code#state` (surrounding whitespace is
    /// ignored), a bare code (this login's own state is sent with it), or the whole redirect
    /// URL. A `state` other than this login's fails with [`LoginError::StateMismatch`] before
    /// any request. The code is exchanged; the account uuid and email come from the grant, the
    /// plan from the profile endpoint — best effort: if the profile cannot be read the plan
    /// stays unknown, a warning is logged and the login still succeeds.
    pub async fn finish(
        self,
        client: &AdapterClient,
        pasted: &str,
    ) -> Result<LoginOutcome, LoginError> {
        expect_provider(Provider::Anthropic, client.descriptor().provider)?;
        let (code, state) = parse_pasted(pasted)?;
        if state.as_deref().is_some_and(|state| state != self.state) {
            return Err(LoginError::StateMismatch);
        }
        let code = Secret::new(code);
        let exchange = CodeExchange {
            code: &code,
            state: &self.state,
            verifier: &self.pkce.verifier,
            redirect_uri: &self.redirect_uri,
        };
        let grant = client.exchange_code(&exchange).await.context(TokenExchangeSnafu)?;
        let credentials = credentials(&grant, Provider::Anthropic)?;
        let profile = match client.fetch_profile(&grant.access_token).await {
            Ok(profile) => Some(profile),
            Err(err) => {
                tracing::warn!(
                    error = %err,
                    "logged in, but the profile could not be read; the plan stays unknown"
                );
                None
            }
        };
        let (profile_email, plan_tier, profile_uuid) = match profile {
            Some(profile) => (profile.email, Some(profile.plan_tier), profile.account_uuid),
            None => (None, None, None),
        };
        let identity = Identity {
            email: grant.email.or(profile_email),
            plan_tier,
            account_uuid: grant.account_uuid.or(profile_uuid),
            account_id: None,
        };
        tracing::info!(provider = "anthropic", plan = identity.plan_tier.as_deref(), "logged in");
        Ok(LoginOutcome { credentials, identity })
    }
}

/// `(code, state)` from the pasted text.
fn parse_pasted(pasted: &str) -> Result<(String, Option<String>), LoginError> {
    let text = pasted.trim();
    if text.is_empty() {
        return MalformedSnafu { problem: "it is empty; paste the `code#state` shown after login" }
            .fail();
    }
    let (code, state) = if text.starts_with("https://") || text.starts_with("http://") {
        let url = Url::parse(text).map_err(|_| LoginError::Malformed {
            problem: "it looks like a URL but does not parse; paste the `code#state` shown after login",
        })?;
        let get =
            |key: &str| url.query_pairs().find(|(k, _)| k == key).map(|(_, v)| v.into_owned());
        if let Some(error) = get("error") {
            let message = get("error_description").filter(|d| !d.is_empty()).unwrap_or(error);
            return Err(LoginError::Denied { message: message.chars().take(200).collect() });
        }
        let Some(code) = get("code") else {
            return MalformedSnafu { problem: "the URL has no `code`" }.fail();
        };
        (code, get("state").or_else(|| url.fragment().map(str::to_owned)))
    } else {
        match text.split_once('#') {
            Some((code, state)) => (code.to_owned(), Some(state.to_owned())),
            None => (text.to_owned(), None),
        }
    };
    let code = code.trim().to_owned();
    if code.is_empty() {
        return MalformedSnafu { problem: "there is no code before `#`" }.fail();
    }
    if code.chars().any(char::is_whitespace) {
        return MalformedSnafu {
            problem: "it contains spaces; paste only the `code#state` string",
        }
        .fail();
    }
    let state = state.map(|state| state.trim().to_owned()).filter(|state| !state.is_empty());
    Ok((code, state))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasted_text_forms() {
        let ok = |text: &str| parse_pasted(text).unwrap();
        assert_eq!(ok(" abc#st \n"), ("abc".to_owned(), Some("st".to_owned())));
        assert_eq!(ok("abc"), ("abc".to_owned(), None));
        assert_eq!(ok("abc#"), ("abc".to_owned(), None));
        assert_eq!(
            ok("https://console.anthropic.com/oauth/code/callback?code=c1&state=s1"),
            ("c1".to_owned(), Some("s1".to_owned()))
        );
        for bad in ["", "   ", "#state", "a b#c"] {
            assert!(matches!(parse_pasted(bad), Err(LoginError::Malformed { .. })), "{bad:?}");
        }
        assert!(matches!(
            parse_pasted("https://x/cb?error=access_denied"),
            Err(LoginError::Denied { .. })
        ));
    }
}
