//! Terminal output and menus for `mac`, with prompts behind a small trait so menus can be tested
//! in a pseudo-terminal.
//!
//! Must not depend on: any `mac-*` crate above layer 1 (only `mac-storage`), network crates.
//!
//! Status: filled by the CLI issue; this crate has no items yet.
