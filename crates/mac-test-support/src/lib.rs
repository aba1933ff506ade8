//! Dev-only helpers for `mac` tests: temporary data directories, child processes that cannot
//! outlive their test, a small seeded random source, and the loopback fake provider
//! ([`fake_provider`]) that serves both providers' OAuth, usage and model endpoints.
//!
//! Must not depend on: nothing below forbids it, but only dev-dependencies, the `mac-tests`
//! member and mac-cli's `demo` feature (`mac demo` runs the fake provider in-process) may
//! depend on this crate.

mod child;
mod data_dir;
pub mod fake_provider;
mod rng;

pub use child::{ChildGuard, spawn_guarded};
pub use data_dir::TempDataDir;
pub use fake_provider::{
    AuthorizeOutcome, BenchProvider, DeviceOutcome, Endpoint, FakeGrant, FakeProvider,
    RecordedRequest, Scripted, ScriptedBody,
};
pub use rng::Rng;
