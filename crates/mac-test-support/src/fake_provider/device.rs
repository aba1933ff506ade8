//! The Codex device flow: `POST /api/accounts/deviceauth/usercode` hands out a code,
//! `POST /api/accounts/deviceauth/token` is polled until the scripted outcome.
//!
//! The fake does not enforce the polling interval: it records every poll (see
//! [`FakeProvider::device_poll_times`](super::FakeProvider::device_poll_times)) so a test can
//! check the client waited `interval` and added 5 s after `slow_down`. It does enforce
//! `expires_in`: a poll after it answers `expired_token`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::OPENAI_CLIENT_ID;
use super::endpoint::RecordedRequest;
use super::grant::FakeGrant;
use super::server::Reply;
use super::state::{Flavor, State};

/// How the user answers a device login. Errors are flat OAuth bodies
/// (`{"error": "authorization_pending"}`), as SEED §2.12 reads them.
#[derive(Clone, Debug, PartialEq)]
pub enum DeviceOutcome {
    /// `n` polls answer `authorization_pending`, the next one the tokens of the grant.
    ApproveAfterPolls(u32, FakeGrant),
    /// The first poll answers `slow_down`, the second the tokens of the grant.
    SlowDownOnce(FakeGrant),
    /// Every poll answers `authorization_pending` (until the code expires).
    Pending,
    /// The first poll answers `access_denied`.
    Deny,
    /// The first poll answers `expired_token`.
    Expire,
}

/// One device code handed out.
#[derive(Clone, Debug)]
pub(crate) struct DeviceSession {
    issued: Instant,
    expires_in: u64,
    polls: u32,
    done: bool,
}

fn flat(status: u16, error: &str, description: &str) -> Reply {
    Reply::json(status, &json!({ "error": error, "error_description": description }))
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
    body?.get(name)?.as_str().map(str::to_owned)
}

impl State {
    /// `POST /api/accounts/deviceauth/usercode`, JSON `{client_id}`.
    pub(crate) fn device_code(&mut self, request: &RecordedRequest) -> Reply {
        let body = request.json();
        if body_param(body.as_ref(), "client_id").as_deref() != Some(OPENAI_CLIENT_ID) {
            return flat(401, "invalid_client", "Unknown client_id");
        }
        let n = self.next_id();
        let device_code = format!("fake-device-{n}");
        let user_code = format!("ABCD-{}", letters(n));
        self.devices.insert(
            device_code.clone(),
            DeviceSession {
                issued: Instant::now(),
                expires_in: self.device_expires_in,
                polls: 0,
                done: false,
            },
        );
        Reply::json(
            200,
            &json!({
                "device_auth_id": device_code,
                "device_code": device_code,
                "user_code": user_code,
                "expires_in": self.device_expires_in,
                "interval": self.device_interval,
            }),
        )
    }

    /// `POST /api/accounts/deviceauth/token`, JSON `{client_id, device_code}`.
    pub(crate) fn device_token(&mut self, request: &RecordedRequest) -> Reply {
        let body = request.json();
        if body_param(body.as_ref(), "client_id").as_deref() != Some(OPENAI_CLIENT_ID) {
            return flat(401, "invalid_client", "Unknown client_id");
        }
        let code = body_param(body.as_ref(), "device_code")
            .or_else(|| body_param(body.as_ref(), "device_auth_id"));
        let outcome = self.device_outcome.clone();
        let Some(session) = code.as_ref().and_then(|code| self.devices.get_mut(code)) else {
            return flat(400, "invalid_request", "Unknown device_code");
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
            DeviceOutcome::ApproveAfterPolls(pending, grant) if polls > pending => grant,
            DeviceOutcome::SlowDownOnce(grant) if polls > 1 => grant,
            DeviceOutcome::SlowDownOnce(_) => return flat(400, "slow_down", "Polling too fast"),
            DeviceOutcome::ApproveAfterPolls(..) | DeviceOutcome::Pending => {
                return flat(400, "authorization_pending", "The user has not answered yet");
            }
            DeviceOutcome::Deny => {
                return flat(400, "access_denied", "The user denied the request");
            }
            DeviceOutcome::Expire => {
                return flat(400, "expired_token", "The device code has expired");
            }
        };
        session.done = true;
        let issued = self.issue(&grant, None);
        Reply::json(200, &State::token_body(&issued, Flavor::OpenAi))
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
