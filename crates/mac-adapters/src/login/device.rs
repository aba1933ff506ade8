//! Codex's device ("headless") login (SEED §2.12): ask for a user code, show it with the
//! verification URL, and poll the token endpoint until the user approves on another device,
//! refuses, or the code expires.
//!
//! Polling: the first poll goes out at once, then one every `max(min_interval, interval)`;
//! `slow_down` lengthens that gap by `slow_down_step` for the rest of the login (RFC 8628
//! §3.5). A poll is never sent once the next gap would end past the code's `expires_in`: the
//! login then times out at the deadline. Waiting uses `tokio::time`, so a test runtime with
//! paused time can step through it; the loopback fake records every poll's arrival but does
//! not enforce the interval, so tests check the gaps themselves.

use std::time::Duration;

use mac_storage::{Provider, Secret};
use serde_json::{Map, Value, json};
use snafu::ResultExt;
use tokio::time::Instant;
use url::Url;

use super::codex::codex_outcome;
use super::{LoginError, LoginOutcome, TokenExchangeSnafu, expect_provider};
use crate::http::Answer;
use crate::{AdapterClient, parse_token_response};

/// A device code's lifetime when the answer names none (Codex CLI's 15 minutes).
const DEFAULT_EXPIRES_IN: Duration = Duration::from_secs(15 * 60);

/// The polling interval when the answer names none (SEED §2.12: 5 s).
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// The longest lifetime or interval believed: a day (a larger one is garbage; the user can
/// always give up with Ctrl-C).
const MAX_SECONDS: Duration = Duration::from_secs(24 * 3600);

/// How the device login polls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DevicePolling {
    /// The shortest gap between polls, whatever the server's `interval` (default 1 s).
    pub min_interval: Duration,
    /// What each `slow_down` adds to the gap (default 5 s, RFC 8628).
    pub slow_down_step: Duration,
}

impl Default for DevicePolling {
    fn default() -> Self {
        Self { min_interval: Duration::from_secs(1), slow_down_step: Duration::from_secs(5) }
    }
}

/// A started device login: show `verification_url` and `user_code` to the user, then
/// [`DeviceAuthorization::poll`]. `Debug` shows no device code.
#[derive(Debug)]
pub struct DeviceAuthorization {
    /// The code the user types on the verification page (`ABCD-EFGH`).
    pub user_code: String,
    /// The page where the user enters the code (`device_verification_url`).
    pub verification_url: Url,
    /// How long the code is valid, from the start.
    pub expires_in: Duration,
    /// The server's polling interval.
    pub interval: Duration,
    device_code: Secret,
    issued: Instant,
}

impl DeviceAuthorization {
    /// Asks for a device code: POST JSON `{client_id}` to `device_code_url`. The answer's
    /// `device_code` (else `device_auth_id`), `user_code` (else `usercode`), `expires_in`
    /// (default 15 min) and `interval` (default 5 s; numbers or numeric strings) are read. A
    /// non-2xx fails with `Failed to start device authorization: <status>`.
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
        if !(200..300).contains(&answer.status) {
            return Err(LoginError::DeviceStartFailed { status: answer.status });
        }
        let problem = |problem| LoginError::DeviceResponse { problem };
        let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(&answer.body) else {
            return Err(problem("is not a JSON object"));
        };
        let device_code = text(&fields, &["device_code", "device_auth_id"])
            .ok_or_else(|| problem("has no device_code"))?;
        let user_code =
            text(&fields, &["user_code", "usercode"]).ok_or_else(|| problem("has no user_code"))?;
        let expires_in = seconds(fields.get("expires_in")).unwrap_or(DEFAULT_EXPIRES_IN);
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
            device_code: Secret::new(device_code),
            issued,
        })
    }

    /// Polls POST JSON `{client_id, device_code}` to `device_token_url` until an outcome: a
    /// 2xx token answer → the login (identity as the browser login); `authorization_pending`
    /// → wait; `slow_down` → wait `slow_down_step` longer from now on; `expired_token` →
    /// [`LoginError::DeviceCodeExpired`]; `access_denied` → [`LoginError::DeviceDenied`];
    /// anything else → `Device token polling failed: <status>`; the code's `expires_in` passing
    /// → [`LoginError::TimedOut`].
    pub async fn poll(
        self,
        client: &AdapterClient,
        polling: DevicePolling,
    ) -> Result<LoginOutcome, LoginError> {
        let descriptor = client.descriptor();
        expect_provider(Provider::Codex, descriptor.provider)?;
        let url =
            endpoint(client, descriptor.endpoints.device_token_url.as_ref(), "device_token_url")?;
        let deadline = self.issued.checked_add(self.expires_in).unwrap_or_else(far_future);
        let timed_out =
            || LoginError::TimedOut { waiting_for: "Device authorization", after: self.expires_in };
        let body = json!({
            "client_id": descriptor.client_id,
            "device_code": self.device_code.expose(),
        });
        let mut gap = polling.min_interval.max(self.interval);
        let mut polls = 0_u32;
        loop {
            if Instant::now() >= deadline {
                return Err(timed_out());
            }
            let started = client.clock().now();
            let answer = client
                .post_json(url, &body)
                .await
                .map_err(|message| LoginError::Network { message })?;
            polls += 1;
            if (200..300).contains(&answer.status) {
                tracing::debug!(polls, "device authorization approved");
                let grant = parse_token_response(descriptor, answer.status, &answer.body, started)
                    .context(TokenExchangeSnafu)?;
                return codex_outcome(grant);
            }
            match error_code(&answer).as_deref() {
                Some("authorization_pending") => {}
                Some("slow_down") => {
                    gap = gap.saturating_add(polling.slow_down_step);
                    tracing::debug!(
                        gap_ms = u64::try_from(gap.as_millis()).unwrap_or(u64::MAX),
                        "device poll: slow down"
                    );
                }
                Some("expired_token") => return Err(LoginError::DeviceCodeExpired),
                Some("access_denied") => return Err(LoginError::DeviceDenied),
                _ => return Err(LoginError::DevicePollFailed { status: answer.status }),
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
        assert_eq!(seconds(Some(&json!(0.5))), Some(Duration::from_millis(500)));
        assert_eq!(seconds(Some(&json!(-1))), None);
        assert_eq!(seconds(Some(&json!(null))), None);
        assert_eq!(seconds(None), None);
        assert_eq!(seconds(Some(&json!(1e300))), Some(Duration::from_secs(24 * 3600)));
    }
}
