//! Project automation for `mac`.
//!
//! Must not depend on: any `mac-*` crate (it checks them).
fn main() {}
