//! The `mac` binary: everything is in the `mac_cli` library, so tests can reach the argument
//! definitions and the menu flows.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(mac_cli::main(std::env::args_os()))
}
