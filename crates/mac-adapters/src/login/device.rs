//! Codex's device ("headless") login, in the protocol Codex CLI speaks to `auth.openai.com`
//! (openai/codex, `codex-rs/login/src/device_code_auth.rs`; the crate docs list every fact's
//! source):
//!
//! 1. **Start.** POST JSON `{client_id}` to `device_code_url`; the answer carries
//!    `device_auth_id`, `user_code` and `interval` (seconds, sent as a string). It names no
//!    lifetime; Codex CLI waits 15 minutes at most, and so does this login by default
//!    ([`DevicePolling::max_wait`]). A `404` means the service has device login turned off
//!    ([`LoginError::DeviceLoginUnavailable`]).
//! 2. **Show.** The user opens `device_verification_url` (`<issuer>/codex/device`) and types
//!    the user code.
//! 3. **Poll.** POST JSON `{device_auth_id, user_code}` to `device_token_url`. `403` and `404`
//!    mean "not yet". Success answers `{authorization_code, code_challenge, code_verifier}`:
//!    the service, not the client, made the PKCE pair.
//! 4. **Exchange.** The code goes to the token endpoint like a browser login's, with the
//!    service's `code_verifier` and `redirect_uri = device_redirect_uri`
//!    (`<issuer>/deviceauth/callback`).
//!
//! Beyond what Codex CLI does: `429` lengthens the gap by `slow_down_step` for the rest of the
//! login instead of failing (a throttled poll is no reason to lose the login); a refusal whose
//! body names `access_denied` or `expired_token` gets its own error; any other status fails
//! with `Device token polling failed: <status>`, as Codex CLI does.
//!
//! Polling: the first poll goes out at once, then one every `max(min_interval, interval)`. A
//! poll is never sent once the next gap would end past the deadline: the login then times out
//! at the deadline. Waiting uses `tokio::time`, so a test runtime with paused time can step
//! through it; the loopback fake records every poll's arrival but does not enforce the
//! interval, so tests check the gaps themselves.

use std::time::Duration;

use mac_storage::{Provider, Secret};
use serde_json::{Map, Value, json};
use snafu::ResultExt;
use tokio::time::Instant;
use url::Url;

use super::codex::codex_outcome;
use super::{LoginError, LoginOutcome, TokenExchangeSnafu, expect_provider};
use crate::http::Answer;
use crate::{AdapterClient, CodeExchange};

/// How long Codex CLI waits for the user at most (the service names no lifetime).
pub const DEVICE_LOGIN_MAX_WAIT: Duration = Duration::from_secs(15 * 60);

/// The polling interval when the answer names none or an unreadable one (SEED §2.12: 5 s).
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// The longest interval believed: a day (a larger one is garbage; the deadline ends the login
/// long before).
const MAX_SECONDS: Duration = Duration::from_secs(24 * 3600);

/// How the device login polls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DevicePolling {
    /// The shortest gap between polls, whatever the server's `interval` (default 1 s).
    pub min_interval: Duration,
    /// What each `429` (or an RFC 8628 `slow_down`) adds to the gap (default 5 s).
    pub slow_down_step: Duration,
    /// How long to wait for the user's approval, from the start (default 15 minutes, as Codex
    /// CLI; a shorter `expires_in` of the code wins).
    pub max_wait: Duration,
}

impl Default for DevicePolling {
    fn default() -> Self {
        Self {
            min_interval: Duration::from_secs(1),
            slow_down_step: Duration::from_secs(5),
            max_wait: DEVICE_LOGIN_MAX_WAIT,
        }
    }
}

/// A started device login: show `verification_url` and `user_code` to the user, then
/// [`DeviceAuthorization::poll`]. `Debug` shows no `device_auth_id` (with the user code it is
/// what fetches the authorization code).
#[derive(Debug)]
pub struct DeviceAuthorization {
    /// The code the user types on the verification page (`ABCD-EFGH`).
    pub user_code: String,
    /// The page where the user enters the code (`device_verification_url`).
    pub verification_url: Url,
    /// How long the code is valid: the answer's `expires_in` if it names one (the real
    /// service does not), else Codex CLI's 15 minutes ([`DEVICE_LOGIN_MAX_WAIT`]).
    pub expires_in: Duration,
    /// The server's polling interval.
    pub interval: Duration,
    device_auth_id: Secret,
    issued: Instant,
}

impl DeviceAuthorization {
    /// Asks for a device code: POST JSON `{client_id}` to `device_code_url`. The answer's
    /// `device_auth_id`, `user_code` (else `usercode`), `interval` (a string or a number of
    /// seconds; default 5 s) and `expires_in` (default 15 minutes) are read. A `404` fails with
    /// [`LoginError::DeviceLoginUnavailable`], another non-2xx with `Failed to start device
    /// authorization: <status>`.
    pub async fn start(client: &AdapterClient) -> Result<Self, LoginError> {
        let descriptor = client.descriptor();
        expect_provider(Provider::Codex, descriptor.provider)?;
        let url =
            endpoint(client, descriptor.endpoints.device_code_url.as_ref(), "device_code_url")?;
        let verification_url = endpoint(
            client,
            descriptor.endpoints.device_verification_url.as_ref(),
            "device_verification_url",
        )?
        .clone();
        let issued = Instant::now();
        let answer = client
            .post_json(url, &json!({ "client_id": descriptor.client_id }))
            .await
            .map_err(|message| LoginError::Network { message })?;
        match answer.status {
            200..=299 => {}
            404 => return Err(LoginError::DeviceLoginUnavailable),
            status => return Err(LoginError::DeviceStartFailed { status }),
        }
        let problem = |problem| LoginError::DeviceResponse { problem };
        let fields = crate::oauth_body::json_object(&answer.body)
            .map_err(|_| problem("is not a JSON object"))?;
        let device_auth_id =
            text(&fields, &["device_auth_id"]).ok_or_else(|| problem("has no device_auth_id"))?;
        let user_code =
            text(&fields, &["user_code", "usercode"]).ok_or_else(|| problem("has no user_code"))?;
        let expires_in = seconds(fields.get("expires_in")).unwrap_or(DEVICE_LOGIN_MAX_WAIT);
        let interval = seconds(fields.get("interval")).unwrap_or(DEFAULT_INTERVAL);
        tracing::info!(
            provider = "codex",
            expires_in_s = expires_in.as_secs(),
            interval_ms = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
            "device authorization started"
        );
        Ok(Self {
            user_code,
            verification_url,
            expires_in,
            interval,
            device_auth_id: Secret::new(device_auth_id),
            issued,
        })
    }

    /// Polls POST JSON `{device_auth_id, user_code}` to `device_token_url` until an outcome,
    /// then exchanges the authorization code (identity as the browser login's):
    ///
    /// - `403` / `404` → wait and poll again; `429` (or a `slow_down` error) → wait
    ///   `slow_down_step` longer from now on;
    /// - 2xx `{authorization_code, code_challenge, code_verifier}` → the code exchange at
    ///   `token_url` with that verifier and `redirect_uri = device_redirect_uri`;
    /// - an error body naming `expired_token` → [`LoginError::DeviceCodeExpired`],
    ///   `access_denied` → [`LoginError::DeviceDenied`]; anything else → `Device token polling
    ///   failed: <status>`;
    /// - the deadline (`expires_in` or `max_wait` from the start, whichever is shorter)
    ///   passing → [`LoginError::TimedOut`].
    pub async fn poll(
        self,
        client: &AdapterClient,
        polling: DevicePolling,
    ) -> Result<LoginOutcome, LoginError> {
        let descriptor = client.descriptor();
        expect_provider(Provider::Codex, descriptor.provider)?;
        let url =
            endpoint(client, descriptor.endpoints.device_token_url.as_ref(), "device_token_url")?;
        let redirect_uri = endpoint(
            client,
            descriptor.endpoints.device_redirect_uri.as_ref(),
            "device_redirect_uri",
        )?;
        let wait = self.expires_in.min(polling.max_wait);
        let deadline = self.issued.checked_add(wait).unwrap_or_else(far_future);
        let timed_out =
            || LoginError::TimedOut { waiting_for: "Device authorization", after: wait };
        let body = json!({
            "device_auth_id": self.device_auth_id.expose(),
            "user_code": self.user_code,
        });
        let mut gap = polling.min_interval.max(self.interval);
        let mut polls = 0_u32;
        loop {
            if Instant::now() >= deadline {
                return Err(timed_out());
            }
            let answer = client
                .post_json(url, &body)
                .await
                .map_err(|message| LoginError::Network { message })?;
            polls += 1;
            match answer.status {
                200..=299 => {
                    tracing::debug!(polls, "device authorization approved");
                    let approval = Approval::read(&answer)?;
                    let exchange = CodeExchange {
                        code: &approval.code,
                        state: "",
                        verifier: &approval.verifier,
                        redirect_uri,
                    };
                    let grant =
                        client.exchange_code(&exchange).await.context(TokenExchangeSnafu)?;
                    return codex_outcome(grant);
                }
                403 | 404 => {}
                429 => gap = slower(gap, polling.slow_down_step),
                status => match error_code(&answer).as_deref() {
                    Some("authorization_pending") => {}
                    Some("slow_down") => gap = slower(gap, polling.slow_down_step),
                    Some("expired_token") => return Err(LoginError::DeviceCodeExpired),
                    Some("access_denied") => return Err(LoginError::DeviceDenied),
                    _ => return Err(LoginError::DevicePollFailed { status }),
                },
            }
            let next = Instant::now().checked_add(gap).unwrap_or_else(far_future);
            if next > deadline {
                tokio::time::sleep_until(deadline).await;
                return Err(timed_out());
            }
            tokio::time::sleep_until(next).await;
        }
    }
}

/// What an approved poll hands over. `Debug` is not derived: all of it is secret.
struct Approval {
    code: Secret,
    verifier: Secret,
}

impl Approval {
    /// `authorization_code` and `code_verifier` (and a `code_challenge`, which the exchange
    /// does not send but whose absence means the answer is not what Codex CLI reads).
    fn read(answer: &Answer) -> Result<Self, LoginError> {
        let problem = |problem| LoginError::DeviceResponse { problem };
        let fields = crate::oauth_body::json_object(&answer.body)
            .map_err(|_| problem("approval is not a JSON object"))?;
        let code = text(&fields, &["authorization_code"])
            .ok_or_else(|| problem("approval has no authorization_code"))?;
        let verifier = text(&fields, &["code_verifier"])
            .ok_or_else(|| problem("approval has no code_verifier"))?;
        text(&fields, &["code_challenge"])
            .ok_or_else(|| problem("approval has no code_challenge"))?;
        Ok(Self { code: Secret::new(code), verifier: Secret::new(verifier) })
    }
}

fn slower(gap: Duration, step: Duration) -> Duration {
    let gap = gap.saturating_add(step);
    tracing::debug!(
        gap_ms = u64::try_from(gap.as_millis()).unwrap_or(u64::MAX),
        "device poll: slow down"
    );
    gap
}

fn endpoint<'a>(
    client: &AdapterClient,
    url: Option<&'a Url>,
    key: &'static str,
) -> Result<&'a Url, LoginError> {
    url.ok_or(LoginError::NoEndpoint { provider: client.descriptor().provider, key })
}

/// An instant no login reaches (a year on).
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(365 * 24 * 3600)
}

/// The first non-empty string among `keys`.
fn text(fields: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    keys.iter()
        .find_map(|key| fields.get(*key)?.as_str().filter(|s| !s.is_empty()).map(str::to_owned))
}

/// A non-negative number of seconds (a number or a numeric string), at most a day.
fn seconds(value: Option<&Value>) -> Option<Duration> {
    crate::oauth_body::seconds(value?, MAX_SECONDS)
}

/// The OAuth error code of a poll answer, lower-cased, in any of the shapes the token
/// endpoint's errors come in (RFC 8628's `{"error": "<code>"}` among them).
fn error_code(answer: &Answer) -> Option<String> {
    let fields = crate::oauth_body::json_object(&answer.body).ok()?;
    let (code, _) = crate::oauth_body::oauth_error(&fields);
    code.map(|code| code.trim().to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(body: &str) -> Answer {
        Answer { status: 400, body: body.as_bytes().to_vec() }
    }

    #[test]
    fn error_codes_in_every_shape() {
        for (body, code) in [
            (r#"{"error":"authorization_pending"}"#, Some("authorization_pending")),
            (r#"{"error":{"code":"Slow_Down"}}"#, Some("slow_down")),
            (r#"{"error":{"type":"access_denied"}}"#, Some("access_denied")),
            (r#"{"code":"expired_token"}"#, Some("expired_token")),
            ("<html>", None),
            ("{}", None),
        ] {
            assert_eq!(error_code(&answer(body)).as_deref(), code, "{body}");
        }
    }

    #[test]
    fn seconds_read_numbers_and_strings() {
        assert_eq!(seconds(Some(&json!(5))), Some(Duration::from_secs(5)));
        assert_eq!(seconds(Some(&json!("5"))), Some(Duration::from_secs(5)));
        assert_eq!(seconds(Some(&json!(" 5 "))), Some(Duration::from_secs(5)));
        assert_eq!(seconds(Some(&json!(0.5))), Some(Duration::from_millis(500)));
        assert_eq!(seconds(Some(&json!(-1))), None);
        assert_eq!(seconds(Some(&json!(null))), None);
        assert_eq!(seconds(None), None);
        assert_eq!(seconds(Some(&json!(1e300))), Some(Duration::from_secs(24 * 3600)));
    }

    #[test]
    fn approvals_need_code_verifier_and_challenge() {
        let ok = Answer {
            status: 200,
            body: br#"{"authorization_code":"c","code_challenge":"h","code_verifier":"v"}"#
                .to_vec(),
        };
        let approval = Approval::read(&ok).unwrap();
        assert_eq!((approval.code.expose(), approval.verifier.expose()), ("c", "v"));
        for (body, problem) in [
            (r#"{"code_challenge":"h","code_verifier":"v"}"#, "approval has no authorization_code"),
            (r#"{"authorization_code":"c","code_challenge":"h"}"#, "approval has no code_verifier"),
            (r#"{"authorization_code":"c","code_verifier":"v"}"#, "approval has no code_challenge"),
            (r#"{"access_token":"a"}"#, "approval has no authorization_code"),
            ("[]", "approval is not a JSON object"),
        ] {
            let answer = Answer { status: 200, body: body.as_bytes().to_vec() };
            match Approval::read(&answer) {
                Err(LoginError::DeviceResponse { problem: got }) => assert_eq!(got, problem),
                Err(other) => panic!("{body}: {other:?}"),
                Ok(_) => panic!("{body}: accepted"),
            }
        }
    }
}
