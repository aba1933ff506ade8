//! Codex's browser login: PKCE, a loopback callback server on port 1455 that
//! receives the browser's redirect, and the code exchange with the same redirect URI. When no
//! browser can reach this machine's loopback (SSH, containers), the manual mode prints the
//! authorize URL with the registered redirect URI and reads the redirect URL the user copies
//! from the browser's address bar.

use std::time::Duration;

use mac_storage::{Provider, Secret};
use snafu::ResultExt;
use url::Url;

use super::{
    Identity, LoginError, LoginOutcome, RandomnessSnafu, TokenExchangeSnafu, credentials,
    expect_provider,
};
use crate::{
    AdapterClient, CallbackError, CallbackServer, CodeExchange, Pkce, ProviderDescriptor,
    TokenGrant, code_from_redirect_url, codex_profile, generate_state,
};

/// How long the browser login waits for the callback by default: 5 minutes, as in the seed.
pub const CALLBACK_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// A started browser login: the callback server listens until [`CodexBrowserLogin::wait`]
/// returns. `Debug` shows no verifier.
#[derive(Debug)]
pub struct CodexBrowserLogin {
    server: CallbackServer,
    pkce: Pkce,
    state: String,
    redirect_uri: Url,
}

impl CodexBrowserLogin {
    /// Listens on `127.0.0.1:port` (`descriptor.callback_port` normally, `0` in tests) — or,
    /// when `port` is the descriptor's `callback_port` and another program holds it (Codex
    /// CLI's own login, a second `mac login`), on `callback_fallback_port` as Codex CLI does —
    /// and returns the URL to open: `authorize_url` with `response_type=code`, `client_id`,
    /// `redirect_uri` (this server's), `scope`, `code_challenge`, `code_challenge_method=S256`,
    /// `id_token_add_organizations=true`, `codex_cli_simplified_flow=true`, `state` and
    /// `originator`, in that order.
    pub async fn start(
        descriptor: &ProviderDescriptor,
        port: u16,
    ) -> Result<(Self, Url), LoginError> {
        expect_provider(Provider::Codex, descriptor.provider)?;
        let pkce = Pkce::generate().context(RandomnessSnafu)?;
        let state = generate_state().context(RandomnessSnafu)?;
        let server = bind(descriptor, port).await?;
        let redirect_uri = server.redirect_uri();
        let url = authorize_url(descriptor, &redirect_uri, &pkce, &state);
        Ok((Self { server, pkce, state, redirect_uri }, url))
    }

    /// The redirect URI the authorize URL names (this server's).
    pub fn redirect_uri(&self) -> &Url {
        &self.redirect_uri
    }

    /// Waits up to `timeout` ([`CALLBACK_TIMEOUT`] normally) for the browser's redirect, then
    /// exchanges the code with the same redirect URI. The identity comes from the grant's JWT
    /// claims (account id, email) and the plan from the access token's claims.
    pub async fn wait(
        self,
        client: &AdapterClient,
        timeout: Duration,
    ) -> Result<LoginOutcome, LoginError> {
        expect_provider(Provider::Codex, client.descriptor().provider)?;
        let Self { server, pkce, state, redirect_uri } = self;
        let callback = server.wait(&state, timeout).await?;
        exchange(client, &callback.code, &state, &pkce, &redirect_uri).await
    }
}

/// A started manual login: no server; the user pastes the URL the browser was redirected to
/// (`http://localhost:1455/auth/callback?code=…&state=…`, a page that fails to load).
#[derive(Debug)]
pub struct CodexManualLogin {
    pkce: Pkce,
    state: String,
    redirect_uri: Url,
}

impl CodexManualLogin {
    /// The authorize URL with the descriptor's registered redirect URI
    /// (`http://localhost:1455/auth/callback`); same query as the browser login.
    pub fn start(descriptor: &ProviderDescriptor) -> Result<(Self, Url), LoginError> {
        expect_provider(Provider::Codex, descriptor.provider)?;
        let pkce = Pkce::generate().context(RandomnessSnafu)?;
        let state = generate_state().context(RandomnessSnafu)?;
        let redirect_uri = descriptor.endpoints.redirect_uri.clone();
        let url = authorize_url(descriptor, &redirect_uri, &pkce, &state);
        Ok((Self { pkce, state, redirect_uri }, url))
    }

    /// Reads the pasted redirect URL by the callback server's rules (a wrong `state`, an
    /// `error`, no `code` fail) and exchanges the code.
    pub async fn finish(
        self,
        client: &AdapterClient,
        pasted_redirect_url: &str,
    ) -> Result<LoginOutcome, LoginError> {
        expect_provider(Provider::Codex, client.descriptor().provider)?;
        let callback = code_from_redirect_url(pasted_redirect_url, &self.state)?;
        exchange(client, &callback.code, &self.state, &self.pkce, &self.redirect_uri).await
    }
}

/// The callback server on `port`, else on the descriptor's fallback port when `port` is the
/// registered one and taken. Codex CLI first asks a login already on the port to cancel; mac
/// does not, as that login may be the user's other one still waiting for its browser.
async fn bind(descriptor: &ProviderDescriptor, port: u16) -> Result<CallbackServer, LoginError> {
    match CallbackServer::bind(port).await {
        Err(CallbackError::Bind { source, .. })
            if source.kind() == std::io::ErrorKind::AddrInUse
                && port == descriptor.callback_port
                && descriptor.callback_fallback_port.is_some_and(|f| f != port) =>
        {
            let fallback = descriptor.callback_fallback_port.unwrap_or(port);
            tracing::warn!(port, fallback, "the login callback port is taken; using the fallback");
            Ok(CallbackServer::bind(fallback).await?)
        }
        bound => Ok(bound?),
    }
}

fn authorize_url(
    descriptor: &ProviderDescriptor,
    redirect_uri: &Url,
    pkce: &Pkce,
    state: &str,
) -> Url {
    let mut url = descriptor.endpoints.authorize_url.clone();
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", &descriptor.client_id)
            .append_pair("redirect_uri", redirect_uri.as_str())
            .append_pair("scope", &descriptor.scopes)
            .append_pair("code_challenge", &pkce.challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("id_token_add_organizations", "true")
            .append_pair("codex_cli_simplified_flow", "true")
            .append_pair("state", state);
        if let Some(originator) = descriptor.originator.as_deref() {
            query.append_pair("originator", originator);
        }
    }
    url
}

async fn exchange(
    client: &AdapterClient,
    code: &Secret,
    state: &str,
    pkce: &Pkce,
    redirect_uri: &Url,
) -> Result<LoginOutcome, LoginError> {
    let exchange = CodeExchange { code, state, verifier: &pkce.verifier, redirect_uri };
    let grant = client.exchange_code(&exchange).await.context(TokenExchangeSnafu)?;
    codex_outcome(grant)
}

/// A Codex grant as a login outcome: account id and email from the JWT claims (id token
/// first), the plan from the access token's claims (`free` when it names none).
pub(crate) fn codex_outcome(grant: TokenGrant) -> Result<LoginOutcome, LoginError> {
    let credentials = credentials(&grant, Provider::Codex)?;
    let profile = codex_profile(&grant.access_token);
    let identity = Identity {
        email: grant.email.or(profile.email),
        plan_tier: Some(profile.plan_tier),
        account_uuid: None,
        account_id: grant.account_id.or(profile.account_id),
    };
    tracing::info!(provider = "codex", plan = identity.plan_tier.as_deref(), "logged in");
    Ok(LoginOutcome { credentials, identity })
}
