//! Dev-only helpers for `mac` tests: temporary data directories, child processes that cannot
//! outlive their test, a small seeded random source, the shared fixtures, and the loopback fake
//! provider ([`fake_provider`], the `mac-fake` crate re-exported) that serves both providers'
//! OAuth, usage and model endpoints.
//!
//! Must not depend on: nothing below forbids it, but only dev-dependencies and the `mac-tests`
//! member may depend on this crate; it never ships in a release build.

mod child;
mod data_dir;
pub mod fixtures;
mod rng;

pub use child::{ChildGuard, spawn_guarded};
pub use data_dir::TempDataDir;
/// The loopback fake provider (the `mac-fake` crate), under its historical path.
pub use mac_fake as fake_provider;
pub use mac_fake::{
    AuthorizeOutcome, BenchProvider, DeviceOutcome, Endpoint, FakeGrant, FakeProvider,
    RecordedRequest, Scripted, ScriptedBody,
};
pub use rng::Rng;
