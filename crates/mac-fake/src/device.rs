//! The Codex device login as `auth.openai.com` speaks it to Codex CLI (openai/codex,
//! `codex-rs/login/src/device_code_auth.rs`):
//!
//! 1. `POST /api/accounts/deviceauth/usercode`, JSON `{client_id}` → `200 {device_auth_id,
//!    user_code, interval}`, the interval in seconds as a *string* (`"5"`). No lifetime is
//!    sent: Codex CLI gives up after 15 minutes.
//! 2. `POST /api/accounts/deviceauth/token`, JSON `{device_auth_id, user_code}`, polled: `403`
//!    while the user has not approved; on approval `200 {authorization_code, code_challenge,
//!    code_verifier}` — the service made the PKCE pair, not the client.
//! 3. The client exchanges that code at `POST /oauth/token` like a browser login's, with the
//!    service's `code_verifier` and `redirect_uri = <issuer>/deviceauth/callback`; the fake
//!    binds the code to that redirect URI and to the challenge, so any other exchange fails.
//!
//! What the public client does not show is the fake's choice, kept recognisable: an unknown
//! `device_auth_id` or a `user_code` that does not belong to it answers `404` (Codex CLI reads
//! 403 and 404 alike as "not yet"); a poll without both fields answers `400 invalid_request`;
//! a refusal, an expired code (past [`FakeProvider::set_device_expires_in`], default 900 s) and
//! a spent code answer `400` with a flat OAuth error (`access_denied`, `expired_token`,
//! `invalid_grant`); throttling answers `429`.
//!
//! The fake does not enforce the polling interval: it records every poll (see
//! [`FakeProvider::device_poll_times`]) so a test can check the gaps itself.
//!
//! [`FakeProvider::set_device_expires_in`]: super::FakeProvider::set_device_expires_in
//! [`FakeProvider::device_poll_times`]: super::FakeProvider::device_poll_times

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::OPENAI_CLIENT_ID;
use super::endpoint::RecordedRequest;
use super::grant::{FakeGrant, pkce_challenge};
use super::oauth::CodeEntry;
use super::server::Reply;
use super::state::State;

/// The path of the redirect URI a device login's code is bound to, under the fake's origin.
pub const DEVICE_CALLBACK_PATH: &str = "/deviceauth/callback";

/// How the user answers a device login.
#[derive(Clone, Debug, PartialEq)]
pub enum DeviceOutcome {
    /// `n` polls answer `403` (not yet), the next one the authorization code of the grant.
    ApproveAfterPolls(u32, FakeGrant),
    /// The first poll answers `429 Too Many Requests`, the second the code of the grant.
    SlowDownOnce(FakeGrant),
    /// Every poll answers `403` (until the code expires).
    Pending,
    /// The first poll answers `400 {"error": "access_denied"}`.
    Deny,
    /// The first poll answers `400 {"error": "expired_token"}`.
    Expire,
}

/// One device code handed out, keyed by its `device_auth_id`.
#[derive(Clone, Debug)]
pub(crate) struct DeviceSession {
    user_code: String,
    issued: Instant,
    expires_in: u64,
    polls: u32,
    done: bool,
}

fn flat(status: u16, error: &str, description: &str) -> Reply {
    Reply::json(status, &json!({ "error": error, "error_description": description }))
}

/// "Not yet", as the service answers a poll before approval.
fn pending() -> Reply {
    Reply::json(
        403,
        &json!({ "error": { "code": "deviceauth_authorization_pending",
                            "message": "The user has not approved the device code yet" } }),
    )
}

/// `n` as four letters (`AAAA`, `AAAB`, …).
fn letters(mut n: u64) -> String {
    let mut out = [b'A'; 4];
    for slot in out.iter_mut().rev() {
        *slot = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"[usize::try_from(n % 26).unwrap_or(0)];
        n /= 26;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn body_param(body: Option<&Value>, name: &str) -> Option<String> {
    body?.get(name)?.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

impl State {
    /// `POST /api/accounts/deviceauth/usercode`, JSON `{client_id}`.
    pub(crate) fn device_code(&mut self, request: &RecordedRequest) -> Reply {
        let body = request.json();
        if body_param(body.as_ref(), "client_id").as_deref() != Some(OPENAI_CLIENT_ID) {
            return flat(401, "invalid_client", "Unknown client_id");
        }
        let n = self.next_id();
        let device_auth_id = format!("fake-device-{n}");
        let user_code = format!("ABCD-{}", letters(n));
        self.devices.insert(
            device_auth_id.clone(),
            DeviceSession {
                user_code: user_code.clone(),
                issued: Instant::now(),
                expires_in: self.device_expires_in,
                polls: 0,
                done: false,
            },
        );
        Reply::json(
            200,
            &json!({
                "device_auth_id": device_auth_id,
                "user_code": user_code,
                "interval": self.device_interval.to_string(),
            }),
        )
    }

    /// `POST /api/accounts/deviceauth/token`, JSON `{device_auth_id, user_code}`.
    pub(crate) fn device_token(&mut self, request: &RecordedRequest) -> Reply {
        let body = request.json();
        let (Some(id), Some(user_code)) =
            (body_param(body.as_ref(), "device_auth_id"), body_param(body.as_ref(), "user_code"))
        else {
            return flat(400, "invalid_request", "device_auth_id and user_code are required");
        };
        let outcome = self.device_outcome.clone();
        let Some(session) = self.devices.get_mut(&id).filter(|s| s.user_code == user_code) else {
            return Reply::json(404, &json!({ "error": { "code": "deviceauth_not_found" } }));
        };
        if session.done {
            return flat(400, "invalid_grant", "The device code was already used");
        }
        if session.issued.elapsed() >= Duration::from_secs(session.expires_in) {
            return flat(400, "expired_token", "The device code has expired");
        }
        session.polls += 1;
        let polls = session.polls;
        let grant = match outcome {
            DeviceOutcome::ApproveAfterPolls(waits, grant) if polls > waits => grant,
            DeviceOutcome::SlowDownOnce(grant) if polls > 1 => grant,
            DeviceOutcome::SlowDownOnce(_) => {
                return Reply::json(429, &json!({ "error": { "code": "rate_limit_exceeded" } }));
            }
            DeviceOutcome::ApproveAfterPolls(..) | DeviceOutcome::Pending => return pending(),
            DeviceOutcome::Deny => {
                return flat(400, "access_denied", "The user denied the request");
            }
            DeviceOutcome::Expire => {
                return flat(400, "expired_token", "The device code has expired");
            }
        };
        session.done = true;
        let n = self.next_id();
        let code = format!("fake-device-code-{n}");
        // 43+ characters of the verifier alphabet, like a real PKCE verifier.
        let verifier = format!("fake-device-verifier-{n:0>24}");
        let challenge = pkce_challenge(&verifier);
        let redirect_uri = format!("{}{DEVICE_CALLBACK_PATH}", self.origin);
        self.codes.insert(
            code.clone(),
            CodeEntry {
                grant,
                redirect_uri: Some(redirect_uri),
                challenge: Some(("S256".to_owned(), challenge.clone())),
                state: None,
                used: false,
            },
        );
        Reply::json(
            200,
            &json!({
                "authorization_code": code,
                "code_challenge": challenge,
                "code_verifier": verifier,
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::letters;

    #[test]
    fn user_codes_are_letters() {
        assert_eq!(letters(0), "AAAA");
        assert_eq!(letters(27), "AABB");
    }
}
