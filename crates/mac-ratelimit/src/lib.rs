//! When an account may be used again: parsing of rate-limit headers and usage bodies into
//! observations, classification of 429/529 responses, cooldown deadlines and client-side pacing
//! (DECISIONS.md D9, D10).
//!
//! Must not depend on: any `mac-*` crate above layer 1 (only `mac-storage`), network or HTTP
//! client crates (parsing is pure).
//!
//! Status: filled by the claims/rate-limit issue; this crate has no items yet.
