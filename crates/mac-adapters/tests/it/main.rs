//! Integration tests of `mac-adapters` (one test binary, modules by area).

// Test code: a failed unwrap is a failed assertion, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod profile;
mod props;
mod shaping;
mod stream;
mod token;
mod usage;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mac_storage::{EpochMs, UsageLimits, UsageWindow};

/// The fixed "now" of every test: 2026-03-11T03:33:20Z.
pub(crate) const NOW: EpochMs = EpochMs::from_millis(1_773_200_000_000);

/// `NOW` plus `s` seconds.
pub(crate) fn secs(s: i64) -> EpochMs {
    EpochMs::from_millis(NOW.as_millis() + s * 1000)
}

/// `NOW` as epoch seconds plus `s`, as a body would send it.
pub(crate) fn epoch_s(s: i64) -> String {
    (NOW.as_millis() / 1000 + s).to_string()
}

/// A usage window at `utilization` % resetting at `resets_at` (ISO text).
pub(crate) fn window(utilization: f64, resets_at: Option<&str>) -> UsageWindow {
    UsageWindow {
        utilization,
        resets_at: resets_at.map(str::to_owned),
        extra: serde_json::Map::new(),
    }
}

/// Usage with a 5-hour and a 7-day window.
pub(crate) fn usage(five_hour: Option<UsageWindow>, seven_day: Option<UsageWindow>) -> UsageLimits {
    UsageLimits { five_hour, seven_day, seven_day_sonnet: None, extra: serde_json::Map::new() }
}

/// The ISO text of `at`.
pub(crate) fn iso(at: EpochMs) -> String {
    mac_storage::format_iso(at)
}

/// An unsigned JWT carrying `claims`.
pub(crate) fn jwt(claims: &serde_json::Value) -> String {
    format!("eyJhbGciOiJub25lIn0.{}.sig", URL_SAFE_NO_PAD.encode(claims.to_string()))
}
