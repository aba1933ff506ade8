//! Provider facts for `anthropic` and `codex`: OAuth login flows, token exchange and refresh,
//! usage and profile reads, and request shaping (DECISIONS.md D4, D11–D13, D17–D18).
//!
//! Must not depend on: any `mac-*` crate above layer 1 (only `mac-storage`), terminal crates.
//!
//! Status: filled by the adapters issue; this crate has no items yet.
