//! Dev-only helpers for `mac` tests: temporary data directories, child processes that cannot
//! outlive their test, a small seeded random source, and the loopback fake provider
//! ([`fake_provider`]) that serves both providers' OAuth, usage and model endpoints.
//!
//! Must not depend on: nothing below forbids it, but only dev-dependencies and the `mac-tests`
//! member may depend on this crate; it never ships in a release build.

mod child;
mod data_dir;
pub mod fake_provider;
pub mod fixtures;
mod rng;

pub use child::{ChildGuard, spawn_guarded};
pub use data_dir::TempDataDir;
pub use fake_provider::{
    AuthorizeOutcome, BenchProvider, DeviceOutcome, Endpoint, FakeGrant, FakeProvider,
    RecordedRequest, Scripted, ScriptedBody,
};
pub use rng::Rng;
