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
// The shared fixtures, under the short names these tests use.
pub(crate) use mac_test_support::fixtures::{
    NOW, account, at_hours as hours, at_ms as ms, at_secs as secs, epoch_secs_text as epoch_s, iso,
    usage, window,
};

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

/// `d` as whole milliseconds.
pub(crate) fn ms_of(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap()
}
