//! Integration tests of `mac-ratelimit` (one test binary, modules by area).

// Test code: a failed unwrap is a failed assertion, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bodies;
mod classify;
mod headers;
mod in_band;
mod pacing;
mod props;
mod record;
mod state;
mod wait;

use std::time::Duration;

use mac_ratelimit::{Observation, observe};
use mac_storage::{Credentials, EpochMs, Secret, StoredAccount, UsageLimits, UsageWindow};

/// The fixed "now" of every test: 2026-03-11T03:33:20Z.
pub(crate) const NOW: EpochMs = EpochMs::from_millis(1_773_200_000_000);

/// `NOW` plus `ms` milliseconds.
pub(crate) fn ms(ms: i64) -> EpochMs {
    EpochMs::from_millis(NOW.as_millis() + ms)
}

/// `NOW` plus `s` seconds.
pub(crate) fn secs(s: i64) -> EpochMs {
    ms(s * 1000)
}

/// `NOW` plus `h` hours.
pub(crate) fn hours(h: i64) -> EpochMs {
    secs(h * 3600)
}

/// `NOW` as epoch seconds plus `s`, as a header would send it.
pub(crate) fn epoch_s(s: i64) -> String {
    (NOW.as_millis() / 1000 + s).to_string()
}

/// Observes a response with text headers at `NOW`.
pub(crate) fn obs(status: u16, headers: &[(&str, &str)]) -> Observation {
    observe(status, headers.iter().map(|(n, v)| (*n, v.as_bytes())), None, NOW)
}

/// Observes a response with text headers and a body at `NOW`.
pub(crate) fn obs_body(status: u16, headers: &[(&str, &str)], body: &str) -> Observation {
    observe(status, headers.iter().map(|(n, v)| (*n, v.as_bytes())), Some(body.as_bytes()), NOW)
}

/// What `observe` returns for a response without any signal.
pub(crate) fn empty(status: u16) -> Observation {
    Observation { status, observed_at: NOW, ..Observation::default() }
}

/// An eligible account with a fixed uuid and nothing else.
pub(crate) fn account(uuid: &str) -> StoredAccount {
    let credentials =
        Credentials { refresh_token: Secret::new("rt"), access_token: None, expires_at: None };
    let mut account = StoredAccount::new(credentials, NOW);
    account.uuid = Some(uuid.to_owned());
    account
}

/// A usage window at `utilization` % resetting at `resets_at` (ISO text).
pub(crate) fn window(utilization: f64, resets_at: Option<&str>) -> UsageWindow {
    UsageWindow::new(utilization, resets_at.map(str::to_owned))
}

/// Usage with a 5-hour and a 7-day window.
pub(crate) fn usage(five_hour: Option<UsageWindow>, seven_day: Option<UsageWindow>) -> UsageLimits {
    UsageLimits::new(five_hour, seven_day)
}

/// The ISO text of `at`.
pub(crate) fn iso(at: EpochMs) -> String {
    mac_storage::format_iso(at)
}

/// `d` as whole milliseconds.
pub(crate) fn ms_of(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap()
}
