//! The HTTP side of the adapters (D11–D13, D18): token refresh and code exchange, usage and profile
//! reads, all through one [`AdapterClient`] — a `reqwest::Client` built once, the provider's
//! [`ProviderDescriptor`] and an injected [`Clock`]. No process-global state: two clients (two
//! pools, two tests) never share anything.
//!
//! Every answer goes through the pure parsers of this crate ([`parse_token_response`],
//! [`parse_anthropic_usage`], [`parse_codex_usage`], [`parse_anthropic_profile`]); this module
//! only sends, reads at most 1 MiB of body, and turns transport failures into clear errors.
//! No message, log line or `Debug` output carries a token or a raw body: a network failure
//! names the host and what went wrong, a status failure the status.

use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;

use http::header::{AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use mac_storage::{Clock, Provider, Secret, SystemClock, UsageLimits};
use snafu::{ResultExt, Snafu};
use tracing::Instrument as _;
use url::Url;

use crate::TlsConfig;
use crate::headers::{self, ANTHROPIC_BETA, BadHeaderValue, CHATGPT_ACCOUNT_ID, ORIGINATOR};
use crate::{
    CodeExchange, Profile, ProfileError, ProviderDescriptor, RefreshFailure, TokenGrant,
    TokenRequestBody, UsageError, code_exchange_request, codex_profile, parse_anthropic_profile,
    parse_anthropic_usage, parse_codex_usage, parse_token_response, refresh_request,
};

/// The time a request may take, from connecting until its body is read: 30 s, the seed's refresh
/// timeout.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest response body read; a longer one is cut after one more byte, which every
/// parser refuses as "larger than 1 MiB".
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// The HTTP client could not be created (the TLS backend failed to initialise).
#[derive(Debug, Snafu)]
#[snafu(display("cannot create the HTTP client: {source}"))]
pub struct ClientBuildError {
    /// The cause.
    source: reqwest::Error,
}

/// Builds an [`AdapterClient`]: the timeout, the clock and whether proxies from the
/// environment (`HTTPS_PROXY`, …) are used.
#[derive(Debug)]
pub struct AdapterClientBuilder {
    descriptor: ProviderDescriptor,
    clock: Arc<dyn Clock>,
    timeout: Duration,
    env_proxy: bool,
    tls: Option<TlsConfig>,
}

impl AdapterClientBuilder {
    /// The time one request may take, from connecting until its body is read (default
    /// [`REQUEST_TIMEOUT`]; tests use a few hundred milliseconds).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The clock that stamps grants (`expires_at`) and usage resets (default the system clock).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Ignores proxy settings of the environment (tests talking to the loopback fake).
    #[must_use]
    pub fn no_proxy(mut self) -> Self {
        self.env_proxy = false;
        self
    }

    /// Uses `tls` (shared with the process's other clients) instead of building a TLS
    /// configuration of its own, which would load the system roots again.
    #[must_use]
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The client.
    pub fn build(self) -> Result<AdapterClient, ClientBuildError> {
        let mut builder = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.timeout)
            // Token and usage endpoints answer directly; following a redirect would resend a
            // bearer or a refresh token to wherever it points.
            .redirect(reqwest::redirect::Policy::none());
        if !self.env_proxy {
            builder = builder.no_proxy();
        }
        if let Some(tls) = &self.tls {
            builder = tls.apply(builder);
        }
        let http = builder.build().context(ClientBuildSnafu)?;
        Ok(AdapterClient {
            http,
            descriptor: self.descriptor,
            clock: self.clock,
            timeout: self.timeout,
        })
    }
}

/// One provider's HTTP client: refresh, code exchange, usage, profile. Cheap to clone (the
/// connection pool is shared between clones).
#[derive(Clone, Debug)]
pub struct AdapterClient {
    http: reqwest::Client,
    descriptor: ProviderDescriptor,
    clock: Arc<dyn Clock>,
    timeout: Duration,
}

/// A usage read: the quota windows, and the plan when the provider names it (Codex).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UsageReport {
    /// The windows, in the accounts file's shape.
    pub limits: UsageLimits,
    /// Codex's `plan_type` (`plus`, `pro`, …), if sent; always `None` for Anthropic.
    pub plan_type: Option<String>,
}

/// Why a usage or profile body could not be read.
#[derive(Clone, Debug, PartialEq, Eq, Snafu)]
pub enum BodyError {
    /// The usage body.
    #[snafu(display("{source}"))]
    Usage {
        /// What is wrong with it.
        source: UsageError,
    },
    /// The profile body.
    #[snafu(display("{source}"))]
    Profile {
        /// What is wrong with it.
        source: ProfileError,
    },
}

/// A failed usage or profile read. Messages name the provider, the request and the status or
/// the transport problem — never a token or a body.
#[derive(Debug, Snafu)]
pub enum FetchError {
    /// The endpoint answered a non-2xx status.
    #[snafu(display("the {provider} {what} request answered HTTP {status}{}", reason_suffix(*status)))]
    Status {
        /// Which provider.
        provider: Provider,
        /// `usage` or `profile`.
        what: &'static str,
        /// The HTTP status.
        status: u16,
    },
    /// No answer: connection refused, timeout, connection dropped, body cut.
    #[snafu(display("the {provider} {what} request failed: {message}"))]
    Network {
        /// Which provider.
        provider: Provider,
        /// `usage` or `profile`.
        what: &'static str,
        /// `network error: <host>: <what happened>`.
        message: String,
    },
    /// A 2xx whose body does not have the expected shape.
    #[snafu(display("{source}"))]
    Body {
        /// What is wrong with the body.
        source: BodyError,
    },
    /// The descriptor has no such endpoint (`profile_url` unset).
    #[snafu(display(
        "the {provider} descriptor has no `{key}`; set it under [providers.{provider}]"
    ))]
    NoEndpoint {
        /// Which provider.
        provider: Provider,
        /// The endpoint's config key.
        key: &'static str,
    },
    /// A value cannot be sent as an HTTP header (it holds a control character).
    #[snafu(display("{source}"), context(false))]
    BadHeader {
        /// Which header.
        source: BadHeaderValue,
    },
}

impl FetchError {
    /// The HTTP status, when the endpoint answered one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the access token was refused (401 or 403): refresh it, or log in again.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self.status(), Some(401 | 403))
    }

    /// Whether no answer arrived (network error or timeout): try again later.
    pub fn is_network(&self) -> bool {
        matches!(self, Self::Network { .. })
    }
}

fn reason_suffix(status: u16) -> String {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|code| code.canonical_reason())
        .map(|reason| format!(" {reason}"))
        .unwrap_or_default()
}

/// A response read from the wire: the status and at most [`MAX_RESPONSE_BYTES`] + 1 bytes.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

impl AdapterClient {
    /// A builder for `descriptor`'s client: [`REQUEST_TIMEOUT`], the system clock, proxies from
    /// the environment.
    pub fn builder(descriptor: ProviderDescriptor) -> AdapterClientBuilder {
        AdapterClientBuilder {
            descriptor,
            clock: Arc::new(SystemClock),
            timeout: REQUEST_TIMEOUT,
            env_proxy: true,
            tls: None,
        }
    }

    /// `descriptor`'s client with the defaults and `clock`.
    pub fn new(
        descriptor: ProviderDescriptor,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ClientBuildError> {
        Self::builder(descriptor).clock(clock).build()
    }

    /// The provider's facts this client sends by.
    pub fn descriptor(&self) -> &ProviderDescriptor {
        &self.descriptor
    }

    /// The clock stamping grants and usage.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The per-request timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Refreshes an access token: POST the refresh grant to `token_url` (JSON for
    /// Anthropic, a form for Codex) and classify the answer (D12). An empty refresh token is a
    /// permanent failure without any request; a network error, a timeout or a body that cannot
    /// be read is transient, its message naming the host and what happened.
    pub async fn refresh(&self, refresh_token: &Secret) -> Result<TokenGrant, RefreshFailure> {
        if refresh_token.is_empty() {
            tracing::warn!(provider = %self.descriptor.provider, "refresh skipped: no refresh token");
            return Err(RefreshFailure::missing_refresh_token());
        }
        let body = refresh_request(&self.descriptor, refresh_token);
        // Codex CLI refreshes through its default client, which names the `originator`; its
        // code exchanges use a bare client, so only the refresh carries it.
        self.token_request("refresh_token", body, true).await
    }

    /// Exchanges an authorization code for tokens (the end of a browser login).
    pub async fn exchange_code(
        &self,
        exchange: &CodeExchange<'_>,
    ) -> Result<TokenGrant, RefreshFailure> {
        let body = code_exchange_request(&self.descriptor, exchange);
        self.token_request("authorization_code", body, false).await
    }

    async fn token_request(
        &self,
        grant_type: &'static str,
        body: TokenRequestBody,
        with_originator: bool,
    ) -> Result<TokenGrant, RefreshFailure> {
        let span = tracing::info_span!(
            "token_request",
            provider = %self.descriptor.provider,
            grant_type,
            status = tracing::field::Empty,
            outcome = tracing::field::Empty,
        );
        async {
            let started = self.clock.now();
            let url = &self.descriptor.endpoints.token_url;
            let (content_type, body) = body.into_parts();
            let mut request = self
                .http
                .post(url.clone())
                .header(CONTENT_TYPE, content_type)
                .header(USER_AGENT, self.descriptor.user_agent_value())
                .body(body);
            if let Some(value) = self.descriptor.originator_value().filter(|_| with_originator) {
                request = request.header(ORIGINATOR, value);
            }
            let result = match self.send(url, request).await {
                Ok(answer) => {
                    tracing::Span::current().record("status", answer.status);
                    parse_token_response(&self.descriptor, answer.status, &answer.body, started)
                }
                Err(message) => Err(RefreshFailure::transient(None, message)),
            };
            let span = tracing::Span::current();
            match &result {
                Ok(_) => {
                    span.record("outcome", "ok");
                }
                Err(failure) if failure.is_permanent() => {
                    span.record("outcome", "permanent");
                    tracing::error!(%failure, "token request failed (permanent)");
                }
                Err(failure) => {
                    span.record("outcome", "transient");
                    tracing::warn!(%failure, "token request failed");
                }
            }
            result
        }
        .instrument(span)
        .await
    }

    /// Reads the account's quota. Anthropic: `GET usage_url` with the
    /// bearer and the OAuth beta. Codex: `GET usage_url` with the bearer and, when `account_id`
    /// is given and not empty, `ChatGPT-Account-Id`; primary window → `five_hour`, secondary →
    /// `seven_day`, resets = now + `reset_after_seconds`.
    pub async fn fetch_usage(
        &self,
        access: &Secret,
        account_id: Option<&str>,
    ) -> Result<UsageReport, FetchError> {
        let provider = self.descriptor.provider;
        let span = tracing::info_span!("fetch_usage", %provider, status = tracing::field::Empty);
        async {
            let url = &self.descriptor.endpoints.usage_url;
            let mut request = self.authorized_get(url, access)?;
            if provider == Provider::Codex
                && let Some(id) = account_id.filter(|id| !id.is_empty())
            {
                request = request.header(CHATGPT_ACCOUNT_ID, headers::chatgpt_account_id(id)?);
            }
            let answer = self.fetch(url, request, "usage").await?;
            let report = match provider {
                Provider::Anthropic => UsageReport {
                    limits: parse_anthropic_usage(&answer.body).map_err(usage_body)?,
                    plan_type: None,
                },
                Provider::Codex => {
                    let usage =
                        parse_codex_usage(&answer.body, self.clock.now()).map_err(usage_body)?;
                    UsageReport { limits: usage.limits, plan_type: usage.plan_type }
                }
            };
            Ok(report)
        }
        .instrument(span)
        .await
        .inspect_err(|err| tracing::warn!(%provider, error = %err, "usage read failed"))
    }

    /// Reads who the account is and its plan. Anthropic: `GET profile_url` (same headers as
    /// usage). Codex: the claims of the access token, without a request.
    pub async fn fetch_profile(&self, access: &Secret) -> Result<Profile, FetchError> {
        let provider = self.descriptor.provider;
        if provider == Provider::Codex {
            return Ok(codex_profile(access));
        }
        let Some(url) = &self.descriptor.endpoints.profile_url else {
            return NoEndpointSnafu { provider, key: "profile_url" }.fail();
        };
        let span = tracing::info_span!("fetch_profile", %provider, status = tracing::field::Empty);
        async {
            let request = self.authorized_get(url, access)?;
            let answer = self.fetch(url, request, "profile").await?;
            parse_anthropic_profile(&answer.body)
                .map_err(|source| FetchError::Body { source: BodyError::Profile { source } })
        }
        .instrument(span)
        .await
        .inspect_err(|err| tracing::warn!(%provider, error = %err, "profile read failed"))
    }

    /// `GET url` with the bearer, the `User-Agent` and (Anthropic) the OAuth beta.
    fn authorized_get(
        &self,
        url: &Url,
        access: &Secret,
    ) -> Result<reqwest::RequestBuilder, FetchError> {
        let mut request = self
            .http
            .get(url.clone())
            .header(AUTHORIZATION, headers::bearer(access)?)
            .header(USER_AGENT, self.descriptor.user_agent_value());
        if let Some(beta) = self.descriptor.oauth_beta.as_deref().filter(|b| !b.is_empty()) {
            request = request.header(ANTHROPIC_BETA, headers::value("anthropic-beta", beta)?);
        }
        Ok(request)
    }

    /// Sends a usage or profile request; a non-2xx is an error with its status.
    async fn fetch(
        &self,
        url: &Url,
        request: reqwest::RequestBuilder,
        what: &'static str,
    ) -> Result<Answer, FetchError> {
        let provider = self.descriptor.provider;
        let answer = self.send(url, request).await.map_err(|message| FetchError::Network {
            provider,
            what,
            message,
        })?;
        tracing::Span::current().record("status", answer.status);
        if !(200..300).contains(&answer.status) {
            return StatusSnafu { provider, what, status: answer.status }.fail();
        }
        Ok(answer)
    }

    /// POSTs a JSON body with the `User-Agent` (the device flow).
    pub(crate) async fn post_json(
        &self,
        url: &Url,
        body: &serde_json::Value,
    ) -> Result<Answer, String> {
        let request = self
            .http
            .post(url.clone())
            .header(CONTENT_TYPE, crate::CONTENT_TYPE_JSON)
            .header(USER_AGENT, self.descriptor.user_agent_value())
            .body(body.to_string());
        self.send(url, request).await
    }

    /// Sends and reads the body; a transport failure is its safe message.
    async fn send(&self, url: &Url, request: reqwest::RequestBuilder) -> Result<Answer, String> {
        let mut response =
            request.send().await.map_err(|err| network_message(url, &err, self.timeout))?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = MAX_RESPONSE_BYTES + 1 - body.len();
                    body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    if body.len() > MAX_RESPONSE_BYTES {
                        break;
                    }
                }
                Ok(None) => break,
                Err(err) => return Err(network_message(url, &err, self.timeout)),
            }
        }
        Ok(Answer { status, body })
    }
}

fn usage_body(source: UsageError) -> FetchError {
    FetchError::Body { source: BodyError::Usage { source } }
}

/// `network error: <host>: <what happened> (<innermost cause>)`. reqwest's own message holds
/// the URL; the causes below it (hyper, the OS) hold none, and no token is ever in one.
pub(crate) fn network_message(url: &Url, err: &reqwest::Error, timeout: Duration) -> String {
    let host = match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        (None, _) => "the provider".to_owned(),
    };
    let kind = if err.is_timeout() {
        format!("timed out after {}", human(timeout))
    } else if err.is_connect() {
        "could not connect".to_owned()
    } else if err.is_body() || err.is_decode() {
        "the response body could not be read".to_owned()
    } else {
        "the request failed".to_owned()
    };
    let mut cause = err.source();
    let mut innermost = None;
    while let Some(err) = cause {
        innermost = Some(err);
        cause = err.source();
    }
    match innermost.map(ToString::to_string).filter(|text| !text.is_empty()) {
        Some(text) => format!("network error: {host}: {kind} ({text})"),
        None => format!("network error: {host}: {kind}"),
    }
}

/// `300ms`, `30s`, `1.5s`.
pub(crate) fn human(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else if duration.as_secs() == 0 {
        format!("{}ms", duration.as_millis())
    } else {
        format!("{:.1}s", duration.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(human(Duration::from_secs(30)), "30s");
        assert_eq!(human(Duration::from_millis(300)), "300ms");
        assert_eq!(human(Duration::from_millis(1500)), "1.5s");
    }

    #[test]
    fn status_errors_classify_by_method() {
        let err = FetchError::Status { provider: Provider::Codex, what: "usage", status: 403 };
        assert!(err.is_unauthorized());
        assert_eq!(err.to_string(), "the codex usage request answered HTTP 403 Forbidden");
        let err = FetchError::Status { provider: Provider::Codex, what: "usage", status: 503 };
        assert!(!err.is_unauthorized() && !err.is_network());
    }
}
