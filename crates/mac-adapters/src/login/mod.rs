//! The login flows (SEED §2.12, §5.25): Anthropic's PKCE login with a pasted `code#state`
//! ([`AnthropicLogin`]), Codex's PKCE login through the loopback callback server
//! ([`CodexBrowserLogin`]) or a pasted redirect URL ([`CodexManualLogin`]), and Codex's device
//! flow ([`DeviceAuthorization`]). Each ends in a [`LoginOutcome`]: the credentials and who the
//! account is, ready for `AccountStore::add_account` through
//! [`LoginOutcome::into_new_account`].
//!
//! Every flow uses a fresh PKCE verifier and an independent random `state` (never the
//! verifier, SEED §5.25). Errors ([`LoginError`]) name the problem; none carries a token, a
//! code or a verifier.

mod anthropic;
mod codex;
mod device;

use std::time::Duration;

use mac_storage::{Credentials, NewAccount, Provider};
use snafu::Snafu;

pub use anthropic::AnthropicLogin;
pub use codex::{CALLBACK_TIMEOUT, CodexBrowserLogin, CodexManualLogin};
pub use device::{DEVICE_LOGIN_MAX_WAIT, DeviceAuthorization, DevicePolling};

use crate::{CallbackError, RandomnessError, RefreshFailure, TokenGrant};

/// Who a freshly logged-in account is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    /// The login email, if the provider told it.
    pub email: Option<String>,
    /// The plan tier (`max`, `pro`, `plus`, `free`, …); `None` when it could not be read.
    pub plan_tier: Option<String>,
    /// Anthropic: the server's account uuid.
    pub account_uuid: Option<String>,
    /// Codex: the ChatGPT account id.
    pub account_id: Option<String>,
}

/// A finished login: the tokens and the identity. `Debug` shows no token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginOutcome {
    /// The refresh token, the access token and its expiry.
    pub credentials: Credentials,
    /// Who the account is.
    pub identity: Identity,
}

impl LoginOutcome {
    /// The account to add to the pool (no label: the user may name it later).
    pub fn into_new_account(self) -> NewAccount {
        let Identity { email, plan_tier, account_uuid, account_id } = self.identity;
        NewAccount {
            credentials: self.credentials,
            email,
            plan_tier,
            account_uuid,
            account_id,
            label: None,
        }
    }
}

/// Why a login did not finish. Messages never hold a token, a code or a verifier.
#[derive(Debug, Snafu)]
#[snafu(visibility(pub(crate)))]
pub enum LoginError {
    /// The `state` that came back is not the one this login sent: the code may belong to
    /// another login (or a forged link). Nothing was exchanged.
    #[snafu(display(
        "OAuth state mismatch: the code does not belong to this login; start the login again"
    ))]
    StateMismatch,
    /// The provider (or the user on its page) refused the login.
    #[snafu(display("the provider refused the login: {message}"))]
    Denied {
        /// The provider's `error_description`, else its `error` code.
        message: String,
    },
    /// The user cancelled (opened the callback server's `/cancel`).
    #[snafu(display("authentication cancelled by user"))]
    Cancelled,
    /// Nothing came back in time.
    #[snafu(display("{waiting_for} timed out after {}", crate::http::human(*after)))]
    TimedOut {
        /// `Waiting for the login callback` or `Device authorization`.
        waiting_for: &'static str,
        /// How long was waited.
        after: Duration,
    },
    /// The device code expired before the user approved it.
    #[snafu(display("Device code expired. Start authentication again."))]
    DeviceCodeExpired,
    /// The user denied the device login.
    #[snafu(display("Device authorization denied by user."))]
    DeviceDenied,
    /// The service answered the device-code request with `404`: device login is turned off
    /// for this server (Codex CLI says the same).
    #[snafu(display(
        "device code login is not enabled for this server; use the browser login, or the \
         manual one on a machine without a browser"
    ))]
    DeviceLoginUnavailable,
    /// The device-code endpoint refused to start.
    #[snafu(display("Failed to start device authorization: {status}"))]
    DeviceStartFailed {
        /// The HTTP status.
        status: u16,
    },
    /// A device-token poll answered an unexpected error.
    #[snafu(display("Device token polling failed: {status}"))]
    DevicePollFailed {
        /// The HTTP status.
        status: u16,
    },
    /// The device-code endpoint's answer lacks what the flow needs.
    #[snafu(display("the device authorization response {problem}"))]
    DeviceResponse {
        /// What is wrong, e.g. `has no device_auth_id`.
        problem: &'static str,
    },
    /// The code exchange (or the device flow's token answer) failed; the message is the
    /// token endpoint's classified, token-free one.
    #[snafu(display("token exchange failed: {source}"))]
    TokenExchange {
        /// The classified failure.
        source: RefreshFailure,
    },
    /// The tokens came without a refresh token, so the account could not stay logged in.
    #[snafu(display("the {provider} login granted no refresh token; start the login again"))]
    NoRefreshToken {
        /// Which provider.
        provider: Provider,
    },
    /// A request of the flow got no answer.
    #[snafu(display("{message}"))]
    Network {
        /// `network error: <host>: <what happened>`.
        message: String,
    },
    /// The operating system's random source failed (PKCE verifier or `state`).
    #[snafu(display("{source}"))]
    Randomness {
        /// The cause.
        source: RandomnessError,
    },
    /// The loopback callback server could not listen.
    #[snafu(display("{source}"))]
    CallbackBind {
        /// The cause (names the port).
        source: CallbackError,
    },
    /// The callback delivered no usable code (no `code`, not a URL, the server failed).
    #[snafu(display("{source}"))]
    Callback {
        /// The cause.
        source: CallbackError,
    },
    /// The pasted text is not what the login asked for.
    #[snafu(display("the pasted text is not valid: {problem}"))]
    Malformed {
        /// What is wrong and what to paste instead.
        problem: &'static str,
    },
    /// The descriptor lacks an endpoint the flow needs.
    #[snafu(display(
        "the {provider} descriptor has no `{key}`; set it under [providers.{provider}]"
    ))]
    NoEndpoint {
        /// Which provider.
        provider: Provider,
        /// The endpoint's config key.
        key: &'static str,
    },
    /// The flow was given another provider's descriptor or client.
    #[snafu(display("this is a {expected} login but was given a {actual} descriptor or client"))]
    ProviderMismatch {
        /// The flow's provider.
        expected: Provider,
        /// The provider given.
        actual: Provider,
    },
}

impl LoginError {
    /// Whether starting the same login again may succeed (a timeout, a network error, an
    /// expired code, a transient token-endpoint failure) rather than needing a change first.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::TimedOut { .. }
            | Self::DeviceCodeExpired
            | Self::Network { .. }
            | Self::StateMismatch
            | Self::DevicePollFailed { .. }
            | Self::DeviceStartFailed { .. } => true,
            Self::TokenExchange { source } => !source.is_permanent(),
            _ => false,
        }
    }
}

/// The callback's failures as login errors.
impl From<CallbackError> for LoginError {
    fn from(source: CallbackError) -> Self {
        match source {
            CallbackError::StateMismatch => Self::StateMismatch,
            CallbackError::Denied { message } => Self::Denied { message },
            CallbackError::Cancelled => Self::Cancelled,
            CallbackError::TimedOut { after } => {
                Self::TimedOut { waiting_for: "Waiting for the login callback", after }
            }
            source @ CallbackError::Bind { .. } => Self::CallbackBind { source },
            source => Self::Callback { source },
        }
    }
}

/// The credentials of a login's grant; no refresh token is an error (SEED §2.12: "no
/// `refresh_token` → failed").
pub(crate) fn credentials(
    grant: &TokenGrant,
    provider: Provider,
) -> Result<Credentials, LoginError> {
    let Some(refresh_token) = grant.refresh_token.clone() else {
        return NoRefreshTokenSnafu { provider }.fail();
    };
    Ok(Credentials {
        refresh_token,
        access_token: Some(grant.access_token.clone()),
        expires_at: Some(grant.expires_at),
    })
}

/// Fails unless `actual` is the flow's provider.
pub(crate) fn expect_provider(expected: Provider, actual: Provider) -> Result<(), LoginError> {
    if expected == actual { Ok(()) } else { ProviderMismatchSnafu { expected, actual }.fail() }
}
