//! The `mac` command.
//!
//! Must not depend on: nothing above it (it is the top layer).

fn main() {}
