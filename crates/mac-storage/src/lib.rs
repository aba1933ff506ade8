//! The data directory, crash-safe file writes, OS file locks, and the account document with its
//! one write path.
//!
//! Must not depend on: any other `mac-*` crate, network crates, terminal crates.
