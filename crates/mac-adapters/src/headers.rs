//! The headers the adapters send, built in one place for the token, usage and profile requests
//! (`http`) and for request shaping (`shaping`): the names mac sets, the account's bearer token
//! and ChatGPT account id, and the descriptor's `User-Agent` and `originator`.
//!
//! A value HTTP cannot carry (a control character, a line break) cannot become a
//! [`HeaderValue`] at all. The account's own values (token, account id) then fail the request
//! with [`BadHeaderValue`], naming the header and never the value; the descriptor's values come
//! from the configuration, where a `User-Agent` that cannot be sent falls back to `mac` and an
//! `originator` that cannot is left out.

use http::{HeaderName, HeaderValue};
use mac_storage::Secret;
use snafu::Snafu;

use crate::ProviderDescriptor;

/// The header naming the ChatGPT account of a Codex request.
pub(crate) const CHATGPT_ACCOUNT_ID: HeaderName = HeaderName::from_static("chatgpt-account-id");

/// The header carrying Anthropic's betas (the OAuth beta among them).
pub(crate) const ANTHROPIC_BETA: HeaderName = HeaderName::from_static("anthropic-beta");

/// The header naming the Codex client (`originator`).
pub(crate) const ORIGINATOR: HeaderName = HeaderName::from_static("originator");

/// The `User-Agent` sent when the configured one cannot be sent as a header.
const FALLBACK_USER_AGENT: &str = "mac";

/// An account's value that cannot be sent as an HTTP header (it holds a control character).
/// The message names the header, never the value (it may be a token).
#[derive(Debug, Snafu)]
#[snafu(display(
    "the {header} value cannot be sent as an HTTP header (it holds a control character)"
))]
pub struct BadHeaderValue {
    header: &'static str,
}

impl BadHeaderValue {
    /// The header whose value could not be sent.
    pub fn header(&self) -> &'static str {
        self.header
    }
}

/// `value` as the value of `header`, or the error naming `header`.
pub(crate) fn value(header: &'static str, value: &str) -> Result<HeaderValue, BadHeaderValue> {
    HeaderValue::from_str(value).map_err(|_| BadHeaderValue { header })
}

/// `Authorization: Bearer <access token>`, marked sensitive (HTTP/2 never indexes it, `Debug`
/// shows no value): the one place the access token is put into a header.
pub(crate) fn bearer(access_token: &Secret) -> Result<HeaderValue, BadHeaderValue> {
    let mut bearer = value("Authorization", &format!("Bearer {}", access_token.expose()))?;
    bearer.set_sensitive(true);
    Ok(bearer)
}

/// `ChatGPT-Account-Id: <id>`.
pub(crate) fn chatgpt_account_id(id: &str) -> Result<HeaderValue, BadHeaderValue> {
    value("ChatGPT-Account-Id", id)
}

impl ProviderDescriptor {
    /// The `User-Agent` value: the descriptor's, or `mac` when that cannot be sent.
    pub(crate) fn user_agent_value(&self) -> HeaderValue {
        HeaderValue::from_str(&self.user_agent)
            .unwrap_or_else(|_| HeaderValue::from_static(FALLBACK_USER_AGENT))
    }

    /// The `originator` value, when the descriptor names one that can be sent.
    pub(crate) fn originator_value(&self) -> Option<HeaderValue> {
        self.originator.as_deref().and_then(|originator| HeaderValue::from_str(originator).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_http_cannot_carry_is_an_error_naming_the_header_only() {
        let err = bearer(&Secret::new("tok\nen")).unwrap_err();
        assert_eq!(err.header(), "Authorization");
        assert!(!err.to_string().contains("tok"), "{err}");
        assert!(chatgpt_account_id("acct\r1").is_err());
        let good = bearer(&Secret::new("token")).unwrap();
        assert!(good.is_sensitive() && format!("{good:?}") == "Sensitive");
    }

    #[test]
    fn descriptor_values_fall_back() {
        let mut descriptor = ProviderDescriptor::codex();
        assert_eq!(descriptor.user_agent_value(), descriptor.user_agent.as_str());
        assert_eq!(descriptor.originator_value().unwrap(), "opencode");
        descriptor.user_agent = "bad\nagent".into();
        descriptor.originator = Some("bad\noriginator".into());
        assert_eq!(descriptor.user_agent_value(), FALLBACK_USER_AGENT);
        assert_eq!(descriptor.originator_value(), None);
    }
}
