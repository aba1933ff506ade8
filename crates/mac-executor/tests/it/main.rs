//! Integration tests of mac-executor (one binary, modules by area).

// Test code: a failed unwrap is a failed assertion, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod executor;
mod faults;
mod harness;
mod proactive;
mod refresh;
mod selection;
mod session;
