//! Dev-only helpers for `mac` tests: temporary data directories, child processes that cannot
//! outlive their test, and a small seeded random source. The loopback fake provider joins
//! them with the adapters issue.
//!
//! Must not depend on: nothing below forbids it, but only dev-dependencies and the `mac-tests`
//! member may depend on this crate; it never ships in a release build.

mod child;
mod data_dir;
mod rng;

pub use child::{ChildGuard, spawn_guarded};
pub use data_dir::TempDataDir;
pub use rng::Rng;
