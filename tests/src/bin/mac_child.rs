//! The `mac` command itself (`mac_cli::main`, exactly what `crates/mac-cli/src/main.rs` runs),
//! built with this package so cross-process tests can start `mac serve` as a real child
//! process: a test binary can only name the binaries of its own package.
//!
//! Must not depend on: nothing beyond `mac-cli`.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(mac_cli::main(std::env::args_os()))
}
