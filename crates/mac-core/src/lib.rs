//! The all-in-one facade of `mac`: re-exports of the lower crates, `config.toml`, import of
//! existing credentials, and one-call pool setup (DECISIONS.md D17).
//!
//! Must not depend on: `mac-cli`, terminal crates.
//!
//! Status: filled by the facade issue; this crate has no items yet.
