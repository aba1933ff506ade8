//! Dev-only helpers for `mac` tests: temporary data directories, child-process helpers, and
//! (later) the loopback fake provider.
//!
//! Must not depend on: nothing below forbids it, but only dev-dependencies and the `mac-tests`
//! member may depend on this crate; it never ships in a release build.
