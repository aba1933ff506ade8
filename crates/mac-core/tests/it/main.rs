//! Integration tests of mac-core (one binary, modules by area).

#![allow(
    clippy::disallowed_methods,
    reason = "tests write fixture files directly and read their harness's environment"
)]
// Test code: a failed unwrap is a failed assertion, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod config;
mod config_docs;
mod facade;
mod import;
mod import_fixtures;
mod import_sources;
