//! Integration tests of mac-executor (one binary, modules by area).

#![allow(
    clippy::disallowed_methods,
    reason = "tests write fixture files directly and damage them on purpose"
)]
// Test code: a failed unwrap is a failed assertion, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod executor;
mod faults;
mod harness;
mod lease;
mod prelude;
mod proactive;
mod refresh;
mod scripted;
mod selection;
mod session;
mod view;
