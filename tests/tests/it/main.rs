//! Cross-crate and cross-process integration tests (one test binary, modules by area).

#![allow(
    clippy::disallowed_methods,
    reason = "tests write fixture files directly and delete lock and temp files on purpose"
)]
// Test code: a failed unwrap is a failed assertion, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod account_locks;
mod claims_conformance;
mod claims_multi_process;
mod executor_grant_journal;
mod executor_prelude;
mod executor_refresh_race;
mod gateway;
mod gateway_process;
mod gateway_rotation;
mod gateway_stream;
mod gateway_support;
mod load_generator;
mod postgres_claims;
mod postgres_cross_host;
mod postgres_multi_process;
mod postgres_notify;
mod postgres_pool;
mod postgres_restart;
mod postgres_store;
mod postgres_tls;
mod status_page;
mod status_page_browser;
mod storage_conformance;
mod storage_crash;
mod storage_multi_process;

/// The storage worker binary built with this package.
pub(crate) fn storage_worker() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_storage-worker"))
}
