//! The `mac` command: one pool of Claude and ChatGPT subscription accounts for coding agents.
//! [`args`] defines the command line, `commands` holds one module per command (each returns
//! its result, errors carry their hint and exit code), the printer knows quiet, verbose, JSON
//! and colour, and the views are what output shows of an account — never a token.
//!
//! Must not depend on: nothing above it (it is the top layer); it holds no logic a library user
//! would need — that lives in the crates below.

pub mod args;
mod browser;
pub mod cli_doc;
mod commands;
mod context;
pub mod error;
pub mod hint;
pub mod menu_flow;
mod printer;
mod relogin;
mod target;
mod views;

use std::ffi::OsString;

use clap::Parser;

use crate::args::Cli;
use crate::context::Context;
use crate::error::{EXIT_USAGE, report};
use crate::printer::Printer;

pub use crate::args::Cli as Arguments;

/// Runs `mac` with these arguments (the first is the program name); the exit status.
pub fn main(args: impl IntoIterator<Item = OsString>) -> u8 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            // clap prints help and version on stdout with status 0, usage errors on stderr.
            let _ = err.print();
            return if err.use_stderr() { EXIT_USAGE } else { 0 };
        }
    };
    #[allow(
        clippy::disallowed_methods,
        reason = "`NO_COLOR` is read once here, where the CLI starts: an injection point of the environment"
    )]
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let printer = Printer::new(&cli.global, no_color);
    // `mac demo` provokes failures on purpose and prints what they did in its table; their log
    // lines would only interleave with it (`-v` shows them).
    let demo = matches!(cli.command, args::Command::Demo(_));
    init_tracing(printer.verbosity(), demo);
    let result =
        Context::new(&cli.global, printer.clone()).and_then(|ctx| commands::run(&ctx, cli.command));
    match result {
        Ok(()) => 0,
        Err(err) => {
            let style = printer.err_style();
            for (index, line) in report(&err).into_iter().enumerate() {
                if index == 0 {
                    printer.error_line(&style.paint(mac_ui::Color::Red, &line));
                } else {
                    printer.error_line(&line);
                }
            }
            err.exit_code()
        }
    }
}

/// Logs on standard error: warnings by default (and `mac serve`'s one line per request; nothing
/// for `mac demo`), `-v` info, `-vv` debug; `RUST_LOG` overrides.
fn init_tracing(verbosity: u8, demo: bool) {
    let level = match verbosity {
        0 if demo => "off",
        0 => "warn,mac_gateway=info,mac_cli::commands::serve=info",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour only on a terminal: `mac serve`'s log usually goes to a file or a pipe.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .try_init();
}
