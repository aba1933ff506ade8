//! Which live process holds which account of a provider pool: claims in
//! `<provider>-claims.json`, written under their own OS lock, with process liveness checked by
//! pid and start time (DECISIONS.md D8).
//!
//! Must not depend on: any `mac-*` crate above layer 1 (only `mac-storage`), network crates.
//!
//! Status: filled by the claims/rate-limit issue; this crate has no items yet.
