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

use http::StatusCode;
use mac_ratelimit::{Observation, observe};
// The shared fixtures, under the short names these tests use.
pub(crate) use mac_test_support::fixtures::{
    NOW, account, at_hours as hours, at_ms as ms, at_secs as secs, epoch_secs_text as epoch_s,
    header_map, iso, usage, window,
};

/// The status `code` (the tables write statuses as numbers).
pub(crate) fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap()
}

/// Observes a response with text headers at `NOW`.
pub(crate) fn obs(code: u16, headers: &[(&str, &str)]) -> Observation {
    observe(status(code), &header_map(headers).unwrap(), None, NOW)
}

/// Observes a response with text headers and a body at `NOW`.
pub(crate) fn obs_body(code: u16, headers: &[(&str, &str)], body: &str) -> Observation {
    observe(status(code), &header_map(headers).unwrap(), Some(body.as_bytes()), NOW)
}

/// What `observe` returns for a response without any signal.
pub(crate) fn empty(code: u16) -> Observation {
    Observation { status: status(code), observed_at: NOW, ..Observation::default() }
}

/// `d` as whole milliseconds.
pub(crate) fn ms_of(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap()
}
