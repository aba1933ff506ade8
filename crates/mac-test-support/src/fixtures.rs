//! The shared fixtures of the unit-free test suites: one fixed "now", times relative to it, the
//! smallest accounts and usage windows the stores, rate limits, adapters and executor are
//! tested with, and header maps written as `(name, value)` tables. One definition here, so the suites cannot drift apart on what "now" or "an
//! eligible account" is.

use http::{HeaderMap, HeaderName, HeaderValue};
use mac_storage::{Credentials, EpochMs, Secret, StoredAccount, UsageLimits, UsageWindow};

/// The fixed "now" of every test: 2026-03-11T03:33:20Z.
pub const NOW: EpochMs = EpochMs::from_millis(1_773_200_000_000);

/// `NOW` plus `ms` milliseconds (negative: before).
pub fn at_ms(ms: i64) -> EpochMs {
    EpochMs::from_millis(NOW.as_millis() + ms)
}

/// `NOW` plus `s` seconds (negative: before).
pub fn at_secs(s: i64) -> EpochMs {
    at_ms(s * 1_000)
}

/// `NOW` plus `h` hours (negative: before).
pub fn at_hours(h: i64) -> EpochMs {
    at_secs(h * 3_600)
}

/// `NOW` as whole epoch seconds plus `s`, as a header or a body sends a reset time.
pub fn epoch_secs_text(s: i64) -> String {
    (NOW.as_millis() / 1_000 + s).to_string()
}

/// The ISO text of `at`, as the providers' usage bodies carry it.
pub fn iso(at: EpochMs) -> String {
    mac_storage::format_iso(at)
}

/// An eligible account with the uuid `uuid`, refresh token `rt`, no access token, created
/// `created` and never used since.
pub fn account_created(uuid: &str, created: EpochMs) -> StoredAccount {
    let credentials =
        Credentials { refresh_token: Secret::new("rt"), access_token: None, expires_at: None };
    let mut account = StoredAccount::new(credentials, created);
    account.uuid = Some(uuid.to_owned());
    account
}

/// An eligible account with the uuid `uuid` and nothing else, created at `NOW`.
pub fn account(uuid: &str) -> StoredAccount {
    account_created(uuid, NOW)
}

/// A usage window at `utilization` % resetting at `resets_at` (ISO text).
pub fn window(utilization: f64, resets_at: Option<&str>) -> UsageWindow {
    UsageWindow::new(utilization, resets_at.map(str::to_owned))
}

/// Usage with a 5-hour and a 7-day window.
pub fn usage(five_hour: Option<UsageWindow>, seven_day: Option<UsageWindow>) -> UsageLimits {
    UsageLimits::new(five_hour, seven_day)
}

/// The header map of a `(name, value)` table, in order: a repeated name keeps every value, a
/// name in any case is stored lowercase (as `http` stores every name). Fails on a name or a
/// value HTTP cannot carry, which is a mistake in the test's table.
pub fn header_map(pairs: &[(&str, &str)]) -> Result<HeaderMap, http::Error> {
    let mut map = HeaderMap::with_capacity(pairs.len());
    for (name, value) in pairs {
        map.append(HeaderName::from_bytes(name.as_bytes())?, HeaderValue::from_str(value)?);
    }
    Ok(map)
}
