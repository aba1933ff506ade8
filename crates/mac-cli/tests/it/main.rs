//! The `mac` binary run as a real process on real data directories, against the loopback fake
//! provider where a command talks to a provider.

#![allow(
    clippy::disallowed_methods,
    reason = "tests write fixture files directly and read their harness's environment"
)]
// Test code: a failed unwrap is a failed assertion, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod accounts;
mod config_doctor;
mod demo;
mod docs;
mod errors;
mod import;
mod login;
mod menu;
mod real_clients;
mod snapshots;
mod status;
mod storage;
mod support;
